-- classhub persistence schema, PostgreSQL 15 (system of record).
--
-- Mirror: ../sqlite/0001_schema.sql describes the same tables, columns,
-- constraints and indexes with SQLite types. Keep the two in step.
--
-- Tenancy: every table except `tenants` and `stripe_events` carries
-- `tenant_id`. References between tenant-scoped tables are composite
-- `(tenant_id, x_id) -> parent(tenant_id, id)`, so a row can only point at a
-- parent in the same tenant. `game_events` and `student_progress` are written
-- by the event sink at high rate and deliberately have NO foreign keys.
--
-- Idempotent: IF NOT EXISTS everywhere, so a hand re-run is harmless (sqlx
-- itself applies this file once, inside a transaction).

-- ---------------------------------------------------------------------------
-- Tenants
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS tenants (
    id          TEXT        NOT NULL PRIMARY KEY,   -- JWT `tenant` claim, e.g. 'acme'
    name        TEXT        NOT NULL,
    plan        TEXT        NOT NULL DEFAULT 'free',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------
-- Users and parent links
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS users (
    id                TEXT        NOT NULL PRIMARY KEY, -- JWT `sub`
    tenant_id         TEXT        NOT NULL REFERENCES tenants (id),
    role              TEXT        NOT NULL
                      CHECK (role IN ('student', 'educator', 'parent', 'admin')),
    external_auth_id  TEXT,                         -- e.g. Clerk user id
    display_name      TEXT,
    active            BOOLEAN     NOT NULL DEFAULT true,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- target of the composite (tenant_id, user_id) foreign keys below
    CONSTRAINT users_tenant_id_id_key UNIQUE (tenant_id, id),
    -- NULLs are distinct, so this is "unique per tenant when not null"
    CONSTRAINT users_tenant_id_external_auth_id_key UNIQUE (tenant_id, external_auth_id)
);
CREATE INDEX IF NOT EXISTS users_tenant_role_idx ON users (tenant_id, role);

CREATE TABLE IF NOT EXISTS parent_links (
    tenant_id   TEXT        NOT NULL REFERENCES tenants (id),
    parent_id   TEXT        NOT NULL,
    child_id    TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, parent_id, child_id),
    CHECK (parent_id <> child_id),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, child_id)  REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS parent_links_tenant_child_idx ON parent_links (tenant_id, child_id);

