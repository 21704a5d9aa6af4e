//! The [`Store`]: one enum over the two backends, so that every statement is written once per
//! backend side by side and the contract tests run the same calls against both.
//!
//! PostgreSQL writes event batches with `UNNEST` arrays (one statement per batch, whatever its
//! size); SQLite writes multi-row `INSERT`s in one transaction. Both skip ids already stored
//! (`ON CONFLICT DO NOTHING … RETURNING`) and apply progress and scored answers only for newly
//! stored events, so a retried event never adds its time twice. A scored in-game answer is kept
//! in `game_answers` (the first per question of an attempt) and its attempt's
//! `assessment_results` row is recomputed from them, in the same transaction. A teacher's
//! `chat_deleted` (or `chat_released`) event deletes the chat message it names (or its held
//! copy) after the batch's inserts, in the same transaction.
//!
//! PostgreSQL connections use TLS as the URL's `sslmode` says (rustls, ring, webpki roots); a
//! TLS failure is [`StoreError::Tls`] naming the mode and the fix.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::error::StoreError;
use crate::event::{DurableEvent, ProgressUpdate, ScoredAnswer};

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// Embedded SQLite.
    Sqlite,
}

/// A connection pool to one of the backends. Cheap to clone. The pool is private: every
/// statement is written in this crate, and other crates (their tests too) ask through methods.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    /// Users erased while this process runs (`privacy.rs`); the sink filters with it.
    pub(crate) erasures: crate::privacy::SharedErasures,
}

/// What one batch write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOutcome {
    /// Events newly stored.
    pub inserted: usize,
    /// Events whose id was already stored (retries); acknowledged all the same.
    pub duplicates: usize,
}

/// One row of `student_progress`.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Highest completion seen, 0–100.
    pub completion_percent: f64,
    /// Sum of time spent.
    pub time_spent_secs: i64,
    /// Whether 100 % was reached.
    pub completed: bool,
}

/// The pool a [`Store`] holds, one per backend; matched by every statement in this crate.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    /// PostgreSQL, the production system of record.
    Postgres(PgPool),
    /// SQLite, the embedded default.
    Sqlite(SqlitePool),
}

/// A connection error, as [`StoreError::Tls`] when it is TLS's (the handshake, or a server
/// without TLS under a mode that requires it).
fn tls_failure(sslmode: PgSslMode, cause: sqlx::Error) -> StoreError {
    let (name, advice) = match sslmode {
        PgSslMode::Require => (
            "require",
            "the server must accept TLS: turn on `ssl` in its postgresql.conf (or use the port of a TLS-terminating pooler); on a trusted network sslmode=prefer (TLS when offered) or sslmode=disable connects without it",
        ),
        PgSslMode::VerifyCa => (
            "verify-ca",
            "the server must accept TLS with a certificate signed by a CA classhub trusts: add sslrootcert=/path/to/ca.pem to DATABASE_URL for a private CA (the public web roots are trusted already), or use sslmode=require to encrypt without checking the certificate",
        ),
        PgSslMode::VerifyFull => (
            "verify-full",
            "the server must accept TLS with a certificate signed by a CA classhub trusts and naming the host in DATABASE_URL: add sslrootcert=/path/to/ca.pem for a private CA and connect by the name on the certificate, or use sslmode=verify-ca to skip the name check",
        ),
        PgSslMode::Prefer | PgSslMode::Allow | PgSslMode::Disable => {
            return StoreError::Connect(cause);
        }
    };
    let is_tls = match &cause {
        sqlx::Error::Tls(_) => true,
        // rustls reports a refused handshake (bad certificate, name mismatch) as invalid data.
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::InvalidData,
        _ => false,
    };
    if is_tls {
        StoreError::Tls {
            sslmode: name,
            cause,
            advice,
        }
    } else {
        StoreError::Connect(cause)
    }
}

