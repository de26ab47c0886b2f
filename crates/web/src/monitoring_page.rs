//! 防止因病返贫动态监测 (docs/monitoring.md): the warnings of a region with the days left to
//! recognise each household, a household's economics, the warning rules.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use huimin_app::clock::today;
use huimin_app::monitoring;
use huimin_domain::{Date, MonitoringCategory, Money, Permission, RegionCode};
use huimin_store::{Economics, StoredWarning, StoredWarningRules};
use maud::{Markup, html};
use serde::Deserialize;

use crate::State;
use crate::auth::Ctx;
use crate::error::{WebError, WebResult, json_answer};
use crate::layout;
use crate::registry::household_in_reach;

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WarningsQuery {
    /// Region code (default: the user's region)
    #[param(pattern = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$")]
    region: Option<String>,
    /// true: closed warnings too
    all: Option<bool>,
}

fn region_of(ctx: &Ctx, code: Option<&str>) -> WebResult<RegionCode> {
    let region = match code.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => RegionCode::parse(c).map_err(|e| WebError::BadRequest(e.to_string()))?,
        None => ctx.user.region,
    };
    ctx.require_within(region)?;
    Ok(region)
}

async fn warnings_of(state: &State, ctx: &Ctx, q: &WarningsQuery) -> WebResult<(RegionCode, Vec<StoredWarning>)> {
    ctx.require(Permission::ViewWarnings)?;
    let region = region_of(ctx, q.region.as_deref())?;
    Ok((region, state.store.warnings(region, !q.all.unwrap_or(false)).await?))
}

/// Days left until the recognition is due (negative: late).
fn days_left(w: &StoredWarning, today: Date) -> i64 {
    (w.due_on - today).num_days()
}

/// `/monitoring`: the warnings of the region, nearest deadline first; a clock turns red three
/// days before the limit.
pub async fn warnings(state: State, ctx: Ctx, Query(q): Query<WarningsQuery>) -> WebResult<Markup> {
    let (region, list) = warnings_of(&state, &ctx, &q).await?;
    let today = today();
    let picker = layout::region_picker(&state, &ctx, ctx.t("区划", "Region"), Some(region)).await?;
    let body = html! {
        form.filters.card method="get" {
            (picker)
            label.check { input type="checkbox" name="all" value="true" checked[q.all.unwrap_or(false)]; (ctx.t("含已办结", "Closed ones too")) }
            button.primary type="submit" { (ctx.t("查看", "Show")) }
        }
        p.muted { (ctx.t("结算后按预警规则即时检查本户近期合规自付医疗费用；自发现之日起 15 天内完成认定。", "Each settlement checks its household's recent compliant out-of-pocket spending against the warning rules at once; recognition is due within 15 days of the first lead.")) }
        @if list.is_empty() { (layout::empty_state(ctx.t("没有预警", "No warnings"))) } @else {
            table.card.list {
                thead { tr {
                    th { (ctx.t("户编号", "Household")) } th { (ctx.t("户主", "Head")) } th { (ctx.t("触发规则", "Rule")) }
                    th { (ctx.t("原因", "Why")) } th.num { (ctx.t("合规自付", "Out of pocket")) } th { (ctx.t("发现日期", "Found")) } th { (ctx.t("剩余天数", "Days left")) }
                } }
                tbody { @for w in &list { @let left = days_left(w, today); tr {
                    td.mono { a href=(format!("/households/{}", w.household_no)) { (w.household_no) } }
                    td { (w.head_name) }
                    td { (w.rule_name) }
                    td.small { (w.reason) }
                    td.num { (layout::yuan(w.out_of_pocket)) }
                    td { (huimin_domain::format::date_cn(w.opened_on)) }
                    td {
                        @if w.closed_on.is_some() { span.badge { (ctx.t("已办结", "Closed")) } }
                        @else if left < 0 { span.badge.error { (ctx.t("逾期 ", "Late ")) (-left) (ctx.t(" 天", " days")) } }
                        @else if left <= 3 { span.badge.error { (left) (ctx.t(" 天", " days")) } }
                        @else { span.badge.ok { (left) (ctx.t(" 天", " days")) } }
                    }
                } } }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("因病返贫预警", "Warnings of poverty through illness"), "/monitoring", body))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WarningsAnswer {
    region: RegionCode,
    today: Date,
    warnings: Vec<StoredWarning>,
}

/// The warnings of poverty through illness in a region, nearest deadline first
///
/// Each settlement checks its household against the rules in force; recognition is due 15 days
/// after the first lead (`due_on`).
#[utoipa::path(get, path = "/api/warnings", tag = "Monitoring", params(WarningsQuery), responses((status = 200, body = WarningsAnswer)))]
pub async fn api_warnings(state: State, ctx: Ctx, Query(q): Query<WarningsQuery>) -> WebResult<Json<WarningsAnswer>> {
    let (region, warnings) = warnings_of(&state, &ctx, &q).await?;
    Ok(Json(WarningsAnswer { region, today: today(), warnings }))
}

/// A household's economics as sent: amounts in fen.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct EconomicsForm {
    /// 家庭人口数, 1–99
    size: u32,
    /// 家庭年人均纯收入, fen (left out: not known)
    per_capita_income: Option<Money>,
    /// unstable (脱贫不稳定户), edge (边缘易致贫户) or sudden (突发严重困难户); left out: none
    monitoring_category: Option<MonitoringCategory>,
    /// The day the figures hold from (default: today)
    #[schema(inline)]
    as_of: Option<crate::params::DateOrEmpty>,
}

/// Record a household's size, income and monitoring category
///
/// The earlier figures stay as its history; the next settlement's check reads the newest.
#[utoipa::path(post, path = "/api/households/{no}/economics", tag = "Monitoring", params(("no" = String, Path, description = "Household number")), request_body = EconomicsForm,
    responses((status = 201, description = "The household's figures, newest first", body = Vec<huimin_store::StoredEconomics>)))]
