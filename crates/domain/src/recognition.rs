//! The recognition of a household at risk (监测对象识别认定), from the first lead to the end of
//! its risk: each step by the role that owns it, in order, within the deadlines of the policy
//! (docs/monitoring.md). Pure: [`advance`] says what a step makes of a recognition, or why not.
//!
//! lead (a warning, a self-report, a cadre's report) → 入户核实 home visit (village) → 数据比对
//! data cross-check (township or county) → 村级评议公示 village review with public notice (village,
//! at least [`NOTICE_DAYS`] days) → 乡镇审核 township review → 县级审批 county approval → 帮扶措施
//! help measures recorded → 风险消除 risk eliminated, or not yet. A review may end it: not a
//! household at risk. Recognition is due within [`RECOGNITION_DAYS`] of the lead.

use crate::{Date, Role};

/// Days from the lead within which the county approves (or refuses) the recognition.
pub const RECOGNITION_DAYS: i64 = 15;
/// Days a village's public notice stays up before the township reviews.
pub const NOTICE_DAYS: i64 = 5;

/// Where a recognition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A lead, waiting for the home visit.
    Lead,
    Visited,
    CrossChecked,
    /// The village's notice is up (since the step's day).
    NoticePosted,
    TownshipReviewed,
    /// The county approved: a monitored household; help to be recorded.
    Approved,
    /// Help measures recorded; the risk is watched until it is gone.
    Helped,
    /// Ended: not at risk, or the risk eliminated.
    Closed,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    HomeVisit { note: String },
    CrossCheck { note: String },
    PostNotice,
    TownshipReview { agreed: bool, note: String },
    CountyApproval { approved: bool, note: String },
    /// Medical assistance on application, the safety-net layers, other aid.
    Help { measures: String },
    /// The risk is gone (income stably above the line, basic guarantees hold, the cause gone), or
    /// not yet.
    Assess { eliminated: bool, reason: String },
}

impl Stage {
    pub const ALL: [Stage; 8] = [Stage::Lead, Stage::Visited, Stage::CrossChecked, Stage::NoticePosted, Stage::TownshipReviewed, Stage::Approved, Stage::Helped, Stage::Closed];

    /// The stored code (the same as the JSON one).
    pub fn code(self) -> &'static str {
        match self {
            Stage::Lead => "lead",
            Stage::Visited => "visited",
            Stage::CrossChecked => "cross_checked",
            Stage::NoticePosted => "notice_posted",
            Stage::TownshipReviewed => "township_reviewed",
            Stage::Approved => "approved",
            Stage::Helped => "helped",
            Stage::Closed => "closed",
        }
    }

    pub fn from_code(code: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The codes of the steps that may come next.
    pub fn next_steps(self) -> &'static [&'static str] {
        match self {
            Stage::Lead => &["home_visit"],
            Stage::Visited => &["cross_check"],
            Stage::CrossChecked => &["post_notice"],
            Stage::NoticePosted => &["township_review"],
            Stage::TownshipReviewed => &["county_approval"],
            Stage::Approved => &["help"],
            Stage::Helped => &["help", "assess"],
            Stage::Closed => &[],
        }
    }
}

impl Step {
    /// A step from its code: `yes` is the decision of a review, an approval or an assessment,
    /// `words` its note, measures or reason.
    pub fn from_code(code: &str, yes: bool, words: String) -> Option<Step> {
        Some(match code {
            "home_visit" => Step::HomeVisit { note: words },
            "cross_check" => Step::CrossCheck { note: words },
            "post_notice" => Step::PostNotice,
            "township_review" => Step::TownshipReview { agreed: yes, note: words },
            "county_approval" => Step::CountyApproval { approved: yes, note: words },
            "help" => Step::Help { measures: words },
            "assess" => Step::Assess { eliminated: yes, reason: words },
            _ => return None,
        })
    }

