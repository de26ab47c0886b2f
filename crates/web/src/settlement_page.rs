//! The settlement window (一站式结算): find the patient, enter the stay, preview the one bill,
//! confirm, print; reverse with a reason. Also the policy list, loading and simulation, and the
//! JSON API for settlement.

use axum::Json;
use axum::Form;
use axum::extract::{Multipart, Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use huimin_app::settlement::{self, PolicySet, SettleError, SettleRequest};
use huimin_domain::{Date, Disclosed, Money, Permission, RegionCode};
use huimin_policy::{Bill, Bucket, VisitType};
use huimin_store::{ClaimStatus, StoredClaim};
use maud::{Markup, html};
use serde::Deserialize;

use crate::State;
use crate::auth::Ctx;
use crate::error::{ProblemWith, WebError, WebResult, problem_with};
use crate::layout::{self, csrf, percent, yuan};

fn clerk_facility(ctx: &Ctx) -> WebResult<String> {
    ctx.require(Permission::Settle)?;
    ctx.user.facility_code.clone().ok_or(WebError::Forbidden)
}

/// A claim may be seen by the clerks of its facility, and by the other claim roles of its region.
pub(crate) fn claim_visible(ctx: &Ctx, c: &StoredClaim) -> bool {
    ctx.can(Permission::ViewClaims)
        && match &ctx.user.facility_code {
            Some(f) if ctx.can(Permission::Settle) => *f == c.facility_code,
            _ => ctx.user.region.contains(c.region),
        }
}

/// `claim_visible`, or 403 for a role without claims and 404 for a claim outside one's reach.
pub(crate) fn require_claim_access(ctx: &Ctx, c: &StoredClaim) -> WebResult<()> {
    ctx.require(Permission::ViewClaims)?;
    if claim_visible(ctx, c) { Ok(()) } else { Err(WebError::NotFound) }
}

#[derive(Deserialize, Default)]
pub struct WindowQuery {
    q: Option<String>,
}

pub async fn window(state: State, ctx: Ctx, Query(q): Query<WindowQuery>) -> WebResult<Markup> {
    let facility = clerk_facility(&ctx)?;
    let query = q.q.unwrap_or_default().trim().to_string();
    let (hits, not_found) = crate::registry::eligibility(&state, &ctx, &query).await?;
    let recent = state.store.claims_at_facility(&facility, 10).await?;
    let body = html! {
        // The number typed is shown again only to be corrected; a patient found is listed masked.
        form.card.search method="get" action="/settlement" {
            label { (ctx.t("患者的证件号码（18 位）", "The patient's ID number (18 characters)")) input name="q" type="search" value=(if not_found.is_some() { query.as_str() } else { "" }) inputmode="text" autocomplete="off" autofocus; }
            button.primary type="submit" { (ctx.t("查找", "Find")) }
        }
        @if !query.is_empty() {
            @if let Some(why) = &not_found {
                (layout::empty_state(why))
            } @else {
                table.card {
                    thead { tr { th { (ctx.t("姓名", "Name")) } th { (ctx.t("证件号码", "ID number")) } th { (ctx.t("贫困户属性", "Category")) } th { (ctx.t("状态", "Status")) } th {} } }
                    tbody { @for h in &hits { tr {
                        td { (h.name) } td.mono { (h.id_number.masked()) } td { (h.category.label_zh()) }
                        td { @if h.in_programme { span.badge.ok { (ctx.t("在册", "In programme")) } } @else { span.badge { (ctx.t("已退出", "Exited")) } } }
                        td { a.button.primary href=(format!("/settlement/new?person={}", h.person_id)) { (ctx.t("结算", "Settle")) } }
                    } } }
                }
            }
        }
        h2 { (ctx.t("本院最近的结算", "Recent settlements here")) }
        (claims_table(&state, &ctx, &recent).await?)
    };
    Ok(layout::page(&ctx, ctx.t("一站式结算", "One-stop settlement"), "/settlement", body))
}

/// A list of claims, newest first: the patient, the stay, the facility by name, the amounts.
async fn claims_table(state: &State, ctx: &Ctx, claims: &[StoredClaim]) -> WebResult<Markup> {
    let mut ids: Vec<i64> = claims.iter().map(|c| c.person_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let names: std::collections::HashMap<i64, String> = state.store.persons_by_id(&ids).await?.into_iter().map(|p| (p.person_id, p.name)).collect();
    let facilities = state.store.all_facilities().await?;
    Ok(html! {
        @if claims.is_empty() { (layout::empty_state(ctx.t("还没有结算", "No settlements yet"))) } @else {
            table.card.list {
                thead { tr {
                    th { (ctx.t("患者", "Patient")) } th { (ctx.t("入出院日期", "Stay")) } th { (ctx.t("医疗机构", "Facility")) }
                    th.num { (ctx.t("总费用", "Total")) } th.num { (ctx.t("各基金支付", "Funds")) } th.num { (ctx.t("个人负担", "Patient pays")) } th { (ctx.t("状态", "Status")) } th { (ctx.t("结算单", "Bill")) }
                } }
                tbody { @for c in claims { tr class=(if c.status == ClaimStatus::Reversed { "exited" } else { "" }) {
                    td { (names.get(&c.person_id).map_or("—", String::as_str)) }
                    td { (c.claim.admission) " 至 " (c.claim.discharge) }
                    td { (facilities.get(&c.facility_code).map_or(c.facility_code.as_str(), |f| f.name.as_str())) }
                    td.num { (yuan(c.bill.total)) } td.num { (yuan(c.bill.funds_total)) } td.num { (yuan(c.bill.patient_total)) }
                    td { @if c.status == ClaimStatus::Reversed { span.badge { (ctx.t("已冲销", "Reversed")) } } @else { span.badge.ok { (ctx.t("已结算", "Settled")) } } }
                    td.mono { a href=(format!("/settlement/claims/{}", c.claim_no)) { (c.claim_no) } }
                } } }
            }
        }
    })
}

#[derive(Deserialize)]
pub struct NewQuery {
    person: i64,
}

/// A claim is known by the facility and the hospital's own number of the visit: the same visit
/// cannot be settled twice, however often the form is opened.
fn claim_no_of(facility: &str, visit_no: &str) -> String {
    format!("{facility}-{visit_no}")
}

/// The fields of the stay, as typed (amounts in yuan).
#[derive(Deserialize, Clone, Default)]
pub struct ClaimForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    /// The hospital's own number of the stay or visit (住院号 / 门诊流水号).
    visit_no: String,
    person_id: i64,
    visit: String,
    admission: String,
    discharge: String,
    #[serde(default)]
    diseases: String,
    #[serde(default)]
    cat_a: String,
    #[serde(default)]
    cat_b: String,
    #[serde(default)]
    out_of_catalogue: String,
    #[serde(default)]
    necessary: String,
}

impl ClaimForm {
    fn request(&self, facility: &str) -> Result<SettleRequest, String> {
        let date = |label: &str, s: &str| Date::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| format!("{label}「{s}」应为 YYYY-MM-DD"));
        let amount = |label: &str, s: &str| if s.trim().is_empty() { Ok(Money::ZERO) } else { Money::parse_yuan(s).map_err(|e| format!("{label}：{e}")) };
        let visit_no = self.visit_no.trim();
        if visit_no.is_empty() || visit_no.len() > 30 || !visit_no.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err("住院号（门诊流水号）应为 1–30 位字母、数字、- 或 _，按医院系统打印的填写".into());
        }
        Ok(SettleRequest {
            claim_no: claim_no_of(facility, visit_no),
            person_id: self.person_id,
            facility_code: facility.to_string(),
            visit: VisitType::parse(&self.visit).ok_or_else(|| "就诊类型无效".to_string())?,
            admission: date("入院日期", &self.admission)?,
            discharge: date("出院日期", &self.discharge)?,
            diseases: self.diseases.split([',', '，', '|', ';', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
            cat_a: amount("甲类费用", &self.cat_a)?,
            cat_b: amount("乙类费用", &self.cat_b)?,
            out_of_catalogue: amount("目录外费用", &self.out_of_catalogue)?,
            necessary: amount("目录外必需费用", &self.necessary)?,
        })
    }
}

async fn patient_header(state: &State, ctx: &Ctx, person_id: i64) -> WebResult<Markup> {
    let p = state.store.person(person_id).await?.ok_or(WebError::NotFound)?;
    let h = state.store.household(&p.person.household_no).await?.ok_or(WebError::NotFound)?;
    ctx.require_within(h.household.region).map_err(|_| WebError::NotFound)?;
    // This year so far (settled stays at any facility: amounts only) and the policy in force.
    let today = huimin_app::clock::today();
    let year = chrono::Datelike::year(&today);
    let settled: Vec<StoredClaim> = state.store.claims_of_person(person_id).await?.into_iter().filter(|c| c.status == ClaimStatus::Settled && c.bill.year == year).collect();
    let sum = |f: fn(&StoredClaim) -> Money| settled.iter().map(f).sum::<Money>();
    let policy = state.policies.read().await.in_force(h.household.region, today).cloned();
    Ok(html! {
        section.card.facts { dl {
            dt { (ctx.t("患者", "Patient")) } dd { (p.person.name.as_str()) }
            dt { (ctx.t("证件号码", "ID number")) } dd.mono { (p.person.id_number.masked()) }
            dt { (ctx.t("贫困户属性", "Category")) } dd { (h.household.category.label_zh()) }
            dt { (ctx.t("户编号", "Household")) } dd.mono { (h.household.no) }
            dt { (year) (ctx.t(" 年已结算", " settled so far")) } dd {
                (settled.len()) (ctx.t(" 次 · 总费用 ", " claims · total ")) (yuan(sum(|c| c.bill.total)))
                (ctx.t(" · 基金支付 ", " · funds ")) (yuan(sum(|c| c.bill.funds_total))) (ctx.t(" · 个人负担 ", " · patient ")) (yuan(sum(|c| c.bill.patient_total)))
            }
            dt { (ctx.t("适用政策", "Policy")) } dd { @match &policy { Some(p) => { (p.name) }, None => { (ctx.t("本地区今天没有生效的结算政策", "None in force here today")) } } }
        } }
    })
}

fn claim_form(ctx: &Ctx, f: &ClaimForm, error: Option<Markup>) -> Markup {
    let visit_opts = [("inpatient", "住院", "Inpatient"), ("outpatient_chronic", "门诊慢特病", "Outpatient chronic/special"), ("outpatient_general", "普通门诊", "General outpatient")];
    html! {
        @if let Some(e) = error { p.alert.error role="alert" { (e) } }
        // The tab keeps what was typed until the stay is settled (app.js): an expired session
        // or a lost connection loses nothing.
        form.card.grid method="post" action="/settlement/preview" data-keep=(format!("stay-{}", f.person_id)) data-filled[!f.visit_no.is_empty()] {
            (csrf(ctx))
            input type="hidden" name="person_id" value=(f.person_id);
            label { (ctx.t("住院号（门诊流水号）", "Visit number (as the hospital system prints it)")) input name="visit_no" value=(f.visit_no) required pattern="[A-Za-z0-9_-]{1,30}" autocomplete="off"; }
            label { (ctx.t("就诊类型", "Visit type")) select name="visit" { @for (code, zh, en) in visit_opts { option value=(code) selected[f.visit == code] { (ctx.t(zh, en)) } } } }
            label { (ctx.t("入院日期", "Admission")) input type="date" name="admission" value=(f.admission) required; }
            label { (ctx.t("出院日期", "Discharge")) input type="date" name="discharge" value=(f.discharge) required; }
            label { (ctx.t("疾病编码（ICD-10，多个用逗号分隔）", "Diagnoses (ICD-10, comma separated)")) input name="diseases" value=(f.diseases) placeholder="I63.9"; }
            label { (ctx.t("甲类费用（元）", "Class A (yuan)")) input name="cat_a" value=(f.cat_a) inputmode="decimal" required; }
            label { (ctx.t("乙类费用（元）", "Class B (yuan)")) input name="cat_b" value=(f.cat_b) inputmode="decimal"; }
            label { (ctx.t("目录外费用（元）", "Out of catalogue (yuan)")) input name="out_of_catalogue" value=(f.out_of_catalogue) inputmode="decimal"; }
            label { (ctx.t("其中目录外必需（元）", "of which necessary (yuan)")) input name="necessary" value=(f.necessary) inputmode="decimal"; }
            button.primary type="submit" { (ctx.t("预览结算单", "Preview the bill")) }
        }
    }
}

pub async fn new_claim(state: State, ctx: Ctx, Query(q): Query<NewQuery>) -> WebResult<Markup> {
    clerk_facility(&ctx)?;
    let header = patient_header(&state, &ctx, q.person).await?;
    let today = huimin_app::clock::today();
    let form = ClaimForm {
        person_id: q.person,
        visit: "inpatient".into(),
        admission: today.to_string(),
        discharge: today.to_string(),
        ..Default::default()
    };
    Ok(layout::page(&ctx, ctx.t("结算", "Settle"), "/settlement", html! { (header) (claim_form(&ctx, &form, None)) }))
}

/// A form's address opened as a page (after signing in again, from history): the window.
pub async fn back_to_window() -> Redirect {
    Redirect::to("/settlement")
}

/// A refusal the user can act on as one (400 on a page, 422 under /api), else an internal error.
fn settle_error(e: SettleError) -> WebError {
    match settle_message(&e) {
        Some(m) => WebError::BadRequest(m),
        None => WebError::Internal(e.into()),
    }
}

fn settle_message(e: &SettleError) -> Option<String> {
    match e {
        SettleError::Store(_) => None,
        e => Some(e.to_string()),
    }
}

/// What the bill says of the patient and the stay: on the preview as on the bill.
struct Stay<'a> {
    patient: &'a str,
    id_number: String,
    category: &'static str,
    facility: &'a str,
    claim: &'a huimin_policy::Claim,
    visit_no: &'a str,
    /// Codes with their catalogue names; and how many the viewer may not see.
    diagnoses: Vec<(String, Option<String>)>,
    withheld: usize,
}

