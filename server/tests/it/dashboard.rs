//! The dashboard's server side: its files are served from the binary with a strict content
//! policy, the operator overview reports live connections and rooms, and `serve --demo` makes a
//! class of 30 whose simulated game servers bring students online and progress in through the
//! real Roblox routes. (The dashboard itself runs in a real browser in `admin/tests/`.)

use std::time::Duration;

use serde_json::Value;
use server::auth::Role;

use crate::rest::Rest;
use crate::support::{Client, PATIENCE, SECRET, start_server, token};

#[tokio::test]
async fn the_dashboard_is_served_from_the_binary_under_a_strict_content_policy() {
    let test = start_server().await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", test.addr);
    for path in ["/dashboard", "/dashboard/"] {
        let page = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("page");
        assert_eq!(page.status(), 200, "{path}");
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        let policy = page.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        let html = page.text().await.expect("html");
        assert!(html.contains("/dashboard/js/main.js"), "{html}");
    }
    let script = http
        .get(format!("{base}/dashboard/js/live.js"))
        .send()
        .await
        .expect("script");
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let missing = http
        .get(format!("{base}/dashboard/js/nope.js"))
        .send()
        .await
        .expect("missing");
    assert_eq!(missing.status(), 404);
    let missing: Value = missing.json().await.expect("json");
    assert_eq!(missing["error"]["code"], "not_found");
}

#[tokio::test]
async fn the_page_is_told_about_webtransport_only_when_quic_is_on() {
    let http = reqwest::Client::new();
    let plain = start_server().await;
    let offer: Value = http
        .get(format!("http://{}/dashboard/transport.json", plain.addr))
        .send()
        .await
        .expect("transport")
        .json()
        .await
        .expect("json");
    assert_eq!(offer["webtransport"], Value::Null);

    let test = crate::support::start_quic_with(|_| {}).await;
    let listening = test.quic.as_ref().expect("quic");
    let base = format!("http://{}", test.addr);
    let offer: Value = http
        .get(format!("{base}/dashboard/transport.json"))
        .send()
        .await
        .expect("transport")
        .json()
        .await
        .expect("json");
    assert_eq!(offer["webtransport"]["port"], listening.addr.port());
    assert_eq!(offer["webtransport"]["path"], "/native");
    assert_eq!(
        offer["webtransport"]["certificate_sha256"], listening.sha256,
        "a generated certificate is announced by its hash"
    );
    let page = http
        .get(format!("{base}/dashboard"))
        .send()
        .await
        .expect("page");
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        policy.contains(&format!("https://*:{}", listening.addr.port())),
        "{policy}"
    );
}

#[tokio::test]
async fn the_operator_overview_counts_live_connections_and_lists_the_tenants_rooms() {
    let test = start_server().await;
    let rest = Rest::new(test.addr);
    let admin = token("ops", Role::Admin, "a1");
    let before = rest.get("/api/v1/admin/overview", &admin).await;
    let before = before.expect(200)["nodes"][0]["connections"]
        .as_u64()
        .expect("count");
    let mut teacher = Client::connect(test.addr, &token("ops", Role::Educator, "t1")).await;
    teacher.join("class:ops:math").await;
    let mut other_tenant =
        Client::connect(test.addr, &token("elsewhere", Role::Educator, "t9")).await;
    other_tenant.join("class:elsewhere:secret").await;
    let overview = rest.get("/api/v1/admin/overview", &admin).await;
    let overview = overview.expect(200);
    assert_eq!(overview["nodes"][0]["connections"], before + 2);
    assert_eq!(overview["tenant"], "ops");
    let rooms: Vec<&str> = overview["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .filter_map(|room| room["id"].as_str())
        .collect();
    assert_eq!(
        rooms,
        ["class:ops:math"],
        "only the caller's tenant's rooms"
    );
    assert_eq!(overview["rooms"][0]["members"], 1);
    assert!(
        overview["sink"]["queue_capacity"]
            .as_u64()
            .expect("capacity")
            > 0
    );
    let educator = rest
        .get(
            "/api/v1/admin/overview",
            &token("ops", Role::Educator, "t1"),
        )
        .await;
    assert_eq!(educator.status, 403);
}

#[tokio::test]
async fn the_demo_seeds_a_class_of_thirty_that_its_game_servers_bring_online() {
    let test = start_server().await;
    let links = server::demo::start(&test.server, SECRET)
        .await
        .expect("the demo starts");
    assert!(
        links.teacher.contains("/dashboard#token="),
        "{}",
        links.teacher
    );
    let teacher = token(server::demo::TENANT, Role::Educator, server::demo::TEACHER);
    let rest = Rest::new(test.addr);
    let path = format!("/api/v1/classes/{}/live", links.class_id);
    let deadline = tokio::time::Instant::now() + PATIENCE * 3;
    loop {
        let live = rest.get(&path, &teacher).await;
        let live = live.expect(200);
        let students = live["students"].as_array().expect("students");
        assert_eq!(students.len(), 30);
        let in_game: std::collections::HashSet<&str> = live["online"]
            .as_array()
            .expect("online")
            .iter()
            .filter(|member| member["state"]["in_game"] == true)
            .filter_map(|member| member["user"].as_str())
            .collect();
        let in_game = in_game.len();
        let progressing = students
            .iter()
            .filter(|student| student["lessons_started"].as_u64() > Some(0))
            .count();
        if in_game >= 20 && progressing >= 20 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the demo's game servers did not bring the class online: {live}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The learning loop: the course is assigned to the class, and the players' quiz answers
    // are scored into results that analytics averages.
    let assigned = rest
        .get(
            &format!("/api/v1/classes/{}/assignments", links.class_id),
            &teacher,
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(
        assigned["assignments"].as_array().map(Vec::len),
        Some(1),
        "{assigned}"
    );
    loop {
        let analytics = rest
            .get(
                &format!("/api/v1/analytics/classes/{}", links.class_id),
                &teacher,
            )
            .await
            .expect(200)
            .clone();
        let scored = analytics["quiz_averages"]
            .as_array()
            .is_some_and(|averages| {
                averages
                    .iter()
                    .any(|quiz| quiz["attempts"].as_u64() > Some(0))
            });
        if scored {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline + PATIENCE * 3,
            "no scored quiz answers in the demo's analytics: {analytics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A second run on the same database finds what the first made.
    let again = server::demo::start(&test.server, SECRET)
        .await
        .expect("the demo starts again");
    assert_eq!(again.class_id, links.class_id);
    let assigned = rest
        .get(
            &format!("/api/v1/classes/{}/assignments", links.class_id),
            &teacher,
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(
        assigned["assignments"].as_array().map(Vec::len),
        Some(1),
        "{assigned}"
    );
}
