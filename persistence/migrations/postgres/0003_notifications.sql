-- Notifications (issue 5): one row per recipient. Sent by educators and admins to a student, a
-- class or the whole tenant; delivered live on the recipient's `user:` room and kept here with
-- read/unread. Mirror: ../sqlite/0003_notifications.sql.
CREATE TABLE IF NOT EXISTS notifications (
    id          TEXT        NOT NULL PRIMARY KEY,   -- time-ordered: ids sort by creation
    tenant_id   TEXT        NOT NULL REFERENCES tenants (id),
    user_id     TEXT        NOT NULL,               -- the recipient
    sender_id   TEXT,                               -- no FK: a sender may be deleted later
    kind        TEXT        NOT NULL,               -- message, reward, quiz, ...
    title       TEXT        NOT NULL,
    body        TEXT,
    data        JSONB,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    read_at     TIMESTAMPTZ,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS notifications_tenant_user_id_idx
    ON notifications (tenant_id, user_id, id);
