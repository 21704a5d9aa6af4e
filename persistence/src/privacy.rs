//! Privacy: erasing a user from every table in bounded batches, the tombstones that keep an erased
//! user from coming back, the sections an export streams page by page, and the retention purge.
//!
//! **Invariant:** once [`Store::mark_erased`] returned, no event naming that user is written by
//! the sink of this store (the sink holds [`Store::erasures`]' read lock from filtering a batch to
//! its commit, and marking takes the write lock, so a batch filtered before the mark has
//! committed before erasure starts deleting).
//!
//! A row *names* a user when a user column holds their id, a JSON column holds it as a string
//! value (`"id"`), or a room column is one of their rooms. Export and erasure use the same rule.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tokio::sync::RwLock;

use crate::event::{DurableEvent, ProgressUpdate};
use crate::sql::{exec, row, rows};
use crate::store::Backend;
use crate::{Store, StoreError};

/// Lowercase hex SHA-256 of a user id: what a tombstone keeps instead of the id.
pub fn subject_sha256(user: &str) -> String {
    hex::encode(Sha256::digest(user.as_bytes()))
}

/// What the audit trail shows instead of an erased user's id: `erased:` and 16 hex characters
/// of the id's SHA-256 (the same for every entry about that user, so they still read together).
pub fn pseudonym(user: &str) -> String {
    format!("erased:{}", &subject_sha256(user)[..16])
}

/// The users erased while this process runs, by tenant: the sink drops their queued events.
/// Shared by every clone of a [`Store`].
#[derive(Debug, Default)]
pub struct Erasures {
    by_tenant: HashMap<String, HashSet<String>>,
}

impl Erasures {
    /// Whether `event` was sent by, or is progress of, an erased user.
    pub fn names(&self, event: &DurableEvent) -> bool {
        let Some(erased) = self.by_tenant.get(&event.tenant) else {
            return false;
        };
        if erased.contains(&event.sender) {
            return true;
        }
        matches!(
            ProgressUpdate::from_event(&event.kind, &event.sender, &event.data),
            Ok(Some(progress)) if erased.contains(&progress.user)
        )
    }

    /// Whether nobody was erased (the sink's fast path).
    pub fn is_empty(&self) -> bool {
        self.by_tenant.is_empty()
    }
}

/// Shared handle to a store's [`Erasures`].
pub(crate) type SharedErasures = Arc<RwLock<Erasures>>;

/// Whom an erasure or an export is about.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The tenant.
    pub tenant: String,
    /// The user id.
    pub user: String,
    /// The rooms that are theirs alone (their `user:` room), as stored in `game_events.room`.
    pub rooms: Vec<String>,
}

impl Subject {
    /// The id as a JSON string value (`"id"`, escaped), searched for in JSON columns.
    fn quoted(&self) -> String {
        Value::String(self.user.clone()).to_string()
    }

    fn room(&self) -> String {
        self.rooms.first().cloned().unwrap_or_default()
    }
}

/// What an erasure did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Erasure {
    /// Rows deleted, by table.
    pub removed: BTreeMap<String, u64>,
    /// Rows kept with the user's id replaced by their pseudonym, by table.
    pub pseudonymised: BTreeMap<String, u64>,
}

impl Erasure {
    fn add(&mut self, table: &str, rows: u64) {
        *self.removed.entry(table.to_owned()).or_default() += rows;
    }
}

/// A table's batch delete: `DELETE … WHERE key IN (SELECT key … WHERE <naming> LIMIT n)`.
struct BatchDelete {
    table: &'static str,
    key: &'static str,
    /// The condition after `tenant_id = $1`; `$2` is the user, `$3` their room, `$4` the
    /// quoted id, and `CONTAINS(col)` is a JSON column holding `$4`.
    naming: &'static str,
}

/// Tables deleted in batches (they can be large; each has an index on its user column).
/// (`game_events` goes first, by id: see [`Store::erase_events`].)
const BATCHED: &[BatchDelete] = &[
    BatchDelete {
        table: "notifications",
        key: "id",
        naming: "user_id = $2",
    },
    BatchDelete {
        table: "agent_tasks",
        key: "id",
        naming: "user_id = $2",
    },
    BatchDelete {
        table: "tutor_turns",
        key: "id",
        naming: "user_id = $2",
    },
    BatchDelete {
        table: "assessment_results",
        key: "id",
        naming: "user_id = $2",
    },
    BatchDelete {
        table: "game_answers",
        key: "result_id || '/' || question_id",
        naming: "user_id = $2",
    },
    BatchDelete {
        table: "student_progress",
        key: "course_id || '/' || lesson_id",
        naming: "user_id = $2",
    },
];

