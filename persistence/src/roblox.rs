//! What the Roblox side of classhub keeps: tenants (created on first use), game-server keys
//! (hashed), game sessions, Roblox players and their links to roster students, the class and
//! roster look-ups that linking needs, and per-universe Open Cloud keys.
//!
//! Each statement is written once in the neutral dialect of `crate::sql` (`$1…` placeholders,
//! `NOW()`, `SECONDS_SINCE(started_at)`), translated per backend by `with_pool!`.
//! Every query names its tenant except the key look-up by hash, which is how a game server's
//! tenant is found.

use std::collections::HashMap;

use sqlx::Row;

use crate::error::StoreError;
use crate::store::{Pool, Store};

/// Runs `$body` with `$pool` bound to the backend's pool and `$sql` translating a statement
/// written in the neutral dialect of [`crate::sql::dialect`] for that backend.
macro_rules! with_pool {
    ($store:expr, |$pool:ident, $sql:ident| $body:expr) => {{
        let backend = $store.backend();
        let $sql = |text: &str| sqlx::AssertSqlSafe(crate::sql::dialect(backend, text));
        match &$store.pool {
            Pool::Postgres($pool) => $body,
            Pool::Sqlite($pool) => $body,
        }
    }};
}

/// A game-server key to store (the key itself is never stored, only its SHA-256).
#[derive(Debug, Clone)]
pub struct NewGameKey {
    /// Key id (shown in listings, used to revoke).
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// The Roblox universe the key is limited to, if any.
    pub universe_id: Option<i64>,
    /// A human label.
    pub label: Option<String>,
    /// Lowercase hex SHA-256 of the key.
    pub key_hash: String,
    /// The key's public prefix, so people can tell keys apart.
    pub key_prefix: String,
}

/// A stored game-server key, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameKeyInfo {
    /// Key id.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Universe limit.
    pub universe_id: Option<i64>,
    /// Label.
    pub label: Option<String>,
    /// Public prefix.
    pub key_prefix: String,
    /// When it was made (database text form).
    pub created_at: String,
    /// When it was last used, if ever.
    pub last_used_at: Option<String>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

/// A class found by id or code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassRef {
    /// Class id.
    pub id: String,
    /// Class name.
    pub name: String,
    /// Its teacher, if set.
    pub teacher_id: Option<String>,
}

/// A student on a class roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterStudent {
    /// User id.
    pub user_id: String,
    /// Display name, if known.
    pub display_name: Option<String>,
}

/// A game session to record when a Roblox server opens one.
#[derive(Debug, Clone)]
pub struct NewGameSession {
    /// Session id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Roblox universe.
    pub universe_id: i64,
    /// Roblox place.
    pub place_id: i64,
    /// Roblox server JobId.
    pub job_id: String,
    /// The class it plays for, if linked.
    pub class_id: Option<String>,
}

