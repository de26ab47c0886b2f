//! Files as other tools make them: workbooks with far-away cells, title rows, notes in headers,
//! the roster on another sheet, ID numbers stored as numbers; CSV with a stray quote, a missing
//! comma, two encodings pasted together. Each is made here by the test (rust_xlsxwriter writes
//! real XLSX), and read through the same front door as an upload.

use std::time::Instant;

use huimin_app::import::{self, ImportError, RosterImport};
use huimin_app::roster::ROSTER_COLUMNS;
use huimin_app::table::{FileError, ID_STORED_AS_NUMBER, Table};
use huimin_domain::{Date, IdNumber, RegionCode};
use rust_xlsxwriter::{Format, Workbook};

const HEADER: [&str; 12] = ["户编号", "户主姓名", "与户主关系", "姓名", "证件号码", "性别", "民族", "行政区划代码", "贫困户属性", "脱贫状态", "主要致贫原因", "联系电话"];
const VILLAGE: &str = "371302104203";

fn id(seq: u16) -> String {
    IdNumber::compose(371302, Date::from_ymd_opt(1975, 3, 14).unwrap(), seq).unwrap().as_str().to_string()
}

/// Household Hn of one person each: n = 1..=count.
fn rows(count: u16) -> Vec<[String; 12]> {
    (1..=count)
        .map(|n| {
            let name = format!("张{}", ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"][(n as usize - 1) % 10]);
            [format!("H{n}"), name.clone(), "户主".into(), name, id(n), String::new(), "汉族".into(), VILLAGE.into(), "一般贫困户".into(), "未脱贫".into(), "因病".into(), String::new()]
        })
        .collect()
}

fn xlsx(build: impl FnOnce(&mut Workbook)) -> Vec<u8> {
    let mut book = Workbook::new();
    build(&mut book);
    book.save_to_buffer().unwrap()
}

fn roster_sheet(sheet: &mut rust_xlsxwriter::Worksheet, first_row: u32, header: &[&str], data: &[[String; 12]]) {
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(first_row, c as u16, *h).unwrap();
    }
    for (r, row) in data.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            if !cell.is_empty() {
                sheet.write_string(first_row + 1 + r as u32, c as u16, cell).unwrap();
            }
        }
    }
}

fn read(name: &str, bytes: Vec<u8>) -> Result<Table, FileError> {
    Table::from_bytes(name, bytes, &ROSTER_COLUMNS)
}

#[test]
fn a_cell_at_the_far_corner_is_refused_at_once_and_an_empty_one_is_ignored() {
    for (row, col) in [(1_048_575u32, 16_383u16), (4_999, 16_383), (2, 300)] {
        let bytes = xlsx(|b| {
            let s = b.add_worksheet();
            roster_sheet(s, 0, &HEADER, &rows(2));
            s.write_string(row, col, "x").unwrap();
        });
        assert!(bytes.len() < 16_384, "a small file: {} bytes", bytes.len());
        let t = Instant::now();
        let e = read("corner.xlsx", bytes).unwrap_err();
        assert!(matches!(e, FileError::TooBig { .. }), "{e}");
        assert!(e.to_string().contains(&format!("第 {} 行", row + 1)) && e.to_string().contains("256 列"), "{e}");
        assert!(t.elapsed().as_secs() < 5, "refused before any work proportional to the sheet's extent");
    }
    // A formatted but empty cell at the corner (the dimension then claims the whole grid).
    let bytes = xlsx(|b| {
        let s = b.add_worksheet();
        roster_sheet(s, 0, &HEADER, &rows(3));
        s.write_blank(1_048_575, 16_383, &Format::new().set_bold()).unwrap();
    });
    let t = read("blank-corner.xlsx", bytes).unwrap();
    assert_eq!(t.rows.len(), 3);
}

