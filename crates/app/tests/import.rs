//! Roster import through the front door: real files (CSV in UTF-8 and GBK, XLSX) into a real
//! database, on SQLite and PostgreSQL.

use std::path::{Path, PathBuf};

use huimin_app::import::{self, ImportError, RosterImport, RosterReport};
use huimin_app::table::FileError;
use huimin_domain::*;
use huimin_store::{EventKind, Store, both_backends};

const HEADER: &str = "户编号,户主姓名,与户主关系,姓名,证件号码,性别,民族,行政区划代码,贫困户属性,脱贫状态,主要致贫原因,联系电话";
const V1: &str = "371302104203";
const V2: &str = "371302104204";

fn id(seq: u16) -> String {
    IdNumber::compose(371302, Date::from_ymd_opt(1970, 5, 1).unwrap(), seq).unwrap().as_str().to_string()
}

fn row(no: &str, head: &str, relation: &str, name: &str, id: &str, village: &str, category: &str) -> String {
    format!("{no},{head},{relation},{name},{id},,汉族,{village},{category},未脱贫,因病,")
}

/// Three households: H1 (张三 + 李四娘), H2 (王五), H3 (赵六 + 赵小七).
fn roster_2024() -> Vec<String> {
    vec![
        row("H1", "张三", "户主", "张三", &id(1), V1, "低保贫困户"),
        row("H1", "张三", "配偶", "李四娘", &id(2), V1, "低保贫困户"),
        row("H2", "王五", "户主", "王五", &id(3), V1, "一般贫困户"),
        row("H3", "赵六", "户主", "赵六", &id(5), V2, "特困供养贫困户"),
        row("H3", "赵六", "之子", "赵小七", &id(7), V2, "特困供养贫困户"),
    ]
}

struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Files {
        Files(tempfile::tempdir().unwrap())
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
    fn csv(&self, name: &str, rows: &[String]) -> PathBuf {
        let text = format!("{HEADER}\n{}\n", rows.join("\n"));
        self.write(name, text.as_bytes())
    }
}

async fn setup(store: &Store, files: &Files) {
    let regions = "区划代码,名称\n370000000000,山东省\n371300000000,临沂市\n371302000000,兰山区\n\
                   371302104000,白沙埠镇\n371302104203,诸葛村\n371302104204,孝友村\n";
    let report = import::import_regions(store, &files.write("regions.csv", regions.as_bytes())).await.unwrap();
    assert_eq!((report.applied, report.errors.len()), (6, 0));
}

fn opts(date: &str) -> RosterImport<'static> {
    RosterImport::new("县卫健局", Date::parse_from_str(date, "%Y-%m-%d").unwrap())
}

async fn import(store: &Store, path: &Path, date: &str) -> Result<RosterReport, ImportError> {
    import::import_roster(store, path, &opts(date)).await
}

async fn persons_in_programme(store: &Store) -> i64 {
    store.registry_counts(RegionCode::parse("371302").unwrap()).await.unwrap().persons
}

async fn import_count(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM imports").fetch_one(store.pool()).await.unwrap()
}

fn hno(s: &str) -> HouseholdNo {
    HouseholdNo::parse(s).unwrap()
}

