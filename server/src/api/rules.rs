//! Input rules declared once: a text's length and alphabet ([`Text`]), a number's range
//! ([`Range`]) and a list's length ([`Items`]). Each limit a handler checks is a const of one of
//! these beside the handler; the handler calls its `check`, and the OpenAPI document takes the
//! field's schema from the same const, through a type made by [`documented!`] and named in the
//! field's `#[schema(value_type = ..)]` or `#[param(value_type = ..)]`. So the document states
//! exactly the limits the server enforces, and `server/tests/schemathesis` holds it to them.
//!
//! What the document cannot state (a reference to another object, a rule across two fields)
//! stays in the handler and in the field's description.

use serde::Deserialize;
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};

use super::ApiError;

/// A limit on a text field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    /// Fewest characters (Unicode scalar values, as JSON Schema counts them).
    pub min_chars: usize,
    /// Most characters.
    pub max_chars: usize,
    /// Which characters it may hold.
    pub alphabet: Alphabet,
}

/// The characters a [`Text`] may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// Anything but U+0000 (`protocol`'s text rule), and not only whitespace; the value is used
    /// without its surrounding whitespace.
    Prose,
    /// ASCII letters and digits and these punctuation characters (ids that become part of a
    /// room id or a key).
    Word(&'static str),
}

/// An inclusive range of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The smallest value allowed.
    pub min: i64,
    /// The largest value allowed.
    pub max: i64,
}

/// An inclusive range of a list's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Items {
    /// The fewest items.
    pub min: usize,
    /// The most items.
    pub max: usize,
}

/// Makes a unit type whose OpenAPI schema is `$schema`, for `value_type = ..` attributes (utoipa's
/// attributes take literals only, so a const cannot be named there directly). `uses` lists the
/// types whose components `$schema` refers to, so the document holds them.
macro_rules! documented {
    ($(#[$doc:meta])* $name:ident = $schema:expr $(, uses $($used:ty),+)?) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $schema.into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn schemas(
                _schemas: &mut Vec<(
                    String,
                    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
                )>,
            ) {
                $($(<$used as utoipa::ToSchema>::schemas(_schemas);)+)?
            }
        }
    };
}
pub(crate) use documented;

/// Whitespace as `char::is_whitespace` sees it (Unicode `White_Space`), listed so the
/// document's patterns name exactly the characters the checks trim (a unit test compares them).
const WHITESPACE: &[char] = &[
    '\t', '\n', '\u{0B}', '\u{0C}', '\r', ' ', '\u{85}', '\u{A0}', '\u{1680}', '\u{2000}',
    '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}', '\u{2007}', '\u{2008}',
    '\u{2009}', '\u{200A}', '\u{2028}', '\u{2029}', '\u{202F}', '\u{205F}', '\u{3000}',
];

impl Text {
    /// Free text of `min_chars..=max_chars` characters, not only whitespace.
    pub const fn prose(min_chars: usize, max_chars: usize) -> Text {
        Text {
            min_chars,
            max_chars,
            alphabet: Alphabet::Prose,
        }
    }

    /// An id of `min_chars..=max_chars` ASCII letters, digits and `punctuation`.
    pub const fn word(min_chars: usize, max_chars: usize, punctuation: &'static str) -> Text {
        Text {
            min_chars,
            max_chars,
            alphabet: Alphabet::Word(punctuation),
        }
    }

