//! The indicators of domain.md §4 for a region and a period, their targets, and the reports
//! built from them (XLSX): the county's monthly progress, the claims report in the form of seed
//! 004, screening progress, and fund reconciliation.

use std::collections::BTreeMap;
use std::path::Path;

use huimin_domain::{Date, Period, RegionCode, RegionLevel};
use huimin_policy::Fund;
use huimin_store::{ClaimSums, Store, StoreError, Target, WarningCell};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use serde::{Deserialize, Serialize};

use crate::health;

/// The supervised indicators and their default targets: (code, Chinese name, at most?, target in
/// ppm, source). A region's own target (the most specific) replaces the default.
pub const INDICATORS: [(&str, &str, bool, i64, &str); 5] = [
    ("self_pay_ratio", "住院个人自付比例", true, 100_000, "《县2020年健康扶贫工作计划》“一个确保”：贫困患者住院费用个人自付比例控制在10%以内"),
    ("contract_rate", "家庭医生签约率", false, 1_000_000, "《县2020年健康扶贫工作计划》：应签尽签；《守护健康奔小康——茅箭区健康扶贫工作综述》：茅箭区签约率达 98.8%"),
    ("follow_up_rate", "随访履约率", false, 900_000, "本系统默认值 90%（来源文件未给出，可按本地区设置目标）"),
    ("screening_rate", "因病致贫筛查完成率", false, 950_000, "本系统默认值 95%（《我省抓实五项重点工作 全力推动健康扶贫》：云南一个月完成 96%），可按本地区设置目标"),
    ("recognition_in_time", "监测对象按期认定率", false, 1_000_000, "防止返贫动态监测识别程序：自发现线索之日起 15 天内完成认定（部分省份为 20 个工作日）；本系统默认目标 100%"),
];

/// The population figures of a region: registry, screening, the three batches, treatment,
/// contracts and follow-ups. Every field is a count, so a county's figures are the sum of its
/// townships'.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Population {
    pub households: i64,
    pub persons: i64,
    pub illness_households: i64,
    /// Households by poverty category (its code).
    pub households_by_category: BTreeMap<String, i64>,
    /// Sick persons by catalogue group (its id): a person counts once in each group of their diseases.
    pub sick_by_group: BTreeMap<String, i64>,
    /// The latest screening campaign begun by the period's end: households to screen, screened,
    /// found poor because of illness.
    pub screening: [i64; 3],
    pub sick_persons: i64,
    /// Persons per batch: centralised treatment, contract management, backstop.
    pub batches: [i64; 3],
    /// Centralised treatment: identified, treated.
    pub treatment: [i64; 2],
    /// Persons in the programme; those with a contract for the period's year.
    pub contracts: [i64; 2],
    /// Follow-up windows done, windows due so far, persons late.
    pub follow_ups: [i64; 3],
    /// Monitored households (防止返贫监测对象) by monitoring category (its code): households,
    /// persons (their recorded sizes).
    pub monitored: BTreeMap<String, [i64; 2]>,
    /// Households by compliant out-of-pocket spending over the twelve months to the day counted,
    /// in the bands of `huimin_store::BURDEN_BANDS` (households that paid nothing not counted).
    pub burden: [i64; 6],
    /// The recognitions of households at risk as they stood on the day counted (`child` empty).
    pub warnings: WarningCell,
}

impl Population {
    fn add(&mut self, o: &Population) {
        self.households += o.households;
        self.persons += o.persons;
        self.illness_households += o.illness_households;
        self.sick_persons += o.sick_persons;
        for (k, v) in &o.households_by_category {
            *self.households_by_category.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.sick_by_group {
            *self.sick_by_group.entry(k.clone()).or_default() += v;
        }
        for (k, [h, p]) in &o.monitored {
            let e = self.monitored.entry(k.clone()).or_default();
            (e[0], e[1]) = (e[0] + h, e[1] + p);
        }
        for (a, b) in self.burden.iter_mut().zip(&o.burden) {
            *a += b;
        }
        self.warnings.add(&o.warnings);
        for (a, b) in self.screening.iter_mut().chain(&mut self.batches).chain(&mut self.treatment).chain(&mut self.contracts).chain(&mut self.follow_ups).zip(
            o.screening.iter().chain(&o.batches).chain(&o.treatment).chain(&o.contracts).chain(&o.follow_ups),
        ) {
            *a += b;
        }
    }
}

/// A region below the one shown, with its figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChildFigures {
    pub region: huimin_domain::Region,
    pub households: i64,
    pub persons: i64,
    pub illness_households: i64,
    /// Persons in the programme; with a contract for the year.
    pub contracts: [i64; 2],
    pub claims: ClaimSums,
    /// Monitored households (any category).
    pub monitored_households: i64,
    pub warnings: WarningCell,
}

/// Everything the dashboard shows for one region and period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Indicators {
    pub region: RegionCode,
    pub period: Period,
    pub population: Population,
    /// From a county up, the population figures are the sum of the townships' stored figures:
    /// the oldest day they were computed on. `None`: computed now.
    pub population_as_of: Option<String>,
    /// Townships whose figures for the year were not stored and were computed for this answer
    /// (the caller may ask the job that stores them to run).
    pub unstored_townships: usize,
    /// The screening campaign counted (a township or a village).
    pub screening_campaign: Option<String>,
    pub claims: ClaimSums,
    pub inpatient: ClaimSums,
    pub outpatient_chronic: ClaimSums,
    /// All claims by discharge month.
    pub by_month: Vec<(String, ClaimSums)>,
    pub children: Vec<ChildFigures>,
}

