//! Call flows: the graph of an agent's conversation, its rules, and the step function that runs it.
