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

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Integer)
                    .minimum(Some($lo as f64))
                    .maximum(Some($hi as f64))
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}

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

/// A date in a query or body, `YYYY-MM-DD`, or empty as a form sends a date field left blank
/// (`None`). Anything else is refused when the request is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateOrEmpty(pub Option<huimin_domain::Date>);

impl<'de> Deserialize<'de> for DateOrEmpty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.trim() {
            "" => Ok(DateOrEmpty(None)),
            t => huimin_domain::Date::parse_from_str(t, "%Y-%m-%d").map(|d| DateOrEmpty(Some(d))).map_err(|_| D::Error::custom(format!("日期「{t}」应为 YYYY-MM-DD"))),
        }
    }
}

impl utoipa::PartialSchema for DateOrEmpty {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Date))))
            .item(ObjectBuilder::new().schema_type(Type::String).max_length(Some(0)))
            .description(Some("YYYY-MM-DD, or empty"))
            .into()
    }
}
impl utoipa::ToSchema for DateOrEmpty {}

/// The date of an optional date parameter, if one was given.
pub fn day(v: Option<DateOrEmpty>) -> Option<huimin_domain::Date> {
    v.and_then(|d| d.0)
}

/// Free text typed by a user (a reason, a plan, guidance), at most `N` characters: a longer one
/// is refused when the form or JSON is read, before it is stored and shown everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text<const N: usize>(pub String);

impl<'de, const N: usize> Deserialize<'de> for Text<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Text::new(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}

impl<const N: usize> utoipa::PartialSchema for Text<N> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String).max_length(Some(N)).into()
    }
}
impl<const N: usize> utoipa::ToSchema for Text<N> {}

impl<const N: usize> Text<N> {
    /// The same check for text read by hand (a form of repeated fields).
    pub fn new(s: &str) -> Result<Self, String> {
        let n = s.chars().count();
        if n > N { Err(format!("填写的内容最长 {N} 字，实为 {n} 字")) } else { Ok(Text(s.to_string())) }
    }
}

impl<const N: usize> std::ops::Deref for Text<N> {
    type Target = String;
    fn deref(&self) -> &String {
        &self.0
    }
}

/// A reason (for a reversal, a reveal, a batch set by hand).
pub type Reason = Text<500>;
/// A plan, guidance, findings: a paragraph.
pub type Paragraph = Text<2000>;
/// A name, a place, a phone number, who signed.
pub type Short = Text<100>;

/// `?paper=a4|a5` of a document's PDF.
#[derive(Debug, Deserialize, Default)]
pub struct PaperQuery {
    paper: Option<String>,
}

impl PaperQuery {
    pub fn paper(&self, default: huimin_app::documents::Paper) -> crate::error::WebResult<huimin_app::documents::Paper> {
        match self.paper.as_deref() {
            None => Ok(default),
            Some(p) => huimin_app::documents::Paper::parse(p).ok_or_else(|| crate::error::WebError::BadRequest(format!("纸张「{p}」应为 a4 或 a5"))),
        }
    }
}

/// A document as a PDF download. Without a CJK font on the server the answer says so.
pub fn pdf_answer(blocks: &[huimin_app::documents::Block], paper: huimin_app::documents::Paper, file_name: &str) -> crate::error::WebResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let bytes = huimin_app::documents::pdf(blocks, paper).map_err(|e| match e {
        huimin_app::documents::DocumentError::NoFont => crate::error::WebError::Unavailable(e.to_string()),
        e => crate::error::WebError::Internal(e.into()),
    })?;
    let disposition = format!("attachment; filename=\"{file_name}\"");
    Ok(([(axum::http::header::CONTENT_TYPE, "application/pdf".to_string()), (axum::http::header::CONTENT_DISPOSITION, disposition)], bytes).into_response())
}
