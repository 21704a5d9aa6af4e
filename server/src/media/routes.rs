//! Media over REST: upload (`POST /api/v1/media`, multipart), list, read (whole, a range, or
//! not modified), an image's thumbnail, and delete. The rules (who, limits, storage) are in the
//! module header of `super`; the work in `upload.rs` and `serve.rs`.

use axum::Json;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use persistence::MediaRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::serve::{self, Object};
use super::upload::{self, Incoming, too_large};
use crate::api::openapi::ErrorResponse;
use crate::api::{ApiError, ApiPath, ApiQuery, Caller, ErrorKind, PageOf, PageQuery, page_of};
use crate::app::AppState;
use crate::platform::content::{editable_course, editable_lesson};

/// Multipart framing allowed on top of the file itself before a `Content-Length` is refused
/// outright (headers of the part, boundaries).
const FRAMING_BYTES: u64 = 64 << 10;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_media, upload_media))
        .routes(routes!(get_media, delete_media))
        .routes(routes!(get_thumbnail))
        // The upload counts its own bytes against --media-max-bytes as it streams them.
        .layer(DefaultBodyLimit::disable())
}

/// A stored file.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaView {
    /// The media id.
    id: String,
    /// The file name the uploader gave (display only).
    file_name: String,
    /// Its type, read from its content (`image/png`, `video/mp4`, `application/pdf`, …).
    content_type: String,
    /// Its size in bytes.
    size_bytes: i64,
    /// Its SHA-256 (lower-case hex).
    sha256: String,
    /// Where to `GET` it.
    url: String,
    /// Where to `GET` its thumbnail (images only; `null` when none could be made).
    thumbnail_url: Option<String>,
    /// An image's width in pixels.
    width: Option<i32>,
    /// An image's height in pixels.
    height: Option<i32>,
    /// The lesson it belongs to.
    lesson_id: Option<String>,
    /// The course it belongs to.
    course_id: Option<String>,
    /// Who uploaded it (`null` after their erasure).
    uploaded_by: Option<String>,
    /// When it was stored (ISO-8601, UTC).
    created_at: String,
}

impl From<MediaRecord> for MediaView {
    fn from(record: MediaRecord) -> MediaView {
        let owned_by = |kind: &str| {
            (record.owner_kind.as_deref() == Some(kind))
                .then(|| record.owner_id.clone())
                .flatten()
        };
        MediaView {
            url: format!("/api/v1/media/{}", record.id),
            thumbnail_url: record
                .thumbnail_key
                .as_ref()
                .map(|_| format!("/api/v1/media/{}/thumbnail", record.id)),
            lesson_id: owned_by("lesson"),
            course_id: owned_by("course"),
            id: record.id,
            file_name: record.file_name,
            content_type: record.content_type,
            size_bytes: record.size_bytes,
            sha256: record.sha256,
            width: record.width,
            height: record.height,
            uploaded_by: record.uploaded_by,
            created_at: record.created_at,
        }
    }
}

/// The lesson or course a file belongs to (at most one).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OwnerQuery {
    /// The lesson (upload: attach to it; list: only its files).
    lesson_id: Option<String>,
    /// The course (upload: attach to it, e.g. its thumbnail; list: only its files).
    course_id: Option<String>,
}

impl OwnerQuery {
    fn owner(self) -> Result<Option<(&'static str, String)>, ApiError> {
        // An empty value is no value (`?lesson_id=`), as for every query parameter.
        let given = |value: Option<String>| value.filter(|value| !value.is_empty());
        match (given(self.lesson_id), given(self.course_id)) {
            (Some(_), Some(_)) => Err(ApiError::invalid_field(
                "course_id",
                "give lesson_id or course_id, not both",
            )),
            (Some(lesson), None) => Ok(Some(("lesson", lesson))),
            (None, Some(course)) => Ok(Some(("course", course))),
            (None, None) => Ok(None),
        }
    }
}

