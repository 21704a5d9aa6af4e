//! What Roblox's `JSONEncode` makes of the SDK's data — `[]` for an empty table, missing fields
//! instead of nulls, integers as doubles — is accepted by classhub, and values JSON cannot hold
//! (NaN, infinity, mixed tables) are cleaned before they are queued rather than lost.

use serde_json::Value;

use crate::support::{TENANT, TestServer, started_game, stat, stop_hub};

#[tokio::test]
async fn roblox_shaped_events_are_accepted() {
    let server = TestServer::start().await;
    let mut game = started_game(&server, "").await;
    game.add_player(77, "builderman", "Builder")
        .expect("player joins");
    game.run_script(
        "track",
        r#"
        local player = game:GetService("Players"):GetPlayerByUserId(77)
        assert(hub:Track(nil, "round_started"))                                -- no player, no data
        assert(hub:Track(player, "checkpoint", {}))                            -- data: []
        assert(hub:Track(player, "quiz_answer", { correct = true, time = 0/0, tries = 2.0 }))
        assert(hub:Track(player, "inventory", { items = {}, slots = { 1, 2, nil, 4 }, tags = { "a", x = 1 } }))
        assert(hub:SetProgress(player, "fractions-1", math.huge))              -- clamped to 100
        "#,
        5.0,
    )
    .await
    .expect("tracked");
    assert!(stop_hub(&mut game).await, "everything sent");
    assert_eq!(stat(&game, "sent"), 5, "classhub accepted every event");
    assert_eq!(stat(&game, "rejected"), 0);
    assert_eq!(server.stored_event_ids(TENANT).await.len(), 5);

    let bodies: Vec<Value> = game
        .requests()
        .iter()
        .filter(|request| request.path.ends_with("/roblox/events"))
        .filter_map(|request| serde_json::from_str(request.body.as_deref()?).ok())
        .collect();
    let events: Vec<&Value> = bodies
        .iter()
        .flat_map(|body| body["events"].as_array().into_iter().flatten())
        .collect();
    let by_kind = |kind: &str| {
        *events
            .iter()
            .find(|event| event["kind"] == kind)
            .unwrap_or_else(|| panic!("an event of kind {kind}"))
    };
    assert_eq!(
        by_kind("round_started")["data"],
        serde_json::json!([]),
        "Roblox writes {{}} as []"
    );
    assert!(
        by_kind("round_started").get("player").is_none(),
        "no null: the field is missing"
    );
    assert_eq!(by_kind("checkpoint")["data"], serde_json::json!([]));
    assert!(
        by_kind("quiz_answer")["data"].get("time").is_none(),
        "NaN is dropped"
    );
    assert_eq!(by_kind("progress")["data"]["percent"], 100);
}
