//! 防止因病返贫动态监测 (docs/monitoring.md): the warnings of a region with the days left to
//! recognise each household, a household's economics, the warning rules.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use huimin_app::clock::today;
use huimin_app::monitoring;
use huimin_domain::{Date, MonitoringCategory, Money, Permission, RegionCode};
use huimin_domain::recognition::{Step, outcome_label, stage_label, step_label};
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
    /// The page's rows come a hundred at a time
    #[param(inline)]
    page: Option<crate::params::Page>,
}

/// Rows of the warnings page at a time.
const WARNINGS_PAGE: usize = 100;

async fn warnings_of(state: &State, ctx: &Ctx, q: &WarningsQuery) -> WebResult<(RegionCode, Vec<StoredWarning>)> {
    ctx.require(Permission::ViewWarnings)?;
    let region = crate::registry::region_param(ctx, q.region.as_deref())?;
    Ok((region, state.store.warnings(region, !q.all.unwrap_or(false)).await?))
}

/// The days left to the county's decision: green, red from three days before the limit, then
/// late; nothing once decided.
fn clock(ctx: &Ctx, w: &StoredWarning, today: Date) -> Markup {
    html! {
        @match w.recognition().days_left(today) {
            None => span.badge { (stage_label(w.stage)) },
            Some(left) if left < 0 => span.badge.error { (ctx.t("逾期 ", "Late ")) (-left) (ctx.t(" 天", " days")) },
            Some(left) if left <= 3 => span.badge.error { (left) (ctx.t(" 天", " days")) },
            Some(left) => span.badge.ok { (left) (ctx.t(" 天", " days")) },
        }
    }
}

