use std::fmt;
use std::iter::Sum;
use std::ops::Add;

use serde::{Deserialize, Serialize};

/// An amount of money in fen (分), never negative. Parsed from yuan with at most two decimals;
/// no floating point anywhere.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Money(i64);

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

    /// Parses "1234", "1234.5", "1,234.50" or "¥1234.50" (yuan).
    pub fn parse_yuan(input: &str) -> Result<Self, MoneyError> {
        let s: String = input.trim().trim_start_matches(['¥', '￥']).chars().filter(|c| *c != ',').collect();
        let bad = || MoneyError::Format(input.trim().to_string());
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
