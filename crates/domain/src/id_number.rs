use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A resident ID number (公民身份号码, GB 11643-1999), checked: 18 characters, a real birth date,
/// the right check character. The only way to get one is [`IdNumber::parse`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdNumber(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn label_zh(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }

    pub fn parse(s: &str) -> Option<Sex> {
        match s.trim() {
            "男" | "男性" | "M" | "m" | "1" => Some(Sex::Male),
            "女" | "女性" | "F" | "f" | "2" => Some(Sex::Female),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "M",
            Sex::Female => "F",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("应为 18 位，实为 {0} 位")]
    Length(usize),
    #[error("前 17 位应为数字，第 18 位为数字或 X")]
    Characters,
    #[error("出生日期 {0} 不是有效日期")]
    BirthDate(String),
    #[error("校验码错误：应为 {expected}，实为 {found}")]
    CheckCharacter { expected: char, found: char },
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

/// The check character for the first 17 digits (which must be ASCII digits).
pub(crate) fn check_character(first17: &[u8]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK[(sum % 11) as usize] as char
}

/// Free text (a reason typed by a user) with every run of 18 characters that looks like an ID
/// number — 17 digits and a digit or X, standing alone — masked as [`IdNumber::masked`] would,
/// whether or not its check character is right: a mistyped number is still a person's.
pub fn mask_id_numbers(text: &str) -> std::borrow::Cow<'_, str> {
    let b = text.as_bytes();
    let id_char = |c: u8| c.is_ascii_digit() || c == b'X' || c == b'x';
    let mut runs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if id_char(b[i]) {
            let start = i;
            while i < b.len() && id_char(b[i]) {
                i += 1;
            }
            if i - start == 18 && b[start..i - 1].iter().all(u8::is_ascii_digit) {
                runs.push(start);
            }
        } else {
            i += 1;
        }
    }
    if runs.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for start in runs {
        // ASCII only inside the run: byte offsets are character boundaries.
        out.replace_range(start + 6..start + 14, "********");
    }
    std::borrow::Cow::Owned(out)
}

impl IdNumber {
    pub fn parse(input: &str) -> Result<Self, IdNumberError> {
        let s = input.trim();
        let count = s.chars().count();
        if count != 18 {
            return Err(IdNumberError::Length(count));
        }
        let b = s.as_bytes();
        if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X' || b[17] == b'x') {
            return Err(IdNumberError::Characters);
        }
        let date = &s[6..14];
        if birth_date(date).is_none() {
            return Err(IdNumberError::BirthDate(date.to_string()));
        }
        let expected = check_character(&b[..17]);
        let found = (b[17] as char).to_ascii_uppercase();
        if expected != found {
            return Err(IdNumberError::CheckCharacter { expected, found });
        }
        Ok(IdNumber(s.to_ascii_uppercase()))
    }

    /// Builds a valid number from a 6-digit area code, a birth date and a 3-digit sequence
    /// (odd for men, even for women). For synthetic data and tests.
    pub fn compose(area: u32, birth: NaiveDate, sequence: u16) -> Option<Self> {
        if area > 999_999 || sequence > 999 {
            return None;
        }
        let first17 = format!("{area:06}{}{sequence:03}", birth.format("%Y%m%d"));
        if first17.len() != 17 {
            return None;
        }
        let check = check_character(first17.as_bytes());
        Self::parse(&format!("{first17}{check}")).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn birth_date(&self) -> NaiveDate {
        birth_date(&self.0[6..14]).expect("checked by parse")
    }

    pub fn sex(&self) -> Sex {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 { Sex::Male } else { Sex::Female }
    }

    /// The 6-digit area code of the place of first registration.
    pub fn area_code(&self) -> &str {
        &self.0[..6]
    }

    /// For lists and logs: the area code and the last 4 characters only.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }

    /// Age in whole years on `on`.
    pub fn age_on(&self, on: NaiveDate) -> u32 {
        on.years_since(self.birth_date()).unwrap_or(0)
    }
}

