//! Loading checks every number and reports the file, the field and the reason.

use huimin_policy::parse_policy;

const HEAD: &str = r#"
[policy]
id = "t"
name = "测试"
region = "371302"
effective_from = "2024-01-01"
effective_to = "2024-12-31"
b_first_pay_rate = "10%"
source = "s"

[sources]
s = "a source"

[diseases]
major = ["C34"]
"#;

fn issues(layers: &str) -> Vec<String> {
    match parse_policy("p.toml", &format!("{HEAD}\n{layers}")) {
        Ok(_) => Vec::new(),
        Err(e) => e.issues.iter().map(|i| format!("{}: {}", i.field, i.reason)).collect(),
    }
}

fn one(layers: &str, field: &str, reason: &str) {
    let got = issues(layers);
    assert!(got.iter().any(|i| i.contains(field) && i.contains(reason)), "expected {field} / {reason}, got {got:#?}");
}

const OK: &str = r#"
[[layer]]
id = "basic"
name = "基本医保"
fund = "390101"
buckets = ["P"]
ratio = "85%"
"#;

#[test]
fn a_good_policy_loads() {
    assert!(issues(OK).is_empty(), "{:?}", issues(OK));
}

#[test]
fn bad_numbers_are_named() {
    one(&OK.replace("85%", "1.5"), "layer[0]（basic）.ratio", "超出 0–1");
    one(&OK.replace("390101", "123456"), ".fund", "基金编码「123456」未知");
    one(&OK.replace(r#"buckets = ["P"]"#, r#"buckets = ["X"]"#), ".buckets", "费用段「X」未知");
    one(&OK.replace(r#"ratio = "85%""#, r#"ratio = "85%"
deductible = "-400""#), ".deductible", "不能为负数");
    one(&OK.replace(r#"ratio = "85%""#, ""), "layer[0]", "没有支付比例");
    one(&OK.replace(r#"ratio = "85%""#, r#"ratio = "85%"
ratios = { P = "80%" }"#), "layer[0]", "只能写一种");
}

#[test]
fn overlapping_tiers() {
    let layer = OK.replace(r#"ratio = "85%""#, r#"tiers = [{ from = "0", ratio = "0" }, { from = "10000", ratio = "50%" }, { from = "5000", ratio = "60%" }]"#);
    one(&layer, "tiers[2]", "分档重叠或未按升序排列");
    let layer = OK.replace(r#"ratio = "85%""#, r#"tiers = [{ from = "100", ratio = "50%" }]"#);
    one(&layer, "tiers[0]", "第一档应从 0 开始");
}

#[test]
fn layers_that_can_never_apply() {
    one(&OK.replace(r#"fund = "390101""#, r#"fund = "390101"
visits = []"#), ".visits", "永远不会适用");
    one(&OK.replace("85%", "0%"), "layer[0]", "永远不会支付");
    one(&OK.replace(r#"ratio = "85%""#, r#"ratio = "85%"
cap = "0""#), ".cap", "永远不会支付");
    one(&OK.replace(r#"fund = "390101""#, r#"fund = "390101"
diseases = ["minor"]"#), ".diseases", "病种组「minor」未在 [diseases] 中定义");
    one(&OK.replace(r#"buckets = ["P"]"#, "buckets = []"), ".buckets", "永远不会支付");
}

#[test]
fn every_number_needs_a_known_source() {
    let no_default = format!("{}\n{OK}", HEAD.replace("source = \"s\"\n\n[sources]", "\n[sources]"));
    let e = parse_policy("p.toml", &no_default).unwrap_err();
    assert!(e.to_string().contains("没有注明来源"), "{e}");
    one(&OK.replace(r#"ratio = "85%""#, r#"ratio = { value = "85%", source = "nowhere" }"#), ".ratio", "来源「nowhere」未在 [sources] 中登记");
    let assumed = OK.replace(r#"ratio = "85%""#, r#"ratio = { value = "85%", assumed = true }"#);
    let policy = parse_policy("p.toml", &format!("{HEAD}\n{assumed}")).unwrap();
    assert_eq!(policy.assumptions, ["layer[0]（basic）.ratio"]);
}

#[test]
fn structure_errors() {
    one(&OK.replace("ratio =", "ratoi ="), "第", "unknown field `ratoi`");
    one(&format!("{OK}{OK}"), "layer[1]", "层编号「basic」重复");
    one(&OK.replace(r#"id = "basic""#, r#"id = "basic:1""#), ".id", "只能用字母");
    one(&OK.replace(r#"ratio = "85%""#, r#"ratio = "85%"
[[layer.variant]]
deductible = "100""#), "variant[0]", "没有适用条件");
    one(&OK.replace(r#"ratio = "85%""#, r#"kind = "self_pay_ceiling""#), "layer[0]", "需要 max_ratio");
    one(&OK.replace(r#"ratio = "85%""#, r#"kind = "magic""#), ".kind", "未知");
    // A yearly deductible combined, through a variant, with tiers.
    let layer = OK.replace(r#"ratio = "85%""#, r#"ratio = "85%"
deductible = "5000"
deductible_per = "year"
[[layer.variant]]
levels = ["3"]
tiers = [{ from = "0", ratio = "50%" }]"#);
    one(&layer, "variant[0]", "按年起付线只能与单一比例合用");
    let e = parse_policy("p.toml", &HEAD.replace(r#"effective_to = "2024-12-31""#, r#"effective_to = "2023-12-31""#)).unwrap_err();
    assert!(e.to_string().contains("p.toml：policy.effective_to：有效期结束 2023-12-31 早于开始 2024-01-01"), "{e}");
}
