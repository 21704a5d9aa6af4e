//! One upload, from the multipart body to a `media` row: find the part named `file`, sniff its
//! first bytes, stream the rest to an object-store multipart upload (hashing and counting as it
//! goes, at most two parts in flight), make an image's thumbnail, then write the row. Whatever
//! fails while the file streams aborts the upload ([`PendingWrite`] does so even when the
//! request is dropped), so no partial object is left behind; once the object is complete, a task
//! of its own ([`complete`]) writes the row or removes the object, so none is left without a row.

use axum::extract::Multipart;
use axum::extract::multipart::{Field, MultipartError};
use bytes::{Bytes, BytesMut};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt as _, WriteMultipart};
use persistence::MediaRecord;
use sha2::{Digest, Sha256};

use super::sniff::{ACCEPTED, SNIFF_BYTES, Sniffed, sniff};
use super::thumbnail::{self, Thumbnail};
use super::{Media, MediaStorage};
use crate::api::ids::new_id;
use crate::api::{ApiError, ErrorKind};
use crate::app::AppState;

/// Longest file name kept (characters); longer names are cut.
const MAX_NAME_CHARS: usize = 255;
/// Parts in flight to the store at once (each up to [`Media::part_bytes`]).
const PARTS_IN_FLIGHT: usize = 2;
/// After refusing a file, at most this much more of its body is read (and dropped) so the client
/// sees the answer instead of a reset connection; a larger rest is cut off.
const DRAIN_BYTES: u64 = 8 << 20;