/// A figure against its target.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Check {
    pub indicator: &'static str,
    pub name: &'static str,
    /// The figure in ppm, if there is anything to measure.
    pub value_ppm: Option<i64>,
    pub target_ppm: i64,
    pub at_most: bool,
    pub source: String,
    pub met: bool,
}

/// `part / whole` in parts per million, rounded half up; `None` when the whole is zero.
pub fn ppm(part: i64, whole: i64) -> Option<i64> {
    (whole > 0).then(|| (i128::from(part) * 2_000_000 + i128::from(whole)) / (2 * i128::from(whole))).map(|v| v as i64)
}

/// A ppm figure as people read rates (`huimin_domain::format::percent`: one decimal, `91.4%`).
pub fn percent(ppm: Option<i64>) -> String {
    ppm.map_or_else(|| "—".into(), |v| huimin_domain::format::percent(v, 1_000_000))
}

/// The population figures of a region computed from its persons, as [`population`] returns them.
pub struct Counted {
    pub population: Population,
    /// The screening campaign counted.
    pub campaign: Option<String>,
    /// The 签约率 of each region below (their sum is `population.contracts`).
    pub contract_rates: Vec<huimin_store::ContractRate>,
}

/// The population figures of a region computed from the registry, health files and contracts.
pub async fn population(store: &Store, catalogues: &huimin_domain::Catalogues, region: RegionCode, period: Period, today: Date) -> Result<Counted, StoreError> {
    let year = chrono::Datelike::year(&period.to);
    let registry = store.registry_counts(region).await?;
    let mut p = Population {
        households: registry.households,
        persons: registry.persons,
        illness_households: registry.illness_households,
        households_by_category: registry.households_by_category.iter().map(|(c, n)| (c.code().to_string(), *n)).collect(),
        ..Default::default()
    };
    let mut campaign = None;
    if let Some(c) = store.campaigns(region).await?.into_iter().find(|c| c.starts_on <= period.to) {
        for row in store.screening_progress(c.id, region).await? {
            p.screening[0] += row.to_screen;
            p.screening[1] += row.screened;
            p.screening[2] += row.illness_poor;
        }
        campaign = Some(c.name);
    }
    let rows = health::batches(store, catalogues, region, year).await.map_err(|e| match e {
        health::HealthError::Store(e) => e,
        e => StoreError::Corrupt(e.to_string()),
    })?;
    let counts = health::batch_counts(&rows);
    p.batches = [counts[0].1 as i64, counts[1].1 as i64, counts[2].1 as i64];
    p.sick_persons = rows.len() as i64;
    for row in &rows {
        let mut groups: Vec<&str> = row.person.diseases.iter().filter_map(|(code, _, _)| catalogues.for_region(row.person.region).entry(code)).flat_map(|e| e.groups.iter().map(String::as_str)).collect();
        groups.sort_unstable();
        groups.dedup();
        for g in groups {
            *p.sick_by_group.entry(g.to_string()).or_default() += 1;
        }
    }
    let ledger = store.treatments(region, None).await?;
    p.treatment = [ledger.len() as i64, ledger.iter().filter(|t| t.status == huimin_domain::TreatmentStatus::Treated).count() as i64];
    let contract_rates = store.contract_rates(region, year).await?;
    for r in &contract_rates {
        p.contracts[0] += r.persons;
        p.contracts[1] += r.signed;
    }
    for w in crate::contracts::worklist(store, region, year, None, today.min(period.to)).await? {
        p.follow_ups[0] += i64::from(w.state.done);
        p.follow_ups[1] += i64::from(w.state.due);
        p.follow_ups[2] += i64::from(w.overdue_days > 0);
    }
    for c in store.monitored_cells(region, region.prefix().len()).await? {
        let e = p.monitored.entry(c.category.code().to_string()).or_default();
        (e[0], e[1]) = (e[0] + c.households, e[1] + c.persons);
    }
    let (from, to) = crate::monitoring::window(today, 12);
    p.burden = store.burden_bands(region, &from, &to).await?;
    for cell in store.warning_cells(region, region.prefix().len(), today).await? {
        p.warnings.add(&cell);
    }
    Ok(Counted { population: p, campaign, contract_rates })
}

/// A township's population figures for a year: as stored (with the day they were computed
/// on), or computed now when nothing (readable) is stored. Reading never writes: the figures are
/// stored only by [`refresh_figures`], so a dashboard still answers when the disk is full.
async fn township_population(
    store: &Store,
    catalogues: &huimin_domain::Catalogues,
    township: RegionCode,
    stored: Option<(String, String)>,
    year: i32,
    today: Date,
) -> Result<(Population, String), StoreError> {
    if let Some((as_of, json)) = stored {
        if let Ok(p) = serde_json::from_str::<Population>(&json) {
            return Ok((p, as_of));
        }
    }
    let p = population(store, catalogues, township, Period::year(year), today).await?.population;
    Ok((p, today.to_string()))
}

/// Recomputes the stored figures of every township inside `region` not computed today (the
/// server does it each night and when a reader found figures missing), or every one with
/// `again` (the dashboard's button: a recognition decided this morning counts this afternoon).
/// Returns how many townships were computed.
pub async fn refresh_figures(store: &Store, catalogues: &huimin_domain::Catalogues, region: RegionCode, year: i32, today: Date, again: bool) -> Result<usize, StoreError> {
    let mut n = 0;
    for (township, stored) in store.stored_figures(region, year, RegionLevel::Township).await? {
        if !again && stored.is_some_and(|(as_of, _)| as_of == today.to_string()) {
            continue;
        }
        let (p, _) = township_population(store, catalogues, township, None, year, today).await?;
        let json = serde_json::to_string(&p).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        store.save_figures(township, year, &today.to_string(), &json).await?;
        n += 1;
    }
    store_county_sums(store, region.ancestor(RegionLevel::County).unwrap_or(region), year).await?;
    Ok(n)
}