both_backends! {
    first_import_then_next_years_difference(db) {
        let files = Files::new();
        setup(&db, &files).await;
        let r = import(&db, &files.csv("2024.csv", &roster_2024()), "2024-01-01").await.unwrap();
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!((r.diff.new_households.len(), r.diff.new_persons.len()), (3, 5));
        assert_eq!(persons_in_programme(&db).await, 5);

        // 2025: H1 becomes 一般贫困户, H2 is gone, 赵小七 moves to a new household H4, H3 gains a member.
        let mut rows = roster_2024();
        rows[0] = row("H1", "张三", "户主", "张三", &id(1), V1, "一般贫困户");
        rows[1] = row("H1", "张三", "配偶", "李四娘", &id(2), V1, "一般贫困户");
        rows.remove(2);
        rows[3] = row("H4", "赵小七", "户主", "赵小七", &id(7), V2, "一般贫困户");
        rows.push(row("H3", "赵六", "之女", "赵小妹", &id(8), V2, "特困供养贫困户"));
        let path = files.csv("2025.csv", &rows);

        let dry = import::import_roster(&db, &path, &RosterImport { dry_run: true, ..opts("2025-01-01") }).await.unwrap();
        assert!(dry.import_id.is_none());
        assert_eq!(import_count(&db).await, 1, "a dry run writes nothing");

        let r = import(&db, &path, "2025-01-01").await.unwrap();
        let d = &r.diff;
        assert_eq!(d.new_households.iter().map(|n| n.key.as_str()).collect::<Vec<_>>(), ["H4"]);
        assert_eq!(d.changed_households.len(), 1);
        assert_eq!(d.changed_households[0].1, vec![("贫困户属性".to_string(), "低保贫困户".to_string(), "一般贫困户".to_string())]);
        assert_eq!(d.exited_households.iter().map(|n| n.key.as_str()).collect::<Vec<_>>(), ["H2"]);
        assert_eq!(d.unchanged_households, 1);
        assert_eq!(d.new_persons.len(), 1);
        assert_eq!(d.changed_persons.len(), 1, "赵小七 moved household and relation");
        assert_eq!(d.exited_persons.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["王五"]);
        assert_eq!(persons_in_programme(&db).await, 5);

        // History is kept, never overwritten.
        let h2 = db.household(&hno("H2")).await.unwrap().unwrap();
        assert!(!h2.in_programme);
        let history = db.household_history(&hno("H2")).await.unwrap();
        let kinds: Vec<_> = history.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::Entry, EventKind::Entry, EventKind::Exit, EventKind::Exit]);
        assert!(history.last().unwrap().reason.contains("2025.csv"));
        let h1 = db.household_history(&hno("H1")).await.unwrap();
        let change = h1.iter().find(|e| e.kind == EventKind::Change).unwrap();
        assert_eq!(change.changes.as_ref().unwrap()["贫困户属性"][0], "低保贫困户");
        assert_eq!(change.actor, "县卫健局");
        let wang = db.person_by_id_number(&IdNumber::parse(&id(3)).unwrap()).await.unwrap().unwrap();
        assert!(db.in_programme_on(wang.id, Date::from_ymd_opt(2024, 12, 31).unwrap()).await.unwrap());
        assert!(!db.in_programme_on(wang.id, Date::from_ymd_opt(2025, 1, 1).unwrap()).await.unwrap());

        // H2 comes back the year after: a re-entry with its history intact.
        let mut rows_2026 = rows.clone();
        rows_2026.push(row("H2", "王五", "户主", "王五", &id(3), V1, "一般贫困户"));
        let r = import(&db, &files.csv("2026.csv", &rows_2026), "2026-01-01").await.unwrap();
        assert_eq!((r.diff.reentered_households.len(), r.diff.reentered_persons.len()), (1, 1));
        assert!(db.household(&hno("H2")).await.unwrap().unwrap().in_programme);
        // The same file again changes nothing.
        let r = import(&db, &files.csv("2026b.csv", &rows_2026), "2026-02-01").await.unwrap();
        assert!(r.diff.is_empty() && r.import_id.is_none());
    }

    a_wrong_check_character_holds_back_its_household_only(db) {
        let files = Files::new();
        setup(&db, &files).await;
        let mut rows = roster_2024();
        let bad = format!("{}{}", &id(2)[..17], if id(2).ends_with('1') { '2' } else { '1' });
        rows[1] = row("H1", "张三", "配偶", "李四娘", &bad, V1, "低保贫困户");
        let r = import(&db, &files.csv("r.csv", &rows), "2024-01-01").await.unwrap();
        assert_eq!(r.errors.len(), 1);
        let e = &r.errors[0];
        assert_eq!((e.row, e.column.as_str(), e.value.as_str()), (3, "证件号码", bad.as_str()));
        assert!(e.reason.contains("校验码错误"), "{}", e.reason);
        assert_eq!(r.held_back.len(), 1);
        assert_eq!((r.held_back[0].household_no.as_str(), r.held_back[0].rows.clone()), ("H1", vec![2, 3]));
        assert!(db.household(&hno("H1")).await.unwrap().is_none(), "no half-applied household");
        assert_eq!(persons_in_programme(&db).await, 3);

        // Fixed next time: the held-back household comes in; nothing else changes.
        let r = import(&db, &files.csv("r2.csv", &roster_2024()), "2024-01-02").await.unwrap();
        assert_eq!((r.diff.new_households.len(), r.diff.exited_households.len(), r.diff.unchanged_households), (1, 0, 2));
    }

    a_held_back_household_is_not_exited(db) {
        let files = Files::new();
        setup(&db, &files).await;
        import(&db, &files.csv("a.csv", &roster_2024()), "2024-01-01").await.unwrap();
        let mut rows = roster_2024();
        rows[2] = row("H2", "王五", "户主", "王五", &id(3), V1, "富裕户");
        let r = import(&db, &files.csv("b.csv", &rows), "2025-01-01").await.unwrap();
        assert_eq!(r.errors[0].column, "贫困户属性");
        assert!(r.diff.exited_households.is_empty() && r.diff.exited_persons.is_empty());
        assert!(db.household(&hno("H2")).await.unwrap().unwrap().in_programme);
    }

    an_unknown_region_code(db) {
        let files = Files::new();
        setup(&db, &files).await;
        let mut rows = roster_2024();
        rows[2] = row("H2", "王五", "户主", "王五", &id(3), "371302104299", "一般贫困户");
        let r = import(&db, &files.csv("r.csv", &rows), "2024-01-01").await.unwrap();
        assert_eq!(r.errors.len(), 1);
        assert_eq!((r.errors[0].row, r.errors[0].column.as_str()), (4, "行政区划代码"));
        assert!(r.errors[0].reason.contains("不在区划表中"));
        assert!(db.household(&hno("H2")).await.unwrap().is_none());
        assert_eq!(persons_in_programme(&db).await, 4);
    }

    one_id_number_in_two_households(db) {
        let files = Files::new();
        setup(&db, &files).await;
        let mut rows = roster_2024();
        rows.push(row("H3", "赵六", "之女", "王五", &id(3), V2, "特困供养贫困户"));
        let r = import(&db, &files.csv("r.csv", &rows), "2024-01-01").await.unwrap();
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].row, 7);
        assert!(r.errors[0].reason.contains("一人不能属于两户"), "{}", r.errors[0].reason);
        let held: Vec<&str> = r.held_back.iter().map(|h| h.household_no.as_str()).collect();
        assert_eq!(held, ["H2", "H3"], "both households wait until the conflict is resolved");
        assert_eq!(persons_in_programme(&db).await, 2);
    }

    household_rows_must_agree_and_have_one_head(db) {
        let files = Files::new();
        setup(&db, &files).await;
        let mut rows = roster_2024();
        rows[1] = row("H1", "张三", "配偶", "李四娘", &id(2), V1, "一般贫困户");
        rows[4] = row("H3", "赵六", "户主", "赵小七", &id(7), V2, "特困供养贫困户");
        let r = import(&db, &files.csv("r.csv", &rows), "2024-01-01").await.unwrap();
        let reasons: Vec<String> = r.errors.iter().map(|e| format!("{}:{}:{}", e.row, e.column, e.reason)).collect();
        assert_eq!(r.errors.len(), 2, "{reasons:?}");
        assert!(reasons[0].starts_with("3:贫困户属性:同一户的各行应一致"), "{reasons:?}");
        assert!(reasons[1].contains("多个户主"), "{reasons:?}");
        assert_eq!(persons_in_programme(&db).await, 1);
    }

    whole_file_errors_change_nothing(db) {
        let files = Files::new();
        setup(&db, &files).await;
        let no_id_column = "户编号,户主姓名,与户主关系,姓名,民族,行政区划代码,贫困户属性,脱贫状态,主要致贫原因\nH1,张三,户主,张三,汉族,371302104203,低保贫困户,未脱贫,因病\n";
        let e = import(&db, &files.write("a.csv", no_id_column.as_bytes()), "2024-01-01").await.unwrap_err();
        assert!(matches!(&e, ImportError::File(FileError::MissingColumns { missing, .. }) if missing == &["证件号码"]), "{e}");
        assert!(e.to_string().starts_with("a.csv：缺少必需的列：证件号码"), "{e}");

        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
        let e = import(&db, &files.write("roster.xlsx", png), "2024-01-01").await.unwrap_err();
        assert!(matches!(e, ImportError::File(FileError::NotXlsx { .. })));
        assert!(e.to_string().contains("PNG"), "{e}");

        let e = import(&db, &files.write("empty.csv", b""), "2024-01-01").await.unwrap_err();
        assert!(matches!(e, ImportError::File(FileError::Empty { .. })), "{e}");
        let e = import(&db, &files.write("header-only.csv", HEADER.as_bytes()), "2024-01-01").await.unwrap();
        assert!(e.diff.is_empty());
        assert_eq!(import_count(&db).await, 0);
        assert_eq!(persons_in_programme(&db).await, 0);
    }

    gbk_csv_and_xlsx_read_like_utf8(db) {
        let files = Files::new();
        setup(&db, &files).await;
        let text = format!("{HEADER}\n{}\n", roster_2024().join("\n"));
        let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
        assert!(!unmappable);
        let r = import(&db, &files.write("gbk.csv", &gbk), "2024-01-01").await.unwrap();
        assert_eq!((r.encoding, r.errors.len(), r.persons_accepted), ("GBK", 0, 5));
        let zhang = db.search_persons(RegionCode::parse("371302").unwrap(), "zs", 5).await.unwrap();
        assert_eq!(zhang[0].name, "张三");

        // The same roster as a real workbook, ID numbers as text and a date-free layout.
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (r, line) in std::iter::once(HEADER.to_string()).chain(roster_2024()).enumerate() {
            for (c, cell) in line.split(',').enumerate() {
                sheet.write_string(r as u32, c as u16, cell).unwrap();
            }
        }
        let path = files.0.path().join("2024.xlsx");
        book.save(&path).unwrap();
        let r = import(&db, &path, "2024-01-01").await.unwrap();
        assert_eq!((r.encoding, r.errors.len(), r.persons_accepted), ("XLSX", 0, 5));
        assert!(r.diff.is_empty(), "the workbook says exactly what the GBK file said");
    }

    the_mass_exit_guard(db) {
        let files = Files::new();
        setup(&db, &files).await;
        let rows: Vec<String> = (0..12u16)
            .map(|i| row(&format!("M{i}"), "张三", "户主", "张三", &id(100 + i * 2), V1, "一般贫困户"))
            .collect();
        import(&db, &files.csv("a.csv", &rows), "2024-01-01").await.unwrap();
        let path = files.csv("b.csv", &rows[..1]);
        let e = import(&db, &path, "2025-01-01").await.unwrap_err();
        assert!(matches!(e, ImportError::MassExit { exited: 11, in_scope: 12 }), "{e}");
        assert_eq!(persons_in_programme(&db).await, 12);
        let r = import::import_roster(&db, &path, &RosterImport { allow_mass_exit: true, ..opts("2025-01-01") }).await.unwrap();
        assert_eq!(r.diff.exited_households.len(), 11);
        assert_eq!(persons_in_programme(&db).await, 1);
    }
}