/// Who uploads what, for which lesson or course.
#[derive(Debug)]
pub(super) struct Incoming {
    /// The tenant.
    pub tenant: String,
    /// The uploader.
    pub user: String,
    /// `("lesson" | "course", id)` to attach it to.
    pub owner: Option<(&'static str, String)>,
}

/// Counts one upload's outcome.
fn counted(outcome: &'static str) {
    metrics::counter!("classhub_media_uploads_total", "outcome" => outcome).increment(1);
}

impl Media {
    /// Bytes per part of a multipart upload: S3's minimum part; smaller for a folder or memory.
    fn part_bytes(&self) -> usize {
        match self.settings.storage {
            MediaStorage::S3 { .. } => 5 << 20,
            MediaStorage::Dir(_) | MediaStorage::Memory => 1 << 20,
        }
    }
}

/// Stores the file of `multipart` for `incoming` and returns its row.
pub(super) async fn store(
    app: &AppState,
    mut multipart: Multipart,
    incoming: Incoming,
) -> Result<MediaRecord, ApiError> {
    let media = app.media();
    let mut field = match multipart.next_field().await.map_err(unreadable)? {
        Some(field) if field.name() == Some("file") => field,
        Some(field) => {
            let name = field.name().unwrap_or("(unnamed)").to_owned();
            counted("invalid");
            return Err(ApiError::invalid_field(
                name,
                "unknown part: send exactly one multipart part, named `file`",
            ));
        }
        None => {
            counted("invalid");
            return Err(ApiError::invalid_field(
                "file",
                "missing: send the file as a multipart/form-data part named `file`",
            ));
        }
    };
    let file_name = clean_name(field.file_name());
    let head = read_head(&mut field).await?;
    if head.is_empty() {
        counted("invalid");
        return Err(ApiError::invalid_field("file", "the file is empty"));
    }
    let Some(sniffed) = sniff(&head[..head.len().min(SNIFF_BYTES)]) else {
        counted("unsupported");
        drain(&mut field).await;
        return Err(ApiError::new(
            ErrorKind::UnsupportedMediaType,
            format!(
                "the file's content is not a type media accepts (its name and Content-Type are \
                 not what counts, its bytes are); accepted: {ACCEPTED}"
            ),
        ));
    };
    let id = new_id("med");
    let key = media.key(&incoming.tenant, &id, "");
    let streamed = stream_to_store(media, &mut field, head, &key, sniffed).await?;
    drop(field);
    // The object is complete: from here on a task of its own finishes the upload, so a client
    // that goes away now leaves either a stored file with its row or nothing, never an object
    // without a row.
    let stored = Stored {
        id,
        key,
        file_name,
        sniffed,
        streamed,
        incoming,
    };
    tokio::spawn(complete(app.clone(), multipart, stored))
        .await
        .map_err(|failed| ApiError::internal(format!("an upload's last step failed: {failed}")))?
}

/// A file whose object is complete, waiting for its thumbnail and row.
struct Stored {
    id: String,
    key: ObjectPath,
    file_name: String,
    sniffed: Sniffed,
    streamed: Streamed,
    incoming: Incoming,
}

/// Checks that nothing follows the file, makes an image's thumbnail and writes the row; removes
/// the objects when any step refuses or fails.
async fn complete(
    app: AppState,
    mut multipart: Multipart,
    stored: Stored,
) -> Result<MediaRecord, ApiError> {
    let media = app.media();
    let Stored {
        id,
        key,
        file_name,
        sniffed,
        streamed,
        incoming,
    } = stored;
    let extra = match multipart.next_field().await {
        Ok(None) => None,
        Ok(Some(extra)) => Some(ApiError::invalid_field(
            extra.name().unwrap_or("(unnamed)"),
            "unknown part: send exactly one multipart part, named `file`",
        )),
        Err(cause) => Some(unreadable(cause)),
    };
    if let Some(refused) = extra {
        counted("invalid");
        media.remove([key.to_string()]).await;
        return Err(refused);
    }
    let thumbnail = match (sniffed.image, streamed.image_bytes) {
        (Some(format), Some(bytes)) => make_thumbnail(media, &id, format, bytes).await,
        _ => None,
    };
    // The thumbnail's type is in its key (`.thumb.png` or `.thumb.jpg`); `serve.rs` reads it.
    let suffix = match &thumbnail {
        Some(made) if made.content_type == "image/png" => ".thumb.png",
        _ => ".thumb.jpg",
    };
    let thumbnail_key = media.key(&incoming.tenant, &id, suffix);
    let stored_thumbnail = match &thumbnail {
        Some(Thumbnail { bytes, .. }) => {
            let payload = Bytes::copy_from_slice(bytes);
            match media.objects.put(&thumbnail_key, payload.into()).await {
                Ok(_) => Some(bytes.len()),
                Err(cause) => {
                    tracing::warn!(%cause, media = id, "the thumbnail could not be stored; stored without one");
                    None
                }
            }
        }
        None => None,
    };
    let (owner_kind, owner_id) = incoming
        .owner
        .map(|(kind, id)| (kind.to_owned(), id))
        .unzip();
    let record = MediaRecord {
        id: id.clone(),
        tenant_id: incoming.tenant,
        owner_kind,
        owner_id,
        file_name,
        content_type: sniffed.content_type.to_owned(),
        size_bytes: i64::try_from(streamed.size).unwrap_or(i64::MAX),
        sha256: streamed.sha256,
        object_key: key.to_string(),
        thumbnail_key: stored_thumbnail.map(|_| thumbnail_key.to_string()),
        thumbnail_bytes: stored_thumbnail.map(|len| i64::try_from(len).unwrap_or(i64::MAX)),
        width: thumbnail
            .as_ref()
            .map(|made| i32::try_from(made.width).unwrap_or(i32::MAX)),
        height: thumbnail
            .as_ref()
            .map(|made| i32::try_from(made.height).unwrap_or(i32::MAX)),
        uploaded_by: Some(incoming.user),
        created_at: String::new(),
    };
    let objects = [Some(key.to_string()), record.thumbnail_key.clone()];
    match app.store().insert_media(&record).await {
        Ok(true) => {}
        Ok(false) => {
            counted("invalid");
            media.remove(objects.into_iter().flatten()).await;
            let kind = record.owner_kind.as_deref().unwrap_or("lesson");
            return Err(ApiError::not_found(kind));
        }
        Err(cause) => {
            counted("failed");
            media.remove(objects.into_iter().flatten()).await;
            return Err(cause.into());
        }
    }
    counted("stored");
    app.store()
        .media(&record.tenant_id, &id)
        .await?
        .ok_or_else(|| ApiError::internal(format!("media {id} vanished right after its insert")))
}

/// The thumbnail of an uploaded image, made on a blocking thread once a decode permit is free
/// (`--media-thumbnail-concurrency`); `None`, logged, when it cannot be made (the file is
/// stored all the same).
async fn make_thumbnail(
    media: &Media,
    id: &str,
    format: image::ImageFormat,
    bytes: Vec<u8>,
) -> Option<Thumbnail> {
    let settings = media.settings();
    let (edge, max_pixels) = (settings.thumbnail_edge, settings.thumbnail_max_pixels);
    // The semaphore is never closed; held until the decode ends (it moves into the task).
    let permit = media.decodes.clone().acquire_owned().await.ok()?;
    let made = tokio::task::spawn_blocking(move || {
        let made = thumbnail::make(&bytes, format, edge, max_pixels);
        drop(permit);
        made
    })
    .await;
    match made {
        Ok(Ok(thumbnail)) => Some(thumbnail),
        Ok(Err(cause)) => {
            tracing::info!(%cause, media = id, "stored without a thumbnail");
            None
        }
        Err(cause) => {
            tracing::warn!(%cause, media = id, "the thumbnail task failed; stored without one");
            None
        }
    }
}

/// What streaming a file to the store found.
struct Streamed {
    /// Bytes written.
    size: u64,
    /// Their SHA-256, lower-case hex.
    sha256: String,
    /// A copy of an image small enough for a thumbnail (`--media-thumbnail-max-bytes`).
    image_bytes: Option<Vec<u8>>,
}

/// Streams `head` and the rest of `field` to a multipart upload at `key`.
async fn stream_to_store(
    media: &Media,
    field: &mut Field<'_>,
    head: BytesMut,
    key: &ObjectPath,
    sniffed: Sniffed,
) -> Result<Streamed, ApiError> {
    let settings = media.settings();
    let upload = media.objects.put_multipart(key).await.map_err(|cause| {
        counted("failed");
        ApiError::internal(format!("cannot start a media upload: {cause}"))
    })?;
    let mut pending = PendingWrite(Some(WriteMultipart::new_with_chunk_size(
        upload,
        media.part_bytes(),
    )));
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut image_bytes = sniffed.image.map(|_| Vec::new());
    let mut next = Some(head.freeze());
    loop {
        let chunk = match next.take() {
            Some(chunk) => chunk,
            None => match field.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(cause) => {
                    counted("invalid");
                    pending.abort().await;
                    return Err(unreadable(cause));
                }
            },
        };
        size += chunk.len() as u64;
        if size > settings.max_bytes {
            counted("too_large");
            pending.abort().await;
            drain(field).await;
            return Err(too_large(settings.max_bytes));
        }
        hasher.update(&chunk);
        if let Some(copy) = &mut image_bytes {
            if size <= settings.thumbnail_max_bytes {
                copy.extend_from_slice(&chunk);
            } else {
                image_bytes = None;
            }
        }
        let waited = pending.writer().wait_for_capacity(PARTS_IN_FLIGHT).await;
        if let Err(cause) = waited {
            counted("failed");
            pending.abort().await;
            return Err(ApiError::internal(format!(
                "a media upload failed: {cause}"
            )));
        }
        pending.writer().put(chunk);
    }
    if let Err(cause) = pending.finish().await {
        counted("failed");
        return Err(ApiError::internal(format!(
            "a media upload could not be completed: {cause}"
        )));
    }
    Ok(Streamed {
        size,
        sha256: hex::encode(hasher.finalize()),
        image_bytes,
    })
}