/// Small tables, deleted in one statement each (before `users`, whose row goes last).
const SMALL: &[(&str, &str)] = &[
    ("parent_links", "parent_id = $2 OR child_id = $2"),
    ("class_members", "user_id = $2"),
    ("roblox_players", "user_id = $2"),
    ("student_consent", "student_id = $2"),
    ("rewards", "student_id = $2"),
    ("chat_mutes", "user_id = $2"),
    ("tutor_threads", "user_id = $2"),
];

/// `CONTAINS(col)` in the backend's spelling: whether JSON column `col` holds `$4`.
fn contains(backend: Backend, sql: &str) -> String {
    let with = match backend {
        Backend::Postgres => "strpos(CAST(COL AS TEXT), $4) > 0",
        Backend::Sqlite => "instr(COL, $4) > 0",
    };
    let mut out = sql.to_owned();
    while let Some(at) = out.find("CONTAINS(") {
        let close = at + out[at..].find(')').unwrap_or(out.len() - at - 1);
        let column = out[at + "CONTAINS(".len()..close].to_owned();
        out.replace_range(at..=close, &with.replace("COL", &column));
    }
    out
}

impl Store {
    /// The erased users' set the sink filters with.
    pub fn erasures(&self) -> &Arc<RwLock<Erasures>> {
        &self.erasures
    }

    /// Records that `user` is being erased: a tombstone (the id's hash) so their tokens are
    /// refused from now on, here and after a restart, and the sink's filter (waiting for batches
    /// filtered before it to commit). Returns whether they were erased already.
    pub async fn mark_erased(&self, tenant: &str, user: &str) -> Result<bool, StoreError> {
        let added = exec!(
            self,
            "INSERT INTO erased_users (subject_sha256, tenant_id) VALUES ($1, $2) \
             ON CONFLICT (subject_sha256) DO NOTHING",
            subject_sha256(user),
            tenant
        )?;
        self.erasures
            .write()
            .await
            .by_tenant
            .entry(tenant.to_owned())
            .or_default()
            .insert(user.to_owned());
        Ok(added == 0)
    }

