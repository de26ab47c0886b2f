//! 防止因病返贫动态监测 (docs/monitoring.md): the warning rules in force, and the check of a
//! household after each settlement — its members' compliant out-of-pocket spending over the rules'
//! window (`person_burden`), its economics, the rules — that opens a warning at once.

use std::sync::Arc;

use huimin_domain::{Date, LeadSource, RegionCode};
use huimin_policy::{HouseholdFigures, WarningRules, parse_warning_rules};
use huimin_store::{AuditEntry, HouseholdWindow, NewWarning, Store, StoreError, StoredWarningRules};

/// The warning rules files stored, parsed.
#[derive(Debug, Clone, Default)]
pub struct WarningRuleSet {
    rules: Arc<Vec<(StoredWarningRules, Arc<WarningRules>)>>,
}

impl WarningRuleSet {
    pub async fn load(store: &Store) -> anyhow::Result<WarningRuleSet> {
        let mut out = Vec::new();
        for r in store.warning_rules().await? {
            let parsed = parse_warning_rules(&format!("warning rules {}", r.id), &r.body)?;
            out.push((r, Arc::new(parsed)));
        }
        Ok(WarningRuleSet { rules: Arc::new(out) })
    }

    /// No rules are loaded: nothing is checked.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn all(&self) -> impl Iterator<Item = (&StoredWarningRules, &WarningRules)> {
        self.rules.iter().map(|(s, r)| (s, r.as_ref()))
    }

    /// The rules for a household of `region` on `day`: in force, of the most specific region
    /// containing the household's.
    pub fn in_force(&self, region: RegionCode, day: Date) -> Option<&WarningRules> {
        self.rules.iter().map(|(_, r)| r.as_ref()).filter(|r| r.in_force_on(day) && r.region.contains(region)).max_by_key(|r| (r.region.level(), r.effective_from))
    }
}

/// Checks a rules file and stores it; the caller reloads its [`WarningRuleSet`].
pub async fn load_rules(store: &Store, file: &str, body: &str, by: &str, audit: &AuditEntry) -> Result<StoredWarningRules, MonitoringError> {
    let r = parse_warning_rules(file, body).map_err(|e| MonitoringError::Invalid(e.to_string()))?;
    let stored = StoredWarningRules {
        id: r.id.clone(),
        name: r.name.clone(),
        region: r.region,
        effective_from: r.effective_from,
        effective_to: r.effective_to,
        body: body.to_string(),
        loaded_by: by.to_string(),
        loaded_at: String::new(),
    };
    let mut audit = audit.clone();
    audit.action = "warning.rules.load".into();
    audit.target = format!("rules {}", r.id);
    store.save_warning_rules(&stored, &audit).await?;
    Ok(stored)
}

#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The first and last months (`YYYY-MM`) of a window of `months` ending with `day`'s month.
pub fn window(day: Date, months: u32) -> (String, String) {
    use chrono::Datelike;
    let last = day.year() * 12 + day.month0() as i32;
    let first = last - months.max(1) as i32 + 1;
    let text = |m: i32| format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1);
    (text(first), text(last))
}

/// Checks the households of these persons (those a settlement or a batch paid for): see
/// [`check_households`]. Nothing is read when no rules are loaded.
pub async fn check_persons(store: &Store, set: &WarningRuleSet, persons: &[i64], today: Date, audit: &AuditEntry) -> Result<Vec<i64>, MonitoringError> {
    if set.is_empty() || persons.is_empty() {
        return Ok(Vec::new());
    }
    check_households(store, set, &store.households_of(persons).await?, today, audit).await
}

