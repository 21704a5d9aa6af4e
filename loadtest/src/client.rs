//! The harness's side of the wire, and the only module that speaks it: opening a native
//! protocol v1 connection (TCP from a chosen source address, WebSocket handshake with the
//! codec's subprotocol and a bearer token), the setup exchanges (`welcome`, `join`), encoding
//! client messages with `protocol::Codec`, and a cheap [`Probe`] decode for the hot receive
//! paths, which reads only what the scenarios count (type, `ref`, `data.t`, error code).
//! Entry points: [`connect`], [`Connection`], [`WireProtocol`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMessage, Codec, Joined, Ref, ServerMessage, Welcome};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::{Message, WebSocketConfig};

use crate::target::Target;

/// The longest any single setup step (connect, handshake, `welcome`, `joined`) may take.
pub const SETUP_PATIENCE: Duration = Duration::from_secs(15);

/// Per-connection read buffer: frames here are small, and 20 000 idle sockets at the
/// tungstenite default of 128 KiB each would measure the harness instead of the hub.
pub(crate) const READ_BUFFER_BYTES: usize = 8 * 1024;

/// A WebSocket over plain TCP (TLS is not compiled in).
pub type WsStream = WebSocketStream<TcpStream>;

/// The wire protocol a scenario speaks (`--protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum WireProtocol {
    /// Native protocol v1, JSON text frames (`classhub.v1.json`).
    Json,
    /// Native protocol v1, MessagePack binary frames (`classhub.v1.msgpack`).
    Msgpack,
    /// The Pusher Channels protocol 7 (`fanout` and `connections`; see [`crate::pusher`]).
    Pusher,
    /// Native protocol v1, JSON, over QUIC (`fanout` members and `connections`, with
    /// `--quic-port`; see [`crate::quic`]).
    Quic,
}

impl WireProtocol {
    /// The native codec, or why a scenario that speaks only the native protocol over
    /// WebSocket cannot run with this one (`fanout` and `connections` handle
    /// [`WireProtocol::Pusher`] and [`WireProtocol::Quic`] before asking).
    pub fn codec(self) -> anyhow::Result<Codec> {
        match self {
            WireProtocol::Json => Ok(Codec::Json),
            WireProtocol::Msgpack => Ok(Codec::MsgPack),
            WireProtocol::Pusher | WireProtocol::Quic => bail!(
                "--protocol {} is not supported by this scenario yet: only fanout and \
                 connections speak it; use --protocol json or --protocol msgpack here",
                self.as_str()
            ),
        }
    }

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            WireProtocol::Json => "json",
            WireProtocol::Msgpack => "msgpack",
            WireProtocol::Pusher => "pusher",
            WireProtocol::Quic => "quic",
        }
    }
}

/// An open, authenticated-by-header native connection.
pub struct Connection {
    /// The socket.
    pub ws: WsStream,
    /// The codec the hub agreed to.
    pub codec: Codec,
}

/// Opens a native connection to `target` from `source` (any address when `None`), offering
/// `codec`'s subprotocol and `token` as a bearer token. Does not wait for `welcome`.
pub async fn connect(
    target: &Target,
    codec: Codec,
    token: &str,
    source: Option<IpAddr>,
) -> anyhow::Result<Connection> {
    let stream = tokio::time::timeout(SETUP_PATIENCE, open_tcp(target.addr(), source))
        .await
        .with_context(|| format!("no TCP connection to {} in time", target.addr()))??;
    connect_over(target, codec, token, stream).await
}

/// Upgrades an open TCP `stream` to `target`'s native endpoint, as [`connect`] does (for a
/// socket opened with options of its own, see [`open_tcp_with_receive_buffer`]).
pub async fn connect_over(
    target: &Target,
    codec: Codec,
    token: &str,
    stream: TcpStream,
) -> anyhow::Result<Connection> {
    let mut request = target
        .ws_url()
        .into_client_request()
        .context("building the upgrade request")?;
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(codec.subprotocol()),
    );
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).context("token is not a header value")?,
    );
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    let (ws, response) = tokio::time::timeout(
        SETUP_PATIENCE,
        tokio_tungstenite::client_async_with_config(request, stream, Some(config)),
    )
    .await
    .context("no WebSocket handshake in time")?
    .map_err(describe_handshake_error)?;
    let agreed = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|value| value.to_str().ok())
        .and_then(Codec::from_subprotocol);
    if agreed != Some(codec) {
        bail!(
            "the server did not agree to subprotocol {} (answered {agreed:?})",
            codec.subprotocol()
        );
    }
    Ok(Connection { ws, codec })
}

pub(crate) async fn open_tcp(
    addr: SocketAddr,
    source: Option<IpAddr>,
) -> anyhow::Result<TcpStream> {
    open_tcp_with_receive_buffer(addr, source, None).await
}

