//! The rows tests write or read that the product has no method for yet. Each helper is named
//! after the fact a test needs and written once for both backends; add one here rather than
//! reaching for a pool.

use crate::error::StoreError;
use crate::event::DurableEvent;
use crate::sql::{exec, row, rows};
use crate::store::Store;

/// Puts `user` on `class`'s roster as its teacher (`role_in_class = 'teacher'`, which roster
/// look-ups for students leave out), with the link code `TEACHR` (so one teacher per class).
pub async fn add_teacher_to_roster(
    store: &Store,
    tenant: &str,
    class: &str,
    user: &str,
) -> Result<(), StoreError> {
    exec!(
        store,
        "INSERT INTO class_members (tenant_id, class_id, user_id, role_in_class, link_code) \
         VALUES ($1, $2, $3, 'teacher', 'TEACHR')",
        tenant,
        class,
        user
    )?;
    Ok(())
}

/// The display name stored for a Roblox player of `tenant` (`None`: no row, or no name).
pub async fn roblox_player_name(
    store: &Store,
    tenant: &str,
    roblox_user_id: i64,
) -> Result<Option<String>, StoreError> {
    let name: Option<(Option<String>,)> = row!(
        store,
        (Option<String>,),
        "SELECT display_name FROM roblox_players WHERE tenant_id = $1 AND roblox_user_id = $2",
        tenant,
        roblox_user_id
    )?;
    Ok(name.and_then(|(name,)| name))
}

/// Stores one event with a single autocommitted `INSERT` (a known id is skipped), without the
/// batching and progress upserts of [`Store::write_events`]: the naive writer the sink bench
/// measures the group commit against.
pub async fn insert_event_alone(store: &Store, event: &DurableEvent) -> Result<(), StoreError> {
    exec!(
        store,
        "INSERT INTO game_events (tenant_id, event_id, room, kind, sender, data, seq, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, EPOCH($8)) \
         ON CONFLICT (tenant_id, event_id) DO NOTHING",
        event.tenant.as_str(),
        event.event_id.as_str(),
        event.room.as_str(),
        event.kind.as_str(),
        event.sender.as_str(),
        event.data.to_string(),
        event.seq as i64,
        event.sent_at_ms as f64 / 1000.0
    )?;
    Ok(())
}

/// Makes the database refuse every `game_events` row of `kind` for its content (an SQLite
/// trigger, a PostgreSQL check constraint): the kind of refusal the event sink must report as
/// rejected, alone, without failing the rest of its batch.
pub async fn refuse_game_events_of_kind(store: &Store, kind: &str) -> Result<(), StoreError> {
    let safe_kind: String = kind
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let statement = match store.backend() {
        crate::Backend::Sqlite => format!(
            "CREATE TRIGGER refuse_{safe_kind} BEFORE INSERT ON game_events \
             WHEN NEW.kind = '{safe_kind}' \
             BEGIN SELECT RAISE(ABORT, '{safe_kind} events are refused'); END"
        ),
        crate::Backend::Postgres => format!(
            "ALTER TABLE game_events ADD CONSTRAINT refuse_{safe_kind} \
             CHECK (kind <> '{safe_kind}')"
        ),
    };
    exec!(store, statement.as_str())?;
    Ok(())
}

/// Whether the store's PostgreSQL connection is encrypted (`pg_stat_ssl`); SQLite: `false`.
pub async fn connection_uses_tls(store: &Store) -> Result<bool, StoreError> {
    if store.backend() == crate::Backend::Sqlite {
        return Ok(false);
    }
    let ssl: Option<(bool,)> = row!(
        store,
        (bool,),
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    )?;
    Ok(ssl.is_some_and(|(ssl,)| ssl))
}

/// Every `table.column` of the schema (listed from the database's own catalogue, so a table
/// added later is included) with a row naming `user`: the column equals the id, ends in
/// `:id` (a room), or holds it as a JSON string (`"id"`). Each entry is `table.column (count)`.
pub async fn columns_naming(store: &Store, user: &str) -> Result<Vec<String>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Column {
        table_name: String,
        column_name: String,
    }
    let columns = match store.backend() {
        crate::Backend::Postgres => rows!(
            store,
            Column,
            "SELECT CAST(table_name AS TEXT) AS table_name, \
             CAST(column_name AS TEXT) AS column_name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%' \
             ORDER BY table_name, ordinal_position"
        )?,
        crate::Backend::Sqlite => rows!(
            store,
            Column,
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m \
             JOIN pragma_table_info(m.name) p WHERE m.type = 'table' \
             AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.name NOT LIKE '\\_sqlx%' ESCAPE '\\' \
             ORDER BY m.name, p.cid"
        )?,
    };
    #[derive(sqlx::FromRow)]
    struct Count {
        count: i64,
    }
    let quoted = serde_json::Value::String(user.to_owned()).to_string();
    let room_suffix = format!(":{user}");
    let mut found = Vec::new();
    for Column {
        table_name,
        column_name,
    } in columns
    {
        let text = format!("CAST(\"{column_name}\" AS TEXT)");
        let (contains, ends) = match store.backend() {
            crate::Backend::Postgres => (
                format!("strpos({text}, $2) > 0"),
                format!("right({text}, length($3)) = $3"),
            ),
            crate::Backend::Sqlite => (
                format!("instr({text}, $2) > 0"),
                format!("substr({text}, -length($3)) = $3"),
            ),
        };
        let sql = format!(
            "SELECT COUNT(*) AS count FROM \"{table_name}\" WHERE {text} = $1 OR {contains} OR {ends}"
        );
        let count =
            row!(store, Count, &sql, user, &quoted, &room_suffix)?.map_or(0, |count| count.count);
        if count > 0 {
            found.push(format!("{table_name}.{column_name} ({count})"));
        }
    }
    Ok(found)
}