/// Stores each county's sum of its townships' stored figures, as of the oldest of them: what a
/// city or the province reads instead of thousands of townships. A county with a township never
/// computed has no sum (its readers sum the townships, computing the missing one).
async fn store_county_sums(store: &Store, region: RegionCode, year: i32) -> Result<(), StoreError> {
    let mut sums: std::collections::BTreeMap<RegionCode, Option<(Population, String)>> = std::collections::BTreeMap::new();
    for (township, stored) in store.stored_figures(region, year, RegionLevel::Township).await? {
        let Some(county) = township.ancestor(RegionLevel::County) else { continue };
        let sum = sums.entry(county).or_insert_with(|| Some((Population::default(), String::new())));
        let figures = stored.and_then(|(as_of, json)| Some((serde_json::from_str::<Population>(&json).ok()?, as_of)));
        match (sum.as_mut(), figures) {
            (Some((total, oldest)), Some((p, as_of))) => {
                total.add(&p);
                if oldest.is_empty() || as_of < *oldest {
                    *oldest = as_of;
                }
            }
            _ => *sum = None,
        }
    }
    for (county, sum) in sums {
        match sum {
            Some((p, as_of)) => {
                let json = serde_json::to_string(&p).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                store.save_figures(county, year, &as_of, &json).await?;
            }
            None => store.forget_figures(county, year).await?,
        }
    }
    Ok(())
}

/// Every figure of the dashboard for a region and period. A township or a village is computed
/// from its persons; a county sums its townships' stored population figures, a city or the
/// province its counties' stored sums of them (see [`refresh_figures`]). Claim figures always come from the claims as they stand.
pub async fn compute(store: &Store, catalogues: &huimin_domain::Catalogues, region: RegionCode, period: Period, today: Date) -> Result<Indicators, StoreError> {
    let children_regions = store.child_regions(region).await?;
    let width = children_regions.first().map_or(region.prefix().len(), |c| c.code.prefix().len());
    let mut children: Vec<ChildFigures> = children_regions
        .into_iter()
        .map(|r| ChildFigures { region: r, households: 0, persons: 0, illness_households: 0, contracts: [0; 2], claims: ClaimSums::default(), monitored_households: 0, warnings: WarningCell::default() })
        .collect();
    let mut unstored = 0;
    let (population, population_as_of, screening_campaign) = if region.level() <= huimin_domain::RegionLevel::County {
        let mut total = Population::default();
        let mut oldest: Option<String> = None;
        // Stored per township and year: the year of the period, whatever part of it is shown.
        let year = chrono::Datelike::year(&period.to);
        // A city or the province sums its counties' stored sums when every county has one.
        let counties = if region.level() < RegionLevel::County { store.stored_figures(region, year, RegionLevel::County).await? } else { Vec::new() };
        let parts = if !counties.is_empty() && counties.iter().all(|(_, stored)| stored.is_some()) {
            counties
        } else {
            store.stored_figures(region, year, RegionLevel::Township).await?
        };
        for (township, stored) in parts {
            unstored += usize::from(stored.is_none());
            let (p, as_of) = township_population(store, catalogues, township, stored, year, today).await?;
            total.add(&p);
            if oldest.as_ref().is_none_or(|o| as_of < *o) {
                oldest = Some(as_of);
            }
            if let Some(ch) = children.iter_mut().find(|c| c.region.code.contains(township)) {
                ch.households += p.households;
                ch.persons += p.persons;
                ch.illness_households += p.illness_households;
                ch.contracts[0] += p.contracts[0];
                ch.contracts[1] += p.contracts[1];
                ch.monitored_households += p.monitored.values().map(|[h, _]| h).sum::<i64>();
                ch.warnings.add(&p.warnings);
            }
        }
        (total, oldest, None)
    } else {
        let counted = population(store, catalogues, region, period, today).await?;
        let counts = store.region_children_counts(region).await?;
        for ch in &mut children {
            if let Some(c) = counts.iter().find(|c| c.region.code == ch.region.code) {
                (ch.households, ch.persons, ch.illness_households) = (c.households, c.persons, c.illness_households);
            }
            if let Some(r) = counted.contract_rates.iter().find(|r| r.region == ch.region.code) {
                ch.contracts = [r.persons, r.signed];
            }
        }
        for c in store.monitored_cells(region, width).await? {
            if let Some(ch) = children.iter_mut().find(|ch| ch.region.code.prefix() == c.child) {
                ch.monitored_households += c.households;
            }
        }
        for cell in store.warning_cells(region, width, today).await? {
            if let Some(ch) = children.iter_mut().find(|c| c.region.code.prefix() == cell.child) {
                ch.warnings.add(&cell);
            }
        }
        (counted.population, None, counted.campaign)
    };
    let mut claims = ClaimSums::default();
    let mut inpatient = ClaimSums::default();
    let mut outpatient_chronic = ClaimSums::default();
    let mut by_month: Vec<(String, ClaimSums)> = Vec::new();
    for cell in store.claim_cells(region, period, width).await? {
        claims.add(&cell.sums);
        match cell.visit.as_str() {
            "inpatient" => inpatient.add(&cell.sums),
            "outpatient_chronic" => outpatient_chronic.add(&cell.sums),
            _ => {}
        }
        match by_month.iter_mut().find(|(m, _)| *m == cell.month) {
            Some((_, s)) => s.add(&cell.sums),
            None => by_month.push((cell.month.clone(), cell.sums.clone())),
        }
        if let Some(ch) = children.iter_mut().find(|c| c.region.code.prefix() == cell.child) {
            ch.claims.add(&cell.sums);
        }
    }
    by_month.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Indicators { region, period, population, population_as_of, unstored_townships: unstored, screening_campaign, claims, inpatient, outpatient_chronic, by_month, children })
}

