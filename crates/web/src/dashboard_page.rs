//! The supervision dashboard (督导考核): every indicator for a region and period against its
//! target, charts, drill-down to child regions and to the claims behind a figure; targets;
//! reports as XLSX; fund reconciliation (对账).

use axum::extract::Query;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use huimin_app::indicators::{self, INDICATORS, percent, ppm};
use huimin_domain::{Period, Permission, RegionCode, RegionLevel};
use huimin_policy::Fund;
use huimin_store::{ClaimSums, Target};
use maud::{Markup, html};
use serde::Deserialize;

use crate::State;
use crate::auth::Ctx;
use crate::charts;
use crate::error::{WebError, WebResult};
use crate::layout::{self, csrf, num};

use huimin_app::clock::today;

use huimin_domain::format::yuan_fen as yuan;

fn child_width(region: RegionCode) -> usize {
    match region.level() {
        RegionLevel::Province => 4,
        RegionLevel::City => 6,
        RegionLevel::County => 9,
        RegionLevel::Township | RegionLevel::Village => 12,
    }
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashQuery {
    /// Region code (default: the user's region)
    #[param(pattern = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$")]
    region: Option<String>,
    /// 2025, 2025-03, 2025-Q1 or 2025-01-01..2025-06-30 (default: this year)
    #[param(pattern = r"^([0-9]{4}(-([0-9]{2}|Q[1-4]))?|[0-9]{4}-[0-9]{2}-[0-9]{2}\.\.[0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    period: Option<String>,
}

fn region_and_period(ctx: &Ctx, q: &DashQuery) -> WebResult<(RegionCode, Period)> {
    let region = crate::registry::region_param(ctx, q.region.as_deref())?;
    let period = match q.period.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Period::parse(p).map_err(|e| WebError::BadRequest(e.0))?,
        None => Period::year(chrono::Datelike::year(&today())),
    };
    Ok((region, period))
}

/// A figure of the dashboard, a link to the list behind it when there is one.
fn tile(href: Option<String>, value: Markup, label: &str) -> Markup {
    html! {
        @match href {
            Some(h) => a.stat href=(h) { span.value { (value) } span.label { (label) } },
            None => div.stat { span.value { (value) } span.label { (label) } },
        }
    }
}

