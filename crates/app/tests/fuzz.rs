//! Fuzzing the readers with mutated real-looking files (proptest drives the mutations and
//! shrinks a failure to its smallest file). Targets: the CSV reader with the roster check, the
//! XLSX reader (mutated sheet XML and mutated workbook bytes), and the claims calculator.
//! Invariants: no panic; a table read has rows of its header's width (CSV) and row numbers that
//! only grow; every household the roster check accepts has exactly one head; every bill the
//! calculator settles adds up (funds + patient = total).
//!
//! `HUIMIN_FUZZ_CASES` sets the cases per target (default 200: about a minute in all; CI runs the
//! default, a long run by hand: `HUIMIN_FUZZ_CASES=200000 cargo nextest run -p huimin-app --test fuzz`).

use std::collections::HashMap;

use huimin_app::roster::{ROSTER_COLUMNS, parse_roster};
use huimin_app::table::Table;
use huimin_domain::{Date, IdNumber, RegionCode, Relation};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("HUIMIN_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
}

const VILLAGES: [&str; 2] = ["371302104203", "371302104204"];

fn id(seq: u16) -> String {
    IdNumber::compose(371302, Date::from_ymd_opt(1968, 7, 9).unwrap(), seq).unwrap().as_str().to_string()
}

/// A roster of a few households as a poverty office's file would hold it.
fn roster_text() -> String {
    let mut text = String::from("户编号,户主姓名,与户主关系,姓名,证件号码,性别,民族,行政区划代码,贫困户属性,脱贫状态,主要致贫原因,联系电话\n");
    let names = ["张三", "李四娘", "王五", "赵六", "赵小七", "钱八", "孙九"];
    let mut seq = 1;
    for h in 0..4 {
        for m in 0..2 {
            let head = names[h * 2 % names.len()];
            let (relation, name) = if m == 0 { ("户主", head) } else { ("之子", names[(h * 2 + 1) % names.len()]) };
            text += &format!("H{h},{head},{relation},{name},{},,汉族,{},低保贫困户,未脱贫,因病,\"0539-812345{m}\"\n", id(seq), VILLAGES[h % 2]);
            seq += 1;
        }
    }
    text
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Insert { at: usize, what: &'static str },
    Delete { at: usize, len: usize },
    Truncate { at: usize },
    Repeat { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let pieces = prop::sample::select(vec!["\"", ",", "\n", "\r\n", "\"\"", "\u{feff}", "=", "户主", "\t", "；", "\0", "\u{3000}", "<", "&amp;", "&#0;", "</c>", "<row>", "<c r=\"XFD1\"><v>1</v></c>"]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        (any::<usize>(), pieces).prop_map(|(at, what)| Mutation::Insert { at, what }),
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), 1usize..200).prop_map(|(at, len)| Mutation::Repeat { at, len }),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let n = bytes.len().max(1);
        match *m {
            Mutation::Flip { at, byte } => {
                if !bytes.is_empty() {
                    bytes[at % n] = byte;
                }
            }
            Mutation::Insert { at, what } => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, what.bytes());
            }
            Mutation::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            Mutation::Truncate { at } => bytes.truncate(at % n),
            Mutation::Repeat { at, len } => {
                let at = at % n;
                let end = (at + len).min(bytes.len());
                let copy = bytes[at.min(end)..end].to_vec();
                bytes.splice(at..at, copy);
            }
        }
    }
    bytes
}

fn regions() -> HashMap<RegionCode, String> {
    ["370000000000", "371300000000", "371302000000", "371302104000", VILLAGES[0], VILLAGES[1]].iter().map(|c| (RegionCode::parse(c).unwrap(), c.to_string())).collect()
}

/// What must hold of any table read and any roster checked.
fn check_table(t: &Table, csv: bool) {
    if csv {
        assert!(t.rows.iter().all(|r| r.cells.len() == t.headers.len()), "rows of the header's width");
    }
    assert!(t.rows.windows(2).all(|w| w[0].row < w[1].row), "row numbers only grow");
    assert!(t.rows.iter().all(|r| r.row > t.header_row));
    if let Ok(parsed) = parse_roster(t, &regions(), None, &|_| {}) {
        for (h, persons) in &parsed.households {
            let heads = persons.iter().filter(|p| p.relation == Relation::Head).count();
            assert_eq!(heads, 1, "household {} accepted with {heads} heads", h.no.as_str());
        }
        let accepted: usize = parsed.households.iter().map(|(_, p)| p.len()).sum();
        assert!(accepted <= parsed.rows_total);
    }
}

