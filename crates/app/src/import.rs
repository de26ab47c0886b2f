//! Import use-cases: read a file, check every row, compare with the registry, apply in one
//! transaction, and report every bad row (on screen and as an XLSX the user can open in Excel).

use std::collections::HashMap;
use std::path::Path;

use huimin_domain::{Date, Facility, FacilityLevel, Region, RegionCode};
use huimin_store::{AuditEntry, Store, StoreError};
use rust_xlsxwriter::{Format, Workbook};
use serde::Serialize;

use crate::roster::{self, HeldBack, RosterDiff, RowError};
use crate::table::{Column, FileError, Table};

/// Progress of a long import, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// Rows checked so far, of `total`.
    Rows { done: u64, total: u64 },
    /// Writing to the database.
    Writing,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error(
        "导入将使范围内 {in_scope} 户中的 {exited} 户退出，超过一半。请确认文件和范围无误；确需如此，请确认允许整批退出后重新导入"
    )]
    MassExit { exited: usize, in_scope: usize },
    #[error("生效日期 {as_of} 早于登记库中这些户最近一次变动的生效日期 {last}，历史记录会前后颠倒；请用 {last} 或之后的日期")]
    BackDated { as_of: Date, last: Date },
    #[error("无法写错误报告（{0}），未写入任何数据")]
    Report(String),
}

pub struct RosterImport<'a> {
    /// Who imports: a user name for the history and the audit log.
    pub actor: &'a str,
    pub user_id: Option<i64>,
    /// Where from: the client's address, or "cli".
    pub origin: &'a str,
    /// Rows whose household lies outside this region are refused (the importing user's region).
    pub allowed_region: Option<RegionCode>,
    /// The date the entries, exits and changes take effect.
    pub effective: Date,
    /// Regions whose households are compared with the file; by default the file's counties.
    pub scope: Option<Vec<RegionCode>>,
    /// Compare and report, but write nothing.
    pub dry_run: bool,
    pub allow_mass_exit: bool,
    /// Write nothing when any row is refused (the command line's default: a partial import is
    /// asked for with `--accept-partial`).
    pub refuse_partial: bool,
    /// Where to write the error workbook when rows are refused — before anything is committed,
    /// so that an import never commits and then fails.
    pub error_report: Option<&'a Path>,
    pub progress: &'a (dyn Fn(Progress) + Sync),
}

fn no_progress(_: Progress) {}