/// A person whose accumulated payments of a year reached an annual cap: a layer that pays no
/// more this year (`out_of_pocket` false), or the patient's own payment at an annual
/// out-of-pocket cap (true).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CapReached {
    pub person_id: i64,
    pub person_name: String,
    pub household_no: String,
    pub region: RegionCode,
    pub layer: String,
    pub fund: Fund,
    pub out_of_pocket: bool,
    pub cap: i64,
    pub amount: i64,
}

/// The persons inside `region` at an annual cap in `year`, largest amount first. Each layer's cap
/// is the one that applied to the person's latest settled claim of the year (a variant may give
/// a category its own cap); the amounts are the accumulators as they stand.
pub async fn persons_at_cap(store: &Store, policies: &crate::settlement::PolicySet, region: RegionCode, year: i32) -> Result<Vec<CapReached>, StoreError> {
    use huimin_policy::Rule;
    use huimin_policy::policy::Params;
    let whole_year = Period::year(year);
    let mut latest: std::collections::HashMap<i64, huimin_store::StoredClaim> = std::collections::HashMap::new();
    for c in store.settled_claims(region, whole_year.from, whole_year.to).await? {
        let newer = latest.get(&c.person_id).is_none_or(|l| l.claim.discharge <= c.claim.discharge);
        if newer {
            latest.insert(c.person_id, c);
        }
    }
    let accumulators = store.accumulators_in(region, year).await?;
    let mut out = Vec::new();
    for (person_id, claim) in &latest {
        let (Some(policy), Some(acc)) = (policies.get(&claim.policy_id), accumulators.get(person_id)) else { continue };
        for layer in &policy.layers {
            let at = acc.get(&layer.id);
            let (cap, amount, out_of_pocket) = match &layer.rule {
                Rule::Share { base, variants } => match Params::resolve(base, variants, &claim.claim, &policy.disease_groups).cap {
                    Some(cap) => (cap, at.paid, false),
                    None => continue,
                },
                Rule::AnnualOutOfPocketCap { cap } => (*cap, at.base, true),
                _ => continue,
            };
            if amount >= cap {
                out.push(CapReached { person_id: *person_id, person_name: String::new(), household_no: String::new(), region: claim.region, layer: layer.name.to_string(), fund: layer.fund, out_of_pocket, cap: cap.fen(), amount: amount.fen() });
            }
        }
    }
    let mut ids: Vec<i64> = out.iter().map(|c| c.person_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let persons: std::collections::HashMap<i64, huimin_store::SickPerson> = store.persons_by_id(&ids).await?.into_iter().map(|p| (p.person_id, p)).collect();
    for c in &mut out {
        if let Some(p) = persons.get(&c.person_id) {
            (c.person_name, c.household_no) = (p.name.clone(), p.household_no.clone());
        }
    }
    out.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.person_id.cmp(&b.person_id)).then(a.layer.cmp(&b.layer)));
    Ok(out)
}

/// The target for an indicator in a region: the most specific region's, else the default.
pub fn target_for(targets: &[Target], region: RegionCode, indicator: &str) -> (i64, bool, String) {
    let default = INDICATORS.iter().find(|(code, ..)| *code == indicator).map(|(_, _, at_most, v, src)| (*v, *at_most, src.to_string())).unwrap_or((0, false, String::new()));
    targets
        .iter()
        .filter(|t| t.indicator == indicator && t.region.contains(region))
        .max_by_key(|t| t.region.prefix().len())
        .map(|t| (t.value_ppm, t.at_most, t.source.clone()))
        .unwrap_or(default)
}

/// Each supervised figure of `ind` against its target.
pub fn checks(ind: &Indicators, targets: &[Target]) -> Vec<Check> {
    INDICATORS
        .iter()
        .map(|(code, name, ..)| {
            let value_ppm = match *code {
                "self_pay_ratio" => ppm(ind.inpatient.patient_total, ind.inpatient.total),
                "contract_rate" => ppm(ind.population.contracts[1], ind.population.contracts[0]),
                "follow_up_rate" => ppm(ind.population.follow_ups[0], ind.population.follow_ups[1]),
                "recognition_in_time" => ppm(ind.population.warnings.decided_in_time, ind.population.warnings.decided),
                _ => ppm(ind.population.screening[1], ind.population.screening[0]),
            };
            let (target_ppm, at_most, source) = target_for(targets, ind.region, code);
            let met = value_ppm.is_none_or(|v| if at_most { v <= target_ppm } else { v >= target_ppm });
            Check { indicator: code, name, value_ppm, target_ppm, at_most, source, met }
        })
        .collect()
}

fn yuan(fen: i64) -> f64 {
    // For spreadsheet cells only: amounts are computed in fen; a cell shows yuan with 2 decimals.
    fen as f64 / 100.0
}

