//! What a user may see of a person's record: the one rule every output goes through.
//!
//! A [`Viewer`] (the user's role, region and facility, and what they opened with a logged
//! reason) looks at a [`Record`] (a person's file or a settled claim) and gets a [`Sight`]: how
//! much of its health data shows, and whether its ID number shows whole. Outputs do not take raw
//! records: pages, JSON, FHIR and exchange files take [`Disclosed`] values, which only
//! [`Viewer::show`] makes, so a new output path cannot forget the rule.
//!
//! The rule (docs/security.md, "What each role sees"):
//! - **All** health data, confidential diagnoses included, for those who care for the person (a
//!   village doctor or family-doctor team, inside their area), the clerks of the facility that
//!   treated a claim (they entered its diagnoses), and a township or county health user who
//!   opened this person's confidential diagnoses with a logged reason (破例查看).
//! - **Ordinary** health data (confidential diagnoses withheld, and marked so that they can be
//!   opened with a reason) for the other health roles: township health centres, the health bureau.
//! - **None** for everyone else: the funds (medical insurance, civil affairs, poverty office) see
//!   payments and the roster, supervisors and administrators aggregate figures.
//!
//! A key group derived from a diagnosis discloses that diagnosis and follows the same rule.

use std::sync::Arc;

use serde::Serialize;

use crate::access::{Permission, Role};
use crate::contract::KeyGroup;
use crate::health::Catalogues;
use crate::id_number::IdNumber;
use crate::region::RegionCode;

/// Who is looking, for one answer.
#[derive(Debug, Clone)]
pub struct Viewer {
    role: Role,
    region: RegionCode,
    facility: Option<String>,
    catalogues: Arc<Catalogues>,
    /// The command line on the server: whoever runs it holds the database file and its key.
    whole_database: bool,
    /// The person whose confidential diagnoses were opened with a logged reason for this answer.
    opened_health: Option<i64>,
    /// The person whose whole ID number was opened with a logged reason for this answer.
    opened_id: Option<i64>,
}

/// What is looked at, and whom it concerns.
#[derive(Debug, Clone, Copy)]
pub enum Record<'a> {
    /// A person's registry entry or health file; `region` is the household's village.
    Person { id: i64, region: RegionCode },
    /// A settled claim: also the facility that settled it.
    Claim { person: i64, region: RegionCode, facility: &'a str },
}

impl Record<'_> {
    fn person(&self) -> (i64, RegionCode) {
        match *self {
            Record::Person { id, region } => (id, region),
            Record::Claim { person, region, .. } => (person, region),
        }
    }
}

/// How much of a record's health data shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// No diagnosis, examination, follow-up or key group derived from a diagnosis.
    None,
    /// All but confidential diagnoses.
    Ordinary,
    All,
}

/// What one viewer sees of one record.
#[derive(Debug, Clone, Copy)]
pub struct Sight<'a> {
    pub health: Health,
    /// The ID number shows whole (else masked: 371302********0012).
    pub whole_id: bool,
    /// Withheld confidential diagnoses are marked, so that the viewer can open them with a reason.
    pub offers_break_glass: bool,
    catalogue: &'a crate::health::DiseaseCatalog,
}

impl Viewer {
    pub fn new(role: Role, region: RegionCode, facility: Option<String>, catalogues: Arc<Catalogues>) -> Viewer {
        Viewer { role, region, facility, catalogues, whole_database: false, opened_health: None, opened_id: None }
    }

    /// The command line run where the database is (`huimin export`): it sees every record of
    /// `region`, as whoever runs it can read the database file anyway. Never a web user.
    pub fn whole_database(region: RegionCode, catalogues: Arc<Catalogues>) -> Viewer {
        let mut v = Viewer::new(Role::Admin, region, None, catalogues);
        v.whole_database = true;
        v
    }

    /// The viewer after opening `person`'s confidential diagnoses with a logged reason (only a
    /// role that may break the glass gains anything by it).
    pub fn opened_health(mut self, person: i64) -> Viewer {
        self.opened_health = Some(person);
        self
    }