impl Stay<'_> {
    fn markup(&self, ctx: &Ctx) -> Markup {
        let c = self.claim;
        let days = (c.discharge - c.admission).num_days();
        let visit = match c.visit {
            VisitType::Inpatient => ctx.t("住院", "Inpatient"),
            VisitType::OutpatientChronic => ctx.t("门诊慢特病", "Outpatient chronic/special"),
            VisitType::OutpatientGeneral => ctx.t("普通门诊", "General outpatient"),
        };
        html! {
            section.card.facts { dl {
                dt { (ctx.t("患者", "Patient")) } dd { strong { (self.patient) } }
                dt { (ctx.t("证件号码", "ID number")) } dd.mono { (self.id_number) }
                dt { (ctx.t("贫困户属性", "Category")) } dd { (self.category) }
                dt { (ctx.t("医疗机构", "Facility")) } dd { (self.facility) " · " (c.level.label_zh()) @if c.in_county { (ctx.t("（县域内）", " (in the county)")) } @else { (ctx.t("（县域外）", " (out of the county)")) } }
                dt { (ctx.t("就诊类型", "Visit")) } dd { (visit) " · " (ctx.t("住院号 ", "no. ")) span.mono { (self.visit_no) } }
                dt { (ctx.t("入出院日期", "Stay")) } dd { (c.admission) " 至 " (c.discharge)
                    @if c.visit == VisitType::Inpatient { " · " (ctx.t("住院 ", "")) (days.max(1)) (ctx.t(" 天", " days")) } }
                dt { (ctx.t("诊断", "Diagnoses")) } dd {
                    @if self.diagnoses.is_empty() && self.withheld == 0 { (crate::layout::dash()) }
                    @for (i, (code, name)) in self.diagnoses.iter().enumerate() {
                        @if i > 0 { "；" } span.mono { (code) } @if let Some(n) = name { " " (n) }
                    }
                    @if self.withheld > 0 { " " span.badge { (ctx.t("保密病种", "Confidential")) } }
                }
            } }
        }
    }
}

