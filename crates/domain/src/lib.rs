//! Huimin's domain types. Pure: no IO, no clock, no panics on input.
//!
//! Every type here is built by a constructor that checks its input ("parse, don't validate"),
//! so code that holds an `IdNumber` or a `RegionCode` can trust it.

mod access;
mod id_number;
mod money;
mod region;
#[macro_use]
mod registry;
mod health;
mod contract;
mod period;
mod local_time;
mod disclosure;
pub mod format;
pub mod recognition;
pub mod schema;

pub use access::{Permission, Role};
pub use contract::{Adherence, FollowUpMode, FollowUpReadings, FollowUpRule, KeyGroup, ScheduleState, Service, Window, schedule, schedule_state};
pub use disclosure::{Concerns, Disclose, Disclosed, Health, Record, Sight, Viewer};
pub use period::Period;
pub use local_time::{day_last_second_stored, day_start_stored, local_date, local_datetime, stored_time_seconds, stored_time_text, zone};
pub use health::{CareBatch, Catalogues, DiseaseCatalog, DiseaseEntry, DiseaseGroup, ExamReadings, Prognosis, TreatmentStatus, legally_confidential, parse_icd10};
pub use id_number::{IdNumber, IdNumberError, Sex, mask_id_numbers};
pub use money::{Money, MoneyError};
pub use region::{RegionCode, RegionCodeError, RegionLevel};
pub use registry::{
    Ethnicity, Facility, FacilityLevel, Household, HouseholdNo, Person, PersonName, Phone,
    LeadSource, MonitoringCategory, PovertyCategory, PovertyCause, PovertyStatus, Region, Relation, ValueError, halfwidth, pinyin_initials,
};

/// Civil dates (no time zone); the domain never reads a clock itself.
pub type Date = chrono::NaiveDate;