pub async fn api_record_economics(state: State, ctx: Ctx, headers: HeaderMap, Path(no): Path<String>, Json(f): Json<EconomicsForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    ctx.require(Permission::RecordEconomics)?;
    let h = household_in_reach(&state, &ctx, &no).await?;
    let no = h.household.no.as_str().to_string();
    let e = Economics { as_of: crate::params::day(f.as_of).unwrap_or_else(today), size: f.size, per_capita_income: f.per_capita_income, monitoring_category: f.monitoring_category };
    let r = match state.store.record_economics(&no, &e, &ctx.user.display_name, &ctx.audit("household.economics", format!("household {no}"), "api")).await {
        Ok(()) => state.store.economics_history(&no).await.map_err(WebError::from),
        Err(huimin_store::StoreError::Refused(m)) => Err(WebError::BadRequest(m)),
        Err(e) => Err(e.into()),
    };
    json_answer(StatusCode::CREATED, r)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RulesQuery {
    /// The file's name, for the messages
    name: Option<String>,
}

/// Check and store an early-warning rules file
///
/// The body is the file (TOML, docs/monitoring.md); its region must touch the user's.
#[utoipa::path(post, path = "/api/warning-rules", tag = "Monitoring", params(RulesQuery), request_body(content = String, content_type = "text/plain"),
    responses((status = 201, description = "The stored rules", body = StoredWarningRules)))]
pub async fn api_load_rules(state: State, ctx: Ctx, headers: HeaderMap, Query(q): Query<RulesQuery>, body: String) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    ctx.require(Permission::ManageWarningRules)?;
    let name = q.name.unwrap_or_else(|| "warning-rules.toml".into());
    let r = async {
        let parsed = huimin_policy::parse_warning_rules(&name, &body).map_err(|e| WebError::BadRequest(e.to_string()))?;
        if !ctx.user.region.contains(parsed.region) && !parsed.region.contains(ctx.user.region) {
            return Err(WebError::BadRequest(format!("预警规则的区划 {} 不在您的管辖范围内", parsed.region)));
        }
        let stored = monitoring::load_rules(&state.store, &name, &body, &ctx.user.username, &ctx.audit("warning.rules.load", "", "api")).await.map_err(|e| match e {
            monitoring::MonitoringError::Invalid(m) => WebError::BadRequest(m),
            monitoring::MonitoringError::Store(e) => e.into(),
        })?;
        *state.policies.write().await = huimin_app::settlement::PolicySet::load(&state.store).await.map_err(WebError::Internal)?;
        Ok(stored)
    }
    .await;
    json_answer(StatusCode::CREATED, r)
}
