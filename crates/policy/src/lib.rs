//! Settlement policies as data and the engine that settles a claim through the five lines of
//! protection (五道保障线). Pure: no IO, no clock; every input is checked, nothing panics on it.

pub mod engine;
pub mod model;
pub mod policy;
pub mod ratio;
pub mod warning;

pub use engine::{Bill, BillLine, LayerYear, Ledger, LedgerError, YearAccumulators, reverse, settle, settle_into};
pub use model::{Bucket, Claim, ClaimError, Fund, FundCodes, FundEntry, Place, VisitType};
pub use policy::{Basis, Issue, Layer, Policy, PolicyError, Rule, parse_policy};
pub use ratio::Ratio;
pub use warning::{Firing, HouseholdFigures, Test, WarningRule, WarningRules, WarningRulesError, compliant_out_of_pocket, parse_warning_rules};
