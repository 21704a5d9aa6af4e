//! The Pusher protocol 7 front door, spoken by a tokio-tungstenite client the way pusher-js
//! speaks it, and the Pusher HTTP API signed the way the Pusher server libraries sign it.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use protocol::ServerMessage;
use protocol::pusher::{PusherClose, PusherFrame, sign};
use serde_json::{Value, json};
use server::auth::Role;
use server::transport::pusher_apps::PusherApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::Message;

use crate::support::{Client, PATIENCE, TestServer, start_server, token};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

struct PusherClient {
    ws: Ws,
    socket_id: String,
}

enum Next {
    Frame(PusherFrame),
    Closed(Option<u16>),
}

impl PusherClient {
    async fn connect(addr: SocketAddr, key: &str) -> PusherClient {
        let mut client = PusherClient::open(addr, key, 7).await;
        let Next::Frame(established) = client.next().await else {
            panic!("closed before connection_established")
        };
        assert_eq!(established.event, "pusher:connection_established");
        let data: Value =
            serde_json::from_str(established.data.as_str().expect("string data")).expect("json");
        client.socket_id = data["socket_id"].as_str().expect("socket_id").to_owned();
        assert!(data["activity_timeout"].is_u64());
        client
    }

    async fn open(addr: SocketAddr, key: &str, protocol: u32) -> PusherClient {
        let url = format!(
            "ws://{addr}/app/{key}?protocol={protocol}&client=js&version=8.4.0&flash=false"
        );
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        PusherClient {
            ws,
            socket_id: String::new(),
        }
    }

    async fn send(&mut self, event: &str, channel: Option<&str>, data: Value) {
        let mut frame = json!({"event": event, "data": data});
        if let Some(channel) = channel {
            frame["channel"] = json!(channel);
        }
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .expect("send");
    }

    async fn next(&mut self) -> Next {
        loop {
            let next = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame within PATIENCE");
            match next {
                Some(Ok(Message::Text(text))) => {
                    return Next::Frame(serde_json::from_str(text.as_str()).expect("pusher frame"));
                }
                Some(Ok(Message::Close(close))) => {
                    return Next::Closed(close.map(|frame| u16::from(frame.code)));
                }
                None | Some(Err(_)) => return Next::Closed(None),
                Some(Ok(_)) => continue,
            }
        }
    }

    async fn recv(&mut self) -> PusherFrame {
        match self.next().await {
            Next::Frame(frame) => frame,
            Next::Closed(code) => panic!("closed ({code:?}) while waiting for a frame"),
        }
    }

    async fn recv_event(&mut self, event: &str) -> PusherFrame {
        loop {
            let frame = self.recv().await;
            if frame.event == event {
                return frame;
            }
        }
    }

    async fn close_code(&mut self) -> Option<u16> {
        loop {
            if let Next::Closed(code) = self.next().await {
                return code;
            }
        }
    }

    /// Subscribes (with the answer of /pusher/auth when given) and returns the answer frame.
    async fn subscribe(&mut self, channel: &str, auth: Option<&Value>) -> PusherFrame {
        let mut data = json!({"channel": channel});
        if let Some(auth) = auth {
            data["auth"] = auth["auth"].clone();
            if let Some(channel_data) = auth.get("channel_data") {
                data["channel_data"] = channel_data.clone();
            }
        }
        self.send("pusher:subscribe", None, data).await;
        loop {
            let frame = self.recv().await;
            if frame.channel.as_deref() == Some(channel)
                && matches!(
                    frame.event.as_str(),
                    "pusher_internal:subscription_succeeded" | "pusher:subscription_error"
                )
            {
                return frame;
            }
        }
    }
}

fn string_data(frame: &PusherFrame) -> Value {
    serde_json::from_str(frame.data.as_str().expect("string data")).expect("json data")
}

fn app_of(test: &TestServer, tenant: &str) -> PusherApp {
    test.server.app().apps().for_tenant(tenant)
}

/// A raw HTTP/1.1 request; returns (status, JSON body).
async fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tokio::time::timeout(PATIENCE, stream.read_to_string(&mut response))
        .await
        .expect("answer")
        .expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// `path?query` signed like the Pusher server libraries sign it.
