//! Helpers for statements written once for both backends: a few spellings that differ are
//! written in one neutral form and translated per backend ([`dialect`]), and the `rows!`,
//! `row!`, `exec!` macros run a statement on whichever pool the [`Store`](crate::Store) holds.
//! Parameters are `$1`, `$2`, … on both backends (sqlx's SQLite driver reads `$N` by number).
//!
//! Neutral forms: `NOW()` (the current time), `TS(col)` (a timestamp column read as ISO-8601
//! UTC text), `SECONDS_SINCE(col)` (whole seconds from a timestamp column to now),
//! `JSONTEXT(col)` (a JSON column read as text), `$n::jsonb` (a JSON parameter),
//! `JSON_HAS(col, $n)` (a JSON array column holds the text `$n`) and `EPOCH($n)` (a Unix-seconds
//! integer parameter as a timestamp).

use crate::store::Backend;

/// A page request: at most `limit` rows after the key `after` (exclusive), in the list's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<K> {
    /// Rows wanted (the store fetches one more to tell whether more exist).
    pub limit: u32,
    /// The sort key of the last row of the previous page.
    pub after: Option<K>,
}

/// One page of rows and whether more follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    /// The rows, in the list's order.
    pub items: Vec<T>,
    /// Whether a next page exists.
    pub has_more: bool,
}

impl<T> Paged<T> {
    /// Cuts the `limit + 1` rows a query fetched down to `limit`.
    pub(crate) fn cut(mut items: Vec<T>, limit: u32) -> Paged<T> {
        let has_more = items.len() > limit as usize;
        items.truncate(limit as usize);
        Paged { items, has_more }
    }
}

