//! Errors of the store and the sink, with their retry policy.

/// A database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is neither `postgres://…` nor `sqlite:…`.
    #[error(
        "unsupported database URL {0:?}; use postgres://user@host/db or sqlite:path/to/file.db"
    )]
    UnsupportedUrl(String),
    /// The database could not be reached or opened.
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// TLS to PostgreSQL, which the URL's `sslmode` asks for, failed.
    #[error(
        "cannot connect to PostgreSQL over TLS (sslmode={sslmode} in DATABASE_URL): {cause}; {advice}"
    )]
    Tls {
        /// The URL's `sslmode`.
        sslmode: &'static str,
        /// What failed.
        #[source]
        cause: sqlx::Error,
        /// What to do about it.
        advice: &'static str,
    },
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A statement failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether the same statement may succeed later (the database was unreachable, busy or
    /// restarting) rather than being refused for what it contains.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::UnsupportedUrl(_) | StoreError::Migrate(_) | StoreError::Tls { .. } => {
                false
            }
            StoreError::Connect(_) => true,
            StoreError::Query(error) => is_transient(error),
        }
    }
}

impl StoreError {
    /// The error of a store that is shutting down (its pool closed, or the task writing for it
    /// stopped).
    pub fn closed() -> StoreError {
        StoreError::Query(sqlx::Error::PoolClosed)
    }

    /// Whether a UNIQUE or PRIMARY KEY constraint refused the statement (the row exists).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Query(sqlx::Error::Database(database)) if database.is_unique_violation())
    }

    /// Whether a FOREIGN KEY constraint refused the statement (a referenced row is missing).
    pub fn is_foreign_key_violation(&self) -> bool {
        matches!(self, StoreError::Query(sqlx::Error::Database(database)) if database.is_foreign_key_violation())
    }
}

fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(database) => {
            let code = database.code().unwrap_or_default();
            if database
                .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                .is_some()
            {
                // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
                code.parse::<i64>()
                    .is_ok_and(|sqlite| matches!(sqlite & 0xff, 5 | 6))
            } else {
                // SQLSTATE classes: 08 connection, 53 resources, 57P0x shutdown or restart,
                // 40001/40P01 serialization failure or deadlock.
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57P0")
                    || code == "40001"
                    || code == "40P01"
            }
        }
        _ => false,
    }
}

/// Why a durable event was not stored. Never returned for an event that was committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The database stayed unreachable until shutdown gave up; send the event again later.
    #[error("the database was unavailable and the server is shutting down; retry the event")]
    Unavailable,
    /// The database refused this event for its content (a value it cannot store, a constraint),
    /// alone: the other events of its batch were written without it. Permanent: the same event
    /// will be refused again, so it is reported as rejected (never "retry later"). Carries the
    /// database's sentence, which names the value, not the query.
    #[error(
        "the database refused this event for its content ({0}); it is not stored, and sending it again unchanged will not help"
    )]
    Rejected(String),
    /// The sink stopped without answering (a bug); the event may or may not be stored.
    #[error("the event sink stopped unexpectedly; retry the event")]
    Stopped,
}

impl SinkError {
    /// Whether sending the same event (same id) again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SinkError::Unavailable | SinkError::Stopped => true,
            SinkError::Rejected(_) => false,
        }
    }
}
