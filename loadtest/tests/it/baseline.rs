//! `fanout` against the baseline server, unchanged: the floor the hub is compared with.

use std::net::SocketAddr;

use loadtest::WireProtocol;
use loadtest::report::Results;
use loadtest::scenarios::fanout;

use crate::support::{check_shape, common};

#[tokio::test]
async fn fanout_runs_against_the_baseline_in_both_codecs() {
    let baseline = loadtest::baseline::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("baseline starts");
    for protocol in [WireProtocol::Json, WireProtocol::Msgpack] {
        let mut config = fanout::Config::new(common(baseline.local_addr()));
        config.protocol = protocol;
        config.rooms = 3;
        config.members = 4;
        config.rate = 60.0;
        let report = fanout::run(config).await.expect("fanout runs");
        check_shape(&report, "fanout");
        let Results::Fanout(results) = &report.results else {
            panic!("fanout results expected: {report}");
        };
        assert!(results.deliveries > 0, "{report}");
        assert_eq!(report.errors.count, 0, "{report}");
    }
    baseline.shutdown().await;
}

#[tokio::test]
async fn the_baseline_serves_only_ws_and_the_native_subprotocols() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    let baseline = loadtest::baseline::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("baseline starts");
    let addr = baseline.local_addr();
    let status = |error: tokio_tungstenite::tungstenite::Error| match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    };
    let wrong_path = tokio_tungstenite::connect_async(format!("ws://{addr}/other"))
        .await
        .expect_err("only /ws");
    assert_eq!(status(wrong_path), 404);
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
    let wrong_protocol = tokio_tungstenite::connect_async(request)
        .await
        .expect_err("unknown subprotocol");
    assert_eq!(status(wrong_protocol), 400);
    baseline.shutdown().await;
}
