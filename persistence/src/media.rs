//! Media metadata (`media`): one row per uploaded file, its object-store keys, sniffed type, size,
//! SHA-256 and, for images, its thumbnail. The bytes themselves are not here: the server streams
//! them to its object store and records the row once the object is complete
//! ([`Store::insert_media`]). A file may belong to a lesson or a course; there is no foreign key
//! to them, so deleting a lesson or course leaves its media rows as orphans that
//! [`Store::take_orphaned_media`] deletes and returns, for the server to remove their objects.

use crate::sql::{Page, Paged, exec, row, rows};
use crate::{Store, StoreError};

/// One stored file.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MediaRecord {
    /// The media id (`med_…`; sorts by upload time).
    pub id: String,
    /// The school it belongs to.
    pub tenant_id: String,
    /// `lesson` or `course` when attached, else `None`.
    pub owner_kind: Option<String>,
    /// The lesson or course it is attached to.
    pub owner_id: Option<String>,
    /// The uploaded file's name, as the client gave it (display only).
    pub file_name: String,
    /// The type sniffed from its first bytes (`image/png`, `video/mp4`, …).
    pub content_type: String,
    /// Its size in bytes.
    pub size_bytes: i64,
    /// Its SHA-256, lower-case hex (the ETag).
    pub sha256: String,
    /// Where its bytes are in the object store.
    pub object_key: String,
    /// Where its thumbnail is, for images that got one.
    pub thumbnail_key: Option<String>,
    /// The thumbnail's size in bytes.
    pub thumbnail_bytes: Option<i64>,
    /// An image's width in pixels.
    pub width: Option<i32>,
    /// An image's height in pixels.
    pub height: Option<i32>,
    /// Who uploaded it (`None` after their erasure).
    pub uploaded_by: Option<String>,
    /// When it was stored (ISO-8601, UTC).
    pub created_at: String,
}

/// The object-store keys of a deleted media row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MediaObjects {
    /// The media id.
    pub id: String,
    /// The file's key.
    pub object_key: String,
    /// The thumbnail's key, if any.
    pub thumbnail_key: Option<String>,
}

/// The columns of a [`MediaRecord`].
const COLUMNS: &str = "id, tenant_id, owner_kind, owner_id, file_name, content_type, size_bytes, \
                       sha256, object_key, thumbnail_key, thumbnail_bytes, width, height, \
                       uploaded_by, TS(created_at) AS created_at";

/// Rows whose lesson or course no longer exists.
const ORPHANED: &str = "tenant_id = $1 AND ((owner_kind = 'lesson' AND NOT EXISTS \
     (SELECT 1 FROM lessons l WHERE l.tenant_id = media.tenant_id AND l.id = media.owner_id)) \
     OR (owner_kind = 'course' AND NOT EXISTS \
     (SELECT 1 FROM courses c WHERE c.tenant_id = media.tenant_id AND c.id = media.owner_id)))";

impl Store {
    /// Records a stored file. When it is attached to a lesson or course, the row is written only
    /// if that lesson or course still exists in the tenant (it may have been deleted while the
    /// file streamed in); returns whether the row was written.
    pub async fn insert_media(&self, media: &MediaRecord) -> Result<bool, StoreError> {
        let owner_exists = match media.owner_kind.as_deref() {
            None => "1 = 1",
            Some("lesson") => "EXISTS (SELECT 1 FROM lessons WHERE tenant_id = $2 AND id = $4)",
            Some(_) => "EXISTS (SELECT 1 FROM courses WHERE tenant_id = $2 AND id = $4)",
        };
        let sql = format!(
            "INSERT INTO media (id, tenant_id, owner_kind, owner_id, file_name, content_type, \
             size_bytes, sha256, object_key, thumbnail_key, thumbnail_bytes, width, height, \
             uploaded_by) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 \
             WHERE {owner_exists}"
        );
        let written = exec!(
            self,
            &sql,
            &media.id,
            &media.tenant_id,
            &media.owner_kind,
            &media.owner_id,
            &media.file_name,
            &media.content_type,
            media.size_bytes,
            &media.sha256,
            &media.object_key,
            &media.thumbnail_key,
            media.thumbnail_bytes,
            media.width,
            media.height,
            &media.uploaded_by
        )?;
        Ok(written > 0)
    }

    /// One file of the tenant.
    pub async fn media(&self, tenant: &str, id: &str) -> Result<Option<MediaRecord>, StoreError> {
        Ok(row!(
            self,
            MediaRecord,
            &format!("SELECT {COLUMNS} FROM media WHERE tenant_id = $1 AND id = $2"),
            tenant,
            id
        )?)
    }

    /// A page of the tenant's files, newest first; only those of one lesson or course when
    /// `owner` is `Some((kind, id))`.
    pub async fn media_page(
        &self,
        tenant: &str,
        owner: Option<(&str, &str)>,
        page: &Page<String>,
    ) -> Result<Paged<MediaRecord>, StoreError> {
        let (kind, owner_id) = owner.unzip();
        let items = rows!(
            self,
            MediaRecord,
            &format!(
                "SELECT {COLUMNS} FROM media WHERE tenant_id = $1 \
                 AND ($2 IS NULL OR (owner_kind = $2 AND owner_id = $3)) \
                 AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
            ),
            tenant,
            kind,
            owner_id,
            page.after.as_deref(),
            i64::from(page.limit) + 1
        )?;
        Ok(Paged::cut(items, page.limit))
    }

    /// Deletes one file's row; returns its object keys when it existed.
    pub async fn delete_media(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<MediaObjects>, StoreError> {
        Ok(row!(
            self,
            MediaObjects,
            "DELETE FROM media WHERE tenant_id = $1 AND id = $2 \
             RETURNING id, object_key, thumbnail_key",
            tenant,
            id
        )?)
    }

    /// Deletes the rows of the tenant's files whose lesson or course no longer exists (a
    /// deleted course takes its lessons with it, so their files are found too) and returns
    /// their object keys.
    pub async fn take_orphaned_media(&self, tenant: &str) -> Result<Vec<MediaObjects>, StoreError> {
        Ok(rows!(
            self,
            MediaObjects,
            &format!("DELETE FROM media WHERE {ORPHANED} RETURNING id, object_key, thumbnail_key"),
            tenant
        )?)
    }
}
