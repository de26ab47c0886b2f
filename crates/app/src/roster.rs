//! The roster of registered poor households (建档立卡名单) as the poverty office exports it:
//! one row per person, the household's attributes repeated on each row. See `docs/roster-format.md`.
//!
//! Parsing is pure: a `Table` and the known region codes in, accepted households and row errors
//! out. A household with any bad row is held back whole, so nothing is half-applied; comparing with
//! the registry gives the difference (new, changed, re-entered, exited) that the store applies.

use std::collections::{BTreeSet, HashMap, HashSet};

use huimin_domain::{
    Ethnicity, Household, HouseholdNo, IdNumber, Money, MonitoringCategory, Person, PersonName, Phone, PovertyCategory,
    PovertyCause, PovertyStatus, RegionCode, RegionLevel, Relation, Sex,
};
use huimin_store::{EventInput, EventKind, RegistrySnapshot, RosterChanges};
use serde::Serialize;
use serde_json::json;

use crate::table::{Column, FileError, Table};

const fn col(name: &'static str, aliases: &'static [&'static str], required: bool) -> Column {
    Column { name, aliases, required }
}

/// The roster's columns, in the order of the template.
pub const ROSTER_COLUMNS: [Column; 15] = [
    col("户编号", &["户号", "户码"], true),
    col("户主姓名", &["户主"], true),
    col("与户主关系", &["与户主的关系"], true),
    col("姓名", &["成员姓名"], true),
    col("证件号码", &["身份证号", "身份证号码", "公民身份号码"], true),
    col("性别", &[], false),
    col("民族", &[], true),
    col("行政区划代码", &["区划代码", "行政区划"], true),
    col("贫困户属性", &["贫困属性"], true),
    col("脱贫状态", &["脱贫标志"], true),
    col("主要致贫原因", &["致贫原因"], true),
    col("联系电话", &["电话", "手机号码"], false),
    // The household's economics (防止返贫动态监测), optional: see `RosterEconomics`.
    col("家庭人口数", &["家庭人口", "户人口数"], false),
    col("家庭年人均纯收入", &["家庭年人均纯收入（元）", "家庭年人均纯收入(元)", "年人均纯收入", "人均纯收入"], false),
    col("监测对象类别", &["监测类别", "监测对象"], false),
];

const HOUSEHOLD_NO: usize = 0;
const HEAD_NAME: usize = 1;
const RELATION: usize = 2;
const NAME: usize = 3;
const ID_NUMBER: usize = 4;
const SEX: usize = 5;
const ETHNICITY: usize = 6;
const REGION: usize = 7;
const CATEGORY: usize = 8;
const STATUS: usize = 9;
const CAUSE: usize = 10;
const PHONE: usize = 11;
const SIZE: usize = 12;
const INCOME: usize = 13;
const MONITORING: usize = 14;

/// A household's economics as a roster row gives them. A row whose three cells are empty says
/// nothing (what is recorded stays); otherwise the cells are the household's economics: an empty
/// size is its members listed, an empty income not known, an empty category not monitored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RosterEconomics {
    pub size: Option<u32>,
    pub per_capita_income: Option<Money>,
    pub category: Option<MonitoringCategory>,
}

/// A problem with one cell or row; `value` is what the file held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub row: u64,
    pub column: String,
    pub value: String,
    pub reason: String,
}

/// A household not applied because one of its rows is bad, or because a person moves between
/// it and a household held back (`with`: that household), so that households move as a unit.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HeldBack {
    pub household_no: String,
    pub rows: Vec<u64>,
    pub bad_rows: Vec<u64>,
    pub with: Option<String>,
}

