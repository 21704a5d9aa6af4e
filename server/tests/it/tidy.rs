//! The tidy test (rust-analyzer's idea): the map stays true. Every `.rs` file of the workspace
//! opens with a `//!` header; every path the code map of ARCHITECTURE.md names exists; the map
//! stays short enough to read; every literal label value a labelled counter is given in the
//! code is one `server::metrics::LABELLED` lists (so `/metrics` shows it from the start). (That the README's configuration table lists every setting is
//! checked beside the settings' declarations, in `server/src/config.rs`.)

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the server crate sits in the workspace")
        .to_path_buf()
}

/// Every `.rs` file under `dir`, skipping build output, dependencies and VCS folders.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                rust_files(&path, found);
            }
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_header() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 50, "found only {} .rs files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|file| {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            !text.starts_with("//!")
        })
        .map(|file| {
            file.strip_prefix(&root)
                .unwrap_or(file)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "these files lack a `//!` header saying what they own: {missing:?}"
    );
}

/// Whether a backticked token of the map is a path (`hub/session.rs`, `migrations/`) rather
/// than a type, flag or code sample.
fn looks_like_path(token: &str) -> bool {
    const EXTENSIONS: [&str; 9] = [
        ".rs", ".js", ".mjs", ".luau", ".md", ".sh", ".html", ".css", ".sql",
    ];
    !token.contains(' ')
        && !token.contains("::")
        && !token.starts_with('-')
        && (token.ends_with('/') || EXTENSIONS.iter().any(|ext| token.ends_with(ext)))
}

/// The paths the code map names: under each `### \`crate/\`` heading of `## Code map`, every
/// backticked path, with the crate it is listed under. A path is resolved against the crate's
/// `src/`, the crate itself, then the workspace root.
fn code_map_paths(map: &str) -> Vec<(String, String)> {
    let mut paths = Vec::new();
    let mut in_code_map = false;
    let mut crate_dir: Option<String> = None;
    for line in map.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            in_code_map = heading.trim() == "Code map";
            crate_dir = None;
            continue;
        }
        if !in_code_map {
            continue;
        }
        if let Some(heading) = line.strip_prefix("### ") {
            crate_dir = heading
                .trim()
                .strip_prefix('`')
                .and_then(|rest| rest.split_once('`'))
                .map(|(name, _)| name.trim_end_matches('/').to_owned());
            continue;
        }
        let Some(crate_dir) = &crate_dir else {
            continue;
        };
        for (index, token) in line.split('`').enumerate() {
            if index % 2 == 1 && looks_like_path(token) {
                paths.push((crate_dir.clone(), token.to_owned()));
            }
        }
    }
    paths
}

#[test]
fn every_module_the_code_map_names_exists_and_the_map_stays_short() {
    let root = workspace_root();
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let lines = map.lines().count();
    assert!(
        lines <= 220,
        "ARCHITECTURE.md has {lines} lines; keep the map under 220"
    );
    let paths = code_map_paths(&map);
    assert!(
        paths.len() >= 30,
        "the code map names only {} paths: {paths:?}",
        paths.len()
    );
    let missing: Vec<String> = paths
        .iter()
        .filter(|(crate_dir, path)| {
            let candidates = [
                root.join(crate_dir).join("src").join(path),
                root.join(crate_dir).join(path),
                root.join(path),
            ];
            !candidates.iter().any(|candidate| candidate.exists())
        })
        .map(|(crate_dir, path)| format!("{crate_dir}/…/{path}"))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map names paths that do not exist: {missing:?}"
    );
}

#[test]
fn the_code_map_reader_finds_items_under_crate_headings_only() {
    let map = "## Bird's-eye view\n- `nowhere.rs`: not in the map\n## Code map\n### `server/`\n- `hub/session.rs`: `Session`, `Hub::connect`, `--flag-name/x`; `hub/room.rs`\n- not a path\n### `admin/`\n- `js/main.js`: the shell\n## Cross-cutting concerns\n- `else.rs`: no\n";
    assert_eq!(
        code_map_paths(map),
        vec![
            ("server".to_owned(), "hub/session.rs".to_owned()),
            ("server".to_owned(), "hub/room.rs".to_owned()),
            ("admin".to_owned(), "js/main.js".to_owned()),
        ]
    );
}

/// The `(name, label, value)` of each `metrics::counter!("name", "label" => "value")` in `code`
/// whose value is a string literal.
fn literal_counter_labels(code: &str) -> Vec<(String, String, String)> {
    let quoted = |text: &str| -> Option<String> {
        let text = text.trim();
        let inner = text.strip_prefix('"')?;
        let end = inner.find('"')?;
        Some(inner[..end].to_owned())
    };
    let mut found = Vec::new();
    for (at, _) in code.match_indices("metrics::counter!(") {
        let rest = &code[at + "metrics::counter!(".len()..];
        let Some(close) = rest.find(')') else {
            continue;
        };
        let call = &rest[..close];
        let Some((name, labels)) = call.split_once(',') else {
            continue;
        };
        let Some((label, value)) = labels.split_once("=>") else {
            continue;
        };
        if let (Some(name), Some(label), Some(value)) = (quoted(name), quoted(label), quoted(value))
        {
            found.push((name, label, value));
        }
    }
    found
}

#[test]
fn every_literal_counter_label_is_listed_for_metrics_at_zero() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("server/src"), &mut files);
    rust_files(&root.join("persistence/src"), &mut files);
    let mut seen = 0;
    let mut unlisted = Vec::new();
    for file in files {
        let code = std::fs::read_to_string(&file).expect("readable");
        for (name, label, value) in literal_counter_labels(&code) {
            seen += 1;
            let listed = server::metrics::LABELLED
                .iter()
                .any(|(known, key, values)| {
                    *known == name && *key == label && values.contains(&value.as_str())
                });
            if !listed {
                unlisted.push(format!("{}: {name}{{{label}=\"{value}\"}}", file.display()));
            }
        }
    }
    assert!(seen > 10, "found only {seen} labelled counters");
    assert!(
        unlisted.is_empty(),
        "add these to server::metrics::LABELLED:\n{}",
        unlisted.join("\n")
    );
}
