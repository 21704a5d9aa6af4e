//! Graceful shutdown: sockets are closed with the `reconnect` code and the process exits
//! cleanly, in-process and for the real binary on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use protocol::CloseCode;
use server::auth::Role;

use crate::support::{Client, PATIENCE, SECRET, start_server, token};

#[tokio::test]
async fn shutting_down_closes_sockets_with_the_reconnect_code() {
    let test = start_server().await;
    let mut teacher = Client::connect(test.addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join("class:acme:c1").await;
    let addr = test.addr;
    tokio::time::timeout(PATIENCE, test.server.shutdown())
        .await
        .expect("shutdown within the deadline");
    assert_eq!(
        teacher.close_code().await,
        Some(CloseCode::Reconnect.code())
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn sigterm_closes_sockets_with_reconnect_and_the_process_exits_cleanly() {
    let data_dir = std::env::temp_dir().join(format!("classhub-sigterm-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_classhub"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .env("CLASSHUB_JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn classhub");
    let stdout = child.stdout.take().expect("stdout");
    // Keep reading stdout for the child's whole life, as a terminal would.
    let (first_line_tx, first_line_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let _ = first_line_tx.send(first);
        for _ in lines {}
    });
    let first_line = tokio::time::timeout(PATIENCE, first_line_rx)
        .await
        .expect("classhub printed its address")
        .expect("line");
    let addr: SocketAddr = first_line
        .trim()
        .strip_prefix("classhub listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
        .parse()
        .expect("address");

    let mut teacher = Client::connect(addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join("class:acme:c1").await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    assert_eq!(
        teacher.close_code().await,
        Some(CloseCode::Reconnect.code())
    );

    let deadline = std::time::Instant::now() + PATIENCE;
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "classhub did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "classhub exited with {exit}");
    let _ = std::fs::remove_dir_all(&data_dir);
}