    /// The tenant `user` was erased from, if they were (their tombstone exists).
    pub async fn erased_from(&self, user: &str) -> Result<Option<String>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Found {
            tenant_id: String,
        }
        let found = row!(
            self,
            Found,
            "SELECT tenant_id FROM erased_users WHERE subject_sha256 = $1",
            subject_sha256(user)
        )?;
        Ok(found.map(|found| found.tenant_id))
    }

    /// Deletes every row naming `subject` (large tables `batch_rows` rows per statement, each
    /// its own short transaction), clears the references others' rows hold to them, and
    /// pseudonymises the audit entries about them. Call [`Store::mark_erased`] first.
    /// Idempotent: a second call finds nothing and answers zeros.
    pub async fn erase_user(
        &self,
        subject: &Subject,
        batch_rows: u32,
    ) -> Result<Erasure, StoreError> {
        let batch_rows = i64::from(batch_rows.max(1));
        let mut erasure = Erasure::default();
        let (tenant, user, room, quoted) = (
            subject.tenant.as_str(),
            subject.user.as_str(),
            subject.room(),
            subject.quoted(),
        );
        let events = self
            .erase_events(tenant, user, &room, &quoted, batch_rows)
            .await?;
        erasure.add("game_events", events);
        for delete in BATCHED {
            let sql = contains(
                self.backend(),
                &format!(
                    "DELETE FROM {table} WHERE tenant_id = $1 AND {naming} AND {key} IN \
                     (SELECT {key} FROM {table} WHERE tenant_id = $1 AND {naming} LIMIT $5)",
                    table = delete.table,
                    key = delete.key,
                    naming = delete.naming,
                ),
            );
            erasure.add(delete.table, 0);
            loop {
                let deleted = exec!(self, &sql, tenant, user, &room, &quoted, batch_rows)?;
                erasure.add(delete.table, deleted);
                if deleted < batch_rows as u64 {
                    break;
                }
            }
        }
        for (table, naming) in SMALL {
            let deleted = exec!(
                self,
                &format!("DELETE FROM {table} WHERE tenant_id = $1 AND ({naming})"),
                tenant,
                user
            )?;
            erasure.add(table, deleted);
        }
        // References others' rows hold: kept, without the id.
        let alias = pseudonym(user);
        let cleared = [
            (
                "classes",
                "UPDATE classes SET teacher_id = NULL WHERE tenant_id = $1 AND teacher_id = $2",
            ),
            (
                "courses",
                "UPDATE courses SET created_by = NULL WHERE tenant_id = $1 AND created_by = $2",
            ),
            (
                "lesson_revisions",
                "UPDATE lesson_revisions SET replaced_by = NULL WHERE tenant_id = $1 AND replaced_by = $2",
            ),
            (
                "assignments",
                "UPDATE assignments SET assigned_by = NULL WHERE tenant_id = $1 AND assigned_by = $2",
            ),
            (
                "rewards",
                "UPDATE rewards SET given_by = NULL WHERE tenant_id = $1 AND given_by = $2",
            ),
            (
                "media",
                "UPDATE media SET uploaded_by = NULL WHERE tenant_id = $1 AND uploaded_by = $2",
            ),
        ];
        for (table, sql) in cleared {
            let changed = exec!(self, sql, tenant, user)?;
            if changed > 0 {
                *erasure.pseudonymised.entry(table.to_owned()).or_default() += changed;
            }
        }
        let renamed = [
            (
                "student_consent",
                "UPDATE student_consent SET decided_by = $3 \
                 WHERE tenant_id = $1 AND decided_by = $2",
            ),
            (
                "notifications",
                "UPDATE notifications SET sender_id = $3 WHERE tenant_id = $1 AND sender_id = $2",
            ),
        ];
        for (table, sql) in renamed {
            let changed = exec!(self, sql, tenant, user, &alias)?;
            if changed > 0 {
                *erasure.pseudonymised.entry(table.to_owned()).or_default() += changed;
            }
        }
        let audited = self
            .pseudonymise_audit(tenant, user, &quoted, &alias, batch_rows)
            .await?;
        erasure
            .pseudonymised
            .insert("audit_entries".to_owned(), audited);
        let deleted = exec!(
            self,
            "DELETE FROM users WHERE tenant_id = $1 AND id = $2",
            tenant,
            user
        )?;
        erasure.add("users", deleted);
        Ok(erasure)
    }

    /// Deletes the events naming `user`, `batch_rows` per statement, walking the table by id
    /// (a batch starts where the last one ended, so the whole erasure reads the tenant's events
    /// once: the naming rule reads every payload, which no index can serve).
    async fn erase_events(
        &self,
        tenant: &str,
        user: &str,
        room: &str,
        quoted: &str,
        batch_rows: i64,
    ) -> Result<u64, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Deleted {
            id: i64,
        }
        let sql = contains(
            self.backend(),
            "DELETE FROM game_events WHERE id IN (SELECT id FROM game_events \
             WHERE TENANT = $1 AND id > $6 AND (sender = $2 OR room = $3 OR CONTAINS(data)) \
             ORDER BY id LIMIT $5) RETURNING id",
        );
        // As in `export_page`: SQLite walks the rowid only when told not to use the tenant index.
        let sql = sql.replace(
            "TENANT",
            match self.backend() {
                Backend::Sqlite => "+tenant_id",
                Backend::Postgres => "tenant_id",
            },
        );
        let (mut total, mut after) = (0, 0i64);
        loop {
            let deleted = rows!(
                self, Deleted, &sql, tenant, user, room, quoted, batch_rows, after
            )?;
            total += deleted.len() as u64;
            match deleted.iter().map(|row| row.id).max() {
                Some(last) if deleted.len() as i64 == batch_rows => after = last,
                _ => return Ok(total),
            }
        }
    }

    /// Replaces `user` by `alias` in the audit entries naming them, `batch_rows` at a time.
    async fn pseudonymise_audit(
        &self,
        tenant: &str,
        user: &str,
        quoted: &str,
        alias: &str,
        batch_rows: i64,
    ) -> Result<u64, StoreError> {
        let alias_quoted = Value::String(alias.to_owned()).to_string();
        let detail = match self.backend() {
            Backend::Postgres => "CAST(REPLACE(CAST(detail AS TEXT), $4, $6) AS JSONB)",
            Backend::Sqlite => "REPLACE(detail, $4, $6)",
        };
        let sql = contains(
            self.backend(),
            &format!(
                "UPDATE audit_entries SET \
                 actor_id = CASE WHEN actor_id = $2 THEN $3 ELSE actor_id END, \
                 target_id = CASE WHEN target_id = $2 THEN $3 ELSE target_id END, \
                 student_id = CASE WHEN student_id = $2 THEN $3 ELSE student_id END, \
                 detail = {detail} \
                 WHERE tenant_id = $1 AND id IN (SELECT id FROM audit_entries WHERE tenant_id = $1 \
                 AND id > $7 \
                 AND (actor_id = $2 OR target_id = $2 OR student_id = $2 OR CONTAINS(detail)) \
                 ORDER BY id LIMIT $5) RETURNING id"
            ),
        );
        #[derive(sqlx::FromRow)]
        struct Changed {
            id: String,
        }
        let (mut total, mut after) = (0, String::new());
        loop {
            let changed = rows!(
                self,
                Changed,
                &sql,
                tenant,
                user,
                alias,
                quoted,
                batch_rows,
                &alias_quoted,
                &after
            )?;
            let full = changed.len() as i64 == batch_rows;
            total += changed.len() as u64;
            match changed.into_iter().map(|row| row.id).max() {
                Some(last) if full => after = last,
                _ => return Ok(total),
            }
        }
    }
}

