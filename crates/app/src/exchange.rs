//! Bulk exchange (docs/exchange.md): the registry, health files, contracts, follow-ups and bills
//! of a region written as CSV or XLSX in the formats the imports read, and the imports of
//! contracts, follow-ups and claims, so that exporting and importing again loses nothing.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use huimin_domain::{Adherence, Concerns, Date, Disclosed, FollowUpMode, FollowUpReadings, IdNumber, Money, Period, Record, RegionCode, Service, Viewer};
use huimin_policy::{Fund, VisitType};
use huimin_store::{AuditEntry, NewContract, NewFollowUp, Store, StoreError, StoredCard};
use rust_xlsxwriter::Workbook;

use crate::import::{ImportError, TableReport};
use crate::roster::RowError;
use crate::table::{Column, Table};

/// What can be exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Regions,
    Facilities,
    Roster,
    Diseases,
    Contracts,
    FollowUps,
    Claims,
}

impl Kind {
    pub const ALL: [Kind; 7] = [Kind::Regions, Kind::Facilities, Kind::Roster, Kind::Diseases, Kind::Contracts, Kind::FollowUps, Kind::Claims];

    pub fn code(self) -> &'static str {
        match self {
            Kind::Regions => "regions",
            Kind::Facilities => "facilities",
            Kind::Roster => "roster",
            Kind::Diseases => "diseases",
            Kind::Contracts => "contracts",
            Kind::FollowUps => "followups",
            Kind::Claims => "claims",
        }
    }

    /// What the file holds, in Chinese and in English.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Kind::Regions => ("区划", "Regions"),
            Kind::Facilities => ("医疗机构", "Facilities"),
            Kind::Roster => ("建档立卡名单", "Roster"),
            Kind::Diseases => ("疾病诊断（一病一卡）", "Diseases"),
            Kind::Contracts => ("家庭医生签约", "Contracts"),
            Kind::FollowUps => ("随访记录", "Follow-ups"),
            Kind::Claims => ("结算单", "Claims"),
        }
    }

    pub fn from_code(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == s)
    }
}

/// A table to write: the header and rows of text.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sheet {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Sheet {
    pub fn new(headers: &[&str]) -> Sheet {
        Sheet { headers: headers.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Import(#[from] ImportError),
    #[error("{file}：{reason}")]
    Write { file: String, reason: String },
}

/// Writes a sheet as CSV (`crate::csv_out`: UTF-8 with a BOM or GBK, formula-safe) or XLSX
/// (every cell text, so that ID numbers and codes stay intact), by the file's extension.
pub fn write(sheet: &Sheet, path: &Path, encoding: crate::csv_out::CsvEncoding) -> Result<(), ExchangeError> {
    let file = path.display().to_string();
    let fail = |e: &dyn std::fmt::Display| ExchangeError::Write { file: file.clone(), reason: e.to_string() };
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => {
            let mut w = crate::csv_out::CsvFile::create(path, encoding).map_err(|e| fail(&e))?;
            w.row(&sheet.headers).map_err(|e| fail(&e))?;
            for r in &sheet.rows {
                w.row(r).map_err(|e| fail(&e))?;
            }
            w.commit().map_err(|e| fail(&e))
        }
        Some("xlsx") => {
            let mut book = Workbook::new();
            let ws = book.add_worksheet();
            for (c, h) in sheet.headers.iter().enumerate() {
                ws.write_string(0, c as u16, h).map_err(|e| fail(&e))?;
            }
            for (r, row) in sheet.rows.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    ws.write_string(r as u32 + 1, c as u16, v).map_err(|e| fail(&e))?;
                }
            }
            crate::files::save_workbook(&mut book, path).map_err(|e| fail(&e))
        }
        _ => Err(ExchangeError::Write { file, reason: "请使用 .csv 或 .xlsx".into() }),
    }
}

fn yuan(m: Money) -> String {
    m.to_string()
}

fn yes(b: bool) -> String {
    if b { "是" } else { "否" }.to_string()
}

/// Every household of the region in the programme (the list comes in pages of 1,000).
pub async fn all_households(store: &Store, region: RegionCode) -> Result<Vec<huimin_store::HouseholdRow>, StoreError> {
    let mut out = Vec::new();
    loop {
        let (page, total) = store.list_households(region, &Default::default(), 1000, out.len() as i64).await?;
        let done = page.is_empty();
        out.extend(page);
        if done || out.len() as i64 >= total {
            return Ok(out);
        }
    }
}

