//! The claim rollup (`claim_rollup`): settled claims summed by the person's township, discharge
//! month and visit type; and each person's burden (`person_burden`): their claims and compliant
//! out-of-pocket spending by discharge month, which the early warning of poverty through illness
//! sums over a household's members and the rules' window (docs/monitoring.md). Settling adds a
//! claim, reversing takes it away, always in the transaction that stores the claim, so both equal
//! a recomputation from the claims at every commit (tested in crates/app/tests/indicators.rs). A
//! batch sums its claims in memory and writes each key once.

use std::collections::HashMap;

use huimin_domain::RegionCode;
use huimin_policy::{Bill, Claim, Fund};
use crate::tx::WriteTx;

use crate::Result;
use crate::batch::Val;
use crate::sqlite_writer;

/// The summed columns, in the order of the table: claims, total, in_policy, funds_total,
/// patient_total, the nine funds of `Fund::ALL`, over_ceiling.
pub(crate) const SUMMED: usize = 15;

const UPSERT_BURDEN: &str = "INSERT INTO person_burden (person_id, month, claims, compliant_oop) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (person_id, month) DO UPDATE SET claims = person_burden.claims + excluded.claims, \
     compliant_oop = person_burden.compliant_oop + excluded.compliant_oop";

const UPSERT: &str = "INSERT INTO claim_rollup (township, month, visit_type, claims, total, in_policy, funds_total, patient_total, \
     fund_310101, fund_390101, fund_390201, fund_390401, fund_610101, fund_620101, fund_630101, fund_640101, fund_999996, over_ceiling) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
     ON CONFLICT (township, month, visit_type) DO UPDATE SET claims = claim_rollup.claims + excluded.claims, \
     total = claim_rollup.total + excluded.total, in_policy = claim_rollup.in_policy + excluded.in_policy, \
     funds_total = claim_rollup.funds_total + excluded.funds_total, patient_total = claim_rollup.patient_total + excluded.patient_total, \
     fund_310101 = claim_rollup.fund_310101 + excluded.fund_310101, fund_390101 = claim_rollup.fund_390101 + excluded.fund_390101, \
     fund_390201 = claim_rollup.fund_390201 + excluded.fund_390201, fund_390401 = claim_rollup.fund_390401 + excluded.fund_390401, \
     fund_610101 = claim_rollup.fund_610101 + excluded.fund_610101, fund_620101 = claim_rollup.fund_620101 + excluded.fund_620101, \
     fund_630101 = claim_rollup.fund_630101 + excluded.fund_630101, fund_640101 = claim_rollup.fund_640101 + excluded.fund_640101, \
     fund_999996 = claim_rollup.fund_999996 + excluded.fund_999996, over_ceiling = claim_rollup.over_ceiling + excluded.over_ceiling";

/// Changes to the rollup, summed by key before they are written. The key is kept as numbers
/// (township = the code's first nine digits, year, month) and written as text only at the end:
/// a batch adds a million claims.
#[derive(Default)]
pub(crate) struct RollupDelta {
    sums: HashMap<(u64, i32, u32, &'static str), [i64; SUMMED]>,
    /// (person, year, month) → (claims, compliant out-of-pocket fen).
    burden: HashMap<(i64, i32, u32), (i64, i64)>,
}

impl RollupDelta {
    /// Adds (`sign` 1) or takes away (`sign` -1) a claim of `person` and its bill.
    pub(crate) fn add(&mut self, region: RegionCode, person: i64, claim: &Claim, bill: &Bill, sign: i64) {
        use chrono::Datelike;
        let b = self.burden.entry((person, claim.discharge.year(), claim.discharge.month())).or_insert((0, 0));
        b.0 += sign;
        b.1 += sign * huimin_policy::compliant_out_of_pocket(bill).fen();
        let key = (region.as_u64() / 1000, claim.discharge.year(), claim.discharge.month(), claim.visit.code());
        let s = self.sums.entry(key).or_insert([0; SUMMED]);
        let patient = bill.patient_total.fen();
        let total = bill.total.fen();
        s[0] += sign;
        s[1] += sign * total;
        s[2] += sign * bill.buckets[0].fen();
        s[3] += sign * bill.funds_total.fen();
        s[4] += sign * patient;
        for (i, fund) in Fund::ALL.iter().enumerate() {
            s[5 + i] += sign * bill.lines.iter().filter(|l| l.fund == *fund).map(|l| l.total.fen()).sum::<i64>();
        }
        s[SUMMED - 1] += sign * i64::from(patient * 10 > total);
    }

    fn rows(&self) -> impl Iterator<Item = Vec<Val<'_>>> {
        self.sums.iter().map(|((township, year, month, visit), s)| {
            let mut row = vec![Val::from(format!("{township:09}")), Val::from(format!("{year:04}-{month:02}")), Val::from(*visit)];
            row.extend(s.iter().map(|v| Val::from(*v)));
            row
        })
    }

    fn burden_rows(&self) -> impl Iterator<Item = Vec<Val<'_>>> {
        self.burden.iter().map(|((person, year, month), (claims, oop))| vec![Val::from(*person), Val::from(format!("{year:04}-{month:02}")), Val::from(*claims), Val::from(*oop)])
    }

    pub(crate) fn write_sqlite(&self, conn: &rusqlite::Connection) -> Result<()> {
        for row in self.rows() {
            sqlite_writer::execute_row(conn, UPSERT, &row)?;
        }
        for row in self.burden_rows() {
            sqlite_writer::execute_row(conn, UPSERT_BURDEN, &row)?;
        }
        Ok(())
    }

    pub(crate) async fn write(&self, tx: &mut WriteTx) -> Result<()> {
        for row in self.rows() {
            crate::settlement::bind_vals(sqlx::query(UPSERT), &row).execute(&mut **tx).await?;
        }
        for row in self.burden_rows() {
            crate::settlement::bind_vals(sqlx::query(UPSERT_BURDEN), &row).execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// Writes the burden of every settled claim (the migration that creates `person_burden`).
pub(crate) async fn burden_of_settled_claims(tx: &mut WriteTx) -> Result<()> {
    let rows = sqlx::query(&format!("SELECT {} FROM claims WHERE status = 'settled'", crate::settlement::CLAIM_COLUMNS)).fetch_all(&mut **tx).await?;
    let mut delta = RollupDelta::default();
    for row in &rows {
        let c = crate::settlement::claim_from_row(row)?;
        let b = delta.burden.entry((c.person_id, chrono::Datelike::year(&c.claim.discharge), chrono::Datelike::month(&c.claim.discharge))).or_insert((0, 0));
        b.0 += 1;
        b.1 += huimin_policy::compliant_out_of_pocket(&c.bill).fen();
    }
    for row in delta.burden_rows() {
        crate::settlement::bind_vals(sqlx::query(UPSERT_BURDEN), &row).execute(&mut **tx).await?;
    }
    Ok(())
}