/// One section of an export: the rows of one table (or join) naming the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportSection {
    /// The profile (`users`).
    User,
    /// Parent links, as parent or child.
    ParentLinks,
    /// Class memberships.
    Classes,
    /// Per-lesson progress.
    Progress,
    /// Assessment results.
    Results,
    /// Linked Roblox accounts.
    RobloxPlayers,
    /// The consent decision.
    Consent,
    /// AI questions and answers (`agent_tasks`).
    Ai,
    /// Conversations with the tutor (`tutor_threads`: title and summary).
    AiThreads,
    /// The turns those conversations keep (`tutor_turns`).
    AiTurns,
    /// Notifications received or sent.
    Notifications,
    /// Chat messages they sent (`game_events` of kind `chat`, or `chat_held` while held).
    Chat,
    /// Rewards given to them (`game_events` of kind `reward`).
    Rewards,
    /// The rewards ledger (`rewards`): points and badges they got, or gave.
    RewardLedger,
    /// Every other event they sent or that names them.
    GameEvents,
    /// Audit entries about them or by them.
    Audit,
}

/// How a column is read back.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Int,
    Real,
    Bool,
    Json,
    Time,
}

struct SectionSpec {
    name: &'static str,
    from: &'static str,
    /// Condition after `t.tenant_id = $1` (`$2` user, `$3` room, `$4` quoted id).
    naming: &'static str,
    /// Paging key (unique within the section), or `None` for sections that are small by nature.
    key: Option<(&'static str, Kind)>,
    columns: &'static [(&'static str, &'static str, Kind)],
}

const EVENT_COLUMNS: &[(&str, &str, Kind)] = &[
    ("t.id", "id", Kind::Int),
    ("t.event_id", "event_id", Kind::Text),
    ("t.room", "room", Kind::Text),
    ("t.kind", "kind", Kind::Text),
    ("t.sender", "sender", Kind::Text),
    ("t.data", "data", Kind::Json),
    ("t.seq", "seq", Kind::Int),
    ("t.sent_at", "sent_at", Kind::Time),
];

impl ExportSection {
    /// Every section, in the document's order.
    pub const ALL: [ExportSection; 16] = [
        ExportSection::User,
        ExportSection::ParentLinks,
        ExportSection::Classes,
        ExportSection::Progress,
        ExportSection::Results,
        ExportSection::RobloxPlayers,
        ExportSection::Consent,
        ExportSection::Ai,
        ExportSection::AiThreads,
        ExportSection::AiTurns,
        ExportSection::Notifications,
        ExportSection::Chat,
        ExportSection::Rewards,
        ExportSection::RewardLedger,
        ExportSection::GameEvents,
        ExportSection::Audit,
    ];

