-- The tutor's conversations (issue 19, part 3). Mirror: ../sqlite/0014_tutor_threads.sql.
--
-- A thread is one student's conversation with the tutor: the last `--ai-thread-turns` turns kept
-- word for word (`tutor_turns`) and a running summary of the older ones (`tutor_threads.summary`,
-- at most `--ai-thread-summary-chars`). `turns_total` numbers the turns (a turn's `seq`);
-- `folded_through` is the last `seq` folded into the summary, and no turn at or below it is kept.
-- Both tables name the student (`user_id`), so export, erasure and retention find them directly.
CREATE TABLE IF NOT EXISTS tutor_threads (
    tenant_id      TEXT        NOT NULL,
    id             TEXT        NOT NULL,
    user_id        TEXT        NOT NULL,
    title          TEXT        NOT NULL,
    summary        TEXT        NOT NULL DEFAULT '',
    turns_total    BIGINT      NOT NULL DEFAULT 0 CHECK (turns_total >= 0),
    folded_through BIGINT      NOT NULL DEFAULT 0 CHECK (folded_through >= 0),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tutor_threads_tenant_user_idx ON tutor_threads (tenant_id, user_id, id);
CREATE INDEX IF NOT EXISTS tutor_threads_tenant_updated_idx ON tutor_threads (tenant_id, updated_at);

-- One question and its answer in a thread.
CREATE TABLE IF NOT EXISTS tutor_turns (
    tenant_id  TEXT        NOT NULL,
    id         TEXT        NOT NULL,
    thread_id  TEXT        NOT NULL,
    user_id    TEXT        NOT NULL,
    seq        BIGINT      NOT NULL CHECK (seq > 0),
    lesson_id  TEXT,
    task_id    TEXT,
    question   TEXT        NOT NULL,
    answer     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, thread_id, seq),
    FOREIGN KEY (tenant_id, thread_id) REFERENCES tutor_threads (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tutor_turns_tenant_user_idx ON tutor_turns (tenant_id, user_id);

-- What the task list shows: the model that answered and when it started and ended.
ALTER TABLE agent_tasks ADD COLUMN IF NOT EXISTS model TEXT;
ALTER TABLE agent_tasks ADD COLUMN IF NOT EXISTS started_at TIMESTAMPTZ;
ALTER TABLE agent_tasks ADD COLUMN IF NOT EXISTS finished_at TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS agent_tasks_tenant_id_idx ON agent_tasks (tenant_id, id);
