//! CORS with `--cors-allowed-origins`: a browser preflight from a listed origin is answered with
//! the allow headers on the REST API and `/pusher/auth`; another origin, or a server without the
//! setting, gets none (so browsers refuse the call).

use std::net::SocketAddr;

use reqwest::Method;
use reqwest::header::HeaderMap;

use crate::support::start_with;

const SCHOOL: &str = "https://school.example";

/// The headers of a preflight for `POST path` with `headers` from `origin`.
async fn preflight(addr: SocketAddr, path: &str, origin: &str, headers: &str) -> HeaderMap {
    let answer = reqwest::Client::new()
        .request(Method::OPTIONS, format!("http://{addr}{path}"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", headers)
        .send()
        .await
        .expect("answer");
    answer.headers().clone()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn preflights_from_allowed_origins_get_the_allow_headers_and_others_none() {
    let test = start_with(|config| {
        config.api_limits.cors_allowed_origins =
            vec![SCHOOL.to_owned(), "http://localhost:3000".to_owned()];
    })
    .await;
    for (path, asked) in [
        ("/api/v1/courses", "authorization,content-type"),
        ("/api/v1/courses/c1/lessons", "authorization,content-type"),
        ("/pusher/auth", "content-type"),
    ] {
        let allowed = preflight(test.addr, path, SCHOOL, asked).await;
        assert_eq!(
            header(&allowed, "access-control-allow-origin"),
            SCHOOL,
            "{path}"
        );
        let methods = header(&allowed, "access-control-allow-methods").to_ascii_uppercase();
        assert!(methods.contains("POST"), "{path}: {methods}");
        let headers = header(&allowed, "access-control-allow-headers").to_ascii_lowercase();
        for needed in asked.split(',') {
            assert!(headers.contains(needed), "{path}: {headers}");
        }

        let other = preflight(test.addr, path, "https://evil.example", asked).await;
        assert!(
            other.get("access-control-allow-origin").is_none(),
            "{path}: {other:?}"
        );
    }
    // Answers themselves (errors included) are readable by the allowed page, Retry-After too.
    let answer = reqwest::Client::new()
        .get(format!("http://{}/api/v1/auth/me", test.addr))
        .header("origin", SCHOOL)
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 401);
    assert_eq!(
        header(answer.headers(), "access-control-allow-origin"),
        SCHOOL
    );
    assert!(
        header(answer.headers(), "access-control-expose-headers")
            .to_ascii_lowercase()
            .contains("retry-after")
    );
    test.server.shutdown().await;
}

#[tokio::test]
async fn without_the_setting_no_origin_gets_cors_headers() {
    let test = start_with(|_| {}).await;
    for path in ["/api/v1/courses", "/pusher/auth"] {
        let headers = preflight(test.addr, path, SCHOOL, "authorization,content-type").await;
        assert!(
            headers
                .keys()
                .all(|name| !name.as_str().starts_with("access-control-")),
            "{path}: {headers:?}"
        );
    }
    test.server.shutdown().await;
}
