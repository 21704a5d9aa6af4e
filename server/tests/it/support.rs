//! Test support: start a server on 127.0.0.1:0, mint tokens, and a protocol client.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::{Codec, Joined, ServerMessage, Welcome};
use serde_json::{Value, json};
use server::auth::{self, Identity, Role};
use server::transport::settings::SocketSettings;
use server::{Config, RunningServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const SECRET: &str = "integration-test-secret-0123456789";
/// Upper bound on any single wait in these tests (a hang fails instead of blocking CI).
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub server: RunningServer,
    pub addr: SocketAddr,
    /// The QUIC listener (its UDP address and certificate), when the test asked for one.
    pub quic: Option<server::QuicListening>,
    /// This server's own data dir (its SQLite database lives here unless `database_url` is set).
    pub data_dir: std::path::PathBuf,
}

pub async fn start_server() -> TestServer {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let data_dir = temp_dir("server");
    let mut config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        jwt_secret: Some(SECRET.to_owned()),
        // Media in this server's own folder (the default is the working directory's).
        media: server::media::MediaSettings {
            storage: server::media::MediaStorage::Dir(data_dir.join("media")),
            ..Default::default()
        },
        data_dir,
        socket: SocketSettings {
            publish_rate: 10_000,
            publish_burst: 10_000,
            ..SocketSettings::default()
        },
        ..Config::default()
    };
    tweak(&mut config);
    let data_dir = config.data_dir.clone();
    let server = server::start(config).await.expect("server starts");
    let addr = server.local_addr();
    let quic = server.quic().cloned();
    TestServer {
        server,
        addr,
        quic,
        data_dir,
    }
}

/// A server that also speaks the native protocol over QUIC on 127.0.0.1:0 (with a generated
/// development certificate; `TestServer::quic` has its address and DER).
pub async fn start_quic_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
    start_with(|config| {
        config.quic.bind = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        tweak(config);
    })
    .await
}

/// A new, empty directory under the system temp dir.
/// A server whose REST rate limits a test making hundreds of calls never reaches.
pub async fn start_without_rest_limits() -> TestServer {
    start_with(|config| {
        config.api_limits.per_token_rate = 1_000_000;
        config.api_limits.per_token_burst = 1_000_000;
        config.api_limits.per_ip_rate = 1_000_000;
        config.api_limits.per_ip_burst = 1_000_000;
    })
    .await
}

