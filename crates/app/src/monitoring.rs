//! 防止因病返贫动态监测 (docs/monitoring.md): the warning rules in force, and the check of a
//! household after each settlement — its members' compliant out-of-pocket spending over the rules'
//! window (`person_burden`), its economics, the rules — that opens a warning at once.

use std::sync::Arc;

use huimin_domain::{Date, RegionCode};
use huimin_policy::{HouseholdFigures, WarningRules, parse_warning_rules};
use huimin_store::{AuditEntry, NewWarning, Store, StoreError, StoredWarningRules};

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
        for h in store.household_windows(households, &from, &to).await? {
            let Some(rules) = set.in_force(h.region, today).filter(|r| r.window_months == months) else { continue };
            let category = h.economics.as_ref().and_then(|e| e.monitoring_category);
            if !h.in_programme && category.is_none() {
                continue;
            }
            let figures = HouseholdFigures {
                category,
                size: h.economics.as_ref().map_or(h.members.max(1), |e| e.size),
                per_capita_income: h.economics.as_ref().and_then(|e| e.per_capita_income),
                out_of_pocket: h.out_of_pocket,
            };
            let fired = rules.check(&figures);
            let Some(first) = fired.first() else { continue };
            let w = NewWarning {
                household_no: h.household_no.clone(),
                region: h.region,
                rules_id: rules.id.clone(),
                rule_id: first.rule_id.clone(),
                rule_name: fired.iter().map(|f| f.rule_name.as_str()).collect::<Vec<_>>().join("；"),
                reason: fired.iter().map(|f| f.reason.as_str()).collect::<Vec<_>>().join("；"),
                source: first.source.clone(),
                out_of_pocket: h.out_of_pocket,
                opened_on: today,
            };
            let mut audit = audit.clone();
            audit.action = "warning.open".into();
            audit.target = format!("household {}", h.household_no);
            audit.detail = format!("rules {} {}", rules.id, fired.iter().map(|f| f.rule_id.as_str()).collect::<Vec<_>>().join(","));
            opened.extend(store.open_warning(&w, &audit).await?);
        }
    }
    Ok(opened)
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
