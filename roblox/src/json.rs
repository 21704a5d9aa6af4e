//! Reading JSON written by Roblox's `HttpService:JSONEncode`: an empty table is `[]` (so `[]`
//! stands for `{}` and for an empty list), `nil` fields are missing rather than `null`, and every
//! number is a double (so `12.0`, or `1.2e9`, stands for an integer). These `deserialize_with`
//! helpers accept those forms where the wire types expect integers and objects.

use serde::{Deserialize, Deserializer, de::Error};
use serde_json::Value;

/// Largest integer a double (and so a Luau number) holds exactly.
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// An integer written as an integer, as a double with no fraction, or as a string of digits.
pub fn lenient_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let value = Value::deserialize(deserializer)?;
    integer(&value).map_err(D::Error::custom)
}

/// Like [`lenient_i64`] for an optional field; `null` reads as absent.
pub fn optional_lenient_i64<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(value) => integer(&value).map(Some).map_err(D::Error::custom),
    }
}

/// A list that Roblox may also write as `{}`-turned-`[]` or leave out: `null` reads as empty.
pub fn list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// The integer `value` holds, or why it is not one.
pub fn integer(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(number) => {
            if let Some(integer) = number.as_i64() {
                return Ok(integer);
            }
            match number.as_f64() {
                Some(double) if double.fract() == 0.0 && double.abs() <= MAX_SAFE_INTEGER => {
                    Ok(double as i64)
                }
                _ => Err(format!("expected a whole number, found {number}")),
            }
        }
        Value::String(text) => text
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("expected a whole number, found the string {text:?}")),
        other => Err(format!("expected a whole number, found {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_come_in_roblox_forms() {
        let check = |value: Value, expected: Result<i64, ()>| {
            assert_eq!(integer(&value).map_err(drop), expected, "{value}");
        };
        check(json!(12), Ok(12));
        check(json!(12.0), Ok(12));
        check(json!(1.2e9), Ok(1_200_000_000));
        check(json!("4521"), Ok(4521));
        check(json!(-3), Ok(-3));
        check(json!(12.5), Err(()));
        check(json!(1e300), Err(()));
        check(json!(true), Err(()));
        check(json!(null), Err(()));
        check(json!("twelve"), Err(()));
    }

    #[test]
    fn missing_and_null_lists_are_empty() {
        #[derive(Deserialize)]
        struct Batch {
            #[serde(default, deserialize_with = "list")]
            joins: Vec<u8>,
            #[serde(default, deserialize_with = "optional_lenient_i64")]
            place: Option<i64>,
        }
        let parse = |text: &str| serde_json::from_str::<Batch>(text).expect(text);
        assert!(parse("{}").joins.is_empty());
        assert!(parse(r#"{"joins": null}"#).joins.is_empty());
        assert_eq!(parse(r#"{"joins": [1, 2]}"#).joins, [1, 2]);
        assert_eq!(parse(r#"{"place": 7.0}"#).place, Some(7));
        assert_eq!(parse(r#"{"place": null}"#).place, None);
    }
}
