//! Family-doctor pages: teams and the follow-up rule, contracts and 签约率, the follow-up
//! worklist with 履约率, the fast follow-up form, the abnormal-readings list, and their API.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use huimin_app::contracts::{self, WorkItem};
use huimin_domain::{Adherence, Date, Disclosed, Record, FollowUpMode, FollowUpReadings, FollowUpRule, KeyGroup, Permission, RegionCode, RegionLevel, Service};
use huimin_store::{NewFollowUp, StoreError, TeamMember};
use maud::{Markup, html};
use serde::Deserialize;

use crate::State;
use crate::registry::region_param;
use crate::error::json_answer;
use crate::auth::Ctx;
use crate::error::{WebError, WebResult};
use crate::layout::{self, csrf, dash, num, percent};
use crate::registry::person_in_reach;

use huimin_app::clock::{this_year, today};

fn refused(e: StoreError) -> WebError {
    match e {
        StoreError::Refused(m) | StoreError::Conflict(m) => WebError::BadRequest(m),
        e => e.into(),
    }
}

fn child_width(region: RegionCode) -> usize {
    match region.level() {
        RegionLevel::Province => 4,
        RegionLevel::City => 6,
        RegionLevel::County => 9,
        RegionLevel::Township | RegionLevel::Village => 12,
    }
}

// ----- teams and the follow-up rule -----

pub async fn teams(state: State, ctx: Ctx) -> WebResult<Markup> {
    ctx.require(Permission::ViewProgress)?;
    let teams = state.store.teams(ctx.user.region).await?;
    let rules = state.store.follow_up_rules().await?;
    let rule = contracts::rule_for(&rules, ctx.user.region);
    let manage = ctx.can(Permission::ManageTeams);
    let facilities = state.store.facilities(ctx.user.region).await?;
    let area_picker = layout::region_picker(&state, &ctx, ctx.t("服务区域", "Area served"), Some(ctx.user.region)).await?;
    let picker = layout::region_picker(&state, &ctx, ctx.t("区划", "Region"), Some(ctx.user.region)).await?;
    let body = html! {
        p.muted { (ctx.t("随访频次（本区划）：重点人群每年 ", "Follow-ups a year here: key groups ")) (rule.key_per_year) (ctx.t(" 次，一般人群每年 ", ", others ")) (rule.other_per_year) (ctx.t(" 次", "")) }
        @for t in &teams {
            section.card {
                h2 { (t.name) " " small.muted { (t.region) " · " (t.facility_code) } }
                table {
                    thead { tr { th { (ctx.t("姓名", "Name")) } th { (ctx.t("职责", "Duty")) } th { (ctx.t("电话", "Phone")) } th { (ctx.t("机构", "Facility")) } th { (ctx.t("账号", "Login")) } } }
                    tbody { @for m in &t.members { tr { td { (m.name) } td { (m.duty) } td { (m.phone) } td.mono { (m.facility_code.as_deref().unwrap_or("—")) } td.mono { (m.username.as_deref().unwrap_or("—")) } } } }
                }
                @if manage && ctx.user.region.contains(t.region) {
                    details { summary { (ctx.t("添加成员", "Add a member")) }
                        form.filters method="post" action=(format!("/teams/{}/members", t.id)) {
                            (csrf(&ctx))
                            label { (ctx.t("姓名", "Name")) input name="name" required; }
                            label { (ctx.t("职责", "Duty")) input name="duty" required placeholder="全科医生 / 护士 / 公卫医生 / 村医"; }
                            label { (ctx.t("电话", "Phone")) input name="phone" inputmode="tel"; }
                            label { (ctx.t("所在机构编码（县级医生可加入）", "Facility code (county doctors may join)")) input name="facility"; }
                            label { (ctx.t("登录账号", "Login")) input name="username"; }
                            button.primary type="submit" { (ctx.t("添加", "Add")) }
                        }
                    }
                }
            }
        }
        @if teams.is_empty() { (layout::empty_state(ctx.t("还没有家庭医生团队", "No family-doctor team yet"))) }
        @if manage {
            form.card.filters method="post" action="/teams" {
                h2 { (ctx.t("组建团队", "New team")) }
                (csrf(&ctx))
                label.grow { (ctx.t("团队名称", "Name")) input name="name" required; }
                label { (ctx.t("牵头机构", "Lead facility")) select name="facility" required { @for f in &facilities { option value=(f.code) { (f.name) } } } }
                (area_picker)
                button.primary type="submit" { (ctx.t("创建", "Create")) }
            }
            form.card.filters method="post" action="/teams/rule" {
                h2 { (ctx.t("随访频次", "Follow-up rule")) }
                (csrf(&ctx))
                (picker)
                label { (ctx.t("重点人群每年", "Key groups a year")) input name="key_per_year" value=(rule.key_per_year) inputmode="numeric" size="3"; }
                label { (ctx.t("一般人群每年", "Others a year")) input name="other_per_year" value=(rule.other_per_year) inputmode="numeric" size="3"; }
                button.primary type="submit" { (ctx.t("保存", "Save")) }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("家庭医生团队", "Family-doctor teams"), "/teams", body))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TeamForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    #[schema(inline)]
    name: crate::params::Short,
    facility: String,
    region: String,
}

pub async fn create_team(state: State, ctx: Ctx, Form(f): Form<TeamForm>) -> WebResult<Response> {
    ctx.check_csrf(&f.csrf)?;
    new_team(&state, &ctx, &f).await?;
    Ok(Redirect::to("/teams").into_response())
}

async fn new_team(state: &State, ctx: &Ctx, f: &TeamForm) -> WebResult<i64> {
    ctx.require(Permission::ManageTeams)?;
    let region = region_param(ctx, Some(&f.region))?;
    if f.name.trim().is_empty() {
        return Err(WebError::BadRequest("请填写团队名称".into()));
    }
    state.store.create_team(f.name.trim(), f.facility.trim(), region, &ctx.audit("team.create", format!("region {region}"), f.name.trim())).await.map_err(refused)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TeamsAnswer {
    teams: Vec<huimin_store::Team>,
    rule: FollowUpsAYear,
}

/// How many follow-ups a year a region's contracts need.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct FollowUpsAYear {
    key_per_year: u8,
    other_per_year: u8,
}

/// The teams serving the user's region, their members, the follow-up rule
#[utoipa::path(get, path = "/api/teams", tag = "Contracts", responses((status = 200, body = TeamsAnswer)))]
pub async fn api_teams(state: State, ctx: Ctx) -> WebResult<Json<TeamsAnswer>> {
    ctx.require(Permission::ViewProgress)?;
    let rules = state.store.follow_up_rules().await?;
    let rule = contracts::rule_for(&rules, ctx.user.region);
    Ok(Json(TeamsAnswer { teams: state.store.teams(ctx.user.region).await?, rule: FollowUpsAYear { key_per_year: rule.key_per_year, other_per_year: rule.other_per_year } }))
}

/// Form a family-doctor team
#[utoipa::path(post, path = "/api/teams", tag = "Contracts", request_body = TeamForm, responses((status = 201, description = "The team", body = huimin_store::Team)))]
pub async fn api_create_team(state: State, ctx: Ctx, headers: HeaderMap, Json(f): Json<TeamForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let r = match new_team(&state, &ctx, &f).await {
        Ok(id) => state.store.team(id).await.map_err(WebError::from).and_then(|t| t.ok_or(WebError::NotFound)),
        Err(e) => Err(e),
    };
    json_answer(StatusCode::CREATED, r)
}

/// Add a member to a team
#[utoipa::path(post, path = "/api/teams/{id}/members", tag = "Contracts", params(("id" = i64, Path, description = "Team id")), request_body = MemberForm,
    responses((status = 201, description = "The team", body = huimin_store::Team)))]
