//! Health files, screening and the three batches: the use cases over the store and the catalogue.

use std::collections::HashMap;
use std::path::Path;

use huimin_domain::{CareBatch, Catalogues, Date, DiseaseCatalog, Prognosis, RegionCode, parse_icd10};
use huimin_store::{AuditEntry, BatchOverride, DiseaseCard, SickPerson, Store, StoreError};
use serde::Serialize;

use crate::catalog::{self, CatalogError};
use crate::import::{ImportError, TableReport};
use crate::roster::RowError;
use crate::table::{Column, Table};

/// A person whose own payments for the year's settled stays reach this much (fen) is counted
/// in the backstop batch (重病兜底保障一批): "costs still too high after insurance". Assumed:
/// seed 004 keeps a poor patient's own inpatient payment "within 5,000 yuan"; a county may
/// set its own line.
pub const HIGH_COST_FEN: i64 = 500_000;

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The catalogues in force: the built-in file, then each loaded extension in order, each inside
/// the region that loaded it.
pub async fn catalog(store: &Store) -> Result<Catalogues, HealthError> {
    let mut c = Catalogues::new(catalog::built_in());
    for (name, body, region) in store.catalog_files().await? {
        let ext = catalog::parse_catalog(&name, &body, Some(region.map_or(c.base(), |r| c.for_region(r))))?;
        c.add(region, ext);
    }
    Ok(c)
}

/// Checks a catalogue file for `region` against the catalogue in force there.
pub fn check_catalog_file(catalogues: &Catalogues, region: RegionCode, file_name: &str, text: &str) -> Result<DiseaseCatalog, CatalogError> {
    catalog::parse_catalog(file_name, text, Some(catalogues.for_region(region)))
}

/// Checks and stores a county's catalogue file, applying inside `region` only; returns the
/// catalogues now in force.
pub async fn load_catalog_file(store: &Store, region: RegionCode, file_name: &str, text: &str, by: &str, audit: &AuditEntry) -> Result<Catalogues, HealthError> {
    let mut c = catalog(store).await?;
    let ext = check_catalog_file(&c, region, file_name, text)?;
    let mut audit = audit.clone();
    audit.target = format!("region {region}");
    audit.detail = format!("{file_name}: {} groups, {} diseases", ext.groups.len(), ext.entries.len());
    store.add_catalog_file(file_name, text, region, by, &audit).await?;
    c.add(Some(region), ext);
    Ok(c)
}

/// A disease card as entered (one field per form input).
#[derive(Debug, Clone, Default)]
pub struct CardInput {
    pub code: String,
    /// Empty: the catalogue's name.
    pub name: String,
    pub diagnosed_on: String,
    pub diagnosed_at: String,
    pub prognosis: String,
    pub plan: String,
}

/// Checks a card against the catalogue: the code, the date (not in the future), the prognosis.
/// Returns the card and whether its patient enters the treatment ledger.
/// `born`: the person's birth date (from the ID number); a diagnosis cannot come before it.
pub fn check_card(catalog: &DiseaseCatalog, person_id: i64, born: Date, input: &CardInput, today: Date) -> Result<(DiseaseCard, bool), String> {
    let code = parse_icd10(&input.code).map_err(|e| e.0)?;
    let entry = catalog.entry(&code);
    let name = match (input.name.trim(), entry) {
        ("", Some(e)) => e.name.clone(),
        ("", None) => return Err(format!("疾病编码 {code} 不在病种目录中，请填写疾病名称")),
        (n, _) => n.to_string(),
    };
    let diagnosed_on = match input.diagnosed_on.trim() {
        "" => None,
        s => {
            let d = parse_day_or_year(s).ok_or_else(|| format!("确诊日期「{s}」应为 YYYY-MM-DD 或年份"))?;
            if d > today {
                return Err(format!("确诊日期 {d} 晚于今天"));
            }
            // A year alone is the year's first day: it may be the year of birth.
            let year_only = s.len() == 4;
            if (year_only && chrono::Datelike::year(&d) < chrono::Datelike::year(&born)) || (!year_only && d < born) {
                return Err(format!("确诊日期 {s} 早于出生日期 {born}"));
            }
            Some(d)
        }
    };
    let prognosis = match input.prognosis.trim() {
        "" => default_prognosis(catalog, &code),
        s => Prognosis::parse(s).map_err(|e| e.0)?,
    };
    let identify = catalog.batches(&code).contains(&CareBatch::Centralised);
    let card = DiseaseCard {
        person_id,
        confidential: catalog.is_confidential(&code),
        disease_code: code,
        disease_name: name,
        diagnosed_on,
        diagnosed_at: input.diagnosed_at.trim().to_string(),
        prognosis,
        plan: input.plan.trim().to_string(),
    };
    Ok((card, identify))
}