fn xlsx_of(sheet_xml: &[u8], shared: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, bytes) in [
        ("xl/workbook.xml", r#"<workbook xmlns:r="r"><sheets><sheet name="花名册" sheetId="1" r:id="rId1"/></sheets></workbook>"#.as_bytes()),
        ("xl/_rels/workbook.xml.rels", br#"<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>"#),
        ("xl/worksheets/sheet1.xml", sheet_xml),
        ("xl/sharedStrings.xml", shared),
    ] {
        zip.start_file(name, opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The roster as sheet XML with shared strings, ID numbers as inline text.
fn roster_xml() -> (String, String) {
    let text = roster_text();
    let mut strings: Vec<String> = Vec::new();
    let mut rows = String::new();
    for (r, line) in text.lines().enumerate() {
        rows += &format!(r#"<row r="{}">"#, r + 1);
        for (c, cell) in line.split(',').enumerate() {
            let at = format!("{}{}", huimin_app::xlsx::column_name(c as u32 + 1), r + 1);
            if c == 4 && r > 0 {
                rows += &format!(r#"<c r="{at}" t="inlineStr"><is><t>{cell}</t></is></c>"#);
            } else if !cell.is_empty() {
                let i = strings.iter().position(|s| s == cell).unwrap_or_else(|| {
                    strings.push(cell.to_string());
                    strings.len() - 1
                });
                rows += &format!(r#"<c r="{at}" t="s"><v>{i}</v></c>"#);
            }
        }
        rows += "</row>";
    }
    let shared: String = strings.iter().map(|s| format!("<si><t>{s}</t></si>")).collect();
    (format!("<worksheet><sheetData>{rows}</sheetData></worksheet>"), format!("<sst>{shared}</sst>"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn csv_rosters(mutations in proptest::collection::vec(mutation(), 1..8), gbk in any::<bool>()) {
        let text = roster_text();
        let base = if gbk { encoding_rs::GBK.encode(&text).0.into_owned() } else { text.into_bytes() };
        let bytes = mutate(base, &mutations);
        if let Ok(t) = Table::from_csv_bytes("fuzz.csv", &bytes, &ROSTER_COLUMNS) {
            check_table(&t, true);
        }
    }

    #[test]
    fn xlsx_sheet_xml(sheet_mutations in proptest::collection::vec(mutation(), 0..6), shared_mutations in proptest::collection::vec(mutation(), 0..3)) {
        let (sheet, shared) = roster_xml();
        let bytes = xlsx_of(&mutate(sheet.into_bytes(), &sheet_mutations), &mutate(shared.into_bytes(), &shared_mutations));
        if let Ok(t) = Table::from_xlsx_bytes("fuzz.xlsx", bytes, &ROSTER_COLUMNS) {
            check_table(&t, false);
        }
    }

    #[test]
    fn xlsx_bytes(mutations in proptest::collection::vec(mutation(), 1..4)) {
        let (sheet, shared) = roster_xml();
        let bytes = mutate(xlsx_of(sheet.as_bytes(), shared.as_bytes()), &mutations);
        if let Ok(t) = Table::from_xlsx_bytes("fuzz.xlsx", bytes, &ROSTER_COLUMNS) {
            check_table(&t, false);
        }
    }

    #[test]
    fn claims_calculator(mutations in proptest::collection::vec(mutation(), 1..8)) {
        let policy = huimin_policy::parse_policy("worked-example.toml", include_str!("../../../policies/worked-example.toml")).unwrap();
        let text = "claim_no,person_id,poverty_category,visit_type,facility_level,in_county,admission_date,discharge_date,disease_codes,cat_a,cat_b,out_of_catalogue,necessary_out_of_catalogue,action\n\
            C1,p1,低保,inpatient,2,1,2024-03-01,2024-03-10,I63.9,20000,8000,2000,1000,\n\
            C2,p1,低保,inpatient,3,0,2024-06-01,2024-06-20,,\"90,000.00\",20000,10000,6000,\n\
            C1,,,,,,,,,,,,,reverse\n\
            C3,p2,特困,outpatient_chronic,1,1,2024-07-01,2024-07-01,E11,350.5,0,0,0,\n";
        let bytes = mutate(text.as_bytes().to_vec(), &mutations);
        let columns = huimin_app::calculator::claim_columns();
        if let Ok(t) = Table::from_csv_bytes("claims.csv", &bytes, &columns) {
            if let Ok(outcomes) = huimin_app::calculator::settle_table(&policy, &t) {
                for o in outcomes.iter().filter(|o| o.error.is_none()) {
                    let b = o.bill.as_ref().expect("a bill for a row without error");
                    prop_assert_eq!(b.funds_total.fen() + b.patient_total.fen(), b.total.fen());
                }
            }
        }
    }
}