/// `/monitoring`: the warnings of the region, nearest deadline first; a clock turns red three
/// days before the limit.
pub async fn warnings(state: State, ctx: Ctx, Query(q): Query<WarningsQuery>) -> WebResult<Markup> {
    let (region, list) = warnings_of(&state, &ctx, &q).await?;
    let today = today();
    let manage = ctx.can(Permission::ManageWarningRules);
    let days: Vec<i64> = list.iter().filter_map(|w| w.recognition().days_left(today)).collect();
    let (late, urgent) = (days.iter().filter(|d| **d < 0).count() as i64, days.iter().filter(|d| (0..=3).contains(*d)).count() as i64);
    let (page, rows) = layout::page_of(&list, q.page, WARNINGS_PAGE);
    let picker = layout::region_picker(&state, &ctx, ctx.t("区划", "Region"), Some(region)).await?;
    let body = html! {
        form.filters.card method="get" {
            (picker)
            label.check { input type="checkbox" name="all" value="true" checked[q.all.unwrap_or(false)]; (ctx.t("含已办结", "Closed ones too")) }
            button.primary type="submit" { (ctx.t("查看", "Show")) }
        }
        p.muted { (ctx.t("结算后按预警规则即时检查本户近期合规自付医疗费用；农户申报、干部走访和部门筛查的线索在户档案中登记；自发现之日起 15 天内完成认定。", "Each settlement checks its household's recent compliant out-of-pocket spending against the warning rules at once; self-reports, cadres' visits and departments' screening are reported on the household's file; recognition is due within 15 days of the first lead."))
            @if manage { " " a href="/monitoring/rules" { (ctx.t("预警规则与模拟测算", "Rules and simulation")) } } }
        @if list.is_empty() { (layout::empty_state(ctx.t("没有预警", "No warnings"))) } @else {
            p { (ctx.t("共 ", "")) (layout::num(list.len() as i64)) (ctx.t(" 户；其中逾期 ", " households; late ")) (layout::num(late)) (ctx.t(" 户，3 天内到期 ", ", due within 3 days ")) (layout::num(urgent)) (ctx.t(" 户。", "."))}
            table.card.list {
                thead { tr {
                    th { (ctx.t("户编号", "Household")) } th { (ctx.t("户主", "Head")) } th { (ctx.t("线索", "Lead")) }
                    th { (ctx.t("原因", "Why")) } th.num { (ctx.t("合规自付", "Out of pocket")) } th { (ctx.t("发现日期", "Found")) } th { (ctx.t("环节", "Stage")) } th { (ctx.t("剩余天数", "Days left")) }
                } }
                tbody { @for w in rows { tr {
                    td.mono { a href=(format!("/monitoring/{}", w.id)) { (w.household_no) } }
                    td { (w.head_name) }
                    td { (w.rule_name) }
                    td.small { (w.reason) }
                    td.num { (layout::yuan(w.out_of_pocket)) }
                    td { (huimin_domain::format::date_cn(w.opened_on)) }
                    td { (stage_label(w.stage)) }
                    td { (clock(&ctx, w, today)) }
                } } }
            }
            (layout::pager(&ctx, &format!("/monitoring?region={}{}", region.prefix(), if q.all.unwrap_or(false) { "&all=true" } else { "" }), page, WARNINGS_PAGE as i64, list.len() as i64))
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
    let set = state.policies.read().await.warnings.clone();
    let r = async {
        record(&state, &ctx, &set, &no, &e).await?;
        Ok(state.store.economics_history(&no).await?)
    }
    .await;
    json_answer(StatusCode::CREATED, r)
}

/// Records economics and checks the household at once (both forms of it go through here).
pub(crate) async fn record(state: &State, ctx: &Ctx, set: &monitoring::WarningRuleSet, no: &str, e: &Economics) -> WebResult<Option<i64>> {
    let audit = ctx.audit("household.economics", format!("household {no}"), "");
    monitoring::record_economics(&state.store, set, no, e, &ctx.user.display_name, today(), &audit).await.map_err(monitoring_error)
}

/// How a monitoring refusal reaches a person or a client: a rule's refusal is theirs to mend.
fn monitoring_error(e: monitoring::MonitoringError) -> WebError {
    match e {
        monitoring::MonitoringError::Invalid(m) | monitoring::MonitoringError::Store(huimin_store::StoreError::Refused(m) | huimin_store::StoreError::Conflict(m)) => WebError::BadRequest(m),
        monitoring::MonitoringError::Store(e) => e.into(),
    }
}

/// A lead as the household page's form or a client sends it.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LeadForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    /// self_report (农户自主申报，含 12317 热线), cadre_visit (村干部走访) or department (部门数据筛查)
    source: huimin_domain::LeadSource,
    /// What was found (at least 4 characters); shown to the roles that see warnings, never on the notice
    #[schema(inline)]
    note: crate::params::Paragraph,
}

async fn lead(state: &State, ctx: &Ctx, no: &str, f: &LeadForm) -> WebResult<StoredWarning> {
    ctx.require(Permission::ReportLead)?;
    let h = household_in_reach(state, ctx, no).await?;
    let no = h.household.no.as_str();
    let set = state.policies.read().await.warnings.clone();
    let audit = ctx.audit("warning.lead", format!("household {no}"), "");
    let id = monitoring::report_lead(&state.store, &set, no, f.source, &f.note, &ctx.user, today(), &audit).await.map_err(monitoring_error)?;
    state.store.warning(id).await?.ok_or(WebError::NotFound)
}

/// `POST /households/{no}/leads`: the household page's form; the recognition opened is shown.
pub async fn report_lead(state: State, ctx: Ctx, Path(no): Path<String>, axum::Form(f): axum::Form<LeadForm>) -> WebResult<Response> {
    use axum::response::IntoResponse;
    ctx.check_csrf(&f.csrf)?;
    let w = lead(&state, &ctx, &no, &f).await?;
    Ok(axum::response::Redirect::to(&format!("/monitoring/{}", w.id)).into_response())
}

/// Report a lead that no rule found
///
/// A household's own report (the 12317 hotline included), a village cadre's visit or a
/// department's data screening opens its recognition, due 15 days from today. A household has
/// one recognition under way at a time.
#[utoipa::path(post, path = "/api/households/{no}/leads", tag = "Monitoring", params(("no" = String, Path, description = "Household number")), request_body = LeadForm,
    responses((status = 201, description = "The recognition opened", body = StoredWarning)))]