    /// What the step concluded, as stored: done, agreed, refused, eliminated or not_yet.
    pub fn outcome(&self) -> &'static str {
        match self {
            Step::TownshipReview { agreed: yes, .. } | Step::CountyApproval { approved: yes, .. } => {
                if *yes { "agreed" } else { "refused" }
            }
            Step::Assess { eliminated, .. } => {
                if *eliminated { "eliminated" } else { "not_yet" }
            }
            _ => "done",
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Step::HomeVisit { .. } => "home_visit",
            Step::CrossCheck { .. } => "cross_check",
            Step::PostNotice => "post_notice",
            Step::TownshipReview { .. } => "township_review",
            Step::CountyApproval { .. } => "county_approval",
            Step::Help { .. } => "help",
            Step::Assess { .. } => "assess",
        }
    }

    pub fn label_zh(&self) -> &'static str {
        match self {
            Step::HomeVisit { .. } => "入户核实",
            Step::CrossCheck { .. } => "数据比对",
            Step::PostNotice => "村级评议公示",
            Step::TownshipReview { .. } => "乡镇审核",
            Step::CountyApproval { .. } => "县级审批",
            Step::Help { .. } => "落实帮扶措施",
            Step::Assess { .. } => "风险消除评估",
        }
    }

    /// The roles that own the step.
    pub fn roles(&self) -> &'static [Role] {
        use Role::*;
        match self {
            Step::HomeVisit { .. } | Step::PostNotice => &[VillageDoctor],
            Step::CrossCheck { .. } => &[TownshipStaff, PovertyOffice],
            Step::TownshipReview { .. } => &[TownshipStaff],
            Step::CountyApproval { .. } | Step::Assess { .. } => &[PovertyOffice],
            Step::Help { .. } => &[PovertyOffice, CivilAffairs, MedicalInsurance, HealthBureau],
        }
    }

    /// The text the step needs said (a note, the measures, a reason), if any.
    pub fn words(&self) -> Option<&str> {
        match self {
            Step::HomeVisit { note } | Step::CrossCheck { note } => Some(note),
            Step::TownshipReview { note, .. } | Step::CountyApproval { note, .. } => Some(note),
            Step::Help { measures } => Some(measures),
            Step::Assess { reason, .. } => Some(reason),
            Step::PostNotice => None,
        }
    }
}

/// A recognition as the steps left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recognition {
    pub stage: Stage,
    /// The day of the lead: the deadline counts from it.
    pub lead_on: Date,
    /// The day the notice went up, once it has.
    pub notice_on: Option<Date>,
}

impl Recognition {
    pub fn new(lead_on: Date) -> Recognition {
        Recognition { stage: Stage::Lead, lead_on, notice_on: None }
    }

    /// The day the county's decision is due.
    pub fn due_on(&self) -> Date {
        self.lead_on + chrono::Duration::days(RECOGNITION_DAYS)
    }

    /// Days left to the decision on `today` (negative: late); `None` once decided.
    pub fn days_left(&self, today: Date) -> Option<i64> {
        matches!(self.stage, Stage::Lead | Stage::Visited | Stage::CrossChecked | Stage::NoticePosted | Stage::TownshipReviewed).then(|| (self.due_on() - today).num_days())
    }
}

/// What the step makes of the recognition on `on`, taken by `role`; or why it may not be taken.
/// A late decision is still taken (the clock shows it late); a step out of order, by another
/// role, before the notice has been up its days, or without the words it needs, is refused.
pub fn advance(r: Recognition, step: &Step, role: Role, on: Date) -> Result<Recognition, String> {
    if !step.roles().contains(&role) {
        return Err(format!("「{}」应由{}办理", step.label_zh(), step.roles().iter().map(|r| r.label_zh()).collect::<Vec<_>>().join("、")));
    }
    if step.words().is_some_and(|w| w.trim().chars().count() < 4) {
        return Err(format!("「{}」请写明情况（至少 4 个字）", step.label_zh()));
    }
    if on < r.lead_on {
        return Err(format!("办理日期 {on} 早于发现日期 {}", r.lead_on));
    }
    let next = |stage| Ok(Recognition { stage, ..r });
    match (r.stage, step) {
        (Stage::Lead, Step::HomeVisit { .. }) => next(Stage::Visited),
        (Stage::Visited, Step::CrossCheck { .. }) => next(Stage::CrossChecked),
        (Stage::CrossChecked, Step::PostNotice) => Ok(Recognition { stage: Stage::NoticePosted, notice_on: Some(on), ..r }),
        (Stage::NoticePosted, Step::TownshipReview { agreed, .. }) => {
            let since = r.notice_on.unwrap_or(r.lead_on);
            if (on - since).num_days() < NOTICE_DAYS {
                return Err(format!("公示自 {since} 起不少于 {NOTICE_DAYS} 天，{} 后方可审核", since + chrono::Duration::days(NOTICE_DAYS)));
            }
            next(if *agreed { Stage::TownshipReviewed } else { Stage::Closed })
        }
        (Stage::TownshipReviewed, Step::CountyApproval { approved, .. }) => next(if *approved { Stage::Approved } else { Stage::Closed }),
        (Stage::Approved | Stage::Helped, Step::Help { .. }) => next(Stage::Helped),
        (Stage::Helped, Step::Assess { eliminated, .. }) => next(if *eliminated { Stage::Closed } else { Stage::Helped }),
        (Stage::Closed, _) => Err("此户的认定已办结".into()),
        (stage, step) => Err(format!("当前环节为「{}」，不能办理「{}」", stage_label(stage), step.label_zh())),
    }
}

