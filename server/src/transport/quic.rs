//! The native protocol over QUIC, on `--quic-bind` (UDP). A client connects with ALPN
//! `classhub.v1.json` or `classhub.v1.msgpack` (the codec; any other is refused in the TLS
//! handshake), opens one bidirectional stream and sends `auth` as its first frame; from then on
//! the stream carries the same frames as `/ws`, each behind a 4-byte big-endian length
//! (`super::quic_frames`), and the connection is served by the same code as a WebSocket
//! (`super::native::serve`): one `Session` in the same hub, the same limits, budgets, authority
//! and slow-consumer rules.
//!
//! Browsers come to the same port with ALPN `h3`: [`serve_webtransport`] completes the HTTP/3
//! handshake and the WebTransport CONNECT to [`WEBTRANSPORT_PATH`] (`web_transport_quinn`, on
//! this endpoint's connection), then serves the session's one bidirectional stream exactly as
//! a native one; its datagrams carry ephemeral events.
//!
//! A connection closes with a QUIC application code equal to the WebSocket close code (4001 …
//! 4200; 0 is a normal closure). A peer silent past two heartbeats is dropped by QUIC's idle
//! timeout (the server sends keep-alives every heartbeat). Each connection holds a place under
//! `--max-connections` (over it: refused at once) and, once authenticated, its tenant's; a
//! native client uses one stream (the limits are HTTP/3's, for WebTransport). Ephemeral events
//! go to it as datagrams (`super::quic_frames::QuicDatagrams`); datagrams it sends are not read
//! (at most 1 200 bytes each, a small buffer whose oldest are dropped). On shutdown the
//! listener stops accepting and every connection closes with 4200.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use protocol::{CloseCode, Codec};
use quinn::crypto::rustls::{HandshakeData, QuicServerConfig};
use quinn::{Endpoint, IdleTimeout, Incoming, TransportConfig, VarInt};

use super::quic_frames::{Peer, QuicSink, QuicSource, StreamRecv, StreamSend, application_close};
use super::socket::hard_cap;
use super::tls::{TlsError, TlsIdentity};
use crate::app::AppState;
use crate::config::Config;

/// The receive buffer for client datagrams, which the server never reads: it also caps the
/// size a client may send (a larger one is a protocol violation that closes the connection).
const INBOUND_DATAGRAM_BYTES: usize = 1200;

/// Unidirectional streams a WebTransport client may open: HTTP/3's control stream and QPACK's
/// encoder and decoder streams.
const WEBTRANSPORT_UNI_STREAMS: u32 = 3;

/// How long a refused WebTransport session is kept for its client to read the refusal.
const REFUSAL_WAIT: Duration = Duration::from_secs(2);

/// How long shutdown waits for closing connections to tell their peers.
const IDLE_WAIT: Duration = Duration::from_secs(5);

/// Why the QUIC listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    /// The certificate could not be read, made or used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// rustls's configuration is unfit for QUIC (it has no TLS 1.3 initial cipher suite).
    #[error("the TLS configuration cannot serve QUIC: {0}")]
    Crypto(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
    /// The UDP address could not be bound.
    #[error(
        "cannot listen for QUIC on udp {addr}: {cause}; choose another --quic-bind address or stop what holds it"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        cause: std::io::Error,
    },
}

/// HTTP/3's ALPN, which WebTransport sessions arrive with.
pub const H3_ALPN: &[u8] = b"h3";

/// The path of a WebTransport session of the native protocol.
pub const WEBTRANSPORT_PATH: &str = "/native";

/// The ALPN names offered: one per codec for native clients, and HTTP/3 for WebTransport.
pub fn alpn_protocols() -> [&'static [u8]; 3] {
    let [json, msgpack] = Codec::ALL.map(|codec| codec.subprotocol().as_bytes());
    [json, msgpack, H3_ALPN]
}

/// The codec a WebTransport session asks for: path [`WEBTRANSPORT_PATH`], `?codec=json` (the
/// default) or `?codec=msgpack`; otherwise why not, for a 404 or 400.
pub fn webtransport_codec(url: &url::Url) -> Result<Codec, (u16, String)> {
    if url.path() != WEBTRANSPORT_PATH {
        return Err((
            404,
            format!(
                "no WebTransport endpoint at {}: use {WEBTRANSPORT_PATH}",
                url.path()
            ),
        ));
    }
    match url.query_pairs().find(|(name, _)| name == "codec") {
        None => Ok(Codec::Json),
        Some((_, value)) => match value.as_ref() {
            "json" => Ok(Codec::Json),
            "msgpack" => Ok(Codec::MsgPack),
            other => Err((
                400,
                format!("unknown codec {other:?}: use codec=json or codec=msgpack"),
            )),
        },
    }
}