pub async fn api_report_lead(state: State, ctx: Ctx, headers: HeaderMap, Path(no): Path<String>, Json(f): Json<LeadForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    json_answer(StatusCode::CREATED, lead(&state, &ctx, &no, &f).await)
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
        parse_rules_within(&ctx, &name, &body)?;
        let stored = monitoring::load_rules(&state.store, &name, &body, &ctx.user.username, &ctx.audit("warning.rules.load", "", "api")).await.map_err(monitoring_error)?;
        *state.policies.write().await = huimin_app::settlement::PolicySet::load(&state.store).await.map_err(WebError::Internal)?;
        // The rules apply to the spending already stored as well: checked now, in the background.
        tokio::spawn(daily_check(state.0.clone()));
        Ok(stored)
    }
    .await;
    json_answer(StatusCode::CREATED, r)
}

/// A rules file parsed, its region touching the user's.
fn parse_rules_within(ctx: &Ctx, name: &str, body: &str) -> WebResult<huimin_policy::WarningRules> {
    let parsed = huimin_policy::parse_warning_rules(name, body).map_err(|e| WebError::BadRequest(e.to_string()))?;
    if !ctx.user.region.contains(parsed.region) && !parsed.region.contains(ctx.user.region) {
        return Err(WebError::BadRequest(format!("预警规则的区划 {} 不在您的管辖范围内", parsed.region)));
    }
    Ok(parsed)
}

/// The daily check of every household with spending in a window of rules in force
/// (`monitoring::daily_check`), as the server runs it each night and after rules are loaded.
pub(crate) async fn daily_check(state: std::sync::Arc<crate::AppState>) {
    let set = state.policies.read().await.warnings.clone();
    let audit = huimin_store::AuditEntry { username: "system".into(), ip: "local".into(), action: "warning.open".into(), ..Default::default() };
    match monitoring::daily_check(&state.store, &set, today(), &audit).await {
        Ok(r) => tracing::info!(checked = r.checked, opened = r.opened, "households checked against the warning rules"),
        Err(e) => tracing::error!(error = %e, "the daily warning check failed"),
    }
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SimulateQuery {
    /// Region code (default: the user's region)
    #[param(pattern = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$")]
    region: Option<String>,
    /// The window ends with this day's month (default: today)
    #[param(inline)]
    day: Option<crate::params::DateOrEmpty>,
    /// The file's name, for the messages
    name: Option<String>,
}

async fn simulate_for(state: &State, ctx: &Ctx, region: Option<&str>, day: Option<Date>, name: &str, body: &str) -> WebResult<monitoring::Simulation> {
    ctx.require(Permission::ManageWarningRules)?;
    let region = crate::registry::region_param(ctx, region)?;
    let rules = parse_rules_within(ctx, name, body)?;
    monitoring::simulate(&state.store, &rules, region, day.unwrap_or_else(today)).await.map_err(monitoring_error)
}

/// Simulate draft early-warning rules over the settlements stored
///
/// The body is a rules file (TOML, docs/monitoring.md). Every household of the region that paid
/// anything compliant out of pocket in the rules' window (ending with `day`'s month) is checked
/// as a settlement would check it; the answer counts, by the region's child regions, the
/// households each rule would have flagged. Nothing is stored.
#[utoipa::path(post, path = "/api/warning-rules/simulate", tag = "Monitoring", params(SimulateQuery), request_body(content = String, content_type = "text/plain"),
    responses((status = 200, description = "Households flagged, by rule and region", body = monitoring::Simulation)))]
pub async fn api_simulate(state: State, ctx: Ctx, headers: HeaderMap, Query(q): Query<SimulateQuery>, body: String) -> WebResult<Json<monitoring::Simulation>> {
    ctx.check_api_csrf(&headers)?;
    let name = q.name.clone().unwrap_or_else(|| "warning-rules.toml".into());
    Ok(Json(simulate_for(&state, &ctx, q.region.as_deref(), crate::params::day(q.day), &name, &body).await?))
}

#[derive(Deserialize, Default)]
pub struct SimulateForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    day: String,
    #[serde(default)]
    rules: String,
}

/// `/monitoring/rules`: the rules in force, and a draft to simulate (and, for the roles that
/// manage them, to load).
pub async fn rules_page(state: State, ctx: Ctx) -> WebResult<Markup> {
    ctx.require(Permission::ManageWarningRules)?;
    render_rules(&state, &ctx, &SimulateForm::default(), None, None).await
}