/// Checks households (those of a batch, say) against the rules in force on `today`: their
/// figures read a few hundred households a statement, the rules evaluated in memory, a warning
/// opened for each household a rule fires for and that has none open. Returns the new warnings.
pub async fn check_households(store: &Store, set: &WarningRuleSet, households: &[String], today: Date, audit: &AuditEntry) -> Result<Vec<i64>, MonitoringError> {
    if set.is_empty() || households.is_empty() {
        return Ok(Vec::new());
    }
    // Each household is read over the window of the rules in force for it (a county's file may
    // count other months than another's): once per window length in use.
    let mut windows: Vec<u32> = set.all().map(|(_, r)| r.window_months).collect();
    windows.sort_unstable();
    windows.dedup();
    let mut opened = Vec::new();
    for months in windows {
        let (from, to) = window(today, months);
        let mut found = Vec::new();
        for h in store.household_windows(households, &from, &to).await? {
            let Some(rules) = set.in_force(h.region, today).filter(|r| r.window_months == months) else { continue };
            let Some(figures) = figures_of(&h) else { continue };
            let fired = rules.check(&figures);
            let Some(first) = fired.first() else { continue };
            let w = NewWarning {
                household_no: h.household_no.clone(),
                lead: LeadSource::Rule,
                region: h.region,
                rules_id: rules.id.clone(),
                rule_id: first.rule_id.clone(),
                rule_name: fired.iter().map(|f| f.rule_name.as_str()).collect::<Vec<_>>().join("；"),
                reason: fired.iter().map(|f| f.reason.as_str()).collect::<Vec<_>>().join("；"),
                source: first.source.clone(),
                out_of_pocket: h.out_of_pocket,
                opened_on: today,
            };
            found.push(w);
        }
        // One statement and one audit entry for the warnings of the households read together.
        let mut audit = audit.clone();
        audit.action = "warning.open".into();
        for chunk in found.chunks(500) {
            opened.extend(store.open_warnings(chunk, &audit).await?);
        }
    }
    Ok(opened)
}

/// What the rules read of a household; `None` for a household they do not watch (out of the
/// programme and without a monitoring category). Its size defaults to its members in the
/// programme when no economics are recorded.
pub fn figures_of(h: &HouseholdWindow) -> Option<HouseholdFigures> {
    let category = h.economics.as_ref().and_then(|e| e.monitoring_category);
    (h.in_programme || category.is_some()).then(|| HouseholdFigures {
        category,
        size: h.economics.as_ref().map_or(h.members.max(1), |e| e.size),
        per_capita_income: h.economics.as_ref().and_then(|e| e.per_capita_income),
        out_of_pocket: h.out_of_pocket,
    })
}

/// What the daily check did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DailyCheck {
    /// Households with compliant out-of-pocket spending in a window of rules in force.
    pub checked: usize,
    pub opened: usize,
}

/// The daily check: every household that paid anything in the window of rules in force today
/// is checked again. Settlements check their households at once; this catches what they cannot —
/// the window moving on, rules loaded or coming into force, economics recorded, a check that
/// failed after its settlement was committed. It reads `person_burden`, never the claims.
pub async fn daily_check(store: &Store, set: &WarningRuleSet, today: Date, audit: &AuditEntry) -> Result<DailyCheck, MonitoringError> {
    let mut households = std::collections::BTreeSet::new();
    for (_, rules) in set.all().filter(|(_, r)| r.in_force_on(today)) {
        let (from, to) = window(today, rules.window_months);
        households.extend(store.spending_households(rules.region, &from, &to).await?);
    }
    let households: Vec<String> = households.into_iter().collect();
    let mut out = DailyCheck { checked: households.len(), opened: 0 };
    for chunk in households.chunks(5_000) {
        out.opened += check_households(store, set, chunk, today, audit).await?.len();
    }
    Ok(out)
}

