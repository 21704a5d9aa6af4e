//! `StopAsync` (bound to `game:BindToClose`) sends everything still queued, reports every
//! player as gone and closes the session, even when nothing was due to be sent yet.

use crate::support::{TENANT, TestServer, started_game, stat};

#[tokio::test]
async fn closing_the_game_flushes_every_queued_event() {
    let server = TestServer::start().await;
    // Batches only every hour: nothing is sent until the game closes.
    let mut game = started_game(&server, "flushInterval = 3600, batchSize = 100000").await;
    for user in [11, 12, 13] {
        game.add_player(user, &format!("p{user}"), "P")
            .expect("player joins");
    }
    game.run_script(
        "track",
        r#"
        local Players = game:GetService("Players")
        for i = 1, 250 do
            hub:Track(Players:GetPlayers()[1 + i % 3], "checkpoint", { n = i })
        end
        hub:SetProgress(Players:GetPlayerByUserId(11), "fractions-1", 30)
        hub:SetProgress(Players:GetPlayerByUserId(11), "fractions-1", 80)
        "#,
        5.0,
    )
    .await
    .expect("tracked");
    game.run_for(30.0).await.expect("run");
    let sent_early = game
        .requests()
        .iter()
        .filter(|request| request.path.ends_with("/roblox/events"))
        .count();
    assert_eq!(sent_early, 0, "nothing was due before the game closed");

    let closing = game.close_game().expect("BindToClose callbacks start");
    assert_eq!(
        closing.len(),
        1,
        "StartAsync bound StopAsync to game:BindToClose"
    );
    game.run_scripts("BindToClose finishes", 30.0, &closing)
        .await
        .expect("StopAsync finishes");

    assert_eq!(
        stat(&game, "sent"),
        251,
        "250 events and one merged progress update"
    );
    assert_eq!(server.stored_event_ids(TENANT).await.len(), 251);
    let requests = game.requests();
    let leaves_reported = requests.iter().any(|request| {
        request.path.ends_with("/players")
            && request.body.as_deref().is_some_and(|body| {
                [11, 12, 13]
                    .iter()
                    .all(|user| body.contains(&format!("{{\"user_id\":{user}}}")))
            })
    });
    assert!(leaves_reported, "every player is reported gone");
    let last = requests.last().expect("requests");
    assert_eq!(last.method, "DELETE", "the session is closed last");
    assert_eq!(last.status, Some(200), "the session closed cleanly");
    // After StopAsync, tracking is refused with a warning instead of queueing forever.
    let late: bool = game
        .eval(r#"hub:Track(nil, "late", {})"#)
        .expect("Track after stop");
    assert!(!late);
}

#[tokio::test]
async fn stop_async_gives_up_in_time_when_classhub_is_down() {
    let mut server = TestServer::start().await;
    let mut game = started_game(&server, "stopTimeout = 10").await;
    server.stop().await;
    game.run_script(
        "track",
        r#"for i = 1, 20 do hub:Track(nil, "checkpoint", { n = i }) end"#,
        5.0,
    )
    .await
    .expect("tracked");
    // BindToClose must finish: StopAsync returns within its timeout (virtual seconds here).
    game.run_script("stop", "stopped_clean = hub:StopAsync()", 15.0)
        .await
        .expect("StopAsync returns within stopTimeout");
    let clean: bool = game.eval("stopped_clean").expect("result");
    assert!(!clean, "nothing could be sent");
    let warnings = game.warnings().join("\n");
    assert!(warnings.contains("20 events were not sent"), "{warnings}");
}