#[derive(Debug, Default)]
pub struct ParsedRoster {
    pub rows_total: usize,
    /// Households that passed every check, with their persons, in file order.
    pub households: Vec<(Household, Vec<Person>)>,
    /// The economics the file gives for its households (by household number).
    pub economics: HashMap<String, RosterEconomics>,
    pub errors: Vec<RowError>,
    pub held_back: Vec<HeldBack>,
    /// Every valid ID number in the file, applied or held back: none of them may be exited.
    pub id_numbers: HashSet<IdNumber>,
    /// The household each valid ID number is listed in (its first row).
    pub id_households: HashMap<IdNumber, String>,
    /// Every household number in the file, applied or held back.
    pub household_nos: HashSet<String>,
    /// The counties the file's households lie in: the default scope of a re-import.
    pub counties: BTreeSet<RegionCode>,
    /// Cells read as meant rather than as written (full-width digits, spaces in a name or an ID
    /// number, a lowercase x): row, column, as written, as read.
    pub normalised: Vec<Normalised>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Normalised {
    pub row: u64,
    pub column: String,
    pub written: String,
    pub read: String,
}

#[derive(Default)]
struct Group {
    rows: Vec<u64>,
    bad_rows: Vec<u64>,
    household: Option<(u64, Household)>,
    economics: Option<RosterEconomics>,
    persons: Vec<(u64, Person)>,
}

/// Checks every row. `allowed` (the importing user's region) refuses households outside it.
pub fn parse_roster(
    table: &Table,
    regions: &HashMap<RegionCode, String>,
    allowed: Option<RegionCode>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ParsedRoster, FileError> {
    let cols = table.columns(&ROSTER_COLUMNS)?;
    let mut out = ParsedRoster { rows_total: table.rows.len(), ..Default::default() };
    let mut groups: HashMap<String, Group> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut seen_ids: HashMap<IdNumber, (u64, String)> = HashMap::new();

    for (i, r) in table.rows.iter().enumerate() {
        if i % 10_000 == 0 {
            progress(i as u64);
        }
        let cell = |c: usize| cols[c].and_then(|i| r.cells.get(i)).map(String::as_str).unwrap_or("");
        let mut errors = Vec::new();
        let mut check = |c: usize, reason: Option<String>| {
            if let Some(reason) = reason {
                errors.push(RowError { row: r.row, column: ROSTER_COLUMNS[c].name.into(), value: cell(c).into(), reason });
            }
        };
        fn ok<T, E: ToString>(res: Result<T, E>, slot: &mut Option<T>) -> Option<String> {
            match res {
                Ok(v) => {
                    *slot = Some(v);
                    None
                }
                Err(e) => Some(e.to_string()),
            }
        }
        let key = cell(HOUSEHOLD_NO).trim().to_string();
        let (mut no, mut head, mut relation, mut name, mut id, mut ethnicity) = (None, None, None, None, None, None);
        let (mut region, mut category, mut status, mut cause, mut phone) = (None, None, None, None, None);
        check(HOUSEHOLD_NO, ok(HouseholdNo::parse(cell(HOUSEHOLD_NO)), &mut no));
        check(HEAD_NAME, ok(PersonName::parse(cell(HEAD_NAME)), &mut head));
        check(RELATION, ok(Relation::parse(cell(RELATION)), &mut relation));
        check(NAME, ok(PersonName::parse(cell(NAME)), &mut name));
        let id_stored_as_number = cols[ID_NUMBER].is_some_and(|c| r.is_number(c));
        check(ID_NUMBER, ok(crate::table::id_number(cell(ID_NUMBER), id_stored_as_number), &mut id));
        check(ETHNICITY, ok(Ethnicity::parse(cell(ETHNICITY)), &mut ethnicity));
        check(CATEGORY, ok(PovertyCategory::parse(cell(CATEGORY)), &mut category));
        check(STATUS, ok(PovertyStatus::parse(cell(STATUS)), &mut status));
        check(CAUSE, ok(PovertyCause::parse(cell(CAUSE)), &mut cause));
        let phone_text = cell(PHONE);
        if !phone_text.is_empty() {
            check(PHONE, ok(Phone::parse(phone_text).map(Some), &mut phone));
        }
        let mut economics = RosterEconomics { size: None, per_capita_income: None, category: None };
        let size_text = cell(SIZE).trim();
        if !size_text.is_empty() {
            match size_text.trim_end_matches(".0").parse::<u32>() {
                Ok(n) if (1..=99).contains(&n) => economics.size = Some(n),
                _ => check(SIZE, Some(format!("家庭人口数「{size_text}」应为 1–99 的整数"))),
            }
        }
        let income_text = cell(INCOME).trim();
        if !income_text.is_empty() {
            match Money::parse_yuan(income_text) {
                Ok(m) => economics.per_capita_income = Some(m),
                Err(e) => check(INCOME, Some(format!("家庭年人均纯收入应为元（如 7600 或 7600.50）：{e}"))),
            }
        }
        let category_text = cell(MONITORING).trim();
        if !category_text.is_empty() {
            match MonitoringCategory::parse(category_text) {
                Ok(c) => economics.category = Some(c),
                Err(e) => check(MONITORING, Some(e.to_string())),
            }
        }
        let says_economics = !(size_text.is_empty() && income_text.is_empty() && category_text.is_empty());
        let read_as: [(usize, Option<&str>); 4] = [
            (HEAD_NAME, head.as_ref().map(PersonName::as_str)),
            (NAME, name.as_ref().map(PersonName::as_str)),
            (ID_NUMBER, id.as_ref().map(IdNumber::as_str)),
            (PHONE, phone.as_ref().and_then(|p| p.as_ref()).map(Phone::as_str)),
        ];
        for (c, read) in read_as {
            if let Some(read) = read.filter(|v| *v != cell(c).trim()) {
                let (written, read) = if c == ID_NUMBER {
                    // Never a whole ID number in a report: as written, the first six and the last
                    // four characters (as `IdNumber::masked` shows the number read).
                    let w: Vec<char> = cell(c).trim().chars().collect();
                    let tail: String = w[w.len().saturating_sub(4).max(6.min(w.len()))..].iter().collect();
                    (format!("{}********{tail}", w.iter().take(6).collect::<String>()), id.as_ref().map(IdNumber::masked).unwrap_or_default())
                } else {
                    (cell(c).trim().to_string(), read.to_string())
                };
                out.normalised.push(Normalised { row: r.row, column: ROSTER_COLUMNS[c].name.into(), written, read });
            }
        }
        match RegionCode::parse(cell(REGION)) {
            Err(e) => check(REGION, Some(e.to_string())),
            Ok(code) if !regions.contains_key(&code) => {
                check(REGION, Some(format!("行政区划代码 {code} 不在区划表中（未知区划，请先导入区划）")))
            }
            Ok(code) if allowed.is_some_and(|a| !a.contains(code)) => {
                check(REGION, Some(format!("行政区划代码 {code} 不在您的管辖范围内")))
            }
            Ok(code) if code.level() < RegionLevel::Township => {
                check(REGION, Some(format!("户应登记到乡镇或村，{code} 是{}级代码", code.level().label_zh())))
            }
            Ok(code) => region = Some(code),
        }
        if let Some(id) = &id {
            let sex = cell(SEX);
            if !sex.is_empty() {
                match Sex::parse(sex) {
                    None => check(SEX, Some(format!("性别「{sex}」应为 男 或 女"))),
                    Some(s) if s != id.sex() => {
                        check(SEX, Some(format!("性别与证件号码不符（证件号码为{}性）", id.sex().label_zh())))
                    }
                    Some(_) => {}
                }
            }
            if let Some((first_row, first_no)) = seen_ids.get(id) {
                let reason = if *first_no == key {
                    format!("证件号码与第 {first_row} 行重复")
                } else {
                    format!("同一证件号码已在户 {first_no}（第 {first_row} 行）中登记，一人不能属于两户")
                };
                check(ID_NUMBER, Some(reason));
                let other = first_no.clone();
                groups.entry(other).or_default().bad_rows.push(*first_row);
            } else {
                seen_ids.insert(id.clone(), (r.row, key.clone()));
                out.id_households.insert(id.clone(), key.clone());
            }
            out.id_numbers.insert(id.clone());
        }
        if let Some(code) = region.and_then(|c| c.ancestor(RegionLevel::County)) {
            out.counties.insert(code);
        }
        if key.is_empty() {
            out.errors.extend(errors);
            continue;
        }
        if !groups.contains_key(&key) {
            order.push(key.clone());
            out.household_nos.insert(key.clone());
        }
        let group = groups.entry(key).or_default();
        group.rows.push(r.row);
        let household = match (no, head, region, category, status, cause) {
            (Some(no), Some(head_name), Some(region), Some(category), Some(status), Some(cause)) if errors.is_empty() => {
                Some(Household { no, region, head_name, category, status, cause, phone: None })
            }
            _ => None,
        };
        if says_economics && errors.is_empty() {
            match group.economics {
                None => group.economics = Some(economics),
                Some(first) if first != economics => {
                    let column = if first.size != economics.size { SIZE } else if first.per_capita_income != economics.per_capita_income { INCOME } else { MONITORING };
                    errors.push(RowError {
                        row: r.row,
                        column: ROSTER_COLUMNS[column].name.into(),
                        value: cell(column).trim().into(),
                        reason: "同一户的各行应一致（家庭人口数、年人均纯收入、监测对象类别写在户的每一行或只写一行）".into(),
                    });
                }
                Some(_) => {}
            }
        }
        if let (Some(h), Some((first_row, first))) = (&household, &group.household) {
            let fields: [(usize, String, String); 5] = [
                (HEAD_NAME, first.head_name.as_str().into(), h.head_name.as_str().into()),
                (REGION, first.region.to_string(), h.region.to_string()),
                (CATEGORY, first.category.label_zh().into(), h.category.label_zh().into()),
                (STATUS, first.status.label_zh().into(), h.status.label_zh().into()),
                (CAUSE, first.cause.label_zh().into(), h.cause.label_zh().into()),
            ];
            for (c, a, b) in fields {
                if a != b {
                    errors.push(RowError {
                        row: r.row,
                        column: ROSTER_COLUMNS[c].name.into(),
                        value: b.clone(),
                        reason: format!("同一户的各行应一致：第 {first_row} 行为「{a}」"),
                    });
                }
            }
        }
        if errors.is_empty() {
            let (household, id, name, relation, ethnicity) =
                (household.expect("all parsed"), id.expect("parsed"), name.expect("parsed"), relation.expect("parsed"), ethnicity.expect("parsed"));
            let person = Person { id_number: id, household_no: household.no.clone(), name, relation, ethnicity, phone: phone.flatten() };
            if group.household.is_none() {
                group.household = Some((r.row, household));
            }
            group.persons.push((r.row, person));
        } else {
            group.bad_rows.push(r.row);
            out.errors.extend(errors);
        }
    }
    progress(table.rows.len() as u64);

    for key in order {
        let mut g = groups.remove(&key).expect("grouped");
        if g.bad_rows.is_empty() {
            if let Some((first_row, household)) = &mut g.household {
                let heads: Vec<&(u64, Person)> = g.persons.iter().filter(|(_, p)| p.relation == Relation::Head).collect();
                let problem = match heads.as_slice() {
                    [] => Some((RELATION, String::new(), format!("户 {key} 没有与户主关系为「户主」的成员"))),
                    [(_, head)] if head.name != household.head_name => Some((
                        HEAD_NAME,
                        household.head_name.as_str().to_string(),
                        format!("户主姓名与本户「户主」一行的姓名「{}」不一致", head.name.as_str()),
                    )),
                    [_] => None,
                    [_, (row, _), ..] => Some((RELATION, "户主".into(), format!("户 {key} 有多个户主（另见第 {row} 行）"))),
                };
                if let Some((c, value, reason)) = problem {
                    out.errors.push(RowError { row: *first_row, column: ROSTER_COLUMNS[c].name.into(), value, reason });
                    g.bad_rows.push(*first_row);
                } else {
                    // The household's phone is the head's.
                    household.phone = heads[0].1.phone.clone();
                }
            }
        }
        g.bad_rows.sort_unstable();
        g.bad_rows.dedup();
        if g.bad_rows.is_empty() {
            if let Some((_, household)) = g.household {
                if let Some(e) = g.economics {
                    out.economics.insert(household.no.as_str().to_string(), e);
                }
                out.households.push((household, g.persons.into_iter().map(|(_, p)| p).collect()));
            }
        } else {
            out.held_back.push(HeldBack { household_no: key, rows: g.rows, bad_rows: g.bad_rows, with: None });
        }
    }
    out.errors.sort_by_key(|e| e.row);
    Ok(out)
}

/// Holds back, with every held-back household, the households a person moves between: the
/// registry household of each person listed in it, and the file household of each registry
/// member of it, until nothing more is added. So no household is exited while one of its members
/// stays behind in a held-back row, and no head moves out of a household that stays as it was.
pub fn hold_together(parsed: &mut ParsedRoster, snapshot: &RegistrySnapshot) {
    let mut members: HashMap<&str, Vec<&IdNumber>> = HashMap::new();
    for (id, p) in &snapshot.persons {
        members.entry(p.person.household_no.as_str()).or_default().push(id);
    }
    let mut listed: HashMap<&str, Vec<&IdNumber>> = HashMap::new();
    for (id, h) in &parsed.id_households {
        listed.entry(h.as_str()).or_default().push(id);
    }
    let mut held: HashMap<String, Option<String>> = parsed.held_back.iter().map(|h| (h.household_no.clone(), None)).collect();
    let mut queue: Vec<String> = held.keys().cloned().collect();
    while let Some(h) = queue.pop() {
        let file_members = listed.get(h.as_str()).into_iter().flatten().filter_map(|id| snapshot.persons.get(*id)).map(|p| p.person.household_no.as_str().to_string());
        let registry_members = members.get(h.as_str()).into_iter().flatten().filter_map(|id| parsed.id_households.get(*id)).cloned();
        let linked: Vec<String> = file_members.chain(registry_members).filter(|o| *o != h).collect();
        for other in linked {
            if !held.contains_key(&other) {
                held.insert(other.clone(), Some(h.clone()));
                queue.push(other);
            }
        }
    }
    let (kept, moved): (Vec<_>, Vec<_>) = std::mem::take(&mut parsed.households).into_iter().partition(|(h, _)| !held.contains_key(h.no.as_str()));
    parsed.households = kept;
    for (h, _) in moved {
        let with = held.get(h.no.as_str()).cloned().flatten();
        parsed.held_back.push(HeldBack { household_no: h.no.as_str().to_string(), rows: Vec::new(), bad_rows: Vec::new(), with });
    }
    // A held household that is not in the file at all (its members moved out of it) is kept too.
    for (no, with) in held {
        if !parsed.household_nos.contains(&no) {
            parsed.household_nos.insert(no.clone());
            parsed.held_back.push(HeldBack { household_no: no, rows: Vec::new(), bad_rows: Vec::new(), with });
        }
    }
}

/// A field that differs between the registry and the roster: (column, before, after).
pub type FieldChange = (String, String, String);

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Named {
    pub key: String,
    pub name: String,
}

/// The difference between the registry and a roster.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct RosterDiff {
    pub new_households: Vec<Named>,
    pub reentered_households: Vec<Named>,
    #[schema(value_type = Vec<(Named, Vec<(String, String, String)>)>)]
    pub changed_households: Vec<(Named, Vec<FieldChange>)>,
    pub exited_households: Vec<Named>,
    pub unchanged_households: usize,
    pub new_persons: Vec<Named>,
    pub reentered_persons: Vec<Named>,
    #[schema(value_type = Vec<(Named, Vec<(String, String, String)>)>)]
    pub changed_persons: Vec<(Named, Vec<FieldChange>)>,
    pub exited_persons: Vec<Named>,
    pub unchanged_persons: usize,
    /// Households in the programme inside the scope before the import.
    pub households_in_scope: usize,
}

impl RosterDiff {
    pub fn is_empty(&self) -> bool {
        self.new_households.is_empty()
            && self.reentered_households.is_empty()
            && self.changed_households.is_empty()
            && self.exited_households.is_empty()
            && self.new_persons.is_empty()
            && self.reentered_persons.is_empty()
            && self.changed_persons.is_empty()
            && self.exited_persons.is_empty()
    }

