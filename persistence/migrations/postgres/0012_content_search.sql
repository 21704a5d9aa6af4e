-- Content metadata, full-text search and lesson revisions (issue 19, part 1).
-- Mirror: ../sqlite/0012_content_search.sql.
--
-- Courses and lessons gain the same descriptive fields: subject, a grade band (grade_min to
-- grade_max, 0 = kindergarten), difficulty, tags (a JSON array of lower-case words), estimated
-- minutes and learning objectives (a JSON array). Classes gain a grade level.
ALTER TABLE courses
    ADD COLUMN IF NOT EXISTS subject          TEXT,
    ADD COLUMN IF NOT EXISTS grade_min        INTEGER,
    ADD COLUMN IF NOT EXISTS grade_max        INTEGER,
    ADD COLUMN IF NOT EXISTS difficulty       TEXT,
    ADD COLUMN IF NOT EXISTS tags             JSONB NOT NULL DEFAULT '[]',
    ADD COLUMN IF NOT EXISTS duration_minutes INTEGER,
    ADD COLUMN IF NOT EXISTS objectives       JSONB NOT NULL DEFAULT '[]';

ALTER TABLE lessons
    ADD COLUMN IF NOT EXISTS subject          TEXT,
    ADD COLUMN IF NOT EXISTS grade_min        INTEGER,
    ADD COLUMN IF NOT EXISTS grade_max        INTEGER,
    ADD COLUMN IF NOT EXISTS difficulty       TEXT,
    ADD COLUMN IF NOT EXISTS tags             JSONB NOT NULL DEFAULT '[]',
    ADD COLUMN IF NOT EXISTS duration_minutes INTEGER,
    ADD COLUMN IF NOT EXISTS objectives       JSONB NOT NULL DEFAULT '[]';

ALTER TABLE classes ADD COLUMN IF NOT EXISTS grade_level TEXT;

-- Full-text search: a stored tsvector per row (English stemming, so "fractions" finds
-- "fraction"), the title weighted A, subject, tags and objectives B, the description or the
-- lesson content's strings C; GIN-indexed.
ALTER TABLE courses ADD COLUMN IF NOT EXISTS search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', coalesce(title, '')), 'A')
    || setweight(to_tsvector('english', coalesce(subject, '')), 'B')
    || setweight(jsonb_to_tsvector('english', tags, '["string"]'), 'B')
    || setweight(jsonb_to_tsvector('english', objectives, '["string"]'), 'B')
    || setweight(to_tsvector('english', coalesce(description, '')), 'C')
) STORED;
CREATE INDEX IF NOT EXISTS courses_search_idx ON courses USING gin (search);

ALTER TABLE lessons ADD COLUMN IF NOT EXISTS search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', coalesce(title, '')), 'A')
    || setweight(to_tsvector('english', coalesce(subject, '')), 'B')
    || setweight(jsonb_to_tsvector('english', tags, '["string"]'), 'B')
    || setweight(jsonb_to_tsvector('english', objectives, '["string"]'), 'B')
    || setweight(jsonb_to_tsvector('english', coalesce(content, '{}'::jsonb), '["string"]'), 'C')
) STORED;
CREATE INDEX IF NOT EXISTS lessons_search_idx ON lessons USING gin (search);

-- Lesson revisions: every edit of a lesson first copies the lesson as it was (its title,
-- content, game and descriptive fields; not its position or whether it is published) here.
-- `revision` counts up per lesson; `written_at` is when that version was saved, `replaced_at`
-- and `replaced_by` when and by whom it was replaced. The oldest are dropped past the server's
-- `--lesson-revisions` limit; deleting the lesson deletes them.
CREATE TABLE IF NOT EXISTS lesson_revisions (
    tenant_id          TEXT        NOT NULL,
    lesson_id          TEXT        NOT NULL,
    revision           INTEGER     NOT NULL,
    title              TEXT        NOT NULL,
    content            JSONB,
    roblox_universe_id BIGINT,
    roblox_place_id    BIGINT,
    subject            TEXT,
    grade_min          INTEGER,
    grade_max          INTEGER,
    difficulty         TEXT,
    tags               JSONB       NOT NULL DEFAULT '[]',
    duration_minutes   INTEGER,
    objectives         JSONB       NOT NULL DEFAULT '[]',
    written_at         TIMESTAMPTZ NOT NULL,
    replaced_by        TEXT,
    replaced_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, lesson_id, revision),
    FOREIGN KEY (tenant_id, lesson_id) REFERENCES lessons (tenant_id, id) ON DELETE CASCADE
);