fn signed(
    app: &PusherApp,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &str,
    timestamp: u64,
) -> String {
    let mut query: Vec<(String, String)> = vec![
        ("auth_key".into(), app.key.clone()),
        ("auth_timestamp".into(), timestamp.to_string()),
        ("auth_version".into(), "1.0".into()),
    ];
    if !body.is_empty() {
        query.push(("body_md5".into(), sign::body_md5(body.as_bytes())));
    }
    query.extend(
        extra
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
    );
    let signature = sign::hmac_hex(&app.secret, &sign::request_string(method, path, &query));
    query.push(("auth_signature".into(), signature));
    let encoded = serde_urlencoded::to_string(&query).expect("query");
    format!("{path}?{encoded}")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

async fn channel_auth(
    addr: SocketAddr,
    token: &str,
    socket_id: &str,
    channel: &str,
) -> (u16, Value) {
    let body = format!("socket_id={socket_id}&channel_name={channel}");
    let bearer = format!("Bearer {token}");
    http(
        addr,
        "POST",
        "/pusher/auth",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", &bearer),
        ],
        &body,
    )
    .await
}

#[tokio::test]
async fn public_channels_carry_native_publishes_and_signed_http_triggers_both_ways() {
    let test = start_server().await;
    let app = app_of(&test, "acme");
    let mut pusher = PusherClient::connect(test.addr, &app.key).await;
    let subscribed = pusher.subscribe("news", None).await;
    assert_eq!(subscribed.event, "pusher_internal:subscription_succeeded");

    let mut native = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    native.join("channel:acme:news").await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher
        .publish(
            "channel:acme:news",
            "headline",
            json!({"title": "Quiz at 10"}),
        )
        .await;
    let event = pusher.recv_event("headline").await;
    assert_eq!(event.channel.as_deref(), Some("news"));
    assert_eq!(string_data(&event), json!({"title": "Quiz at 10"}));

    let body = json!({"name": "bulletin", "channels": ["news"], "data": "{\"text\":\"hello\"}"})
        .to_string();
    let target = signed(&app, "POST", "/apps/acme/events", &[], &body, now());
    let (status, answer) = http(
        test.addr,
        "POST",
        &target,
        &[("Content-Type", "application/json")],
        &body,
    )
    .await;
    assert_eq!((status, answer), (200, json!({})));
    let event = pusher.recv_event("bulletin").await;
    assert_eq!(event.data, json!("{\"text\":\"hello\"}"));
    let native_event = native
        .recv_until(
            |message| matches!(message, ServerMessage::Event(body) if body.kind == "bulletin"),
        )
        .await;
    let ServerMessage::Event(body) = native_event else {
        unreachable!()
    };
    assert_eq!(
        *body.data,
        json!({"text": "hello"}),
        "native members get the JSON structured"
    );

    // socket_id excludes that socket.
    let body =
        json!({"name": "quiet", "channels": ["news"], "data": "x", "socket_id": pusher.socket_id})
            .to_string();
    let target = signed(&app, "POST", "/apps/acme/events", &[], &body, now());
    assert_eq!(
        http(
            test.addr,
            "POST",
            &target,
            &[("Content-Type", "application/json")],
            &body
        )
        .await
        .0,
        200
    );
    native
        .recv_until(|message| matches!(message, ServerMessage::Event(body) if body.kind == "quiet"))
        .await;
    pusher.send("pusher:ping", None, json!({})).await;
    assert_eq!(
        pusher.recv().await.event,
        "pusher:pong",
        "the excluded socket got nothing before its pong"
    );
}