    pub fn summary(&self) -> serde_json::Value {
        json!({
            "households": {"new": self.new_households.len(), "reentered": self.reentered_households.len(),
                "changed": self.changed_households.len(), "exited": self.exited_households.len(), "unchanged": self.unchanged_households},
            "persons": {"new": self.new_persons.len(), "reentered": self.reentered_persons.len(),
                "changed": self.changed_persons.len(), "exited": self.exited_persons.len(), "unchanged": self.unchanged_persons},
        })
    }
}

fn household_changes(a: &Household, b: &Household) -> Vec<FieldChange> {
    let phone = |h: &Household| h.phone.as_ref().map(|p| p.as_str().to_string()).unwrap_or_default();
    let pairs = [
        ("行政区划代码", a.region.to_string(), b.region.to_string()),
        ("户主姓名", a.head_name.as_str().into(), b.head_name.as_str().into()),
        ("贫困户属性", a.category.label_zh().into(), b.category.label_zh().into()),
        ("脱贫状态", a.status.label_zh().into(), b.status.label_zh().into()),
        ("主要致贫原因", a.cause.label_zh().into(), b.cause.label_zh().into()),
        ("联系电话", phone(a), phone(b)),
    ];
    pairs.into_iter().filter(|(_, x, y)| x != y).map(|(c, x, y)| (c.to_string(), x, y)).collect()
}

fn person_changes(a: &Person, b: &Person) -> Vec<FieldChange> {
    let phone = |p: &Person| p.phone.as_ref().map(|p| p.as_str().to_string()).unwrap_or_default();
    let pairs = [
        ("户编号", a.household_no.as_str().into(), b.household_no.as_str().into()),
        ("姓名", a.name.as_str().into(), b.name.as_str().into()),
        ("与户主关系", a.relation.label_zh().into(), b.relation.label_zh().into()),
        ("民族", a.ethnicity.as_str().into(), b.ethnicity.as_str().into()),
        ("联系电话", phone(a), phone(b)),
    ];
    pairs.into_iter().filter(|(_, x, y)| x != y).map(|(c, x, y)| (c.to_string(), x, y)).collect()
}

fn change_json(changes: &[FieldChange]) -> serde_json::Value {
    changes.iter().map(|(c, a, b)| (c.clone(), json!([a, b]))).collect::<serde_json::Map<_, _>>().into()
}

/// Compares a parsed roster with the registry's state for `scope` and says what to write.
pub fn diff(parsed: &ParsedRoster, snapshot: &RegistrySnapshot, scope: &[RegionCode], file_name: &str) -> (RosterChanges, RosterDiff) {
    let mut d = RosterDiff::default();
    let mut changes = RosterChanges { file_name: file_name.to_string(), ..Default::default() };
    let event = |kind, reason: String, fields: &[FieldChange]| {
        Some(EventInput { kind, reason, changes: (!fields.is_empty()).then(|| change_json(fields)) })
    };
    for (h, persons) in &parsed.households {
        let named = Named { key: h.no.as_str().into(), name: h.head_name.as_str().into() };
        // The file's economics, where they differ from those recorded: recorded, and shown as
        // the household's changes.
        let mut economics_fields = Vec::new();
        if let Some(e) = parsed.economics.get(h.no.as_str()) {
            let size = e.size.unwrap_or(u32::try_from(persons.len()).unwrap_or(1).clamp(1, 99));
            let old = snapshot.economics.get(h.no.as_str());
            let text = |size: Option<u32>, income: Option<Money>, category: Option<MonitoringCategory>| {
                [size.map(|n| n.to_string()).unwrap_or_default(), income.map(|m| m.to_string()).unwrap_or_default(), category.map(|c| c.label_zh().to_string()).unwrap_or_default()]
            };
            let was = text(old.map(|o| o.size), old.and_then(|o| o.per_capita_income), old.and_then(|o| o.monitoring_category));
            let now = text(Some(size), e.per_capita_income, e.category);
            for (i, name) in ["家庭人口数", "家庭年人均纯收入", "监测对象类别"].into_iter().enumerate() {
                if was[i] != now[i] {
                    economics_fields.push((name.to_string(), was[i].clone(), now[i].clone()));
                }
            }
            if !economics_fields.is_empty() {
                changes.economics.push((h.no.clone(), size, e.per_capita_income, e.category));
            }
        }
        match snapshot.households.get(&h.no) {
            None => {
                d.new_households.push(named);
                changes.households.push((h.clone(), event(EventKind::Entry, format!("{file_name} 名单新增"), &[])));
            }
            Some(old) => {
                let mut fields = household_changes(&old.household, h);
                fields.extend(economics_fields);
                if !old.in_programme {
                    d.reentered_households.push(named);
                    changes.households.push((h.clone(), event(EventKind::Entry, format!("重新列入 {file_name} 名单"), &fields)));
                } else if !fields.is_empty() {
                    d.changed_households.push((named, fields.clone()));
                    changes.households.push((h.clone(), event(EventKind::Change, format!("{file_name} 名单变更"), &fields)));
                } else {
                    d.unchanged_households += 1;
                }
            }
        }
        for p in persons {
            let named = Named { key: p.id_number.masked(), name: p.name.as_str().into() };
            match snapshot.persons.get(&p.id_number) {
                None => {
                    d.new_persons.push(named);
                    changes.persons.push((p.clone(), event(EventKind::Entry, format!("{file_name} 名单新增"), &[])));
                }
                Some(old) => {
                    let fields = person_changes(&old.person, p);
                    if !old.in_programme {
                        d.reentered_persons.push(named);
                        changes.persons.push((p.clone(), event(EventKind::Entry, format!("重新列入 {file_name} 名单"), &fields)));
                    } else if !fields.is_empty() {
                        d.changed_persons.push((named, fields.clone()));
                        changes.persons.push((p.clone(), event(EventKind::Change, format!("{file_name} 名单变更"), &fields)));
                    } else {
                        d.unchanged_persons += 1;
                    }
                }
            }
        }
    }
    let in_scope = |code: RegionCode| scope.iter().any(|s| s.contains(code));
    let exit_reason = format!("未列入 {file_name} 名单");
    let mut exited: Vec<_> = snapshot
        .households
        .values()
        .filter(|h| h.in_programme && in_scope(h.household.region) && !parsed.household_nos.contains(h.household.no.as_str()))
        .collect();
    exited.sort_by(|a, b| a.household.no.cmp(&b.household.no));
    d.households_in_scope = snapshot.households.values().filter(|h| h.in_programme && in_scope(h.household.region)).count();
    for h in exited {
        d.exited_households.push(Named { key: h.household.no.as_str().into(), name: h.household.head_name.as_str().into() });
        changes.household_exits.push((h.household.no.clone(), exit_reason.clone()));
    }
    let held: HashSet<&str> = parsed.held_back.iter().map(|h| h.household_no.as_str()).collect();
    let mut gone: Vec<_> = snapshot
        .persons
        .values()
        .filter(|p| {
            p.in_programme
                && !parsed.id_numbers.contains(&p.person.id_number)
                && !held.contains(p.person.household_no.as_str())
                && snapshot.households.get(&p.person.household_no).is_some_and(|h| in_scope(h.household.region))
        })
        .collect();
    gone.sort_by_key(|p| p.id);
    for p in gone {
        d.exited_persons.push(Named { key: p.person.id_number.masked(), name: p.person.name.as_str().into() });
        changes.person_exits.push((p.id, p.person.household_no.clone(), exit_reason.clone()));
    }
    changes.summary = d.summary();
    (changes, d)
}

/// The counties of the file's households: what a re-import compares with unless told otherwise.
pub fn default_scope(parsed: &ParsedRoster) -> Vec<RegionCode> {
    parsed.counties.iter().copied().collect()
}