/// The catalogue names of diagnosis codes, for the region's catalogue.
fn named(viewer: &huimin_domain::Viewer, region: RegionCode, codes: &[String]) -> Vec<(String, Option<String>)> {
    let catalogue = viewer.catalogue(region);
    codes.iter().map(|c| (c.clone(), catalogue.entry(c).map(|e| e.name.clone()))).collect()
}

/// A refusal on the form; a stay settled already links to its bill.
fn refusal(ctx: &Ctx, e: &SettleError) -> Option<Markup> {
    match e {
        SettleError::AlreadySettled { claim_no, message } => Some(html! {
            (message) " " a href=(format!("/settlement/claims/{claim_no}")) { (ctx.t("查看原结算单", "Open that bill")) }
        }),
        e => settle_message(e).map(|m| html! { (m) }),
    }
}

pub async fn preview(state: State, ctx: Ctx, Form(f): Form<ClaimForm>) -> WebResult<Response> {
    ctx.check_csrf(&f.csrf)?;
    let facility = clerk_facility(&ctx)?;
    let header = patient_header(&state, &ctx, f.person_id).await?;
    let form_page = |status: StatusCode, error: Markup| (status, layout::page(&ctx, ctx.t("结算", "Settle"), "/settlement", html! { (header) (claim_form(&ctx, &f, Some(error))) })).into_response();
    let req = match f.request(&facility) {
        Ok(r) => r,
        Err(e) => return Ok(form_page(StatusCode::BAD_REQUEST, html! { (e) })),
    };
    let set = state.policies.read().await.clone();
    let (claim, bill) = match settlement::preview(&state.store, &set, &req).await {
        Ok(found) => found,
        Err(e) => {
            return match refusal(&ctx, &e) {
                Some(m) => Ok(form_page(StatusCode::UNPROCESSABLE_ENTITY, m)),
                None => Err(WebError::Internal(e.into())),
            };
        }
    };
    let (person, household) = crate::registry::person_in_reach(&state, &ctx, f.person_id).await?;
    let facility_name = state.store.facility(&facility).await?.map(|x| x.name).unwrap_or_default();
    let viewer = ctx.viewer(&state).await;
    let stay = Stay {
        patient: person.person.name.as_str(),
        id_number: person.person.id_number.masked(),
        category: household.household.category.label_zh(),
        facility: &facility_name,
        claim: &claim,
        visit_no: f.visit_no.trim(),
        diagnoses: named(&viewer, household.household.region, &claim.diseases),
        withheld: 0,
    };
    Ok(layout::page(&ctx, ctx.t("结算预览", "Bill preview"), "/settlement", html! {
        // In the tab's history this page is the form's address: Back from the bill or a reload
        // opens the form, never a resent POST (app.js).
        p.alert role="status" data-replace-url=(format!("/settlement/new?person={}", f.person_id)) { (ctx.t("请与患者核对以下信息和金额，无误后确认结算。", "Check these facts and amounts with the patient, then confirm.")) }
        (stay.markup(&ctx))
        (bill_markup(&ctx, &bill, &set))
        (basis_markup(&ctx, &set.get(&bill.policy_id).map(|p| p.basis(&claim, &bill)).unwrap_or_default()))
        form.card method="post" action="/settlement/confirm" {
            (csrf(&ctx))
            @for (k, v) in [("visit_no", &f.visit_no), ("visit", &f.visit), ("admission", &f.admission), ("discharge", &f.discharge), ("diseases", &f.diseases),
                            ("cat_a", &f.cat_a), ("cat_b", &f.cat_b), ("out_of_catalogue", &f.out_of_catalogue), ("necessary", &f.necessary)] {
                input type="hidden" name=(k) value=(v);
            }
            input type="hidden" name="person_id" value=(f.person_id);
            p { (ctx.t("患者只需支付个人负担部分 ", "The patient pays only ")) strong { (yuan(bill.patient_total)) } (ctx.t("，其余由各基金支付给医院。", "; the funds pay the rest to the hospital.")) }
            button.primary type="submit" { (ctx.t("确认结算", "Confirm")) }
        }
        details.card { summary { (ctx.t("修改", "Change")) } (claim_form(&ctx, &f, None)) }
    })
    .into_response())
}

/// Settles and goes to the bill (POST-redirect-GET: Back and reload do not post again). The same
/// visit confirmed again — a double click, a resubmitted form — opens the bill it got.
pub async fn confirm(state: State, ctx: Ctx, Form(f): Form<ClaimForm>) -> WebResult<Response> {
    ctx.check_csrf(&f.csrf)?;
    let facility = clerk_facility(&ctx)?;
    let header = patient_header(&state, &ctx, f.person_id).await?;
    let req = f.request(&facility).map_err(WebError::BadRequest)?;
    let set = state.policies.read().await.clone();
    let audit = ctx.audit("settlement.settle", "", format!("facility {facility}"));
    match settlement::settle_claim(&state.store, &set, &req, &ctx.user.username, &audit).await {
        Ok(_) => Ok(Redirect::to(&format!("/settlement/claims/{}", req.claim_no)).into_response()),
        Err(SettleError::AlreadySettled { claim_no, .. })
            if claim_no == req.claim_no && state.store.claim(&claim_no).await?.is_some_and(|c| c.person_id == req.person_id) =>
        {
            Ok(Redirect::to(&format!("/settlement/claims/{claim_no}?again=1")).into_response())
        }
        Err(e) => match refusal(&ctx, &e) {
            Some(m) => Ok((StatusCode::UNPROCESSABLE_ENTITY, layout::page(&ctx, ctx.t("结算", "Settle"), "/settlement", html! { (header) (claim_form(&ctx, &f, Some(m))) })).into_response()),
            None => Err(WebError::Internal(e.into())),
        },
    }
}

/// Why each amount is what it is (计算依据), on demand: the numbers each layer applied to this
/// claim and the text of their source.
fn basis_markup(ctx: &Ctx, basis: &[huimin_policy::Basis]) -> Markup {
    html! {
        @if !basis.is_empty() {
            details.card.basis {
                summary { (ctx.t("计算依据", "How each amount was reckoned")) }
                table {
                    thead { tr { th { (ctx.t("保障", "Layer")) } th { (ctx.t("本次适用", "Applied to this claim")) } th { (ctx.t("政策依据", "Source")) } } }
                    tbody { @for b in basis { tr { td { (b.layer_name) } td { (b.rule) } td.small { (b.source) } } } }
                }
            }
        }
    }
}