/// A multipart upload in progress; aborted when dropped unfinished (a client that went away
/// drops the request's future mid-upload), so the store keeps no partial object.
struct PendingWrite(Option<WriteMultipart>);

impl PendingWrite {
    fn writer(&mut self) -> &mut WriteMultipart {
        self.0
            .as_mut()
            .expect("the writer is only taken by finish and abort, which consume the guard")
    }

    async fn finish(mut self) -> Result<(), object_store::Error> {
        match self.0.take() {
            Some(writer) => writer.finish().await.map(drop),
            None => Ok(()),
        }
    }

    async fn abort(mut self) {
        if let Some(writer) = self.0.take()
            && let Err(cause) = writer.abort().await
        {
            tracing::warn!(%cause, "a refused media upload could not be aborted");
        }
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            drop(runtime.spawn(async move {
                if let Err(cause) = writer.abort().await {
                    tracing::warn!(%cause, "an abandoned media upload could not be aborted");
                }
            }));
        }
    }
}

/// The first bytes of the field: at least [`SNIFF_BYTES`] unless the file is shorter.
async fn read_head(field: &mut Field<'_>) -> Result<BytesMut, ApiError> {
    let mut head = BytesMut::new();
    while head.len() < SNIFF_BYTES {
        match field.chunk().await.map_err(unreadable)? {
            Some(chunk) => head.extend_from_slice(&chunk),
            None => break,
        }
    }
    Ok(head)
}