/// `POST /monitoring/rules`: simulate the draft typed or pasted; the page again with the figures.
pub async fn simulate_page(state: State, ctx: Ctx, axum::Form(f): axum::Form<SimulateForm>) -> WebResult<Response> {
    use axum::response::IntoResponse;
    ctx.check_csrf(&f.csrf)?;
    let day = match f.day.trim() {
        "" => Ok(None),
        t => Date::parse_from_str(t, "%Y-%m-%d").map(Some).map_err(|_| WebError::BadRequest(format!("日期「{t}」应为 YYYY-MM-DD"))),
    };
    let region = (!f.region.trim().is_empty()).then(|| f.region.trim());
    let result = match day {
        Ok(day) => simulate_for(&state, &ctx, region, day, "草稿", &f.rules).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(sim) => Ok(render_rules(&state, &ctx, &f, Some(&sim), None).await?.into_response()),
        Err(WebError::BadRequest(why)) => Ok((StatusCode::BAD_REQUEST, render_rules(&state, &ctx, &f, None, Some(&why)).await?).into_response()),
        Err(e) => Err(e),
    }
}

async fn render_rules(state: &State, ctx: &Ctx, f: &SimulateForm, sim: Option<&monitoring::Simulation>, refused: Option<&str>) -> WebResult<Markup> {
    let set = state.policies.read().await.warnings.clone();
    let picker = layout::region_picker(state, ctx, ctx.t("区划", "Region"), crate::registry::region_param(ctx, Some(f.region.trim())).ok()).await?;
    let draft = if f.rules.trim().is_empty() { set.all().find(|(s, _)| ctx.user.region.contains(s.region) || s.region.contains(ctx.user.region)).map(|(s, _)| s.body.clone()).unwrap_or_default() } else { f.rules.clone() };
    let body = html! {
        h2 { (ctx.t("在用的预警规则", "Rules loaded")) }
        @let loaded: Vec<_> = set.all().filter(|(s, _)| ctx.user.region.contains(s.region) || s.region.contains(ctx.user.region)).collect();
        @if loaded.is_empty() { (layout::empty_state(ctx.t("尚未加载预警规则", "No rules loaded"))) } @else {
            table.card { thead { tr { th { (ctx.t("编号", "Id")) } th { (ctx.t("名称", "Name")) } th { (ctx.t("区划", "Region")) } th { (ctx.t("有效期", "In force")) } th { (ctx.t("规则", "Rules")) } } }
                tbody { @for (s, r) in &loaded { tr {
                    td.mono { (s.id) } td { (s.name) } td.mono { (s.region) }
                    td { (huimin_domain::format::date_cn(s.effective_from)) " – " (huimin_domain::format::date_cn(s.effective_to)) }
                    td.small { @for rule in &r.rules { div { (rule.name) } } }
                } } } }
        }
        h2 { (ctx.t("模拟测算", "Simulate a draft")) }
        p.muted { (ctx.t("把规则草稿（格式同预警规则文件）用于已结算的费用：统计本区划各下级区划中每条规则会预警的户数，不保存任何数据。", "Runs a draft (written as a rules file) over the stored settlements: how many households each rule would flag in each region below. Nothing is stored.")) }
        @if let Some(why) = refused { p.alert.error role="alert" style="white-space: pre-line" { (why) } }
        form.card method="post" action="/monitoring/rules" {
            (layout::csrf(ctx))
            div.filters {
                (picker)
                label { (ctx.t("截至日期（默认今天）", "Window ends (default today)")) input type="date" name="day" value=(f.day); }
            }
            label { (ctx.t("规则草稿", "Draft")) textarea.mono name="rules" rows="16" required { (draft) } }
            button.primary type="submit" { (ctx.t("模拟测算", "Simulate")) }
        }
        @if let Some(sim) = sim {
            h2 { (ctx.t("测算结果", "Result")) }
            p { (ctx.t("时间窗 ", "Window ")) (sim.window.0) " – " (sim.window.1) (ctx.t("；有合规自付的户 ", "; households with spending ")) (layout::num(sim.checked as i64)) }
            table.card.list {
                thead { tr { th { (ctx.t("区划", "Region")) } th.num { (ctx.t("有自付户", "With spending")) } @for (_, name) in &sim.rules { th.num { (name) } } th.num { (ctx.t("任一规则", "Any rule")) } } }
                tbody {
                    @for r in sim.rows.iter().chain([&sim.total]) { tr {
                        td { (r.name) } td.num { (layout::num(r.checked)) }
                        @for n in &r.by_rule { td.num { (layout::num(*n)) } }
                        td.num { strong { (layout::num(r.any)) } }
                    } }
                }
            }
        }
    };
    Ok(layout::page(ctx, ctx.t("预警规则与模拟测算", "Warning rules and simulation"), "/monitoring", body))
}

