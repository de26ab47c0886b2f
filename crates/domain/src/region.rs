use std::fmt;

use serde::{Deserialize, Serialize};

/// A statistical division code: 12 digits, province 2 + city 2 + county 2 + township 3 +
/// village 3. The first 6 are the GB/T 2260 county code. A code's level is the last non-zero
/// segment; all segments after it are zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum RegionLevel {
    Province = 1,
    City = 2,
    County = 3,
    Township = 4,
    Village = 5,
}

impl RegionLevel {
    pub fn label_zh(self) -> &'static str {
        match self {
            RegionLevel::Province => "省",
            RegionLevel::City => "市",
            RegionLevel::County => "县",
            RegionLevel::Township => "乡镇",
            RegionLevel::Village => "村",
        }
    }

    pub fn from_number(n: i64) -> Option<RegionLevel> {
        Some(match n {
            1 => RegionLevel::Province,
            2 => RegionLevel::City,
            3 => RegionLevel::County,
            4 => RegionLevel::Township,
            5 => RegionLevel::Village,
            _ => return None,
        })
    }

    /// How many leading digits of the 12 identify a region of this level.
    pub fn digits(self) -> usize {
        match self {
            RegionLevel::Province => 2,
            RegionLevel::City => 4,
            RegionLevel::County => 6,
            RegionLevel::Township => 9,
            RegionLevel::Village => 12,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionCodeError {
    #[error("区划代码「{0}」应为 12 位数字（或 2/4/6/9 位的上级代码）")]
    Format(String),
    #[error("区划代码「{0}」的省级代码不存在（应在 11–82 之间）")]
    Province(String),
    #[error("区划代码「{0}」的层级不连续（上级一段为 0 而下级不为 0）")]
    Gap(String),
}

const SEGMENTS: [(usize, usize); 5] = [(0, 2), (2, 4), (4, 6), (6, 9), (9, 12)];

impl RegionCode {
    /// Accepts 12 digits, or a 2-, 4-, 6- or 9-digit prefix that is padded with zeros.
    pub fn parse(input: &str) -> Result<Self, RegionCodeError> {
        let s = input.trim();
        let fmt_err = || RegionCodeError::Format(s.to_string());
        if !matches!(s.len(), 2 | 4 | 6 | 9 | 12) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fmt_err());
        }
        let padded = format!("{s:0<12}");
        let province: u32 = padded[..2].parse().map_err(|_| fmt_err())?;
        if !(11..=82).contains(&province) {
            return Err(RegionCodeError::Province(s.to_string()));
        }
        let mut seen_zero = false;
        for (a, b) in SEGMENTS {
            let zero = padded[a..b].bytes().all(|c| c == b'0');
            if seen_zero && !zero {
                return Err(RegionCodeError::Gap(s.to_string()));
            }
            seen_zero |= zero;
        }
        Ok(RegionCode(padded.parse().map_err(|_| fmt_err())?))
    }

    pub fn level(self) -> RegionLevel {
        let s = self.to_string();
        let levels = [RegionLevel::Province, RegionLevel::City, RegionLevel::County, RegionLevel::Township];
        for (i, level) in levels.into_iter().enumerate() {
            let (_, end) = SEGMENTS[i];
            if s[end..].bytes().all(|c| c == b'0') {
                return level;
            }
        }
        RegionLevel::Village
    }

    /// The region one level up; `None` for a province.
    pub fn parent(self) -> Option<RegionCode> {
        let level = self.level();
        if level == RegionLevel::Province {
            return None;
        }
        let keep = match level {
            RegionLevel::City => 2,
            RegionLevel::County => 4,
            RegionLevel::Township => 6,
            _ => 9,
        };
        Some(self.truncated(keep))
    }

    /// The ancestor of this code at `level` (itself if it is at that level), `None` if `level` is below it.
    pub fn ancestor(self, level: RegionLevel) -> Option<RegionCode> {
        (level <= self.level()).then(|| self.truncated(level.digits()))
    }

    /// The twelve digits as a number (for keys that must be cheap to build).
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The digits that identify this region: a prefix shared by every code inside it.
    pub fn prefix(&self) -> String {
        let s = self.to_string();
        s[..self.level().digits()].to_string()
    }

    /// Whether `other` is this region or lies inside it.
    pub fn contains(self, other: RegionCode) -> bool {
        other.to_string().starts_with(&self.prefix())
    }

    /// The child code with the given segment number (e.g. village 7 of a township).
    pub fn child(self, n: u32) -> Option<RegionCode> {
        let level = self.level();
        if level == RegionLevel::Village || n == 0 {
            return None;
        }
        let width = if level >= RegionLevel::County { 3 } else { 2 };
        if n >= 10u32.pow(width as u32) {
            return None;
        }
        let code = format!("{}{n:0width$}", self.prefix());
        RegionCode::parse(&code).ok()
    }

    fn truncated(self, digits: usize) -> RegionCode {
        let s = self.to_string();
        RegionCode(format!("{:0<12}", &s[..digits]).parse().expect("digits"))
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012}", self.0)
    }
}

impl fmt::Debug for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegionCode({self})")
    }
}

impl TryFrom<String> for RegionCode {
    type Error = RegionCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RegionCode> for String {
    fn from(c: RegionCode) -> String {
        c.to_string()
    }
}

impl utoipa::PartialSchema for RegionCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::text("^[0-9]{12}$", "A 12-digit statistical division code (the first 6: the GB/T 2260 county)")
    }
}
impl utoipa::ToSchema for RegionCode {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn levels_and_parents() {
        let village = RegionCode::parse("371302104203").unwrap();
        assert_eq!(village.level(), RegionLevel::Village);
        let township = village.parent().unwrap();
        assert_eq!(township.to_string(), "371302104000");
        assert_eq!(township.level(), RegionLevel::Township);
        let county = township.parent().unwrap();
        assert_eq!(county, RegionCode::parse("371302").unwrap());
        assert_eq!(county.level(), RegionLevel::County);
        assert_eq!(county.parent().unwrap().level(), RegionLevel::City);
        let province = county.parent().unwrap().parent().unwrap();
        assert_eq!(province.to_string(), "370000000000");
        assert_eq!(province.parent(), None);
        assert!(county.contains(village));
        assert!(!village.contains(county));
        assert_eq!(village.ancestor(RegionLevel::County), Some(county));
        assert_eq!(county.ancestor(RegionLevel::Village), None);
        assert_eq!(county.child(7).unwrap().to_string(), "371302007000");
    }

    #[test]
    fn rejects_malformed_codes() {
        assert!(matches!(RegionCode::parse("37130210420"), Err(RegionCodeError::Format(_))));
        assert!(matches!(RegionCode::parse("3713021042a3"), Err(RegionCodeError::Format(_))));
        assert!(matches!(RegionCode::parse("991302104203"), Err(RegionCodeError::Province(_))));
        assert!(matches!(RegionCode::parse("371300104203"), Err(RegionCodeError::Gap(_))));
    }

    proptest! {
        #[test]
        fn every_ancestor_contains_the_code(p in 11u64..=82, c in 0u64..100, k in 0u64..100, t in 0u64..1000, v in 0u64..1000) {
            let s = format!("{p:02}{c:02}{k:02}{t:03}{v:03}");
            if let Ok(code) = RegionCode::parse(&s) {
                let mut up = code.parent();
                while let Some(a) = up {
                    prop_assert!(a.contains(code));
                    prop_assert!(a.level() < code.level());
                    up = a.parent();
                }
                prop_assert_eq!(RegionCode::parse(&code.to_string()).unwrap(), code);
            }
        }
    }
}
