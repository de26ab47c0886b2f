//! What a settlement is about: the claim, its cost buckets, the places and kinds of visit, and the
//! funds that pay.

use std::fmt;

use huimin_domain::{Date, FacilityLevel, Money, PovertyCategory};
use serde::{Deserialize, Serialize};

/// The four buckets a claim's cost is split into before any layer pays (domain.md §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
pub enum Bucket {
    /// In-policy (政策范围内): class A plus class B after the first self-pay.
    P,
    /// Class-B first self-pay (乙类先行自付).
    B,
    /// Necessary out-of-catalogue (目录外必需).
    N,
    /// Other out-of-catalogue (目录外其他).
    O,
}

impl Bucket {
    pub const ALL: [Bucket; 4] = [Bucket::P, Bucket::B, Bucket::N, Bucket::O];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn parse(s: &str) -> Option<Bucket> {
        Some(match s.trim() {
            "P" => Bucket::P,
            "B" => Bucket::B,
            "N" => Bucket::N,
            "O" => Bucket::O,
            _ => return None,
        })
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Bucket::P => "政策范围内",
            Bucket::B => "乙类先行自付",
            Bucket::N => "目录外必需",
            Bucket::O => "目录外其他",
        }
    }
}

/// The paying funds: what each is to the cascade. Their codes and names are data, the fund
/// dictionary (`funds/funds.toml`, which a province may replace: [`FundCodes`]); a fund is
/// written and read as its code (`"390101"`) wherever it leaves the program. Stored bills keep
/// the built-in code ([`Fund::stored_code`]), so a replaced dictionary renames them too; bills
/// stored as JSON before codes named them (`"ResidentBasic"`), which is still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fund {
    EmployeeBasic,
    ResidentBasic,
    CriticalIllness,
    AccidentalInjury,
    MedicalAssistance,
    PovertySpecialInsurance,
    HospitalReduction,
    FiscalBackstop,
    Other,
}

impl Fund {
    pub const ALL: [Fund; 9] = [
        Fund::EmployeeBasic,
        Fund::ResidentBasic,
        Fund::CriticalIllness,
        Fund::AccidentalInjury,
        Fund::MedicalAssistance,
        Fund::PovertySpecialInsurance,
        Fund::HospitalReduction,
        Fund::FiscalBackstop,
        Fund::Other,
    ];

    /// The kind's name in a fund dictionary (`kind = "resident_basic"`).
    pub fn kind(self) -> &'static str {
        match self {
            Fund::EmployeeBasic => "employee_basic",
            Fund::ResidentBasic => "resident_basic",
            Fund::CriticalIllness => "critical_illness",
            Fund::AccidentalInjury => "accidental_injury",
            Fund::MedicalAssistance => "medical_assistance",
            Fund::PovertySpecialInsurance => "poverty_special_insurance",
            Fund::HospitalReduction => "hospital_reduction",
            Fund::FiscalBackstop => "fiscal_backstop",
            Fund::Other => "other",
        }
    }

    fn entry(self) -> &'static FundEntry {
        &FundCodes::current().entries[self as usize]
    }

    /// The code in the dictionary in use.
    pub fn code(self) -> &'static str {
        &self.entry().code
    }

    /// The name in the dictionary in use.
    pub fn label_zh(self) -> &'static str {
        &self.entry().name
    }

    /// The national platform's fund payment type, where the dictionary knows it.
    pub fn platform_code(self) -> Option<&'static str> {
        Some(self.entry().platform_code.as_str()).filter(|c| !c.is_empty())
    }

    /// The code a stored bill keeps: the built-in dictionary's, whatever dictionary is in use.
    pub fn stored_code(self) -> &'static str {
        &BUILT_IN.entries[self as usize].code
    }

    /// The name a bill stored as JSON gave it.
    fn from_name(name: &str) -> Option<Fund> {
        Fund::ALL.into_iter().find(|f| format!("{f:?}") == name)
    }

    /// A fund by its code in the dictionary in use.
    pub fn from_code(code: &str) -> Option<Fund> {
        let code = code.trim();
        Fund::ALL.into_iter().find(|f| f.code() == code)
    }

    /// A fund as anything stored names it: a code of the dictionary in use, a built-in code (a
    /// stored bill), or the name of a bill stored as JSON before codes.
    pub fn from_stored(text: &str) -> Option<Fund> {
        let text = text.trim();
        Fund::from_code(text).or_else(|| Fund::ALL.into_iter().find(|f| f.stored_code() == text)).or_else(|| Fund::from_name(text))
    }
}

/// One fund of a dictionary.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FundEntry {
    pub kind: String,
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub platform_code: String,
}

