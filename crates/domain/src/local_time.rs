//! People's time. Everything a person sees or means by "today" — due dates, default periods and
//! years, import dates, times on a bill or in the audit log — is Beijing time (Asia/Shanghai, UTC+8
//! all year: China has kept no daylight saving time since 1991), whatever zone the server runs
//! in. Storage keeps UTC. These are pure conversions; the clock is read at the edges
//! (`huimin_app::clock`).

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};

use crate::Date;

/// Asia/Shanghai.
pub fn zone() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// The date in Beijing at the instant `t`.
pub fn local_date(t: DateTime<Utc>) -> Date {
    t.with_timezone(&zone()).date_naive()
}

/// The wall-clock time in Beijing at the instant `t`.
pub fn local_datetime(t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&zone()).naive_local()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn beijing_is_ahead_of_utc_by_eight_hours() {
        // 16:30 UTC on New Year's Eve is already the new year in Beijing.
        let t = Utc.with_ymd_and_hms(2025, 12, 31, 16, 30, 0).unwrap();
        assert_eq!(local_date(t), Date::from_ymd_opt(2026, 1, 1).unwrap());
        assert_eq!(local_datetime(t).to_string(), "2026-01-01 00:30:00");
        let t = Utc.with_ymd_and_hms(2026, 6, 1, 15, 59, 59).unwrap();
        assert_eq!(local_date(t), Date::from_ymd_opt(2026, 6, 1).unwrap());
    }
}
