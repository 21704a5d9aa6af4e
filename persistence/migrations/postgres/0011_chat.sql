-- Moderated class chat (issue 18, part 6). Mirror: ../sqlite/0011_chat.sql.
--
-- The messages themselves stay in game_events: kind `chat` (shown), `chat_held` (flagged, waiting
-- for the teacher; event id `held:` + the message id) and `chat_deleted` (a teacher's tombstone,
-- data {"id"}; the sink deletes the message it names in the same transaction). What is kept here
-- is each class's rules: slow mode, muted students, and each school's blocked words.
ALTER TABLE classes ADD COLUMN IF NOT EXISTS chat_slow_seconds INTEGER NOT NULL DEFAULT 0
    CHECK (chat_slow_seconds >= 0);

-- A student muted in a class's chat until `until_ms` (Unix milliseconds).
CREATE TABLE IF NOT EXISTS chat_mutes (
    tenant_id  TEXT        NOT NULL,
    class_id   TEXT        NOT NULL,
    user_id    TEXT        NOT NULL,
    until_ms   BIGINT      NOT NULL,
    muted_by   TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, class_id, user_id),
    FOREIGN KEY (tenant_id, class_id) REFERENCES classes (tenant_id, id) ON DELETE CASCADE
);

-- A school's blocked words and phrases (a JSON array of lower-case strings).
CREATE TABLE IF NOT EXISTS chat_blocklists (
    tenant_id  TEXT        NOT NULL PRIMARY KEY REFERENCES tenants (id),
    words      TEXT        NOT NULL,
    updated_by TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