/// A fund dictionary: the code and name of each of the nine kinds, checked. The built-in one is
/// `funds/funds.toml`; a province's replaces it for the whole process with [`FundCodes::install`],
/// once, before anything is settled or shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundCodes {
    /// In the order of [`Fund::ALL`].
    entries: Vec<FundEntry>,
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FundFile {
    #[serde(default)]
    source: Option<FundSource>,
    #[serde(default)]
    fund: Vec<FundEntry>,
}

#[derive(Deserialize)]
struct FundSource {
    title: String,
}

static BUILT_IN: std::sync::LazyLock<FundCodes> =
    std::sync::LazyLock::new(|| FundCodes::parse("funds/funds.toml", include_str!("../../../funds/funds.toml")).unwrap_or_else(|e| panic!("the built-in fund dictionary: {e}")));
static INSTALLED: std::sync::OnceLock<FundCodes> = std::sync::OnceLock::new();

impl FundCodes {
    /// Reads and checks a dictionary: each kind exactly once, codes of 1–20 letters or digits and
    /// all different, names given. The errors name the file and the fund.
    pub fn parse(file: &str, text: &str) -> Result<FundCodes, String> {
        let f: FundFile = toml::from_str(text).map_err(|e| format!("{file}：{}", e.message()))?;
        let mut entries: Vec<Option<FundEntry>> = vec![None; Fund::ALL.len()];
        let mut problems = Vec::new();
        for (i, e) in f.fund.into_iter().enumerate() {
            let at = format!("{file} 第 {} 个 [[fund]]", i + 1);
            let Some(kind) = Fund::ALL.into_iter().find(|k| k.kind() == e.kind.trim()) else {
                problems.push(format!("{at}：kind「{}」未知（可用：{}）", e.kind, Fund::ALL.map(Fund::kind).join("、")));
                continue;
            };
            if !(1..=20).contains(&e.code.len()) || !e.code.chars().all(|c| c.is_ascii_alphanumeric()) {
                problems.push(format!("{at}：code「{}」应为 1–20 位字母或数字", e.code));
            }
            if e.name.trim().is_empty() {
                problems.push(format!("{at}：name 不能为空"));
            }
            if entries.iter().flatten().any(|x| x.code == e.code) {
                problems.push(format!("{at}：code「{}」重复", e.code));
            }
            match &mut entries[kind as usize] {
                Some(_) => problems.push(format!("{at}：kind「{}」重复", e.kind)),
                slot => *slot = Some(FundEntry { kind: kind.kind().into(), code: e.code.clone(), name: e.name.trim().into(), platform_code: e.platform_code.trim().into() }),
            }
        }
        for k in Fund::ALL {
            if entries[k as usize].is_none() {
                problems.push(format!("{file}：缺少 kind「{}」的基金", k.kind()));
            }
        }
        if !problems.is_empty() {
            return Err(problems.join("\n"));
        }
        Ok(FundCodes { entries: entries.into_iter().flatten().collect(), source: f.source.map(|s| s.title).unwrap_or_default() })
    }

    /// The dictionary in use: the installed one, else the built-in one.
    pub fn current() -> &'static FundCodes {
        INSTALLED.get().unwrap_or(&BUILT_IN)
    }

    /// Puts a dictionary in use for the rest of the process. Refused (with it back) when one is
    /// in use already, so codes never change under a running program.
    pub fn install(self) -> Result<(), FundCodes> {
        INSTALLED.set(self)
    }

    pub fn entries(&self) -> &[FundEntry] {
        &self.entries
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VisitType {
    /// 住院
    Inpatient,
    /// 门诊慢特病
    OutpatientChronic,
    /// 普通门诊
    OutpatientGeneral,
}

impl VisitType {
    pub fn code(self) -> &'static str {
        match self {
            VisitType::Inpatient => "inpatient",
            VisitType::OutpatientChronic => "outpatient_chronic",
            VisitType::OutpatientGeneral => "outpatient_general",
        }
    }

    pub fn parse(s: &str) -> Option<VisitType> {
        Some(match s.trim() {
            "inpatient" | "住院" => VisitType::Inpatient,
            "outpatient_chronic" | "门诊慢特病" | "门诊慢性病" | "门诊特殊慢性病" => VisitType::OutpatientChronic,
            "outpatient_general" | "普通门诊" | "门诊" => VisitType::OutpatientGeneral,
            _ => return None,
        })
    }
}

/// Where the care was given: the facility level inside the county, or out of the county (which
/// counts as a level of its own); a policy's `levels` may also name a level out of the county
/// (`out-3`: a city or provincial hospital elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
pub enum Place {
    Level1,
    Level2,
    Level3,
    OutOfCounty,
    OutLevel1,
    OutLevel2,
    OutLevel3,
}

