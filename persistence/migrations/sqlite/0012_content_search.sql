-- Content metadata, full-text search and lesson revisions (issue 19, part 1).
-- Mirror: ../postgres/0012_content_search.sql.
--
-- Courses and lessons gain the same descriptive fields: subject, a grade band (grade_min to
-- grade_max, 0 = kindergarten), difficulty, tags (a JSON array of lower-case words), estimated
-- minutes and learning objectives (a JSON array). Classes gain a grade level.
ALTER TABLE courses ADD COLUMN subject TEXT;
ALTER TABLE courses ADD COLUMN grade_min INTEGER;
ALTER TABLE courses ADD COLUMN grade_max INTEGER;
ALTER TABLE courses ADD COLUMN difficulty TEXT;
ALTER TABLE courses ADD COLUMN tags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags));
ALTER TABLE courses ADD COLUMN duration_minutes INTEGER;
ALTER TABLE courses ADD COLUMN objectives TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(objectives));

ALTER TABLE lessons ADD COLUMN subject TEXT;
ALTER TABLE lessons ADD COLUMN grade_min INTEGER;
ALTER TABLE lessons ADD COLUMN grade_max INTEGER;
ALTER TABLE lessons ADD COLUMN difficulty TEXT;
ALTER TABLE lessons ADD COLUMN tags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags));
ALTER TABLE lessons ADD COLUMN duration_minutes INTEGER;
ALTER TABLE lessons ADD COLUMN objectives TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(objectives));

ALTER TABLE classes ADD COLUMN grade_level TEXT;

-- Full-text search: one FTS5 index per table (Porter stemming, so "fractions" finds "fraction"),
-- keyed by the row's rowid and holding its id too: a search joins on both, so an index that
-- drifted (rowids change only on VACUUM, which classhub never runs) finds nothing rather than
-- the wrong row. `title` is weighted above `body` (subject, tags, objectives, description or the
-- lesson content's strings). Triggers keep the indexes current.
CREATE VIRTUAL TABLE IF NOT EXISTS courses_fts USING fts5(
    id UNINDEXED, title, body, tokenize = 'porter unicode61'
);
CREATE VIRTUAL TABLE IF NOT EXISTS lessons_fts USING fts5(
    id UNINDEXED, title, body, tokenize = 'porter unicode61'
);

CREATE TRIGGER IF NOT EXISTS courses_fts_insert AFTER INSERT ON courses BEGIN
    INSERT INTO courses_fts (rowid, id, title, body) VALUES (new.rowid, new.id, new.title,
        coalesce(new.subject, '') || ' ' || coalesce(new.description, '') || ' '
        || coalesce((SELECT group_concat(value, ' ') FROM json_each(new.tags)), '') || ' '
        || coalesce((SELECT group_concat(value, ' ') FROM json_each(new.objectives)), ''));
END;
CREATE TRIGGER IF NOT EXISTS courses_fts_update
AFTER UPDATE OF title, description, subject, tags, objectives ON courses BEGIN
    DELETE FROM courses_fts WHERE rowid = old.rowid;
    INSERT INTO courses_fts (rowid, id, title, body) VALUES (new.rowid, new.id, new.title,
        coalesce(new.subject, '') || ' ' || coalesce(new.description, '') || ' '
        || coalesce((SELECT group_concat(value, ' ') FROM json_each(new.tags)), '') || ' '
        || coalesce((SELECT group_concat(value, ' ') FROM json_each(new.objectives)), ''));
END;
CREATE TRIGGER IF NOT EXISTS courses_fts_delete AFTER DELETE ON courses BEGIN
    DELETE FROM courses_fts WHERE rowid = old.rowid;
END;

CREATE TRIGGER IF NOT EXISTS lessons_fts_insert AFTER INSERT ON lessons BEGIN
    INSERT INTO lessons_fts (rowid, id, title, body) VALUES (new.rowid, new.id, new.title,
        coalesce(new.subject, '') || ' '
        || coalesce((SELECT group_concat(value, ' ') FROM json_each(new.tags)), '') || ' '
        || coalesce((SELECT group_concat(value, ' ') FROM json_each(new.objectives)), '') || ' '
        || coalesce((SELECT group_concat(value, ' ') FROM json_tree(new.content)
                     WHERE type = 'text'), ''));
END;
CREATE TRIGGER IF NOT EXISTS lessons_fts_update
AFTER UPDATE OF title, content, subject, tags, objectives ON lessons BEGIN
    DELETE FROM lessons_fts WHERE rowid = old.rowid;
    INSERT INTO lessons_fts (rowid, id, title, body) VALUES (new.rowid, new.id, new.title,
        coalesce(new.subject, '') || ' '
        || coalesce((SELECT group_concat(value, ' ') FROM json_each(new.tags)), '') || ' '
        || coalesce((SELECT group_concat(value, ' ') FROM json_each(new.objectives)), '') || ' '
        || coalesce((SELECT group_concat(value, ' ') FROM json_tree(new.content)
                     WHERE type = 'text'), ''));
END;
CREATE TRIGGER IF NOT EXISTS lessons_fts_delete AFTER DELETE ON lessons BEGIN
    DELETE FROM lessons_fts WHERE rowid = old.rowid;
END;

-- What was there before this migration.
INSERT INTO courses_fts (rowid, id, title, body)
    SELECT rowid, id, title, coalesce(description, '') FROM courses;
INSERT INTO lessons_fts (rowid, id, title, body)
    SELECT rowid, id, title, coalesce((SELECT group_concat(value, ' ') FROM json_tree(content)
                                        WHERE type = 'text'), '') FROM lessons;

-- Lesson revisions: every edit of a lesson first copies the lesson as it was (its title,
-- content, game and descriptive fields; not its position or whether it is published) here.
-- `revision` counts up per lesson; `written_at` is when that version was saved, `replaced_at`
-- and `replaced_by` when and by whom it was replaced. The oldest are dropped past the server's
-- `--lesson-revisions` limit; deleting the lesson deletes them.
CREATE TABLE IF NOT EXISTS lesson_revisions (
    tenant_id          TEXT    NOT NULL,
    lesson_id          TEXT    NOT NULL,
    revision           INTEGER NOT NULL,
    title              TEXT    NOT NULL,
    content            TEXT    CHECK (content IS NULL OR json_valid(content)),
    roblox_universe_id INTEGER,
    roblox_place_id    INTEGER,
    subject            TEXT,
    grade_min          INTEGER,
    grade_max          INTEGER,
    difficulty         TEXT,
    tags               TEXT    NOT NULL DEFAULT '[]',
    duration_minutes   INTEGER,
    objectives         TEXT    NOT NULL DEFAULT '[]',
    written_at         TEXT    NOT NULL,
    replaced_by        TEXT,
    replaced_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    PRIMARY KEY (tenant_id, lesson_id, revision),
    FOREIGN KEY (tenant_id, lesson_id) REFERENCES lessons (tenant_id, id) ON DELETE CASCADE
);