/// A file's bytes, as stored (the `Content-Type` header names their type).
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
#[expect(
    dead_code,
    reason = "documents a streamed body; handlers never build one"
)]
struct FileBytes(Vec<u8>);

/// The multipart form of an upload (one part; any other is refused with 422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "documents the multipart body; the handler streams it instead"
)]
struct UploadForm {
    /// The file: at most `--media-max-bytes`; a PNG, JPEG, GIF or WebP image, MP4 or WebM
    /// video, MP3, M4A, Ogg or WAV audio, or a PDF, as its content (not its name) shows.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Upload a file (staff): one multipart part named `file`, streamed to storage. Images get a
/// thumbnail. `?lesson_id=` or `?course_id=` attaches it (the course's author or an admin);
/// it is then deleted with that lesson or course.
#[utoipa::path(post, path = "/api/v1/media", tag = "media", params(OwnerQuery),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = MediaView, headers(("Location" = String))),
              (status = 400, body = ErrorResponse, description = "not a readable multipart body"),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
              (status = 413, body = ErrorResponse, description = "larger than --media-max-bytes"),
              (status = 415, body = ErrorResponse, description = "content of a type media does not accept"),
              (status = 422, body = ErrorResponse)))]
async fn upload_media(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<OwnerQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    caller.require_staff("upload media")?;
    let owner = query.owner()?;
    match &owner {
        Some(("lesson", id)) => {
            editable_lesson(&app, &caller, id, "attach media to this lesson").await?;
        }
        Some((_, id)) => {
            editable_course(&app, &caller, id, "attach media to this course").await?;
        }
        None => {}
    }
    let max_bytes = app.media().settings().max_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes.saturating_add(FRAMING_BYTES)) {
        metrics::counter!("classhub_media_uploads_total", "outcome" => "too_large").increment(1);
        upload::drain_body(request.into_body()).await;
        return Err(too_large(max_bytes));
    }
    let multipart = Multipart::from_request(request, &app)
        .await
        .map_err(|refused| {
            ApiError::new(
                ErrorKind::BadRequest,
                format!(
                    "{}; send the file as multipart/form-data with one part named `file`",
                    refused.body_text()
                ),
            )
        })?;
    let incoming = Incoming {
        tenant: caller.tenant().to_owned(),
        user: caller.user().to_owned(),
        owner,
    };
    let record = upload::store(&app, multipart, incoming).await?;
    let view = MediaView::from(record);
    let location = HeaderValue::from_str(&view.url).map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

/// List the school's files, newest first (every member of the school); `?lesson_id=` or
/// `?course_id=`: only that lesson's or course's.
#[utoipa::path(get, path = "/api/v1/media", tag = "media", params(OwnerQuery, PageQuery),
    responses((status = 200, body = PageOf<MediaView>), (status = 422, body = ErrorResponse)))]
async fn list_media(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(owner): ApiQuery<OwnerQuery>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<MediaView>>, ApiError> {
    let owner = owner.owner()?;
    let owner = owner.as_ref().map(|(kind, id)| (*kind, id.as_str()));
    let paged = app
        .store()
        .media_page(caller.tenant(), owner, &page.page()?)
        .await?;
    Ok(Json(page_of(paged, |row| row.id.clone(), MediaView::from)))
}

/// The validators and range headers a file `GET` honours.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(
    dead_code,
    reason = "documents the headers; the handler reads them from the request"
)]
struct ReadHeaders {
    /// One byte range, `bytes=a-b`, `bytes=a-` or `bytes=-n` (206, or 416 past the end);
    /// several ranges or another unit: the whole file.
    #[serde(rename = "Range")]
    #[param(rename = "Range")]
    range: Option<String>,
    /// The ETag of a copy the client holds: 304 when it is still this file's.
    #[serde(rename = "If-None-Match")]
    #[param(rename = "If-None-Match")]
    if_none_match: Option<String>,
}