#[tokio::test]
async fn private_and_presence_channels_need_a_signature_from_pusher_auth() {
    let test = start_server().await;
    let app = app_of(&test, "acme");
    let student = token("acme", Role::Student, "s1");
    let mut pusher = PusherClient::connect(test.addr, &app.key).await;

    let (status, auth) =
        channel_auth(test.addr, &student, &pusher.socket_id, "private-user-s1").await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(
        pusher.subscribe("private-user-s1", Some(&auth)).await.event,
        "pusher_internal:subscription_succeeded"
    );

    let (status, _) = channel_auth(test.addr, &student, &pusher.socket_id, "private-user-s2").await;
    assert_eq!(
        status, 403,
        "a student may not read another student's channel"
    );
    let (status, _) = http(
        test.addr,
        "POST",
        "/pusher/auth",
        &[],
        "socket_id=1.1&channel_name=private-user-s1",
    )
    .await;
    assert_eq!(status, 401);
    let other_tenant = token("globex", Role::Admin, "a1");
    let (status, forged) = channel_auth(
        test.addr,
        &other_tenant,
        &pusher.socket_id,
        "private-user-s2",
    )
    .await;
    assert_eq!(status, 200, "globex's admin gets a globex signature");
    let refused = pusher.subscribe("private-user-s2", Some(&forged)).await;
    assert_eq!(
        refused.event, "pusher:subscription_error",
        "another tenant's signature does not open acme's channel"
    );
    let unsigned = pusher.subscribe("private-game-job1", None).await;
    assert_eq!(unsigned.event, "pusher:subscription_error");

    // A notification published natively into the user's room reaches the Pusher socket.
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher
        .publish("user:acme:s1", "reward", json!({"points": 10}))
        .await;
    let reward = pusher.recv_event("reward").await;
    assert_eq!(reward.channel.as_deref(), Some("private-user-s1"));
    assert_eq!(string_data(&reward), json!({"points": 10}));
}

#[tokio::test]
async fn presence_is_shared_with_native_members_and_client_events_skip_the_sender() {
    let test = start_server().await;
    let app = app_of(&test, "acme");
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join("class:acme:c1").await;

    let mut first = PusherClient::connect(test.addr, &app.key).await;
    let (_, auth) = channel_auth(
        test.addr,
        &token("acme", Role::Student, "s1"),
        &first.socket_id,
        "presence-class-c1",
    )
    .await;
    let succeeded = first.subscribe("presence-class-c1", Some(&auth)).await;
    let presence = string_data(&succeeded);
    assert_eq!(presence["presence"]["count"], 2, "{presence}");
    assert_eq!(presence["presence"]["hash"]["t1"]["name"], "name of t1");
    let ServerMessage::PresenceDiff(diff) = teacher.recv().await else {
        panic!("native teacher sees the join")
    };
    assert_eq!(diff.joins[0].user, "s1");

    let mut second = PusherClient::connect(test.addr, &app.key).await;
    let (_, auth) = channel_auth(
        test.addr,
        &token("acme", Role::Student, "s2"),
        &second.socket_id,
        "presence-class-c1",
    )
    .await;
    second.subscribe("presence-class-c1", Some(&auth)).await;
    let added = first.recv_event("pusher_internal:member_added").await;
    assert_eq!(string_data(&added)["user_id"], "s2");

    second
        .send(
            "client-typing",
            Some("presence-class-c1"),
            json!({"typing": true}),
        )
        .await;
    let typed = first.recv_event("client-typing").await;
    assert_eq!(typed.user_id.as_deref(), Some("s2"));
    let ServerMessage::Event(native_typing) = teacher
        .recv_until(|message| matches!(message, ServerMessage::Event(_)))
        .await
    else {
        unreachable!()
    };
    assert_eq!(
        (native_typing.kind.as_str(), native_typing.from.as_str()),
        ("client-typing", "s2")
    );
    second.send("pusher:ping", None, json!({})).await;
    assert_eq!(
        second.recv().await.event,
        "pusher:pong",
        "the sender does not get its own client event"
    );

    // Over ten client events a second: error 4301, the connection stays.
    for n in 0..15 {
        second
            .send("client-move", Some("presence-class-c1"), json!({"n": n}))
            .await;
    }
    let limited = second.recv_event("pusher:error").await;
    assert_eq!(limited.data["code"], 4301);
    // Client events on public channels are refused.
    second.subscribe("lobby", None).await;
    second.send("client-x", Some("lobby"), json!({})).await;
    assert_eq!(
        second.recv_event("pusher:error").await.data["code"],
        Value::Null
    );

    drop(second);
    let removed = first.recv_event("pusher_internal:member_removed").await;
    assert_eq!(string_data(&removed)["user_id"], "s2");
}

