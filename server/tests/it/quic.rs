//! The native protocol over QUIC, with a real quinn client on loopback that trusts the server's
//! generated development certificate by its DER: a QUIC member is a member like any other (it
//! joins, publishes and receives beside `/ws` members, is present, recovers with `since`), the
//! frame limits, refusal budget, slow-consumer rule and live authority apply, bad frames are
//! named, a stream cut inside a frame leaves its rooms, the wrong ALPN is refused, and shutdown
//! closes with 4200.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use protocol::{Codec, ErrorCode, ServerMessage, Welcome};
use quinn::crypto::rustls::QuicClientConfig;
use serde_json::{Value, json};
use server::auth::Role;

use crate::ephemeral::publish_ephemeral;
use crate::support::{Client, PATIENCE, TestServer, event_parts, start_quic_with, token};

const ROOM: &str = "class:acme:c1";

/// A QUIC client of the native protocol: one connection, one bidirectional stream.
struct QuicClient {
    connection: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    codec: Codec,
    next_ref: u64,
    /// Keeps the client's UDP socket open.
    _endpoint: quinn::Endpoint,
}

/// What the server sent next.
enum QuicFrame {
    Message(ServerMessage),
    /// The stream or connection ended: the application close code, when there was one.
    Closed(Option<u64>),
}

/// A client endpoint trusting `test`'s certificate and offering `alpn`.
fn endpoint(test: &TestServer, alpn: &[u8]) -> quinn::Endpoint {
    let listening = test.quic.as_ref().expect("the test server speaks QUIC");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(listening.certificate.clone())
        .expect("the development certificate is a usable root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut crypto = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    crypto.alpn_protocols = vec![alpn.to_vec()];
    let config = quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(crypto).expect("a QUIC client configuration"),
    ));
    let mut endpoint =
        quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).expect("client endpoint");
    endpoint.set_default_client_config(config);
    endpoint
}

impl QuicClient {
    /// Connects with `codec`'s ALPN and opens the stream (the server sees it with the first
    /// frame).
    async fn open(test: &TestServer, codec: Codec) -> QuicClient {
        QuicClient::open_at(test, codec, test.quic.as_ref().expect("quic").addr).await
    }

    /// [`QuicClient::open`] through `addr` (a relay in front of the server).
    async fn open_at(test: &TestServer, codec: Codec, addr: SocketAddr) -> QuicClient {
        let endpoint = endpoint(test, codec.subprotocol().as_bytes());
        let connection = tokio::time::timeout(
            PATIENCE,
            endpoint.connect(addr, "localhost").expect("connect"),
        )
        .await
        .expect("handshake in time")
        .expect("handshake");
        let (send, recv) = connection.open_bi().await.expect("a stream");
        QuicClient {
            connection,
            send,
            recv,
            codec,
            next_ref: 1,
            _endpoint: endpoint,
        }
    }

    /// Opens, authenticates with `token` and returns the client past its `welcome`.
    async fn connect(test: &TestServer, codec: Codec, token: &str) -> (QuicClient, Welcome) {
        let addr = test.quic.as_ref().expect("quic").addr;
        QuicClient::connect_at(test, codec, token, addr).await
    }

    /// [`QuicClient::connect`] through `addr`.
    async fn connect_at(
        test: &TestServer,
        codec: Codec,
        token: &str,
        addr: SocketAddr,
    ) -> (QuicClient, Welcome) {
        let mut client = QuicClient::open_at(test, codec, addr).await;
        client.send(json!({"type": "auth", "token": token})).await;
        let welcome = match client.recv().await {
            ServerMessage::Welcome(welcome) => welcome,
            other => panic!("expected welcome, got {other:?}"),
        };
        (client, welcome)
    }

