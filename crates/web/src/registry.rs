//! Registry pages: home, the region tree, the household list and the household file (一户一档),
//! and the facility list.

use axum::extract::{Path, Query};
use axum::{Form, Json};
use huimin_domain::{HouseholdNo, IdNumber, Permission, PovertyCategory, PovertyStatus, Record, RegionCode, Sight};
use huimin_store::{HouseholdFilter, StoredHousehold, StoredPerson};
use maud::{Markup, html};
use serde::Deserialize;

use crate::auth::{Ctx, urlencode};
use crate::error::{WebError, WebResult};
use crate::layout::{self, csrf, dash, num, percent};
use crate::State;

#[derive(Deserialize, Default)]
pub struct HomeQuery {
    q: Option<String>,
}

/// What a village doctor's (or a team's) day holds: late, due this week, abnormal readings of
/// the last 30 days, households of the campaign under way not yet screened.
struct Day {
    late: usize,
    this_week: usize,
    abnormal: usize,
    /// The campaign under way, and its households not yet screened in the user's region.
    unscreened: Option<(i64, usize)>,
}

async fn day_of(state: &State, ctx: &Ctx) -> WebResult<Option<Day>> {
    if !ctx.can(Permission::RecordFollowUp) {
        return Ok(None);
    }
    let today = huimin_app::clock::today();
    let (items, _) = crate::contract_page::work_of(state, ctx, ctx.user.region, chrono::Datelike::year(&today), false).await?;
    let week = today + chrono::Duration::days(7);
    let late = items.iter().filter(|w| w.is_late()).count();
    let this_week = items.iter().filter(|w| !w.is_late() && w.due_by(week)).count();
    let abnormal = state.store.abnormal_follow_ups(ctx.user.region, today - chrono::Duration::days(30)).await?.len();
    let mut unscreened = None;
    if ctx.can(Permission::Screen) {
        if let Some(c) = state.store.campaigns(ctx.user.region).await?.into_iter().find(|c| c.starts_on <= today && today <= c.ends_on) {
            let households = state.store.households_to_screen(c.id, ctx.user.region, 10_000).await?;
            unscreened = Some((c.id, households.iter().filter(|(_, _, s)| s.is_none()).count()));
        }
    }
    Ok(Some(Day { late, this_week, abnormal, unscreened }))
}

/// For a fund's bureau, what each of its funds owes the hospitals this month: (month, [(fund, claims, fen)]).
async fn fund_month(state: &State, ctx: &Ctx) -> WebResult<Option<(String, Vec<(huimin_policy::Fund, i64, i64)>)>> {
    use huimin_policy::Fund::*;
    let theirs: &[huimin_policy::Fund] = match ctx.user.role {
        huimin_domain::Role::MedicalInsurance => &[EmployeeBasic, ResidentBasic, CriticalIllness, AccidentalInjury],
        huimin_domain::Role::CivilAffairs => &[MedicalAssistance, FiscalBackstop],
        _ => return Ok(None),
    };
    let month = huimin_app::clock::today().format("%Y-%m").to_string();
    let owed = state.store.owed_by_fund(ctx.user.region, &month).await?;
    let funds = theirs.iter().map(|f| (*f, owed.iter().filter(|(g, _)| g == f).map(|(_, o)| o.claims).sum(), owed.iter().filter(|(g, _)| g == f).map(|(_, o)| o.amount).sum())).collect();
    Ok(Some((month, funds)))
}

