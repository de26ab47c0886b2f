//! 防止因病返贫动态监测: households' economics with history, the warning rules files, and the
//! warnings (docs/monitoring.md).

use huimin_domain::recognition::{Recognition, Stage};
use huimin_domain::{Date, LeadSource, MonitoringCategory, Money, RegionCode};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::access::append_audit_in;
use crate::batch::{Val, insert_rows};
use crate::registry::{corrupt, parse_date};
use crate::settlement::money;
use crate::{AuditEntry, Result, Store, StoreError, now};

/// A household's economics as recorded on a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Economics {
    pub as_of: Date,
    /// 家庭人口数.
    pub size: u32,
    /// 家庭年人均纯收入; `None`: not known.
    pub per_capita_income: Option<Money>,
    pub monitoring_category: Option<MonitoringCategory>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StoredEconomics {
    #[serde(flatten)]
    pub economics: Economics,
    pub recorded_by: String,
    pub recorded_at: String,
}

/// A stored warning rules file.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredWarningRules {
    pub id: String,
    pub name: String,
    pub region: RegionCode,
    pub effective_from: Date,
    pub effective_to: Date,
    pub body: String,
    pub loaded_by: String,
    pub loaded_at: String,
}

/// What the warning rules read of a household: its members in the programme, their compliant
/// out-of-pocket spending over a window of months, its newest economics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdWindow {
    pub household_no: String,
    pub region: RegionCode,
    pub in_programme: bool,
    pub members: u32,
    pub out_of_pocket: Money,
    pub economics: Option<Economics>,
}

/// Households and persons are looked up this many at a time (an `IN` list of bound values).
const CHUNK: usize = 500;

/// A warning to open: the rule that fired, with its reason in the household's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWarning {
    pub household_no: String,
    pub lead: LeadSource,
    pub region: RegionCode,
    pub rules_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub reason: String,
    pub source: String,
    pub out_of_pocket: Money,
    /// The Beijing day of the lead; recognition is due 15 days later.
    pub opened_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StoredWarning {
    pub id: i64,
    pub household_no: String,
    /// Where the lead came from: a rule, a self-report, a cadre's visit, a department.
    pub lead: LeadSource,
    pub head_name: String,
    pub region: RegionCode,
    pub rules_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub reason: String,
    pub source: String,
    pub out_of_pocket: Money,
    pub opened_on: Date,
    pub due_on: Date,
    pub closed_on: Option<Date>,
    pub stage: Stage,
    pub notice_on: Option<Date>,
    /// The day the county decided (approved, or ended at a review).
    pub decided_on: Option<Date>,
}

impl StoredWarning {
    pub fn recognition(&self) -> Recognition {
        Recognition { stage: self.stage, lead_on: self.opened_on, notice_on: self.notice_on }
    }
}

/// A step taken in a recognition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WarningStep {
    pub step: String,
    /// What the step concluded: done, agreed, refused, eliminated, not_yet.
    pub outcome: String,
    pub note: String,
    pub taken_on: Date,
    pub taken_by: String,
    pub role: String,
    pub recorded_at: String,
}

/// A step to store: the recognition before and after it.
#[derive(Debug, Clone)]
pub struct StepTaken<'a> {
    pub warning_id: i64,
    pub before: Stage,
    pub after: Recognition,
    pub step: &'a str,
    pub outcome: &'a str,
    pub note: &'a str,
    pub taken_on: Date,
    pub taken_by: &'a str,
    pub role: &'a str,
}

fn stage_of(code: &str) -> Result<Stage> {
    Stage::from_code(code).ok_or_else(|| corrupt("stage", code))
}


fn economics_from_row(r: &AnyRow) -> Result<StoredEconomics> {
    Ok(StoredEconomics {
        economics: economics_from_row_parts(r)?,
        recorded_by: r.try_get("recorded_by")?,
        recorded_at: r.try_get("recorded_at")?,
    })
}