    /// Sends one frame: its length (u32, big-endian), then its bytes.
    async fn send_bytes(&mut self, frame: &[u8]) {
        let mut prefixed = BytesMut::with_capacity(4 + frame.len());
        prefixed.put_u32(u32::try_from(frame.len()).expect("a small frame"));
        prefixed.put_slice(frame);
        self.send.write_all(&prefixed).await.expect("write");
    }

    /// Sends a message given as JSON, in this client's codec.
    async fn send(&mut self, message: Value) {
        let frame = match self.codec {
            Codec::Json => message.to_string().into_bytes(),
            Codec::MsgPack => rmp_serde::to_vec_named(&message).expect("msgpack"),
        };
        self.send_bytes(&frame).await;
    }

    /// The next frame, or how the connection ended. Panics after PATIENCE.
    async fn next_frame(&mut self) -> QuicFrame {
        let mut prefix = [0u8; 4];
        let read = tokio::time::timeout(PATIENCE, self.recv.read_exact(&mut prefix))
            .await
            .expect("a frame within PATIENCE");
        if read.is_err() {
            return QuicFrame::Closed(self.close_code().await);
        }
        let mut frame = vec![0u8; u32::from_be_bytes(prefix) as usize];
        let read = tokio::time::timeout(PATIENCE, self.recv.read_exact(&mut frame))
            .await
            .expect("the rest of the frame within PATIENCE");
        if read.is_err() {
            return QuicFrame::Closed(self.close_code().await);
        }
        QuicFrame::Message(
            self.codec
                .decode_server(&frame)
                .expect("server frame decodes"),
        )
    }

    /// The next datagram as a server message, or `None` when none comes within `wait`.
    async fn datagram(&self, wait: std::time::Duration) -> Option<ServerMessage> {
        let datagram = tokio::time::timeout(wait, self.connection.read_datagram())
            .await
            .ok()?
            .expect("the connection is open");
        Some(
            self.codec
                .decode_server(&datagram)
                .expect("a datagram holds one server frame"),
        )
    }

    /// The application close code the connection ended with.
    async fn close_code(&self) -> Option<u64> {
        let error = tokio::time::timeout(PATIENCE, self.connection.closed())
            .await
            .expect("the connection closes within PATIENCE");
        match error {
            quinn::ConnectionError::ApplicationClosed(close) => Some(close.error_code.into_inner()),
            _ => None,
        }
    }

    async fn recv(&mut self) -> ServerMessage {
        match self.next_frame().await {
            QuicFrame::Message(message) => message,
            QuicFrame::Closed(code) => panic!("closed ({code:?}) while waiting for a message"),
        }
    }