/// Opens a TCP connection to `addr` from `source`; with `receive_buffer`, the socket's kernel
/// receive buffer (`SO_RCVBUF`) is set to that many bytes first, so that a client that does
/// not read pushes back on the server after little data (the kernel may round it up).
pub(crate) async fn open_tcp_with_receive_buffer(
    addr: SocketAddr,
    source: Option<IpAddr>,
    receive_buffer: Option<u32>,
) -> anyhow::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .context("cannot create a socket (is the file-descriptor limit reached?)")?;
    if let Some(bytes) = receive_buffer {
        socket
            .set_recv_buffer_size(bytes)
            .context("setting SO_RCVBUF")?;
    }
    if let Some(ip) = source {
        socket
            .bind(SocketAddr::new(ip, 0))
            .with_context(|| format!("cannot bind source address {ip}"))?;
    }
    let stream = socket
        .connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true).context("TCP_NODELAY")?;
    Ok(stream)
}

/// Turns an HTTP refusal of the upgrade into its status and JSON body.
pub(crate) fn describe_handshake_error(
    error: tokio_tungstenite::tungstenite::Error,
) -> anyhow::Error {
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                .unwrap_or_default();
            anyhow::anyhow!("upgrade refused with HTTP {}: {body}", response.status())
        }
        other => anyhow::Error::new(other).context("WebSocket handshake failed"),
    }
}

impl Connection {
    /// Sends one message in this connection's codec.
    pub async fn send(&mut self, message: &ClientMessage) -> anyhow::Result<()> {
        let frame = encode(self.codec, message)?;
        self.ws.send(frame).await.context("sending a frame")
    }

    /// The next protocol message, fully decoded (pings and pongs skipped); an error if the
    /// socket closes or nothing arrives within [`SETUP_PATIENCE`]. For setup, not hot paths.
    pub async fn recv(&mut self) -> anyhow::Result<ServerMessage> {
        loop {
            let next = tokio::time::timeout(SETUP_PATIENCE, self.ws.next())
                .await
                .context("no frame from the server in time")?;
            let frame = match next {
                None => bail!("the server closed the socket"),
                Some(Err(cause)) => return Err(anyhow::Error::new(cause).context("socket failed")),
                Some(Ok(frame)) => frame,
            };
            if let Message::Close(close) = &frame {
                bail!("the server closed the socket ({close:?})");
            }
            let Some(bytes) = payload(&frame) else {
                continue;
            };
            return self
                .codec
                .decode_server(bytes)
                .context("undecodable frame from the server");
        }
    }

    /// Waits for `welcome`.
    pub async fn welcome(&mut self) -> anyhow::Result<Welcome> {
        expect_welcome(self.recv().await?)
    }

    /// Joins `room` with `reference` and waits for its `joined` (other frames are skipped).
    pub async fn join(&mut self, room: &str, reference: u64) -> anyhow::Result<Joined> {
        self.send(&join_message(room, reference)).await?;
        loop {
            if let Some(answer) = join_answer(self.recv().await?, room, reference) {
                return answer;
            }
        }
    }

    /// Sends a close frame and waits (briefly) for the server's, ending the connection politely.
    pub async fn close(self) {
        close_ws(self.ws).await;
    }
}

/// The first message of a connection, which must be `welcome`.
pub(crate) fn expect_welcome(message: ServerMessage) -> anyhow::Result<Welcome> {
    match message {
        ServerMessage::Welcome(welcome) => Ok(welcome),
        ServerMessage::Error(error) => bail!("refused before welcome: {}", error.message),
        other => bail!("expected welcome, got {}", other.type_name()),
    }
}

/// A `join` of `room` (no `since`, no presence) carrying `reference`.
pub(crate) fn join_message(room: &str, reference: u64) -> ClientMessage {
    ClientMessage::Join {
        reference: Some(Ref::Int(reference)),
        room: room.to_owned(),
        since: None,
        presence: None,
    }
}

/// What `message` says about the `join` of `room` with `reference`: its `joined`, its refusal,
/// or `None` for any other frame (read the next).
pub(crate) fn join_answer(
    message: ServerMessage,
    room: &str,
    reference: u64,
) -> Option<anyhow::Result<Joined>> {
    let wanted = Ref::Int(reference);
    match message {
        ServerMessage::Joined(joined) if joined.reference.as_ref() == Some(&wanted) => {
            Some(Ok(joined))
        }
        ServerMessage::Error(error) if error.reference.as_ref() == Some(&wanted) => Some(Err(
            anyhow::anyhow!("join {room} refused ({}): {}", error.code, error.message),
        )),
        _ => None,
    }
}