#[test]
fn the_header_is_found_below_a_title_with_notes_and_on_the_second_sheet() {
    let header: Vec<&str> = HEADER.iter().map(|h| if *h == "证件号码" { "证件号码（必填）" } else if *h == "姓名" { "姓  名" } else { h }).collect();
    let bytes = xlsx(|b| {
        let notes = b.add_worksheet().set_name("填表说明").unwrap();
        notes.write_string(0, 0, "请按模板填写，证件号码列设为文本").unwrap();
        let s = b.add_worksheet().set_name("花名册").unwrap();
        s.merge_range(0, 0, 0, 11, "XX县建档立卡贫困人口花名册（2020年）", &Format::new()).unwrap();
        roster_sheet(s, 2, &header, &rows(4));
    });
    let t = read("exported.xlsx", bytes).unwrap();
    assert_eq!((t.sheet.as_deref(), t.header_row), (Some("花名册"), 3));
    assert_eq!(t.rows.iter().map(|r| r.row).collect::<Vec<_>>(), [4, 5, 6, 7], "the row numbers Excel shows");
    let cols = t.columns(&ROSTER_COLUMNS).unwrap();
    assert_eq!(t.rows[0].cells[cols[4].unwrap()], id(1));
    // Without the roster's columns anywhere, the refusal names the sheet it looked at.
    let bytes = xlsx(|b| {
        b.add_worksheet().set_name("说明").unwrap().write_string(0, 0, "空").unwrap();
    });
    let e = read("none.xlsx", bytes).unwrap_err();
    assert!(e.to_string().contains("缺少必需的列") && e.to_string().contains("说明"), "{e}");
    // The same title rows in a CSV.
    let mut text = String::from("XX县建档立卡贫困人口花名册（2020年）,,,,,,,,,,,\n,,,,,,,,,,,\n");
    text += &header.join(",");
    for r in rows(2) {
        text += &format!("\n{}", r.join(","));
    }
    let t = Table::from_csv_bytes("title.csv", text.as_bytes(), &ROSTER_COLUMNS).unwrap();
    assert_eq!((t.header_row, t.rows.len(), t.rows[0].row), (3, 2, 4));
}

