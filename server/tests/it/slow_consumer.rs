//! Backpressure: a member that stops reading is closed with the slow-consumer code while every
//! other member still gets every event, in order.

use protocol::{CloseCode, ServerMessage};
use serde_json::json;
use server::auth::Role;

use crate::support::{Client, PATIENCE, event_parts, start_with, token};

const ROOM: &str = "class:acme:c1";
const EVENTS: u64 = 3000;
/// The publisher stays at most this many events ahead of the reading member.
const WINDOW: u64 = 16;

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_and_the_others_get_everything() {
    let test = start_with(|config| config.hub.conn_queue_len = 64).await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    let mut reader = Client::connect(test.addr, &token("acme", Role::Student, "reader")).await;
    let mut stalled = Client::connect(test.addr, &token("acme", Role::Student, "stalled")).await;
    reader.join(ROOM).await;
    stalled.join(ROOM).await;

    // The reader reads everything concurrently; the stalled client reads nothing for now.
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader_progress = std::sync::Arc::clone(&progress);
    // Told when the stalled member leaves, so the stalled client starts reading then: the server
    // gives a peer that does not read a few seconds to take its close frame, and a loaded
    // machine may take longer than that to publish the rest of the events.
    let (left_tx, left_rx) = tokio::sync::oneshot::channel::<()>();
    let stalled_reading = tokio::spawn(async move {
        // Either the leave was seen, or the reader ended without one (then the assertion on
        // `leaves` below says so).
        let _ = left_rx.await;
        stalled.close_code().await
    });
    let reading = tokio::spawn(async move {
        let mut seqs = Vec::new();
        let mut leaves = Vec::new();
        let mut left_tx = Some(left_tx);
        while seqs.len() < EVENTS as usize {
            match reader.recv().await {
                ServerMessage::PresenceDiff(diff) => {
                    leaves.extend(diff.leaves);
                    if !leaves.is_empty()
                        && let Some(left_tx) = left_tx.take()
                    {
                        let _ = left_tx.send(());
                    }
                }
                message => {
                    if let Some((seq, _, _)) = event_parts(&message) {
                        seqs.push(seq);
                        reader_progress
                            .store(seqs.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }
        (seqs, leaves, reader)
    });

    // ~24 MB of events: far more than the stalled socket's queue and kernel buffers hold. The
    // publisher waits for the reading member, so only the stalled one falls behind.
    let filler = "x".repeat(8000);
    for n in 0..EVENTS {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while n > progress.load(std::sync::atomic::Ordering::Relaxed) + WINDOW {
            assert!(!reading.is_finished(), "the reading member stopped early");
            assert!(
                tokio::time::Instant::now() < deadline,
                "the reading member stopped receiving"
            );
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        teacher.send(json!({"type": "publish", "room": ROOM, "kind": "tick", "data": {"n": n, "filler": filler}})).await;
    }
    let (seqs, mut leaves, mut reader) = reading.await.expect("reader task");
    assert_eq!(
        seqs,
        (1..=EVENTS).collect::<Vec<_>>(),
        "the reading member got every event in order"
    );

    if leaves.is_empty() {
        let ServerMessage::PresenceDiff(diff) = reader
            .recv_until(|message| matches!(message, ServerMessage::PresenceDiff(_)))
            .await
        else {
            unreachable!()
        };
        leaves = diff.leaves;
    }
    assert_eq!(leaves.len(), 1);
    assert_eq!(
        (leaves[0].user.as_str(), leaves[0].reason.as_str()),
        ("stalled", "slow_consumer")
    );

    // When the stalled client finally reads, it finds the slow-consumer close after a prefix.
    assert_eq!(
        stalled_reading.await.expect("stalled reader task"),
        Some(CloseCode::SlowConsumer.code())
    );
}
