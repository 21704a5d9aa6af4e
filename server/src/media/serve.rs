//! Sending a stored object (a file or its thumbnail): the validators and range of `range.rs`
//! applied, then the object streamed from the store (never read whole), with the headers a
//! browser needs to cache it and play it (`Accept-Ranges`, `ETag`, `Cache-Control: private`,
//! `Content-Type`) and to treat it as inert data (`nosniff`, `Content-Security-Policy: sandbox`).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange};

use super::Media;
use super::range::{Wanted, none_match_hits, wanted};
use crate::api::{ApiError, ErrorKind};

/// One object to send.
#[derive(Debug)]
pub(super) struct Object<'a> {
    /// Its key in the store.
    pub key: &'a str,
    /// Its size in bytes (from its row: no round trip to the store for a 304 or a 416).
    pub size: u64,
    /// Its `Content-Type`.
    pub content_type: &'a str,
    /// Its strong ETag, quoted.
    pub etag: String,
}

/// The answer to a `GET` of `object` with the request's `headers`.
pub(super) async fn send(
    media: &Media,
    headers: &HeaderMap,
    object: Object<'_>,
) -> Result<Response, ApiError> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|value: &HeaderValue| value.to_str().ok())
    };
    let mut common = HeaderMap::new();
    insert(&mut common, header::ETAG, &object.etag);
    let max_age = media.settings().cache_max_age.as_secs();
    insert(
        &mut common,
        header::CACHE_CONTROL,
        &format!("private, max-age={max_age}"),
    );
    insert(&mut common, header::ACCEPT_RANGES, "bytes");
    insert(&mut common, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    insert(&mut common, header::CONTENT_SECURITY_POLICY, "sandbox");
    if text(header::IF_NONE_MATCH).is_some_and(|tags| none_match_hits(tags, &object.etag)) {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    // A stale `If-Range` (another version's ETag) asks for the whole file.
    let range = match text(header::IF_RANGE) {
        Some(tag) if tag.trim() != object.etag => None,
        _ => text(header::RANGE),
    };
    let (status, bytes) = match wanted(range, object.size) {
        Wanted::Whole => (StatusCode::OK, 0..object.size),
        Wanted::Part(bytes) => (StatusCode::PARTIAL_CONTENT, bytes),
        Wanted::Unsatisfiable => {
            let mut refused = ApiError::new(
                ErrorKind::RangeNotSatisfiable,
                format!(
                    "the range asks for bytes the file does not have (it is {} bytes); ask for \
                     bytes=0-{} or less",
                    object.size,
                    object.size.saturating_sub(1)
                ),
            )
            .into_response();
            refused.headers_mut().extend(common);
            insert(
                refused.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes */{}", object.size),
            );
            return Ok(refused);
        }
    };
    let options = GetOptions {
        range: Some(GetRange::Bounded(bytes.clone())),
        ..GetOptions::default()
    };
    // Stored keys are already encoded (`ObjectPath::to_string`): parsed, not re-encoded.
    let path = ObjectPath::parse(object.key).map_err(|cause| {
        ApiError::internal(format!(
            "media key {} is not a valid path: {cause}",
            object.key
        ))
    })?;
    let found = media
        .objects
        .get_opts(&path, options)
        .await
        .map_err(|cause| {
            ApiError::internal(format!(
                "media object {} cannot be read: {cause}",
                object.key
            ))
        })?;
    let mut response = Response::new(Body::from_stream(found.into_stream()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.extend(common);
    insert(headers, header::CONTENT_TYPE, object.content_type);
    insert(
        headers,
        header::CONTENT_LENGTH,
        &(bytes.end - bytes.start).to_string(),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        insert(
            headers,
            header::CONTENT_RANGE,
            &format!("bytes {}-{}/{}", bytes.start, bytes.end - 1, object.size),
        );
    }
    Ok(response)
}

/// Sets a header whose value is known to be visible ASCII (a value that is not is left out and
/// logged, never a panic).
fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(value) => {
            headers.insert(name, value);
        }
        Err(_) => tracing::warn!(header = %name, value, "a media header value is not valid"),
    }
}
