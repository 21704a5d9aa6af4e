//! Test databases: a fresh SQLite file, or a fresh PostgreSQL database created through
//! `TEST_DATABASE_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`) and dropped after.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use persistence::{DurableEvent, Store};
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A database made for one test.
pub enum TestDb {
    Sqlite {
        path: PathBuf,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir =
            std::env::temp_dir().join(format!("classhub-persistence-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TestDb::Sqlite {
            path: dir.join("classhub.db"),
        }
    }

    /// `None` when `TEST_DATABASE_URL` is not set.
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
        let name = format!("classhub_test_{}", rand::random::<u64>());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("TEST_DATABASE_URL reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        admin.close().await.expect("close admin");
        let url = with_database(&admin_url, &name);
        Some(TestDb::Postgres {
            admin_url,
            name,
            url,
        })
    }

    /// Every backend available here: SQLite always, Postgres when configured.
    pub async fn all() -> Vec<TestDb> {
        let mut databases = vec![TestDb::sqlite().await];
        databases.extend(TestDb::postgres().await);
        databases
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { path } => format!("sqlite:{}", path.display()),
            TestDb::Postgres { url, .. } => url.clone(),
        }
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url()).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    pub async fn drop_db(self) {
        match self {
            TestDb::Sqlite { path } => {
                if let Some(dir) = path.parent() {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
            TestDb::Postgres {
                admin_url, name, ..
            } => {
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("admin");
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .expect("drop database");
            }
        }
    }
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("database url has a /db part");
    format!("{base}/{name}")
}

/// `url` pointed at `addr` instead of its host and port.
pub fn with_address(url: &str, addr: SocketAddr) -> String {
    let (scheme_user, rest) = url.split_once('@').expect("postgres url with user@host");
    let (_, path) = rest.split_once('/').expect("database url has a /db part");
    format!("{scheme_user}@{addr}/{path}")
}

pub fn event(tenant: &str, id: &str, kind: &str, data: serde_json::Value) -> DurableEvent {
    DurableEvent {
        tenant: tenant.into(),
        event_id: id.into(),
        room: format!("game:{tenant}:job-1"),
        kind: kind.into(),
        sender: "game-server".into(),
        data,
        seq: 1,
        sent_at_ms: 1_764_160_000_000,
    }
}

/// A TCP proxy in front of a database that a test can cut and restore.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    /// Cancelled to kill every connection open now; replaced on restore.
    cut: Arc<std::sync::Mutex<CancellationToken>>,
}

impl Proxy {
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

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
