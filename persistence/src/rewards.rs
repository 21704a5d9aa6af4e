//! The rewards ledger: each reward a student got (points, a badge, why, from whom, when), a
//! student's totals (points, badges, the days in a row they were active), and a class's
//! leaderboard (points earned in that class, when its teacher turned the leaderboard on).

use serde::Serialize;

use std::collections::HashSet;

use sqlx::{Postgres, QueryBuilder, Row, Sqlite};

use crate::sql::{exec, row, rows};
use crate::store::Pool;
use crate::{Store, StoreError};

/// Rewards per multi-row insert (9 parameters each, far below both backends' limits).
const ROWS_PER_STATEMENT: usize = 1000;

/// One reward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RewardRecord {
    /// The reward id.
    pub id: String,
    /// Who got it.
    pub student_id: String,
    /// The class it was given in, if any.
    pub class_id: Option<String>,
    /// Points (0 for a badge alone).
    pub points: i64,
    /// The Roblox badge, if any.
    pub badge_id: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// `teacher` or `game`.
    pub source: String,
    /// Who gave it.
    pub given_by: Option<String>,
    /// When.
    pub created_at: String,
}

/// A reward to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReward {
    /// Its id (made from what caused it, so recording it twice stores it once).
    pub id: String,
    /// Who gets it.
    pub student_id: String,
    /// The class.
    pub class_id: Option<String>,
    /// Points.
    pub points: i64,
    /// Badge.
    pub badge_id: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// `teacher` or `game`.
    pub source: &'static str,
    /// Who gave it.
    pub given_by: Option<String>,
}

/// One line of a class's leaderboard.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LeaderboardRow {
    /// The student.
    pub student_id: String,
    /// Their display name, if any.
    pub display_name: Option<String>,
    /// Points earned in the class.
    pub points: i64,
}

const REWARD_COLUMNS: &str = "id, student_id, class_id, CAST(points AS BIGINT) AS points, badge_id, \
     reason, source, given_by, TS(created_at) AS created_at";

impl Store {
    /// Records rewards in one transaction (ids already stored are skipped); returns the new ones.
    pub async fn record_rewards(
        &self,
        tenant: &str,
        rewards: &[NewReward],
    ) -> Result<Vec<NewReward>, StoreError> {
        const HEAD: &str = "INSERT INTO rewards (id, tenant_id, student_id, class_id, points, badge_id, reason, source, given_by) ";
        const TAIL: &str = " ON CONFLICT (id) DO NOTHING RETURNING id";
        macro_rules! insert {
            ($pool:expr, $db:ty) => {{
                let mut tx = $pool.begin().await?;
                let mut new = HashSet::new();
                for chunk in rewards.chunks(ROWS_PER_STATEMENT) {
                    let mut builder: QueryBuilder<$db> = QueryBuilder::new(HEAD);
                    builder.push_values(chunk, |mut row, reward| {
                        row.push_bind(reward.id.as_str())
                            .push_bind(tenant)
                            .push_bind(reward.student_id.as_str())
                            .push_bind(reward.class_id.as_deref())
                            .push_bind(reward.points)
                            .push_bind(reward.badge_id.as_deref())
                            .push_bind(reward.reason.as_deref())
                            .push_bind(reward.source)
                            .push_bind(reward.given_by.as_deref());
                    });
                    builder.push(TAIL);
                    for row in builder.build().fetch_all(&mut *tx).await? {
                        new.insert(row.get::<String, _>(0));
                    }
                }
                tx.commit().await?;
                new
            }};
        }
        if rewards.is_empty() {
            return Ok(Vec::new());
        }
        let new = match &self.pool {
            Pool::Postgres(pool) => insert!(pool, Postgres),
            Pool::Sqlite(pool) => insert!(pool, Sqlite),
        };
        Ok(rewards
            .iter()
            .filter(|reward| new.contains(&reward.id))
            .cloned()
            .collect())
    }

    /// A student's newest rewards (at most `limit`).
    pub async fn rewards_of(
        &self,
        tenant: &str,
        student: &str,
        limit: u32,
    ) -> Result<Vec<RewardRecord>, StoreError> {
        let sql = format!(
            "SELECT {REWARD_COLUMNS} FROM rewards WHERE tenant_id = $1 AND student_id = $2 \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        Ok(rows!(
            self,
            RewardRecord,
            &sql,
            tenant,
            student,
            i64::from(limit)
        )?)
    }

    /// A student's points, all rewards together.
    pub async fn points_of(&self, tenant: &str, student: &str) -> Result<i64, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Total {
            points: i64,
        }
        let total = row!(
            self,
            Total,
            "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) AS points FROM rewards \
             WHERE tenant_id = $1 AND student_id = $2",
            tenant,
            student
        )?;
        Ok(total.map_or(0, |total| total.points))
    }

    /// The UTC days (`YYYY-MM-DD`, newest first, at most `limit`) on which a student got a
    /// reward or submitted a result.
    pub async fn active_days(
        &self,
        tenant: &str,
        student: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Day {
            day: String,
        }
        let days = rows!(
            self,
            Day,
            "SELECT day FROM (SELECT SUBSTR(TS(created_at), 1, 10) AS day FROM rewards \
               WHERE tenant_id = $1 AND student_id = $2 \
             UNION SELECT SUBSTR(TS(submitted_at), 1, 10) AS day FROM assessment_results \
               WHERE tenant_id = $1 AND user_id = $2) AS d ORDER BY day DESC LIMIT $3",
            tenant,
            student,
            i64::from(limit)
        )?;
        Ok(days.into_iter().map(|day| day.day).collect())
    }

    /// Points earned in a class by each student on its roster (the most first, at most `limit`).
    pub async fn leaderboard(
        &self,
        tenant: &str,
        class: &str,
        limit: u32,
    ) -> Result<Vec<LeaderboardRow>, StoreError> {
        Ok(rows!(
            self,
            LeaderboardRow,
            "SELECT m.user_id AS student_id, u.display_name, \
               CAST(COALESCE((SELECT SUM(r.points) FROM rewards r WHERE r.tenant_id = m.tenant_id \
                 AND r.student_id = m.user_id AND r.class_id = m.class_id), 0) AS BIGINT) AS points \
             FROM class_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id \
             WHERE m.tenant_id = $1 AND m.class_id = $2 AND m.role_in_class = 'student' \
             ORDER BY points DESC, m.user_id LIMIT $3",
            tenant,
            class,
            i64::from(limit)
        )?)
    }

    /// Whether a class shows its leaderboard to its students.
    pub async fn leaderboard_enabled(&self, tenant: &str, class: &str) -> Result<bool, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Flag {
            leaderboard: bool,
        }
        let flag = row!(
            self,
            Flag,
            "SELECT leaderboard FROM classes WHERE tenant_id = $1 AND id = $2",
            tenant,
            class
        )?;
        Ok(flag.is_some_and(|flag| flag.leaderboard))
    }

    /// Turns a class's leaderboard on or off.
    pub async fn set_leaderboard(
        &self,
        tenant: &str,
        class: &str,
        enabled: bool,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "UPDATE classes SET leaderboard = $3 WHERE tenant_id = $1 AND id = $2",
            tenant,
            class,
            enabled
        )?;
        Ok(())
    }
}
