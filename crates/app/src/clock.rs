//! The clock, read in one place: "today" and "now" as people in the programme mean them
//! (Beijing time, `huimin_domain::zone`), whatever zone the server runs in.

use huimin_domain::Date;

/// Today's date in Beijing.
pub fn today() -> Date {
    huimin_domain::local_date(chrono::Utc::now())
}

/// This year in Beijing.
pub fn this_year() -> i32 {
    chrono::Datelike::year(&today())
}

/// The wall-clock time in Beijing now.
pub fn now() -> chrono::NaiveDateTime {
    huimin_domain::local_datetime(chrono::Utc::now())
}
