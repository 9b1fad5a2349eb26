//! Checks a call flow sent with an agent against the flow module's graph rules.

use crate::flow::CallFlow;
use crate::validation::ValidationErrors;

/// The flow as it will be stored (normalised by a round trip through [`CallFlow`]), or every
/// problem of the graph at once, with fields relative to the flow (`nodes[2].data.text`).
///
/// # Errors
/// The flow's problems.
pub fn check(flow: serde_json::Value) -> Result<serde_json::Value, ValidationErrors> {
    let flow: CallFlow = serde_json::from_value(flow).map_err(|e| {
        let mut errors = ValidationErrors::new();
        errors.add("", format!("is not a call flow: {e}"));
        errors
    })?;
    flow.validate().map_err(ValidationErrors::from)?;
    serde_json::to_value(&flow).map_err(|e| {
        let mut errors = ValidationErrors::new();
        errors.add("", format!("cannot be stored: {e}"));
        errors
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn a_valid_flow_passes_and_an_invalid_one_lists_its_problems() {
        let valid = json!({
            "nodes": [
                {"id": "hi", "type": "message", "start": true, "data": {"text": "Hello!"}},
                {"id": "bye", "type": "end", "data": {"text": "Goodbye."}}
            ],
            "edges": [{"id": "e1", "source": "hi", "target": "bye"}]
        });
        assert!(check(valid).is_ok());
        let errors = check(json!({"nodes": [], "edges": []})).unwrap_err();
        assert!(!errors.is_empty());
        let errors = check(json!({"nodes": "no"})).unwrap_err();
        assert!(errors.errors()[0].message.starts_with("is not a call flow"));
    }
}