fn warning_from_row(r: &AnyRow) -> Result<StoredWarning> {
    Ok(StoredWarning {
        id: r.try_get("id")?,
        household_no: r.try_get("household_no")?,
        lead: {
            let code: String = r.try_get("lead")?;
            LeadSource::from_code(&code).ok_or_else(|| corrupt("lead", &code))?
        },
        head_name: r.try_get("head_name")?,
        region: crate::health::region_col(r, "region_code")?,
        rules_id: r.try_get("rules_id")?,
        rule_id: r.try_get("rule_id")?,
        rule_name: r.try_get("rule_name")?,
        reason: r.try_get("reason")?,
        source: r.try_get("source")?,
        out_of_pocket: money(r.try_get("out_of_pocket")?)?,
        opened_on: parse_date(&r.try_get::<String, _>("opened_on")?)?,
        due_on: parse_date(&r.try_get::<String, _>("due_on")?)?,
        closed_on: r.try_get::<Option<String>, _>("closed_on")?.as_deref().map(parse_date).transpose()?,
        stage: stage_of(&r.try_get::<String, _>("stage")?)?,
        notice_on: r.try_get::<Option<String>, _>("notice_on")?.as_deref().map(parse_date).transpose()?,
        decided_on: r.try_get::<Option<String>, _>("decided_on")?.as_deref().map(parse_date).transpose()?,
    })
}

const WARNING_COLUMNS: &str = "w.id, w.household_no, h.head_name, w.region_code, w.rules_id, w.rule_id, w.rule_name, w.reason, w.source, w.out_of_pocket, w.opened_on, w.due_on, w.closed_on, w.stage, w.notice_on, w.lead, w.decided_on";

impl Store {
    /// Records a household's economics as of a day (the earlier rows stay: its history).
    pub async fn record_economics(&self, household_no: &str, e: &Economics, by: &str, audit: &AuditEntry) -> Result<()> {
        if !(1..=99).contains(&e.size) {
            return Err(StoreError::Refused(format!("家庭人口数应为 1–99，实为 {}", e.size)));
        }
        let mut tx = self.begin_write().await?;
        let known: Option<String> = sqlx::query_scalar("SELECT household_no FROM households WHERE household_no = $1").bind(household_no).fetch_optional(&mut *tx).await?;
        if known.is_none() {
            return Err(StoreError::NotFound(format!("household {household_no}")));
        }
        sqlx::query(&format!(
            "INSERT INTO household_economics (household_no, as_of, size, per_capita_income, monitoring_category, recorded_by, recorded_at, county_code) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, {})",
            crate::county::of_household_param(1)
        ))
        .bind(household_no)
        .bind(e.as_of.to_string())
        .bind(i64::from(e.size))
        .bind(e.per_capita_income.map(|m| m.fen()))
        .bind(e.monitoring_category.map(|c| c.code()))
        .bind(by)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The household's economics, newest first.
    pub async fn economics_history(&self, household_no: &str) -> Result<Vec<StoredEconomics>> {
        let rows = sqlx::query("SELECT * FROM household_economics WHERE household_no = $1 ORDER BY id DESC").bind(household_no).fetch_all(&self.pool).await?;
        rows.iter().map(economics_from_row).collect()
    }

    /// The household's economics now: the latest recorded.
    pub async fn economics(&self, household_no: &str) -> Result<Option<StoredEconomics>> {
        let row = sqlx::query("SELECT * FROM household_economics WHERE household_no = $1 ORDER BY id DESC LIMIT 1").bind(household_no).fetch_optional(&self.pool).await?;
        row.as_ref().map(economics_from_row).transpose()
    }

    /// Stores a checked warning rules file (replacing the one of the same id).
    pub async fn save_warning_rules(&self, r: &StoredWarningRules, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO warning_rules (id, name, region_code, effective_from, effective_to, body, loaded_by, loaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, region_code = excluded.region_code, effective_from = excluded.effective_from, \
             effective_to = excluded.effective_to, body = excluded.body, loaded_by = excluded.loaded_by, loaded_at = excluded.loaded_at",
        )
        .bind(&r.id)
        .bind(&r.name)
        .bind(r.region.to_string())
        .bind(r.effective_from.to_string())
        .bind(r.effective_to.to_string())
        .bind(&r.body)
        .bind(&r.loaded_by)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn warning_rules(&self) -> Result<Vec<StoredWarningRules>> {
        let rows = sqlx::query("SELECT * FROM warning_rules ORDER BY region_code, effective_from, id").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(StoredWarningRules {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    region: crate::health::region_col(r, "region_code")?,
                    effective_from: parse_date(&r.try_get::<String, _>("effective_from")?)?,
                    effective_to: parse_date(&r.try_get::<String, _>("effective_to")?)?,
                    body: r.try_get("body")?,
                    loaded_by: r.try_get("loaded_by")?,
                    loaded_at: r.try_get("loaded_at")?,
                })
            })
            .collect()
    }