pub async fn dashboard(state: State, ctx: Ctx, Query(q): Query<DashQuery>) -> WebResult<axum::response::Response> {
    ctx.require(Permission::ViewProgress)?;
    // A period that does not parse is said on the page, the filter keeping what was typed; the
    // figures are this year's meanwhile.
    let (region, period, refused) = match region_and_period(&ctx, &q) {
        Ok((r, p)) => (r, p, None),
        Err(WebError::BadRequest(why)) if q.period.is_some() => {
            let (r, p) = region_and_period(&ctx, &DashQuery { region: q.region.clone(), period: None })?;
            (r, p, Some((q.period.clone().unwrap_or_default(), why)))
        }
        Err(e) => return Err(e),
    };
    let catalog = state.catalogues().await;
    let ind = figures(&state, &catalog, region, period).await?;
    let targets = state.store.targets().await?;
    let checks = indicators::checks(&ind, &targets);
    let path = state.store.region_path(region).await?;
    let self_pay_target = indicators::target_for(&targets, region, "self_pay_ratio").0;
    let pl = period.label();
    let c = &ind.claims;
    let p = &ind.population;
    let claims_link = ctx.can(Permission::ViewClaims);
    let picker = layout::region_picker(&state, &ctx, ctx.t("区划", "Region"), Some(region)).await?;
    let body = html! {
        nav.breadcrumb {
            @for r in &path {
                @if ctx.user.region.contains(r.code) { a href=(format!("/dashboard?region={}&period={pl}", r.code)) { (r.name) } } @else { span { (r.name) } }
                " › "
            }
        }
        form.filters.card.noprint method="get" action="/dashboard" {
            (picker)
            @if let Some((_, why)) = &refused { p.alert.error.grow role="alert" { (why) } }
            label { (ctx.t("统计期（2025、2025-03、2025-Q1 或 2025-01-01..2025-06-30）", "Period (2025, 2025-03, 2025-Q1 or a span)")) input name="period" value=(refused.as_ref().map_or(pl.clone(), |(typed, _)| typed.clone())); }
            button.primary type="submit" { (ctx.t("查看", "Show")) }
            button type="button" data-print { (ctx.t("打印", "Print")) }
        }
        h2 { (ctx.t("考核指标", "Supervised indicators")) }
        table.card {
            thead { tr { th { (ctx.t("指标", "Indicator")) } th.num { (ctx.t("实际", "Actual")) } th.num { (ctx.t("目标", "Target")) } th { (ctx.t("结果", "Result")) } th { (ctx.t("口径", "How computed")) } } }
            tbody { @for k in &checks { tr {
                td { (k.name) }
                td.num { strong { (percent(k.value_ppm)) } }
                td.num { (if k.at_most { "≤ " } else { "≥ " }) (percent(Some(k.target_ppm))) }
                td { @if k.value_ppm.is_none() { span.badge { (ctx.t("无数据", "No data")) } } @else if k.met { span.badge.ok { (ctx.t("达标", "Met")) } } @else { span.badge.warn { (ctx.t("未达标", "Missed")) } } }
                td.small { a href=(format!("/dashboard/method#{}", k.indicator)) { (ctx.t("计算方法", "Method")) } " · " (k.source) }
            } } }
        }
        // Each figure opens the list behind it, where the role may see that list.
        section.stats {
            (tile(ctx.can(Permission::ViewRegistry).then(|| format!("/households?region={region}")), html! { (num(p.households)) }, ctx.t("建档立卡户", "Households")))
            (tile(None, html! { (num(p.persons)) }, ctx.t("建档立卡人口", "Persons")))
            (tile(ctx.can(Permission::ViewRegistry).then(|| format!("/households?region={region}&illness=1")), html! { (percent(ppm(p.illness_households, p.households))) }, ctx.t("因病致贫率", "Poor because of illness")))
            (tile(Some(format!("/batches?region={region}")), html! { (num(p.sick_persons)) }, ctx.t("患病人数", "Sick persons")))
            (tile(Some(format!("/batches?region={region}")), html! { (num(p.batches[0])) " / " (num(p.batches[1])) " / " (num(p.batches[2])) }, ctx.t("三个一批（大病/慢病/兜底）", "Three batches")))
            (tile(ctx.can(Permission::ViewHealth).then(|| format!("/treatment?region={region}")), html! { (num(p.treatment[1])) " / " (num(p.treatment[0])) }, ctx.t("大病已救治 / 确认", "Treated / identified")))
            (tile(ctx.can(Permission::ViewHealth).then(|| format!("/worklist?region={region}&show=overdue&teams=all")), html! { (num(p.follow_ups[2])) }, ctx.t("随访逾期人数", "Late follow-ups")))
        }
        p.small {
            (ctx.t("按贫困户属性：", "By category: "))
            @for (code, n) in &p.households_by_category {
                (huimin_domain::PovertyCategory::from_code(code).map_or(code.as_str(), |c| c.label_zh())) " " (num(*n)) (ctx.t(" 户；", " households; "))
            }
            br;
            (ctx.t("患病人员按病种类别：", "Sick persons by disease group: "))
            @for (group, n) in &p.sick_by_group {
                (catalog.for_region(region).groups.iter().find(|g| g.id == *group).map_or(group.as_str(), |g| g.name.as_str())) " " (num(*n)) (ctx.t(" 人；", " persons; "))
            }
        }
        p.small.muted {
            @if let Some(as_of) = &ind.population_as_of {
                (ctx.t("人口、筛查、签约与随访数据为各乡镇 ", "Population, screening, contract and follow-up figures: the townships' figures of ")) (as_of)
                (ctx.t(" 的统计（每晚更新）；费用数据为实时。", " (updated nightly); costs are live."))
                @if ctx.can(Permission::SetTargets) {
                    " "
                    form.inline method="post" action="/dashboard/refresh" {
                        (csrf(&ctx))
                        input type="hidden" name="region" value=(region);
                        input type="hidden" name="period" value=(pl);
                        button type="submit" { (ctx.t("立即重新统计", "Recompute now")) }
                    }
                }
            } @else {
                (ctx.t("全部数据为实时统计。", "All figures are live."))
            }
            @if let Some(c) = &ind.screening_campaign { " " (ctx.t("筛查：", "Screening: ")) (c) }
        }
        h2 { (ctx.t("防止因病返贫监测", "Monitoring poverty through illness")) }
        @let w = &p.warnings;
        @let watch = ctx.can(Permission::ViewWarnings).then(|| format!("/monitoring?region={region}"));
        section.stats {
            (tile(None, html! { (num(p.monitored.values().map(|[h, _]| h).sum::<i64>())) " / " (num(p.monitored.values().map(|[_, n]| n).sum::<i64>())) }, ctx.t("监测户 / 人", "Monitored households / persons")))
            (tile(watch.clone(), html! { (num(w.pending)) }, ctx.t("待认定", "Awaiting decision")))
            (tile(watch.clone(), html! { @if w.urgent + w.late > 0 { span.miss { (num(w.urgent)) " / " (num(w.late)) } } @else { "0 / 0" } }, ctx.t("临期（3 天内）/ 逾期", "Due in 3 days / late")))
            (tile(None, html! { (percent(ppm(w.decided_in_time, w.decided))) }, ctx.t("按期认定率（15 天）", "Decided within 15 days")))
            (tile(watch.map(|h| format!("{h}&all=true")), html! { (num(w.recognised)) " / " (num(w.eliminated)) }, ctx.t("已认定 / 风险已消除", "Recognised / risk eliminated")))
        }
        p.small {
            (ctx.t("按监测类别：", "By category: "))
            @for c in huimin_domain::MonitoringCategory::ALL {
                @let [h, n] = p.monitored.get(c.code()).copied().unwrap_or_default();
                (c.label_zh()) " " (num(h)) (ctx.t(" 户 ", " households, ")) (num(n)) (ctx.t(" 人；", " persons; "))
            }
            (ctx.t("线索共 ", "Leads: ")) (num(w.opened)) (ctx.t(" 条（含已办结）。", " (closed ones too)."))
        }
        div.charts {
            (charts::columns(ctx.t("近 12 个月户合规自付医疗费用分布（户）", "Households by compliant out-of-pocket spending, last 12 months"),
                &burden_labels(), &[(ctx.t("户数", "Households"), p.burden.to_vec())], "户"))
            (charts::shares(ctx.t("办理中的认定按环节", "Recognitions under way by stage"),
                &huimin_domain::recognition::Stage::ALL.iter().filter_map(|s| w.by_stage.get(s.code()).map(|n| (huimin_domain::recognition::stage_label(*s).to_string(), *n))).collect::<Vec<_>>()))
            @if !ind.children.is_empty() {
                (charts::ratios(ctx.t("各区划按期认定率", "Decided within 15 days by region"),
                    &ind.children.iter().map(|ch| (ch.region.name.clone(), ppm(ch.warnings.decided_in_time, ch.warnings.decided))).collect::<Vec<_>>(),
                    Some(indicators::target_for(&targets, region, "recognition_in_time").0)))
            }
        }
        h2 { (ctx.t("医疗费用与报销", "Costs and reimbursement")) " · " (pl) }
        section.stats {
            div.stat { span.value { (num(ind.inpatient.claims)) } span.label { (ctx.t("住院人次", "Inpatient stays")) } }
            div.stat { span.value { (yuan(ind.inpatient.total)) } span.label { (ctx.t("住院总费用", "Inpatient cost")) } }
            div.stat { span.value { (percent(ppm(ind.inpatient.funds_total, ind.inpatient.total))) } span.label { (ctx.t("住院报销比例", "Inpatient reimbursed")) } }
            div.stat { span.value { (percent(ppm(c.funds_total, c.in_policy))) } span.label { (ctx.t("政策范围内报销比例", "Of in-policy costs")) }
                small.muted { (ctx.t("各基金支付 ÷ 政策范围内费用；兜底保障也支付政策范围外的费用，故可超过 100%", "All funds ÷ in-policy costs; the safety nets also pay costs outside the policy, so it can exceed 100%")) } }
            div.stat { span.value {
                @if claims_link { a href=(format!("/dashboard/over-ceiling?region={region}&period={pl}")) { (num(c.over_ceiling)) } } @else { (num(c.over_ceiling)) }
            } span.label { (ctx.t("自付超 10% 人次", "Claims over 10% self-pay")) } }
            div.stat { span.value { (num(ind.outpatient_chronic.claims)) } span.label { (ctx.t("慢性病门诊人次", "Chronic outpatient visits")) } }
            div.stat { span.value { (yuan(c.fund(Fund::FiscalBackstop))) } span.label { (ctx.t("财政兜底支付", "Fiscal backstop")) } }
        }
        div.charts {
            (charts::columns(ctx.t("按月：总费用与各基金支付（元）", "By month: cost and funds (yuan)"),
                // 3月 rather than 2025-03: twelve labels fit under the columns.
                &ind.by_month.iter().map(|(m, _)| m.split_once('-').map_or_else(|| m.clone(), |(_, mm)| format!("{}月", mm.trim_start_matches('0')))).collect::<Vec<_>>(),
                &[(ctx.t("总费用", "Cost"), ind.by_month.iter().map(|(_, s)| s.total / 100).collect()), (ctx.t("各基金支付", "Funds"), ind.by_month.iter().map(|(_, s)| s.funds_total / 100).collect()), (ctx.t("个人自付", "Patient"), ind.by_month.iter().map(|(_, s)| s.patient_total / 100).collect())],
                "元"))
            (charts::shares(ctx.t("费用由谁支付", "Who paid the costs"), &fund_parts(c)))
            @if ind.children.is_empty() {
                figure.chart { figcaption { (ctx.t("各区划住院个人自付比例", "Inpatient self-pay by region")) }
                    p.muted { (ctx.t("本区划没有下级区划，按区划的比较见上一级。", "This region has none below it; compare regions one level up.")) } }
            } @else {
                (charts::ratios(ctx.t("各区划住院个人自付比例", "Inpatient self-pay by region"),
                    &ind.children.iter().map(|ch| (ch.region.name.clone(), ppm(ch.claims.patient_total, ch.claims.total))).collect::<Vec<_>>(),
                    Some(self_pay_target)))
            }
        }
        @if !ind.children.is_empty() {
            h2 { (ctx.t("下级区划", "Regions below")) }
            table.card {
                thead { tr {
                    th { (ctx.t("区划", "Region")) } th.num { (ctx.t("人口", "Persons")) } th.num { (ctx.t("因病致贫率", "Illness")) } th.num { (ctx.t("签约率", "Contracts")) }
                    th.num { (ctx.t("住院人次", "Stays")) } th.num { (ctx.t("总费用", "Cost")) } th.num { (ctx.t("报销比例", "Reimbursed")) } th.num { (ctx.t("自付比例", "Self-pay")) } th.num { (ctx.t("超 10% 人次", "Over 10%")) }
                    th.num { (ctx.t("监测户", "Monitored")) } th.num { (ctx.t("待认定", "Pending")) } th.num { (ctx.t("逾期", "Late")) }
                } }
                tbody { @for ch in &ind.children {
                    @let s = &ch.claims;
                    @let self_pay = ppm(s.patient_total, s.total);
                    tr {
                        td { a href=(format!("/dashboard?region={}&period={pl}", ch.region.code)) { (ch.region.name) } }
                        td.num { (num(ch.persons)) }
                        td.num { (percent(ppm(ch.illness_households, ch.households))) }
                        td.num { (percent(ppm(ch.contracts[1], ch.contracts[0]))) }
                        td.num { (num(s.claims)) } td.num { (yuan(s.total)) } td.num { (percent(ppm(s.funds_total, s.total))) }
                        td.num class=(if self_pay.is_some_and(|v| v > self_pay_target) { "miss" } else { "" }) { (percent(self_pay)) }
                        td.num { (num(s.over_ceiling)) }
                        td.num { (num(ch.monitored_households)) }
                        td.num { (num(ch.warnings.pending)) }
                        td.num class=(if ch.warnings.late > 0 { "miss" } else { "" }) { (num(ch.warnings.late)) }
                    }
                } }
            }
        }
        h2.noprint { (ctx.t("报表", "Reports")) }
        p.noprint {
            a.button href=(format!("/reports/claims.xlsx?region={region}&period={pl}")) { (ctx.t("结算情况表（XLSX）", "Claims report (XLSX)")) } " "
            @if region.level() == RegionLevel::County { a.button href=(format!("/reports/monthly.xlsx?region={region}&period={pl}")) { (ctx.t("县月度进展表（XLSX）", "County monthly report (XLSX)")) } " " }
            a.button href=(format!("/reports/monitoring.xlsx?region={region}")) { (ctx.t("防止返贫监测表（XLSX）", "Monitoring report (XLSX)")) } " "
            @if claims_link {
                a.button href=(format!("/reconciliation?region={region}")) { (ctx.t("基金对账", "Fund reconciliation")) } " "
                a.button href=(format!("/dashboard/caps?region={region}&period={pl}")) { (ctx.t("达到年度封顶线的人员", "Persons at an annual cap")) } " "
            }
            a.button href="/dashboard/targets" { (ctx.t("考核目标", "Targets")) }
        }
    };
    let status = if refused.is_some() { axum::http::StatusCode::BAD_REQUEST } else { axum::http::StatusCode::OK };
    Ok((status, layout::page(&ctx, ctx.t("督导考核", "Supervision"), "/dashboard", body)).into_response())
}