/// The one bill (一张单): buckets, each layer by bucket with its fund, the patient's part.
fn bill_markup(ctx: &Ctx, bill: &Bill, set: &PolicySet) -> Markup {
    let policy = set.get(&bill.policy_id);
    let pct = |part: Money| percent(part.fen(), bill.total.fen());
    html! {
        section.card.bill {
            h2 { (ctx.t("费用与各基金支付明细", "Costs and what each fund paid")) }
            p.muted { (ctx.t("政策：", "Policy: ")) (policy.map(|p| p.name.as_str()).unwrap_or(&bill.policy_id)) " · " (ctx.t("年度 ", "Year ")) (bill.year) }
            table {
                thead { tr { th { (ctx.t("项目", "Item")) } @for b in Bucket::ALL { th.num { (b.label_zh()) } } th.num { (ctx.t("合计", "Total")) } th.num { (ctx.t("年度累计（前→后）", "Year to date (before → after)")) } } }
                tbody {
                    tr.subtotal { th { (ctx.t("总费用", "Total cost")) } @for m in &bill.buckets { td.num { (yuan(*m)) } } td.num { strong { (yuan(bill.total)) } } td {} }
                    @for l in &bill.lines {
                        tr {
                            td { (l.layer_name) br; span.small.muted { (l.fund.code()) " " (l.fund.label_zh()) } }
                            @for m in &l.paid { td.num { @if m.is_zero() { span.muted { "—" } } @else { (yuan(*m)) } } }
                            td.num { strong { (yuan(l.total)) } }
                            td.num.small { (yuan(l.before.paid)) " → " (yuan(l.after.paid)) }
                        }
                    }
                    tr.subtotal { th { (ctx.t("各基金合计", "All funds")) } @for _ in Bucket::ALL { td {} } td.num { strong { (yuan(bill.funds_total)) } } td.num { (pct(bill.funds_total)) } }
                    tr.patient { th { (ctx.t("个人负担", "Patient pays")) } @for m in &bill.patient { td.num { (yuan(*m)) } } td.num { strong { (yuan(bill.patient_total)) } } td.num { (pct(bill.patient_total)) } }
                }
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct BillQuery {
    /// The same visit was confirmed again: this is the bill it got the first time.
    again: Option<u8>,
}

/// The one bill (一张单) as the patient takes it home: the hospital's name, the patient and the
/// stay, what each fund paid, the patient's part in figures and in capitals, who settled it and
/// when (Beijing time), and lines to sign and seal.
/// What a bill shows, as the user may see it (the page and the PDF alike); its view is audited.
struct BillView {
    c: Disclosed<StoredClaim>,
    patient: String,
    id_number: String,
    facility: String,
    clerk: String,
    reversed_by: Option<String>,
    basis: Vec<huimin_policy::Basis>,
    diagnoses: Vec<(String, Option<String>)>,
    code: String,
}

impl BillView {
    fn stay(&self) -> Stay<'_> {
        Stay {
            patient: &self.patient,
            id_number: self.id_number.clone(),
            category: self.c.claim.category.label_zh(),
            facility: &self.facility,
            claim: &self.c.claim,
            visit_no: self.c.visit_no().unwrap_or(&self.c.claim_no),
            diagnoses: self.diagnoses.clone(),
            withheld: self.c.diagnoses_withheld(),
        }
    }
}

async fn load_bill(state: &State, ctx: &Ctx, no: &str, how: &str) -> WebResult<BillView> {
    let c = state.store.claim(no).await?.ok_or(WebError::NotFound)?;
    require_claim_access(ctx, &c)?;
    let person = state.store.person(c.person_id).await?.ok_or(WebError::NotFound)?;
    let facility = state.store.facility(&c.facility_code).await?.map(|f| f.name).unwrap_or_else(|| c.facility_code.clone());
    let clerk = state.store.display_name(&c.settled_by).await?.unwrap_or_else(|| c.settled_by.clone());
    let reversed_by = match &c.reversed_by {
        Some(u) => Some(state.store.display_name(u).await?.unwrap_or_else(|| u.clone())),
        None => None,
    };
    state.store.append_audit(&ctx.audit("claim.view", format!("claim {no}"), how)).await?;
    let set = state.policies.read().await.clone();
    let viewer = ctx.viewer(state).await;
    let id_number = viewer.sight(huimin_domain::Concerns::concerns(&c)).id_number(&person.person.id_number);
    // The numbers the layers applied, from the whole claim: what was paid does not change with who looks.
    let basis = set.get(&c.policy_id).map(|p| p.basis(&c.claim, &c.bill)).unwrap_or_default();
    let code = state.store.bill_code(&c);
    let c = viewer.show_own(c).ok_or(WebError::NotFound)?;
    let diagnoses = named(&viewer, c.region, &c.claim.diseases);
    Ok(BillView { c, patient: person.person.name.as_str().to_string(), id_number, facility, clerk, reversed_by, basis, diagnoses, code })
}

pub async fn bill_page(state: State, ctx: Ctx, headers: HeaderMap, Path(no): Path<String>, Query(q): Query<BillQuery>) -> WebResult<Markup> {
    let view = load_bill(&state, &ctx, &no, "").await?;
    let set = state.policies.read().await.clone();
    let BillView { c, clerk, reversed_by, basis, code, facility, .. } = &view;
    let can_reverse = c.status == ClaimStatus::Settled && ctx.can(Permission::Settle) && ctx.user.facility_code.as_deref() == Some(c.facility_code.as_str());
    let stay = view.stay();
    let settled_at = huimin_domain::stored_time_text(&c.settled_at);
    // A QR code of the address that checks the verification code on this system.
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let check_url = format!("http://{host}/settlement/verify?no={}&code={code}", c.claim_no);
    let qr = qrcode::QrCode::new(check_url.as_bytes())
        .map(|q| q.render::<qrcode::render::svg::Color>().min_dimensions(96, 96).quiet_zone(true).build())
        .unwrap_or_default();
    let body = html! {
        @if q.again.is_some() { p.alert.ok.noprint role="status" { (ctx.t("此次就诊已结算过，以下是原结算单，没有重复结算。", "This visit was settled before: here is its bill; nothing was settled twice.")) } }
        @if c.status == ClaimStatus::Reversed {
            p.alert.error role="status" { span.badge { (ctx.t("已冲销", "Reversed")) } " " (reversed_by.clone().unwrap_or_default()) " · "
                (c.reversed_at.as_deref().map(huimin_domain::stored_time_text).unwrap_or_default()) " · " (c.reversal_reason.clone().unwrap_or_default()) }
        }
        article.document data-forget=(format!("stay-{}", c.person_id)) {
            header.letterhead {
                h1 { (facility) }
                p { "健康扶贫“一站式”结算单" }
                p.small.mono { (ctx.t("结算单号 ", "Bill no. ")) (c.claim_no) }
            }
            (stay.markup(&ctx))
            (bill_markup(&ctx, &c.bill, &set))
            (basis_markup(&ctx, &basis))
            section.card.amount-due {
                p { (ctx.t("个人负担（患者支付）", "The patient pays")) " " strong.big { (yuan(c.bill.patient_total)) } }
                p { (ctx.t("人民币大写：", "In capitals: ")) strong { (c.bill.patient_total.in_capitals()) } }
                p.small { (ctx.t("各基金支付合计 ", "The funds pay ")) (yuan(c.bill.funds_total)) "（" (c.bill.funds_total.in_capitals()) "）" }
            }
            footer.signatures {
                p { (ctx.t("结算员：", "Settled by: ")) (clerk) " · " (settled_at) (ctx.t("（北京时间）", " (Beijing time)")) }
                p { span { (ctx.t("患者（家属）签字：", "Patient (or family): ")) "________________" } " " span { (ctx.t("结算员签字：", "Clerk: ")) "________________" } }
                p.seal { (ctx.t("（医院结算专用章）", "(the hospital's settlement seal)")) }
                div.verify {
                    div.qr { (maud::PreEscaped(qr)) }
                    p.small { (ctx.t("核验码 ", "Verification code ")) span.mono { (code) } br; (ctx.t("扫码或在惠民系统“结算单核验”中输入结算单号和核验码，可核对本单金额。", "Scan, or enter the bill number and code in Huimin, to check this bill's amounts.")) }
                }
            }
        }
        p.noprint { button.primary type="button" data-print="a4" { (ctx.t("打印结算单（A4）", "Print the bill (A4)")) } " "
            button type="button" data-print="a5" { (ctx.t("打印（A5）", "Print (A5)")) } " "
            a.button href=(format!("/settlement/claims/{}/bill.pdf", c.claim_no)) { "PDF（A4）" } " "
            a.button href=(format!("/settlement/claims/{}/bill.pdf?paper=a5", c.claim_no)) { "PDF（A5）" } " "
            a href="/settlement/claims" { (ctx.t("返回列表", "Back to the list")) } }
        @if can_reverse {
            details.card.noprint {
                summary { (ctx.t("冲销此结算", "Reverse this settlement")) }
                form method="post" action=(format!("/settlement/claims/{no}/reverse")) {
                    (csrf(&ctx))
                    label { (ctx.t("冲销原因", "Reason")) input name="reason" required minlength="2"; }
                    button type="submit" { (ctx.t("冲销", "Reverse")) }
                }
            }
        }
    };
    Ok(layout::page(&ctx, &format!("{} {}", ctx.t("结算单", "Bill"), no), "/settlement", body))
}

/// `GET /settlement/claims/{no}/bill.pdf?paper=a4|a5`: the one bill as a PDF, with what the page
/// shows (as the user may see it) and the fonts in the file.
pub async fn bill_pdf(state: State, ctx: Ctx, Path(no): Path<String>, Query(q): Query<crate::params::PaperQuery>) -> WebResult<Response> {
    use huimin_app::documents::{self, Block};
    let paper = q.paper(documents::Paper::A4)?;
    let view = load_bill(&state, &ctx, &no, "pdf").await?;
    let c = &view.c;
    let stay = view.stay();
    let text = |t: String| Block::Text { text: t, strong: false };
    let days = (c.claim.discharge - c.claim.admission).num_days().max(1);
    let diagnoses: Vec<String> = stay.diagnoses.iter().map(|(code, name)| format!("{code}{}", name.as_ref().map(|n| format!(" {n}")).unwrap_or_default())).collect();
    let mut blocks = vec![
        Block::Title(view.facility.clone()),
        text("健康扶贫“一站式”结算单".into()),
        text(format!("结算单号 {} · 住院号 {}", c.claim_no, stay.visit_no)),
        Block::Gap,
        text(format!("患者 {} · 证件号码 {} · {}", view.patient, view.id_number, stay.category)),
        text(format!("{}（{}{}）", view.facility, c.claim.level.label_zh(), if c.claim.in_county { "，县域内" } else { "，县域外" })),
        text(format!("入出院日期 {} 至 {} · 住院 {days} 天", c.claim.admission, c.claim.discharge)),
        text(format!("诊断 {}{}", if diagnoses.is_empty() { "—".to_string() } else { diagnoses.join("；") }, if stay.withheld > 0 { " 保密病种" } else { "" })),
        Block::Gap,
        Block::Row(vec![("项目".into(), 3.0), ("合计".into(), 1.2), ("年度累计（前→后）".into(), 1.8)]),
        Block::Row(vec![("总费用".into(), 3.0), (yuan(c.bill.total), 1.2), (String::new(), 1.8)]),
    ];
    for l in &c.bill.lines {
        blocks.push(Block::Row(vec![(format!("{}（{}）", l.layer_name, l.fund.label_zh()), 3.0), (yuan(l.total), 1.2), (format!("{} → {}", yuan(l.before.paid), yuan(l.after.paid)), 1.8)]));
    }
    blocks.push(Block::Row(vec![("各基金合计".into(), 3.0), (yuan(c.bill.funds_total), 1.2), (String::new(), 1.8)]));
    blocks.push(Block::Row(vec![("个人负担".into(), 3.0), (yuan(c.bill.patient_total), 1.2), (String::new(), 1.8)]));
    blocks.push(Block::Gap);
    blocks.push(Block::Text { text: format!("个人负担（患者支付） {}", yuan(c.bill.patient_total)), strong: true });
    blocks.push(text(format!("人民币大写：{}", c.bill.patient_total.in_capitals())));
    blocks.push(text(format!("各基金支付合计 ¥{}（{}）", c.bill.funds_total, c.bill.funds_total.in_capitals())));
    if c.status == ClaimStatus::Reversed {
        blocks.push(text(format!("已冲销 · {} · {}", view.reversed_by.clone().unwrap_or_default(), c.reversal_reason.clone().unwrap_or_default())));
    }
    blocks.push(Block::Gap);
    blocks.push(text("计算依据".into()));
    for b in &view.basis {
        blocks.push(text(format!("{}：{}（{}）", b.layer_name, b.rule, b.source)));
    }
    blocks.push(Block::Gap);
    blocks.push(text(format!("结算员：{} · {}（北京时间）", view.clerk, huimin_domain::stored_time_text(&c.settled_at))));
    blocks.push(text("患者（家属）签字：________________    结算员签字：________________".into()));
    blocks.push(text("（医院结算专用章）".into()));
    blocks.push(text(format!("核验码 {}：在惠民系统“结算单核验”中输入结算单号和核验码，可核对本单金额。", view.code)));
    crate::params::pdf_answer(&blocks, paper, &format!("bill-{}.pdf", c.claim_no))
}

#[derive(Deserialize, Default)]
pub struct VerifyQuery {
    no: Option<crate::params::Short>,
    code: Option<crate::params::Short>,
}

/// `GET /settlement/verify?no=&code=`: whether a printed bill is the one the system settled —
/// its verification code matches — and, if so, its amounts to compare with the paper.
pub async fn verify(state: State, ctx: Ctx, Query(q): Query<VerifyQuery>) -> WebResult<Markup> {
    ctx.require(Permission::ViewClaims)?;
    let no = q.no.as_ref().map_or("", |n| n.0.trim());
    let code = q.code.as_ref().map(|c| c.0.trim().to_ascii_uppercase()).unwrap_or_default();
    let found = match no {
        "" => None,
        no => state.store.claim(no).await?.filter(|c| claim_visible(&ctx, c)),
    };
    let answer = found.as_ref().map(|c| (state.store.bill_code(c) == code, c));
    if let Some((_, c)) = &answer {
        state.store.append_audit(&ctx.audit("claim.verify", format!("claim {}", c.claim_no), "")).await?;
    }
    let body = html! {
        form.filters.card method="get" action="/settlement/verify" {
            label { (ctx.t("结算单号", "Bill number")) input name="no" value=(no) required; }
            label { (ctx.t("核验码", "Verification code")) input name="code" value=(code) required size="18"; }
            button.primary type="submit" { (ctx.t("核验", "Check")) }
        }
        @match (no.is_empty(), &answer) {
            (true, _) => {},
            (false, None) => { p.alert.error role="alert" { (ctx.t("没有这张结算单（或不在您的查看范围内）", "No such bill here (or not yours to see)")) } },
            (false, Some((false, _))) => { p.alert.error role="alert" { (ctx.t("核验码不符：这张单据不是本系统出具的原样，请勿据此付款或报销", "The code does not match: this paper is not the bill as settled")) } },
            (false, Some((true, c))) => {
                p.alert.ok role="status" { (ctx.t("核验通过：本系统出具的结算单，金额如下，请与纸质单据核对。", "Verified: a bill of this system; compare its amounts with the paper.")) }
                section.card.facts { dl {
                    dt { (ctx.t("入出院日期", "Stay")) } dd { (c.claim.admission) " 至 " (c.claim.discharge) }
                    dt { (ctx.t("总费用", "Total")) } dd { (yuan(c.bill.total)) }
                    dt { (ctx.t("各基金支付", "Funds")) } dd { (yuan(c.bill.funds_total)) }
                    dt { (ctx.t("个人负担", "Patient")) } dd { (yuan(c.bill.patient_total)) " （" (c.bill.patient_total.in_capitals()) "）" }
                    dt { (ctx.t("状态", "Status")) } dd { @if c.status == ClaimStatus::Reversed { span.badge { (ctx.t("已冲销", "Reversed")) } } @else { span.badge.ok { (ctx.t("已结算", "Settled")) } } }
                } }
            },
        }
    };
    Ok(layout::page(&ctx, ctx.t("结算单核验", "Check a bill"), "/settlement/claims", body))
}

/// `/settlement/exceptions`: the stays let to be settled although they overlap a settled one,
/// and the form to let one (the medical insurance bureau, the health bureau).
pub async fn exceptions(state: State, ctx: Ctx) -> WebResult<Markup> {
    exceptions_page(&state, &ctx, None).await
}

async fn exceptions_page(state: &State, ctx: &Ctx, message: Option<Result<String, String>>) -> WebResult<Markup> {
    ctx.require(Permission::ApproveStayException)?;
    let list = state.store.stay_exceptions(ctx.user.region).await?;
    let facilities = state.store.all_facilities().await?;
    let mut codes: Vec<&huimin_domain::Facility> = facilities.values().collect();
    codes.sort_by(|a, b| a.code.cmp(&b.code));
    let body = html! {
        @match &message { Some(Ok(m)) => p.alert.ok role="status" { (m) }, Some(Err(m)) => p.alert.error role="alert" { (m) }, None => {} }
        p { (ctx.t("同一人住院时间重叠的结算会被拒绝。确属特殊情况（如转院时首院出院日期登记延后）的，在此登记这一次住院（人员、医疗机构、入出院日期）和原因，结算窗口即可结算一次。每次登记都记入审计日志。",
                   "A stay overlapping one already settled is refused. For a real exception, let this one stay (person, facility, dates) with the reason; the window may then settle it once. Every exception is audited.")) }
        form.card.grid method="post" action="/settlement/exceptions" {
            (csrf(ctx))
            label { (ctx.t("患者证件号码（18 位）", "Patient's ID number")) input name="id_number" required autocomplete="off"; }
            label { (ctx.t("医疗机构编码", "Facility code")) input name="facility" required list="facility-codes"; }
            datalist id="facility-codes" { @for f in &codes { option value=(f.code) { (f.name) } } }
            label { (ctx.t("入院日期", "Admission")) input type="date" name="admission" required; }
            label { (ctx.t("出院日期", "Discharge")) input type="date" name="discharge" required; }
            label.grow { (ctx.t("原因", "Reason")) input name="reason" required minlength="4"; }
            button.primary type="submit" { (ctx.t("登记例外", "Let this stay")) }
        }
        @if list.is_empty() { (layout::empty_state(ctx.t("还没有登记例外", "No exception yet"))) } @else {
            table.card.list {
                thead { tr { th { (ctx.t("患者", "Patient")) } th { (ctx.t("医疗机构", "Facility")) } th { (ctx.t("入出院日期", "Stay")) } th { (ctx.t("原因", "Reason")) } th { (ctx.t("登记", "Let by")) } th { (ctx.t("使用", "Used by")) } } }
                tbody { @for e in &list { tr {
                    td { (e.person_name) }
                    td { (facilities.get(&e.stay.facility_code).map_or(e.stay.facility_code.as_str(), |f| f.name.as_str())) }
                    td { (e.stay.admission) " 至 " (e.stay.discharge) }
                    td { (e.stay.reason) }
                    td { (e.stay.approved_by) " · " (huimin_domain::stored_time_text(&e.approved_at)) }
                    td.mono { @match &e.used_by_claim { Some(no) => { (no) }, None => { span.muted { (ctx.t("未使用", "Not yet")) } } } }
                } } }
            }
        }
    };
    Ok(layout::page(ctx, ctx.t("重叠住院例外", "Overlapping stays"), "/settlement/exceptions", body))
}

#[derive(Deserialize)]
pub struct ExceptionForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    id_number: crate::params::Short,
    facility: crate::params::Short,
    admission: String,
    discharge: String,
    reason: crate::params::Reason,
}

pub async fn approve_exception(state: State, ctx: Ctx, Form(f): Form<ExceptionForm>) -> WebResult<Markup> {
    ctx.check_csrf(&f.csrf)?;
    ctx.require(Permission::ApproveStayException)?;
    let date = |label: &str, s: &str| Date::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| format!("{label}「{s}」应为 YYYY-MM-DD"));
    let (id, admission, discharge) = match (huimin_domain::IdNumber::parse(f.id_number.trim()), date("入院日期", &f.admission), date("出院日期", &f.discharge)) {
        (Ok(id), Ok(a), Ok(d)) => (id, a, d),
        (Err(e), _, _) => return exceptions_page(&state, &ctx, Some(Err(e.to_string()))).await,
        (_, Err(e), _) | (_, _, Err(e)) => return exceptions_page(&state, &ctx, Some(Err(e))).await,
    };
    let Some(person) = state.store.search_persons(ctx.user.region, id.as_str(), 5).await?.into_iter().find(|h| h.id_number == id) else {
        return exceptions_page(&state, &ctx, Some(Err("此人不在本地区建档立卡名单中".into()))).await;
    };
    let e = huimin_store::NewStayException {
        person_id: person.person_id,
        facility_code: f.facility.trim().to_string(),
        admission,
        discharge,
        reason: f.reason.trim().to_string(),
        approved_by: ctx.user.username.clone(),
    };
    let outcome = match settlement::approve_stay_exception(&state.store, &e, &ctx.audit("stay.exception", "", "")).await {
        Ok(_) => Ok(format!("{}{} {} 至 {}", ctx.t("已登记：", "Let: "), person.name, e.admission, e.discharge)),
        Err(e) => Err(settle_message(&e).ok_or_else(|| WebError::Internal(e.into()))?),
    };
    exceptions_page(&state, &ctx, Some(outcome)).await
}

#[derive(Deserialize)]
pub struct ReverseForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    reason: crate::params::Reason,
}

