-- Media: uploaded images, video, audio and PDFs (issue 19, part 2). Mirror: ../sqlite/0013_media.sql.
--
-- One row per stored file; the bytes live in the object store (`--media-dir` or `--media-url`)
-- under `object_key`, an image's thumbnail under `thumbnail_key`. A file may belong to a lesson
-- or a course (`owner_kind` + `owner_id`). There is deliberately no foreign key to lessons or
-- courses: a cascade would drop the row and leave its object behind. The server deletes the rows
-- of a deleted lesson or course itself (the `DELETE … RETURNING` sweep in persistence/src/media.rs)
-- and then their objects.
CREATE TABLE IF NOT EXISTS media (
    id              TEXT        NOT NULL PRIMARY KEY,
    tenant_id       TEXT        NOT NULL REFERENCES tenants (id),
    owner_kind      TEXT        CHECK (owner_kind IN ('lesson', 'course')),
    owner_id        TEXT,
    file_name       TEXT        NOT NULL,
    content_type    TEXT        NOT NULL,
    size_bytes      BIGINT      NOT NULL CHECK (size_bytes > 0),
    sha256          TEXT        NOT NULL,
    object_key      TEXT        NOT NULL,
    thumbnail_key   TEXT,
    thumbnail_bytes BIGINT,
    width           INTEGER,
    height          INTEGER,
    uploaded_by     TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((owner_kind IS NULL) = (owner_id IS NULL)),
    CHECK ((thumbnail_key IS NULL) = (thumbnail_bytes IS NULL))
);
CREATE INDEX IF NOT EXISTS media_tenant_id_idx ON media (tenant_id, id);
CREATE INDEX IF NOT EXISTS media_tenant_owner_idx ON media (tenant_id, owner_kind, owner_id, id);
