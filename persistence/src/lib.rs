//! classhub's persistence: the only crate that talks SQL. It owns the [`Store`] (PostgreSQL, the
//! production system of record, or embedded SQLite, the zero-install default), the migrations
//! for both, and the [`EventSink`] that writes durable events in group commits.
//!
//! Besides events it keeps the platform's records the REST API reads and writes (the directory
//! of tenants, users and parent links; classes and rosters; courses, lessons (their search and
//! revisions), assessments and results; assignments; class chat's rules; notifications; progress reports; AI agent tasks; Stripe subscriptions; the audit
//! trail; erasure, export and retention), one module each, with every statement written
//! once for both backends (`sql.rs`) and the tenant in every `WHERE`.
//!
//! It knows nothing of rooms, sockets or HTTP: it is handed [`DurableEvent`]s and answers, per
//! event, when the transaction holding it has committed. The server decides what is durable and
//! when to acknowledge it to clients.
//!
//! The pools are private: other crates, their tests included, go through [`Store`] methods;
//! tests use the `test-support` feature's [`test_support`] module (`TestDatabase`, a held SQLite
//! write lock, a few named rows) instead of writing SQL.
//!
//! **Invariant:** an event whose [`Ack`] resolved to `Ok` is in the database; an event that was
//! never acknowledged may or may not be, and retrying it with the same id stores it once.

mod agents;
mod assignments;
mod audit;
mod billing;
mod catalog;
mod chat;
mod classes;
mod consent;
mod content;
mod directory;
mod error;
mod event;
mod media;
mod notifications;
mod privacy;
mod reports;
mod revisions;
mod rewards;
mod roblox;
mod sink;
mod sql;
mod store;
#[cfg(feature = "test-support")]
pub mod test_support;
mod threads;

pub use agents::{AgentTaskRecord, LessonScore, TaskFilter};
pub use assignments::{Assigned, AssignedLesson, AssignmentRecord};
pub use audit::{AuditFilter, AuditRecord, NewAuditEntry};
pub use billing::{SubscriptionChange, SubscriptionRecord};
pub use catalog::{FindFilter, FindKey, FindSort, Found, Metadata, MetadataFields};
pub use chat::{ChatMute, ChatRecord, ChatRulesSnapshot};
pub use classes::{
    ClassKey, ClassRecord, ClassScope, GameLink, RosterEntry, RosterMember, StudentLinkCode,
    TenantKey,
};
pub use consent::ConsentRecord;
pub use content::{
    AssessmentRecord, CourseFields, CourseRecord, LessonFields, LessonRecord, ResultRecord,
};
pub use directory::{ParentLink, Sighted, Sighting, UserChanges, UserRecord};
pub use media::{MediaObjects, MediaRecord};
pub use notifications::{NewNotification, NotificationRecord};
pub use privacy::{
    Erasure, Erasures, Expiring, ExportPage, ExportSection, RetentionPolicy, Subject, pseudonym,
    subject_sha256,
};
pub use reports::ProgressRecord;
pub use revisions::{KeepRevision, LessonRevision};
pub use rewards::{LeaderboardRow, NewReward, RewardRecord};
pub use sql::{Page, Paged};
pub use threads::{NewTurn, ThreadRecord, TurnRecord};

pub use error::{SinkError, StoreError};
pub use event::{DurableEvent, ProgressUpdate, ScoredAnswer};
pub use roblox::{ClassRef, GameKeyInfo, NewGameKey, NewGameSession, RosterStudent};
pub use sink::{Ack, EventSink, SinkPermit, SinkRefused, SinkSettings, SinkTask, default_writers};
pub use store::{Backend, Progress, Store, WriteOutcome};