/// sqlx's rustls handshake uses the process-wide crypto provider, and rustls cannot choose one
/// when both ring and aws-lc-rs are compiled in (other crates of the `classhub` binary bring
/// aws-lc-rs): the first TLS connection would panic. Installs ring, the provider sqlx's feature
/// names, unless the program installed one already.
fn choose_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one between the check and here: fine.
        let _installed = rustls::crypto::ring::default_provider().install_default();
    }
}

/// SQLite rows per multi-row statement (8 parameters each, far below SQLite's 32 766).
const SQLITE_ROWS_PER_STATEMENT: usize = 1000;

/// Runs the retractions among `events` on transaction `tx` (either backend).
macro_rules! retract {
    ($tx:expr, $events:expr) => {
        for retraction in retractions_of($events) {
            sqlx::query(retraction.sql)
                .bind(retraction.tenant)
                .bind(retraction.id)
                .bind(retraction.held)
                .bind(retraction.room)
                .execute(&mut *$tx)
                .await?;
        }
    };
}

/// PostgreSQL connections kept for everything but the sink (REST, game servers, sign-ins).
pub const REQUEST_CONNECTIONS: u32 = 6;

impl Store {
    /// Connects to `postgres://…` / `postgresql://…` or opens `sqlite:…` (creating the file).
    /// PostgreSQL URLs may ask for TLS with `sslmode` (`prefer`, `require`, `verify-ca`,
    /// `verify-full`; with `sslrootcert=` for a private CA); a TLS failure is
    /// [`StoreError::Tls`], naming the mode and what to do. A PostgreSQL pool holds
    /// [`REQUEST_CONNECTIONS`] connections plus one per sink writer of the default settings.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let writers = crate::sink::default_writers(Backend::Postgres);
        Store::connect_with_writers(url, writers).await
    }

    /// [`Store::connect`] with a PostgreSQL pool of [`REQUEST_CONNECTIONS`] + `sink_writers`
    /// connections, so the sink's concurrent batches never take the connections requests need.
    pub async fn connect_with_writers(url: &str, sink_writers: usize) -> Result<Store, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(StoreError::Connect)?;
            let sslmode = options.get_ssl_mode();
            choose_tls_provider();
            let pool = PgPoolOptions::new()
                .max_connections(REQUEST_CONNECTIONS + sink_writers as u32)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(|cause| tls_failure(sslmode, cause))?;
            Ok(Store {
                pool: Pool::Postgres(pool),
                erasures: Default::default(),
            })
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(StoreError::Connect)?
                .create_if_missing(true)
                .foreign_keys(true)
                // WAL with a full sync at commit: an acknowledged event survives a crash.
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(1));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(StoreError::Connect)?;
            Ok(Store {
                pool: Pool::Sqlite(pool),
                erasures: Default::default(),
            })
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }

    /// Opens (creating it and its directory when missing) the SQLite file at `path`.
    pub async fn open_sqlite_file(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .map_err(|cause| StoreError::Connect(sqlx::Error::Io(cause)))?;
        }
        Store::connect(&format!("sqlite:{}", path.display())).await
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match &self.pool {
            Pool::Postgres(_) => Backend::Postgres,
            Pool::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Runs the migrations not yet applied. Safe to call on every start.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
            Pool::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
        }
        Ok(())
    }

    /// Opens every connection the PostgreSQL pool may hold now, instead of one at a time under
    /// the first burst of requests (new users signing in at once after a start waited for
    /// them: p99 113–145 ms, 48–69 ms with them open). They stay until idle for the pool's idle
    /// timeout. SQLite's pool is left as it is.
    pub async fn warm_up(&self) -> Result<(), StoreError> {
        if let Pool::Postgres(pool) = &self.pool {
            let mut held = Vec::new();
            for _ in 0..pool.options().get_max_connections() {
                held.push(pool.acquire().await?);
            }
        }
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(pool) => pool.close().await,
            Pool::Sqlite(pool) => pool.close().await,
        }
    }

    /// Stores `events` in one transaction: new ids are inserted, known ids skipped, and progress
    /// events that were newly inserted upsert `student_progress`. Progress must already be valid
    /// (see [`ProgressUpdate::from_event`]); an invalid one is skipped with a warning.
    pub async fn write_events(&self, events: &[DurableEvent]) -> Result<WriteOutcome, StoreError> {
        if events.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let inserted = match &self.pool {
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let inserted = postgres_insert_events(&mut tx, events).await?;
                let progress = progress_of(events, &inserted);
                if !progress.is_empty() {
                    postgres_upsert_progress(&mut tx, &progress).await?;
                }
                let answers = answers_of(events, &inserted);
                if !answers.is_empty() {
                    postgres_record_answers(&mut tx, &answers).await?;
                }
                retract!(tx, events);
                tx.commit().await?;
                inserted
            }
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                let mut inserted = Inserted::default();
                for chunk in events.chunks(SQLITE_ROWS_PER_STATEMENT) {
                    let chunk_inserted = sqlite_insert_events(&mut tx, chunk).await?;
                    inserted.count += chunk_inserted.count;
                    inserted.applies.extend(chunk_inserted.applies);
                }
                let progress = progress_of(events, &inserted);
                for chunk in progress.chunks(SQLITE_ROWS_PER_STATEMENT) {
                    sqlite_upsert_progress(&mut tx, chunk).await?;
                }
                let answers = answers_of(events, &inserted);
                for chunk in answers.chunks(SQLITE_ROWS_PER_STATEMENT) {
                    sqlite_record_answers(&mut tx, chunk).await?;
                }
                retract!(tx, events);
                tx.commit().await?;
                inserted
            }
        };
        Ok(WriteOutcome {
            inserted: inserted.count,
            duplicates: events.len() - inserted.count,
        })
    }

    /// The stored event ids of a tenant, in insertion order.
    pub async fn event_ids(&self, tenant: &str) -> Result<Vec<String>, StoreError> {
        let rows = match &self.pool {
            Pool::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT event_id FROM game_events WHERE tenant_id = $1 ORDER BY id",
                )
                .bind(tenant)
                .fetch_all(pool)
                .await?
            }
            Pool::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT event_id FROM game_events WHERE tenant_id = ?1 ORDER BY id",
                )
                .bind(tenant)
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows)
    }

    /// A student's progress in a lesson, if any.
    pub async fn progress(
        &self,
        tenant: &str,
        user: &str,
        course: &str,
        lesson: &str,
    ) -> Result<Option<Progress>, StoreError> {
        let row = match &self.pool {
            Pool::Postgres(pool) => sqlx::query(
                "SELECT completion_percent, time_spent_secs, completed_at IS NOT NULL AS completed FROM student_progress \
                 WHERE tenant_id = $1 AND user_id = $2 AND course_id = $3 AND lesson_id = $4",
            )
            .bind(tenant)
            .bind(user)
            .bind(course)
            .bind(lesson)
            .fetch_optional(pool)
            .await?
            .map(|row| Progress { completion_percent: row.get(0), time_spent_secs: row.get(1), completed: row.get(2) }),
            Pool::Sqlite(pool) => sqlx::query(
                "SELECT completion_percent, time_spent_secs, completed_at IS NOT NULL AS completed FROM student_progress \
                 WHERE tenant_id = ?1 AND user_id = ?2 AND course_id = ?3 AND lesson_id = ?4",
            )
            .bind(tenant)
            .bind(user)
            .bind(course)
            .bind(lesson)
            .fetch_optional(pool)
            .await?
            .map(|row| Progress { completion_percent: row.get(0), time_spent_secs: row.get(1), completed: row.get(2) }),
        };
        Ok(row)
    }
}

