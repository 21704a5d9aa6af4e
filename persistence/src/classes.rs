//! Classes and their rosters (`classes`, `class_members`), plus what the hub loads at start-up to
//! enforce rosters: every live class, every roster entry, and the game sessions linked to a class.
//! Deleting a class archives it (`archived_at`); archived classes are invisible to the API.
//! Each roster entry holds its student's personal link code (made by the caller, unique within
//! the class: a taken code is a unique violation, and the caller draws another).

use serde::Serialize;

use crate::directory::user_columns;
use crate::sql::{Page, Paged, exec, row, rows};
use crate::{Store, StoreError, UserRecord};

/// One row of `classes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassRecord {
    /// The class id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The class name.
    pub name: String,
    /// The teacher (an educator of the tenant), if any.
    pub teacher_id: Option<String>,
    /// The code students type in game to link their Roblox account to the class.
    pub class_code: String,
    /// Its grade level, e.g. `7` or `K`.
    pub grade_level: Option<String>,
    /// When it was created.
    pub created_at: String,
}

/// One student on a roster: the user and their personal link code for this class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RosterMember {
    /// The user.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub user: UserRecord,
    /// The code that, typed in game with the class code, links a Roblox account to this
    /// student. Only the student and the class's staff see it.
    pub link_code: String,
}

/// A student's personal link code on one live class's roster, as the student sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StudentLinkCode {
    /// The class.
    pub class_id: String,
    /// The class name.
    pub class_name: String,
    /// The class code (typed in game first).
    pub class_code: String,
    /// The student's own code on this class (typed in game second).
    pub link_code: String,
}

/// Which classes a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassScope<'a> {
    /// Every class of the tenant (admins).
    All,
    /// Classes taught by this educator.
    TaughtBy(&'a str),
    /// Classes whose roster lists this user.
    MemberOf(&'a str),
}

/// One roster entry, as loaded at start-up.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RosterEntry {
    /// The tenant.
    pub tenant_id: String,
    /// The class.
    pub class_id: String,
    /// A student on its roster.
    pub user_id: String,
}

/// A tenant that has made a class (live or archived), as loaded at start-up.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantKey {
    /// The tenant.
    pub tenant_id: String,
}

/// A live class, as loaded at start-up.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClassKey {
    /// The tenant.
    pub tenant_id: String,
    /// The class.
    pub id: String,
    /// Its teacher, if it has one.
    pub teacher_id: Option<String>,
}

/// A running game session linked to a class, as loaded at start-up.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GameLink {
    /// The tenant.
    pub tenant_id: String,
    /// The Roblox JobId of the game server.
    pub job_id: String,
    /// The class it plays for.
    pub class_id: String,
}

const CLASS_COLUMNS: &str = "c.id, c.tenant_id, c.name, c.teacher_id, c.class_code, c.grade_level, TS(c.created_at) AS created_at";

impl Store {
    /// Creates a class. A taken `class_code` is a unique violation (retry with another code).
    pub async fn create_class(
        &self,
        tenant: &str,
        id: &str,
        name: &str,
        teacher: Option<&str>,
        code: &str,
    ) -> Result<ClassRecord, StoreError> {
        exec!(
            self,
            "INSERT INTO classes (id, tenant_id, name, teacher_id, class_code) VALUES ($1, $2, $3, $4, $5)",
            id,
            tenant,
            name,
            teacher,
            code
        )?;
        self.class(tenant, id)
            .await?
            .ok_or(StoreError::Query(sqlx::Error::RowNotFound))
    }

    /// A live (not archived) class of `tenant`.
    pub async fn class(&self, tenant: &str, id: &str) -> Result<Option<ClassRecord>, StoreError> {
        let sql = format!(
            "SELECT {CLASS_COLUMNS} FROM classes c WHERE c.tenant_id = $1 AND c.id = $2 AND c.archived_at IS NULL"
        );
        Ok(row!(self, ClassRecord, &sql, tenant, id)?)
    }

