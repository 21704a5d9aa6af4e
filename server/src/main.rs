//! `classhub`: the command line. `serve` runs the server until SIGTERM or ctrl-c; `token` mints a
//! development token the server accepts; `config --markdown` prints the table of `serve`'s
//! settings that README.md shows (made from their declarations, see `server::config`). All the
//! work is in the `server` library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::auth::{self, Identity, Role};
use server::config::{Config, DurationArg, ServeArgs};
use server::transport::pusher_apps::{PusherApp, PusherApps};

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
    Serve(Box<ServeCommand>),
    /// Print a development token (HS256, signed with the server's secret).
    Token(TokenArgs),
    /// Describe the settings of `serve`.
    Config(ConfigArgs),
    /// Pusher apps (one per tenant).
    Apps {
        #[command(subcommand)]
        command: AppsCommand,
    },
    /// Game-server keys for Roblox servers (stored hashed).
    Gamekey {
        #[command(subcommand)]
        command: GamekeyCommand,
    },
    /// Roblox Open Cloud keys, so new commands wake game servers through MessagingService.
    Opencloud {
        #[command(subcommand)]
        command: OpencloudCommand,
    },
}

/// `classhub serve`: the server's settings, and whether to run the demo classroom in it.
#[derive(Debug, clap::Args)]
struct ServeCommand {
    #[command(flatten)]
    settings: ServeArgs,
    /// Also run a demo: tenant `demo` with a class of 30 students in two simulated Roblox game
    /// servers sending events through the real routes; prints a dashboard link to watch it.
    #[arg(long)]
    demo: bool,
}

/// `classhub config`: how to describe the settings.
#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// Print the settings as README.md's Markdown table (flag, environment, default, meaning).
    #[arg(long, required = true)]
    markdown: bool,
}

