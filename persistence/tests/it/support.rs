//! Test support beside `persistence::test_support` (which makes each test's database and the
//! proxy a test cuts to stage an outage): events to store.

use persistence::DurableEvent;

pub fn event(tenant: &str, id: &str, kind: &str, data: serde_json::Value) -> DurableEvent {
    DurableEvent {
        tenant: tenant.into(),
        event_id: id.into(),
        room: format!("game:{tenant}:job-1"),
        kind: kind.into(),
        sender: "game-server".into(),
        data: data.into(),
        seq: 1,
        sent_at_ms: 1_764_160_000_000,
        answer: None,
    }
}