pub async fn home(state: State, ctx: Ctx, Query(q): Query<HomeQuery>) -> WebResult<Markup> {
    let day = day_of(&state, &ctx).await?;
    let region = state.store.region(ctx.user.region).await?.map(|r| r.name).unwrap_or_default();
    let counts = if ctx.can(Permission::ViewRegistry) { Some(state.store.registry_counts(ctx.user.region).await?) } else { None };
    let funds = fund_month(&state, &ctx).await?;
    let query = q.q.unwrap_or_default();
    let (hits, not_found) = if ctx.can(Permission::CheckEligibility) { eligibility(&state, &ctx, query.trim()).await? } else { (Vec::new(), None) };
    let body = html! {
        p.muted { (region) " · " (ctx.user.region) }
        @if let Some(d) = &day {
            section.card.today {
                h2 { (ctx.t("今日工作", "Today")) }
                section.stats {
                    a.stat href="/worklist?show=overdue" { span.value { (d.late) } span.label { (ctx.t("已逾期未随访", "Late follow-ups")) } }
                    a.stat href="/worklist" { span.value { (d.this_week) } span.label { (ctx.t("本周应随访", "Due this week")) } }
                    a.stat href="/followups/abnormal?days=30" { span.value { (d.abnormal) } span.label { (ctx.t("近 30 天随访异常", "Abnormal (30 days)")) } }
                    @if let Some((id, n)) = d.unscreened {
                        a.stat href=(format!("/screening/{id}?region={}", ctx.user.region)) { span.value { (n) } span.label { (ctx.t("未筛查户", "Not yet screened")) } }
                    }
                }
            }
        }
        @if let Some((month, funds)) = &funds {
            section.card.today {
                h2 { (month) (ctx.t(" 各基金应付（已结算、未冲销）", " owed by each fund (settled, not reversed)")) }
                section.stats {
                    @for (fund, claims, amount) in funds {
                        a.stat href=(format!("/reconciliation?month={month}&fund={}", fund.code())) {
                            span.value { (layout::yuan(huimin_domain::Money::from_fen(*amount).unwrap_or_default())) }
                            span.label { (fund.label_zh()) " · " (num(*claims)) (ctx.t(" 笔", " claims")) }
                        }
                    }
                }
                p { a href=(format!("/reconciliation?month={month}")) { (ctx.t("基金对账（按医院）", "Reconciliation by hospital")) } }
            }
        }
        @if let Some(c) = &counts {
            section.stats {
                div.stat { span.value { (num(c.households)) } span.label { (ctx.t("建档立卡户", "Registered households")) } }
                div.stat { span.value { (num(c.persons)) } span.label { (ctx.t("建档立卡人口", "Registered persons")) } }
                div.stat { span.value { (num(c.illness_households)) } span.label { (ctx.t("因病致贫户", "Poor because of illness")) } }
                div.stat { span.value { (percent(c.illness_households, c.households)) } span.label { (ctx.t("因病致贫率", "Illness share")) } }
            }
            section.card {
                h2 { (ctx.t("按贫困户属性", "By poverty category")) }
                table {
                    thead { tr { th { (ctx.t("属性", "Category")) } th.num { (ctx.t("户数", "Households")) } th.num { (ctx.t("占比", "Share")) } } }
                    tbody {
                        @for (cat, n) in &c.households_by_category {
                            tr {
                                td { a href=(format!("/households?category={}", cat.code())) { (cat.label_zh()) } }
                                td.num { (num(*n)) }
                                td.num { (percent(*n, c.households)) }
                            }
                        }
                    }
                }
            }
            form.card.search method="get" action="/households" {
                label { (ctx.t("查找户或人员：姓名、拼音首字母（如 zs）、证件号码或户编号", "Find a household or person: name, pinyin initials (e.g. zs), ID or household number"))
                    input name="q" type="search" placeholder="zs";
                }
                button.primary type="submit" { (ctx.t("查找", "Search")) }
            }
        }
        @if ctx.can(Permission::CheckEligibility) {
            form.card.search method="get" action="/" {
                label { (ctx.t("资格核验：输入患者完整的 18 位证件号码", "Eligibility check: the patient's whole 18-character ID number"))
                    input name="q" type="search" value=(if not_found.is_some() { query.as_str() } else { "" }) autocomplete="off" autofocus;
                }
                button.primary type="submit" { (ctx.t("核验", "Check")) }
            }
            @if !query.trim().is_empty() {
                @if let Some(why) = &not_found {
                    (layout::empty_state(why))
                } @else {
                    table.card {
                        thead { tr { th { (ctx.t("姓名", "Name")) } th { (ctx.t("证件号码", "ID number")) } th { (ctx.t("贫困户属性", "Category")) } th { (ctx.t("状态", "Status")) } } }
                        tbody {
                            @for h in &hits {
                                tr {
                                    td { (h.name) }
                                    td.mono { (h.id_number.masked()) }
                                    td { (h.category.label_zh()) }
                                    td { @if h.in_programme { span.badge.ok { (ctx.t("在册", "In programme")) } } @else { span.badge { (ctx.t("已退出", "Exited")) } } }
                                    @if ctx.can(Permission::Settle) && h.in_programme { td { a.button.primary href=(format!("/settlement/new?person={}", h.person_id)) { (ctx.t("结算", "Settle")) } } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("首页", "Home"), "/", body))
}

/// The eligibility check (home page, settlement window): a patient is found by the whole ID
/// number, never by browsing names, so that checking is not a way into the registry; found, they
/// are listed with the number masked. Else a message: a mistyped check character, not found.
pub(crate) async fn eligibility(state: &State, ctx: &Ctx, query: &str) -> WebResult<(Vec<huimin_store::PersonHit>, Option<String>)> {
    Ok(match IdNumber::parse(query) {
        _ if query.is_empty() => (Vec::new(), None),
        Ok(id) => {
            let hits: Vec<_> = state.store.search_persons(ctx.user.region, id.as_str(), 20).await?.into_iter().filter(|h| h.id_number == id).collect();
            let none = hits.is_empty().then(|| ctx.t("未找到：此人不在本地区建档立卡名单中，不能按贫困人口结算", "Not in this region's registry").to_string());
            (hits, none)
        }
        Err(huimin_domain::IdNumberError::CheckCharacter { expected, found }) => (
            Vec::new(),
            Some(format!("{}{expected}{}{found}{}", ctx.t("证件号码有误：校验码应为 ", "The ID number is mistyped: its check character should be "), ctx.t("，输入的是 ", ", not "), ctx.t("。请核对证件后重新输入。", ". Check the card and type it again."))),
        ),
        Err(_) => (Vec::new(), Some(ctx.t("请输入患者完整的 18 位证件号码（不按姓名查找）", "Type the patient's whole 18-character ID number (names are not searched)").to_string())),
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegionQuery {
    /// Region code (default: the user's region)
    #[param(pattern = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$")]
    code: Option<String>,
}

/// The region a request names (`?region=`, `?code=`), or the user's own when left out or empty;
/// one outside the user's region is refused. Exactly the digits, as the API document's pattern
/// says: a code with spaces around it is refused, not read as the user's region.
pub(crate) fn region_param(ctx: &Ctx, code: Option<&str>) -> WebResult<RegionCode> {
    let code = match code {
        None | Some("") => ctx.user.region,
        Some(c) if c.trim() != c => return Err(WebError::BadRequest(format!("区划代码「{}」不应含空格", c.trim()))),
        Some(c) => RegionCode::parse(c).map_err(|e| WebError::BadRequest(e.to_string()))?,
    };
    ctx.require_within(code)?;
    Ok(code)
}

pub async fn regions(state: State, ctx: Ctx, Query(q): Query<RegionQuery>) -> WebResult<Markup> {
    ctx.require(Permission::ViewRegistry)?;
    let code = region_param(&ctx, q.code.as_deref())?;
    let path = state.store.region_path(code).await?;
    let children = state.store.region_children_counts(code).await?;
    let total = state.store.registry_counts(code).await?;
    let body = html! {
        nav.breadcrumb {
            @for r in &path {
                @if ctx.user.region.contains(r.code) { a href=(format!("/regions?code={}", r.code)) { (r.name) } } @else { span { (r.name) } }
                " › "
            }
        }
        section.stats {
            div.stat { span.value { (num(total.households)) } span.label { (ctx.t("户", "Households")) } }
            div.stat { span.value { (num(total.persons)) } span.label { (ctx.t("人", "Persons")) } }
            div.stat { span.value { (percent(total.illness_households, total.households)) } span.label { (ctx.t("因病致贫率", "Illness share")) } }
        }
        @if children.is_empty() {
            p {
                a.button href=(format!("/households?region={code}")) { (ctx.t("查看本村的建档立卡户", "Households of this village")) } " "
                a.button href=(format!("/regions/{code}/cards")) { (ctx.t("批量打印惠民卡", "Print the benefit cards")) }
            }
        } @else {
            table.card {
                thead { tr {
                    th { (ctx.t("区划", "Region")) } th { (ctx.t("代码", "Code")) }
                    th.num { (ctx.t("户数", "Households")) } th.num { (ctx.t("人数", "Persons")) }
                    th.num { (ctx.t("因病致贫户", "Illness")) } th.num { (ctx.t("因病致贫率", "Share")) } th {}
                } }
                tbody {
                    @for c in &children {
                        tr {
                            td { a href=(format!("/regions?code={}", c.region.code)) { (c.region.name) } }
                            td.mono.muted { (c.region.code) }
                            td.num { (num(c.households)) }
                            td.num { (num(c.persons)) }
                            td.num { (num(c.illness_households)) }
                            td.num { (percent(c.illness_households, c.households)) }
                            td { a href=(format!("/households?region={}", c.region.code)) { (ctx.t("户列表", "List")) } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("区划", "Regions"), "/regions", body))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HouseholdQuery {
    /// Region code (default: the user's region)
    #[param(pattern = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$")]
    region: Option<String>,
    /// Poverty category code (docs/roster-format.md)
    category: Option<String>,
    /// Poverty status code
    status: Option<String>,
    /// Only households poor because of illness (any value)
    illness: Option<String>,
    /// Include households that left the programme (any value)
    exited: Option<String>,
    /// Name, pinyin initials, ID number start or household number
    q: Option<String>,
    /// From 1
    #[param(inline)]
    page: Option<crate::params::Page>,
    /// JSON only: rows per page, at most 1,000.
    #[param(inline)]
    per_page: Option<crate::params::PerPage>,
}

const PER_PAGE: i64 = 50;

fn household_filter(q: &HouseholdQuery) -> HouseholdFilter {
    let nonempty = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
    HouseholdFilter {
        category: nonempty(&q.category).and_then(|c| PovertyCategory::from_code(&c)),
        status: nonempty(&q.status).and_then(|s| PovertyStatus::from_code(&s)),
        illness: q.illness.is_some(),
        include_exited: q.exited.is_some(),
        query: nonempty(&q.q),
    }
}

pub async fn households(state: State, ctx: Ctx, Query(q): Query<HouseholdQuery>) -> WebResult<Markup> {
    ctx.require(Permission::ViewRegistry)?;
    let region = region_param(&ctx, q.region.as_deref())?;
    let filter = household_filter(&q);
    let page = q.page.map_or(1, |p| p.0);
    let (rows, total) = state.store.list_households(region, &filter, PER_PAGE, (page - 1) * PER_PAGE).await?;
    let mut base = format!("/households?region={region}");
    for (k, v) in [("category", &q.category), ("status", &q.status), ("q", &q.q)] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            base.push_str(&format!("&{k}={}", urlencode(v)));
        }
    }
    if filter.illness {
        base.push_str("&illness=1");
    }
    if filter.include_exited {
        base.push_str("&exited=1");
    }
    let picker = layout::region_picker(&state, &ctx, ctx.t("区划", "Region"), Some(region)).await?;
    let body = html! {
        form.filters.card method="get" action="/households" {
            (picker)
            label { (ctx.t("贫困户属性", "Category"))
                select name="category" {
                    option value="" { (ctx.t("全部", "All")) }
                    @for c in PovertyCategory::ALL { option value=(c.code()) selected[filter.category == Some(*c)] { (c.label_zh()) } }
                }
            }
            label { (ctx.t("脱贫状态", "Status"))
                select name="status" {
                    option value="" { (ctx.t("全部", "All")) }
                    @for s in PovertyStatus::ALL { option value=(s.code()) selected[filter.status == Some(*s)] { (s.label_zh()) } }
                }
            }
            label.check { input type="checkbox" name="illness" value="1" checked[filter.illness]; (ctx.t("仅因病致贫", "Illness only")) }
            label.check { input type="checkbox" name="exited" value="1" checked[filter.include_exited]; (ctx.t("含已退出", "Include exited")) }
            label.grow { (ctx.t("姓名 / 拼音首字母 / 证件号码 / 户编号", "Name / initials / ID / household no."))
                input name="q" type="search" value=(q.q.clone().unwrap_or_default()) placeholder="zs";
            }
            button.primary type="submit" { (ctx.t("筛选", "Filter")) }
        }
        p.muted { (ctx.t("共 ", "")) (num(total)) (ctx.t(" 户", " households")) }
        @if rows.is_empty() {
            (layout::empty_state(ctx.t("没有符合条件的户", "No household matches")))
        } @else {
            table.card.list {
                thead { tr {
                    th { (ctx.t("户编号", "Household no.")) } th { (ctx.t("户主", "Head")) } th { (ctx.t("村", "Village")) }
                    th.num { (ctx.t("人数", "Members")) } th { (ctx.t("贫困户属性", "Category")) } th { (ctx.t("脱贫状态", "Status")) }
                    th { (ctx.t("主要致贫原因", "Main cause")) }
                } }
                tbody {
                    @for r in &rows {
                        tr class=(if r.in_programme { "" } else { "exited" }) {
                            td.mono { a href=(format!("/households/{}", r.household.no)) { (r.household.no) } }
                            td { (r.household.head_name.as_str()) }
                            td { (r.region_name) }
                            td.num.members { (r.members) }
                            td { (r.household.category.label_zh()) }
                            td { (r.household.status.label_zh()) }
                            td { (r.household.cause.label_zh()) }
                        }
                    }
                }
            }
            (layout::pager(&ctx, &base, page, PER_PAGE, total))
        }
    };
    Ok(layout::page(&ctx, ctx.t("建档立卡户", "Registered households"), "/households", body))
}

pub async fn household_file(state: State, ctx: Ctx, Path(no): Path<String>) -> WebResult<Markup> {
    render_household(state, ctx, &no, None).await
}

async fn render_household(state: State, ctx: Ctx, no: &str, revealed: Option<i64>) -> WebResult<Markup> {
    ctx.require(Permission::ViewRegistry)?;
    let no = HouseholdNo::parse(no).map_err(|_| WebError::NotFound)?;
    let h = state.store.household(&no).await?.ok_or(WebError::NotFound)?;
    // Outside the user's region the household does not exist for them.
    ctx.require_within(h.household.region).map_err(|_| WebError::NotFound)?;
    let members = state.store.household_members(&no).await?;
    let history = state.store.household_history(&no).await?;
    let path = state.store.region_path(h.household.region).await?;
    state.store.append_audit(&ctx.audit("household.view", format!("household {no}"), "")).await?;
    let hh = &h.household;
    let today = huimin_app::clock::today();
    let watch = ctx.can(Permission::ViewWarnings) || ctx.can(Permission::RecordEconomics);
    let economics = if watch { state.store.economics_history(no.as_str()).await? } else { Vec::new() };
    let warning = if ctx.can(Permission::ViewWarnings) { state.store.open_warning_of(no.as_str()).await? } else { None };
    let viewer = match revealed {
        Some(id) => ctx.viewer(&state).await.opened_id(id),
        None => ctx.viewer(&state).await,
    };
    let body = html! {
        p.muted { @for (i, r) in path.iter().enumerate() { @if i > 0 { " › " } (r.name) } }
        p.noprint {
            @if ctx.can(Permission::ViewHealth) { a.button href=(format!("/households/{no}/health")) { (ctx.t("健康档案", "Health file")) } " " }
            a.button href=(format!("/households/{no}/card")) { (ctx.t("健康医疗惠民卡", "Benefit card")) }
        }
        section.card.facts {
            dl {
                dt { (ctx.t("户编号", "Household no.")) } dd.mono { (hh.no) }
                dt { (ctx.t("户主", "Head")) } dd { (hh.head_name.as_str()) }
                dt { (ctx.t("贫困户属性", "Category")) } dd { (hh.category.label_zh()) }
                dt { (ctx.t("脱贫状态", "Status")) } dd { (hh.status.label_zh()) }
                dt { (ctx.t("主要致贫原因", "Main cause")) } dd { (hh.cause.label_zh()) }
                dt { (ctx.t("联系电话", "Phone")) } dd { @if let Some(p) = &hh.phone { (p.as_str()) } @else { (dash()) } }
                dt { (ctx.t("在册", "In programme")) } dd { @if h.in_programme { span.badge.ok { (ctx.t("在册", "Yes")) } } @else { span.badge { (ctx.t("已退出", "Exited")) } } }
            }
        }
        @if watch {
            h2 id="economics" { (ctx.t("家庭经济情况（防止返贫监测）", "Economics (monitoring)")) }
            section.card {
                @if let Some(w) = &warning { p.alert.error role="status" { a href=(format!("/monitoring/{}", w.id)) { (ctx.t("因病返贫预警：", "Warning: ")) (w.rule_name) } " · " (huimin_domain::recognition::stage_label(w.stage)) } }
                @match economics.first() {
                    Some(e) => p {
                        (ctx.t("家庭人口 ", "Members ")) (e.economics.size) (ctx.t(" 人 · 年人均纯收入 ", " · per-capita income "))
                        @if let Some(m) = e.economics.per_capita_income { (crate::layout::yuan(m)) } @else { (ctx.t("未登记", "not known")) }
                        " · " @if let Some(c) = e.economics.monitoring_category { (c.label_zh()) } @else { (ctx.t("非监测对象", "not monitored")) }
                        span.small.muted { " （" (huimin_domain::format::date_cn(e.economics.as_of)) " " (e.recorded_by) (ctx.t("登记；共 ", "; ")) (economics.len()) (ctx.t(" 次）", " records)")) }
                    },
                    None => p.muted { (ctx.t("尚未登记家庭人口与收入", "No economics recorded yet")) },
                }
                @if ctx.can(Permission::RecordEconomics) {
                    form.fast method="post" action=(format!("/households/{no}/economics")) {
                        (crate::layout::csrf(&ctx))
                        label { (ctx.t("家庭人口数", "Members")) input type="number" name="size" min="1" max="99" required value=(economics.first().map_or(members.iter().filter(|m| m.in_programme).count() as u32, |e| e.economics.size)); }
                        label { (ctx.t("家庭年人均纯收入（元）", "Per-capita income (yuan)")) input name="per_capita_income" inputmode="decimal" value=(economics.first().and_then(|e| e.economics.per_capita_income).map(|m| m.to_string()).unwrap_or_default()); }
                        label { (ctx.t("监测对象类别", "Monitoring category"))
                            select name="monitoring_category" {
                                option value="" { (ctx.t("非监测对象", "Not monitored")) }
                                @for c in huimin_domain::MonitoringCategory::ALL { option value=(c.code()) selected[economics.first().and_then(|e| e.economics.monitoring_category) == Some(*c)] { (c.label_zh()) } }
                            }
                        }
                        button.primary type="submit" { (ctx.t("登记", "Record")) }
                    }
                }
                @if warning.is_none() && ctx.can(Permission::ReportLead) {
                    @let sources: Vec<_> = huimin_domain::LeadSource::ALL.iter().filter(|s| huimin_domain::recognition::lead_roles(**s).contains(&ctx.user.role)).collect();
                    form.fast method="post" action=(format!("/households/{no}/leads")) {
                        (crate::layout::csrf(&ctx))
                        label { (ctx.t("登记监测线索", "Report a lead"))
                            select name="source" { @for s in &sources { option value=(s.code()) { (s.label_zh()) } } }
                        }
                        label.grow { (ctx.t("线索情况", "What was found")) input name="note" required minlength="4" maxlength="500" placeholder=(ctx.t("如：户主住院花费较大，本人电话申报（写情况，不写病名）", "e.g. the head's stay cost much; reported by phone (the situation, not a diagnosis)")); }
                        button type="submit" { (ctx.t("登记线索", "Report")) }
                    }
                }
            }
        }
        h2 { (ctx.t("家庭成员", "Members")) }
        table.card {
            thead { tr {
                th { (ctx.t("姓名", "Name")) } th { (ctx.t("与户主关系", "Relation")) } th { (ctx.t("性别", "Sex")) }
                th.num { (ctx.t("年龄", "Age")) } th { (ctx.t("民族", "Ethnicity")) } th { (ctx.t("证件号码", "ID number")) } th { (ctx.t("状态", "Status")) }
            } }
            tbody {
                @for m in &members { (member_row(&ctx, m, &viewer.sight(Record::Person { id: m.id, region: hh.region }), today)) }
            }
        }
        h2 { (ctx.t("准入、退出与变更记录", "Entries, exits and changes")) }
        table.card {
            thead { tr { th { (ctx.t("生效日期", "Effective")) } th { (ctx.t("类别", "Kind")) } th { (ctx.t("对象", "Who")) } th { (ctx.t("原因", "Reason")) } th { (ctx.t("变更内容", "Changes")) } th { (ctx.t("操作人", "By")) } } }
            tbody {
                @for e in &history {
                    tr {
                        td { (e.effective_date) }
                        td { (e.kind.label_zh()) }
                        td { @if let Some(n) = &e.person_name { (n) } @else { (ctx.t("全户", "Household")) } }
                        td { (e.reason) }
                        td.small {
                            @if let Some(c) = e.changes.as_ref().and_then(|c| c.as_object()) {
                                @for (field, v) in c { div { (field) "：" (v[0].as_str().unwrap_or("")) " → " (v[1].as_str().unwrap_or("")) } }
                            }
                        }
                        td { (e.actor) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ctx, &format!("{} · {}", ctx.t("一户一档", "Household file"), hh.head_name.as_str()), "/households", body))
}

fn member_row(ctx: &Ctx, m: &StoredPerson, sight: &Sight<'_>, today: chrono::NaiveDate) -> Markup {
    let id = &m.person.id_number;
    html! {
        tr class=(if m.in_programme { "" } else { "exited" }) {
            td { (m.person.name.as_str()) }
            td { (m.person.relation.label_zh()) }
            td { (id.sex().label_zh()) }
            td.num { (id.age_on(today)) }
            td { (m.person.ethnicity.as_str()) }
            td.mono {
                (sight.id_number(id))
                @if !sight.whole_id && ctx.can(Permission::BreakGlassIdNumber) {
                    details.reveal {
                        summary { (ctx.t("查看完整号码", "Show full number")) }
                        form method="post" action=(format!("/persons/{}/reveal", m.id)) {
                            (csrf(ctx))
                            label { (ctx.t("查看原因（将记入审计日志）", "Reason (recorded in the audit log)")) " " input name="reason" required minlength="4"; }
                            button type="submit" { (ctx.t("查看", "Show")) }
                        }
                    }
                }
            }
            td { @if m.in_programme { (ctx.t("在册", "In")) } @else { (ctx.t("已退出", "Exited")) } }
        }
    }
}

/// A household the user may see, or 404.
pub(crate) async fn household_in_reach(state: &State, ctx: &Ctx, no: &str) -> WebResult<StoredHousehold> {
    let no = HouseholdNo::parse(no).map_err(|_| WebError::NotFound)?;
    let h = state.store.household(&no).await?.ok_or(WebError::NotFound)?;
    ctx.require_within(h.household.region).map_err(|_| WebError::NotFound)?;
    Ok(h)
}

/// A person the user may see, with their household, or 404.
pub(crate) async fn person_in_reach(state: &State, ctx: &Ctx, id: i64) -> WebResult<(StoredPerson, StoredHousehold)> {
    let p = state.store.person(id).await?.ok_or(WebError::NotFound)?;
    let h = household_in_reach(state, ctx, p.person.household_no.as_str()).await?;
    Ok((p, h))
}

/// A break-the-glass request: the reason the user gives for seeing what their role hides (the
/// form's `_csrf`; JSON requests carry the token in their header instead).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RevealForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    pub csrf: String,
    #[schema(inline)]
    pub reason: crate::params::Reason,
}

/// The permission to break the glass, and a reason of at least 4 characters.
pub(crate) fn given_reason<'a>(ctx: &Ctx, permission: Permission, reason: &'a str) -> WebResult<&'a str> {
    ctx.require(permission)?;
    let reason = reason.trim();
    if reason.chars().count() < 4 {
        return Err(WebError::BadRequest(ctx.t("请填写查看原因（至少 4 个字）", "Give a reason (at least 4 characters)").into()));
    }
    Ok(reason)
}

/// Break the glass: show one person's full ID number to a role that may see it only with a
/// reason, and record who, why and when.
pub async fn reveal_id_number(state: State, ctx: Ctx, Path(id): Path<i64>, Form(form): Form<RevealForm>) -> WebResult<Markup> {
    ctx.check_csrf(&form.csrf)?;
    let (p, _) = break_glass_id(&state, &ctx, id, &form.reason).await?;
    render_household(state, ctx, p.person.household_no.as_str(), Some(id)).await
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Revealed {
    person_id: i64,
    id_number: String,
}

/// Break the glass: a person's whole ID number, with a reason
///
/// The same rights and the same audit entry as the page; the entry names the person and the
/// reason, never the number.
#[utoipa::path(post, path = "/api/persons/{id}/reveal", tag = "Registry", params(("id" = i64, Path, description = "Person id")), request_body = RevealForm,
    responses((status = 200, body = Revealed)))]
pub async fn api_reveal_id_number(state: State, ctx: Ctx, headers: axum::http::HeaderMap, Path(id): Path<i64>, Json(form): Json<RevealForm>) -> WebResult<axum::response::Response> {
    ctx.check_api_csrf(&headers)?;
    let r = async {
        let (p, h) = break_glass_id(&state, &ctx, id, &form.reason).await?;
        let viewer = ctx.viewer(&state).await.opened_id(id);
        Ok(Revealed { person_id: id, id_number: viewer.sight(Record::Person { id, region: h.household.region }).id_number(&p.person.id_number) })
    }
    .await;
    crate::error::json_answer(axum::http::StatusCode::OK, r)
}

/// The person whose ID number is revealed, after the checks; the audit entry names the person
/// and the reason, never the number.
async fn break_glass_id(state: &State, ctx: &Ctx, id: i64, reason: &str) -> WebResult<(StoredPerson, huimin_store::StoredHousehold)> {
    let reason = given_reason(ctx, Permission::BreakGlassIdNumber, reason)?;
    let found = person_in_reach(state, ctx, id).await?;
    state.store.append_audit(&ctx.audit("id.reveal", format!("person {id}"), format!("reason: {reason}"))).await?;
    Ok(found)
}

pub async fn facilities(state: State, ctx: Ctx, Query(q): Query<RegionQuery>) -> WebResult<Markup> {
    ctx.require(Permission::ViewFacilities)?;
    let region = region_param(&ctx, q.code.as_deref())?;
    let list = state.store.facilities(region).await?;
    let body = html! {
        p.muted { (ctx.t("共 ", "")) (list.len()) (ctx.t(" 家", " facilities")) }
        table.card {
            thead { tr {
                th { (ctx.t("机构编码", "Code")) } th { (ctx.t("名称", "Name")) } th { (ctx.t("等级", "Level")) }
                th { (ctx.t("类型", "Type")) } th { (ctx.t("区划", "Region")) } th { (ctx.t("定点医院", "Designated")) } th.num { (ctx.t("扶贫病床", "Poverty beds")) }
            } }
            tbody {
                @for f in &list {
                    tr {
                        td.mono { (f.code) } td { (f.name) } td { (f.level.number()) (ctx.t(" 级", "")) } td { (f.kind) }
                        td.mono.muted { (f.region) }
                        td { @if f.designated { span.badge.ok { (ctx.t("是", "Yes")) } } }
                        td.num { @if f.poverty_beds > 0 { (f.poverty_beds) } }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("医疗机构", "Facilities"), "/facilities", body))
}

// ----- JSON -----

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RegionAnswer {
    region: huimin_domain::Region,
    households: i64,
    persons: i64,
    illness_households: i64,
    children: Vec<huimin_store::RegionCount>,
}

/// A region, its registry figures and those of each region below
#[utoipa::path(get, path = "/api/regions", tag = "Registry", params(RegionQuery), responses((status = 200, body = RegionAnswer)))]
pub async fn api_regions(state: State, ctx: Ctx, Query(q): Query<RegionQuery>) -> WebResult<Json<RegionAnswer>> {
    ctx.require(Permission::ViewRegistry)?;
    let code = region_param(&ctx, q.code.as_deref())?;
    let region = state.store.region(code).await?.ok_or(WebError::NotFound)?;
    let totals = state.store.registry_counts(code).await?;
    let children = state.store.region_children_counts(code).await?;
    Ok(Json(RegionAnswer { region, households: totals.households, persons: totals.persons, illness_households: totals.illness_households, children }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct HouseholdsAnswer {
    region: RegionCode,
    total: i64,
    page: i64,
    per_page: i64,
    households: Vec<huimin_store::HouseholdRow>,
}

/// A page of the households inside a region
#[utoipa::path(get, path = "/api/households", tag = "Registry", params(HouseholdQuery), responses((status = 200, body = HouseholdsAnswer)))]
pub async fn api_households(state: State, ctx: Ctx, Query(q): Query<HouseholdQuery>) -> WebResult<Json<HouseholdsAnswer>> {
    ctx.require(Permission::ViewRegistry)?;
    let region = region_param(&ctx, q.region.as_deref())?;
    let per_page = q.per_page.map_or(PER_PAGE, |p| p.0);
    let page = q.page.map_or(1, |p| p.0);
    let (households, total) = state.store.list_households(region, &household_filter(&q), per_page, (page - 1) * per_page).await?;
    Ok(Json(HouseholdsAnswer { region, total, page, per_page, households }))
}

/// A member of a household as the API shows it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Member {
    id: i64,
    name: huimin_domain::PersonName,
    /// Masked unless the role sees it whole.
    id_number: String,
    sex: huimin_domain::Sex,
    birth_date: huimin_domain::Date,
    relation: huimin_domain::Relation,
    ethnicity: huimin_domain::Ethnicity,
    phone: Option<huimin_domain::Phone>,
    in_programme: bool,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct HouseholdAnswer {
    household: huimin_domain::Household,
    in_programme: bool,
    members: Vec<Member>,
    history: Vec<huimin_store::RegistryEvent>,
}

/// A household's file: members and history
///
/// ID numbers masked unless the role sees them whole; the view is audited like the page's.
#[utoipa::path(get, path = "/api/households/{no}", tag = "Registry", params(("no" = String, Path, description = "Household number")), responses((status = 200, body = HouseholdAnswer)))]
pub async fn api_household(state: State, ctx: Ctx, Path(no): Path<String>) -> WebResult<Json<HouseholdAnswer>> {
    ctx.require(Permission::ViewRegistry)?;
    let no = HouseholdNo::parse(&no).map_err(|_| WebError::NotFound)?;
    let h = state.store.household(&no).await?.ok_or(WebError::NotFound)?;
    ctx.require_within(h.household.region).map_err(|_| WebError::NotFound)?;
    let viewer = ctx.viewer(&state).await;
    let members: Vec<Member> = state
        .store
        .household_members(&no)
        .await?
        .iter()
        .map(|m| {
            let p = &m.person;
            Member {
                id: m.id,
                name: p.name.clone(),
                id_number: viewer.sight(Record::Person { id: m.id, region: h.household.region }).id_number(&p.id_number),
                sex: p.id_number.sex(),
                birth_date: p.id_number.birth_date(),
                relation: p.relation,
                ethnicity: p.ethnicity.clone(),
                phone: p.phone.clone(),
                in_programme: m.in_programme,
            }
        })
        .collect();
    let history = state.store.household_history(&no).await?;
    state.store.append_audit(&ctx.audit("household.view", format!("household {no}"), "api")).await?;
    Ok(Json(HouseholdAnswer { household: h.household, in_programme: h.in_programme, members, history }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct FacilitiesAnswer {
    region: RegionCode,
    facilities: Vec<huimin_domain::Facility>,
}

/// The facilities inside a region
#[utoipa::path(get, path = "/api/facilities", tag = "Registry", params(RegionQuery), responses((status = 200, body = FacilitiesAnswer)))]
pub async fn api_facilities(state: State, ctx: Ctx, Query(q): Query<RegionQuery>) -> WebResult<Json<FacilitiesAnswer>> {
    ctx.require(Permission::ViewFacilities)?;
    let region = region_param(&ctx, q.code.as_deref())?;
    Ok(Json(FacilitiesAnswer { region, facilities: state.store.facilities(region).await? }))
}

#[derive(Deserialize)]
pub struct EconomicsPageForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    size: String,
    #[serde(default)]
    per_capita_income: String,
    #[serde(default)]
    monitoring_category: String,
}

/// `POST /households/{no}/economics`: the household page's form (income in yuan).
pub async fn record_economics(state: State, ctx: Ctx, Path(no): Path<String>, Form(f): Form<EconomicsPageForm>) -> WebResult<axum::response::Response> {
    use axum::response::IntoResponse;
    ctx.check_csrf(&f.csrf)?;
    ctx.require(Permission::RecordEconomics)?;
    let h = household_in_reach(&state, &ctx, &no).await?;
    let no = h.household.no.as_str().to_string();
    let size: u32 = f.size.trim().parse().map_err(|_| WebError::BadRequest(format!("家庭人口数「{}」应为 1–99 的整数", f.size.trim())))?;
    let income = match f.per_capita_income.trim() {
        "" => None,
        t => Some(huimin_domain::Money::parse_yuan(t).map_err(|e| WebError::BadRequest(format!("年人均纯收入：{e}")))?),
    };
    let category = match f.monitoring_category.trim() {
        "" => None,
        c => Some(huimin_domain::MonitoringCategory::parse(c).map_err(|e| WebError::BadRequest(e.0))?),
    };
    let e = huimin_store::Economics { as_of: huimin_app::clock::today(), size, per_capita_income: income, monitoring_category: category };
    let set = state.policies.read().await.warnings.clone();
    crate::monitoring_page::record(&state, &ctx, &set, &no, &e).await?;
    Ok(axum::response::Redirect::to(&format!("/households/{no}#economics")).into_response())
}
