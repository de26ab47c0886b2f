//! The figures supervisors read: sums of settled claims by region, month and fund, the claims
//! behind them, fund reconciliation (对账), and targets.
//!
//! Regions are selected as a range of codes (`code >= prefix AND code < prefix || ':'`, ':' sorts
//! after the digits) so that the claims' (region_code, discharge_date) index serves the query on
//! both backends; LIKE does not use an index on SQLite.

use huimin_domain::{Period, RegionCode};
use huimin_policy::Fund;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::access::append_audit_in;
use crate::registry::{corrupt, date_text, fk_message};
use crate::{AuditEntry, Result, Store, now};

/// The codes inside a region as a half-open range of text.
pub(crate) fn region_range(region: RegionCode) -> (String, String) {
    let p = region.prefix();
    (p.clone(), format!("{p}:"))
}

/// Sums over settled (not reversed) claims; amounts in fen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClaimSums {
    pub claims: i64,
    pub persons: i64,
    pub total: i64,
    /// The policy-range bucket P (政策范围内).
    pub in_policy: i64,
    pub funds_total: i64,
    pub patient_total: i64,
    /// What each fund paid, in the order of `Fund::ALL`.
    pub funds: [i64; 9],
    /// Claims whose patient's share is above 10% of the total (seed 001: 个人自付比例控制在10%以内).
    pub over_ceiling: i64,
}

impl ClaimSums {
    pub fn fund(&self, fund: Fund) -> i64 {
        Fund::ALL.iter().position(|f| *f == fund).map_or(0, |i| self.funds[i])
    }
}

const SUMS: &str = "COUNT(*) AS claims, COUNT(DISTINCT person_id) AS persons, \
     CAST(COALESCE(SUM(total), 0) AS BIGINT) AS total, CAST(COALESCE(SUM(in_policy), 0) AS BIGINT) AS in_policy, \
     CAST(COALESCE(SUM(funds_total), 0) AS BIGINT) AS funds_total, CAST(COALESCE(SUM(patient_total), 0) AS BIGINT) AS patient_total, \
     CAST(COALESCE(SUM(fund_310101), 0) AS BIGINT) AS f0, CAST(COALESCE(SUM(fund_390101), 0) AS BIGINT) AS f1, \
     CAST(COALESCE(SUM(fund_390201), 0) AS BIGINT) AS f2, CAST(COALESCE(SUM(fund_390401), 0) AS BIGINT) AS f3, \
     CAST(COALESCE(SUM(fund_610101), 0) AS BIGINT) AS f4, CAST(COALESCE(SUM(fund_620101), 0) AS BIGINT) AS f5, \
     CAST(COALESCE(SUM(fund_630101), 0) AS BIGINT) AS f6, CAST(COALESCE(SUM(fund_640101), 0) AS BIGINT) AS f7, \
     CAST(COALESCE(SUM(fund_999996), 0) AS BIGINT) AS f8, \
     CAST(COALESCE(SUM(CASE WHEN patient_total * 10 > total THEN 1 ELSE 0 END), 0) AS BIGINT) AS over_ceiling";

fn sums_from_row(r: &AnyRow) -> Result<ClaimSums> {
    let mut funds = [0; 9];
    for (i, f) in funds.iter_mut().enumerate() {
        *f = r.try_get(format!("f{i}").as_str())?;
    }
    Ok(ClaimSums {
        claims: r.try_get("claims")?,
        persons: r.try_get("persons")?,
        total: r.try_get("total")?,
        in_policy: r.try_get("in_policy")?,
        funds_total: r.try_get("funds_total")?,
        patient_total: r.try_get("patient_total")?,
        funds,
        over_ceiling: r.try_get("over_ceiling")?,
    })
}

/// A claim behind a figure.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimLine {
    pub claim_no: String,
    pub person_id: i64,
    pub person_name: String,
    pub facility_code: String,
    pub discharge: String,
    pub total: i64,
    pub funds_total: i64,
    pub patient_total: i64,
    /// The amount of the fund asked about (reconciliation), else 0.
    pub fund_amount: i64,
}