pub async fn reverse(state: State, ctx: Ctx, Path(no): Path<String>, Form(f): Form<ReverseForm>) -> WebResult<Response> {
    ctx.check_csrf(&f.csrf)?;
    let facility = clerk_facility(&ctx)?;
    let c = state.store.claim(&no).await?.ok_or(WebError::NotFound)?;
    if c.facility_code != facility {
        return Err(WebError::NotFound);
    }
    match settlement::reverse_claim(&state.store, &no, &f.reason, &ctx.user.username, &ctx.audit("settlement.reverse", "", "")).await {
        Ok(_) => Ok(Redirect::to(&format!("/settlement/claims/{no}")).into_response()),
        Err(e) => Err(settle_error(e)),
    }
}

/// Whose claims the user sees in lists: a clerk their facility's, the others their region's.
fn claims_of(ctx: &Ctx) -> huimin_store::ClaimsOf<'_> {
    match (&ctx.user.facility_code, ctx.can(Permission::Settle)) {
        (Some(f), true) => huimin_store::ClaimsOf::Facility(f),
        _ => huimin_store::ClaimsOf::Region(ctx.user.region),
    }
}

/// `/settlement/claims?page=`: the claims, newest first, a page at a time.
pub async fn claims(state: State, ctx: Ctx, Query(q): Query<ClaimsQuery>) -> WebResult<Markup> {
    ctx.require(Permission::ViewClaims)?;
    let per_page = q.limit.map_or(50, |l| l.0);
    let page = q.page.map_or(1, |p| p.0);
    let (list, total) = state.store.claims_page(claims_of(&ctx), per_page, (page - 1) * per_page).await?;
    let table = claims_table(&state, &ctx, &list).await?;
    let body = html! {
        p.noprint { a href="/settlement/verify" { (ctx.t("结算单核验", "Check a bill")) } }
        (table)
        (layout::pager(&ctx, &format!("/settlement/claims?limit={per_page}"), page, per_page, total))
    };
    Ok(layout::page(&ctx, ctx.t("结算记录", "Settlements"), "/settlement/claims", body))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClaimsQuery {
    /// Per page, at most 1,000 (default 200; 50 on the page)
    #[param(inline)]
    limit: Option<crate::params::PerPage>,
    /// From 1
    #[param(inline)]
    page: Option<crate::params::Page>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ClaimsAnswer {
    claims: Vec<Disclosed<StoredClaim>>,
}

/// The claims the user may see, newest first
///
/// A clerk sees their facility's; diagnoses under the disclosure rule.
#[utoipa::path(get, path = "/api/claims", tag = "Settlement", params(ClaimsQuery), responses((status = 200, body = ClaimsAnswer)))]
pub async fn api_claims(state: State, ctx: Ctx, Query(q): Query<ClaimsQuery>) -> WebResult<Json<ClaimsAnswer>> {
    ctx.require(Permission::ViewClaims)?;
    let limit = q.limit.map_or(200, |l| l.0);
    let page = q.page.map_or(1, |p| p.0);
    let (list, _) = state.store.claims_page(claims_of(&ctx), limit, (page - 1) * limit).await?;
    let viewer = ctx.viewer(&state).await;
    let list: Vec<Disclosed<StoredClaim>> = list.into_iter().filter_map(|c| viewer.show_own(c)).collect();
    Ok(Json(ClaimsAnswer { claims: list }))
}

// ----- policies -----

pub async fn policies(state: State, ctx: Ctx) -> WebResult<Markup> {
    if !ctx.can(Permission::ManagePolicies) {
        ctx.require(Permission::ViewClaims)?;
    }
    policies_page(&state, &ctx, None).await
}

async fn policies_page(state: &State, ctx: &Ctx, message: Option<Result<String, String>>) -> WebResult<Markup> {
    let set = state.policies.read().await.clone();
    let body = html! {
        @match &message {
            Some(Ok(m)) => p.alert.ok role="status" { (m) },
            Some(Err(m)) => pre.alert.error role="alert" { (m) },
            None => {},
        }
        table.card {
            thead { tr { th { (ctx.t("编号", "Id")) } th { (ctx.t("名称", "Name")) } th { (ctx.t("区划", "Region")) } th { (ctx.t("有效期", "In force")) } th.num { (ctx.t("层数", "Layers")) } th.num { (ctx.t("假设数值", "Assumed numbers")) } th {} } }
            tbody { @for (s, p) in set.all() { @if ctx.user.region.contains(p.region) || p.region.contains(ctx.user.region) { tr {
                td.mono { (s.id) @if s.draft { " " span.badge.warn { (ctx.t("草案", "Draft")) } } }
                td { (p.name) } td.mono { (p.region) } td { (p.effective_from) " — " (p.effective_to) }
                td.num { (p.layers.len()) } td.num { (p.assumptions.len()) }
                td { @if ctx.can(Permission::ManagePolicies) { a href=(format!("/policies/{}/simulate", s.id)) { (ctx.t("模拟测算", "Simulate")) } } }
            } } } }
        }
        @if ctx.can(Permission::ManagePolicies) {
            h2 { (ctx.t("载入政策文件", "Load a policy file")) }
            form.card.upload method="post" action="/policies" enctype="multipart/form-data" {
                (csrf(ctx))
                label { (ctx.t("政策文件", "Policy file")) input type="file" name="file" accept=".toml" required; }
                p.small.muted { (ctx.t("每道保障线的起付线、比例、封顶线和依据文件写在政策文件中。", "A policy file gives each line of protection its threshold, rates, cap and source document. "))
                    a href="/policies/template.toml" download { (ctx.t("下载政策模板（县健康扶贫五道保障线示例，带注释）", "Download a policy template (a county's five lines of protection, annotated)")) } }
                label.check { input type="checkbox" name="draft" value="1" checked; (ctx.t("作为草案（只用于模拟，不用于结算）", "As a draft (simulation only)")) }
                button.primary type="submit" { (ctx.t("检查并载入", "Check and load")) }
            }
        }
    };
    Ok(layout::page(ctx, ctx.t("结算政策", "Settlement policies"), "/policies", body))
}

pub async fn upload_policy(state: State, ctx: Ctx, mut multipart: Multipart) -> WebResult<Markup> {
    ctx.require(Permission::ManagePolicies)?;
    let (mut token, mut name, mut body, mut draft) = (String::new(), String::new(), String::new(), false);
    while let Some(field) = multipart.next_field().await.map_err(|e| WebError::BadRequest(e.to_string()))? {
        match field.name() {
            Some("_csrf") => token = field.text().await.unwrap_or_default(),
            Some("draft") => draft = true,
            Some("file") => {
                name = field.file_name().unwrap_or("policy.toml").to_string();
                body = field.text().await.map_err(|_| WebError::BadRequest("政策文件应为 UTF-8 文本".into()))?;
            }
            _ => {}
        }
    }
    ctx.check_csrf(&token)?;
    let message = match load_policy(&state, &ctx, &name, &body, draft).await {
        Ok(p) => Ok(format!("{}{}（{}）", ctx.t("已载入 ", "Loaded "), p.name, p.id)),
        Err(WebError::BadRequest(m)) => Err(m),
        Err(e) => return Err(e),
    };
    policies_page(&state, &ctx, Some(message)).await
}

/// Checks a policy file (its region must touch the user's) and stores it; the policies in use
/// are reloaded. Nothing is stored when anything is wrong.
async fn load_policy(state: &State, ctx: &Ctx, name: &str, body: &str, draft: bool) -> WebResult<huimin_store::StoredPolicy> {
    ctx.require(Permission::ManagePolicies)?;
    let parsed = huimin_policy::parse_policy(name, body).map_err(|e| WebError::BadRequest(e.to_string()))?;
    if !ctx.user.region.contains(parsed.region) && !parsed.region.contains(ctx.user.region) {
        return Err(WebError::BadRequest(format!("政策区划 {} 不在您的管辖范围内", parsed.region)));
    }
    let p = match settlement::load_policy(&state.store, name, body, draft, &ctx.audit("policy.load", name.to_string(), "")).await {
        Ok(p) => p,
        Err(SettleError::Store(e)) => return Err(WebError::Internal(e.into())),
        Err(e) => return Err(WebError::BadRequest(e.to_string())),
    };
    *state.policies.write().await = PolicySet::load(&state.store).await.map_err(WebError::Internal)?;
    state.store.policies().await?.into_iter().find(|s| s.id == *p.id).ok_or(WebError::NotFound)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApiPolicyQuery {
    /// The file's name, for the messages
    name: Option<String>,
    /// true: only to simulate
    draft: Option<bool>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PoliciesAnswer {
    policies: Vec<huimin_store::StoredPolicy>,
}

/// The stored settlement policies with their files
#[utoipa::path(get, path = "/api/policies", tag = "Settlement", responses((status = 200, body = PoliciesAnswer)))]
pub async fn api_policies(state: State, ctx: Ctx) -> WebResult<Json<PoliciesAnswer>> {
    if !ctx.can(Permission::ManagePolicies) {
        ctx.require(Permission::ViewClaims)?;
    }
    Ok(Json(PoliciesAnswer { policies: state.store.policies().await? }))
}

/// `GET /policies/template.toml`: a county plan's five lines of protection, annotated, to start from.
pub async fn policy_template(ctx: Ctx) -> WebResult<Response> {
    ctx.require(Permission::ManagePolicies)?;
    let disposition = format!("attachment; filename=\"policy-template.toml\"; filename*=UTF-8''{}", crate::auth::urlencode("结算政策模板.toml"));
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()), (axum::http::header::CONTENT_DISPOSITION, disposition)], include_str!("../../../policies/county-plan-2020.toml")).into_response())
}

