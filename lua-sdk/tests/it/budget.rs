//! The SDK's HTTP stays under its request budget (400 a minute by default) whatever the load:
//! 10,000 `Track` calls in one simulated minute, a rush of link attempts and players coming and
//! going, all through one token bucket, long-polls included. Requests are counted by the
//! harness, at their virtual start time.

use lua_sdk::{Harness, RequestRecord};

use crate::support::{TENANT, TestServer, started_game, stat, stop_hub};

/// 10,000 events in one minute (100 every 0.6 s) and `LINKS` link attempts at once (a wrong
/// class code: the server may also rate-limit them; each attempt is still one request).
const LOAD: &str = r#"
    local Players = game:GetService("Players")
    links_done = 0
    for i = 1, LINKS do
        task.spawn(function()
            hub:LinkPlayerAsync(Players:GetPlayers()[1 + i % 20], "NOPE42", "ZZZZZZ")
            links_done += 1
        end)
    end
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

/// Runs the load against a fresh server and returns the harness once every event is stored.
async fn carry_load(config_extra: &str, links: usize) -> (TestServer, Harness) {
    let server = TestServer::start().await;
    let mut game = started_game(&server, config_extra).await;
    for user in 0..20 {
        game.add_player(
            2000 + user,
            &format!("player{user}"),
            &format!("Player {user}"),
        )
        .expect("player joins");
    }
    game.spawn("load", &LOAD.replace("LINKS", &links.to_string()))
        .expect("spawn load");
    // Players come and go during the minute.
    for round in 0..10 {
        game.run_for(6.0).await.expect("run");
        game.remove_player(2000 + round).expect("player leaves");
        game.add_player(3000 + round, &format!("late{round}"), "Late")
            .expect("player joins");
    }
    let all_links = format!("tracking_done == true and links_done == {links}");
    game.run_until(
        "10,000 events committed and every link answered",
        3600.0,
        |game| Ok(game.eval::<bool>(&all_links)? && stat(game, "sent") == 10_000),
    )
    .await
    .expect("the load is carried");
    assert!(stop_hub(&mut game).await, "StopAsync sent everything");
    assert_eq!(
        server.stored_event_ids(TENANT).await.len(),
        10_000,
        "every event is stored, once"
    );
    let link_requests = game
        .requests()
        .iter()
        .filter(|request| request.path.ends_with("/roblox/link"))
        .count();
    assert_eq!(link_requests, links, "every link attempt was one request");
    (server, game)
}

#[tokio::test]
async fn ten_thousand_events_in_a_minute_stay_under_400_requests_a_minute() {
    let (_server, game) = carry_load("", 1000).await;
    let busiest = busiest_minute(&game.requests());
    assert!(
        busiest <= 400,
        "{busiest} requests started within one minute"
    );
    assert!(
        busiest >= 200,
        "the load should press on the budget (busiest minute: {busiest})"
    );
}

#[tokio::test]
async fn a_smaller_budget_holds_under_the_same_load() {
    // The same load needs well over 100 requests a minute (see the test above): here the
    // bucket, not the load, sets the pace, and everything still arrives.
    let (_server, game) = carry_load("requestsPerMinute = 100", 100).await;
    let busiest = busiest_minute(&game.requests());
    assert!(
        busiest <= 100,
        "{busiest} requests started within one minute"
    );
}
