use std::fmt;
use std::iter::Sum;
use std::ops::Add;

use serde::{Deserialize, Serialize};

/// An amount of money in fen (分), never negative. Parsed from yuan with at most two decimals;
/// no floating point anywhere.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Money(i64);

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::fen()
    }
}
impl utoipa::ToSchema for Money {}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("金额不能为负数")]
    Negative,
    #[error("金额「{0}」格式错误（应为元，最多两位小数，例如 1234.50）")]
    Format(String),
    #[error("金额过大")]
    Overflow,
}

/// Larger than any real claim (10^13 yuan) and small enough that sums of millions never overflow.
const MAX_FEN: i64 = 1_000_000_000_000_000;

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn from_fen(fen: i64) -> Result<Self, MoneyError> {
        if fen < 0 {
            Err(MoneyError::Negative)
        } else if fen > MAX_FEN {
            Err(MoneyError::Overflow)
        } else {
            Ok(Money(fen))
        }
    }

    pub fn from_yuan(yuan: i64) -> Result<Self, MoneyError> {
        yuan.checked_mul(100).ok_or(MoneyError::Overflow).and_then(Self::from_fen)
    }

    pub fn fen(self) -> i64 {
        self.0
    }

    /// The amount in capitals as on a receipt (人民币大写, after 中国人民银行《正确填写票据和结算凭证
    /// 的基本规定》): 壹拾万零壹拾元零伍分, 壹佰万元整, 伍角. Exact to the fen.
    pub fn in_capitals(self) -> String {
        const DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
        const IN_GROUP: [&str; 4] = ["仟", "佰", "拾", ""];
        const GROUPS: [&str; 4] = ["", "万", "亿", "万亿"];
        let (yuan, jiao, fen) = (self.0 / 100, (self.0 / 10 % 10) as usize, (self.0 % 10) as usize);
        let mut out = String::new();
        // Four-digit groups, highest first; a run of zeros between digits is one 零.
        let groups: Vec<i64> = (0..4).rev().map(|i| yuan / 10_000i64.pow(i as u32) % 10_000).collect();
        let mut zero = false;
        for (i, g) in groups.iter().enumerate() {
            if *g == 0 {
                zero |= !out.is_empty();
                continue;
            }
            if !out.is_empty() && (zero || *g < 1000) {
                out.push('零');
            }
            zero = false;
            let mut gap = false;
            let mut started = false;
            for (k, d) in [g / 1000, g / 100 % 10, g / 10 % 10, g % 10].into_iter().enumerate() {
                if d == 0 {
                    gap |= started;
                } else {
                    if gap {
                        out.push('零');
                        gap = false;
                    }
                    out.push(DIGITS[d as usize]);
                    out.push_str(IN_GROUP[k]);
                    started = true;
                }
            }
            out.push_str(GROUPS[3 - i]);
        }
        match (yuan > 0, jiao, fen) {
            (false, 0, 0) => return "零元整".into(),
            (true, 0, 0) => return out + "元整",
            (true, _, _) => {
                out.push('元');
                if yuan % 10 == 0 || jiao == 0 {
                    out.push('零');
                }
            }
            (false, _, _) => {}
        }
        if jiao > 0 {
            out.push(DIGITS[jiao]);
            out.push('角');
        }
        if fen > 0 {
            out.push(DIGITS[fen]);
            out.push('分');
        }
        out
    }

    /// Parses "1234", "1234.5", "1,234.50" or "¥1234.50" (yuan).
    pub fn parse_yuan(input: &str) -> Result<Self, MoneyError> {
        let written = input.trim().trim_start_matches(['¥', '￥']);
        let bad = || MoneyError::Format(input.trim().to_string());
        // A comma only separates thousands (1,234.50); `1234,50` is a decimal comma, not 123,450.
        let whole_written = written.split('.').next().unwrap_or("");
        if whole_written.contains(',') {
            let groups: Vec<&str> = whole_written.split(',').collect();
            if !(1..=3).contains(&groups[0].len()) || groups[1..].iter().any(|g| g.len() != 3) {
                return Err(bad());
            }
        }
        let s: String = written.chars().filter(|c| *c != ',').collect();
        if s.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
        if whole.is_empty() && frac.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 2
            || whole.len() > 15
        {
            return Err(bad());
        }
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
        let frac: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().map_err(|_| bad())? * 10,
            _ => frac.parse().map_err(|_| bad())?,
        };
        Self::from_fen(whole.checked_mul(100).and_then(|f| f.checked_add(frac)).ok_or(MoneyError::Overflow)?)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        Money::from_fen(self.0.checked_add(other.0)?).ok()
    }

    /// `None` when the result would be negative.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        Money::from_fen(self.0 - other.0).ok()
    }

    pub fn saturating_sub(self, other: Money) -> Money {
        Money((self.0 - other.0).max(0))
    }

    pub fn min(self, other: Money) -> Money {
        Money(self.0.min(other.0))
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl Add for Money {
    type Output = Money;
    /// Saturates at the largest amount rather than wrapping; real sums never get near it.
    fn add(self, other: Money) -> Money {
        Money((self.0 + other.0).min(MAX_FEN))
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

/// Yuan with two decimals: `1234.50`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "¥{self}")
    }
}

impl TryFrom<i64> for Money {
    type Error = MoneyError;
    fn try_from(fen: i64) -> Result<Self, Self::Error> {
        Self::from_fen(fen)
    }
}

impl From<Money> for i64 {
    fn from(m: Money) -> i64 {
        m.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_in_capitals() {
        let c = |yuan: &str| Money::parse_yuan(yuan).unwrap().in_capitals();
        for (amount, words) in [
            ("0", "零元整"),
            ("0.01", "壹分"),
            ("0.5", "伍角"),
            ("0.56", "伍角陆分"),
            ("10", "壹拾元整"),
            ("15", "壹拾伍元整"),
            ("100", "壹佰元整"),
            ("105.3", "壹佰零伍元叁角"),
            ("325.04", "叁佰贰拾伍元零肆分"),
            ("1409.50", "壹仟肆佰零玖元伍角"),
            ("1680.32", "壹仟陆佰捌拾元零叁角贰分"),
            ("6007.14", "陆仟零柒元壹角肆分"),
            ("10500", "壹万零伍佰元整"),
            ("100010.05", "壹拾万零壹拾元零伍分"),
            ("107000.53", "壹拾万柒仟元零伍角叁分"),
            ("1000000", "壹佰万元整"),
            ("1001000", "壹佰万壹仟元整"), // a zero where 万 is written needs no 零 (the rules allow both)
            ("100000001", "壹亿零壹元整"),
            ("230456789.01", "贰亿叁仟零肆拾伍万陆仟柒佰捌拾玖元零壹分"),
            ("10000000000000", "壹拾万亿元整"),
        ] {
            assert_eq!(c(amount), words, "{amount}");
        }
    }

    #[test]
    fn parses_yuan_exactly() {
        assert_eq!(Money::parse_yuan("1234.5").unwrap().fen(), 123_450);
        assert_eq!(Money::parse_yuan("1,234.05").unwrap().fen(), 123_405);
        assert_eq!(Money::parse_yuan("￥0.1").unwrap().fen(), 10);
        assert_eq!(Money::parse_yuan(".99").unwrap().fen(), 99);
        assert_eq!(Money::parse_yuan("7").unwrap().to_string(), "7.00");
        assert_eq!(Money::parse_yuan("-1"), Err(MoneyError::Negative));
        assert!(matches!(Money::parse_yuan("1.234"), Err(MoneyError::Format(_))));
        assert!(matches!(Money::parse_yuan("1e3"), Err(MoneyError::Format(_))));
        assert!(matches!(Money::parse_yuan(""), Err(MoneyError::Format(_))));
        for decimal_comma in ["1234,50", "1,23", ",5", "12,3456.00", "1,,234"] {
            assert!(matches!(Money::parse_yuan(decimal_comma), Err(MoneyError::Format(_))), "{decimal_comma}");
        }
        assert_eq!(Money::parse_yuan("1,234,567.89").unwrap().fen(), 123_456_789);
        assert!(matches!(Money::parse_yuan("."), Err(MoneyError::Format(_))));
    }

    proptest! {
        #[test]
        fn display_round_trips(fen in 0i64..MAX_FEN) {
            let m = Money::from_fen(fen).unwrap();
            prop_assert_eq!(Money::parse_yuan(&m.to_string()).unwrap(), m);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = Money::parse_yuan(&s);
        }
    }
}
