//! Graceful shutdown: sockets are closed with the `reconnect` code and the process exits
//! cleanly, in-process and for the real binary on SIGTERM.

use protocol::CloseCode;
use server::auth::Role;

use crate::support::{
    Client, PATIENCE, signal, spawn_classhub, start_server, temp_dir, token, wait_exit,
};

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
    let data_dir = temp_dir("sigterm");
    let (mut child, addr) = spawn_classhub(&data_dir, None, &[]).await;
    let mut teacher = Client::connect(addr, &token("acme", Role::Educator, "t1")).await;
    teacher.join("class:acme:c1").await;
    signal(&child, "TERM");
    assert_eq!(
        teacher.close_code().await,
        Some(CloseCode::Reconnect.code())
    );
    let exit = wait_exit(&mut child).await;
    assert!(exit.success(), "classhub exited with {exit}");
    let _ = std::fs::remove_dir_all(&data_dir);
}
