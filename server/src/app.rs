//! Start-up and shutdown of one server: binds the listener, builds the shared [`AppState`],
//! serves the router, and on shutdown stops accepting, lets every socket close with the
//! `reconnect` code, and waits for their tasks up to the configured deadline.
//!
//! Shutdown follows tokio's three steps: detect (the caller cancels, e.g. on SIGTERM), tell
//! (one `CancellationToken`; every connection's closer is a child of it), wait (a `TaskTracker`
//! with a deadline). Then the event sink writes its last batch and the pool closes. No sleeps, no
//! `abort()`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::serve::ListenerExt;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use persistence::{EventSink, Store};

use crate::auth::directory::{AuthFailure, Directory};
use crate::auth::{self, Identity, Verifier};
use crate::config::Config;
use crate::hub::{Hub, Recheck, RosterSnapshot, Session};
use crate::roblox::Roblox;
use crate::transport::pusher::PusherUsers;
use crate::transport::pusher_apps::PusherApps;
use crate::transport::slots::{Slot, Slots};

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: Config,
    hub: Hub,
    verifier: Verifier,
    /// Cancelled once to shut the server down.
    shutdown: CancellationToken,
    /// Every socket task; shutdown waits on it.
    tracker: TaskTracker,
    /// Sockets upgraded and not yet finished (authenticated or not), for `max_connections`.
    open_sockets: AtomicUsize,
    /// Sockets per tenant, for `max_connections_per_tenant`.
    tenant_sockets: Slots<String>,
    /// Pusher sockets per client IP, for `max_pusher_connections_per_ip`.
    pusher_ips: Slots<std::net::IpAddr>,
    started: Instant,
    /// The address the listener is bound to (the port chosen when `bind` asked for port 0).
    local_addr: SocketAddr,
    prometheus: PrometheusHandle,
    /// Every tenant's Pusher credentials.
    apps: PusherApps,
    /// Random per process: the first half of Pusher socket ids (`{node}.{conn}`).
    node_id: u32,
    /// Signed-in Pusher sockets, for `terminate_connections`.
    pusher_users: PusherUsers,
    /// Users and tenants on first sight, roles and deactivation; the store behind the REST API.
    directory: Arc<Directory>,
    /// REST rate limiters (per token and per client IP).
    api_limiters: crate::api::Limiters,
    /// The database (REST reads and writes; durable events go through the hub's sink).
    store: Store,
    /// Live Roblox game sessions.
    roblox: Roblox,
    /// The AI tutor; `None` until `OPENAI_API_KEY` is set.
    tutor: Option<crate::ai::Tutor>,
    /// Class chat's rules as they are now.
    chat: crate::chat::ChatRules,
    /// Stripe's API; `None` until `STRIPE_SECRET_KEY` is set.
    stripe: Option<crate::billing::stripe::Stripe>,
    /// Uploaded media's object store and limits.
    media: crate::media::Media,
    /// The QUIC listener (native QUIC and WebTransport), when `--quic-bind` is set.
    quic: Option<QuicListening>,
}

/// A reserved place under the connection limit; released on drop.
#[derive(Debug)]
pub struct SocketSlot {
    shared: Arc<Shared>,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.shared.open_sockets.fetch_sub(1, Ordering::AcqRel);
    }
}