/// The roles that report a lead of this source: the village and the township take a household's
/// own report and a cadre's visit, the departments their data screening, the poverty office any.
pub fn lead_roles(source: crate::LeadSource) -> &'static [Role] {
    use Role::*;
    use crate::LeadSource::*;
    match source {
        Rule => &[],
        SelfReport | CadreVisit => &[VillageDoctor, TownshipStaff, PovertyOffice],
        Department => &[PovertyOffice, CivilAffairs, MedicalInsurance, HealthBureau],
    }
}

/// How people call a stored step's code and outcome.
pub fn step_label(code: &str) -> &'static str {
    Step::from_code(code, false, String::new()).map_or("", |s| s.label_zh())
}

pub fn outcome_label(outcome: &str) -> &'static str {
    match outcome {
        "agreed" => "同意",
        "refused" => "不同意（办结）",
        "eliminated" => "风险已消除（办结）",
        "not_yet" => "风险未消除，继续帮扶",
        _ => "",
    }
}

pub fn stage_label(s: Stage) -> &'static str {
    match s {
        Stage::Lead => "待入户核实",
        Stage::Visited => "待数据比对",
        Stage::CrossChecked => "待村级评议公示",
        Stage::NoticePosted => "公示中，待乡镇审核",
        Stage::TownshipReviewed => "待县级审批",
        Stage::Approved => "已认定，待落实帮扶",
        Stage::Helped => "帮扶中",
        Stage::Closed => "已办结",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Date {
        Date::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn note() -> String {
        "入户核实家庭情况".into()
    }

    #[test]
    fn a_household_goes_from_the_lead_to_the_end_of_its_risk_step_by_step() {
        use Role::*;
        let mut r = Recognition::new(d("2026-12-01"));
        assert_eq!((r.due_on(), r.days_left(d("2026-12-13"))), (d("2026-12-16"), Some(3)));
        let steps = [
            (Step::HomeVisit { note: note() }, VillageDoctor, "2026-12-02", Stage::Visited),
            (Step::CrossCheck { note: "收入与医疗支出数据比对一致".into() }, PovertyOffice, "2026-12-03", Stage::CrossChecked),
            (Step::PostNotice, VillageDoctor, "2026-12-04", Stage::NoticePosted),
            (Step::TownshipReview { agreed: true, note: "审核同意纳入".into() }, TownshipStaff, "2026-12-09", Stage::TownshipReviewed),
            (Step::CountyApproval { approved: true, note: "审批认定为监测对象".into() }, PovertyOffice, "2026-12-10", Stage::Approved),
            (Step::Help { measures: "依申请医疗救助 3,000 元".into() }, CivilAffairs, "2026-12-12", Stage::Helped),
            (Step::Help { measures: "纳入低保，落实兜底保障".into() }, PovertyOffice, "2026-12-20", Stage::Helped),
            (Step::Assess { eliminated: false, reason: "收入尚不稳定，继续帮扶".into() }, PovertyOffice, "2027-03-01", Stage::Helped),
            (Step::Assess { eliminated: true, reason: "收入稳定超过监测标准".into() }, PovertyOffice, "2027-06-01", Stage::Closed),
        ];
        for (step, role, on, stage) in steps {
            r = advance(r, &step, role, d(on)).unwrap_or_else(|e| panic!("{step:?}: {e}"));
            assert_eq!(r.stage, stage);
        }
        assert_eq!(r.days_left(d("2027-06-02")), None, "decided: no clock");
        assert!(advance(r, &Step::Help { measures: "再次帮扶措施".into() }, PovertyOffice, d("2027-07-01")).unwrap_err().contains("已办结"));
    }

    #[test]
    fn codes_round_trip() {
        for s in Stage::ALL {
            assert_eq!(Stage::from_code(s.code()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.code(), "the stored code is the JSON one");
            for code in s.next_steps() {
                assert_eq!(Step::from_code(code, true, "写明的情况".into()).map(|x| x.code()), Some(*code));
            }
        }
        assert_eq!((step_label("township_review"), step_label("nope")), ("乡镇审核", ""));
    }

    #[test]
    fn refusals_say_why() {
        use Role::*;
        let r = Recognition::new(d("2026-12-01"));
        assert!(advance(r, &Step::HomeVisit { note: note() }, SettlementClerk, d("2026-12-02")).unwrap_err().contains("应由村医办理"));
        assert!(advance(r, &Step::HomeVisit { note: "看了".into() }, VillageDoctor, d("2026-12-02")).unwrap_err().contains("至少 4 个字"));
        assert!(advance(r, &Step::PostNotice, VillageDoctor, d("2026-12-02")).unwrap_err().contains("当前环节为「待入户核实」"));
        assert!(advance(r, &Step::HomeVisit { note: note() }, VillageDoctor, d("2026-11-30")).unwrap_err().contains("早于发现日期"));
        let posted = Recognition { stage: Stage::NoticePosted, lead_on: d("2026-12-01"), notice_on: Some(d("2026-12-04")) };
        let review = Step::TownshipReview { agreed: true, note: "审核同意纳入".into() };
        assert!(advance(posted, &review, TownshipStaff, d("2026-12-08")).unwrap_err().contains("2026-12-09 后方可审核"));
        assert_eq!(advance(posted, &review, TownshipStaff, d("2026-12-09")).unwrap().stage, Stage::TownshipReviewed);
        let no = Step::TownshipReview { agreed: false, note: "经评议不符合条件".into() };
        assert_eq!(advance(posted, &no, TownshipStaff, d("2026-12-10")).unwrap().stage, Stage::Closed);
        // Late is shown, not refused.
        let late = Recognition { stage: Stage::TownshipReviewed, ..posted };
        assert_eq!(late.days_left(d("2026-12-20")), Some(-4));
        assert_eq!(advance(late, &Step::CountyApproval { approved: true, note: "审批认定为监测对象".into() }, PovertyOffice, d("2026-12-20")).unwrap().stage, Stage::Approved);
    }

    fn any_step() -> impl Strategy<Value = Step> {
        let words = prop_oneof![Just("写明的情况说明".to_string()), Just("短".to_string())];
        (0..7usize, any::<bool>(), words).prop_map(|(k, b, w)| match k {
            0 => Step::HomeVisit { note: w },
            1 => Step::CrossCheck { note: w },
            2 => Step::PostNotice,
            3 => Step::TownshipReview { agreed: b, note: w },
            4 => Step::CountyApproval { approved: b, note: w },
            5 => Step::Help { measures: w },
            _ => Step::Assess { eliminated: b, reason: w },
        })
    }

    proptest! {
        /// Whatever is tried, by whom and when: a recognition reaches approval only through every
        /// earlier stage in order, by the owning roles, with the notice up its days; and nothing
        /// moves a closed one.
        #[test]
        fn only_the_owners_move_a_recognition_and_only_forward(tries in proptest::collection::vec((any_step(), 0..Role::ALL.len(), 0i64..40), 1..60)) {
            let lead = d("2026-12-01");
            let mut r = Recognition::new(lead);
            let mut seen = vec![r.stage];
            let order = [Stage::Lead, Stage::Visited, Stage::CrossChecked, Stage::NoticePosted, Stage::TownshipReviewed, Stage::Approved, Stage::Helped, Stage::Closed];
            let mut day = lead;
            for (step, role, after) in tries {
                day += chrono::Duration::days(after % 4);
                let role = Role::ALL[role];
                match advance(r, &step, role, day) {
                    Ok(next) => {
                        prop_assert!(step.roles().contains(&role));
                        prop_assert!(r.stage != Stage::Closed);
                        let (i, j) = (order.iter().position(|s| *s == r.stage).unwrap(), order.iter().position(|s| *s == next.stage).unwrap());
                        prop_assert!(j == i + 1 || j == i || next.stage == Stage::Closed, "{:?} → {:?}", r.stage, next.stage);
                        if next.stage == Stage::TownshipReviewed {
                            prop_assert!((day - r.notice_on.unwrap()).num_days() >= NOTICE_DAYS);
                        }
                        r = next;
                        seen.push(r.stage);
                    }
                    Err(why) => prop_assert!(!why.is_empty()),
                }
            }
            if seen.contains(&Stage::Approved) {
                for s in &order[..5] {
                    prop_assert!(seen.contains(s), "approved without {s:?}: {seen:?}");
                }
            }
        }
    }
}
