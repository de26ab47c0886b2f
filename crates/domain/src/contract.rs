//! Family-doctor contracts (家庭医生签约) and follow-ups (随访): the service package, the key
//! groups, the follow-up schedule and what counts as an abnormal reading.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Date;
use crate::registry::{ValueError, err};

labelled_enum!(
    /// The at least ten services a team gives (seed 001, §8).
    Service, "签约服务项目" {
        BasicCare = "basic_care", "基本医疗";
        PublicHealth = "public_health", "公共卫生";
        HealthManagement = "health_management", "健康管理";
        Education = "education", "健康教育与咨询";
        PriorityBooking = "priority_booking", "优先预约";
        PriorityReferral = "priority_referral", "优先转诊";
        HomeVisits = "home_visits", "出诊";
        DrugDelivery = "drug_delivery", "药品配送与用药指导";
        LongPrescription = "long_prescription", "长期处方";
        Tcm = "tcm", "中医药“治未病”" | "中医药治未病";
    }
);

labelled_enum!(
    /// Key groups (重点人群): 12 follow-ups a year instead of 4.
    KeyGroup, "重点人群" {
        Elderly = "elderly", "老年人" | "65岁及以上老年人";
        Child = "child", "儿童" | "0-6岁儿童";
        Pregnant = "pregnant", "孕产妇";
        Disabled = "disabled", "残疾人";
        Hypertension = "hypertension", "高血压患者" | "高血压";
        Diabetes = "diabetes", "糖尿病患者" | "糖尿病";
        Tuberculosis = "tuberculosis", "结核病患者" | "结核病";
        SevereMental = "severe_mental", "严重精神障碍患者" | "严重精神障碍";
    }
);

labelled_enum!(
    /// How a follow-up was done (seed 001: 门诊、巡诊、随访、电话、短信、网络).
    FollowUpMode, "随访方式" {
        Clinic = "clinic", "门诊";
        Home = "home", "入户" | "巡诊" | "出诊";
        Phone = "phone", "电话";
        Sms = "sms", "短信";
        Online = "online", "网络" | "在线";
    }
);

labelled_enum!(
    /// Whether the patient takes the medication as prescribed.
    Adherence, "服药依从性" {
        Regular = "regular", "规律服药" | "规律";
        Irregular = "irregular", "间断服药" | "间断";
        NotTaking = "not_taking", "不服药";
        NotNeeded = "not_needed", "无需服药";
    }
);

impl KeyGroup {
    /// A diagnosis that belonging to the group discloses (a code of it), if any: a viewer sees
    /// the group only if they may see that diagnosis (see `disclosure`).
    pub fn diagnosis(self) -> Option<&'static str> {
        match self {
            KeyGroup::Hypertension => Some("I10"),
            KeyGroup::Diabetes => Some("E11"),
            KeyGroup::Tuberculosis => Some("A15"),
            KeyGroup::SevereMental => Some("F20"),
            KeyGroup::Pregnant => Some("Z33"),
            KeyGroup::Elderly | KeyGroup::Child | KeyGroup::Disabled => None,
        }
    }

    /// The groups that show in a person's age on `on`: 65 and over, 0–6.
    pub fn by_age(birth: Date, on: Date) -> Option<KeyGroup> {
        let age = on.years_since(birth)?;
        match age {
            65.. => Some(KeyGroup::Elderly),
            0..=6 => Some(KeyGroup::Child),
            _ => None,
        }
    }

    /// The group a diagnosis puts a person in (ICD-10 categories): hypertension I10–I15,
    /// diabetes E10–E14, tuberculosis A15–A19, severe mental disorders F20, F22, F25, F31 and
    /// F06 (the six of the national programme that carry an ICD code of their own).
    pub fn by_diagnosis(code: &str) -> Option<KeyGroup> {
        let category = code.get(..3)?;
        match category {
            "I10" | "I11" | "I12" | "I13" | "I15" => Some(KeyGroup::Hypertension),
            "E10" | "E11" | "E12" | "E13" | "E14" => Some(KeyGroup::Diabetes),
            "A15" | "A16" | "A17" | "A18" | "A19" => Some(KeyGroup::Tuberculosis),
            "F20" | "F22" | "F25" | "F31" | "F06" => Some(KeyGroup::SevereMental),
            _ => None,
        }
    }
}

