//! Health files (一户一档, 一病一卡), the disease catalogue and the three batches (三个一批).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::region::RegionCode;
use crate::registry::{ValueError, err};

labelled_enum!(
    /// 一病一卡: what is expected of a diagnosed disease (domain.md §2 step 2).
    Prognosis, "预后" {
        Recovered = "recovered", "已康复" | "已经康复";
        ShortTerm = "short_term", "短期治疗可康复" | "短期治疗可以康复";
        NeedsExam = "needs_exam", "需要体检" | "需体检";
        LongTerm = "long_term", "需长期服药" | "需要长期服药";
    }
);

labelled_enum!(
    /// 三个一批: how a sick person is helped.
    CareBatch, "救治分类" {
        Centralised = "centralised", "大病集中救治一批" | "大病集中救治";
        Contract = "contract", "慢病签约服务管理一批" | "慢病签约服务管理";
        Backstop = "backstop", "重病兜底保障一批" | "重病兜底保障";
    }
);

labelled_enum!(
    /// A patient's place in the treatment ledger (救治台账) of the centralised-treatment batch.
    TreatmentStatus, "救治状态" {
        Identified = "identified", "已确认待救治" | "待救治";
        InTreatment = "in_treatment", "救治中";
        Treated = "treated", "已救治";
        NotTreated = "not_treated", "未救治";
    }
);

impl TreatmentStatus {
    /// Where a ledger entry may go next; `treated` and `not_treated` may be corrected back to
    /// `in_treatment` (e.g. a relapse or a patient who changed their mind).
    pub fn may_become(self, next: TreatmentStatus) -> bool {
        use TreatmentStatus::*;
        matches!(
            (self, next),
            (Identified, InTreatment | Treated | NotTreated) | (InTreatment, Treated | NotTreated) | (Treated | NotTreated, InTreatment)
        )
    }
}

/// An ICD-10 code as written on a diagnosis: a letter, two digits, optionally `.` and up to
/// four more characters (`I10`, `E11.9`, `C92.1`). Stored upper-case.
pub fn parse_icd10(input: &str) -> Result<String, ValueError> {
    let code = input.trim().to_ascii_uppercase();
    let b = code.as_bytes();
    let ok = b.len() >= 3
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_digit()
        && b[2].is_ascii_alphanumeric()
        && match &b[3..] {
            [] => true,
            [b'.', rest @ ..] => (1..=4).contains(&rest.len()) && rest.iter().all(u8::is_ascii_alphanumeric),
            _ => false,
        };
    if ok { Ok(code) } else { err(format!("疾病编码「{}」不是 ICD-10 编码（如 I10、E11.9）", input.trim())) }
}

/// Diagnoses the law protects wherever they are recorded, by ICD-10 range, whatever a catalogue
/// says: HIV and AIDS (传染病防治法, 艾滋病防治条例: B20–B24, Z21, R75, O98.7, Z20.6, Z71.7,
/// Z83.0) and the severe mental disorders (精神卫生法, 严重精神障碍管理治疗工作规范: F20–F29, F31,
/// F32.3, F33.3, F06, F70–F79). A catalogue may add codes; it can never take one of these out.
pub fn legally_confidential(code: &str) -> bool {
    let code = code.trim().to_ascii_uppercase();
    let category = code.get(..3).unwrap_or("");
    let in_range = |letter: char, from: u8, to: u8| {
        category.starts_with(letter) && category[1..].parse::<u8>().is_ok_and(|n| (from..=to).contains(&n))
    };
    let exact = |prefix: &str| code == prefix || code.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_digit()));
    in_range('B', 20, 24)
        || ["Z21", "R75", "F31", "F06"].contains(&category)
        || ["O98.7", "Z20.6", "Z71.7", "Z83.0", "F32.3", "F33.3"].iter().any(|p| exact(p))
        || in_range('F', 20, 29)
        || in_range('F', 70, 79)
}

/// A group of catalogue diseases that a policy or a batch refers to (e.g. the 15 major diseases).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiseaseGroup {
    pub id: String,
    pub name: String,
    /// The batch its patients belong to, if any.
    pub batch: Option<CareBatch>,
}

/// One catalogue line: an ICD-10 code or code prefix (`C34` covers `C34.9`) and what it counts as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiseaseEntry {
    pub code: String,
    pub name: String,
    pub groups: Vec<String>,
    /// HIV, severe mental disorders: shown only to those who care for the patient.
    pub confidential: bool,
    pub source: String,
}