    /// The viewer after opening `person`'s whole ID number with a logged reason.
    pub fn opened_id(mut self, person: i64) -> Viewer {
        self.opened_id = Some(person);
        self
    }

    /// The catalogue that judges the codes of `region`.
    pub fn catalogue(&self, region: RegionCode) -> &crate::health::DiseaseCatalog {
        self.catalogues.for_region(region)
    }

    /// The rule itself.
    pub fn sight(&self, about: Record<'_>) -> Sight<'_> {
        let role = self.role;
        let (person, region) = about.person();
        let within = self.region.contains(region);
        let treats = match about {
            Record::Claim { facility, .. } => role.can(Permission::Settle) && self.facility.as_deref() == Some(facility),
            Record::Person { .. } => false,
        };
        if self.whole_database && within {
            return Sight { health: Health::All, whole_id: true, offers_break_glass: false, catalogue: self.catalogues.for_region(region) };
        }
        let cares = within && role.can(Permission::ViewConfidential);
        let opened = within && role.can(Permission::BreakGlassConfidential) && self.opened_health == Some(person);
        let health = if cares || treats || opened {
            Health::All
        } else if within && role.can(Permission::ViewHealth) {
            Health::Ordinary
        } else {
            Health::None
        };
        let whole_id = treats
            || within && (role.can(Permission::ViewFullIdNumber) || role.can(Permission::BreakGlassIdNumber) && self.opened_id == Some(person));
        Sight { health, whole_id, offers_break_glass: health == Health::Ordinary && role.can(Permission::BreakGlassConfidential), catalogue: self.catalogues.for_region(region) }
    }

    /// `value`, which concerns `about`, as this viewer may see it; `None` if nothing of it may
    /// be shown.
    pub fn show<T: Disclose>(&self, about: Record<'_>, value: T) -> Option<Disclosed<T>> {
        Self::apply(self.sight(about), value)
    }

    /// A record that says itself whom it concerns (a claim), as this viewer may see it.
    pub fn show_own<T: Disclose + Concerns>(&self, value: T) -> Option<Disclosed<T>> {
        Self::apply(self.sight(value.concerns()), value)
    }

    fn apply<T: Disclose>(sight: Sight<'_>, value: T) -> Option<Disclosed<T>> {
        let (value, withheld) = value.disclose(&sight)?;
        Some(Disclosed { value, diagnoses_withheld: (sight.offers_break_glass && withheld > 0).then_some(withheld) })
    }
}

impl Sight<'_> {
    /// Whether a diagnosis with this code shows.
    pub fn shows_diagnosis(&self, code: &str) -> bool {
        match self.health {
            Health::All => true,
            Health::Ordinary => !self.catalogue.is_confidential(code),
            Health::None => false,
        }
    }

    /// Whether a disease card (or ledger line) shows: `confidential` as it was stored, or as the
    /// catalogue now judges its code.
    pub fn shows_card(&self, code: &str, confidential: bool) -> bool {
        self.shows_diagnosis(code) && (!confidential || self.health == Health::All)
    }

    /// Examinations, follow-up readings and other health data that is not a diagnosis.
    pub fn shows_health(&self) -> bool {
        self.health >= Health::Ordinary
    }

    /// Whether a key group shows: one derived from a diagnosis discloses that diagnosis.
    pub fn shows_key_group(&self, group: KeyGroup) -> bool {
        group.diagnosis().is_none_or(|code| self.shows_diagnosis(code))
    }

    /// The ID number as this viewer may see it.
    pub fn id_number(&self, id: &IdNumber) -> String {
        if self.whole_id { id.as_str().to_string() } else { id.masked() }
    }
}

/// A record that knows what of it each sight may see.
pub trait Disclose: Sized {
    /// `self` without what `sight` may not see, and how many diagnoses were left out; `None` if
    /// nothing of it may be shown.
    fn disclose(self, sight: &Sight<'_>) -> Option<(Self, usize)>;
}

/// A record that knows whom it concerns (a claim: its person, region and facility).
pub trait Concerns {
    fn concerns(&self) -> Record<'_>;
}

/// A record as one viewer may see it: what every output takes. Serialized as the record itself,
/// with `diagnoses_withheld` when confidential diagnoses were left out that the viewer may open.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Disclosed<T> {
    #[serde(flatten)]
    value: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnoses_withheld: Option<usize>,
}