impl Place {
    pub fn of(level: FacilityLevel, in_county: bool) -> Place {
        match (in_county, level) {
            (false, _) => Place::OutOfCounty,
            (true, FacilityLevel::One) => Place::Level1,
            (true, FacilityLevel::Two) => Place::Level2,
            (true, FacilityLevel::Three) => Place::Level3,
        }
    }

    pub fn parse(s: &str) -> Option<Place> {
        Some(match s.trim() {
            "1" => Place::Level1,
            "2" => Place::Level2,
            "3" => Place::Level3,
            "out" => Place::OutOfCounty,
            "out-1" => Place::OutLevel1,
            "out-2" => Place::OutLevel2,
            "out-3" => Place::OutLevel3,
            _ => return None,
        })
    }

    /// Whether a claim at a facility of `level`, in or out of the county, is at this place.
    pub fn covers(self, level: FacilityLevel, in_county: bool) -> bool {
        match self {
            Place::OutOfCounty => !in_county,
            Place::OutLevel1 => !in_county && level == FacilityLevel::One,
            Place::OutLevel2 => !in_county && level == FacilityLevel::Two,
            Place::OutLevel3 => !in_county && level == FacilityLevel::Three,
            p => Place::of(level, in_county) == p,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Place::Level1 => "1",
            Place::Level2 => "2",
            Place::Level3 => "3",
            Place::OutOfCounty => "out",
            Place::OutLevel1 => "out-1",
            Place::OutLevel2 => "out-2",
            Place::OutLevel3 => "out-3",
        })
    }
}

/// A stay or visit to settle. Amounts are what the hospital bills, split as the catalogue does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Claim {
    pub claim_no: String,
    /// Whose accumulators the claim uses (a person id or ID number).
    pub person: String,
    pub category: PovertyCategory,
    pub visit: VisitType,
    pub level: FacilityLevel,
    pub in_county: bool,
    pub admission: Date,
    pub discharge: Date,
    /// ICD-10 codes.
    pub diseases: Vec<String>,
    /// Catalogue class A (甲类).
    pub cat_a: Money,
    /// Catalogue class B (乙类).
    pub cat_b: Money,
    /// Out of the catalogue, necessary part included.
    pub out_of_catalogue: Money,
    /// The necessary and irreplaceable part of `out_of_catalogue`.
    pub necessary: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("目录外必需费用（{necessary}）不能大于目录外费用（{out}）")]
    NecessaryExceedsOut { necessary: Money, out: Money },
    #[error("入院日期 {admission} 晚于出院日期 {discharge}")]
    Dates { admission: Date, discharge: Date },
    #[error("总费用过大")]
    TooLarge,
    #[error("政策 {policy} 的有效期为 {from} 至 {to}，不含入院日期 {admission}")]
    NotInForce { policy: String, from: Date, to: Date, admission: Date },
}

impl Claim {
    pub fn place(&self) -> Place {
        Place::of(self.level, self.in_county)
    }

    pub fn total(&self) -> Result<Money, ClaimError> {
        self.cat_a
            .checked_add(self.cat_b)
            .and_then(|m| m.checked_add(self.out_of_catalogue))
            .ok_or(ClaimError::TooLarge)
    }

    pub fn check(&self) -> Result<(), ClaimError> {
        if self.necessary > self.out_of_catalogue {
            return Err(ClaimError::NecessaryExceedsOut { necessary: self.necessary, out: self.out_of_catalogue });
        }
        if self.admission > self.discharge {
            return Err(ClaimError::Dates { admission: self.admission, discharge: self.discharge });
        }
        self.total().map(|_| ())
    }
}

/// The claim columns, in the order of the claims CSV (see docs/policy-format.md).
pub const CLAIM_COLUMNS: [&str; 13] = [
    "claim_no",
    "person_id",
    "poverty_category",
    "visit_type",
    "facility_level",
    "in_county",
    "admission_date",
    "discharge_date",
    "disease_codes",
    "cat_a",
    "cat_b",
    "out_of_catalogue",
    "necessary_out_of_catalogue",
];

