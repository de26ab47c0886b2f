//! Numbers in query strings, each with the range it may take. A value outside it (or not a
//! number) is refused when the query is read — `400` with the reason, JSON under `/api` — before
//! any handler does arithmetic with it.

use serde::{Deserialize, Deserializer, de::Error};

macro_rules! bounded {
    ($(#[$doc:meta])* $name:ident($t:ty), $lo:expr, $hi:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub $t);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = <$t>::deserialize(d)?;
                if ($lo..=$hi).contains(&v) {
                    Ok($name(v))
                } else {
                    Err(D::Error::custom(format!("{}应在 {} 到 {} 之间，实为 {v}", $what, $lo, $hi)))
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

bounded!(
    /// A page of a list, from 1.
    Page(i64), 1, 1_000_000, "页码"
);
bounded!(
    /// Rows per page (or claims in a list).
    PerPage(i64), 1, 1_000, "每页条数"
);
bounded!(
    /// A calendar year.
    Year(i32), 1900, 2200, "年份"
);
bounded!(
    /// A number of days back from today.
    Days(i64), 0, 36_500, "天数"
);
