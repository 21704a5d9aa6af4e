//! The HTTP validators and ranges a media `GET` honours (RFC 9110 §13–14): one byte range
//! (`bytes=a-b`, `bytes=a-`, `bytes=-n`) answered with 206, an unsatisfiable one with 416, and
//! `If-None-Match` against the file's strong ETag. A header this does not understand (another
//! unit, several ranges, bad syntax) is ignored, as the RFC allows, and the whole file is sent.

use std::ops::Range;

/// What to send for a `Range` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// The whole file (200).
    Whole,
    /// These bytes (206), end exclusive.
    Part(Range<u64>),
    /// Nothing the file has (416).
    Unsatisfiable,
}

/// The answer to `range` (the header's value, if any) for a file of `size` bytes.
pub fn wanted(range: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = range.and_then(|range| range.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let number = |text: &str| -> Option<u64> {
        let text = text.trim();
        (!text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // `-n`: the last n bytes.
        (true, false) => match number(last) {
            Some(0) => Wanted::Unsatisfiable,
            Some(suffix) => Wanted::Part(size.saturating_sub(suffix)..size),
            None => Wanted::Whole,
        },
        // `a-`: from a to the end.
        (false, true) => match number(first) {
            Some(start) if start >= size => Wanted::Unsatisfiable,
            Some(start) => Wanted::Part(start..size),
            None => Wanted::Whole,
        },
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= size {
                    Wanted::Unsatisfiable
                } else {
                    Wanted::Part(start..end.saturating_add(1).min(size))
                }
            }
            _ => Wanted::Whole,
        },
        (true, true) => Wanted::Whole,
    }
}

/// Whether an `If-None-Match` value names `etag` (quoted, as sent) or is `*`; weak
/// comparison, as the RFC asks for this header.
pub fn none_match_hits(if_none_match: &str, etag: &str) -> bool {
    let etag = etag.trim_start_matches("W/");
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(header: &str, size: u64, expected: Wanted) {
        assert_eq!(wanted(Some(header), size), expected, "{header} of {size}");
    }

    #[test]
    fn ranges_are_cut_to_the_file() {
        check("bytes=0-9", 100, Wanted::Part(0..10));
        check("bytes=10-", 100, Wanted::Part(10..100));
        check("bytes=-10", 100, Wanted::Part(90..100));
        check("bytes=-1000", 100, Wanted::Part(0..100));
        check("bytes=90-1000", 100, Wanted::Part(90..100));
        check("bytes=99-99", 100, Wanted::Part(99..100));
        check(" bytes= 5 - 6 ", 100, Wanted::Part(5..7));
        check("bytes=100-", 100, Wanted::Unsatisfiable);
        check("bytes=100-200", 100, Wanted::Unsatisfiable);
        check("bytes=-0", 100, Wanted::Unsatisfiable);
        // Not understood: the whole file.
        check("bytes=0-1,5-6", 100, Wanted::Whole);
        check("bytes=9-1", 100, Wanted::Whole);
        check("bytes=a-b", 100, Wanted::Whole);
        check("bytes=-", 100, Wanted::Whole);
        check("bytes=+1-2", 100, Wanted::Whole);
        check("items=0-9", 100, Wanted::Whole);
        check("bytes=99999999999999999999-", 100, Wanted::Whole);
        assert_eq!(wanted(None, 100), Wanted::Whole);
    }

    #[test]
    fn if_none_match_compares_weakly() {
        assert!(none_match_hits("\"abc\"", "\"abc\""));
        assert!(none_match_hits("W/\"abc\"", "\"abc\""));
        assert!(none_match_hits("\"x\", \"abc\"", "\"abc\""));
        assert!(none_match_hits("*", "\"abc\""));
        assert!(!none_match_hits("\"abd\"", "\"abc\""));
    }
}
