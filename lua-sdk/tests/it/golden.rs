//! The protocol's golden frames (`protocol/tests/golden/{client,server}/*.json`) decode in
//! Luau and come back unchanged through the SDK's sanitiser and `JSONEncode`, up to what Luau
//! cannot tell apart (an empty object is an empty table, every number a double). Wire drift
//! that Luau cannot carry breaks this test and the protocol's own at once.

use std::path::PathBuf;

use lua_sdk::{Harness, Options, roblox_normal_form};
use serde_json::Value;

fn golden_frames() -> Vec<(String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/golden");
    let mut frames = Vec::new();
    for side in ["client", "server"] {
        let dir = root.join(side);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("golden frames at {}: {error}", dir.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path
                .extension()
                .is_some_and(|extension| extension == "json")
            {
                let text = std::fs::read_to_string(&path).expect("read golden frame");
                frames.push((
                    format!(
                        "{side}/{}",
                        path.file_name().unwrap_or_default().to_string_lossy()
                    ),
                    text,
                ));
            }
        }
    }
    frames.sort();
    frames
}

#[tokio::test]
async fn golden_frames_round_trip_through_luau() {
    let harness = Harness::new(Options::new("http://127.0.0.1:9")).expect("harness");
    let frames = golden_frames();
    assert!(
        frames.len() >= 20,
        "expected the protocol's golden frames, found {}",
        frames.len()
    );
    for (name, text) in frames {
        harness
            .lua()
            .globals()
            .set("FRAME", text.as_str())
            .expect("set FRAME");
        let (kind, plain, sanitised): (String, String, String) = harness
            .eval(
                r#"(function()
                    local http = game:GetService("HttpService")
                    local frame = http:JSONDecode(FRAME)
                    return frame.type, http:JSONEncode(frame), http:JSONEncode(ClassHub._sanitize(frame))
                end)()"#,
            )
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let original: Value = serde_json::from_str(&text).expect("golden frame is JSON");
        assert_eq!(
            Some(kind.as_str()),
            original["type"].as_str(),
            "{name}: type field"
        );
        for (what, encoded) in [("JSONEncode", plain), ("sanitise + JSONEncode", sanitised)] {
            let back: Value = serde_json::from_str(&encoded).expect("Luau wrote JSON");
            assert_eq!(
                roblox_normal_form(&back),
                roblox_normal_form(&original),
                "{name} changed through JSONDecode + {what}: {encoded}"
            );
        }
    }
}

#[tokio::test]
async fn roblox_json_quirks_are_modelled() {
    let harness = Harness::new(Options::new("http://127.0.0.1:9")).expect("harness");
    let check = |expression: &str, expected: &str| {
        let encoded: String = harness
            .eval(&format!(
                "game:GetService(\"HttpService\"):JSONEncode({expression})"
            ))
            .unwrap_or_else(|error| panic!("{expression}: {error}"));
        assert_eq!(encoded, expected, "JSONEncode({expression})");
    };
    check("{}", "[]");
    check("{ a = {} }", r#"{"a":[]}"#);
    check("{ 1, 2, x = 3 }", "[1,2]");
    check("{ n = 12.0, f = 0.5 }", r#"{"f":0.5,"n":12}"#);
    check("{ a = nil, b = true }", r#"{"b":true}"#);
    for refused in [
        "{ x = 0/0 }",
        "{ x = math.huge }",
        "{ [5] = 1, y = 2 }",
        "{ f = print }",
    ] {
        let result: Result<String, _> = harness.eval(&format!(
            "game:GetService(\"HttpService\"):JSONEncode({refused})"
        ));
        assert!(
            result.is_err(),
            "JSONEncode({refused}) should throw as Roblox's does"
        );
    }
    let decoded: (Option<f64>, bool, f64) = harness
        .eval(
            r#"(function()
                local value = game:GetService("HttpService"):JSONDecode('{"a":null,"b":[1,null,3],"c":12}')
                return value.a, value.b[2] == nil, value.c
            end)()"#,
        )
        .expect("decode");
    assert_eq!(
        decoded,
        (None, true, 12.0),
        "null decodes to a missing field"
    );
}

#[tokio::test]
async fn sanitiser_makes_any_event_data_encodable() {
    let harness = Harness::new(Options::new("http://127.0.0.1:9")).expect("harness");
    let encoded: String = harness
        .eval(
            r#"(function()
                local cycle = {}
                cycle.self = cycle
                local data = {
                    nan = 0/0, inf = math.huge, ninf = -math.huge, ok = 1.5,
                    list = { 1, 0/0, 3 },
                    mixed = { 1, 2, label = "x" },
                    sparse = { [1] = "a", [3] = "c" },
                    cycle = cycle,
                    fn = print,
                }
                return game:GetService("HttpService"):JSONEncode(ClassHub._sanitize(data))
            end)()"#,
        )
        .expect("sanitised data encodes");
    let value: Value = serde_json::from_str(&encoded).expect("JSON");
    assert_eq!(value["ok"], 1.5);
    assert!(
        value.get("nan").is_none() && value.get("inf").is_none() && value.get("ninf").is_none()
    );
    assert_eq!(
        value["list"],
        serde_json::json!([1, 3]),
        "non-finite numbers leave arrays"
    );
    assert_eq!(
        value["mixed"],
        serde_json::json!({"1": 1, "2": 2, "label": "x"}),
        "mixed tables keep every key"
    );
    assert_eq!(value["sparse"], serde_json::json!({"1": "a", "3": "c"}));
    assert_eq!(value["cycle"], serde_json::json!([]), "a cycle is cut");
    assert!(
        value["fn"].is_string(),
        "functions become their description"
    );
}
