//! The directory: tenants, users and parent links. Users are created on first sight of a valid
//! token ([`Store::ensure_user`], or [`Store::ensure_users`] for a batch of sightings); admins change roles, deactivate and link parents to children.
//! Every statement names the tenant, except the global look-up by user id that tells a caller
//! their id is taken by another tenant.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::{Postgres, QueryBuilder, Row, Sqlite};

use crate::sql::{Page, Paged, dialect, exec, row, rows};
use crate::store::Pool;
use crate::{Store, StoreError, subject_sha256};

/// A verified token's user, to be admitted ([`Store::ensure_users`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// The token's tenant.
    pub tenant: String,
    /// The token's `sub`.
    pub user: String,
    /// The token's role (the row's until an admin sets one).
    pub role: String,
    /// The token's name.
    pub display_name: Option<String>,
}

/// What the directory holds for a [`Sighting`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sighted {
    /// The id was erased; it may never come back.
    Erased,
    /// The user's row (new or not), wherever it lives: the caller checks `tenant_id`.
    User(UserRecord),
}

/// Ids per `IN (...)` list or rows per insert (4 parameters each), far below both backends'
/// limits.
const SIGHTINGS_PER_STATEMENT: usize = 500;

/// One row of `users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserRecord {
    /// The user id (the token's `sub`).
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// `student`, `educator`, `parent` or `admin`.
    pub role: String,
    /// A display name or nickname, if known.
    pub display_name: Option<String>,
    /// Whether the user may sign in.
    pub active: bool,
    /// Whether an admin set `role`; until one did, the role in the user's token wins.
    pub role_from_admin: bool,
    /// When the user was first seen (ISO-8601 UTC).
    pub created_at: String,
    /// When the row last changed.
    pub updated_at: String,
}

/// What an admin may change about a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// A new role.
    pub role: Option<String>,
    /// Activate or deactivate.
    pub active: Option<bool>,
    /// A new display name.
    pub display_name: Option<String>,
}

/// One link from a parent to a child, as loaded at start-up.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ParentLink {
    /// The tenant.
    pub tenant_id: String,
    /// The parent.
    pub parent_id: String,
    /// The child.
    pub child_id: String,
}

const USER_COLUMNS: &str = "id, tenant_id, role, display_name, active, role_from_admin, TS(created_at) AS created_at, TS(updated_at) AS updated_at";

impl Store {
    /// Creates the tenant row if it does not exist (named after its id until renamed).
    pub async fn ensure_tenant(&self, tenant: &str) -> Result<(), StoreError> {
        exec!(
            self,
            "INSERT INTO tenants (id, name) VALUES ($1, $1) ON CONFLICT (id) DO NOTHING",
            tenant
        )?;
        Ok(())
    }

