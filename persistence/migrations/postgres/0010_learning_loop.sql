-- The learning loop (issue 18): assignments, the Roblox place that plays a lesson, and in-game
-- answers scored into assessment_results. Mirror: ../sqlite/0010_learning_loop.sql.
--
-- An assignment gives a class one course or one lesson (exactly one of the two), with an
-- optional due date. It goes with its class, course or lesson.
CREATE TABLE IF NOT EXISTS assignments (
    id           TEXT        NOT NULL PRIMARY KEY,
    tenant_id    TEXT        NOT NULL REFERENCES tenants (id),
    class_id     TEXT        NOT NULL,
    course_id    TEXT,
    lesson_id    TEXT,
    due_at       TIMESTAMPTZ,
    assigned_by  TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((course_id IS NULL) <> (lesson_id IS NULL)),
    FOREIGN KEY (tenant_id, class_id)  REFERENCES classes (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, course_id) REFERENCES courses (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, lesson_id) REFERENCES lessons (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS assignments_tenant_class_idx ON assignments (tenant_id, class_id);
CREATE UNIQUE INDEX IF NOT EXISTS assignments_class_course_key
    ON assignments (tenant_id, class_id, course_id) WHERE course_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS assignments_class_lesson_key
    ON assignments (tenant_id, class_id, lesson_id) WHERE lesson_id IS NOT NULL;

-- The Roblox experience that plays a lesson (both optional).
ALTER TABLE lessons ADD COLUMN IF NOT EXISTS roblox_universe_id BIGINT;
ALTER TABLE lessons ADD COLUMN IF NOT EXISTS roblox_place_id    BIGINT;

-- Where a result came from, and the attempt an in-game result gathers its answers under.
ALTER TABLE assessment_results ADD COLUMN IF NOT EXISTS source  TEXT NOT NULL DEFAULT 'web'
    CHECK (source IN ('web', 'game'));
ALTER TABLE assessment_results ADD COLUMN IF NOT EXISTS attempt TEXT;

-- One in-game answer per question of an attempt (the first one counts; a resent event or a
-- second answer changes nothing). Written by the event sink, so no foreign keys; the attempt's
-- assessment_results row (id result_id) is recomputed from these rows in the same transaction.
CREATE TABLE IF NOT EXISTS game_answers (
    result_id      TEXT             NOT NULL,
    question_id    TEXT             NOT NULL,
    tenant_id      TEXT             NOT NULL,
    user_id        TEXT             NOT NULL,
    assessment_id  TEXT             NOT NULL,
    attempt        TEXT             NOT NULL,
    answer         JSONB,
    correct        BOOLEAN,
    points         DOUBLE PRECISION NOT NULL,
    max_score      DOUBLE PRECISION NOT NULL,
    event_id       TEXT             NOT NULL,
    answered_at    TIMESTAMPTZ      NOT NULL DEFAULT now(),
    PRIMARY KEY (result_id, question_id)
);
CREATE INDEX IF NOT EXISTS game_answers_tenant_user_idx ON game_answers (tenant_id, user_id);

-- The rewards ledger: every reward a student got (a teacher's `reward` command, to them or to
-- their whole class), with who, why and when. Ids are made from the command and the student,
-- so a command recorded twice is stored once.
CREATE TABLE IF NOT EXISTS rewards (
    id          TEXT        NOT NULL PRIMARY KEY,
    tenant_id   TEXT        NOT NULL REFERENCES tenants (id),
    student_id  TEXT        NOT NULL,
    class_id    TEXT,
    points      BIGINT      NOT NULL DEFAULT 0 CHECK (points >= 0),
    badge_id    TEXT,
    reason      TEXT,
    source      TEXT        NOT NULL CHECK (source IN ('teacher', 'game')),
    given_by    TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, student_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS rewards_tenant_student_idx ON rewards (tenant_id, student_id, created_at);
CREATE INDEX IF NOT EXISTS rewards_tenant_class_idx ON rewards (tenant_id, class_id);
-- Whether the class's students see its leaderboard (first names and points).
ALTER TABLE classes ADD COLUMN IF NOT EXISTS leaderboard BOOLEAN NOT NULL DEFAULT false;