/// Sends a close frame on `ws` and waits (briefly) for the server's.
pub async fn close_ws(mut ws: WsStream) {
    let polite = async {
        if ws.close(None).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    };
    // A hub that does not answer in time is not this run's business any more.
    let _ended_or_timed_out = tokio::time::timeout(Duration::from_secs(2), polite).await;
}

/// Encodes a client message as the frame kind its codec travels in.
pub fn encode(codec: Codec, message: &ClientMessage) -> anyhow::Result<Message> {
    let bytes = codec.encode(message).context("encoding a client message")?;
    if codec.is_binary() {
        Ok(Message::binary(bytes))
    } else {
        let text = String::from_utf8(bytes).context("JSON encoder wrote non-UTF-8")?;
        Ok(Message::text(text))
    }
}

/// The bytes of a text or binary frame; `None` for control frames.
pub fn payload(frame: &Message) -> Option<&[u8]> {
    match frame {
        Message::Text(text) => Some(text.as_bytes()),
        Message::Binary(bytes) => Some(bytes),
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => None,
    }
}

/// The close code of a close frame (`None` for a close without code or another frame).
pub fn close_code(frame: &Message) -> Option<u16> {
    match frame {
        Message::Close(Some(close)) => Some(u16::from(close.code)),
        _ => None,
    }
}

/// The type of a server frame, as far as the scenarios care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    /// `welcome`.
    Welcome,
    /// `joined`.
    Joined,
    /// `event`.
    Event,
    /// `command`.
    Command,
    /// `notification`.
    Notification,
    /// `presence_diff`.
    PresenceDiff,
    /// `reply`.
    Reply,
    /// `error`.
    Error,
    /// `pong`.
    Pong,
    /// Anything else (a newer server).
    #[serde(other)]
    Other,
}

/// The few fields of a server frame that the hot paths read; everything else is skipped
/// without being built.
#[derive(Debug, Clone, Deserialize)]
pub struct Probe {
    /// The frame's `type`.
    #[serde(rename = "type")]
    pub kind: FrameKind,
    /// The `ref` of a `reply` or `error`.
    #[serde(rename = "ref", default)]
    pub reference: Option<Ref>,
    /// An event's payload, of which only `t` is read.
    #[serde(default)]
    pub data: Option<ProbeData>,
    /// An error's code.
    #[serde(default)]
    pub code: Option<u16>,
    /// An error's sentence.
    #[serde(default)]
    pub message: Option<String>,
    /// A retryable error's advice.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
}

/// The part of an event's `data` the harness wrote: its send time.
#[derive(Debug, Clone, Deserialize)]
pub struct ProbeData {
    /// Send time, microseconds since the Unix epoch.
    #[serde(default)]
    pub t: Option<u64>,
}

/// Decodes the [`Probe`] fields of a server frame.
pub fn probe(codec: Codec, bytes: &[u8]) -> anyhow::Result<Probe> {
    match codec {
        Codec::Json => serde_json::from_slice(bytes).context("undecodable JSON frame"),
        Codec::MsgPack => rmp_serde::from_slice(bytes).context("undecodable MessagePack frame"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::EventBody;
    use serde_json::json;

    #[test]
    fn probe_reads_the_send_time_in_both_codecs() {
        let event = ServerMessage::Event(EventBody {
            room: "class:t:r".into(),
            seq: 3,
            ts: 1,
            from: "u".into(),
            kind: "loadtest".into(),
            data: json!({"t": 1_764_160_000_000_123_u64, "pad": "xx"}).into(),
            id: None,
            ephemeral: false,
        });
        for codec in Codec::ALL {
            let bytes = codec.encode(&event).expect("encode");
            let probed = probe(codec, &bytes).expect("probe");
            assert_eq!(probed.kind, FrameKind::Event);
            assert_eq!(
                probed.data.and_then(|data| data.t),
                Some(1_764_160_000_000_123)
            );
        }
    }

    #[test]
    fn probe_reads_errors_and_unknown_types() {
        let error =
            br#"{"type":"error","ref":7,"code":5001,"message":"full","retry_after_ms":250}"#;
        let probed = probe(Codec::Json, error).expect("probe");
        assert_eq!(
            (
                probed.kind,
                probed.reference,
                probed.code,
                probed.retry_after_ms
            ),
            (FrameKind::Error, Some(Ref::Int(7)), Some(5001), Some(250))
        );
        let newer = probe(Codec::Json, br#"{"type":"something_new"}"#).expect("probe");
        assert_eq!(newer.kind, FrameKind::Other);
    }

    #[test]
    fn pusher_has_no_native_codec() {
        let refusal = WireProtocol::Pusher.codec().expect_err("pusher");
        assert!(
            refusal.to_string().contains("only fanout and connections"),
            "{refusal}"
        );
    }
}