/// The large case: 200,000 rows with 3 bad ones. Good rows are applied, each bad row is
/// reported with its row, column and reason, and the error report opens as a workbook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200k_row_roster_with_three_bad_rows() {
    let db = huimin_store::testing::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = huimin_app::synthetic::GenSpec { persons: 200_000, seed: 11, year: 2024 };
    let sum = huimin_app::synthetic::generate(spec, dir.path()).unwrap();
    import::import_regions(&db, &dir.path().join("regions.csv")).await.unwrap();
    let roster = std::fs::read_to_string(dir.path().join("roster.csv")).unwrap();
    let mut lines: Vec<String> = roster.lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 200_001);
    // Row numbers as Excel shows them: the header is row 1, so lines[i] is row i + 1.
    let corrupt = |line: &str, col: usize, value: &str| {
        let mut cells: Vec<&str> = line.split(',').collect();
        cells[col] = value;
        cells.join(",")
    };
    lines[1000] = corrupt(&lines[1000], 4, "37130219700501000X");
    lines[90_000] = corrupt(&lines[90_000], 7, "371302999999");
    lines[199_999] = corrupt(&lines[199_999], 8, "富裕户");
    let path = dir.path().join("big.csv");
    std::fs::write(&path, lines.join("\n")).unwrap();

    let r = import(&db, &path, "2024-01-01").await.unwrap();
    let got: Vec<(u64, &str)> = r.errors.iter().map(|e| (e.row, e.column.as_str())).collect();
    assert_eq!(got, [(1001, "证件号码"), (90_001, "行政区划代码"), (200_000, "贫困户属性")]);
    assert_eq!(r.held_back.len(), 3);
    let held_rows: usize = r.held_back.iter().map(|h| h.rows.len()).sum();
    assert_eq!(r.persons_accepted + held_rows, 200_000);
    assert_eq!(r.households_accepted as u64 + 3, sum.households);
    let province = db.registry_counts(RegionCode::parse("37").unwrap()).await.unwrap();
    assert_eq!(province.persons as usize, r.persons_accepted);

    let report = dir.path().join("big.errors.xlsx");
    import::write_error_report(&r.errors, &r.held_back, &report).unwrap();
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&report).unwrap();
    let sheet = book.worksheet_range("错误").unwrap();
    let cells: Vec<String> = sheet.rows().nth(1).unwrap().iter().map(|c| c.to_string()).collect();
    assert_eq!(cells[0], "1001");
    assert_eq!(cells[1], "证件号码");
    assert_eq!(cells[2], "37130219700501000X", "the ID number stays text, not 3.7E+17");
    assert!(book.worksheet_range("暂缓导入的户").unwrap().rows().count() == 4);
}