/// A warning the user may see, or 404.
async fn warning_in_reach(state: &State, ctx: &Ctx, id: i64) -> WebResult<StoredWarning> {
    ctx.require(Permission::ViewWarnings)?;
    let w = state.store.warning(id).await?.ok_or(WebError::NotFound)?;
    ctx.require_within(w.region).map_err(|_| WebError::NotFound)?;
    Ok(w)
}

/// A step as a form or a client sends it.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct StepForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    /// home_visit, cross_check, post_notice, township_review, county_approval, help or assess
    step: String,
    /// The note, the measures or the reason (at least 4 characters; none for post_notice)
    #[serde(default)]
    #[schema(inline)]
    note: crate::params::Paragraph,
    /// township_review, county_approval: agreed; assess: the risk eliminated
    #[serde(default)]
    yes: Option<String>,
}

impl StepForm {
    fn step(&self) -> WebResult<Step> {
        let yes = matches!(self.yes.as_deref(), Some("true" | "1" | "yes" | "on"));
        Step::from_code(&self.step, yes, self.note.trim().to_string()).ok_or_else(|| WebError::BadRequest(format!("环节「{}」未知", self.step)))
    }
}

async fn take(state: &State, ctx: &Ctx, id: i64, f: &StepForm) -> WebResult<StoredWarning> {
    warning_in_reach(state, ctx, id).await?;
    let step = f.step()?;
    monitoring::take_step(&state.store, id, &step, &ctx.user, today(), &ctx.audit("warning.step", "", "")).await.map_err(monitoring_error)
}

/// `/monitoring/{id}`: a warning, its recognition so far, and the next step for the role that owns it.
pub async fn warning_page(state: State, ctx: Ctx, Path(id): Path<i64>) -> WebResult<Markup> {
    let w = warning_in_reach(&state, &ctx, id).await?;
    render_warning(&state, &ctx, &w, None).await
}

async fn render_warning(state: &State, ctx: &Ctx, w: &StoredWarning, refused: Option<&str>) -> WebResult<Markup> {
    let steps = state.store.warning_steps(w.id).await?;
    let today = today();
    let body = html! {
        @if let Some(why) = refused { p.alert.error role="alert" { (why) } }
        section.card {
            p { strong { (w.head_name) } " · " span.mono { (w.household_no) } " · " (stage_label(w.stage)) " · " (clock(ctx, w, today)) }
            p { (ctx.t("触发：", "Fired: ")) (w.rule_name) }
            p.small { (w.reason) }
            p.small.muted { (ctx.t("依据：", "Source: ")) (w.source) }
            p.small { (ctx.t("发现日期 ", "Found ")) (huimin_domain::format::date_cn(w.opened_on)) (ctx.t("，认定期限 ", "; due ")) (huimin_domain::format::date_cn(w.due_on)) }
            p.noprint { a href=(format!("/households/{}", w.household_no)) { (ctx.t("一户一档", "Household file")) }
                @if w.notice_on.is_some() { " · " a href=(format!("/monitoring/{}/notice", w.id)) { (ctx.t("打印公示", "Print the notice")) } } }
        }
        h2 { (ctx.t("办理记录", "Steps taken")) }
        @if steps.is_empty() { (layout::empty_state(ctx.t("尚未办理", "No step yet"))) } @else {
            table.card { thead { tr { th { (ctx.t("日期", "Date")) } th { (ctx.t("环节", "Step")) } th { (ctx.t("结论", "Outcome")) } th { (ctx.t("情况", "Note")) } th { (ctx.t("办理人", "By")) } } }
                tbody { @for s in &steps { tr { td { (huimin_domain::format::date_cn(s.taken_on)) } td { (step_label(&s.step)) } td { (outcome_label(&s.outcome)) } td.small { (s.note) } td { (s.taken_by) } } } } }
        }
        @for code in w.stage.next_steps() {
            @if Step::from_code(code, false, String::new()).is_some_and(|s| s.roles().contains(&ctx.user.role)) {
                form.card method="post" action=(format!("/monitoring/{}/steps", w.id)) {
                    (layout::csrf(ctx))
                    input type="hidden" name="step" value=(code);
                    h3 { (step_label(code)) }
                    @if *code != "post_notice" { label { (ctx.t("情况说明（写情况，不写病名）", "Note (the situation, not a diagnosis)")) textarea name="note" rows="3" maxlength="2000" required {} } }
                    @if ["township_review", "county_approval"].contains(code) { label.check { input type="checkbox" name="yes" value="true" checked; (ctx.t("同意（不勾选：不同意，办结）", "Agreed (unticked: refused, ended)")) } }
                    @if *code == "assess" { label.check { input type="checkbox" name="yes" value="true"; (ctx.t("风险已消除（办结）", "Risk eliminated (ends it)")) } }
                    button.primary type="submit" { (ctx.t("办理", "Take the step")) }
                }
            }
        }
    };
    Ok(layout::page(ctx, ctx.t("因病返贫预警", "Warning"), "/monitoring", body))
}

