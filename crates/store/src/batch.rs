//! Multi-row INSERT statements: one round trip per chunk of rows instead of one per row.

use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use crate::Backend;

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Int(i64),
    Text(String),
    OptText(Option<String>),
    OptInt(Option<i64>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_string())
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Val {
        Val::OptText(v)
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Val {
        Val::OptInt(v)
    }
}

/// Below SQLite's limit of 32,766 bound parameters and PostgreSQL's 65,535.
const MAX_PARAMS: usize = 30_000;

/// Inserts `rows` into `table`; `suffix` is appended to each statement (e.g. an ON CONFLICT
/// clause and/or RETURNING). Returns the rows any RETURNING clause produced.
pub(crate) async fn insert_rows(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    table: &str,
    columns: &[&str],
    suffix: &str,
    rows: Vec<Vec<Val>>,
) -> sqlx::Result<Vec<AnyRow>> {
    let per_chunk = (MAX_PARAMS / columns.len()).max(1);
    let mut returned = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Val>> = rows.by_ref().take(per_chunk).collect();
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut n = 0;
        for (i, row) in chunk.iter().enumerate() {
            debug_assert_eq!(row.len(), columns.len());
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for j in 0..row.len() {
                n += 1;
                if j > 0 {
                    sql.push_str(", ");
                }
                // SQLite looks up each named `$n` among all earlier ones (quadratic in the
                // statement's size); anonymous `?` are numbered in order at no cost.
                if backend == Backend::Sqlite {
                    sql.push('?');
                } else {
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(suffix);
        let mut q = sqlx::query(&sql);
        for v in chunk.into_iter().flatten() {
            q = match v {
                Val::Int(i) => q.bind(i),
                Val::Text(s) => q.bind(s),
                Val::OptText(s) => q.bind(s),
                Val::OptInt(i) => q.bind(i),
            };
        }
        returned.extend(q.fetch_all(&mut **tx).await?);
    }
    Ok(returned)
}
