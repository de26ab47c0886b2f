//! One-stop settlement in the system: a registered person's stay at a facility, settled under the
//! policy in force on the admission date for the person's region, with the accumulators kept in
//! the store; reversal; and simulation of a draft policy over a past period's claims.

use std::collections::BTreeMap;
use std::sync::Arc;

use huimin_domain::{Date, Money, RegionCode, RegionLevel, parse_icd10};
use huimin_policy::{Bill, Claim, Fund, Ledger, Policy, VisitType, parse_policy, settle};
use huimin_domain::Facility;
use huimin_store::{AuditEntry, BatchChunk, BatchOutcome, ClaimRecord, SettlementContext, Store, StoreError, StoredClaim, StoredPolicy};
use serde::Serialize;

/// The policies loaded into the system, parsed once.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Arc<Vec<(StoredPolicy, Arc<Policy>)>>,
    /// The early-warning rules a settlement's household is checked against.
    pub warnings: crate::monitoring::WarningRuleSet,
}

impl PolicySet {
    pub async fn load(store: &Store) -> anyhow::Result<PolicySet> {
        let mut out = Vec::new();
        for p in store.policies().await? {
            let parsed = parse_policy(&format!("policy {}", p.id), &p.body)?;
            out.push((p, Arc::new(parsed)));
        }
        Ok(PolicySet { policies: Arc::new(out), warnings: crate::monitoring::WarningRuleSet::load(store).await? })
    }

    pub fn all(&self) -> impl Iterator<Item = (&StoredPolicy, &Policy)> {
        self.policies.iter().map(|(s, p)| (s, p.as_ref()))
    }

    pub fn get(&self, id: &str) -> Option<&Policy> {
        self.policies.iter().find(|(s, _)| s.id == id).map(|(_, p)| p.as_ref())
    }

    /// The policy that settles a claim of a person of `region` admitted on `date`: not a draft,
    /// in force on the date, for the most specific region containing the person's.
    pub fn in_force(&self, region: RegionCode, date: Date) -> Option<&Arc<Policy>> {
        self.policies
            .iter()
            .filter(|(s, p)| !s.draft && p.in_force_on(date) && p.region.contains(region))
            .max_by_key(|(_, p)| (p.region.level(), p.effective_from))
            .map(|(_, p)| p)
    }
}

/// Checks a policy file and stores it; returns the parsed policy.
pub async fn load_policy(store: &Store, file_name: &str, body: &str, draft: bool, audit: &AuditEntry) -> Result<Policy, SettleError> {
    let policy = parse_policy(file_name, body).map_err(|e| SettleError::Invalid(e.to_string()))?;
    let stored = StoredPolicy {
        id: policy.id.to_string(),
        name: policy.name.clone(),
        region: policy.region,
        effective_from: policy.effective_from,
        effective_to: policy.effective_to,
        draft,
        body: body.to_string(),
        loaded_by: audit.username.clone(),
        loaded_at: String::new(),
    };
    let mut audit = audit.clone();
    audit.detail = format!("{} {} {}..{}{}", policy.id, policy.region, policy.effective_from, policy.effective_to, if draft { " draft" } else { "" });
    store.save_policy(&stored, &audit).await?;
    Ok(policy)
}

/// A stay or visit as the settlement window enters it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SettleRequest {
    pub claim_no: String,
    pub person_id: i64,
    /// The settling facility. A clerk's request may leave it out: the web takes the clerk's own.
    #[serde(default)]
    pub facility_code: String,
    pub visit: VisitType,
    pub admission: Date,
    pub discharge: Date,
    pub diseases: Vec<String>,
    pub cat_a: Money,
    pub cat_b: Money,
    pub out_of_catalogue: Money,
    pub necessary: Money,
}

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("人员不存在")]
    PersonNotFound,
    #[error("此人在入院日期 {0} 不在健康扶贫名单中，不能按贫困人口结算")]
    NotInProgramme(Date),
    #[error("医疗机构 {0} 不存在")]
    FacilityNotFound(String),
    #[error("没有适用于区划 {region} 入院日期 {date} 的结算政策")]
    NoPolicy { region: RegionCode, date: Date },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Refused(String),
    /// The stay is settled already: `claim_no` is the bill that holds it.
    #[error("{message}")]
    AlreadySettled { claim_no: String, message: String },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for SettleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(m) | StoreError::Conflict(m) => SettleError::Refused(m),
            StoreError::AlreadySettled { claim_no, message } => SettleError::AlreadySettled { claim_no, message },
            StoreError::NotFound(m) => SettleError::Invalid(format!("{m} 不存在")),
            e => SettleError::Store(e),
        }
    }
}