/// The disease catalogue: groups and entries, looked up by the most specific prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiseaseCatalog {
    pub groups: Vec<DiseaseGroup>,
    pub entries: Vec<DiseaseEntry>,
}

impl DiseaseCatalog {
    /// The entry that covers `code`: the longest catalogue code that is a prefix of it. A
    /// three-character category covers its subdivisions (`C34` covers `C34.9`); shorter
    /// entries cover a range (`C` every malignant neoplasm), longer ones finer subdivisions.
    pub fn entry(&self, code: &str) -> Option<&DiseaseEntry> {
        let covers = |e: &&DiseaseEntry| match code.strip_prefix(e.code.as_str()) {
            Some(rest) => rest.is_empty() || e.code.len() != 3 || rest.starts_with('.'),
            None => false,
        };
        self.entries.iter().filter(covers).max_by_key(|e| e.code.len())
    }

    pub fn group(&self, id: &str) -> Option<&DiseaseGroup> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// Whether a diagnosis with this code is confidential: by law (see [`legally_confidential`])
    /// or because the catalogue says so.
    pub fn is_confidential(&self, code: &str) -> bool {
        legally_confidential(code) || self.entry(code).is_some_and(|e| e.confidential)
    }

    /// The batches the code's groups lead to.
    pub fn batches(&self, code: &str) -> Vec<CareBatch> {
        let mut out: Vec<CareBatch> =
            self.entry(code).into_iter().flat_map(|e| e.groups.iter()).filter_map(|g| self.group(g).and_then(|g| g.batch)).collect();
        out.sort();
        out.dedup();
        out
    }

    /// The batch a sick person belongs to by the rules: a major disease → centralised
    /// treatment; else costs still too high after insurance → the backstop batch; else a
    /// chronic or special disease → contract management. `None`: no batch applies.
    pub fn batch_for<'a>(&self, codes: impl IntoIterator<Item = &'a str>, high_cost: bool) -> Option<CareBatch> {
        let found: Vec<CareBatch> = codes.into_iter().flat_map(|c| self.batches(c)).collect();
        if found.contains(&CareBatch::Centralised) {
            Some(CareBatch::Centralised)
        } else if high_cost {
            Some(CareBatch::Backstop)
        } else if found.contains(&CareBatch::Contract) {
            Some(CareBatch::Contract)
        } else {
            None
        }
    }

    /// Adds or replaces entries and groups (a county extending the catalogue).
    pub fn extend(&mut self, other: DiseaseCatalog) {
        for g in other.groups {
            match self.groups.iter_mut().find(|x| x.id == g.id) {
                Some(x) => *x = g,
                None => self.groups.push(g),
            }
        }
        for e in other.entries {
            match self.entries.iter_mut().find(|x| x.code == e.code) {
                Some(x) => *x = e,
                None => self.entries.push(e),
            }
        }
    }
}

/// The catalogue of every place: the built-in one, and the extensions a region loaded applying
/// inside that region only (a county's file changes nothing in the next county).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalogues {
    base: DiseaseCatalog,
    /// For each region that loaded a file: the base with every file whose region contains it,
    /// in the order loaded.
    scoped: Vec<(RegionCode, DiseaseCatalog)>,
}

impl Catalogues {
    pub fn new(base: DiseaseCatalog) -> Catalogues {
        Catalogues { base, scoped: Vec::new() }
    }

    /// The built-in catalogue with the files loaded for everywhere.
    pub fn base(&self) -> &DiseaseCatalog {
        &self.base
    }

    /// The catalogue in force in `region`: that of the smallest region containing it that loaded
    /// a file, else the base.
    pub fn for_region(&self, region: RegionCode) -> &DiseaseCatalog {
        self.scoped.iter().filter(|(r, _)| r.contains(region)).max_by_key(|(r, _)| r.level()).map_or(&self.base, |(_, c)| c)
    }

    /// Adds a file loaded for `region` (`None`: everywhere).
    pub fn add(&mut self, region: Option<RegionCode>, file: DiseaseCatalog) {
        let Some(region) = region else {
            self.base.extend(file.clone());
            for (_, c) in &mut self.scoped {
                c.extend(file.clone());
            }
            return;
        };
        if !self.scoped.iter().any(|(r, _)| *r == region) {
            let merged = self.for_region(region).clone();
            self.scoped.push((region, merged));
        }
        for (r, c) in &mut self.scoped {
            if region.contains(*r) {
                c.extend(file.clone());
            }
        }
    }
}