/// Check and store a policy file, or a draft to simulate
///
/// The body is the policy file (TOML, docs/policy-format.md).
#[utoipa::path(post, path = "/api/policies", tag = "Settlement", params(ApiPolicyQuery), request_body(content = String, content_type = "text/plain"),
    responses((status = 201, description = "The stored policy", body = huimin_store::StoredPolicy)))]
pub async fn api_load_policy(state: State, ctx: Ctx, headers: HeaderMap, Query(q): Query<ApiPolicyQuery>, body: String) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let name = q.name.unwrap_or_else(|| "policy.toml".into());
    let r = load_policy(&state, &ctx, &name, &body, q.draft.unwrap_or(false)).await;
    crate::error::json_answer(StatusCode::CREATED, r)
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SimulateQuery {
    /// Discharged from (default: the first day of the last year with claims)
    #[param(inline)]
    from: Option<crate::params::DateOrEmpty>,
    /// Discharged until (default: that year's last day)
    #[param(inline)]
    to: Option<crate::params::DateOrEmpty>,
    /// Region code (default: the user's region)
    #[param(pattern = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$")]
    region: Option<String>,
}

/// What a (draft) policy would have paid for past claims, by fund and region
#[utoipa::path(get, path = "/api/policies/{id}/simulate", tag = "Settlement", params(("id" = String, Path, description = "Policy id"), SimulateQuery),
    responses((status = 200, body = settlement::Simulation)))]