    /// Opens a warning for the household unless one is open: the id of the new one, or `None`.
    /// One statement, so two settlements at once cannot open two.
    pub async fn open_warning(&self, w: &NewWarning, audit: &AuditEntry) -> Result<Option<i64>> {
        Ok(self.open_warnings(std::slice::from_ref(w), audit).await?.first().copied())
    }

    /// Opens warnings (those of a check of many households) in one statement, each only if its
    /// household has none open, and returns the new ids. One audit entry says which households
    /// got one (target `household H` or `households N`; `audit.detail` followed by each
    /// household with the rule or source that opened it).
    pub async fn open_warnings(&self, list: &[NewWarning], audit: &AuditEntry) -> Result<Vec<i64>> {
        if list.is_empty() {
            return Ok(Vec::new());
        }
        let at = now();
        let rows = list
            .iter()
            .map(|w| {
                vec![
                    crate::county::of(w.region).into(),
                    Val::from(w.household_no.as_str()),
                    w.region.to_string().into(),
                    w.rules_id.as_str().into(),
                    w.rule_id.as_str().into(),
                    w.rule_name.as_str().into(),
                    w.reason.as_str().into(),
                    w.source.as_str().into(),
                    w.out_of_pocket.fen().into(),
                    w.opened_on.to_string().into(),
                    (w.opened_on + chrono::Duration::days(huimin_domain::recognition::RECOGNITION_DAYS)).to_string().into(),
                    at.as_str().into(),
                    w.lead.code().into(),
                ]
            })
            .collect();
        let mut tx = self.begin_write().await?;
        let returned = insert_rows(
            &mut tx,
            self.backend,
            "warnings",
            &["county_code", "household_no", "region_code", "rules_id", "rule_id", "rule_name", "reason", "source", "out_of_pocket", "opened_on", "due_on", "opened_at", "lead"],
            &(crate::county::on_conflict(self.backend, "household_no") + " WHERE closed_on IS NULL DO NOTHING RETURNING id, household_no"),
            rows,
        )
        .await?;
        let mut ids = Vec::with_capacity(returned.len());
        let mut opened = std::collections::HashSet::new();
        for r in &returned {
            ids.push(r.try_get::<i64, _>("id")?);
            opened.insert(r.try_get::<String, _>("household_no")?);
        }
        if !ids.is_empty() {
            let mut audit = audit.clone();
            let which: Vec<&NewWarning> = list.iter().filter(|w| opened.contains(&w.household_no)).collect();
            audit.target = match which.as_slice() {
                [one] => format!("household {}", one.household_no),
                many => format!("households {}", many.len()),
            };
            let each = which.iter().map(|w| format!("{} {}", w.household_no, w.rule_id)).collect::<Vec<_>>().join(", ");
            audit.detail = if audit.detail.is_empty() { each } else { format!("{}: {each}", audit.detail) };
            append_audit_in(&mut tx, &audit).await?;
        }
        tx.commit().await?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// The warnings of households inside a region, open ones first, the nearest deadline first.
    pub async fn warnings(&self, region: RegionCode, open_only: bool) -> Result<Vec<StoredWarning>> {
        let prefix = region.prefix();
        let rows = sqlx::query(&format!(
            "SELECT {WARNING_COLUMNS} FROM warnings w JOIN households h ON h.household_no = w.household_no \
             WHERE w.region_code >= $1 AND w.region_code < $1 || ':' {} ORDER BY CASE WHEN w.closed_on IS NULL THEN 0 ELSE 1 END, w.due_on, w.id",
            if open_only { "AND w.closed_on IS NULL" } else { "" }
        ))
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(warning_from_row).collect()
    }

    pub async fn warning(&self, id: i64) -> Result<Option<StoredWarning>> {
        let row = sqlx::query(&format!("SELECT {WARNING_COLUMNS} FROM warnings w JOIN households h ON h.household_no = w.household_no WHERE w.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(warning_from_row).transpose()
    }

    /// The steps taken in a warning's recognition, in order.
    pub async fn warning_steps(&self, id: i64) -> Result<Vec<WarningStep>> {
        let rows = sqlx::query("SELECT * FROM warning_steps WHERE warning_id = $1 ORDER BY id").bind(id).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(WarningStep {
                    step: r.try_get("step")?,
                    outcome: r.try_get("outcome")?,
                    note: r.try_get("note")?,
                    taken_on: parse_date(&r.try_get::<String, _>("taken_on")?)?,
                    taken_by: r.try_get("taken_by")?,
                    role: r.try_get("role")?,
                    recorded_at: r.try_get("recorded_at")?,
                })
            })
            .collect()
    }

    /// Stores a step: the warning moves from `before` to `after` only if it still stands at
    /// `before` (one conditional statement: two people taking a step at once take it once), the
    /// step is kept with who, when and why, and a closed recognition closes the warning.
    pub async fn take_warning_step(&self, s: &StepTaken<'_>, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let closed = (s.after.stage == Stage::Closed).then(|| s.taken_on.to_string());
        // The county's decision: its approval either way, or a review that ended it.
        let decided = (s.step == "county_approval" || s.outcome == "refused").then(|| s.taken_on.to_string());
        let moved = sqlx::query(
            "UPDATE warnings SET stage = $1, notice_on = $2, closed_on = $3, decided_on = COALESCE(decided_on, $6) WHERE id = $4 AND stage = $5 AND closed_on IS NULL",
        )
            .bind(s.after.stage.code())
            .bind(s.after.notice_on.map(|d| d.to_string()))
            .bind(closed)
            .bind(s.warning_id)
            .bind(s.before.code())
            .bind(decided)
            .execute(&mut *tx)
            .await?;
        if moved.rows_affected() != 1 {
            return Err(StoreError::Conflict("此预警已由他人办理到下一环节，请刷新后再办".into()));
        }
        sqlx::query(
            "INSERT INTO warning_steps (warning_id, step, outcome, note, taken_on, taken_by, role, recorded_at, county_code) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, (SELECT county_code FROM warnings WHERE id = $1))",
        )
            .bind(s.warning_id)
            .bind(s.step)
            .bind(s.outcome)
            .bind(s.note)
            .bind(s.taken_on.to_string())
            .bind(s.taken_by)
            .bind(s.role)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The households of these persons, each once.
    pub async fn households_of(&self, persons: &[i64]) -> Result<Vec<String>> {
        let mut out = std::collections::BTreeSet::new();
        for chunk in persons.chunks(CHUNK) {
            let list = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let sql = format!("SELECT DISTINCT household_no FROM persons WHERE id IN ({list})");
            let mut q = sqlx::query_scalar::<_, String>(&sql);
            for p in chunk {
                q = q.bind(*p);
            }
            out.extend(q.fetch_all(&self.pool).await?);
        }
        Ok(out.into_iter().collect())
    }

    /// What the warning rules read of these households over the months `from` to `to`
    /// (`YYYY-MM`): a few statements for any number of households.
    pub async fn household_windows(&self, households: &[String], from: &str, to: &str) -> Result<Vec<HouseholdWindow>> {
        let mut out = Vec::with_capacity(households.len());
        for chunk in households.chunks(CHUNK) {
            let list = (3..chunk.len() + 3).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "SELECT h.household_no, h.region_code, h.in_programme, \
                 CAST((SELECT COALESCE(SUM(b.compliant_oop), 0) FROM person_burden b JOIN persons p ON p.id = b.person_id \
                   WHERE p.household_no = h.household_no AND p.in_programme = 1 AND b.month >= $1 AND b.month <= $2) AS BIGINT) AS oop, \
                 CAST((SELECT COUNT(*) FROM persons p WHERE p.household_no = h.household_no AND p.in_programme = 1) AS BIGINT) AS members, \
                 e.as_of, e.size, e.per_capita_income, e.monitoring_category \
                 FROM households h LEFT JOIN household_economics e ON e.id = (SELECT MAX(x.id) FROM household_economics x WHERE x.household_no = h.household_no) \
                 WHERE h.household_no IN ({list})"
            );
            let mut q = sqlx::query(&sql).bind(from).bind(to);
            for h in chunk {
                q = q.bind(h.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                let economics = match r.try_get::<Option<String>, _>("as_of")? {
                    None => None,
                    Some(_) => Some(economics_from_row_parts(&r)?),
                };
                out.push(HouseholdWindow {
                    household_no: r.try_get("household_no")?,
                    region: crate::health::region_col(&r, "region_code")?,
                    in_programme: r.try_get::<i64, _>("in_programme")? != 0,
                    members: u32::try_from(r.try_get::<i64, _>("members")?).unwrap_or(0),
                    out_of_pocket: money(r.try_get::<i64, _>("oop")?.max(0))?,
                    economics,
                });
            }
        }
        Ok(out)
    }
}

/// Upper bounds (yuan, inclusive) of the bands of a household's compliant out-of-pocket spending
/// over the window that the indicators count; the last band is everything above.
pub const BURDEN_BANDS: [i64; 5] = [1_000, 5_000, 10_000, 20_000, 50_000];

/// The recognition figures of a child region (a code prefix), counted from its warnings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct WarningCell {
    pub child: String,
    /// Warnings and leads ever opened.
    pub opened: i64,
    /// Open and not yet decided by the county: all, due within three days, past the limit.
    pub pending: i64,
    pub urgent: i64,
    pub late: i64,
    /// Decided by the county (approved, or ended at a review); of those, on or before the limit.
    pub decided: i64,
    pub decided_in_time: i64,
    /// Approved as monitored households; of those, with the risk eliminated.
    pub recognised: i64,
    pub eliminated: i64,
    /// Open warnings by stage code.
    pub by_stage: std::collections::BTreeMap<String, i64>,
}

impl WarningCell {
    pub fn add(&mut self, o: &WarningCell) {
        for (a, b) in [
            (&mut self.opened, o.opened),
            (&mut self.pending, o.pending),
            (&mut self.urgent, o.urgent),
            (&mut self.late, o.late),
            (&mut self.decided, o.decided),
            (&mut self.decided_in_time, o.decided_in_time),
            (&mut self.recognised, o.recognised),
            (&mut self.eliminated, o.eliminated),
        ] {
            *a += b;
        }
        for (k, v) in &o.by_stage {
            *self.by_stage.entry(k.clone()).or_default() += v;
        }
    }
}

/// Each household of a region range (`$1`, `$2`) with its members' compliant out-of-pocket spending
/// in the months `$3` to `$4` (`s`, fen), from `person_burden`: what the daily check, the
/// simulation and the burden bands read.
const HOUSEHOLD_SPENDING: &str = "SELECT p.household_no, SUM(b.compliant_oop) AS s FROM households h JOIN persons p ON p.household_no = h.household_no \
     JOIN person_burden b ON b.person_id = p.id \
     WHERE h.region_code >= $1 AND h.region_code < $2 AND p.in_programme = 1 AND b.month >= $3 AND b.month <= $4 GROUP BY p.household_no";

/// Households of a child region by monitoring category (their current economics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitoredCell {
    pub child: String,
    pub category: MonitoringCategory,
    pub households: i64,
    /// Their recorded sizes summed.
    pub persons: i64,
}