/// The labels of the burden bands (`huimin_store::BURDEN_BANDS`), in yuan.
fn burden_labels() -> Vec<String> {
    let b = huimin_store::BURDEN_BANDS;
    let k = |y: i64| if y % 10_000 == 0 { format!("{}万", y / 10_000) } else { format!("{}千", y / 1_000) };
    let mut out: Vec<String> = b.iter().enumerate().map(|(i, y)| if i == 0 { format!("≤{}", k(*y)) } else { format!("{}–{}", k(b[i - 1]), k(*y)) }).collect();
    out.push(format!(">{}", k(b[b.len() - 1])));
    out
}

fn fund_parts(c: &ClaimSums) -> Vec<(String, i64)> {
    let mut parts: Vec<(String, i64)> = Fund::ALL.iter().map(|f| (f.label_zh().to_string(), c.fund(*f))).collect();
    parts.push(("个人自付".into(), c.patient_total));
    parts
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct IndicatorsAnswer {
    period: String,
    indicators: indicators::Indicators,
    checks: Vec<indicators::Check>,
}

/// The dashboard's figures and each supervised figure against its target
#[utoipa::path(get, path = "/api/indicators", tag = "Supervision", params(DashQuery), responses((status = 200, body = IndicatorsAnswer)))]
pub async fn api_indicators(state: State, ctx: Ctx, Query(q): Query<DashQuery>) -> WebResult<axum::Json<IndicatorsAnswer>> {
    ctx.require(Permission::ViewProgress)?;
    let (region, period) = region_and_period(&ctx, &q)?;
    let catalog = state.catalogues().await;
    let ind = figures(&state, &catalog, region, period).await?;
    let checks = indicators::checks(&ind, &state.store.targets().await?);
    Ok(axum::Json(IndicatorsAnswer { period: period.label(), indicators: ind, checks }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OverCeilingAnswer {
    region: RegionCode,
    period: String,
    claims: Vec<huimin_store::ClaimLine>,
}

/// Claims of the period above 10% self-pay, highest share first
#[utoipa::path(get, path = "/api/claims/over-ceiling", tag = "Supervision", params(DashQuery), responses((status = 200, body = OverCeilingAnswer)))]
pub async fn api_over_ceiling(state: State, ctx: Ctx, Query(q): Query<DashQuery>) -> WebResult<axum::Json<OverCeilingAnswer>> {
    let (region, period) = alert_params(&ctx, &q)?;
    let claims = state.store.claims_over_ceiling(region, period, 1000).await?;
    Ok(axum::Json(OverCeilingAnswer { region, period: period.label(), claims }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AtCapAnswer {
    region: RegionCode,
    year: i32,
    persons: Vec<indicators::CapReached>,
}

/// Persons at an annual cap in the period's year
#[utoipa::path(get, path = "/api/persons-at-cap", tag = "Supervision", params(DashQuery), responses((status = 200, body = AtCapAnswer)))]
pub async fn api_at_cap(state: State, ctx: Ctx, Query(q): Query<DashQuery>) -> WebResult<axum::Json<AtCapAnswer>> {
    let (region, period) = alert_params(&ctx, &q)?;
    let year = chrono::Datelike::year(&period.to);
    let policies = state.policies.read().await.clone();
    let persons = indicators::persons_at_cap(&state.store, &policies, region, year).await?;
    Ok(axum::Json(AtCapAnswer { region, year, persons }))
}

/// The claim roles other than the clerks, for a region and period.
fn alert_params(ctx: &Ctx, q: &DashQuery) -> WebResult<(RegionCode, Period)> {
    ctx.require(Permission::ViewClaims)?;
    if ctx.can(Permission::Settle) {
        return Err(WebError::Forbidden);
    }
    region_and_period(ctx, q)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ReconciliationAnswer {
    region: RegionCode,
    month: String,
    owed: Vec<OwedLine>,
    /// With a fund and a facility: the claims behind the amount.
    claims: Option<Vec<huimin_store::ClaimLine>>,
}

/// What one fund owes one hospital for the month.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OwedLine {
    fund: Fund,
    fund_name: &'static str,
    facility_code: String,
    facility_name: String,
    claims: i64,
    /// Fen.
    amount: i64,
}

/// What each fund owes each hospital for a month, and the claims behind one amount
///
/// By settlement date.
#[utoipa::path(get, path = "/api/reconciliation", tag = "Supervision", params(ReconQuery), responses((status = 200, body = ReconciliationAnswer)))]
pub async fn api_reconciliation(state: State, ctx: Ctx, Query(q): Query<ReconQuery>) -> WebResult<axum::Json<ReconciliationAnswer>> {
    let (region, month) = recon_params(&ctx, &q)?;
    let owed = state
        .store
        .owed_by_fund(region, &month)
        .await?
        .into_iter()
        .map(|(fund, o)| OwedLine { fund, fund_name: fund.label_zh(), facility_code: o.facility_code, facility_name: o.facility_name, claims: o.claims, amount: o.amount })
        .collect();
    let claims = match (q.fund.as_deref().and_then(Fund::from_code), q.facility.as_deref()) {
        (Some(f), Some(code)) => Some(state.store.fund_claims(f, region, &month, code).await?),
        _ => None,
    };
    Ok(axum::Json(ReconciliationAnswer { region, month, owed, claims }))
}

/// How each figure is computed, with its source: what a supervisor checks a number against.
pub async fn method(ctx: Ctx) -> WebResult<Markup> {
    ctx.require(Permission::ViewProgress)?;
    let body = html! {
        section.card {
            p { "所有金额以“分”为单位精确计算；比例 = 分子 ÷ 分母，四舍五入到 0.1%。费用按出院日期归入统计期，按患者所在户的区划归入区划；只计已结算、未冲销的结算单。" }
            @for (code, name, at_most, target, source) in INDICATORS {
                h3 id=(code) { (name) }
                p { (match code {
                    "self_pay_ratio" => "住院个人自付比例 = 统计期内住院结算单的个人负担合计 ÷ 住院总费用合计。",
                    "contract_rate" => "家庭医生签约率 = 统计期所在年度有签约的在册贫困人口 ÷ 在册贫困人口。",
                    "recognition_in_time" => "监测对象按期认定率 = 县级已作出决定（审批同意或不同意，或在评议审核中办结）的线索中，决定日期不晚于发现之日起第 15 天的件数 ÷ 已作出决定的件数。",
                    "follow_up_rate" => "随访履约率 = 已完成的随访期数 ÷ 截至统计期末（或今天）已到期的随访期数；重点人群每年 12 期、一般人群 4 期（可按区划设置），每期内有一次随访即为完成。",
                    _ => "筛查完成率 = 最近一次覆盖本区划的筛查活动中已筛查户数 ÷ 在册户数。",
                }) }
                p.small.muted { "目标（默认）：" (if at_most { "不高于 " } else { "不低于 " }) (percent(Some(target))) "。来源：" (source) }
            }
            h3 id="reimbursement" { "报销比例" }
            p { "总体报销比例 = 各基金支付合计 ÷ 总费用；政策范围内报销比例 = 各基金支付合计 ÷ 政策范围内费用（P）；超 10% 人次 = 个人负担 × 10 > 总费用的结算单数。" }
        }
    };
    Ok(layout::page(&ctx, ctx.t("指标口径", "How the figures are computed"), "/dashboard", body))
}

pub async fn over_ceiling(state: State, ctx: Ctx, Query(q): Query<DashQuery>) -> WebResult<Markup> {
    let (region, period) = alert_params(&ctx, &q)?;
    let list = state.store.claims_over_ceiling(region, period, 500).await?;
    let body = html! {
        p.muted { (region) " · " (period.label()) " · " (list.len()) (ctx.t(" 张（最多列 500 张，按自付比例从高到低）", " claims (at most 500, highest share first)")) }
        table.card.list {
            thead { tr { th { (ctx.t("结算单号", "Claim")) } th { (ctx.t("患者", "Patient")) } th { (ctx.t("机构", "Facility")) } th { (ctx.t("出院", "Discharged")) } th.num { (ctx.t("总费用", "Total")) } th.num { (ctx.t("个人负担", "Patient")) } th.num { (ctx.t("自付比例", "Share")) } } }
            tbody { @for l in &list { tr {
                td.mono { a href=(format!("/settlement/claims/{}", l.claim_no)) { (l.claim_no) } }
                td { (l.person_name) } td.mono { (l.facility_code) } td { (l.discharge) }
                td.num { (yuan(l.total)) } td.num { (yuan(l.patient_total)) } td.num { (percent(ppm(l.patient_total, l.total))) }
            } } }
        }
    };
    Ok(layout::page(&ctx, ctx.t("个人自付超过 10% 的结算单", "Claims over 10% self-pay"), "/dashboard", body))
}

/// The persons at an annual cap in the period's year (the year of its end).
pub async fn at_cap(state: State, ctx: Ctx, Query(q): Query<DashQuery>) -> WebResult<Markup> {
    let (region, period) = alert_params(&ctx, &q)?;
    let year = chrono::Datelike::year(&period.to);
    let policies = state.policies.read().await.clone();
    let list = indicators::persons_at_cap(&state.store, &policies, region, year).await?;
    let body = html! {
        p.muted { (region) " · " (year) (ctx.t(" 年 · ", " · ")) (list.len()) (ctx.t(" 条（金额从高到低）。每层的封顶线取本人当年最近一次结算适用的数额；年度自付封顶指个人负担已达封顶线，其后由兜底支付。", " rows (largest first). Each layer's cap is the one that applied to the person's latest claim of the year; an out-of-pocket cap means the backstop pays from there on.")) }
        table.card.list {
            thead { tr { th { (ctx.t("患者", "Patient")) } th { (ctx.t("区划", "Region")) } th { (ctx.t("保障层", "Layer")) } th { (ctx.t("基金", "Fund")) } th.num { (ctx.t("封顶线", "Cap")) } th.num { (ctx.t("累计", "So far")) } } }
            tbody { @for c in &list { tr {
                td { a href=(format!("/households/{}", c.household_no)) { (c.person_name) } }
                td.mono { (c.region) }
                td { (c.layer) @if c.out_of_pocket { " " span.badge.warn { (ctx.t("年度自付封顶", "Out-of-pocket cap")) } } }
                td { (c.fund.label_zh()) }
                td.num { (yuan(c.cap)) } td.num { (yuan(c.amount)) }
            } } }
        }
    };
    Ok(layout::page(&ctx, ctx.t("达到年度封顶线的人员", "Persons at an annual cap"), "/dashboard", body))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefreshForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    region: String,
    period: String,
}

/// Recomputes the stored township figures under a region now instead of waiting for the night.
pub async fn refresh(state: State, ctx: Ctx, Form(f): Form<RefreshForm>) -> WebResult<Response> {
    ctx.check_csrf(&f.csrf)?;
    let (region, period, _) = recompute(&state, &ctx, &f).await?;
    Ok(Redirect::to(&format!("/dashboard?region={region}&period={}", period.label())).into_response())
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Refreshed {
    region: RegionCode,
    period: String,
    /// Townships recomputed.
    townships: usize,
}

/// Recompute the stored township figures of a region now (else nightly)
#[utoipa::path(post, path = "/api/dashboard/refresh", tag = "Supervision", request_body = RefreshForm, responses((status = 200, body = Refreshed)))]
pub async fn api_refresh(state: State, ctx: Ctx, headers: axum::http::HeaderMap, axum::Json(f): axum::Json<RefreshForm>) -> WebResult<axum::Json<Refreshed>> {
    ctx.check_api_csrf(&headers)?;
    let (region, period, townships) = recompute(&state, &ctx, &f).await?;
    Ok(axum::Json(Refreshed { region, period: period.label(), townships }))
}

async fn recompute(state: &State, ctx: &Ctx, f: &RefreshForm) -> WebResult<(RegionCode, Period, usize)> {
    ctx.require(Permission::SetTargets)?;
    let q = DashQuery { region: Some(f.region.clone()), period: Some(f.period.clone()) };
    let (region, period) = region_and_period(ctx, &q)?;
    let catalog = state.catalogues().await;
    let n = indicators::refresh_figures(&state.store, &catalog, region, chrono::Datelike::year(&period.to), today(), true).await?;
    tracing::info!(region = %region, townships = n, "township figures recomputed on demand");
    Ok((region, period, n))
}

/// The dashboard's figures. Reading stores nothing; where a year's township figures were not
/// stored yet, the job that stores them is asked to (see [`nightly_figures`]).
async fn figures(state: &State, catalog: &huimin_domain::Catalogues, region: RegionCode, period: Period) -> WebResult<indicators::Indicators> {
    let ind = indicators::compute(&state.store, catalog, region, period, today()).await?;
    if ind.unstored_townships > 0 {
        // Full or no job running (tests without a server): the next reader asks again.
        let _ = state.figures_wanted.try_send((region, chrono::Datelike::year(&period.to)));
    }
    Ok(ind)
}

/// Every night at 01:00 and once when the server starts: the daily warning check, then the
/// stored township figures of the current year recomputed; and a region's figures of a year when
/// a reader found them missing.
pub(crate) async fn nightly_figures(state: std::sync::Arc<crate::AppState>, mut wanted: tokio::sync::mpsc::Receiver<(RegionCode, i32)>) {
    let refresh = |region: RegionCode, year: i32| {
        let state = state.clone();
        async move {
            let catalog = state.catalogues().await;
            match indicators::refresh_figures(&state.store, &catalog, region, year, today(), false).await {
                Ok(n) => tracing::info!(region = %region, year, townships = n, "township figures recomputed"),
                Err(e) => tracing::error!(region = %region, year, error = %e, "township figures not recomputed"),
            }
        }
    };
    loop {
        let day = today();
        // The households whose windows moved on or whose check was missed, before the figures.
        crate::monitoring_page::daily_check(state.clone()).await;
        match state.store.root_regions().await {
            Ok(roots) => {
                for root in roots {
                    refresh(root.code, chrono::Datelike::year(&day)).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "township figures not recomputed"),
        }
        // 01:00 Beijing time, whatever the server's zone.
        let now = huimin_app::clock::now();
        let next = (now.date() + chrono::Duration::days(1)).and_hms_opt(1, 0, 0).unwrap_or(now);
        let night = tokio::time::sleep((next - now).to_std().unwrap_or(std::time::Duration::from_secs(3600)));
        tokio::pin!(night);
        loop {
            tokio::select! {
                _ = &mut night => break,
                Some((region, year)) = wanted.recv() => refresh(region, year).await,
            }
        }
    }
}

// ----- targets -----

pub async fn targets(state: State, ctx: Ctx) -> WebResult<Markup> {
    ctx.require(Permission::ViewProgress)?;
    let targets = state.store.targets().await?;
    let picker = layout::region_picker(&state, &ctx, ctx.t("区划", "Region"), Some(ctx.user.region)).await?;
    let body = html! {
        table.card {
            thead { tr { th { (ctx.t("指标", "Indicator")) } th.num { (ctx.t("本区划目标", "Target here")) } th { (ctx.t("依据", "Source")) } } }
            tbody { @for (code, name, ..) in INDICATORS {
                @let (v, at_most, source) = indicators::target_for(&targets, ctx.user.region, code);
                tr { td { (name) } td.num { (if at_most { "≤ " } else { "≥ " }) (percent(Some(v))) } td.small { (source) } }
            } }
        }
        @if ctx.can(Permission::SetTargets) {
            form.card.filters method="post" action="/dashboard/targets" {
                h2 { (ctx.t("设定目标", "Set a target")) }
                (csrf(&ctx))
                (picker)
                label { (ctx.t("指标", "Indicator")) select name="indicator" { @for (code, name, ..) in INDICATORS { option value=(code) { (name) } } } }
                label { (ctx.t("目标（%）", "Target (%)")) input name="percent" required inputmode="decimal" size="6"; }
                label.grow { (ctx.t("依据（文件名称）", "Source (document)")) input name="source" required; }
                button.primary type="submit" { (ctx.t("保存", "Save")) }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("考核目标", "Targets"), "/dashboard", body))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TargetForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    region: String,
    indicator: String,
    percent: String,
    #[schema(inline)]
    source: crate::params::Reason,
}

pub async fn set_target(state: State, ctx: Ctx, Form(f): Form<TargetForm>) -> WebResult<Response> {
    ctx.check_csrf(&f.csrf)?;
    save_target(&state, &ctx, &f).await?;
    Ok(Redirect::to("/dashboard/targets").into_response())
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TargetsAnswer {
    region: RegionCode,
    in_force: Vec<TargetInForce>,
    targets: Vec<Target>,
}

/// The target an indicator is held to in the user's region.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TargetInForce {
    indicator: &'static str,
    name: &'static str,
    /// The target in millionths (10% = 100,000).
    value_ppm: i64,
    /// The figure should stay at or below the target (else at or above).
    at_most: bool,
    source: String,
}

/// The target in force for each indicator in the user's region, and the regions' own targets
#[utoipa::path(get, path = "/api/targets", tag = "Supervision", responses((status = 200, body = TargetsAnswer)))]
pub async fn api_targets(state: State, ctx: Ctx) -> WebResult<axum::Json<TargetsAnswer>> {
    ctx.require(Permission::ViewProgress)?;
    let targets: Vec<Target> = state.store.targets().await?.into_iter().filter(|t| ctx.user.region.contains(t.region) || t.region.contains(ctx.user.region)).collect();
    let in_force = INDICATORS
        .iter()
        .map(|(indicator, name, ..)| {
            let (value_ppm, at_most, source) = indicators::target_for(&targets, ctx.user.region, indicator);
            TargetInForce { indicator, name, value_ppm, at_most, source }
        })
        .collect();
    Ok(axum::Json(TargetsAnswer { region: ctx.user.region, in_force, targets }))
}

/// Set a region's target for an indicator
#[utoipa::path(post, path = "/api/targets", tag = "Supervision", request_body = TargetForm, responses((status = 201, description = "The target", body = Target)))]
pub async fn api_set_target(state: State, ctx: Ctx, headers: axum::http::HeaderMap, axum::Json(f): axum::Json<TargetForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let r = save_target(&state, &ctx, &f).await;
    crate::error::json_answer(axum::http::StatusCode::CREATED, r)
}

async fn save_target(state: &State, ctx: &Ctx, f: &TargetForm) -> WebResult<Target> {
    ctx.require(Permission::SetTargets)?;
    let region = RegionCode::parse(f.region.trim()).map_err(|e| WebError::BadRequest(e.to_string()))?;
    ctx.require_within(region)?;
    let (_, _, at_most, ..) = INDICATORS.iter().find(|(c, ..)| *c == f.indicator).ok_or_else(|| WebError::BadRequest(format!("指标「{}」不存在", f.indicator)))?;
    let value = huimin_policy::Ratio::parse(&format!("{}%", f.percent.trim().trim_end_matches('%'))).map_err(|e| WebError::BadRequest(e.to_string()))?;
    if f.source.trim().is_empty() {
        return Err(WebError::BadRequest("请填写目标的依据".into()));
    }
    let t = Target { region, indicator: f.indicator.clone(), value_ppm: i64::from(value.ppm()), at_most: *at_most, source: f.source.trim().into() };
    state.store.set_target(&t, &ctx.audit("target.set", format!("region {region}"), format!("{} {}", t.indicator, t.value_ppm))).await?;
    Ok(t)
}

// ----- reports and reconciliation -----

fn xlsx(name: &str, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"report.xlsx\"; filename*=UTF-8''{}", crate::auth::urlencode(name));
    ([(header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response()
}

async fn workbook<F, Fut>(write: F) -> WebResult<Vec<u8>>
where
    F: FnOnce(std::path::PathBuf) -> Fut,
    Fut: std::future::Future<Output = Result<(), indicators::ReportError>>,
{
    let dir = tempfile::tempdir().map_err(|e| WebError::Internal(e.into()))?;
    let path = dir.path().join("report.xlsx");
    write(path.clone()).await.map_err(|e| WebError::Internal(e.into()))?;
    std::fs::read(&path).map_err(|e| WebError::Internal(e.into()))
}

pub async fn claims_report(state: State, ctx: Ctx, Query(q): Query<DashQuery>) -> WebResult<Response> {
    ctx.require(Permission::ViewProgress)?;
    let (region, period) = region_and_period(&ctx, &q)?;
    let bytes = workbook(|p| async move { indicators::write_claims_report(&state.store, region, period, child_width(region), &p).await }).await?;
    Ok(xlsx(&format!("结算情况表-{region}-{}.xlsx", period.label()), bytes))
}

/// `/reports/monitoring.xlsx`: the region's monitoring by child region, the burden distribution
/// and the recognitions under way (no ID number, no diagnosis).
pub async fn monitoring_report(state: State, ctx: Ctx, Query(q): Query<DashQuery>) -> WebResult<Response> {
    ctx.require(Permission::ViewProgress)?;
    let (region, _) = region_and_period(&ctx, &q)?;
    let store = state.store.clone();
    let bytes = workbook(|p| async move { indicators::write_monitoring_report(&store, region, today(), &p).await }).await?;
    state.store.append_audit(&ctx.audit("export", format!("region {region}"), "monitoring report")).await?;
    Ok(xlsx(&format!("防止返贫监测表-{region}-{}.xlsx", today()), bytes))
}

pub async fn monthly_report(state: State, ctx: Ctx, Query(q): Query<DashQuery>) -> WebResult<Response> {
    ctx.require(Permission::ViewProgress)?;
    let (region, period) = region_and_period(&ctx, &q)?;
    if region.level() != RegionLevel::County {
        return Err(WebError::BadRequest("月度进展表按县生成：请选择一个县".into()));
    }
    let catalog = state.catalogues().await;
    let store = state.store.clone();
    let bytes = workbook(|p| async move { indicators::write_monthly_report(&store, &catalog, region, period, today(), &p).await }).await?;
    state.store.append_audit(&ctx.audit("export", format!("region {region}"), format!("monthly report {}", period.label()))).await?;
    Ok(xlsx(&format!("月度进展表-{region}-{}.xlsx", period.label()), bytes))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReconQuery {
    /// Region code (default: the user's region)
    #[param(pattern = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$")]
    region: Option<String>,
    /// YYYY-MM (default: this month)
    #[param(pattern = r"^([0-9]{4}-[0-9]{2})?$")]
    month: Option<String>,
    /// A fund's code; with facility, the claims behind the amount
    fund: Option<String>,
    /// A facility's code
    facility: Option<String>,
}

fn recon_params(ctx: &Ctx, q: &ReconQuery) -> WebResult<(RegionCode, String)> {
    ctx.require(Permission::ViewClaims)?;
    if ctx.can(Permission::Settle) {
        return Err(WebError::Forbidden);
    }
    let region = crate::registry::region_param(ctx, q.region.as_deref())?;
    let month = q.month.clone().unwrap_or_else(|| today().format("%Y-%m").to_string());
    let p = Period::parse(&month).map_err(|e| WebError::BadRequest(e.0))?;
    if p.label() != month {
        return Err(WebError::BadRequest(format!("对账月份「{month}」应为 YYYY-MM")));
    }
    Ok((region, month))
}

pub async fn reconciliation(state: State, ctx: Ctx, Query(q): Query<ReconQuery>) -> WebResult<Markup> {
    let (region, month) = recon_params(&ctx, &q)?;
    let rows = state.store.owed_by_fund(region, &month).await?;
    let fund = q.fund.as_deref().and_then(Fund::from_code);
    let detail = match (fund, q.facility.as_deref()) {
        (Some(f), Some(code)) => Some((f, code.to_string(), state.store.fund_claims(f, region, &month, code).await?)),
        _ => None,
    };
    let picker = layout::region_picker(&state, &ctx, ctx.t("区划", "Region"), Some(region)).await?;
    let body = html! {
        form.filters.card.noprint method="get" action="/reconciliation" {
            (picker)
            label { (ctx.t("结算月份", "Month settled")) input name="month" type="month" value=(month); }
            button.primary type="submit" { (ctx.t("查看", "Show")) }
            a.button href=(format!("/reconciliation.xlsx?region={region}&month={month}")) { (ctx.t("导出 XLSX", "Export XLSX")) }
        }
        p.muted { (ctx.t("按结算日期归月；只计已结算、未冲销的结算单；金额与结算单逐张相加一致到分。", "By settlement date; settled, not reversed; amounts add up from the bills to the fen.")) }
        @if rows.is_empty() { (layout::empty_state(ctx.t("本月没有结算", "No settlements this month"))) } @else {
            table.card {
                thead { tr { th { (ctx.t("基金", "Fund")) } th { (ctx.t("医疗机构", "Facility")) } th.num { (ctx.t("结算单数", "Claims")) } th.num { (ctx.t("应付金额（元）", "Owed (yuan)")) } } }
                tbody { @for (f, o) in &rows { tr {
                    td { (f.label_zh()) " " span.mono.muted { (f.code()) } }
                    td { (o.facility_name) " " span.mono.muted { (o.facility_code) } }
                    td.num { a href=(format!("/reconciliation?region={region}&month={month}&fund={}&facility={}#detail", f.code(), o.facility_code)) { (o.claims) } }
                    td.num { (yuan(o.amount)) }
                } } }
                tfoot { tr { td { (ctx.t("合计", "Total")) } td {} td.num { (rows.iter().map(|(_, o)| o.claims).sum::<i64>()) } td.num { strong { (yuan(rows.iter().map(|(_, o)| o.amount).sum())) } } } }
            }
        }
        @if let Some((f, code, lines)) = &detail {
            h2 #detail { (f.label_zh()) " · " (code) }
            table.card.list {
                thead { tr { th { (ctx.t("结算单号", "Claim")) } th { (ctx.t("患者", "Patient")) } th { (ctx.t("出院", "Discharged")) } th.num { (ctx.t("总费用", "Total")) } th.num { (ctx.t("本基金支付", "This fund")) } } }
                tbody { @for l in lines { tr {
                    td.mono { a href=(format!("/settlement/claims/{}", l.claim_no)) { (l.claim_no) } } td { (l.person_name) } td { (l.discharge) }
                    td.num { (yuan(l.total)) } td.num { (yuan(l.fund_amount)) }
                } } }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("基金对账", "Fund reconciliation"), "/dashboard", body))
}

pub async fn reconciliation_xlsx(state: State, ctx: Ctx, Query(q): Query<ReconQuery>) -> WebResult<Response> {
    let (region, month) = recon_params(&ctx, &q)?;
    let store = state.store.clone();
    let m = month.clone();
    let bytes = workbook(|p| async move { indicators::write_reconciliation(&store, region, &m, &p).await }).await?;
    state.store.append_audit(&ctx.audit("export", format!("region {region}"), format!("reconciliation {month}"))).await?;
    Ok(xlsx(&format!("基金对账-{region}-{month}.xlsx"), bytes))
}

pub async fn screening_report(state: State, ctx: Ctx, axum::extract::Path(id): axum::extract::Path<i64>, Query(q): Query<DashQuery>) -> WebResult<Response> {
    ctx.require(Permission::ViewProgress)?;
    let (region, _) = region_and_period(&ctx, &q)?;
    let c = state.store.campaign(id).await?.ok_or(WebError::NotFound)?;
    if !c.region.contains(region) {
        return Err(WebError::NotFound);
    }
    let store = state.store.clone();
    let bytes = workbook(|p| async move { indicators::write_screening_report(&store, id, region, &p).await }).await?;
    Ok(xlsx(&format!("筛查进度-{region}.xlsx"), bytes))
}
