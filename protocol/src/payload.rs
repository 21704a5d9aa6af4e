//! Payload helpers: nesting depth, and the Roblox rule that an empty table is written as `[]`.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// How deeply `value` nests: a scalar is 0, `{}` and `[]` are 1, `{"a": [1]}` is 2.
/// Iterative, so a hostile payload cannot overflow the stack here.
pub fn depth_of(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((node, depth)) = stack.pop() {
        match node {
            Value::Array(items) => {
                deepest = deepest.max(depth + 1);
                stack.extend(items.iter().map(|item| (item, depth + 1)));
            }
            Value::Object(fields) => {
                deepest = deepest.max(depth + 1);
                stack.extend(fields.values().map(|item| (item, depth + 1)));
            }
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }
    deepest
}

/// Roblox's `HttpService:JSONEncode` writes an empty table as `[]`; where an object is expected,
/// `[]` means `{}`. Any other value is returned unchanged.
pub fn normalize_empty_array(value: Value) -> Value {
    match value {
        Value::Array(items) if items.is_empty() => Value::Object(Map::new()),
        other => other,
    }
}

/// `deserialize_with` for payload fields: any value, with `[]` read as `{}`.
pub fn object_or_empty_array<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Value, D::Error> {
    Value::deserialize(deserializer).map(normalize_empty_array)
}

/// `deserialize_with` for optional payload fields: like [`object_or_empty_array`], and `null`
/// reads as absent.
pub fn optional_object_or_empty_array<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    Ok(Option::<Value>::deserialize(deserializer)?.map(normalize_empty_array))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_counts_containers() {
        let check =
            |value: Value, expected: usize| assert_eq!(depth_of(&value), expected, "{value}");
        check(json!(1), 0);
        check(json!("x"), 0);
        check(json!({}), 1);
        check(json!([]), 1);
        check(json!({"a": [1, {"b": {}}]}), 4);
    }

    #[test]
    fn empty_array_becomes_empty_object_and_nothing_else_changes() {
        assert_eq!(normalize_empty_array(json!([])), json!({}));
        assert_eq!(normalize_empty_array(json!([1])), json!([1]));
        assert_eq!(normalize_empty_array(json!({"a": []})), json!({"a": []}));
    }
}