fn birth_date(yyyymmdd: &str) -> Option<NaiveDate> {
    let y: i32 = yyyymmdd.get(0..4)?.parse().ok()?;
    let m: u32 = yyyymmdd.get(4..6)?.parse().ok()?;
    let d: u32 = yyyymmdd.get(6..8)?.parse().ok()?;
    if y < 1880 {
        return None;
    }
    NaiveDate::from_ymd_opt(y, m, d)
}

// Debug never prints the full number: it may end up in a log.
impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

impl TryFrom<String> for IdNumber {
    type Error = IdNumberError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl utoipa::PartialSchema for IdNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::text("^[0-9]{17}[0-9X]$", "A resident ID number (GB 11643), check character verified")
    }
}
impl utoipa::ToSchema for IdNumber {}

impl From<IdNumber> for String {
    fn from(id: IdNumber) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_standard_example() {
        // The worked example of GB 11643-1999.
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(format!("{id:?}"), "IdNumber(110105********002X)");
        assert_eq!(IdNumber::parse("11010519491231002x").unwrap().as_str(), "11010519491231002X");
    }

    #[test]
    fn rejects_bad_numbers_with_the_reason() {
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err(IdNumberError::CheckCharacter { expected: 'X', found: '1' })
        );
        assert_eq!(IdNumber::parse("1101051949123100"), Err(IdNumberError::Length(16)));
        assert_eq!(IdNumber::parse("11010519490231002X"), Err(IdNumberError::BirthDate("19490231".into())));
        assert_eq!(IdNumber::parse("1101051949123100AX"), Err(IdNumberError::Characters));
        assert_eq!(IdNumber::parse("１１０１０５１９４９１２３１００２Ｘ"), Err(IdNumberError::Characters));
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        (1900i32..2030, 1u32..=12, 1u32..=31)
            .prop_filter_map("real date", |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d))
    }

    proptest! {
        #[test]
        fn composed_numbers_round_trip(area in 110000u32..=820000, date in any_date(), seq in 0u16..1000) {
            let id = IdNumber::compose(area, date, seq).unwrap();
            prop_assert_eq!(id.birth_date(), date);
            prop_assert_eq!(id.sex() == Sex::Male, seq % 2 == 1);
            prop_assert_eq!(IdNumber::parse(id.as_str()).unwrap(), id);
        }

        #[test]
        fn any_single_digit_change_is_caught(area in 110000u32..=820000, date in any_date(), seq in 0u16..1000, pos in 0usize..17, delta in 1u8..10) {
            let id = IdNumber::compose(area, date, seq).unwrap();
            let mut bytes = id.as_str().as_bytes().to_vec();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(IdNumber::parse(&changed).is_err());
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,24}") {
            let _ = IdNumber::parse(&s);
        }

        #[test]
        fn a_number_in_free_text_is_masked(area in 110000u32..=820000, date in any_date(), seq in 0u16..1000, before in "\\PC{0,12}", after in "\\PC{0,12}") {
            let id = IdNumber::compose(area, date, seq).unwrap();
            // Standing alone: not inside a longer run of digits.
            let before = if before.ends_with(|c: char| c.is_ascii_digit() || c == 'X' || c == 'x') { format!("{before} ") } else { before };
            let after = if after.starts_with(|c: char| c.is_ascii_digit() || c == 'X' || c == 'x') { format!(" {after}") } else { after };
            let text = format!("{before}{}{after}", id.as_str());
            let masked = mask_id_numbers(&text);
            prop_assert!(!masked.contains(id.as_str()));
            prop_assert!(masked.contains(&id.masked()), "{}", masked);
            prop_assert_eq!(mask_id_numbers(&masked), masked.clone(), "masking twice changes nothing");
        }

        #[test]
        fn masking_never_panics(s in "\\PC{0,64}") {
            let _ = mask_id_numbers(&s);
        }
    }

    #[test]
    fn text_without_a_number_is_left_alone() {
        assert!(matches!(mask_id_numbers("核对重复登记 H37130201-20250301-0001"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(mask_id_numbers("身份证37130219920318000X录错"), "身份证371302********000X录错");
    }
}