/// A report's cell: what it is decides how it is written — numbers as numbers with a display
/// format (a spreadsheet can sum them), text as text (codes and ID numbers keep their digits).
enum Cell {
    Text(String),
    Code(String),
    Count(i64),
    /// Fen, shown as yuan with separators.
    Money(i64),
    /// A rate in ppm, stored as the fraction and shown as 0.0%; `None`: no denominator (—).
    Rate(Option<i64>),
}

/// The formats every report uses, one per kind of cell (the same precision as the pages).
struct Formats {
    bold: Format,
    count: Format,
    money: Format,
    rate: Format,
    text: Format,
}

impl Formats {
    fn new() -> Self {
        Formats {
            bold: Format::new().set_bold().set_text_wrap(),
            count: Format::new().set_num_format("#,##0"),
            money: Format::new().set_num_format("#,##0.00"),
            rate: Format::new().set_num_format("0.0%"),
            text: Format::new().set_num_format("@"),
        }
    }

    fn write(&self, sheet: &mut rust_xlsxwriter::Worksheet, row: u32, col: u16, cell: &Cell) -> Result<(), XlsxError> {
        match cell {
            Cell::Text(t) => sheet.write_string(row, col, t).map(|_| ()),
            Cell::Code(t) => sheet.write_string_with_format(row, col, t, &self.text).map(|_| ()),
            Cell::Count(n) => sheet.write_number_with_format(row, col, *n as f64, &self.count).map(|_| ()),
            Cell::Money(fen) => sheet.write_number_with_format(row, col, yuan(*fen), &self.money).map(|_| ()),
            Cell::Rate(Some(ppm)) => sheet.write_number_with_format(row, col, *ppm as f64 / 1_000_000.0, &self.rate).map(|_| ()),
            Cell::Rate(None) => sheet.write_string(row, col, "—").map(|_| ()),
        }
    }

    /// A header row, each column given a width for its longest header line.
    fn header(&self, sheet: &mut rust_xlsxwriter::Worksheet, row: u32, heads: &[&str], min_width: f64) -> Result<(), XlsxError> {
        for (c, h) in heads.iter().enumerate() {
            sheet.write_with_format(row, c as u16, *h, &self.bold)?;
            let chars = h.chars().map(|ch| if ch.is_ascii() { 1.0 } else { 2.0 }).sum::<f64>();
            sheet.set_column_width(c as u16, (chars / 2.0 + 2.0).max(min_width))?;
        }
        Ok(())
    }
}

/// Printing: landscape A4, one page wide, the header row on every page, the title in the header.
fn print_setup(sheet: &mut rust_xlsxwriter::Worksheet, header_row: u32, title: &str) -> Result<(), XlsxError> {
    sheet.set_landscape().set_paper_size(9).set_print_fit_to_pages(1, 0).set_repeat_rows(header_row, header_row)?;
    sheet.set_header(&format!("&C{}", title.replace('&', "&&"))).set_footer("&C第 &P 页，共 &N 页");
    Ok(())
}

/// The claims report in the form of seed 004, by child region: inpatient stays, total cost,
/// reimbursed, ratio; chronic outpatient persons, visits, reimbursed; the fiscal backstop.
pub async fn write_claims_report(store: &Store, region: RegionCode, period: Period, child_width: usize, path: &Path) -> Result<(), ReportError> {
    let mut book = Workbook::new();
    let f = Formats::new();
    let sheet = book.add_worksheet().set_name("结算情况")?;
    let title = format!("贫困人口医疗费用结算情况（{}）", period.label());
    sheet.write_with_format(0, 0, &title, &f.bold)?;
    let heads = ["区划", "住院人次", "住院总费用（元）", "各项报销合计（元）", "报销比例", "个人自付（元）", "自付超10%人次", "慢性病门诊人数", "门诊核销人次", "门诊核销费用（元）", "财政兜底（元）"];
    f.header(sheet, 2, &heads, 12.0)?;
    print_setup(sheet, 2, &title)?;
    let names = store.child_regions(region).await?;
    let cells = store.claim_cells(region, period, child_width).await?;
    let chronic_persons = store.claim_persons(region, period, child_width, "outpatient_chronic").await?;
    let all_chronic_persons: i64 = store.claim_persons(region, period, region.prefix().len(), "outpatient_chronic").await?.iter().map(|(_, n)| n).sum();
    let mut keys: Vec<&String> = cells.iter().map(|c| &c.child).collect();
    keys.dedup();
    let sums = |key: Option<&String>, visit: &str| {
        let mut s = ClaimSums::default();
        for c in cells.iter().filter(|c| c.visit == visit && key.is_none_or(|k| *k == c.child)) {
            s.add(&c.sums);
        }
        s
    };
    let mut row = 3u32;
    for k in keys.iter().copied().map(Some).chain([None]) {
        let (i, c) = (sums(k, "inpatient"), sums(k, "outpatient_chronic"));
        let (label, persons) = match k {
            Some(k) => (
                names.iter().find(|r| r.code.prefix() == *k).map_or(k.clone(), |r| r.name.clone()),
                chronic_persons.iter().find(|(x, _)| x == k).map_or(0, |(_, n)| *n),
            ),
            None => ("合计".to_string(), all_chronic_persons),
        };
        let cells = [
            Cell::Text(label),
            Cell::Count(i.claims),
            Cell::Money(i.total),
            Cell::Money(i.funds_total),
            Cell::Rate(ppm(i.funds_total, i.total)),
            Cell::Money(i.patient_total),
            Cell::Count(i.over_ceiling),
            Cell::Count(persons),
            Cell::Count(c.claims),
            Cell::Money(c.funds_total),
            Cell::Money(i.fund(Fund::FiscalBackstop) + c.fund(Fund::FiscalBackstop)),
        ];
        for (col, cell) in cells.iter().enumerate() {
            f.write(sheet, row, col as u16, cell)?;
        }
        row += 1;
    }
    sheet.set_column_width(0, 16)?;
    crate::files::save_workbook(&mut book, path)?;
    Ok(())
}

