//! Policies in use, settled claims, and the yearly accumulators they move.
//!
//! A settlement and a reversal first update the person's `person_years` row: on PostgreSQL that
//! takes the row lock, on SQLite the database's write lock, so two settlements of one person can
//! never read the same accumulators and together pass a cap.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use huimin_domain::{Date, Money, RegionCode};
use huimin_policy::{Bill, Claim, Policy, YearAccumulators};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::access::append_audit_in;
use crate::batch::{Val, insert_rows};
use crate::{AuditEntry, Backend, Result, Store, StoreError, now, sqlite_writer};

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    Settled,
    Reversed,
}

#[derive(Debug, Clone, Serialize)]
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

fn date_text(d: Date) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn parse_date(s: &str) -> Result<Date> {
    Date::parse_from_str(s, "%Y-%m-%d").map_err(|e| corrupt("date", e))
}

fn money(fen: i64) -> Result<Money> {
    Money::from_fen(fen).map_err(|e| corrupt("amount", e))
}

// The statements of a settlement, shared by the sqlx path (PostgreSQL) and the SQLite writer.
const LOCK_PERSON_YEAR: &str = "INSERT INTO person_years (person_id, year, version) VALUES ($1, $2, 0) \
     ON CONFLICT (person_id, year) DO UPDATE SET version = person_years.version + 1";
const CLAIM_STATUS: &str = "SELECT status FROM claims WHERE claim_no = $1";
const READ_ACCUMULATORS: &str = "SELECT layer_id, base, paid FROM accumulators WHERE person_id = $1 AND year = $2";
const DELETE_ACCUMULATORS: &str = "DELETE FROM accumulators WHERE person_id = $1 AND year = $2";
const ACCUMULATOR_COLUMNS: [&str; 5] = ["person_id", "year", "layer_id", "base", "paid"];
const LINE_COLUMNS: [&str; 8] = ["claim_no", "layer_id", "fund", "paid_p", "paid_b", "paid_n", "paid_o", "total"];
const INSERT_CLAIM: &str = "INSERT INTO claims (claim_no, person_id, facility_code, region_code, policy_id, year, category, visit_type, \
     facility_level, in_county, admission_date, discharge_date, disease_codes, cat_a, cat_b, out_of_catalogue, necessary, \
     total, in_policy, funds_total, patient_total, bill, status, settled_by, settled_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, 'settled', $23, $24)";

fn single_row_insert(table: &str, columns: &[&str]) -> String {
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!("INSERT INTO {table} ({}) VALUES ({})", columns.join(", "), placeholders.join(", "))
}

/// What settling a claim writes, as values: computed once, written by either path.
struct Writes {
    claim: Vec<Val<'static>>,
    lines: Vec<Vec<Val<'static>>>,
    accumulators: Vec<Vec<Val<'static>>>,
}

fn plan_writes(record: &ClaimRecord, bill: &Bill, after: &YearAccumulators, settled_by: &str) -> Result<Writes> {
    let (claim, lines) = claim_writes(record, bill, settled_by)?;
    let year = i64::from(chrono::Datelike::year(&record.claim.discharge));
    Ok(Writes { claim, lines, accumulators: accumulator_rows(record.person_id, year, after) })
}

type Values = Vec<Val<'static>>;

/// The claim's row and its lines' rows.
fn claim_writes(record: &ClaimRecord, bill: &Bill, settled_by: &str) -> Result<(Values, Vec<Values>)> {
    let c = &record.claim;
    let year = i64::from(chrono::Datelike::year(&c.discharge));
    let bill_json = serde_json::to_string(bill).map_err(|e| corrupt("bill", e))?;
    let claim = vec![
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
        bill_json.into(),
        settled_by.to_string().into(),
        now().into(),
    ];
    let lines = bill
        .lines
        .iter()
        .map(|l| {
            let mut row = vec![Val::from(c.claim_no.clone()), l.layer_id.to_string().into(), l.fund.code().to_string().into()];
            row.extend(l.paid.iter().map(|m| Val::from(m.fen())));
            row.push(l.total.fen().into());
            row
        })
        .collect();
    Ok((claim, lines))
}

fn accumulator_rows(person_id: i64, year: i64, acc: &YearAccumulators) -> Vec<Vec<Val<'static>>> {
    acc.layers
        .iter()
        .map(|(layer, v)| vec![Val::from(person_id), year.into(), layer.to_string().into(), v.base.fen().into(), v.paid.fen().into()])
        .collect()
}