    /// The section's name: its key in the JSON document and its file in the zip.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Whether the section holds at most one row (then it is an object, not a list).
    pub fn is_single(self) -> bool {
        matches!(self, ExportSection::User | ExportSection::Consent)
    }

    /// The section's column names, in order.
    pub fn columns(self) -> Vec<&'static str> {
        self.spec()
            .columns
            .iter()
            .map(|(_, name, _)| *name)
            .collect()
    }

    fn spec(self) -> SectionSpec {
        use Kind::{Bool, Int, Json, Real, Text, Time};
        match self {
            ExportSection::User => SectionSpec {
                name: "user",
                from: "users t",
                naming: "t.id = $2",
                key: None,
                columns: &[
                    ("t.id", "id", Text),
                    ("t.role", "role", Text),
                    ("t.display_name", "display_name", Text),
                    ("t.external_auth_id", "external_auth_id", Text),
                    ("t.active", "active", Bool),
                    ("t.created_at", "created_at", Time),
                    ("t.updated_at", "updated_at", Time),
                ],
            },
            ExportSection::ParentLinks => SectionSpec {
                name: "parent_links",
                from: "parent_links t",
                naming: "(t.parent_id = $2 OR t.child_id = $2)",
                key: None,
                columns: &[
                    ("t.parent_id", "parent_id", Text),
                    ("t.child_id", "child_id", Text),
                    ("t.created_at", "created_at", Time),
                ],
            },
            ExportSection::Classes => SectionSpec {
                name: "classes",
                from: "class_members t JOIN classes c ON c.tenant_id = t.tenant_id AND c.id = t.class_id",
                naming: "t.user_id = $2",
                key: None,
                columns: &[
                    ("t.class_id", "class_id", Text),
                    ("c.name", "class_name", Text),
                    ("t.role_in_class", "role_in_class", Text),
                    ("t.link_code", "link_code", Text),
                    ("t.added_at", "added_at", Time),
                ],
            },
            ExportSection::Progress => SectionSpec {
                name: "progress",
                from: "student_progress t",
                naming: "t.user_id = $2",
                key: None,
                columns: &[
                    ("t.course_id", "course_id", Text),
                    ("t.lesson_id", "lesson_id", Text),
                    ("t.completion_percent", "completion_percent", Real),
                    ("t.time_spent_secs", "time_spent_secs", Int),
                    ("t.completed_at", "completed_at", Time),
                    ("t.updated_at", "updated_at", Time),
                ],
            },
            ExportSection::Results => SectionSpec {
                name: "results",
                from: "assessment_results t",
                naming: "t.user_id = $2",
                key: Some(("t.id", Text)),
                columns: &[
                    ("t.id", "id", Text),
                    ("t.assessment_id", "assessment_id", Text),
                    ("t.answers", "answers", Json),
                    ("t.score", "score", Real),
                    ("t.max_score", "max_score", Real),
                    ("t.submitted_at", "submitted_at", Time),
                ],
            },
            ExportSection::RobloxPlayers => SectionSpec {
                name: "roblox_players",
                from: "roblox_players t",
                naming: "t.user_id = $2",
                key: None,
                columns: &[
                    ("t.roblox_user_id", "roblox_user_id", Int),
                    ("t.display_name", "display_name", Text),
                    ("t.linked_at", "linked_at", Time),
                    ("t.last_seen_at", "last_seen_at", Time),
                ],
            },
            ExportSection::Consent => SectionSpec {
                name: "consent",
                from: "student_consent t",
                naming: "t.student_id = $2",
                key: None,
                columns: &[
                    ("t.state", "state", Text),
                    ("t.decided_by", "decided_by", Text),
                    ("t.decided_role", "decided_role", Text),
                    ("t.decided_at", "decided_at", Time),
                ],
            },
            ExportSection::Ai => SectionSpec {
                name: "ai",
                from: "agent_tasks t",
                naming: "t.user_id = $2",
                key: Some(("t.id", Text)),
                columns: &[
                    ("t.id", "id", Text),
                    ("t.kind", "kind", Text),
                    ("t.status", "status", Text),
                    ("t.input", "input", Json),
                    ("t.output", "output", Json),
                    ("t.tokens_used", "tokens_used", Int),
                    ("t.error", "error", Text),
                    ("t.created_at", "created_at", Time),
                    ("t.updated_at", "updated_at", Time),
                ],
            },
            ExportSection::AiThreads => SectionSpec {
                name: "ai_threads",
                from: "tutor_threads t",
                naming: "t.user_id = $2",
                key: Some(("t.id", Text)),
                columns: &[
                    ("t.id", "id", Text),
                    ("t.title", "title", Text),
                    ("t.summary", "summary", Text),
                    ("t.turns_total", "turns_total", Int),
                    ("t.created_at", "created_at", Time),
                    ("t.updated_at", "updated_at", Time),
                ],
            },
            ExportSection::AiTurns => SectionSpec {
                name: "ai_turns",
                from: "tutor_turns t",
                naming: "t.user_id = $2",
                key: Some(("t.id", Text)),
                columns: &[
                    ("t.id", "id", Text),
                    ("t.thread_id", "thread_id", Text),
                    ("t.seq", "seq", Int),
                    ("t.lesson_id", "lesson_id", Text),
                    ("t.task_id", "task_id", Text),
                    ("t.question", "question", Text),
                    ("t.answer", "answer", Text),
                    ("t.created_at", "created_at", Time),
                ],
            },
            ExportSection::Notifications => SectionSpec {
                name: "notifications",
                from: "notifications t",
                naming: "(t.user_id = $2 OR t.sender_id = $2)",
                key: Some(("t.id", Text)),
                columns: &[
                    ("t.id", "id", Text),
                    ("t.user_id", "user_id", Text),
                    ("t.sender_id", "sender_id", Text),
                    ("t.kind", "kind", Text),
                    ("t.title", "title", Text),
                    ("t.body", "body", Text),
                    ("t.data", "data", Json),
                    ("t.created_at", "created_at", Time),
                    ("t.read_at", "read_at", Time),
                ],
            },
            ExportSection::Chat => SectionSpec {
                name: "chat",
                from: "game_events t",
                naming: "t.kind IN ('chat', 'chat_held') AND t.sender = $2",
                key: Some(("t.id", Int)),
                columns: EVENT_COLUMNS,
            },
            ExportSection::Rewards => SectionSpec {
                name: "rewards",
                from: "game_events t",
                naming: "t.kind = 'reward' AND (t.sender = $2 OR t.room = $3 OR CONTAINS(t.data))",
                key: Some(("t.id", Int)),
                columns: EVENT_COLUMNS,
            },
            ExportSection::RewardLedger => SectionSpec {
                name: "reward_ledger",
                from: "rewards t",
                naming: "(t.student_id = $2 OR t.given_by = $2)",
                key: Some(("t.id", Text)),
                columns: &[
                    ("t.id", "id", Text),
                    ("t.student_id", "student_id", Text),
                    ("t.class_id", "class_id", Text),
                    ("t.points", "points", Int),
                    ("t.badge_id", "badge_id", Text),
                    ("t.reason", "reason", Text),
                    ("t.source", "source", Text),
                    ("t.given_by", "given_by", Text),
                    ("t.created_at", "created_at", Time),
                ],
            },
            ExportSection::GameEvents => SectionSpec {
                name: "game_events",
                from: "game_events t",
                naming: "t.kind NOT IN ('chat', 'chat_held', 'reward') \
                         AND (t.sender = $2 OR t.room = $3 OR CONTAINS(t.data))",
                key: Some(("t.id", Int)),
                columns: EVENT_COLUMNS,
            },
            ExportSection::Audit => SectionSpec {
                name: "audit",
                from: "audit_entries t",
                naming: "(t.student_id = $2 OR t.actor_id = $2 OR t.target_id = $2)",
                key: Some(("t.id", Text)),
                columns: &[
                    ("t.id", "id", Text),
                    ("t.actor_id", "actor_id", Text),
                    ("t.actor_role", "actor_role", Text),
                    ("t.action", "action", Text),
                    ("t.target_type", "target_type", Text),
                    ("t.target_id", "target_id", Text),
                    ("t.student_id", "student_id", Text),
                    ("t.source_ip", "source_ip", Text),
                    ("t.detail", "detail", Json),
                    ("t.created_at", "created_at", Time),
                ],
            },
        }
    }
}