/// A chat message a teacher's event takes out of storage: `chat_deleted` deletes the message
/// (shown or held), `chat_released` only its held copy (the shown one is a new event).
/// Only in the tombstone's own room.
struct Retraction<'a> {
    sql: &'static str,
    tenant: &'a str,
    id: &'a str,
    held: String,
    room: &'a str,
}

/// Deletes the shown message `$2` and its held copy `$3` of room `$4`.
const DELETE_CHAT: &str = "DELETE FROM game_events WHERE tenant_id = $1 AND room = $4 \
     AND ((kind = 'chat' AND event_id = $2) OR (kind = 'chat_held' AND event_id = $3))";
/// Deletes only the held copy `$3` (`$2` is bound and checked, so both statements bind alike).
const DELETE_HELD: &str = "DELETE FROM game_events WHERE tenant_id = $1 AND room = $4 \
     AND kind = 'chat_held' AND event_id = $3 AND $2 <> ''";

/// The retractions among `events`, in order, run after the batch's inserts (the server sends
/// one only for a message already stored).
fn retractions_of(events: &[DurableEvent]) -> impl Iterator<Item = Retraction<'_>> {
    events.iter().filter_map(|event| {
        let sql = match event.kind.as_str() {
            "chat_deleted" => DELETE_CHAT,
            "chat_released" => DELETE_HELD,
            _ => return None,
        };
        let id = event.data.get("id")?.as_str()?;
        Some(Retraction {
            sql,
            tenant: &event.tenant,
            id,
            held: format!("held:{id}"),
            room: &event.room,
        })
    })
}