/// The households and persons in the programme inside `region`, households in order.
async fn roster_of(store: &Store, region: RegionCode) -> Result<Vec<(huimin_store::HouseholdRow, Vec<huimin_store::StoredPerson>)>, StoreError> {
    let mut households = all_households(store, region).await?;
    let mut members: HashMap<String, Vec<huimin_store::StoredPerson>> = HashMap::new();
    for (p, _) in store.persons_in_region(region).await? {
        members.entry(p.person.household_no.as_str().to_string()).or_default().push(p);
    }
    households.sort_by(|a, b| a.household.no.as_str().cmp(b.household.no.as_str()));
    Ok(households.into_iter().map(|h| {
        let m = members.remove(h.household.no.as_str()).unwrap_or_default();
        (h, m)
    }).collect())
}

/// The facilities outside `region` that its exported records name: where its claims of `year`
/// were settled (the city hospital, a hospital elsewhere) and its teams' lead facilities. An
/// export carries them, so that its import finds every facility its files refer to.
async fn referenced_facilities(store: &Store, region: RegionCode, year: i32) -> Result<Vec<huimin_domain::Facility>, StoreError> {
    let period = Period::year(year);
    let mut codes: Vec<String> = store.claims_discharged(region, period.from, period.to).await?.into_iter().map(|c| c.facility_code).collect();
    codes.extend(store.teams(region).await?.into_iter().filter(|t| region.contains(t.region)).map(|t| t.facility_code));
    codes.sort();
    codes.dedup();
    let mut out = Vec::new();
    for code in codes {
        if let Some(f) = store.facility(&code).await?.filter(|f| !region.contains(f.region)) {
            out.push(f);
        }
    }
    Ok(out)
}