    /// Whether `value` keeps the rule.
    pub fn allows(&self, value: &str) -> bool {
        let length = value.chars().count();
        let alphabet_ok = match self.alphabet {
            Alphabet::Prose => {
                value.chars().any(|c| !WHITESPACE.contains(&c))
                    && protocol::check_text("", value).is_ok()
            }
            Alphabet::Word(punctuation) => value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || punctuation.contains(c)),
        };
        (self.min_chars..=self.max_chars).contains(&length) && alphabet_ok
    }

    /// `value` as the server uses it (prose without its surrounding whitespace), or 422 naming
    /// `field` and the rule.
    pub fn check<'a>(&self, field: &str, value: &'a str) -> Result<&'a str, ApiError> {
        if let Err(refused) = protocol::check_text(field, value) {
            return Err(ApiError::invalid_field(field, refused.problem()));
        }
        if !self.allows(value) {
            return Err(ApiError::invalid_field(field, self.rule()));
        }
        Ok(match self.alphabet {
            Alphabet::Prose => value.trim_matches(WHITESPACE),
            Alphabet::Word(_) => value,
        })
    }

    /// The rule in words, e.g. "use 1–64 letters, digits, '-', '_' or '.'".
    pub fn rule(&self) -> String {
        let length = format!("{}–{}", self.min_chars, self.max_chars);
        match self.alphabet {
            Alphabet::Prose => format!("must be {length} characters, not only spaces"),
            Alphabet::Word(punctuation) => {
                let quoted: Vec<String> = punctuation.chars().map(|c| format!("'{c}'")).collect();
                match quoted.split_last() {
                    None => format!("use {length} letters or digits"),
                    Some((last, [])) => format!("use {length} letters, digits or {last}"),
                    Some((last, rest)) => {
                        format!(
                            "use {length} letters, digits, {} or {last}",
                            rest.join(", ")
                        )
                    }
                }
            }
        }
    }

    /// The JSON Schema of a string keeping the rule.
    pub fn schema(&self) -> Object {
        let pattern = match self.alphabet {
            // No U+0000 anywhere, and somewhere a character that is not whitespace.
            Alphabet::Prose => format!(
                "^[^\\u0000]*[^{}\\u0000][^\\u0000]*$",
                class_of(WHITESPACE.iter().copied())
            ),
            Alphabet::Word(punctuation) => {
                format!("^[A-Za-z0-9{}]*$", class_of(punctuation.chars()))
            }
        };
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(self.min_chars))
            .max_length(Some(self.max_chars))
            .pattern(Some(pattern))
            .build()
    }
}

/// The characters as the inside of a regex character class, each one escaped so ECMA-262 and
/// Python read it alike.
fn class_of(chars: impl Iterator<Item = char>) -> String {
    chars
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\u{:04X}", u32::from(c))
            }
        })
        .collect()
}

impl Range {
    /// `min..=max`.
    pub const fn new(min: i64, max: i64) -> Range {
        Range { min, max }
    }

    /// Whether `value` is in the range.
    pub fn contains(&self, value: f64) -> bool {
        (self.min as f64..=self.max as f64).contains(&value)
    }

    /// `value`, or 422 naming `field` and the range.
    pub fn check(&self, field: &str, value: i64) -> Result<i64, ApiError> {
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(ApiError::invalid_field(field, self.rule()))
        }
    }

    /// The rule in words: "must be a number from 1 to 200".
    pub fn rule(&self) -> String {
        format!("must be a number from {} to {}", self.min, self.max)
    }

    /// The JSON Schema of a whole number in the range.
    pub fn integer_schema(&self) -> Object {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(self.min))
            .maximum(Some(self.max))
            .build()
    }

    /// The JSON Schema of any number in the range.
    pub fn number_schema(&self) -> Object {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .minimum(Some(self.min))
            .maximum(Some(self.max))
            .build()
    }
}

/// Reads an optional whole number written as JSON Schema's `integer` allows, with or without a
/// zero fraction (`12` or `12.0`); `null` reads as absent. For `#[serde(deserialize_with)]`.
pub fn optional_whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(whole) = number.as_i64() {
        return Ok(Some(whole));
    }
    number
        .as_f64()
        .filter(|double| double.fract() == 0.0 && double.abs() < 9.2e18)
        .map(|double| Some(double as i64))
        .ok_or_else(|| D::Error::custom(format!("expected a whole number, found {number}")))
}

impl Items {
    /// `min..=max` items.
    pub const fn new(min: usize, max: usize) -> Items {
        Items { min, max }
    }

    /// Whether a list of `len` items keeps the rule.
    pub fn allows(&self, len: usize) -> bool {
        (self.min..=self.max).contains(&len)
    }

    /// The JSON Schema of a list of `item`s keeping the rule.
    pub fn schema(&self, item: impl Into<RefOr<Schema>>) -> Schema {
        ArrayBuilder::new()
            .items(item.into())
            .min_items(Some(self.min))
            .max_items(Some(self.max))
            .build()
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_is_what_the_standard_library_trims() {
        let unicode: Vec<char> = (0..=u32::from(char::MAX))
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace())
            .collect();
        assert_eq!(unicode, WHITESPACE);
    }

