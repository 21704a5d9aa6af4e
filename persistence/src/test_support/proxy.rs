//! [`Proxy`]: a TCP relay on loopback in front of a database that a test cuts (every open
//! connection dropped, new ones refused) and restores, to stage an outage of the database host;
//! [`with_address`] points a database URL at it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// `url` pointed at `addr` instead of its host and port.
pub fn with_address(url: &str, addr: SocketAddr) -> String {
    let (scheme_user, rest) = url.split_once('@').expect("postgres url with user@host");
    let (_, path) = rest.split_once('/').expect("database url has a /db part");
    format!("{scheme_user}@{addr}/{path}")
}

/// A TCP proxy in front of a database that a test can cut and restore.
#[derive(Debug)]
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    /// Cancelled to kill every connection open now; replaced on restore.
    cut: Arc<std::sync::Mutex<CancellationToken>>,
}

impl Proxy {
    /// A proxy on a free loopback port relaying to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        let (accept_up, accept_cut) = (Arc::clone(&up), Arc::clone(&cut));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    drop(client); // refused while cut
                    continue;
                }
                let killed = accept_cut.lock().expect("proxy lock").clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = killed.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        Proxy { addr, up, cut }
    }

    /// Kills every connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut token = self.cut.lock().expect("proxy lock");
        token.cancel();
        *token = CancellationToken::new();
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