/// Follow-ups a year: for key groups and for everyone else (seed 001: 12 and 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FollowUpRule {
    pub key_per_year: u8,
    pub other_per_year: u8,
}

impl Default for FollowUpRule {
    fn default() -> Self {
        FollowUpRule { key_per_year: 12, other_per_year: 4 }
    }
}

impl FollowUpRule {
    /// A rule must divide the year into whole months: 1, 2, 3, 4, 6 or 12 a year.
    pub fn new(key_per_year: u8, other_per_year: u8) -> Result<FollowUpRule, ValueError> {
        for n in [key_per_year, other_per_year] {
            if ![1, 2, 3, 4, 6, 12].contains(&n) {
                return err(format!("每年随访次数 {n} 不可用：应为 1、2、3、4、6 或 12（按月均分全年）"));
            }
        }
        Ok(FollowUpRule { key_per_year, other_per_year })
    }

    pub fn per_year(&self, key: bool) -> u8 {
        if key { self.key_per_year } else { self.other_per_year }
    }
}

/// One window of the schedule: a follow-up is due by `end` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Window {
    pub start: Date,
    pub end: Date,
}

/// The contract year split into `per_year` windows of whole months, counted from the first of
/// the contract's first month: the first window starts with the contract, the last ends with it.
pub fn schedule(starts_on: Date, ends_on: Date, per_year: u8) -> Vec<Window> {
    use chrono::{Datelike, Months};
    let n = u32::from(per_year.clamp(1, 12));
    let first = Date::from_ymd_opt(starts_on.year(), starts_on.month(), 1).unwrap_or(starts_on);
    let mut out = Vec::new();
    let mut start = first;
    for i in 0..n {
        if start > ends_on {
            break;
        }
        let Some(next) = start.checked_add_months(Months::new(12 / n)) else { break };
        let end = if i + 1 == n { ends_on } else { next.pred_opt().unwrap_or(next).min(ends_on) };
        out.push(Window { start: start.max(starts_on), end });
        start = next;
    }
    out
}

/// Where a person's schedule stands on `today`, given the dates of their follow-ups.
///
/// Today's work is the *current* window (the one today falls in, or the next to come): due by
/// its end unless a follow-up falls in it. A window that ended without one counts against 履约率
/// and stays in the person's history (`missed`); it makes the person overdue only while it is the
/// latest window that has ended and no follow-up came after it — a window missed in January does
/// not make anyone "300 days overdue" in December.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ScheduleState {
    /// Windows that have ended by `today` (follow-ups due so far).
    pub due: u32,
    /// Of those, the windows with a follow-up.
    pub done: u32,
    /// The window today falls in, or the next one; None once the contract's windows are over.
    pub current: Option<Window>,
    /// A follow-up falls in the current window.
    pub current_done: bool,
    /// The end of the current window while it has no follow-up: today's work is due by then.
    pub next_due: Option<Date>,
    /// The end of the latest window that has ended, when it had no follow-up and none came after.
    pub overdue_since: Option<Date>,
    /// Windows that ended without a follow-up.
    pub missed: Vec<Window>,
}

impl ScheduleState {
    /// Days since the latest ended window closed without a follow-up (0 if none is late).
    pub fn overdue_days(&self, today: Date) -> i64 {
        self.overdue_since.map_or(0, |d| (today - d).num_days().max(0))
    }

    /// Days left to the current window's end while it still needs a follow-up.
    pub fn days_left(&self, today: Date) -> Option<i64> {
        self.next_due.map(|d| (d - today).num_days())
    }
}

pub fn schedule_state(windows: &[Window], follow_ups: &[Date], today: Date) -> ScheduleState {
    let covered = |w: &Window| follow_ups.iter().any(|d| (w.start..=w.end).contains(d));
    let mut state = ScheduleState { due: 0, done: 0, current: None, current_done: false, next_due: None, overdue_since: None, missed: Vec::new() };
    let mut last_ended: Option<&Window> = None;
    for w in windows {
        if w.end < today {
            state.due += 1;
            if covered(w) {
                state.done += 1;
            } else {
                state.missed.push(*w);
            }
            last_ended = Some(w);
        } else if state.current.is_none() {
            state.current = Some(*w);
            state.current_done = covered(w);
            state.next_due = (!state.current_done).then_some(w.end);
        }
    }
    if let Some(w) = last_ended.filter(|w| !covered(w)) {
        if !follow_ups.iter().any(|d| *d > w.end) {
            state.overdue_since = Some(w.end);
        }
    }
    state
}