impl Store {
    /// Stores a new game-server key (its tenant must exist).
    pub async fn create_game_key(&self, key: &NewGameKey) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO game_server_keys \
             (id, tenant_id, universe_id, label, key_hash, key_prefix) \
             VALUES ($1, $2, $3, $4, $5, $6)";
        with_pool!(self, |pool, sql| {
            sqlx::query(sql(SQL))
                .bind(&key.id)
                .bind(&key.tenant)
                .bind(key.universe_id)
                .bind(&key.label)
                .bind(&key.key_hash)
                .bind(&key.key_prefix)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// A tenant's game-server keys, oldest first, revoked ones included.
    pub async fn game_keys(&self, tenant: &str) -> Result<Vec<GameKeyInfo>, StoreError> {
        const SQL: &str = "SELECT id, tenant_id, universe_id, label, key_prefix, \
             CAST(created_at AS TEXT), CAST(last_used_at AS TEXT), CAST(revoked_at AS TEXT) \
             FROM game_server_keys WHERE tenant_id = $1 ORDER BY created_at, id";
        let keys = with_pool!(self, |pool, sql| {
            sqlx::query(sql(SQL))
                .bind(tenant)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|row| GameKeyInfo {
                    id: row.get(0),
                    tenant: row.get(1),
                    universe_id: row.get(2),
                    label: row.get(3),
                    key_prefix: row.get::<Option<String>, _>(4).unwrap_or_default(),
                    created_at: row.get(5),
                    last_used_at: row.get(6),
                    revoked_at: row.get(7),
                })
                .collect()
        });
        Ok(keys)
    }

    /// Revokes a key by id; returns whether a live key was revoked.
    pub async fn revoke_game_key(&self, id: &str) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE game_server_keys SET revoked_at = NOW() \
             WHERE id = $1 AND revoked_at IS NULL";
        let revoked = with_pool!(self, |pool, sql| {
            sqlx::query(sql(SQL))
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(revoked > 0)
    }

    /// The live (not revoked) key with this hash: `(key id, tenant, universe limit)`.
    pub async fn game_key_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<(String, String, Option<i64>)>, StoreError> {
        const SQL: &str = "SELECT id, tenant_id, universe_id FROM game_server_keys \
             WHERE key_hash = $1 AND revoked_at IS NULL";
        let found = with_pool!(self, |pool, sql| {
            sqlx::query(sql(SQL))
                .bind(key_hash)
                .fetch_optional(pool)
                .await?
                .map(|row| (row.get(0), row.get(1), row.get(2)))
        });
        Ok(found)
    }

    /// Records that a key was used now.
    pub async fn touch_game_key(&self, id: &str) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE game_server_keys SET last_used_at = NOW() WHERE id = $1";
        with_pool!(self, |pool, sql| {
            sqlx::query(sql(SQL)).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// A live (not archived) class of the tenant by its class code.
    pub async fn class_by_code(
        &self,
        tenant: &str,
        code: &str,
    ) -> Result<Option<ClassRef>, StoreError> {
        self.live_class(
            "SELECT id, name, teacher_id FROM classes \
             WHERE tenant_id = $1 AND class_code = $2 AND archived_at IS NULL",
            tenant,
            code,
        )
        .await
    }

    /// A live (not archived) class of the tenant by id.
    pub async fn class_by_id(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<ClassRef>, StoreError> {
        self.live_class(
            "SELECT id, name, teacher_id FROM classes \
             WHERE tenant_id = $1 AND id = $2 AND archived_at IS NULL",
            tenant,
            id,
        )
        .await
    }

    async fn live_class(
        &self,
        statement: &'static str,
        tenant: &str,
        key: &str,
    ) -> Result<Option<ClassRef>, StoreError> {
        let class = with_pool!(self, |pool, sql| {
            sqlx::query(sql(statement))
                .bind(tenant)
                .bind(key)
                .fetch_optional(pool)
                .await?
                .map(|row| ClassRef {
                    id: row.get(0),
                    name: row.get(1),
                    teacher_id: row.get(2),
                })
        });
        Ok(class)
    }

    /// The active students on a class roster, by user id.
    pub async fn roster_students(
        &self,
        tenant: &str,
        class_id: &str,
    ) -> Result<Vec<RosterStudent>, StoreError> {
        const SQL: &str = "SELECT users.id, users.display_name FROM class_members \
             JOIN users ON users.tenant_id = class_members.tenant_id AND users.id = class_members.user_id \
             WHERE class_members.tenant_id = $1 AND class_members.class_id = $2 \
             AND class_members.role_in_class = 'student' AND users.active \
             ORDER BY users.id";
        let students = with_pool!(self, |pool, sql| {
            sqlx::query(sql(SQL))
                .bind(tenant)
                .bind(class_id)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|row| RosterStudent {
                    user_id: row.get(0),
                    display_name: row.get(1),
                })
                .collect()
        });
        Ok(students)
    }

    /// The active student of a class roster whose personal link code is `link_code` (exact:
    /// the caller normalizes what was typed). `None` when no student of this class has it.
    pub async fn roster_student_by_link_code(
        &self,
        tenant: &str,
        class_id: &str,
        link_code: &str,
    ) -> Result<Option<RosterStudent>, StoreError> {
        const SQL: &str = "SELECT users.id, users.display_name FROM class_members \
             JOIN users ON users.tenant_id = class_members.tenant_id AND users.id = class_members.user_id \
             WHERE class_members.tenant_id = $1 AND class_members.class_id = $2 \
             AND class_members.link_code = $3 \
             AND class_members.role_in_class = 'student' AND users.active";
        let student = with_pool!(self, |pool, sql| {
            sqlx::query(sql(SQL))
                .bind(tenant)
                .bind(class_id)
                .bind(link_code)
                .fetch_optional(pool)
                .await?
                .map(|row| RosterStudent {
                    user_id: row.get(0),
                    display_name: row.get(1),
                })
        });
        Ok(student)
    }

    /// Records a new game session.
    pub async fn open_game_session(&self, session: &NewGameSession) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO game_sessions \
             (id, tenant_id, universe_id, place_id, job_id, class_id) \
             VALUES ($1, $2, $3, $4, $5, $6)";
        with_pool!(self, |pool, sql| {
            sqlx::query(sql(SQL))
                .bind(&session.id)
                .bind(&session.tenant)
                .bind(session.universe_id)
                .bind(session.place_id)
                .bind(&session.job_id)
                .bind(&session.class_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The open (not ended) session of a Roblox server, by its JobId: `(id, class_id,
    /// events_count)`. A server that restarted finds the session its game servers still use.
    pub async fn open_session_for_job(
        &self,
        tenant: &str,
        job_id: &str,
    ) -> Result<Option<(String, Option<String>, i64)>, StoreError> {
        const SQL: &str = "SELECT id, class_id, events_count FROM game_sessions \
             WHERE tenant_id = $1 AND job_id = $2 AND ended_at IS NULL \
             ORDER BY started_at DESC LIMIT 1";
        let found = with_pool!(self, |pool, sql| {
            sqlx::query(sql(SQL))
                .bind(tenant)
                .bind(job_id)
                .fetch_optional(pool)
                .await?
                .map(|row| (row.get(0), row.get(1), row.get(2)))
        });
        Ok(found)
    }

    /// Ends a game session (once: an ended session is left as it is), recording how long it
    /// lasted and how many events of its room are stored (retries counted once, across server
    /// restarts). Returns `(duration_secs, events_count)` when it was open.
    pub async fn close_game_session(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        const SQL: &str = "UPDATE game_sessions \
             SET ended_at = NOW(), duration_secs = SECONDS_SINCE(started_at), \
             events_count = (SELECT count(*) FROM game_events \
                 WHERE game_events.tenant_id = game_sessions.tenant_id \
                 AND game_events.room = 'game:' || game_sessions.tenant_id || ':' || game_sessions.job_id) \
             WHERE tenant_id = $1 AND id = $2 AND ended_at IS NULL \
             RETURNING duration_secs, events_count";
        let closed = with_pool!(self, |pool, sql| {
            sqlx::query(sql(SQL))
                .bind(tenant)
                .bind(id)
                .fetch_optional(pool)
                .await?
                .map(|row| (row.get(0), row.get(1)))
        });
        Ok(closed)
    }

    /// Notes Roblox players seen in a game (their display names and `last_seen_at`), creating
    /// unlinked rows for new ones, and returns the student each one is linked to, if any.
    pub async fn see_roblox_players(
        &self,
        tenant: &str,
        players: &[(i64, Option<String>)],
    ) -> Result<HashMap<i64, String>, StoreError> {
        const SQL: &str = "INSERT INTO roblox_players (tenant_id, roblox_user_id, display_name) \
             VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, roblox_user_id) DO UPDATE SET \
             display_name = COALESCE(EXCLUDED.display_name, roblox_players.display_name), \
             last_seen_at = NOW() \
             RETURNING roblox_user_id, user_id";
        let mut linked = HashMap::new();
        with_pool!(self, |pool, sql| {
            let mut transaction = pool.begin().await?;
            for (roblox_user_id, display_name) in players {
                let row = sqlx::query(sql(SQL))
                    .bind(tenant)
                    .bind(roblox_user_id)
                    .bind(display_name)
                    .fetch_one(&mut *transaction)
                    .await?;
                if let Some(user) = row.get::<Option<String>, _>(1) {
                    linked.insert(row.get::<i64, _>(0), user);
                }
            }
            transaction.commit().await?;
        });
        Ok(linked)
    }

    /// Links a Roblox account to a student (replacing an earlier link).
    pub async fn link_roblox_player(
        &self,
        tenant: &str,
        roblox_user_id: i64,
        user_id: &str,
        display_name: Option<&str>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO roblox_players (tenant_id, roblox_user_id, user_id, display_name) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, roblox_user_id) DO UPDATE SET \
             user_id = EXCLUDED.user_id, \
             display_name = COALESCE(EXCLUDED.display_name, roblox_players.display_name), \
             linked_at = CASE WHEN roblox_players.user_id IS DISTINCT FROM EXCLUDED.user_id \
                         THEN NOW() ELSE roblox_players.linked_at END, \
             last_seen_at = NOW()";
        with_pool!(self, |pool, sql| {
            sqlx::query(sql(SQL))
                .bind(tenant)
                .bind(roblox_user_id)
                .bind(user_id)
                .bind(display_name)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The student a Roblox account is linked to, if any.
    pub async fn linked_student(
        &self,
        tenant: &str,
        roblox_user_id: i64,
    ) -> Result<Option<String>, StoreError> {
        const SQL: &str = "SELECT user_id FROM roblox_players \
             WHERE tenant_id = $1 AND roblox_user_id = $2";
        let user = with_pool!(self, |pool, sql| {
            sqlx::query_scalar::<_, Option<String>>(sql(SQL))
                .bind(tenant)
                .bind(roblox_user_id)
                .fetch_optional(pool)
                .await?
                .flatten()
        });
        Ok(user)
    }

    /// Sets (or replaces) the Open Cloud API key of a tenant's universe.
    pub async fn set_open_cloud_key(
        &self,
        tenant: &str,
        universe_id: i64,
        api_key: &str,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO open_cloud_keys (tenant_id, universe_id, api_key) \
             VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, universe_id) DO UPDATE SET \
             api_key = EXCLUDED.api_key, updated_at = NOW()";
        with_pool!(self, |pool, sql| {
            sqlx::query(sql(SQL))
                .bind(tenant)
                .bind(universe_id)
                .bind(api_key)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The Open Cloud API key of a tenant's universe, if one is configured.
    pub async fn open_cloud_key(
        &self,
        tenant: &str,
        universe_id: i64,
    ) -> Result<Option<String>, StoreError> {
        const SQL: &str = "SELECT api_key FROM open_cloud_keys \
             WHERE tenant_id = $1 AND universe_id = $2";
        let key = with_pool!(self, |pool, sql| {
            sqlx::query_scalar::<_, String>(sql(SQL))
                .bind(tenant)
                .bind(universe_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(key)
    }
}