/// Where the database is (the same settings `serve` reads).
#[derive(Debug, clap::Args)]
struct DbArgs {
    /// Data directory holding the embedded SQLite database.
    #[arg(long, env = "CLASSHUB_DATA_DIR", default_value = "./classhub-data")]
    data_dir: PathBuf,
    /// postgres://… or sqlite:… instead of the embedded database.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
enum GamekeyCommand {
    /// Make a key and print it once (only its hash is kept).
    Create {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Limit the key to one Roblox universe (game.GameId).
        #[arg(long)]
        universe: Option<i64>,
        /// A label to tell keys apart.
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List a tenant's keys (prefix, universe, label, use, revocation).
    List {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a key by id; running servers stop accepting it within --game-key-cache.
    Revoke {
        /// Key id (from `gamekey list`).
        id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
enum OpencloudCommand {
    /// Set the Open Cloud API key of a tenant's universe (needs the messaging-service:publish
    /// permission; user look-ups also use it).
    Set {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Roblox universe id (game.GameId).
        #[arg(long)]
        universe: i64,
        /// The API key (prefer the environment variable, which stays out of shell history).
        #[arg(long, env = "CLASSHUB_OPEN_CLOUD_API_KEY", hide_env_values = true)]
        api_key: String,
        #[command(flatten)]
        db: DbArgs,
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
        Command::Config(args) => {
            // clap requires `--markdown`: the README's table is the only description so far.
            anyhow::ensure!(args.markdown, "say --markdown");
            announce(server::config::markdown_table().trim_end());
            Ok(())
        }
        Command::Apps {
            command: AppsCommand::Show(args),
        } => apps_show(args),
        Command::Gamekey { command } => gamekey(command).await,
        Command::Opencloud {
            command:
                OpencloudCommand::Set {
                    tenant,
                    universe,
                    api_key,
                    db,
                },
        } => {
            let store = open_store(&db).await?;
            store.ensure_tenant(&tenant).await?;
            store
                .set_open_cloud_key(&tenant, universe, api_key.trim())
                .await?;
            announce(&format!(
                "Open Cloud key set for tenant {tenant}, universe {universe}"
            ));
            store.close().await;
            Ok(())
        }
    }
}

async fn open_store(db: &DbArgs) -> anyhow::Result<persistence::Store> {
    let store = match &db.database_url {
        Some(url) => persistence::Store::connect(url).await,
        None => persistence::Store::open_sqlite_file(&db.data_dir.join("classhub.db")).await,
    }
    .context("opening the database (check --data-dir or DATABASE_URL)")?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

async fn gamekey(command: GamekeyCommand) -> anyhow::Result<()> {
    match command {
        GamekeyCommand::Create {
            tenant,
            universe,
            label,
            db,
        } => {
            let store = open_store(&db).await?;
            store.ensure_tenant(&tenant).await?;
            let made = roblox::keys::generate();
            let id = format!("gk_{:012x}", rand::random::<u64>() >> 16);
            store
                .create_game_key(&persistence::NewGameKey {
                    id: id.clone(),
                    tenant: tenant.clone(),
                    universe_id: universe,
                    label,
                    key_hash: made.hash,
                    key_prefix: made.prefix,
                })
                .await?;
            store.close().await;
            announce(&made.key);
            eprintln!(
                "game-server key {id} for tenant {tenant} (shown once; store it in your experience's Secrets as classhub_key)"
            );
            Ok(())
        }
        GamekeyCommand::List { tenant, db } => {
            let store = open_store(&db).await?;
            let keys = store.game_keys(&tenant).await?;
            store.close().await;
            let listed: Vec<serde_json::Value> = keys
                .into_iter()
                .map(|key| {
                    serde_json::json!({
                        "id": key.id,
                        "prefix": key.key_prefix,
                        "universe_id": key.universe_id,
                        "label": key.label,
                        "created_at": key.created_at,
                        "last_used_at": key.last_used_at,
                        "revoked_at": key.revoked_at,
                    })
                })
                .collect();
            announce(&serde_json::to_string_pretty(&listed)?);
            Ok(())
        }
        GamekeyCommand::Revoke { id, db } => {
            let store = open_store(&db).await?;
            let revoked = store.revoke_game_key(&id).await?;
            store.close().await;
            anyhow::ensure!(
                revoked,
                "no live game-server key {id} (unknown, or already revoked)"
            );
            announce(&format!("revoked {id}"));
            Ok(())
        }
    }
}

async fn serve(command: ServeCommand) -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(server::dashboard::recent_errors::RecentErrorsLayer)
        .init();
    let config = Config::resolve(command.settings)?;
    let data_dir = config.data_dir.clone();
    // Development mode (HS256): the secret the server verifies with, to mint ready links.
    let uses_jwks = config.auth.jwks_url.is_some();
    let fixed_secret = config.jwt_secret.clone();
    if command.demo && uses_jwks {
        return Err(server::demo::DemoError::Jwks.into());
    }
    let server = server::start(config).await?;
    let base = format!("http://{}", server.local_addr());
    announce(&format!("classhub listening on {base}"));
    if let Some(quic) = server.quic() {
        let origin = if quic.generated {
            "self-signed development certificate"
        } else {
            "certificate"
        };
        announce(&format!(
            "  quic (native protocol): udp {}, {origin} sha256 {}",
            quic.addr, quic.sha256
        ));
    }
    let development_secret = match (uses_jwks, fixed_secret) {
        (true, _) => None,
        (false, Some(secret)) => Some(secret),
        (false, None) => Some(
            auth::load_or_create_secret(&data_dir)
                .with_context(|| format!("reading the JWT secret in {}", data_dir.display()))?,
        ),
    };
    if command.demo {
        let secret = development_secret.as_deref().unwrap_or_default();
        let links = match server::demo::start(&server, secret).await {
            Ok(links) => links,
            Err(cause) => {
                server.shutdown().await;
                return Err(cause.into());
            }
        };
        announce(&format!(
            "  demo classroom (teacher): {}\n  operator view (admin):    {}",
            links.teacher, links.operator
        ));
    } else if let Some(secret) = &development_secret {
        let identity = Identity {
            user: server::demo::TEACHER.to_owned(),
            tenant: server::demo::TENANT.to_owned(),
            role: Role::Educator,
            name: Some("Ms Rivera".to_owned()),
            children: Vec::new(),
            expires_at: None,
        };
        let token = auth::mint(
            secret,
            &auth::claims_for(&identity, std::time::Duration::from_secs(8 * 3600)),
        )
        .context("signing the dashboard link's token")?;
        announce(&format!(
            "  dashboard (development teacher of tenant demo): {base}/dashboard#token={token}\n  a live demo classroom: classhub serve --demo\n  mint a token: classhub token --data-dir {} --tenant demo --role educator --sub t1",
            data_dir.display()
        ));
    } else {
        announce(&format!(
            "  dashboard: {base}/dashboard (sign in with a session token from your identity provider)"
        ));
    }
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
        expires_at: None,
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
