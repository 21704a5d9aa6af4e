//! The harness's boundary with the server: it links `protocol` and no other classhub crate that
//! holds state (never `server` nor `persistence`), yet the tokens it mints and the Pusher apps it
//! derives are exactly the ones the server accepts.

use std::collections::BTreeSet;

use loadtest::Credentials;
use loadtest::credentials::Role;
use loadtest::pusher::PusherApp;
use serde_json::Value;
use server::auth::Verifier;
use server::transport::pusher_apps::PusherApps;

use crate::support::SECRET;

/// The workspace crates reachable from `package` through normal (not dev or build) dependencies,
/// read from `cargo metadata`.
fn normal_workspace_dependencies(package: &str) -> BTreeSet<String> {
    let workspace_manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .args(["--manifest-path", workspace_manifest])
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    let normal_dependencies = |name: &str| -> Vec<String> {
        packages
            .iter()
            .filter(|candidate| candidate["name"] == name)
            .flat_map(|candidate| {
                candidate["dependencies"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|dependency| dependency["kind"].is_null())
            .filter_map(|dependency| dependency["name"].as_str().map(str::to_owned))
            .collect()
    };
    let members: BTreeSet<String> = packages
        .iter()
        .filter_map(|member| member["name"].as_str().map(str::to_owned))
        .collect();
    let mut reached = BTreeSet::new();
    let mut to_visit = vec![package.to_owned()];
    while let Some(next) = to_visit.pop() {
        for dependency in normal_dependencies(&next) {
            if members.contains(&dependency) && reached.insert(dependency.clone()) {
                to_visit.push(dependency);
            }
        }
    }
    reached
}

#[test]
fn the_harness_links_neither_the_server_nor_the_database() {
    let linked = normal_workspace_dependencies("loadtest");
    assert!(linked.contains("protocol"), "{linked:?}");
    for forbidden in ["server", "persistence"] {
        assert!(
            !linked.contains(forbidden),
            "loadtest's [dependencies] reach `{forbidden}` ({linked:?}): the harness must reach a \
             hub only over sockets; `{forbidden}` belongs in [dev-dependencies] for its tests"
        );
    }
}

#[tokio::test]
async fn minted_tokens_are_accepted_by_the_servers_verifier() {
    let credentials = Credentials::mint(SECRET, "loadtest");
    let verifier = Verifier::hs256(SECRET);
    for (role, expected) in [
        (Role::Student, server::auth::Role::Student),
        (Role::Educator, server::auth::Role::Educator),
    ] {
        let token = credentials.token_for(role, "user-7").expect("minted");
        let identity = verifier
            .verify(&token)
            .await
            .expect("the server accepts it");
        assert_eq!(identity.user, "user-7");
        assert_eq!(identity.tenant, "loadtest");
        assert_eq!(identity.role, expected);
    }
}

#[test]
fn derived_pusher_apps_are_the_servers() {
    let server_app = PusherApps::new(SECRET, None).for_tenant("loadtest");
    let harness_app = PusherApp::derived(SECRET, "loadtest");
    assert_eq!(harness_app.app_id, server_app.app_id);
    assert_eq!(harness_app.key, server_app.key);
    assert_eq!(harness_app.secret, server_app.secret);
}
