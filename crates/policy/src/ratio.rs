//! Exact ratios: decimals with up to six places, held as parts per million.

use std::fmt;

use huimin_domain::Money;
use serde::Serialize;

pub const ONE: u32 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default, utoipa::ToSchema)]
pub struct Ratio(u32);

impl Ratio {
    pub const ZERO: Ratio = Ratio(0);
    pub const FULL: Ratio = Ratio(ONE);

    /// "0.85", "85%", "1", "0.125". Must lie in [0, 1] and have at most six decimal places
    /// (four with %).
    pub fn parse(input: &str) -> Result<Ratio, String> {
        let s = input.trim();
        let (digits, scale) = match s.strip_suffix('%') {
            Some(p) => (p.trim(), 2),
            None => (s, 0),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && frac.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || whole.len() > 7
        {
            return Err(format!("「{s}」不是比例（例如 0.85 或 85%）"));
        }
        if frac.len() + scale > 6 {
            return Err(format!("比例「{s}」小数位过多（最多百万分之一）"));
        }
        let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| format!("「{s}」不是比例"))? };
        let frac_val: u64 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| format!("「{s}」不是比例"))? };
        let ppm = whole * 10u64.pow(6 - scale as u32) + frac_val * 10u64.pow((6 - scale - frac.len()) as u32);
        if ppm > u64::from(ONE) {
            return Err(format!("比例 {s} 超出 0–1 的范围"));
        }
        Ok(Ratio(ppm as u32))
    }

    pub fn ppm(self) -> u32 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `amount × ratio`, rounded half-up to the fen.
    pub fn of(self, amount: Money) -> Money {
        round_ppm(i128::from(amount.fen()) * i128::from(self.0))
    }
}

/// Rounds an amount in fen × 10⁻⁶ half-up to whole fen (amounts are never negative).
pub fn round_ppm(micro_fen: i128) -> Money {
    let fen = (micro_fen.max(0) + i128::from(ONE / 2)) / i128::from(ONE);
    Money::from_fen(i64::try_from(fen).unwrap_or(i64::MAX)).unwrap_or(Money::ZERO)
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = self.0 as f64 / 10_000.0;
        write!(f, "{}%", (pct * 10_000.0).round() / 10_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(Ratio::parse("0.85").unwrap().ppm(), 850_000);
        assert_eq!(Ratio::parse("85%").unwrap().ppm(), 850_000);
        assert_eq!(Ratio::parse("1").unwrap(), Ratio::FULL);
        assert_eq!(Ratio::parse("12.5%").unwrap().ppm(), 125_000);
        assert_eq!(Ratio::parse(".5").unwrap().ppm(), 500_000);
        assert!(Ratio::parse("1.5").unwrap_err().contains("超出"));
        assert!(Ratio::parse("150%").is_err());
        assert!(Ratio::parse("-0.1").is_err());
        assert!(Ratio::parse("0.1234567").is_err());
        assert!(Ratio::parse("abc").is_err());
        assert_eq!(Ratio::parse("85%").unwrap().to_string(), "85%");
    }

    #[test]
    fn rounds_half_up_per_fen() {
        let r = Ratio::parse("0.75").unwrap();
        assert_eq!(r.of(Money::from_fen(44_200).unwrap()).fen(), 33_150);
        assert_eq!(r.of(Money::from_fen(1).unwrap()).fen(), 1, "0.75 fen rounds up");
        assert_eq!(Ratio::parse("0.5").unwrap().of(Money::from_fen(1).unwrap()).fen(), 1, "half rounds up");
        assert_eq!(Ratio::parse("0.4").unwrap().of(Money::from_fen(1).unwrap()).fen(), 0);
    }
}
