//! The county code every person-scoped row carries (migration 0022, docs/scaling.md): the first
//! six digits of its household's region code. A distributed PostgreSQL places rows by it, so on
//! PostgreSQL every key between person-scoped tables includes it; SQLite keeps its narrower keys,
//! which say the same because a row's county is always its person's or household's.

use std::collections::HashMap;

use huimin_domain::RegionCode;

use crate::tx::WriteTx;
use crate::{Backend, Result};

/// The person-scoped tables: each has `county_code`, and on PostgreSQL each of its primary and
/// unique keys and each foreign key to another of them includes it
/// (crates/store/tests/county_keys.rs checks this over the migrated schema).
pub const PERSON_SCOPED_TABLES: &[&str] = &[
    "households",
    "persons",
    "registry_events",
    "claims",
    "accumulators",
    "person_burden",
    "claim_rollup",
    "county_rollup",
    "township_figures",
    "exams",
    "disease_cards",
    "disease_card_revisions",
    "screenings",
    "batch_overrides",
    "treatments",
    "contracts",
    "key_group_additions",
    "follow_ups",
    "household_economics",
    "warnings",
    "warning_steps",
    "stay_exceptions",
];

/// The county of a region (of the household, the claim, the township): its code's first six
/// digits, as a number (a batch keys its sums by it) …
pub(crate) fn number(region: RegionCode) -> u64 {
    region.as_u64() / 1_000_000
}

/// … and as the column holds it.
pub(crate) fn of(region: RegionCode) -> String {
    format!("{:06}", number(region))
}

/// `ON CONFLICT (key)` for an upsert into a person-scoped table: with the county code on
/// PostgreSQL, whose unique keys carry it.
pub(crate) fn on_conflict(backend: Backend, key: &str) -> String {
    match backend {
        Backend::Postgres => format!("ON CONFLICT ({key}, county_code)"),
        Backend::Sqlite => format!("ON CONFLICT ({key})"),
    }
}

/// An SQL expression for the county of the person whose id is parameter `$n`: '' when there is
/// no such person, and the row's foreign key then refuses it as it did before the county was
/// part of the key. (Parameter `$n` must appear earlier in the statement: SQLite numbers
/// parameters by first appearance.)
pub(crate) fn of_person_param(n: usize) -> String {
    format!("COALESCE((SELECT county_code FROM persons WHERE id = ${n}), '')")
}

/// The same for the household whose number is parameter `$n`.
pub(crate) fn of_household_param(n: usize) -> String {
    format!("COALESCE((SELECT county_code FROM households WHERE household_no = ${n}), '')")
}

/// The counties of stored persons, by id.
pub(crate) async fn of_persons(tx: &mut WriteTx, backend: Backend, ids: impl IntoIterator<Item = i64>) -> Result<HashMap<i64, String>> {
    let ids: Vec<i64> = ids.into_iter().collect();
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(crate::batch::IN_LIST) {
        let sql = format!("SELECT id, county_code FROM persons WHERE id IN ({})", crate::batch::placeholders(backend, 1, chunk.len()));
        let mut q = sqlx::query_as::<_, (i64, String)>(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(q.fetch_all(&mut **tx).await?);
    }
    Ok(out)
}

/// The stored counties of `keys` in `table.column` (households by number, persons by ID
/// number): what a roster import compares before it writes.
pub(crate) async fn stored(tx: &mut WriteTx, backend: Backend, table: &str, column: &str, keys: &[&str]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(crate::batch::IN_LIST) {
        let sql = format!("SELECT {column}, county_code FROM {table} WHERE {column} IN ({})", crate::batch::placeholders(backend, 1, chunk.len()));
        let mut q = sqlx::query_as::<_, (String, String)>(&sql);
        for k in chunk {
            q = q.bind(*k);
        }
        out.extend(q.fetch_all(&mut **tx).await?);
    }
    Ok(out)
}
