//! Policy files: parsing, checking, and the checked `Policy` the engine runs.
//! The format is documented in `docs/policy-format.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use huimin_domain::{Date, Money, PovertyCategory, RegionCode};
use serde::{Deserialize, Serialize};

use crate::model::{Bucket, Claim, Fund, Place, VisitType};
use crate::ratio::Ratio;

/// A checked policy: every number valid and referenced, every layer able to apply.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Policy {
    #[schema(value_type = String)]
    pub id: Arc<str>,
    pub name: String,
    pub region: RegionCode,
    pub effective_from: Date,
    pub effective_to: Date,
    pub b_first_pay_rate: Ratio,
    pub layers: Vec<Layer>,
    /// Disease groups: name → ICD-10 code prefixes.
    pub disease_groups: BTreeMap<String, Vec<String>>,
    pub sources: BTreeMap<String, String>,
    /// Fields whose numbers are assumptions, not given by a source document.
    pub assumptions: Vec<String>,
}

/// Which claims a layer (or a variant of it) applies to; `None` means any.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Filter {
    pub visits: Option<Vec<VisitType>>,
    pub categories: Option<Vec<PovertyCategory>>,
    pub places: Option<Vec<Place>>,
    /// Disease groups; the claim matches if any of its codes is in any group.
    pub diseases: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Layer {
    /// Shared with every bill line and accumulator of the layer: cloning it allocates nothing.
    #[schema(value_type = String)]
    pub id: Arc<str>,
    #[schema(value_type = String)]
    pub name: Arc<str>,
    pub fund: Fund,
    pub filter: Filter,
    /// The buckets the layer pays from, in the order it pays them.
    pub buckets: Vec<Bucket>,
    pub rule: Rule,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub enum Rule {
    /// Pays a share of its buckets: ratios or tiers, a deductible, an annual cap; the first
    /// matching variant overrides the base numbers.
    Share { base: Params, variants: Vec<(Filter, Overrides)> },
    /// The patient's remaining buckets may not exceed `max_ratio` × the claim's total.
    SelfPayCeiling { max_ratio: Ratio },
    /// The patient's own payment in the buckets over the year may not exceed `cap`.
    AnnualOutOfPocketCap { cap: Money },
    /// All layers together pay at least `min_ratio` of the claim's buckets.
    MinimumReimbursement { min_ratio: Ratio },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum Rate {
    /// One ratio for every bucket of the layer.
    Flat(Ratio),
    PerBucket(BTreeMap<Bucket, Ratio>),
    /// Over the year's cumulative base: (from, ratio), ascending from 0.
    Tiers(Vec<(Money, Ratio)>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Params {
    pub rate: Rate,
    pub deductible: Money,
    pub deductible_per_year: bool,
    pub cap: Option<Money>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Overrides {
    pub rate: Option<Rate>,
    pub deductible: Option<Money>,
    pub deductible_per_year: Option<bool>,
    pub cap: Option<Money>,
}

/// Yuan as people write them on a card: 400 元, 1.5 万元, 2345.50 元.
fn yuan_zh(m: Money) -> String {
    let fen = m.fen();
    if fen % 1_000_000 == 0 && fen >= 1_000_000 {
        format!("{} 万元", fen / 1_000_000)
    } else if fen % 100_000 == 0 && fen >= 1_000_000 {
        format!("{}.{} 万元", fen / 1_000_000, fen / 100_000 % 10)
    } else if fen % 100 == 0 {
        format!("{} 元", fen / 100)
    } else {
        format!("{m} 元")
    }
}

/// A share's numbers in words: 报销 85%，每次起付 400 元，年度最高 15 万元.
fn share_zh(rate: &Rate, deductible: Money, deductible_per_year: bool, cap: Option<Money>) -> Vec<String> {
    let mut parts = vec![match rate {
        Rate::Flat(r) => format!("报销 {r}"),
        Rate::PerBucket(m) => format!("报销 {}", m.iter().map(|(b, r)| format!("{} {r}", b.label_zh())).collect::<Vec<_>>().join("、")),
        Rate::Tiers(t) => {
            // A first tier at 0% is where the layer starts paying.
            let paying: Vec<&(Money, Ratio)> = t.iter().skip_while(|(_, r)| r.is_zero()).collect();
            let from = paying.first().map(|(m, _)| *m).filter(|m| !m.is_zero());
            format!("{}分段报销 {}", from.map(|m| format!("超过 {} ", yuan_zh(m))).unwrap_or_default(), paying.iter().map(|(_, r)| r.to_string()).collect::<Vec<_>>().join("、"))
        }
    }];
    if !deductible.is_zero() {
        parts.push(format!("{}起付 {}", if deductible_per_year { "年度" } else { "每次" }, yuan_zh(deductible)));
    }
    if let Some(cap) = cap {
        parts.push(format!("年度最高 {}", yuan_zh(cap)));
    }
    parts
}

/// Why a line of a bill is what it is: the layer, the numbers it applied, and the text of the
/// source those numbers come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Basis {
    #[schema(value_type = String)]
    pub layer_id: Arc<str>,
    #[schema(value_type = String)]
    pub layer_name: Arc<str>,
    pub rule: String,
    pub source: String,
}

impl Policy {
    /// The basis of every layer that paid something on `bill`, for `claim`, in cascade order.
    pub fn basis(&self, claim: &Claim, bill: &crate::Bill) -> Vec<Basis> {
        bill.lines
            .iter()
            .filter(|l| !l.total.is_zero())
            .filter_map(|l| self.layers.iter().find(|x| x.id == l.layer_id))
            .map(|layer| Basis {
                layer_id: layer.id.clone(),
                layer_name: layer.name.clone(),
                rule: layer.basis_zh(claim, &self.disease_groups),
                source: self.sources.get(&layer.source).cloned().unwrap_or_else(|| layer.source.clone()),
            })
            .collect()
    }
}

impl Layer {
    /// What the layer gives, in one line for a benefit card: 报销 85%，起付 400 元，年度最高 15 万元.
    /// The base numbers; a layer whose numbers differ by hospital or visit says so.
    pub fn summary_zh(&self) -> String {
        match &self.rule {
            Rule::Share { base, variants } => {
                let mut parts = share_zh(&base.rate, base.deductible, base.deductible_per_year, base.cap);
                if !variants.is_empty() {
                    parts.push("按医院等级等不同".into());
                }
                parts.join("，")
            }
            rule => Self::guarantee_zh(rule),
        }
    }

    /// The numbers this layer applied to `claim` (the variant that matched it), in words: the
    /// rule an amount of the bill was paid by.
    pub fn basis_zh(&self, claim: &Claim, groups: &BTreeMap<String, Vec<String>>) -> String {
        match &self.rule {
            Rule::Share { base, variants } => {
                let r = Params::resolve(base, variants, claim, groups);
                share_zh(r.rate, r.deductible, r.deductible_per_year, r.cap).join("，")
            }
            rule => Self::guarantee_zh(rule),
        }
    }

    fn guarantee_zh(rule: &Rule) -> String {
        match rule {
            Rule::SelfPayCeiling { max_ratio } => format!("个人自付不超过总费用的 {max_ratio}"),
            Rule::AnnualOutOfPocketCap { cap } => format!("年度个人自付不超过 {}", yuan_zh(*cap)),
            Rule::MinimumReimbursement { min_ratio } => format!("合规费用报销不低于 {min_ratio}"),
            Rule::Share { .. } => String::new(),
        }
    }
}

impl Filter {
    pub fn matches(&self, claim: &Claim, groups: &BTreeMap<String, Vec<String>>) -> bool {
        self.visits.as_ref().is_none_or(|v| v.contains(&claim.visit))
            && self.categories.as_ref().is_none_or(|c| c.contains(&claim.category))
            && self.places.as_ref().is_none_or(|p| p.iter().any(|p| p.covers(claim.level, claim.in_county)))
            && self.diseases.as_ref().is_none_or(|names| {
                names.iter().filter_map(|n| groups.get(n)).flatten().any(|prefix| {
                    claim.diseases.iter().any(|code| code.trim().to_ascii_uppercase().starts_with(prefix.as_str()))
                })
            })
    }

    fn is_empty(&self) -> bool {
        self.visits.is_none() && self.categories.is_none() && self.places.is_none() && self.diseases.is_none()
    }
}

/// A layer's numbers for one claim, borrowed from the policy (no allocation per claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved<'a> {
    pub rate: &'a Rate,
    pub deductible: Money,
    /// The deductible is over the year's cumulative base (a 0% first tier), not per claim.
    pub deductible_per_year: bool,
    pub cap: Option<Money>,
}

impl Params {
    /// The numbers for this claim: the base, overridden by the first matching variant.
    pub fn resolve<'a>(base: &'a Params, variants: &'a [(Filter, Overrides)], claim: &Claim, groups: &BTreeMap<String, Vec<String>>) -> Resolved<'a> {
        let mut p = Resolved { rate: &base.rate, deductible: base.deductible, deductible_per_year: base.deductible_per_year, cap: base.cap };
        if let Some((_, o)) = variants.iter().find(|(f, _)| f.matches(claim, groups)) {
            if let Some(r) = &o.rate {
                p.rate = r;
            }
            if let Some(d) = o.deductible {
                p.deductible = d;
            }
            if let Some(y) = o.deductible_per_year {
                p.deductible_per_year = y;
            }
            if let Some(c) = o.cap {
                p.cap = Some(c);
            }
        }
        p
    }
}

impl Policy {
    pub fn in_force_on(&self, date: Date) -> bool {
        self.effective_from <= date && date <= self.effective_to
    }
}

// ----- the file format -----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    policy: RawHeader,
    #[serde(default)]
    sources: BTreeMap<String, String>,
    #[serde(default)]
    diseases: BTreeMap<String, Vec<String>>,
    #[serde(default, rename = "layer")]
    layers: Vec<RawLayer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    id: String,
    name: String,
    region: String,
    effective_from: String,
    effective_to: String,
    b_first_pay_rate: RawNum,
    source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawScalar {
    Str(String),
    Int(i64),
    Float(f64),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawNum {
    Plain(RawScalar),
    Sourced {
        value: RawScalar,
        source: Option<String>,
        #[serde(default)]
        assumed: bool,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    from: RawNum,
    ratio: RawNum,
}

#[derive(Debug, Default)]
struct RawFilter {
    visits: Option<Vec<String>>,
    categories: Option<Vec<String>>,
    levels: Option<Vec<String>>,
    diseases: Option<Vec<String>>,
}

#[derive(Debug)]
struct RawNumbers {
    ratio: Option<RawNum>,
    ratios: Option<BTreeMap<String, RawNum>>,
    tiers: Option<Vec<RawTier>>,
    deductible: Option<RawNum>,
    deductible_per: Option<String>,
    cap: Option<RawNum>,
}

// Layers and variants list their fields in full (serde's `flatten` cannot be combined with
// `deny_unknown_fields`, and a misspelt field must be an error, not silently ignored).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    visits: Option<Vec<String>>,
    categories: Option<Vec<String>>,
    levels: Option<Vec<String>>,
    diseases: Option<Vec<String>>,
    ratio: Option<RawNum>,
    ratios: Option<BTreeMap<String, RawNum>>,
    tiers: Option<Vec<RawTier>>,
    deductible: Option<RawNum>,
    deductible_per: Option<String>,
    cap: Option<RawNum>,
    source: Option<String>,
    #[serde(default)]
    assumed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    id: String,
    name: String,
    fund: String,
    kind: Option<String>,
    source: Option<String>,
    #[serde(default)]
    assumed: bool,
    buckets: Vec<String>,
    visits: Option<Vec<String>>,
    categories: Option<Vec<String>>,
    levels: Option<Vec<String>>,
    diseases: Option<Vec<String>>,
    ratio: Option<RawNum>,
    ratios: Option<BTreeMap<String, RawNum>>,
    tiers: Option<Vec<RawTier>>,
    deductible: Option<RawNum>,
    deductible_per: Option<String>,
    cap: Option<RawNum>,
    max_ratio: Option<RawNum>,
    min_ratio: Option<RawNum>,
    #[serde(default, rename = "variant")]
    variants: Vec<RawVariant>,
}

// ----- checking -----

/// One problem in a policy file: where and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Issue {
    pub field: String,
    pub reason: String,
}

/// Every problem found in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    pub file: String,
    pub issues: Vec<Issue>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}：{}：{}", self.file, issue.field, issue.reason)?;
        }
        Ok(())
    }
}