#[tokio::test]
async fn an_id_number_stored_as_a_number_is_refused_with_its_own_reason() {
    let db = huimin_store::testing::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    import::import_regions(&db, &write(&dir, "regions.csv", "区划代码,名称\n370000000000,山东省\n371300000000,临沂市\n371302000000,兰山区\n371302104000,白沙埠镇\n371302104203,诸葛村\n")).await.unwrap();
    let data = rows(11);
    let bytes = xlsx(|b| {
        let s = b.add_worksheet();
        roster_sheet(s, 0, &HEADER, &data);
        // What Excel keeps of 18 digits typed into a number cell: 15 significant digits.
        for (r, row) in data.iter().enumerate() {
            let kept: f64 = format!("{}000", &row[4][..15]).parse().unwrap();
            s.write_number(1 + r as u32, 4, kept).unwrap();
        }
    });
    let path = dir.path().join("numbers.xlsx");
    std::fs::write(&path, bytes).unwrap();
    let report = import::import_roster(&db, &path, &RosterImport::new("县卫健局", Date::from_ymd_opt(2024, 1, 1).unwrap())).await.unwrap();
    assert_eq!(report.persons_accepted, 0);
    assert_eq!(report.errors.len(), 11);
    assert!(report.errors.iter().all(|e| e.reason == ID_STORED_AS_NUMBER), "{:?}", report.errors[0]);
    // The same in a CSV that Excel saved (scientific notation); full-width digits are read.
    let mut text = HEADER.join(",");
    let mut r = rows(2);
    r[0][4] = "3.71302E+17".into();
    r[1][4] = r[1][4].chars().map(|c| if c.is_ascii_digit() { char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap() } else { c }).collect();
    for row in &r {
        text += &format!("\n{}", row.join(","));
    }
    let report = import::import_roster(&db, &write(&dir, "excel.csv", &text), &RosterImport::new("县卫健局", Date::from_ymd_opt(2024, 1, 1).unwrap())).await.unwrap();
    assert_eq!(report.errors.iter().map(|e| (e.row, e.reason.as_str())).collect::<Vec<_>>(), [(2, ID_STORED_AS_NUMBER)]);
    assert_eq!(report.persons_accepted, 1, "the full-width digits are the same number");
    let said: Vec<(u64, &str)> = report.normalised.iter().map(|n| (n.row, n.column.as_str())).collect();
    assert_eq!(said, [(3, "证件号码")], "and the import says it read them as meant");
    assert!(!report.normalised[0].written.contains(&r[1][4]) && !report.normalised[0].read.contains(&id(2)), "never the whole number: {:?}", report.normalised[0]);
    assert!(db.person_by_id_number(&IdNumber::parse(&id(2)).unwrap()).await.unwrap().is_some());
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test]
async fn a_stray_quote_refuses_the_file_and_exits_nobody() {
    let db = huimin_store::testing::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    import::import_regions(&db, &write(&dir, "regions.csv", "区划代码,名称\n370000000000,山东省\n371300000000,临沂市\n371302000000,兰山区\n371302104000,白沙埠镇\n371302104203,诸葛村\n")).await.unwrap();
    let lines: Vec<String> = rows(40).iter().map(|r| r.join(",")).collect();
    let good = format!("{}\n{}\n", HEADER.join(","), lines.join("\n"));
    let as_of = |d| RosterImport::new("县卫健局", Date::parse_from_str(d, "%Y-%m-%d").unwrap());
    let first = import::import_roster(&db, &write(&dir, "2024.csv", &good), &as_of("2024-01-01")).await.unwrap();
    assert_eq!(first.persons_accepted, 40);
    let before = db.registry_counts(RegionCode::parse("371302").unwrap()).await.unwrap();
    // Next year's file: an unclosed quote on line 31 swallows the nine rows after it.
    let mut broken = lines.clone();
    broken[29] = broken[29].replacen(",张", ",\"张", 1);
    let text = format!("{}\n{}\n", HEADER.join(","), broken.join("\n"));
    let e = import::import_roster(&db, &write(&dir, "2025.csv", &text), &as_of("2025-01-01")).await.unwrap_err();
    assert!(matches!(&e, ImportError::File(FileError::UnclosedQuote { row: 31, .. })), "{e}");
    let after = db.registry_counts(RegionCode::parse("371302").unwrap()).await.unwrap();
    assert_eq!((after.households, after.persons), (before.households, before.persons), "nothing changed");
    // A row with a field too many or too few.
    let mut ragged = lines.clone();
    ragged[4] = ragged[4].replacen(",汉族", ",汉,族", 1);
    let e = Table::from_csv_bytes("r.csv", format!("{}\n{}\n", HEADER.join(","), ragged.join("\n")).as_bytes(), &ROSTER_COLUMNS).unwrap_err();
    assert!(matches!(e, FileError::RaggedRow { row: 6, found: 13, expected: 12, .. }), "{e}");
    let mut short = lines.clone();
    short[7] = short[7].replacen(",汉族", "", 1);
    let e = Table::from_csv_bytes("s.csv", format!("{}\n{}\n", HEADER.join(","), short.join("\n")).as_bytes(), &ROSTER_COLUMNS).unwrap_err();
    assert!(matches!(e, FileError::RaggedRow { row: 9, found: 11, .. }), "{e}");
    // A quoted field with a line break inside is fine, and the rows after it keep their numbers.
    let mut quoted = lines.clone();
    quoted[2] = quoted[2].replacen(",因病,", ",\"因病\n（慢性病）\",", 1);
    let t = Table::from_csv_bytes("q.csv", format!("{}\n{}\n", HEADER.join(","), quoted.join("\n")).as_bytes(), &ROSTER_COLUMNS).unwrap();
    assert_eq!((t.rows[2].row, t.rows[3].row), (4, 6));
}

