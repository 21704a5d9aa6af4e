//! The directory: tenants, users and parent links. Users are created on first sight of a valid
//! token ([`Store::ensure_user`]); admins change roles, deactivate and link parents to children.
//! Every statement names the tenant, except the global look-up by user id that tells a caller
//! their id is taken by another tenant.

use serde::Serialize;

use crate::sql::{Page, Paged, exec, row, rows};
use crate::{Store, StoreError};

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