fn bind_vals<'q>(mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>, vals: &'q [Val<'q>]) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
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

async fn lock_person_year(tx: &mut Transaction<'static, Any>, person_id: i64, year: i32) -> Result<()> {
    sqlx::query(LOCK_PERSON_YEAR)
    .bind(person_id)
    .bind(i64::from(year))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn read_accumulators(tx: &mut Transaction<'static, Any>, person_id: i64, year: i32) -> Result<YearAccumulators> {
    let rows = sqlx::query(READ_ACCUMULATORS)
        .bind(person_id)
        .bind(i64::from(year))
        .fetch_all(&mut **tx)
        .await?;
    let mut acc = YearAccumulators::default();
    for r in &rows {
        let layer: String = r.try_get("layer_id")?;
        acc.set(&layer.into(), huimin_policy::LayerYear { base: money(r.try_get("base")?)?, paid: money(r.try_get("paid")?)? });
    }
    Ok(acc)
}

async fn write_accumulators(tx: &mut Transaction<'static, Any>, backend: Backend, person_id: i64, year: i32, acc: &YearAccumulators) -> Result<()> {
    sqlx::query(DELETE_ACCUMULATORS)
        .bind(person_id)
        .bind(i64::from(year))
        .execute(&mut **tx)
        .await?;
    insert_rows(tx, backend, "accumulators", &ACCUMULATOR_COLUMNS, "", accumulator_rows(person_id, i64::from(year), acc)).await?;
    Ok(())
}

const CLAIM_COLUMNS: &str = "claim_no, person_id, facility_code, region_code, policy_id, status, bill, category, visit_type, \
     facility_level, in_county, admission_date, discharge_date, disease_codes, cat_a, cat_b, out_of_catalogue, necessary, \
     settled_by, settled_at, reversed_by, reversed_at, reversal_reason";

fn claim_from_row(r: &AnyRow) -> Result<StoredClaim> {
    let status: String = r.try_get("status")?;
    let bill: String = r.try_get("bill")?;
    let category: String = r.try_get("category")?;
    let visit: String = r.try_get("visit_type")?;
    let codes: String = r.try_get("disease_codes")?;
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
        policy_id: r.try_get("policy_id")?,
        status: if status == "reversed" { ClaimStatus::Reversed } else { ClaimStatus::Settled },
        bill: serde_json::from_str(&bill).map_err(|e| corrupt("bill", e))?,
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

/// The result of settling a batch: how many were settled, and each refused claim with the reason.
#[derive(Debug, Default, Serialize)]
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
    /// Settles many claims in order, each under its policy: a claim that is refused (its number
    /// already used, the engine's refusal) is reported and the others go on. On SQLite the batch
    /// is one transaction on the writer thread; on PostgreSQL each claim is its own.
    pub async fn settle_batch(&self, items: Vec<(ClaimRecord, Arc<Policy>)>, settled_by: &str, audit: &AuditEntry) -> Result<BatchOutcome> {
        let settled_by = settled_by.to_string();
        let mut audit = audit.clone();
        let Some(writer) = &self.writer else {
            let mut out = BatchOutcome::default();
            for (record, policy) in items {
                let claim_no = record.claim.claim_no.clone();
                let claim = record.claim.clone();
                match self.settle_claim(record, move |acc| huimin_policy::settle(&policy, &claim, acc).map_err(|e| e.to_string()), &settled_by, &audit).await {
                    Ok(bill) => out.add(&bill),
                    Err(StoreError::Refused(m) | StoreError::Conflict(m)) => out.refused.push((claim_no, m)),
                    Err(e) => return Err(e),
                }
            }
            return Ok(out);
        };
        writer
            .run(move |conn| {
                let e = sqlite_writer::db_err;
                let mut out = BatchOutcome::default();
                let mut accs: HashMap<(i64, i32), YearAccumulators> = HashMap::new();
                let mut seen: HashSet<String> = HashSet::new();
                let insert_line = single_row_insert("claim_lines", &LINE_COLUMNS);
                for (record, policy) in &items {
                    let c = &record.claim;
                    let duplicate = !seen.insert(c.claim_no.clone())
                        || conn.prepare_cached(CLAIM_STATUS).map_err(e)?.exists([&c.claim_no]).map_err(e)?;
                    if duplicate {
                        out.refused.push((c.claim_no.clone(), format!("结算单号 {} 已结算过，不能重复结算", c.claim_no)));
                        continue;
                    }
                    let key = (record.person_id, chrono::Datelike::year(&c.discharge));
                    if !accs.contains_key(&key) {
                        conn.prepare_cached(LOCK_PERSON_YEAR).map_err(e)?.execute(rusqlite::params![key.0, key.1]).map_err(e)?;
                        let mut acc = YearAccumulators::default();
                        let mut stmt = conn.prepare_cached(READ_ACCUMULATORS).map_err(e)?;
                        let mut rows = stmt.query(rusqlite::params![key.0, key.1]).map_err(e)?;
                        while let Some(r) = rows.next().map_err(e)? {
                            let layer: String = r.get(0).map_err(e)?;
                            acc.set(&layer.into(), huimin_policy::LayerYear { base: money(r.get(1).map_err(e)?)?, paid: money(r.get(2).map_err(e)?)? });
                        }
                        accs.insert(key, acc);
                    }
                    let acc = accs.get_mut(&key).expect("inserted");
                    match huimin_policy::settle_into(policy, c, acc) {
                        Err(why) => out.refused.push((c.claim_no.clone(), why.to_string())),
                        Ok(bill) => {
                            let (claim, lines) = claim_writes(record, &bill, &settled_by)?;
                            sqlite_writer::execute_rows(conn, INSERT_CLAIM, std::slice::from_ref(&claim))?;
                            sqlite_writer::execute_rows(conn, &insert_line, &lines)?;
                            out.add(&bill);
                        }
                    }
                }
                let insert_acc = single_row_insert("accumulators", &ACCUMULATOR_COLUMNS);
                for ((person, year), acc) in &accs {
                    conn.prepare_cached(DELETE_ACCUMULATORS).map_err(e)?.execute(rusqlite::params![person, year]).map_err(e)?;
                    sqlite_writer::execute_rows(conn, &insert_acc, &accumulator_rows(*person, i64::from(*year), acc))?;
                }
                audit.detail = format!("batch: {} settled, {} refused", out.settled, out.refused.len());
                sqlite_writer::append_audit(conn, &audit)?;
                Ok(out)
            })
            .await
    }

    /// Stores (or replaces) a policy file; a policy that has settled claims keeps its numbers:
    /// replacing it is refused, load the change under a new id.
    pub async fn save_policy(&self, p: &StoredPolicy, audit: &AuditEntry) -> Result<()> {
        let _gate = self.write_gate().await;
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
        let acc = read_accumulators(&mut tx, person_id, year).await?;
        tx.rollback().await?;
        Ok(acc)
    }

    /// Settles a claim: under the person's lock, reads their accumulators, lets `compute` run the
    /// engine on them, and stores the bill, its lines, the new accumulators and the audit entry in
    /// one transaction. A claim number already used is refused.
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
        let duplicate = |no: &str| StoreError::Conflict(format!("结算单号 {no} 已结算过，不能重复结算"));
        if let Some(writer) = &self.writer {
            return writer
                .run(move |conn| {
                    let person = record.person_id;
                    let e = sqlite_writer::db_err;
                    conn.prepare_cached(LOCK_PERSON_YEAR).map_err(e)?.execute(rusqlite::params![person, year]).map_err(e)?;
                    if conn.prepare_cached(CLAIM_STATUS).map_err(e)?.exists([&record.claim.claim_no]).map_err(e)? {
                        return Err(duplicate(&record.claim.claim_no));
                    }
                    let mut acc = YearAccumulators::default();
                    let mut stmt = conn.prepare_cached(READ_ACCUMULATORS).map_err(e)?;
                    let mut rows = stmt.query(rusqlite::params![person, year]).map_err(e)?;
                    while let Some(r) = rows.next().map_err(e)? {
                        let layer: String = r.get(0).map_err(e)?;
                        acc.set(&layer.into(), huimin_policy::LayerYear { base: money(r.get(1).map_err(e)?)?, paid: money(r.get(2).map_err(e)?)? });
                    }
                    drop(rows);
                    drop(stmt);
                    let (bill, after) = compute(&acc).map_err(StoreError::Refused)?;
                    let w = plan_writes(&record, &bill, &after, &settled_by)?;
                    sqlite_writer::execute_rows(conn, INSERT_CLAIM, std::slice::from_ref(&w.claim))?;
                    sqlite_writer::execute_rows(conn, &single_row_insert("claim_lines", &LINE_COLUMNS), &w.lines)?;
                    conn.prepare_cached(DELETE_ACCUMULATORS).map_err(e)?.execute(rusqlite::params![person, year]).map_err(e)?;
                    sqlite_writer::execute_rows(conn, &single_row_insert("accumulators", &ACCUMULATOR_COLUMNS), &w.accumulators)?;
                    sqlite_writer::append_audit(conn, &audit)?;
                    Ok(bill)
                })
                .await;
        }
        let _gate = self.write_gate().await;
        let mut tx = self.pool.begin().await?;
        lock_person_year(&mut tx, record.person_id, year).await?;
        let taken: Option<String> = sqlx::query_scalar(CLAIM_STATUS).bind(&record.claim.claim_no).fetch_optional(&mut *tx).await?;
        if taken.is_some() {
            return Err(duplicate(&record.claim.claim_no));
        }
        let acc = read_accumulators(&mut tx, record.person_id, year).await?;
        let (bill, after) = compute(&acc).map_err(StoreError::Refused)?;
        let w = plan_writes(&record, &bill, &after, &settled_by)?;
        bind_vals(sqlx::query(INSERT_CLAIM), &w.claim).execute(&mut *tx).await?;
        insert_rows(&mut tx, self.backend, "claim_lines", &LINE_COLUMNS, "", w.lines).await?;
        write_accumulators(&mut tx, self.backend, record.person_id, year, &after).await?;
        append_audit_in(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(bill)
    }

    /// Reverses (冲销) a settled claim: its contribution leaves the accumulators exactly, the claim
    /// stays on record as reversed, with who, when and why.
    pub async fn reverse_claim(&self, claim_no: &str, reason: &str, reversed_by: &str, audit: &AuditEntry) -> Result<StoredClaim> {
        let _gate = self.write_gate().await;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE claim_no = $1"))
            .bind(claim_no)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("claim {claim_no}")))?;
        let claim = claim_from_row(&row)?;
        lock_person_year(&mut tx, claim.person_id, claim.bill.year).await?;
        // Read the status again under the lock: a concurrent reversal may have won.
        let status: String = sqlx::query_scalar("SELECT status FROM claims WHERE claim_no = $1").bind(claim_no).fetch_one(&mut *tx).await?;
        if status == "reversed" {
            return Err(StoreError::Refused(format!("结算单号 {claim_no} 已冲销")));
        }
        let acc = read_accumulators(&mut tx, claim.person_id, claim.bill.year).await?;
        write_accumulators(&mut tx, self.backend, claim.person_id, claim.bill.year, &huimin_policy::reverse(&claim.bill, &acc)).await?;
        let at = now();
        sqlx::query("UPDATE claims SET status = 'reversed', reversed_by = $1, reversed_at = $2, reversal_reason = $3 WHERE claim_no = $4")
            .bind(reversed_by)
            .bind(&at)
            .bind(reason)
            .bind(claim_no)
            .execute(&mut *tx)
            .await?;
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
        let rows = sqlx::query(&format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE facility_code = $1 ORDER BY settled_at DESC LIMIT $2"))
            .bind(facility_code)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(claim_from_row).collect()
    }

    /// The newest claims of persons inside `region`, settled or reversed.
    pub async fn claims_in_region(&self, region: RegionCode, limit: i64) -> Result<Vec<StoredClaim>> {
        let rows = sqlx::query(&format!("SELECT {CLAIM_COLUMNS} FROM claims WHERE region_code LIKE $1 ORDER BY settled_at DESC LIMIT $2"))
            .bind(format!("{}%", region.prefix()))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(claim_from_row).collect()
    }

    /// Settled (not reversed) claims of persons inside `region` discharged between the dates, in
    /// the order they were settled.
    pub async fn settled_claims(&self, region: RegionCode, from: Date, to: Date) -> Result<Vec<StoredClaim>> {
        let rows = sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM claims WHERE status = 'settled' AND region_code LIKE $1 \
             AND discharge_date >= $2 AND discharge_date <= $3 ORDER BY settled_at, claim_no"
        ))
        .bind(format!("{}%", region.prefix()))
        .bind(date_text(from))
        .bind(date_text(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(claim_from_row).collect()
    }
}
