//! Payload helpers: the one text rule every door applies to what clients send, nesting depth,
//! and the Roblox rule that an empty table is written as `[]`.
//!
//! The text rule: no string a client sends — an id, a name, a kind, or any string or object key
//! inside a payload — may hold U+0000. PostgreSQL stores neither a NUL in `text` nor `\u0000` in
//! `jsonb`, so such an event could be fanned out but never stored; refusing it where it is decoded
//! names the field while the sender can still fix it. (Unpaired UTF-16 surrogates cannot get this
//! far: serde_json refuses a lone `\ud800` escape in a string it parses, and MessagePack strings
//! must be UTF-8.) [`check_text`] applies the rule to one string, [`check_payload`] to a whole
//! value, in the same walk that measures its depth.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Why a client string or payload was refused: the field (a JSON path such as `data.answer`,
/// `joins[0].name`, or `.` for a whole body) and what is wrong with it. Displays as one sentence
/// that starts with the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// A string, or an object key, holds U+0000.
    Nul {
        /// The path of the string (or of the object key that holds it).
        field: String,
    },
    /// The value nests deeper than the limit.
    TooDeep {
        /// The payload's root field.
        field: String,
        /// The limit (a scalar is depth 0, `{}` depth 1).
        limit: usize,
    },
}

impl PayloadError {
    /// The path of the offending field.
    pub fn field(&self) -> &str {
        match self {
            PayloadError::Nul { field } | PayloadError::TooDeep { field, .. } => field,
        }
    }

    /// What is wrong with the field, without its name (for answers that name it apart).
    pub fn problem(&self) -> String {
        match self {
            PayloadError::Nul { .. } => {
                "holds a NUL character (U+0000), which the server does not accept in text; remove it"
                    .to_owned()
            }
            PayloadError::TooDeep { limit, .. } => {
                format!("nests deeper than the limit of {limit} levels")
            }
        }
    }
}

impl std::fmt::Display for PayloadError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} {}", self.field(), self.problem())
    }
}

impl std::error::Error for PayloadError {}

/// Checks one client string (an id, a kind, a name) against the text rule; `field` names it in
/// the error.
pub fn check_text(field: &str, text: &str) -> Result<(), PayloadError> {
    if holds_nul(text) {
        return Err(PayloadError::Nul {
            field: field.to_owned(),
        });
    }
    Ok(())
}

/// Checks a payload (or a whole request body) in one walk: no deeper than `max_depth` (pass
/// `usize::MAX` for no limit) and no string or object key holding U+0000. `field` is the
/// payload's name (`data`, `state`, `presence`), or `""` for a whole body, whose fields are then
/// named from the top (`joins[0].name`). Iterative, so a hostile payload cannot overflow the
/// stack here.
pub fn check_payload(field: &str, value: &Value, max_depth: usize) -> Result<(), PayloadError> {
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((node, depth)) = stack.pop() {
        let clean = match node {
            Value::Array(items) => {
                if depth >= max_depth {
                    return Err(too_deep(field, max_depth));
                }
                stack.extend(items.iter().map(|item| (item, depth + 1)));
                true
            }
            Value::Object(fields) => {
                if depth >= max_depth {
                    return Err(too_deep(field, max_depth));
                }
                stack.extend(fields.values().map(|item| (item, depth + 1)));
                !fields.keys().any(|key| holds_nul(key))
            }
            Value::String(text) => !holds_nul(text),
            Value::Null | Value::Bool(_) | Value::Number(_) => true,
        };
        if !clean {
            // Only on refusal: walk again, keeping paths this time, to name the field.
            return Err(PayloadError::Nul {
                field: nul_path(field, value),
            });
        }
    }
    Ok(())
}

/// The rule itself.
fn holds_nul(text: &str) -> bool {
    text.as_bytes().contains(&0)
}

fn too_deep(field: &str, limit: usize) -> PayloadError {
    PayloadError::TooDeep {
        field: if field.is_empty() { "." } else { field }.to_owned(),
        limit,
    }
}