impl AppState {
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }
    /// The hub.
    pub fn hub(&self) -> &Hub {
        &self.shared.hub
    }
    /// The token verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.shared.verifier
    }
    /// The shutdown token.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shared.shutdown
    }
    /// The socket task tracker.
    pub fn tracker(&self) -> &TaskTracker {
        &self.shared.tracker
    }
    /// Time since start.
    pub fn uptime(&self) -> Duration {
        self.shared.started.elapsed()
    }
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }
    /// The metrics renderer.
    pub fn prometheus(&self) -> &PrometheusHandle {
        &self.shared.prometheus
    }
    /// Every tenant's Pusher app.
    pub fn apps(&self) -> &PusherApps {
        &self.shared.apps
    }
    /// Signed-in Pusher sockets by user.
    pub fn pusher_users(&self) -> &PusherUsers {
        &self.shared.pusher_users
    }
    /// The database.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }
    /// Live Roblox game sessions.
    pub fn roblox(&self) -> &Roblox {
        &self.shared.roblox
    }
    /// Class chat's rules.
    pub fn chat(&self) -> &crate::chat::ChatRules {
        &self.shared.chat
    }
    /// The AI tutor, when configured.
    pub fn tutor(&self) -> Option<&crate::ai::Tutor> {
        self.shared.tutor.as_ref()
    }
    /// Uploaded media's object store and limits.
    pub fn media(&self) -> &crate::media::Media {
        &self.shared.media
    }
    /// The QUIC listener (native QUIC and WebTransport), when `--quic-bind` is set.
    pub fn quic(&self) -> Option<&QuicListening> {
        self.shared.quic.as_ref()
    }
    /// Stripe's API, when configured.
    pub fn stripe(&self) -> Option<&crate::billing::stripe::Stripe> {
        self.shared.stripe.as_ref()
    }
    /// This process's node id (Pusher socket ids are `{node_id}.{conn_id}`).
    pub fn node_id(&self) -> u32 {
        self.shared.node_id
    }
    /// The user directory (and through it the store).
    pub fn directory(&self) -> &Directory {
        &self.shared.directory
    }
    /// The REST rate limiters.
    pub fn api_limiters(&self) -> &crate::api::Limiters {
        &self.shared.api_limiters
    }
    /// Verifies a token and admits its user (created on first sight; deactivated users and ids
    /// of another tenant refused; the directory's role applied; a parent's linked children added).
    /// REST and the Pusher auth endpoints use this, sockets [`AppState::authenticate_socket`].
    pub async fn authenticate(&self, token: &str) -> Result<Identity, AuthFailure> {
        let identity = self.shared.verifier.verify(token).await?;
        let admitted = self.shared.directory.admit(identity).await?;
        Ok(Directory::with_linked_children(
            admitted,
            self.shared.hub.rosters(),
        ))
    }

    /// [`AppState::authenticate`] for sockets: while the database is unreachable a live class
    /// keeps working, so a verified token is admitted as it is (users already seen are still
    /// checked against the cached directory) and the user row is created on a later sight.
    pub async fn authenticate_socket(&self, token: &str) -> Result<Identity, AuthFailure> {
        let identity = self.shared.verifier.verify(token).await?;
        match self.shared.directory.admit(identity.clone()).await {
            Err(AuthFailure::Unavailable(cause)) => {
                tracing::warn!(%cause, user = %identity.user, "directory unavailable; admitting the socket on its token");
                Ok(identity)
            }
            other => other,
        }
    }
    /// Re-checks an open connection against the rules as they are now, each person it holds
    /// authority from at their standing in the directory now (see `Session::recheck`).
    pub fn recheck(&self, session: &mut Session) -> Recheck {
        session.recheck(&|who: &Identity| self.standing(who))
    }

    /// A native `auth` frame on an open connection: `identity` (from a fresh token) replaces
    /// the connection's, then it is re-checked; refused when the token names another user.
    pub fn reauthenticate(
        &self,
        session: &mut Session,
        identity: Identity,
    ) -> Result<Recheck, String> {
        session.reauthenticate(identity, &|who: &Identity| self.standing(who))
    }

    /// Where an admitted person stands now (the directory's role, or why they may no longer
    /// hold anything), as the sentence a refused connection is told.
    pub fn standing(&self, who: &Identity) -> Result<Identity, String> {
        self.shared
            .directory
            .standing(who)
            .map_err(|failure| failure.to_string())
    }

    /// Takes a place under the tenant's connection limit, or `None` when it has as many
    /// sockets as it may.
    pub fn reserve_tenant_socket(&self, tenant: &str) -> Option<Slot<String>> {
        let max = self.shared.config.socket.max_connections_per_tenant;
        let slot = self.shared.tenant_sockets.take(tenant.to_owned(), max);
        if slot.is_none() {
            metrics::counter!("classhub_limit_refusals_total", "limit" => "connections_per_tenant")
                .increment(1);
        }
        slot
    }

    /// Takes a place under the per-IP limit on Pusher sockets, or `None` when `ip` has as
    /// many as it may.
    pub fn reserve_pusher_ip(&self, ip: std::net::IpAddr) -> Option<Slot<std::net::IpAddr>> {
        let max = self.shared.config.socket.max_pusher_connections_per_ip;
        let slot = self.shared.pusher_ips.take(ip, max);
        if slot.is_none() {
            metrics::counter!("classhub_limit_refusals_total", "limit" => "pusher_connections_per_ip")
                .increment(1);
        }
        slot
    }

    /// Takes a place under the connection limit, or `None` when the server is full.
    pub fn reserve_socket(&self) -> Option<SocketSlot> {
        let max = self.shared.config.socket.max_connections;
        self.shared
            .open_sockets
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .ok()
            .map(|_| SocketSlot {
                shared: Arc::clone(&self.shared),
            })
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error(
        "cannot listen on {addr}: {cause}; choose another --bind address or stop what holds it"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        cause: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error(
        "cannot open the database: {0}; check DATABASE_URL (or --data-dir for the embedded SQLite)"
    )]
    Database(#[from] persistence::StoreError),
    /// The Open Cloud HTTP client could not be built.
    #[error("cannot set up the Open Cloud client: {0}")]
    OpenCloud(String),
    /// The media store could not be opened.
    #[error(transparent)]
    Media(#[from] crate::media::MediaStoreError),
    /// The QUIC listener could not start (its certificate, or its UDP address).
    #[error(transparent)]
    Quic(#[from] crate::transport::quic::QuicError),
    /// The development JWT secret could not be read or created.
    #[error(
        "cannot read or create the JWT secret in {dir}: {cause}; check --data-dir or set CLASSHUB_JWT_SECRET"
    )]
    Secret {
        /// The data dir.
        dir: String,
        /// Why.
        cause: std::io::Error,
    },
}

/// A started server.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    app: AppState,
    done: JoinHandle<()>,
    quic: Option<QuicListening>,
}