/// What one fund owes one hospital for a month.
#[derive(Debug, Clone, Serialize)]
pub struct Owed {
    pub facility_code: String,
    pub facility_name: String,
    pub claims: i64,
    pub amount: i64,
}

/// A target of an indicator for a region.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub region: RegionCode,
    pub indicator: String,
    pub value_ppm: i64,
    pub at_most: bool,
    pub source: String,
}

fn fund_column(fund: Fund) -> String {
    format!("fund_{}", fund.code())
}

impl Store {
    /// Sums of the settled claims of persons inside `region` discharged in the period;
    /// `visit` narrows to one visit type (`inpatient`, `outpatient_chronic`…).
    pub async fn claim_sums(&self, region: RegionCode, period: Period, visit: Option<&str>) -> Result<ClaimSums> {
        let (lo, hi) = region_range(region);
        let row = sqlx::query(&format!(
            "SELECT {SUMS} FROM claims WHERE status = 'settled' AND region_code >= $1 AND region_code < $2 \
             AND discharge_date >= $3 AND discharge_date <= $4 AND ($5 = '' OR visit_type = $5)"
        ))
        .bind(lo)
        .bind(hi)
        .bind(date_text(period.from))
        .bind(date_text(period.to))
        .bind(visit.unwrap_or(""))
        .fetch_one(&self.pool)
        .await?;
        sums_from_row(&row)
    }