struct Checker<'a> {
    issues: Vec<Issue>,
    sources: &'a BTreeMap<String, String>,
    assumptions: Vec<String>,
}

impl Checker<'_> {
    fn issue(&mut self, field: &str, reason: impl Into<String>) {
        self.issues.push(Issue { field: field.to_string(), reason: reason.into() });
    }

    /// The number's text, after checking that it names a known source (its own or the enclosing one).
    fn scalar<'r>(&mut self, field: &str, raw: &'r RawNum, default_source: Option<&str>, assumed: bool) -> Option<String> {
        let (value, source, own_assumed) = match raw {
            RawNum::Plain(v) => (v, None, false),
            RawNum::Sourced { value, source, assumed } => (value, source.as_deref(), *assumed),
        };
        match source.or(default_source) {
            None => self.issue(field, "没有注明来源（在数值、所在层或 [policy] 中写 source）"),
            Some(s) if !self.sources.contains_key(s) => self.issue(field, format!("来源「{s}」未在 [sources] 中登记")),
            Some(_) => {}
        }
        if assumed || own_assumed {
            self.assumptions.push(field.to_string());
        }
        Some(match value {
            RawScalar::Str(s) => s.clone(),
            RawScalar::Int(i) => i.to_string(),
            RawScalar::Float(x) => x.to_string(),
        })
    }

    fn ratio(&mut self, field: &str, raw: &RawNum, src: Option<&str>, assumed: bool) -> Option<Ratio> {
        let text = self.scalar(field, raw, src, assumed)?;
        Ratio::parse(&text).map_err(|e| self.issue(field, e)).ok()
    }

    fn money(&mut self, field: &str, raw: &RawNum, src: Option<&str>, assumed: bool) -> Option<Money> {
        let text = self.scalar(field, raw, src, assumed)?;
        Money::parse_yuan(&text).map_err(|e| self.issue(field, e.to_string())).ok()
    }

    fn filter(&mut self, path: &str, raw: RawFilter, groups: &BTreeMap<String, Vec<String>>) -> Filter {
        let mut list = |field: &str, values: Option<Vec<String>>| -> Option<Vec<String>> {
            let values = values?;
            if values.is_empty() {
                self.issue(&format!("{path}.{field}"), "列表为空：这一层永远不会适用");
            }
            Some(values)
        };
        let visits = list("visits", raw.visits);
        let categories = list("categories", raw.categories);
        let levels = list("levels", raw.levels);
        let diseases = list("diseases", raw.diseases);
        let mut f = Filter::default();
        if let Some(v) = visits {
            f.visits = Some(v.iter().filter_map(|s| VisitType::parse(s).or_else(|| {
                self.issue(&format!("{path}.visits"), format!("就诊类型「{s}」未知（inpatient、outpatient_chronic、outpatient_general）"));
                None
            })).collect());
        }
        if let Some(c) = categories {
            f.categories = Some(c.iter().filter_map(|s| PovertyCategory::parse(s).map_err(|e| self.issue(&format!("{path}.categories"), e.0)).ok()).collect());
        }
        if let Some(l) = levels {
            f.places = Some(l.iter().filter_map(|s| Place::parse(s).or_else(|| {
                self.issue(&format!("{path}.levels"), format!("机构等级「{s}」未知（1、2、3，out 为县域外，out-1、out-2、out-3 为县域外某级）"));
                None
            })).collect());
        }
        if let Some(d) = diseases {
            for name in &d {
                if !groups.contains_key(name) {
                    self.issue(&format!("{path}.diseases"), format!("病种组「{name}」未在 [diseases] 中定义"));
                }
            }
            f.diseases = Some(d);
        }
        f
    }

    fn rate(&mut self, path: &str, n: &RawNumbers, buckets: &[Bucket], src: Option<&str>, assumed: bool) -> Option<Rate> {
        let given = [n.ratio.is_some(), n.ratios.is_some(), n.tiers.is_some()].iter().filter(|b| **b).count();
        if given > 1 {
            self.issue(path, "ratio、ratios 与 tiers 只能写一种");
            return None;
        }
        if let Some(r) = &n.ratio {
            return self.ratio(&format!("{path}.ratio"), r, src, assumed).map(Rate::Flat);
        }
        if let Some(map) = &n.ratios {
            let mut out = BTreeMap::new();
            for (k, v) in map {
                let field = format!("{path}.ratios.{k}");
                match Bucket::parse(k) {
                    Some(b) if buckets.contains(&b) => {
                        if let Some(r) = self.ratio(&field, v, src, assumed) {
                            out.insert(b, r);
                        }
                    }
                    Some(_) => self.issue(&field, format!("费用段 {k} 不在本层的 buckets 中")),
                    None => self.issue(&field, format!("费用段「{k}」未知（P、B、N、O）")),
                }
            }
            for b in buckets {
                if !out.contains_key(b) && !map.contains_key(&format!("{b:?}")) {
                    self.issue(&format!("{path}.ratios"), format!("缺少费用段 {b:?} 的比例"));
                }
            }
            return Some(Rate::PerBucket(out));
        }
        if let Some(tiers) = &n.tiers {
            let mut out: Vec<(Money, Ratio)> = Vec::new();
            for (i, t) in tiers.iter().enumerate() {
                let field = format!("{path}.tiers[{i}]");
                let from = self.money(&format!("{field}.from"), &t.from, src, assumed);
                let ratio = self.ratio(&format!("{field}.ratio"), &t.ratio, src, assumed);
                if let (Some(from), Some(ratio)) = (from, ratio) {
                    match out.last() {
                        None if !from.is_zero() => self.issue(&field, "第一档应从 0 开始"),
                        Some((prev, _)) if from <= *prev => {
                            self.issue(&field, format!("分档重叠或未按升序排列：{from} 不大于上一档的起点 {prev}"))
                        }
                        _ => {}
                    }
                    out.push((from, ratio));
                }
            }
            if tiers.is_empty() {
                self.issue(&format!("{path}.tiers"), "分档为空");
            }
            return Some(Rate::Tiers(out));
        }
        None
    }

    fn deductible_per(&mut self, field: &str, s: Option<&str>) -> Option<bool> {
        match s? {
            "claim" => Some(false),
            "year" => Some(true),
            other => {
                self.issue(field, format!("「{other}」应为 claim（每次）或 year（每年）"));
                None
            }
        }
    }
}