/// A stay longer than this (days) is a typing error, not a stay.
const MAX_STAY_DAYS: i64 = 366;

fn check_claim_no(no: &str) -> Result<(), SettleError> {
    let ok = !no.is_empty() && no.len() <= 40 && no.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(SettleError::Invalid("结算单号应为 1–40 位字母、数字、- 或 _".into())) }
}

/// Everything a settlement needs, checked: the engine's claim, its record, and the policy.
pub async fn prepare(store: &Store, set: &PolicySet, req: &SettleRequest) -> Result<(ClaimRecord, Arc<Policy>), SettleError> {
    let person = store.settlement_contexts(&[req.person_id]).await?.remove(&req.person_id);
    let facility = store.facility(&req.facility_code).await?;
    build_record(req, person.as_ref(), facility.as_ref(), set)
}

/// The checks and the claim of [`prepare`], given what the store knows of the person and the
/// facility; shared by single and batch settlement.
fn build_record(req: &SettleRequest, person: Option<&SettlementContext>, facility: Option<&Facility>, set: &PolicySet) -> Result<(ClaimRecord, Arc<Policy>), SettleError> {
    check_claim_no(&req.claim_no)?;
    // What the form says of itself comes first: codes, dates.
    let diseases = req.diseases.iter().filter(|d| !d.trim().is_empty()).map(|d| parse_icd10(d)).collect::<Result<Vec<_>, _>>().map_err(|e| SettleError::Invalid(e.0))?;
    if req.discharge > crate::clock::today() {
        return Err(SettleError::Invalid(format!("出院日期 {} 晚于今天，出院后才能结算", req.discharge)));
    }
    let days = (req.discharge - req.admission).num_days();
    if days > MAX_STAY_DAYS {
        return Err(SettleError::Invalid(format!("入院 {} 至出院 {} 共 {days} 天，超过一年，请核对日期", req.admission, req.discharge)));
    }
    let person = person.ok_or(SettleError::PersonNotFound)?;
    if !person.in_programme_on(req.admission) {
        return Err(SettleError::NotInProgramme(req.admission));
    }
    let facility = facility.ok_or_else(|| SettleError::FacilityNotFound(req.facility_code.clone()))?;
    let county = |c: RegionCode| c.ancestor(RegionLevel::County);
    let claim = Claim {
        claim_no: req.claim_no.clone(),
        person: req.person_id.to_string(),
        category: person.category,
        visit: req.visit,
        level: facility.level,
        in_county: county(facility.region).is_some() && county(facility.region) == county(person.region),
        admission: req.admission,
        discharge: req.discharge,
        diseases,
        cat_a: req.cat_a,
        cat_b: req.cat_b,
        out_of_catalogue: req.out_of_catalogue,
        necessary: req.necessary,
    };
    claim.check().map_err(|e| SettleError::Invalid(e.to_string()))?;
    let policy = set.in_force(person.region, req.admission).ok_or(SettleError::NoPolicy { region: person.region, date: req.admission })?;
    let record = ClaimRecord { claim, person_id: req.person_id, facility_code: facility.code.clone(), region: person.region, policy_id: policy.id.to_string() };
    Ok((record, policy.clone()))
}

/// The bill the claim would get now, with the claim as checked (diagnoses normalised, the
/// facility's level, in or out of the county); nothing is written.
pub async fn preview(store: &Store, set: &PolicySet, req: &SettleRequest) -> Result<(Claim, Bill), SettleError> {
    let (record, policy) = prepare(store, set, req).await?;
    if store.claim(&req.claim_no).await?.is_some() {
        return Err(SettleError::AlreadySettled { claim_no: req.claim_no.clone(), message: format!("结算单号 {} 已结算过，不能重复结算", req.claim_no) });
    }
    store.check_stay(req.person_id, &req.facility_code, req.visit, req.admission, req.discharge).await?;
    let year = chrono::Datelike::year(&record.claim.discharge);
    let acc = store.accumulators(req.person_id, year).await?;
    let bill = settle(&policy, &record.claim, &acc).map(|(bill, _)| bill).map_err(|e| SettleError::Invalid(e.to_string()))?;
    Ok((record.claim, bill))
}