impl<'a> RosterImport<'a> {
    /// An import by `actor` effective on `effective`, from the command line, with the defaults:
    /// scope = the file's counties, written for real, no mass exit, no progress reports.
    pub fn new(actor: &'a str, effective: Date) -> Self {
        RosterImport {
            actor,
            user_id: None,
            origin: "cli",
            allowed_region: None,
            effective,
            scope: None,
            dry_run: false,
            allow_mass_exit: false,
            refuse_partial: false,
            error_report: None,
            progress: &no_progress,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RosterReport {
    pub file: String,
    pub encoding: &'static str,
    /// The sheet read (a workbook) and the row its header was found in.
    pub sheet: Option<String>,
    pub header_row: u64,
    pub rows_total: usize,
    pub households_accepted: usize,
    pub persons_accepted: usize,
    pub errors: Vec<RowError>,
    pub held_back: Vec<HeldBack>,
    /// Cells read as meant rather than as written (`roster::Normalised`).
    pub normalised: Vec<roster::Normalised>,
    pub scope: Vec<RegionCode>,
    pub diff: RosterDiff,
    /// Set when the import was written.
    pub import_id: Option<i64>,
    /// The import would be refused for exiting more than half the households in scope (a dry
    /// run says so before the real one).
    pub mass_exit: bool,
    /// Nothing was written because rows were refused and a partial import was not asked for.
    pub refused_partial: bool,
}

pub async fn import_roster(store: &Store, path: &Path, opts: &RosterImport<'_>) -> Result<RosterReport, ImportError> {
    let table = Table::read(path, &crate::roster::ROSTER_COLUMNS)?;
    import_roster_table(store, table, opts).await
}

/// Imports a table already read (e.g. an upload); the raw rows are dropped once checked.
pub async fn import_roster_table(store: &Store, table: Table, opts: &RosterImport<'_>) -> Result<RosterReport, ImportError> {
    let regions = store.region_codes().await?;
    let total = table.rows.len() as u64;
    let mut parsed = roster::parse_roster(&table, &regions, opts.allowed_region, &|done| (opts.progress)(Progress::Rows { done, total }))?;
    let Table { file, encoding, sheet, header_row, .. } = table;
    let scope = opts.scope.clone().unwrap_or_else(|| roster::default_scope(&parsed));
    // Every person the file names, held back or not: where they are now decides what moves.
    let ids: Vec<_> = parsed.id_numbers.iter().cloned().collect();
    let snapshot = store.registry_snapshot(&scope, &ids).await?;
    roster::hold_together(&mut parsed, &snapshot);
    let (mut changes, diff) = roster::diff(&parsed, &snapshot, &scope, &file);
    drop(snapshot);
    if !diff.is_empty() {
        if let Some(last) = store.last_registry_event(&scope).await?.filter(|last| opts.effective < *last) {
            return Err(ImportError::BackDated { as_of: opts.effective, last });
        }
    }
    let exited = diff.exited_households.len();
    let mass_exit = !opts.allow_mass_exit && exited >= 10 && exited * 2 > diff.households_in_scope;
    if !opts.dry_run && mass_exit {
        return Err(ImportError::MassExit { exited, in_scope: diff.households_in_scope });
    }
    if let Some(path) = opts.error_report.filter(|_| !parsed.errors.is_empty()) {
        write_error_report(&parsed.errors, &parsed.held_back, path).map_err(|e| ImportError::Report(e.to_string()))?;
    }
    let refused_partial = opts.refuse_partial && !parsed.errors.is_empty();
    let mut import_id = None;
    if !opts.dry_run && !refused_partial && !diff.is_empty() {
        (opts.progress)(Progress::Writing);
        changes.actor = opts.actor.to_string();
        changes.audit = Some(AuditEntry {
            user_id: opts.user_id,
            username: opts.actor.to_string(),
            ip: opts.origin.to_string(),
            action: "roster.import".into(),
            target: file.clone(),
            detail: String::new(),
            region: opts.allowed_region,
        });
        changes.effective_date = Some(opts.effective);
        import_id = Some(store.apply_roster(changes).await?);
        tracing::info!(file = %file, rows = parsed.rows_total, errors = parsed.errors.len(), "roster imported");
    }
    Ok(RosterReport {
        file,
        encoding,
        sheet,
        header_row,
        rows_total: parsed.rows_total,
        households_accepted: parsed.households.len(),
        persons_accepted: parsed.households.iter().map(|(_, p)| p.len()).sum(),
        errors: parsed.errors,
        held_back: parsed.held_back,
        normalised: parsed.normalised,
        scope,
        diff,
        import_id,
        mass_exit,
        refused_partial,
    })
}

/// A refused cell's value as the error workbook shows it: at most 200 characters, the rest marked
/// (an Excel cell holds 32,767; a file's value may be anything up to its limit).
fn shown_value(value: &str) -> std::borrow::Cow<'_, str> {
    const SHOWN: usize = 200;
    match value.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}……（共 {} 字，已截断）", &value[..cut], value.chars().count()).into(),
        None => value.into(),
    }
}

/// Writes the bad rows, and the households held back because of them, as an XLSX workbook.
pub fn write_error_report(errors: &[RowError], held_back: &[HeldBack], path: &Path) -> Result<(), rust_xlsxwriter::XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet().set_name("错误")?;
    for (c, h) in ["行号", "列", "值", "原因"].iter().enumerate() {
        sheet.write_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, e) in errors.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write(r, 0, e.row as f64)?;
        sheet.write(r, 1, &e.column)?;
        // As text, so Excel does not turn an 18-digit ID number into 1.1E+17.
        sheet.write_string(r, 2, shown_value(&e.value).as_ref())?;
        sheet.write(r, 3, &e.reason)?;
    }
    sheet.set_column_width(0, 8)?.set_column_width(1, 14)?.set_column_width(2, 24)?.set_column_width(3, 70)?;
    if !held_back.is_empty() {
        let sheet = book.add_worksheet().set_name("暂缓导入的户")?;
        for (c, h) in ["户编号", "本户各行", "有错误的行", "说明"].iter().enumerate() {
            sheet.write_with_format(0, c as u16, *h, &bold)?;
        }
        let join = |rows: &[u64]| rows.iter().map(u64::to_string).collect::<Vec<_>>().join("、");
        for (i, h) in held_back.iter().enumerate() {
            let r = i as u32 + 1;
            sheet.write_string(r, 0, &h.household_no)?;
            sheet.write(r, 1, join(&h.rows))?;
            sheet.write(r, 2, join(&h.bad_rows))?;
            let why = match &h.with {
                None => "本户有错误的行，整户暂不导入；改正后重新导入即可".to_string(),
                Some(other) => format!("本户与暂缓导入的户 {other} 之间有成员迁入迁出，一并暂缓，以免一户没有户主或一人同属两户；改正户 {other} 后重新导入即可"),
            };
            sheet.write(r, 3, why)?;
        }
        sheet.set_column_width(0, 22)?.set_column_width(1, 24)?.set_column_width(2, 16)?.set_column_width(3, 50)?;
    }
    crate::files::save_workbook(&mut book, path)
}