#[tokio::test]
async fn unknown_keys_and_protocols_are_closed_with_pusher_codes() {
    let test = start_server().await;
    let mut unknown = PusherClient::open(test.addr, "nobody-0000000000000000", 7).await;
    let Next::Frame(error) = unknown.next().await else {
        panic!("an error frame first")
    };
    assert_eq!(
        (error.event.as_str(), &error.data["code"]),
        ("pusher:error", &json!(4001))
    );
    assert_eq!(unknown.close_code().await, Some(4001));
    let mut old = PusherClient::open(test.addr, &app_of(&test, "acme").key, 6).await;
    assert_eq!(old.close_code().await, Some(4007));
}

#[tokio::test]
async fn the_http_api_checks_signatures_and_limits_and_reports_channels() {
    let test = start_server().await;
    let app = app_of(&test, "acme");
    let post = |body: &str, target: String| {
        let body = body.to_owned();
        async move {
            http(
                test.addr,
                "POST",
                &target,
                &[("Content-Type", "application/json")],
                &body,
            )
            .await
        }
    };
    let event = json!({"name": "e", "channels": ["news"], "data": "{}"}).to_string();
    let mut tampered = signed(&app, "POST", "/apps/acme/events", &[], &event, now());
    tampered = tampered.replace("auth_signature=", "auth_signature=0");
    assert_eq!(post(&event, tampered).await.0, 401);
    let stale = signed(&app, "POST", "/apps/acme/events", &[], &event, now() - 601);
    let (status, answer) = post(&event, stale).await;
    assert_eq!(status, 401);
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("Timestamp expired"))
    );
    let other_app = app_of(&test, "globex");
    assert_eq!(
        post(
            &event,
            signed(&other_app, "POST", "/apps/acme/events", &[], &event, now())
        )
        .await
        .0,
        401
    );

    let too_many: Vec<String> = (0..101).map(|n| format!("c{n}")).collect();
    let body = json!({"name": "e", "channels": too_many, "data": "{}"}).to_string();
    assert_eq!(
        post(
            &body,
            signed(&app, "POST", "/apps/acme/events", &[], &body, now())
        )
        .await
        .0,
        400
    );
    let body =
        json!({"name": "e", "channels": ["news"], "data": "x".repeat(10 * 1024 + 1)}).to_string();
    assert_eq!(
        post(
            &body,
            signed(&app, "POST", "/apps/acme/events", &[], &body, now())
        )
        .await
        .0,
        413
    );
    let batch: Vec<Value> = (0..11)
        .map(|n| json!({"name": "e", "channel": format!("c{n}"), "data": "{}"}))
        .collect();
    let body = json!({"batch": batch}).to_string();
    assert_eq!(
        post(
            &body,
            signed(&app, "POST", "/apps/acme/batch_events", &[], &body, now())
        )
        .await
        .0,
        400
    );
    let batch: Vec<Value> = (0..3)
        .map(|n| json!({"name": "e", "channel": format!("c{n}"), "data": "{}"}))
        .collect();
    let body = json!({"batch": batch}).to_string();
    assert_eq!(
        post(
            &body,
            signed(&app, "POST", "/apps/acme/batch_events", &[], &body, now())
        )
        .await
        .0,
        200
    );

    // Channel info and users, from presence shared with native members.
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join("class:acme:c1").await;
    let mut pusher = PusherClient::connect(test.addr, &app.key).await;
    let (_, auth) = channel_auth(
        test.addr,
        &token("acme", Role::Student, "s1"),
        &pusher.socket_id,
        "presence-class-c1",
    )
    .await;
    pusher.subscribe("presence-class-c1", Some(&auth)).await;

    let target = signed(
        &app,
        "GET",
        "/apps/acme/channels",
        &[("filter_by_prefix", "presence-"), ("info", "user_count")],
        "",
        now(),
    );
    let (status, channels) = http(test.addr, "GET", &target, &[], "").await;
    assert_eq!(status, 200, "{channels}");
    assert_eq!(channels["channels"]["presence-class-c1"]["user_count"], 2);
    let target = signed(
        &app,
        "GET",
        "/apps/acme/channels/presence-class-c1",
        &[("info", "user_count,subscription_count")],
        "",
        now(),
    );
    let (_, info) = http(test.addr, "GET", &target, &[], "").await;
    assert_eq!(
        info,
        json!({"occupied": true, "user_count": 2, "subscription_count": 2})
    );
    let target = signed(
        &app,
        "GET",
        "/apps/acme/channels/presence-class-c1/users",
        &[],
        "",
        now(),
    );
    let (_, users) = http(test.addr, "GET", &target, &[], "").await;
    let mut ids: Vec<&str> = users["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|user| user["id"].as_str())
        .collect();
    ids.sort();
    assert_eq!(ids, ["s1", "t1"]);

    // terminate_connections closes a signed-in user's sockets with 4009.
    let bearer = format!("Bearer {}", token("acme", Role::Student, "s1"));
    let (status, signin) = http(
        test.addr,
        "POST",
        "/pusher/user-auth",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", &bearer),
        ],
        &format!("socket_id={}", pusher.socket_id),
    )
    .await;
    assert_eq!(status, 200);
    pusher
        .send(
            "pusher:signin",
            None,
            json!({"auth": signin["auth"], "user_data": signin["user_data"]}),
        )
        .await;
    assert_eq!(
        pusher.recv_event("pusher:signin_success").await.event,
        "pusher:signin_success"
    );
    let target = signed(
        &app,
        "POST",
        "/apps/acme/users/s1/terminate_connections",
        &[],
        "{}",
        now(),
    );
    assert_eq!(post("{}", target).await.0, 200);
    assert_eq!(pusher.close_code().await, Some(4009));
}

