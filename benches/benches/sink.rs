//! Sink bench: acknowledged durable events per second through the group-commit [`EventSink`],
//! beside a naive loop of one autocommitted `INSERT` per event on the same database.
//!
//! Not a criterion bench: one iteration is a whole run of many events with its own commits, so it
//! is timed directly and printed as a table. PostgreSQL runs when `BENCH_DATABASE_URL` (or
//! `TEST_DATABASE_URL`) names a server; SQLite always runs. Each backend runs in a fresh
//! `persistence::test_support::TestDatabase`, removed afterwards. Every run checks that each
//! event was acknowledged and stored once.
//!
//! `cargo bench -p benches --bench sink` (sizes: `SINK_BENCH_EVENTS`, default 200000).

use std::time::{Duration, Instant};

use anyhow::Context;
use persistence::test_support::{self, TestDatabase};
use persistence::{Ack, DurableEvent, EventSink, SinkSettings, Store};
use serde_json::json;

const ROUNDS: usize = 3;
const NAIVE_EVENTS: usize = 3_000;

fn event(round: usize, n: usize) -> DurableEvent {
    let progress = n.is_multiple_of(10);
    DurableEvent {
        tenant: "bench".into(),
        event_id: format!("r{round}-e{n}"),
        room: "game:bench:job-1".into(),
        kind: if progress { "progress" } else { "checkpoint" }.into(),
        sender: format!("s{}", n % 30),
        data: if progress {
            json!({"lesson": format!("l{}", n % 7), "course": "math", "percent": (n % 101) as f64, "time_spent_secs": 5})
        } else {
            json!({"stage": n % 12, "x": 12.5, "y": 3.0, "z": -7.25})
        }
        .into(),
        seq: n as u64 + 1,
        sent_at_ms: 1_764_160_000_000 + n as u64,
        answer: None,
    }
}

/// The server's default sink settings, with `SINK_BENCH_WRITERS` / `SINK_BENCH_BATCH_ROWS`
/// overrides for exploring.
fn settings() -> SinkSettings {
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
    };
    let defaults = SinkSettings::default();
    SinkSettings {
        writers: env("SINK_BENCH_WRITERS").or(defaults.writers),
        batch_rows: env("SINK_BENCH_BATCH_ROWS").unwrap_or(defaults.batch_rows),
        ..defaults
    }
}

/// Acked events/s through the sink for `events` events.
async fn through_sink(store: &Store, round: usize, events: usize) -> anyhow::Result<f64> {
    let (sink, task) = EventSink::spawn(store.clone(), settings());
    let started = Instant::now();
    let mut acks: Vec<Ack> = Vec::with_capacity(events);
    for n in 0..events {
        loop {
            match sink.reserve() {
                Ok(permit) => {
                    acks.push(permit.submit(event(round, n)));
                    break;
                }
                // The queue is full: a real publisher gets a retryable error and comes back.
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }
    for ack in acks {
        ack.await
            .context("sink stopped")?
            .context("event not stored")?;
    }
    let elapsed = started.elapsed();
    task.close(Duration::from_secs(30)).await;
    Ok(events as f64 / elapsed.as_secs_f64())
}

/// Events/s with one autocommitted INSERT per event, the way a naive server writes.
async fn naive(store: &Store, round: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    for n in 0..NAIVE_EVENTS {
        let mut event = event(round, n);
        event.event_id = format!("naive-{}", event.event_id);
        test_support::rows::insert_event_alone(store, &event).await?;
    }
    Ok(NAIVE_EVENTS as f64 / started.elapsed().as_secs_f64())
}

/// Prints one table row for `store` (migrated, empty).
async fn bench(label: &str, store: Store, events: usize) -> anyhow::Result<()> {
    let mut sink_rates = Vec::new();
    let mut naive_rates = Vec::new();
    for round in 0..ROUNDS {
        sink_rates.push(through_sink(&store, round, events).await?);
        naive_rates.push(naive(&store, round).await?);
    }
    let stored = store.event_ids("bench").await?.len();
    anyhow::ensure!(
        stored == ROUNDS * (events + NAIVE_EVENTS),
        "stored {stored} events"
    );
    let median = |rates: &mut Vec<f64>| {
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    };
    let (sink_rate, naive_rate) = (median(&mut sink_rates), median(&mut naive_rates));
    println!(
        "| {label} | {events} | {sink_rate:.0} | {NAIVE_EVENTS} | {naive_rate:.0} | {:.1}x |",
        sink_rate / naive_rate
    );
    store.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes --bench; there are no options to parse.
    let events: usize = std::env::var("SINK_BENCH_EVENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(200_000);
    println!(
        "| backend | sink events/round | sink acked events/s (median of {ROUNDS}) | naive events/round | naive events/s | ratio |"
    );
    println!("|---|---|---|---|---|---|");

    let sqlite = TestDatabase::sqlite();
    bench(
        "SQLite (WAL, synchronous=FULL)",
        sqlite.store().await,
        events,
    )
    .await?;

    if let Ok(admin_url) =
        std::env::var("BENCH_DATABASE_URL").or_else(|_| std::env::var("TEST_DATABASE_URL"))
    {
        let postgres = TestDatabase::postgres_at(&admin_url).await;
        bench("PostgreSQL 15 (local)", postgres.store().await, events).await?;
    } else {
        println!(
            "(PostgreSQL skipped: set BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres)"
        );
    }
    Ok(())
}