/// The roster with the household's economics (家庭人口数, 家庭年人均纯收入, 监测对象类别).
fn economics_csv(files: &Files, name: &str, rows: &[(String, &str)]) -> PathBuf {
    let lines: Vec<String> = rows.iter().map(|(r, e)| format!("{r},{e}")).collect();
    files.write(name, format!("{HEADER},家庭人口数,家庭年人均纯收入,监测对象类别\n{}\n", lines.join("\n")).as_bytes())
}

both_backends! {
    household_economics_come_with_the_roster_and_keep_their_history(db) {
        let files = Files::new();
        setup(&db, &files).await;
        let r = roster_2024();
        // H1 says it on its first row only, H2 says nothing, H3 leaves the size to its members.
        let year1 = [(r[0].clone(), "2,7600,边缘易致贫户"), (r[1].clone(), ",,"), (r[2].clone(), ",,"), (r[3].clone(), ",9000,"), (r[4].clone(), ",9000,")];
        let report = import(&db, &economics_csv(&files, "2024.csv", &year1), "2024-01-01").await.unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let now = |no: &'static str| {
            let db = db.clone();
            async move { db.economics(no).await.unwrap().map(|e| e.economics) }
        };
        let h1 = now("H1").await.unwrap();
        assert_eq!((h1.as_of, h1.size, h1.per_capita_income, h1.monitoring_category), (d("2024-01-01"), 2, Some(Money::from_yuan(7600).unwrap()), Some(MonitoringCategory::Edge)));
        assert_eq!(now("H2").await, None, "a household whose cells are empty records nothing");
        let h3 = now("H3").await.unwrap();
        assert_eq!((h3.size, h3.per_capita_income, h3.monitoring_category), (2, Some(Money::from_yuan(9000).unwrap()), None), "the size is the members listed");

        // The same file a year on: nothing changes, no second record.
        let again = import(&db, &economics_csv(&files, "2025.csv", &year1), "2025-01-01").await.unwrap();
        assert!(again.diff.changed_households.is_empty(), "{:?}", again.diff.changed_households);
        assert_eq!(db.economics_history("H1").await.unwrap().len(), 1);

        // H1's income falls: recorded as of the import's date, the earlier record kept, shown as a change.
        let mut year2 = year1.clone();
        year2[0].1 = "2,7000,边缘易致贫户";
        let changed = import(&db, &economics_csv(&files, "2026.csv", &year2), "2026-01-01").await.unwrap();
        let h1_changes = changed.diff.changed_households.iter().find(|(n, _)| n.key == "H1").map(|(_, c)| c.clone()).unwrap_or_default();
        assert_eq!(h1_changes, [("家庭年人均纯收入".to_string(), "7600.00".to_string(), "7000.00".to_string())]);
        let history = db.economics_history("H1").await.unwrap();
        assert_eq!(history.iter().map(|e| (e.economics.as_of, e.economics.per_capita_income.unwrap().fen())).collect::<Vec<_>>(), [(d("2026-01-01"), 700_000), (d("2024-01-01"), 760_000)]);

        // Rows of one household that disagree, and values that are not figures, are refused with
        // row, column and reason; the household is held back whole.
        let mut bad = year2.clone();
        bad[1].1 = "2,7600,边缘易致贫户";
        bad[2].1 = "0,abc,贫困户";
        let refused = import(&db, &economics_csv(&files, "bad.csv", &bad), "2026-06-01").await.unwrap();
        let reasons: Vec<String> = refused.errors.iter().map(|e| format!("{}:{}:{}", e.row, e.column, e.reason)).collect();
        assert!(reasons.iter().any(|r| r.starts_with("3:家庭年人均纯收入:同一户的各行应一致")), "{reasons:?}");
        for column in ["家庭人口数", "家庭年人均纯收入", "监测对象类别"] {
            assert!(reasons.iter().any(|r| r.starts_with(&format!("4:{column}:"))), "{column}: {reasons:?}");
        }
        assert_eq!(db.economics_history("H1").await.unwrap().len(), 2, "nothing of a held-back household is recorded");
    }
}

fn d(s: &str) -> Date {
    Date::parse_from_str(s, "%Y-%m-%d").unwrap()
}