/// The roster template to download: the columns in order, an example household of two, and a
/// sheet of instructions (which columns are required, the values they take). Every cell is text,
/// so a spreadsheet keeps all 18 digits of an ID number.
pub fn roster_template() -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use crate::roster::ROSTER_COLUMNS;
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    let sheet = book.add_worksheet().set_name("建档立卡名单")?;
    for (c, col) in ROSTER_COLUMNS.iter().enumerate() {
        sheet.write_with_format(0, c as u16, col.name, &bold)?;
        sheet.set_column_format(c as u16, &text)?;
        sheet.set_column_width(c as u16, if col.name == "证件号码" || col.name == "行政区划代码" || col.name == "户编号" { 22 } else { 12 })?;
    }
    let example_id = |birth: (i32, u32, u32), seq: u16| {
        huimin_domain::IdNumber::compose(371302, huimin_domain::Date::from_ymd_opt(birth.0, birth.1, birth.2).unwrap_or_default(), seq).map(|i| i.as_str().to_string()).unwrap_or_default()
    };
    let rows = [
        ["3713020012010001", "张明远", "户主", "张明远", &example_id((1958, 3, 7), 11), "男", "汉族", "371302001201", "一般贫困户", "未脱贫", "因病", "13800000000"],
        ["3713020012010001", "张明远", "配偶", "李秀英", &example_id((1960, 4, 12), 22), "女", "汉族", "371302001201", "一般贫困户", "未脱贫", "因病", ""],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            sheet.write_string(r as u32 + 1, c as u16, *v)?;
        }
    }
    let notes = book.add_worksheet().set_name("填表说明")?;
    notes.write_with_format(0, 0, "列", &bold)?;
    notes.write_with_format(0, 1, "是否必填", &bold)?;
    notes.write_with_format(0, 2, "说明", &bold)?;
    let says = |name: &str| match name {
        "户编号" => "同一户各成员相同",
        "证件号码" => "18 位居民身份证号码，请以文本保存（不要让表格软件改成科学计数）",
        "行政区划代码" => "12 位村级代码",
        "贫困户属性" => "一般贫困户、低保贫困户、特困供养贫困户",
        "脱贫状态" => "未脱贫、已脱贫",
        "与户主关系" => "户主、配偶、之子、之女、之父、之母等；每户一名户主",
        _ => "",
    };
    for (r, col) in ROSTER_COLUMNS.iter().enumerate() {
        notes.write(r as u32 + 1, 0, col.name)?;
        notes.write(r as u32 + 1, 1, if col.required { "必填" } else { "选填" })?;
        notes.write(r as u32 + 1, 2, says(col.name))?;
    }
    notes.write(ROSTER_COLUMNS.len() as u32 + 2, 0, "示例行可删除或改写；第一个工作表的第一行是列名，不要改动。")?;
    notes.set_column_width(0, 14)?.set_column_width(1, 10)?.set_column_width(2, 60)?;
    book.save_to_buffer()
}

/// The result of importing a reference table (regions or facilities): rows applied and bad rows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TableReport {
    pub file: String,
    pub applied: usize,
    /// Rows found already applied by an earlier run of the same file (an interrupted import
    /// run again carries on where it stopped).
    pub already: usize,
    pub errors: Vec<RowError>,
}

fn row_error(row: u64, column: &Column, value: &str, reason: impl Into<String>) -> RowError {
    RowError { row, column: column.name.into(), value: value.into(), reason: reason.into() }
}

pub const REGION_COLUMNS: [Column; 2] = [
    Column { name: "区划代码", aliases: &["行政区划代码", "代码"], required: true },
    Column { name: "名称", aliases: &["区划名称"], required: true },
];

