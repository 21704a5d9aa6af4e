//! Test support for every crate whose tests need a database, behind the `test-support` feature
//! (enabled only as a dev-dependency, so none of it is in the `classhub` binary): a fresh
//! database per test ([`TestDatabase`]), an outage staged by holding SQLite's write lock
//! ([`SqliteWriteLock`]) or by cutting a TCP relay in front of PostgreSQL ([`Proxy`]), a class with its teacher and roster seeded through `Store` methods
//! ([`ClassSeed`]), and the few rows tests write or read that the product has no method for
//! ([`rows`]).
//!
//! It exists so that tests outside this crate never hold a pool or write SQL: what they seed and
//! check goes through [`Store`](crate::Store) methods or a named helper here.

mod database;
mod proxy;
pub mod rows;
mod seed;
mod write_lock;

pub use database::TestDatabase;
pub use proxy::{Proxy, with_address};
pub use seed::ClassSeed;
pub use write_lock::SqliteWriteLock;
