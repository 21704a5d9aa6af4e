//! Events reach the database exactly once, whatever happens on the way: refusals that never
//! reached the server (503, 429, 500), throws before sending, answers lost after the server
//! committed, and the server going away and coming back on the same address.

use std::collections::HashSet;

use lua_sdk::{Fault, FaultKind};

use crate::support::{TENANT, TestServer, started_game, stat, stop_hub};

const TRACK_300: &str = r#"
    local player = game:GetService("Players"):GetPlayerByUserId(1001)
    for i = 1, 300 do
        hub:Track(player, "checkpoint", { n = i, half = HALF })
        if i % 25 == 0 then
            task.wait(0.5)
        end
    end
    tracked[HALF] = true
"#;

#[tokio::test]
async fn events_are_stored_exactly_once_through_faults_and_a_restart() {
    let mut server = TestServer::start().await;
    let mut game = started_game(&server, "").await;
    game.add_player(1001, "ada", "Ada").expect("player joins");
    let faults = [
        (
            FaultKind::Status {
                status: 503,
                retry_after: Some(2),
            },
            2,
        ),
        (FaultKind::Throw, 2),
        (FaultKind::LoseResponse, 3),
        (
            FaultKind::Status {
                status: 429,
                retry_after: Some(1),
            },
            1,
        ),
        (
            FaultKind::Status {
                status: 500,
                retry_after: None,
            },
            1,
        ),
    ];
    for (kind, times) in faults {
        game.inject(Fault::new("POST", "/api/v1/roblox/events", kind, times));
    }

    game.eval::<()>("(function() tracked = {} end)()")
        .expect("globals");
    game.spawn("first half", &TRACK_300.replace("HALF", "1"))
        .expect("spawn");
    game.run_until(
        "the first 300 events are committed and every fault was met",
        600.0,
        |game| Ok(stat(game, "sent") == 300 && game.faults_left() == 0),
    )
    .await
    .expect("first half delivered");

    // The server restarts while the second half is being tracked and sent.
    game.spawn("second half", &TRACK_300.replace("HALF", "2"))
        .expect("spawn");
    game.run_for(2.0).await.expect("run");
    server.stop().await;
    game.run_for(15.0)
        .await
        .expect("the SDK keeps going while classhub is down");
    server.start_again().await;
    game.run_until("all 600 events are committed", 600.0, |game| {
        Ok(game.eval::<bool>("tracked[2] == true")? && stat(game, "sent") == 600)
    })
    .await
    .expect("second half delivered after the restart");
    assert!(stop_hub(&mut game).await, "StopAsync sent everything");

    let stored = server.stored_event_ids(TENANT).await;
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "an event id is stored once");
    let made: HashSet<String> = game.guids().into_iter().collect();
    let stored: HashSet<String> = stored.into_iter().collect();
    assert_eq!(stored.len(), 600, "every tracked event is stored");
    assert_eq!(stored, made, "the stored ids are the ids the SDK made");
    assert_eq!(stat(&game, "dropped"), 0);
    assert_eq!(stat(&game, "rejected"), 0);
    let lost_then_resent = game
        .requests()
        .iter()
        .filter(|request| request.fault == Some(FaultKind::LoseResponse))
        .count();
    assert_eq!(
        lost_then_resent, 3,
        "answers were lost after the server committed"
    );
    let sessions_opened = game
        .requests()
        .iter()
        .filter(|request| request.method == "POST" && request.path == "/api/v1/roblox/sessions")
        .count();
    assert!(
        sessions_opened >= 2,
        "the restarted server forgot the session; the SDK opened it again"
    );
}
