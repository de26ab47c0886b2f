//! Multi-row INSERT statements: one round trip per chunk of rows instead of one per row.

use std::borrow::Cow;

use sqlx::any::AnyRow;
use crate::tx::WriteTx;

use crate::Backend;

/// A value bound to a placeholder; text is borrowed where the caller already holds it.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    Int(i64),
    Text(Cow<'a, str>),
    OptText(Option<Cow<'a, str>>),
    OptInt(Option<i64>),
}

impl From<i64> for Val<'_> {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<String> for Val<'_> {
    fn from(v: String) -> Self {
        Val::Text(Cow::Owned(v))
    }
}
impl<'a> From<&'a str> for Val<'a> {
    fn from(v: &'a str) -> Self {
        Val::Text(Cow::Borrowed(v))
    }
}
impl From<Option<String>> for Val<'_> {
    fn from(v: Option<String>) -> Self {
        Val::OptText(v.map(Cow::Owned))
    }
}
impl<'a> From<Option<&'a str>> for Val<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Val::OptText(v.map(Cow::Borrowed))
    }
}
impl From<Option<i64>> for Val<'_> {
    fn from(v: Option<i64>) -> Self {
        Val::OptInt(v)
    }
}

/// Keys in one `IN (…)` list of a bulk read (the registry, a batch, a chunk of cards).
pub(crate) const IN_LIST: usize = 5_000;

/// Below SQLite's limit of 32,766 bound parameters and PostgreSQL's 65,535.
const MAX_PARAMS: usize = 30_000;

/// `n` placeholders, comma-separated, numbered from `first`. SQLite gets anonymous `?`: it looks up
/// each named `$n` among all earlier ones, which is quadratic in a statement's size.
pub fn placeholders(backend: Backend, first: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 4);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        match backend {
            Backend::Sqlite => s.push('?'),
            Backend::Postgres => {
                s.push('$');
                s.push_str(&(first + i).to_string());
            }
        }
    }
    s
}

/// Inserts `rows` into `table`; `suffix` is appended to each statement (an ON CONFLICT clause
/// and/or RETURNING). Returns the rows RETURNING produced. SQLite gets multi-row VALUES (its
/// parameters cost little); PostgreSQL gets the rows as one JSON parameter that the server
/// expands with `json_populate_recordset`: a VALUES list of 30,000 parameters cost the server
/// two and a half times the write itself, the JSON a fraction of it.
pub(crate) async fn insert_rows<'a>(
    tx: &mut WriteTx,
    backend: Backend,
    table: &str,
    columns: &[&str],
    suffix: &str,
    rows: Vec<Vec<Val<'a>>>,
) -> sqlx::Result<Vec<AnyRow>> {
    if backend == Backend::Postgres {
        return insert_json(tx, table, columns, suffix, rows).await;
    }
    let per_chunk = (MAX_PARAMS / columns.len()).max(1);
    let mut returned = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Val<'a>>> = rows.by_ref().take(per_chunk).collect();
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        for (i, row) in chunk.iter().enumerate() {
            debug_assert_eq!(row.len(), columns.len());
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&placeholders(backend, i * columns.len() + 1, columns.len()));
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(suffix);
        let mut q = sqlx::query(&sql);
        for v in chunk.into_iter().flatten() {
            q = match v {
                Val::Int(i) => q.bind(i),
                Val::Text(Cow::Borrowed(s)) => q.bind(s),
                Val::Text(Cow::Owned(s)) => q.bind(s),
                Val::OptText(s) => q.bind(s.map(Cow::into_owned)),
                Val::OptInt(i) => q.bind(i),
            };
        }
        returned.extend(q.fetch_all(&mut **tx).await?);
    }
    Ok(returned)
}

/// Rows in one JSON parameter (PostgreSQL).
pub(crate) const JSON_ROWS: usize = 5_000;

async fn insert_json(tx: &mut WriteTx, table: &str, columns: &[&str], suffix: &str, rows: Vec<Vec<Val<'_>>>) -> sqlx::Result<Vec<AnyRow>> {
    let list = columns.join(", ");
    let sql = format!("INSERT INTO {table} ({list}) SELECT {list} FROM json_populate_recordset(NULL::{table}, $1::json) {suffix}");
    let mut returned = Vec::new();
    for chunk in rows.chunks(JSON_ROWS) {
        returned.extend(sqlx::query(&sql).bind(json_rows(columns, chunk)).fetch_all(&mut **tx).await?);
    }
    Ok(returned)
}

/// `[{"column": value, …}, …]`.
pub(crate) fn json_rows(columns: &[&str], rows: &[Vec<Val<'_>>]) -> String {
    use std::fmt::Write;
    let keys: Vec<String> = columns.iter().map(|c| serde_json::Value::from(*c).to_string()).collect();
    let mut out = String::with_capacity(rows.len() * columns.len() * 16);
    out.push('[');
    for (i, row) in rows.iter().enumerate() {
        debug_assert_eq!(row.len(), columns.len());
        out.push_str(if i == 0 { "{" } else { ",{" });
        for (j, (key, v)) in keys.iter().zip(row).enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str(key);
            out.push(':');
            match v {
                Val::Int(n) | Val::OptInt(Some(n)) => {
                    let _ = write!(out, "{n}");
                }
                Val::Text(t) | Val::OptText(Some(t)) => out.push_str(&serde_json::Value::from(t.as_ref()).to_string()),
                Val::OptText(None) | Val::OptInt(None) => out.push_str("null"),
            }
        }
        out.push('}');
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rows_escape_text_and_write_nulls() {
        let rows = vec![vec![Val::from(1), Val::from("a\"\\\n\t村"), Val::from(None::<String>)], vec![Val::from(-2), Val::from(""), Val::from(Some(7))]];
        let text = json_rows(&["id", "name", "note"], &rows);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, serde_json::json!([{"id": 1, "name": "a\"\\\n\t村", "note": null}, {"id": -2, "name": "", "note": 7}]));
    }
}