pub async fn api_add_member(state: State, ctx: Ctx, headers: HeaderMap, Path(id): Path<i64>, Json(f): Json<MemberForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let r = match new_member(&state, &ctx, id, &f).await {
        Ok(()) => state.store.team(id).await.map_err(WebError::from).and_then(|t| t.ok_or(WebError::NotFound)),
        Err(e) => Err(e),
    };
    json_answer(StatusCode::CREATED, r)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RuleSet {
    region: RegionCode,
    #[serde(flatten)]
    rule: FollowUpsAYear,
}

/// Set a region's follow-ups a year (key groups, others)
#[utoipa::path(post, path = "/api/teams/rule", tag = "Contracts", request_body = RuleForm, responses((status = 200, body = RuleSet)))]
pub async fn api_set_rule(state: State, ctx: Ctx, headers: HeaderMap, Json(f): Json<RuleForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let r = save_rule(&state, &ctx, &f).await.map(|region| RuleSet { region, rule: FollowUpsAYear { key_per_year: f.key_per_year, other_per_year: f.other_per_year } });
    json_answer(StatusCode::OK, r)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct MemberForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    name: String,
    #[schema(inline)]
    duty: crate::params::Short,
    #[serde(default)]
    #[schema(inline)]
    phone: crate::params::Short,
    #[serde(default)]
    facility: String,
    #[serde(default)]
    username: String,
}

pub async fn add_member(state: State, ctx: Ctx, Path(id): Path<i64>, Form(f): Form<MemberForm>) -> WebResult<Response> {
    ctx.check_csrf(&f.csrf)?;
    new_member(&state, &ctx, id, &f).await?;
    Ok(Redirect::to("/teams").into_response())
}

async fn new_member(state: &State, ctx: &Ctx, id: i64, f: &MemberForm) -> WebResult<()> {
    ctx.require(Permission::ManageTeams)?;
    let team = state.store.team(id).await?.ok_or(WebError::NotFound)?;
    ctx.require_within(team.region).map_err(|_| WebError::NotFound)?;
    if f.name.trim().is_empty() || f.duty.trim().is_empty() {
        return Err(WebError::BadRequest("请填写成员姓名和职责".into()));
    }
    let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let m = TeamMember { id: 0, name: f.name.trim().into(), duty: f.duty.trim().into(), phone: f.phone.trim().into(), facility_code: opt(&f.facility), username: opt(&f.username) };
    state.store.add_team_member(id, &m, &ctx.audit("team.member", format!("team {id}"), m.name.clone())).await.map_err(refused)?;
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RuleForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    region: String,
    key_per_year: u8,
    other_per_year: u8,
}

pub async fn set_rule(state: State, ctx: Ctx, Form(f): Form<RuleForm>) -> WebResult<Response> {
    ctx.check_csrf(&f.csrf)?;
    save_rule(&state, &ctx, &f).await?;
    Ok(Redirect::to("/teams").into_response())
}

async fn save_rule(state: &State, ctx: &Ctx, f: &RuleForm) -> WebResult<RegionCode> {
    ctx.require(Permission::ManageTeams)?;
    let region = region_param(ctx, Some(&f.region))?;
    let rule = FollowUpRule::new(f.key_per_year, f.other_per_year).map_err(|e| WebError::BadRequest(e.0))?;
    state.store.set_follow_up_rule(region, rule, &ctx.audit("followup.rule", format!("region {region}"), format!("{}/{}", rule.key_per_year, rule.other_per_year))).await.map_err(refused)?;
    Ok(region)
}

// ----- contracts -----

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContractQuery {
    /// Region code (default: the user's region)
    #[param(pattern = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$")]
    region: Option<String>,
    /// Contract year (default: this year)
    #[param(inline)]
    year: Option<crate::params::Year>,
}

pub async fn contracts_page(state: State, ctx: Ctx, Query(q): Query<ContractQuery>) -> WebResult<Markup> {
    ctx.require(Permission::ViewProgress)?;
    let region = region_param(&ctx, q.region.as_deref())?;
    let year = q.year.map_or_else(this_year, |y| y.0);
    let rates = state.store.contract_rates(region, year).await?;
    let (persons, signed) = rates.iter().fold((0, 0), |(a, b), r| (a + r.persons, b + r.signed));
    let sign = ctx.can(Permission::SignContracts);
    let unsigned = if sign { state.store.unsigned_persons(region, year, 200).await? } else { Vec::new() };
    let teams = if sign { state.store.teams(region).await? } else { Vec::new() };
    let picker = layout::region_picker(&state, &ctx, ctx.t("区划", "Region"), Some(region)).await?;
    let body = html! {
        form.filters.card method="get" action="/contracts" {
            (picker)
            label { (ctx.t("年度", "Year")) input name="year" value=(year) inputmode="numeric" size="4"; }
            button.primary type="submit" { (ctx.t("查看", "Show")) }
        }
        @if ctx.can(Permission::ManageTeams) { p.noprint { a href="/teams" { (ctx.t("家庭医生团队与随访频次", "Family-doctor teams and follow-up rule")) } } }
        section.stats {
            div.stat { span.value { (num(persons)) } span.label { (ctx.t("建档立卡人口", "Registered persons")) } }
            div.stat { span.value { (num(signed)) } span.label { (ctx.t("已签约", "Signed")) } }
            div.stat { span.value { (percent(signed, persons)) } span.label { (ctx.t("签约率", "Contract rate")) } }
        }
        table.card {
            thead { tr { th { (ctx.t("区划", "Region")) } th.num { (ctx.t("人数", "Persons")) } th.num { (ctx.t("已签约", "Signed")) } th.num { (ctx.t("签约率", "Rate")) } } }
            tbody { @for r in &rates { tr {
                td { @if r.region != region { a href=(format!("/contracts?region={}&year={year}", r.region)) { (r.name) } } @else { (r.name) } }
                td.num { (num(r.persons)) } td.num { (num(r.signed)) } td.num { (percent(r.signed, r.persons)) }
            } } }
        }
        @if sign && !unsigned.is_empty() {
            form.card method="post" action="/contracts" {
                h2 { (ctx.t("未签约人员", "Not yet signed")) " " small.muted { (unsigned.len()) @if unsigned.len() == 200 { "+" } } }
                (csrf(&ctx))
                input type="hidden" name="region" value=(region);
                div.filters {
                    label { (ctx.t("签约团队", "Team")) select name="team" required { @for t in &teams { option value=(t.id) { (t.name) } } } }
                    // The doctor is a named member of the team, chosen: never the account's name by default.
                    label { (ctx.t("签约医生", "Signed by")) select name="signed_by" required {
                        option value="" { (ctx.t("请选择团队成员", "Choose a team member")) }
                        @for t in &teams { optgroup label=(t.name) { @for m in &t.members { option value=(m.name) { (m.name) "（" (m.duty) "）" } } } }
                    } }
                    label { (ctx.t("开始日期", "From")) input name="starts_on" type="date" required value=(today()); }
                }
                p.small { (ctx.t("服务包：", "Services: ")) @for s in Service::ALL { label.check { input type="checkbox" name="services" value=(s.code()) checked; (s.label_zh()) } " " } }
                table.list {
                    // Nobody is ticked until chosen; the header box ticks the whole list at once.
                    thead { tr { th { input type="checkbox" data-check-all="person" title=(ctx.t("全选", "All")); } th { (ctx.t("姓名", "Name")) } th { (ctx.t("户编号", "Household")) } } }
                    tbody { @for (id, name, no) in &unsigned { tr { td { input type="checkbox" name="person" value=(id); } td { (name) } td.mono { (no) } } } }
                }
                button.primary type="submit" { (ctx.t("为选中人员签约", "Sign the selected")) }
            }
        }
        @if sign {
            form.card.inline method="post" action="/contracts/renew" {
                (csrf(&ctx))
                input type="hidden" name="region" value=(region);
                input type="hidden" name="year" value=(year);
                button type="submit" { (year) (ctx.t(" 年度签约续签到 ", " contracts renewed for ")) (year + 1) }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("家庭医生签约", "Family-doctor contracts"), "/contracts", body))
}

/// The sign form: repeated `person` and `services` fields, so read as pairs.
pub async fn sign(state: State, ctx: Ctx, Form(pairs): Form<Vec<(String, String)>>) -> WebResult<Response> {
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).unwrap_or("");
    ctx.check_csrf(get("_csrf"))?;
    let request = SignRequest {
        region: Some(get("region").to_string()),
        team: get("team").parse().map_err(|_| WebError::BadRequest("请选择签约团队".into()))?,
        persons: pairs.iter().filter(|(k, _)| k == "person").filter_map(|(_, v)| v.parse().ok()).collect(),
        services: pairs.iter().filter(|(k, _)| k == "services").map(|(_, v)| v.clone()).collect(),
        starts_on: get("starts_on").to_string(),
        signed_by: crate::params::Text::new(get("signed_by")).map_err(WebError::BadRequest)?,
    };
    let (region, year, _) = sign_contracts(&state, &ctx, &request).await?;
    Ok(Redirect::to(&format!("/contracts?region={region}&year={year}")).into_response())
}

/// What signing needs: a team, persons, services (codes), the start date and who signed.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SignRequest {
    region: Option<String>,
    team: i64,
    persons: Vec<i64>,
    services: Vec<String>,
    starts_on: String,
    #[schema(inline)]
    signed_by: crate::params::Short,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Signed {
    region: RegionCode,
    year: i32,
    signed: usize,
}

/// Sign contracts for persons with a team
#[utoipa::path(post, path = "/api/contracts", tag = "Contracts", request_body = SignRequest, responses((status = 201, body = Signed)))]
pub async fn api_sign(state: State, ctx: Ctx, headers: HeaderMap, Json(request): Json<SignRequest>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let r = sign_contracts(&state, &ctx, &request).await.map(|(region, year, signed)| Signed { region, year, signed });
    json_answer(StatusCode::CREATED, r)
}

/// Signs the persons (each inside the user's region) with a team the user's region touches.
async fn sign_contracts(state: &State, ctx: &Ctx, r: &SignRequest) -> WebResult<(RegionCode, i32, usize)> {
    ctx.require(Permission::SignContracts)?;
    let region = region_param(ctx, r.region.as_deref())?;
    let t = state.store.team(r.team).await?.ok_or(WebError::NotFound)?;
    if !(t.region.contains(ctx.user.region) || ctx.user.region.contains(t.region)) {
        return Err(WebError::NotFound);
    }
    for &id in &r.persons {
        person_in_reach(state, ctx, id).await?;
    }
    let services: Vec<Service> = r.services.iter().filter_map(|v| Service::from_code(v)).collect();
    let starts_on = Date::parse_from_str(r.starts_on.trim(), "%Y-%m-%d").map_err(|_| WebError::BadRequest("开始日期应为 YYYY-MM-DD".into()))?;
    let signed_by = r.signed_by.trim();
    if signed_by.is_empty() {
        return Err(WebError::BadRequest("请选择签约医生".into()));
    }
    if !t.members.iter().any(|m| m.name == signed_by) {
        return Err(WebError::BadRequest(format!("签约医生「{signed_by}」不是团队「{}」的成员", t.name)));
    }
    let n = contracts::sign(&state.store, &r.persons, r.team, &services, signed_by, starts_on, &ctx.audit("contract.sign", "", "")).await.map_err(refused)?;
    Ok((region, chrono::Datelike::year(&starts_on), n))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ContractsAnswer {
    region: RegionCode,
    year: i32,
    contracts: Vec<huimin_store::ContractRow>,
    rates: Vec<huimin_store::ContractRate>,
}

/// The contracts of a year and 签约率 by region below
#[utoipa::path(get, path = "/api/contracts", tag = "Contracts", params(ContractQuery), responses((status = 200, body = ContractsAnswer)))]
pub async fn api_contracts(state: State, ctx: Ctx, Query(q): Query<ContractQuery>) -> WebResult<Json<ContractsAnswer>> {
    ctx.require(Permission::ViewHealth)?;
    let region = region_param(&ctx, q.region.as_deref())?;
    let year = q.year.map_or_else(this_year, |y| y.0);
    let contracts = state.store.contracts(region, year).await?;
    let rates = state.store.contract_rates(region, year).await?;
    Ok(Json(ContractsAnswer { region, year, contracts, rates }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RenewForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    region: String,
    /// The year renewed from
    #[schema(inline)]
    year: crate::params::Year,
}

pub async fn renew(state: State, ctx: Ctx, Form(f): Form<RenewForm>) -> WebResult<Response> {
    ctx.check_csrf(&f.csrf)?;
    let (region, _) = renew_contracts(&state, &ctx, &f).await?;
    Ok(Redirect::to(&format!("/contracts?region={region}&year={}", f.year.0 + 1)).into_response())
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Renewed {
    region: RegionCode,
    /// The year renewed for
    year: i32,
    renewed: usize,
}

/// Renew every contract of a year for the next
#[utoipa::path(post, path = "/api/contracts/renew", tag = "Contracts", request_body = RenewForm, responses((status = 201, body = Renewed)))]
pub async fn api_renew(state: State, ctx: Ctx, headers: HeaderMap, Json(f): Json<RenewForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let r = renew_contracts(&state, &ctx, &f).await.map(|(region, renewed)| Renewed { region, year: f.year.0 + 1, renewed });
    json_answer(StatusCode::CREATED, r)
}

async fn renew_contracts(state: &State, ctx: &Ctx, f: &RenewForm) -> WebResult<(RegionCode, usize)> {
    ctx.require(Permission::SignContracts)?;
    let region = region_param(ctx, Some(&f.region))?;
    let n = contracts::renew(&state.store, region, f.year.0, &ctx.user.display_name, &ctx.audit("contract.renew", "", "")).await.map_err(refused)?;
    Ok((region, n))
}

// ----- the worklist -----

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorklistQuery {
    /// Region code (default: the user's region)
    #[param(pattern = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$")]
    region: Option<String>,
    /// Contract year (default: this year)
    #[param(inline)]
    year: Option<crate::params::Year>,
    /// `due` (default: late or due within 7 days), `overdue`, `key` (key groups), `abnormal` (an
    /// abnormal reading in the last 30 days), `all`.
    show: Option<String>,
    /// `due` (default), `overdue`, `name`, `village`.
    sort: Option<String>,
    /// `all` for the whole region; by default a team member sees their own teams' contracts.
    teams: Option<String>,
    /// The page only: the follow-up just saved.
    #[param(ignore)]
    saved: Option<i64>,
    /// The contract just followed up (the page's script forgets the form kept for it).
    #[allow(dead_code)]
    #[param(ignore)]
    contract: Option<i64>,
    /// The page's rows come a hundred at a time (a county has thousands of contracts).
    #[param(inline)]
    page: Option<crate::params::Page>,
    /// The page only: `1`, every row on one page, to print (a village's list).
    #[param(ignore)]
    print: Option<String>,
}

/// Rows of the worklist page at a time.
const WORKLIST_PAGE: usize = 100;

/// The windows missed so far, for the completion cell's title (the person's history).
fn missed_title(ctx: &Ctx, missed: &[huimin_domain::Window]) -> String {
    if missed.is_empty() {
        return String::new();
    }
    let list: Vec<String> = missed.iter().map(|w| format!("{}–{}", w.start.format("%m-%d"), w.end.format("%m-%d"))).collect();
    format!("{}{}", ctx.t("未随访的期：", "Missed windows: "), list.join("、"))
}

async fn work_items(state: &State, ctx: &Ctx, q: &WorklistQuery) -> WebResult<(RegionCode, i32, Vec<WorkItem>, bool)> {
    ctx.require(Permission::ViewHealth)?;
    let region = region_param(ctx, q.region.as_deref())?;
    let year = q.year.map_or_else(this_year, |y| y.0);
    let (items, own_teams) = work_of(state, ctx, region, year, q.teams.as_deref() == Some("all")).await?;
    Ok((region, year, items, own_teams))
}

/// The contracts a user works on inside `region`: their teams' if they belong to a team (unless
/// `every_team`), else every team's; and whether the list is their own teams'.
pub(crate) async fn work_of(state: &State, ctx: &Ctx, region: RegionCode, year: i32, every_team: bool) -> WebResult<(Vec<WorkItem>, bool)> {
    let mine = state.store.teams_of(&ctx.user.username).await?;
    let own_teams = !mine.is_empty() && !every_team;
    Ok((contracts::worklist(&state.store, region, year, own_teams.then_some(mine.as_slice()), today()).await?, own_teams))
}

/// The rows shown (page and /api/worklist): as the viewer may see each person, then chosen and
/// sorted by the query.
/// For the `abnormal` view: the contracts with an abnormal reading in the last 30 days.
async fn abnormal_contracts(state: &State, region: RegionCode, q: &WorklistQuery) -> WebResult<Option<std::collections::HashSet<i64>>> {
    if q.show.as_deref() != Some("abnormal") {
        return Ok(None);
    }
    let recent = state.store.abnormal_follow_ups(region, today() - chrono::Duration::days(30)).await?;
    Ok(Some(recent.iter().map(|f| f.follow_up.contract_id).collect()))
}

fn select_and_sort(viewer: &huimin_domain::Viewer, items: Vec<WorkItem>, q: &WorklistQuery, abnormal: Option<&std::collections::HashSet<i64>>) -> Vec<Disclosed<WorkItem>> {
    let mut items: Vec<Disclosed<WorkItem>> =
        items.into_iter().filter_map(|w| viewer.show(Record::Person { id: w.contract.contract.person_id, region: w.contract.region }, w)).collect();
    let week = today() + chrono::Duration::days(7);
    match q.show.as_deref() {
        Some("all") => {}
        Some("overdue") => items.retain(|w| w.is_late()),
        Some("key") => items.retain(|w| !w.key_groups.is_empty()),
        Some("abnormal") => items.retain(|w| abnormal.is_some_and(|a| a.contains(&w.contract.id))),
        // Today's work: late, or due within the week.
        _ => items.retain(|w| w.is_late() || w.due_by(week)),
    }
    match q.sort.as_deref() {
        Some("name") => items.sort_by(|a, b| a.contract.person_name.cmp(&b.contract.person_name)),
        Some("village") => items.sort_by(|a, b| (a.contract.region, &a.contract.household_no).cmp(&(b.contract.region, &b.contract.household_no))),
        Some("overdue") => items.sort_by(|a, b| b.overdue_days.cmp(&a.overdue_days)),
        // The late first (longest late first), then by the day the current window ends.
        _ => items.sort_by_key(|w| (w.overdue_days == 0, -w.overdue_days, w.state.next_due.is_none(), w.state.next_due)),
    }
    items
}

pub async fn worklist(state: State, ctx: Ctx, Query(q): Query<WorklistQuery>) -> WebResult<Markup> {
    let (region, year, items, own_teams) = work_items(&state, &ctx, &q).await?;
    let (by_region, by_team) = contracts::completion(&items, child_width(region));
    let names = state.store.child_regions(region).await?;
    let abnormal = abnormal_contracts(&state, region, &q).await?;
    let shown = select_and_sort(&ctx.viewer(&state).await, items, &q, abnormal.as_ref());
    let link = |k: &str, v: &str| {
        let mut parts = vec![format!("region={region}"), format!("year={year}")];
        for (key, val) in [("show", q.show.as_deref()), ("sort", q.sort.as_deref()), ("teams", q.teams.as_deref())] {
            let val = if key == k { Some(v) } else { val };
            if let Some(val) = val {
                parts.push(format!("{key}={val}"));
            }
        }
        format!("/worklist?{}", parts.join("&"))
    };
    let today = today();
    let total = shown.len();
    let printing = q.print.as_deref() == Some("1");
    let region_name = if printing { state.store.region(region).await?.map_or_else(|| region.to_string(), |r| r.name) } else { String::new() };
    let (page, page_rows) = if printing { (1, &shown[..]) } else { layout::page_of(&shown, q.page, WORKLIST_PAGE) };
    let body = html! {
        @if printing { p.print-title { (region_name) " · " (ctx.t("随访工作清单", "Follow-up worklist")) " · " (today) } }
        @if q.saved.is_some() { p.alert.ok { (ctx.t("随访已保存", "Follow-up saved")) } }
        nav.tabs.noprint {
            a href=(link("show", "due")) { (ctx.t("本周应随访", "Due this week")) } " · "
            a href=(link("show", "overdue")) { (ctx.t("已逾期", "Overdue")) } " · "
            a href=(link("show", "key")) { (ctx.t("重点人群", "Key groups")) } " · "
            a href=(link("show", "abnormal")) { (ctx.t("近 30 天异常", "Abnormal (30 days)")) } " · "
            a href=(link("show", "all")) { (ctx.t("全部签约对象", "All")) }
            @if own_teams { " · " a href=(link("teams", "all")) { (ctx.t("本区划全部团队", "Every team here")) } }
            " · " button type="button" data-print { (ctx.t("打印", "Print")) }
        }
        p.muted { (total) (ctx.t(" 人", " persons")) " · " (year) (ctx.t(" 年度", "")) " · " (ctx.t("重点人群每年随访 12 次、一般人群 4 次（可按区划设置）", "12 follow-ups a year for key groups, 4 for others (per region)")) }
        @if shown.is_empty() { (layout::empty_state(ctx.t("没有需要随访的人", "Nobody to follow up"))) } @else {
            table.card.list.worklist {
                thead { tr {
                    th { a href=(link("sort", "name")) { (ctx.t("姓名", "Name")) } }
                    th { a href=(link("sort", "village")) { (ctx.t("户编号", "Household")) } }
                    th { (ctx.t("重点人群", "Key groups")) }
                    th { a href=(link("sort", "due")) { (ctx.t("本期随访", "This window")) } }
                    th.num { a href=(link("sort", "overdue")) { (ctx.t("逾期天数", "Days late")) } }
                    th { (ctx.t("上次随访", "Last")) }
                    th.num { (ctx.t("完成", "Done")) }
                    th.noprint {}
                } }
                tbody { @for w in page_rows { tr class=(if w.overdue_days > 0 { "late" } else { "" }) {
                    td { (w.contract.person_name) }
                    td.mono data-label=(ctx.t("户编号", "Household")) { (w.contract.household_no) }
                    td data-label=(ctx.t("重点人群", "Key groups")) { @if w.key_groups.is_empty() { (dash()) } @else { (w.key_groups.iter().map(|g| g.label_zh()).collect::<Vec<_>>().join("、")) } }
                    td data-label=(ctx.t("本期随访", "This window")) {
                        @if let (Some(d), Some(left)) = (w.state.next_due, w.state.days_left(today)) {
                            (d) (ctx.t("前（剩 ", " (")) (left) (ctx.t(" 天）", " days left)"))
                        } @else if w.state.current_done { (ctx.t("本期已随访", "Done this window")) } @else { (ctx.t("本年度已结束", "Year over")) }
                    }
                    td.num data-label=(ctx.t("逾期天数", "Days late")) { @if w.overdue_days > 0 { strong title=(ctx.t("上一期未随访，此后也未随访", "The last window ended without a follow-up")) { (w.overdue_days) } } @else { (dash()) } }
                    td data-label=(ctx.t("上次随访", "Last")) { @if let Some(d) = w.last_follow_up { (d) } @else { (dash()) } }
                    td.num data-label=(ctx.t("已随访/应随访", "Done/due")) title=(missed_title(&ctx, &w.state.missed)) { (w.state.done) "/" (w.state.due) }
                    td.noprint { @if ctx.can(Permission::RecordFollowUp) && w.contract.contract.starts_on <= today { a.button.primary href=(format!("/followups/new?contract={}", w.contract.id)) { (ctx.t("随访", "Follow up")) } } }
                } } }
            }
            // Every link above leaves `page` out: a new view or order starts on its first page.
            @if !printing { (layout::pager(&ctx, &link("", ""), page, WORKLIST_PAGE as i64, total as i64)) }
        }
        h2 { (ctx.t("履约率", "Completion")) }
        table.card {
            thead { tr { th { (ctx.t("区划 / 团队", "Region / team")) } th.num { (ctx.t("签约人数", "Contracts")) } th.num { (ctx.t("应随访", "Due")) } th.num { (ctx.t("已随访", "Done")) } th.num { (ctx.t("履约率", "Rate")) } th.num { (ctx.t("逾期人数", "Late")) } } }
            tbody {
                @for (code, c) in &by_region { tr {
                    @let child = names.iter().find(|r| r.code.prefix() == *code);
                    td { (child.map_or(code.as_str(), |r| r.name.as_str()))
                        @if let Some(r) = child.filter(|r| r.code.level() == RegionLevel::Village) {
                            " " a.noprint href=(format!("/worklist?region={}&year={year}&show=all&sort=name&print=1", r.code)) { (ctx.t("打印本村清单", "Print the village's list")) }
                        } }
                    td.num { (c.contracts) } td.num { (c.due) } td.num { (c.done) } td.num { (percent(i64::from(c.done), i64::from(c.due))) } td.num { (c.overdue) }
                } }
                @for (team, c) in &by_team { tr {
                    td { "👥 " (team) }
                    td.num { (c.contracts) } td.num { (c.due) } td.num { (c.done) } td.num { (percent(i64::from(c.done), i64::from(c.due))) } td.num { (c.overdue) }
                } }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("随访工作清单", "Follow-up worklist"), "/worklist", body))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WorklistAnswer {
    region: RegionCode,
    year: i32,
    total: usize,
    page: i64,
    per_page: usize,
    items: Vec<Disclosed<WorkItem>>,
    /// 履约率 by region below, by region code.
    completion_by_region: std::collections::BTreeMap<String, contracts::Completion>,
    /// 履约率 by team, by team name.
    completion_by_team: std::collections::BTreeMap<String, contracts::Completion>,
}

/// Who is due for a follow-up, who is late, and 履约率
#[utoipa::path(get, path = "/api/worklist", tag = "Contracts", params(WorklistQuery), responses((status = 200, body = WorklistAnswer)))]
pub async fn api_worklist(state: State, ctx: Ctx, Query(q): Query<WorklistQuery>) -> WebResult<Json<WorklistAnswer>> {
    let (region, year, items, _) = work_items(&state, &ctx, &q).await?;
    let (by_region, by_team) = contracts::completion(&items, child_width(region));
    let abnormal = abnormal_contracts(&state, region, &q).await?;
    let items = select_and_sort(&ctx.viewer(&state).await, items, &q, abnormal.as_ref());
    let (page, rows) = layout::page_of(&items, q.page, WORKLIST_PAGE);
    Ok(Json(WorklistAnswer { region, year, total: items.len(), page, per_page: WORKLIST_PAGE, items: rows.to_vec(), completion_by_region: by_region, completion_by_team: by_team }))
}


// ----- the fast follow-up form -----

#[derive(Deserialize)]
pub struct NewQuery {
    contract: i64,
}

/// The contract (and its person) if the user may record a follow-up for it.
async fn contract_in_reach(state: &State, ctx: &Ctx, id: i64) -> WebResult<huimin_store::ContractRow> {
    ctx.require(Permission::RecordFollowUp)?;
    let row = state.store.contract(id).await?.ok_or(WebError::NotFound)?;
    ctx.require_within(row.region).map_err(|_| WebError::NotFound)?;
    Ok(row)
}

pub async fn new_follow_up(state: State, ctx: Ctx, Query(q): Query<NewQuery>) -> WebResult<Markup> {
    follow_up_page(&state, &ctx, q.contract, None).await
}

/// The follow-up form: empty (with the last follow-up's habits), or as sent with why it was refused.
async fn follow_up_page(state: &State, ctx: &Ctx, contract: i64, refused: Option<(&FollowUpForm, &str)>) -> WebResult<Markup> {
    let c = contract_in_reach(state, ctx, contract).await?;
    let history = state.store.follow_ups_of(c.contract.person_id).await?;
    let last = history.first();
    let sent = refused.map(|(f, _)| f);
    let mode = sent.and_then(|f| FollowUpMode::parse(&f.mode).ok()).unwrap_or_else(|| last.map_or(FollowUpMode::Home, |f| f.follow_up.mode));
    let adherence = sent.and_then(|f| Adherence::parse(&f.adherence).ok()).unwrap_or_else(|| last.map_or(Adherence::Regular, |f| f.follow_up.adherence));
    let today = today();
    let value = |get: fn(&FollowUpForm) -> &str| sent.map_or(String::new(), |f| get(f).to_string());
    let key = sent.map_or_else(huimin_app::accounts::random_token, |f| f.submission_key.clone());
    let guidance = sent.map_or_else(|| last.map_or(String::new(), |f| f.follow_up.guidance.clone()), |f| f.guidance.trim().to_string());
    let body = html! {
        @if let Some((_, why)) = refused { p.alert.error role="alert" { (why) } }
        p { strong { (c.person_name) } " · " span.mono { (c.household_no) } " · " (c.team_name) " · " (c.contract.starts_on) " – " (c.contract.ends_on)
            @if let Some(phone) = &c.phone { " · ☎ " a href=(format!("tel:{phone}")) { (phone) } } }
        form.card.fast method="post" action="/followups" {
            (csrf(ctx))
            input type="hidden" name="contract" value=(c.id);
            // The same key for every resubmission of this form: a repeated submission is stored once.
            input type="hidden" name="submission_key" value=(key);
            label { (ctx.t("随访日期", "Date")) input name="followed_on" type="date" required value=(sent.map_or(today.to_string(), |f| f.followed_on.clone())) max=(today); }
            fieldset.choices { legend { (ctx.t("方式", "Mode")) }
                @for m in FollowUpMode::ALL { label.check { input type="radio" name="mode" value=(m.code()) checked[*m == mode]; (m.label_zh()) } }
            }
            div.row {
                label { (ctx.t("血压 收缩压", "BP systolic")) input name="systolic" inputmode="numeric" autofocus size="4" value=(value(|f| &f.systolic)); }
                label { (ctx.t("舒张压", "diastolic")) input name="diastolic" inputmode="numeric" size="4" value=(value(|f| &f.diastolic)); }
                label { (ctx.t("空腹血糖", "Fasting glucose")) input name="glucose" inputmode="decimal" size="4" value=(value(|f| &f.glucose)); }
                label { (ctx.t("心率", "Heart rate")) input name="heart_rate" inputmode="numeric" size="4" value=(value(|f| &f.heart_rate)); }
                label { (ctx.t("体重 kg", "Weight kg")) input name="weight" inputmode="decimal" size="4" value=(value(|f| &f.weight)); }
            }
            fieldset.choices { legend { (ctx.t("服药", "Medication")) }
                @for a in Adherence::ALL { label.check { input type="radio" name="adherence" value=(a.code()) checked[*a == adherence]; (a.label_zh()) } }
            }
            label { (ctx.t("健康指导", "Guidance")) input name="guidance" list="guidance-list" value=(guidance); }
            datalist id="guidance-list" { @for g in ["低盐低脂饮食，适量运动，规律服药", "控制饮食，监测血糖，规律服药", "戒烟限酒，保持心情舒畅", "按时服药，定期复查"] { option value=(g) {} } }
            label { (ctx.t("下次随访日期", "Next")) input name="next_on" type="date" value=(value(|f| &f.next_on)); }
            @let today_done = history.iter().any(|f| f.follow_up.followed_on == today);
            @if today_done { p.alert.warn { (ctx.t("此人今天已有一次随访记录。", "This person was followed up today already.")) } }
            label.check { input type="checkbox" name="again_same_day" value="1" checked[sent.is_some_and(FollowUpForm::again_same_day)]; (ctx.t("同一天再次随访（当天已有记录时需勾选）", "A second follow-up on the same day (needed when that day has one)")) }
            button.primary.big type="submit" { (ctx.t("保存随访", "Save")) }
        }
        @if !history.is_empty() {
            h2 { (ctx.t("随访记录", "Earlier follow-ups")) }
            table.card { thead { tr { th { (ctx.t("日期", "Date")) } th { (ctx.t("方式", "Mode")) } th { (ctx.t("血压", "BP")) } th { (ctx.t("血糖", "Glucose")) } th { (ctx.t("心率", "HR")) } th { (ctx.t("异常", "Abnormal")) } } }
                tbody { @for f in history.iter().take(12) { @let r = &f.follow_up.readings; tr {
                    td { (f.follow_up.followed_on) } td { (f.follow_up.mode.label_zh()) }
                    td { @if let (Some(s), Some(d)) = (r.systolic, r.diastolic) { (s) "/" (d) } @else { (dash()) } }
                    td { @if let Some(g) = r.glucose_tenths { (g / 10) "." (g % 10) } @else { (dash()) } }
                    td { @if let Some(h) = r.heart_rate { (h) } @else { (dash()) } }
                    td { (f.abnormal.join("、")) }
                } } }
            }
        }
    };
    Ok(layout::page(ctx, ctx.t("随访登记", "Record a follow-up"), "/worklist", body))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct FollowUpForm {
    /// The form's token (a JSON request sends it as a header instead).
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    contract: i64,
    submission_key: String,
    followed_on: String,
    mode: String,
    #[serde(default)]
    systolic: String,
    #[serde(default)]
    diastolic: String,
    #[serde(default)]
    glucose: String,
    #[serde(default)]
    heart_rate: String,
    #[serde(default)]
    weight: String,
    #[serde(default)]
    adherence: String,
    #[serde(default)]
    #[schema(inline)]
    guidance: crate::params::Paragraph,
    #[serde(default)]
    next_on: String,
    /// Set (a ticked box, `true` in JSON) to record a second follow-up on a day that has one.
    #[serde(default)]
    again_same_day: Option<serde_json::Value>,
}

impl FollowUpForm {
    fn again_same_day(&self) -> bool {
        match &self.again_same_day {
            None | Some(serde_json::Value::Null | serde_json::Value::Bool(false)) => false,
            Some(serde_json::Value::String(s)) => !matches!(s.as_str(), "" | "0" | "false"),
            Some(_) => true,
        }
    }
}

/// Checks and stores a follow-up: `(id, newly stored, abnormal flags)`.
async fn save(state: &State, ctx: &Ctx, f: &FollowUpForm) -> WebResult<(i64, bool, Vec<&'static str>)> {
    let c = contract_in_reach(state, ctx, f.contract).await?;
    let bad = |m: String| WebError::BadRequest(m);
    let key = f.submission_key.trim();
    if key.len() < 8 || key.len() > 80 {
        return Err(bad("提交编号缺失或无效，请刷新页面后重新填写".into()));
    }
    let earlier = state.store.follow_ups_of(c.contract.person_id).await?;
    // Sent again (an answer lost on the way): the same follow-up, whatever changed since.
    let resent = earlier.iter().any(|e| e.follow_up.submission_key == key);
    if !resent && !state.store.person(c.contract.person_id).await?.is_some_and(|p| p.in_programme) {
        return Err(bad(format!("{} 已退出帮扶名单，不再随访", c.person_name)));
    }
    let followed_on = Date::parse_from_str(f.followed_on.trim(), "%Y-%m-%d").map_err(|_| bad(format!("随访日期「{}」应为 YYYY-MM-DD", f.followed_on)))?;
    if followed_on > today() {
        return Err(bad(format!("随访日期 {followed_on} 晚于今天")));
    }
    if followed_on < c.contract.starts_on || followed_on > c.contract.ends_on {
        return Err(bad(format!("随访日期 {followed_on} 不在签约期 {} 至 {} 内", c.contract.starts_on, c.contract.ends_on)));
    }
    // The same person twice on one day is usually the same visit entered twice: ask first.
    if !f.again_same_day() {
        if let Some(e) = earlier.iter().find(|e| e.follow_up.followed_on == followed_on && e.follow_up.submission_key != key) {
            return Err(bad(format!(
                "{} {followed_on} 已有一次随访记录（{}，{}记录）；如确是同一天的第二次随访，请勾选“同一天再次随访”后保存",
                c.person_name,
                e.follow_up.mode.label_zh(),
                state.store.display_name(&e.recorded_by).await?.unwrap_or_else(|| e.recorded_by.clone())
            )));
        }
    }
    let readings = FollowUpReadings::parse(&f.systolic, &f.diastolic, &f.glucose, &f.heart_rate, &f.weight).map_err(|e| bad(e.0))?;
    let next_on = match f.next_on.trim() {
        "" => None,
        s => Some(Date::parse_from_str(s, "%Y-%m-%d").ok().filter(|d| *d > followed_on).ok_or_else(|| bad(format!("下次随访日期「{s}」应晚于本次")))?),
    };
    let follow_up = NewFollowUp {
        submission_key: key.to_string(),
        person_id: c.contract.person_id,
        contract_id: c.id,
        followed_on,
        mode: FollowUpMode::parse(&f.mode).map_err(|e| bad(e.0))?,
        readings,
        adherence: if f.adherence.trim().is_empty() { Adherence::NotNeeded } else { Adherence::parse(&f.adherence).map_err(|e| bad(e.0))? },
        guidance: f.guidance.trim().to_string(),
        next_on,
    };
    let abnormal = readings.abnormal();
    let (id, new) = state
        .store
        .record_follow_up(&follow_up, &abnormal, &ctx.audit("followup.record", format!("person {}", c.contract.person_id), ""))
        .await
        .map_err(refused)?;
    Ok((id, new, abnormal))
}

pub async fn record(state: State, ctx: Ctx, Form(f): Form<FollowUpForm>) -> WebResult<Response> {
    ctx.check_csrf(&f.csrf)?;
    match save(&state, &ctx, &f).await {
        Ok((id, _, _)) => Ok(Redirect::to(&format!("/worklist?saved={id}&contract={}", f.contract)).into_response()),
        // Refused: the form again, as typed, with the reason.
        Err(WebError::BadRequest(why)) => Ok((StatusCode::BAD_REQUEST, follow_up_page(&state, &ctx, f.contract, Some((&f, &why))).await?).into_response()),
        Err(e) => Err(e),
    }
}

/// `POST /api/followups`: 201 when stored, 200 when the same submission was stored before.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct FollowUpStored {
    id: i64,
    /// The readings outside the normal range (shown on 随访异常提示).
    abnormal: Vec<&'static str>,
}

/// Record a follow-up once per submission key
#[utoipa::path(post, path = "/api/followups", tag = "Contracts", request_body = FollowUpForm,
    responses((status = 200, description = "Stored before under this key: the same id", body = FollowUpStored), (status = 201, body = FollowUpStored)))]
pub async fn api_record(state: State, ctx: Ctx, headers: HeaderMap, Json(f): Json<FollowUpForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    match save(&state, &ctx, &f).await {
        Ok((id, new, abnormal)) => Ok((if new { StatusCode::CREATED } else { StatusCode::OK }, Json(FollowUpStored { id, abnormal })).into_response()),
        Err(e) => Err(e),
    }
}

// ----- abnormal readings -----

#[derive(Deserialize, Default)]
pub struct AbnormalQuery {
    region: Option<String>,
    days: Option<crate::params::Days>,
}

pub async fn abnormal(state: State, ctx: Ctx, Query(q): Query<AbnormalQuery>) -> WebResult<Markup> {
    ctx.require(Permission::ViewHealth)?;
    let region = region_param(&ctx, q.region.as_deref())?;
    let days = q.days.map_or(90, |d| d.0).clamp(1, 3660);
    let list = state.store.abnormal_follow_ups(region, today() - chrono::Duration::days(days)).await?;
    // Who recorded each, by name (a few accounts at most).
    let mut names: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    for f in &list {
        if !names.contains_key(f.recorded_by.as_str()) {
            let name = state.store.display_name(&f.recorded_by).await?.unwrap_or_else(|| f.recorded_by.clone());
            names.insert(f.recorded_by.as_str(), name);
        }
    }
    let can_follow_up = ctx.can(Permission::RecordFollowUp);
    let body = html! {
        p.muted { (ctx.t("最近 ", "The last ")) (days) (ctx.t(" 天随访中血压 ≥ 140/90 mmHg、空腹血糖 ≥ 7.0 mmol/L 或心率 < 50、> 100 次/分的记录", " days: BP ≥ 140/90, fasting glucose ≥ 7.0, heart rate < 50 or > 100")) }
        @if list.is_empty() { (layout::empty_state(ctx.t("没有异常记录", "No abnormal readings"))) } @else {
            table.card.list {
                thead { tr { th { (ctx.t("姓名", "Name")) } th { (ctx.t("户编号", "Household")) } th { (ctx.t("日期", "Date")) } th { (ctx.t("血压", "BP")) } th { (ctx.t("血糖", "Glucose")) } th { (ctx.t("心率", "HR")) } th { (ctx.t("异常", "Abnormal")) } th { (ctx.t("随访人", "By")) } } }
                tbody { @for f in &list { @let r = &f.follow_up.readings; tr {
                    td { @if can_follow_up { a href=(format!("/followups/new?contract={}", f.follow_up.contract_id)) title=(ctx.t("再次随访", "Follow up again")) { (f.person_name) } } @else { (f.person_name) } }
                    td.mono data-label=(ctx.t("户编号", "Household")) { (f.household_no) } td data-label=(ctx.t("日期", "Date")) { (f.follow_up.followed_on) }
                    td { @if let (Some(s), Some(d)) = (r.systolic, r.diastolic) { (s) "/" (d) } @else { (dash()) } }
                    td { @if let Some(g) = r.glucose_tenths { (g / 10) "." (g % 10) } @else { (dash()) } }
                    td { @if let Some(h) = r.heart_rate { (h) } @else { (dash()) } }
                    td data-label=(ctx.t("异常", "Abnormal")) { strong { (f.abnormal.join("、")) } }
                    td data-label=(ctx.t("随访人", "By")) { (names.get(f.recorded_by.as_str()).map_or(f.recorded_by.as_str(), String::as_str)) }
                } } }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("随访异常提示", "Abnormal readings"), "/followups/abnormal", body))
}

/// Key groups added by hand (pregnancy, disability): the registry does not hold them.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct KeyGroupForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    group: String,
    #[schema(inline)]
    reason: crate::params::Reason,
}

pub async fn add_key_group(state: State, ctx: Ctx, Path(id): Path<i64>, Form(f): Form<KeyGroupForm>) -> WebResult<Response> {
    ctx.check_csrf(&f.csrf)?;
    let household_no = key_group(&state, &ctx, id, &f).await?;
    Ok(Redirect::to(&format!("/households/{household_no}/health")).into_response())
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct KeyGroupAdded {
    person_id: i64,
    group: String,
}

/// Add a person to a key group by hand, with the grounds
#[utoipa::path(post, path = "/api/persons/{id}/key-groups", tag = "Contracts", params(("id" = i64, Path, description = "Person id")), request_body = KeyGroupForm,
    responses((status = 201, body = KeyGroupAdded)))]
pub async fn api_add_key_group(state: State, ctx: Ctx, headers: HeaderMap, Path(id): Path<i64>, Json(f): Json<KeyGroupForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let r = key_group(&state, &ctx, id, &f).await.map(|_| KeyGroupAdded { person_id: id, group: f.group.clone() });
    json_answer(StatusCode::CREATED, r)
}

/// Adds a person to a key group by hand; returns their household number.
async fn key_group(state: &State, ctx: &Ctx, id: i64, f: &KeyGroupForm) -> WebResult<String> {
    ctx.require(Permission::SignContracts)?;
    let (p, _) = person_in_reach(state, ctx, id).await?;
    let group = KeyGroup::parse(&f.group).map_err(|e| WebError::BadRequest(e.0))?;
    if f.reason.trim().is_empty() {
        return Err(WebError::BadRequest("请填写纳入重点人群的依据".into()));
    }
    state.store.add_key_group(id, group, f.reason.trim(), &ctx.audit("keygroup.add", format!("person {id}"), group.code())).await.map_err(refused)?;
    Ok(p.person.household_no.as_str().to_string())
}