/// A lead that did not come from a rule: the household's own report (12317 included), a village
/// cadre's visit, a department's screening. It opens the household's recognition with its
/// spending over the window of the rules in force (if any), due 15 days from `on`.
/// The lead names its reporter as its source.
pub async fn report_lead(store: &Store, set: &WarningRuleSet, household_no: &str, source: LeadSource, note: &str, user: &huimin_store::User, on: Date, audit: &AuditEntry) -> Result<i64, MonitoringError> {
    if source == LeadSource::Rule {
        return Err(MonitoringError::Invalid("预警规则的线索由结算时自动发现，请选择申报、走访或部门筛查".into()));
    }
    let roles = huimin_domain::recognition::lead_roles(source);
    if !roles.contains(&user.role) {
        return Err(MonitoringError::Invalid(format!("「{}」的线索应由{}登记", source.label_zh(), roles.iter().map(|r| r.label_zh()).collect::<Vec<_>>().join("、"))));
    }
    let note = note.trim();
    if note.chars().count() < 4 {
        return Err(MonitoringError::Invalid("请写明线索情况（至少 4 个字）".into()));
    }
    if let Some(open) = store.open_warning_of(household_no).await? {
        return Err(MonitoringError::Invalid(format!("此户已有正在办理的监测认定（编号 {}，{}）", open.id, huimin_domain::recognition::stage_label(open.stage))));
    }
    let no = huimin_domain::HouseholdNo::parse(household_no).map_err(|e| MonitoringError::Invalid(e.to_string()))?;
    let region = store.household(&no).await?.ok_or_else(|| StoreError::NotFound(format!("household {household_no}")))?.household.region;
    let months = set.in_force(region, on).map_or(12, |r| r.window_months);
    let (from, to) = window(on, months);
    let spent = store.household_windows(&[household_no.to_string()], &from, &to).await?.first().map_or(huimin_domain::Money::ZERO, |h| h.out_of_pocket);
    let w = NewWarning {
        household_no: household_no.to_string(),
        lead: source,
        region,
        rules_id: String::new(),
        rule_id: source.code().to_string(),
        rule_name: source.label_zh().to_string(),
        reason: note.to_string(),
        source: format!("{}{}登记", user.role.label_zh(), user.display_name),
        out_of_pocket: spent,
        opened_on: on,
    };
    let mut audit = audit.clone();
    audit.action = "warning.lead".into();
    audit.detail = String::new();
    // Another lead may have opened one meanwhile: the unique index answers.
    store.open_warning(&w, &audit).await?.ok_or_else(|| MonitoringError::Invalid("此户已有正在办理的监测认定".into()))
}

/// How many households each rule of a draft would have flagged, by region.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Simulation {
    pub rules_id: String,
    pub region: RegionCode,
    /// The window's first and last months (`YYYY-MM`).
    pub window: (String, String),
    /// The rules' ids and names, in the file's order.
    pub rules: Vec<(String, String)>,
    /// Households with compliant out-of-pocket spending in the window: those checked.
    pub checked: usize,
    pub rows: Vec<SimulatedRegion>,
    pub total: SimulatedRegion,
}

#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct SimulatedRegion {
    pub region: String,
    pub name: String,
    /// Households with spending in the window.
    pub checked: i64,
    /// Households each rule fires for, in the rules' order.
    pub by_rule: Vec<i64>,
    /// Households any rule fires for.
    pub any: i64,
}

