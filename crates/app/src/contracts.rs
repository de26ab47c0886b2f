//! Family-doctor contracts and follow-ups: signing and renewing, key groups, the follow-up
//! worklist and completion rates (履约率).

use std::collections::{BTreeMap, HashMap};

use huimin_domain::{Date, FollowUpRule, KeyGroup, RegionCode, ScheduleState, Service, schedule, schedule_state};
use huimin_store::{AuditEntry, ContractRow, NewContract, Store, StoreError};
use serde::Serialize;

/// The follow-up rule for a region: the most specific region's, else 12 and 4 (seed 001).
pub fn rule_for(rules: &[(RegionCode, FollowUpRule)], region: RegionCode) -> FollowUpRule {
    rules.iter().filter(|(r, _)| r.contains(region)).max_by_key(|(r, _)| r.prefix().len()).map(|(_, rule)| *rule).unwrap_or_default()
}

/// A person's key groups on `today`: by age, by diagnosis, and those added by hand.
pub fn key_groups(birth: Date, today: Date, diagnoses: &[String], added: &[KeyGroup]) -> Vec<KeyGroup> {
    let mut out: Vec<KeyGroup> = KeyGroup::by_age(birth, today).into_iter().chain(diagnoses.iter().filter_map(|c| KeyGroup::by_diagnosis(c))).chain(added.iter().copied()).collect();
    out.sort();
    out.dedup();
    out
}

/// One contract on the worklist.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkItem {
    pub contract: ContractRow,
    pub key_groups: Vec<KeyGroup>,
    pub per_year: u8,
    pub state: ScheduleState,
    pub overdue_days: i64,
    pub last_follow_up: Option<Date>,
}

impl WorkItem {
    /// The latest ended window had no follow-up and none came after it.
    pub fn is_late(&self) -> bool {
        self.overdue_days > 0
    }

    /// The current window still needs its follow-up and ends by `day`.
    pub fn due_by(&self, day: Date) -> bool {
        self.state.next_due.is_some_and(|d| d <= day)
    }
}

impl huimin_domain::Disclose for WorkItem {
    /// A key group derived from a diagnosis shows only to those who may see the diagnosis. Not
    /// counted as withheld: the only confidential group would be named by the count.
    fn disclose(mut self, sight: &huimin_domain::Sight<'_>) -> Option<(Self, usize)> {
        self.key_groups.retain(|g| sight.shows_key_group(*g));
        Some((self, 0))
    }
}

/// The contracts of `year` inside `region` (of the given teams, if any) with where each
/// person's follow-up schedule stands on `today`.
pub async fn worklist(store: &Store, region: RegionCode, year: i32, teams: Option<&[i64]>, today: Date) -> Result<Vec<WorkItem>, StoreError> {
    let contracts = store.contracts(region, year).await?;
    let rules = store.follow_up_rules().await?;
    let diagnoses = store.diagnoses(region).await?;
    let added = store.key_group_additions(region).await?;
    let dates = store.follow_up_dates(region, year).await?;
    Ok(contracts
        .into_iter()
        .filter(|c| teams.is_none_or(|t| t.contains(&c.contract.team_id)))
        .map(|c| {
            let groups = key_groups(
                c.birth_date,
                today,
                diagnoses.get(&c.contract.person_id).map_or(&[][..], Vec::as_slice),
                added.get(&c.contract.person_id).map_or(&[][..], Vec::as_slice),
            );
            let per_year = rule_for(&rules, c.region).per_year(!groups.is_empty());
            let done = dates.get(&c.id).map_or(&[][..], Vec::as_slice);
            let state = schedule_state(&schedule(c.contract.starts_on, c.contract.ends_on, per_year), done, today);
            WorkItem { overdue_days: state.overdue_days(today), last_follow_up: done.iter().max().copied(), key_groups: groups, per_year, state, contract: c }
        })
        .collect())
}

/// Follow-ups done and due so far, for a group of contracts.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Completion {
    pub contracts: usize,
    pub due: u32,
    pub done: u32,
    /// Persons whose next follow-up is late.
    pub overdue: usize,
}

impl Completion {
    fn add(&mut self, w: &WorkItem) {
        self.contracts += 1;
        self.due += w.state.due;
        self.done += w.state.done;
        self.overdue += usize::from(w.overdue_days > 0);
    }
}

