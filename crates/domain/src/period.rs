//! Reporting periods: a month, a quarter, a year, or any span of days.

use serde::Serialize;

use crate::Date;
use crate::registry::{ValueError, err};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Period {
    pub from: Date,
    pub to: Date,
}

impl Period {
    /// `2025`, `2025-03`, `2025-Q1` or `2025-01-01..2025-06-30`.
    pub fn parse(input: &str) -> Result<Period, ValueError> {
        let s = input.trim();
        let bad = || err(format!("统计期「{s}」应为 2025、2025-03、2025-Q1 或 2025-01-01..2025-06-30"));
        let ymd = |y: i32, m: u32, d: u32| Date::from_ymd_opt(y, m, d);
        let month_end = |y: i32, m: u32| if m == 12 { ymd(y, 12, 31) } else { ymd(y, m + 1, 1).and_then(|d| d.pred_opt()) };
        let period = if let Some((a, b)) = s.split_once("..") {
            match (Date::parse_from_str(a.trim(), "%Y-%m-%d"), Date::parse_from_str(b.trim(), "%Y-%m-%d")) {
                (Ok(from), Ok(to)) if from <= to => Some(Period { from, to }),
                (Ok(_), Ok(_)) => return err(format!("统计期「{s}」的结束早于开始")),
                _ => None,
            }
        } else if let Some((y, q)) = s.split_once("-Q").or_else(|| s.split_once("-q")) {
            match (y.parse::<i32>(), q.parse::<u32>()) {
                (Ok(y), Ok(q @ 1..=4)) => ymd(y, q * 3 - 2, 1).zip(month_end(y, q * 3)).map(|(from, to)| Period { from, to }),
                _ => None,
            }
        } else if let Some((y, m)) = s.split_once('-') {
            match (y.parse::<i32>(), m.parse::<u32>()) {
                (Ok(y), Ok(m @ 1..=12)) if m.to_string().len() <= 2 => ymd(y, m, 1).zip(month_end(y, m)).map(|(from, to)| Period { from, to }),
                _ => None,
            }
        } else {
            s.parse::<i32>().ok().filter(|y| (1900..=2200).contains(y)).and_then(|y| ymd(y, 1, 1).zip(ymd(y, 12, 31))).map(|(from, to)| Period { from, to })
        };
        match period {
            Some(p) => Ok(p),
            None => bad(),
        }
    }

    pub fn year(y: i32) -> Period {
        Period::parse(&y.to_string()).unwrap_or(Period { from: Date::MIN, to: Date::MAX })
    }

    /// The first and last months (`YYYY-MM`) when the period is whole months, else `None`.
    pub fn whole_months(&self) -> Option<(String, String)> {
        let next = self.to.succ_opt()?;
        (chrono::Datelike::day(&self.from) == 1 && chrono::Datelike::day(&next) == 1)
            .then(|| (self.from.format("%Y-%m").to_string(), self.to.format("%Y-%m").to_string()))
    }

    /// How the period is written back (`2025`, `2025-03`, `2025-Q1` or the span).
    pub fn label(&self) -> String {
        use chrono::Datelike;
        let (f, t) = (self.from, self.to);
        let same_year = f.year() == t.year();
        if same_year && f.ordinal() == 1 && t.month() == 12 && t.day() == 31 {
            format!("{}", f.year())
        } else if same_year && f.day() == 1 && f.month() == t.month() && Period::parse(&format!("{}-{:02}", f.year(), f.month())).ok() == Some(*self) {
            format!("{}-{:02}", f.year(), f.month())
        } else if same_year && f.day() == 1 && (f.month() - 1) % 3 == 0 && Period::parse(&format!("{}-Q{}", f.year(), (f.month() + 2) / 3)).ok() == Some(*self) {
            format!("{}-Q{}", f.year(), (f.month() + 2) / 3)
        } else {
            format!("{f}..{t}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn whole_months_only_for_periods_of_whole_months() {
        assert_eq!(Period::parse("2025").unwrap().whole_months(), Some(("2025-01".into(), "2025-12".into())));
        assert_eq!(Period::parse("2024-02").unwrap().whole_months(), Some(("2024-02".into(), "2024-02".into())));
        assert_eq!(Period::parse("2025-02-01..2025-04-30").unwrap().whole_months(), Some(("2025-02".into(), "2025-04".into())));
        assert_eq!(Period::parse("2025-01-02..2025-04-30").unwrap().whole_months(), None);
        assert_eq!(Period::parse("2025-01-01..2025-04-29").unwrap().whole_months(), None);
    }

    #[test]
    fn periods_parse_and_print_back() {
        for (text, from, to) in [
            ("2024", "2024-01-01", "2024-12-31"),
            ("2024-02", "2024-02-01", "2024-02-29"),
            ("2025-Q4", "2025-10-01", "2025-12-31"),
            ("2025-03-05..2025-04-01", "2025-03-05", "2025-04-01"),
        ] {
            let p = Period::parse(text).unwrap();
            assert_eq!((p.from, p.to), (d(from), d(to)), "{text}");
            assert_eq!(p.label(), text);
        }
        for bad in ["", "24", "2024-13", "2024-Q5", "2025-04-01..2025-03-01", "last year"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }
}
