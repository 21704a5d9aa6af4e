//! What the decoder properties share (`decoders.rs` here, `roblox/tests/it/decoders.rs`, and
//! the long run in `benches/benches/decoders.rs`, which include this file by path): the runner,
//! JSON values without NUL, planting a bad character at a chosen place and naming its path, and
//! byte mutations of valid frames.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

/// Cases per property under `cargo test`.
pub const DEFAULT_CASES: u32 = 256;

/// Lists a file's properties for the long run (as `PROPERTIES`) and makes each a test of
/// [`DEFAULT_CASES`] cases.
macro_rules! properties {
    ($($property:ident),* $(,)?) => {
        /// Every property of this module, by name, for `benches/benches/decoders.rs`.
        pub const PROPERTIES: &[(&str, fn(u32))] = &[$((stringify!($property), $property as fn(u32))),*];

        #[cfg(test)]
        mod cases {
            $(
                #[test]
                fn $property() {
                    let (_, property) = super::PROPERTIES
                        .iter()
                        .find(|(name, _)| *name == stringify!($property))
                        .expect("every property is listed");
                    property($crate::strategies::DEFAULT_CASES);
                }
            )*
        }
    };
}

pub(crate) use properties;

/// Runs `test` on `cases` values of `strategy`; a failure (or a panic) fails with the smallest
/// input proptest could shrink it to.
pub fn check<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    if let Err(failure) = TestRunner::new(config).run(&strategy, test) {
        panic!("property {name} failed: {failure}");
    }
}

/// Text without NUL (and so without anything the text rule refuses): mostly short and plain,
/// sometimes any Unicode at all.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9 _.:-]{0,12}",
        1 => "[^\\x00\u{E000}]{0,12}",
    ]
}

/// An object key, plain, so that the path naming it is predictable.
fn key() -> impl Strategy<Value = String> {
    "[a-z_]{1,8}"
}

/// Any JSON value without NUL, nesting at most 4 deep. Numbers are integers or multiples of
/// 1/8, which every codec carries exactly.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i32>().prop_map(|eighths| Value::from(f64::from(eighths) / 8.0)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key(), inner, 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A JSON object without NUL.
pub fn json_object() -> impl Strategy<Value = Value> {
    btree_map(key(), json_value(), 0..6)
        .prop_map(|fields| Value::Object(fields.into_iter().collect()))
}

/// Where to put a character the decoders must refuse inside a payload: the path taken down
/// (each number picks a child), and whether it goes into an object key.
#[derive(Debug, Clone)]
pub struct Spot {
    /// Picks a child at each level.
    pub steering: Vec<usize>,
    /// Into an object key rather than a string value.
    pub in_key: bool,
}

pub fn spot() -> impl Strategy<Value = Spot> {
    (vec(any::<usize>(), 0..6), any::<bool>())
        .prop_map(|(steering, in_key)| Spot { steering, in_key })
}

/// Puts `bad` into `value` (named `root`) at `spot` and returns the path of the string or key
/// that holds it, as the decoders name it. An object at the spot gets a new entry; anything
/// else is replaced by a string. `in_key` is ignored unless `keys` allows it.
pub fn plant(value: &mut Value, root: &str, spot: &Spot, bad: char, keys: bool) -> String {
    plant_at(
        value,
        root.to_owned(),
        &spot.steering,
        spot.in_key && keys,
        bad,
    )
}

fn plant_at(
    value: &mut Value,
    path: String,
    steering: &[usize],
    in_key: bool,
    bad: char,
) -> String {
    let join = |path: &str, key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    let bad_text = format!("x{bad}y");
    match (value, steering.split_first()) {
        (Value::Array(items), Some((choice, rest))) if !items.is_empty() => {
            let index = choice % items.len();
            plant_at(
                &mut items[index],
                format!("{path}[{index}]"),
                rest,
                in_key,
                bad,
            )
        }
        (Value::Object(fields), Some((choice, rest))) if !fields.is_empty() => {
            let key = fields
                .keys()
                .nth(choice % fields.len())
                .cloned()
                .unwrap_or_default();
            let child = join(&path, &key);
            let node = fields.entry(key).or_insert(Value::Null);
            plant_at(node, child, rest, in_key, bad)
        }
        (Value::Object(fields), _) if in_key => {
            let field = join(&path, &bad_text.escape_debug().to_string());
            fields.insert(bad_text, Value::Null);
            field
        }
        (Value::Object(fields), _) => {
            fields.insert("planted".into(), Value::String(bad_text));
            join(&path, "planted")
        }
        (other, _) => {
            *other = Value::String(bad_text);
            if path.is_empty() { ".".into() } else { path }
        }
    }
}

/// One change to a frame's bytes.
#[derive(Debug, Clone)]
pub enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip(at, byte)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
    ];
    vec(one, 1..4)
}

pub fn mutate(frame: &mut Vec<u8>, mutations: &[Mutation]) {
    for mutation in mutations {
        let len = frame.len().max(1);
        match *mutation {
            Mutation::Flip(at, byte) if !frame.is_empty() => frame[at % len] ^= byte | 1,
            Mutation::Insert(at, byte) => frame.insert(at % (frame.len() + 1), byte),
            Mutation::Remove(at) if !frame.is_empty() => {
                frame.remove(at % len);
            }
            Mutation::Truncate(at) => frame.truncate(at % len),
            Mutation::Flip(..) | Mutation::Remove(_) => {}
        }
    }
}
