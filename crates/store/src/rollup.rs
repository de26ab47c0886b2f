//! The claim rollup (`claim_rollup`): settled claims summed by the person's township, discharge
//! month and visit type, and the same one level up by county (`county_rollup`, what a city's or
//! the province's dashboard reads); and each person's burden (`person_burden`): their claims and compliant
//! out-of-pocket spending by discharge month, which the early warning of poverty through illness
//! sums over a household's members and the rules' window (docs/monitoring.md). Settling adds a
//! claim, reversing takes it away, always in the transaction that stores the claim, so both equal
//! a recomputation from the claims at every commit (tested in crates/app/tests/indicators.rs). A
//! batch sums its claims in memory and writes each key once.

use std::collections::HashMap;
use std::sync::LazyLock;

use huimin_domain::RegionCode;
use huimin_policy::{Bill, Claim, Fund};
use crate::tx::WriteTx;

use crate::{Backend, Result, county};
use crate::batch::{Val, insert_rows};
use crate::sqlite_writer;

/// The summed columns, in the order of the table: claims, total, in_policy, funds_total,
/// patient_total, the nine funds of `Fund::ALL`, over_ceiling.
pub(crate) const SUMMED: usize = 15;

const BURDEN_COLUMNS: [&str; 5] = ["person_id", "month", "claims", "compliant_oop", "county_code"];

/// The two rollups, by township and by county: table, and the columns (the key, month, visit
/// type, the summed columns, and the county code where the key is not it).
struct Rollup {
    table: &'static str,
    /// Digits of the region code in the key: 9 (township) or 6 (county).
    digits: u32,
    columns: Vec<&'static str>,
    /// Each summed column adds what the new row brings.
    conflict: String,
    /// The one-row statement the SQLite writer prepares.
    upsert: String,
}

impl Rollup {
    fn new(backend: Backend, table: &'static str, key: &'static str, digits: u32) -> Rollup {
        let mut columns = vec![
            key, "month", "visit_type", "claims", "total", "in_policy", "funds_total", "patient_total", "fund_310101", "fund_390101",
            "fund_390201", "fund_390401", "fund_610101", "fund_620101", "fund_630101", "fund_640101", "fund_999996", "over_ceiling",
        ];
        let sums: Vec<String> = columns[3..].iter().map(|c| format!("{c} = {table}.{c} + excluded.{c}")).collect();
        let target = if key == "county_code" {
            format!("ON CONFLICT ({key}, month, visit_type)")
        } else {
            columns.push("county_code");
            county::on_conflict(backend, &format!("{key}, month, visit_type"))
        };
        let conflict = format!("{target} DO UPDATE SET {}", sums.join(", "));
        let upsert = upsert_one(table, &columns, &conflict);
        Rollup { table, digits, columns, conflict, upsert }
    }
}

/// The statements of one backend (their conflict targets differ: crate::county).
struct Statements {
    townships: Rollup,
    counties: Rollup,
    burden_conflict: String,
    upsert_burden: String,
    /// PostgreSQL: the three upserts in one statement (writable CTEs), each table's rows one
    /// JSON parameter. A settlement holds its township's and county's rollup rows from this
    /// write to its commit, so every round trip saved here is one less that the county's
    /// settlements wait in turn.
    upsert_all_json: String,
}

impl Statements {
    fn new(backend: Backend) -> Statements {
        let townships = Rollup::new(backend, "claim_rollup", "township", 9);
        let counties = Rollup::new(backend, "county_rollup", "county_code", 6);
        let burden_conflict = county::on_conflict(backend, "person_id, month")
            + " DO UPDATE SET claims = person_burden.claims + excluded.claims, compliant_oop = person_burden.compliant_oop + excluded.compliant_oop";
        let upsert_burden = upsert_one("person_burden", &BURDEN_COLUMNS, &burden_conflict);
        let part = |table: &str, columns: &[&str], conflict: &str, n: usize| {
            let list = columns.join(", ");
            format!("INSERT INTO {table} ({list}) SELECT {list} FROM json_populate_recordset(NULL::{table}, ${n}::json) {conflict}")
        };
        let upsert_all_json = format!(
            "WITH townships AS ({}), counties AS ({}) {}",
            part(townships.table, &townships.columns, &townships.conflict, 1),
            part(counties.table, &counties.columns, &counties.conflict, 2),
            part("person_burden", &BURDEN_COLUMNS, &burden_conflict, 3)
        );
        Statements { townships, counties, burden_conflict, upsert_burden, upsert_all_json }
    }
}

fn statements(backend: Backend) -> &'static Statements {
    static SQLITE: LazyLock<Statements> = LazyLock::new(|| Statements::new(Backend::Sqlite));
    static POSTGRES: LazyLock<Statements> = LazyLock::new(|| Statements::new(Backend::Postgres));
    match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    }
}

fn upsert_one(table: &str, columns: &[&str], conflict: &str) -> String {
    format!("INSERT INTO {table} ({}) VALUES ({}) {conflict}", columns.join(", "), crate::batch::placeholders(crate::Backend::Postgres, 1, columns.len()))
}

