//! A JSON client and a MessagePack client in one room see the same events.

use protocol::{Codec, ServerMessage};
use serde_json::json;
use server::auth::Role;

use crate::support::{Auth, Client, event_parts, start_server, token};

const ROOM: &str = "class:acme:c1";

#[tokio::test]
async fn json_and_msgpack_members_see_the_same_events() {
    let test = start_server().await;
    let mut json_client = Client::open(
        test.addr,
        Auth::Query(&token("acme", Role::Student, "s1")),
        Some("classhub.v1.json"),
    )
    .await
    .expect("json");
    let mut msgpack_client = Client::open(
        test.addr,
        Auth::Query(&token("acme", Role::Student, "s2")),
        Some("classhub.v1.msgpack"),
    )
    .await
    .expect("msgpack");
    assert_eq!(
        (json_client.codec, msgpack_client.codec),
        (Codec::Json, Codec::MsgPack)
    );
    json_client.welcome().await;
    msgpack_client.welcome().await;
    json_client.join(ROOM).await;
    msgpack_client.join(ROOM).await;

    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    let payload = json!({"lesson": "fractions-1", "percent": 40, "nested": {"list": [1, 2.5, "three", true], "empty": {}}});
    teacher.publish(ROOM, "lesson_state", payload.clone()).await;
    // No ref: the reply would otherwise interleave with the events read below.
    msgpack_client.send(json!({"type": "publish", "room": ROOM, "kind": "chat", "data": {"text": "from msgpack"}})).await;

    let mut seen = Vec::new();
    for client in [&mut json_client, &mut msgpack_client] {
        let mut events: Vec<ServerMessage> = Vec::new();
        while events.len() < 2 {
            let message = client.recv().await;
            if event_parts(&message).is_some() {
                events.push(message);
            }
        }
        seen.push(events);
    }
    assert_eq!(seen[0], seen[1], "both codecs deliver identical events");
    let (_, kind, data) = event_parts(&seen[0][0]).expect("event");
    assert_eq!((kind, data), ("lesson_state", &payload));
}
