//! Golden frames: every file under `tests/golden/` decodes, and re-encodes to the same JSON. The
//! same files feed the Luau SDK's tests, so a change to the wire breaks both languages.

mod decoders;
mod strategies;

use std::path::{Path, PathBuf};

use protocol::{ClientMessage, Codec, Limits, ServerMessage};
use serde_json::Value;

fn golden(dir: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|err| panic!("read {}: {err}", root.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read golden frame");
            (path, text)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected golden frames in {}",
        root.display()
    );
    files
}

fn as_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("json")
}

#[test]
fn client_frames_decode_and_round_trip_in_both_codecs() {
    for (path, text) in golden("client") {
        let decoded = Codec::Json
            .decode(text.as_bytes(), &Limits::default())
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        let reencoded = Codec::Json.encode(&decoded.message).expect("encode json");
        let roblox_shaped = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("roblox_"));
        if !roblox_shaped {
            assert_eq!(
                as_value(&reencoded),
                as_value(text.as_bytes()),
                "{}",
                path.display()
            );
        }
        let packed = Codec::MsgPack
            .encode(&decoded.message)
            .expect("encode msgpack");
        let unpacked = Codec::MsgPack
            .decode(&packed, &Limits::default())
            .unwrap_or_else(|err| panic!("{} via msgpack: {err}", path.display()));
        assert_eq!(unpacked.message, decoded.message, "{}", path.display());
    }
}

#[test]
fn roblox_shaped_frames_read_empty_arrays_as_objects() {
    let frame = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/client/roblox_publish_empty_data.json"),
    )
    .expect("golden");
    let decoded = Codec::Json
        .decode(&frame, &Limits::default())
        .expect("decode");
    let ClientMessage::Publish { data, .. } = decoded.message else {
        panic!("publish")
    };
    assert_eq!(data, serde_json::json!({}));
}

#[test]
fn server_frames_decode_and_round_trip_in_both_codecs() {
    for (path, text) in golden("server") {
        let message: ServerMessage = Codec::Json
            .decode_server(text.as_bytes())
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        let reencoded = Codec::Json.encode(&message).expect("encode json");
        assert_eq!(
            as_value(&reencoded),
            as_value(text.as_bytes()),
            "{}",
            path.display()
        );
        let packed = Codec::MsgPack.encode(&message).expect("encode msgpack");
        let unpacked = Codec::MsgPack
            .decode_server(&packed)
            .expect("decode msgpack");
        assert_eq!(unpacked, message, "{}", path.display());
    }
}

#[test]
fn every_server_message_type_has_a_golden_frame() {
    let types: std::collections::BTreeSet<String> = golden("server")
        .into_iter()
        .map(|(_, text)| {
            as_value(text.as_bytes())["type"]
                .as_str()
                .expect("type")
                .to_owned()
        })
        .collect();
    for expected in [
        "welcome",
        "joined",
        "event",
        "presence_diff",
        "command",
        "notification",
        "reply",
        "error",
        "pong",
    ] {
        assert!(
            types.contains(expected),
            "no golden frame of type {expected}"
        );
    }
}