/// Changes to the rollup, summed by key before they are written. The key is kept as numbers
/// (township = the code's first nine digits, year, month) and written as text only at the end:
/// a batch adds a million claims.
#[derive(Default)]
pub(crate) struct RollupDelta {
    sums: HashMap<(u64, i32, u32, &'static str), [i64; SUMMED]>,
    /// (person, year, month) → (claims, compliant out-of-pocket fen, the person's county).
    burden: HashMap<(i64, i32, u32), (i64, i64, u64)>,
}

impl RollupDelta {
    /// Adds (`sign` 1) or takes away (`sign` -1) a claim of `person` and its bill.
    pub(crate) fn add(&mut self, region: RegionCode, person: i64, claim: &Claim, bill: &Bill, sign: i64) {
        use chrono::Datelike;
        let b = self.burden.entry((person, claim.discharge.year(), claim.discharge.month())).or_insert((0, 0, county::number(region)));
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

    /// The rows of a rollup: by township, or summed by county (the first six of its nine digits).
    fn rows(&self, rollup: &Rollup) -> Vec<Vec<Val<'_>>> {
        let mut sums: HashMap<(u64, i32, u32, &'static str), [i64; SUMMED]> = HashMap::new();
        for ((township, year, month, visit), s) in &self.sums {
            let t = sums.entry((township / 10u64.pow(9 - rollup.digits), *year, *month, *visit)).or_insert([0; SUMMED]);
            t.iter_mut().zip(s).for_each(|(t, s)| *t += s);
        }
        let digits = rollup.digits as usize;
        sums.into_iter()
            .map(|((region, year, month, visit), s)| {
                let mut row = vec![Val::from(format!("{region:0digits$}")), Val::from(format!("{year:04}-{month:02}")), Val::from(visit)];
                row.extend(s.iter().map(|v| Val::from(*v)));
                // A township's row also names its county (the county rollup's key is the county).
                if rollup.digits > 6 {
                    row.push(Val::from(format!("{:06}", region / 10u64.pow(rollup.digits - 6))));
                }
                row
            })
            .collect()
    }

    fn burden_rows(&self) -> impl Iterator<Item = Vec<Val<'_>>> {
        self.burden.iter().map(|((person, year, month), (claims, oop, county))| {
            vec![Val::from(*person), Val::from(format!("{year:04}-{month:02}")), Val::from(*claims), Val::from(*oop), Val::from(format!("{county:06}"))]
        })
    }

    pub(crate) fn write_sqlite(&self, conn: &rusqlite::Connection) -> Result<()> {
        let st = statements(Backend::Sqlite);
        for rollup in [&st.townships, &st.counties] {
            for row in self.rows(rollup) {
                sqlite_writer::execute_row(conn, &rollup.upsert, &row)?;
            }
        }
        for row in self.burden_rows() {
            sqlite_writer::execute_row(conn, &st.upsert_burden, &row)?;
        }
        Ok(())
    }

    /// Writes the sums as multi-row upserts (one statement for a settlement's one row each, a
    /// few for a batch's).
    pub(crate) async fn write(&self, tx: &mut WriteTx, backend: crate::Backend) -> Result<()> {
        let st = statements(backend);
        let (townships, counties) = (self.rows(&st.townships), self.rows(&st.counties));
        if backend == crate::Backend::Postgres && townships.len().max(self.burden.len()) <= crate::batch::JSON_ROWS {
            let burden: Vec<Vec<Val>> = self.burden_rows().collect();
            sqlx::query(&st.upsert_all_json)
                .bind(crate::batch::json_rows(&st.townships.columns, &townships))
                .bind(crate::batch::json_rows(&st.counties.columns, &counties))
                .bind(crate::batch::json_rows(&BURDEN_COLUMNS, &burden))
                .execute(&mut **tx)
                .await?;
            return Ok(());
        }
        insert_rows(tx, backend, st.townships.table, &st.townships.columns, &st.townships.conflict, townships).await?;
        insert_rows(tx, backend, st.counties.table, &st.counties.columns, &st.counties.conflict, counties).await?;
        insert_rows(tx, backend, "person_burden", &BURDEN_COLUMNS, &st.burden_conflict, self.burden_rows().collect()).await?;
        Ok(())
    }
}

/// Writes the burden of every settled claim (the migration that creates `person_burden`).
pub(crate) async fn burden_of_settled_claims(tx: &mut WriteTx, backend: crate::Backend) -> Result<()> {
    let rows = sqlx::query(&format!("SELECT {} FROM claims WHERE status = 'settled'", crate::settlement::CLAIM_COLUMNS)).fetch_all(&mut **tx).await?;
    let mut burden: HashMap<(i64, String), (i64, i64)> = HashMap::new();
    for row in &rows {
        let c = crate::settlement::claim_from_row(row)?;
        let b = burden.entry((c.person_id, c.claim.discharge.format("%Y-%m").to_string())).or_insert((0, 0));
        b.0 += 1;
        b.1 += huimin_policy::compliant_out_of_pocket(&c.bill).fen();
    }
    // The table as migration 17 made it: its county code comes with migration 22.
    let rows = burden.into_iter().map(|((person, month), (claims, oop))| vec![Val::from(person), Val::from(month), Val::from(claims), Val::from(oop)]).collect();
    insert_rows(tx, backend, "person_burden", &["person_id", "month", "claims", "compliant_oop"], "", rows).await?;
    Ok(())
}
