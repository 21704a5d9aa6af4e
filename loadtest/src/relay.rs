//! `classhub-loadtest relay`: an impaired path on loopback for the lossy-network figures. Both
//! ends are 127.0.0.1 ports (nothing else can be named), and it stops by itself after
//! `--duration`.
//!
//! - UDP ([`run_udp`]): forwards datagrams between one client address and the server, dropping
//!   a share of them each way (what school Wi-Fi does to QUIC).
//! - TCP ([`run_tcp`]): forwards each accepted connection's bytes, and with the same share per
//!   chunk read holds that direction for `stall` before forwarding it: the kernel never loses a
//!   byte on loopback, so this stands in for a lost segment's retransmission, and everything
//!   behind it waits, as it would behind a lost TCP segment (head-of-line blocking).
//!
//! Losses come from a fixed pseudo-random sequence (xorshift), so runs are repeatable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// What a relay did.
#[derive(Debug, Default)]
pub struct RelayCounts {
    /// Datagrams or chunks forwarded.
    pub forwarded: AtomicU64,
    /// Datagrams dropped (UDP) or chunks held back (TCP).
    pub impaired: AtomicU64,
}

/// A repeatable sequence of coin flips that come up true with probability `share`.
struct Losses {
    state: u64,
    share: f64,
}

impl Losses {
    fn new(seed: u64, share: f64) -> Losses {
        Losses {
            state: seed | 1,
            share,
        }
    }

    fn next(&mut self) -> bool {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        ((self.state >> 11) as f64 / (1u64 << 53) as f64) < self.share
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn check_share(share: f64) -> anyhow::Result<()> {
    ensure!(
        (0.0..1.0).contains(&share),
        "--loss must be at least 0 and below 1 (a share: 0.02 is 2 %)"
    );
    Ok(())
}

/// Relays UDP from 127.0.0.1:`listen` to 127.0.0.1:`to` for `duration`, dropping `share` of the
/// datagrams each way. Each client address gets an upstream socket of its own (as a NAT does),
/// so many client endpoints can share the relay.
pub async fn run_udp(
    listen: u16,
    to: u16,
    share: f64,
    duration: Duration,
) -> anyhow::Result<Arc<RelayCounts>> {
    check_share(share)?;
    let front = Arc::new(
        UdpSocket::bind(loopback(listen))
            .await
            .with_context(|| format!("cannot bind udp 127.0.0.1:{listen}"))?,
    );
    let counts = Arc::new(RelayCounts::default());
    let counted = Arc::clone(&counts);
    let relay = async move {
        let mut losses = Losses::new(0x9E37_79B9_7F4A_7C15, share);
        let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut downstream = tokio::task::JoinSet::new();
        let mut up = vec![0u8; 65_536];
        loop {
            let (length, client) = front.recv_from(&mut up).await?;
            let upstream = match upstreams.get(&client) {
                Some(upstream) => Arc::clone(upstream),
                None => {
                    let upstream = Arc::new(UdpSocket::bind(loopback(0)).await?);
                    upstream.connect(loopback(to)).await?;
                    upstreams.insert(client, Arc::clone(&upstream));
                    let seed = 0xD1B5_4A32_D192_ED03 ^ u64::from(client.port());
                    downstream.spawn(relay_down(
                        Arc::clone(&upstream),
                        Arc::clone(&front),
                        client,
                        Losses::new(seed, share),
                        Arc::clone(&counted),
                    ));
                    upstream
                }
            };
            if losses.next() {
                counted.impaired.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            counted.forwarded.fetch_add(1, Ordering::Relaxed);
            // A send refused by a full socket buffer is one more loss, as on a real path.
            let _ = upstream.send(&up[..length]).await;
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    };
    match tokio::time::timeout(duration, relay).await {
        Ok(result) => result.context("the UDP relay failed")?,
        Err(_elapsed) => {}
    }
    Ok(counts)
}

/// The server's datagrams for one client, through its upstream socket.
async fn relay_down(
    upstream: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    mut losses: Losses,
    counts: Arc<RelayCounts>,
) {
    let mut down = vec![0u8; 65_536];
    while let Ok(length) = upstream.recv(&mut down).await {
        if losses.next() {
            counts.impaired.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        counts.forwarded.fetch_add(1, Ordering::Relaxed);
        let _ = front.send_to(&down[..length], client).await;
    }
}

/// Relays TCP from 127.0.0.1:`listen` to 127.0.0.1:`to` for `duration`, holding a direction
/// back for `stall` at `share` of the chunks.
pub async fn run_tcp(
    listen: u16,
    to: u16,
    share: f64,
    stall: Duration,
    duration: Duration,
) -> anyhow::Result<Arc<RelayCounts>> {
    check_share(share)?;
    let listener = TcpListener::bind(loopback(listen))
        .await
        .with_context(|| format!("cannot bind tcp 127.0.0.1:{listen}"))?;
    let counts = Arc::new(RelayCounts::default());
    let counted = Arc::clone(&counts);
    let accept = async move {
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        loop {
            let (client, _) = listener.accept().await?;
            let server = TcpStream::connect(loopback(to)).await?;
            client.set_nodelay(true)?;
            server.set_nodelay(true)?;
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            for (read, write) in [
                (
                    Box::new(client_read) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                    Box::new(server_write) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
                ),
                (Box::new(server_read), Box::new(client_write)),
            ] {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                tokio::spawn(pipe(
                    read,
                    write,
                    Losses::new(seed, share),
                    stall,
                    Arc::clone(&counted),
                ));
            }
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    };
    match tokio::time::timeout(duration, accept).await {
        Ok(result) => result.context("the TCP relay failed")?,
        Err(_elapsed) => {}
    }
    Ok(counts)
}

/// One direction of a relayed TCP connection.
async fn pipe(
    mut read: Box<dyn tokio::io::AsyncRead + Unpin + Send>,
    mut write: Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
    mut losses: Losses,
    stall: Duration,
    counts: Arc<RelayCounts>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let length = match read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(length) => length,
        };
        if losses.next() {
            counts.impaired.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(stall).await;
        }
        counts.forwarded.fetch_add(1, Ordering::Relaxed);
        if write.write_all(&buffer[..length]).await.is_err() {
            break;
        }
    }
    let _ = write.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_come_up_at_about_their_share_and_repeat() {
        let mut losses = Losses::new(7, 0.05);
        let lost = (0..100_000).filter(|_| losses.next()).count();
        assert!((4_000..6_000).contains(&lost), "{lost}");
        let mut again = Losses::new(7, 0.05);
        let mut first = Losses::new(7, 0.05);
        assert!((0..1000).all(|_| again.next() == first.next()));
        assert!(check_share(1.0).is_err() && check_share(-0.1).is_err());
    }
}
