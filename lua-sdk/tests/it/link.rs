//! A player types the class code and their personal link code in game: `LinkPlayerAsync`
//! links them to exactly that roster student; the class code alone, a wrong personal code or
//! an unknown class code link nobody and say why. Once linked, a teacher's reward for that
//! student reaches only that player.

use serde_json::json;
use server::auth::Role;

use crate::support::{Socket, TENANT, TestServer, started_game, stop_hub, token};

#[tokio::test]
async fn players_link_with_their_personal_code_and_targeted_rewards_reach_only_them() {
    let server = TestServer::start().await;
    server
        .seed_class(
            TENANT,
            "c-math",
            "MATH42",
            &[("s-ada", "Ada"), ("s-bo", "Bo")],
        )
        .await;
    let ada_code = server.link_code(TENANT, "c-math", "s-ada").await;
    let bo_code = server.link_code(TENANT, "c-math", "s-bo").await;
    let mut game = started_game(&server, "").await;
    game.add_player(1001, "ada_builds", "Ada")
        .expect("player joins");
    game.add_player(1002, "zed", "Zed").expect("player joins");
    let script = r#"
        local Players = game:GetService("Players")
        linked_events = {}
        hub.PlayerLinked:Connect(function(player, studentId)
            table.insert(linked_events, tostring(player.UserId) .. "=" .. studentId)
        end)
        local ada_player = Players:GetPlayerByUserId(1001)
        local zed_player = Players:GetPlayerByUserId(1002)
        -- Ada's name matches a roster student, but the class code alone links nobody.
        ada_no_code = hub:LinkPlayerAsync(ada_player, "MATH42")
        -- A made-up code is refused by classhub, naming the personal code.
        ada_wrong = hub:LinkPlayerAsync(ada_player, "MATH42", "ZZZZZZ")
        -- Her own code links her; both codes typed loosely.
        ada = hub:LinkPlayerAsync(ada_player, " math-42 ", string.lower("ADA_CODE"))
        -- Zed (whose name matches nobody) links to Bo with Bo's code.
        zed = hub:LinkPlayerAsync(zed_player, "MATH42", "BO_CODE")
        unknown = hub:LinkPlayerAsync(zed_player, "NOPE99", "BO_CODE")
    "#
    .replace("ADA_CODE", &ada_code)
    .replace("BO_CODE", &bo_code);
    game.run_script("link", &script, 120.0)
        .await
        .expect("links answered");

    let no_code: (bool, String) = game
        .eval("ada_no_code.linked, ada_no_code.error")
        .expect("ada_no_code");
    assert_eq!(no_code, (false, "invalid_input".to_owned()));
    let wrong: (bool, String, String) = game
        .eval("ada_wrong.linked, ada_wrong.error, ada_wrong.message")
        .expect("ada_wrong");
    assert_eq!((wrong.0, wrong.1.as_str()), (false, "invalid_input"));
    assert!(wrong.2.starts_with("student_code: "), "{}", wrong.2);
    let ada: (bool, String, String) = game
        .eval("ada.linked, ada.studentId, ada.classId")
        .expect("ada");
    assert_eq!(ada, (true, "s-ada".to_owned(), "c-math".to_owned()));
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
