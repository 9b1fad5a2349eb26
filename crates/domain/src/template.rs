//! Templates such as `Hi {customer_name}, this is {agent_name}`.