/// A free physical examination's readings (免费健康体检), checked for plausible ranges. Tenths
/// are kept as integers: glucose in 0.1 mmol/L, weight in 0.1 kg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExamReadings {
    pub systolic: Option<u16>,
    pub diastolic: Option<u16>,
    pub glucose_tenths: Option<u16>,
    pub height_cm: Option<u16>,
    pub weight_tenths: Option<u16>,
}

/// Parses `"6.1"` or `"6"` into tenths.
fn tenths(field: &str, input: &str) -> Result<u16, ValueError> {
    let s = input.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
    let frac = if frac.is_empty() { "0" } else { frac };
    match (whole.parse::<u16>(), frac.len() == 1, frac.parse::<u16>()) {
        (Ok(w), true, Ok(f)) if w < 6000 => Ok(w * 10 + f),
        _ => err(format!("{field}「{s}」应为数字，最多一位小数")),
    }
}

fn in_range(field: &str, unit: &str, v: u16, lo: u16, hi: u16, scale: u16) -> Result<u16, ValueError> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else if scale == 10 {
        err(format!("{field} {}.{} {unit} 不在合理范围 {}–{} 内", v / 10, v % 10, lo / 10, hi / 10))
    } else {
        err(format!("{field} {v} {unit} 不在合理范围 {lo}–{hi} 内"))
    }
}

