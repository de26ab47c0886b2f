//! Health pages: the household's health file (examinations, one card per disease), screening
//! campaigns and their progress, the three batches, the treatment ledger, the benefit card, the
//! disease catalogue, and their JSON API.
//!
//! Every card, examination, batch row and ledger line is rendered as the viewer may see it
//! (`huimin_domain::disclosure`): confidential diagnoses for those who care for the person, 保密病种
//! with a form to open them (reason logged) for the other health roles.

use axum::Json;
use axum::extract::{Multipart, Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use huimin_app::health::{self, BatchRow, CardInput, HealthError};
use huimin_domain::{CareBatch, Date, Disclosed, DiseaseCatalog, ExamReadings, Permission, Prognosis, Record, RegionCode, TreatmentStatus};
use huimin_store::{Screening, ScreeningWrite, StoredScreening, StoredCard, StoredExam, StoredHousehold, StoredPerson, TreatmentUpdate};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use crate::State;
use crate::registry::region_param;
use crate::auth::Ctx;
use crate::error::{ProblemWith, WebError, WebResult, problem_with};
use crate::layout::{self, csrf, dash, num, percent};
use crate::registry::{RevealForm, given_reason, household_in_reach, person_in_reach};

use huimin_app::clock::today;

/// What the user did wrong is shown to them; anything else is an internal error.
fn user_error(e: HealthError) -> WebError {
    match e {
        HealthError::Invalid(m) => WebError::BadRequest(m),
        HealthError::Catalog(e) => WebError::BadRequest(e.to_string()),
        HealthError::Store(huimin_store::StoreError::Refused(m) | huimin_store::StoreError::Conflict(m)) => WebError::BadRequest(m),
        HealthError::Store(e) => e.into(),
    }
}

fn store_user_error(e: huimin_store::StoreError) -> WebError {
    user_error(HealthError::Store(e))
}

/// A diagnosis the viewer may see (a `Disclosed` record's), marked if it is confidential.
fn disease_label(ctx: &Ctx, code: &str, name: &str, confidential: bool) -> Markup {
    html! { span.mono { (code) } " " (name) @if confidential { " " span.badge { (ctx.t("保密", "Confidential")) } } }
}

/// In place of diagnoses the viewer may not see.
fn withheld_label(ctx: &Ctx) -> Markup {
    html! { span.badge { (ctx.t("保密病种", "Confidential")) } }
}

// ----- the household's health file -----

#[derive(Deserialize, Default)]
pub struct HealthQuery {
    /// `new` or `updated`: the disease card just saved.
    card: Option<String>,
}

pub async fn household_health(state: State, ctx: Ctx, Path(no): Path<String>, Query(q): Query<HealthQuery>) -> WebResult<Markup> {
    render_health(state, ctx, &no, None, q.card.as_deref(), None).await
}

/// A form of the health file refused: whose, as sent, and why. It comes back open, as typed.
enum Refused<'a> {
    Card(i64, &'a CardForm, &'a str),
    Exam(i64, &'a ExamForm, &'a str),
}