/// Where the QUIC listener listens, and the certificate it presents.
#[derive(Debug, Clone)]
pub struct QuicListening {
    /// The UDP address (the port chosen when `--quic-bind` asked for port 0).
    pub addr: SocketAddr,
    /// The leaf certificate, DER: what a client pins to trust a development certificate.
    pub certificate: rustls::pki_types::CertificateDer<'static>,
    /// The leaf's SHA-256 in hex (WebTransport's `serverCertificateHashes`).
    pub sha256: String,
    /// Whether the certificate was generated at start.
    pub generated: bool,
}

impl RunningServer {
    /// The address it listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// Its shared state.
    pub fn app(&self) -> &AppState {
        &self.app
    }
    /// The QUIC listener, when `--quic-bind` is set.
    pub fn quic(&self) -> Option<&QuicListening> {
        self.quic.as_ref()
    }
    /// Shuts down: stop accepting, close sockets with `reconnect`, wait up to the deadline.
    pub async fn shutdown(self) {
        self.app.shutdown().cancel();
        if let Err(cause) = self.done.await {
            tracing::error!(%cause, "server task failed");
        }
    }
}

/// Binds and starts serving in the background.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    let secret = match &config.jwt_secret {
        Some(secret) => secret.clone(),
        None => {
            auth::load_or_create_secret(&config.data_dir).map_err(|cause| StartError::Secret {
                dir: config.data_dir.display().to_string(),
                cause,
            })?
        }
    };
    let store = match &config.database_url {
        Some(url) => {
            let writers = config.sink.writers_for(persistence::Backend::Postgres);
            Store::connect_with_writers(url, writers).await?
        }
        None => Store::open_sqlite_file(&config.data_dir.join("classhub.db")).await?,
    };
    store.migrate().await?;
    store.warm_up().await?;
    tracing::info!(backend = ?store.backend(), "database ready");
    let rosters = load_rosters(&store).await?;
    let listener = listen(config.bind).map_err(|cause| StartError::Bind {
        addr: config.bind,
        cause,
    })?;
    let addr = listener.local_addr().map_err(|cause| StartError::Bind {
        addr: config.bind,
        cause,
    })?;
    let quic_endpoint = match config.quic.bind {
        Some(quic_addr) => Some(bind_quic(&config, quic_addr)?),
        None => None,
    };
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (sink, sink_task) = EventSink::spawn(store.clone(), config.sink.clone());
    let apps = PusherApps::new(&secret, config.pusher.app.clone());
    let node_id = rand::random::<u32>() % 1_000_000_000;
    let signals = (!config.pusher.webhooks.is_empty()).then(|| {
        crate::transport::webhooks::spawn(
            crate::transport::webhooks::WebhookTargets {
                apps: apps.clone(),
                urls: config.pusher.webhooks.clone(),
                node_id,
                queue_bytes: config.pusher.webhook_queue_bytes,
            },
            shutdown.clone(),
            &tracker,
        )
    });
    let hub = Hub::new(config.hub.clone(), shutdown.clone(), Some(sink), signals);
    hub.rosters().load(rosters);
    if config.billing.enforces_default_seats() {
        hub.seats()
            .set_default_limit(config.billing.default_plan().seats as usize);
    }
    for subscription in store.all_subscriptions().await? {
        config
            .billing
            .apply_to_hub(&hub, &subscription.tenant_id, Some(&subscription));
    }
    let media = crate::media::Media::open(&config.media)?;
    let tutor = crate::ai::Tutor::new(&config.ai);
    let chat = crate::chat::ChatRules::new(
        config.chat.clone(),
        store.chat_rules(crate::chat::now_ms()).await?,
    );
    let stripe = config
        .billing
        .stripe_secret_key
        .as_ref()
        .map(|key| crate::billing::stripe::Stripe::new(&config.billing.stripe_api_base, key));
    let verifier = Verifier::new(&secret, config.auth.clone());
    verifier.prefetch().await;
    let api_limiters = crate::api::Limiters::new(&config.api_limits);
    let shutdown_timeout = config.shutdown_timeout;
    let directory = Arc::new(Directory::new(store.clone(), config.auth.first_sight_batch));
    let roblox = Roblox::start(
        config.roblox.clone(),
        hub.clone(),
        store.clone(),
        Arc::clone(&directory),
        shutdown.clone(),
        &tracker,
    )
    .map_err(|cause| StartError::OpenCloud(cause.to_string()))?;
    let app = AppState {
        shared: Arc::new(Shared {
            config,
            hub: hub.clone(),
            verifier,
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
            open_sockets: AtomicUsize::new(0),
            tenant_sockets: Slots::default(),
            pusher_ips: Slots::default(),
            started: Instant::now(),
            local_addr: addr,
            prometheus: crate::metrics::install(),
            apps,
            node_id,
            pusher_users: PusherUsers::default(),
            directory,
            api_limiters,
            store: store.clone(),
            roblox,
            tutor,
            chat,
            stripe,
            media,
            quic: quic_endpoint
                .as_ref()
                .map(|(_, listening)| listening.clone()),
        }),
    };
    tracker.spawn(hub.run_reaper());
    tracker.spawn(crate::privacy::retention::run_purge(app.clone()));
    tracker.spawn(metrics_upkeep(app.prometheus().clone(), shutdown.clone()));
    tracker.spawn(crate::api::limits::upkeep(app.clone()));
    tracker.spawn(crate::chat::upkeep(app.clone()));
    let quic = match quic_endpoint {
        Some((endpoint, listening)) => {
            tracker.spawn(crate::transport::quic::accept_loop(app.clone(), endpoint));
            Some(listening)
        }
        None => None,
    };
    let router = crate::http::router(app.clone());
    let done = tokio::spawn(async move {
        // Small frames go out now: without TCP_NODELAY, Nagle holds a frame back until the
        // previous one is acknowledged, which a delayed ACK can make ~40 ms.
        let listener = listener.tap_io(|stream| {
            if let Err(cause) = stream.set_nodelay(true) {
                tracing::debug!(%cause, "could not set TCP_NODELAY on an accepted socket");
            }
        });
        let serving = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        if let Err(cause) = serving.await {
            tracing::error!(%cause, "http server failed");
            shutdown.cancel();
        }
        tracker.close();
        if tokio::time::timeout(shutdown_timeout, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = tracker.len(),
                "shutdown deadline passed with sockets still open"
            );
        }
        // Every socket is closed, so nothing new reaches the sink: write what it holds.
        sink_task.close(shutdown_timeout).await;
        store.close().await;
        tracing::info!("server stopped");
    });
    tracing::info!(%addr, "listening");
    Ok(RunningServer {
        addr,
        app,
        done,
        quic,
    })
}

