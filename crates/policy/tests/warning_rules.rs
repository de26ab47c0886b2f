//! The early-warning rules: the example file, every problem of a wrong one, and the tests' exact
//! arithmetic (boundaries to the fen, monotone in spending and income).

use huimin_domain::{MonitoringCategory, Money};
use huimin_policy::{HouseholdFigures, Test, parse_warning_rules};
use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../../../warnings/county-2023.toml");

fn money(fen: i64) -> Money {
    Money::from_fen(fen).unwrap()
}

fn figures(category: Option<MonitoringCategory>, size: u32, per_capita_fen: Option<i64>, spent_fen: i64) -> HouseholdFigures {
    HouseholdFigures { category, size, per_capita_income: per_capita_fen.map(money), out_of_pocket: money(spent_fen) }
}

fn fired(h: &HouseholdFigures) -> Vec<String> {
    parse_warning_rules("county-2023.toml", EXAMPLE).unwrap().check(h).into_iter().map(|f| f.rule_id).collect()
}

#[test]
fn the_example_rules_read_with_their_sources_and_fire_to_the_fen() {
    let r = parse_warning_rules("county-2023.toml", EXAMPLE).unwrap();
    assert_eq!((r.window_months, r.monitoring_line, r.rules.len()), (12, Money::from_yuan(7500).unwrap(), 3));
    assert!(r.rules.iter().all(|rule| !rule.source.is_empty()), "every rule names its source");
    assert_eq!(r.rules[0].test, Test::SpendingOver(Money::from_yuan(20000).unwrap()));
    // A household of 4 with 30,000 yuan a head (120,000 a year): only spending above 20,000 fires,
    // from one fen above it; an edge household's own threshold is 15,000.
    let rich = |spent| figures(None, 4, Some(3_000_000), spent);
    assert_eq!(fired(&rich(2_000_000)), Vec::<String>::new());
    assert_eq!(fired(&rich(2_000_001)), ["high-spending"]);
    assert_eq!(fired(&figures(Some(MonitoringCategory::Edge), 4, Some(3_000_000), 1_500_001)), ["high-spending"]);
    assert_eq!(fired(&figures(Some(MonitoringCategory::Sudden), 4, Some(3_000_000), 1_500_001)), Vec::<String>::new(), "the default for others");
    // Half of a 4 × 9,000 = 36,000 income: 18,000.01 fires the share, and what is left
    // (17,999.99 / 4 < 7,500) fires the line too.
    let modest = |spent| figures(None, 4, Some(900_000), spent);
    assert_eq!(fired(&modest(1_800_000)), ["below-line"], "36,000 − 18,000 = 18,000 < 4 × 7,500");
    assert_eq!(fired(&figures(None, 4, Some(700_000), 10_000)), Vec::<String>::new(), "below the line before any spending: not a warning of illness");
    assert_eq!(fired(&modest(1_800_001)), ["share-of-income", "below-line"]);
    assert_eq!(fired(&modest(600_000)), Vec::<String>::new(), "30,000 / 4 = 7,500: not below the line");
    assert_eq!(fired(&modest(600_001)), ["below-line"]);
    // Without a known income only the spending rule can fire.
    assert_eq!(fired(&figures(None, 3, None, 1_900_000)), Vec::<String>::new());
    let why = &parse_warning_rules("c", EXAMPLE).unwrap().check(&modest(1_800_001))[0].reason;
    assert!(why.contains("¥18,000.01") && why.contains("¥36,000.00") && why.contains("50%"), "{why}");
}

#[test]
fn a_wrong_file_says_every_problem_with_its_field() {
    let wrong = EXAMPLE
        .replace("window_months = 12", "window_months = 0")
        .replace("effective_to = \"2026-12-31\"", "effective_to = \"2022-12-31\"")
        .replace("amount = \"20000\"", "amount = \"-5\"")
        .replace("\"边缘易致贫户\" = \"15000\"", "\"边沿户\" = \"15000\"")
        .replace("ratio = \"50%\"", "ratio = \"150%\"")
        .replace("source = \"line\"\n", "source = \"nowhere\"\n")
        .replace("kind = \"below_line_after_spending\"", "kind = \"below\"");
    let e = parse_warning_rules("w.toml", &wrong).unwrap_err();
    let text = e.to_string();
    for part in [
        "w.toml：rules.window_months：统计月数应为 1–36",
        "w.toml：rules.effective_to：有效期止 2022-12-31 早于起 2023-01-01",
        "rule[1]（high-spending）.amount",
        "rule[1]（high-spending）.by_category.边沿户：监测对象类别「边沿户」无法识别",
        "rule[2]（share-of-income）.ratio：比例 150% 超出 0–1 的范围",
        "rule[3]（below-line）.kind：规则类型「below」未知",
        "rule[3]（below-line）.source：依据「nowhere」不在 [sources] 中",
    ] {
        assert!(text.contains(part), "missing «{part}» in:\n{text}");
    }
    assert!(parse_warning_rules("w.toml", "[rules]\nid = 1").unwrap_err().to_string().starts_with("w.toml："));
    assert!(parse_warning_rules("w.toml", &EXAMPLE.replace("window_months", "window")).is_err(), "a misspelt field");
}

proptest! {
    /// More spending never stops a rule firing; more income never makes a rule of spending fire
    /// (the line's rule needs the income to be above the line first).
    #[test]
    fn rules_are_monotone(size in 1u32..12, income in proptest::option::of(0i64..20_000_000), spent in 0i64..50_000_000, more in 0i64..5_000_000, edge in any::<bool>()) {
        let category = edge.then_some(MonitoringCategory::Edge);
        let base = fired(&figures(category, size, income, spent));
        let spending_more = fired(&figures(category, size, income, spent + more));
        prop_assert!(base.iter().all(|r| spending_more.contains(r)), "{base:?} ⊄ {spending_more:?}");
        if let Some(income) = income {
            let richer = fired(&figures(category, size, Some(income + more), spent));
            prop_assert!(richer.iter().filter(|r| *r != "below-line").all(|r| base.contains(r)), "{richer:?} ⊄ {base:?}");
        }
    }
}
