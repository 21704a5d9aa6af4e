//! The teacher and operator dashboard: the static files of `admin/` (HTML, CSS, JavaScript
//! modules; no build step), embedded into the binary at compile time and served at
//! `/dashboard` (the page) and `/dashboard/{file}` (its assets). The page talks to the same
//! server as any client: the REST API with the signed-in token, and `/ws` for live rooms, or
//! WebTransport when the server announces it at `/dashboard/transport.json` ([`transport`]: the
//! QUIC port and, for a generated development certificate, its SHA-256) and the browser has it;
//! the page's content policy then lets it reach that port.
//!
//! Beside the files: [`overview`] (`GET /api/v1/admin/overview`, the operator view's data) and
//! [`recent_errors`] (the process's last warnings and errors, which the overview shows).
//!
//! Adding a file to `admin/`: add a row to [`ASSETS`]; a test fails while a file of `admin/`
//! (outside `admin/tests/`) is not served.

pub mod overview;
pub mod recent_errors;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Its path under `admin/` (and under `/dashboard/`).
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!("../../../admin/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the dashboard serves.
pub const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("dashboard.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/socket.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/chart.js", JS),
    asset!("js/classes.js", JS),
    asset!("js/live.js", JS),
    asset!("js/operator.js", JS),
    asset!("js/privacy.js", JS),
    asset!("js/assignments.js", JS),
    asset!("js/student.js", JS),
    asset!("js/rewards.js", JS),
    asset!("js/library.js", JS),
    asset!("js/aitasks.js", JS),
    asset!("js/chat.js", JS),
];

/// The page's policy: everything from this server, nothing inline, sockets to this host (and,
/// with QUIC on, WebTransport to its port: `{quic}`).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self' ws: wss:{quic}; base-uri 'none'; \
     form-action 'self'; object-src 'none'";

/// The content policy of the page for a server whose QUIC listener is on `quic_port`.
fn content_security_policy(quic_port: Option<u16>) -> String {
    let quic = quic_port
        .map(|port| format!(" https://*:{port}"))
        .unwrap_or_default();
    CONTENT_SECURITY_POLICY.replace("{quic}", &quic)
}

/// `GET /dashboard`: the page.
pub async fn page(State(app): State<AppState>) -> Response {
    serve(&app, "index.html")
}

/// `GET /dashboard/{*path}`: an asset (or the page, for `/dashboard/`).
pub async fn asset(State(app): State<AppState>, Path(path): Path<String>) -> Response {
    if path.is_empty() {
        return serve(&app, "index.html");
    }
    serve(&app, &path)
}

/// What `/dashboard/transport.json` announces.
#[derive(Debug, serde::Serialize)]
struct Transports {
    /// `None` while QUIC is off.
    webtransport: Option<WebTransportOffer>,
}

/// Where the page's browser opens a WebTransport session.
#[derive(Debug, serde::Serialize)]
struct WebTransportOffer {
    /// The UDP port, on the host the page came from.
    port: u16,
    /// The session's path.
    path: &'static str,
    /// The certificate's SHA-256 (hex) when it is a generated development certificate, which
    /// browsers accept only through `serverCertificateHashes`; `None` for an operator's
    /// certificate, which they verify as usual.
    certificate_sha256: Option<String>,
}

/// `GET /dashboard/transport.json`: whether the page may use WebTransport, and how.
pub async fn transport(State(app): State<AppState>) -> Response {
    let webtransport = app.quic().map(|listening| WebTransportOffer {
        port: listening.addr.port(),
        path: crate::transport::quic::WEBTRANSPORT_PATH,
        certificate_sha256: listening.generated.then(|| listening.sha256.clone()),
    });
    (
        [(header::CACHE_CONTROL, "no-cache")],
        axum::Json(Transports { webtransport }),
    )
        .into_response()
}

fn serve(app: &AppState, path: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.path == path) else {
        return crate::api::ApiError::new(
            crate::api::ErrorKind::NotFound,
            "no such dashboard file; open /dashboard",
        )
        .into_response();
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, asset.content_type),
            // The files change only with the binary; revalidate so an upgrade shows at once.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        asset.body,
    )
        .into_response();
    if asset.path.ends_with(".html") {
        let policy = content_security_policy(app.quic().map(|listening| listening.addr.port()));
        if let Ok(policy) = HeaderValue::from_str(&policy) {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, policy);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_content_policy_opens_only_the_quic_port_for_webtransport() {
        let closed = super::content_security_policy(None);
        assert!(closed.contains("connect-src 'self' ws: wss:;"), "{closed}");
        assert!(!closed.contains("https:"), "{closed}");
        let open = super::content_security_policy(Some(8443));
        assert!(
            open.contains("connect-src 'self' ws: wss: https://*:8443;"),
            "{open}"
        );
    }

    use std::path::{Path, PathBuf};

    use super::ASSETS;

    fn files_under(dir: &Path, root: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("admin/ is readable") {
            let path = entry.expect("a directory entry").path();
            let relative = path
                .strip_prefix(root)
                .expect("under admin/")
                .to_string_lossy()
                .replace('\\', "/");
            if path.is_dir() {
                if relative != "tests" {
                    files_under(&path, root, found);
                }
            } else if relative != "README.md" {
                found.push(relative);
            }
        }
    }

    #[test]
    fn every_file_of_admin_is_served_and_every_served_file_exists() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../admin");
        let mut on_disk = Vec::new();
        files_under(&root, &root, &mut on_disk);
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|asset| asset.path.to_owned()).collect();
        served.sort();
        assert_eq!(
            on_disk, served,
            "admin/ and dashboard::ASSETS must list the same files"
        );
    }
}
