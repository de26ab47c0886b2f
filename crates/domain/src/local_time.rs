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

/// A time as stored (RFC 3339 in UTC, e.g. `2026-12-01T07:41:48.191843Z`) as people read it:
/// Beijing time to the minute, `2026-12-01 15:41`. Text that is not such a time is shown as it is.
pub fn stored_time_text(stored: &str) -> String {
    match DateTime::parse_from_rfc3339(stored.trim()) {
        Ok(t) => local_datetime(t.with_timezone(&Utc)).format("%Y-%m-%d %H:%M").to_string(),
        Err(_) => stored.to_string(),
    }
}

/// A stored time to the second, for records where seconds matter (the audit log):
/// `2026-12-01 15:41:48`.
pub fn stored_time_seconds(stored: &str) -> String {
    match DateTime::parse_from_rfc3339(stored.trim()) {
        Ok(t) => local_datetime(t.with_timezone(&Utc)).format("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => stored.to_string(),
    }
}

/// A Beijing wall-clock time as stored (UTC), to the second, without the zone letter.
fn stored_second(local: NaiveDateTime) -> String {
    (local - chrono::Duration::seconds(i64::from(zone().local_minus_utc()))).format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The first instant of a Beijing date, as stored (UTC, RFC 3339): `2026-12-01` → `2026-11-30T16:00:00Z`.
pub fn day_start_stored(d: Date) -> String {
    format!("{}Z", stored_second(d.and_hms_opt(0, 0, 0).expect("midnight exists")))
}

/// The last second of a Beijing date as stored, a prefix of every stored time within it:
/// `2026-12-01` → `2026-12-01T15:59:59`.
pub fn day_last_second_stored(d: Date) -> String {
    stored_second(d.and_hms_opt(23, 59, 59).expect("the day's last second exists"))
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
        assert_eq!(stored_time_text("2026-12-01T07:41:48.191843Z"), "2026-12-01 15:41");
        assert_eq!(stored_time_text("2026-12-31T16:05:00+00:00"), "2027-01-01 00:05");
        assert_eq!(stored_time_text("昨天"), "昨天");
        assert_eq!(stored_time_seconds("2026-12-01T07:41:48.191843Z"), "2026-12-01 15:41:48");
        assert_eq!(day_start_stored(Date::from_ymd_opt(2026, 12, 1).unwrap()), "2026-11-30T16:00:00Z");
        assert_eq!(day_last_second_stored(Date::from_ymd_opt(2026, 12, 1).unwrap()), "2026-12-01T15:59:59");
        let t = Utc.with_ymd_and_hms(2026, 6, 1, 15, 59, 59).unwrap();
        assert_eq!(local_date(t), Date::from_ymd_opt(2026, 6, 1).unwrap());
    }
}
