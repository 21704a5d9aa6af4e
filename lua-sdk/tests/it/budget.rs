//! The SDK's HTTP stays under 400 requests in any minute whatever the load: 10,000 `Track`
//! calls in one simulated minute, a thousand link attempts and players coming and going, all
//! through one token bucket, long-polls included. Counted by the harness, in virtual time.

use lua_sdk::RequestRecord;

use crate::support::{TENANT, TestServer, started_game, stat, stop_hub};

const LOAD: &str = r#"
    local Players = game:GetService("Players")
    -- A thousand link attempts at once (a wrong class code: the server may also rate-limit them).
    for i = 1, 1000 do
        task.spawn(function()
            local player = Players:GetPlayers()[1 + i % 20]
            hub:LinkPlayerAsync(player, "NOPE42")
            links_done += 1
        end)
    end
    -- 10,000 events in one minute: 100 every 0.6 seconds.
    for tick = 1, 100 do
        local players = Players:GetPlayers()
        for i = 1, 100 do
            hub:Track(players[1 + i % #players], "step", { tick = tick, i = i })
        end
        task.wait(0.6)
    end
    tracking_done = true
"#;

/// The most requests that started within any 60 virtual seconds.
fn busiest_minute(requests: &[RequestRecord]) -> usize {
    let mut starts: Vec<f64> = requests.iter().map(|request| request.at).collect();
    starts.sort_by(f64::total_cmp);
    let mut busiest = 0;
    let mut first = 0;
    for (last, at) in starts.iter().enumerate() {
        while starts[first] <= at - 60.0 {
            first += 1;
        }
        busiest = busiest.max(last - first + 1);
    }
    busiest
}

#[tokio::test]
async fn ten_thousand_events_in_a_minute_stay_under_400_requests_a_minute() {
    let server = TestServer::start().await;
    let mut game = started_game(&server, "").await;
    for user in 0..20 {
        game.add_player(
            2000 + user,
            &format!("player{user}"),
            &format!("Player {user}"),
        )
        .expect("player joins");
    }
    game.eval::<()>("(function() links_done = 0 end)()")
        .expect("globals");
    game.spawn("load", LOAD).expect("spawn");
    // Players come and go during the minute.
    for round in 0..10 {
        game.run_for(6.0).await.expect("run");
        game.remove_player(2000 + round).expect("player leaves");
        game.add_player(3000 + round, &format!("late{round}"), "Late")
            .expect("player joins");
    }
    game.run_until(
        "10,000 events committed and every link answered",
        900.0,
        |game| {
            Ok(
                game.eval::<bool>("tracking_done == true and links_done == 1000")?
                    && stat(game, "sent") == 10_000,
            )
        },
    )
    .await
    .expect("the load is carried");
    assert!(stop_hub(&mut game).await, "StopAsync sent everything");

    let requests = game.requests();
    let busiest = busiest_minute(&requests);
    assert!(
        busiest <= 400,
        "{busiest} requests started within one minute"
    );
    let links = requests
        .iter()
        .filter(|request| request.path.ends_with("/roblox/link"))
        .count();
    assert_eq!(links, 1000, "every link attempt was one request");
    assert!(
        busiest >= 300,
        "the load should press against the budget (busiest minute: {busiest})"
    );
    let first_minute = requests
        .iter()
        .filter(|request| request.at < requests[0].at + 60.0)
        .count();
    assert!(
        first_minute <= 400,
        "{first_minute} requests in the first minute"
    );

    let stored = server.stored_event_ids(TENANT).await;
    assert_eq!(stored.len(), 10_000, "every event is stored, once");
}
