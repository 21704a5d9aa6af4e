//! `GET /api/v1/users/{id}/export` (one JSON document) and `GET /api/v1/users/{id}/export.zip`
//! (one CSV file per section): everything stored about a person, streamed. A blocking task
//! reads each section page by page (`--export-page-rows` rows at a time, `Store::export_page`)
//! and writes it to a bounded channel the response body drains, so memory stays at a page
//! whatever the person's number of events, and a slow reader slows the reads, not the server.
//! A failure after the first byte ends the body early (the client sees a truncated transfer).

use std::io::{self, Write};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use persistence::{ExportSection, Store, Subject};
use serde_json::{Map, Value};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zip::write::SimpleFileOptions;

use crate::api::openapi::ErrorResponse;
use crate::api::{ApiError, ApiPath, Caller};
use crate::app::AppState;
use crate::platform::analytics::csv_field;
use crate::platform::audit::{self, Target};

/// The format name at the top of every JSON export.
pub const FORMAT: &str = "classhub.export.v1";

/// Bytes gathered before a chunk goes to the response.
const CHUNK_BYTES: usize = 64 * 1024;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_json))
        .routes(routes!(export_zip))
}

#[derive(Debug, Clone, Copy)]
enum Format {
    Json,
    Zip,
}

/// Everything stored about a person as one JSON document, streamed (admins; a parent for a
/// linked child; anyone for themself): `format`, `tenant`, `user_id`, `exported_at`, then one
/// key per section — `user`, `parent_links`, `classes`, `progress`, `results`,
/// `roblox_players`, `consent`, `ai`, `notifications`, `chat`, `rewards`, `game_events`,
/// `audit`.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/export", tag = "privacy",
    params(("user_id" = String, Path, description = "user id")),
    responses((status = 200, description = "the export, streamed", content_type = "application/json", body = Object),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn export_json(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Response, ApiError> {
    start(app, caller, user_id, Format::Json).await
}

/// The same export as a zip of CSV files, one per section (`user.csv`, `parent_links.csv`, …),
/// streamed.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/export.zip", tag = "privacy",
    params(("user_id" = String, Path, description = "user id")),
    responses((status = 200, description = "the export as CSV files in a zip, streamed", content_type = "application/zip", body = Vec<u8>),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn export_zip(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Response, ApiError> {
    start(app, caller, user_id, Format::Zip).await
}

async fn start(
    app: AppState,
    caller: Caller,
    user_id: String,
    format: Format,
) -> Result<Response, ApiError> {
    super::may_export(&caller, &user_id)?;
    let tenant = caller.tenant();
    let user = app
        .store()
        .user(tenant, &user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let format_name = match format {
        Format::Json => "json",
        Format::Zip => "csv",
    };
    let target = Target {
        kind: "user",
        id: &user.id,
        student: (user.role == "student").then_some(user.id.as_str()),
    };
    let detail = serde_json::json!({"format": format_name});
    audit::record(&app, &caller, "user.exported", target, Some(detail)).await;
    let subject = super::subject(&app, tenant, &user_id);
    let body = stream(
        app.store().clone(),
        subject,
        app.config().privacy.export_page_rows,
        format,
    );
    let (content_type, file) = match format {
        Format::Json => (
            "application/json",
            format!("classhub-export-{user_id}.json"),
        ),
        Format::Zip => ("application/zip", format!("classhub-export-{user_id}.zip")),
    };
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file.replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-',
            "_"
        )
    );
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// The export as a response body: written by a blocking task into a channel of a few chunks.
fn stream(store: Store, subject: Subject, page_rows: u32, format: Format) -> Body {
    let (chunks, mut receiver) = mpsc::channel::<Result<Bytes, io::Error>>(4);
    let handle = Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            buffer: Vec::with_capacity(CHUNK_BYTES),
            chunks: chunks.clone(),
        };
        let export = Export {
            handle,
            store,
            subject,
            page_rows,
        };
        let written = match format {
            Format::Json => export.json(&mut out),
            Format::Zip => export.zip(&mut out),
        };
        let finished = written.and_then(|()| out.flush());
        if let Err(failure) = finished {
            if failure.kind() != io::ErrorKind::BrokenPipe {
                tracing::warn!(%failure, "export failed after it started; the body ends early");
            }
            let _gone = chunks.blocking_send(Err(failure));
        }
    });
    let body = futures_util::stream::poll_fn(move |context| receiver.poll_recv(context));
    Body::from_stream(body)
}

/// A `Write` that hands the response 64 KiB chunks (blocking when the client reads slowly).
struct ChunkWriter {
    buffer: Vec<u8>,
    chunks: mpsc::Sender<Result<Bytes, io::Error>>,
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.chunks
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

/// One export under way, on a blocking thread.
struct Export {
    handle: Handle,
    store: Store,
    subject: Subject,
    page_rows: u32,
}

impl Export {
    /// Calls `each` with every page of `section`, in order.
    fn pages(
        &self,
        section: ExportSection,
        mut each: impl FnMut(Vec<Vec<Value>>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut after: Option<String> = None;
        loop {
            let page = self
                .handle
                .block_on(self.store.export_page(
                    section,
                    &self.subject,
                    after.as_deref(),
                    self.page_rows,
                ))
                .map_err(io::Error::other)?;
            each(page.rows)?;
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    fn json(&self, out: &mut impl Write) -> io::Result<()> {
        let head = serde_json::json!({
            "format": FORMAT,
            "tenant": self.subject.tenant,
            "user_id": self.subject.user,
            "exported_at": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        });
        let head = head.to_string();
        // The head without its closing brace; each section follows as `,"name":…`.
        out.write_all(&head.as_bytes()[..head.len() - 1])?;
        for section in ExportSection::ALL {
            let columns = section.columns();
            write!(out, ",{}:", Value::from(section.name()))?;
            if section.is_single() {
                let mut first = None;
                self.pages(section, |rows| {
                    if first.is_none() {
                        first = rows.into_iter().next();
                    }
                    Ok(())
                })?;
                match first {
                    Some(row) => serde_json::to_writer(&mut *out, &object(&columns, row))?,
                    None => out.write_all(b"null")?,
                }
                continue;
            }
            out.write_all(b"[")?;
            let mut written = 0usize;
            self.pages(section, |rows| {
                for row in rows {
                    if written > 0 {
                        out.write_all(b",")?;
                    }
                    serde_json::to_writer(&mut *out, &object(&columns, row))?;
                    written += 1;
                }
                Ok(())
            })?;
            out.write_all(b"]")?;
        }
        out.write_all(b"}")
    }

    fn zip(&self, out: &mut impl Write) -> io::Result<()> {
        let mut zip = zip::ZipWriter::new_stream(out);
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for section in ExportSection::ALL {
            zip.start_file(format!("{}.csv", section.name()), options)
                .map_err(io::Error::other)?;
            let header: Vec<String> = section.columns().iter().map(|c| csv_field(c)).collect();
            write!(zip, "{}\r\n", header.join(","))?;
            self.pages(section, |rows| {
                for row in rows {
                    let line: Vec<String> = row.iter().map(cell).collect();
                    write!(zip, "{}\r\n", line.join(","))?;
                }
                Ok(())
            })?;
        }
        zip.finish().map_err(io::Error::other)?;
        Ok(())
    }
}

fn object(columns: &[&str], row: Vec<Value>) -> Map<String, Value> {
    columns
        .iter()
        .map(|column| (*column).to_owned())
        .zip(row)
        .collect()
}

/// A value as one CSV field: text as is, `null` empty, JSON compact.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => csv_field(text),
        other => csv_field(&other.to_string()),
    }
}