async fn render_health(state: State, ctx: Ctx, no: &str, opened: Option<i64>, saved: Option<&str>, refused: Option<Refused<'_>>) -> WebResult<Markup> {
    ctx.require(Permission::ViewHealth)?;
    let h = household_in_reach(&state, &ctx, no).await?;
    let members = state.store.household_members(&h.household.no).await?;
    let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
    let (cards, exams) = (state.store.disease_cards(&ids).await?, state.store.exams(&ids).await?);
    state.store.append_audit(&ctx.audit("health.view", format!("household {}", h.household.no), "")).await?;
    let viewer = match opened {
        Some(id) => ctx.viewer(&state).await.opened_health(id),
        None => ctx.viewer(&state).await,
    };
    let region = h.household.region;
    let about = |id: i64| Record::Person { id, region };
    let card_count = |id: i64| cards.iter().filter(|c| c.card.person_id == id).count();
    let shown: Vec<Disclosed<StoredCard>> = cards.iter().cloned().filter_map(|c| viewer.show(about(c.card.person_id), c)).collect();
    let exams: Vec<Disclosed<StoredExam>> = exams.into_iter().filter_map(|e| viewer.show(about(e.person_id), e)).collect();
    // Earlier values only of the cards shown.
    let revisions = state.store.card_revisions(&shown.iter().map(|c| c.id).collect::<Vec<_>>()).await?;
    let edit = ctx.can(Permission::EditHealth);
    let today = today();
    let body = html! {
        @match saved {
            Some("updated") => p.alert.ok { (ctx.t("一病一卡已更新，原记录保留在修改记录中", "The card was updated; its earlier values are kept")) },
            Some(_) => p.alert.ok { (ctx.t("一病一卡已登记", "The card was recorded")) },
            None => {},
        }
        p { a href=(format!("/households/{}", h.household.no)) { "← " (ctx.t("一户一档", "Household file")) } " · "
            a href=(format!("/households/{}/card", h.household.no)) { (ctx.t("健康医疗惠民卡", "Benefit card")) } }
        @for m in &members {
            @let sight = viewer.sight(about(m.id));
            section.card {
                h2 { (m.person.name.as_str()) " " small.muted { (m.person.relation.label_zh()) " · " (m.person.id_number.age_on(today)) (ctx.t(" 岁", " yrs")) } }
                h3 { (ctx.t("一病一卡", "One card per disease")) }
                @let mine: Vec<_> = shown.iter().filter(|c| c.card.person_id == m.id).collect();
                @let withheld = card_count(m.id) - mine.len();
                @if mine.is_empty() && withheld == 0 { p.muted { (ctx.t("无确诊疾病记录", "No diagnosed disease recorded")) } } @else {
                    table {
                        thead { tr { th { (ctx.t("疾病", "Disease")) } th { (ctx.t("确诊日期", "Diagnosed")) } th { (ctx.t("确诊机构", "Where")) } th { (ctx.t("预后", "Prognosis")) } th { (ctx.t("治疗方案", "Plan")) } } }
                        tbody {
                            @for c in &mine { tr {
                                td { (disease_label(&ctx, &c.card.disease_code, &c.card.disease_name, c.card.confidential)) }
                                td { @if let Some(d) = c.card.diagnosed_on { (d) } @else { (dash()) } }
                                td { (c.card.diagnosed_at) }
                                td { (c.card.prognosis.label_zh()) }
                                td { (c.card.plan) }
                            }
                            @if let Some(earlier) = revisions.get(&c.id) { tr.revisions { td colspan="5" {
                                details {
                                    summary { (ctx.t("修改记录 ", "Revisions ")) (earlier.len()) (ctx.t(" 次", "")) }
                                    ul { @for r in earlier { li {
                                        (huimin_domain::stored_time_text(&r.replaced_at)) " " (r.replaced_by) (ctx.t(" 修改前：", " replaced: "))
                                        (r.disease_name) "，" (ctx.t("确诊 ", "diagnosed ")) @if let Some(d) = r.diagnosed_on { (d) } @else { (dash()) }
                                        "，" (r.diagnosed_at) "，" (r.prognosis.label_zh()) "，" (r.plan)
                                        small.muted { "（" (huimin_domain::stored_time_text(&r.recorded_at)) " " (r.recorded_by) (ctx.t(" 登记）", " recorded)")) }
                                    } }
                                    }
                                }
                            } } }
                            }
                            @if withheld > 0 { tr { td colspan="5" { (withheld_label(&ctx)) } } }
                        }
                    }
                    @if withheld > 0 && sight.offers_break_glass {
                        details.reveal {
                            summary { (ctx.t("查看保密病种", "Open confidential diagnoses")) }
                            form method="post" action=(format!("/persons/{}/reveal-health", m.id)) {
                                (csrf(&ctx))
                                label { (ctx.t("查看原因（将记入审计日志）", "Reason (recorded in the audit log)")) input name="reason" required minlength="4"; }
                                button type="submit" { (ctx.t("查看", "Open")) }
                            }
                        }
                    }
                }
                @if edit {
                    @let sent = match refused { Some(Refused::Card(id, f, why)) if id == m.id => Some((id, f, why)), _ => None };
                    @let card = |get: fn(&CardForm) -> &str| sent.map_or(String::new(), |(_, f, _)| get(f).to_string());
                    details open[sent.is_some()] {
                        summary { (ctx.t("登记或更新疾病", "Record or update a disease")) }
                        form.filters method="post" action=(format!("/persons/{}/cards", m.id)) {
                            (csrf(&ctx))
                            @if let Some((_, _, why)) = sent { p.alert.error.grow role="alert" { (why) } }
                            p.muted.grow { (ctx.t("已有该病种的一病一卡时，保存即更新，原记录保留在修改记录中。", "A card for a code already recorded is updated; its earlier values are kept.")) }
                            label { (ctx.t("ICD-10 编码", "ICD-10 code")) input name="code" required placeholder="I10" value=(card(|f| &f.code)); }
                            label { (ctx.t("疾病名称（留空取目录名称）", "Name (empty: the catalogue's)")) input name="name" value=(card(|f| &f.name)); }
                            label { (ctx.t("确诊日期", "Diagnosed on")) input name="diagnosed_on" type="date" value=(card(|f| &f.diagnosed_on)); }
                            label { (ctx.t("确诊机构", "Diagnosed at")) input name="diagnosed_at" value=(card(|f| &f.diagnosed_at.0)); }
                            label { (ctx.t("预后", "Prognosis")) select name="prognosis" { option value="" { (ctx.t("按病种默认", "Default")) } @for p in Prognosis::ALL { option value=(p.code()) selected[card(|f| &f.prognosis) == p.code()] { (p.label_zh()) } } } }
                            label.grow { (ctx.t("治疗方案", "Plan")) input name="plan" value=(card(|f| &f.plan.0)); }
                            button.primary type="submit" { (ctx.t("保存", "Save")) }
                        }
                    }
                }
                @if ctx.can(Permission::SignContracts) {
                    details {
                        summary { (ctx.t("纳入重点人群（孕产妇、残疾人等）", "Add to a key group (pregnancy, disability…)")) }
                        form.filters method="post" action=(format!("/persons/{}/key-groups", m.id)) {
                            (csrf(&ctx))
                            label { (ctx.t("重点人群", "Key group")) select name="group" { @for g in huimin_domain::KeyGroup::ALL { option value=(g.code()) { (g.label_zh()) } } } }
                            label.grow { (ctx.t("依据", "Why")) input name="reason" required placeholder=(ctx.t("如：孕 12 周；残疾证号", "e.g. 12 weeks pregnant; disability card")); }
                            button.primary type="submit" { (ctx.t("保存", "Save")) }
                        }
                    }
                }
                h3 { (ctx.t("健康体检", "Physical examinations")) }
                @let mine: Vec<_> = exams.iter().filter(|e| e.person_id == m.id).collect();
                @if mine.is_empty() { p.muted { (ctx.t("无体检记录", "No examination recorded")) } } @else {
                    table {
                        thead { tr { th { (ctx.t("日期", "Date")) } th { (ctx.t("血压", "BP")) } th { (ctx.t("血糖", "Glucose")) } th { (ctx.t("身高", "Height")) } th { (ctx.t("体重", "Weight")) } th { "BMI" } th { (ctx.t("结论", "Findings")) } th { (ctx.t("机构", "Where")) } } }
                        tbody { @for e in &mine { tr {
                            td { (e.exam_date) }
                            td { @if let (Some(s), Some(d)) = (e.readings.systolic, e.readings.diastolic) { (s) "/" (d) } @else { (dash()) } }
                            td { @if let Some(g) = e.readings.glucose_tenths { (tenths(g)) } @else { (dash()) } }
                            td { @if let Some(h) = e.readings.height_cm { (h) " cm" } @else { (dash()) } }
                            td { @if let Some(w) = e.readings.weight_tenths { (tenths(w)) " kg" } @else { (dash()) } }
                            td { @if let Some(b) = e.readings.bmi_tenths() { (b / 10) "." (b % 10) } @else { (dash()) } }
                            td { (e.findings) } td { (e.examined_at) }
                        } } }
                    }
                }
                @if edit {
                    @let exam_sent = match refused { Some(Refused::Exam(id, f, why)) if id == m.id => Some((f, why)), _ => None };
                    @let exam = |get: fn(&ExamForm) -> &str| exam_sent.map_or(String::new(), |(f, _)| get(f).to_string());
                    details open[exam_sent.is_some()] {
                        summary { (ctx.t("登记体检", "Record an examination")) }
                        form.filters method="post" action=(format!("/persons/{}/exams", m.id)) {
                            (csrf(&ctx))
                            @if let Some((_, why)) = exam_sent { p.alert.error.grow role="alert" { (why) } }
                            label { (ctx.t("体检日期", "Date")) input name="exam_date" type="date" required value=(exam_sent.map_or(today.to_string(), |(f, _)| f.exam_date.clone())); }
                            label { (ctx.t("收缩压", "Systolic")) input name="systolic" inputmode="numeric" size="4" value=(exam(|f| &f.systolic)); }
                            label { (ctx.t("舒张压", "Diastolic")) input name="diastolic" inputmode="numeric" size="4" value=(exam(|f| &f.diastolic)); }
                            label { (ctx.t("血糖 mmol/L", "Glucose mmol/L")) input name="glucose" inputmode="decimal" size="4" value=(exam(|f| &f.glucose)); }
                            label { (ctx.t("身高 cm", "Height cm")) input name="height" inputmode="numeric" size="4" value=(exam(|f| &f.height)); }
                            label { (ctx.t("体重 kg", "Weight kg")) input name="weight" inputmode="decimal" size="4" value=(exam(|f| &f.weight)); }
                            label.grow { (ctx.t("体检结论", "Findings")) input name="findings" value=(exam(|f| &f.findings.0)); }
                            label { (ctx.t("体检机构", "Where")) input name="examined_at" value=(exam(|f| &f.examined_at.0)); }
                            button.primary type="submit" { (ctx.t("保存", "Save")) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ctx, &format!("{} · {}", ctx.t("健康档案", "Health file"), h.household.head_name.as_str()), "/households", body))
}

fn tenths(v: u16) -> String {
    format!("{}.{}", v / 10, v % 10)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CardForm {
    /// The form's token (a JSON request sends it as a header instead).
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    diagnosed_on: String,
    #[serde(default)]
    #[schema(inline)]
    diagnosed_at: crate::params::Short,
    #[serde(default)]
    prognosis: String,
    #[serde(default)]
    #[schema(inline)]
    plan: crate::params::Paragraph,
}

impl CardForm {
    fn input(&self) -> CardInput {
        CardInput {
            code: self.code.clone(),
            name: self.name.clone(),
            diagnosed_on: self.diagnosed_on.clone(),
            diagnosed_at: self.diagnosed_at.0.clone(),
            prognosis: self.prognosis.clone(),
            plan: self.plan.0.clone(),
        }
    }
}

pub async fn save_card(state: State, ctx: Ctx, Path(id): Path<i64>, Form(form): Form<CardForm>) -> WebResult<Response> {
    ctx.check_csrf(&form.csrf)?;
    ctx.require(Permission::EditHealth)?;
    let (p, h) = person_in_reach(&state, &ctx, id).await?;
    let catalogues = state.catalogues().await;
    match health::record_card(&state.store, catalogues.for_region(h.household.region), id, &form.input(), &ctx.user.username, today(), &ctx.audit("health.card", "", "")).await.map_err(user_error) {
        Ok((_, updated)) => Ok(Redirect::to(&format!("/households/{}/health?card={}", p.person.household_no, if updated { "updated" } else { "new" })).into_response()),
        // Refused: the file again with the card's form open, as typed, and the reason.
        Err(WebError::BadRequest(why)) => {
            let no = p.person.household_no.as_str().to_string();
            Ok((axum::http::StatusCode::BAD_REQUEST, render_health(state, ctx, &no, None, None, Some(Refused::Card(id, &form, &why))).await?).into_response())
        }
        Err(e) => Err(e),
    }
}

/// Record a disease card, or update the card of its code
#[utoipa::path(post, path = "/api/persons/{id}/cards", tag = "Health", params(("id" = i64, Path, description = "Person id")), request_body = CardForm,
    responses((status = 200, description = "The card, updated (its earlier values kept)", body = huimin_store::DiseaseCard), (status = 201, description = "The card, new", body = huimin_store::DiseaseCard)))]
pub async fn api_save_card(state: State, ctx: Ctx, headers: axum::http::HeaderMap, Path(id): Path<i64>, Json(form): Json<CardForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    ctx.require(Permission::EditHealth)?;
    let (_, h) = person_in_reach(&state, &ctx, id).await?;
    let catalogues = state.catalogues().await;
    match health::record_card(&state.store, catalogues.for_region(h.household.region), id, &form.input(), &ctx.user.username, today(), &ctx.audit("health.card", "", "api")).await {
        Ok((card, updated)) => Ok((if updated { axum::http::StatusCode::OK } else { axum::http::StatusCode::CREATED }, Json(card)).into_response()),
        Err(e) => Err(user_error(e)),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ExamForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    exam_date: String,
    #[serde(default)]
    systolic: String,
    #[serde(default)]
    diastolic: String,
    #[serde(default)]
    glucose: String,
    #[serde(default)]
    height: String,
    #[serde(default)]
    weight: String,
    #[serde(default)]
    #[schema(inline)]
    findings: crate::params::Paragraph,
    #[serde(default)]
    #[schema(inline)]
    examined_at: crate::params::Short,
}

pub async fn save_exam(state: State, ctx: Ctx, Path(id): Path<i64>, Form(form): Form<ExamForm>) -> WebResult<Response> {
    ctx.check_csrf(&form.csrf)?;
    match record_exam(&state, &ctx, id, &form).await {
        Ok(household_no) => Ok(Redirect::to(&format!("/households/{household_no}/health")).into_response()),
        // Refused: the file again with the examination's form open, as typed, and the reason.
        Err(WebError::BadRequest(why)) => {
            let (p, _) = person_in_reach(&state, &ctx, id).await?;
            let no = p.person.household_no.as_str().to_string();
            Ok((axum::http::StatusCode::BAD_REQUEST, render_health(state, ctx, &no, None, None, Some(Refused::Exam(id, &form, &why))).await?).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ExamRecorded {
    person_id: i64,
    exam_date: String,
}

/// Record a physical examination
#[utoipa::path(post, path = "/api/persons/{id}/exams", tag = "Health", params(("id" = i64, Path, description = "Person id")), request_body = ExamForm,
    responses((status = 201, body = ExamRecorded)))]
pub async fn api_save_exam(state: State, ctx: Ctx, headers: axum::http::HeaderMap, Path(id): Path<i64>, Json(form): Json<ExamForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let r = record_exam(&state, &ctx, id, &form).await.map(|_| ExamRecorded { person_id: id, exam_date: form.exam_date.clone() });
    crate::error::json_answer(axum::http::StatusCode::CREATED, r)
}

/// Records a physical examination; returns the person's household number.
async fn record_exam(state: &State, ctx: &Ctx, id: i64, form: &ExamForm) -> WebResult<String> {
    ctx.require(Permission::EditHealth)?;
    let (p, _) = person_in_reach(state, ctx, id).await?;
    let date = parse_date(&form.exam_date, ctx.t("体检日期", "Exam date"))?;
    if date > today() {
        return Err(WebError::BadRequest(format!("体检日期 {date} 晚于今天")));
    }
    let readings = ExamReadings::parse(&form.systolic, &form.diastolic, &form.glucose, &form.height, &form.weight).map_err(|e| WebError::BadRequest(e.0))?;
    state
        .store
        .record_exam(id, date, &readings, form.findings.trim(), form.examined_at.trim(), &ctx.user.username, &ctx.audit("health.exam", format!("person {id}"), ""))
        .await
        .map_err(store_user_error)?;
    Ok(p.person.household_no.as_str().to_string())
}

/// Break the glass: one person's confidential diagnoses, with the reason logged.
pub async fn reveal_health(state: State, ctx: Ctx, Path(id): Path<i64>, Form(form): Form<RevealForm>) -> WebResult<Markup> {
    ctx.check_csrf(&form.csrf)?;
    let (p, _) = break_glass_health(&state, &ctx, id, &form.reason).await?;
    render_health(state, ctx, p.person.household_no.as_str(), Some(id), None, None).await
}

/// Opens one person's confidential diagnoses to a role that may only with a reason; logged.
async fn break_glass_health(state: &State, ctx: &Ctx, id: i64, reason: &str) -> WebResult<(StoredPerson, StoredHousehold)> {
    let reason = given_reason(ctx, Permission::BreakGlassConfidential, reason)?;
    let found = person_in_reach(state, ctx, id).await?;
    state.store.append_audit(&ctx.audit("health.reveal", format!("person {id}"), format!("reason: {reason}"))).await?;
    Ok(found)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RevealedCards {
    person_id: i64,
    cards: Vec<Disclosed<StoredCard>>,
}

/// Break the glass: a person's confidential diagnoses, with a reason
///
/// Logged like the page's break-the-glass.
#[utoipa::path(post, path = "/api/persons/{id}/reveal-health", tag = "Health", params(("id" = i64, Path, description = "Person id")), request_body = RevealForm,
    responses((status = 200, body = RevealedCards)))]
pub async fn api_reveal_health(state: State, ctx: Ctx, headers: axum::http::HeaderMap, Path(id): Path<i64>, Json(form): Json<RevealForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let r = async {
        let (_, h) = break_glass_health(&state, &ctx, id, &form.reason).await?;
        let viewer = ctx.viewer(&state).await.opened_health(id);
        let about = Record::Person { id, region: h.household.region };
        let cards: Vec<Disclosed<StoredCard>> = state.store.disease_cards(&[id]).await?.into_iter().filter(|c| c.card.confidential).filter_map(|c| viewer.show(about, c)).collect();
        Ok(RevealedCards { person_id: id, cards })
    }
    .await;
    crate::error::json_answer(axum::http::StatusCode::OK, r)
}

/// The disease catalogue in force in the user's region: groups and entries
#[utoipa::path(get, path = "/api/catalog", tag = "Health", responses((status = 200, body = huimin_domain::DiseaseCatalog)))]
pub async fn api_catalog(state: State, ctx: Ctx) -> WebResult<Json<huimin_domain::DiseaseCatalog>> {
    ctx.require(Permission::ViewProgress)?;
    Ok(Json(state.catalogues().await.for_region(ctx.user.region).clone()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// The file's name, for the messages
    name: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CatalogLoaded {
    loaded: String,
    entries: usize,
}

/// Add a county's catalogue file to the catalogue in force
///
/// The body is the file (TOML, docs/disease-catalog.md).
#[utoipa::path(post, path = "/api/catalog", tag = "Health", params(CatalogQuery), request_body(content = String, content_type = "text/plain"),
    responses((status = 201, body = CatalogLoaded)))]
pub async fn api_load_catalog(state: State, ctx: Ctx, headers: axum::http::HeaderMap, Query(q): Query<CatalogQuery>, body: String) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    ctx.require(Permission::ManageCatalog)?;
    let name = q.name.unwrap_or_else(|| "catalog.toml".into());
    let r = match health::load_catalog_file(&state.store, ctx.user.region, &name, &body, &ctx.user.username, &ctx.audit("catalog.load", name.clone(), "api")).await {
        Ok(c) => {
            let entries = c.for_region(ctx.user.region).entries.len();
            *state.catalog.write().await = std::sync::Arc::new(c);
            Ok(CatalogLoaded { loaded: name, entries })
        }
        Err(HealthError::Store(e)) => Err(e.into()),
        Err(e) => Err(WebError::BadRequest(e.to_string())),
    };
    crate::error::json_answer(axum::http::StatusCode::CREATED, r)
}

fn parse_date(s: &str, label: &str) -> WebResult<Date> {
    Date::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| WebError::BadRequest(format!("{label}「{s}」应为 YYYY-MM-DD")))
}

// ----- screening campaigns -----

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegionQuery {
    /// Region code (default: the campaign's or the user's region)
    #[param(pattern = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$")]
    region: Option<String>,
    /// The page only: the household whose screening was just saved (the page confirms it).
    #[param(ignore)]
    saved: Option<String>,
}

pub async fn campaigns(state: State, ctx: Ctx) -> WebResult<Markup> {
    ctx.require(Permission::ViewProgress)?;
    let list = state.store.campaigns(ctx.user.region).await?;
    let picker = layout::region_picker(&state, &ctx, ctx.t("区划", "Region"), Some(ctx.user.region)).await?;
    let body = html! {
        @if list.is_empty() { (layout::empty_state(ctx.t("还没有筛查活动", "No screening campaign yet"))) } @else {
            table.card {
                thead { tr { th { (ctx.t("名称", "Name")) } th { (ctx.t("区划", "Region")) } th { (ctx.t("开始", "From")) } th { (ctx.t("结束", "To")) } } }
                tbody { @for c in &list { tr {
                    td { a href=(format!("/screening/{}", c.id)) { (c.name) } } td.mono { (c.region) } td { (c.starts_on) } td { (c.ends_on) }
                } } }
            }
        }
        @if ctx.can(Permission::ManageScreening) {
            form.card.filters method="post" action="/screening" {
                h2 { (ctx.t("新建筛查活动", "New campaign")) }
                (csrf(&ctx))
                label.grow { (ctx.t("名称", "Name")) input name="name" required placeholder="2024年建档立卡贫困人口因病致贫筛查"; }
                (picker)
                label { (ctx.t("开始日期", "From")) input name="starts_on" type="date" required; }
                label { (ctx.t("结束日期", "To")) input name="ends_on" type="date" required; }
                button.primary type="submit" { (ctx.t("创建", "Create")) }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("因病致贫筛查", "Screening"), "/screening", body))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CampaignForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    #[schema(inline)]
    name: crate::params::Short,
    region: String,
    starts_on: String,
    ends_on: String,
}

pub async fn create_campaign(state: State, ctx: Ctx, Form(form): Form<CampaignForm>) -> WebResult<Response> {
    ctx.check_csrf(&form.csrf)?;
    let id = open_campaign(&state, &ctx, &form).await?;
    Ok(Redirect::to(&format!("/screening/{id}")).into_response())
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CampaignsAnswer {
    campaigns: Vec<huimin_store::Campaign>,
}

/// The screening campaigns touching the user's region
#[utoipa::path(get, path = "/api/screening", tag = "Health", responses((status = 200, body = CampaignsAnswer)))]
pub async fn api_campaigns(state: State, ctx: Ctx) -> WebResult<Json<CampaignsAnswer>> {
    ctx.require(Permission::ViewProgress)?;
    Ok(Json(CampaignsAnswer { campaigns: state.store.campaigns(ctx.user.region).await? }))
}

/// Open a screening campaign
#[utoipa::path(post, path = "/api/screening", tag = "Health", request_body = CampaignForm, responses((status = 201, description = "The campaign", body = huimin_store::Campaign)))]
pub async fn api_create_campaign(state: State, ctx: Ctx, headers: axum::http::HeaderMap, Json(form): Json<CampaignForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let r = match open_campaign(&state, &ctx, &form).await {
        Ok(id) => state.store.campaign(id).await.map_err(WebError::from).and_then(|c| c.ok_or(WebError::NotFound)),
        Err(e) => Err(e),
    };
    crate::error::json_answer(axum::http::StatusCode::CREATED, r)
}

async fn open_campaign(state: &State, ctx: &Ctx, form: &CampaignForm) -> WebResult<i64> {
    ctx.require(Permission::ManageScreening)?;
    let region = region_param(ctx, Some(&form.region))?;
    let name = form.name.trim();
    if name.is_empty() {
        return Err(WebError::BadRequest("请填写筛查活动名称".into()));
    }
    let (from, to) = (parse_date(&form.starts_on, "开始日期")?, parse_date(&form.ends_on, "结束日期")?);
    state.store.create_campaign(name, region, from, to, &ctx.user.username, &ctx.audit("screening.campaign", format!("region {region}"), name)).await.map_err(store_user_error)
}

async fn campaign_in_reach(state: &State, ctx: &Ctx, id: i64) -> WebResult<huimin_store::Campaign> {
    let c = state.store.campaign(id).await?.ok_or(WebError::NotFound)?;
    if c.region.contains(ctx.user.region) || ctx.user.region.contains(c.region) { Ok(c) } else { Err(WebError::NotFound) }
}

/// The region to report on: the one asked for, inside both the campaign's and the user's.
fn campaign_region(ctx: &Ctx, c: &huimin_store::Campaign, asked: Option<&str>) -> WebResult<RegionCode> {
    let default = if c.region.contains(ctx.user.region) { ctx.user.region } else { c.region };
    let region = region_param(ctx, asked.or(Some(&default.to_string())))?;
    if c.region.contains(region) { Ok(region) } else { Err(WebError::NotFound) }
}

pub async fn campaign(state: State, ctx: Ctx, Path(id): Path<i64>, Query(q): Query<RegionQuery>) -> WebResult<Markup> {
    ctx.require(Permission::ViewProgress)?;
    let c = campaign_in_reach(&state, &ctx, id).await?;
    let region = campaign_region(&ctx, &c, q.region.as_deref())?;
    let progress = state.store.screening_progress(id, region).await?;
    let (to_screen, screened, ill) = progress.iter().fold((0, 0, 0), |(a, b, c), p| (a + p.to_screen, b + p.screened, c + p.illness_poor));
    // An ended campaign takes no more results: no forms for it.
    let households = if ctx.can(Permission::Screen) && region.level() == huimin_domain::RegionLevel::Village && today() <= c.ends_on {
        state.store.households_to_screen(id, region, 500).await?
    } else {
        Vec::new()
    };
    let body = html! {
        @if let Some(no) = &q.saved { p.alert.ok role="status" { (ctx.t("已保存：户 ", "Saved: household ")) span.mono { (no) } (ctx.t(" 的筛查结果", "")) } }
        @if today() > c.ends_on { p.alert.warn { (ctx.t("本次筛查活动已于 ", "This campaign ended on ")) (c.ends_on) (ctx.t(" 结束，不再登记结果。", "; no more results are taken.")) } }
        p.muted { (c.name) " · " (c.starts_on) " – " (c.ends_on) " · " a href=(format!("/reports/screening/{id}?region={region}")) { (ctx.t("下载筛查进度表（XLSX）", "Download the progress (XLSX)")) } }
        section.stats {
            div.stat { span.value { (num(to_screen)) } span.label { (ctx.t("应筛查户", "To screen")) } }
            div.stat { span.value { (num(screened)) } span.label { (ctx.t("已筛查户", "Screened")) } }
            div.stat { span.value { (percent(screened, to_screen)) } span.label { (ctx.t("完成率", "Completion")) } }
            div.stat { span.value { (percent(ill, screened)) } span.label { (ctx.t("因病致贫率", "Poor because of illness")) } }
        }
        table.card {
            thead { tr { th { (ctx.t("区划", "Region")) } th.num { (ctx.t("应筛查户", "To screen")) } th.num { (ctx.t("已筛查", "Screened")) } th.num { (ctx.t("完成率", "Completion")) } th.num { (ctx.t("因病致贫户", "Illness")) } th.num { (ctx.t("因病致贫率", "Rate")) } } }
            tbody { @for p in &progress { tr {
                td { @if p.region != region { a href=(format!("/screening/{id}?region={}", p.region)) { (p.name) } } @else { (p.name) } }
                td.num { (num(p.to_screen)) } td.num { (num(p.screened)) } td.num { (percent(p.screened, p.to_screen)) }
                td.num { (num(p.illness_poor)) } td.num { (percent(p.illness_poor, p.screened)) }
            } } }
        }
        @if !households.is_empty() {
            h2 { (ctx.t("本村各户筛查", "Households of this village")) }
            table.card.list {
                thead { tr { th { (ctx.t("户编号", "Household")) } th { (ctx.t("户主", "Head")) } th { (ctx.t("筛查结果", "Result")) } th {} } }
                tbody { @for (no, head, s) in &households { tr {
                    td.mono { (no) } td { (head) }
                    td { @if let Some(s) = s.as_ref().map(|s| &s.screening) { (s.screened_on) " · " (s.result) @if s.illness_poor { " " span.badge { (ctx.t("因病致贫", "Illness")) } } } @else { span.muted { (ctx.t("未筛查", "Not yet")) } } }
                    td {
                        form.inline method="post" action=(format!("/screening/{id}/households/{no}")) {
                            (csrf(&ctx))
                            input type="hidden" name="submission_key" value=(huimin_app::accounts::random_token());
                            // A result saved by someone else since this page was shown is a conflict, not overwritten.
                            input type="hidden" name="based_on" value=(s.as_ref().map_or("", |s| s.version.as_str()));
                            label { (ctx.t("核实情况", "Findings")) " " input name="result" required value=(s.as_ref().map(|s| s.screening.result.as_str()).unwrap_or("")); }
                            label.check { input type="checkbox" name="illness_poor" value="1" checked[s.as_ref().is_some_and(|s| s.screening.illness_poor)]; (ctx.t("因病致贫", "Illness")) }
                            button type="submit" { (ctx.t("保存", "Save")) }
                        }
                    }
                } } }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("筛查进度", "Screening progress"), "/screening", body))
}

#[derive(Deserialize)]
pub struct ScreeningForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    result: String,
    illness_poor: Option<String>,
    /// The same key for every resubmission of one form: stored once.
    #[serde(default)]
    submission_key: String,
    /// The version of the household's result the form showed (empty: none).
    based_on: Option<String>,
}

pub async fn record_screening(state: State, ctx: Ctx, Path((id, no)): Path<(i64, String)>, Form(form): Form<ScreeningForm>) -> WebResult<Response> {
    ctx.check_csrf(&form.csrf)?;
    let sent = SentScreening {
        result: form.result.clone(),
        illness_poor: form.illness_poor.is_some(),
        key: form.submission_key.clone(),
        screened_on: None,
        based_on: form.based_on.as_deref().map(|v| Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_string)),
    };
    let (region, written) = screen(&state, &ctx, id, &no, &sent).await?;
    if let ScreeningWrite::Stale(current) = written {
        return Err(WebError::BadRequest(stale_message(&state, &current).await?));
    }
    Ok(Redirect::to(&format!("/screening/{id}?region={region}&saved={no}")).into_response())
}

/// A household's screening as a phone or another system sends it.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ScreeningBody {
    #[schema(inline)]
    result: crate::params::Short,
    #[serde(default)]
    illness_poor: bool,
    /// Chosen by the sender, the same when sent again (8–80 characters; default: a new one)
    #[serde(default)]
    submission_key: String,
    /// When it was taken (default: today)
    #[schema(inline)]
    screened_on: Option<crate::params::DateOrEmpty>,
    /// The version of the household's result the sender saw (null: none; left out: no check)
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    based_on: Option<Option<String>>,
}

/// A member that may be left out (`None`) or sent as null (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ScreeningStored {
    campaign: i64,
    household_no: String,
    region: RegionCode,
    /// The stored result's version, for `based_on` of a later change
    version: String,
}

/// The result stored since the version the sender saw.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ScreeningStale {
    current: StoredScreening,
}

/// Record a household's screening in a campaign
///
/// Once per submission key; with based_on, a result stored since that version is a conflict.
#[utoipa::path(post, path = "/api/screening/{id}/households/{no}", tag = "Health",
    params(("id" = i64, Path, description = "Campaign id"), ("no" = String, Path, description = "Household number")), request_body = ScreeningBody,
    responses(
        (status = 200, description = "Stored before under this key", body = ScreeningStored),
        (status = 201, description = "Stored", body = ScreeningStored),
        (status = 409, description = "Another result was stored since the version sent as based_on", body = ProblemWith<ScreeningStale>, content_type = "application/problem+json"),
    ))]
pub async fn api_record_screening(state: State, ctx: Ctx, headers: axum::http::HeaderMap, Path((id, no)): Path<(i64, String)>, Json(body): Json<ScreeningBody>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let sent = SentScreening { result: body.result.0, illness_poor: body.illness_poor, key: body.submission_key, screened_on: crate::params::day(body.screened_on).map(|d| d.to_string()), based_on: body.based_on };
    let answer = |status, version: String, region: RegionCode| (status, Json(ScreeningStored { campaign: id, household_no: no.clone(), region, version })).into_response();
    match screen(&state, &ctx, id, &no, &sent).await {
        Ok((region, ScreeningWrite::Stored { version })) => Ok(answer(axum::http::StatusCode::CREATED, version, region)),
        Ok((region, ScreeningWrite::Before { version })) => Ok(answer(axum::http::StatusCode::OK, version, region)),
        Ok((_, ScreeningWrite::Stale(current))) => Ok(problem_with(axum::http::StatusCode::CONFLICT, stale_message(&state, &current).await?, ScreeningStale { current })),
        Err(e) => Err(e),
    }
}

/// A screening as sent from the campaign page or a phone.
struct SentScreening {
    result: String,
    illness_poor: bool,
    key: String,
    /// When it was taken (a phone offline); `None`: today.
    screened_on: Option<String>,
    /// `None`: no check; `Some(None)`: the sender saw no result; `Some(Some(v))`: saw version `v`.
    based_on: Option<Option<String>>,
}

async fn stale_message(state: &State, current: &StoredScreening) -> WebResult<String> {
    let s = &current.screening;
    let by = state.store.display_name(&s.screened_by).await?.unwrap_or_else(|| s.screened_by.clone());
    Ok(format!(
        "户 {} 的筛查结果已由 {by} 于 {} 登记为「{}」{}，与您看到的不同：请核对后决定是否以您的结果为准",
        s.household_no,
        s.screened_on,
        s.result,
        if s.illness_poor { "（因病致贫）" } else { "" }
    ))
}

/// Checks and records a household's screening; returns the household's region and what became of it.
async fn screen(state: &State, ctx: &Ctx, id: i64, no: &str, sent: &SentScreening) -> WebResult<(RegionCode, ScreeningWrite)> {
    ctx.require(Permission::Screen)?;
    let c = campaign_in_reach(state, ctx, id).await?;
    let h = household_in_reach(state, ctx, no).await?;
    if !c.region.contains(h.household.region) {
        return Err(WebError::NotFound);
    }
    if !h.in_programme {
        return Err(WebError::BadRequest(format!("户 {no} 已不在帮扶名单内，不再筛查")));
    }
    let today = today();
    if today < c.starts_on {
        return Err(WebError::BadRequest(format!("筛查活动 {} 开始后才能登记", c.starts_on)));
    }
    if today > c.ends_on {
        return Err(WebError::BadRequest(format!("筛查活动「{}」已于 {} 结束，不能再登记结果", c.name, c.ends_on)));
    }
    let screened_on = match sent.screened_on.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => today,
        Some(d) => {
            let on = Date::parse_from_str(d, "%Y-%m-%d").map_err(|_| WebError::BadRequest(format!("筛查日期「{d}」应为 YYYY-MM-DD")))?;
            if on > today || on < c.starts_on {
                return Err(WebError::BadRequest(format!("筛查日期 {on} 不在筛查活动 {} 至今天之间", c.starts_on)));
            }
            on
        }
    };
    let result = sent.result.trim();
    if result.is_empty() {
        return Err(WebError::BadRequest("请填写筛查结果".into()));
    }
    let key = match sent.key.trim() {
        "" => huimin_app::accounts::random_token(),
        k if k.len() < 8 || k.len() > 80 => return Err(WebError::BadRequest("提交编号无效（8 至 80 个字符）".into())),
        k => k.to_string(),
    };
    let s = Screening { household_no: no.to_string(), screened_on, screened_by: ctx.user.display_name.clone(), result: result.into(), illness_poor: sent.illness_poor };
    let based_on = sent.based_on.as_ref().map(|v| v.as_deref());
    let written = state.store.record_screening(id, &s, &key, based_on, &ctx.audit("screening.record", format!("household {no}"), "")).await.map_err(store_user_error)?;
    Ok((h.household.region, written))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ProgressAnswer {
    campaign: huimin_store::Campaign,
    region: RegionCode,
    progress: Vec<huimin_store::ScreeningProgress>,
}

/// A screening campaign's progress by region below
#[utoipa::path(get, path = "/api/screening/{id}/progress", tag = "Health", params(("id" = i64, Path, description = "Campaign id"), RegionQuery), responses((status = 200, body = ProgressAnswer)))]
pub async fn api_progress(state: State, ctx: Ctx, Path(id): Path<i64>, Query(q): Query<RegionQuery>) -> WebResult<Json<ProgressAnswer>> {
    ctx.require(Permission::ViewProgress)?;
    let c = campaign_in_reach(&state, &ctx, id).await?;
    let region = campaign_region(&ctx, &c, q.region.as_deref())?;
    let progress = state.store.screening_progress(id, region).await?;
    Ok(Json(ProgressAnswer { campaign: c, region, progress }))
}

// ----- the three batches -----

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchQuery {
    /// Region code (default: the user's region)
    #[param(pattern = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$")]
    region: Option<String>,
    /// Year (default: this year)
    #[param(inline)]
    year: Option<crate::params::Year>,
    /// centralised, contract or backstop
    batch: Option<String>,
    /// From 1
    #[param(inline)]
    page: Option<crate::params::Page>,
}

const PER_PAGE: usize = 50;

async fn batch_rows(state: &State, ctx: &Ctx, q: &BatchQuery) -> WebResult<(RegionCode, i32, Vec<BatchRow>)> {
    let region = region_param(ctx, q.region.as_deref())?;
    let year = q.year.map_or_else(huimin_app::clock::this_year, |y| y.0);
    let catalog = state.catalogues().await;
    let rows = health::batches(&state.store, &catalog, region, year).await.map_err(user_error)?;
    Ok((region, year, rows))
}

fn batch_record(r: &BatchRow) -> Record<'static> {
    Record::Person { id: r.person.person_id, region: r.person.region }
}

