//! How numbers, money, rates, dates and times are written for people — one way everywhere: pages,
//! printed documents, reports and exports meant for reading. (Files meant for machines keep the
//! plain forms: `Money`'s `Display` is `1234.50`, dates are ISO.)
//!
//! - Money: `¥1,234.50` — the yuan sign, thousands separators, two decimals.
//! - Counts: `12,345`.
//! - Rates: one decimal, half up, from integers: `41.9%`; no whole → `—`.
//! - Dates: `2026-12-01` in tables and forms, `2026年12月1日` in running text and documents.
//! - Times: Beijing time to the minute (`local_time::stored_time_text`).

use crate::{Date, Money};

/// Groups the digits of a whole number in threes: `1234567` → `1,234,567`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `¥1,234.50`.
pub fn yuan(m: Money) -> String {
    yuan_fen(m.fen())
}

/// An amount in fen that may be negative (a difference, a reversal): `-¥12.30`.
pub fn yuan_fen(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}¥{}.{:02}", count((abs / 100) as i64), abs % 100)
}

/// `part / whole` as a percentage with one decimal, rounded half up in integers; `—` without a whole.
pub fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "—".into();
    }
    // Tenths of a percent: part × 1000 / whole, half up, on magnitudes.
    let negative = (part < 0) != (whole < 0) && part != 0;
    let (p, w) = (i128::from(part).abs(), i128::from(whole).abs());
    let tenths = (p * 2000 + w) / (2 * w);
    format!("{}{}.{}%", if negative { "-" } else { "" }, tenths / 10, tenths % 10)
}

/// A rate kept in hundredths of a percent (basis points ÷ 100): `4186` → `41.9%`.
pub fn percent_hundredths(hundredths: i64) -> String {
    percent(hundredths, 10_000)
}

/// `2026年12月1日`.
pub fn date_cn(d: Date) -> String {
    use chrono::Datelike;
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_counts_rates_and_dates_are_written_one_way() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(-1000), "-1,000");
        assert_eq!(count(i64::MIN), "-9,223,372,036,854,775,808");
        assert_eq!(yuan(Money::from_fen(2_341_351_440).unwrap()), "¥23,413,514.40");
        assert_eq!(yuan(Money::ZERO), "¥0.00");
        assert_eq!(yuan(Money::from_fen(5).unwrap()), "¥0.05");
        assert_eq!(yuan_fen(-1230), "-¥12.30");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(2, 3), "66.7%");
        assert_eq!(percent(4186, 10_000), "41.9%");
        assert_eq!(percent(1, 2000), "0.1%", "half up");
        assert_eq!(percent(1, 2001), "0.0%");
        assert_eq!(percent(10382, 10_000), "103.8%");
        assert_eq!(percent(5, 0), "—");
        assert_eq!(percent(-1, 4), "-25.0%");
        assert_eq!(percent(i64::MAX, 1), format!("{}.0%", i128::from(i64::MAX) * 100));
        assert_eq!(percent_hundredths(4186), "41.9%");
        assert_eq!(date_cn(Date::from_ymd_opt(2026, 12, 1).unwrap()), "2026年12月1日");
    }
}
