//! Fan-out bench: one `publish` through the real hub into a 30-member class room.
//!
//! A [`Hub`] with default-ish settings holds `class:bench:c1` with 30 student sessions joined;
//! an educator session (which may publish without joining, so it is not one of the 30) publishes
//! a `progress` event. One iteration is one `Session::publish`: permission checks, the room
//! lock, `seq` assignment, encoding once per codec in use, 30 `try_send`s into the members'
//! queues and the history push. Receivers are drained outside the timed region after every
//! batch, and each drain checks that every member got exactly one frame per publish, so the
//! queues never fill and no member is closed as a slow consumer.
//!
//! Throughput is `Elements(30)`: criterion's "elem/s" reads as deliveries per second.
//! Variants: 30 JSON members, 30 MessagePack members, and 15 + 15 (two encodes per publish).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol::{Codec, Limits, RoomId, ServerMessage};
use serde_json::{Value, json};
use server::auth::{Identity, Role};
use server::hub::{FrameReceiver, Hub, HubSettings, Session, Wire};
use tokio_util::sync::CancellationToken;

/// Members of the room, every one a recipient of each publish.
const MEMBERS: usize = 30;
/// Publishes timed back to back before the receivers are drained (well below the queue length).
const BATCH: u64 = 1024;
const TENANT: &str = "bench";
const ROOM: &str = "class:bench:c1";

/// A hub with one room of [`MEMBERS`] students and an educator who publishes into it.
struct Fixture {
    /// Kept so the hub outlives every session (sessions hold clones anyway).
    _hub: Hub,
    room: RoomId,
    publisher: Session,
    /// The publisher's queue, checked to stay empty: the publisher is not a member.
    publisher_frames: FrameReceiver,
    /// The members' sessions and their outbound queues, with the codec each negotiated.
    members: Vec<(Session, FrameReceiver, Codec)>,
}

fn settings() -> HubSettings {
    HubSettings {
        limits: Limits::default(),
        history_len: 256,
        history_ttl: Duration::from_secs(300),
        room_grace: Duration::from_secs(60),
        presence_window: Duration::from_millis(50),
        conn_queue_len: 65_536,
        conn_queue_bytes: usize::MAX,
        max_rooms_per_conn: 64,
        max_rooms_per_tenant: usize::MAX,
    }
}

fn identity(user: String, role: Role, name: String) -> Identity {
    Identity {
        user,
        tenant: TENANT.to_owned(),
        role,
        name: Some(name),
        children: Vec::new(),
        expires_at: None,
    }
}

/// The event every iteration publishes (shaped like the golden `server/event.json` payload).
fn progress() -> (String, Value) {
    (
        "progress".to_owned(),
        json!({"lesson": "fractions-1", "percent": 40}),
    )
}

impl Fixture {
    /// Builds the room; `codecs[i]` is the codec of member `i`.
    fn new(codecs: &[Codec]) -> Fixture {
        let hub = Hub::new(settings(), CancellationToken::new(), None, None);
        let room = RoomId::parse(ROOM, Limits::default().max_room_id_len).expect("room id");
        let (publisher, publisher_frames) = hub.connect(
            identity("t-1".to_owned(), Role::Educator, "Ms Bench".to_owned()),
            Wire::Native(Codec::Json),
        );
        let mut members = Vec::with_capacity(codecs.len());
        for (index, &codec) in codecs.iter().enumerate() {
            let (mut session, frames) = hub.connect(
                identity(
                    format!("s-{index}"),
                    Role::Student,
                    format!("Student {index}"),
                ),
                Wire::Native(codec),
            );
            session
                .join(room.clone(), None, None, None)
                .expect("a student joins their class room");
            members.push((session, frames, codec));
        }
        let mut fixture = Fixture {
            _hub: hub,
            room,
            publisher,
            publisher_frames,
            members,
        };
        // The `joined` frames and the presence diffs of later joiners.
        for (_, frames, _) in &mut fixture.members {
            while frames.try_recv().is_some() {}
        }
        fixture.check_one_publish();
        fixture
    }

    /// Publishes once and checks that every member gets exactly that event, in its own codec.
    fn check_one_publish(&mut self) {
        let (kind, data) = progress();
        let seq = self
            .publisher
            .publish(&self.room, kind, data, None)
            .expect("an educator publishes to a class room of their tenant")
            .seq;
        for (session, frames, codec) in &mut self.members {
            let frame = frames.try_recv().expect("every member gets the event");
            let message = codec
                .decode_server(&frame)
                .expect("the member's frame decodes in its codec");
            assert!(
                matches!(&message, ServerMessage::Event(body) if body.seq == seq && body.kind == "progress"),
                "expected the progress event with seq {seq}, got {message:?}"
            );
            assert!(frames.try_recv().is_none(), "one frame per publish");
            assert!(
                session.handle().close_code().is_none(),
                "no member is closing"
            );
        }
        assert!(
            self.publisher_frames.try_recv().is_none(),
            "the publisher is not a member and gets nothing"
        );
    }

    /// Empties every member's queue, checking each held exactly `expected` frames.
    fn drain(&mut self, expected: u64) {
        for (session, frames, _) in &mut self.members {
            let mut received = 0u64;
            while frames.try_recv().is_some() {
                received += 1;
            }
            assert_eq!(received, expected, "frames queued for one member");
            assert!(
                session.handle().close_code().is_none(),
                "no member was closed as a slow consumer"
            );
        }
    }

    /// Times `iters` publishes, in batches, draining the queues between batches untimed.
    fn time_publishes(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let batch = left.min(BATCH);
            // `publish` takes its kind and payload by value; build them outside the timed region.
            let inputs: Vec<(String, Value)> = (0..batch).map(|_| progress()).collect();
            let start = Instant::now();
            for (kind, data) in inputs {
                let seq = self
                    .publisher
                    .publish(black_box(&self.room), kind, data, None)
                    .expect("publish");
                black_box(seq);
            }
            total += start.elapsed();
            self.drain(batch);
            left -= batch;
        }
        total
    }
}

fn fanout(c: &mut Criterion) {
    let variants: [(&str, Vec<Codec>); 3] = [
        ("json", vec![Codec::Json; MEMBERS]),
        ("msgpack", vec![Codec::MsgPack; MEMBERS]),
        (
            "json15_msgpack15",
            (0..MEMBERS)
                .map(|index| {
                    if index % 2 == 0 {
                        Codec::Json
                    } else {
                        Codec::MsgPack
                    }
                })
                .collect(),
        ),
    ];
    let mut group = c.benchmark_group("fanout/publish_30_members");
    group.throughput(Throughput::Elements(MEMBERS as u64));
    for (name, codecs) in variants {
        let mut fixture = Fixture::new(&codecs);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| fixture.time_publishes(iters));
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = fanout
}
criterion_main!(benches);
