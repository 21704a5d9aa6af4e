//! `classhub-baseline`: runs `loadtest::baseline`, the smallest broadcast server that serves the
//! `fanout` scenario, until ctrl-c or SIGTERM, so `classhub-loadtest fanout --target` can measure
//! the floor beside the hub. Everything but flag parsing and signals is in the library.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "classhub-baseline",
    version,
    about = "Minimal native-protocol broadcast server: the floor for classhub-loadtest fanout"
)]
struct Cli {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8010")]
    bind: SocketAddr,
    /// Read buffer per connection, bytes (tungstenite's default; resident memory per socket).
    #[arg(long, default_value_t = loadtest::baseline::DEFAULT_READ_BUFFER_BYTES)]
    read_buffer_bytes: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let baseline = loadtest::baseline::start_with(cli.bind, cli.read_buffer_bytes).await?;
    println!(
        "classhub-baseline listening on http://{}",
        baseline.local_addr()
    );
    wait_for_signal().await?;
    baseline.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        signal = tokio::signal::ctrl_c() => signal.context("cannot listen for ctrl-c"),
        _ = terminate.recv() => Ok(()),
    }
}
