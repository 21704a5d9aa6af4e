//! A player types the class code in game: `LinkPlayerAsync` links them to the roster student
//! whose name matches, offers the candidates when none or several do, and says so when the
//! code is unknown. Once linked, a teacher's reward for that student reaches only that player.

use serde_json::json;
use server::auth::Role;

use crate::support::{Socket, TENANT, TestServer, started_game, stop_hub, token};

#[tokio::test]
async fn players_link_by_class_code_and_targeted_rewards_reach_only_them() {
    let server = TestServer::start().await;
    server
        .seed_class(
            TENANT,
            "c-math",
            "MATH42",
            &[("s-ada", "Ada"), ("s-bo", "Bo")],
        )
        .await;
    let mut game = started_game(&server, "").await;
    game.add_player(1001, "ada_builds", "Ada")
        .expect("player joins");
    game.add_player(1002, "zed", "Zed").expect("player joins");
    game.run_script(
        "link",
        r#"
        local Players = game:GetService("Players")
        linked_events = {}
        hub.PlayerLinked:Connect(function(player, studentId)
            table.insert(linked_events, tostring(player.UserId) .. "=" .. studentId)
        end)
        -- Ada's display name matches one roster student; the code is typed loosely.
        ada = hub:LinkPlayerAsync(Players:GetPlayerByUserId(1001), " math-42 ")
        -- Zed matches nobody: the roster is offered, and Zed picks Bo.
        zed_first = hub:LinkPlayerAsync(Players:GetPlayerByUserId(1002), "MATH42")
        zed = hub:LinkPlayerAsync(Players:GetPlayerByUserId(1002), "MATH42", "s-bo")
        unknown = hub:LinkPlayerAsync(Players:GetPlayerByUserId(1002), "NOPE99")
        "#,
        120.0,
    )
    .await
    .expect("links answered");

    let ada: (bool, String, String) = game
        .eval("ada.linked, ada.studentId, ada.classId")
        .expect("ada");
    assert_eq!(ada, (true, "s-ada".to_owned(), "c-math".to_owned()));
    let zed_first: (bool, usize) = game
        .eval("zed_first.linked, #zed_first.candidates")
        .expect("zed_first");
    assert_eq!(
        zed_first,
        (false, 2),
        "no name matched: the roster is offered"
    );
    let zed: (bool, String) = game.eval("zed.linked, zed.studentId").expect("zed");
    assert_eq!(zed, (true, "s-bo".to_owned()));
    let unknown: (bool, String) = game.eval("unknown.linked, unknown.error").expect("unknown");
    assert_eq!(unknown, (false, "not_found".to_owned()));
    game.run_until("PlayerLinked fired for both", 10.0, |game| {
        Ok(game.eval::<usize>("#linked_events")? == 2)
    })
    .await
    .expect("PlayerLinked");
    let student: String = game
        .eval("hub:GetStudentId(game:GetService('Players'):GetPlayerByUserId(1002))")
        .expect("student id");
    assert_eq!(student, "s-bo");

    // A reward for Bo reaches Zed's account only.
    let room = format!("game:{TENANT}:{}", game.options().job_id);
    let mut teacher = Socket::connect(
        server.addr,
        &token(TENANT, Role::Educator, "c-math-teacher"),
    )
    .await;
    teacher.join(&room).await;
    teacher
        .send(json!({
            "type": "publish",
            "room": room,
            "kind": "reward",
            "data": {"badge_id": 77, "target": "s-bo"},
        }))
        .await;
    game.run_until("Bo's badge is awarded", 120.0, |game| {
        Ok(!game.badge_awards().is_empty())
    })
    .await
    .expect("the reward arrives");
    assert!(stop_hub(&mut game).await);
    assert_eq!(
        game.badge_awards(),
        [(1002, 77)],
        "only the targeted player"
    );
}