impl Store {
    /// The current economics (the newest record) of every household inside `region` that has one.
    pub async fn current_economics(&self, region: RegionCode) -> Result<std::collections::HashMap<String, Economics>> {
        let (lo, hi) = crate::indicators::region_range(region);
        let rows = sqlx::query(
            "SELECT e.household_no, e.as_of, e.size, e.per_capita_income, e.monitoring_category FROM household_economics e \
             JOIN households h ON h.household_no = e.household_no \
             WHERE h.region_code >= $1 AND h.region_code < $2 AND e.id = (SELECT MAX(x.id) FROM household_economics x WHERE x.household_no = e.household_no)",
        )
        .bind(lo)
        .bind(hi)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("household_no")?, economics_from_row_parts(r)?))).collect()
    }

    /// The household's open warning, if any.
    pub async fn open_warning_of(&self, household_no: &str) -> Result<Option<StoredWarning>> {
        let row = sqlx::query(&format!("SELECT {WARNING_COLUMNS} FROM warnings w JOIN households h ON h.household_no = w.household_no WHERE w.household_no = $1 AND w.closed_on IS NULL"))
            .bind(household_no)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(warning_from_row).transpose()
    }

    /// The households inside `region` whose members in the programme paid anything compliant out
    /// of pocket in the months `from` to `to` (`YYYY-MM`): the only ones a warning rule can fire
    /// for. Read from `person_burden`, never from the claims.
    pub async fn spending_households(&self, region: RegionCode, from: &str, to: &str) -> Result<Vec<String>> {
        let (lo, hi) = crate::indicators::region_range(region);
        let rows = sqlx::query_scalar::<_, String>(&format!("SELECT household_no FROM ({HOUSEHOLD_SPENDING}) t WHERE s > 0 ORDER BY household_no"))
        .bind(lo)
        .bind(hi)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Households of `region` by their compliant out-of-pocket spending over the months `from`
    /// to `to`, in [`BURDEN_BANDS`] (six counts; households that paid nothing are not counted).
    pub async fn burden_bands(&self, region: RegionCode, from: &str, to: &str) -> Result<[i64; 6]> {
        let (lo, hi) = crate::indicators::region_range(region);
        let band = BURDEN_BANDS.iter().enumerate().map(|(i, y)| format!("WHEN s <= {} THEN {i}", y * 100)).collect::<Vec<_>>().join(" ");
        let rows = sqlx::query(&format!(
            "SELECT CAST(CASE {band} ELSE {last} END AS BIGINT) AS band, COUNT(*) AS n FROM ({HOUSEHOLD_SPENDING}) t WHERE s > 0 GROUP BY 1",
            last = BURDEN_BANDS.len()
        ))
        .bind(lo)
        .bind(hi)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut out = [0i64; 6];
        for r in &rows {
            let band = usize::try_from(r.try_get::<i64, _>("band")?).map_err(|e| corrupt("band", e))?;
            *out.get_mut(band).ok_or_else(|| corrupt("band", band))? += r.try_get::<i64, _>("n")?;
        }
        Ok(out)
    }

    /// Households of `region` whose current economics carry a monitoring category, by child
    /// region (a code prefix of `width` digits) and category.
    pub async fn monitored_cells(&self, region: RegionCode, width: usize) -> Result<Vec<MonitoredCell>> {
        let (lo, hi) = crate::indicators::region_range(region);
        let rows = sqlx::query(&format!(
            "SELECT SUBSTR(h.region_code, 1, {w}) AS child, e.monitoring_category, COUNT(*) AS households, CAST(SUM(e.size) AS BIGINT) AS persons \
             FROM household_economics e JOIN households h ON h.household_no = e.household_no \
             WHERE h.region_code >= $1 AND h.region_code < $2 AND e.monitoring_category IS NOT NULL \
             AND e.id = (SELECT MAX(x.id) FROM household_economics x WHERE x.household_no = e.household_no) \
             GROUP BY SUBSTR(h.region_code, 1, {w}), e.monitoring_category ORDER BY 1, 2",
            w = width.clamp(2, 12)
        ))
        .bind(lo)
        .bind(hi)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let c: String = r.try_get("monitoring_category")?;
                Ok(MonitoredCell {
                    child: r.try_get("child")?,
                    category: MonitoringCategory::from_code(&c).ok_or_else(|| corrupt("monitoring category", &c))?,
                    households: r.try_get("households")?,
                    persons: r.try_get("persons")?,
                })
            })
            .collect()
    }

    /// The recognition figures of `region` by child region (a code prefix of `width` digits)
    /// on `today`: a few grouped reads of the warnings.
    pub async fn warning_cells(&self, region: RegionCode, width: usize, today: Date) -> Result<Vec<WarningCell>> {
        let (lo, hi) = crate::indicators::region_range(region);
        let soon = today + chrono::Duration::days(3);
        let rows = sqlx::query(&format!(
            "SELECT SUBSTR(w.region_code, 1, {w}) AS child, w.stage, COUNT(*) AS opened, \
             CAST(SUM(CASE WHEN w.closed_on IS NULL AND w.decided_on IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS pending, \
             CAST(SUM(CASE WHEN w.closed_on IS NULL AND w.decided_on IS NULL AND w.due_on >= $3 AND w.due_on <= $4 THEN 1 ELSE 0 END) AS BIGINT) AS urgent, \
             CAST(SUM(CASE WHEN w.closed_on IS NULL AND w.decided_on IS NULL AND w.due_on < $3 THEN 1 ELSE 0 END) AS BIGINT) AS late, \
             CAST(SUM(CASE WHEN w.decided_on IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS decided, \
             CAST(SUM(CASE WHEN w.decided_on IS NOT NULL AND w.decided_on <= w.due_on THEN 1 ELSE 0 END) AS BIGINT) AS in_time, \
             CAST(SUM(CASE WHEN EXISTS (SELECT 1 FROM warning_steps s WHERE s.warning_id = w.id AND s.step = 'county_approval' AND s.outcome = 'agreed') THEN 1 ELSE 0 END) AS BIGINT) AS recognised, \
             CAST(SUM(CASE WHEN EXISTS (SELECT 1 FROM warning_steps s WHERE s.warning_id = w.id AND s.outcome = 'eliminated') THEN 1 ELSE 0 END) AS BIGINT) AS eliminated \
             FROM warnings w WHERE w.region_code >= $1 AND w.region_code < $2 \
             GROUP BY SUBSTR(w.region_code, 1, {w}), w.stage ORDER BY 1",
            w = width.clamp(2, 12)
        ))
        .bind(lo)
        .bind(hi)
        .bind(today.to_string())
        .bind(soon.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<WarningCell> = Vec::new();
        for r in &rows {
            let child: String = r.try_get("child")?;
            let stage = stage_of(&r.try_get::<String, _>("stage")?)?;
            let n = |c: &str| r.try_get::<i64, _>(c);
            let mut cell = WarningCell {
                child: child.clone(),
                opened: n("opened")?,
                pending: n("pending")?,
                urgent: n("urgent")?,
                late: n("late")?,
                decided: n("decided")?,
                decided_in_time: n("in_time")?,
                recognised: n("recognised")?,
                eliminated: n("eliminated")?,
                by_stage: Default::default(),
            };
            if stage != Stage::Closed {
                cell.by_stage.insert(stage.code().to_string(), cell.opened);
            }
            match out.iter_mut().find(|c| c.child == child) {
                Some(c) => c.add(&cell),
                None => out.push(cell),
            }
        }
        Ok(out)
    }
}

/// The economics columns of a row (`as_of`, `size`, `per_capita_income`, `monitoring_category`).
fn economics_from_row_parts(r: &AnyRow) -> Result<Economics> {
    let category: Option<String> = r.try_get("monitoring_category")?;
    Ok(Economics {
        as_of: parse_date(&r.try_get::<String, _>("as_of")?)?,
        size: u32::try_from(r.try_get::<i64, _>("size")?).map_err(|e| corrupt("size", e))?,
        per_capita_income: r.try_get::<Option<i64>, _>("per_capita_income")?.map(money).transpose()?,
        monitoring_category: category.map(|c| MonitoringCategory::from_code(&c).ok_or_else(|| corrupt("monitoring category", &c))).transpose()?,
    })
}