#[tokio::test]
async fn apps_show_prints_the_credentials_the_server_accepts() {
    let test = start_server().await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_classhub"))
        .args([
            "apps",
            "show",
            "--tenant",
            "acme",
            "--jwt-secret",
            crate::support::SECRET,
        ])
        .env_remove("CLASSHUB_PUSHER_APP_ID")
        .output()
        .expect("run classhub apps show");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(shown["tenant"], "acme");
    assert_eq!(shown["app_id"], "acme");
    let key = shown["key"].as_str().expect("key");
    let mut pusher = PusherClient::connect(test.addr, key).await;
    assert!(!pusher.socket_id.is_empty());
    // The printed secret signs HTTP API calls the server accepts.
    let app = PusherApp {
        tenant: "acme".into(),
        app_id: "acme".into(),
        key: key.to_owned(),
        secret: shown["secret"].as_str().expect("secret").to_owned(),
    };
    pusher.subscribe("news", None).await;
    let body = json!({"name": "hello", "channel": "news", "data": "{}"}).to_string();
    let target = signed(&app, "POST", "/apps/acme/events", &[], &body, now());
    assert_eq!(
        http(
            test.addr,
            "POST",
            &target,
            &[("Content-Type", "application/json")],
            &body
        )
        .await
        .0,
        200
    );
    assert_eq!(
        pusher.recv_event("hello").await.channel.as_deref(),
        Some("news")
    );
}

/// A local webhook receiver: answers 500 to its first request (to exercise the retry), then
/// 200, and hands over (X-Pusher-Key, X-Pusher-Signature, body) of each successful one.
async fn webhook_receiver() -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<(String, String, String)>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let router = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let tx = tx.clone();
            let calls = std::sync::Arc::clone(&calls);
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let _ = tx.send((header("x-pusher-key"), header("x-pusher-signature"), body));
                axum::http::StatusCode::OK
            }
        }),
    );
    let addr = crate::support::serve_stand_in(router).await;
    (addr, rx)
}

