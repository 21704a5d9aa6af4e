//! A teacher's command reaches the game server by long-poll: a reward carrying a badge id is
//! awarded through BadgeService, handed to `CommandReceived` handlers, acked, and the teacher's
//! socket sees the ack.

use protocol::ServerMessage;
use serde_json::json;
use server::auth::Role;

use crate::support::{Socket, TENANT, TestServer, started_game, stop_hub, token};

#[tokio::test]
async fn a_reward_is_awarded_by_badge_acked_and_the_teacher_sees_the_ack() {
    let server = TestServer::start().await;
    let mut game = started_game(&server, "").await;
    game.add_player(1001, "ada", "Ada").expect("player joins");
    game.eval::<()>(
        r#"(function()
            received = {}
            hub.CommandReceived:Connect(function(command)
                table.insert(received, command.kind .. ":" .. tostring(command.data.badge_id))
            end)
        end)()"#,
    )
    .expect("handler");
    game.run_for(3.0).await.expect("players reported");

    let room = format!("game:{TENANT}:{}", game.options().job_id);
    let mut teacher = Socket::connect(server.addr, &token(TENANT, Role::Educator, "t-1")).await;
    teacher.join(&room).await;
    teacher
        .send(json!({
            "type": "publish",
            "room": room,
            "kind": "reward",
            "data": {"badge_id": 2124, "points": 10, "reason": "great work"},
        }))
        .await;

    game.run_until("the badge is awarded", 120.0, |game| {
        Ok(game.badge_awards().contains(&(1001, 2124)))
    })
    .await
    .expect("the reward arrives by long-poll");
    game.run_until("the ack is accepted", 60.0, |game| {
        Ok(game
            .requests()
            .iter()
            .any(|request| request.path.ends_with("/commands/ack") && request.status == Some(200)))
    })
    .await
    .expect("the reward is acked");
    let received: Vec<String> = game.eval("received").expect("received");
    assert_eq!(
        received,
        ["reward:2124"],
        "the game's handler saw the reward once"
    );

    // The teacher's socket sees the command delivered, then acked.
    let acked = teacher
        .recv_until(|message| {
            matches!(message, ServerMessage::Event(event)
                if event.kind == "command_status" && event.data["status"] == "acked")
        })
        .await;
    let ServerMessage::Event(acked) = acked else {
        unreachable!("matched above")
    };
    assert_eq!(acked.data["kind"], "reward", "{:?}", acked.data);
    assert!(acked.data["command_id"].is_string(), "{:?}", acked.data);
    assert!(stop_hub(&mut game).await);
    assert_eq!(game.badge_awards(), [(1001, 2124)], "awarded once");
}
