//! Early-warning rules of 防止因病返贫动态监测: when a household's medical spending puts it at
//! risk of falling (back) into poverty. Data, like settlement policies: a dated, region-scoped TOML
//! file whose every number names its source, checked on load with every problem reported at once
//! (docs/monitoring.md). Pure: [`WarningRules::check`] says which rules a household's figures fire.
//!
//! The spending watched is the household's **compliant out-of-pocket** spending (合规自付): what
//! its members paid themselves of the in-policy and class-B parts of their settled bills
//! ([`compliant_out_of_pocket`]) over the rules' rolling window of months.

use std::collections::BTreeMap;
use std::fmt;

use huimin_domain::{Date, MonitoringCategory, Money, RegionCode};
use serde::Deserialize;

use crate::{Bill, Ratio};

/// What a settled bill adds to its household's watched spending: the patient's share of the
/// in-policy (P) and class-B first-pay (B) buckets. Out-of-catalogue spending is not compliant.
pub fn compliant_out_of_pocket(bill: &Bill) -> Money {
    bill.patient[0] + bill.patient[1]
}

/// A household's figures as the rules read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdFigures {
    pub category: Option<MonitoringCategory>,
    /// Members (家庭人口数), at least 1.
    pub size: u32,
    /// 家庭年人均纯收入; `None`: not known (the rules that need it do not fire).
    pub per_capita_income: Option<Money>,
    /// Compliant out-of-pocket spending over the window.
    pub out_of_pocket: Money,
}

/// What a rule tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    /// The spending is above an amount (高额医疗费用支出预警).
    SpendingOver(Money),
    /// The spending is above a share of the household's annual income (size × per capita).
    ShareOfIncome(Ratio),
    /// The spending takes the household below the monitoring line: its annual income per member
    /// is at or above the line, and what is left after the spending is below it (因病返贫). A
    /// household already below the line is monitored for its income, not warned for its illness.
    BelowLineAfterSpending,
}

/// One rule: a test with its numbers, by default and for the categories that have their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningRule {
    pub id: String,
    pub name: String,
    pub test: Test,
    /// The test for households of these categories (a lower amount for 边缘易致贫户, say).
    pub by_category: Vec<(MonitoringCategory, Test)>,
    /// The source's title.
    pub source: String,
}

impl WarningRule {
    fn test_for(&self, category: Option<MonitoringCategory>) -> Test {
        category.and_then(|c| self.by_category.iter().find(|(k, _)| *k == c).map(|(_, t)| *t)).unwrap_or(self.test)
    }
}

/// A rule that fired, with the sentence that says why in the household's own figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    pub rule_id: String,
    pub rule_name: String,
    pub reason: String,
    pub source: String,
}

/// A checked rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningRules {
    pub id: String,
    pub name: String,
    pub region: RegionCode,
    pub effective_from: Date,
    pub effective_to: Date,
    /// The months of spending summed, ending with the current one (12: the last twelve months).
    pub window_months: u32,
    /// 监测标准: the annual per-capita net income below which a household is at risk.
    pub monitoring_line: Money,
    pub rules: Vec<WarningRule>,
}

impl WarningRules {
    pub fn in_force_on(&self, day: Date) -> bool {
        self.effective_from <= day && day <= self.effective_to
    }

    /// The rules a household's figures fire, in the file's order. Exact: integer fen, no division.
    pub fn check(&self, h: &HouseholdFigures) -> Vec<Firing> {
        let size = i128::from(h.size.max(1));
        let spent = i128::from(h.out_of_pocket.fen());
        let income = h.per_capita_income.map(|p| i128::from(p.fen()) * size);
        let line = i128::from(self.monitoring_line.fen());
        let mut out = Vec::new();
        for rule in &self.rules {
            let why = match rule.test_for(h.category) {
                Test::SpendingOver(amount) if spent > i128::from(amount.fen()) => {
                    Some(format!("近 {} 个月合规自付医疗费用 {}，超过 {}", self.window_months, yuan(spent), yuan(i128::from(amount.fen()))))
                }
                Test::ShareOfIncome(r) => match income {
                    Some(income) if spent * 1_000_000 > i128::from(r.ppm()) * income => {
                        Some(format!("近 {} 个月合规自付医疗费用 {}，超过家庭年收入 {} 的 {}", self.window_months, yuan(spent), yuan(income), r))
                    }
                    _ => None,
                },
                Test::BelowLineAfterSpending => match income {
                    Some(income) if income >= line * size && income - spent < line * size => Some(format!(
                        "扣除近 {} 个月合规自付医疗费用 {} 后，家庭年人均纯收入约 {}，低于监测标准 {}",
                        self.window_months,
                        yuan(spent),
                        yuan((income - spent).max(0) / size),
                        yuan(line)
                    )),
                    _ => None,
                },
                _ => None,
            };
            if let Some(reason) = why {
                out.push(Firing { rule_id: rule.id.clone(), rule_name: rule.name.clone(), reason, source: rule.source.clone() });
            }
        }
        out
    }
}

fn yuan(fen: i128) -> String {
    huimin_domain::format::yuan(Money::from_fen(i64::try_from(fen.max(0)).unwrap_or(i64::MAX)).unwrap_or_default())
}

/// Every problem found in a rules file, each with its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct WarningRulesError {
    pub file: String,
    pub issues: Vec<(String, String)>,
}

