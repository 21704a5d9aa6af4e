//! [`SqliteWriteLock`]: a second connection holding SQLite's write lock, so that every other
//! writer waits and times out: a database outage a test begins and ends at will.

use sqlx::{Connection, SqliteConnection};

/// An open `BEGIN EXCLUSIVE` on a SQLite database. Dropping it without [`release`] also frees
/// the lock, once the connection has closed.
///
/// [`release`]: SqliteWriteLock::release
#[derive(Debug)]
pub struct SqliteWriteLock {
    connection: SqliteConnection,
}

impl SqliteWriteLock {
    /// Opens `url` (`sqlite:…`) and takes its write lock.
    pub async fn take(url: &str) -> SqliteWriteLock {
        let mut connection = SqliteConnection::connect(url)
            .await
            .expect("a second connection to the SQLite database");
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut connection)
            .await
            .expect("take the SQLite write lock");
        SqliteWriteLock { connection }
    }

    /// Ends the (empty) transaction and closes the connection: waiting writers proceed.
    pub async fn release(mut self) {
        sqlx::query("COMMIT")
            .execute(&mut self.connection)
            .await
            .expect("release the SQLite write lock");
        self.connection
            .close()
            .await
            .expect("close the lock's connection");
    }
}
