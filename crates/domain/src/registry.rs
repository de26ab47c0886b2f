//! The value types of the registry of poor households (建档立卡).

use std::fmt;

use pinyin::ToPinyin;
use serde::{Deserialize, Serialize};

/// Why a registry value was refused; the message is for the user (Chinese).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, ValueError> {
    Err(ValueError(msg.into()))
}

/// Declares a closed set of values, each with a storage code, a Chinese label and the other
/// spellings found in the poverty office's exports.
macro_rules! labelled_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($variant:ident = $code:literal, $label:literal $(| $alias:literal)*;)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable code stored in the database and used in the API.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            pub fn label_zh(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }

            /// Parses a Chinese label (or one of its spellings) or a code.
            pub fn parse(input: &str) -> Result<Self, ValueError> {
                let s: String = input.trim().chars().map(|c| match c { '（' => '(', '）' => ')', c => c }).collect();
                match s.as_str() {
                    $($code | $label $(| $alias)* => Ok($name::$variant),)+
                    _ => err(format!(
                        concat!($what, "「{}」无法识别，应为：{}"),
                        input.trim(),
                        [$($label),+].join("、")
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.label_zh())
            }
        }
    };
}

labelled_enum!(
    /// 贫困户属性: the household's poverty category; several policy layers depend on it.
    PovertyCategory, "贫困户属性" {
        General = "general", "一般贫困户" | "一般贫困" | "一般户" | "一般";
        Dibao = "dibao", "低保贫困户" | "低保户" | "低保";
        Tekun = "tekun", "特困供养贫困户" | "特困供养" | "特困" | "五保户" | "五保";
        Orphan = "orphan", "孤儿";
        Monitored = "monitored", "监测对象" | "边缘户" | "边缘易致贫户" | "脱贫不稳定户";
    }
);

labelled_enum!(
    /// 监测对象类别 of 防止返贫动态监测: a household near the monitoring line at risk of falling
    /// (back) into poverty, kept apart from the poverty category it may also have.
    MonitoringCategory, "监测对象类别" {
        Unstable = "unstable", "脱贫不稳定户" | "脱贫不稳定";
        Edge = "edge", "边缘易致贫户" | "边缘易致贫" | "边缘户";
        Sudden = "sudden", "突发严重困难户" | "突发严重困难";
    }
);

labelled_enum!(
    /// Where the lead of a recognition came from (发现方式): a warning rule fired on settled
    /// claims, the household's own report (including the 12317 hotline), a village cadre's
    /// visit, or a department's data screening pushed to the county.
    LeadSource, "线索来源" {
        Rule = "rule", "预警规则" | "系统预警";
        SelfReport = "self_report", "农户自主申报" | "自主申报" | "12317" | "12317热线";
        CadreVisit = "cadre_visit", "村干部走访" | "干部走访" | "走访排查";
        Department = "department", "部门数据筛查" | "部门筛查" | "部门预警";
    }
);

labelled_enum!(
    /// 脱贫状态. A household that has shaken off poverty stays in the programme while the policy
    /// still applies to it (脱贫不脱政策); leaving the programme is a separate exit event.
    PovertyStatus, "脱贫状态" {
        NotLifted = "not_lifted", "未脱贫";
        Lifted = "lifted", "已脱贫" | "脱贫" | "已脱贫(享受政策)" | "脱贫(享受政策)";
        LiftedNoPolicy = "lifted_no_policy", "已脱贫(不享受政策)" | "脱贫(不享受政策)";
        Relapsed = "relapsed", "返贫";
    }
);

labelled_enum!(
    /// 主要致贫原因.
    PovertyCause, "主要致贫原因" {
        Illness = "illness", "因病" | "因病致贫";
        Disability = "disability", "因残" | "因残致贫";
        Schooling = "schooling", "因学" | "因学致贫";
        Disaster = "disaster", "因灾" | "因灾致贫";
        LackLand = "lack_land", "缺土地";
        LackWater = "lack_water", "缺水";
        LackSkills = "lack_skills", "缺技术";
        LackLabour = "lack_labour", "缺劳力" | "缺劳动力";
        LackCapital = "lack_capital", "缺资金";
        Transport = "transport", "交通条件落后" | "交通落后";
        LackMotivation = "lack_motivation", "自身发展动力不足" | "自身发展力不足";
        Other = "other", "其他";
    }
);