/// Fund reconciliation as a workbook: a summary sheet (hospital × fund) and one sheet of claims
/// per fund that owes anything.
pub async fn write_reconciliation(store: &Store, region: RegionCode, month: &str, path: &Path) -> Result<(), ReportError> {
    let mut book = Workbook::new();
    let f = Formats::new();
    let summary = book.add_worksheet().set_name("对账汇总")?;
    let title = format!("{month} 各基金应付医疗机构金额（按结算日期）");
    summary.write_with_format(0, 0, &title, &f.bold)?;
    f.header(summary, 2, &["基金", "基金编码", "医疗机构编码", "医疗机构", "结算单数", "应付金额（元）"], 10.0)?;
    print_setup(summary, 2, &title)?;
    let mut row = 3u32;
    let owed = store.owed_by_fund(region, month).await?;
    for (fund, o) in &owed {
        let cells = [Cell::Text(fund.label_zh().into()), Cell::Code(fund.code().into()), Cell::Code(o.facility_code.clone()), Cell::Text(o.facility_name.clone()), Cell::Count(o.claims), Cell::Money(o.amount)];
        for (col, cell) in cells.iter().enumerate() {
            f.write(summary, row, col as u16, cell)?;
        }
        row += 1;
    }
    f.write(summary, row, 0, &Cell::Text("合计".into()))?;
    f.write(summary, row, 4, &Cell::Count(owed.iter().map(|(_, o)| o.claims).sum()))?;
    f.write(summary, row, 5, &Cell::Money(owed.iter().map(|(_, o)| o.amount).sum()))?;
    summary.set_column_width(0, 22)?.set_column_width(3, 24)?;
    for fund in Fund::ALL {
        let facilities: Vec<&String> = owed.iter().filter(|(f, _)| *f == fund).map(|(_, o)| &o.facility_code).collect();
        if facilities.is_empty() {
            continue;
        }
        // Named by the fund as people call it (a sheet name holds at most 31 characters).
        let sheet = book.add_worksheet().set_name(fund.label_zh().chars().take(31).collect::<String>())?;
        let title = format!("{month} {}（{}）应付明细", fund.label_zh(), fund.code());
        sheet.write_with_format(0, 0, &title, &f.bold)?;
        f.header(sheet, 1, &["医疗机构编码", "结算单号", "出院日期", "总费用（元）", "本基金支付（元）"], 12.0)?;
        print_setup(sheet, 1, &title)?;
        let date = Format::new().set_num_format("yyyy-mm-dd");
        let (mut r, mut total, mut paid, mut n) = (2u32, 0i64, 0i64, 0i64);
        for code in facilities {
            for line in store.fund_claims(fund, region, month, code).await? {
                f.write(sheet, r, 0, &Cell::Code(line.facility_code.clone()))?;
                f.write(sheet, r, 1, &Cell::Code(line.claim_no.clone()))?;
                match rust_xlsxwriter::ExcelDateTime::parse_from_str(&line.discharge) {
                    Ok(d) => sheet.write_datetime_with_format(r, 2, &d, &date).map(|_| ())?,
                    Err(_) => f.write(sheet, r, 2, &Cell::Text(line.discharge.clone()))?,
                }
                f.write(sheet, r, 3, &Cell::Money(line.total))?;
                f.write(sheet, r, 4, &Cell::Money(line.fund_amount))?;
                (total, paid, n, r) = (total + line.total, paid + line.fund_amount, n + 1, r + 1);
            }
        }
        f.write(sheet, r, 0, &Cell::Text("合计".into()))?;
        f.write(sheet, r, 1, &Cell::Text(format!("{n} 张")))?;
        f.write(sheet, r, 3, &Cell::Money(total))?;
        f.write(sheet, r, 4, &Cell::Money(paid))?;
        sheet.set_column_width(1, 26)?;
    }
    crate::files::save_workbook(&mut book, path)?;
    Ok(())
}

/// The screening progress of a campaign by child region.
pub async fn write_screening_report(store: &Store, campaign_id: i64, region: RegionCode, path: &Path) -> Result<(), ReportError> {
    let c = store.campaign(campaign_id).await?.ok_or_else(|| StoreError::NotFound(format!("campaign {campaign_id}")))?;
    let rows = store.screening_progress(campaign_id, region).await?;
    let mut book = Workbook::new();
    let f = Formats::new();
    let sheet = book.add_worksheet().set_name("筛查进度")?;
    let title = format!("{}（{} 至 {}）", c.name, c.starts_on, c.ends_on);
    sheet.write_with_format(0, 0, &title, &f.bold)?;
    f.header(sheet, 2, &["区划代码", "区划", "应筛查户数", "已筛查户数", "完成率", "因病致贫户数", "因病致贫率"], 10.0)?;
    print_setup(sheet, 2, &title)?;
    let (mut a, mut b, mut ill) = (0, 0, 0);
    let line = |code: Cell, name: String, to: i64, done: i64, illness: i64| [code, Cell::Text(name), Cell::Count(to), Cell::Count(done), Cell::Rate(ppm(done, to)), Cell::Count(illness), Cell::Rate(ppm(illness, done))];
    for (i, p) in rows.iter().enumerate() {
        for (col, cell) in line(Cell::Code(p.region.to_string()), p.name.clone(), p.to_screen, p.screened, p.illness_poor).iter().enumerate() {
            f.write(sheet, 3 + i as u32, col as u16, cell)?;
        }
        (a, b, ill) = (a + p.to_screen, b + p.screened, ill + p.illness_poor);
    }
    for (col, cell) in line(Cell::Text(String::new()), "合计".into(), a, b, ill).iter().enumerate() {
        f.write(sheet, 3 + rows.len() as u32, col as u16, cell)?;
    }
    sheet.set_column_width(0, 14)?.set_column_width(1, 16)?;
    crate::files::save_workbook(&mut book, path)?;
    Ok(())
}