/// Imports regions (区划代码, 名称). A region's parent must be in the file or the store.
pub async fn import_regions(store: &Store, path: &Path) -> Result<TableReport, ImportError> {
    let table = Table::read(path, &REGION_COLUMNS)?;
    let cols = table.columns(&REGION_COLUMNS)?;
    let known = store.region_codes().await?;
    let mut errors = Vec::new();
    let mut parsed: HashMap<RegionCode, (u64, String)> = HashMap::new();
    for r in &table.rows {
        let cell = |c: usize| cols[c].and_then(|i| r.cells.get(i)).map(String::as_str).unwrap_or("");
        let name = cell(1).trim();
        match RegionCode::parse(cell(0)) {
            Err(e) => errors.push(row_error(r.row, &REGION_COLUMNS[0], cell(0), e.to_string())),
            Ok(_) if name.is_empty() => errors.push(row_error(r.row, &REGION_COLUMNS[1], name, "名称不能为空")),
            Ok(code) => {
                if let Some((first, _)) = parsed.insert(code, (r.row, name.to_string())) {
                    errors.push(row_error(r.row, &REGION_COLUMNS[0], cell(0), format!("区划代码与第 {first} 行重复")));
                }
            }
        }
    }
    let mut good = Vec::new();
    for (code, (row, name)) in &parsed {
        match code.parent() {
            Some(p) if !parsed.contains_key(&p) && !known.contains_key(&p) => errors.push(row_error(
                *row,
                &REGION_COLUMNS[0],
                &code.to_string(),
                format!("上级区划 {p} 既不在文件中也不在区划表中"),
            )),
            _ => good.push(Region { code: *code, name: name.clone() }),
        }
    }
    // A region whose parent was rejected must go too, or the foreign key fails.
    loop {
        let codes: std::collections::HashSet<RegionCode> = good.iter().map(|r| r.code).collect();
        let before = good.len();
        good.retain(|r| r.code.parent().is_none_or(|p| codes.contains(&p) || known.contains_key(&p)));
        if good.len() == before {
            break;
        }
    }
    store.upsert_regions(&good).await?;
    errors.sort_by_key(|e| e.row);
    Ok(TableReport { file: table.file, applied: good.len(), already: 0, errors })
}

pub const FACILITY_COLUMNS: [Column; 7] = [
    Column { name: "机构编码", aliases: &["医疗机构编码"], required: true },
    Column { name: "机构名称", aliases: &["医疗机构名称"], required: true },
    Column { name: "机构等级", aliases: &["等级"], required: true },
    Column { name: "机构类型", aliases: &["类型"], required: true },
    Column { name: "行政区划代码", aliases: &["区划代码"], required: true },
    Column { name: "是否定点医院", aliases: &["定点医院"], required: false },
    Column { name: "扶贫病床数", aliases: &["扶贫病床"], required: false },
];

/// Imports facilities (see `docs/roster-format.md`).
pub async fn import_facilities(store: &Store, path: &Path) -> Result<TableReport, ImportError> {
    let table = Table::read(path, &FACILITY_COLUMNS)?;
    let cols = table.columns(&FACILITY_COLUMNS)?;
    let known = store.region_codes().await?;
    let mut errors = Vec::new();
    let mut good: Vec<Facility> = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for r in &table.rows {
        let cell = |c: usize| cols[c].and_then(|i| r.cells.get(i)).map(String::as_str).unwrap_or("").trim();
        let before = errors.len();
        let mut err = |c: usize, reason: String| errors.push(row_error(r.row, &FACILITY_COLUMNS[c], cell(c), reason));
        let code = cell(0);
        if code.is_empty() || code.len() > 40 {
            err(0, "机构编码不能为空，且不超过 40 个字符".into());
        } else if let Some(first) = seen.insert(code.to_string(), r.row) {
            err(0, format!("机构编码与第 {first} 行重复"));
        }
        if cell(1).is_empty() {
            err(1, "机构名称不能为空".into());
        }
        let level = FacilityLevel::parse(cell(2)).map_err(|e| err(2, e.0)).ok();
        if cell(3).is_empty() {
            err(3, "机构类型不能为空（如 县级医院、乡镇卫生院、村卫生室）".into());
        }
        let region = match RegionCode::parse(cell(4)) {
            Ok(c) if known.contains_key(&c) => Some(c),
            Ok(c) => {
                err(4, format!("行政区划代码 {c} 不在区划表中"));
                None
            }
            Err(e) => {
                err(4, e.to_string());
                None
            }
        };
        let designated = match cell(5) {
            "" | "否" | "0" | "N" | "n" => false,
            "是" | "1" | "Y" | "y" => true,
            _ => {
                err(5, "应为 是 或 否".into());
                false
            }
        };
        let beds = match cell(6) {
            "" => 0,
            s => s.parse::<u32>().unwrap_or_else(|_| {
                err(6, "应为不小于 0 的整数".into());
                0
            }),
        };
        if errors.len() == before {
            good.push(Facility {
                code: code.to_string(),
                name: cell(1).to_string(),
                level: level.expect("checked"),
                kind: cell(3).to_string(),
                region: region.expect("checked"),
                designated,
                poverty_beds: beds,
            });
        }
    }
    store.upsert_facilities(&good).await?;
    Ok(TableReport { file: table.file, applied: good.len(), already: 0, errors })
}