impl Claim {
    /// Builds a claim from its text fields (`get` returns a column's value, "" when absent);
    /// the error names the column and the reason.
    pub fn from_fields<'a>(get: impl Fn(&str) -> &'a str) -> Result<Claim, (String, String)> {
        let err = |col: &str, why: String| (col.to_string(), why);
        let text = |col: &str| get(col).trim();
        let required = |col: &str| {
            let v = text(col);
            if v.is_empty() { Err(err(col, "不能为空".into())) } else { Ok(v) }
        };
        let amount = |col: &str| {
            let v = text(col);
            if v.is_empty() { Ok(Money::ZERO) } else { Money::parse_yuan(v).map_err(|e| err(col, e.to_string())) }
        };
        let date = |col: &str| {
            let v = required(col)?;
            Date::parse_from_str(v, "%Y-%m-%d").map_err(|_| err(col, format!("日期「{v}」应为 YYYY-MM-DD")))
        };
        let category = PovertyCategory::parse(required("poverty_category")?).map_err(|e| err("poverty_category", e.0))?;
        let visit_text = required("visit_type")?;
        let visit = VisitType::parse(visit_text)
            .ok_or_else(|| err("visit_type", format!("「{visit_text}」应为 inpatient、outpatient_chronic 或 outpatient_general")))?;
        let level = FacilityLevel::parse(required("facility_level")?).map_err(|e| err("facility_level", e.0))?;
        let in_county = match text("in_county") {
            "" | "1" | "true" | "yes" | "是" | "Y" | "y" => true,
            "0" | "false" | "no" | "否" | "N" | "n" => false,
            other => return Err(err("in_county", format!("「{other}」应为 1/0、true/false 或 是/否"))),
        };
        let diseases = text("disease_codes")
            .split(['|', ';', ' ', '，', '；'])
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty())
            .collect();
        let claim = Claim {
            claim_no: required("claim_no")?.to_string(),
            person: required("person_id")?.to_string(),
            category,
            visit,
            level,
            in_county,
            admission: date("admission_date")?,
            discharge: date("discharge_date")?,
            diseases,
            cat_a: amount("cat_a")?,
            cat_b: amount("cat_b")?,
            out_of_catalogue: amount("out_of_catalogue")?,
            necessary: amount("necessary_out_of_catalogue")?,
        };
        claim.check().map_err(|e| {
            let col = match e {
                ClaimError::NecessaryExceedsOut { .. } => "necessary_out_of_catalogue",
                ClaimError::Dates { .. } => "discharge_date",
                _ => "cat_a",
            };
            err(col, e.to_string())
        })?;
        Ok(claim)
    }
}

impl Serialize for Fund {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl utoipa::PartialSchema for Fund {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Fund::ALL.iter().map(|f| f.code())))
            .description(Some("A fund's code in the fund dictionary in use (funds/funds.toml or the province's)"))
            .into()
    }
}
impl utoipa::ToSchema for Fund {}

impl<'de> Deserialize<'de> for Fund {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Fund, D::Error> {
        let text = String::deserialize(d)?;
        Fund::from_stored(&text).ok_or_else(|| serde::de::Error::custom(format!("基金编码「{text}」未知")))
    }
}

#[cfg(test)]
mod fund_tests {
    use super::Fund;

    #[test]
    fn funds_travel_as_their_codes() {
        for f in Fund::ALL {
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.code()));
            assert_eq!(serde_json::from_str::<Fund>(&json).unwrap(), f);
        }
        assert_eq!(serde_json::from_str::<Fund>("\"ResidentBasic\"").unwrap(), Fund::ResidentBasic, "bills stored before");
        assert!(serde_json::from_str::<Fund>("\"999999\"").is_err());
    }

    #[test]
    fn the_built_in_dictionary_holds_every_kind_once_with_the_codes_of_domain_3_0() {
        let d = super::FundCodes::current();
        assert_eq!(d.entries().len(), Fund::ALL.len());
        let codes: Vec<&str> = Fund::ALL.iter().map(|f| f.code()).collect();
        assert_eq!(codes, ["310101", "390101", "390201", "390401", "610101", "620101", "630101", "640101", "999996"]);
        assert_eq!(Fund::ResidentBasic.platform_code(), Some("390100"));
        assert_eq!(Fund::FiscalBackstop.platform_code(), None);
        assert!(Fund::ALL.iter().all(|f| f.stored_code() == f.code() && !f.label_zh().is_empty()));
    }

    #[test]
    fn a_dictionary_that_is_wrong_says_where() {
        let built_in = include_str!("../../../funds/funds.toml");
        let parse = |text: &str| super::FundCodes::parse("p.toml", text).unwrap_err();
        assert!(parse("[[fund]\n").starts_with("p.toml："));
        let missing = built_in.replace("kind = \"other\"", "kind = \"others\"");
        let e = parse(&missing);
        assert!(e.contains("第 9 个 [[fund]]：kind「others」未知") && e.contains("缺少 kind「other」"), "{e}");
        let twice = built_in.replace("code = \"999996\"", "code = \"390101\"");
        assert!(parse(&twice).contains("第 9 个 [[fund]]：code「390101」重复"));
        assert!(parse(&built_in.replace("code = \"640101\"", "code = \"64 01\"")).contains("1–20 位字母或数字"));
        assert!(parse(&built_in.replace("[source]", "[sauce]")).contains("p.toml"));
    }
}
