-- Each roster entry's personal link code. A Roblox player is linked to a student only when the
-- game server sends the class code and this code (`roblox::link`); the teacher sees it on the
-- roster, the student in GET /api/v1/auth/me. The server makes the codes of new entries (a
-- CSPRNG, `roblox::link::new_student_code`); entries older than this migration get theirs here,
-- from the database's random(), and a teacher may rotate any code
-- (POST /api/v1/classes/{id}/students/{user_id}/link-code). Unique within a class.
ALTER TABLE class_members ADD COLUMN link_code TEXT;

UPDATE class_members SET link_code = substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1);
-- Codes drawn twice in one class are drawn again (a repeat after three draws is left to the
-- unique index, which then refuses the migration rather than give two students one code).
UPDATE class_members SET link_code = substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
WHERE EXISTS (SELECT 1 FROM class_members other
              WHERE other.class_id = class_members.class_id
                AND other.link_code = class_members.link_code
                AND other.user_id < class_members.user_id);
UPDATE class_members SET link_code = substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
WHERE EXISTS (SELECT 1 FROM class_members other
              WHERE other.class_id = class_members.class_id
                AND other.link_code = class_members.link_code
                AND other.user_id < class_members.user_id);
UPDATE class_members SET link_code = substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
    || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', 1 + floor(random() * 31)::int, 1)
WHERE EXISTS (SELECT 1 FROM class_members other
              WHERE other.class_id = class_members.class_id
                AND other.link_code = class_members.link_code
                AND other.user_id < class_members.user_id);
ALTER TABLE class_members ALTER COLUMN link_code SET NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS class_members_class_link_code_key ON class_members (class_id, link_code);