    /// The same sums grouped by discharge month (`YYYY-MM`) or by child region (the code prefix
    /// of `width` digits).
    pub async fn claim_sums_by(&self, region: RegionCode, period: Period, by: SumsBy) -> Result<Vec<(String, ClaimSums)>> {
        let (lo, hi) = region_range(region);
        let key = match by {
            SumsBy::Month => "SUBSTR(discharge_date, 1, 7)".to_string(),
            SumsBy::Region(width) => format!("SUBSTR(region_code, 1, {})", width.clamp(2, 12)),
        };
        let rows = sqlx::query(&format!(
            "SELECT {key} AS k, {SUMS} FROM claims WHERE status = 'settled' AND region_code >= $1 AND region_code < $2 \
             AND discharge_date >= $3 AND discharge_date <= $4 GROUP BY {key} ORDER BY {key}"
        ))
        .bind(lo)
        .bind(hi)
        .bind(date_text(period.from))
        .bind(date_text(period.to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("k")?, sums_from_row(r)?))).collect()
    }

    /// Settled claims of the period whose patient paid more than 10% of the total, highest share first.
    pub async fn claims_over_ceiling(&self, region: RegionCode, period: Period, limit: i64) -> Result<Vec<ClaimLine>> {
        let (lo, hi) = region_range(region);
        let rows = sqlx::query(
            "SELECT c.claim_no, c.person_id, p.name AS person_name, c.facility_code, c.discharge_date, c.total, c.funds_total, \
             c.patient_total, CAST(0 AS BIGINT) AS fund_amount FROM claims c JOIN persons p ON p.id = c.person_id \
             WHERE c.status = 'settled' AND c.region_code >= $1 AND c.region_code < $2 AND c.discharge_date >= $3 \
             AND c.discharge_date <= $4 AND c.patient_total * 10 > c.total \
             ORDER BY CAST(c.patient_total AS DOUBLE PRECISION) / c.total DESC, c.claim_no LIMIT $5",
        )
        .bind(lo)
        .bind(hi)
        .bind(date_text(period.from))
        .bind(date_text(period.to))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(claim_line).collect()
    }

    /// Fund reconciliation (对账): for one fund, what it owes each hospital for the claims settled
    /// in `month` (`YYYY-MM`, by settlement date) of persons inside `region`.
    pub async fn fund_owed(&self, fund: Fund, region: RegionCode, month: &str) -> Result<Vec<Owed>> {
        let (lo, hi) = region_range(region);
        let col = fund_column(fund);
        let rows = sqlx::query(&format!(
            "SELECT c.facility_code, f.name AS facility_name, COUNT(*) AS claims, CAST(SUM(c.{col}) AS BIGINT) AS amount \
             FROM claims c JOIN facilities f ON f.code = c.facility_code \
             WHERE c.status = 'settled' AND c.region_code >= $1 AND c.region_code < $2 AND c.settled_at >= $3 AND c.settled_at < $4 \
             AND c.{col} <> 0 GROUP BY c.facility_code, f.name ORDER BY c.facility_code"
        ))
        .bind(lo)
        .bind(hi)
        .bind(month.to_string())
        .bind(format!("{month}:"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(Owed { facility_code: r.try_get("facility_code")?, facility_name: r.try_get("facility_name")?, claims: r.try_get("claims")?, amount: r.try_get("amount")? }))
            .collect()
    }

    /// The claims behind one reconciliation amount.
    pub async fn fund_claims(&self, fund: Fund, region: RegionCode, month: &str, facility_code: &str) -> Result<Vec<ClaimLine>> {
        let (lo, hi) = region_range(region);
        let col = fund_column(fund);
        let rows = sqlx::query(&format!(
            "SELECT c.claim_no, c.person_id, p.name AS person_name, c.facility_code, c.discharge_date, c.total, c.funds_total, \
             c.patient_total, c.{col} AS fund_amount FROM claims c JOIN persons p ON p.id = c.person_id \
             WHERE c.status = 'settled' AND c.region_code >= $1 AND c.region_code < $2 AND c.settled_at >= $3 AND c.settled_at < $4 \
             AND c.facility_code = $5 AND c.{col} <> 0 ORDER BY c.settled_at, c.claim_no"
        ))
        .bind(lo)
        .bind(hi)
        .bind(month.to_string())
        .bind(format!("{month}:"))
        .bind(facility_code)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(claim_line).collect()
    }

    pub async fn targets(&self) -> Result<Vec<Target>> {
        let rows = sqlx::query("SELECT * FROM targets ORDER BY region_code, indicator").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Target {
                    region: RegionCode::parse(&r.try_get::<String, _>("region_code")?).map_err(|e| corrupt("region", e))?,
                    indicator: r.try_get("indicator")?,
                    value_ppm: r.try_get("value_ppm")?,
                    at_most: r.try_get::<i64, _>("at_most")? != 0,
                    source: r.try_get("source")?,
                })
            })
            .collect()
    }

    pub async fn set_target(&self, t: &Target, audit: &AuditEntry) -> Result<()> {
        let _gate = self.write_gate().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO targets (region_code, indicator, value_ppm, at_most, source, set_by, set_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (region_code, indicator) DO UPDATE SET value_ppm = excluded.value_ppm, at_most = excluded.at_most, \
             source = excluded.source, set_by = excluded.set_by, set_at = excluded.set_at",
        )
        .bind(t.region.to_string())
        .bind(&t.indicator)
        .bind(t.value_ppm)
        .bind(i64::from(t.at_most))
        .bind(&t.source)
        .bind(&audit.username)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(|e| fk_message(e, &format!("区划 {} 不存在", t.region)))?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// How `claim_sums_by` groups.
#[derive(Debug, Clone, Copy)]
pub enum SumsBy {
    Month,
    /// By the first `n` digits of the region code.
    Region(usize),
}

fn claim_line(r: &AnyRow) -> Result<ClaimLine> {
    Ok(ClaimLine {
        claim_no: r.try_get("claim_no")?,
        person_id: r.try_get("person_id")?,
        person_name: r.try_get("person_name")?,
        facility_code: r.try_get("facility_code")?,
        discharge: r.try_get("discharge_date")?,
        total: r.try_get("total")?,
        funds_total: r.try_get("funds_total")?,
        patient_total: r.try_get("patient_total")?,
        fund_amount: r.try_get("fund_amount")?,
    })
}
