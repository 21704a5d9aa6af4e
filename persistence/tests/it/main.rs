//! The persistence contract suite: every test runs against SQLite, and against PostgreSQL too
//! when `TEST_DATABASE_URL` is set (each test in a database of its own, dropped afterwards).

mod billing;
mod contract;
mod records;
mod roblox;
mod sink;
mod support;