labelled_enum!(
    /// 与户主关系.
    Relation, "与户主关系" {
        Head = "head", "户主" | "本人";
        Spouse = "spouse", "配偶" | "之妻" | "之夫" | "妻" | "夫";
        Son = "son", "之子" | "子" | "儿子" | "长子" | "次子";
        Daughter = "daughter", "之女" | "女" | "女儿" | "长女" | "次女";
        DaughterInLaw = "daughter_in_law", "之儿媳" | "儿媳";
        SonInLaw = "son_in_law", "之女婿" | "女婿";
        Grandchild = "grandchild", "之孙子女" | "之孙子" | "之孙女" | "孙子" | "孙女" | "之外孙子女" | "之外孙子" | "之外孙女" | "外孙子" | "外孙女";
        Parent = "parent", "之父母" | "之父" | "之母" | "父亲" | "母亲";
        ParentInLaw = "parent_in_law", "之岳父母" | "之公婆" | "之岳父" | "之岳母" | "之公公" | "之婆婆";
        Grandparent = "grandparent", "之祖父母" | "之祖父" | "之祖母" | "之外祖父" | "之外祖母";
        Sibling = "sibling", "之兄弟姐妹" | "兄弟姐妹" | "之兄" | "之弟" | "之姐" | "之妹";
        Other = "other", "其他" | "其他亲属";
    }
);

/// Level of a medical facility: 1 (township/community), 2 (county), 3 (city and above).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum FacilityLevel {
    One = 1,
    Two = 2,
    Three = 3,
}

impl FacilityLevel {
    pub fn from_number(n: i64) -> Option<Self> {
        match n {
            1 => Some(FacilityLevel::One),
            2 => Some(FacilityLevel::Two),
            3 => Some(FacilityLevel::Three),
            _ => None,
        }
    }

    pub fn parse(input: &str) -> Result<Self, ValueError> {
        match input.trim() {
            "1" | "一级" => Ok(FacilityLevel::One),
            "2" | "二级" => Ok(FacilityLevel::Two),
            "3" | "三级" => Ok(FacilityLevel::Three),
            s => err(format!("医疗机构等级「{s}」应为 1、2 或 3（一级、二级、三级）")),
        }
    }

    pub fn number(self) -> i64 {
        self as i64
    }

    /// 一级, 二级, 三级.
    pub fn label_zh(self) -> &'static str {
        match self {
            FacilityLevel::One => "一级",
            FacilityLevel::Two => "二级",
            FacilityLevel::Three => "三级",
        }
    }
}

const ETHNIC_GROUPS: [&str; 56] = [
    "汉", "蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜", "满", "侗", "瑶", "白", "土家",
    "哈尼", "哈萨克", "傣", "黎", "傈僳", "佤", "畲", "高山", "拉祜", "水", "东乡", "纳西", "景颇",
    "柯尔克孜", "土", "达斡尔", "仫佬", "羌", "布朗", "撒拉", "毛南", "仡佬", "锡伯", "阿昌", "普米",
    "塔吉克", "怒", "乌孜别克", "俄罗斯", "鄂温克", "德昂", "保安", "裕固", "京", "塔塔尔", "独龙",
    "鄂伦春", "赫哲", "门巴", "珞巴", "基诺",
];

/// 民族: one of the 56 ethnic groups (stored as e.g. "汉族"), or 其他/未识别.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ethnicity(String);