    /// Live classes of `tenant` in `scope`, by id.
    pub async fn classes(
        &self,
        tenant: &str,
        scope: ClassScope<'_>,
        page: &Page<String>,
    ) -> Result<Paged<ClassRecord>, StoreError> {
        let (filter, who) = match scope {
            ClassScope::All => ("", ""),
            ClassScope::TaughtBy(teacher) => ("AND c.teacher_id = $4", teacher),
            ClassScope::MemberOf(user) => (
                "AND EXISTS (SELECT 1 FROM class_members m WHERE m.tenant_id = c.tenant_id \
                 AND m.class_id = c.id AND m.user_id = $4)",
                user,
            ),
        };
        let sql = format!(
            "SELECT {CLASS_COLUMNS} FROM classes c WHERE c.tenant_id = $1 AND c.archived_at IS NULL \
             AND c.id > $2 {filter} AND ($4 = $4) ORDER BY c.id LIMIT $3"
        );
        let after = page.after.clone().unwrap_or_default();
        let limit = i64::from(page.limit) + 1;
        let items = rows!(self, ClassRecord, &sql, tenant, after, limit, who)?;
        Ok(Paged::cut(items, page.limit))
    }

    /// Renames a class, changes its teacher or its grade level; `Ok(None)` when there is no such
    /// live class.
    pub async fn update_class(
        &self,
        tenant: &str,
        id: &str,
        name: Option<&str>,
        teacher: Option<&str>,
        grade_level: Option<&str>,
    ) -> Result<Option<ClassRecord>, StoreError> {
        exec!(
            self,
            "UPDATE classes SET name = COALESCE($3, name), teacher_id = COALESCE($4, teacher_id), \
             grade_level = COALESCE($5, grade_level) \
             WHERE tenant_id = $1 AND id = $2 AND archived_at IS NULL",
            tenant,
            id,
            name,
            teacher,
            grade_level
        )?;
        self.class(tenant, id).await
    }

    /// Gives a class a new code; `Ok(None)` when there is no such live class. A taken code is a
    /// unique violation.
    pub async fn set_class_code(
        &self,
        tenant: &str,
        id: &str,
        code: &str,
    ) -> Result<Option<ClassRecord>, StoreError> {
        exec!(
            self,
            "UPDATE classes SET class_code = $3 WHERE tenant_id = $1 AND id = $2 AND archived_at IS NULL",
            tenant,
            id,
            code
        )?;
        self.class(tenant, id).await
    }

    /// Archives a class and empties its roster; returns whether it was live.
    pub async fn archive_class(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let archived = exec!(
            self,
            "UPDATE classes SET archived_at = NOW() WHERE tenant_id = $1 AND id = $2 AND archived_at IS NULL",
            tenant,
            id
        )?;
        if archived > 0 {
            exec!(
                self,
                "DELETE FROM class_members WHERE tenant_id = $1 AND class_id = $2",
                tenant,
                id
            )?;
        }
        Ok(archived > 0)
    }

    /// Puts a user on a class roster with the personal link code `link_code` (idempotent: a
    /// user already on it keeps their code); returns whether they were added now. A code taken
    /// in this class is a unique violation (retry with another code).
    pub async fn add_to_roster(
        &self,
        tenant: &str,
        class: &str,
        user: &str,
        link_code: &str,
    ) -> Result<bool, StoreError> {
        let added = exec!(
            self,
            "INSERT INTO class_members (tenant_id, class_id, user_id, link_code) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (class_id, user_id) DO NOTHING",
            tenant,
            class,
            user,
            link_code
        )?;
        Ok(added > 0)
    }

    /// Gives a roster entry a new personal link code (the old one stops linking; links made
    /// with it stay); `Ok(None)` when the user is not on that live class's roster. A code taken
    /// in this class is a unique violation (retry with another code).
    pub async fn set_link_code(
        &self,
        tenant: &str,
        class: &str,
        user: &str,
        link_code: &str,
    ) -> Result<Option<RosterMember>, StoreError> {
        if self.class(tenant, class).await?.is_none() {
            return Ok(None);
        }
        let changed = exec!(
            self,
            "UPDATE class_members SET link_code = $4 \
             WHERE tenant_id = $1 AND class_id = $2 AND user_id = $3",
            tenant,
            class,
            user,
            link_code
        )?;
        if changed == 0 {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {}, m.link_code FROM users u JOIN class_members m \
             ON m.tenant_id = u.tenant_id AND m.user_id = u.id \
             WHERE m.tenant_id = $1 AND m.class_id = $2 AND u.id = $3",
            user_columns("u")
        );
        Ok(row!(self, RosterMember, &sql, tenant, class, user)?)
    }