/// The monthly progress report of a county: every indicator for the month, by township.
pub async fn write_monthly_report(store: &Store, catalogues: &huimin_domain::Catalogues, county: RegionCode, month: Period, today: Date, path: &Path) -> Result<(), ReportError> {
    let targets = store.targets().await?;
    let mut regions = vec![(county, "全县".to_string())];
    regions.extend(store.child_regions(county).await?.into_iter().map(|r| (r.code, r.name)));
    let mut book = Workbook::new();
    let f = Formats::new();
    let sheet = book.add_worksheet().set_name("月度进展")?;
    let title = format!("健康扶贫工作月度进展（{}）", month.label());
    sheet.write_with_format(0, 0, &title, &f.bold)?;
    let heads = [
        "区划", "建档立卡户", "建档立卡人口", "因病致贫户", "因病致贫率", "筛查完成率", "患病人数", "大病集中救治", "慢病签约服务管理", "重病兜底保障",
        "大病已救治人数", "签约率", "随访履约率", "住院人次", "住院总费用（元）", "报销比例", "个人自付比例", "自付超10%人次", "未达标指标",
    ];
    f.header(sheet, 2, &heads, 8.0)?;
    print_setup(sheet, 2, &title)?;
    sheet.set_row_height(2, 45)?;
    for (i, (code, name)) in regions.iter().enumerate() {
        let ind = compute(store, catalogues, *code, month, today).await?;
        let misses: Vec<&str> = checks(&ind, &targets).iter().filter(|c| !c.met).map(|c| c.name).collect();
        let p = &ind.population;
        let r = 3 + i as u32;
        let cells = [
            Cell::Text(name.clone()),
            Cell::Count(p.households),
            Cell::Count(p.persons),
            Cell::Count(p.illness_households),
            Cell::Rate(ppm(p.illness_households, p.households)),
            Cell::Rate(ppm(p.screening[1], p.screening[0])),
            Cell::Count(p.sick_persons),
            Cell::Count(p.batches[0]),
            Cell::Count(p.batches[1]),
            Cell::Count(p.batches[2]),
            Cell::Count(p.treatment[1]),
            Cell::Rate(ppm(p.contracts[1], p.contracts[0])),
            Cell::Rate(ppm(p.follow_ups[0], p.follow_ups[1])),
            Cell::Count(ind.inpatient.claims),
            Cell::Money(ind.inpatient.total),
            Cell::Rate(ppm(ind.inpatient.funds_total, ind.inpatient.total)),
            Cell::Rate(ppm(ind.inpatient.patient_total, ind.inpatient.total)),
            Cell::Count(ind.inpatient.over_ceiling),
            Cell::Text(misses.join("、")),
        ];
        for (c, cell) in cells.iter().enumerate() {
            f.write(sheet, r, c as u16, cell)?;
        }
    }
    sheet.set_column_width(0, 14)?.set_column_width(14, 16)?.set_column_width(18, 30)?;
    crate::files::save_workbook(&mut book, path)?;
    Ok(())
}