/// `POST /monitoring/{id}/steps`: a step from the page; refused, the page again with the reason.
pub async fn take_step(state: State, ctx: Ctx, Path(id): Path<i64>, axum::Form(f): axum::Form<StepForm>) -> WebResult<Response> {
    use axum::response::IntoResponse;
    ctx.check_csrf(&f.csrf)?;
    match take(&state, &ctx, id, &f).await {
        Ok(_) => Ok(axum::response::Redirect::to(&format!("/monitoring/{id}")).into_response()),
        Err(WebError::BadRequest(why)) => {
            let w = warning_in_reach(&state, &ctx, id).await?;
            Ok((StatusCode::BAD_REQUEST, render_warning(&state, &ctx, &w, Some(&why)).await?).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WarningAnswer {
    warning: StoredWarning,
    steps: Vec<huimin_store::WarningStep>,
}

/// Take the next step of a warning's recognition
///
/// By the role that owns the step, in order; a township review only after the village's notice
/// has been up 5 days.
#[utoipa::path(post, path = "/api/warnings/{id}/steps", tag = "Monitoring", params(("id" = i64, Path, description = "Warning id")), request_body = StepForm,
    responses((status = 200, description = "The warning after the step, with every step taken", body = WarningAnswer)))]
pub async fn api_take_step(state: State, ctx: Ctx, headers: HeaderMap, Path(id): Path<i64>, Json(f): Json<StepForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let r = async {
        let warning = take(&state, &ctx, id, &f).await?;
        Ok(WarningAnswer { steps: state.store.warning_steps(id).await?, warning })
    }
    .await;
    json_answer(StatusCode::OK, r)
}

/// `/monitoring/{id}/notice`: the village's public notice, to print and post: the head's name,
/// the village and the category only — never an ID number, a phone, an amount or a diagnosis.
pub async fn notice(state: State, ctx: Ctx, Path(id): Path<i64>) -> WebResult<Markup> {
    let w = warning_in_reach(&state, &ctx, id).await?;
    let since = w.notice_on.ok_or(WebError::NotFound)?;
    let village = state.store.region(w.region).await?.map_or_else(|| w.region.to_string(), |r| r.name);
    let category = state.store.economics(&w.household_no).await?.and_then(|e| e.economics.monitoring_category).map_or("防止返贫监测对象", |c| c.label_zh());
    let until = since + chrono::Duration::days(huimin_domain::recognition::NOTICE_DAYS);
    let body = html! {
        section.card.notice {
            h2 { (village) "防止返贫监测对象评议公示" }
            p { "经入户核实、数据比对和村级评议，拟将下列农户纳入防止返贫监测对象，现予公示。公示期自 " (huimin_domain::format::date_cn(since)) " 至 " (huimin_domain::format::date_cn(until)) "。如有异议，请在公示期内向村委会或乡镇反映。" }
            table { thead { tr { th { "户主姓名" } th { "所在村" } th { "监测类别" } } } tbody { tr { td { (w.head_name) } td { (village) } td { (category) } } } }
            p.noprint { button type="button" data-print="1" { (ctx.t("打印", "Print")) } }
        }
    };
    Ok(layout::page(&ctx, "评议公示", "/monitoring", body))
}