/// Chronic and special diseases need long-term medication; anything else an examination (the
/// doctor corrects it on the card).
fn default_prognosis(catalog: &DiseaseCatalog, code: &str) -> Prognosis {
    if catalog.batches(code).contains(&CareBatch::Contract) { Prognosis::LongTerm } else { Prognosis::NeedsExam }
}

/// `2024-03-01`, or a year alone (`2019`, taken as 1 January).
fn parse_day_or_year(s: &str) -> Option<Date> {
    Date::parse_from_str(s, "%Y-%m-%d").ok().or_else(|| s.parse::<i32>().ok().filter(|y| (1900..=2200).contains(y)).and_then(|y| Date::from_ymd_opt(y, 1, 1)))
}

/// Records one disease card; `true` with it when the person had a card for the code, which is
/// then updated (the earlier values kept as a revision).
pub async fn record_card(store: &Store, catalog: &DiseaseCatalog, person_id: i64, input: &CardInput, by: &str, today: Date, audit: &AuditEntry) -> Result<(DiseaseCard, bool), HealthError> {
    let born = store.person(person_id).await?.ok_or_else(|| HealthError::Invalid(format!("没有编号为 {person_id} 的人员")))?.person.id_number.birth_date();
    let (card, identify) = check_card(catalog, person_id, born, input, today).map_err(HealthError::Invalid)?;
    let updated = store.disease_cards(&[person_id]).await?.iter().any(|c| c.card.disease_code == card.disease_code);
    let mut audit = audit.clone();
    // The code is not logged: a diagnosis may be confidential.
    audit.target = format!("person {person_id}");
    if updated {
        audit.action.push_str(".update");
    }
    store.save_disease_cards(&[(card.clone(), identify)], by, today, &audit).await?;
    Ok((card, updated))
}

pub const DISEASE_COLUMNS: [Column; 7] = [
    Column { name: "证件号码", aliases: &["公民身份号码", "身份证号"], required: true },
    Column { name: "疾病编码", aliases: &["ICD-10", "ICD10"], required: true },
    Column { name: "疾病名称", aliases: &["病种名称"], required: false },
    Column { name: "确诊年份", aliases: &["确诊日期"], required: false },
    Column { name: "预后", aliases: &["预后情况"], required: false },
    Column { name: "诊断机构", aliases: &["确诊机构"], required: false },
    Column { name: "治疗方案", aliases: &["救治方案"], required: false },
];

/// Imports diagnosed diseases (one row per person and disease; e.g. the `diseases.csv` of
/// `huimin gen`). Bad rows are reported (row, column, value, reason); the good rows are stored
/// in one transaction.
pub async fn import_diseases(store: &Store, catalogues: &Catalogues, path: &Path, by: &str, today: Date, audit: &AuditEntry) -> Result<TableReport, ImportError> {
    let table = Table::read(path, &DISEASE_COLUMNS)?;
    let cols = table.columns(&DISEASE_COLUMNS)?;
    let mut errors = Vec::new();
    let mut cards = Vec::new();
    // Each person once: their id and their household's region (whose catalogue judges the code).
    let mut persons: HashMap<String, Option<(i64, RegionCode, Date)>> = HashMap::new();
    for r in &table.rows {
        let cell = |c: usize| cols[c].and_then(|i| r.cells.get(i)).map(String::as_str).unwrap_or("").trim();
        let err = |c: usize, reason: String| RowError { row: r.row, column: DISEASE_COLUMNS[c].name.into(), value: cell(c).into(), reason };
        let person = match crate::table::id_number(cell(0), cols[0].is_some_and(|c| r.is_number(c))) {
            Err(e) => {
                errors.push(err(0, e));
                continue;
            }
            Ok(id) => match persons.get(id.as_str()) {
                Some(p) => *p,
                None => {
                    let p = match store.person_by_id_number(&id).await? {
                        Some(p) => store.household(&p.person.household_no).await?.map(|h| (p.id, h.household.region, id.birth_date())),
                        None => None,
                    };
                    persons.insert(id.as_str().to_string(), p);
                    p
                }
            },
        };
        let Some((person_id, region, born)) = person else {
            errors.push(err(0, "此人不在建档立卡名单中".into()));
            continue;
        };
        let input = CardInput {
            code: cell(1).into(),
            name: cell(2).into(),
            diagnosed_on: cell(3).into(),
            diagnosed_at: cell(5).into(),
            prognosis: cell(4).into(),
            plan: cell(6).into(),
        };
        match check_card(catalogues.for_region(region), person_id, born, &input, today) {
            Ok(card) => cards.push(card),
            Err(reason) => {
                let column = if reason.contains("确诊日期") { 3 } else if reason.contains("预后") { 4 } else { 1 };
                errors.push(err(column, reason));
            }
        }
    }
    let mut audit = audit.clone();
    audit.target = format!("file {}", table.file);
    audit.detail = format!("{} cards, {} bad rows", cards.len(), errors.len());
    store.save_disease_cards(&cards, by, today, &audit).await?;
    Ok(TableReport { file: table.file, applied: cards.len(), already: 0, errors })
}