/// The contents of one export: of `region`; contracts and follow-ups of `year`, claims
/// discharged in `year`.
///
/// Every person's data goes through `viewer` (the disclosure rule): ID numbers whole or masked,
/// diagnoses, health files and follow-ups as the viewer may see them. Only the command line on
/// the server (`Viewer::whole_database`) writes everything, for a faithful copy.
pub async fn export(store: &Store, viewer: &Viewer, kind: Kind, region: RegionCode, year: i32) -> Result<Sheet, StoreError> {
    Ok(match kind {
        Kind::Regions => {
            let mut sheet = Sheet::new(&["区划代码", "名称"]);
            // The region, what is above and below it, and the regions of the facilities outside it
            // that its records refer to (with what is above those).
            let outside: Vec<RegionCode> = referenced_facilities(store, region, year).await?.iter().map(|f| f.region).collect();
            let mut all: Vec<(RegionCode, String)> = store
                .region_codes()
                .await?
                .into_iter()
                .filter(|(c, _)| region.contains(*c) || c.contains(region) || outside.iter().any(|o| c.contains(*o)))
                .collect();
            all.sort();
            sheet.rows = all.into_iter().map(|(c, n)| vec![c.prefix(), n]).collect();
            sheet
        }
        Kind::Facilities => {
            let mut sheet = Sheet::new(&["机构编码", "机构名称", "机构等级", "机构类型", "行政区划代码", "是否定点医院", "扶贫病床数"]);
            let mut list = store.facilities(region).await?;
            list.extend(referenced_facilities(store, region, year).await?);
            list.sort_by(|a, b| a.code.cmp(&b.code));
            list.dedup_by(|a, b| a.code == b.code);
            sheet.rows = list
                .into_iter()
                .map(|f| vec![f.code, f.name, f.level.number().to_string(), f.kind, f.region.prefix(), yes(f.designated), f.poverty_beds.to_string()])
                .collect();
            sheet
        }
        Kind::Roster => {
            let mut sheet = Sheet::new(&[
                "户编号", "户主姓名", "与户主关系", "姓名", "证件号码", "民族", "行政区划代码", "贫困户属性", "脱贫状态", "主要致贫原因", "联系电话", "家庭人口数", "家庭年人均纯收入",
                "监测对象类别",
            ]);
            let economics = store.current_economics(region).await?;
            for (h, members) in roster_of(store, region).await? {
                let hh = &h.household;
                let e = economics.get(hh.no.as_str());
                for p in members {
                    let sight = viewer.sight(Record::Person { id: p.id, region: hh.region });
                    let phone = p.person.phone.as_ref().or(hh.phone.as_ref().filter(|_| p.person.relation == huimin_domain::Relation::Head));
                    sheet.rows.push(vec![
                        hh.no.as_str().to_string(),
                        hh.head_name.as_str().to_string(),
                        p.person.relation.label_zh().to_string(),
                        p.person.name.as_str().to_string(),
                        sight.id_number(&p.person.id_number),
                        p.person.ethnicity.as_str().to_string(),
                        hh.region.prefix(),
                        hh.category.label_zh().to_string(),
                        hh.status.label_zh().to_string(),
                        hh.cause.label_zh().to_string(),
                        phone.map(|p| p.as_str().to_string()).unwrap_or_default(),
                        e.map(|e| e.size.to_string()).unwrap_or_default(),
                        e.and_then(|e| e.per_capita_income).map(|m| m.to_string()).unwrap_or_default(),
                        e.and_then(|e| e.monitoring_category).map(|c| c.label_zh().to_string()).unwrap_or_default(),
                    ]);
                }
            }
            sheet
        }
        Kind::Diseases => {
            let mut sheet = Sheet::new(&["证件号码", "疾病编码", "疾病名称", "确诊日期", "预后", "诊断机构", "治疗方案"]);
            let persons = persons(store, viewer, region).await?;
            let ids: Vec<i64> = persons.keys().copied().collect();
            let mut cards: Vec<Disclosed<StoredCard>> = store.disease_cards(&ids).await?.into_iter().filter_map(|c| viewer.show(persons.about(c.card.person_id)?, c)).collect();
            cards.sort_by(|a, b| (persons.id_number(a.card.person_id), &a.card.disease_code).cmp(&(persons.id_number(b.card.person_id), &b.card.disease_code)));
            for c in cards {
                let k = &c.card;
                sheet.rows.push(vec![
                    persons.id_number(k.person_id),
                    k.disease_code.clone(),
                    k.disease_name.clone(),
                    k.diagnosed_on.map(|d| d.to_string()).unwrap_or_default(),
                    k.prognosis.label_zh().to_string(),
                    k.diagnosed_at.clone(),
                    k.plan.clone(),
                ]);
            }
            sheet
        }
        Kind::Contracts => {
            let mut sheet = Sheet::new(&CONTRACT_COLUMNS.map(|c| c.name));
            let teams: HashMap<i64, huimin_store::Team> = store.teams(region).await?.into_iter().map(|t| (t.id, t)).collect();
            let persons = persons(store, viewer, region).await?;
            let mut rows = Vec::new();
            for c in store.contracts(region, year).await? {
                let k = &c.contract;
                let Some(team) = teams.get(&k.team_id) else { continue };
                rows.push(vec![
                    persons.id_number(k.person_id),
                    k.year.to_string(),
                    team.name.clone(),
                    team.facility_code.clone(),
                    team.region.prefix(),
                    k.starts_on.to_string(),
                    k.ends_on.to_string(),
                    k.services.iter().map(|s| s.label_zh()).collect::<Vec<_>>().join("、"),
                    k.signed_by.clone(),
                    k.signed_on.to_string(),
                    yes(k.renewed_from.is_some()),
                ]);
            }
            rows.sort();
            sheet.rows = rows;
            sheet
        }
        Kind::FollowUps => {
            let mut sheet = Sheet::new(&FOLLOW_UP_COLUMNS.map(|c| c.name));
            let persons = persons(store, viewer, region).await?;
            let tenths = |v: Option<u16>| v.map(|t| format!("{}.{}", t / 10, t % 10)).unwrap_or_default();
            let whole = |v: Option<u16>| v.map(|x| x.to_string()).unwrap_or_default();
            let mut rows = Vec::new();
            for s in store.follow_ups_in(region, year).await? {
                let Some(s) = persons.about(s.follow_up.person_id).and_then(|about| viewer.show(about, s)) else { continue };
                let f = &s.follow_up;
                rows.push(vec![
                    f.submission_key.clone(),
                    persons.id_number(f.person_id),
                    year.to_string(),
                    f.followed_on.to_string(),
                    f.mode.label_zh().to_string(),
                    whole(f.readings.systolic),
                    whole(f.readings.diastolic),
                    tenths(f.readings.glucose_tenths),
                    whole(f.readings.heart_rate),
                    tenths(f.readings.weight_tenths),
                    f.adherence.label_zh().to_string(),
                    f.guidance.clone(),
                    f.next_on.map(|d| d.to_string()).unwrap_or_default(),
                ]);
            }
            rows.sort();
            sheet.rows = rows;
            sheet
        }
        Kind::Claims => {
            let mut headers: Vec<&str> = CLAIM_COLUMNS.iter().map(|c| c.name).collect();
            headers.extend(["结算时间", "冲销时间", "政策编号", "总费用", "基金支付合计", "个人负担"]);
            let fund_headers: Vec<String> = Fund::ALL.iter().map(|f| format!("基金{}", f.code())).collect();
            headers.extend(fund_headers.iter().map(String::as_str));
            let mut sheet = Sheet::new(&headers);
            let persons = persons(store, viewer, region).await?;
            let period = Period::year(year);
            for c in store.claims_discharged(region, period.from, period.to).await? {
                let id_number = persons.raw(c.person_id).map(|id| viewer.sight(c.concerns()).id_number(id)).unwrap_or_default();
                let Some(c) = viewer.show_own(c) else { continue };
                let k = &c.claim;
                let mut row = vec![
                    c.claim_no.clone(),
                    id_number,
                    c.facility_code.clone(),
                    k.visit.code().to_string(),
                    k.admission.to_string(),
                    k.discharge.to_string(),
                    k.diseases.join("|"),
                    yuan(k.cat_a),
                    yuan(k.cat_b),
                    yuan(k.out_of_catalogue),
                    yuan(k.necessary),
                    if c.status == huimin_store::ClaimStatus::Reversed { "已冲销" } else { "已结算" }.to_string(),
                    c.reversal_reason.clone().unwrap_or_default(),
                    c.settled_at.clone(),
                    c.reversed_at.clone().unwrap_or_default(),
                    c.policy_id.clone(),
                    yuan(c.bill.total),
                    yuan(c.bill.funds_total),
                    yuan(c.bill.patient_total),
                ];
                for f in Fund::ALL {
                    row.push(Money::from_fen(c.bill.lines.iter().filter(|l| l.fund == f).map(|l| l.total.fen()).sum()).map(yuan).unwrap_or_default());
                }
                sheet.rows.push(row);
            }
            sheet
        }
    })
}