pub async fn batches(state: State, ctx: Ctx, Query(q): Query<BatchQuery>) -> WebResult<Markup> {
    ctx.require(Permission::ViewProgress)?;
    let (region, year, rows) = batch_rows(&state, &ctx, &q).await?;
    let counts = health::batch_counts(&rows);
    let only = q.batch.as_deref().and_then(CareBatch::from_code);
    let names = ctx.can(Permission::ViewHealth);
    let manage = ctx.can(Permission::ManageBatches);
    let viewer = ctx.viewer(&state).await;
    let shown: Vec<Disclosed<BatchRow>> = rows.iter().filter(|r| only.is_none() || r.batch() == only).filter_map(|r| viewer.show(batch_record(r), r.clone())).collect();
    let page = q.page.map_or(1, |p| p.0);
    let base = format!("/batches?region={region}&year={year}{}", only.map(|b| format!("&batch={}", b.code())).unwrap_or_default());
    let picker = layout::region_picker(&state, &ctx, ctx.t("区划", "Region"), Some(region)).await?;
    let body = html! {
        form.filters.card method="get" action="/batches" {
            (picker)
            label { (ctx.t("年度", "Year")) input name="year" value=(year) inputmode="numeric" size="4"; }
            label { (ctx.t("分类", "Batch")) select name="batch" { option value="" { (ctx.t("全部", "All")) } @for b in CareBatch::ALL { option value=(b.code()) selected[only == Some(*b)] { (b.label_zh()) } } } }
            button.primary type="submit" { (ctx.t("查看", "Show")) }
        }
        section.stats {
            @for (b, n) in &counts {
                a.stat href=(format!("/batches?region={region}&year={year}&batch={}", b.code())) { span.value { (num(*n as i64)) } span.label { (b.label_zh()) } }
            }
            div.stat { span.value { (num(rows.iter().filter(|r| r.batch().is_none()).count() as i64)) } span.label { (ctx.t("未分类", "No batch")) } }
        }
        p.muted { (ctx.t("规则：患大病集中救治病种 → 大病集中救治一批；经报销后年度个人自付仍达 ", "Rules: a major disease → centralised treatment; own payments this year of at least "))
            (huimin_domain::format::yuan_fen(health::HIGH_COST_FEN)) (ctx.t(" → 重病兜底保障一批；患慢性病、特殊疾病 → 慢病签约服务管理一批。", " → backstop; a chronic or special disease → contract management.")) }
        @if names {
            table.card.list {
                thead { tr { th { (ctx.t("姓名", "Name")) } th { (ctx.t("户编号", "Household")) } th { (ctx.t("疾病", "Diseases")) } th.num { (ctx.t("年度自付", "Own payment")) } th { (ctx.t("按规则", "By rules")) } th { (ctx.t("分类", "Batch")) } @if manage { th {} } } }
                tbody { @for r in shown.iter().skip((page as usize - 1) * PER_PAGE).take(PER_PAGE) { tr {
                    td { (r.person.name) }
                    td.mono { a href=(format!("/households/{}/health", r.person.household_no)) { (r.person.household_no) } }
                    td { @for (code, name, conf) in &r.person.diseases { div { (disease_label(&ctx, code, name, *conf)) } } @if r.diagnoses_withheld() > 0 { div { (withheld_label(&ctx)) } } }
                    td.num { (huimin_domain::format::yuan_fen(r.own_payment)) }
                    td { (r.by_rules.map_or("—", |b| b.label_zh())) }
                    td { (r.batch().map_or("—", |b| b.label_zh())) @if let Some(o) = &r.overridden { br; small.muted { (ctx.t("人工调整：", "Set by hand: ")) (o.reason) } } }
                    @if manage { td {
                        details { summary { (ctx.t("调整", "Change")) }
                            form method="post" action=(format!("/batches/{}", r.person.person_id)) {
                                (csrf(&ctx))
                                label { (ctx.t("调整为", "Set to")) " " select name="batch" {
                                    @for b in CareBatch::ALL { option value=(b.code()) selected[r.batch() == Some(*b)] { (b.label_zh()) } }
                                    option value="none" { (ctx.t("不纳入", "None")) }
                                    option value="rules" { (ctx.t("恢复按规则", "Back to the rules")) }
                                } }
                                label { (ctx.t("调整原因（必填，记入审计日志）", "Reason (required, logged)")) " " input name="reason"; }
                                button type="submit" { (ctx.t("保存", "Save")) }
                            }
                        }
                    } }
                } } }
            }
            (layout::pager(&ctx, &base, page, PER_PAGE as i64, shown.len() as i64))
        }
    };
    Ok(layout::page(&ctx, ctx.t("三个一批", "The three batches"), "/batches", body))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct OverrideForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    batch: String,
    #[serde(default)]
    #[schema(inline)]
    reason: crate::params::Reason,
}