/// One page of an export section.
#[derive(Debug, Clone, Default)]
pub struct ExportPage {
    /// The rows, each as `(column, value)` in the section's column order.
    pub rows: Vec<Vec<Value>>,
    /// Where the next page starts, or `None` when this was the last.
    pub next: Option<String>,
}

/// Every column of a row read as text (the export casts in SQL, then types in Rust).
struct TextRow(Vec<Option<String>>);

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for TextRow {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        (0..row.len())
            .map(|index| row.try_get::<Option<String>, _>(index))
            .collect::<Result<_, _>>()
            .map(TextRow)
    }
}

impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for TextRow {
    fn from_row(row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
        (0..row.len())
            .map(|index| row.try_get::<Option<String>, _>(index))
            .collect::<Result<_, _>>()
            .map(TextRow)
    }
}

fn typed(kind: Kind, text: Option<String>) -> Value {
    let Some(text) = text else {
        return Value::Null;
    };
    match kind {
        Kind::Text | Kind::Time => Value::String(text),
        Kind::Int => text.parse::<i64>().map_or(Value::String(text), Value::from),
        Kind::Real => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Kind::Bool => Value::Bool(matches!(text.as_str(), "true" | "t" | "1")),
        Kind::Json => serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

impl Store {
    /// One page of an export section: at most `limit` rows after `after` (the previous page's
    /// `next`), in key order. Sections small by nature come whole in one page.
    pub async fn export_page(
        &self,
        section: ExportSection,
        subject: &Subject,
        after: Option<&str>,
        limit: u32,
    ) -> Result<ExportPage, StoreError> {
        let spec = section.spec();
        let backend = self.backend();
        let select: Vec<String> = spec
            .columns
            .iter()
            .map(|(column, _, kind)| match kind {
                Kind::Time => format!("TS({column})"),
                Kind::Json => format!("JSONTEXT({column})"),
                _ => format!("CAST({column} AS TEXT)"),
            })
            .collect();
        let mut sql = format!(
            "SELECT {} FROM {} WHERE t.tenant_id = $1 AND {}",
            select.join(", "),
            spec.from,
            spec.naming
        );
        let limit = i64::from(limit.max(1));
        let mut after = after.map(str::to_owned);
        if let Some((key, kind)) = spec.key {
            // A plain `key > cursor` (no `OR $5 IS NULL`), so both planners walk the key's index
            // from the cursor instead of scanning from the start for every page.
            let cursor = match kind {
                Kind::Int => "CAST($5 AS BIGINT)",
                _ => "$5",
            };
            let first = if matches!(kind, Kind::Int) {
                "-9223372036854775808"
            } else {
                ""
            };
            after.get_or_insert_with(|| first.to_owned());
            sql.push_str(&format!(" AND {key} > {cursor} ORDER BY {key} LIMIT $6"));
        } else {
            // Small by nature: no paging; $5 and $6 are bound and unused.
            sql.push_str(" AND ($5 IS NULL OR $6 > 0)");
        }
        // SQLite would pick the `(tenant_id, …)` index and sort every page's matches by id;
        // `+tenant_id` keeps it on the rowid, walking from the cursor (PostgreSQL picks the
        // primary key by itself).
        let sql = match (backend, spec.key) {
            (Backend::Sqlite, Some((_, Kind::Int))) => {
                sql.replacen("WHERE t.tenant_id = $1", "WHERE +t.tenant_id = $1", 1)
            }
            _ => sql,
        };
        let sql = contains(backend, &sql);
        let found = rows!(
            self,
            TextRow,
            &sql,
            &subject.tenant,
            &subject.user,
            subject.room(),
            subject.quoted(),
            after,
            limit
        )?;
        let full = spec.key.is_some() && found.len() as i64 == limit;
        let key_index = spec.key.and_then(|(key, _)| {
            spec.columns
                .iter()
                .position(|(column, _, _)| *column == key)
        });
        let next = full
            .then(|| key_index.and_then(|index| found.last().and_then(|row| row.0[index].clone())))
            .flatten();
        let rows = found
            .into_iter()
            .map(|row| {
                row.0
                    .into_iter()
                    .zip(spec.columns)
                    .map(|(text, (_, _, kind))| typed(*kind, text))
                    .collect()
            })
            .collect();
        Ok(ExportPage { rows, next })
    }
}

/// A tenant's retention, in days (`None`: the server's default; `Some(0)`: kept until erasure).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct RetentionPolicy {
    /// Raw game events.
    pub events_days: Option<i32>,
    /// AI transcripts (`agent_tasks`).
    pub ai_days: Option<i32>,
    /// Chat (`game_events` of kind `chat` or `chat_held`).
    pub chat_days: Option<i32>,
}

/// What the retention purge deletes: one kind of row older than a cut-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiring {
    /// Game events of every kind.
    Events,
    /// AI transcripts.
    Ai,
    /// Tutor conversations whose last turn is older than the cut-off (their turns with them).
    AiThreads,
    /// Chat events.
    Chat,
}

