-- The audit trail (issue 17, FERPA): an append-only record of staff and admin actions — who
-- (actor and role), in which tenant, on what (target type and id, and the student it concerns),
-- when and from which address. No statement updates or deletes a row (erasing a student, once
-- it exists, is to pseudonymise the entries about them). No foreign keys: entries outlive the
-- users and classes they name. Mirror: ../sqlite/0007_audit.sql.
CREATE TABLE IF NOT EXISTS audit_entries (
    id           TEXT NOT NULL PRIMARY KEY,   -- time-ordered: ids sort by creation
    tenant_id    TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    actor_role   TEXT NOT NULL,               -- educator, admin, parent, student, game_server
    action       TEXT NOT NULL,               -- e.g. roster.added, command.sent, progress.read
    target_type  TEXT NOT NULL,               -- class, user, student, course, ...
    target_id    TEXT NOT NULL,
    student_id   TEXT,                        -- the student the action concerns, if one
    source_ip    TEXT,
    detail       JSONB,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS audit_entries_tenant_id_idx ON audit_entries (tenant_id, id);
CREATE INDEX IF NOT EXISTS audit_entries_student_idx ON audit_entries (tenant_id, student_id, id);
