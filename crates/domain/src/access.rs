//! Roles and what each may do. Pure data: the web layer asks `role.can(permission)` on every
//! request, and separately checks that the data lies inside the user's region.

use serde::{Deserialize, Serialize};

use crate::registry::ValueError;

/// The users of domain.md §1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    VillageDoctor,
    FamilyDoctorTeam,
    TownshipStaff,
    SettlementClerk,
    HealthBureau,
    MedicalInsurance,
    CivilAffairs,
    PovertyOffice,
    Supervisor,
    Admin,
}

/// Something a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Permission {
    /// Household lists, household files, the region tree.
    ViewRegistry,
    /// Look a patient up for settlement: name, category, whether in the programme.
    CheckEligibility,
    /// The full ID number on a person's page (lists are always masked).
    ViewFullIdNumber,
    /// See the full ID number after giving a reason, which is logged (破例查看).
    BreakGlassIdNumber,
    /// Health data that is not confidential.
    ViewHealth,
    /// HIV and severe mental disorders of the persons in one's care.
    ViewConfidential,
    /// Confidential diagnoses after giving a reason, which is logged.
    BreakGlassConfidential,
    ImportRoster,
    /// Record examinations and disease cards (一病一卡) of the persons in one's care.
    EditHealth,
    /// Record a household's screening (因病致贫筛查).
    Screen,
    /// Open screening campaigns for one's region.
    ManageScreening,
    /// Screening progress and batch counts: aggregate figures, no names or diagnoses.
    ViewProgress,
    /// Set a person's batch by hand, keep the treatment ledger.
    ManageBatches,
    /// Load a county's extension of the disease catalogue.
    ManageCatalog,
    /// Form family-doctor teams and set the follow-up rule of one's region.
    ManageTeams,
    /// Sign and renew family-doctor contracts; add a person to a key group.
    SignContracts,
    /// Record follow-ups; see the worklist.
    RecordFollowUp,
    /// Set the targets of the supervised indicators for one's region.
    SetTargets,
    /// Settle and reverse claims at one's own facility (一站式结算窗口).
    Settle,
    /// See settled claims and their bills (a clerk: those of their facility).
    ViewClaims,
    /// Load settlement policies and simulate drafts.
    ManagePolicies,
    ViewFacilities,
    ManageUsers,
    ViewAudit,
    /// Let one overlapping stay be settled, with a reason (a real exception; logged).
    ApproveStayException,
    /// Warnings of poverty through illness (防止因病返贫动态监测) in one's region.
    ViewWarnings,
    /// Record a household's size, income and monitoring category.
    RecordEconomics,
    /// Load the early-warning rules of one's region.
    ManageWarningRules,
    /// Open a recognition from a lead that no rule found: a self-report, a cadre's visit, a
    /// department's screening (`recognition::lead_roles` says which role reports which).
    ReportLead,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::VillageDoctor,
        Role::FamilyDoctorTeam,
        Role::TownshipStaff,
        Role::SettlementClerk,
        Role::HealthBureau,
        Role::MedicalInsurance,
        Role::CivilAffairs,
        Role::PovertyOffice,
        Role::Supervisor,
        Role::Admin,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::VillageDoctor => "village_doctor",
            Role::FamilyDoctorTeam => "family_doctor_team",
            Role::TownshipStaff => "township_staff",
            Role::SettlementClerk => "settlement_clerk",
            Role::HealthBureau => "health_bureau",
            Role::MedicalInsurance => "medical_insurance",
            Role::CivilAffairs => "civil_affairs",
            Role::PovertyOffice => "poverty_office",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Role::VillageDoctor => "村医",
            Role::FamilyDoctorTeam => "家庭医生团队",
            Role::TownshipStaff => "乡镇卫生院",
            Role::SettlementClerk => "结算窗口",
            Role::HealthBureau => "县卫健局",
            Role::MedicalInsurance => "医保局",
            Role::CivilAffairs => "民政局",
            Role::PovertyOffice => "扶贫办",
            Role::Supervisor => "督导",
            Role::Admin => "系统管理员",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Role::VillageDoctor => "Village doctor",
            Role::FamilyDoctorTeam => "Family doctor team",
            Role::TownshipStaff => "Township health centre",
            Role::SettlementClerk => "Settlement clerk",
            Role::HealthBureau => "County health bureau",
            Role::MedicalInsurance => "Medical insurance bureau",
            Role::CivilAffairs => "Civil affairs bureau",
            Role::PovertyOffice => "Poverty alleviation office",
            Role::Supervisor => "Supervisor",
            Role::Admin => "Administrator",
        }
    }

    pub fn from_code(code: &str) -> Result<Role, ValueError> {
        Role::ALL
            .into_iter()
            .find(|r| r.code() == code)
            .ok_or_else(|| ValueError(format!("角色「{code}」不存在")))
    }

    /// The levels of region an account of the role belongs to: a village doctor to a village, a
    /// township centre to a township, the bureaus to a county or above. (A clerk's region is
    /// their facility's county.)
    pub fn works_at(self) -> &'static [crate::RegionLevel] {
        use crate::RegionLevel::*;
        match self {
            Role::VillageDoctor => &[Village],
            Role::FamilyDoctorTeam => &[Township, Village],
            Role::TownshipStaff => &[Township],
            Role::SettlementClerk => &[County],
            Role::HealthBureau | Role::MedicalInsurance | Role::CivilAffairs | Role::PovertyOffice | Role::Supervisor => &[Province, City, County],
            Role::Admin => &[Province, City, County, Township, Village],
        }
    }

    /// Whether the role works at a facility rather than over a region.
    pub fn needs_facility(self) -> bool {
        self == Role::SettlementClerk
    }

    pub fn can(self, p: Permission) -> bool {
        use Permission::*;
        use Role::*;
        match p {
            ViewRegistry => !matches!(self, SettlementClerk),
            CheckEligibility => matches!(self, SettlementClerk | HealthBureau | MedicalInsurance),
            ViewFullIdNumber => matches!(self, VillageDoctor | FamilyDoctorTeam | SettlementClerk | HealthBureau | PovertyOffice),
            BreakGlassIdNumber => matches!(self, TownshipStaff | MedicalInsurance | CivilAffairs | Supervisor),
            ViewHealth => matches!(self, VillageDoctor | FamilyDoctorTeam | TownshipStaff | HealthBureau),
            ViewConfidential => matches!(self, VillageDoctor | FamilyDoctorTeam),
            BreakGlassConfidential => matches!(self, TownshipStaff | HealthBureau),
            ImportRoster => matches!(self, HealthBureau | PovertyOffice),
            EditHealth => matches!(self, VillageDoctor | FamilyDoctorTeam | TownshipStaff),
            Screen => matches!(self, VillageDoctor | FamilyDoctorTeam | TownshipStaff),
            ManageScreening => matches!(self, TownshipStaff | HealthBureau),
            ViewProgress => !matches!(self, SettlementClerk | Admin),
            ManageBatches => matches!(self, TownshipStaff | HealthBureau),
            ManageCatalog => matches!(self, HealthBureau),
            ManageTeams => matches!(self, TownshipStaff | HealthBureau),
            SignContracts => matches!(self, VillageDoctor | FamilyDoctorTeam | TownshipStaff),
            RecordFollowUp => matches!(self, VillageDoctor | FamilyDoctorTeam | TownshipStaff),
            // Supervisors read; the health bureau sets its region's targets.
            SetTargets => matches!(self, HealthBureau),
            Settle => matches!(self, SettlementClerk),
            ViewClaims => matches!(self, SettlementClerk | HealthBureau | MedicalInsurance | CivilAffairs | PovertyOffice | Supervisor),
            ManagePolicies => matches!(self, MedicalInsurance | HealthBureau),
            ViewFacilities => true,
            ManageUsers => matches!(self, Admin),
            ViewAudit => matches!(self, Supervisor | Admin),
            ApproveStayException => matches!(self, MedicalInsurance | HealthBureau),
            ViewWarnings => !matches!(self, SettlementClerk | Admin),
            RecordEconomics => matches!(self, VillageDoctor | TownshipStaff | PovertyOffice),
            ManageWarningRules => matches!(self, PovertyOffice | HealthBureau),
            ReportLead => matches!(self, VillageDoctor | TownshipStaff | PovertyOffice | CivilAffairs | MedicalInsurance | HealthBureau),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_rules_hold() {
        for r in Role::ALL {
            assert_eq!(Role::from_code(r.code()), Ok(r));
            // Whoever sees confidential data by right does not also need to break the glass.
            assert!(!(r.can(Permission::ViewConfidential) && r.can(Permission::BreakGlassConfidential)));
            assert!(!(r.can(Permission::ViewFullIdNumber) && r.can(Permission::BreakGlassIdNumber)));
        }
        assert!(Role::from_code("root").is_err());
        assert!(!Role::SettlementClerk.can(Permission::ViewRegistry), "a clerk sees only what settlement needs");
        use Permission::*;
        let writes = [ImportRoster, EditHealth, Screen, ManageScreening, ManageBatches, ManageCatalog, ManageTeams, SignContracts, RecordFollowUp, SetTargets, Settle, ManagePolicies, ManageUsers, RecordEconomics, ManageWarningRules, ReportLead];
        for p in writes {
            assert!(!Role::Supervisor.can(p), "supervisors read only: {p:?}");
        }
    }
}