impl fmt::Display for WarningRulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, reason)) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}：{field}：{reason}", self.file)?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    rules: RawHeader,
    #[serde(default)]
    sources: BTreeMap<String, String>,
    #[serde(default, rename = "rule")]
    list: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    id: String,
    name: String,
    region: String,
    effective_from: String,
    effective_to: String,
    window_months: u32,
    monitoring_line: String,
    monitoring_line_source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    name: String,
    kind: String,
    amount: Option<String>,
    ratio: Option<String>,
    source: String,
    #[serde(default)]
    by_category: BTreeMap<String, String>,
}

/// Reads and checks a rules file; `file` names it in the messages.
pub fn parse_warning_rules(file: &str, text: &str) -> Result<WarningRules, WarningRulesError> {
    let fail = |field: &str, reason: String| WarningRulesError { file: file.into(), issues: vec![(field.into(), reason)] };
    let raw: RawFile = toml::from_str(text).map_err(|e| fail("", e.message().to_string()))?;
    let mut issues: Vec<(String, String)> = Vec::new();
    let mut issue = |field: &str, reason: String| issues.push((field.to_string(), reason));
    let h = &raw.rules;
    let region = RegionCode::parse(&h.region).map_err(|e| issue("rules.region", e.to_string())).ok();
    let date = |field: &str, s: &str, issue: &mut dyn FnMut(&str, String)| Date::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| issue(field, format!("日期「{s}」应为 YYYY-MM-DD"))).ok();
    let from = date("rules.effective_from", &h.effective_from, &mut issue);
    let to = date("rules.effective_to", &h.effective_to, &mut issue);
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            issue("rules.effective_to", format!("有效期止 {t} 早于起 {f}"));
        }
    }
    if !(1..=36).contains(&h.window_months) {
        issue("rules.window_months", format!("统计月数应为 1–36，实为 {}", h.window_months));
    }
    let line = Money::parse_yuan(&h.monitoring_line).map_err(|e| issue("rules.monitoring_line", e.to_string())).ok();
    let source_of = |field: &str, key: &str, issue: &mut dyn FnMut(&str, String)| match raw.sources.get(key.trim()) {
        Some(title) => title.clone(),
        None => {
            issue(field, format!("依据「{key}」不在 [sources] 中"));
            String::new()
        }
    };
    source_of("rules.monitoring_line_source", &h.monitoring_line_source, &mut issue);
    let mut rules = Vec::new();
    for (i, r) in raw.list.iter().enumerate() {
        let at = |f: &str| format!("rule[{}]（{}）.{f}", i + 1, r.id);
        if r.id.trim().is_empty() || raw.list[..i].iter().any(|o| o.id == r.id) {
            issue(&at("id"), "规则编号不能为空或重复".into());
        }
        let parse_test = |field: &str, value: Option<&str>, issue: &mut dyn FnMut(&str, String)| -> Option<Test> {
            match r.kind.as_str() {
                "spending_over" => match value.map(Money::parse_yuan) {
                    Some(Ok(m)) if !m.is_zero() => Some(Test::SpendingOver(m)),
                    Some(Ok(_)) => {
                        issue(field, "金额应大于 0".into());
                        None
                    }
                    Some(Err(e)) => {
                        issue(field, e.to_string());
                        None
                    }
                    None => {
                        issue(field, "spending_over 需要 amount（元）".into());
                        None
                    }
                },
                "share_of_income" => match value.map(Ratio::parse) {
                    Some(Ok(ratio)) if ratio.ppm() > 0 => Some(Test::ShareOfIncome(ratio)),
                    Some(Ok(_)) => {
                        issue(field, "比例应大于 0".into());
                        None
                    }
                    Some(Err(e)) => {
                        issue(field, e);
                        None
                    }
                    None => {
                        issue(field, "share_of_income 需要 ratio（如 0.5 或 50%）".into());
                        None
                    }
                },
                "below_line_after_spending" => Some(Test::BelowLineAfterSpending),
                other => {
                    issue(&at("kind"), format!("规则类型「{other}」未知（可用：spending_over、share_of_income、below_line_after_spending）"));
                    None
                }
            }
        };
        let (value_field, value) = match r.kind.as_str() {
            "spending_over" => ("amount", r.amount.as_deref()),
            _ => ("ratio", r.ratio.as_deref()),
        };
        let test = parse_test(&at(value_field), value, &mut issue);
        let mut by_category = Vec::new();
        for (code, v) in &r.by_category {
            match MonitoringCategory::parse(code) {
                Ok(c) => {
                    if let Some(t) = parse_test(&at(&format!("by_category.{code}")), Some(v), &mut issue) {
                        by_category.push((c, t));
                    }
                }
                Err(e) => issue(&at(&format!("by_category.{code}")), e.0),
            }
        }
        if r.kind == "below_line_after_spending" && !r.by_category.is_empty() {
            issue(&at("by_category"), "below_line_after_spending 以监测标准为准，不分类别".into());
        }
        let source = source_of(&at("source"), &r.source, &mut issue);
        if let Some(test) = test {
            rules.push(WarningRule { id: r.id.trim().into(), name: r.name.trim().into(), test, by_category, source });
        }
    }
    if raw.list.is_empty() {
        issue("rule", "至少需要一条预警规则".into());
    }
    match (issues.is_empty(), region, from, to, line) {
        (true, Some(region), Some(effective_from), Some(effective_to), Some(monitoring_line)) => Ok(WarningRules {
            id: h.id.trim().into(),
            name: h.name.trim().into(),
            region,
            effective_from,
            effective_to,
            window_months: h.window_months,
            monitoring_line,
            rules,
        }),
        _ => Err(WarningRulesError { file: file.into(), issues }),
    }
}