pub async fn override_batch(state: State, ctx: Ctx, Path(id): Path<i64>, Form(form): Form<OverrideForm>) -> WebResult<Response> {
    ctx.check_csrf(&form.csrf)?;
    let region = set_batch(&state, &ctx, id, &form).await?;
    Ok(Redirect::to(&format!("/batches?region={region}")).into_response())
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BatchSet {
    person_id: i64,
    region: RegionCode,
    batch: String,
}

/// Set a person's batch by hand, with a reason, or back to the rules
#[utoipa::path(post, path = "/api/batches/{id}", tag = "Health", params(("id" = i64, Path, description = "Person id")), request_body = OverrideForm, responses((status = 200, body = BatchSet)))]
pub async fn api_override_batch(state: State, ctx: Ctx, headers: axum::http::HeaderMap, Path(id): Path<i64>, Json(form): Json<OverrideForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let r = set_batch(&state, &ctx, id, &form).await.map(|region| BatchSet { person_id: id, region, batch: form.batch.clone() });
    crate::error::json_answer(axum::http::StatusCode::OK, r)
}

/// Sets (or clears) a person's batch by hand; returns their household's region.
async fn set_batch(state: &State, ctx: &Ctx, id: i64, form: &OverrideForm) -> WebResult<RegionCode> {
    ctx.require(Permission::ManageBatches)?;
    let (_, h) = person_in_reach(state, ctx, id).await?;
    let (batch, clear) = match form.batch.as_str() {
        "rules" => (None, true),
        "none" => (None, false),
        code => (Some(CareBatch::from_code(code).ok_or_else(|| WebError::BadRequest(format!("救治分类「{code}」不存在")))?), false),
    };
    health::override_batch(&state.store, id, batch, clear, &form.reason, &ctx.user.username, &ctx.audit("batch.override", "", "")).await.map_err(user_error)?;
    Ok(h.household.region)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BatchesAnswer {
    region: RegionCode,
    year: i32,
    /// Persons in each batch, by batch code.
    counts: std::collections::BTreeMap<String, usize>,
    /// For roles that see health data, as each may see them.
    persons: Vec<BatchPerson>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BatchPerson {
    person_id: i64,
    name: String,
    household_no: String,
    region: RegionCode,
    diseases: Vec<Disease>,
    own_payment_fen: i64,
    by_rules: Option<CareBatch>,
    batch: Option<CareBatch>,
    override_reason: Option<String>,
    diagnoses_withheld: usize,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Disease {
    /// ICD-10
    code: String,
    name: String,
}

/// The three batches: counts, and the persons for health roles
#[utoipa::path(get, path = "/api/batches", tag = "Health", params(BatchQuery), responses((status = 200, body = BatchesAnswer)))]
pub async fn api_batches(state: State, ctx: Ctx, Query(q): Query<BatchQuery>) -> WebResult<Json<BatchesAnswer>> {
    ctx.require(Permission::ViewProgress)?;
    let (region, year, rows) = batch_rows(&state, &ctx, &q).await?;
    let counts = health::batch_counts(&rows).iter().map(|(b, n)| (b.code().to_string(), *n)).collect();
    let viewer = ctx.viewer(&state).await;
    let persons = rows
        .into_iter()
        .filter_map(|r| viewer.show(batch_record(&r), r))
        .map(|r| BatchPerson {
            person_id: r.person.person_id,
            name: r.person.name.clone(),
            household_no: r.person.household_no.clone(),
            region: r.person.region,
            diseases: r.person.diseases.iter().map(|(code, name, _)| Disease { code: code.clone(), name: name.clone() }).collect(),
            own_payment_fen: r.own_payment,
            by_rules: r.by_rules,
            batch: r.batch(),
            override_reason: r.overridden.as_ref().map(|o| o.reason.clone()),
            diagnoses_withheld: r.diagnoses_withheld(),
        })
        .collect();
    Ok(Json(BatchesAnswer { region, year, counts, persons }))
}

// ----- the treatment ledger -----

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// Region code (default: the user's region)
    #[param(pattern = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$")]
    region: Option<String>,
    /// identified, in_treatment, treated or not_treated
    status: Option<String>,
    /// Identified but not treated after this many days.
    #[param(inline)]
    overdue_days: Option<crate::params::Days>,
}

/// The ledger's lines as the viewer may see each.
async fn ledger_rows(state: &State, ctx: &Ctx, q: &LedgerQuery) -> WebResult<(RegionCode, Vec<Disclosed<huimin_store::Treatment>>)> {
    ctx.require(Permission::ViewHealth)?;
    let region = region_param(ctx, q.region.as_deref())?;
    let status = q.status.as_deref().filter(|s| !s.is_empty()).and_then(TreatmentStatus::from_code);
    let mut rows = state.store.treatments(region, status).await?;
    if let Some(crate::params::Days(days)) = q.overdue_days {
        let before = today() - chrono::Duration::days(days);
        rows.retain(|t| t.status == TreatmentStatus::Identified && t.identified_on <= before);
    }
    let viewer = ctx.viewer(state).await;
    Ok((region, rows.into_iter().filter_map(|t| viewer.show(Record::Person { id: t.person_id, region: t.region }, t)).collect()))
}

pub async fn ledger(state: State, ctx: Ctx, Query(q): Query<LedgerQuery>) -> WebResult<Markup> {
    let (region, rows) = ledger_rows(&state, &ctx, &q).await?;
    let facilities = state.store.all_facilities().await?;
    let mut designated: Vec<_> = facilities.values().filter(|f| f.designated).collect();
    designated.sort_by(|a, b| a.code.cmp(&b.code));
    let manage = ctx.can(Permission::ManageBatches);
    let today = today();
    let picker = layout::region_picker(&state, &ctx, ctx.t("区划", "Region"), Some(region)).await?;
    let body = html! {
        form.filters.card method="get" action="/treatment" {
            (picker)
            label { (ctx.t("状态", "Status")) select name="status" { option value="" { (ctx.t("全部", "All")) } @for s in TreatmentStatus::ALL { option value=(s.code()) selected[q.status.as_deref() == Some(s.code())] { (s.label_zh()) } } } }
            label { (ctx.t("确认后超过天数未救治", "Not treated after days")) input name="overdue_days" inputmode="numeric" size="4" value=(q.overdue_days.map(|d| d.to_string()).unwrap_or_default()); }
            button.primary type="submit" { (ctx.t("查看", "Show")) }
            a href=(format!("/treatment?region={region}&overdue_days=30")) { (ctx.t("超过 30 天未救治", "Overdue 30 days")) }
        }
        p.muted { (ctx.t("共 ", "")) (rows.len()) (ctx.t(" 人次", " patients")) }
        @if rows.is_empty() { (layout::empty_state(ctx.t("没有符合条件的救治记录", "No ledger line matches"))) } @else {
            table.card.list {
                thead { tr { th { (ctx.t("姓名", "Name")) } th { (ctx.t("户编号", "Household")) } th { (ctx.t("病种", "Disease")) } th { (ctx.t("定点医院", "Hospital")) } th { (ctx.t("救治方案", "Plan")) } th { (ctx.t("状态", "Status")) } th { (ctx.t("确认日期", "Identified")) } @if manage { th {} } } }
                tbody { @for t in &rows { tr {
                    td { (t.person_name) }
                    td.mono { a href=(format!("/households/{}/health", t.household_no)) { (t.household_no) } }
                    td { @if t.diagnoses_withheld() > 0 { (withheld_label(&ctx)) } @else { (disease_label(&ctx, &t.disease_code, &t.disease_name, t.confidential)) } }
                    td { (t.facility_name.as_deref().unwrap_or("—")) }
                    td { (t.plan) }
                    td { (t.status.label_zh()) @if !t.reason.is_empty() { br; small.muted { (t.reason) } } }
                    td { (t.identified_on) @if t.status == TreatmentStatus::Identified { " " small.muted { "(" ((today - t.identified_on).num_days()) (ctx.t(" 天", " days")) ")" } } }
                    @if manage { td {
                        details { summary { (ctx.t("更新", "Update")) }
                            form method="post" action=(format!("/treatment/{}", t.id)) {
                                (csrf(&ctx))
                                label { (ctx.t("救治状态", "Status")) " " select name="status" { @for s in TreatmentStatus::ALL { option value=(s.code()) selected[t.status == *s] { (s.label_zh()) } } } }
                                label { (ctx.t("定点医院", "Hospital")) " " select name="facility" { option value="" { (ctx.t("（未定）", "(none)")) } @for f in &designated { option value=(f.code) selected[t.facility_code.as_deref() == Some(f.code.as_str())] { (f.name) } } } }
                                label { (ctx.t("一人一策救治方案", "Personal plan")) " " input name="plan" value=(t.plan); }
                                label { (ctx.t("未救治原因", "Why not treated")) " " input name="reason" value=(t.reason); }
                                button type="submit" { (ctx.t("保存", "Save")) }
                            }
                        }
                    } }
                } } }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("大病救治台账", "Treatment ledger"), "/treatment", body))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TreatmentForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    status: String,
    #[serde(default)]
    facility: String,
    #[serde(default)]
    #[schema(inline)]
    plan: crate::params::Paragraph,
    #[serde(default)]
    #[schema(inline)]
    reason: crate::params::Reason,
}

pub async fn update_treatment(state: State, ctx: Ctx, Path(id): Path<i64>, Form(form): Form<TreatmentForm>) -> WebResult<Response> {
    ctx.check_csrf(&form.csrf)?;
    let t = treat(&state, &ctx, id, &form).await?;
    Ok(Redirect::to(&format!("/treatment?region={}", t.region)).into_response())
}

/// Move a treatment-ledger line on
#[utoipa::path(post, path = "/api/treatment/{id}", tag = "Health", params(("id" = i64, Path, description = "Ledger line id")), request_body = TreatmentForm,
    responses((status = 200, description = "The ledger line", body = huimin_store::Treatment)))]
pub async fn api_update_treatment(state: State, ctx: Ctx, headers: axum::http::HeaderMap, Path(id): Path<i64>, Json(form): Json<TreatmentForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let r = treat(&state, &ctx, id, &form).await;
    crate::error::json_answer(axum::http::StatusCode::OK, r)
}

/// Moves a ledger line on; returns it as it now stands.
async fn treat(state: &State, ctx: &Ctx, id: i64, form: &TreatmentForm) -> WebResult<huimin_store::Treatment> {
    ctx.require(Permission::ManageBatches)?;
    let t = state.store.treatment(id).await?.ok_or(WebError::NotFound)?;
    ctx.require_within(t.region).map_err(|_| WebError::NotFound)?;
    let status = TreatmentStatus::from_code(&form.status).ok_or_else(|| WebError::BadRequest(format!("救治状态「{}」不存在", form.status)))?;
    if status == TreatmentStatus::NotTreated && form.reason.trim().is_empty() {
        return Err(WebError::BadRequest("未救治须填写原因".into()));
    }
    if matches!(status, TreatmentStatus::InTreatment | TreatmentStatus::Treated) && form.facility.trim().is_empty() {
        return Err(WebError::BadRequest("救治中或已救治须选择定点医院".into()));
    }
    let update = TreatmentUpdate {
        status,
        facility_code: Some(form.facility.trim().to_string()).filter(|f| !f.is_empty()),
        plan: form.plan.trim().into(),
        reason: form.reason.trim().into(),
        on: today(),
    };
    state.store.update_treatment(id, &update, &ctx.user.username, &ctx.audit("treatment.update", format!("person {}", t.person_id), status.code())).await.map_err(store_user_error)?;
    state.store.treatment(id).await?.ok_or(WebError::NotFound)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct LedgerAnswer {
    region: RegionCode,
    treatments: Vec<Disclosed<huimin_store::Treatment>>,
}

/// The treatment ledger of the centralised batch
#[utoipa::path(get, path = "/api/treatment", tag = "Health", params(LedgerQuery), responses((status = 200, body = LedgerAnswer)))]
pub async fn api_ledger(state: State, ctx: Ctx, Query(q): Query<LedgerQuery>) -> WebResult<Json<LedgerAnswer>> {
    let (region, treatments) = ledger_rows(&state, &ctx, &q).await?;
    Ok(Json(LedgerAnswer { region, treatments }))
}

// ----- the benefit card -----

pub async fn benefit_card(state: State, ctx: Ctx, Path(no): Path<String>) -> WebResult<Markup> {
    ctx.require(Permission::ViewRegistry)?;
    let h = household_in_reach(&state, &ctx, &no).await?;
    let card = card_markup(&state, &ctx, &h).await?;
    state.store.append_audit(&ctx.audit("card.print", format!("household {}", h.household.no), "")).await?;
    Ok(layout::page(&ctx, ctx.t("健康医疗惠民卡", "Benefit card"), "/households", html! { p.noprint { button.primary type="button" data-print="a5" { (ctx.t("打印（A5）", "Print (A5)")) } } (card) }))
}

/// Every household's card of a village, one per printed page.
pub async fn village_cards(state: State, ctx: Ctx, Path(code): Path<String>) -> WebResult<Markup> {
    ctx.require(Permission::ViewRegistry)?;
    let region = region_param(&ctx, Some(&code))?;
    if region.level() != huimin_domain::RegionLevel::Village {
        return Err(WebError::BadRequest("批量打印按村进行：请选择一个村".into()));
    }
    let filter = huimin_store::HouseholdFilter::default();
    let (rows, _) = state.store.list_households(region, &filter, 1000, 0).await?;
    let mut cards = Vec::new();
    for r in &rows {
        if let Some(h) = state.store.household(&r.household.no).await? {
            cards.push(card_markup(&state, &ctx, &h).await?);
        }
    }
    state.store.append_audit(&ctx.audit("card.print", format!("region {region}"), format!("{} households", cards.len()))).await?;
    let body = html! {
        p.noprint { (cards.len()) (ctx.t(" 户 · ", " households · ")) button.primary type="button" data-print="a5" { (ctx.t("全部打印（每户一张 A5）", "Print all (one A5 page each)")) } }
        @for c in &cards { (c) }
    };
    Ok(layout::page(&ctx, ctx.t("健康医疗惠民卡（批量）", "Benefit cards"), "/households", body))
}

/// The household's benefit card (健康医疗惠民卡): who they are, their family doctor and how to
/// reach them, what the policy in force gives them in figures, and who issued the card. The page
/// and the PDF show the same.
struct CardView {
    household_no: String,
    head: String,
    category: &'static str,
    /// (name, relation, masked ID number) of the members in the programme.
    members: Vec<(String, &'static str, String)>,
    team: Option<String>,
    /// (name, duty, phone) of the contracted doctor.
    doctor: Option<(String, String, String)>,
    /// The policy's name and period; each layer's (name, fund, what it gives).
    policy: Option<(String, String)>,
    benefits: Vec<(String, &'static str, String)>,
    issuer: String,
    issued_on: huimin_domain::Date,
}

async fn load_card(state: &State, h: &StoredHousehold) -> WebResult<CardView> {
    let members = state.store.household_members(&h.household.no).await?;
    let today = today();
    let year = chrono::Datelike::year(&today);
    let policy = state.policies.read().await.in_force(h.household.region, today).cloned();
    let benefits = policy
        .iter()
        .flat_map(|p| p.layers.iter())
        .filter(|l| l.filter.categories.as_ref().is_none_or(|c| c.contains(&h.household.category)))
        .map(|l| (l.name.to_string(), l.fund.label_zh(), l.summary_zh()))
        .collect();
    // The team that holds this year's contract of a member of the household, and its doctor.
    let mut team = None;
    for m in members.iter().filter(|m| m.in_programme) {
        if let Some((_, c)) = state.store.contract_of(m.id, year).await? {
            team = state.store.team(c.team_id).await?;
            break;
        }
    }
    let doctor = team.as_ref().and_then(|t| t.members.iter().find(|m| m.duty.contains("医生") || m.duty.contains("村医")).or(t.members.first()));
    let county = match h.household.region.ancestor(huimin_domain::RegionLevel::County) {
        Some(c) => state.store.region(c).await?.map(|r| r.name).unwrap_or_default(),
        None => String::new(),
    };
    Ok(CardView {
        household_no: h.household.no.as_str().to_string(),
        head: h.household.head_name.as_str().to_string(),
        category: h.household.category.label_zh(),
        members: members.iter().filter(|m| m.in_programme).map(|m| (m.person.name.as_str().to_string(), m.person.relation.label_zh(), m.person.id_number.masked())).collect(),
        doctor: doctor.map(|d| (d.name.clone(), d.duty.clone(), d.phone.clone())),
        team: team.map(|t| t.name),
        policy: policy.map(|p| (p.name.clone(), format!("{} 至 {}", p.effective_from, p.effective_to))),
        benefits,
        issuer: format!("{county}卫生健康局"),
        issued_on: today,
    })
}

const UNSIGNED: &str = "尚未签约（签约后由家庭医生团队填写）";
const FIRST_BENEFIT: &str = "县域内住院“先诊疗后付费”，出院时“一站式”结算，只付个人自付部分";
const LAST_BENEFIT: &str = "每年免费健康体检一次";

async fn card_markup(state: &State, ctx: &Ctx, h: &StoredHousehold) -> WebResult<Markup> {
    let v = load_card(state, h).await?;
    let qr = qrcode::QrCode::new(v.household_no.as_bytes())
        .map(|q| q.render::<qrcode::render::svg::Color>().min_dimensions(120, 120).quiet_zone(true).build())
        .unwrap_or_default();
    Ok(html! {
        section.card.facts.benefit-card {
            header {
                h2 { "健康医疗惠民卡" }
                div.qr { (PreEscaped(qr)) }
            }
            dl {
                dt { "户编号" } dd.mono { (v.household_no) }
                dt { "户主" } dd { (v.head) }
                dt { "贫困户属性" } dd { (v.category) }
                dt { "家庭医生团队" } dd { (v.team.as_deref().unwrap_or(UNSIGNED)) }
                @if let Some((name, duty, phone)) = &v.doctor {
                    dt { "签约医生" } dd { (name) @if !duty.is_empty() { "（" (duty) "）" } }
                    dt { "联系电话" } dd.mono { @if phone.is_empty() { (dash()) } @else { (phone) } }
                }
            }
            table {
                thead { tr { th { "姓名" } th { "与户主关系" } th { "证件号码" } } }
                tbody { @for (name, relation, id) in &v.members { tr { td { (name) } td { (relation) } td.mono { (id) } } } }
            }
            h3 { "享受的健康扶贫政策" }
            @if let Some((name, period)) = &v.policy {
                p.small { (name) "（" (period) "）" }
                ul {
                    li { (FIRST_BENEFIT) }
                    @for (name, fund, what) in &v.benefits {
                        li { strong { (name) } @if *name != *fund { "（" (fund) "）" } "：" (what) }
                    }
                    li { (LAST_BENEFIT) }
                }
            } @else {
                p { (ctx.t("本地区尚未载入结算政策", "No settlement policy loaded for this region")) }
            }
            p.small.issuer { "发放单位：" (v.issuer) " · " (v.issued_on) }
            p.noprint { a.button href=(format!("/households/{}/card.pdf", v.household_no)) { "PDF" } }
        }
    })
}

/// `GET /households/{no}/card.pdf?paper=a5|a4`: the benefit card as a PDF (A5 by default: a card
/// people keep at home).
pub async fn benefit_card_pdf(state: State, ctx: Ctx, Path(no): Path<String>, Query(q): Query<crate::params::PaperQuery>) -> WebResult<Response> {
    use huimin_app::documents::{self, Block};
    ctx.require(Permission::ViewRegistry)?;
    let paper = q.paper(documents::Paper::A5)?;
    let h = household_in_reach(&state, &ctx, &no).await?;
    let v = load_card(&state, &h).await?;
    state.store.append_audit(&ctx.audit("card.print", format!("household {}", h.household.no), "pdf")).await?;
    let text = |t: String| Block::Text { text: t, strong: false };
    let mut blocks = vec![
        Block::Title("健康医疗惠民卡".into()),
        text(format!("户编号 {} · 户主 {} · {}", v.household_no, v.head, v.category)),
        text(format!("家庭医生团队 {}", v.team.as_deref().unwrap_or(UNSIGNED))),
    ];
    if let Some((name, duty, phone)) = &v.doctor {
        blocks.push(text(format!("签约医生 {name}{} · 联系电话 {}", if duty.is_empty() { String::new() } else { format!("（{duty}）") }, if phone.is_empty() { "—" } else { phone })));
    }
    blocks.push(Block::Gap);
    blocks.push(Block::Row(vec![("姓名".into(), 1.0), ("与户主关系".into(), 1.0), ("证件号码".into(), 2.0)]));
    for (name, relation, id) in &v.members {
        blocks.push(Block::Row(vec![(name.clone(), 1.0), (relation.to_string(), 1.0), (id.clone(), 2.0)]));
    }
    blocks.push(Block::Gap);
    blocks.push(Block::Text { text: "享受的健康扶贫政策".into(), strong: true });
    match &v.policy {
        Some((name, period)) => {
            blocks.push(text(format!("{name}（{period}）")));
            blocks.push(text(format!("· {FIRST_BENEFIT}")));
            for (name, fund, what) in &v.benefits {
                blocks.push(text(format!("· {name}{}：{what}", if name == fund { String::new() } else { format!("（{fund}）") })));
            }
            blocks.push(text(format!("· {LAST_BENEFIT}")));
        }
        None => blocks.push(text("本地区尚未载入结算政策".into())),
    }
    blocks.push(Block::Gap);
    blocks.push(text(format!("发放单位：{} · {}", v.issuer, v.issued_on)));
    crate::params::pdf_answer(&blocks, paper, &format!("card-{}.pdf", v.household_no))
}

// ----- the disease catalogue -----

pub async fn catalog_page(state: State, ctx: Ctx) -> WebResult<Markup> {
    render_catalog(&state, &ctx, None).await
}

async fn render_catalog(state: &State, ctx: &Ctx, message: Option<Result<String, String>>) -> WebResult<Markup> {
    ctx.require(Permission::ViewProgress)?;
    let catalogues = state.catalogues().await;
    let c: &DiseaseCatalog = catalogues.for_region(ctx.user.region);
    let body = html! {
        @match &message { Some(Ok(m)) => p.alert.ok { (m) }, Some(Err(m)) => p.alert.error { (m) }, None => {} }
        @for g in &c.groups {
            section.card {
                h2 { (g.name) " " small.muted { (g.batch.map_or("—", |b| b.label_zh())) } }
                p { @for e in c.entries.iter().filter(|e| e.groups.contains(&g.id)) { span.tag { span.mono { (e.code) } " " (e.name) @if e.confidential { " " span.badge { (ctx.t("保密", "Confidential")) } } } " " } }
            }
        }
        @if ctx.can(Permission::ManageCatalog) {
            form.card method="post" action="/catalog" enctype="multipart/form-data" {
                h2 { (ctx.t("载入本县病种目录（补充或更正，只在本辖区生效）", "Load the county's catalogue (additions or corrections, in force in this region only)")) }
                (csrf(ctx))
                label { (ctx.t("本县病种目录文件", "The county's catalogue file")) input type="file" name="file" accept=".toml" required; }
                button.primary type="submit" { (ctx.t("载入", "Load")) }
            }
        }
    };
    Ok(layout::page(ctx, ctx.t("病种目录", "Disease catalogue"), "/catalog", body))
}

pub async fn upload_catalog(state: State, ctx: Ctx, mut multipart: Multipart) -> WebResult<Markup> {
    ctx.require(Permission::ManageCatalog)?;
    let (mut token, mut name, mut body) = (String::new(), String::new(), String::new());
    while let Some(field) = multipart.next_field().await.map_err(|e| WebError::BadRequest(e.to_string()))? {
        match field.name() {
            Some("_csrf") => token = field.text().await.unwrap_or_default(),
            Some("file") => {
                name = field.file_name().unwrap_or("catalog.toml").to_string();
                body = field.text().await.map_err(|_| WebError::BadRequest("病种目录应为 UTF-8 文本".into()))?;
            }
            _ => {}
        }
    }
    ctx.check_csrf(&token)?;
    let message = match health::load_catalog_file(&state.store, ctx.user.region, &name, &body, &ctx.user.username, &ctx.audit("catalog.load", name.clone(), "")).await {
        Ok(c) => {
            *state.catalog.write().await = std::sync::Arc::new(c);
            Ok(format!("{}{name}", ctx.t("已载入 ", "Loaded ")))
        }
        Err(HealthError::Store(e)) => return Err(e.into()),
        Err(e) => Err(e.to_string()),
    };
    render_catalog(&state, &ctx, Some(message)).await
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct HealthAnswer {
    household_no: huimin_domain::HouseholdNo,
    cards: Vec<Disclosed<StoredCard>>,
    exams: Vec<Disclosed<StoredExam>>,
    /// Confidential diagnoses were left out (the role may not see them, or only with a reason).
    confidential_withheld: bool,
}

/// A household's health file
///
/// Confidential diagnoses are left out without the right.
#[utoipa::path(get, path = "/api/households/{no}/health", tag = "Health", params(("no" = String, Path, description = "Household number")), responses((status = 200, body = HealthAnswer)))]
pub async fn api_health(state: State, ctx: Ctx, Path(no): Path<String>) -> WebResult<Json<HealthAnswer>> {
    ctx.require(Permission::ViewHealth)?;
    let h = household_in_reach(&state, &ctx, &no).await?;
    let members = state.store.household_members(&h.household.no).await?;
    let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
    let viewer = ctx.viewer(&state).await;
    let about = |id: i64| Record::Person { id, region: h.household.region };
    let all = state.store.disease_cards(&ids).await?;
    let total = all.len();
    let cards: Vec<Disclosed<StoredCard>> = all.into_iter().filter_map(|c| viewer.show(about(c.card.person_id), c)).collect();
    let exams: Vec<Disclosed<StoredExam>> = state.store.exams(&ids).await?.into_iter().filter_map(|e| viewer.show(about(e.person_id), e)).collect();
    state.store.append_audit(&ctx.audit("health.view", format!("household {}", h.household.no), "api")).await?;
    let withheld = total - cards.len();
    Ok(Json(HealthAnswer { household_no: h.household.no, cards, exams, confidential_withheld: withheld > 0 }))
}
