-- Privacy (issue 17): erasure tombstones and per-tenant retention. Mirror: ../postgres/0009_privacy.sql.
--
-- `erased_users` remembers that a user was erased without naming them: `subject_sha256` is the
-- lowercase hex SHA-256 of the user id. A token of that user is refused and their queued events
-- are dropped, so an erased student is never re-created by a late request.
CREATE TABLE IF NOT EXISTS erased_users (
    subject_sha256  TEXT NOT NULL PRIMARY KEY
                    CHECK (length(subject_sha256) = 64 AND subject_sha256 NOT GLOB '*[^0-9a-f]*'),
    tenant_id       TEXT NOT NULL,
    erased_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- Each tenant's retention in days (NULL: the server's default; 0: kept until erasure). SQLite
-- cannot drop a NOT NULL, so the policy table is rebuilt with consent_required nullable.
CREATE TABLE tenant_policies_new (
    tenant_id         TEXT    NOT NULL PRIMARY KEY,
    consent_required  BOOLEAN CHECK (consent_required IS NULL OR consent_required IN (0, 1)),
    events_days       INTEGER CHECK (events_days >= 0),
    ai_days           INTEGER CHECK (ai_days >= 0),
    chat_days         INTEGER CHECK (chat_days >= 0)
);
INSERT INTO tenant_policies_new (tenant_id, consent_required)
    SELECT tenant_id, consent_required FROM tenant_policies;
DROP TABLE tenant_policies;
ALTER TABLE tenant_policies_new RENAME TO tenant_policies;
-- The retention purge finds a tenant's oldest events by time.
CREATE INDEX IF NOT EXISTS game_events_tenant_sent_idx ON game_events (tenant_id, sent_at);