/// Binds the QUIC listener with the configured certificate, or a development one made now
/// (its hash logged, for WebTransport's `serverCertificateHashes`).
fn bind_quic(
    config: &Config,
    quic_addr: SocketAddr,
) -> Result<(quinn::Endpoint, QuicListening), crate::transport::quic::QuicError> {
    use crate::transport::tls::TlsIdentity;
    let tls = match &config.quic.tls {
        Some(files) => TlsIdentity::load(files)?,
        None => TlsIdentity::self_signed()?,
    };
    let endpoint = crate::transport::quic::bind(config, quic_addr, &tls)?;
    let addr = endpoint
        .local_addr()
        .map_err(|cause| crate::transport::quic::QuicError::Bind {
            addr: quic_addr,
            cause,
        })?;
    let listening = QuicListening {
        addr,
        certificate: tls.leaf().clone(),
        sha256: tls.sha256_hex(),
        generated: tls.is_generated(),
    };
    if listening.generated {
        tracing::info!(%addr, sha256 = %listening.sha256, "quic listening with a self-signed development certificate (valid 13 days; trust it by this SHA-256)");
    } else {
        tracing::info!(%addr, sha256 = %listening.sha256, "quic listening");
    }
    Ok((endpoint, listening))
}

/// Everything the hub needs to enforce rosters, read once at start-up.
async fn load_rosters(store: &Store) -> Result<RosterSnapshot, persistence::StoreError> {
    Ok(RosterSnapshot {
        classes: store
            .all_classes()
            .await?
            .into_iter()
            .map(|class| (class.tenant_id, class.id, class.teacher_id))
            .collect(),
        tenants_with_classes: store
            .tenants_with_classes()
            .await?
            .into_iter()
            .map(|tenant| tenant.tenant_id)
            .collect(),
        members: store
            .all_roster_entries()
            .await?
            .into_iter()
            .map(|entry| (entry.tenant_id, entry.class_id, entry.user_id))
            .collect(),
        parent_links: store
            .all_parent_links()
            .await?
            .into_iter()
            .map(|link| (link.tenant_id, link.parent_id, link.child_id))
            .collect(),
        games: store
            .live_game_links()
            .await?
            .into_iter()
            .map(|game| (game.tenant_id, game.job_id, game.class_id))
            .collect(),
    })
}

/// Pending connections the kernel may queue (capped by `net.core.somaxconn`); the 128 that
/// `TcpListener::bind` uses drops SYNs under a burst of classroom connects.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn metrics_upkeep(prometheus: PrometheusHandle, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => prometheus.run_upkeep(),
        }
    }
}