#[tokio::test]
async fn webhooks_report_occupancy_members_and_client_events_signed_and_retried() {
    let (receiver, mut hooks) = webhook_receiver().await;
    let test = crate::support::start_with(|config| {
        config
            .pusher
            .webhooks
            .insert("acme".into(), format!("http://{receiver}/hooks"));
    })
    .await;
    let app = app_of(&test, "acme");
    let mut events: Vec<Value> = Vec::new();
    let mut collect_until = async |events: &mut Vec<Value>, wanted: &dyn Fn(&[Value]) -> bool| {
        while !wanted(events) {
            let (key, signature, body) = tokio::time::timeout(PATIENCE, hooks.recv())
                .await
                .expect("a webhook")
                .expect("receiver");
            assert_eq!(key, app.key);
            assert!(
                sign::verify_hex(&app.secret, &body, &signature),
                "signed with the app secret"
            );
            let parsed: Value = serde_json::from_str(&body).expect("json body");
            assert!(parsed["time_ms"].is_u64());
            events.extend(parsed["events"].as_array().expect("events").iter().cloned());
        }
    };
    let has = |events: &[Value], name: &str| events.iter().any(|event| event["name"] == name);

    let mut first = PusherClient::connect(test.addr, &app.key).await;
    let (_, auth) = channel_auth(
        test.addr,
        &token("acme", Role::Student, "s1"),
        &first.socket_id,
        "presence-class-c1",
    )
    .await;
    first.subscribe("presence-class-c1", Some(&auth)).await;
    collect_until(&mut events, &|events| {
        has(events, "channel_occupied") && has(events, "member_added")
    })
    .await;
    let added = events
        .iter()
        .find(|event| event["name"] == "member_added")
        .expect("member_added");
    assert_eq!(
        (added["channel"].as_str(), added["user_id"].as_str()),
        (Some("presence-class-c1"), Some("s1"))
    );

    let mut second = PusherClient::connect(test.addr, &app.key).await;
    let (_, auth) = channel_auth(
        test.addr,
        &token("acme", Role::Student, "s2"),
        &second.socket_id,
        "presence-class-c1",
    )
    .await;
    second.subscribe("presence-class-c1", Some(&auth)).await;
    second
        .send(
            "client-wave",
            Some("presence-class-c1"),
            json!({"hand": "left"}),
        )
        .await;
    collect_until(&mut events, &|events| has(events, "client_event")).await;
    let client_event = events
        .iter()
        .find(|event| event["name"] == "client_event")
        .expect("client_event");
    assert_eq!(client_event["event"], "client-wave");
    assert_eq!(client_event["user_id"], "s2");
    assert_eq!(client_event["socket_id"], second.socket_id.as_str());
    assert_eq!(
        serde_json::from_str::<Value>(client_event["data"].as_str().expect("string data"))
            .expect("json"),
        json!({"hand": "left"})
    );

    drop(first);
    drop(second);
    collect_until(&mut events, &|events| has(events, "channel_vacated")).await;
    let removed: Vec<&str> = events
        .iter()
        .filter(|event| event["name"] == "member_removed")
        .filter_map(|event| event["user_id"].as_str())
        .collect();
    assert_eq!(removed.len(), 2, "{events:?}");
}

#[tokio::test]
async fn a_silent_pusher_socket_is_closed_with_4201() {
    let test = crate::support::start_with(|config| {
        config.pusher.activity_timeout = std::time::Duration::from_millis(100);
    })
    .await;
    let app = app_of(&test, "acme");
    // A socket that never reads answers no pings: closed after two intervals.
    let mut silent = PusherClient::connect(test.addr, &app.key).await;
    let hub = test.server.app().hub().clone();
    crate::support::eventually("the silent socket to be dropped", || {
        hub.connection_count() == 0
    })
    .await;
    assert_eq!(silent.close_code().await, Some(4201));
}

#[tokio::test]
async fn capacity_and_shutdown_close_with_pusher_codes() {
    let test = crate::support::start_with(|config| config.socket.max_connections = 1).await;
    let app = app_of(&test, "acme");
    let mut first = PusherClient::connect(test.addr, &app.key).await;
    let mut over = PusherClient::open(test.addr, &app.key, 7).await;
    assert_eq!(
        over.close_code().await,
        Some(4100),
        "over the connection limit"
    );
    first.send("pusher:ping", None, json!({})).await;
    assert_eq!(first.recv().await.event, "pusher:pong");
    let shutdown = tokio::spawn(test.server.shutdown());
    assert_eq!(
        first.close_code().await,
        Some(4200),
        "shutdown asks clients to reconnect"
    );
    shutdown.await.expect("shutdown");
}