/// Reads and checks a policy file's text. `file` names it in messages.
pub fn parse_policy(file: &str, text: &str) -> Result<Policy, PolicyError> {
    let fail = |field: &str, reason: String| PolicyError { file: file.to_string(), issues: vec![Issue { field: field.into(), reason }] };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| format!("第 {} 行", text[..s.start.min(text.len())].lines().count().max(1))).unwrap_or_default();
        fail(&at, e.message().to_string())
    })?;
    let mut c = Checker { issues: Vec::new(), sources: &raw.sources, assumptions: Vec::new() };
    let h = &raw.policy;
    let psrc = h.source.as_deref();
    let region = RegionCode::parse(&h.region).map_err(|e| c.issue("policy.region", e.to_string())).ok();
    let date = |c: &mut Checker, field: &str, s: &str| {
        Date::parse_from_str(s, "%Y-%m-%d").map_err(|_| c.issue(field, format!("日期「{s}」应为 YYYY-MM-DD"))).ok()
    };
    let from = date(&mut c, "policy.effective_from", &h.effective_from);
    let to = date(&mut c, "policy.effective_to", &h.effective_to);
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            c.issue("policy.effective_to", format!("有效期结束 {t} 早于开始 {f}"));
        }
    }
    let b_rate = c.ratio("policy.b_first_pay_rate", &h.b_first_pay_rate, psrc, false);
    for (name, codes) in &raw.diseases {
        if codes.is_empty() {
            c.issue(&format!("diseases.{name}"), "病种组没有任何编码");
        }
    }
    let groups: BTreeMap<String, Vec<String>> =
        raw.diseases.iter().map(|(k, v)| (k.clone(), v.iter().map(|c| c.trim().to_ascii_uppercase()).collect())).collect();
    if raw.layers.is_empty() {
        c.issue("layer", "政策没有任何保障层");
    }
    let mut ids = BTreeSet::new();
    let mut layers = Vec::new();
    for (i, l) in raw.layers.into_iter().enumerate() {
        let path = format!("layer[{i}]（{}）", l.id);
        if !ids.insert(l.id.clone()) {
            c.issue(&path, format!("层编号「{}」重复", l.id));
        }
        if l.id.is_empty() || !l.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            c.issue(&format!("{path}.id"), "层编号只能用字母、数字、_ 和 -");
        }
        let src = l.source.as_deref().or(psrc);
        if src.is_none() {
            c.issue(&format!("{path}.source"), "没有注明来源");
        }
        let fund = Fund::from_code(&l.fund);
        if fund.is_none() {
            c.issue(&format!("{path}.fund"), format!("基金编码「{}」未知（可用：{}）", l.fund, Fund::ALL.map(|f| f.code()).join("、")));
        }
        let mut buckets = Vec::new();
        for b in &l.buckets {
            match Bucket::parse(b) {
                Some(b) if buckets.contains(&b) => c.issue(&format!("{path}.buckets"), format!("费用段 {b:?} 重复")),
                Some(b) => buckets.push(b),
                None => c.issue(&format!("{path}.buckets"), format!("费用段「{b}」未知（P、B、N、O）")),
            }
        }
        if l.buckets.is_empty() {
            c.issue(&format!("{path}.buckets"), "没有列出支付的费用段：这一层永远不会支付");
        }
        let filter = c.filter(&path, RawFilter { visits: l.visits, categories: l.categories, levels: l.levels, diseases: l.diseases }, &groups);
        let numbers = RawNumbers { ratio: l.ratio, ratios: l.ratios, tiers: l.tiers, deductible: l.deductible, deductible_per: l.deductible_per, cap: l.cap };
        let kind = l.kind.as_deref().unwrap_or("share");
        let safety_fields = |c: &mut Checker, n: &RawNumbers, variants: usize| {
            if n.ratio.is_some() || n.ratios.is_some() || n.tiers.is_some() || n.deductible.is_some() || variants > 0 {
                c.issue(&path, format!("{kind} 层不使用 ratio、ratios、tiers、deductible 或 variant"));
            }
        };
        let rule = match kind {
            "share" => {
                if l.max_ratio.is_some() || l.min_ratio.is_some() {
                    c.issue(&path, "max_ratio、min_ratio 只用于托底层（kind）");
                }
                let rate = c.rate(&path, &numbers, &buckets, src, l.assumed);
                if rate.is_none() && numbers.ratio.is_none() && numbers.ratios.is_none() && numbers.tiers.is_none() {
                    c.issue(&path, "没有支付比例：写 ratio、ratios 或 tiers");
                }
                let deductible = numbers.deductible.as_ref().and_then(|d| c.money(&format!("{path}.deductible"), d, src, l.assumed)).unwrap_or_default();
                let per_year = c.deductible_per(&format!("{path}.deductible_per"), numbers.deductible_per.as_deref()).unwrap_or(false);
                let cap = numbers.cap.as_ref().and_then(|v| c.money(&format!("{path}.cap"), v, src, l.assumed));
                if cap.is_some_and(|m| m.is_zero()) {
                    c.issue(&format!("{path}.cap"), "封顶线为 0：这一层永远不会支付");
                }
                if per_year && matches!(rate, Some(Rate::Tiers(_)) | Some(Rate::PerBucket(_))) && !deductible.is_zero() {
                    c.issue(&format!("{path}.deductible_per"), "按年起付线只能与单一比例合用；分档时请把起付线写成 0% 的第一档");
                }
                let mut variants = Vec::new();
                for (j, v) in l.variants.into_iter().enumerate() {
                    let vpath = format!("{path}.variant[{j}]");
                    let vsrc = v.source.as_deref().or(src);
                    let vfilter = c.filter(&vpath, RawFilter { visits: v.visits, categories: v.categories, levels: v.levels, diseases: v.diseases }, &groups);
                    if vfilter.is_empty() {
                        c.issue(&vpath, "变体没有适用条件（visits、categories、levels 或 diseases），应写入层本身");
                    }
                    let vn = RawNumbers { ratio: v.ratio, ratios: v.ratios, tiers: v.tiers, deductible: v.deductible, deductible_per: v.deductible_per, cap: v.cap };
                    let assumed = l.assumed || v.assumed;
                    let o = Overrides {
                        rate: c.rate(&vpath, &vn, &buckets, vsrc, assumed),
                        deductible: vn.deductible.as_ref().and_then(|d| c.money(&format!("{vpath}.deductible"), d, vsrc, assumed)),
                        deductible_per_year: c.deductible_per(&format!("{vpath}.deductible_per"), vn.deductible_per.as_deref()),
                        cap: vn.cap.as_ref().and_then(|d| c.money(&format!("{vpath}.cap"), d, vsrc, assumed)),
                    };
                    if o == Overrides::default() {
                        c.issue(&vpath, "变体没有改变任何数值");
                    }
                    let yearly = o.deductible_per_year.unwrap_or(per_year);
                    let amount = o.deductible.unwrap_or(deductible);
                    let flat = matches!(o.rate.as_ref().or(rate.as_ref()), Some(Rate::Flat(_)));
                    if yearly && !amount.is_zero() && !flat {
                        c.issue(&vpath, "按年起付线只能与单一比例合用；分档时请把起付线写成 0% 的第一档");
                    }
                    variants.push((vfilter, o));
                }
                let never_pays = |r: &Rate| match r {
                    Rate::Flat(r) => r.is_zero(),
                    Rate::PerBucket(m) => m.values().all(|r| r.is_zero()),
                    Rate::Tiers(t) => t.iter().all(|(_, r)| r.is_zero()),
                };
                if rate.as_ref().is_some_and(never_pays) && variants.iter().all(|(_, o)| o.rate.as_ref().is_none_or(never_pays)) {
                    c.issue(&path, "所有比例都是 0：这一层永远不会支付");
                }
                rate.map(|rate| Rule::Share { base: Params { rate, deductible, deductible_per_year: per_year, cap }, variants })
            }
            "self_pay_ceiling" | "annual_oop_cap" | "min_reimbursement" => {
                safety_fields(&mut c, &numbers, l.variants.len());
                let (field, raw) = match kind {
                    "self_pay_ceiling" => ("max_ratio", &l.max_ratio),
                    "annual_oop_cap" => ("cap", &numbers.cap),
                    _ => ("min_ratio", &l.min_ratio),
                };
                let at = format!("{path}.{field}");
                match (kind, raw) {
                    (_, None) => {
                        c.issue(&path, format!("{kind} 层需要 {field}"));
                        None
                    }
                    ("annual_oop_cap", Some(v)) => c.money(&at, v, src, l.assumed).map(|cap| Rule::AnnualOutOfPocketCap { cap }),
                    ("self_pay_ceiling", Some(v)) => c.ratio(&at, v, src, l.assumed).map(|max_ratio| Rule::SelfPayCeiling { max_ratio }),
                    (_, Some(v)) => c.ratio(&at, v, src, l.assumed).map(|min_ratio| Rule::MinimumReimbursement { min_ratio }),
                }
            }
            other => {
                c.issue(&format!("{path}.kind"), format!("层的种类「{other}」未知（share、self_pay_ceiling、annual_oop_cap、min_reimbursement）"));
                None
            }
        };
        if let (Some(fund), Some(rule)) = (fund, rule) {
            layers.push(Layer { id: l.id.into(), name: l.name.into(), fund, filter, buckets, rule, source: src.unwrap_or_default().to_string() });
        }
    }
    if !c.issues.is_empty() {
        return Err(PolicyError { file: file.to_string(), issues: c.issues });
    }
    let assumptions = c.assumptions;
    Ok(Policy {
        id: h.id.as_str().into(),
        name: h.name.clone(),
        region: region.expect("checked"),
        effective_from: from.expect("checked"),
        effective_to: to.expect("checked"),
        b_first_pay_rate: b_rate.expect("checked"),
        layers,
        disease_groups: groups,
        sources: raw.sources,
        assumptions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_says_what_it_gives_in_one_line() {
        let p = crate::parse_policy("worked-example.toml", include_str!("../../../policies/worked-example.toml")).unwrap();
        let lines: Vec<String> = p.layers.iter().map(|l| format!("{}：{}", l.name, l.summary_zh())).collect();
        assert_eq!(lines[0], "基本医疗保险：报销 85%，每次起付 400 元，年度最高 15 万元，按医院等级等不同");
        assert!(lines[1].starts_with("大病保险：超过 ") && lines[1].contains("分段报销 60%、70%、80%"), "{lines:#?}");
        assert_eq!(lines[4], "财政兜底：个人自付不超过总费用的 10%");
        assert_eq!(yuan_zh(Money::from_yuan(150_000).unwrap()), "15 万元");
        assert_eq!(yuan_zh(Money::from_yuan(15_000).unwrap()), "1.5 万元");
        assert_eq!(yuan_zh(Money::from_fen(40_050).unwrap()), "400.50 元");
    }
}

#[cfg(test)]
mod places {
    use huimin_domain::{Date, FacilityLevel, Money, PovertyCategory};

    use crate::{Claim, VisitType, YearAccumulators, parse_policy, settle};

    /// Out of the county, the ratio may depend on the hospital's level: `out-3` is a level-3
    /// hospital elsewhere, `out` any hospital elsewhere; the first variant that matches wins.
    #[test]
    fn a_variant_can_name_a_level_out_of_the_county() {
        let text = include_str!("../../../policies/worked-example.toml").replace(
            "  [[layer.variant]]\n  levels = [\"3\"]",
            "  [[layer.variant]]\n  levels = [\"out-3\"]\n  ratio = \"50%\"\n\n  [[layer.variant]]\n  levels = [\"out\"]\n  ratio = \"60%\"\n\n  [[layer.variant]]\n  levels = [\"3\"]",
        );
        let policy = parse_policy("out.toml", &text).unwrap();
        let basic = |level, in_county| {
            let claim = Claim {
                claim_no: "c".into(), person: "1".into(), category: PovertyCategory::parse("一般贫困户").unwrap(), visit: VisitType::Inpatient, level, in_county,
                admission: Date::from_ymd_opt(2024, 3, 1).unwrap(), discharge: Date::from_ymd_opt(2024, 3, 5).unwrap(), diseases: vec![],
                cat_a: Money::from_yuan(10_400).unwrap(), cat_b: Money::ZERO, out_of_catalogue: Money::ZERO, necessary: Money::ZERO,
            };
            let (bill, _) = settle(&policy, &claim, &YearAccumulators::default()).unwrap();
            bill.lines.iter().find(|l| &*l.layer_id == "basic").unwrap().total.to_string()
        };
        assert_eq!(basic(FacilityLevel::Three, false), "5000.00", "out of the county at level 3: 50% of 10,000");
        assert_eq!(basic(FacilityLevel::Two, false), "6000.00", "out of the county at level 2: 60%");
        assert_eq!(basic(FacilityLevel::Three, true), "6720.00", "in the county at level 3: 70% of 9,600");
        assert_eq!(basic(FacilityLevel::Two, true), "8500.00", "in the county at level 2: the base 85%");
        assert!(parse_policy("bad.toml", &text.replace("out-3", "out-4")).unwrap_err().to_string().contains("out-4"));
        // Each amount says which numbers paid it, and where they come from.
        let claim = Claim {
            claim_no: "c".into(), person: "1".into(), category: PovertyCategory::parse("一般贫困户").unwrap(), visit: VisitType::Inpatient, level: FacilityLevel::Three, in_county: false,
            admission: Date::from_ymd_opt(2024, 3, 1).unwrap(), discharge: Date::from_ymd_opt(2024, 3, 5).unwrap(), diseases: vec![],
            cat_a: Money::from_yuan(10_400).unwrap(), cat_b: Money::ZERO, out_of_catalogue: Money::ZERO, necessary: Money::ZERO,
        };
        let (bill, _) = settle(&policy, &claim, &YearAccumulators::default()).unwrap();
        let basis = policy.basis(&claim, &bill);
        assert_eq!((&*basis[0].layer_id, basis[0].rule.as_str()), ("basic", "报销 50%，每次起付 400 元，年度最高 15 万元"));
        assert_eq!(basis[0].source, "Huimin domain guide, §3.3 worked example");
    }
}