impl<T> Disclosed<T> {
    /// Confidential diagnoses left out that the viewer may open with a reason.
    pub fn diagnoses_withheld(&self) -> usize {
        self.diagnoses_withheld.unwrap_or(0)
    }
}

impl<T> std::ops::Deref for Disclosed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::DiseaseCatalog;

    fn viewer(role: Role, region: &str, facility: Option<&str>) -> Viewer {
        Viewer::new(role, RegionCode::parse(region).unwrap(), facility.map(str::to_string), Arc::new(Catalogues::new(DiseaseCatalog::default())))
    }

    const VILLAGE: &str = "371302001001";
    const OTHER_VILLAGE: &str = "371302002001";

    fn person(region: &str) -> Record<'static> {
        Record::Person { id: 7, region: RegionCode::parse(region).unwrap() }
    }

    #[test]
    fn each_role_sees_what_its_work_needs() {
        let village = person(VILLAGE);
        let claim = Record::Claim { person: 7, region: RegionCode::parse(VILLAGE).unwrap(), facility: "H1" };
        for role in Role::ALL {
            let v = viewer(role, "371302", if role == Role::SettlementClerk { Some("H1") } else { None });
            let (on_file, on_claim) = (v.sight(village), v.sight(claim));
            let expected_file = match role {
                Role::VillageDoctor | Role::FamilyDoctorTeam => Health::All,
                Role::TownshipStaff | Role::HealthBureau => Health::Ordinary,
                _ => Health::None,
            };
            assert_eq!(on_file.health, expected_file, "{role:?}");
            let expected_claim = if role == Role::SettlementClerk { Health::All } else { expected_file };
            assert_eq!(on_claim.health, expected_claim, "{role:?}");
            assert_eq!(on_file.offers_break_glass, matches!(role, Role::TownshipStaff | Role::HealthBureau), "{role:?}");
            assert_eq!(on_file.shows_diagnosis("B24"), expected_file == Health::All, "{role:?}");
            assert_eq!(on_file.shows_diagnosis("I10"), expected_file >= Health::Ordinary, "{role:?}");
            assert_eq!(on_file.shows_key_group(KeyGroup::SevereMental), expected_file == Health::All, "{role:?}");
            assert!(on_file.shows_key_group(KeyGroup::Elderly), "{role:?}");
        }
        // A clerk of another facility, a doctor of another village: nothing.
        assert_eq!(viewer(Role::SettlementClerk, "371302", Some("H2")).sight(claim).health, Health::None);
        assert_eq!(viewer(Role::VillageDoctor, OTHER_VILLAGE, None).sight(village).health, Health::None);
        assert!(!viewer(Role::VillageDoctor, OTHER_VILLAGE, None).sight(village).whole_id);
    }

    #[test]
    fn opening_with_a_reason_opens_one_person_for_the_roles_that_may() {
        let (seven, eight) = (person(VILLAGE), Record::Person { id: 8, region: RegionCode::parse(VILLAGE).unwrap() });
        let bureau = viewer(Role::HealthBureau, "371302", None).opened_health(7);
        assert_eq!(bureau.sight(seven).health, Health::All);
        assert_eq!(bureau.sight(eight).health, Health::Ordinary);
        let fund = viewer(Role::CivilAffairs, "371302", None).opened_health(7).opened_id(7);
        assert_eq!(fund.sight(seven).health, Health::None);
        assert!(fund.sight(seven).whole_id, "civil affairs may open an ID number with a reason");
        assert!(!fund.sight(eight).whole_id);
        assert!(!viewer(Role::Supervisor, "37", None).opened_id(7).sight(Record::Person { id: 7, region: RegionCode::parse("41").unwrap() }).whole_id);
    }
}