/// What an insert stored: how many events, and (tenant, event id) of the progress and quiz
/// answer events among them (only new ones update `student_progress` and results).
#[derive(Default)]
struct Inserted {
    count: usize,
    applies: HashSet<(String, String)>,
}

/// The scored answers of newly stored events, one per (attempt, question) — the first — in a
/// fixed order, so that concurrent batches lock rows in the same order.
fn answers_of<'a>(events: &'a [DurableEvent], inserted: &Inserted) -> Vec<AnswerRow<'a>> {
    let mut seen = HashSet::new();
    let mut answers: Vec<AnswerRow<'a>> = events
        .iter()
        .filter(|event| {
            event.answer.is_some()
                && inserted
                    .applies
                    .contains(&(event.tenant.clone(), event.event_id.clone()))
        })
        .filter_map(|event| {
            event.answer.as_deref().map(|scored| AnswerRow {
                tenant: &event.tenant,
                event_id: &event.event_id,
                scored,
            })
        })
        .filter(|row| seen.insert((row.scored.result_id.as_str(), row.scored.question.as_str())))
        .collect();
    answers.sort_by(|a, b| {
        (&a.scored.result_id, &a.scored.question).cmp(&(&b.scored.result_id, &b.scored.question))
    });
    answers
}

/// A scored answer with the event that carried it.
struct AnswerRow<'a> {
    tenant: &'a str,
    event_id: &'a str,
    scored: &'a ScoredAnswer,
}

/// One upsert row per (tenant, user, course, lesson): a statement may not touch a row twice.
fn progress_of(events: &[DurableEvent], inserted: &Inserted) -> Vec<(String, ProgressUpdate)> {
    let mut merged: HashMap<(String, String, String, String), (String, ProgressUpdate)> =
        HashMap::new();
    for event in events {
        if event.kind != "progress"
            || !inserted
                .applies
                .contains(&(event.tenant.clone(), event.event_id.clone()))
        {
            continue;
        }
        let update = match ProgressUpdate::from_event(&event.kind, &event.sender, &event.data) {
            Ok(Some(update)) => update,
            Ok(None) => continue,
            Err(reason) => {
                tracing::warn!(tenant = %event.tenant, event_id = %event.event_id, %reason, "skipping invalid progress");
                continue;
            }
        };
        let key = (
            event.tenant.clone(),
            update.user.clone(),
            update.course.clone(),
            update.lesson.clone(),
        );
        merged
            .entry(key)
            .and_modify(|(_, existing)| {
                existing.percent = existing.percent.max(update.percent);
                existing.time_spent_secs += update.time_spent_secs;
            })
            .or_insert_with(|| (event.tenant.clone(), update));
    }
    let mut rows: Vec<_> = merged.into_values().collect();
    // A fixed order, so that concurrent batches lock progress rows in the same order.
    rows.sort_by(|(tenant_a, a), (tenant_b, b)| {
        (tenant_a, &a.user, &a.course, &a.lesson).cmp(&(tenant_b, &b.user, &b.course, &b.lesson))
    });
    rows
}

