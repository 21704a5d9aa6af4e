-- Privacy (issue 17): erasure tombstones and per-tenant retention. Mirror: ../sqlite/0009_privacy.sql.
--
-- `erased_users` remembers that a user was erased without naming them: `subject_sha256` is the
-- lowercase hex SHA-256 of the user id. A token of that user is refused and their queued events
-- are dropped, so an erased student is never re-created by a late request.
CREATE TABLE IF NOT EXISTS erased_users (
    subject_sha256  TEXT        NOT NULL PRIMARY KEY CHECK (subject_sha256 ~ '^[0-9a-f]{64}$'),
    tenant_id       TEXT        NOT NULL,
    erased_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Each tenant's retention in days (NULL: the server's default; 0: kept until erasure).
ALTER TABLE tenant_policies ADD COLUMN IF NOT EXISTS events_days INTEGER CHECK (events_days >= 0);
ALTER TABLE tenant_policies ADD COLUMN IF NOT EXISTS ai_days     INTEGER CHECK (ai_days >= 0);
ALTER TABLE tenant_policies ADD COLUMN IF NOT EXISTS chat_days   INTEGER CHECK (chat_days >= 0);
ALTER TABLE tenant_policies ALTER COLUMN consent_required DROP NOT NULL;
-- The retention purge finds a tenant's oldest events by time.
CREATE INDEX IF NOT EXISTS game_events_tenant_sent_idx ON game_events (tenant_id, sent_at);