/// `sql` in the backend's spelling.
pub(crate) fn dialect(backend: Backend, sql: &str) -> String {
    match backend {
        Backend::Postgres => {
            let sql = sql.replace("NOW()", "now()");
            let sql = replace_call(&sql, "TS(", |column| {
                format!(r#"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#)
            });
            let sql = replace_call(&sql, "SECONDS_SINCE(", |column| {
                format!("CAST(EXTRACT(EPOCH FROM (now() - {column})) AS BIGINT)")
            });
            let sql = replace_call(&sql, "EPOCH(", |param| {
                format!("to_timestamp(CAST({param} AS double precision))")
            });
            let sql = replace_call(&sql, "JSON_HAS(", |args| {
                let (column, value) = args.split_once(',').unwrap_or((args, "NULL"));
                format!(
                    "{column} @> jsonb_build_array(CAST({} AS text))",
                    value.trim()
                )
            });
            replace_call(&sql, "JSONTEXT(", |column| format!("{column}::text"))
        }
        Backend::Sqlite => {
            let sql = sql
                .replace("NOW()", "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
                .replace("::jsonb", "");
            let sql = replace_call(&sql, "TS(", str::to_owned);
            let sql = replace_call(&sql, "SECONDS_SINCE(", |column| {
                format!("CAST((julianday('now') - julianday({column})) * 86400 AS INTEGER)")
            });
            let sql = replace_call(&sql, "EPOCH(", |param| {
                format!("strftime('%Y-%m-%dT%H:%M:%fZ', {param}, 'unixepoch')")
            });
            let sql = replace_call(&sql, "JSON_HAS(", |args| {
                let (column, value) = args.split_once(',').unwrap_or((args, "NULL"));
                format!(
                    "EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = {})",
                    value.trim()
                )
            });
            replace_call(&sql, "JSONTEXT(", str::to_owned)
        }
    }
}

/// Replaces each `NAME(column)` (not preceded by an identifier character) with `with(column)`.
fn replace_call(sql: &str, name: &str, with: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(sql.len() + 64);
    let mut rest = sql;
    while let Some(at) = rest.find(name) {
        let preceded = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let Some(close) = rest[at..].find(')') else {
            break;
        };
        out.push_str(&rest[..at]);
        if preceded {
            out.push_str(name);
            rest = &rest[at + name.len()..];
            continue;
        }
        out.push_str(&with(&rest[at + name.len()..at + close]));
        rest = &rest[at + close + 1..];
    }
    out.push_str(rest);
    out
}

/// All rows of a statement as `$row` (a `sqlx::FromRow` type).
macro_rules! rows {
    ($store:expr, $row:ty, $sql:expr $(, $arg:expr)* $(,)?) => {{
        let store: &$crate::Store = $store;
        let sql = $crate::sql::dialect(store.backend(), $sql);
        match &store.pool {
            $crate::store::Pool::Postgres(pool) => {
                sqlx::query_as::<_, $row>(sqlx::AssertSqlSafe(sql))$(.bind($arg))*.fetch_all(pool).await
            }
            $crate::store::Pool::Sqlite(pool) => {
                sqlx::query_as::<_, $row>(sqlx::AssertSqlSafe(sql))$(.bind($arg))*.fetch_all(pool).await
            }
        }
    }};
}

/// At most one row of a statement as `$row`.
macro_rules! row {
    ($store:expr, $row:ty, $sql:expr $(, $arg:expr)* $(,)?) => {{
        let store: &$crate::Store = $store;
        let sql = $crate::sql::dialect(store.backend(), $sql);
        match &store.pool {
            $crate::store::Pool::Postgres(pool) => {
                sqlx::query_as::<_, $row>(sqlx::AssertSqlSafe(sql))$(.bind($arg))*.fetch_optional(pool).await
            }
            $crate::store::Pool::Sqlite(pool) => {
                sqlx::query_as::<_, $row>(sqlx::AssertSqlSafe(sql))$(.bind($arg))*.fetch_optional(pool).await
            }
        }
    }};
}

/// Runs a statement; returns the rows it affected.
macro_rules! exec {
    ($store:expr, $sql:expr $(, $arg:expr)* $(,)?) => {{
        let store: &$crate::Store = $store;
        let sql = $crate::sql::dialect(store.backend(), $sql);
        match &store.pool {
            $crate::store::Pool::Postgres(pool) => sqlx::query(sqlx::AssertSqlSafe(sql))$(.bind($arg))*
                .execute(pool).await.map(|done| done.rows_affected()),
            $crate::store::Pool::Sqlite(pool) => sqlx::query(sqlx::AssertSqlSafe(sql))$(.bind($arg))*
                .execute(pool).await.map(|done| done.rows_affected()),
        }
    }};
}

/// Runs several statements in one transaction; each is `(sql, [args...])` with args of one
/// type per call site (use `.to_owned()` strings). Returns the rows each affected.
macro_rules! exec_all {
    ($store:expr, $statements:expr) => {{
        let store: &$crate::Store = $store;
        let backend = store.backend();
        let statements: Vec<(&str, Vec<$crate::sql::Arg>)> = $statements;
        async {
            let mut affected = Vec::with_capacity(statements.len());
            match &store.pool {
                $crate::store::Pool::Postgres(pool) => {
                    let mut tx = pool.begin().await?;
                    for (sql, args) in statements {
                        let mut query =
                            sqlx::query(sqlx::AssertSqlSafe($crate::sql::dialect(backend, sql)));
                        for arg in args {
                            query = match arg {
                                $crate::sql::Arg::Text(text) => query.bind(text),
                                $crate::sql::Arg::Int(int) => query.bind(int),
                                $crate::sql::Arg::OptInt(int) => query.bind(int),
                                $crate::sql::Arg::Bool(flag) => query.bind(flag),
                                $crate::sql::Arg::Json(value) => {
                                    query.bind(value.map(sqlx::types::Json))
                                }
                            };
                        }
                        affected.push(query.execute(&mut *tx).await?.rows_affected());
                    }
                    tx.commit().await?;
                }
                $crate::store::Pool::Sqlite(pool) => {
                    let mut tx = pool.begin().await?;
                    for (sql, args) in statements {
                        let mut query =
                            sqlx::query(sqlx::AssertSqlSafe($crate::sql::dialect(backend, sql)));
                        for arg in args {
                            query = match arg {
                                $crate::sql::Arg::Text(text) => query.bind(text),
                                $crate::sql::Arg::Int(int) => query.bind(int),
                                $crate::sql::Arg::OptInt(int) => query.bind(int),
                                $crate::sql::Arg::Bool(flag) => query.bind(flag),
                                $crate::sql::Arg::Json(value) => {
                                    query.bind(value.map(sqlx::types::Json))
                                }
                            };
                        }
                        affected.push(query.execute(&mut *tx).await?.rows_affected());
                    }
                    tx.commit().await?;
                }
            }
            Ok::<Vec<u64>, $crate::StoreError>(affected)
        }
        .await
    }};
}

pub(crate) use {exec, exec_all, row, rows};

/// A parameter of a statement run by `exec_all!`.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// Text (or a NULL when `None`).
    Text(Option<String>),
    /// An integer.
    Int(i64),
    /// An integer or a NULL.
    OptInt(Option<i64>),
    /// A boolean or a NULL.
    Bool(Option<bool>),
    /// A JSON value or a NULL (`$n::jsonb` in the statement).
    Json(Option<serde_json::Value>),
}

impl From<&str> for Arg {
    fn from(text: &str) -> Arg {
        Arg::Text(Some(text.to_owned()))
    }
}

impl From<String> for Arg {
    fn from(text: String) -> Arg {
        Arg::Text(Some(text))
    }
}

impl From<i64> for Arg {
    fn from(int: i64) -> Arg {
        Arg::Int(int)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutral_forms_are_translated() {
        let sql =
            "SELECT TS(c.created_at), JSONTEXT(content) FROM t WHERE x = $1::jsonb AND y < NOW()";
        assert_eq!(
            dialect(Backend::Sqlite, sql),
            "SELECT c.created_at, content FROM t WHERE x = $1 AND y < strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
        );
        assert_eq!(
            dialect(Backend::Postgres, sql),
            r#"SELECT to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), content::text FROM t WHERE x = $1::jsonb AND y < now()"#
        );
    }
}