#[test]
fn two_encodings_pasted_together_are_refused() {
    let mut text: Vec<u8> = format!("{}\n", HEADER.join(",")).into_bytes();
    for r in rows(10) {
        text.extend(format!("{}\n", r.join(",")).as_bytes());
    }
    let last = rows(11)[10].join(",");
    let (gbk, _, _) = encoding_rs::GBK.encode(&last);
    text.extend(gbk.iter());
    let e = Table::from_csv_bytes("mixed.csv", &text, &ROSTER_COLUMNS).unwrap_err();
    assert!(matches!(e, FileError::MixedEncoding { row: 12, .. }), "{e}");
}

/// Households move as a unit, whatever next year's file does: generated registries and edits
/// (a person moves to another or a new household, a head moves out, a row is made bad, a
/// household disappears). After the import every household in the programme has exactly one
/// head in the programme, every person in the programme is in a household in the programme, and
/// nobody the file lists is exited.
mod households_move_as_a_unit {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Edit {
        Move { person: usize, to: usize },
        Bad { person: usize },
        Drop { household: usize },
    }

    fn edits(persons: usize, households: usize) -> impl Strategy<Value = Vec<Edit>> {
        let edit = prop_oneof![
            (0..persons, 0..households + 2).prop_map(|(person, to)| Edit::Move { person, to }),
            (0..persons).prop_map(|person| Edit::Bad { person }),
            (0..households).prop_map(|household| Edit::Drop { household }),
        ];
        proptest::collection::vec(edit, 1..6)
    }

    /// (household, relation, seq) per person: household h has sizes[h] persons, the first its head.
    fn registry(sizes: &[usize]) -> Vec<(usize, &'static str, u16)> {
        let mut out = Vec::new();
        for (h, size) in sizes.iter().enumerate() {
            for m in 0..*size {
                out.push((h, if m == 0 { "户主" } else { "之子" }, out.len() as u16 + 1));
            }
        }
        out
    }

    fn name(seq: u16) -> String {
        let digits = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
        format!("人{}", seq.to_string().bytes().map(|b| digits[usize::from(b - b'0')]).collect::<String>())
    }