/// Settles and stores the claim.
pub async fn settle_claim(store: &Store, set: &PolicySet, req: &SettleRequest, settled_by: &str, audit: &AuditEntry) -> Result<Bill, SettleError> {
    let (record, policy) = prepare(store, set, req).await?;
    let mut audit = audit.clone();
    audit.target = format!("claim {}", req.claim_no);
    let claim = record.claim.clone();
    let person_id = record.person_id;
    let bill = store.settle_claim(record, move |acc| settle(&policy, &claim, acc).map_err(|e| e.to_string()), settled_by, &audit).await?;
    watch(store, set, &[person_id], &audit).await;
    Ok(bill)
}

/// After settlements are committed: the households of their persons checked against the warning
/// rules, a warning opened at once when one fires. The settlements stand whatever happens here;
/// a failure is logged (without the persons' data).
async fn watch(store: &Store, set: &PolicySet, persons: &[i64], audit: &AuditEntry) {
    crate::monitoring::logged(crate::monitoring::check_persons(store, &set.warnings, persons, crate::clock::today(), audit).await);
}

/// Lets one overlapping stay be settled: the person, the facility and the exact dates, with a
/// reason of at least four characters (logged with the person, never the diagnosis).
pub async fn approve_stay_exception(store: &Store, e: &huimin_store::NewStayException, audit: &AuditEntry) -> Result<i64, SettleError> {
    if e.reason.trim().chars().count() < 4 {
        return Err(SettleError::Invalid("请填写例外原因（至少 4 个字）".into()));
    }
    if e.admission > e.discharge {
        return Err(SettleError::Invalid(format!("入院日期 {} 晚于出院日期 {}", e.admission, e.discharge)));
    }
    let mut audit = audit.clone();
    audit.target = format!("person {}", e.person_id);
    audit.detail = format!("facility {} {}..{}; reason: {}", e.facility_code, e.admission, e.discharge, e.reason.trim());
    Ok(store.approve_stay_exception(e, &audit).await?)
}

pub async fn reverse_claim(store: &Store, claim_no: &str, reason: &str, by: &str, audit: &AuditEntry) -> Result<StoredClaim, SettleError> {
    if reason.trim().chars().count() < 2 {
        return Err(SettleError::Invalid("请填写冲销原因".into()));
    }
    let mut audit = audit.clone();
    audit.target = format!("claim {claim_no}");
    audit.detail = format!("reason: {}", reason.trim());
    Ok(store.reverse_claim(claim_no, reason.trim(), by, &audit).await?)
}