/// Read a file (every member of the school): the whole file, or one byte range (206). Sends
/// `ETag` (304 for a matching `If-None-Match`), `Cache-Control`, `Accept-Ranges` and the type
/// read from its content.
#[utoipa::path(get, path = "/api/v1/media/{id}", tag = "media",
    params(("id" = String, Path, description = "media id"), ReadHeaders),
    responses((status = 200, description = "the file, with the type read from its content", content_type = "*/*", body = FileBytes),
              (status = 206, description = "the requested range (Content-Range)", content_type = "*/*", body = FileBytes),
              (status = 304, description = "not modified: the client's copy is this file"),
              (status = 404, body = ErrorResponse),
              (status = 416, body = ErrorResponse, description = "the range is past the end of the file")))]
async fn get_media(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let record = found(&app, &caller, &id).await?;
    let object = Object {
        key: &record.object_key,
        size: u64::try_from(record.size_bytes).unwrap_or(0),
        content_type: &record.content_type,
        etag: etag(&record.sha256, ""),
    };
    serve::send(app.media(), &headers, object).await
}

/// Read an image's thumbnail (every member of the school): JPEG, or PNG for images with
/// transparency, its longest edge at most `--media-thumbnail-edge`.
#[utoipa::path(get, path = "/api/v1/media/{id}/thumbnail", tag = "media",
    params(("id" = String, Path, description = "media id"), ReadHeaders),
    responses((status = 200, description = "the thumbnail", content((FileBytes = "image/jpeg"), (FileBytes = "image/png"))),
              (status = 206, description = "the requested range (Content-Range)", content((FileBytes = "image/jpeg"), (FileBytes = "image/png"))),
              (status = 304, description = "not modified: the client's copy is this thumbnail"),
              (status = 404, body = ErrorResponse, description = "no such file, or it has no thumbnail (not an image)"),
              (status = 416, body = ErrorResponse, description = "the range is past the end of the thumbnail")))]
async fn get_thumbnail(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let record = found(&app, &caller, &id).await?;
    let (Some(key), Some(size)) = (&record.thumbnail_key, record.thumbnail_bytes) else {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            format!(
                "media {id} has no thumbnail: only images get one, and only up to \
                 --media-thumbnail-max-bytes and --media-thumbnail-max-pixels"
            ),
        ));
    };
    let content_type = if key.ends_with(".png") {
        "image/png"
    } else {
        "image/jpeg"
    };
    let object = Object {
        key,
        size: u64::try_from(size).unwrap_or(0),
        content_type,
        etag: etag(&record.sha256, "-thumb"),
    };
    serve::send(app.media(), &headers, object).await
}

/// Delete a file and its thumbnail (the educator who uploaded it, or an admin).
#[utoipa::path(delete, path = "/api/v1/media/{id}", tag = "media",
    params(("id" = String, Path, description = "media id")),
    responses((status = 204, description = "deleted"),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn delete_media(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_staff("delete media")?;
    let record = found(&app, &caller, &id).await?;
    if !caller.is_admin() && record.uploaded_by.as_deref() != Some(caller.user()) {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            format!(
                "only the educator who uploaded media {id} or an admin may delete it; ask them or an admin"
            ),
        ));
    }
    let Some(deleted) = app.store().delete_media(caller.tenant(), &id).await? else {
        return Err(ApiError::not_found("media"));
    };
    let keys = std::iter::once(deleted.object_key).chain(deleted.thumbnail_key);
    app.media().remove(keys).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's tenant's file `id` (404 for another tenant's).
async fn found(app: &AppState, caller: &Caller, id: &str) -> Result<MediaRecord, ApiError> {
    app.store()
        .media(caller.tenant(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("media"))
}

/// A strong ETag from a file's SHA-256 (128 bits of it are plenty to tell versions apart).
fn etag(sha256: &str, suffix: &str) -> String {
    let digest = sha256.get(..32).unwrap_or(sha256);
    format!("\"{digest}{suffix}\"")
}
