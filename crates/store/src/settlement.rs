//! Policies in use, settled claims, and the yearly accumulators they move.
//!
//! A settlement and a reversal first bump the version of the person's accumulators row for the
//! year (and read it in the same statement): on PostgreSQL that takes the row lock, on SQLite the
//! database's write lock, so two settlements of one person can never read the same figures and
//! together pass a cap.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use huimin_domain::{Date, Money, RegionCode};
use huimin_policy::{Bill, Claim, Fund, Policy, VisitType, YearAccumulators};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row};
use crate::tx::WriteTx;

use crate::access::append_audit_in;
use crate::registry::within;
use crate::batch::{Val, insert_rows};
use crate::bill_text::{self, BillRow};
use crate::rollup::RollupDelta;
use crate::{AuditEntry, Result, Store, StoreError, county, now, sqlite_writer};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredPolicy {
    pub id: String,
    pub name: String,
    pub region: RegionCode,
    pub effective_from: Date,
    pub effective_to: Date,
    /// A draft is never used to settle; it can be simulated.
    pub draft: bool,
    /// The policy file's text.
    pub body: String,
    pub loaded_by: String,
    pub loaded_at: String,
}

/// A claim about to be settled in the system: the engine's claim and where it belongs.
#[derive(Debug, Clone)]
pub struct ClaimRecord {
    pub claim: Claim,
    pub person_id: i64,
    pub facility_code: String,
    /// The person's household region when settled (for reports by region).
    pub region: RegionCode,
    pub policy_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    Settled,
    Reversed,
}

/// A stay that may be settled although it overlaps a settled one: a real exception (a
/// readmission the same day, a correction across hospitals), let with a reason.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewStayException {
    pub person_id: i64,
    pub facility_code: String,
    pub admission: Date,
    pub discharge: Date,
    pub reason: String,
    pub approved_by: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StayException {
    pub id: i64,
    pub stay: NewStayException,
    pub person_name: String,
    pub approved_at: String,
    /// The claim that used it; `None`: not used yet.
    pub used_by_claim: Option<String>,
}

/// Whose claims a list shows: a facility's (its clerks) or those of the persons of a region.
#[derive(Debug, Clone, Copy)]
pub enum ClaimsOf<'a> {
    Facility(&'a str),
    Region(RegionCode),
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredClaim {
    pub claim_no: String,
    pub person_id: i64,
    pub facility_code: String,
    pub region: RegionCode,
    pub policy_id: String,
    pub status: ClaimStatus,
    pub bill: Bill,
    /// The claim as it was settled (to settle again under another policy).
    pub claim: Claim,
    pub settled_by: String,
    pub settled_at: String,
    pub reversed_by: Option<String>,
    pub reversed_at: Option<String>,
    pub reversal_reason: Option<String>,
}

impl StoredClaim {
    /// The hospital's own number of the visit (住院号) of a claim settled at the window, whose
    /// number is `{facility}-{visit}`; `None` for claims numbered otherwise (imports, batches).
    pub fn visit_no(&self) -> Option<&str> {
        self.claim_no.strip_prefix(self.facility_code.as_str())?.strip_prefix('-').filter(|v| !v.is_empty())
    }
}

fn date_text(d: Date) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn parse_date(s: &str) -> Result<Date> {
    Date::parse_from_str(s, "%Y-%m-%d").map_err(|e| corrupt("date", e))
}

pub(crate) fn money(fen: i64) -> Result<Money> {
    Money::from_fen(fen).map_err(|e| corrupt("amount", e))
}

// The statements of a settlement, shared by the sqlx path (PostgreSQL) and the SQLite writer.
/// Locks the person's year and reads their accumulators: person, year, county.
fn lock_and_read_sql(backend: crate::Backend) -> &'static str {
    fn sql(backend: crate::Backend) -> String {
        format!(
            "INSERT INTO accumulators (person_id, year, county_code, version, layers) VALUES ($1, $2, $3, 0, '') \
             {} DO UPDATE SET version = accumulators.version + 1 RETURNING layers",
            county::on_conflict(backend, "person_id, year")
        )
    }
    static SQLITE: LazyLock<String> = LazyLock::new(|| sql(crate::Backend::Sqlite));
    static POSTGRES: LazyLock<String> = LazyLock::new(|| sql(crate::Backend::Postgres));
    match backend {
        crate::Backend::Sqlite => &SQLITE,
        crate::Backend::Postgres => &POSTGRES,
    }
}
const READ_ACCUMULATORS: &str = "SELECT layers FROM accumulators WHERE person_id = $1 AND year = $2";
const WRITE_ACCUMULATORS: &str = "UPDATE accumulators SET layers = $1 WHERE person_id = $2 AND year = $3";
const CLAIM_STATUS: &str = "SELECT status FROM claims WHERE claim_no = $1";
/// The columns of a new claim, in the order of [`claim_row`].
const CLAIM_INSERT_COLUMNS: [&str; 35] = [
    "claim_no", "person_id", "facility_code", "region_code", "policy_id", "year", "category", "visit_type", "facility_level",
    "in_county", "admission_date", "discharge_date", "disease_codes", "cat_a", "cat_b", "out_of_catalogue", "necessary", "total",
    "in_policy", "funds_total", "patient_total", "fund_310101", "fund_390101", "fund_390201", "fund_390401", "fund_610101",
    "fund_620101", "fund_630101", "fund_640101", "fund_999996", "bill", "status", "settled_by", "settled_at", "county_code",
];
static INSERT_CLAIM: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO claims ({}) VALUES ({})", CLAIM_INSERT_COLUMNS.join(", "), crate::batch::placeholders(crate::Backend::Postgres, 1, CLAIM_INSERT_COLUMNS.len()))
});
/// PostgreSQL, whose keys of `claims` carry the county: the number is also taken in
/// `claim_numbers` (keyed by the number alone) in the same statement, so that a number is
/// settled once across counties.
static INSERT_CLAIM_PG: LazyLock<String> = LazyLock::new(|| format!("WITH taken AS (INSERT INTO claim_numbers (claim_no) VALUES ($1)) {}", *INSERT_CLAIM));

fn insert_claim_sql(backend: crate::Backend) -> &'static str {
    match backend {
        crate::Backend::Sqlite => &INSERT_CLAIM,
        crate::Backend::Postgres => &INSERT_CLAIM_PG,
    }
}

