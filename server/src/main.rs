//! `classhub`: the command line. `serve` runs the server until SIGTERM or ctrl-c; `token` mints a
//! development token the server accepts. All the work is in the `server` library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::apps::{PusherApp, PusherApps};
use server::auth::{self, Identity, Role};
use server::config::{Config, DurationArg, ServeArgs};

#[derive(Debug, Parser)]
#[command(
    name = "classhub",
    version,
    about = "Real-time game-session hub for Roblox classrooms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Print a development token (HS256, signed with the server's secret).
    Token(TokenArgs),
    /// Pusher apps (one per tenant).
    Apps {
        #[command(subcommand)]
        command: AppsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AppsCommand {
    /// Print a tenant's Pusher app (id, key, secret) as JSON.
    Show(AppsShowArgs),
}

#[derive(Debug, clap::Args)]
struct AppsShowArgs {
    /// Tenant id.
    #[arg(long)]
    tenant: String,
    /// Data directory holding the generated secret.
    #[arg(long, env = "CLASSHUB_DATA_DIR", default_value = "./classhub-data")]
    data_dir: PathBuf,
    /// The server's secret (instead of the generated one).
    #[arg(long, env = "CLASSHUB_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Tenant whose app the three settings below fix.
    #[arg(long, env = "CLASSHUB_PUSHER_TENANT", default_value = "default")]
    pusher_tenant: String,
    /// Fixed Pusher app id.
    #[arg(long, env = "CLASSHUB_PUSHER_APP_ID")]
    pusher_app_id: Option<String>,
    /// Fixed Pusher app key.
    #[arg(long, env = "CLASSHUB_PUSHER_KEY")]
    pusher_key: Option<String>,
    /// Fixed Pusher app secret.
    #[arg(long, env = "CLASSHUB_PUSHER_SECRET", hide_env_values = true)]
    pusher_secret: Option<String>,
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// Tenant (school or district) id.
    #[arg(long)]
    tenant: String,
    /// Role.
    #[arg(long, value_enum)]
    role: Role,
    /// User id.
    #[arg(long)]
    sub: String,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// Lifetime, e.g. 8h or 30m.
    #[arg(long, default_value = "8h")]
    ttl: DurationArg,
    /// For parents: children's user ids, comma-separated.
    #[arg(long, value_delimiter = ',')]
    children: Vec<String>,
    /// Data directory holding the generated secret.
    #[arg(long, env = "CLASSHUB_DATA_DIR", default_value = "./classhub-data")]
    data_dir: PathBuf,
    /// HS256 secret (instead of the generated one).
    #[arg(long, env = "CLASSHUB_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Token(args) => token(args),
        Command::Apps {
            command: AppsCommand::Show(args),
        } => apps_show(args),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = Config::resolve(args)?;
    let data_dir = config.data_dir.clone();
    let server = server::start(config).await?;
    announce(&format!(
        "classhub listening on http://{}\n  mint a token: classhub token --data-dir {} --tenant demo --role educator --sub t1",
        server.local_addr(),
        data_dir.display()
    ));
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

/// Prints to stdout for people and scripts; a closed stdout (a script that read the first line
/// and went away) must not stop the server, so a failed write is only logged.
fn announce(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(cause) = writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        tracing::warn!(%cause, "cannot write to stdout");
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(cause) = tokio::signal::ctrl_c().await {
            tracing::error!(%cause, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(cause) => {
                tracing::error!(%cause, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let secret = match args.jwt_secret {
        Some(secret) => secret,
        None => auth::load_or_create_secret(&args.data_dir)
            .with_context(|| format!("reading the JWT secret in {}", args.data_dir.display()))?,
    };
    let identity = Identity {
        user: args.sub,
        tenant: args.tenant,
        role: args.role,
        name: args.name,
        children: args.children,
    };
    let token = auth::mint(&secret, &auth::claims_for(&identity, args.ttl.0))
        .context("signing the token")?;
    println!("{token}");
    Ok(())
}

fn apps_show(args: AppsShowArgs) -> anyhow::Result<()> {
    let secret = match args.jwt_secret {
        Some(secret) => secret,
        None => auth::load_or_create_secret(&args.data_dir)
            .with_context(|| format!("reading the server secret in {}", args.data_dir.display()))?,
    };
    let fixed = match (args.pusher_app_id, args.pusher_key, args.pusher_secret) {
        (Some(app_id), Some(key), Some(secret)) => Some(PusherApp {
            tenant: args.pusher_tenant,
            app_id,
            key,
            secret,
        }),
        (None, None, None) => None,
        _ => {
            anyhow::bail!("give all of --pusher-app-id, --pusher-key and --pusher-secret, or none")
        }
    };
    let app = PusherApps::new(&secret, fixed).for_tenant(&args.tenant);
    announce(&serde_json::to_string_pretty(&app)?);
    Ok(())
}