async fn postgres_insert_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    events: &[DurableEvent],
) -> Result<Inserted, StoreError> {
    let mut tenants = Vec::with_capacity(events.len());
    let mut ids = Vec::with_capacity(events.len());
    let mut rooms = Vec::with_capacity(events.len());
    let mut kinds = Vec::with_capacity(events.len());
    let mut senders = Vec::with_capacity(events.len());
    let mut data = Vec::with_capacity(events.len());
    let mut seqs = Vec::with_capacity(events.len());
    let mut sent_at = Vec::with_capacity(events.len());
    for event in events {
        tenants.push(event.tenant.as_str());
        ids.push(event.event_id.as_str());
        rooms.push(event.room.as_str());
        kinds.push(event.kind.as_str());
        senders.push(event.sender.as_str());
        data.push(event.data.to_string());
        seqs.push(event.seq as i64);
        sent_at.push(event.sent_at_ms as i64);
    }
    let row = sqlx::query(
        "WITH inserted AS (INSERT INTO game_events (tenant_id, event_id, room, kind, sender, data, seq, sent_at) \
         SELECT t, e, r, k, s, d::jsonb, q, to_timestamp(ms::double precision / 1000.0) \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[]) \
              AS u(t, e, r, k, s, d, q, ms) \
         ON CONFLICT (tenant_id, event_id) DO NOTHING \
         RETURNING tenant_id, event_id, kind) \
         SELECT count(*), \
                coalesce(array_agg(tenant_id) FILTER (WHERE kind IN ('progress', 'quiz_answer')), '{}'), \
                coalesce(array_agg(event_id) FILTER (WHERE kind IN ('progress', 'quiz_answer')), '{}') \
         FROM inserted",
    )
    .bind(tenants)
    .bind(ids)
    .bind(rooms)
    .bind(kinds)
    .bind(senders)
    .bind(data)
    .bind(seqs)
    .bind(sent_at)
    .fetch_one(&mut **tx)
    .await?;
    let count: i64 = row.get(0);
    let tenants: Vec<String> = row.get(1);
    let ids: Vec<String> = row.get(2);
    Ok(Inserted {
        count: count as usize,
        applies: tenants.into_iter().zip(ids).collect(),
    })
}

async fn postgres_upsert_progress(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    progress: &[(String, ProgressUpdate)],
) -> Result<(), StoreError> {
    let tenants: Vec<&str> = progress.iter().map(|(tenant, _)| tenant.as_str()).collect();
    let users: Vec<&str> = progress
        .iter()
        .map(|(_, update)| update.user.as_str())
        .collect();
    let courses: Vec<&str> = progress
        .iter()
        .map(|(_, update)| update.course.as_str())
        .collect();
    let lessons: Vec<&str> = progress
        .iter()
        .map(|(_, update)| update.lesson.as_str())
        .collect();
    let percents: Vec<f64> = progress.iter().map(|(_, update)| update.percent).collect();
    let seconds: Vec<i64> = progress
        .iter()
        .map(|(_, update)| update.time_spent_secs)
        .collect();
    sqlx::query(
        "INSERT INTO student_progress (tenant_id, user_id, course_id, lesson_id, completion_percent, time_spent_secs, completed_at, updated_at) \
         SELECT t, u, c, l, p, s, CASE WHEN p >= 100 THEN now() END, now() \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::bigint[]) AS x(t, u, c, l, p, s) \
         ON CONFLICT (tenant_id, user_id, course_id, lesson_id) DO UPDATE SET \
           completion_percent = GREATEST(student_progress.completion_percent, EXCLUDED.completion_percent), \
           time_spent_secs = student_progress.time_spent_secs + EXCLUDED.time_spent_secs, \
           completed_at = COALESCE(student_progress.completed_at, EXCLUDED.completed_at), \
           updated_at = now()",
    )
    .bind(tenants)
    .bind(users)
    .bind(courses)
    .bind(lessons)
    .bind(percents)
    .bind(seconds)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn sqlite_insert_events(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    events: &[DurableEvent],
) -> Result<Inserted, StoreError> {
    let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO game_events (tenant_id, event_id, room, kind, sender, data, seq, sent_at) ",
    );
    builder.push_values(events, |mut row, event| {
        row.push_bind(event.tenant.as_str())
            .push_bind(event.event_id.as_str())
            .push_bind(event.room.as_str())
            .push_bind(event.kind.as_str())
            .push_bind(event.sender.as_str())
            .push_bind(event.data.to_string())
            .push_bind(event.seq as i64)
            .push("strftime('%Y-%m-%dT%H:%M:%fZ', ")
            .push_bind_unseparated(event.sent_at_ms as f64 / 1000.0)
            .push_unseparated(", 'unixepoch')");
    });
    builder
        .push(" ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING tenant_id, event_id, kind");
    let rows = builder.build().fetch_all(&mut **tx).await?;
    let count = rows.len();
    let applies = rows
        .into_iter()
        .filter(|row| matches!(row.get::<&str, _>(2), "progress" | "quiz_answer"))
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    Ok(Inserted { count, applies })
}