/// Runs draft rules over the settlements already stored: every household of `region` (inside
/// the rules' region) that paid anything in the window ending with `day`'s month, checked as a
/// settlement would check it, counted by child region. Nothing is written.
pub async fn simulate(store: &Store, rules: &WarningRules, region: RegionCode, day: Date) -> Result<Simulation, MonitoringError> {
    let scope = if rules.region.contains(region) {
        region
    } else if region.contains(rules.region) {
        rules.region
    } else {
        return Err(MonitoringError::Invalid(format!("规则的区划 {} 与所选区划 {region} 不相交", rules.region)));
    };
    let (from, to) = window(day, rules.window_months);
    let households = store.spending_households(scope, &from, &to).await?;
    let children = store.child_regions(scope).await?;
    let mut rows: Vec<SimulatedRegion> =
        children.iter().map(|c| SimulatedRegion { region: c.code.prefix(), name: c.name.clone(), by_rule: vec![0; rules.rules.len()], ..Default::default() }).collect();
    let mut total = SimulatedRegion { region: scope.prefix(), name: "合计".into(), by_rule: vec![0; rules.rules.len()], ..Default::default() };
    for chunk in households.chunks(5_000) {
        for h in store.household_windows(chunk, &from, &to).await? {
            let Some(figures) = figures_of(&h) else { continue };
            let fired = rules.check(&figures);
            let row = children.iter().position(|c| c.code.contains(h.region)).and_then(|i| rows.get_mut(i));
            for r in row.into_iter().chain([&mut total]) {
                r.checked += 1;
                for (i, rule) in rules.rules.iter().enumerate() {
                    if fired.iter().any(|f| f.rule_id == rule.id) {
                        r.by_rule[i] += 1;
                    }
                }
                r.any += i64::from(!fired.is_empty());
            }
        }
    }
    rows.retain(|r| r.checked > 0);
    Ok(Simulation {
        rules_id: rules.id.clone(),
        region: scope,
        window: (from, to),
        rules: rules.rules.iter().map(|r| (r.id.clone(), r.name.clone())).collect(),
        checked: households.len(),
        rows,
        total,
    })
}

/// Records a household's economics, then checks it at once: a fall in income can put its
/// spending over a rule. Returns the warning opened, if one was. A failed check is logged; the
/// daily check will see the household again.
pub async fn record_economics(store: &Store, set: &WarningRuleSet, household_no: &str, e: &huimin_store::Economics, by: &str, today: Date, audit: &AuditEntry) -> Result<Option<i64>, MonitoringError> {
    store.record_economics(household_no, e, by, audit).await?;
    Ok(logged(check_households(store, set, &[household_no.to_string()], today, audit).await).and_then(|opened| opened.first().copied()))
}

/// A check that runs after what it checks was committed: its failure is logged (without the
/// households' data), never the caller's failure; the daily check sees them again.
pub(crate) fn logged<T>(checked: Result<T, MonitoringError>) -> Option<T> {
    checked.map_err(|e| tracing::warn!(error = %e, "the warning check failed")).ok()
}

/// Takes a step of a warning's recognition as `user` on `today`: checked by the state machine
/// (`huimin_domain::recognition::advance`), stored only if nobody moved it meanwhile.
pub async fn take_step(store: &Store, warning_id: i64, step: &huimin_domain::recognition::Step, user: &huimin_store::User, today: Date, audit: &AuditEntry) -> Result<huimin_store::StoredWarning, MonitoringError> {
    let w = store.warning(warning_id).await?.ok_or_else(|| StoreError::NotFound(format!("warning {warning_id}")))?;
    let after = huimin_domain::recognition::advance(w.recognition(), step, user.role, today).map_err(MonitoringError::Invalid)?;
    let outcome = step.outcome();
    let mut audit = audit.clone();
    audit.action = "warning.step".into();
    audit.target = format!("warning {warning_id}");
    audit.detail = format!("{} {outcome}", step.code());
    let taken = huimin_store::StepTaken {
        warning_id,
        before: w.stage,
        after,
        step: step.code(),
        outcome,
        note: step.words().unwrap_or("").trim(),
        taken_on: today,
        taken_by: &user.display_name,
        role: user.role.code(),
    };
    store.take_warning_step(&taken, &audit).await?;
    Ok(store.warning(warning_id).await?.ok_or_else(|| StoreError::NotFound(format!("warning {warning_id}")))?)
}

#[cfg(test)]
mod tests {
    use super::window;

    #[test]
    fn a_window_ends_with_the_days_month() {
        let d = |s: &str| huimin_domain::Date::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(window(d("2024-03-15"), 12), ("2023-04".into(), "2024-03".into()));
        assert_eq!(window(d("2024-12-31"), 12), ("2024-01".into(), "2024-12".into()));
        assert_eq!(window(d("2024-01-01"), 1), ("2024-01".into(), "2024-01".into()));
        assert_eq!(window(d("2024-01-01"), 36), ("2021-02".into(), "2024-01".into()));
    }
}