impl Store {
    /// A tenant's retention choices.
    pub async fn retention(&self, tenant: &str) -> Result<RetentionPolicy, StoreError> {
        Ok(row!(
            self,
            RetentionPolicy,
            "SELECT events_days, ai_days, chat_days FROM tenant_policies WHERE tenant_id = $1",
            tenant
        )?
        .unwrap_or_default())
    }

    /// Sets a tenant's retention choices.
    pub async fn set_retention(
        &self,
        tenant: &str,
        policy: RetentionPolicy,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "INSERT INTO tenant_policies (tenant_id, events_days, ai_days, chat_days) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET \
             events_days = excluded.events_days, ai_days = excluded.ai_days, \
             chat_days = excluded.chat_days",
            tenant,
            policy.events_days,
            policy.ai_days,
            policy.chat_days
        )?;
        Ok(())
    }

    /// The tenants with stored events or AI transcripts (those the purge visits).
    pub async fn tenants_with_records(&self) -> Result<Vec<String>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Tenant {
            id: String,
        }
        Ok(rows!(self, Tenant, "SELECT id FROM tenants ORDER BY id")?
            .into_iter()
            .map(|tenant| tenant.id)
            .collect())
    }

    /// Deletes at most `batch_rows` of a tenant's `what` older than `before_unix` (seconds) in
    /// one short statement; returns how many. Called until it returns less than `batch_rows`.
    pub async fn purge_expired(
        &self,
        tenant: &str,
        what: Expiring,
        before_unix: i64,
        batch_rows: u32,
    ) -> Result<u64, StoreError> {
        let sql = match what {
            Expiring::Events => {
                "DELETE FROM game_events WHERE tenant_id = $1 AND id IN (SELECT id FROM \
                 game_events WHERE tenant_id = $1 AND sent_at < EPOCH($2) LIMIT $3)"
            }
            Expiring::Chat => {
                "DELETE FROM game_events WHERE tenant_id = $1 AND id IN (SELECT id FROM \
                 game_events WHERE tenant_id = $1 AND kind IN ('chat', 'chat_held') \
                 AND sent_at < EPOCH($2) \
                 LIMIT $3)"
            }
            Expiring::Ai => {
                "DELETE FROM agent_tasks WHERE tenant_id = $1 AND id IN (SELECT id FROM \
                 agent_tasks WHERE tenant_id = $1 AND status IN ('completed', 'failed') \
                 AND created_at < EPOCH($2) LIMIT $3)"
            }
            Expiring::AiThreads => {
                "DELETE FROM tutor_threads WHERE tenant_id = $1 AND id IN (SELECT id FROM \
                 tutor_threads WHERE tenant_id = $1 AND updated_at < EPOCH($2) LIMIT $3)"
            }
        };
        Ok(exec!(
            self,
            sql,
            tenant,
            before_unix,
            i64::from(batch_rows.max(1))
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pseudonym_is_stable_and_does_not_hold_the_id() {
        assert_eq!(pseudonym("s1"), pseudonym("s1"));
        assert_ne!(pseudonym("s1"), pseudonym("s2"));
        assert!(!pseudonym("student-42").contains("student-42"));
        assert_eq!(subject_sha256("s1").len(), 64);
    }

    #[test]
    fn contains_is_spelled_per_backend() {
        assert_eq!(
            contains(Backend::Sqlite, "a = 1 OR CONTAINS(t.data)"),
            "a = 1 OR instr(t.data, $4) > 0"
        );
        assert_eq!(
            contains(Backend::Postgres, "CONTAINS(data) AND CONTAINS(detail)"),
            "strpos(CAST(data AS TEXT), $4) > 0 AND strpos(CAST(detail AS TEXT), $4) > 0"
        );
    }
}
