//! The one parser of `Authorization: Bearer <token>`, used by every door that takes a token in a
//! header: REST callers, game-server keys, `/ws`, `/pusher/auth` and the lapsed-subscription rule.
//! The scheme is case-insensitive (RFC 9110 §11.1); the token is trimmed and never empty.

use axum::http::{HeaderMap, header};

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn check(header_value: Option<&str>, expected: Option<&str>) {
        let mut headers = HeaderMap::new();
        if let Some(value) = header_value {
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(value).expect("header"),
            );
        }
        assert_eq!(bearer_token(&headers), expected, "{header_value:?}");
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_trimmed() {
        check(Some("Bearer abc"), Some("abc"));
        check(Some("bearer abc"), Some("abc"));
        check(Some("BEARER  abc "), Some("abc"));
        check(Some("Basic abc"), None);
        check(Some("Bearer "), None);
        check(Some("Bearer"), None);
        check(Some("abc"), None);
        check(None, None);
    }
}
