//! Codec benches: the cost of one frame through each wire codec (JSON and MessagePack).
//!
//! Three operations, each per codec, each reported per frame (`Throughput::Elements(1)`):
//!
//! - `codec/encode_server_event`: `Codec::encode` of a server `event` frame carrying a `progress`
//!   payload (the golden `server/event.json`), which the hub does once per codec per publish;
//! - `codec/decode_client_publish`: `Codec::decode` (with the default `Limits` checks) of a
//!   client `publish` frame (the golden `client/publish.json`), which a transport does for every
//!   frame a client sends;
//! - `codec/decode_server_event`: `Codec::decode_server` of the same `event` frame, which clients
//!   (tests, the load-test harness) do for every frame they receive.
//!
//! The frames are the golden frames of the protocol crate, so the benches measure what the wire
//! contract actually carries; the MessagePack frames are those frames re-encoded by the codec.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol::{ClientMessage, Codec, Limits, ServerMessage};

/// The golden server `event` frame (a `progress` event), in JSON.
const SERVER_EVENT_JSON: &str = include_str!("../../protocol/tests/golden/server/event.json");
/// The golden client `publish` frame (a `chat` message), in JSON.
const CLIENT_PUBLISH_JSON: &str = include_str!("../../protocol/tests/golden/client/publish.json");

fn codec_name(codec: Codec) -> &'static str {
    match codec {
        Codec::Json => "json",
        Codec::MsgPack => "msgpack",
    }
}

/// The server `event` message of the golden frame.
fn server_event() -> ServerMessage {
    let message = Codec::Json
        .decode_server(SERVER_EVENT_JSON.trim().as_bytes())
        .expect("the golden server event frame decodes");
    assert!(
        matches!(&message, ServerMessage::Event(body) if body.kind == "progress"),
        "the golden server event frame should be a progress event, got {message:?}"
    );
    message
}

/// The client `publish` message of the golden frame.
fn client_publish() -> ClientMessage {
    let decoded = Codec::Json
        .decode(CLIENT_PUBLISH_JSON.trim().as_bytes(), &Limits::default())
        .expect("the golden client publish frame decodes");
    assert!(
        matches!(decoded.message, ClientMessage::Publish { .. }),
        "the golden client publish frame should be a publish, got {:?}",
        decoded.message
    );
    decoded.message
}

fn encode_server_event(c: &mut Criterion) {
    let message = server_event();
    let mut group = c.benchmark_group("codec/encode_server_event");
    group.throughput(Throughput::Elements(1));
    for codec in Codec::ALL {
        group.bench_function(codec_name(codec), |b| {
            b.iter(|| {
                codec
                    .encode(black_box(&message))
                    .expect("a server event encodes")
            });
        });
    }
    group.finish();
}

fn decode_client_publish(c: &mut Criterion) {
    let message = client_publish();
    let limits = Limits::default();
    let mut group = c.benchmark_group("codec/decode_client_publish");
    group.throughput(Throughput::Elements(1));
    for codec in Codec::ALL {
        let frame = codec.encode(&message).expect("a client publish encodes");
        let decoded = codec
            .decode(&frame, &limits)
            .expect("the re-encoded client publish decodes");
        assert_eq!(decoded.message, message, "{} round trip", codec_name(codec));
        println!(
            "codec/decode_client_publish/{}: frame is {} bytes",
            codec_name(codec),
            frame.len()
        );
        group.bench_function(codec_name(codec), |b| {
            b.iter(|| {
                codec
                    .decode(black_box(&frame), &limits)
                    .expect("a client publish decodes")
            });
        });
    }
    group.finish();
}

fn decode_server_event(c: &mut Criterion) {
    let message = server_event();
    let mut group = c.benchmark_group("codec/decode_server_event");
    group.throughput(Throughput::Elements(1));
    for codec in Codec::ALL {
        let frame = codec.encode(&message).expect("a server event encodes");
        let decoded = codec
            .decode_server(&frame)
            .expect("the re-encoded server event decodes");
        assert_eq!(decoded, message, "{} round trip", codec_name(codec));
        println!(
            "codec/decode_server_event/{}: frame is {} bytes",
            codec_name(codec),
            frame.len()
        );
        group.bench_function(codec_name(codec), |b| {
            b.iter(|| {
                codec
                    .decode_server(black_box(&frame))
                    .expect("a server event decodes")
            });
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
    targets = encode_server_event, decode_client_publish, decode_server_event
}
criterion_main!(benches);
