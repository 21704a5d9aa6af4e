-- Consent (issue 17, COPPA): each student's consent state, decided by a parent or by the school
-- acting for the parent, with who and when; and each tenant's policy (whether a student needs
-- granted consent before their data goes to an AI provider or their Roblox account is linked).
-- A student without a row is `pending`. Mirror: ../postgres/0008_consent.sql.
CREATE TABLE IF NOT EXISTS student_consent (
    tenant_id     TEXT NOT NULL,
    student_id    TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'granted', 'revoked')),
    decided_by    TEXT NOT NULL,              -- the parent, or the admin acting for them
    decided_role  TEXT NOT NULL,              -- parent or admin
    decided_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (tenant_id, student_id)
);
CREATE TABLE IF NOT EXISTS tenant_policies (
    tenant_id         TEXT    NOT NULL PRIMARY KEY,
    consent_required  BOOLEAN NOT NULL CHECK (consent_required IN (0, 1))
);