/// Binds the QUIC endpoint on `addr` with `tls`, its transport set from the configuration.
pub fn bind(config: &Config, addr: SocketAddr, tls: &TlsIdentity) -> Result<Endpoint, QuicError> {
    let crypto = tls.server_config(&alpn_protocols())?;
    let mut server =
        quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(crypto)?));
    server.transport_config(Arc::new(transport(config)));
    Endpoint::server(server, addr).map_err(|cause| QuicError::Bind { addr, cause })
}

/// Stream limits are what a WebTransport client needs (HTTP/3's three unidirectional streams,
/// the CONNECT and the session's stream), set from the first packet: browsers refuse a limit
/// raised later (Chromium fails the session with `QUIC_ZERO_RTT_RESUMPTION_LIMIT_REDUCED`). A
/// native client uses one bidirectional stream; anything else it opens is never read and stays
/// within the connection's receive window, sized on the frame limit. The send window bounds
/// what one slow reader keeps buffered beside its queue.
fn transport(config: &Config) -> TransportConfig {
    let heartbeat = config.socket.heartbeat;
    let window = u32::try_from(hard_cap(config.hub.limits.max_frame_bytes)).unwrap_or(u32::MAX);
    let mut transport = TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(2))
        .max_concurrent_uni_streams(VarInt::from_u32(WEBTRANSPORT_UNI_STREAMS))
        .stream_receive_window(VarInt::from_u32(window))
        .receive_window(VarInt::from_u32(window))
        .send_window(1 << 20)
        // quinn turns datagrams off altogether without a receive buffer; clients send none
        // (publishes go on the stream), so the smallest buffer, never read, is enough.
        .datagram_receive_buffer_size(Some(INBOUND_DATAGRAM_BYTES))
        .datagram_send_buffer_size(config.quic.datagram_buffer)
        .keep_alive_interval(Some(heartbeat))
        .max_idle_timeout(IdleTimeout::try_from(heartbeat * 2).ok());
    transport
}

/// Accepts connections until shutdown, each served in its own tracked task; then refuses new
/// ones and waits (bounded) for the closing ones to reach their peers.
pub async fn accept_loop(app: AppState, endpoint: Endpoint) {
    loop {
        let incoming = tokio::select! {
            _ = app.shutdown().cancelled() => break,
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
        };
        let Some(slot) = app.reserve_socket() else {
            metrics::counter!("classhub_limit_refusals_total", "limit" => "connections")
                .increment(1);
            incoming.refuse();
            continue;
        };
        let connection_app = app.clone();
        app.tracker().spawn(async move {
            accept(connection_app, incoming).await;
            drop(slot);
        });
    }
    endpoint.set_server_config(None);
    if tokio::time::timeout(IDLE_WAIT, endpoint.wait_idle())
        .await
        .is_err()
    {
        tracing::debug!("quic connections still closing at shutdown");
    }
}