/// `layer:base:paid;…` in fen; layer ids are letters, digits, `_` and `-` (checked by the policy).
fn encode_accumulators(acc: &YearAccumulators) -> String {
    let mut out = String::new();
    for (layer, v) in &acc.layers {
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(&format!("{layer}:{}:{}", v.base.fen(), v.paid.fen()));
    }
    out
}

fn decode_accumulators(text: &str) -> Result<YearAccumulators> {
    let mut acc = YearAccumulators::default();
    for part in text.split(';').filter(|p| !p.is_empty()) {
        let mut it = part.split(':');
        let (Some(layer), Some(base), Some(paid), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(corrupt("accumulators", part));
        };
        let num = |s: &str| s.parse::<i64>().map_err(|e| corrupt("accumulators", e)).and_then(money);
        acc.set(&layer.into(), huimin_policy::LayerYear { base: num(base)?, paid: num(paid)? });
    }
    Ok(acc)
}

/// The claim's row: its fields, the one bill, and what each fund paid.
fn claim_row(record: &ClaimRecord, bill: &Bill, settled_by: &str) -> Result<Vec<Val<'static>>> {
    let c = &record.claim;
    let year = i64::from(chrono::Datelike::year(&c.discharge));
    let mut row = vec![
        Val::from(c.claim_no.clone()),
        record.person_id.into(),
        record.facility_code.clone().into(),
        record.region.to_string().into(),
        record.policy_id.clone().into(),
        year.into(),
        c.category.code().to_string().into(),
        c.visit.code().to_string().into(),
        c.level.number().into(),
        i64::from(c.in_county).into(),
        date_text(c.admission).into(),
        date_text(c.discharge).into(),
        c.diseases.join("|").into(),
        c.cat_a.fen().into(),
        c.cat_b.fen().into(),
        c.out_of_catalogue.fen().into(),
        c.necessary.fen().into(),
        bill.total.fen().into(),
        bill.buckets[0].fen().into(),
        bill.funds_total.fen().into(),
        bill.patient_total.fen().into(),
    ];
    for fund in Fund::ALL {
        row.push(bill.lines.iter().filter(|l| l.fund == fund).map(|l| l.total.fen()).sum::<i64>().into());
    }
    row.extend([Val::from(bill_text::encode(bill)), "settled".into(), settled_by.to_string().into(), now().into(), county::of(record.region).into()]);
    debug_assert_eq!(row.len(), CLAIM_INSERT_COLUMNS.len());
    Ok(row)
}

pub(crate) fn bind_vals<'q>(mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>, vals: &'q [Val<'q>]) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for v in vals {
        q = match v {
            Val::Int(i) => q.bind(*i),
            Val::Text(s) => q.bind(s.as_ref()),
            Val::OptText(s) => q.bind(s.as_deref()),
            Val::OptInt(i) => q.bind(*i),
        };
    }
    q
}

/// Locks the person's year and reads their accumulators (sqlx path).
async fn lock_and_read(tx: &mut WriteTx, backend: crate::Backend, person_id: i64, year: i32, region: RegionCode) -> Result<YearAccumulators> {
    let layers: String =
        sqlx::query_scalar(lock_and_read_sql(backend)).bind(person_id).bind(i64::from(year)).bind(county::of(region)).fetch_one(&mut **tx).await?;
    decode_accumulators(&layers)
}

async fn write_accumulators(tx: &mut WriteTx, person_id: i64, year: i32, acc: &YearAccumulators) -> Result<()> {
    sqlx::query(WRITE_ACCUMULATORS).bind(encode_accumulators(acc)).bind(person_id).bind(i64::from(year)).execute(&mut **tx).await?;
    Ok(())
}

/// The same two on the SQLite writer's connection.
fn lock_and_read_sqlite(conn: &rusqlite::Connection, person_id: i64, year: i32, region: RegionCode) -> Result<YearAccumulators> {
    let e = sqlite_writer::db_err;
    let layers: String = conn
        .prepare_cached(lock_and_read_sql(crate::Backend::Sqlite))
        .map_err(e)?
        .query_row(rusqlite::params![person_id, year, county::of(region)], |r| r.get(0))
        .map_err(e)?;
    decode_accumulators(&layers)
}

fn write_accumulators_sqlite(conn: &rusqlite::Connection, person_id: i64, year: i32, acc: &YearAccumulators) -> Result<()> {
    let e = sqlite_writer::db_err;
    conn.prepare_cached(WRITE_ACCUMULATORS).map_err(e)?.execute(rusqlite::params![encode_accumulators(acc), person_id, year]).map_err(e)?;
    Ok(())
}