/// Reads and drops up to [`DRAIN_BYTES`] of a body refused before it was read (by its
/// `Content-Length`).
pub(super) async fn drain_body(body: axum::body::Body) {
    use futures_util::StreamExt as _;
    let mut stream = body.into_data_stream();
    let mut drained = 0u64;
    while drained < DRAIN_BYTES {
        match stream.next().await {
            Some(Ok(chunk)) => drained += chunk.len() as u64,
            Some(Err(_)) | None => return,
        }
    }
}

/// Reads and drops up to [`DRAIN_BYTES`] more of a refused file.
async fn drain(field: &mut Field<'_>) {
    let mut drained = 0u64;
    while drained < DRAIN_BYTES {
        match field.chunk().await {
            Ok(Some(chunk)) => drained += chunk.len() as u64,
            Ok(None) | Err(_) => return,
        }
    }
}

/// 413 naming the limit.
pub(super) fn too_large(max_bytes: u64) -> ApiError {
    ApiError::new(
        ErrorKind::PayloadTooLarge,
        format!(
            "the file is larger than {max_bytes} bytes ({:.1} MiB), the most this server accepts \
             (--media-max-bytes); upload a smaller or more compressed file",
            max_bytes as f64 / f64::from(1 << 20)
        ),
    )
}

/// 400 for a body that is not readable multipart.
fn unreadable(cause: MultipartError) -> ApiError {
    ApiError::new(
        ErrorKind::BadRequest,
        format!(
            "the upload could not be read as multipart/form-data ({}); send one part named `file`",
            cause.body_text()
        ),
    )
}

/// The client's file name without folders or control characters, cut to a sane length.
fn clean_name(name: Option<&str>) -> String {
    let name = name
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    match cleaned.trim() {
        "" => "upload".to_owned(),
        trimmed => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_folders_and_control_characters() {
        assert_eq!(clean_name(Some("C:\\Users\\kid\\cat.png")), "cat.png");
        assert_eq!(clean_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(clean_name(Some("a\u{0}b\nc.pdf")), "abc.pdf");
        assert_eq!(clean_name(Some("  ")), "upload");
        assert_eq!(clean_name(None), "upload");
        assert_eq!(
            clean_name(Some(&"x".repeat(1000))).chars().count(),
            MAX_NAME_CHARS
        );
    }
}