/// Settles many claims (e.g. a month's stays sent by a hospital system): each is checked as in
/// [`prepare`] and settled in file order; a claim that cannot be settled is reported with its
/// reason and the others go on. Claims are checked here while the store settles the ones
/// already checked; on SQLite the whole batch is one transaction.
pub async fn settle_batch(store: &Store, set: &PolicySet, requests: &[SettleRequest], settled_by: &str, audit: &AuditEntry) -> Result<BatchOutcome, SettleError> {
    const CHUNK: usize = 10_000;
    let mut ids: Vec<i64> = requests.iter().map(|r| r.person_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let persons = store.settlement_contexts(&ids).await?;
    // Each person's household, for the warning check after the commit (none without rules).
    let household_of: std::collections::HashMap<i64, String> =
        if set.warnings.is_empty() { Default::default() } else { persons.iter().map(|(id, c)| (*id, c.household_no.clone())).collect() };
    let facilities = store.all_facilities().await?;
    let (sender, feed) = tokio::sync::mpsc::channel(4);
    let check = async move {
        let mut refused = Vec::new();
        let mut items = Vec::with_capacity(CHUNK);
        for req in requests {
            match build_record(req, persons.get(&req.person_id), facilities.get(&req.facility_code), set) {
                Ok(item) => items.push(item),
                Err(e) => refused.push((req.claim_no.clone(), e.to_string())),
            }
            if items.len() == CHUNK && sender.send(BatchChunk::Claims(std::mem::replace(&mut items, Vec::with_capacity(CHUNK)))).await.is_err() {
                return refused; // the store stopped; its error is the answer
            }
        }
        if !items.is_empty() {
            let _ = sender.send(BatchChunk::Claims(items)).await;
        }
        let _ = sender.send(BatchChunk::End).await;
        refused
    };
    let (settled, mut refused) = tokio::join!(store.settle_batch(feed, settled_by, audit), check);
    let mut out = settled?;
    refused.append(&mut out.refused);
    out.refused = refused;
    // The batch's households checked against the warning rules, in bulk, after the commit.
    if !set.warnings.is_empty() {
        let refused: std::collections::HashSet<&str> = out.refused.iter().map(|(no, _)| no.as_str()).collect();
        let mut households: Vec<String> =
            requests.iter().filter(|r| !refused.contains(r.claim_no.as_str())).filter_map(|r| household_of.get(&r.person_id).cloned()).collect();
        households.sort_unstable();
        households.dedup();
        crate::monitoring::logged(crate::monitoring::check_households(store, &set.warnings, &households, crate::clock::today(), audit).await);
    }
    Ok(out)
}

/// Per fund: what was paid and what the draft would have paid.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FundComparison {
    pub fund: Fund,
    pub actual: Money,
    pub simulated: Money,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegionComparison {
    pub region: RegionCode,
    pub claims: usize,
    pub total: Money,
    pub actual_funds: Money,
    pub simulated_funds: Money,
    pub actual_patient: Money,
    pub simulated_patient: Money,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Simulation {
    pub claims: usize,
    pub by_fund: Vec<FundComparison>,
    pub by_region: Vec<RegionComparison>,
    /// Claims the draft could not settle (e.g. outside its period), with the reason.
    pub refused: Vec<(String, String)>,
}

/// Settles again, under `draft`, every claim settled for persons inside `region` and discharged
/// in [from, to] — each person with fresh accumulators, in the order they were settled — and
/// compares with what was paid, by fund and by the regions one level below `region`.
pub async fn simulate(store: &Store, draft: &Policy, region: RegionCode, from: Date, to: Date) -> Result<Simulation, SettleError> {
    let claims = store.settled_claims(region, from, to).await?;
    let mut ledger = Ledger::default();
    let mut funds: BTreeMap<Fund, (i64, i64)> = BTreeMap::new();
    let mut regions: BTreeMap<RegionCode, RegionComparison> = BTreeMap::new();
    let mut refused = Vec::new();
    let child_level = match region.level() {
        RegionLevel::Province => RegionLevel::City,
        RegionLevel::City => RegionLevel::County,
        RegionLevel::County => RegionLevel::Township,
        _ => RegionLevel::Village,
    };
    for c in &claims {
        let mut claim = c.claim.clone();
        // The draft settles on its own dates: shift nothing, but let a draft for another year
        // be tried by treating the claim as admitted within its period.
        if !draft.in_force_on(claim.admission) {
            let shift = draft.effective_from - c.bill.year_start();
            claim.admission = claim.admission + shift;
            claim.discharge = claim.discharge + shift;
        }
        let sim = match ledger.settle(draft, &claim) {
            Ok(b) => b,
            Err(e) => {
                refused.push((c.claim_no.clone(), e.to_string()));
                continue;
            }
        };
        for l in &c.bill.lines {
            funds.entry(l.fund).or_default().0 += l.total.fen();
        }
        for l in &sim.lines {
            funds.entry(l.fund).or_default().1 += l.total.fen();
        }
        let key = c.region.ancestor(child_level).unwrap_or(c.region);
        let r = regions.entry(key).or_insert(RegionComparison {
            region: key,
            claims: 0,
            total: Money::ZERO,
            actual_funds: Money::ZERO,
            simulated_funds: Money::ZERO,
            actual_patient: Money::ZERO,
            simulated_patient: Money::ZERO,
        });
        r.claims += 1;
        r.total = r.total + c.bill.total;
        r.actual_funds = r.actual_funds + c.bill.funds_total;
        r.simulated_funds = r.simulated_funds + sim.funds_total;
        r.actual_patient = r.actual_patient + c.bill.patient_total;
        r.simulated_patient = r.simulated_patient + sim.patient_total;
    }
    let m = |f: i64| Money::from_fen(f).unwrap_or(Money::ZERO);
    Ok(Simulation {
        claims: claims.len() - refused.len(),
        by_fund: funds.into_iter().map(|(fund, (a, s))| FundComparison { fund, actual: m(a), simulated: m(s) }).collect(),
        by_region: regions.into_values().collect(),
        refused,
    })
}