/// A follow-up's readings; every one optional. Heart rate in beats a minute, glucose in 0.1
/// mmol/L, weight in 0.1 kg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FollowUpReadings {
    pub systolic: Option<u16>,
    pub diastolic: Option<u16>,
    pub glucose_tenths: Option<u16>,
    pub heart_rate: Option<u16>,
    pub weight_tenths: Option<u16>,
}

impl FollowUpReadings {
    pub fn parse(systolic: &str, diastolic: &str, glucose: &str, heart_rate: &str, weight: &str) -> Result<FollowUpReadings, ValueError> {
        let exam = crate::ExamReadings::parse(systolic, diastolic, glucose, "", weight)?;
        let heart_rate = match heart_rate.trim() {
            "" => None,
            s => match s.parse::<u16>() {
                Ok(v) if (20..=250).contains(&v) => Some(v),
                Ok(v) => return err(format!("心率 {v} 次/分 不在合理范围 20–250 内")),
                Err(_) => return err(format!("心率「{s}」应为整数")),
            },
        };
        Ok(FollowUpReadings { systolic: exam.systolic, diastolic: exam.diastolic, glucose_tenths: exam.glucose_tenths, heart_rate, weight_tenths: exam.weight_tenths })
    }

    /// What is out of range, for the abnormal list: BP ≥ 140/90 mmHg, fasting glucose ≥ 7.0
    /// mmol/L (the usual diagnostic thresholds), heart rate below 50 or above 100 (assumed).
    pub fn abnormal(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.systolic.is_some_and(|s| s >= 140) || self.diastolic.is_some_and(|d| d >= 90) {
            out.push("血压偏高");
        }
        if self.glucose_tenths.is_some_and(|g| g >= 70) {
            out.push("空腹血糖偏高");
        }
        if self.heart_rate.is_some_and(|h| !(50..=100).contains(&h)) {
            out.push("心率异常");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_year_is_split_into_whole_months() {
        let monthly = schedule(d("2024-01-01"), d("2024-12-31"), 12);
        assert_eq!(monthly.len(), 12);
        assert_eq!((monthly[1].start, monthly[1].end), (d("2024-02-01"), d("2024-02-29")));
        let quarterly = schedule(d("2024-03-15"), d("2025-03-14"), 4);
        assert_eq!(quarterly.len(), 4);
        assert_eq!((quarterly[0].start, quarterly[0].end), (d("2024-03-15"), d("2024-05-31")));
        assert_eq!((quarterly[3].start, quarterly[3].end), (d("2024-12-01"), d("2025-03-14")), "the last window ends with the contract");
        assert!(schedule(d("2024-05-01"), d("2024-04-01"), 4).is_empty());
    }

    #[test]
    fn the_schedule_says_what_is_due_and_late() {
        let w = schedule(d("2024-01-01"), d("2024-12-31"), 4);
        // Q1 done, Q2 missed, Q3 current: due by 09-30, and late since 06-30 (nothing after it).
        let s = schedule_state(&w, &[d("2024-02-10")], d("2024-08-15"));
        assert_eq!((s.due, s.done, s.next_due, s.overdue_since), (2, 1, Some(d("2024-09-30")), Some(d("2024-06-30"))));
        assert_eq!((s.overdue_days(d("2024-08-15")), s.days_left(d("2024-08-15"))), (46, Some(46)));
        assert_eq!(s.missed, [w[1]]);
        // A visit in Q3 clears today's work; Q2 stays missed (in 履约率 and the history).
        let s = schedule_state(&w, &[d("2024-02-10"), d("2024-07-01")], d("2024-08-15"));
        assert_eq!((s.due, s.done, s.current_done, s.next_due, s.overdue_days(d("2024-08-15"))), (2, 1, true, None, 0));
        assert_eq!(s.missed, [w[1]]);
        // A window missed in January is not "overdue" in December once later windows were done.
        let m = schedule(d("2024-01-01"), d("2024-12-31"), 12);
        let visits: Vec<Date> = (2..=11).map(|month| Date::from_ymd_opt(2024, month, 10).unwrap()).collect();
        let s = schedule_state(&m, &visits, d("2024-12-01"));
        assert_eq!((s.due, s.done, s.overdue_days(d("2024-12-01")), s.next_due), (11, 10, 0, Some(d("2024-12-31"))));
    }

    #[test]
    fn key_groups_come_from_age_and_diagnosis() {
        assert_eq!(KeyGroup::by_age(d("1959-06-30"), d("2024-06-30")), Some(KeyGroup::Elderly));
        assert_eq!(KeyGroup::by_age(d("1959-07-01"), d("2024-06-30")), None, "64 the day before the birthday");
        assert_eq!(KeyGroup::by_age(d("2018-01-01"), d("2024-06-30")), Some(KeyGroup::Child));
        assert_eq!(KeyGroup::by_diagnosis("I10"), Some(KeyGroup::Hypertension));
        assert_eq!(KeyGroup::by_diagnosis("E11.9"), Some(KeyGroup::Diabetes));
        assert_eq!(KeyGroup::by_diagnosis("F20.0"), Some(KeyGroup::SevereMental));
        // The diagnosis a group discloses is one that leads to it.
        for g in KeyGroup::ALL.iter().filter(|g| **g != KeyGroup::Pregnant) {
            if let Some(code) = g.diagnosis() {
                assert_eq!(KeyGroup::by_diagnosis(code), Some(*g));
            }
        }
        assert!(crate::legally_confidential(KeyGroup::SevereMental.diagnosis().unwrap()));
        assert_eq!(KeyGroup::by_diagnosis("I25"), None);
        assert_eq!(KeyGroup::by_diagnosis("I"), None);
    }

    #[test]
    fn abnormal_readings_are_flagged() {
        let r = FollowUpReadings::parse("142", "88", "7.0", "72", "").unwrap();
        assert_eq!(r.abnormal(), ["血压偏高", "空腹血糖偏高"]);
        assert!(FollowUpReadings::parse("128", "82", "5.6", "72", "60").unwrap().abnormal().is_empty());
        assert_eq!(FollowUpReadings::parse("", "", "", "110", "").unwrap().abnormal(), ["心率异常"]);
        assert!(FollowUpReadings::parse("", "", "", "300", "").is_err());
        assert!(FollowUpRule::new(5, 4).is_err() && FollowUpRule::new(12, 4).is_ok());
    }
}

#[cfg(test)]
mod schedule_properties {
    use super::*;
    use proptest::prelude::*;

    fn day(n: i64) -> Date {
        Date::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::days(n)
    }

    proptest! {
        /// Any contract start, rule, visits and day: a visit always clears its window; the
        /// overdue days never exceed the time since a window ended, and only while nothing came
        /// after it; 履约率 is done windows over due windows, and the missed ones are the rest.
        #[test]
        fn any_sequence_of_visits(start in 0i64..365, per_year in prop::sample::select(vec![1u8, 2, 3, 4, 6, 12]), visits in prop::collection::vec(-30i64..800, 0..20), today in -30i64..800) {
            let starts_on = day(start);
            let ends_on = starts_on.checked_add_months(chrono::Months::new(12)).unwrap().pred_opt().unwrap();
            let windows = schedule(starts_on, ends_on, per_year);
            let visits: Vec<Date> = visits.into_iter().map(day).collect();
            let today = day(today);
            let s = schedule_state(&windows, &visits, today);
            for v in &visits {
                if let Some(w) = windows.iter().find(|w| (w.start..=w.end).contains(v)) {
                    prop_assert!(!s.missed.contains(w), "a visit clears its window");
                    if s.current == Some(*w) {
                        prop_assert!(s.current_done && s.next_due.is_none());
                    }
                }
            }
            let ended: Vec<&Window> = windows.iter().filter(|w| w.end < today).collect();
            prop_assert_eq!(s.due as usize, ended.len());
            prop_assert_eq!((s.done as usize) + s.missed.len(), ended.len());
            if let Some(since) = s.overdue_since {
                let last = ended.last().expect("an ended window");
                prop_assert_eq!(since, last.end);
                prop_assert!(s.overdue_days(today) <= (today - last.end).num_days());
                prop_assert!(!visits.iter().any(|v| *v > last.end), "overdue only while nothing came after");
            } else {
                prop_assert_eq!(s.overdue_days(today), 0);
            }
            if let Some(c) = s.current {
                prop_assert!(c.end >= today && ended.iter().all(|w| w.end < c.start));
            }
        }
    }
}