fn opt(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

impl ExamReadings {
    /// Each reading is optional (an empty string); what is given must be plausible.
    pub fn parse(systolic: &str, diastolic: &str, glucose: &str, height: &str, weight: &str) -> Result<ExamReadings, ValueError> {
        let whole = |field: &str, s: &str| s.parse::<u16>().or_else(|_| err(format!("{field}「{s}」应为整数")));
        let r = ExamReadings {
            systolic: opt(systolic).map(|s| whole("收缩压", s).and_then(|v| in_range("收缩压", "mmHg", v, 50, 300, 1))).transpose()?,
            diastolic: opt(diastolic).map(|s| whole("舒张压", s).and_then(|v| in_range("舒张压", "mmHg", v, 30, 200, 1))).transpose()?,
            glucose_tenths: opt(glucose).map(|s| tenths("血糖", s).and_then(|v| in_range("血糖", "mmol/L", v, 10, 400, 10))).transpose()?,
            height_cm: opt(height).map(|s| whole("身高", s).and_then(|v| in_range("身高", "cm", v, 30, 250, 1))).transpose()?,
            weight_tenths: opt(weight).map(|s| tenths("体重", s).and_then(|v| in_range("体重", "kg", v, 20, 3000, 10))).transpose()?,
        };
        match (r.systolic, r.diastolic) {
            (Some(s), Some(d)) if d >= s => err(format!("舒张压 {d} 应低于收缩压 {s}")),
            (Some(_), None) | (None, Some(_)) => err("血压须同时填写收缩压和舒张压"),
            _ => Ok(r),
        }
    }

    /// Body-mass index × 10, when height and weight are known.
    pub fn bmi_tenths(&self) -> Option<u32> {
        let (h, w) = (u32::from(self.height_cm?), u32::from(self.weight_tenths?));
        // w/10 kg ÷ (h/100 m)² × 10 = w × 10⁴ ÷ h², rounded half up.
        Some((w * 10_000 * 2 + h * h) / (2 * h * h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> DiseaseCatalog {
        let g = |id: &str, batch| DiseaseGroup { id: id.into(), name: id.into(), batch };
        let e = |code: &str, groups: &[&str], confidential| DiseaseEntry {
            code: code.into(),
            name: code.into(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            confidential,
            source: "test".into(),
        };
        DiseaseCatalog {
            groups: vec![g("major", Some(CareBatch::Centralised)), g("chronic", Some(CareBatch::Contract)), g("class_1", None)],
            entries: vec![e("C34", &["major"], false), e("I10", &["chronic"], false), e("F20", &["chronic"], true), e("C", &["class_1"], false), e("E11.9", &["chronic"], false)],
        }
    }

    #[test]
    fn an_extension_applies_inside_its_region_only() {
        let r = |c: &str| RegionCode::parse(c).unwrap();
        let file = |code: &str| DiseaseCatalog {
            groups: vec![],
            entries: vec![DiseaseEntry { code: code.into(), name: code.into(), groups: vec!["major".into()], confidential: true, source: "t".into() }],
        };
        let mut all = Catalogues::new(catalog());
        all.add(Some(r("371302")), file("K29"));
        all.add(Some(r("3713")), file("N18"));
        all.add(None, file("L40"));
        let (here, next, city_only) = (all.for_region(r("371302001001")), all.for_region(r("371311001001")), all.for_region(r("371312")));
        assert!(here.is_confidential("K29.5") && here.is_confidential("N18") && here.is_confidential("L40"));
        assert!(!next.is_confidential("K29.5"), "the county's file stays in the county");
        assert!(next.is_confidential("N18") && next.is_confidential("L40") && city_only.is_confidential("N18"));
        assert!(!all.for_region(r("3714")).is_confidential("N18") && all.for_region(r("3714")).is_confidential("L40"));
        assert_eq!(here.batches("K29"), [CareBatch::Centralised]);
        assert!(all.for_region(r("41")).batches("K29").is_empty());
    }

    #[test]
    fn codes_are_matched_by_the_most_specific_prefix() {
        let c = catalog();
        assert_eq!(c.entry("C34.9").unwrap().code, "C34");
        assert_eq!(c.entry("C34").unwrap().code, "C34");
        assert_eq!(c.entry("C16.9").unwrap().code, "C", "a one-letter entry covers the chapter");
        assert_eq!(c.entry("E11.9").unwrap().code, "E11.9");
        assert!(c.entry("E11.2").is_none());
        assert_eq!(c.entry("I10.X").unwrap().code, "I10");
        assert!(c.is_confidential("F20.0") && !c.is_confidential("I10"));
        // By law, whatever the catalogue lists.
        let empty = DiseaseCatalog::default();
        for code in ["B20", "B23.0", "B24", "Z21", "R75", "O98.7", "Z20.6", "Z71.7", "Z83.0", "F20.9", "F25.1", "F29", "F31.2", "F32.3", "F33.3", "F06.8", "F72", "f20.0"] {
            assert!(empty.is_confidential(code), "{code}");
        }
        for code in ["B19", "B25", "F19", "F30", "F32.2", "F33.30X", "I10", "Z20.5", "O98.6", "F80", "", "X"] {
            assert_eq!(empty.is_confidential(code), code == "F33.30X", "{code}");
        }
    }

    #[test]
    fn the_three_batches_follow_the_rules() {
        let c = catalog();
        assert_eq!(c.batch_for(["I10", "C34.1"], false), Some(CareBatch::Centralised), "a major disease comes first");
        assert_eq!(c.batch_for(["I10"], true), Some(CareBatch::Backstop));
        assert_eq!(c.batch_for(["I10"], false), Some(CareBatch::Contract));
        assert_eq!(c.batch_for(["K29"], false), None);
        assert_eq!(c.batch_for([], true), Some(CareBatch::Backstop));
    }

    #[test]
    fn icd10_codes_are_checked() {
        assert_eq!(parse_icd10(" e11.9 ").unwrap(), "E11.9");
        for bad in ["", "I1", "11.9", "I10.", "I10.12345", "高血压", "I10 x"] {
            assert!(parse_icd10(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exam_readings_must_be_plausible() {
        let r = ExamReadings::parse("138", "86", "6.1", "165", "62.5").unwrap();
        assert_eq!((r.glucose_tenths, r.weight_tenths), (Some(61), Some(625)));
        assert_eq!(r.bmi_tenths(), Some(230), "62.5 / 1.65² = 22.96 → 23.0");
        assert_eq!(ExamReadings::parse("", "", "", "", "").unwrap(), ExamReadings::default());
        assert!(ExamReadings::parse("80", "120", "", "", "").unwrap_err().0.contains("应低于"));
        assert!(ExamReadings::parse("138", "", "", "", "").is_err());
        assert!(ExamReadings::parse("", "", "60", "", "").unwrap_err().0.contains("合理范围"));
        assert!(ExamReadings::parse("", "", "6.15", "", "").is_err());
        assert!(ExamReadings::parse("", "", "", "1.65", "").is_err(), "height in cm");
    }

    #[test]
    fn a_treated_patient_is_not_identified_again() {
        use TreatmentStatus::*;
        assert!(Identified.may_become(Treated));
        assert!(!Treated.may_become(Identified));
        assert!(!InTreatment.may_become(InTreatment));
    }
}