/// The persons in the programme inside `region` by person id: their village and their ID number
/// as the viewer may see it.
struct RegionPersons(HashMap<i64, (RegionCode, IdNumber, String)>);

impl RegionPersons {
    fn keys(&self) -> impl Iterator<Item = &i64> {
        self.0.keys()
    }

    fn about(&self, id: i64) -> Option<Record<'static>> {
        self.0.get(&id).map(|(region, _, _)| Record::Person { id, region: *region })
    }

    fn id_number(&self, id: i64) -> String {
        self.0.get(&id).map(|(_, _, shown)| shown.clone()).unwrap_or_default()
    }

    fn raw(&self, id: i64) -> Option<&IdNumber> {
        self.0.get(&id).map(|(_, id_number, _)| id_number)
    }
}

async fn persons(store: &Store, viewer: &Viewer, region: RegionCode) -> Result<RegionPersons, StoreError> {
    Ok(RegionPersons(
        store
            .persons_in_region(region)
            .await?
            .into_iter()
            .map(|(p, village)| {
                let shown = viewer.sight(Record::Person { id: p.id, region: village }).id_number(&p.person.id_number);
                (p.id, (village, p.person.id_number, shown))
            })
            .collect(),
    ))
}

pub const CONTRACT_COLUMNS: [Column; 11] = [
    Column { name: "证件号码", aliases: &["身份证号"], required: true },
    Column { name: "签约年度", aliases: &[], required: true },
    Column { name: "团队名称", aliases: &[], required: true },
    Column { name: "牵头机构编码", aliases: &[], required: true },
    Column { name: "团队服务区划代码", aliases: &[], required: true },
    Column { name: "开始日期", aliases: &[], required: true },
    Column { name: "结束日期", aliases: &[], required: true },
    Column { name: "服务项目", aliases: &[], required: true },
    Column { name: "签约医生", aliases: &[], required: true },
    Column { name: "签约日期", aliases: &[], required: true },
    Column { name: "续签", aliases: &[], required: false },
];

pub const FOLLOW_UP_COLUMNS: [Column; 13] = [
    Column { name: "提交编号", aliases: &[], required: true },
    Column { name: "证件号码", aliases: &["身份证号"], required: true },
    Column { name: "签约年度", aliases: &[], required: true },
    Column { name: "随访日期", aliases: &[], required: true },
    Column { name: "随访方式", aliases: &[], required: true },
    Column { name: "收缩压", aliases: &[], required: false },
    Column { name: "舒张压", aliases: &[], required: false },
    Column { name: "空腹血糖", aliases: &["血糖"], required: false },
    Column { name: "心率", aliases: &[], required: false },
    Column { name: "体重", aliases: &[], required: false },
    Column { name: "服药依从性", aliases: &[], required: false },
    Column { name: "指导意见", aliases: &[], required: false },
    Column { name: "下次随访日期", aliases: &[], required: false },
];

pub const CLAIM_COLUMNS: [Column; 13] = [
    Column { name: "结算单号", aliases: &[], required: true },
    Column { name: "证件号码", aliases: &["身份证号"], required: true },
    Column { name: "机构编码", aliases: &[], required: true },
    Column { name: "就诊类型", aliases: &[], required: true },
    Column { name: "入院日期", aliases: &[], required: true },
    Column { name: "出院日期", aliases: &[], required: true },
    Column { name: "疾病编码", aliases: &[], required: false },
    Column { name: "甲类及政策范围内费用", aliases: &[], required: true },
    Column { name: "乙类费用", aliases: &[], required: true },
    Column { name: "目录外费用", aliases: &[], required: true },
    Column { name: "其中目录外必需费用", aliases: &[], required: true },
    Column { name: "状态", aliases: &[], required: false },
    Column { name: "冲销原因", aliases: &[], required: false },
];

