//! Integration tests of the load-test scenarios: seconds-long smoke runs with tiny numbers
//! against an in-process classhub (`server::start` on 127.0.0.1:0, a temp data dir and database
//! per test) and against the in-process baseline. They check the report's shape and that load
//! flowed (deliveries or acks > 0); never timings, which belong in docs/benchmarks.md. One
//! binary, one module per scenario; `boundaries` checks that the harness links no `server` yet
//! mints what it accepts; `support` starts servers and checks reports.

mod abuse;
mod baseline;
mod boundaries;
mod classroom;
mod connections;
mod fanout;
mod ingest;
mod search;
mod support;