pub fn temp_dir(purpose: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("classhub-it-{purpose}-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A `classhub serve` child process on 127.0.0.1:0 and the address it printed.
/// A child process killed when the test ends, even by a panic.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub async fn spawn_classhub(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    extra: &[&str],
) -> (ChildGuard, SocketAddr) {
    use std::io::{BufRead, BufReader};
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_classhub"));
    command
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--publish-rate",
            "100000",
            "--publish-burst",
            "100000",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .env("CLASSHUB_JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    let mut child = ChildGuard(command.spawn().expect("spawn classhub"));
    let stdout = child.0.stdout.take().expect("stdout");
    // Keep reading stdout for the child's whole life, as a terminal would.
    let (first_line_tx, first_line_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let _ = first_line_tx.send(first);
        for _ in lines {}
    });
    let first_line = tokio::time::timeout(PATIENCE, first_line_rx)
        .await
        .expect("classhub printed its address")
        .expect("line");
    let addr = first_line
        .trim()
        .strip_prefix("classhub listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
        .parse()
        .expect("address");
    (child, addr)
}

/// Waits for a child to exit (panics after PATIENCE) and returns its status.
pub async fn wait_exit(child: &mut ChildGuard) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(exit) = child.0.try_wait().expect("wait") {
            return exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "classhub did not exit in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends a signal (`TERM`, `KILL`) to a child.
pub fn signal(child: &ChildGuard, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} failed");
}

pub fn identity(tenant: &str, role: Role, user: &str) -> Identity {
    Identity {
        user: user.into(),
        tenant: tenant.into(),
        role,
        name: Some(format!("name of {user}")),
        children: vec![],
        expires_at: None,
    }
}

pub fn token_for(identity: &Identity) -> String {
    auth::mint(
        SECRET,
        &auth::claims_for(identity, Duration::from_secs(3600)),
    )
    .expect("mint")
}

pub fn token(tenant: &str, role: Role, user: &str) -> String {
    token_for(&identity(tenant, role, user))
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct Client {
    pub ws: Ws,
    pub codec: Codec,
    next_ref: u64,
}

/// How a test client authenticates.
pub enum Auth<'a> {
    Query(&'a str),
    Header(&'a str),
    None,
}

impl Client {
    /// JSON client authenticated by `?token=`, past its `welcome`.
    pub async fn connect(addr: SocketAddr, token: &str) -> Client {
        let mut client = Client::open(addr, Auth::Query(token), None)
            .await
            .expect("connect");
        client.welcome().await;
        client
    }

    /// Opens a socket; `subprotocol` is offered as is when given.
    pub async fn open(
        addr: SocketAddr,
        auth: Auth<'_>,
        subprotocol: Option<&str>,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let url = match auth {
            Auth::Query(token) => format!("ws://{addr}/ws?token={token}"),
            Auth::Header(_) | Auth::None => format!("ws://{addr}/ws"),
        };
        let mut request = url.into_client_request()?;
        if let Auth::Header(token) = auth {
            request.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
            );
        }
        if let Some(name) = subprotocol {
            request.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_str(name).expect("header"),
            );
        }
        let (ws, response) = tokio_tungstenite::connect_async(request).await?;
        let codec = response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|value| value.to_str().ok())
            .and_then(Codec::from_subprotocol)
            .unwrap_or(Codec::Json);
        Ok(Client {
            ws,
            codec,
            next_ref: 1,
        })
    }

    /// Sends a message given as JSON, in this client's codec.
    pub async fn send(&mut self, message: Value) {
        let frame = match self.codec {
            Codec::Json => Message::text(message.to_string()),
            Codec::MsgPack => Message::binary(rmp_serde::to_vec_named(&message).expect("msgpack")),
        };
        self.ws.send(frame).await.expect("send");
    }

    /// Sends like [`Client::send`], but a socket the server already closed is not a panic:
    /// `false` then.
    pub async fn try_send(&mut self, message: Value) -> bool {
        let frame = match self.codec {
            Codec::Json => Message::text(message.to_string()),
            Codec::MsgPack => Message::binary(rmp_serde::to_vec_named(&message).expect("msgpack")),
        };
        self.ws.send(frame).await.is_ok()
    }

    pub async fn send_raw(&mut self, frame: Message) {
        self.ws.send(frame).await.expect("send raw");
    }

    /// The next protocol message (pings and pongs skipped). Panics on close or after PATIENCE.
    pub async fn recv(&mut self) -> ServerMessage {
        match self.next_frame().await {
            Frame::Message(message) => message,
            Frame::Closed(code) => panic!("socket closed ({code:?}) while waiting for a message"),
        }
    }

    /// The next message, or the close code if the socket closes first.
    pub async fn next_frame(&mut self) -> Frame {
        loop {
            let next = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("no frame within PATIENCE");
            let frame = match next {
                None => return Frame::Closed(None),
                Some(Err(_)) => return Frame::Closed(None),
                Some(Ok(frame)) => frame,
            };
            let bytes = match frame {
                Message::Text(text) => text.as_bytes().to_vec(),
                Message::Binary(bytes) => bytes.to_vec(),
                Message::Close(close) => {
                    return Frame::Closed(close.map(|frame| u16::from(frame.code)));
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            return Frame::Message(
                self.codec
                    .decode_server(&bytes)
                    .expect("server frame decodes"),
            );
        }
    }

    /// Reads until a message matches, returning it (others are skipped).
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

    /// Reads until the socket closes; returns the close code. Messages before it are skipped.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            if let Frame::Closed(code) = self.next_frame().await {
                return code;
            }
        }
    }

    pub async fn welcome(&mut self) -> Welcome {
        match self.recv().await {
            ServerMessage::Welcome(welcome) => welcome,
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    pub fn next_ref(&mut self) -> u64 {
        self.next_ref += 1;
        self.next_ref
    }

    /// Joins `room` and returns the `joined` answer.
    pub async fn join(&mut self, room: &str) -> Joined {
        self.join_with(json!({ "room": room })).await
    }

    /// Joins with extra fields (`since`, `presence`) and returns the `joined` answer.
    pub async fn join_with(&mut self, mut fields: Value) -> Joined {
        let reference = self.next_ref();
        fields["type"] = json!("join");
        fields["ref"] = json!(reference);
        self.send(fields).await;
        match self
            .recv_until(|message| !matches!(message, ServerMessage::PresenceDiff(_)))
            .await
        {
            ServerMessage::Joined(joined) => joined,
            other => panic!("expected joined, got {other:?}"),
        }
    }

    /// Publishes and waits for the `reply`, returning the event's seq.
    pub async fn publish(&mut self, room: &str, kind: &str, data: Value) -> u64 {
        let reference = self.next_ref();
        self.send(json!({ "type": "publish", "ref": reference, "room": room, "kind": kind, "data": data })).await;
        match self
            .recv_until(|message| {
                matches!(message, ServerMessage::Reply(_) | ServerMessage::Error(_))
            })
            .await
        {
            ServerMessage::Reply(reply) => reply.seq.expect("publish reply carries seq"),
            other => panic!("expected reply, got {other:?}"),
        }
    }

    /// Sends `message` (with a fresh ref) and returns the error it earns.
    pub async fn expect_error(&mut self, mut message: Value) -> protocol::ErrorBody {
        let reference = self.next_ref();
        message["ref"] = json!(reference);
        self.send(message).await;
        match self
            .recv_until(|message| {
                matches!(
                    message,
                    ServerMessage::Error(_) | ServerMessage::Reply(_) | ServerMessage::Joined(_)
                )
            })
            .await
        {
            ServerMessage::Error(error) => {
                assert_eq!(
                    error.reference,
                    Some(protocol::Ref::Int(reference)),
                    "error echoes the ref"
                );
                error
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// A round trip that proves the connection is alive and the server is answering it.
    pub async fn ping(&mut self) {
        let reference = self.next_ref();
        self.send(json!({ "type": "ping", "ref": reference })).await;
        match self
            .recv_until(|message| matches!(message, ServerMessage::Pong(_)))
            .await
        {
            ServerMessage::Pong(pong) => {
                assert_eq!(pong.reference, Some(protocol::Ref::Int(reference)))
            }
            other => panic!("expected pong, got {other:?}"),
        }
    }
}

pub enum Frame {
    Message(ServerMessage),
    Closed(Option<u16>),
}

/// The events (`event`/`command`/`notification`) in a list of messages, as (seq, kind, data).
pub fn event_parts(message: &ServerMessage) -> Option<(u64, &str, &Value)> {
    match message {
        ServerMessage::Event(body)
        | ServerMessage::Command(body)
        | ServerMessage::Notification(body) => Some((body.seq, body.kind.as_str(), &body.data)),
        _ => None,
    }
}

/// A plain HTTP/1.1 GET; returns (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
    let mut response = String::new();
    tokio::time::timeout(PATIENCE, stream.read_to_string(&mut response))
        .await
        .expect("response in time")
        .expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Polls `condition` every 10 ms until it holds; panics after PATIENCE.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The HTTP error a refused upgrade carried: (status, body JSON).
pub fn refused(error: tokio_tungstenite::tungstenite::Error) -> (u16, Value) {
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_deref()
                .map(|bytes| serde_json::from_slice(bytes).expect("json body"))
                .unwrap_or(Value::Null);
            (status, body)
        }
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

/// Serves `router` on a fresh loopback port (a stand-in for a service the server calls: JWKS,
/// Stripe, OpenAI, Open Cloud, webhook receivers) until the test ends; returns its address.
pub async fn serve_stand_in(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a stand-in on loopback");
    let addr = listener.local_addr().expect("the stand-in's address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}
