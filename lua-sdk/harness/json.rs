//! `HttpService:JSONEncode` / `JSONDecode` stand-ins backed by serde_json, with Roblox's quirks:
//! an empty table encodes as `[]`, a table with an array part encodes as that array (its string
//! keys are dropped), integral numbers are written without a fraction, JSON `null` decodes to a
//! missing field. Where Roblox would refuse a value (NaN, infinity, functions, non-string keys in
//! an object) this stand-in refuses it too, so the SDK's sanitising is what makes it through.

use mlua::{Lua, Value};
use serde_json::{Map, Number, Value as Json};

/// Deepest nesting encoded before giving up (a cycle ends here).
const MAX_DEPTH: usize = 200;
/// Integers up to this magnitude are written without a fraction, as Roblox does.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Converts a Luau value to JSON the way `HttpService:JSONEncode` does, or says why it cannot.
pub fn to_json(value: &Value) -> Result<Json, String> {
    encode(value, 0)
}

fn encode(value: &Value, depth: usize) -> Result<Json, String> {
    match value {
        Value::Nil => Ok(Json::Null),
        Value::Boolean(flag) => Ok(Json::Bool(*flag)),
        Value::Integer(integer) => Ok(Json::Number(Number::from(*integer))),
        Value::Number(number) => encode_number(*number),
        Value::String(text) => text
            .to_str()
            .map(|text| Json::String(text.to_owned()))
            .map_err(|_| "Can't convert to JSON: a string is not valid UTF-8".to_owned()),
        Value::Table(table) => {
            if depth >= MAX_DEPTH {
                return Err("Can't convert to JSON: tables nest too deep (a cycle?)".to_owned());
            }
            let length = table.raw_len();
            if length > 0 {
                let mut items = Vec::with_capacity(length);
                for index in 1..=length {
                    let item: Value = table.raw_get(index).map_err(|error| error.to_string())?;
                    items.push(encode(&item, depth + 1)?);
                }
                return Ok(Json::Array(items));
            }
            let mut object = Map::new();
            for pair in table.pairs::<Value, Value>() {
                let (key, item) = pair.map_err(|error| error.to_string())?;
                let Value::String(key) = key else {
                    return Err(format!(
                        "Can't convert to JSON: object keys must be strings, found a {} key",
                        key.type_name()
                    ));
                };
                let key = key
                    .to_str()
                    .map_err(|_| "Can't convert to JSON: a key is not valid UTF-8".to_owned())?
                    .to_owned();
                object.insert(key, encode(&item, depth + 1)?);
            }
            if object.is_empty() {
                // Roblox writes an empty table as an array.
                return Ok(Json::Array(Vec::new()));
            }
            Ok(Json::Object(object))
        }
        other => Err(format!(
            "Can't convert to JSON: {} values have no JSON form",
            other.type_name()
        )),
    }
}

fn encode_number(number: f64) -> Result<Json, String> {
    if !number.is_finite() {
        return Err(format!(
            "Can't convert to JSON: {number} is not a JSON number"
        ));
    }
    if number.fract() == 0.0 && number.abs() <= MAX_SAFE_INTEGER {
        #[expect(clippy::cast_possible_truncation, reason = "integral and below 2^53")]
        return Ok(Json::Number(Number::from(number as i64)));
    }
    Number::from_f64(number)
        .map(Json::Number)
        .ok_or_else(|| format!("Can't convert to JSON: {number} is not a JSON number"))
}

/// Converts JSON to a Luau value the way `HttpService:JSONDecode` does: `null` becomes a
/// missing field (or a hole in an array), every number a double.
pub fn to_lua(lua: &Lua, json: &Json) -> mlua::Result<Value> {
    Ok(match json {
        Json::Null => Value::Nil,
        Json::Bool(flag) => Value::Boolean(*flag),
        Json::Number(number) => Value::Number(number.as_f64().unwrap_or(f64::NAN)),
        Json::String(text) => Value::String(lua.create_string(text)?),
        Json::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (index, item) in items.iter().enumerate() {
                let value = to_lua(lua, item)?;
                if !value.is_nil() {
                    table.raw_set(index + 1, value)?;
                }
            }
            Value::Table(table)
        }
        Json::Object(object) => {
            let table = lua.create_table_with_capacity(0, object.len())?;
            for (key, item) in object {
                let value = to_lua(lua, item)?;
                if !value.is_nil() {
                    table.raw_set(key.as_str(), value)?;
                }
            }
            Value::Table(table)
        }
    })
}

/// JSON as Roblox sees it: empty objects and empty arrays are the same (both are an empty
/// table), and every number is a double. Two documents Luau cannot tell apart normalise equal.
pub fn roblox_normal_form(json: &Json) -> Json {
    match json {
        Json::Object(object) if object.is_empty() => Json::Array(Vec::new()),
        Json::Object(object) => Json::Object(
            object
                .iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, value)| (key.clone(), roblox_normal_form(value)))
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(roblox_normal_form).collect()),
        Json::Number(number) => number
            .as_f64()
            .and_then(Number::from_f64)
            .map_or(Json::Null, Json::Number),
        other => other.clone(),
    }
}