    fn file(persons: &[(usize, &'static str, u16)], bad: &[bool], dropped: &[usize]) -> String {
        let mut text = HEADER.join(",");
        for (i, (h, relation, seq)) in persons.iter().enumerate() {
            if dropped.contains(h) {
                continue;
            }
            let head = persons.iter().find(|(o, r, _)| o == h && *r == "户主").map_or(name(*seq), |(_, _, s)| name(*s));
            let ethnicity = if bad[i] { "火星族" } else { "汉族" };
            text += &format!("\nH{h},{head},{relation},{},{},,{ethnicity},{VILLAGE},一般贫困户,未脱贫,因病,", name(*seq), id(*seq));
        }
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn after_any_edit((sizes, edits) in proptest::collection::vec(1usize..4, 2..6).prop_flat_map(|sizes| {
            let persons: usize = sizes.iter().sum();
            let households = sizes.len();
            (Just(sizes), edits(persons, households))
        })) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let db = huimin_store::testing::sqlite().await;
                let dir = tempfile::tempdir().unwrap();
                import::import_regions(&db, &write(&dir, "regions.csv", "区划代码,名称\n370000000000,山东省\n371300000000,临沂市\n371302000000,兰山区\n371302104000,白沙埠镇\n371302104203,诸葛村\n")).await.unwrap();
                let mut persons = registry(&sizes);
                let opts = |d| RosterImport::new("县卫健局", Date::parse_from_str(d, "%Y-%m-%d").unwrap());
                let first = import::import_roster(&db, &write(&dir, "y1.csv", &file(&persons, &vec![false; persons.len()], &[])), &opts("2024-01-01")).await.unwrap();
                assert!(first.errors.is_empty(), "{:?}", first.errors);
                let mut bad = vec![false; persons.len()];
                let mut dropped = Vec::new();
                for e in &edits {
                    match *e {
                        Edit::Move { person, to } => {
                            // A head who moves heads the new household; the old one's next member takes over.
                            let from = persons[person].0;
                            let was_head = persons[person].1 == "户主";
                            let to_has_head = persons.iter().any(|(h, r, _)| *h == to && *r == "户主");
                            persons[person].0 = to;
                            persons[person].1 = if to_has_head { "之子" } else { "户主" };
                            if was_head {
                                if let Some(next) = persons.iter_mut().find(|(h, _, _)| *h == from) {
                                    next.1 = "户主";
                                }
                            }
                        }
                        Edit::Bad { person } => bad[person] = true,
                        Edit::Drop { household } => dropped.push(household),
                    }
                }
                let text = file(&persons, &bad, &dropped);
                let listed: Vec<String> = persons.iter().filter(|(h, ..)| !dropped.contains(h)).map(|(_, _, s)| id(*s)).collect();
                match import::import_roster(&db, &write(&dir, "y2.csv", &text), &RosterImport { allow_mass_exit: true, ..opts("2025-01-01") }).await {
                    Ok(_) | Err(ImportError::MassExit { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
                let pool = db.pool();
                let heads: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT h.household_no, (SELECT COUNT(*) FROM persons p WHERE p.household_no = h.household_no AND p.in_programme = 1 AND p.relation = 'head') \
                     FROM households h WHERE h.in_programme = 1").fetch_all(pool).await.unwrap();
                for (no, n) in &heads {
                    assert_eq!(*n, 1, "household {no} in the programme has {n} heads; edits {edits:?}\n{text}");
                }
                let orphans: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM persons p JOIN households h ON h.household_no = p.household_no WHERE p.in_programme = 1 AND h.in_programme = 0")
                    .fetch_one(pool).await.unwrap();
                assert_eq!(orphans, 0, "persons in the programme inside an exited household; edits {edits:?}\n{text}");
                for id_number in &listed {
                    let p = db.person_by_id_number(&IdNumber::parse(id_number).unwrap()).await.unwrap().unwrap();
                    assert!(p.in_programme, "{id_number} is listed but was exited; edits {edits:?}\n{text}");
                }
            });
        }
    }
}

#[test]
fn a_claims_file_without_an_amount_column_is_refused() {
    let columns = huimin_app::calculator::claim_columns();
    let header = "claim_no,person_id,poverty_category,visit_type,facility_level,in_county,admission_date,discharge_date,disease_codes,cat-a,cat_b,out_of_catalogue,necessary_out_of_catalogue";
    let text = format!("{header}\nC1,p1,低保,inpatient,2,1,2024-03-01,2024-03-10,,20000,8000,2000,1000\n");
    let e = Table::from_csv_bytes("claims.csv", text.as_bytes(), &columns).unwrap_err();
    assert!(e.to_string().contains("缺少必需的列：cat_a"), "{e}");
}

#[test]
fn exported_cells_a_spreadsheet_would_evaluate_are_escaped_and_read_back_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let mut sheet = huimin_app::exchange::Sheet::new(&["证件号码", "随访指导", "金额"]);
    sheet.rows.push(vec![id(1), "=HYPERLINK(\"http://x.example\",\"点此\")".into(), "-12.50".into()]);
    sheet.rows.push(vec![id(2), "@SUM(A1:A9)".into(), "+3".into()]);
    for (name, encoding) in [("u.csv", huimin_app::csv_out::CsvEncoding::Utf8), ("g.csv", huimin_app::csv_out::CsvEncoding::Gbk)] {
        let path = dir.path().join(name);
        huimin_app::exchange::write(&sheet, &path, encoding).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let raw = String::from_utf8_lossy(&bytes);
        if encoding == huimin_app::csv_out::CsvEncoding::Utf8 {
            assert!(raw.contains("\"'=HYPERLINK(") && raw.contains(",'@SUM(A1:A9),") && raw.contains(",-12.50") && raw.contains(",+3"), "{raw}");
        } else {
            assert!(std::str::from_utf8(&bytes).is_err(), "GBK, not UTF-8");
        }
        let back = Table::read(&path, &[]).unwrap();
        assert_eq!(back.encoding, if name == "u.csv" { "UTF-8" } else { "GBK" });
        assert_eq!(back.rows.iter().map(|r| r.cells.clone()).collect::<Vec<_>>(), sheet.rows, "read back as written");
    }
}

/// A workbook written part by part, as a hostile or broken tool might: `sheet` is the sheet's
/// XML, `shared` the shared strings' (if any).
fn handmade_xlsx(sheet: &[u8], shared: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut part = |name: &str, bytes: &[u8]| {
        zip.start_file(name, opts).unwrap();
        zip.write_all(bytes).unwrap();
    };
    part("xl/workbook.xml", r#"<workbook xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="花名册" sheetId="1" r:id="rId1"/></sheets></workbook>"#.as_bytes());
    part("xl/_rels/workbook.xml.rels", br#"<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>"#);
    part("xl/worksheets/sheet1.xml", sheet);
    if let Some(shared) = shared {
        part("xl/sharedStrings.xml", shared);
    }
    zip.finish().unwrap().into_inner()
}

fn header_row_xml() -> String {
    let cells: String = HEADER.iter().enumerate().map(|(c, h)| format!(r#"<c r="{}1" t="inlineStr"><is><t>{h}</t></is></c>"#, huimin_app::xlsx::column_name(c as u32 + 1))).collect();
    format!(r#"<row r="1">{cells}</row>"#)
}

#[test]
fn what_a_workbook_claims_is_not_believed() {
    // A dimension of the whole grid and an empty cell at its corner: nothing to allocate.
    let sheet = format!(r#"<worksheet><dimension ref="A1:XFD1048576"/><sheetData>{}<row r="1048576"><c r="XFD1048576"/></row></sheetData></worksheet>"#, header_row_xml());
    let t = read("dimension.xlsx", handmade_xlsx(sheet.as_bytes(), None)).unwrap();
    assert_eq!(t.rows.len(), 0);
    // A million-character shared string: refused as a long cell, with its length.
    let long = "名".repeat(1_000_000);
    let shared = format!("<sst><si><t>H1</t></si><si><t>{long}</t></si></sst>");
    let sheet = format!(r#"<worksheet><sheetData>{}<row r="2"><c r="A2" t="s"><v>0</v></c><c r="B2" t="s"><v>1</v></c></row></sheetData></worksheet>"#, header_row_xml());
    let bytes = handmade_xlsx(sheet.as_bytes(), Some(shared.as_bytes()));
    assert!(bytes.len() < 200_000, "{} bytes", bytes.len());
    let e = read("long.xlsx", bytes).unwrap_err();
    assert!(e.to_string().contains("第 2 行「户主姓名」有 1000000 个字"), "{e}");
    // One text of 100 MB (a deflate bomb of a few hundred KB): refused before it is held.
    let shared = format!("<sst><si><t>{}</t></si></sst>", "x".repeat(100 << 20));
    let e = read("bomb.xlsx", handmade_xlsx(sheet.as_bytes(), Some(shared.as_bytes()))).unwrap_err();
    assert!(matches!(e, FileError::TooBig { .. }) && e.to_string().contains("超过 16 MB") && !e.to_string().contains("I/O"), "{e}");
    // A reference to a string that does not exist, a cell reference out of the grid.
    for bad in [r#"<c r="A2" t="s"><v>99</v></c>"#, r#"<c r="XFE2" t="s"><v>0</v></c>"#, r#"<c r="A2"><v>1e999x</v></c>"#] {
        let sheet = format!(r#"<worksheet><sheetData>{}<row r="2">{bad}</row></sheetData></worksheet>"#, header_row_xml());
        let e = read("bad.xlsx", handmade_xlsx(sheet.as_bytes(), Some(b"<sst><si><t>H1</t></si></sst>"))).unwrap_err();
        assert!(matches!(e, FileError::BadXlsx { .. }), "{bad}: {e}");
    }
}