/// Completes the handshake, waits for the client's stream, and serves it.
async fn accept(app: AppState, incoming: Incoming) {
    let client: IpAddr = incoming.remote_address().ip();
    let connecting = match incoming.accept() {
        Ok(connecting) => connecting,
        Err(cause) => {
            tracing::debug!(%cause, %client, "quic connection failed before its handshake");
            return;
        }
    };
    let auth_timeout = app.config().socket.auth_timeout;
    let connection = tokio::select! {
        connected = connecting => match connected {
            Ok(connection) => connection,
            Err(cause) => {
                tracing::debug!(%cause, %client, "quic handshake failed");
                return;
            }
        },
        _ = tokio::time::sleep(auth_timeout) => return,
        _ = app.shutdown().cancelled() => return,
    };
    let alpn = connection
        .handshake_data()
        .and_then(|data| data.downcast::<HandshakeData>().ok())
        .and_then(|data| data.protocol);
    if alpn.as_deref() == Some(H3_ALPN) {
        return serve_webtransport(app, connection, client).await;
    }
    let codec = alpn.and_then(|name| {
        std::str::from_utf8(&name)
            .ok()
            .and_then(Codec::from_subprotocol)
    });
    let Some(codec) = codec else {
        // rustls refuses an offer without a known name; a client that offered none ends here.
        let (number, _) = application_close(Some(CloseCode::AuthFailed));
        connection.close(
            number,
            b"no ALPN: offer classhub.v1.json or classhub.v1.msgpack",
        );
        return;
    };
    let peer = Peer::Quic(connection.clone());
    let (send, recv) = tokio::select! {
        stream = connection.accept_bi() => match stream {
            Ok(stream) => stream,
            Err(cause) => {
                tracing::debug!(%cause, %client, "quic connection ended before its stream");
                return;
            }
        },
        _ = tokio::time::sleep(auth_timeout) => return peer.close(Some(CloseCode::AuthTimeout)),
        _ = app.shutdown().cancelled() => return peer.close(Some(CloseCode::Reconnect)),
    };
    serve_stream(
        app,
        StreamSend::Quic(send),
        StreamRecv::Quic(recv),
        peer,
        codec,
        client,
    )
    .await;
}

/// A WebTransport session (a browser): the HTTP/3 handshake and the CONNECT to
/// [`WEBTRANSPORT_PATH`] (`web_transport_quinn`), then the client's one bidirectional stream,
/// served as a native QUIC stream is; ephemeral events go as the session's datagrams.
async fn serve_webtransport(app: AppState, connection: quinn::Connection, client: IpAddr) {
    let auth_timeout = app.config().socket.auth_timeout;
    // Until the session exists, the connection is closed as a native one is.
    let connecting = Peer::Quic(connection.clone());
    let request = tokio::select! {
        request = web_transport_quinn::Request::accept(connection.clone()) => match request {
            Ok(request) => request,
            Err(cause) => {
                tracing::debug!(%cause, %client, "webtransport handshake failed");
                return connecting.close(Some(CloseCode::AuthFailed));
            }
        },
        _ = tokio::time::sleep(auth_timeout) => return connecting.close(Some(CloseCode::AuthTimeout)),
        _ = app.shutdown().cancelled() => return connecting.close(Some(CloseCode::Reconnect)),
    };
    let codec = match webtransport_codec(&request.url) {
        Ok(codec) => codec,
        Err((status, problem)) => {
            tracing::debug!(%client, %problem, "webtransport session refused");
            let status = web_transport_quinn::http::StatusCode::from_u16(status)
                .unwrap_or(web_transport_quinn::http::StatusCode::NOT_FOUND);
            if let Err(cause) = request.reject(status).await {
                tracing::debug!(%cause, "webtransport refusal not sent");
            }
            // Dropping the connection would close it before the answer arrives: let the client
            // read it and go (bounded).
            let _closed_or_timed_out =
                tokio::time::timeout(REFUSAL_WAIT, connection.closed()).await;
            return;
        }
    };
    let session = match request.ok().await {
        Ok(session) => session,
        Err(cause) => {
            tracing::debug!(%cause, %client, "webtransport session not accepted");
            return;
        }
    };
    let peer = Peer::WebTransport(Box::new(session.clone()));
    let (send, recv) = tokio::select! {
        stream = session.accept_bi() => match stream {
            Ok(stream) => stream,
            Err(cause) => {
                tracing::debug!(%cause, %client, "webtransport session ended before its stream");
                return;
            }
        },
        _ = tokio::time::sleep(auth_timeout) => return peer.close(Some(CloseCode::AuthTimeout)),
        _ = app.shutdown().cancelled() => return peer.close(Some(CloseCode::Reconnect)),
    };
    let (send, recv) = (
        StreamSend::WebTransport(send),
        StreamRecv::WebTransport(recv),
    );
    serve_stream(app, send, recv, peer, codec, client).await;
}

/// Serves the client's stream with the native reader and writer (`super::native::serve`).
async fn serve_stream(
    app: AppState,
    send: StreamSend,
    recv: StreamRecv,
    peer: Peer,
    codec: Codec,
    client: IpAddr,
) {
    let limit = app.config().hub.limits.max_frame_bytes;
    let source = QuicSource::new(recv, codec, limit);
    let sink = QuicSink::new(send, peer);
    super::native::serve(app, sink, source, codec, None, client).await;
}