-- ---------------------------------------------------------------------------
-- Classes and membership
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS classes (
    id           TEXT        NOT NULL PRIMARY KEY,
    tenant_id    TEXT        NOT NULL REFERENCES tenants (id),
    name         TEXT        NOT NULL,
    teacher_id   TEXT,
    class_code   TEXT        NOT NULL,              -- typed in-game to link Roblox
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    archived_at  TIMESTAMPTZ,
    CONSTRAINT classes_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT classes_tenant_id_class_code_key UNIQUE (tenant_id, class_code),
    FOREIGN KEY (tenant_id, teacher_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS classes_tenant_teacher_idx ON classes (tenant_id, teacher_id);

CREATE TABLE IF NOT EXISTS class_members (
    tenant_id      TEXT        NOT NULL REFERENCES tenants (id),
    class_id       TEXT        NOT NULL,
    user_id        TEXT        NOT NULL,
    role_in_class  TEXT        NOT NULL DEFAULT 'student',
    added_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (class_id, user_id),
    FOREIGN KEY (tenant_id, class_id) REFERENCES classes (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id)  REFERENCES users (tenant_id, id)   ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS class_members_tenant_class_idx ON class_members (tenant_id, class_id);
CREATE INDEX IF NOT EXISTS class_members_tenant_user_idx  ON class_members (tenant_id, user_id);

-- ---------------------------------------------------------------------------
-- Courses and lessons
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS courses (
    id           TEXT        NOT NULL PRIMARY KEY,
    tenant_id    TEXT        NOT NULL REFERENCES tenants (id),
    title        TEXT        NOT NULL,
    description  TEXT,
    grade_level  TEXT,
    published    BOOLEAN     NOT NULL DEFAULT false,
    created_by   TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT courses_tenant_id_id_key UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS courses_tenant_published_idx ON courses (tenant_id, published);

CREATE TABLE IF NOT EXISTS lessons (
    id          TEXT        NOT NULL PRIMARY KEY,
    tenant_id   TEXT        NOT NULL REFERENCES tenants (id),
    course_id   TEXT        NOT NULL,
    title       TEXT        NOT NULL,
    content     JSONB,
    position    INTEGER     NOT NULL DEFAULT 0,
    published   BOOLEAN     NOT NULL DEFAULT false,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT lessons_tenant_id_id_key UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, course_id) REFERENCES courses (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS lessons_tenant_course_position_idx
    ON lessons (tenant_id, course_id, position);

-- ---------------------------------------------------------------------------
-- Assessments
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS assessments (
    id          TEXT        NOT NULL PRIMARY KEY,
    tenant_id   TEXT        NOT NULL REFERENCES tenants (id),
    lesson_id   TEXT,
    title       TEXT        NOT NULL,
    questions   JSONB       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT assessments_tenant_id_id_key UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, lesson_id) REFERENCES lessons (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS assessments_tenant_lesson_idx ON assessments (tenant_id, lesson_id);

CREATE TABLE IF NOT EXISTS assessment_results (
    id             TEXT             NOT NULL PRIMARY KEY,
    tenant_id      TEXT             NOT NULL REFERENCES tenants (id),
    assessment_id  TEXT             NOT NULL,
    user_id        TEXT             NOT NULL,
    answers        JSONB,
    score          DOUBLE PRECISION,
    max_score      DOUBLE PRECISION,
    submitted_at   TIMESTAMPTZ      NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessments (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id)       REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS assessment_results_tenant_assessment_idx
    ON assessment_results (tenant_id, assessment_id);
CREATE INDEX IF NOT EXISTS assessment_results_tenant_user_idx
    ON assessment_results (tenant_id, user_id);

-- ---------------------------------------------------------------------------
-- Student progress (event sink upserts; NO foreign keys)
--   INSERT ... ON CONFLICT (tenant_id, user_id, course_id, lesson_id) DO UPDATE
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS student_progress (
    tenant_id           TEXT             NOT NULL,
    user_id             TEXT             NOT NULL,
    course_id           TEXT             NOT NULL DEFAULT '',
    lesson_id           TEXT             NOT NULL,
    completion_percent  DOUBLE PRECISION NOT NULL DEFAULT 0
                        CHECK (completion_percent >= 0 AND completion_percent <= 100),
    time_spent_secs     BIGINT           NOT NULL DEFAULT 0 CHECK (time_spent_secs >= 0),
    completed_at        TIMESTAMPTZ,
    updated_at          TIMESTAMPTZ      NOT NULL DEFAULT now(),
    -- the upsert's conflict target; a PK (not just UNIQUE) so the table has a
    -- replica identity for logical replication
    CONSTRAINT student_progress_pkey PRIMARY KEY (tenant_id, user_id, course_id, lesson_id)
);
CREATE INDEX IF NOT EXISTS student_progress_tenant_course_lesson_idx
    ON student_progress (tenant_id, course_id, lesson_id);

-- ---------------------------------------------------------------------------
-- Roblox
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS roblox_players (
    tenant_id       TEXT        NOT NULL REFERENCES tenants (id),
    roblox_user_id  BIGINT      NOT NULL,
    user_id         TEXT,                           -- NULL until linked via class code
    display_name    TEXT,
    linked_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, roblox_user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS roblox_players_tenant_user_idx ON roblox_players (tenant_id, user_id);

CREATE TABLE IF NOT EXISTS game_sessions (
    id             TEXT        NOT NULL PRIMARY KEY,
    tenant_id      TEXT        NOT NULL REFERENCES tenants (id),
    universe_id    BIGINT      NOT NULL,
    place_id       BIGINT      NOT NULL,
    job_id         TEXT        NOT NULL,
    class_id       TEXT,
    started_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at       TIMESTAMPTZ,
    duration_secs  BIGINT      CHECK (duration_secs >= 0),
    events_count   BIGINT      NOT NULL DEFAULT 0 CHECK (events_count >= 0),
    FOREIGN KEY (tenant_id, class_id) REFERENCES classes (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS game_sessions_tenant_job_idx
    ON game_sessions (tenant_id, job_id);
CREATE INDEX IF NOT EXISTS game_sessions_tenant_class_started_idx
    ON game_sessions (tenant_id, class_id, started_at);

-- ---------------------------------------------------------------------------
-- Game events (append log, batch-inserted by the sink; NO foreign keys)
--   INSERT ... ON CONFLICT (tenant_id, event_id) DO NOTHING
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS game_events (
    id          BIGSERIAL   PRIMARY KEY,
    -- Ids compare byte-wise (COLLATE "C"): cheaper index maintenance at sink rates, and ids
    -- have no linguistic order anyway.
    tenant_id   TEXT        COLLATE "C" NOT NULL,
    event_id    TEXT        COLLATE "C" NOT NULL,   -- client-made id
    room        TEXT        COLLATE "C" NOT NULL,
    kind        TEXT        COLLATE "C" NOT NULL,
    sender      TEXT        COLLATE "C" NOT NULL,   -- user id of the publisher
    data        JSONB       NOT NULL,
    seq         BIGINT      NOT NULL,
    sent_at     TIMESTAMPTZ NOT NULL,               -- server publish time
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT game_events_tenant_id_event_id_key UNIQUE (tenant_id, event_id)
);
CREATE INDEX IF NOT EXISTS game_events_tenant_room_seq_idx
    ON game_events (tenant_id, room, seq);
CREATE INDEX IF NOT EXISTS game_events_tenant_kind_sent_idx
    ON game_events (tenant_id, kind, sent_at);

-- ---------------------------------------------------------------------------
-- AI agent tasks
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS agent_tasks (
    id           TEXT        NOT NULL PRIMARY KEY,
    tenant_id    TEXT        NOT NULL REFERENCES tenants (id),
    user_id      TEXT        NOT NULL,
    kind         TEXT        NOT NULL,
    status       TEXT        NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    input        JSONB,
    output       JSONB,
    tokens_used  BIGINT      NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
    error        TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS agent_tasks_tenant_user_created_idx
    ON agent_tasks (tenant_id, user_id, created_at);
CREATE INDEX IF NOT EXISTS agent_tasks_tenant_status_idx
    ON agent_tasks (tenant_id, status);

-- ---------------------------------------------------------------------------
-- Billing (Stripe)
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS subscriptions (
    id                      TEXT        NOT NULL PRIMARY KEY,
    tenant_id               TEXT        NOT NULL REFERENCES tenants (id),
    stripe_customer_id      TEXT,
    stripe_subscription_id  TEXT,
    plan                    TEXT        NOT NULL,
    status                  TEXT        NOT NULL,
    seats                   INTEGER     CHECK (seats >= 0),
    ai_tokens_per_day       BIGINT      CHECK (ai_tokens_per_day >= 0),
    current_period_end      TIMESTAMPTZ,
    last_event_at           TIMESTAMPTZ,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT subscriptions_tenant_id_key UNIQUE (tenant_id),
    CONSTRAINT subscriptions_stripe_subscription_id_key UNIQUE (stripe_subscription_id)
);
-- webhooks arrive without a tenant, so this lookup is global
CREATE INDEX IF NOT EXISTS subscriptions_stripe_customer_idx
    ON subscriptions (stripe_customer_id);

-- Global (not tenant-scoped): webhook idempotency by Stripe event id.
CREATE TABLE IF NOT EXISTS stripe_events (
    id           TEXT        NOT NULL PRIMARY KEY,  -- Stripe event id, evt_...
    type         TEXT        NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------
-- Game server API keys (only a SHA-256 hash is stored, never the key)
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS game_server_keys (
    id            TEXT        NOT NULL PRIMARY KEY,
    tenant_id     TEXT        NOT NULL REFERENCES tenants (id),
    universe_id   BIGINT,
    label         TEXT,
    key_hash      TEXT        NOT NULL
                  CHECK (key_hash ~ '^[0-9a-f]{64}$'),  -- lowercase SHA-256 hex
    key_prefix    TEXT        CHECK (length(key_prefix) <= 16),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    CONSTRAINT game_server_keys_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX IF NOT EXISTS game_server_keys_tenant_idx ON game_server_keys (tenant_id);
