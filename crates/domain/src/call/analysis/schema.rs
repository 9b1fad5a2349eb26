//! An agent's analysis schema: the JSON schema (type `object`) of the fields an analysis
//! extracts from its calls, and the check of extracted values against it. The agent input checks
//! the schema's own shape; this module checks what an analyser produced.

use serde_json::{Map, Value};

/// The most fields one agent may ask to extract.
pub const MAX_SCHEMA_PROPERTIES: usize = 50;

/// The declared properties, by name.
fn properties(schema: &Value) -> Vec<(&String, &Value)> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.iter().collect())
        .unwrap_or_default()
}

fn required(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Every declared field with a `null` value: what is known when nothing could be extracted.
#[must_use]
pub fn empty_fields(schema: Option<&Value>) -> Map<String, Value> {
    schema
        .map(|schema| {
            properties(schema)
                .into_iter()
                .map(|(name, _)| (name.clone(), Value::Null))
                .collect()
        })
        .unwrap_or_default()
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|n| n.fract() == 0.0)
        }
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => false,
    }
}

fn type_names(declared: &Value) -> Vec<&str> {
    match declared {
        Value::String(kind) => vec![kind.as_str()],
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Checks `extracted` against the schema: an object whose required fields are present and not
/// `null`, whose fields have their declared types and, where the schema lists them, one of the
/// allowed values. Fields the schema does not declare are dropped; declared fields that are
/// missing become `null`. Without a schema the object is kept as it is.
///
/// # Errors
/// Every problem, each naming its field (`extracted.order_id is required`).
pub fn check_extracted(
    schema: Option<&Value>,
    extracted: Option<&Value>,
) -> Result<Map<String, Value>, Vec<String>> {
    let object = match extracted {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(object)) => object.clone(),
        Some(_) => return Err(vec!["extracted must be an object".to_owned()]),
    };
    let Some(schema) = schema else {
        return Ok(object);
    };
    let mut problems = Vec::new();
    for name in required(schema) {
        if object.get(name).is_none_or(Value::is_null) {
            problems.push(format!("extracted.{name} is required"));
        }
    }
    let mut kept = Map::new();
    for (name, property) in properties(schema) {
        let value = object.get(name).cloned().unwrap_or(Value::Null);
        if !value.is_null() {
            let kinds = property.get("type").map(type_names).unwrap_or_default();
            if !kinds.is_empty() && !kinds.iter().any(|kind| has_type(&value, kind)) {
                problems.push(format!(
                    "extracted.{name} must be of type {}",
                    kinds.join(" or ")
                ));
            } else if let Some(allowed) = property.get("enum").and_then(Value::as_array)
                && !allowed.contains(&value)
            {
                problems.push(format!(
                    "extracted.{name} must be one of {}",
                    Value::Array(allowed.clone())
                ));
            }
        }
        kept.insert(name.clone(), value);
    }
    if problems.is_empty() {
        Ok(kept)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "order_id": {"type": "string"},
                "quantity": {"type": "integer"},
                "urgent": {"type": ["boolean", "null"]},
                "channel": {"type": "string", "enum": ["email", "phone"]}
            },
            "required": ["order_id"]
        })
    }

    #[test]
    fn valid_fields_are_kept_and_missing_ones_become_null() {
        let extracted = json!({"order_id": "A-17", "quantity": 2.0, "extra": "dropped"});
        let fields = check_extracted(Some(&schema()), Some(&extracted)).unwrap();
        assert_eq!(
            Value::Object(fields),
            json!({"order_id": "A-17", "quantity": 2.0, "urgent": null, "channel": null})
        );
    }

    #[test]
    fn every_problem_is_named() {
        let extracted = json!({"quantity": 2.5, "urgent": "yes", "channel": "fax"});
        let problems = check_extracted(Some(&schema()), Some(&extracted)).unwrap_err();
        assert_eq!(
            problems,
            [
                "extracted.order_id is required",
                "extracted.channel must be one of [\"email\",\"phone\"]",
                "extracted.quantity must be of type integer",
                "extracted.urgent must be of type boolean or null"
            ]
        );
        assert_eq!(
            check_extracted(None, Some(&json!([1]))).unwrap_err(),
            ["extracted must be an object"]
        );
    }

    #[test]
    fn without_a_schema_any_object_goes() {
        let fields = check_extracted(None, Some(&json!({"anything": 1}))).unwrap();
        assert_eq!(fields.len(), 1);
        assert!(check_extracted(None, None).unwrap().is_empty());
        assert_eq!(
            Value::Object(empty_fields(Some(&schema()))),
            json!({"order_id": null, "quantity": null, "urgent": null, "channel": null})
        );
    }
}
