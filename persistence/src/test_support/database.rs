//! [`TestDatabase`]: a database made for one test, removed when it is dropped: a SQLite file in
//! a temp dir of its own, or a PostgreSQL database created on the server `TEST_DATABASE_URL`
//! names (e.g. `postgres://postgres@127.0.0.1:5432/postgres`), so tests run in parallel and
//! leave nothing behind.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Connection;

use crate::store::{Backend, Store};

/// One test's database. Dropping it removes the SQLite dir or drops the PostgreSQL database
/// (`WITH (FORCE)`, so pools still open to it do not stop the drop), also when the test panics.
pub struct TestDatabase {
    url: String,
    place: Place,
}

/// Where a [`TestDatabase`] lives, i.e. what dropping it removes.
enum Place {
    /// `classhub.db` in `dir`, a temp dir made for it.
    Sqlite { dir: PathBuf },
    /// Database `name` on the server `admin_url` connects to.
    Postgres { admin_url: String, name: String },
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TestDatabase").field(&self.url).finish()
    }
}

impl TestDatabase {
    /// A new SQLite file (created on first connection) in a new temp dir.
    pub fn sqlite() -> TestDatabase {
        let dir = std::env::temp_dir().join(format!("classhub-test-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).expect("create a temp dir for the test database");
        TestDatabase {
            url: format!("sqlite:{}", dir.join("classhub.db").display()),
            place: Place::Sqlite { dir },
        }
    }

    /// A new PostgreSQL database on the server `TEST_DATABASE_URL` names; `None` when it is not
    /// set (PostgreSQL tests are then skipped).
    pub async fn postgres() -> Option<TestDatabase> {
        let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
        Some(TestDatabase::postgres_at(&admin_url).await)
    }

    /// A new PostgreSQL database on the server `admin_url` connects to (its user must be allowed
    /// to `CREATE DATABASE`).
    pub async fn postgres_at(admin_url: &str) -> TestDatabase {
        let name = format!("classhub_test_{}", unique_suffix());
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|cause| {
                panic!("cannot reach the PostgreSQL server {admin_url}: {cause}")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.expect("close the admin connection");
        let (server, _database) = admin_url
            .rsplit_once('/')
            .expect("a PostgreSQL URL ends in /database");
        TestDatabase {
            url: format!("{server}/{name}"),
            place: Place::Postgres {
                admin_url: admin_url.to_owned(),
                name,
            },
        }
    }

    /// Every backend available here: SQLite always, PostgreSQL when `TEST_DATABASE_URL` is set.
    pub async fn all() -> Vec<TestDatabase> {
        let mut databases = vec![TestDatabase::sqlite()];
        databases.extend(TestDatabase::postgres().await);
        databases
    }

    /// The URL to connect to (`sqlite:…` or `postgres://…`), e.g. the server's `database_url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self.place {
            Place::Sqlite { .. } => Backend::Sqlite,
            Place::Postgres { .. } => Backend::Postgres,
        }
    }

    /// A new store on this database, migrated.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url)
            .await
            .expect("connect to the test database");
        store.migrate().await.expect("migrate the test database");
        store
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // A panic here could abort a test that is already unwinding: failures are reported.
        match &self.place {
            Place::Sqlite { dir } => {
                if let Err(cause) = std::fs::remove_dir_all(dir) {
                    eprintln!("cannot remove test database dir {}: {cause}", dir.display());
                }
            }
            Place::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // `drop` cannot await, and blocking on a future inside a test's runtime panics,
                // so the DROP runs on a thread with a runtime of its own.
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|cause| cause.to_string())?;
                    runtime
                        .block_on(drop_postgres(&admin_url, &name))
                        .map_err(|cause| cause.to_string())
                })
                .join();
                match dropped {
                    Ok(Ok(())) => {}
                    Ok(Err(cause)) => eprintln!("cannot drop test database {}: {cause}", self.url),
                    Err(_panic) => eprintln!("dropping test database {} panicked", self.url),
                }
            }
        }
    }
}

async fn drop_postgres(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    admin.close().await
}

/// Lowercase letters, digits and `_` only (a valid PostgreSQL name), unique across this machine's
/// test processes: the process id, a counter and the clock.
fn unique_suffix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    format!(
        "{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
