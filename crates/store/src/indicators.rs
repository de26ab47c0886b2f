//! The figures supervisors read: sums of settled claims by region, month and fund, the claims
//! behind them, fund reconciliation (对账), and targets.
//!
//! Regions are selected as a range of codes (`code >= prefix AND code < prefix || ':'`, ':' sorts
//! after the digits) so that the claims' (region_code, discharge_date) index serves the query on
//! both backends; LIKE does not use an index on SQLite.

use huimin_domain::{Period, RegionCode, RegionLevel};
use huimin_policy::Fund;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::access::append_audit_in;
use crate::registry::{corrupt, date_text, fk_message, within};
use crate::{AuditEntry, Result, Store, now};

/// The codes inside a region as a half-open range of text: `within`'s range with both ends bound.
pub(crate) fn region_range(region: RegionCode) -> (String, String) {
    let p = within(region);
    (p.clone(), format!("{p}:"))
}

/// Sums over settled (not reversed) claims; amounts in fen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClaimSums {
    pub claims: i64,
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

    pub fn add(&mut self, s: &ClaimSums) {
        self.claims += s.claims;
        self.total += s.total;
        self.in_policy += s.in_policy;
        self.funds_total += s.funds_total;
        self.patient_total += s.patient_total;
        self.over_ceiling += s.over_ceiling;
        for (a, b) in self.funds.iter_mut().zip(s.funds) {
            *a += b;
        }
    }
}

/// The sums of one child region, discharge month and visit type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClaimCell {
    /// The first digits of the persons' region codes (the child region's prefix).
    pub child: String,
    /// `YYYY-MM`
    pub month: String,
    /// `inpatient`, `outpatient_chronic`, `outpatient_general`
    pub visit: String,
    pub sums: ClaimSums,
}

const FUND_COLUMNS: [&str; 9] = ["fund_310101", "fund_390101", "fund_390201", "fund_390401", "fund_610101", "fund_620101", "fund_630101", "fund_640101", "fund_999996"];

fn cell_from_row(r: &AnyRow) -> Result<ClaimCell> {
    let mut funds = [0; 9];
    for (i, f) in funds.iter_mut().enumerate() {
        *f = r.try_get(FUND_COLUMNS[i])?;
    }
    Ok(ClaimCell {
        child: r.try_get("child")?,
        month: r.try_get("month")?,
        visit: r.try_get("visit_type")?,
        sums: ClaimSums {
            claims: r.try_get("claims")?,
            total: r.try_get("total")?,
            in_policy: r.try_get("in_policy")?,
            funds_total: r.try_get("funds_total")?,
            patient_total: r.try_get("patient_total")?,
            funds,
            over_ceiling: r.try_get("over_ceiling")?,
        },
    })
}

/// `SUM(column) AS column` for the summed columns, `count` being how a row counts claims.
fn sums_select(count: &str, over_ceiling: &str) -> String {
    let mut cols = vec![format!("CAST({count} AS BIGINT) AS claims")];
    for c in ["total", "in_policy", "funds_total", "patient_total"].iter().chain(FUND_COLUMNS.iter()) {
        cols.push(format!("CAST(SUM({c}) AS BIGINT) AS {c}"));
    }
    cols.push(format!("CAST(SUM({over_ceiling}) AS BIGINT) AS over_ceiling"));
    cols.join(", ")
}

/// A claim behind a figure.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Owed {
    pub facility_code: String,
    pub facility_name: String,
    pub claims: i64,
    pub amount: i64,
}