pub async fn api_simulate(state: State, ctx: Ctx, Path(id): Path<String>, Query(q): Query<SimulateQuery>) -> WebResult<Json<settlement::Simulation>> {
    Ok(Json(run_simulation(&state, &ctx, &id, &q).await?.0))
}

/// Settles the claims of a region and span again under a policy; the region and dates used.
async fn run_simulation(state: &State, ctx: &Ctx, id: &str, q: &SimulateQuery) -> WebResult<(settlement::Simulation, RegionCode, Date, Date)> {
    ctx.require(Permission::ManagePolicies)?;
    let set = state.policies.read().await.clone();
    let draft = set.get(id).ok_or(WebError::NotFound)?.clone();
    let region = crate::registry::region_param(ctx, q.region.as_deref())?;
    // By default the last year that has claims here (a draft for next year is tried on this one's).
    let year = match state.store.last_claim_year(region).await? {
        Some(y) => y,
        None => chrono::Datelike::year(&draft.effective_from) - 1,
    };
    let from = crate::params::day(q.from).unwrap_or(Date::from_ymd_opt(year, 1, 1).unwrap_or_default());
    let to = crate::params::day(q.to).unwrap_or(Date::from_ymd_opt(year, 12, 31).unwrap_or_default());
    let sim = settlement::simulate(&state.store, &draft, region, from, to).await.map_err(|e| WebError::Internal(e.into()))?;
    Ok((sim, region, from, to))
}