impl Ethnicity {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let s = input.trim();
        let bare = s.strip_suffix('族').unwrap_or(s);
        if ETHNIC_GROUPS.contains(&bare) {
            Ok(Ethnicity(format!("{bare}族")))
        } else if matches!(s, "其他" | "未识别民族" | "入籍") {
            Ok(Ethnicity(s.to_string()))
        } else {
            err(format!("民族「{s}」不是 56 个民族之一"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn han() -> Self {
        Ethnicity("汉族".into())
    }
}

/// A person's name: 1–30 characters, letters only (and the middle dot of transliterated names).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PersonName(String);

impl PersonName {
    /// A name as written, with the spaces that carry no meaning taken out: between two Chinese
    /// characters (郭 敏明 is 郭敏明); elsewhere (a name in Latin letters) a run is one space.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let chars: Vec<char> = input.trim().chars().collect();
        let mut s = String::with_capacity(input.len());
        let mut i = 0;
        while i < chars.len() {
            if chars[i].is_whitespace() {
                let end = chars[i..].iter().position(|c| !c.is_whitespace()).map_or(chars.len(), |p| i + p);
                let han = |c: Option<&char>| c.is_some_and(|c| !c.is_ascii() && c.is_alphabetic());
                if !(han(chars.get(i.wrapping_sub(1))) && han(chars.get(end))) {
                    s.push(' ');
                }
                i = end;
            } else {
                s.push(chars[i]);
                i += 1;
            }
        }
        let s = s.as_str();
        let n = s.chars().count();
        if n == 0 {
            return err("姓名不能为空");
        }
        if n > 30 {
            return err(format!("姓名过长（{n} 个字，最多 30 个）"));
        }
        if let Some(c) = s.chars().find(|c| !(c.is_alphabetic() || matches!(c, '·' | '•' | ' '))) {
            return err(format!("姓名含有不允许的字符「{c}」"));
        }
        Ok(PersonName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn initials(&self) -> String {
        pinyin_initials(&self.0)
    }
}

/// The lower-case pinyin initials of a name, so that typing `zs` finds 张三.
pub fn pinyin_initials(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c.to_pinyin() {
            Some(p) => p.first_letter().chars().next(),
            None if c.is_ascii_alphabetic() => Some(c.to_ascii_lowercase()),
            None => None,
        })
        .collect()
}

/// 户编号: the household number given by the poverty office (letters, digits and hyphens).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HouseholdNo(String);

impl HouseholdNo {
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let s = input.trim();
        if s.is_empty() {
            return err("户编号不能为空");
        }
        if s.len() > 32 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return err(format!("户编号「{s}」应为不超过 32 位的字母、数字或连字符"));
        }
        Ok(HouseholdNo(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HouseholdNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mainland mobile (11 digits starting with 1) or landline (area code and number) phone number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Phone(String);

/// A full-width ASCII character (`３`, `Ｘ`, `－`, as Chinese input methods type them) as its
/// ASCII form; any other character as it is.
pub fn halfwidth(c: char) -> char {
    match c {
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
        c => c,
    }
}

impl Phone {
    /// A mobile or landline number, kept as written (`0539-8123456` stays so; spaces go,
    /// full-width digits become ASCII).
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let written: String = input
            .trim()
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| if c == '—' { '-' } else { halfwidth(c) })
            .collect();
        let s: String = written.chars().filter(|c| *c != '-').collect();
        let digits = s.bytes().all(|b| b.is_ascii_digit());
        let mobile = s.len() == 11 && s.starts_with('1') && s.as_bytes()[1] >= b'3';
        let landline = s.starts_with('0') && (10..=12).contains(&s.len());
        if digits && (mobile || landline) && !written.starts_with('-') && !written.ends_with('-') && !written.contains("--") {
            Ok(Phone(written))
        } else {
            err(format!("联系电话「{}」不是有效的手机号或固定电话", input.trim()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_parse_from_the_export_labels() {
        assert_eq!(PovertyCategory::parse("低保贫困户"), Ok(PovertyCategory::Dibao));
        assert_eq!(PovertyCategory::parse(" 特困供养贫困户 "), Ok(PovertyCategory::Tekun));
        assert_eq!(PovertyCategory::parse("general"), Ok(PovertyCategory::General));
        let e = PovertyCategory::parse("富裕户").unwrap_err();
        assert!(e.0.contains("富裕户") && e.0.contains("一般贫困户"), "{e}");
        assert_eq!(PovertyStatus::parse("已脱贫（享受政策）"), Ok(PovertyStatus::Lifted));
        assert_eq!(PovertyCause::parse("因病致贫"), Ok(PovertyCause::Illness));
        assert_eq!(Relation::parse("之子"), Ok(Relation::Son));
        for c in PovertyCategory::ALL {
            assert_eq!(PovertyCategory::from_code(c.code()), Some(*c));
            assert_eq!(PovertyCategory::parse(c.label_zh()), Ok(*c));
        }
    }

    #[test]
    fn names_and_initials() {
        assert_eq!(pinyin_initials("张三"), "zs");
        assert_eq!(pinyin_initials("欧阳娜娜"), "oynn");
        assert_eq!(PersonName::parse("阿依古丽·买买提").unwrap().initials(), "aygl mmt".replace(' ', ""));
        assert!(PersonName::parse("").is_err());
        assert!(PersonName::parse("张3").is_err());
    }

    #[test]
    fn other_values() {
        assert_eq!(Ethnicity::parse("回").unwrap().as_str(), "回族");
        assert!(Ethnicity::parse("火星族").is_err());
        assert!(Phone::parse("138 0013 8000").is_ok());
        assert!(Phone::parse("0539-8123456").is_ok());
        assert!(Phone::parse("12345").is_err());
        assert!(HouseholdNo::parse("3713021042030001").is_ok());
        assert!(HouseholdNo::parse("户1").is_err());
        assert_eq!(FacilityLevel::parse("二级"), Ok(FacilityLevel::Two));
    }
}

/// A registered poor household as the roster describes it (一户一档's basic information).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Household {
    pub no: HouseholdNo,
    pub region: crate::RegionCode,
    pub head_name: PersonName,
    pub category: PovertyCategory,
    pub status: PovertyStatus,
    pub cause: PovertyCause,
    pub phone: Option<Phone>,
}

/// A member of a registered household. Sex and birth date come from the ID number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Person {
    pub id_number: crate::IdNumber,
    pub household_no: HouseholdNo,
    pub name: PersonName,
    pub relation: Relation,
    pub ethnicity: Ethnicity,
    pub phone: Option<Phone>,
}

/// A region of the division tree with its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Region {
    pub code: crate::RegionCode,
    pub name: String,
}

/// A medical facility (医疗机构).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Facility {
    pub code: String,
    pub name: String,
    pub level: FacilityLevel,
    /// 县级医院, 乡镇卫生院, 村卫生室, 市级医院, ...
    pub kind: String,
    pub region: crate::RegionCode,
    /// Designated for the poverty programme (定点救治医院).
    pub designated: bool,
    pub poverty_beds: u32,
}

#[cfg(test)]
mod written_as_typed {
    use super::*;

    #[test]
    fn names_lose_only_meaningless_spaces() {
        assert_eq!(PersonName::parse("郭 敏明").unwrap().as_str(), "郭敏明");
        assert_eq!(PersonName::parse(" 郭\u{3000}敏  明 ").unwrap().as_str(), "郭敏明");
        assert_eq!(PersonName::parse("阿依古丽·买买提").unwrap().as_str(), "阿依古丽·买买提");
        assert_eq!(PersonName::parse("Ayi   Mu").unwrap().as_str(), "Ayi Mu");
        assert_eq!(PersonName::parse("郭 Li").unwrap().as_str(), "郭 Li");
    }

    #[test]
    fn phones_are_kept_as_written() {
        assert_eq!(Phone::parse("0539-8123456").unwrap().as_str(), "0539-8123456");
        assert_eq!(Phone::parse("１３８ ０５３９ １２３４").unwrap().as_str(), "13805391234");
        assert!(Phone::parse("0539--8123456").is_err());
        assert!(Phone::parse("-05398123456").is_err());
        assert!(Phone::parse("12345").is_err());
    }
}
