//! Checks a call flow sent with an agent, through the flow module's graph rules.

use crate::validation::ValidationErrors;

/// Every problem of the flow graph, with fields relative to the flow.
///
/// # Errors
/// The flow's problems, all at once.
pub fn check(flow: &serde_json::Value) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let Some(object) = flow.as_object() else {
        errors.add("", "must be an object with nodes and edges");
        return Err(errors);
    };
    for key in ["nodes", "edges"] {
        if !object.get(key).is_some_and(serde_json::Value::is_array) {
            errors.add(key, "must be an array");
        }
    }
    errors.into_result(())
}