    #[test]
    fn texts_check_what_their_schema_states() {
        let title = Text::prose(1, 5);
        let check = |text: &Text, value: &str, expected: Option<&str>| {
            assert_eq!(
                text.check("field", value).ok(),
                expected,
                "{value:?} under {text:?}"
            );
        };
        check(&title, "abc", Some("abc"));
        check(&title, " ab ", Some("ab"));
        check(&title, "\u{3000}x", Some("x"));
        check(&title, "", None);
        check(&title, "   ", None);
        check(&title, "\u{85}\u{A0}", None);
        check(&title, "abcdef", None);
        check(&title, "  abc ", None);
        let id = Text::word(1, 4, "-_.");
        check(&id, "a-1.", Some("a-1."));
        check(&id, "a b", None);
        check(&id, "é", None);
        check(&id, "", None);
        check(&id, "abcde", None);
        assert_eq!(id.rule(), "use 1–4 letters, digits, '-', '_' or '.'");
        assert_eq!(
            Text::word(1, 2, "_").rule(),
            "use 1–2 letters, digits or '_'"
        );

        let schema = serde_json::to_value(id.schema()).expect("json");
        assert_eq!(schema["pattern"], "^[A-Za-z0-9\\u002D\\u005F\\u002E]*$");
        assert_eq!(
            (schema["minLength"].clone(), schema["maxLength"].clone()),
            (1.into(), 4.into())
        );
        check(&title, "a\u{0}b", None);
        assert!(
            title
                .check("title", "a\u{0}")
                .is_err_and(|refused| refused.message().contains("U+0000")),
            "a NUL is named as the problem"
        );
    }

    /// The document's patterns accept exactly what `allows` accepts (schemathesis generates
    /// from them, and a value they allow but the server refuses fails its run).
    #[test]
    fn patterns_match_the_checks() {
        let texts = [Text::prose(0, 64), Text::word(0, 64, "-_.")];
        let samples = [
            "",
            "abc",
            " a ",
            "   ",
            "\u{3000}\u{85}",
            "a\u{0}",
            "\u{0}",
            "x\u{2028}y",
            "é",
            "a-b_c.d",
            "a b",
            "\t",
        ];
        for text in texts {
            let schema = serde_json::to_value(text.schema()).expect("json");
            let pattern = regex::Regex::new(schema["pattern"].as_str().expect("pattern"))
                .expect("the pattern compiles");
            for sample in samples {
                assert_eq!(
                    pattern.is_match(sample),
                    text.allows(sample),
                    "{sample:?} under {text:?}"
                );
            }
        }
    }

    #[test]
    fn ranges_and_lists_check_their_bounds() {
        let range = Range::new(1, 200);
        assert!(range.check("limit", 1).is_ok() && range.check("limit", 200).is_ok());
        assert!(range.check("limit", 0).is_err() && range.check("limit", 201).is_err());
        assert!(Range::new(0, 1000).contains(0.5) && !Range::new(0, 1000).contains(-0.1));
        let schema = serde_json::to_value(range.integer_schema()).expect("json");
        assert_eq!(
            (schema["minimum"].clone(), schema["maximum"].clone()),
            (1.into(), 200.into())
        );
        assert!(Items::new(1, 3).allows(3) && !Items::new(1, 3).allows(0));
    }

    #[test]
    fn whole_numbers_may_carry_a_zero_fraction() {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default, deserialize_with = "optional_whole_number")]
            count: Option<i64>,
        }
        let read = |text: &str| {
            serde_json::from_str::<Body>(text)
                .map(|body| body.count)
                .ok()
        };
        assert_eq!(read(r#"{"count": 12}"#), Some(Some(12)));
        assert_eq!(read(r#"{"count": 12.0}"#), Some(Some(12)));
        assert_eq!(read(r#"{"count": -3e2}"#), Some(Some(-300)));
        assert_eq!(read(r#"{"count": null}"#), Some(None));
        assert_eq!(read("{}"), Some(None));
        assert_eq!(read(r#"{"count": 1.5}"#), None);
        assert_eq!(read(r#"{"count": 1e300}"#), None);
        assert_eq!(read(r#"{"count": "12"}"#), None);
    }
}