pub async fn simulate(state: State, ctx: Ctx, Path(id): Path<String>, Query(q): Query<SimulateQuery>) -> WebResult<Markup> {
    let (sim, region, from, to) = run_simulation(&state, &ctx, &id, &q).await?;
    let name = state.policies.read().await.get(&id).map(|p| p.name.clone()).unwrap_or_default();
    let diff = |a: Money, s: Money| {
        let d = s.fen() - a.fen();
        if d > 0 { format!("+{}", huimin_domain::format::yuan_fen(d)) } else { huimin_domain::format::yuan_fen(d) }
    };
    let picker = layout::region_picker(&state, &ctx, ctx.t("区划", "Region"), Some(region)).await?;
    let body = html! {
        form.filters.card method="get" {
            (picker)
            label { (ctx.t("出院日期从", "Discharged from")) input type="date" name="from" value=(from); }
            label { (ctx.t("至", "to")) input type="date" name="to" value=(to); }
            button.primary type="submit" { (ctx.t("测算", "Run")) }
        }
        p { (ctx.t("按此政策重新测算已结算的 ", "Settled again under the draft: ")) (sim.claims) (ctx.t(" 笔（每人按原结算顺序，年度累计从零开始）。", " claims (each person in the original order, from empty accumulators).")) }
        h2 { (ctx.t("按基金", "By fund")) }
        table.card {
            thead { tr { th { (ctx.t("基金", "Fund")) } th.num { (ctx.t("实际支付", "Paid")) } th.num { (ctx.t("按此政策测算", "Draft")) } th.num { (ctx.t("差额", "Difference")) } } }
            tbody { @for f in &sim.by_fund { tr { td { (f.fund.code()) " " (f.fund.label_zh()) } td.num { (yuan(f.actual)) } td.num { (yuan(f.simulated)) } td.num { (diff(f.actual, f.simulated)) } } } }
        }
        h2 { (ctx.t("按区划", "By region")) }
        table.card {
            thead { tr { th { (ctx.t("区划", "Region")) } th.num { (ctx.t("笔数", "Claims")) } th.num { (ctx.t("总费用", "Total")) } th.num { (ctx.t("基金实际", "Funds paid")) } th.num { (ctx.t("基金（测算）", "Funds, draft")) } th.num { (ctx.t("个人实际", "Patients paid")) } th.num { (ctx.t("个人（测算）", "Patients, draft")) } } }
            tbody { @for r in &sim.by_region { tr {
                td.mono { (r.region) } td.num { (r.claims) } td.num { (yuan(r.total)) } td.num { (yuan(r.actual_funds)) } td.num { (yuan(r.simulated_funds)) } td.num { (yuan(r.actual_patient)) } td.num { (yuan(r.simulated_patient)) }
            } } }
        }
        @if !sim.refused.is_empty() {
            h2 { (ctx.t("按此政策无法结算的", "Not settled by the draft")) }
            ul.small { @for (no, why) in &sim.refused { li { (no) "：" (why) } } }
        }
    };
    Ok(layout::page(&ctx, &format!("{} · {}", ctx.t("政策模拟", "Policy simulation"), name), "/policies", body))
}

// ----- JSON API -----

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApiSettleQuery {
    /// true: compute the bill, store nothing
    #[serde(default)]
    preview: bool,
}

/// The stay is settled already: the bill that holds it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AlreadySettled {
    claim_no: String,
}

/// Settle a claim through the five lines of protection, or preview it
///
/// At the clerk's own facility; amounts in fen. The answer is the one bill.
#[utoipa::path(post, path = "/api/settlements", tag = "Settlement", params(ApiSettleQuery), request_body = SettleRequest,
    responses(
        (status = 200, description = "Preview: the bill", body = huimin_policy::Bill),
        (status = 201, description = "The one bill", body = huimin_policy::Bill),
        (status = 409, description = "The stay is settled already (the same claim number, or an overlapping inpatient stay of the person); claim_no is the bill that holds it", body = ProblemWith<AlreadySettled>, content_type = "application/problem+json"),
    ))]
pub async fn api_settle(state: State, ctx: Ctx, headers: HeaderMap, Query(q): Query<ApiSettleQuery>, Json(mut req): Json<SettleRequest>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    req.facility_code = clerk_facility(&ctx)?;
    patient_header(&state, &ctx, req.person_id).await?;
    let set = state.policies.read().await.clone();
    let result = if q.preview {
        settlement::preview(&state.store, &set, &req).await.map(|(_, bill)| bill)
    } else {
        settlement::settle_claim(&state.store, &set, &req, &ctx.user.username, &ctx.audit("settlement.settle", "", "api")).await
    };
    match result {
        Ok(bill) => Ok((if q.preview { StatusCode::OK } else { StatusCode::CREATED }, Json(bill)).into_response()),
        // The stay is settled already: 409 with the bill that holds it.
        Err(SettleError::AlreadySettled { claim_no, message }) => Ok(problem_with(StatusCode::CONFLICT, message, AlreadySettled { claim_no })),
        Err(e) => Err(settle_error(e)),
    }
}

/// A claim as the API answers it: the claim as the user may see it, and the basis of each amount.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ClaimAnswer {
    #[serde(flatten)]
    claim: Disclosed<StoredClaim>,
    basis: Vec<huimin_policy::Basis>,
}

/// A stored claim with its bill and status, and the basis of each amount
///
/// Diagnoses as the user may see them.
#[utoipa::path(get, path = "/api/settlements/{no}", tag = "Settlement", params(("no" = String, Path, description = "Claim number")), responses((status = 200, body = ClaimAnswer)))]
pub async fn api_claim(state: State, ctx: Ctx, Path(no): Path<String>) -> WebResult<Json<ClaimAnswer>> {
    let c = state.store.claim(&no).await?.ok_or(WebError::NotFound)?;
    require_claim_access(&ctx, &c)?;
    // The basis from the whole claim (a layer for a disease group names the group, not the code).
    let basis = state.policies.read().await.get(&c.policy_id).map(|p| p.basis(&c.claim, &c.bill)).unwrap_or_default();
    let claim = ctx.viewer(&state).await.show_own(c).ok_or(WebError::NotFound)?;
    state.store.append_audit(&ctx.audit("claim.view", format!("claim {no}"), "api")).await?;
    Ok(Json(ClaimAnswer { claim, basis }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ApiReverse {
    /// Why (4+ characters)
    #[schema(inline)]
    reason: crate::params::Reason,
}

/// Reverse (冲销) a settled claim
#[utoipa::path(post, path = "/api/settlements/{no}/reverse", tag = "Settlement", params(("no" = String, Path, description = "Claim number")), request_body = ApiReverse,
    responses((status = 200, description = "The reversed claim", body = Disclosed<StoredClaim>)))]
pub async fn api_reverse(state: State, ctx: Ctx, headers: HeaderMap, Path(no): Path<String>, Json(body): Json<ApiReverse>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let facility = clerk_facility(&ctx)?;
    let c = state.store.claim(&no).await?.ok_or(WebError::NotFound)?;
    if c.facility_code != facility {
        return Err(WebError::NotFound);
    }
    match settlement::reverse_claim(&state.store, &no, &body.reason, &ctx.user.username, &ctx.audit("settlement.reverse", "", "api")).await {
        Ok(c) => Ok(Json(ctx.viewer(&state).await.show_own(c)).into_response()),
        Err(e) => Err(settle_error(e)),
    }
}