fn claim_exists_sqlite(conn: &rusqlite::Connection, claim_no: &str) -> Result<bool> {
    let e = sqlite_writer::db_err;
    conn.prepare_cached(CLAIM_STATUS).map_err(e)?.exists([claim_no]).map_err(e)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

fn duplicate(claim_no: &str) -> StoreError {
    StoreError::AlreadySettled { claim_no: claim_no.to_string(), message: format!("结算单号 {claim_no} 已结算过，不能重复结算") }
}

/// A settled inpatient stay of the person that overlaps [admission, discharge]: a day of
/// discharge may be the next stay's day of admission (a transfer), nothing more.
const OVERLAPPING_STAY: &str = "SELECT claim_no, admission_date, discharge_date FROM claims WHERE person_id = $1 AND status = 'settled' \
     AND visit_type = 'inpatient' AND discharge_date > $2 AND admission_date < $3 ORDER BY admission_date LIMIT 1";
// (The parameters appear in their order: rusqlite numbers `$n` by first appearance.)

fn overlapping(claim_no: String, admission: String, discharge: String) -> StoreError {
    let message = format!("此人 {admission} 至 {discharge} 的住院已结算（结算单 {claim_no}），与本次住院时间重叠，不能重复结算；如原结算有误，请先冲销；确属特殊情况的，由医保局或卫健局登记例外后再结算");
    StoreError::AlreadySettled { claim_no, message }
}

/// Takes the exception let for this very stay, if there is one not used yet (the parameters in
/// the order they appear).
const USE_EXCEPTION: &str = "UPDATE stay_exceptions SET used_by_claim = $1 WHERE id = (SELECT id FROM stay_exceptions WHERE person_id = $2 \
     AND facility_code = $3 AND admission_date = $4 AND discharge_date = $5 AND used_by_claim IS NULL ORDER BY id LIMIT 1)";

/// Refuses an inpatient stay that overlaps one already settled, unless an exception was let for
/// it (SQLite writer thread).
fn check_overlap_sqlite(conn: &rusqlite::Connection, record: &ClaimRecord) -> Result<()> {
    let claim = &record.claim;
    if claim.visit != VisitType::Inpatient {
        return Ok(());
    }
    let e = sqlite_writer::db_err;
    let found = {
        let mut stmt = conn.prepare_cached(OVERLAPPING_STAY).map_err(e)?;
        let mut rows = stmt.query(rusqlite::params![record.person_id, date_text(claim.admission), date_text(claim.discharge)]).map_err(e)?;
        match rows.next().map_err(e)? {
            Some(r) => Some((r.get::<_, String>(0).map_err(e)?, r.get::<_, String>(1).map_err(e)?, r.get::<_, String>(2).map_err(e)?)),
            None => None,
        }
    };
    match found {
        Some((no, from, to)) => use_exception_sqlite(conn, record, || overlapping(no, from, to)),
        None => Ok(()),
    }
}

/// Lets an overlapping stay through if an exception was let for it, using the exception up.
fn use_exception_sqlite(conn: &rusqlite::Connection, record: &ClaimRecord, refusal: impl FnOnce() -> StoreError) -> Result<()> {
    let e = sqlite_writer::db_err;
    let c = &record.claim;
    let args = rusqlite::params![c.claim_no, record.person_id, record.facility_code, date_text(c.admission), date_text(c.discharge)];
    if conn.prepare_cached(USE_EXCEPTION).map_err(e)?.execute(args).map_err(e)? == 1 { Ok(()) } else { Err(refusal()) }
}

/// Gives back the exception a claim took when the claim is refused after all (a batch goes on
/// in the same transaction, so nothing rolls it back).
const RELEASE_EXCEPTION: &str = "UPDATE stay_exceptions SET used_by_claim = NULL WHERE used_by_claim = $1";

/// A person's settled inpatient stays (every year), for a batch to check its claims against in
/// memory: one query the first time the batch meets the person instead of one per claim.
const SETTLED_STAYS: &str = "SELECT claim_no, admission_date, discharge_date FROM claims WHERE person_id = $1 AND status = 'settled' AND visit_type = 'inpatient'";

/// The claim numbers of a chunk that are stored already.
async fn taken_claim_numbers(tx: &mut WriteTx, backend: crate::Backend, items: &[BatchItem]) -> Result<HashSet<String>> {
    let mut taken = HashSet::new();
    for part in items.chunks(crate::batch::IN_LIST) {
        let sql = format!("SELECT claim_no FROM claims WHERE claim_no IN ({})", crate::batch::placeholders(backend, 1, part.len()));
        let mut q = sqlx::query_scalar::<_, String>(&sql);
        for (r, _) in part {
            q = q.bind(r.claim.claim_no.as_str());
        }
        taken.extend(q.fetch_all(&mut **tx).await?);
    }
    Ok(taken)
}

/// Locks and reads the accumulators of the chunk's (person, year) not met before: the multi-row
/// form of [`lock_and_read_sql`], the keys in order.
async fn lock_and_read_many(tx: &mut WriteTx, backend: crate::Backend, items: &[BatchItem], accs: &mut HashMap<(i64, i32), YearAccumulators>) -> Result<()> {
    let mut keys: Vec<(i64, i32, RegionCode)> = items
        .iter()
        .map(|(r, _)| (r.person_id, chrono::Datelike::year(&r.claim.discharge), r.region))
        .filter(|(p, y, _)| !accs.contains_key(&(*p, *y)))
        .collect();
    keys.sort_unstable();
    keys.dedup_by_key(|(p, y, _)| (*p, *y));
    let rows: Vec<Vec<Val>> =
        keys.iter().map(|(p, y, region)| vec![Val::from(*p), Val::from(i64::from(*y)), Val::from(county::of(*region)), Val::from(0), Val::from("")]).collect();
    let read = insert_rows(
        tx,
        backend,
        "accumulators",
        &["person_id", "year", "county_code", "version", "layers"],
        &(county::on_conflict(backend, "person_id, year") + " DO UPDATE SET version = accumulators.version + 1 RETURNING person_id, year, layers"),
        rows,
    )
    .await?;
    for r in read {
        let year = i32::try_from(r.try_get::<i64, _>("year")?).map_err(|e| corrupt("year", e))?;
        accs.insert((r.try_get("person_id")?, year), decode_accumulators(&r.try_get::<String, _>("layers")?)?);
    }
    Ok(())
}

/// Writes a batch's accumulators back. Every row was made and locked when first read, so on
/// PostgreSQL it is a plain UPDATE from the rows as JSON (no conflict handling, no foreign-key
/// check, which an upsert pays per row).
async fn write_accumulators_many(tx: &mut WriteTx, backend: crate::Backend, accs: &HashMap<(i64, i32), YearAccumulators>) -> Result<()> {
    const COLUMNS: [&str; 4] = ["person_id", "year", "version", "layers"];
    let rows: Vec<Vec<Val>> =
        accs.iter().map(|((person, year), acc)| vec![Val::from(*person), Val::from(i64::from(*year)), Val::from(0), Val::from(encode_accumulators(acc))]).collect();
    if backend == crate::Backend::Sqlite {
        insert_rows(tx, backend, "accumulators", &COLUMNS, "ON CONFLICT (person_id, year) DO UPDATE SET layers = excluded.layers", rows).await?;
        return Ok(());
    }
    for chunk in rows.chunks(crate::batch::JSON_ROWS) {
        sqlx::query(
            "UPDATE accumulators a SET layers = j.layers FROM json_populate_recordset(NULL::accumulators, $1::json) j \
             WHERE a.person_id = j.person_id AND a.year = j.year",
        )
        .bind(crate::batch::json_rows(&COLUMNS, chunk))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The settled inpatient stays a batch has seen, per person: read from the database the first
/// time, then kept up to date with the batch's own claims.
#[derive(Default)]
struct BatchStays(HashMap<i64, Vec<(Date, Date, String)>>);

impl BatchStays {
    /// The settled stay the record's stay overlaps (the same rule as [`OVERLAPPING_STAY`]: a
    /// transfer day may be shared), from the stays of the person read so far.
    fn overlap(&self, record: &ClaimRecord) -> Option<StoreError> {
        let c = &record.claim;
        let stays = self.0.get(&record.person_id)?;
        let (from, to, no) = stays.iter().filter(|(from, to, _)| *to > c.admission && *from < c.discharge).min_by_key(|(from, ..)| *from)?;
        Some(overlapping(no.clone(), date_text(*from), date_text(*to)))
    }

    /// Refuses the record's stay if it overlaps a settled one, unless an exception was let for
    /// it; true when one was used (see [`RELEASE_EXCEPTION`]). SQLite writer thread.
    fn check(&mut self, conn: &rusqlite::Connection, read: &mut rusqlite::Statement, record: &ClaimRecord) -> Result<bool> {
        if record.claim.visit != VisitType::Inpatient {
            return Ok(false);
        }
        if !self.0.contains_key(&record.person_id) {
            let e = sqlite_writer::db_err;
            let mut found = Vec::new();
            let mut rows = read.query([record.person_id]).map_err(e)?;
            while let Some(r) = rows.next().map_err(e)? {
                let (from, to): (String, String) = (r.get(1).map_err(e)?, r.get(2).map_err(e)?);
                found.push((parse_date(&from)?, parse_date(&to)?, r.get::<_, String>(0).map_err(e)?));
            }
            self.0.insert(record.person_id, found);
        }
        match self.overlap(record) {
            Some(refusal) => use_exception_sqlite(conn, record, || refusal).map(|()| true),
            None => Ok(false),
        }
    }

    /// Reads the settled stays of the chunk's inpatients not met before, a few statements for
    /// the chunk (sqlx path).
    async fn read(&mut self, tx: &mut WriteTx, backend: crate::Backend, items: &[BatchItem]) -> Result<()> {
        let mut persons: Vec<i64> =
            items.iter().filter(|(r, _)| r.claim.visit == VisitType::Inpatient && !self.0.contains_key(&r.person_id)).map(|(r, _)| r.person_id).collect();
        persons.sort_unstable();
        persons.dedup();
        for part in persons.chunks(crate::batch::IN_LIST) {
            let sql = format!(
                "SELECT person_id, claim_no, admission_date, discharge_date FROM claims WHERE status = 'settled' AND visit_type = 'inpatient' AND person_id IN ({})",
                crate::batch::placeholders(backend, 1, part.len())
            );
            let mut q = sqlx::query(&sql);
            for p in part {
                q = q.bind(*p);
                self.0.insert(*p, Vec::new());
            }
            for r in q.fetch_all(&mut **tx).await? {
                let (from, to): (String, String) = (r.try_get("admission_date")?, r.try_get("discharge_date")?);
                let stay = (parse_date(&from)?, parse_date(&to)?, r.try_get("claim_no")?);
                self.0.entry(r.try_get("person_id")?).or_default().push(stay);
            }
        }
        Ok(())
    }

    /// Counts a stay the batch has just settled.
    fn settled(&mut self, record: &ClaimRecord) {
        let c = &record.claim;
        if c.visit == VisitType::Inpatient {
            self.0.entry(record.person_id).or_default().push((c.admission, c.discharge, c.claim_no.clone()));
        }
    }
}

pub(crate) const CLAIM_COLUMNS: &str = "claim_no, person_id, facility_code, region_code, policy_id, status, bill, category, visit_type, \
     facility_level, in_county, admission_date, discharge_date, disease_codes, cat_a, cat_b, out_of_catalogue, necessary, \
     settled_by, settled_at, reversed_by, reversed_at, reversal_reason, year, total, funds_total, patient_total";

pub(crate) fn claim_from_row(r: &AnyRow) -> Result<StoredClaim> {
    let status: String = r.try_get("status")?;
    let bill: String = r.try_get("bill")?;
    let category: String = r.try_get("category")?;
    let visit: String = r.try_get("visit_type")?;
    let codes: String = r.try_get("disease_codes")?;
    let policy_id: String = r.try_get("policy_id")?;
    let claim = Claim {
        claim_no: r.try_get("claim_no")?,
        person: r.try_get::<i64, _>("person_id")?.to_string(),
        category: huimin_domain::PovertyCategory::from_code(&category).ok_or_else(|| corrupt("category", &category))?,
        visit: huimin_policy::VisitType::parse(&visit).ok_or_else(|| corrupt("visit type", &visit))?,
        level: huimin_domain::FacilityLevel::from_number(r.try_get("facility_level")?).ok_or_else(|| corrupt("level", "?"))?,
        in_county: r.try_get::<i64, _>("in_county")? != 0,
        admission: parse_date(&r.try_get::<String, _>("admission_date")?)?,
        discharge: parse_date(&r.try_get::<String, _>("discharge_date")?)?,
        diseases: codes.split('|').filter(|c| !c.is_empty()).map(str::to_string).collect(),
        cat_a: money(r.try_get("cat_a")?)?,
        cat_b: money(r.try_get("cat_b")?)?,
        out_of_catalogue: money(r.try_get("out_of_catalogue")?)?,
        necessary: money(r.try_get("necessary")?)?,
    };
    Ok(StoredClaim {
        claim_no: r.try_get("claim_no")?,
        person_id: r.try_get("person_id")?,
        facility_code: r.try_get("facility_code")?,
        region: RegionCode::parse(&r.try_get::<String, _>("region_code")?).map_err(|e| corrupt("region", e))?,
        policy_id: policy_id.clone(),
        status: if status == "reversed" { ClaimStatus::Reversed } else { ClaimStatus::Settled },
        bill: bill_text::decode(
            &bill,
            BillRow {
                claim_no: &claim.claim_no,
                person: claim.person.clone(),
                policy_id: &policy_id,
                year: r.try_get::<i64, _>("year")?.try_into().map_err(|e| corrupt("year", e))?,
                total: r.try_get("total")?,
                funds_total: r.try_get("funds_total")?,
                patient_total: r.try_get("patient_total")?,
            },
        )?,
        claim,
        settled_by: r.try_get("settled_by")?,
        settled_at: r.try_get("settled_at")?,
        reversed_by: r.try_get("reversed_by")?,
        reversed_at: r.try_get("reversed_at")?,
        reversal_reason: r.try_get("reversal_reason")?,
    })
}

fn policy_from_row(r: &AnyRow) -> Result<StoredPolicy> {
    Ok(StoredPolicy {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        region: RegionCode::parse(&r.try_get::<String, _>("region_code")?).map_err(|e| corrupt("region", e))?,
        effective_from: parse_date(&r.try_get::<String, _>("effective_from")?)?,
        effective_to: parse_date(&r.try_get::<String, _>("effective_to")?)?,
        draft: r.try_get::<i64, _>("draft")? != 0,
        body: r.try_get("body")?,
        loaded_by: r.try_get("loaded_by")?,
        loaded_at: r.try_get("loaded_at")?,
    })
}

/// A claim ready to settle and the policy it is settled under.
pub type BatchItem = (ClaimRecord, Arc<Policy>);

/// What a batch's feed carries: chunks of claims, then `End`.
pub enum BatchChunk {
    Claims(Vec<BatchItem>),
    End,
}

pub type BatchFeed = tokio::sync::mpsc::Receiver<BatchChunk>;

/// The result of settling a batch: how many were settled, and each refused claim with the reason.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct BatchOutcome {
    pub settled: usize,
    pub refused: Vec<(String, String)>,
    pub total: i64,
    pub funds_total: i64,
    pub patient_total: i64,
}

impl BatchOutcome {
    fn add(&mut self, bill: &Bill) {
        self.settled += 1;
        self.total += bill.total.fen();
        self.funds_total += bill.funds_total.fen();
        self.patient_total += bill.patient_total.fen();
    }
}

impl Store {
    /// Settles a batch of claims in order, each under its policy: a claim that is refused (its
    /// number already used, the engine's refusal) is reported and the others go on. The claims
    /// arrive in chunks while the caller still prepares the rest; a feed that closes without
    /// [`BatchChunk::End`] settles nothing. On SQLite the whole batch is one transaction on the
    /// writer thread (a million claims commit together or not at all, and the index pages they
    /// touch are written once, not once per chunk); on PostgreSQL too, see [`Self::settle_batch_sqlx`].
    pub async fn settle_batch(&self, mut feed: BatchFeed, settled_by: &str, audit: &AuditEntry) -> Result<BatchOutcome> {
        let settled_by = settled_by.to_string();
        let mut audit = audit.clone();
        let Some(writer) = &self.writer else {
            return self.settle_batch_sqlx(feed, &settled_by, audit).await;
        };
        writer
            .run(move |conn| {
                let mut out = BatchOutcome::default();
                let mut accs: HashMap<(i64, i32), YearAccumulators> = HashMap::new();
                let mut seen: HashSet<String> = HashSet::new();
                let mut rollup = RollupDelta::default();
                // Prepared once for the batch: looking a statement up in the cache hashes its
                // whole text, a tenth of the writer's time for a million claims.
                let e = sqlite_writer::db_err;
                let mut insert = conn.prepare(&INSERT_CLAIM).map_err(e)?;
                let mut exists = conn.prepare(CLAIM_STATUS).map_err(e)?;
                let mut lock = conn.prepare(lock_and_read_sql(crate::Backend::Sqlite)).map_err(e)?;
                let mut read_stays = conn.prepare(SETTLED_STAYS).map_err(e)?;
                let mut stays = BatchStays::default();
                loop {
                    let items = match feed.blocking_recv() {
                        Some(BatchChunk::Claims(items)) => items,
                        Some(BatchChunk::End) => break,
                        None => return Err(StoreError::Refused("结算批次未传送完整，已全部撤销".into())),
                    };
                    for (record, policy) in &items {
                        let c = &record.claim;
                        if !seen.insert(c.claim_no.clone()) || exists.exists([&c.claim_no]).map_err(e)? {
                            out.refused.push((c.claim_no.clone(), duplicate(&c.claim_no).to_string()));
                            continue;
                        }
                        let excepted = match stays.check(conn, &mut read_stays, record) {
                            Ok(excepted) => excepted,
                            Err(StoreError::AlreadySettled { message, .. }) => {
                                out.refused.push((c.claim_no.clone(), message));
                                continue;
                            }
                            Err(other) => return Err(other),
                        };
                        let key = (record.person_id, chrono::Datelike::year(&c.discharge));
                        let acc = match accs.entry(key) {
                            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                            std::collections::hash_map::Entry::Vacant(v) => {
                                let layers: String = lock.query_row(rusqlite::params![key.0, key.1, county::of(record.region)], |r| r.get(0)).map_err(e)?;
                                v.insert(decode_accumulators(&layers)?)
                            }
                        };
                        match huimin_policy::settle_into(policy, c, acc) {
                            Err(why) => {
                                if excepted {
                                    conn.prepare_cached(RELEASE_EXCEPTION).map_err(e)?.execute([&c.claim_no]).map_err(e)?;
                                }
                                out.refused.push((c.claim_no.clone(), why.to_string()));
                            }
                            Ok(bill) => {
                                insert.execute(rusqlite::params_from_iter(claim_row(record, &bill, &settled_by)?)).map_err(e)?;
                                stays.settled(record);
                                rollup.add(record.region, record.person_id, c, &bill, 1);
                                out.add(&bill);
                            }
                        }
                    }
                }
                let mut write = conn.prepare(WRITE_ACCUMULATORS).map_err(e)?;
                for ((person, year), acc) in &accs {
                    write.execute(rusqlite::params![encode_accumulators(acc), person, year]).map_err(e)?;
                }
                rollup.write_sqlite(conn)?;
                audit.detail = format!("batch: {} settled, {} refused", out.settled, out.refused.len());
                sqlite_writer::append_audit(conn, &audit)?;
                Ok(out)
            })
            .await
    }

    /// The batch on PostgreSQL: one transaction, and a chunk of claims costs a few multi-row
    /// statements instead of a dozen round trips a claim — the numbers already taken, the
    /// accumulators of the persons met for the first time locked (in key order, so two batches
    /// cannot deadlock on them) and read, their settled stays, then the chunk's claims inserted;
    /// the accumulators, rollup and burden are written once at the end. A claim that takes a stay
    /// exception uses it with its own statement (rare).
    async fn settle_batch_sqlx(&self, mut feed: BatchFeed, settled_by: &str, mut audit: AuditEntry) -> Result<BatchOutcome> {
        let backend = self.backend;
        let mut tx = self.begin_write().await?;
        let mut out = BatchOutcome::default();
        let mut accs: HashMap<(i64, i32), YearAccumulators> = HashMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut stays = BatchStays::default();
        let mut rollup = RollupDelta::default();
        loop {
            let items = match feed.recv().await {
                Some(BatchChunk::Claims(items)) => items,
                Some(BatchChunk::End) => break,
                None => return Err(StoreError::Refused("结算批次未传送完整，已全部撤销".into())),
            };
            let taken = taken_claim_numbers(&mut tx, backend, &items).await?;
            lock_and_read_many(&mut tx, backend, &items, &mut accs).await?;
            stays.read(&mut tx, backend, &items).await?;
            let mut rows = Vec::with_capacity(items.len());
            for (record, policy) in &items {
                let c = &record.claim;
                if !seen.insert(c.claim_no.clone()) || taken.contains(&c.claim_no) {
                    out.refused.push((c.claim_no.clone(), duplicate(&c.claim_no).to_string()));
                    continue;
                }
                let excepted = match stays.overlap(record).filter(|_| c.visit == VisitType::Inpatient) {
                    None => false,
                    Some(refusal) => {
                        let (from, to) = (date_text(c.admission), date_text(c.discharge));
                        let used = sqlx::query(USE_EXCEPTION).bind(&c.claim_no).bind(record.person_id).bind(&record.facility_code).bind(&from).bind(&to).execute(&mut *tx).await?;
                        if used.rows_affected() != 1 {
                            out.refused.push((c.claim_no.clone(), refusal.to_string()));
                            continue;
                        }
                        true
                    }
                };
                let key = (record.person_id, chrono::Datelike::year(&c.discharge));
                let acc = accs.get_mut(&key).ok_or_else(|| corrupt("accumulators", "not read for a claim of the batch"))?;
                match huimin_policy::settle_into(policy, c, acc) {
                    Err(why) => {
                        if excepted {
                            sqlx::query(RELEASE_EXCEPTION).bind(&c.claim_no).execute(&mut *tx).await?;
                        }
                        out.refused.push((c.claim_no.clone(), why.to_string()));
                    }
                    Ok(bill) => {
                        rows.push(claim_row(record, &bill, settled_by)?);
                        stays.settled(record);
                        rollup.add(record.region, record.person_id, c, &bill, 1);
                        out.add(&bill);
                    }
                }
            }
            if backend == crate::Backend::Postgres {
                let numbers = rows.iter().map(|r| vec![r[0].clone()]).collect();
                insert_rows(&mut tx, backend, "claim_numbers", &["claim_no"], "", numbers).await?;
            }
            insert_rows(&mut tx, backend, "claims", &CLAIM_INSERT_COLUMNS, "", rows).await?;
        }
        write_accumulators_many(&mut tx, backend, &accs).await?;
        rollup.write(&mut tx, backend).await?;
        audit.detail = format!("batch: {} settled, {} refused", out.settled, out.refused.len());
        append_audit_in(&mut tx, &audit).await?;
        tx.commit().await?;
        self.analyze(out.settled, &["claims", "claim_numbers", "accumulators", "person_burden", "claim_rollup", "county_rollup"]).await?;
        Ok(out)
    }

    /// For benchmarks (PostgreSQL): writes every stored claim again into a table like `claims`
    /// with the same indexes, in one statement, then drops it; returns how many.
    pub async fn copy_claims_for_anchor(&self) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        sqlx::query("CREATE TABLE claims_anchor (LIKE claims INCLUDING ALL)").execute(&mut *tx).await?;
        let n = sqlx::query("INSERT INTO claims_anchor SELECT * FROM claims").execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        sqlx::query("DROP TABLE claims_anchor").execute(&self.pool).await?;
        Ok(n)
    }

    /// Stores (or replaces) a policy file; a policy that has settled claims keeps its numbers:
    /// replacing it is refused, load the change under a new id.
    pub async fn save_policy(&self, p: &StoredPolicy, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM claims WHERE policy_id = $1").bind(&p.id).fetch_one(&mut *tx).await?;
        let existing: Option<String> = sqlx::query_scalar("SELECT body FROM policies WHERE id = $1").bind(&p.id).fetch_optional(&mut *tx).await?;
        if used > 0 && existing.as_deref() != Some(p.body.as_str()) {
            return Err(StoreError::Refused(format!("政策 {} 已用于 {used} 笔结算，不能修改；请以新的编号载入", p.id)));
        }
        sqlx::query(
            "INSERT INTO policies (id, name, region_code, effective_from, effective_to, draft, body, loaded_by, loaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             region_code = excluded.region_code, effective_from = excluded.effective_from, effective_to = excluded.effective_to, \
             draft = excluded.draft, body = excluded.body, loaded_by = excluded.loaded_by, loaded_at = excluded.loaded_at",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(p.region.to_string())
        .bind(date_text(p.effective_from))
        .bind(date_text(p.effective_to))
        .bind(i64::from(p.draft))
        .bind(&p.body)
        .bind(&p.loaded_by)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn policies(&self) -> Result<Vec<StoredPolicy>> {
        let rows = sqlx::query("SELECT * FROM policies ORDER BY region_code, effective_from, id").fetch_all(&self.pool).await?;
        rows.iter().map(policy_from_row).collect()
    }

    /// The person's accumulators for a year as they stand (for a preview; settling reads them
    /// again under the lock).
    pub async fn accumulators(&self, person_id: i64, year: i32) -> Result<YearAccumulators> {
        let layers: Option<String> =
            sqlx::query_scalar(READ_ACCUMULATORS).bind(person_id).bind(i64::from(year)).fetch_optional(&self.pool).await?;
        decode_accumulators(layers.as_deref().unwrap_or(""))
    }

    /// Settles a claim: under the person's lock, reads their accumulators, lets `compute` run the
    /// engine on them, and stores the claim with its bill, the new accumulators and the audit
    /// entry in one transaction. A claim number already used is refused.
    pub async fn settle_claim(
        &self,
        record: ClaimRecord,
        compute: impl FnOnce(&YearAccumulators) -> std::result::Result<(Bill, YearAccumulators), String> + Send + 'static,
        settled_by: &str,
        audit: &AuditEntry,
    ) -> Result<Bill> {
        let year = chrono::Datelike::year(&record.claim.discharge);
        let settled_by = settled_by.to_string();
        let audit = audit.clone();
        if let Some(writer) = &self.writer {
            return writer
                .run(move |conn| {
                    let acc = lock_and_read_sqlite(conn, record.person_id, year, record.region)?;
                    if claim_exists_sqlite(conn, &record.claim.claim_no)? {
                        return Err(duplicate(&record.claim.claim_no));
                    }
                    check_overlap_sqlite(conn, &record)?;
                    let (bill, after) = compute(&acc).map_err(StoreError::Refused)?;
                    sqlite_writer::execute_row(conn, &INSERT_CLAIM, &claim_row(&record, &bill, &settled_by)?)?;
                    write_accumulators_sqlite(conn, record.person_id, year, &after)?;
                    let mut rollup = RollupDelta::default();
                    rollup.add(record.region, record.person_id, &record.claim, &bill, 1);
                    rollup.write_sqlite(conn)?;
                    sqlite_writer::append_audit(conn, &audit)?;
                    Ok(bill)
                })
                .await;
        }
        let mut tx = self.begin_write().await?;
        let acc = lock_and_read(&mut tx, self.backend, record.person_id, year, record.region).await?;
        let taken: Option<String> = sqlx::query_scalar(CLAIM_STATUS).bind(&record.claim.claim_no).fetch_optional(&mut *tx).await?;
        if taken.is_some() {
            return Err(duplicate(&record.claim.claim_no));
        }
        // Under the person's lock for the year: two clerks cannot settle overlapping stays of one
        // person at the same moment.
        if record.claim.visit == VisitType::Inpatient {
            let (from, to) = (date_text(record.claim.admission), date_text(record.claim.discharge));
            if let Some(r) = sqlx::query(OVERLAPPING_STAY).bind(record.person_id).bind(&from).bind(&to).fetch_optional(&mut *tx).await? {
                let used = sqlx::query(USE_EXCEPTION).bind(&record.claim.claim_no).bind(record.person_id).bind(&record.facility_code).bind(&from).bind(&to).execute(&mut *tx).await?;
                if used.rows_affected() != 1 {
                    return Err(overlapping(r.try_get("claim_no")?, r.try_get("admission_date")?, r.try_get("discharge_date")?));
                }
            }
        }
        let (bill, after) = compute(&acc).map_err(StoreError::Refused)?;
        let row = claim_row(&record, &bill, &settled_by)?;
        // The same number settled at this moment for another person or year (whose lock this
        // one does not wait for) is caught by the key.
        bind_vals(sqlx::query(insert_claim_sql(self.backend)), &row)
            .execute(&mut *tx)
            .await
            .map_err(|e| if is_unique_violation(&e) { duplicate(&record.claim.claim_no) } else { e.into() })?;
        write_accumulators(&mut tx, record.person_id, year, &after).await?;
        let mut rollup = RollupDelta::default();
        rollup.add(record.region, record.person_id, &record.claim, &bill, 1);
        rollup.write(&mut tx, self.backend).await?;
        append_audit_in(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(bill)
    }

    /// The settled inpatient stay of the person that overlaps these dates, as the refusal a
    /// settlement would get (for the preview); `Ok` if none.
    pub async fn check_stay(&self, person_id: i64, facility_code: &str, visit: VisitType, admission: Date, discharge: Date) -> Result<()> {
        if visit != VisitType::Inpatient {
            return Ok(());
        }
        match sqlx::query(OVERLAPPING_STAY).bind(person_id).bind(date_text(admission)).bind(date_text(discharge)).fetch_optional(&self.pool).await? {
            Some(r) if !self.exception_waits(person_id, facility_code, admission, discharge).await? => {
                Err(overlapping(r.try_get("claim_no")?, r.try_get("admission_date")?, r.try_get("discharge_date")?))
            }
            _ => Ok(()),
        }
    }

    async fn exception_waits(&self, person_id: i64, facility_code: &str, admission: Date, discharge: Date) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM stay_exceptions WHERE person_id = $1 AND facility_code = $2 AND admission_date = $3 AND discharge_date = $4 AND used_by_claim IS NULL",
        )
        .bind(person_id)
        .bind(facility_code)
        .bind(date_text(admission))
        .bind(date_text(discharge))
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Lets one stay that overlaps a settled one be settled (at that facility, with those
    /// dates), with the reason; the audit entry says so.
    pub async fn approve_stay_exception(&self, e: &NewStayException, audit: &AuditEntry) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(&format!(
            "INSERT INTO stay_exceptions (person_id, facility_code, admission_date, discharge_date, reason, approved_by, approved_at, county_code) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, {}) RETURNING id",
            county::of_person_param(1)
        ))
        .bind(e.person_id)
        .bind(&e.facility_code)
        .bind(date_text(e.admission))
        .bind(date_text(e.discharge))
        .bind(&e.reason)
        .bind(&e.approved_by)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| if err.as_database_error().is_some_and(|d| d.is_foreign_key_violation()) { StoreError::Refused("人员或医疗机构不存在".into()) } else { err.into() })?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The exceptions let for persons inside `region`, newest first.
    pub async fn stay_exceptions(&self, region: RegionCode) -> Result<Vec<StayException>> {
        let rows = sqlx::query(
            "SELECT e.id, e.person_id, p.name, e.facility_code, e.admission_date, e.discharge_date, e.reason, e.approved_by, e.approved_at, e.used_by_claim \
             FROM stay_exceptions e JOIN persons p ON p.id = e.person_id JOIN households h ON h.household_no = p.household_no \
             WHERE h.region_code >= $1 AND h.region_code < $1 || ':' ORDER BY e.id DESC LIMIT 500",
        )
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StayException {
                    id: r.try_get("id")?,
                    stay: NewStayException {
                        person_id: r.try_get("person_id")?,
                        facility_code: r.try_get("facility_code")?,
                        admission: parse_date(&r.try_get::<String, _>("admission_date")?)?,
                        discharge: parse_date(&r.try_get::<String, _>("discharge_date")?)?,
                        reason: r.try_get("reason")?,
                        approved_by: r.try_get("approved_by")?,
                    },
                    person_name: r.try_get("name")?,
                    approved_at: r.try_get("approved_at")?,
                    used_by_claim: r.try_get("used_by_claim")?,
                })
            })
            .collect()
    }

    /// Reverses (冲销) a settled claim: its contribution leaves the accumulators exactly, the claim
    /// stays on record as reversed, with who, when and why.
    pub async fn reverse_claim(&self, claim_no: &str, reason: &str, reversed_by: &str, audit: &AuditEntry) -> Result<StoredClaim> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE claim_no = $1"))
            .bind(claim_no)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("claim {claim_no}")))?;
        let claim = claim_from_row(&row)?;
        let acc = lock_and_read(&mut tx, self.backend, claim.person_id, claim.bill.year, claim.region).await?;
        // Read the status again under the lock: a concurrent reversal may have won.
        let status: String = sqlx::query_scalar(CLAIM_STATUS).bind(claim_no).fetch_one(&mut *tx).await?;
        if status == "reversed" {
            return Err(StoreError::Refused(format!("结算单号 {claim_no} 已冲销")));
        }
        write_accumulators(&mut tx, claim.person_id, claim.bill.year, &huimin_policy::reverse(&claim.bill, &acc)).await?;
        let at = now();
        sqlx::query("UPDATE claims SET status = 'reversed', reversed_by = $1, reversed_at = $2, reversal_reason = $3 WHERE claim_no = $4")
            .bind(reversed_by)
            .bind(&at)
            .bind(reason)
            .bind(claim_no)
            .execute(&mut *tx)
            .await?;
        let mut rollup = RollupDelta::default();
        rollup.add(claim.region, claim.person_id, &claim.claim, &claim.bill, -1);
        rollup.write(&mut tx, self.backend).await?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(StoredClaim { status: ClaimStatus::Reversed, reversed_by: Some(reversed_by.into()), reversed_at: Some(at), reversal_reason: Some(reason.into()), ..claim })
    }

    pub async fn claim(&self, claim_no: &str) -> Result<Option<StoredClaim>> {
        let row = sqlx::query(&format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE claim_no = $1")).bind(claim_no).fetch_optional(&self.pool).await?;
        row.as_ref().map(claim_from_row).transpose()
    }

    /// The newest claims settled at a facility.
    pub async fn claims_at_facility(&self, facility_code: &str, limit: i64) -> Result<Vec<StoredClaim>> {
        Ok(self.claims_page(ClaimsOf::Facility(facility_code), limit, 0).await?.0)
    }

    /// The newest claims of persons inside `region`, settled or reversed.
    pub async fn claims_in_region(&self, region: RegionCode, limit: i64) -> Result<Vec<StoredClaim>> {
        Ok(self.claims_page(ClaimsOf::Region(region), limit, 0).await?.0)
    }

    /// A bill's verification code (printed with it, in its QR code): 16 hex digits over the
    /// claim number, the person, the amounts and the time of settlement, keyed with the audit key
    /// (without one, a plain digest, which proves less). The same bill always has the same code.
    pub fn bill_code(&self, c: &StoredClaim) -> String {
        let facts = format!("{}|{}|{}|{}|{}|{}", c.claim_no, c.person_id, c.bill.total.fen(), c.bill.funds_total.fen(), c.bill.patient_total.fen(), c.settled_at);
        let digest = match &self.audit_key {
            Some(k) => k.document_mac(&facts),
            None => {
                use sha2::Digest;
                sha2::Sha256::digest(facts.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
            }
        };
        digest[..16].to_ascii_uppercase()
    }

    /// The latest accumulator year (year of discharge) of a claim inside `region`.
    pub async fn last_claim_year(&self, region: RegionCode) -> Result<Option<i32>> {
        let y: Option<i64> = sqlx::query_scalar("SELECT MAX(year) FROM claims WHERE region_code >= $1 AND region_code < $1 || ':'").bind(within(region)).fetch_one(&self.pool).await?;
        Ok(y.and_then(|y| i32::try_from(y).ok()))
    }

    /// A page of claims, newest first, and how many there are.
    pub async fn claims_page(&self, of: ClaimsOf<'_>, limit: i64, offset: i64) -> Result<(Vec<StoredClaim>, i64)> {
        let (cond, arg) = match of {
            ClaimsOf::Facility(f) => ("facility_code = $1", f.to_string()),
            ClaimsOf::Region(r) => ("region_code >= $1 AND region_code < $1 || ':'", within(r)),
        };
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM claims WHERE {cond}")).bind(&arg).fetch_one(&self.pool).await?;
        let rows = sqlx::query(&format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE {cond} ORDER BY settled_at DESC, claim_no LIMIT $2 OFFSET $3"))
            .bind(&arg)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        Ok((rows.iter().map(claim_from_row).collect::<Result<_>>()?, total))
    }

    /// The claims of persons inside `region` discharged between the dates, settled or reversed,
    /// in the order they were settled.
    pub async fn claims_discharged(&self, region: RegionCode, from: Date, to: Date) -> Result<Vec<StoredClaim>> {
        let rows = sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM claims WHERE region_code >= $1 AND region_code < $1 || ':' \
             AND discharge_date >= $2 AND discharge_date <= $3 ORDER BY settled_at, claim_no"
        ))
        .bind(within(region))
        .bind(date_text(from))
        .bind(date_text(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(claim_from_row).collect()
    }

    /// A person's claims, settled or reversed, in the order they were settled.
    pub async fn claims_of_person(&self, person_id: i64) -> Result<Vec<StoredClaim>> {
        let rows = sqlx::query(&format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE person_id = $1 ORDER BY settled_at, claim_no"))
            .bind(person_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(claim_from_row).collect()
    }

    /// The accumulators of `year` of every person inside `region` who has any.
    pub async fn accumulators_in(&self, region: RegionCode, year: i32) -> Result<HashMap<i64, YearAccumulators>> {
        let rows = sqlx::query(
            "SELECT a.person_id, a.layers FROM accumulators a JOIN persons p ON p.id = a.person_id JOIN households h ON h.household_no = p.household_no \
             WHERE a.year = $1 AND a.layers <> '' AND h.region_code >= $2 AND h.region_code < $2 || ':'",
        )
        .bind(i64::from(year))
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("person_id")?, decode_accumulators(&r.try_get::<String, _>("layers")?)?))).collect()
    }

    /// Settled (not reversed) claims of persons inside `region` discharged between the dates, in
    /// the order they were settled.
    pub async fn settled_claims(&self, region: RegionCode, from: Date, to: Date) -> Result<Vec<StoredClaim>> {
        Ok(self.claims_discharged(region, from, to).await?.into_iter().filter(|c| c.status == ClaimStatus::Settled).collect())
    }

    /// Claims and compliant out-of-pocket spending (fen) of these persons discharged in the
    /// months `from` to `to` (`YYYY-MM`, both included), from `person_burden`.
    pub async fn burden_of(&self, persons: &[i64], from: &str, to: &str) -> Result<(i64, i64)> {
        let mut total = (0, 0);
        for p in persons {
            let row = sqlx::query("SELECT CAST(COALESCE(SUM(claims), 0) AS BIGINT) AS claims, CAST(COALESCE(SUM(compliant_oop), 0) AS BIGINT) AS oop FROM person_burden WHERE person_id = $1 AND month >= $2 AND month <= $3")
                .bind(p)
                .bind(from)
                .bind(to)
                .fetch_one(&self.pool)
                .await?;
            total.0 += row.try_get::<i64, _>("claims")?;
            total.1 += row.try_get::<i64, _>("oop")?;
        }
        Ok(total)
    }

    /// Every row of `person_burden` that is not zero, by person and month (for checks).
    pub async fn person_burdens(&self) -> Result<Vec<(i64, String, i64, i64)>> {
        let rows = sqlx::query("SELECT person_id, month, claims, compliant_oop FROM person_burden WHERE claims <> 0 OR compliant_oop <> 0 ORDER BY person_id, month").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("person_id")?, r.try_get("month")?, r.try_get("claims")?, r.try_get("compliant_oop")?))).collect()
    }
}