/// A sick person and their batch: by the rules, and as decided (an override wins).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchRow {
    pub person: SickPerson,
    pub by_rules: Option<CareBatch>,
    pub overridden: Option<BatchOverride>,
    /// What the person paid themselves this year (fen).
    pub own_payment: i64,
}

impl BatchRow {
    pub fn batch(&self) -> Option<CareBatch> {
        match &self.overridden {
            Some(o) => o.batch,
            None => self.by_rules,
        }
    }
}

impl huimin_domain::Disclose for BatchRow {
    /// Names and diagnoses for the health roles only; confidential diagnoses by the rule.
    fn disclose(mut self, sight: &huimin_domain::Sight<'_>) -> Option<(Self, usize)> {
        if !sight.shows_health() {
            return None;
        }
        let before = self.person.diseases.len();
        self.person.diseases.retain(|(code, _, confidential)| sight.shows_card(code, *confidential));
        let withheld = before - self.person.diseases.len();
        Some((self, withheld))
    }
}

/// Every sick person of the region with their batch for `year`. Persons with no card but high
/// own payments are included (the backstop batch).
pub async fn batches(store: &Store, catalogues: &Catalogues, region: RegionCode, year: i32) -> Result<Vec<BatchRow>, HealthError> {
    let mut sick = store.sick_persons(region).await?;
    let paid = store.own_payments(region, year).await?;
    let mut overrides = store.batch_overrides(region).await?;
    let known: std::collections::HashSet<i64> = sick.iter().map(|p| p.person_id).collect();
    let mut high_cost: Vec<i64> = paid.iter().filter(|(id, own)| **own >= HIGH_COST_FEN && !known.contains(*id)).map(|(id, _)| *id).collect();
    high_cost.sort_unstable();
    sick.extend(store.persons_by_id(&high_cost).await?);
    Ok(sick
        .into_iter()
        .map(|person| {
            let own_payment = paid.get(&person.person_id).copied().unwrap_or(0);
            let by_rules = catalogues.for_region(person.region).batch_for(person.diseases.iter().map(|(c, _, _)| c.as_str()), own_payment >= HIGH_COST_FEN);
            let overridden = overrides.remove(&person.person_id);
            BatchRow { person, by_rules, overridden, own_payment }
        })
        .collect())
}

/// Sets a person's batch by hand; the reason is required and logged.
pub async fn override_batch(store: &Store, person_id: i64, batch: Option<CareBatch>, clear: bool, reason: &str, by: &str, audit: &AuditEntry) -> Result<(), HealthError> {
    let reason = reason.trim();
    if !clear && reason.chars().count() < 4 {
        return Err(HealthError::Invalid("调整救治分类须填写原因（至少 4 个字）".into()));
    }
    let mut audit = audit.clone();
    audit.target = format!("person {person_id}");
    audit.detail = match (clear, batch) {
        (true, _) => "back to the rules".to_string(),
        (false, b) => format!("batch: {}; reason: {reason}", b.map_or("none", |b| b.code())),
    };
    store.set_batch_override(person_id, batch, clear, reason, by, &audit).await?;
    Ok(())
}

/// How many persons each of the three batches holds.
pub fn batch_counts(rows: &[BatchRow]) -> Vec<(CareBatch, usize)> {
    CareBatch::ALL.iter().map(|b| (*b, rows.iter().filter(|r| r.batch() == Some(*b)).count())).collect()
}