/// A target of an indicator for a region.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    /// The sums of the settled claims of persons inside `region` discharged in the period, by
    /// child region (the first `width` digits of the code), month and visit type. A county or
    /// above, for whole months and children no finer than townships, reads the rollup; anything
    /// else sums the claims themselves (a township's are few).
    pub async fn claim_cells(&self, region: RegionCode, period: Period, width: usize) -> Result<Vec<ClaimCell>> {
        let months = period.whole_months().filter(|_| region.level() <= RegionLevel::County && width <= 9);
        let Some((first, last)) = months else { return self.claim_cells_from_claims(region, period, width).await };
        let (lo, hi) = region_range(region);
        // Children that are counties or larger: the county rollup, a twentieth of the rows.
        let (table, key) = if width <= 6 { ("county_rollup", "county_code") } else { ("claim_rollup", "township") };
        let rows = sqlx::query(&format!(
            "SELECT SUBSTR({key}, 1, {w}) AS child, month, visit_type, {sums} FROM {table} \
             WHERE {key} >= $1 AND {key} < $2 AND month >= $3 AND month <= $4 \
             GROUP BY SUBSTR({key}, 1, {w}), month, visit_type HAVING SUM(claims) <> 0 ORDER BY 1, 2, 3",
            w = width.clamp(2, 9),
            sums = sums_select("SUM(claims)", "over_ceiling"),
        ))
        .bind(lo)
        .bind(hi)
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cell_from_row).collect()
    }

    /// The same sums computed from the claims themselves: any span of days, and the recomputation
    /// the rollup is checked against.
    pub async fn claim_cells_from_claims(&self, region: RegionCode, period: Period, width: usize) -> Result<Vec<ClaimCell>> {
        let (lo, hi) = region_range(region);
        let rows = sqlx::query(&format!(
            "SELECT SUBSTR(region_code, 1, {w}) AS child, SUBSTR(discharge_date, 1, 7) AS month, visit_type, {sums} FROM claims \
             WHERE status = 'settled' AND region_code >= $1 AND region_code < $2 AND discharge_date >= $3 AND discharge_date <= $4 \
             GROUP BY SUBSTR(region_code, 1, {w}), SUBSTR(discharge_date, 1, 7), visit_type ORDER BY 1, 2, 3",
            w = width.clamp(2, 12),
            sums = sums_select("COUNT(*)", "CASE WHEN patient_total * 10 > total THEN 1 ELSE 0 END"),
        ))
        .bind(lo)
        .bind(hi)
        .bind(date_text(period.from))
        .bind(date_text(period.to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cell_from_row).collect()
    }

    /// Distinct persons with a settled claim of `visit` type in the period, by child region.
    pub async fn claim_persons(&self, region: RegionCode, period: Period, width: usize, visit: &str) -> Result<Vec<(String, i64)>> {
        let (lo, hi) = region_range(region);
        let rows = sqlx::query(&format!(
            "SELECT SUBSTR(region_code, 1, {w}) AS child, COUNT(DISTINCT person_id) AS persons FROM claims \
             WHERE status = 'settled' AND region_code >= $1 AND region_code < $2 AND discharge_date >= $3 AND discharge_date <= $4 \
             AND visit_type = $5 GROUP BY SUBSTR(region_code, 1, {w}) ORDER BY 1",
            w = width.clamp(2, 12),
        ))
        .bind(lo)
        .bind(hi)
        .bind(date_text(period.from))
        .bind(date_text(period.to))
        .bind(visit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("child")?, r.try_get("persons")?))).collect()
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

    /// What every fund owes each hospital for `month`, fund by fund in the order of `Fund::ALL`.
    pub async fn owed_by_fund(&self, region: RegionCode, month: &str) -> Result<Vec<(Fund, Owed)>> {
        let mut out = Vec::new();
        for fund in Fund::ALL {
            out.extend(self.fund_owed(fund, region, month).await?.into_iter().map(|o| (fund, o)));
        }
        Ok(out)
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

    /// The regions of `level` inside `region` (itself if it is one) with their stored figures for
    /// `year`: the day they were computed on and the figures, `None` where nothing is stored.
    /// Townships are computed from their persons; a county's are the sum of its townships'.
    pub async fn stored_figures(&self, region: RegionCode, year: i32, level: RegionLevel) -> Result<Vec<(RegionCode, Option<(String, String)>)>> {
        let (lo, hi) = region_range(region);
        let rows = sqlx::query(
            "SELECT r.code, f.as_of, f.figures FROM regions r LEFT JOIN township_figures f ON f.region_code = r.code AND f.year = $1 \
             WHERE r.code >= $2 AND r.code < $3 AND r.level = $4 ORDER BY r.code",
        )
        .bind(i64::from(year))
        .bind(lo)
        .bind(hi)
        .bind(level as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let code = RegionCode::parse(&r.try_get::<String, _>("code")?).map_err(|e| corrupt("region", e))?;
                let stored = match r.try_get::<Option<String>, _>("as_of")? {
                    Some(as_of) => Some((as_of, r.try_get("figures")?)),
                    None => None,
                };
                Ok((code, stored))
            })
            .collect()
    }

    /// Forgets a region's stored figures for a year (a county's sum that no longer covers all
    /// its townships).
    pub async fn forget_figures(&self, region: RegionCode, year: i32) -> Result<()> {
        let _gate = self.write_gate().await;
        sqlx::query("DELETE FROM township_figures WHERE region_code = $1 AND year = $2").bind(region.to_string()).bind(i64::from(year)).execute(&self.pool).await?;
        Ok(())
    }

    /// Stores a township's figures (or a county's sum of them) for a year as of `as_of` (derived
    /// data: not audited).
    pub async fn save_figures(&self, township: RegionCode, year: i32, as_of: &str, figures: &str) -> Result<()> {
        let _gate = self.write_gate().await;
        sqlx::query(&format!(
            "INSERT INTO township_figures (region_code, year, as_of, computed_at, figures, county_code) VALUES ($1, $2, $3, $4, $5, $6) \
             {} DO UPDATE SET as_of = excluded.as_of, computed_at = excluded.computed_at, figures = excluded.figures",
            crate::county::on_conflict(self.backend, "region_code, year")
        ))
        .bind(township.to_string())
        .bind(i64::from(year))
        .bind(as_of)
        .bind(now())
        .bind(figures)
        .bind(crate::county::of(township))
        .execute(&self.pool)
        .await?;
        Ok(())
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
        let mut tx = self.begin_write().await?;
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
