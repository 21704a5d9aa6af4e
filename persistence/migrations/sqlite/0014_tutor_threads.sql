-- The tutor's conversations (issue 19, part 3). Mirror: ../postgres/0014_tutor_threads.sql.
--
-- A thread is one student's conversation with the tutor: the last `--ai-thread-turns` turns kept
-- word for word (`tutor_turns`) and a running summary of the older ones (`tutor_threads.summary`,
-- at most `--ai-thread-summary-chars`). `turns_total` numbers the turns (a turn's `seq`);
-- `folded_through` is the last `seq` folded into the summary, and no turn at or below it is kept.
-- Both tables name the student (`user_id`), so export, erasure and retention find them directly.
CREATE TABLE IF NOT EXISTS tutor_threads (
    tenant_id      TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    user_id        TEXT    NOT NULL,
    title          TEXT    NOT NULL,
    summary        TEXT    NOT NULL DEFAULT '',
    turns_total    INTEGER NOT NULL DEFAULT 0 CHECK (turns_total >= 0),
    folded_through INTEGER NOT NULL DEFAULT 0 CHECK (folded_through >= 0),
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tutor_threads_tenant_user_idx ON tutor_threads (tenant_id, user_id, id);
CREATE INDEX IF NOT EXISTS tutor_threads_tenant_updated_idx ON tutor_threads (tenant_id, updated_at);

-- One question and its answer in a thread.
CREATE TABLE IF NOT EXISTS tutor_turns (
    tenant_id  TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    thread_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    seq        INTEGER NOT NULL CHECK (seq > 0),
    lesson_id  TEXT,
    task_id    TEXT,
    question   TEXT    NOT NULL,
    answer     TEXT    NOT NULL,
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, thread_id, seq),
    FOREIGN KEY (tenant_id, thread_id) REFERENCES tutor_threads (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tutor_turns_tenant_user_idx ON tutor_turns (tenant_id, user_id);

-- What the task list shows: the model that answered and when it started and ended.
ALTER TABLE agent_tasks ADD COLUMN model TEXT;
ALTER TABLE agent_tasks ADD COLUMN started_at TEXT;
ALTER TABLE agent_tasks ADD COLUMN finished_at TEXT;
CREATE INDEX IF NOT EXISTS agent_tasks_tenant_id_idx ON agent_tasks (tenant_id, id);
