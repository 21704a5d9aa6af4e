//! Notifications: one row per recipient, newest first, read or unread. Ids are made by the
//! caller and sort by creation time, so a page is `id < cursor ORDER BY id DESC`.

use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder, Sqlite};

use crate::sql::{Page, Paged, exec, row, rows};
use crate::store::Pool;
use crate::{Store, StoreError};

/// One row of `notifications`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationRecord {
    /// The notification id (time-ordered).
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The recipient.
    pub user_id: String,
    /// Who sent it.
    pub sender_id: Option<String>,
    /// `message`, `reward`, `quiz`, …
    pub kind: String,
    /// A short title.
    pub title: String,
    /// The text.
    pub body: Option<String>,
    /// Anything else the client needs (JSON).
    #[sqlx(json(nullable))]
    pub data: Option<Value>,
    /// When it was sent.
    pub created_at: String,
    /// When the recipient marked it read; `null` while unread.
    pub read_at: Option<String>,
}

/// A notification to store for many recipients.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// Sender.
    pub sender_id: String,
    /// Kind.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: Option<String>,
    /// Data.
    pub data: Option<Value>,
}

/// Rows per multi-row insert (9 parameters each, far below both backends' limits).
const ROWS_PER_STATEMENT: usize = 1000;

const COLUMNS: &str = "id, tenant_id, user_id, sender_id, kind, title, body, data, \
     TS(created_at) AS created_at, TS(read_at) AS read_at";

impl Store {
    /// Stores `notification` once per `(id, recipient)` pair, in one transaction.
    pub async fn insert_notifications(
        &self,
        tenant: &str,
        recipients: &[(String, String)],
        notification: &NewNotification,
    ) -> Result<(), StoreError> {
        const HEAD: &str = "INSERT INTO notifications (id, tenant_id, user_id, sender_id, kind, title, body, data) ";
        match &self.pool {
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for chunk in recipients.chunks(ROWS_PER_STATEMENT) {
                    let mut builder: QueryBuilder<Postgres> = QueryBuilder::new(HEAD);
                    builder.push_values(chunk, |mut row, (id, user)| {
                        row.push_bind(id.as_str())
                            .push_bind(tenant)
                            .push_bind(user.as_str())
                            .push_bind(notification.sender_id.as_str())
                            .push_bind(notification.kind.as_str())
                            .push_bind(notification.title.as_str())
                            .push_bind(notification.body.as_deref())
                            .push_bind(notification.data.as_ref().map(Json));
                    });
                    builder.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for chunk in recipients.chunks(ROWS_PER_STATEMENT) {
                    let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(HEAD);
                    builder.push_values(chunk, |mut row, (id, user)| {
                        row.push_bind(id.as_str())
                            .push_bind(tenant)
                            .push_bind(user.as_str())
                            .push_bind(notification.sender_id.as_str())
                            .push_bind(notification.kind.as_str())
                            .push_bind(notification.title.as_str())
                            .push_bind(notification.body.as_deref())
                            .push_bind(notification.data.as_ref().map(Json));
                    });
                    builder.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// One recipient's notifications, newest first.
    pub async fn notifications(
        &self,
        tenant: &str,
        user: &str,
        unread_only: bool,
        page: &Page<String>,
    ) -> Result<Paged<NotificationRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM notifications WHERE tenant_id = $1 AND user_id = $2 \
             AND ($3 = '' OR id < $3) AND (read_at IS NULL OR NOT $5) ORDER BY id DESC LIMIT $4"
        );
        let before = page.after.clone().unwrap_or_default();
        let limit = i64::from(page.limit) + 1;
        let items = rows!(
            self,
            NotificationRecord,
            &sql,
            tenant,
            user,
            before,
            limit,
            unread_only
        )?;
        Ok(Paged::cut(items, page.limit))
    }

    /// A notification of `tenant`.
    pub async fn notification(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<NotificationRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM notifications WHERE tenant_id = $1 AND id = $2");
        Ok(row!(self, NotificationRecord, &sql, tenant, id)?)
    }

    /// Marks a notification read (keeping the first read time); `Ok(None)` when there is none.
    pub async fn mark_notification_read(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<NotificationRecord>, StoreError> {
        exec!(
            self,
            "UPDATE notifications SET read_at = COALESCE(read_at, NOW()) WHERE tenant_id = $1 AND id = $2",
            tenant,
            id
        )?;
        self.notification(tenant, id).await
    }
}