async fn sqlite_upsert_progress(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    progress: &[(String, ProgressUpdate)],
) -> Result<(), StoreError> {
    let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO student_progress (tenant_id, user_id, course_id, lesson_id, completion_percent, time_spent_secs, completed_at) ",
    );
    builder.push_values(progress, |mut row, (tenant, update)| {
        row.push_bind(tenant.as_str())
            .push_bind(update.user.as_str())
            .push_bind(update.course.as_str())
            .push_bind(update.lesson.as_str())
            .push_bind(update.percent)
            .push_bind(update.time_spent_secs)
            .push(if update.percent >= 100.0 {
                "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
            } else {
                "NULL"
            });
    });
    builder.push(
        " ON CONFLICT (tenant_id, user_id, course_id, lesson_id) DO UPDATE SET \
           completion_percent = MAX(student_progress.completion_percent, excluded.completion_percent), \
           time_spent_secs = student_progress.time_spent_secs + excluded.time_spent_secs, \
           completed_at = COALESCE(student_progress.completed_at, excluded.completed_at), \
           updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    );
    builder.build().execute(&mut **tx).await?;
    Ok(())
}

/// The graded-answers document of an attempt, in the shape a web submission stores:
/// `{"submitted": {question: answer}, "graded": [{question, correct, points}]}`.
const PG_ATTEMPT_ANSWERS: &str = "jsonb_build_object('submitted', jsonb_object_agg(g.question_id, COALESCE(g.answer, 'null'::jsonb)), \
     'graded', jsonb_agg(jsonb_build_object('question', g.question_id, 'correct', g.correct, 'points', g.points) ORDER BY g.question_id))";
const SQLITE_ATTEMPT_ANSWERS: &str = "json_object('submitted', json_group_object(g.question_id, json(COALESCE(g.answer, 'null'))), \
     'graded', json_group_array(json_object('question', g.question_id, 'correct', \
       json(CASE WHEN g.correct IS NULL THEN 'null' WHEN g.correct THEN 'true' ELSE 'false' END), 'points', g.points)))";