#[tokio::test]
async fn a_signed_presence_subscription_takes_the_students_seat() {
    let test = crate::support::start_with(|config| {
        // Billing set up: tenants without a subscription get the default plan's seats.
        config.billing.webhook_secret = Some("whsec_seats".to_owned());
        config.billing.plans[0] = server::billing::Plan {
            name: "free".to_owned(),
            seats: 1,
            ai_tokens_per_day: 1000,
        };
    })
    .await;
    let app = app_of(&test, "acme");
    let mut native = Client::connect(test.addr, &token("acme", Role::Student, "s1")).await;
    native.join("class:acme:c1").await;

    const CLASS: &str = "presence-class-c1";
    // A Pusher socket of `student`, and the answer to its subscription signed by /pusher/auth.
    let subscribe_as = async |student: &str| {
        let mut client = PusherClient::connect(test.addr, &app.key).await;
        let (status, auth) = channel_auth(
            test.addr,
            &token("acme", Role::Student, student),
            &client.socket_id,
            CLASS,
        )
        .await;
        assert_eq!(status, 200, "{auth}");
        let answer = client.subscribe(CLASS, Some(&auth)).await;
        (client, answer)
    };

    // The one seat is s1's: s2 is refused over Pusher as natively.
    let (_second, answer) = subscribe_as("s2").await;
    assert_eq!(answer.event, "pusher:subscription_error", "{answer:?}");

    // s1 over Pusher shares the seat their native socket holds; when both leave it is free.
    let (first, answer) = subscribe_as("s1").await;
    assert_eq!(answer.event, "pusher_internal:subscription_succeeded");
    drop(native);
    drop(first);
    let mut answer = subscribe_as("s2").await.1;
    for _ in 0..50 {
        if answer.event == "pusher_internal:subscription_succeeded" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        answer = subscribe_as("s2").await.1;
    }
    assert_eq!(
        answer.event, "pusher_internal:subscription_succeeded",
        "the seat was never freed"
    );
}

#[tokio::test]
async fn subscriptions_share_the_per_connection_join_limit() {
    let test = crate::support::start_with(|config| {
        config.socket.publish_rate = 1;
        config.socket.publish_burst = 2;
    })
    .await;
    let app = app_of(&test, "acme");
    let mut pusher = PusherClient::connect(test.addr, &app.key).await;
    for channel in ["news", "sports"] {
        let answer = pusher.subscribe(channel, None).await;
        assert_eq!(answer.event, "pusher_internal:subscription_succeeded");
    }
    let refused = pusher.subscribe("weather", None).await;
    assert_eq!(refused.event, "pusher:subscription_error", "{refused:?}");
    assert_eq!(refused.data["status"], 429, "{refused:?}");
    assert_eq!(refused.data["type"], "LimitReached");
}

/// A Pusher socket that keeps subscribing past the limit (or sends frames the server cannot
/// read) is closed with 4101 (reconnect after a back-off) once it spent `--max-refused-frames`.
#[tokio::test]
async fn a_pusher_socket_that_keeps_sending_refused_frames_is_closed_with_4101() {
    let test = crate::support::start_with(|config| {
        config.socket.publish_rate = 1;
        config.socket.publish_burst = 2;
        config.socket.max_refused_frames = 3;
    })
    .await;
    let app = app_of(&test, "acme");
    let mut flood = PusherClient::connect(test.addr, &app.key).await;
    for index in 0..20 {
        let frame =
            json!({"event": "pusher:subscribe", "data": {"channel": format!("room-{index}")}});
        if flood
            .ws
            .send(Message::text(frame.to_string()))
            .await
            .is_err()
        {
            break;
        }
    }
    let mut refusals = 0;
    let code = loop {
        match flood.next().await {
            Next::Frame(frame) if frame.event == "pusher:subscription_error" => refusals += 1,
            Next::Frame(_) => {}
            Next::Closed(code) => break code,
        }
    };
    assert_eq!(code, Some(PusherClose::RateLimited.code()));
    assert!(refusals <= 3, "{refusals} refusals before the close");

    let mut garbage = PusherClient::connect(test.addr, &app.key).await;
    for _ in 0..20 {
        if garbage.ws.send(Message::text("{not json")).await.is_err() {
            break;
        }
    }
    assert_eq!(
        garbage.close_code().await,
        Some(PusherClose::RateLimited.code())
    );
}