    /// The personal link codes of `user` on every live class whose roster lists them, by class.
    pub async fn link_codes_of(
        &self,
        tenant: &str,
        user: &str,
    ) -> Result<Vec<StudentLinkCode>, StoreError> {
        Ok(rows!(
            self,
            StudentLinkCode,
            "SELECT c.id AS class_id, c.name AS class_name, c.class_code, m.link_code \
             FROM class_members m JOIN classes c ON c.tenant_id = m.tenant_id AND c.id = m.class_id \
             WHERE m.tenant_id = $1 AND m.user_id = $2 AND c.archived_at IS NULL ORDER BY c.id",
            tenant,
            user
        )?)
    }

    /// Takes a user off a class roster; returns whether they were on it.
    pub async fn remove_from_roster(
        &self,
        tenant: &str,
        class: &str,
        user: &str,
    ) -> Result<bool, StoreError> {
        let removed = exec!(
            self,
            "DELETE FROM class_members WHERE tenant_id = $1 AND class_id = $2 AND user_id = $3",
            tenant,
            class,
            user
        )?;
        Ok(removed > 0)
    }

    /// A class roster, as users with their link codes, by id.
    pub async fn roster(
        &self,
        tenant: &str,
        class: &str,
        page: &Page<String>,
    ) -> Result<Paged<RosterMember>, StoreError> {
        let sql = format!(
            "SELECT {}, m.link_code FROM users u JOIN class_members m ON m.tenant_id = u.tenant_id AND m.user_id = u.id \
             WHERE m.tenant_id = $1 AND m.class_id = $2 AND u.id > $3 ORDER BY u.id LIMIT $4",
            user_columns("u")
        );
        let after = page.after.clone().unwrap_or_default();
        let limit = i64::from(page.limit) + 1;
        let items = rows!(self, RosterMember, &sql, tenant, class, after, limit)?;
        Ok(Paged::cut(items, page.limit))
    }

    /// Whether `user` is on the roster of `class`.
    pub async fn is_on_roster(
        &self,
        tenant: &str,
        class: &str,
        user: &str,
    ) -> Result<bool, StoreError> {
        #[derive(sqlx::FromRow)]
        struct One {
            #[expect(dead_code, reason = "only the row's presence matters")]
            one: i64,
        }
        let found = row!(
            self,
            One,
            "SELECT CAST(1 AS BIGINT) AS one FROM class_members WHERE tenant_id = $1 AND class_id = $2 AND user_id = $3",
            tenant,
            class,
            user
        )?;
        Ok(found.is_some())
    }

    /// Every live class (for the hub's roster cache).
    pub async fn all_classes(&self) -> Result<Vec<ClassKey>, StoreError> {
        Ok(rows!(
            self,
            ClassKey,
            "SELECT tenant_id, id, teacher_id FROM classes WHERE archived_at IS NULL"
        )?)
    }

    /// Every tenant that has made a class, archived ones included (for the hub's roster cache:
    /// such a tenant's class rooms follow the rosters even when none is live).
    pub async fn tenants_with_classes(&self) -> Result<Vec<TenantKey>, StoreError> {
        Ok(rows!(
            self,
            TenantKey,
            "SELECT DISTINCT tenant_id FROM classes"
        )?)
    }

    /// Every roster entry of a live class (for the hub's roster cache).
    pub async fn all_roster_entries(&self) -> Result<Vec<RosterEntry>, StoreError> {
        Ok(rows!(
            self,
            RosterEntry,
            "SELECT m.tenant_id, m.class_id, m.user_id FROM class_members m \
             JOIN classes c ON c.tenant_id = m.tenant_id AND c.id = m.class_id WHERE c.archived_at IS NULL"
        )?)
    }

    /// Running game sessions linked to a class (for the hub's roster cache).
    pub async fn live_game_links(&self) -> Result<Vec<GameLink>, StoreError> {
        Ok(rows!(
            self,
            GameLink,
            "SELECT tenant_id, job_id, class_id FROM game_sessions \
             WHERE ended_at IS NULL AND class_id IS NOT NULL"
        )?)
    }
}