/// A file's rows as (row number, the cells of the format's columns in their order).
struct Rows {
    file: String,
    rows: Vec<(u64, Vec<String>)>,
    /// The rows whose ID number the workbook stored as a number.
    id_as_number: HashSet<u64>,
}

fn read(path: &Path, columns: &[Column]) -> Result<Rows, ImportError> {
    let table = Table::read(path, columns)?;
    let cols = table.columns(columns)?;
    let rows = table.rows.iter().map(|r| (r.row, cells(&cols, &r.cells))).collect();
    let id_col = columns.iter().position(|c| c.name == "证件号码").and_then(|i| cols[i]);
    let id_as_number = table.rows.iter().filter(|r| id_col.is_some_and(|c| r.is_number(c))).map(|r| r.row).collect();
    Ok(Rows { file: table.file, rows, id_as_number })
}

/// The cells at the given column positions (empty where a column is absent), trimmed.
fn cells(cols: &[Option<usize>], row: &[String]) -> Vec<String> {
    cols.iter().map(|c| c.and_then(|i| row.get(i)).map(|s| s.trim().to_string()).unwrap_or_default()).collect()
}

fn row_error(columns: &[Column], row: u64, cells: &[String], col: usize, reason: impl Into<String>) -> RowError {
    RowError { row, column: columns[col].name.into(), value: cells[col].clone(), reason: reason.into() }
}

fn day(s: &str) -> Result<Date, String> {
    Date::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("「{s}」应为 YYYY-MM-DD"))
}

/// Person ids by ID number, looked up once each.
struct Persons<'a> {
    store: &'a Store,
    known: HashMap<String, Option<i64>>,
}

impl Persons<'_> {
    async fn id(&mut self, text: &str, stored_as_number: bool) -> Result<Result<i64, String>, StoreError> {
        let id = match crate::table::id_number(text, stored_as_number) {
            Ok(id) => id,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(p) = self.known.get(id.as_str()) {
            return Ok(p.ok_or_else(|| "此人不在建档立卡名单中".to_string()));
        }
        let p = self.store.person_by_id_number(&id).await?.map(|p| p.id);
        self.known.insert(id.as_str().to_string(), p);
        Ok(p.ok_or_else(|| "此人不在建档立卡名单中".to_string()))
    }
}