    /// Creates the tenant (idempotent) and the user if their id is new, then returns the user's
    /// row, wherever it lives: the caller must check `tenant_id` (ids are unique across tenants).
    pub async fn ensure_user(
        &self,
        tenant: &str,
        user: &str,
        role: &str,
        display_name: Option<&str>,
    ) -> Result<UserRecord, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        // A user seen before (by an earlier process) is only read: after a restart every
        // reconnecting user passes here, and reads do not queue behind SQLite's one writer.
        if let Some(known) = row!(self, UserRecord, &sql, user)? {
            return Ok(known);
        }
        self.ensure_tenant(tenant).await?;
        exec!(
            self,
            "INSERT INTO users (id, tenant_id, role, display_name) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO NOTHING",
            user,
            tenant,
            role,
            display_name
        )?;
        row!(self, UserRecord, &sql, user)?.ok_or(StoreError::Query(sqlx::Error::RowNotFound))
    }

    /// [`Store::ensure_user`] for many users at once, as concurrent first sightings arrive: two
    /// reads for the whole batch (erased ids, existing rows), then one write transaction for the
    /// new users and their tenants, then one read of their rows. One answer per sighting, in
    /// order.
    pub async fn ensure_users(&self, sightings: &[Sighting]) -> Result<Vec<Sighted>, StoreError> {
        let mut ids: Vec<&str> = sightings.iter().map(|seen| seen.user.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let hashes: HashMap<String, &str> =
            ids.iter().map(|id| (subject_sha256(id), *id)).collect();
        let erased: HashSet<&str> = self
            .erased_among(&hashes.keys().map(String::as_str).collect::<Vec<_>>())
            .await?
            .into_iter()
            .filter_map(|hash| hashes.get(&hash).copied())
            .collect();
        let live: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !erased.contains(id))
            .collect();
        let mut rows: HashMap<String, UserRecord> = self
            .users_among(&live)
            .await?
            .into_iter()
            .map(|row| (row.id.clone(), row))
            .collect();
        let mut new: Vec<&Sighting> = Vec::new();
        for seen in sightings {
            let id = seen.user.as_str();
            if !erased.contains(id)
                && !rows.contains_key(id)
                && !new.iter().any(|other| other.user == seen.user)
            {
                new.push(seen);
            }
        }
        if !new.is_empty() {
            self.insert_sightings(&new).await?;
            let ids: Vec<&str> = new.iter().map(|seen| seen.user.as_str()).collect();
            rows.extend(
                self.users_among(&ids)
                    .await?
                    .into_iter()
                    .map(|row| (row.id.clone(), row)),
            );
        }
        sightings
            .iter()
            .map(|seen| {
                if erased.contains(seen.user.as_str()) {
                    return Ok(Sighted::Erased);
                }
                rows.get(&seen.user)
                    .cloned()
                    .map(Sighted::User)
                    .ok_or(StoreError::Query(sqlx::Error::RowNotFound))
            })
            .collect()
    }

    /// Which of these `erased_users.subject_sha256` values exist.
    async fn erased_among(&self, hashes: &[&str]) -> Result<Vec<String>, StoreError> {
        macro_rules! select {
            ($pool:expr, $db:ty) => {{
                let mut found = Vec::new();
                for chunk in hashes.chunks(SIGHTINGS_PER_STATEMENT) {
                    let mut builder: QueryBuilder<$db> = QueryBuilder::new(
                        "SELECT subject_sha256 FROM erased_users WHERE subject_sha256 IN (",
                    );
                    let mut list = builder.separated(", ");
                    for hash in chunk {
                        list.push_bind(*hash);
                    }
                    builder.push(")");
                    for row in builder.build().fetch_all($pool).await? {
                        found.push(row.get::<String, _>(0));
                    }
                }
                found
            }};
        }
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        Ok(match &self.pool {
            Pool::Postgres(pool) => select!(pool, Postgres),
            Pool::Sqlite(pool) => select!(pool, Sqlite),
        })
    }

    /// The rows of these user ids (those that exist).
    async fn users_among(&self, ids: &[&str]) -> Result<Vec<UserRecord>, StoreError> {
        let head = dialect(
            self.backend(),
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id IN ("),
        );
        macro_rules! select {
            ($pool:expr, $db:ty) => {{
                let mut found = Vec::new();
                for chunk in ids.chunks(SIGHTINGS_PER_STATEMENT) {
                    let mut builder: QueryBuilder<$db> = QueryBuilder::new(head.as_str());
                    let mut list = builder.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    builder.push(")");
                    found.extend(
                        builder
                            .build_query_as::<UserRecord>()
                            .fetch_all($pool)
                            .await?,
                    );
                }
                found
            }};
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(match &self.pool {
            Pool::Postgres(pool) => select!(pool, Postgres),
            Pool::Sqlite(pool) => select!(pool, Sqlite),
        })
    }

    /// Inserts the tenants and users of new sightings in one transaction (ids taken meanwhile
    /// are skipped).
    async fn insert_sightings(&self, new: &[&Sighting]) -> Result<(), StoreError> {
        let mut tenants: Vec<&str> = new.iter().map(|seen| seen.tenant.as_str()).collect();
        tenants.sort_unstable();
        tenants.dedup();
        macro_rules! insert {
            ($pool:expr, $db:ty) => {{
                let mut tx = $pool.begin().await?;
                for chunk in tenants.chunks(SIGHTINGS_PER_STATEMENT) {
                    let mut builder: QueryBuilder<$db> =
                        QueryBuilder::new("INSERT INTO tenants (id, name) ");
                    builder.push_values(chunk, |mut row, tenant| {
                        row.push_bind(*tenant).push_bind(*tenant);
                    });
                    builder.push(" ON CONFLICT (id) DO NOTHING");
                    builder.build().execute(&mut *tx).await?;
                }
                for chunk in new.chunks(SIGHTINGS_PER_STATEMENT) {
                    let mut builder: QueryBuilder<$db> =
                        QueryBuilder::new("INSERT INTO users (id, tenant_id, role, display_name) ");
                    builder.push_values(chunk, |mut row, seen| {
                        row.push_bind(seen.user.as_str())
                            .push_bind(seen.tenant.as_str())
                            .push_bind(seen.role.as_str())
                            .push_bind(seen.display_name.as_deref());
                    });
                    builder.push(" ON CONFLICT (id) DO NOTHING");
                    builder.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }};
        }
        match &self.pool {
            Pool::Postgres(pool) => insert!(pool, Postgres),
            Pool::Sqlite(pool) => insert!(pool, Sqlite),
        }
        Ok(())
    }

    /// Creates a user in `tenant` (an admin rostering someone who has not signed in yet).
    /// `Ok(None)`: the id is taken.
    pub async fn create_user(
        &self,
        tenant: &str,
        user: &str,
        role: &str,
        display_name: Option<&str>,
    ) -> Result<Option<UserRecord>, StoreError> {
        self.ensure_tenant(tenant).await?;
        let inserted = exec!(
            self,
            "INSERT INTO users (id, tenant_id, role, display_name) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO NOTHING",
            user,
            tenant,
            role,
            display_name
        )?;
        if inserted == 0 {
            return Ok(None);
        }
        self.user(tenant, user).await
    }

    /// A user of `tenant`.
    pub async fn user(&self, tenant: &str, user: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2");
        Ok(row!(self, UserRecord, &sql, tenant, user)?)
    }

    /// Users of `tenant` by id, optionally of one role.
    pub async fn users(
        &self,
        tenant: &str,
        role: Option<&str>,
        page: &Page<String>,
    ) -> Result<Paged<UserRecord>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id > $2 \
             AND ($4 = '' OR role = $4) ORDER BY id LIMIT $3"
        );
        let after = page.after.clone().unwrap_or_default();
        let limit = i64::from(page.limit) + 1;
        let items = rows!(
            self,
            UserRecord,
            &sql,
            tenant,
            after,
            limit,
            role.unwrap_or("")
        )?;
        Ok(Paged::cut(items, page.limit))
    }

    /// Applies `changes` to a user of `tenant`; `Ok(None)` when there is no such user.
    pub async fn update_user(
        &self,
        tenant: &str,
        user: &str,
        changes: &UserChanges,
    ) -> Result<Option<UserRecord>, StoreError> {
        let updated = exec!(
            self,
            "UPDATE users SET role = COALESCE($3, role), active = COALESCE($4, active), \
             role_from_admin = CASE WHEN $3 IS NULL THEN role_from_admin ELSE TRUE END, \
             display_name = COALESCE($5, display_name), updated_at = NOW() \
             WHERE tenant_id = $1 AND id = $2",
            tenant,
            user,
            changes.role.as_deref(),
            changes.active,
            changes.display_name.as_deref()
        )?;
        if updated == 0 {
            return Ok(None);
        }
        self.user(tenant, user).await
    }

    /// Links a parent to a child (idempotent). Both must be users of `tenant`.
    pub async fn link_parent(
        &self,
        tenant: &str,
        parent: &str,
        child: &str,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "INSERT INTO parent_links (tenant_id, parent_id, child_id) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, parent_id, child_id) DO NOTHING",
            tenant,
            parent,
            child
        )?;
        Ok(())
    }

    /// Removes a parent link; returns whether it existed.
    pub async fn unlink_parent(
        &self,
        tenant: &str,
        parent: &str,
        child: &str,
    ) -> Result<bool, StoreError> {
        let removed = exec!(
            self,
            "DELETE FROM parent_links WHERE tenant_id = $1 AND parent_id = $2 AND child_id = $3",
            tenant,
            parent,
            child
        )?;
        Ok(removed > 0)
    }

    /// A parent's children, as users, by id.
    pub async fn children_of(
        &self,
        tenant: &str,
        parent: &str,
        page: &Page<String>,
    ) -> Result<Paged<UserRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM users u JOIN parent_links l ON l.tenant_id = u.tenant_id AND l.child_id = u.id \
             WHERE l.tenant_id = $1 AND l.parent_id = $2 AND u.id > $3 ORDER BY u.id LIMIT $4",
            user_columns("u")
        );
        let after = page.after.clone().unwrap_or_default();
        let limit = i64::from(page.limit) + 1;
        let items = rows!(self, UserRecord, &sql, tenant, parent, after, limit)?;
        Ok(Paged::cut(items, page.limit))
    }

    /// Every parent link (loaded into the hub at start-up).
    pub async fn all_parent_links(&self) -> Result<Vec<ParentLink>, StoreError> {
        Ok(rows!(
            self,
            ParentLink,
            "SELECT tenant_id, parent_id, child_id FROM parent_links"
        )?)
    }
}

/// The user columns prefixed with a table alias.
pub(crate) fn user_columns(alias: &str) -> String {
    format!(
        "{alias}.id, {alias}.tenant_id, {alias}.role, {alias}.display_name, {alias}.active, \
         {alias}.role_from_admin, TS({alias}.created_at) AS created_at, \
         TS({alias}.updated_at) AS updated_at"
    )
}
