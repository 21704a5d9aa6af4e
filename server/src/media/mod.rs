//! Media: images, video, audio and PDFs that staff upload for lessons and courses, kept in an
//! object store ([`Media`], through the `object_store` crate: a folder under the data dir by
//! default, an S3-compatible bucket with `--media-url s3://…`, memory for tests) with their
//! metadata in the `media` table (`persistence`'s `MediaRecord`).
//!
//! - **Upload** (`POST /api/v1/media`, `upload.rs`): one multipart part named `file`, streamed
//!   to the store chunk by chunk through a multipart upload (at most a few parts in memory, never
//!   the file). Its type comes from its first bytes (`sniff.rs`), not its name or the client's
//!   `Content-Type`: 415 otherwise, before anything is written. More than `--media-max-bytes`:
//!   413, and the partial object is aborted (also when the client goes away mid-upload). An
//!   image gets a thumbnail on upload (`thumbnail.rs`, on a blocking thread, bounded decode).
//! - **Attachment**: `?lesson_id=` or `?course_id=` on the upload attaches the file to that
//!   lesson or course (the caller must be allowed to edit it: its course's author or an admin).
//!   When a lesson or course is deleted, its route calls [`forget_owner`], which deletes the
//!   tenant's orphaned rows and then their objects (a course's lessons go with it, so their files
//!   too). Unattached files stay until deleted.
//! - **Serving** (`serve.rs`): `GET /api/v1/media/{id}` (and `/thumbnail`) with one byte range
//!   (206, 416), a strong ETag (its SHA-256; `If-None-Match` → 304), `Cache-Control: private`,
//!   the sniffed `Content-Type`, `nosniff` and a sandboxing CSP.
//!
//! **Who may do what.** Every person of the tenant (students and parents included) may list and
//! read its media: files are for lessons, and a lesson's text is what hides unpublished work.
//! Staff (educators, admins) upload; a file is deleted by its uploader or an admin. Another
//! tenant's file is 404, never 403.
//!
//! Nothing here holds a lock; the object store and the database are the only shared state.

mod range;
pub mod routes;
mod serve;
mod settings;
mod sniff;
mod thumbnail;
mod upload;

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use crate::app::AppState;
pub use settings::{MediaArgs, MediaSettings, MediaStorage};
pub use sniff::ACCEPTED;

/// The media store: where files go and the limits they are held to. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Media {
    /// The limits (`--media-*`).
    settings: MediaSettings,
    /// The object store every file and thumbnail is written to and read from.
    objects: Arc<dyn ObjectStore>,
    /// Keys start with this (`--media-url s3://bucket/prefix`); empty otherwise.
    prefix: String,
    /// One permit per thumbnail decode (`--media-thumbnail-concurrency`), so the memory decodes
    /// take is bounded whatever the number of uploads. Shared by every clone.
    decodes: Arc<tokio::sync::Semaphore>,
}

/// Why the media store could not be opened at start.
#[derive(Debug, thiserror::Error)]
pub enum MediaStoreError {
    /// The media folder could not be created.
    #[error("cannot create the media folder {dir}: {cause}; check --media-dir or --data-dir")]
    Folder {
        /// The folder.
        dir: String,
        /// Why.
        cause: std::io::Error,
    },
    /// `object_store` refused the configuration.
    #[error(
        "cannot open the media store: {0}; check --media-dir or --media-url and the AWS_* variables"
    )]
    Store(#[from] object_store::Error),
}

impl Media {
    /// Opens the store `settings` name (creating the folder when it is one).
    pub fn open(settings: &MediaSettings) -> Result<Media, MediaStoreError> {
        let (objects, prefix): (Arc<dyn ObjectStore>, String) = match &settings.storage {
            MediaStorage::Dir(dir) => {
                std::fs::create_dir_all(dir).map_err(|cause| MediaStoreError::Folder {
                    dir: dir.display().to_string(),
                    cause,
                })?;
                let local = object_store::local::LocalFileSystem::new_with_prefix(dir)?
                    .with_automatic_cleanup(true);
                (Arc::new(local), String::new())
            }
            MediaStorage::S3 { bucket_url, prefix } => {
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(bucket_url)
                    .build()?;
                (Arc::new(s3), prefix.clone())
            }
            MediaStorage::Memory => (
                Arc::new(object_store::memory::InMemory::new()),
                String::new(),
            ),
        };
        Ok(Media {
            settings: settings.clone(),
            objects,
            prefix,
            decodes: Arc::new(tokio::sync::Semaphore::new(settings.thumbnail_concurrency)),
        })
    }

    /// The limits.
    pub fn settings(&self) -> &MediaSettings {
        &self.settings
    }

    /// The object store (tests look inside it).
    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    /// The key of a tenant's file (`{prefix}/{tenant}/{id}`; `suffix` for its thumbnail).
    fn key(&self, tenant: &str, id: &str, suffix: &str) -> ObjectPath {
        let name = format!("{id}{suffix}");
        let parts = [self.prefix.as_str(), tenant, name.as_str()];
        ObjectPath::from_iter(parts.into_iter().filter(|part| !part.is_empty()))
    }

    /// Removes stored objects by key, logging (not failing on) what could not be removed: the
    /// rows are gone already, so nothing serves them any more.
    async fn remove(&self, keys: impl IntoIterator<Item = String>) {
        use object_store::ObjectStoreExt as _;
        for key in keys {
            // Stored keys are already encoded (`ObjectPath::to_string`): parsed, not re-encoded.
            let deleted = match ObjectPath::parse(&key) {
                Ok(path) => self.objects.delete(&path).await,
                Err(cause) => Err(object_store::Error::from(cause)),
            };
            match deleted {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(cause) => {
                    tracing::warn!(%cause, key, "a media object could not be removed; remove it by hand");
                }
            }
        }
    }
}

/// Called by the routes that delete a lesson or a course, after the store deleted it: deletes
/// the rows of the tenant's files whose lesson or course is gone (`kind` and `id` name the one
/// just deleted, for the log) and then their objects. A failure is logged, not returned: the
/// deletion the caller asked for is done, and the next one sweeps what this one left.
pub async fn forget_owner(app: &AppState, tenant: &str, kind: &str, id: &str) {
    match app.store().take_orphaned_media(tenant).await {
        Ok(orphans) => {
            if !orphans.is_empty() {
                tracing::info!(
                    tenant,
                    owner = kind,
                    id,
                    files = orphans.len(),
                    "removing the media of a deleted {kind}"
                );
            }
            let keys = orphans
                .into_iter()
                .flat_map(|orphan| std::iter::once(orphan.object_key).chain(orphan.thumbnail_key));
            app.media().remove(keys).await;
        }
        Err(cause) => {
            tracing::warn!(%cause, tenant, owner = kind, id, "the media of a deleted {kind} could not be looked up; the next deletion retries");
        }
    }
}