/// Authority is live over Pusher too: a student taken off the roster has their socket closed with
/// 4009, a signature `/pusher/auth` made earlier is re-checked when it is sent again, and
/// `/pusher/auth` itself refuses; an educator who does not teach the class is refused a signature.
#[tokio::test]
async fn a_removed_students_pusher_socket_is_closed_and_old_signatures_are_re_checked() {
    let test = start_server().await;
    let rest = crate::rest::Rest::new(test.addr);
    let school = crate::classes::School::enroll(&rest, "acme").await;
    let class_id = school.class_with_s1(&rest).await;
    let channel = format!("presence-class-{class_id}");
    let app = app_of(&test, "acme");

    let mut live = PusherClient::connect(test.addr, &app.key).await;
    let (status, auth) = channel_auth(test.addr, &school.student, &live.socket_id, &channel).await;
    assert_eq!(status, 200, "{auth}");
    let answer = live.subscribe(&channel, Some(&auth)).await;
    assert_eq!(answer.event, "pusher_internal:subscription_succeeded");

    let mut keeper = PusherClient::connect(test.addr, &app.key).await;
    let (_, kept) = channel_auth(test.addr, &school.student, &keeper.socket_id, &channel).await;
    let answer = keeper.subscribe(&channel, Some(&kept)).await;
    assert_eq!(answer.event, "pusher_internal:subscription_succeeded");
    keeper
        .send("pusher:unsubscribe", None, json!({"channel": channel}))
        .await;

    let (status, _) = channel_auth(
        test.addr,
        &school.other_teacher,
        &keeper.socket_id,
        &channel,
    )
    .await;
    assert_eq!(status, 403, "an educator who does not teach the class");

    rest.delete(
        &format!("/api/v1/classes/{class_id}/students/{}", school.id("s1")),
        &school.teacher,
    )
    .await
    .expect(204);
    assert_eq!(live.close_code().await, Some(4009));
    let again = keeper.subscribe(&channel, Some(&kept)).await;
    assert_eq!(again.event, "pusher:subscription_error", "{again:?}");
    let (status, _) = channel_auth(test.addr, &school.student, &keeper.socket_id, &channel).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn pusher_sockets_are_capped_per_client_ip() {
    let test =
        crate::support::start_with(|config| config.socket.max_pusher_connections_per_ip = 1).await;
    let app = app_of(&test, "acme");
    let _first = PusherClient::connect(test.addr, &app.key).await;
    let mut second = PusherClient::open(test.addr, &app.key, 7).await;
    assert_eq!(second.close_code().await, Some(4100));
}

/// Webhook queues are per tenant and bounded in bytes: a tenant whose receiver hangs loses its
/// own newest events past the bound (counted), while another tenant's webhooks keep arriving.
#[tokio::test]
async fn a_tenants_webhook_flood_stays_in_its_own_bounded_queue() {
    let (receiver, mut hooks) = webhook_receiver().await;
    let hanging = axum::Router::new().route(
        "/hooks",
        axum::routing::post(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            axum::http::StatusCode::OK
        }),
    );
    let hanging = crate::support::serve_stand_in(hanging).await;
    let test = crate::support::start_with(move |config| {
        config
            .pusher
            .webhooks
            .insert("acme".into(), format!("http://{receiver}/hooks"));
        config
            .pusher
            .webhooks
            .insert("flood".into(), format!("http://{hanging}/hooks"));
        config.pusher.webhook_queue_bytes = 2_000;
        config.socket.publish_rate = 10_000;
        config.socket.publish_burst = 10_000;
    })
    .await;
    let flood_app = app_of(&test, "flood");
    let mut flooder = PusherClient::connect(test.addr, &flood_app.key).await;
    for index in 0..200 {
        let channel = format!("news-{index}");
        let answer = flooder.subscribe(&channel, None).await;
        assert_eq!(answer.event, "pusher_internal:subscription_succeeded");
        flooder
            .send("pusher:unsubscribe", None, json!({"channel": channel}))
            .await;
    }

    let acme = app_of(&test, "acme");
    let mut client = PusherClient::connect(test.addr, &acme.key).await;
    client.subscribe("news", None).await;
    // The receiver refuses its first request (a retry follows): wait for channel_occupied.
    let occupied = loop {
        let (_, _, body) = tokio::time::timeout(PATIENCE, hooks.recv())
            .await
            .expect("acme's webhook arrives despite the flood")
            .expect("receiver");
        if body.contains("channel_occupied") {
            break body;
        }
    };
    assert!(occupied.contains("\"news\""), "{occupied}");
    let (_, metrics) = crate::support::http_get(test.addr, "/metrics").await;
    let dropped = metrics
        .lines()
        .find(|line| line.starts_with("classhub_webhooks_dropped_total"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|count| count.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        dropped > 0.0,
        "the flooding tenant's excess is dropped and counted: {metrics}"
    );
}