/// The monitoring report of a region: by child region, the monitored households by category,
/// the recognitions and their deadlines; the households by compliant out-of-pocket spending over
/// the last twelve months; and the recognitions under way. No ID number, no diagnosis.
pub async fn write_monitoring_report(store: &Store, region: RegionCode, today: Date, path: &Path) -> Result<(), ReportError> {
    use huimin_domain::MonitoringCategory;
    let children = store.child_regions(region).await?;
    let width = children.first().map_or(region.prefix().len(), |c| c.code.prefix().len());
    let mut rows: Vec<(RegionCode, String)> = children.iter().map(|c| (c.code, c.name.clone())).collect();
    if rows.is_empty() {
        rows.push((region, store.region(region).await?.map_or_else(|| region.to_string(), |r| r.name)));
    }
    let monitored = store.monitored_cells(region, width).await?;
    let warnings = store.warning_cells(region, width, today).await?;
    let mut book = Workbook::new();
    let f = Formats::new();

    let sheet = book.add_worksheet().set_name("监测认定")?;
    let title = format!("防止返贫监测对象与认定情况（截至 {}）", huimin_domain::format::date_cn(today));
    sheet.write_with_format(0, 0, &title, &f.bold)?;
    let mut heads = vec!["区划代码", "区划"];
    heads.extend(MonitoringCategory::ALL.iter().map(|c| c.label_zh()));
    heads.extend(["监测人口", "线索总数", "待认定", "3 天内到期", "逾期", "已作出决定", "按期认定率", "已认定", "风险已消除"]);
    f.header(sheet, 2, &heads, 9.0)?;
    print_setup(sheet, 2, &title)?;
    let mut total_m = [0i64; 4];
    let mut total_w = WarningCell::default();
    let line = |code: Cell, name: String, m: [i64; 4], w: &WarningCell| {
        let mut cells = vec![code, Cell::Text(name)];
        cells.extend(m.iter().map(|n| Cell::Count(*n)));
        cells.extend([
            Cell::Count(w.opened),
            Cell::Count(w.pending),
            Cell::Count(w.urgent),
            Cell::Count(w.late),
            Cell::Count(w.decided),
            Cell::Rate(ppm(w.decided_in_time, w.decided)),
            Cell::Count(w.recognised),
            Cell::Count(w.eliminated),
        ]);
        cells
    };
    for (i, (code, name)) in rows.iter().enumerate() {
        let prefix = code.prefix();
        let mut m = [0i64; 4];
        for c in monitored.iter().filter(|c| c.child == prefix) {
            let k = MonitoringCategory::ALL.iter().position(|x| *x == c.category).unwrap_or(0);
            m[k] += c.households;
            m[3] += c.persons;
        }
        let w = warnings.iter().filter(|c| c.child == prefix).fold(WarningCell::default(), |mut a, c| {
            a.add(c);
            a
        });
        for (t, v) in total_m.iter_mut().zip(m) {
            *t += v;
        }
        total_w.add(&w);
        for (col, cell) in line(Cell::Code(code.to_string()), name.clone(), m, &w).iter().enumerate() {
            f.write(sheet, 3 + i as u32, col as u16, cell)?;
        }
    }
    for (col, cell) in line(Cell::Text(String::new()), "合计".into(), total_m, &total_w).iter().enumerate() {
        f.write(sheet, 3 + rows.len() as u32, col as u16, cell)?;
    }
    sheet.set_column_width(0, 14)?.set_column_width(1, 16)?;

    let sheet = book.add_worksheet().set_name("医疗负担分布")?;
    let (from, to) = crate::monitoring::window(today, 12);
    let title = format!("户合规自付医疗费用分布（{from} 至 {to}，户数）");
    sheet.write_with_format(0, 0, &title, &f.bold)?;
    let bands = huimin_store::BURDEN_BANDS;
    let mut band_heads: Vec<String> = vec!["区划代码".into(), "区划".into()];
    band_heads.extend(bands.iter().enumerate().map(|(i, y)| if i == 0 { format!("{y} 元及以下") } else { format!("{}–{y} 元", bands[i - 1]) }));
    band_heads.push(format!("{} 元以上", bands[bands.len() - 1]));
    band_heads.push("有自付的户数".into());
    f.header(sheet, 2, &band_heads.iter().map(String::as_str).collect::<Vec<_>>(), 10.0)?;
    print_setup(sheet, 2, &title)?;
    let mut total = [0i64; 6];
    for (i, (code, name)) in rows.iter().enumerate() {
        let counts = store.burden_bands(*code, &from, &to).await?;
        for (t, v) in total.iter_mut().zip(counts) {
            *t += v;
        }
        let mut cells = vec![Cell::Code(code.to_string()), Cell::Text(name.clone())];
        cells.extend(counts.iter().map(|n| Cell::Count(*n)));
        cells.push(Cell::Count(counts.iter().sum()));
        for (col, cell) in cells.iter().enumerate() {
            f.write(sheet, 3 + i as u32, col as u16, cell)?;
        }
    }
    let mut cells = vec![Cell::Text(String::new()), Cell::Text("合计".into())];
    cells.extend(total.iter().map(|n| Cell::Count(*n)));
    cells.push(Cell::Count(total.iter().sum()));
    for (col, cell) in cells.iter().enumerate() {
        f.write(sheet, 3 + rows.len() as u32, col as u16, cell)?;
    }
    sheet.set_column_width(0, 14)?.set_column_width(1, 16)?;

    let sheet = book.add_worksheet().set_name("办理中的认定")?;
    let title = format!("正在办理的监测对象认定（截至 {}）", huimin_domain::format::date_cn(today));
    sheet.write_with_format(0, 0, &title, &f.bold)?;
    f.header(sheet, 2, &["户编号", "户主", "区划代码", "线索来源", "触发规则或线索", "近期合规自付（元）", "发现日期", "认定期限", "环节", "剩余天数"], 10.0)?;
    print_setup(sheet, 2, &title)?;
    for (i, w) in store.warnings(region, true).await?.iter().enumerate() {
        let left = w.recognition().days_left(today);
        let cells = [
            Cell::Code(w.household_no.clone()),
            Cell::Text(w.head_name.clone()),
            Cell::Code(w.region.to_string()),
            Cell::Text(w.lead.label_zh().into()),
            Cell::Text(w.rule_name.clone()),
            Cell::Money(w.out_of_pocket.fen()),
            Cell::Text(w.opened_on.to_string()),
            Cell::Text(w.due_on.to_string()),
            Cell::Text(huimin_domain::recognition::stage_label(w.stage).into()),
            left.map_or(Cell::Text("—".into()), Cell::Count),
        ];
        for (col, cell) in cells.iter().enumerate() {
            f.write(sheet, 3 + i as u32, col as u16, cell)?;
        }
    }
    sheet.set_column_width(0, 16)?.set_column_width(4, 28)?;
    crate::files::save_workbook(&mut book, path)?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the workbook: {0}")]
    Xlsx(#[from] XlsxError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_exact_and_rounded_half_up() {
        assert_eq!(ppm(1, 3), Some(333_333));
        assert_eq!(ppm(2, 3), Some(666_667));
        assert_eq!(ppm(0, 0), None);
        assert_eq!(percent(ppm(9142, 10_000)), "91.4%");
        assert_eq!(percent(ppm(1, 3)), "33.3%");
        assert_eq!(percent(ppm(99_999, 100_000)), "100.0%");
        assert_eq!(percent(None), "—");
    }
}
