//! Deployment behind a reverse proxy: with `--trusted-proxies`, the per-IP limits key each
//! client by the `X-Forwarded-For` address the trusted proxy (here, the test's own 127.0.0.1)
//! reports; a peer outside the trusted networks cannot dodge its budget with a forged header.
//! Made-up tokens on `/ws` spend the same per-client budget.

use std::net::SocketAddr;

use crate::support::start_with;

/// The statuses of `GET /api/v1/auth/me` (no token: 401, after the per-IP layer) sent with
/// each `X-Forwarded-For` value in turn.
async fn statuses(addr: SocketAddr, forwarded: &[&str]) -> Vec<u16> {
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for value in forwarded {
        let answer = http
            .get(format!("http://{addr}/api/v1/auth/me"))
            .header("x-forwarded-for", *value)
            .send()
            .await
            .expect("answer");
        statuses.push(answer.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let test = start_with(|config| {
        config.api_limits.per_ip_rate = 1;
        config.api_limits.per_ip_burst = 2;
        config.api_limits.trusted_proxies = vec!["127.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    // Client A spends its two requests; B (another school, same proxy) still has its own.
    let a = "198.51.100.7";
    let b = "203.0.113.20, 127.0.0.1";
    assert_eq!(statuses(test.addr, &[a, a, a]).await, [401, 401, 429]);
    assert_eq!(statuses(test.addr, &[b, b, b]).await, [401, 401, 429]);
    // What A writes left of the proxy's own entry is not believed: still A's budget.
    assert_eq!(
        statuses(test.addr, &["192.0.2.1, 198.51.100.7"]).await,
        [429]
    );
    test.server.shutdown().await;
}

#[tokio::test]
async fn an_untrusted_peer_cannot_forge_its_address() {
    let test = start_with(|config| {
        config.api_limits.per_ip_rate = 1;
        config.api_limits.per_ip_burst = 2;
        config.api_limits.trusted_proxies = vec!["10.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    // Each request claims another client; all spend 127.0.0.1's budget.
    assert_eq!(
        statuses(test.addr, &["198.51.100.1", "198.51.100.2", "198.51.100.3"]).await,
        [401, 401, 429]
    );
    test.server.shutdown().await;
}

/// The HTTP status of a `/ws` upgrade with a made-up token, sent with `X-Forwarded-For`.
async fn ws_status(addr: SocketAddr, forwarded: &str) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("request");
    let headers = request.headers_mut();
    headers.insert(
        "authorization",
        "Bearer not-a-token".parse().expect("header"),
    );
    headers.insert("x-forwarded-for", forwarded.parse().expect("header"));
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn made_up_socket_tokens_spend_the_forwarded_clients_budget() {
    let test = start_with(|config| {
        config.api_limits.per_ip_rate = 1;
        config.api_limits.per_ip_burst = 2;
        config.api_limits.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
    })
    .await;
    let mut a = Vec::new();
    for _ in 0..3 {
        a.push(ws_status(test.addr, "198.51.100.7").await);
    }
    assert_eq!(a, [401, 401, 429]);
    assert_eq!(ws_status(test.addr, "203.0.113.20").await, 401);
    test.server.shutdown().await;
}