    async fn recv_until(
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

    /// Reads until the connection ends; returns its application close code.
    async fn closed_with(&mut self) -> Option<u64> {
        loop {
            if let QuicFrame::Closed(code) = self.next_frame().await {
                return code;
            }
        }
    }

    fn next_ref(&mut self) -> u64 {
        self.next_ref += 1;
        self.next_ref
    }

    async fn join_with(&mut self, mut fields: Value) -> protocol::Joined {
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

    async fn publish(&mut self, room: &str, kind: &str, data: Value) -> u64 {
        let reference = self.next_ref();
        self.send(
            json!({"type": "publish", "ref": reference, "room": room, "kind": kind, "data": data}),
        )
        .await;
        match self
            .recv_until(|message| {
                matches!(message, ServerMessage::Reply(_) | ServerMessage::Error(_))
            })
            .await
        {
            ServerMessage::Reply(reply) => reply.seq.expect("a publish reply carries its seq"),
            other => panic!("expected reply, got {other:?}"),
        }
    }

    /// Sends a raw frame and returns the error it earns.
    async fn error_for(&mut self, frame: &[u8]) -> protocol::ErrorBody {
        self.send_bytes(frame).await;
        match self
            .recv_until(|message| matches!(message, ServerMessage::Error(_)))
            .await
        {
            ServerMessage::Error(error) => error,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    async fn ping(&mut self) {
        let reference = self.next_ref();
        self.send(json!({"type": "ping", "ref": reference})).await;
        self.recv_until(|message| matches!(message, ServerMessage::Pong(_)))
            .await;
    }
}

async fn start() -> TestServer {
    start_quic_with(|_| {}).await
}

#[tokio::test]
async fn a_quic_member_joins_publishes_and_receives_beside_a_websocket_member() {
    let test = start().await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    let (mut student, welcome) =
        QuicClient::connect(&test, Codec::Json, &token("acme", Role::Student, "s1")).await;
    assert_eq!(welcome.user, "s1");
    assert_eq!(welcome.limits.max_frame_bytes, 64 * 1024);

    let joined = student.join_with(json!({"room": ROOM})).await;
    let mut present: Vec<_> = joined.members.iter().map(|m| m.user.as_str()).collect();
    present.sort();
    assert_eq!(present, ["s1", "t1"], "the QUIC member sees the /ws member");
    let ServerMessage::PresenceDiff(diff) = teacher
        .recv_until(|message| matches!(message, ServerMessage::PresenceDiff(_)))
        .await
    else {
        unreachable!()
    };
    assert_eq!(
        diff.joins[0].user, "s1",
        "the /ws member sees the QUIC member join"
    );

    // QUIC → /ws, and /ws → QUIC, numbered in one sequence.
    let seq = student
        .publish(ROOM, "chat", json!({"text": "hello"}))
        .await;
    let event = teacher
        .recv_until(|message| event_parts(message).is_some())
        .await;
    let (event_seq, kind, data) = event_parts(&event).expect("an event");
    assert_eq!((event_seq, kind), (seq, "chat"));
    assert_eq!(data["text"], "hello");
    let teacher_seq = teacher
        .publish(ROOM, "note", json!({"text": "well done"}))
        .await;
    let event = student
        .recv_until(|message| event_parts(message).map(|(_, kind, _)| kind) == Some("note"))
        .await;
    assert_eq!(event_parts(&event).map(|parts| parts.0), Some(teacher_seq));
    assert_eq!(teacher_seq, seq + 1);
}

#[tokio::test]
async fn the_alpn_chooses_messagepack() {
    let test = start().await;
    let (mut client, welcome) =
        QuicClient::connect(&test, Codec::MsgPack, &token("acme", Role::Educator, "t1")).await;
    assert_eq!(welcome.role, "educator");
    client.join_with(json!({"room": ROOM})).await;
    assert_eq!(
        client.publish(ROOM, "note", json!({"packed": true})).await,
        1
    );
    // A JSON frame on a MessagePack connection is named as such.
    let error = client.error_for(br#"{"type":"ping"}"#).await;
    assert_eq!(
        error.code,
        ErrorCode::MalformedFrame.code(),
        "{}",
        error.message
    );
    assert!(error.message.contains("MessagePack"), "{}", error.message);
}

#[tokio::test]
async fn a_stream_cut_inside_a_frame_leaves_the_room() {
    let test = start().await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    let (mut student, _) =
        QuicClient::connect(&test, Codec::Json, &token("acme", Role::Student, "s1")).await;
    student.join_with(json!({"room": ROOM})).await;
    teacher
        .recv_until(|message| matches!(message, ServerMessage::PresenceDiff(diff) if !diff.joins.is_empty()))
        .await;

    // A frame that announces 100 bytes, 10 of them sent, then the stream ends.
    let mut cut = BytesMut::new();
    cut.put_u32(100);
    cut.put_slice(b"{\"type\":\"p");
    student.send.write_all(&cut).await.expect("write");
    student.send.finish().expect("finish");

    let left = teacher
        .recv_until(|message| matches!(message, ServerMessage::PresenceDiff(diff) if !diff.leaves.is_empty()))
        .await;
    let ServerMessage::PresenceDiff(diff) = left else {
        unreachable!()
    };
    assert_eq!(diff.leaves[0].user, "s1");
    assert_eq!(student.closed_with().await, Some(0), "a normal closure");
}

#[tokio::test]
async fn a_rejoin_with_since_recovers_what_was_missed() {
    let test = start().await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    teacher.publish(ROOM, "before", json!({})).await;
    let student_token = token("acme", Role::Student, "s1");
    let (mut student, _) = QuicClient::connect(&test, Codec::Json, &student_token).await;
    let first = student.join_with(json!({"room": ROOM})).await;
    assert_eq!(first.seq, 1);
    student.connection.close(0u32.into(), b"bye");
    drop(student);

    for n in 1..=3 {
        teacher.publish(ROOM, "missed", json!({"n": n})).await;
    }
    let (mut student, _) = QuicClient::connect(&test, Codec::MsgPack, &student_token).await;
    let rejoined = student
        .join_with(json!({"room": ROOM, "since": {"epoch": first.epoch, "seq": first.seq}}))
        .await;
    assert!(rejoined.recovered);
    let missed: Vec<_> = rejoined
        .missed
        .iter()
        .filter_map(|message| event_parts(message).map(|(seq, _, data)| (seq, data.clone())))
        .collect();
    assert_eq!(
        missed,
        [
            (2, json!({"n": 1})),
            (3, json!({"n": 2})),
            (4, json!({"n": 3}))
        ]
    );
}

#[tokio::test]
async fn a_length_over_the_limit_is_named_then_closed_without_reading_it() {
    let test = start_quic_with(|config| config.hub.limits.max_frame_bytes = 1024).await;
    let (mut client, welcome) =
        QuicClient::connect(&test, Codec::Json, &token("acme", Role::Student, "s1")).await;
    assert_eq!(welcome.limits.max_frame_bytes, 1024);
    // Within the prefix's range but far over the limit; none of it is ever sent.
    client
        .send
        .write_all(&4_000_000_000u32.to_be_bytes())
        .await
        .expect("write");
    let ServerMessage::Error(error) = client.recv().await else {
        panic!("expected an error first")
    };
    assert_eq!(error.code, ErrorCode::FrameTooLarge.code());
    assert!(
        error.message.contains("4000000000 bytes") && error.message.contains("1024 bytes"),
        "{}",
        error.message
    );
    assert_eq!(client.closed_with().await, Some(4009));
}

#[tokio::test]
async fn a_frame_over_the_limit_before_auth_is_refused_too() {
    let test = start_quic_with(|config| config.hub.limits.max_frame_bytes = 1024).await;
    let mut client = QuicClient::open(&test, Codec::Json).await;
    client.send_bytes(&vec![b' '; 2048]).await;
    let ServerMessage::Error(error) = client.recv().await else {
        panic!("expected an error first")
    };
    assert_eq!(error.code, ErrorCode::FrameTooLarge.code());
    assert_eq!(client.closed_with().await, Some(4009));
}

#[tokio::test]
async fn bad_frames_get_errors_naming_the_problem_and_the_connection_stays() {
    let test = start().await;
    let (mut client, _) =
        QuicClient::connect(&test, Codec::Json, &token("acme", Role::Educator, "t1")).await;
    let check = |error: protocol::ErrorBody, code: ErrorCode, needle: &str| {
        assert_eq!(error.code, code.code(), "{}", error.message);
        assert!(
            error.message.contains(needle),
            "{needle}: {}",
            error.message
        );
    };
    check(
        client.error_for(b"{not json").await,
        ErrorCode::MalformedFrame,
        "JSON",
    );
    check(
        client.error_for(b"").await,
        ErrorCode::MalformedFrame,
        "JSON",
    );
    check(
        client.error_for(br#"{"type":"dance","ref":9}"#).await,
        ErrorCode::UnknownType,
        "dance",
    );
    check(
        client
            .error_for(br#"{"type":"join","room":"nowhere"}"#)
            .await,
        ErrorCode::BadRoomId,
        "nowhere",
    );
    check(
        client
            .error_for(br#"{"type":"publish","room":"class:acme:c1","kind":7}"#)
            .await,
        ErrorCode::InvalidMessage,
        "expected a string",
    );
    client.ping().await;
}

#[tokio::test]
async fn authentication_comes_first_and_a_bad_token_closes_with_4001() {
    let test = start().await;
    let mut client = QuicClient::open(&test, Codec::Json).await;
    client
        .send(json!({"type": "join", "room": ROOM, "ref": 1}))
        .await;
    let ServerMessage::Error(error) = client.recv().await else {
        panic!("expected unauthenticated")
    };
    assert_eq!(error.code, ErrorCode::Unauthenticated.code());
    client
        .send(json!({"type": "auth", "token": "forged"}))
        .await;
    let ServerMessage::Error(error) = client.recv().await else {
        panic!("expected an invalid token")
    };
    assert_eq!(error.code, ErrorCode::InvalidToken.code());
    assert_eq!(client.closed_with().await, Some(4001));
}

#[tokio::test]
async fn a_flood_of_refused_frames_is_cut_off_with_4103() {
    let test = start_quic_with(|config| config.socket.max_refused_frames = 5).await;
    let (mut client, _) =
        QuicClient::connect(&test, Codec::Json, &token("acme", Role::Educator, "t1")).await;
    for _ in 0..20 {
        client.send_bytes(b"garbage").await;
    }
    assert_eq!(client.closed_with().await, Some(4103));
}

#[tokio::test]
async fn the_wrong_alpn_is_refused_in_the_handshake() {
    let test = start().await;
    let endpoint = endpoint(&test, b"classhub.v2.json");
    let addr = test.quic.as_ref().expect("quic").addr;
    let outcome = tokio::time::timeout(
        PATIENCE,
        endpoint.connect(addr, "localhost").expect("connect"),
    )
    .await
    .expect("an answer in time");
    let error = outcome.expect_err("no common application protocol");
    // TLS alert 120 (no_application_protocol) as a QUIC crypto error (0x100 + 120).
    assert!(
        matches!(&error, quinn::ConnectionError::ConnectionClosed(close) if close.error_code == quinn::TransportErrorCode::crypto(120)),
        "{error:?}"
    );
}

#[tokio::test]
async fn shutdown_closes_quic_members_with_4200() {
    let test = start().await;
    let (mut client, _) =
        QuicClient::connect(&test, Codec::Json, &token("acme", Role::Educator, "t1")).await;
    client.join_with(json!({"room": ROOM})).await;
    let shutdown = tokio::spawn(test.server.shutdown());
    assert_eq!(client.closed_with().await, Some(4200));
    tokio::time::timeout(PATIENCE, shutdown)
        .await
        .expect("shutdown in time")
        .expect("shutdown task");
}

#[tokio::test]
async fn a_quic_member_that_stops_reading_is_closed_as_a_slow_consumer() {
    let test = start_quic_with(|config| config.hub.conn_queue_len = 8).await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    let (mut stalled, _) =
        QuicClient::connect(&test, Codec::Json, &token("acme", Role::Student, "s1")).await;
    stalled.join_with(json!({"room": ROOM})).await;

    // The stalled member reads nothing while the teacher publishes: its stream's flow-control
    // window fills, then its queue, and the hub lets it go.
    let room = protocol::RoomId::parse(ROOM, 128).expect("room id");
    let blob = "x".repeat(16 * 1024);
    let present = |test: &TestServer| {
        test.server
            .app()
            .hub()
            .room_members(&room)
            .iter()
            .any(|member| member.user == "s1")
    };
    let mut published = 0;
    while present(&test) {
        assert!(published < 2000, "the stalled QUIC member was never closed");
        teacher.publish(ROOM, "note", json!({"blob": blob})).await;
        published += 1;
    }
    assert_eq!(stalled.closed_with().await, Some(4100));
}

#[tokio::test]
async fn authority_is_live_an_expired_token_closes_and_a_fresh_one_extends() {
    let test = start().await;
    let short = |user: &str| {
        server::auth::mint(
            crate::support::SECRET,
            &server::auth::claims_for(
                &crate::support::identity("acme", Role::Student, user),
                std::time::Duration::from_secs(2),
            ),
        )
        .expect("mint")
    };
    let (mut lapsing, _) = QuicClient::connect(&test, Codec::Json, &short("s1")).await;
    lapsing.join_with(json!({"room": ROOM})).await;
    let (mut renewing, _) = QuicClient::connect(&test, Codec::MsgPack, &short("s2")).await;
    renewing.join_with(json!({"room": ROOM})).await;
    renewing
        .send(json!({"type": "auth", "ref": 9, "token": token("acme", Role::Student, "s2")}))
        .await;
    let renewed = renewing
        .recv_until(|message| matches!(message, ServerMessage::Reply(_) | ServerMessage::Error(_)))
        .await;
    assert!(matches!(renewed, ServerMessage::Reply(_)), "{renewed:?}");

    assert_eq!(lapsing.closed_with().await, Some(4001));
    // Past the short token's expiry as the server sees it, the renewed connection still answers.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    renewing.ping().await;
    renewing
        .publish(ROOM, "chat", json!({"text": "still here"}))
        .await;
}

#[tokio::test]
async fn ephemeral_events_reach_a_quic_member_as_datagrams_and_large_ones_on_its_stream() {
    let test = start().await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    let (mut student, _) =
        QuicClient::connect(&test, Codec::Json, &token("acme", Role::Student, "s1")).await;
    student.join_with(json!({"room": ROOM})).await;

    publish_ephemeral(&mut teacher, "cursor", json!({"x": 1, "y": 2})).await;
    let datagram = student
        .datagram(crate::support::PATIENCE)
        .await
        .expect("the cursor arrives as a datagram");
    let ServerMessage::Event(body) = datagram else {
        panic!("expected an event, got {datagram:?}")
    };
    assert!(body.ephemeral);
    assert_eq!((body.kind.as_str(), body.seq), ("cursor", 0));
    assert_eq!(*body.data, json!({"x": 1, "y": 2}));

    // Larger than a datagram can be: it comes on the stream, still marked, in its place.
    let blob = "y".repeat(4 * 1024);
    publish_ephemeral(&mut teacher, "drawing", json!({"blob": blob})).await;
    let seq = teacher.publish(ROOM, "note", json!({})).await;
    let first = student
        .recv_until(|message| event_parts(message).is_some())
        .await;
    let ServerMessage::Event(body) = first else {
        panic!("expected an event, got {first:?}")
    };
    assert!(body.ephemeral && body.kind == "drawing");
    let next = student
        .recv_until(|message| event_parts(message).is_some())
        .await;
    assert_eq!(
        event_parts(&next).map(|(seq, kind, _)| (seq, kind)),
        Some((seq, "note")),
        "the cursor did not come on the stream as well"
    );
}

/// A UDP relay on loopback in front of the QUIC listener that drops `share` of the packets
/// each way (a fixed pseudo-random sequence, so a run is repeatable). Stops when dropped.
struct LossyRelay {
    addr: SocketAddr,
    dropped: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl LossyRelay {
    async fn start(server: SocketAddr, share: f64) -> LossyRelay {
        use std::sync::atomic::{AtomicU64, Ordering};
        let front = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("relay socket");
        let back = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("relay upstream socket");
        back.connect(server).await.expect("relay upstream");
        let addr = front.local_addr().expect("relay address");
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&dropped);
        let task = tokio::spawn(async move {
            // xorshift64: enough to spread the losses, the same every run.
            let mut state = 0x9E37_79B9_7F4A_7C15_u64;
            let mut lose = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f64 / (1u64 << 53) as f64 <= share
            };
            let mut client: Option<SocketAddr> = None;
            let (mut up, mut down) = (vec![0u8; 65_536], vec![0u8; 65_536]);
            loop {
                tokio::select! {
                    received = front.recv_from(&mut up) => {
                        let Ok((length, from)) = received else { return };
                        client = Some(from);
                        if lose() {
                            counted.fetch_add(1, Ordering::Relaxed);
                        } else {
                            let _ = back.send(&up[..length]).await;
                        }
                    }
                    received = back.recv(&mut down) => {
                        let Ok(length) = received else { return };
                        if lose() {
                            counted.fetch_add(1, Ordering::Relaxed);
                        } else if let Some(client) = client {
                            let _ = front.send_to(&down[..length], client).await;
                        }
                    }
                }
            }
        });
        LossyRelay {
            addr,
            dropped,
            task,
        }
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn through_a_lossy_path_every_stream_frame_arrives_in_order_and_datagrams_are_best_effort() {
    let test = start_quic_with(|config| {
        config.socket.publish_rate = 100_000;
        config.socket.publish_burst = 100_000;
    })
    .await;
    let relay = LossyRelay::start(test.quic.as_ref().expect("quic").addr, 0.05).await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    let (mut student, _) = QuicClient::connect_at(
        &test,
        Codec::Json,
        &token("acme", Role::Student, "s1"),
        relay.addr,
    )
    .await;
    student.join_with(json!({"room": ROOM})).await;

    let rounds = 200u64;
    for n in 0..rounds {
        teacher.publish(ROOM, "step", json!({"n": n})).await;
        publish_ephemeral(&mut teacher, "cursor", json!({"n": n})).await;
    }

    // Every stored event, in seq order, on the stream.
    let mut seqs = Vec::new();
    while seqs.len() < rounds as usize {
        let message = student
            .recv_until(|message| event_parts(message).is_some())
            .await;
        let (seq, kind, data) = event_parts(&message).expect("an event");
        assert_eq!(kind, "step", "small ephemeral events never take the stream");
        assert_eq!(data["n"], json!(seqs.len()));
        seqs.push(seq);
    }
    assert_eq!(seqs, (1..=rounds).collect::<Vec<_>>());

    // Datagrams: each at most once, marked ephemeral; some may be lost.
    let mut seen = std::collections::BTreeSet::new();
    while let Some(message) = student
        .datagram(std::time::Duration::from_millis(500))
        .await
    {
        let ServerMessage::Event(body) = message else {
            panic!("expected an event, got {message:?}")
        };
        assert!(body.ephemeral && body.kind == "cursor");
        let n = body.data["n"].as_u64().expect("n");
        assert!(n < rounds && seen.insert(n), "cursor {n} arrived once");
    }
    assert!(!seen.is_empty(), "datagrams get through a 5 % lossy path");
    assert!(relay.dropped() > 0, "the relay lost packets on the way");
}

/// A WebTransport client (what a browser does): ALPN h3, the HTTP/3 CONNECT to `path`, then one
/// bidirectional stream of length-prefixed frames, and the session's datagrams.
struct WebTransportClient {
    session: web_transport_quinn::Session,
    send: web_transport_quinn::SendStream,
    recv: web_transport_quinn::RecvStream,
    _endpoint: quinn::Endpoint,
}

impl WebTransportClient {
    async fn open(test: &TestServer, path: &str) -> Result<WebTransportClient, String> {
        let endpoint = endpoint(test, b"h3");
        let addr = test.quic.as_ref().expect("quic").addr;
        let connection = endpoint
            .connect(addr, "localhost")
            .expect("connect")
            .await
            .expect("QUIC handshake");
        let url =
            url::Url::parse(&format!("https://localhost:{}{path}", addr.port())).expect("url");
        let session = tokio::time::timeout(
            PATIENCE,
            web_transport_quinn::Session::connect(connection, url),
        )
        .await
        .expect("the CONNECT is answered in time")
        .map_err(|error| error.to_string())?;
        let (send, recv) = session.open_bi().await.expect("a stream");
        Ok(WebTransportClient {
            session,
            send,
            recv,
            _endpoint: endpoint,
        })
    }

    async fn send(&mut self, message: Value) {
        let body = message.to_string().into_bytes();
        let mut frame = BytesMut::with_capacity(4 + body.len());
        frame.put_u32(u32::try_from(body.len()).expect("a small frame"));
        frame.put_slice(&body);
        self.send.write_all(&frame).await.expect("write");
    }

    async fn recv(&mut self) -> ServerMessage {
        let mut prefix = [0u8; 4];
        tokio::time::timeout(PATIENCE, self.recv.read_exact(&mut prefix))
            .await
            .expect("a frame within PATIENCE")
            .expect("the stream is open");
        let mut frame = vec![0u8; u32::from_be_bytes(prefix) as usize];
        self.recv.read_exact(&mut frame).await.expect("the frame");
        Codec::Json.decode_server(&frame).expect("a server frame")
    }

    async fn recv_until(&mut self, wanted: impl Fn(&ServerMessage) -> bool) -> ServerMessage {
        loop {
            let message = self.recv().await;
            if wanted(&message) {
                return message;
            }
        }
    }
}

#[tokio::test]
async fn a_webtransport_session_on_the_same_port_is_a_member_with_datagrams() {
    let test = start().await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join(ROOM).await;
    let mut browser = WebTransportClient::open(&test, "/native")
        .await
        .expect("the session is accepted");
    browser
        .send(json!({"type": "auth", "token": token("acme", Role::Student, "s1")}))
        .await;
    let ServerMessage::Welcome(welcome) = browser.recv().await else {
        panic!("expected welcome")
    };
    assert_eq!(welcome.user, "s1");
    browser
        .send(json!({"type": "join", "ref": 1, "room": ROOM}))
        .await;
    browser
        .recv_until(|message| matches!(message, ServerMessage::Joined(_)))
        .await;

    let seq = teacher.publish(ROOM, "note", json!({"n": 1})).await;
    let event = browser
        .recv_until(|message| event_parts(message).is_some())
        .await;
    assert_eq!(event_parts(&event).map(|parts| parts.0), Some(seq));

    publish_ephemeral(&mut teacher, "cursor", json!({"x": 5})).await;
    let datagram = tokio::time::timeout(PATIENCE, browser.session.read_datagram())
        .await
        .expect("a datagram in time")
        .expect("the session is open");
    let ServerMessage::Event(body) = Codec::Json.decode_server(&datagram).expect("a frame") else {
        panic!("expected an event")
    };
    assert!(body.ephemeral && body.kind == "cursor");

    // The browser's frames reach the room too.
    browser
        .send(json!({"type": "publish", "ref": 2, "room": ROOM, "kind": "chat", "data": {"text": "hi"}}))
        .await;
    let chat = teacher
        .recv_until(|message| event_parts(message).is_some_and(|(_, kind, _)| kind == "chat"))
        .await;
    assert_eq!(
        event_parts(&chat).map(|parts| parts.2["text"].clone()),
        Some(json!("hi"))
    );
}

#[tokio::test]
async fn a_webtransport_session_elsewhere_than_the_native_path_is_refused() {
    let test = start().await;
    let refused = WebTransportClient::open(&test, "/elsewhere").await;
    let error = refused.err().expect("the CONNECT is refused");
    assert!(error.contains("404"), "{error}");
    let refused = WebTransportClient::open(&test, "/native?codec=xml").await;
    let error = refused.err().expect("the CONNECT is refused");
    assert!(error.contains("400"), "{error}");
}
