//! The native protocol over QUIC for the harness (`--protocol quic`, with `--quic-port`): the
//! hub's `--quic-bind` listener, ALPN `classhub.v1.json`, one bidirectional stream per
//! connection carrying 4-byte big-endian length-prefixed frames, `auth` as the first frame (QUIC
//! has no headers). [`Dialer`] spreads connections over a few client endpoints (one UDP socket
//! and one driver task each, so one socket does not bound the harness); [`QuicConnection`] is
//! one open connection with the same setup exchanges as [`crate::client::Connection`].
//!
//! The server's certificate is not verified (its handshake signature is): the hub's default is
//! a self-signed certificate made at each start, and the harness only ever dials this machine
//! (`crate::target` applies the loopback policy to the host before a port is added).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, bail};
use protocol::{ClientMessage, Codec, Joined, ServerMessage, Welcome};
use quinn::crypto::rustls::QuicClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::client::{SETUP_PATIENCE, expect_welcome, join_answer, join_message};

/// Connections per client endpoint (UDP socket).
const CONNECTIONS_PER_ENDPOINT: u64 = 256;

/// The largest frame the harness reads (the hub's own limit is far lower).
const MAX_FRAME_BYTES: usize = 16 << 20;

/// Client endpoints that connections are spread over, round-robin.
pub struct Dialer {
    endpoints: Vec<quinn::Endpoint>,
    next: AtomicUsize,
}

impl Dialer {
    /// Endpoints enough for `connections` (one per 256), offering `codec`'s ALPN.
    pub fn new(connections: u64, codec: Codec) -> anyhow::Result<Dialer> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut crypto = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .context("TLS 1.3")?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        crypto.alpn_protocols = vec![codec.subprotocol().as_bytes().to_vec()];
        let config = quinn::ClientConfig::new(Arc::new(
            QuicClientConfig::try_from(crypto).context("a QUIC client configuration")?,
        ));
        let count = connections.div_ceil(CONNECTIONS_PER_ENDPOINT).max(1);
        let endpoints = (0..count)
            .map(|_| {
                let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0)))
                    .context("cannot open a UDP socket for QUIC")?;
                endpoint.set_default_client_config(config.clone());
                Ok(endpoint)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Dialer {
            endpoints,
            next: AtomicUsize::new(0),
        })
    }

    /// Connects to `addr`, opens the stream and sends `auth` with `token`; does not wait for
    /// `welcome`.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        codec: Codec,
        token: &str,
    ) -> anyhow::Result<QuicConnection> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len();
        let connecting = self.endpoints[index]
            .connect(addr, "localhost")
            .with_context(|| format!("cannot start a QUIC connection to {addr}"))?;
        let connection = tokio::time::timeout(SETUP_PATIENCE, connecting)
            .await
            .with_context(|| format!("no QUIC handshake with {addr} in time"))?
            .with_context(|| format!("QUIC handshake with {addr} failed"))?;
        let (send, recv) = connection
            .open_bi()
            .await
            .context("cannot open the QUIC stream")?;
        let mut opened = QuicConnection {
            connection,
            send,
            recv,
            codec,
            buffer: Vec::new(),
        };
        opened
            .send(&ClientMessage::Auth {
                reference: None,
                token: token.to_owned(),
            })
            .await?;
        Ok(opened)
    }
}

/// One open QUIC connection of the native protocol.
pub struct QuicConnection {
    /// The connection (for its close).
    pub connection: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    /// The codec the ALPN chose.
    pub codec: Codec,
    /// The last frame read, reused.
    buffer: Vec<u8>,
}

impl QuicConnection {
    /// Sends one message: its length, then its bytes, in one write.
    pub async fn send(&mut self, message: &ClientMessage) -> anyhow::Result<()> {
        let body = self
            .codec
            .encode(message)
            .context("encoding a client message")?;
        let length = u32::try_from(body.len()).context("a frame over 4 GiB")?;
        let mut frame = Vec::with_capacity(4 + body.len());
        frame.extend_from_slice(&length.to_be_bytes());
        frame.extend_from_slice(&body);
        self.send
            .write_all(&frame)
            .await
            .context("sending a QUIC frame")
    }

    /// The next frame's bytes; `None` when the stream or connection ended.
    pub async fn next_frame(&mut self) -> anyhow::Result<Option<&[u8]>> {
        let mut prefix = [0u8; 4];
        if self.recv.read_exact(&mut prefix).await.is_err() {
            return Ok(None);
        }
        let length = u32::from_be_bytes(prefix) as usize;
        if length > MAX_FRAME_BYTES {
            bail!("the server announced a {length}-byte frame");
        }
        self.buffer.resize(length, 0);
        if self.recv.read_exact(&mut self.buffer).await.is_err() {
            return Ok(None);
        }
        Ok(Some(&self.buffer))
    }

    /// The next message, fully decoded; an error when the connection ends or nothing arrives
    /// within [`SETUP_PATIENCE`]. For setup, not hot paths.
    pub async fn recv(&mut self) -> anyhow::Result<ServerMessage> {
        let codec = self.codec;
        let frame = tokio::time::timeout(SETUP_PATIENCE, self.next_frame())
            .await
            .context("no frame from the server in time")??;
        match frame {
            Some(bytes) => codec
                .decode_server(bytes)
                .context("undecodable frame from the server"),
            None => bail!(
                "the server closed the QUIC connection ({:?})",
                self.closed_with()
            ),
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

    /// The application close code the connection ended with, if it ended so.
    pub fn closed_with(&self) -> Option<u64> {
        match self.connection.close_reason() {
            Some(quinn::ConnectionError::ApplicationClosed(close)) => {
                Some(close.error_code.into_inner())
            }
            _ => None,
        }
    }

    /// Closes the connection normally (code 0).
    pub fn close(self) {
        self.connection.close(0u32.into(), b"done");
    }
}

/// Accepts the server's certificate as it is, checking only the handshake's signatures.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
