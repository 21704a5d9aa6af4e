//! The game session's life: a wrong key is reported (not thrown) and tracking goes on; a
//! MessagingService "poll" message cuts the command long-poll's wait short.

use lua_sdk::{Fault, FaultKind, Harness, Options};
use serde_json::json;
use server::auth::Role;

use crate::support::{Socket, TENANT, TestServer, game_for, start_hub, stop_hub, token};

#[tokio::test]
async fn a_wrong_key_is_reported_and_tracking_goes_on() {
    let server = TestServer::start().await;
    let wrong_key = roblox::keys::generate().key;
    let mut game = Harness::new(Options::new(server.base_url()).secret("classhub_key", &wrong_key))
        .expect("harness");
    game.run_script(
        "start",
        r#"
        hub = ClassHub.new({ baseUrl = BASE_URL, secretName = "classhub_key" })
        started, reason = hub:StartAsync()
        still_tracking = hub:Track(nil, "round_started")
        "#,
        120.0,
    )
    .await
    .expect("StartAsync returns instead of throwing");
    let (started, reason, tracking): (bool, String, bool) = game
        .eval("started, reason, still_tracking")
        .expect("results");
    assert!(!started);
    assert!(
        reason.contains("401") && reason.contains("unauthorized"),
        "{reason}"
    );
    assert!(tracking, "events are still queued");
    let warnings = game.warnings().join("\n");
    assert!(
        warnings.contains("check the game-server key in the Secrets store"),
        "{warnings}"
    );
    assert!(!stop_hub(&mut game).await, "the event could not be sent");
}

#[tokio::test]
async fn a_messaging_service_poll_message_cuts_the_wait_short() {
    let server = TestServer::start().await;
    let mut game = game_for(&server).await;
    // The first long-poll is refused with a long Retry-After: the poll loop sleeps two minutes.
    game.inject(Fault::new(
        "GET",
        "/commands",
        FaultKind::Status {
            status: 503,
            retry_after: Some(120),
        },
        1,
    ));
    start_hub(&mut game, "").await;
    game.eval::<()>(
        r#"(function()
            announced = nil
            hub.CommandReceived:Connect(function(command)
                announced = command.data.text
                hub:AckCommand(command)
            end)
        end)()"#,
    )
    .expect("handler");
    game.run_until("the poll is refused", 60.0, |game| {
        Ok(game.faults_left() == 0)
    })
    .await
    .expect("a poll");
    let polls = |game: &Harness| {
        game.requests()
            .iter()
            .filter(|request| request.path.contains("/commands?"))
            .count()
    };
    let polls_before = polls(&game);

    let room = format!("game:{TENANT}:{}", game.options().job_id);
    let mut teacher = Socket::connect(server.addr, &token(TENANT, Role::Educator, "t-1")).await;
    teacher.join(&room).await;
    teacher
        .send(json!({"type": "publish", "room": room, "kind": "announce", "data": {"text": "Lunch in 5"}}))
        .await;

    // A message for another session changes nothing.
    game.publish_message(
        "classhub",
        r#"{"type":"poll","session_id":"gs_someone_else"}"#,
    )
    .expect("message");
    game.run_for(5.0).await.expect("run");
    assert_eq!(polls(&game), polls_before, "not our session: still waiting");

    let session_id: String = game.eval("hub:GetStats().sessionId").expect("session id");
    game.publish_message(
        "classhub",
        &json!({"type": "poll", "session_id": session_id}).to_string(),
    )
    .expect("message");
    game.run_until(
        "the announcement arrives well before the Retry-After ends",
        30.0,
        |game| Ok(game.eval::<Option<String>>("announced")?.is_some()),
    )
    .await
    .expect("the wake-up made the SDK poll at once");
    let announced: String = game.eval("announced").expect("announced");
    assert_eq!(announced, "Lunch in 5");
    assert!(stop_hub(&mut game).await);
}
