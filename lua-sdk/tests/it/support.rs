//! Test support: a classhub on loopback with its own data dir (restartable on the same
//! address), game-server keys for it, a class's link codes as its teacher reads them, a harness
//! wired to it, and a teacher's socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lua_sdk::{Harness, Options};
use persistence::test_support::{ClassSeed, TestDatabase};
use protocol::ServerMessage;
use serde_json::{Value, json};
use server::auth::{self, Identity, Role};
use server::transport::settings::SocketSettings;
use server::{Config, RunningServer};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const JWT_SECRET: &str = "lua-sdk-test-secret-0123456789abcdef";
pub const TENANT: &str = "acme";
/// Upper bound on one real wait in these tests (a hang fails instead of blocking CI).
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A classhub on 127.0.0.1, its data dir, and the SQLite database made for it (kept across
/// restarts, removed when this is dropped).
pub struct TestServer {
    server: Option<RunningServer>,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    database: TestDatabase,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let data_dir =
            std::env::temp_dir().join(format!("classhub-lua-sdk-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&data_dir).expect("temp dir");
        let database = TestDatabase::sqlite();
        let bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = server::start(config(bind, &data_dir, &database))
            .await
            .expect("classhub starts");
        TestServer {
            addr: server.local_addr(),
            server: Some(server),
            data_dir,
            database,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts the server down gracefully (its pending batches are flushed).
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    /// Starts it again on the same address and database.
    pub async fn start_again(&mut self) {
        assert!(self.server.is_none(), "stop it first");
        let server = server::start(config(self.addr, &self.data_dir, &self.database))
            .await
            .expect("classhub starts again on the same address");
        self.server = Some(server);
    }

    /// A store on the database the server uses.
    pub async fn store(&self) -> persistence::Store {
        self.database.store().await
    }

    /// A new game-server key for `tenant`, limited to `universe_id`.
    pub async fn game_key(&self, tenant: &str, universe_id: u64) -> String {
        let store = self.store().await;
        store.ensure_tenant(tenant).await.expect("tenant");
        let key = roblox::keys::generate();
        store
            .create_game_key(&persistence::NewGameKey {
                id: format!("gk_{}", rand::random::<u32>()),
                tenant: tenant.to_owned(),
                universe_id: Some(i64::try_from(universe_id).expect("universe id")),
                label: Some("lua-sdk tests".to_owned()),
                key_hash: key.hash.clone(),
                key_prefix: key.prefix.clone(),
            })
            .await
            .expect("store the key");
        store.close().await;
        key.key
    }

    /// Seeds a class with code `code` and roster `students` (id, display name) in `tenant`.
    pub async fn seed_class(
        &self,
        tenant: &str,
        class_id: &str,
        code: &str,
        students: &[(&str, &str)],
    ) {
        let store = self.store().await;
        let teacher = format!("{class_id}-teacher");
        ClassSeed {
            tenant,
            id: class_id,
            name: "Class",
            code,
            teacher: (&teacher, "Teacher"),
            students,
        }
        .write(&store)
        .await
        .expect("seed the class");
        store.close().await;
    }

    /// The personal link code of `student` on a class seeded by [`TestServer::seed_class`], as
    /// the class's teacher reads it on the roster (`GET /api/v1/classes/{id}/students`).
    pub async fn link_code(&self, tenant: &str, class_id: &str, student: &str) -> String {
        let teacher = token(tenant, Role::Educator, &format!("{class_id}-teacher"));
        let roster: Value = reqwest::Client::new()
            .get(format!(
                "{}/api/v1/classes/{class_id}/students",
                self.base_url()
            ))
            .bearer_auth(teacher)
            .timeout(PATIENCE)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("the roster")
            .json()
            .await
            .expect("roster JSON");
        roster["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|member| member["id"] == student)
            .and_then(|member| member["link_code"].as_str())
            .unwrap_or_else(|| panic!("{student} with a link code in {roster}"))
            .to_owned()
    }

    /// The ids of the events stored for `tenant`, in insertion order.
    pub async fn stored_event_ids(&self, tenant: &str) -> Vec<String> {
        let store = self.store().await;
        let ids = store.event_ids(tenant).await.expect("event ids");
        store.close().await;
        ids
    }
}

fn config(bind: SocketAddr, data_dir: &std::path::Path, database: &TestDatabase) -> Config {
    Config {
        bind,
        jwt_secret: Some(JWT_SECRET.to_owned()),
        data_dir: data_dir.to_path_buf(),
        database_url: Some(database.url().to_owned()),
        socket: SocketSettings {
            publish_rate: 10_000,
            publish_burst: 10_000,
            ..SocketSettings::default()
        },
        ..Config::default()
    }
}

/// A game server whose Secrets store holds a fresh key for it as `classhub_key`.
pub async fn game_for(server: &TestServer) -> Harness {
    let options = Options::new(server.base_url());
    let key = server.game_key(TENANT, options.universe_id).await;
    Harness::new(options.secret("classhub_key", &key)).expect("harness")
}

/// Makes the global `hub` (extra config fields in `config_extra`, Luau) and starts it.
pub async fn start_hub(harness: &mut Harness, config_extra: &str) {
    harness
        .run_script(
            "start",
            &format!(
                r#"hub = ClassHub.new({{ baseUrl = BASE_URL, secretName = "classhub_key", {config_extra} }})
                started, start_error = hub:StartAsync()"#
            ),
            60.0,
        )
        .await
        .expect("StartAsync returns");
    let (started, error): (bool, Option<String>) = harness
        .eval("started, start_error")
        .expect("StartAsync result");
    assert!(started, "StartAsync failed: {error:?}");
}

/// A game server with a started `hub`.
pub async fn started_game(server: &TestServer, config_extra: &str) -> Harness {
    let mut harness = game_for(server).await;
    start_hub(&mut harness, config_extra).await;
    harness
}

/// `hub:GetStats().<field>`.
pub fn stat(harness: &Harness, field: &str) -> u64 {
    harness
        .eval(&format!("hub:GetStats().{field}"))
        .unwrap_or_else(|error| panic!("hub:GetStats().{field}: {error}"))
}

/// Runs `hub:StopAsync()` to its end and returns what it returned.
pub async fn stop_hub(harness: &mut Harness) -> bool {
    harness
        .run_script("stop", "stopped_clean = hub:StopAsync()", 60.0)
        .await
        .expect("StopAsync returns");
    harness.eval("stopped_clean").expect("StopAsync result")
}

pub fn token(tenant: &str, role: Role, user: &str) -> String {
    let identity = Identity {
        user: user.into(),
        tenant: tenant.into(),
        role,
        name: Some(format!("name of {user}")),
        children: vec![],
        expires_at: None,
    };
    auth::mint(
        JWT_SECRET,
        &auth::claims_for(&identity, Duration::from_secs(3600)),
    )
    .expect("mint")
}

/// A native-protocol (JSON) socket, e.g. a teacher's dashboard.
pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_ref: u64,
}

impl Socket {
    pub async fn connect(addr: SocketAddr, token: &str) -> Socket {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}"))
            .await
            .expect("connect");
        let mut socket = Socket { ws, next_ref: 0 };
        let welcome = socket.recv().await;
        assert!(
            matches!(welcome, ServerMessage::Welcome(_)),
            "expected welcome, got {welcome:?}"
        );
        socket
    }

    pub async fn send(&mut self, mut message: Value) -> u64 {
        self.next_ref += 1;
        message["ref"] = json!(self.next_ref);
        self.ws
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
        self.next_ref
    }

    /// The next protocol message (panics after PATIENCE or on close).
    pub async fn recv(&mut self) -> ServerMessage {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame within PATIENCE")
                .expect("socket open")
                .expect("frame");
            match frame {
                Message::Text(text) => {
                    return protocol::Codec::Json
                        .decode_server(text.as_bytes())
                        .expect("server frame");
                }
                Message::Close(close) => panic!("socket closed: {close:?}"),
                _ => continue,
            }
        }
    }

    /// Reads until a message matches (others are skipped).
    pub async fn recv_until(
        &mut self,
        mut wanted: impl FnMut(&ServerMessage) -> bool,
    ) -> ServerMessage {
        loop {
            let message = self.recv().await;
            if wanted(&message) {
                return message;
            }
        }
    }

    pub async fn join(&mut self, room: &str) {
        let reference = self.send(json!({"type": "join", "room": room})).await;
        match self
            .recv_until(|message| {
                matches!(message, ServerMessage::Joined(_) | ServerMessage::Error(_))
            })
            .await
        {
            ServerMessage::Joined(_) => {}
            other => panic!("join {room} (ref {reference}) failed: {other:?}"),
        }
    }
}