/// The path of a string or object key holding U+0000, written as serde_path_to_error writes
/// paths (`.key`, no dot first; `[index]`), or `.` for the value itself.
fn nul_path(field: &str, value: &Value) -> String {
    let child = |path: &str, key: &str| {
        if path.is_empty() {
            key.escape_debug().to_string()
        } else {
            format!("{path}.{}", key.escape_debug())
        }
    };
    let mut stack: Vec<(&Value, String)> = vec![(value, field.to_owned())];
    while let Some((node, path)) = stack.pop() {
        match node {
            Value::String(text) if holds_nul(text) => return or_root(path),
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate().rev() {
                    stack.push((item, format!("{path}[{index}]")));
                }
            }
            Value::Object(fields) => {
                if let Some(key) = fields.keys().find(|key| holds_nul(key)) {
                    return child(&path, key);
                }
                for (key, item) in fields.iter().rev() {
                    stack.push((item, child(&path, key)));
                }
            }
            Value::String(_) | Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    or_root(field.to_owned())
}

fn or_root(path: String) -> String {
    if path.is_empty() {
        ".".to_owned()
    } else {
        path
    }
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

/// `deserialize_with` for a payload shared between rooms, history and the sink (one allocation
/// per event, whatever the number of rooms): like [`object_or_empty_array`].
pub fn shared_object_or_empty_array<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<std::sync::Arc<Value>, D::Error> {
    object_or_empty_array(deserializer).map(std::sync::Arc::new)
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
        let check = |value: Value, depth: usize| {
            assert_eq!(check_payload("data", &value, depth), Ok(()), "{value}");
            if depth > 0 {
                assert!(
                    matches!(
                        check_payload("data", &value, depth - 1),
                        Err(PayloadError::TooDeep { .. })
                    ),
                    "{value}"
                );
            }
        };
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

    #[test]
    fn nul_is_refused_anywhere_naming_the_field() {
        let check = |field: &str, value: Value, expected: Result<(), &str>| {
            let verdict = check_payload(field, &value, 16);
            assert_eq!(
                verdict.as_ref().map(drop).map_err(PayloadError::field),
                expected,
                "{field} {value}"
            );
            if let Err(error) = verdict {
                assert!(error.to_string().starts_with(error.field()), "{error}");
            }
        };
        check("data", json!({"answer": "4"}), Ok(()));
        check("data", json!("a\u{0}"), Err("data"));
        check("data", json!({"answer": "4\u{0}"}), Err("data.answer"));
        check(
            "data",
            json!({"a": [1, {"b": ["x", "\u{0}"]}]}),
            Err("data.a[1].b[1]"),
        );
        check(
            "data",
            json!({"ok": 1, "bad\u{0}key": 2}),
            Err("data.bad\\0key"),
        );
        check(
            "state",
            json!([[], {"name": "Ada\u{0}"}]),
            Err("state[1].name"),
        );
        check(
            "",
            json!({"joins": [{"name": "\u{0}"}]}),
            Err("joins[0].name"),
        );
        check("", json!("\u{0}"), Err("."));
        check("", json!({"n": 1.5, "t": true, "z": null}), Ok(()));
    }

    #[test]
    fn depth_is_checked_in_the_same_walk() {
        let mut deep = json!(1);
        for _ in 0..16 {
            deep = json!([deep]);
        }
        assert_eq!(check_payload("data", &deep, 16), Ok(()));
        assert_eq!(
            check_payload("data", &json!({ "d": deep }), 16),
            Err(PayloadError::TooDeep {
                field: "data".into(),
                limit: 16
            })
        );
        assert_eq!(check_payload("", &json!({ "d": deep }), usize::MAX), Ok(()));
    }

    #[test]
    fn single_strings_follow_the_same_rule() {
        assert_eq!(check_text("kind", "quiz_answer"), Ok(()));
        let refused = check_text("id", "e\u{0}1").expect_err("nul");
        assert_eq!(refused.field(), "id");
        assert!(refused.to_string().contains("U+0000"), "{refused}");
    }

    /// The module header relies on this: serde_json refuses unpaired surrogate escapes in the
    /// strings it parses (and names no field; the decoders add the path).
    #[test]
    fn serde_json_refuses_unpaired_surrogates() {
        for text in [
            r#"{"a": "\ud800"}"#,
            r#"{"a": "\udc00"}"#,
            r#"{"a": "\ud800x"}"#,
            r#"{"a\ud800": 1}"#,
        ] {
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
        }
        assert_eq!(
            serde_json::from_str::<Value>(r#""\ud83d\ude00""#).expect("a pair"),
            json!("\u{1F600}")
        );
    }
}