/// Imports contracts (the format of the contracts export). A team is found by name and area, or
/// made (led by the facility given). A person's contract for a year that exists already is left
/// as it is. Bad rows are reported; the good ones of a year are stored in one transaction.
pub async fn import_contracts(store: &Store, path: &Path, audit: &AuditEntry) -> Result<TableReport, ExchangeError> {
    let rows = read(path, &CONTRACT_COLUMNS)?;
    let mut persons = Persons { store, known: HashMap::new() };
    let mut teams: Vec<huimin_store::Team> = Vec::new();
    let mut errors = Vec::new();
    let mut contracts: Vec<(bool, NewContract)> = Vec::new();
    for (row, cells) in &rows.rows {
        let err = |col: usize, reason: String| row_error(&CONTRACT_COLUMNS, *row, cells, col, reason);
        let person_id = match persons.id(&cells[0], rows.id_as_number.contains(row)).await? {
            Ok(p) => p,
            Err(e) => {
                errors.push(err(0, e));
                continue;
            }
        };
        let Ok(year) = cells[1].parse::<i32>() else {
            errors.push(err(1, "签约年度应为年份".into()));
            continue;
        };
        let area = match RegionCode::parse(&cells[4]) {
            Ok(a) => a,
            Err(e) => {
                errors.push(err(4, e.to_string()));
                continue;
            }
        };
        let (starts_on, ends_on, signed_on) = match (day(&cells[5]), day(&cells[6]), day(&cells[9])) {
            (Ok(a), Ok(b), Ok(c)) if a <= b => (a, b, c),
            (Ok(_), Ok(_), Ok(_)) => {
                errors.push(err(6, "结束日期早于开始日期".into()));
                continue;
            }
            (Err(e), _, _) => {
                errors.push(err(5, e));
                continue;
            }
            (_, Err(e), _) => {
                errors.push(err(6, e));
                continue;
            }
            (_, _, Err(e)) => {
                errors.push(err(9, e));
                continue;
            }
        };
        let services: Result<Vec<Service>, String> = cells[7].split(['、', ',', '，']).map(str::trim).filter(|s| !s.is_empty()).map(|s| Service::parse(s).map_err(|e| e.0)).collect();
        let services = match services {
            Ok(s) if !s.is_empty() => s,
            Ok(_) => {
                errors.push(err(7, "至少一项服务".into()));
                continue;
            }
            Err(e) => {
                errors.push(err(7, e));
                continue;
            }
        };
        if !teams.iter().any(|t| t.region == area) {
            for t in store.teams(area).await? {
                if !teams.iter().any(|x| x.id == t.id) {
                    teams.push(t);
                }
            }
        }
        let team_id = match teams.iter().find(|t| t.name == cells[2] && t.region == area) {
            Some(t) => t.id,
            None => {
                let mut a = audit.clone();
                a.action = "team.create".into();
                match store.create_team(&cells[2], &cells[3], area, &a).await {
                    Ok(id) => {
                        teams.push(huimin_store::Team { id, name: cells[2].clone(), facility_code: cells[3].clone(), region: area, members: Vec::new() });
                        id
                    }
                    Err(StoreError::Conflict(m) | StoreError::Refused(m)) => {
                        errors.push(err(3, m));
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let renewed = cells[10] == "是";
        contracts.push((renewed, NewContract { person_id, team_id, year, starts_on, ends_on, services, signed_by: cells[8].clone(), signed_on, renewed_from: None }));
    }
    // One transaction a year, earlier years first: a renewal points at the person's contract of
    // the year before, stored before or earlier in this file.
    contracts.sort_by_key(|(_, c)| c.year);
    let mut applied = 0;
    for chunk in contracts.chunk_by(|a, b| a.1.year == b.1.year) {
        let mut year = Vec::new();
        for (renewed, c) in chunk {
            if store.contract_of(c.person_id, c.year).await?.is_some() {
                continue;
            }
            let mut c = c.clone();
            if *renewed {
                c.renewed_from = store.contract_of(c.person_id, c.year - 1).await?.map(|(id, _)| id);
            }
            year.push(c);
        }
        if !year.is_empty() {
            let mut a = audit.clone();
            a.action = "contract.import".into();
            a.target = rows.file.clone();
            applied += store.sign_contracts(&year, &a).await?;
        }
    }
    Ok(TableReport { file: rows.file, applied, already: 0, errors })
}

/// Imports follow-ups (the format of the follow-ups export), each once per 提交编号.
pub async fn import_follow_ups(store: &Store, path: &Path, audit: &AuditEntry) -> Result<TableReport, ExchangeError> {
    let rows = read(path, &FOLLOW_UP_COLUMNS)?;
    let mut persons = Persons { store, known: HashMap::new() };
    let mut errors = Vec::new();
    let mut items: Vec<(NewFollowUp, Vec<&str>)> = Vec::new();
    for (row, cells) in &rows.rows {
        let err = |col: usize, reason: String| row_error(&FOLLOW_UP_COLUMNS, *row, cells, col, reason);
        if cells[0].is_empty() {
            errors.push(err(0, "提交编号不能为空（用于防止重复导入）".into()));
            continue;
        }
        let person_id = match persons.id(&cells[1], rows.id_as_number.contains(row)).await? {
            Ok(p) => p,
            Err(e) => {
                errors.push(err(1, e));
                continue;
            }
        };
        let Ok(year) = cells[2].parse::<i32>() else {
            errors.push(err(2, "签约年度应为年份".into()));
            continue;
        };
        let Some((contract_id, _)) = store.contract_of(person_id, year).await? else {
            errors.push(err(2, format!("此人没有 {year} 年的签约")));
            continue;
        };
        let followed_on = match day(&cells[3]) {
            Ok(d) => d,
            Err(e) => {
                errors.push(err(3, e));
                continue;
            }
        };
        let mode = match FollowUpMode::parse(&cells[4]) {
            Ok(m) => m,
            Err(e) => {
                errors.push(err(4, e.0));
                continue;
            }
        };
        let readings = match FollowUpReadings::parse(&cells[5], &cells[6], &cells[7], &cells[8], &cells[9]) {
            Ok(r) => r,
            Err(e) => {
                errors.push(err(5, e.0));
                continue;
            }
        };
        let adherence = match cells[10].as_str() {
            "" => Adherence::NotNeeded,
            s => match Adherence::parse(s) {
                Ok(a) => a,
                Err(e) => {
                    errors.push(err(10, e.0));
                    continue;
                }
            },
        };
        let next_on = match cells[12].as_str() {
            "" => None,
            s => match day(s) {
                Ok(d) => Some(d),
                Err(e) => {
                    errors.push(err(12, e));
                    continue;
                }
            },
        };
        let abnormal = readings.abnormal();
        items.push((
            NewFollowUp { submission_key: cells[0].clone(), person_id, contract_id, followed_on, mode, readings, adherence, guidance: cells[11].clone(), next_on },
            abnormal,
        ));
    }
    let mut a = audit.clone();
    a.action = "followup.import".into();
    a.target = rows.file.clone();
    let applied = store.import_follow_ups(&items, &a).await?;
    Ok(TableReport { file: rows.file, applied, already: 0, errors })
}

/// A step of replaying claims.
enum Event {
    Settle(Box<crate::settlement::SettleRequest>),
    Reverse(String, String),
}

/// Where a claims import stands.
struct Replay<'a> {
    store: &'a Store,
    set: crate::settlement::PolicySet,
    settled_by: &'a str,
    audit: AuditEntry,
    /// Settlements waiting to be settled together.
    pending: Vec<crate::settlement::SettleRequest>,
    applied: usize,
    already: usize,
    /// Claims of the file not settled here: their reversals are not applied either.
    refused: HashSet<String>,
    errors: Vec<RowError>,
}

impl Replay<'_> {
    /// Settles the claims waiting, in one batch. A claim refused because its number is stored
    /// already, with the same stay and amounts, was settled by an earlier run of this file.
    async fn settle_pending(&mut self, row_of: &dyn Fn(&str) -> u64) -> Result<(), ExchangeError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let out = crate::settlement::settle_batch(self.store, &self.set, &self.pending, self.settled_by, &self.audit)
            .await
            .map_err(|e| StoreError::Refused(e.to_string()))?;
        self.applied += out.settled;
        let requests: HashMap<&str, &crate::settlement::SettleRequest> = self.pending.iter().map(|r| (r.claim_no.as_str(), r)).collect();
        for (no, why) in out.refused {
            let req = requests.get(no.as_str());
            let stored = self.store.claim(&no).await?;
            if let (Some(req), Some(stored)) = (req, stored) {
                if same_stay(req, &stored) {
                    self.already += 1;
                    continue;
                }
            }
            self.errors.push(RowError { row: row_of(&no), column: "结算单号".into(), value: no.clone(), reason: why });
            self.refused.insert(no);
        }
        self.pending.clear();
        Ok(())
    }

    /// Reverses a claim of the file, unless it was not settled here or an earlier run of this
    /// file reversed it already.
    async fn reverse(&mut self, no: &str, reason: &str, row_of: &dyn Fn(&str) -> u64) -> Result<(), ExchangeError> {
        if self.refused.contains(no) {
            return Ok(());
        }
        if self.store.claim(no).await?.is_some_and(|c| c.status == huimin_store::ClaimStatus::Reversed) {
            self.already += 1;
            return Ok(());
        }
        let mut ra = self.audit.clone();
        ra.action = "settlement.reverse".into();
        if let Err(e) = crate::settlement::reverse_claim(self.store, no, reason, self.settled_by, &ra).await {
            self.errors.push(RowError { row: row_of(no), column: "状态".into(), value: "已冲销".into(), reason: e.to_string() });
        }
        Ok(())
    }
}

/// Whether a stored claim is the stay a request describes (same person, dates, visit, facility
/// and amounts).
fn same_stay(req: &crate::settlement::SettleRequest, c: &huimin_store::StoredClaim) -> bool {
    let k = &c.claim;
    c.person_id == req.person_id
        && c.facility_code == req.facility_code
        && k.visit == req.visit
        && (k.admission, k.discharge) == (req.admission, req.discharge)
        && [k.cat_a, k.cat_b, k.out_of_catalogue, k.necessary] == [req.cat_a, req.cat_b, req.out_of_catalogue, req.necessary]
}

/// Imports claims (the format of the claims export): each is settled under the policy in force
/// on its admission date, and those marked 已冲销 are reversed with their reason, in the order
/// of the file's 结算时间 and 冲销时间 (without them: all settlements, then the reversals). Where the
/// file carries the bill's amounts (总费用, 基金支付合计, 个人负担), a bill that comes out
/// different is reported: the policies here are not the ones that settled it there.
pub async fn import_claims(store: &Store, path: &Path, settled_by: &str, audit: &AuditEntry) -> Result<TableReport, ExchangeError> {
    let table = Table::read(path, &CLAIM_COLUMNS).map_err(ImportError::from)?;
    let cols = table.columns(&CLAIM_COLUMNS).map_err(ImportError::from)?;
    // Optional columns of the export: the times to replay in, and the bill to compare with.
    let extra: Vec<Option<usize>> = ["结算时间", "冲销时间", "总费用", "基金支付合计", "个人负担"].iter().map(|h| table.headers.iter().position(|x| x == h)).collect();
    let mut persons = Persons { store, known: HashMap::new() };
    let mut errors = Vec::new();
    // Settlements and reversals replayed in the order they happened there (file order without
    // times): a reversal changes the accumulators later claims of the person are settled on.
    let mut events: Vec<(String, u64, Event)> = Vec::new();
    let mut expected: HashMap<String, (u64, [Option<String>; 3])> = HashMap::new();
    for r in &table.rows {
        let [settled_at, reversed_at, total, funds, patient]: [String; 5] = cells(&extra, &r.cells).try_into().unwrap_or_default();
        let cells = cells(&cols, &r.cells);
        let err = |col: usize, reason: String| row_error(&CLAIM_COLUMNS, r.row, &cells, col, reason);
        let person_id = match persons.id(&cells[1], cols[1].is_some_and(|c| r.is_number(c))).await? {
            Ok(p) => p,
            Err(e) => {
                errors.push(err(1, e));
                continue;
            }
        };
        let Some(visit) = VisitType::parse(&cells[3]) else {
            errors.push(err(3, "就诊类型应为 inpatient、outpatient_chronic 或 outpatient_general".into()));
            continue;
        };
        let (admission, discharge) = match (day(&cells[4]), day(&cells[5])) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) => {
                errors.push(err(4, e));
                continue;
            }
            (_, Err(e)) => {
                errors.push(err(5, e));
                continue;
            }
        };
        let mut amounts = [Money::default(); 4];
        let mut bad = None;
        for (i, a) in amounts.iter_mut().enumerate() {
            match Money::parse_yuan(&cells[7 + i]) {
                Ok(m) => *a = m,
                Err(e) => bad = bad.or(Some((7 + i, e.to_string()))),
            }
        }
        if let Some((col, e)) = bad {
            errors.push(err(col, e));
            continue;
        }
        let diseases = cells[6].split('|').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
        if cells[11] == "已冲销" {
            let reason = if cells[12].is_empty() { "导入：原系统已冲销".to_string() } else { cells[12].clone() };
            events.push((if reversed_at.is_empty() { "~".into() } else { reversed_at }, r.row, Event::Reverse(cells[0].clone(), reason)));
        }
        expected.insert(cells[0].clone(), (r.row, [total, funds, patient].map(|t| Some(t).filter(|s| !s.is_empty()))));
        let request = crate::settlement::SettleRequest {
            claim_no: cells[0].clone(),
            person_id,
            facility_code: cells[2].clone(),
            visit,
            admission,
            discharge,
            diseases,
            cat_a: amounts[0],
            cat_b: amounts[1],
            out_of_catalogue: amounts[2],
            necessary: amounts[3],
        };
        events.push((settled_at, r.row, Event::Settle(Box::new(request))));
    }
    // Without times, every settlement comes first (in file order) and then the reversals ("~" sorts
    // after digits); at the same instant a settlement goes before a reversal.
    events.sort_by(|a, b| (&a.0, matches!(a.2, Event::Reverse(..)), a.1).cmp(&(&b.0, matches!(b.2, Event::Reverse(..)), b.1)));
    let set = crate::settlement::PolicySet::load(store).await.map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut a = audit.clone();
    a.action = "settlement.import".into();
    a.target = table.file.clone();
    let row_of = |no: &str| expected.get(no).map_or(0, |(r, _)| *r);
    // Each batch of settlements and each reversal commits on its own, in the file's order, so an
    // interrupted run has applied a beginning of it; a run again skips what is stored already
    // and applies the rest: the same end as one run.
    let mut replay = Replay { store, set, settled_by, audit: a, pending: Vec::new(), applied: 0, already: 0, refused: HashSet::new(), errors };
    for (_, _, event) in events {
        match event {
            Event::Settle(req) => replay.pending.push(*req),
            Event::Reverse(no, reason) => {
                replay.settle_pending(&row_of).await?;
                replay.reverse(&no, &reason, &row_of).await?;
            }
        }
    }
    replay.settle_pending(&row_of).await?;
    let Replay { applied, already, mut errors, .. } = replay;
    for (no, (row, amounts)) in &expected {
        let Some(c) = store.claim(no).await? else { continue };
        let ours = [yuan(c.bill.total), yuan(c.bill.funds_total), yuan(c.bill.patient_total)];
        for (i, (theirs, ours)) in amounts.iter().zip(ours).enumerate() {
            if let Some(t) = theirs {
                if Money::parse_yuan(t).ok().map(yuan).as_deref() != Some(ours.as_str()) {
                    let column = ["总费用", "基金支付合计", "个人负担"][i];
                    errors.push(RowError { row: *row, column: column.into(), value: t.clone(), reason: format!("本系统结算为 {ours}：两地政策不同") });
                }
            }
        }
    }
    errors.sort_by_key(|e| e.row);
    Ok(TableReport { file: table.file, applied, already, errors })
}