/// 履约率 by child region of `region` (the prefix of that level) and by team.
pub fn completion(items: &[WorkItem], child_prefix_len: usize) -> (BTreeMap<String, Completion>, BTreeMap<String, Completion>) {
    let mut by_region: BTreeMap<String, Completion> = BTreeMap::new();
    let mut by_team: BTreeMap<String, Completion> = BTreeMap::new();
    for w in items {
        let code = w.contract.region.to_string();
        by_region.entry(code[..child_prefix_len.min(code.len())].to_string()).or_default().add(w);
        by_team.entry(w.contract.team_name.clone()).or_default().add(w);
    }
    (by_region, by_team)
}

/// Signs a one-year contract from `starts_on` for each person, with the team and services given.
/// A person outside the team's area, or already signed for the year, refuses the whole batch.
pub async fn sign(store: &Store, person_ids: &[i64], team_id: i64, services: &[Service], signed_by: &str, starts_on: Date, audit: &AuditEntry) -> Result<usize, StoreError> {
    if person_ids.is_empty() {
        return Err(StoreError::Refused("请选择要签约的人员".into()));
    }
    if services.is_empty() {
        return Err(StoreError::Refused("请至少选择一项签约服务".into()));
    }
    let team = store.team(team_id).await?.ok_or_else(|| StoreError::NotFound(format!("team {team_id}")))?;
    let ends_on = starts_on.checked_add_months(chrono::Months::new(12)).and_then(|d| d.pred_opt()).unwrap_or(starts_on);
    let mut contracts = Vec::new();
    for &id in person_ids {
        let p = store.person(id).await?.ok_or_else(|| StoreError::NotFound(format!("person {id}")))?;
        let h = store.household(&p.person.household_no).await?.ok_or_else(|| StoreError::NotFound(format!("household of person {id}")))?;
        if !team.region.contains(h.household.region) {
            return Err(StoreError::Refused(format!("{} 不在团队「{}」的服务区域内", p.person.name.as_str(), team.name)));
        }
        contracts.push(NewContract {
            person_id: id,
            team_id,
            year: chrono::Datelike::year(&starts_on),
            starts_on,
            ends_on,
            services: services.to_vec(),
            signed_by: signed_by.to_string(),
            signed_on: starts_on,
            renewed_from: None,
        });
    }
    let mut audit = audit.clone();
    audit.target = format!("team {team_id}");
    audit.detail = format!("{} contracts from {starts_on}", contracts.len());
    store.sign_contracts(&contracts, &audit).await
}

/// Renews the contracts of `year` inside `region` for the next year (same team and services,
/// from the day after each ends), for persons still in the programme and not yet signed.
pub async fn renew(store: &Store, region: RegionCode, year: i32, signed_by: &str, audit: &AuditEntry) -> Result<usize, StoreError> {
    let next: HashMap<i64, ()> = store.contracts(region, year + 1).await?.into_iter().map(|c| (c.contract.person_id, ())).collect();
    let renewals: Vec<NewContract> = store
        .contracts(region, year)
        .await?
        .into_iter()
        .filter(|c| !next.contains_key(&c.contract.person_id))
        .filter_map(|c| {
            let starts_on = c.contract.ends_on.succ_opt()?;
            Some(NewContract {
                year: year + 1,
                ends_on: starts_on.checked_add_months(chrono::Months::new(12))?.pred_opt()?,
                starts_on,
                signed_on: starts_on,
                signed_by: signed_by.to_string(),
                renewed_from: Some(c.id),
                ..c.contract
            })
        })
        .collect();
    let mut audit = audit.clone();
    audit.target = format!("region {region}");
    audit.detail = format!("{} contracts renewed for {}", renewals.len(), year + 1);
    store.sign_contracts(&renewals, &audit).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_rule_applies() {
        let r = |s: &str| RegionCode::parse(s).unwrap();
        let rules = [(r("371302"), FollowUpRule::new(6, 2).unwrap()), (r("371302001"), FollowUpRule::new(12, 3).unwrap())];
        assert_eq!(rule_for(&rules, r("371302001201")).other_per_year, 3);
        assert_eq!(rule_for(&rules, r("371302002201")).key_per_year, 6);
        assert_eq!(rule_for(&rules, r("371311001201")), FollowUpRule::default());
    }

    #[test]
    fn key_groups_are_merged() {
        let d = |s: &str| Date::parse_from_str(s, "%Y-%m-%d").unwrap();
        let g = key_groups(d("1950-01-01"), d("2024-06-01"), &["I10".into(), "I10.X".into()], &[KeyGroup::Disabled]);
        assert_eq!(g, [KeyGroup::Elderly, KeyGroup::Disabled, KeyGroup::Hypertension]);
        assert!(key_groups(d("1990-01-01"), d("2024-06-01"), &["K29".into()], &[]).is_empty());
    }
}
