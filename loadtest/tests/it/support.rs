//! Test support: an in-process classhub on 127.0.0.1:0 with its own temp data dir and SQLite
//! database (`persistence::test_support::TestDatabase`), the common scenario settings for it,
//! and checks on a report's shape (in memory and as written JSON).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use loadtest::report::Report;
use loadtest::{Common, Credentials, Target};
use persistence::test_support::TestDatabase;
use serde_json::Value;
use server::transport::settings::SocketSettings;
use server::{Config, RunningServer};

pub const SECRET: &str = "loadtest-integration-secret-0123456789";

/// A classhub for one test, removed (data dir and database included) by [`Hub::stop`].
pub struct Hub {
    pub server: RunningServer,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Dropped (so removed) with the hub.
    database: TestDatabase,
}

impl Hub {
    pub async fn start() -> Hub {
        Hub::start_with(|_config| {}).await
    }

    /// A hub that also listens for QUIC, and the common settings that reach it there.
    pub async fn start_quic() -> (Hub, Common) {
        let hub = Hub::start_with(|config| {
            config.quic.bind = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        })
        .await;
        let mut common = common(hub.addr);
        let quic_port = hub.server.quic().expect("the hub speaks QUIC").addr.port();
        common.target = common.target.with_quic_port(quic_port);
        (hub, common)
    }

    /// A hub whose settings `adjust` changes first (small caps for refusals, say).
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Hub {
        let data_dir = temp_dir("hub");
        let database = TestDatabase::sqlite();
        let mut config = Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            jwt_secret: Some(SECRET.to_owned()),
            data_dir: data_dir.clone(),
            database_url: Some(database.url().to_owned()),
            socket: SocketSettings {
                publish_rate: 100_000,
                publish_burst: 100_000,
                ..SocketSettings::default()
            },
            // The harness's students chat faster than a real class does.
            chat: server::chat::ChatSettings {
                per_minute: 100_000,
                ..server::chat::ChatSettings::default()
            },
            ..Config::default()
        };
        adjust(&mut config);
        let server = server::start(config).await.expect("classhub starts");
        let addr = server.local_addr();
        Hub {
            server,
            addr,
            data_dir,
            database,
        }
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
        // Leave nothing behind; a failure to remove a temp dir is not the test's concern.
        let _removed = std::fs::remove_dir_all(&self.data_dir);
        drop(self.database);
    }
}

/// A new, empty directory under the system temp dir, unique to this call.
pub fn temp_dir(purpose: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "classhub-loadtest-it-{purpose}-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Seconds-long settings against `addr`, minting tokens with the test secret.
pub fn common(addr: SocketAddr) -> Common {
    let mut common = Common::new(
        Target::from_addr(addr),
        Credentials::mint(SECRET, "loadtest"),
    );
    common.warmup = Duration::from_millis(300);
    common.duration = Duration::from_millis(1500);
    common
}

/// Checks what every report must hold, in memory and in its JSON file, and returns the JSON.
pub fn check_shape(report: &Report, scenario: &str) -> Value {
    assert_eq!(report.scenario, scenario);
    assert!(report.connections > 0, "{report}");
    assert!(report.duration_secs > 0.0, "{report}");
    assert!(report.latency_us.is_ordered(), "{report}");
    let dir = temp_dir("report");
    let path = dir.join("report.json");
    report.write_json(&path).expect("report written");
    let text = std::fs::read_to_string(&path).expect("report read");
    let _removed = std::fs::remove_dir_all(&dir);
    let json: Value = serde_json::from_str(&text).expect("report is JSON");
    for field in [
        "scenario",
        "target",
        "protocol",
        "started_at_unix_ms",
        "setup_secs",
        "warmup_secs",
        "duration_secs",
        "connections",
        "latency_of",
        "latency_us",
        "results",
        "errors",
        "notes",
    ] {
        assert!(json.get(field).is_some(), "report lacks {field}: {text}");
    }
    let latency = &json["latency_us"];
    let percentiles: Vec<u64> = ["min", "p50", "p90", "p99", "p99_9", "max"]
        .iter()
        .map(|name| {
            latency[*name]
                .as_u64()
                .unwrap_or_else(|| panic!("latency_us.{name} missing: {text}"))
        })
        .collect();
    assert!(
        percentiles.windows(2).all(|pair| pair[0] <= pair[1]),
        "percentiles out of order: {percentiles:?}"
    );
    json
}