async fn postgres_record_answers(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    answers: &[AnswerRow<'_>],
) -> Result<(), StoreError> {
    let column = |get: fn(&ScoredAnswer) -> &str| {
        answers
            .iter()
            .map(|row| get(row.scored))
            .collect::<Vec<&str>>()
    };
    let tenants: Vec<&str> = answers.iter().map(|row| row.tenant).collect();
    let event_ids: Vec<&str> = answers.iter().map(|row| row.event_id).collect();
    let values: Vec<String> = answers
        .iter()
        .map(|row| row.scored.answer.to_string())
        .collect();
    let correct: Vec<Option<bool>> = answers.iter().map(|row| row.scored.correct).collect();
    let points: Vec<f64> = answers.iter().map(|row| row.scored.points).collect();
    let max: Vec<f64> = answers.iter().map(|row| row.scored.max_score).collect();
    sqlx::query(
        "INSERT INTO game_answers (result_id, question_id, tenant_id, user_id, assessment_id, attempt, answer, correct, points, max_score, event_id) \
         SELECT r, q, t, u, a, n, v::jsonb, c, p, m, e \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bool[], $9::float8[], $10::float8[], $11::text[]) \
              AS x(r, q, t, u, a, n, v, c, p, m, e) \
         ON CONFLICT (result_id, question_id) DO NOTHING",
    )
    .bind(column(|a| &a.result_id))
    .bind(column(|a| &a.question))
    .bind(&tenants)
    .bind(column(|a| &a.user))
    .bind(column(|a| &a.assessment))
    .bind(column(|a| &a.attempt))
    .bind(values)
    .bind(correct)
    .bind(points)
    .bind(max)
    .bind(event_ids)
    .execute(&mut **tx)
    .await?;
    let mut results: Vec<&str> = column(|a| &a.result_id);
    results.dedup();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO assessment_results (id, tenant_id, assessment_id, user_id, answers, score, max_score, submitted_at, source, attempt) \
         SELECT g.result_id, g.tenant_id, g.assessment_id, g.user_id, {PG_ATTEMPT_ANSWERS}, sum(g.points), max(g.max_score), \
                max(g.answered_at), 'game', g.attempt \
         FROM game_answers g WHERE g.result_id = ANY($1::text[]) \
         GROUP BY g.result_id, g.tenant_id, g.assessment_id, g.user_id, g.attempt ORDER BY g.result_id \
         ON CONFLICT (id) DO UPDATE SET answers = EXCLUDED.answers, score = EXCLUDED.score, \
           max_score = EXCLUDED.max_score, submitted_at = EXCLUDED.submitted_at"
    )))
    .bind(results)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn sqlite_record_answers(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    answers: &[AnswerRow<'_>],
) -> Result<(), StoreError> {
    let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO game_answers (result_id, question_id, tenant_id, user_id, assessment_id, attempt, answer, correct, points, max_score, event_id) ",
    );
    builder.push_values(answers, |mut row, answer| {
        let AnswerRow {
            tenant,
            event_id,
            scored: answer,
        } = answer;
        row.push_bind(answer.result_id.as_str())
            .push_bind(answer.question.as_str())
            .push_bind(*tenant)
            .push_bind(answer.user.as_str())
            .push_bind(answer.assessment.as_str())
            .push_bind(answer.attempt.as_str())
            .push_bind(answer.answer.to_string())
            .push_bind(answer.correct)
            .push_bind(answer.points)
            .push_bind(answer.max_score)
            .push_bind(*event_id);
    });
    builder.push(" ON CONFLICT (result_id, question_id) DO NOTHING");
    builder.build().execute(&mut **tx).await?;
    let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
        "INSERT INTO assessment_results (id, tenant_id, assessment_id, user_id, answers, score, max_score, submitted_at, source, attempt) \
         SELECT g.result_id, g.tenant_id, g.assessment_id, g.user_id, {SQLITE_ATTEMPT_ANSWERS}, sum(g.points), max(g.max_score), \
                max(g.answered_at), 'game', g.attempt \
         FROM game_answers g WHERE g.result_id IN ("
    ));
    let mut results = builder.separated(", ");
    let mut last = None;
    for row in answers {
        if last != Some(row.scored.result_id.as_str()) {
            results.push_bind(row.scored.result_id.as_str());
            last = Some(row.scored.result_id.as_str());
        }
    }
    builder.push(
        ") GROUP BY g.result_id, g.tenant_id, g.assessment_id, g.user_id, g.attempt ORDER BY g.result_id \
         ON CONFLICT (id) DO UPDATE SET answers = excluded.answers, score = excluded.score, \
           max_score = excluded.max_score, submitted_at = excluded.submitted_at",
    );
    builder.build().execute(&mut **tx).await?;
    Ok(())
}
