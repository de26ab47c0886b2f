//! FHIR R4 read and export (`/fhir/…`, `application/fhir+json`). Each resource type is included
//! only for roles that see it on the pages: Patient with the registry, Condition and CarePlan with
//! health data (confidential diagnoses under the same rule), Encounter, Claim and
//! ExplanationOfBenefit with the claims (a clerk: their facility's). Mapping: docs/fhir.md.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use huimin_app::fhir;
use huimin_domain::{Disclosed, Period, Permission, Record, RegionCode, RegionLevel, Viewer};
use huimin_store::{StoredClaim, StoredPerson};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Ctx;
use crate::error::{WebError, WebResult};
use crate::State;
use crate::registry::person_in_reach;
use crate::settlement_page::{claim_visible, require_claim_access};

fn fhir_json(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/fhir+json; charset=utf-8")], v.to_string()).into_response()
}

/// The base of full URLs in bundles: this server as the client reached it.
fn base(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}/fhir")
}

use huimin_app::clock::today;

/// The CapabilityStatement
#[utoipa::path(get, path = "/fhir/metadata", tag = "FHIR R4", security(()), responses((status = 200, description = "A FHIR R4 resource", body = Object, content_type = "application/fhir+json")))]
pub async fn metadata(headers: HeaderMap) -> Response {
    let read = |t: &str| json!({ "type": t, "interaction": [{ "code": "read" }] });
    fhir_json(json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-25",
        "kind": "instance",
        "software": { "name": "Huimin", "version": env!("CARGO_PKG_VERSION") },
        // cpb-14: an instance says which one it is.
        "implementation": { "description": "惠民健康扶贫信息系统 FHIR 接口（只读）", "url": base(&headers) },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": "Read and export only; role and region rules as on the pages.",
            "resource": [
                json!({ "type": "Patient", "interaction": [{ "code": "read" }], "operation": [{ "name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything" }] }),
                read("Claim"), read("Coverage"), read("Condition"), read("Encounter"), read("CarePlan"), json!({ "type": "ExplanationOfBenefit", "interaction": [{ "code": "read" }, { "code": "search-type" }], "searchParam": [{ "name": "claim", "type": "reference" }] })],
            "operation": [{ "name": "export", "definition": format!("{}/OperationDefinition/export", base(&headers)) }],
        }],
    }))
}

/// The definition of `$export`, which the CapabilityStatement declares
#[utoipa::path(get, path = "/fhir/OperationDefinition/export", tag = "FHIR R4", security(()), responses((status = 200, description = "A FHIR R4 OperationDefinition", body = Object, content_type = "application/fhir+json")))]
pub async fn export_definition(headers: HeaderMap) -> Response {
    let param = |name: &str, r#use: &str, min: u8, t: &str, doc: &str| json!({ "name": name, "use": r#use, "min": min, "max": "1", "type": t, "documentation": doc });
    fhir_json(json!({
        "resourceType": "OperationDefinition",
        "id": "export",
        "url": format!("{}/OperationDefinition/export", base(&headers)),
        "name": "HuiminExport",
        "title": "区域健康扶贫数据导出",
        "status": "active",
        "kind": "operation",
        "description": "A region's patients in the programme and everything about them (Coverage, Condition, Encounter, Claim, ExplanationOfBenefit, CarePlan) as one collection Bundle; role, region and disclosure rules as on the pages.",
        "code": "export",
        "system": true,
        "type": false,
        "instance": false,
        "parameter": [
            param("region", "in", 0, "string", "Region code: a county or a region below it (default: the user's region)"),
            param("period", "in", 0, "string", "2025, 2025-03, 2025-Q1 or 2025-01-01..2025-06-30: claims discharged in its years"),
            param("return", "out", 1, "Bundle", "A collection Bundle"),
        ],
    }))
}

/// A person inside the user's region, with their household's region.
async fn patient_in_reach(state: &State, ctx: &Ctx, id: i64) -> WebResult<(StoredPerson, RegionCode)> {
    ctx.require(Permission::ViewRegistry)?;
    let (p, h) = person_in_reach(state, ctx, id).await?;
    Ok((p, h.household.region))
}

/// Looks up what the resources of several persons need once: facility names, region paths, policies.
struct Lookups {
    facilities: HashMap<String, huimin_domain::Facility>,
    regions: HashMap<RegionCode, String>,
    policies: huimin_app::settlement::PolicySet,
    rules: Vec<(RegionCode, huimin_domain::FollowUpRule)>,
    viewer: Viewer,
}

impl Lookups {
    async fn load(state: &State, ctx: &Ctx) -> WebResult<Lookups> {
        Ok(Lookups {
            viewer: ctx.viewer(state).await,
            facilities: state.store.all_facilities().await?,
            regions: state.store.region_codes().await?,
            policies: state.policies.read().await.clone(),
            rules: state.store.follow_up_rules().await?,
        })
    }

    fn facility_name(&self, code: &str) -> String {
        self.facilities.get(code).map_or_else(|| code.to_string(), |f| f.name.clone())
    }

    /// 山东省 临沂市 兰山区 … for a village code.
    fn path(&self, region: RegionCode) -> String {
        let mut names = Vec::new();
        let mut next = Some(region);
        while let Some(c) = next {
            if let Some(n) = self.regions.get(&c) {
                names.push(n.clone());
            }
            next = c.parent();
        }
        names.reverse();
        names.join(" ")
    }
}

/// Everything about one person the user may see: Patient, Coverage, Condition, Encounter, Claim,
/// ExplanationOfBenefit, CarePlan; with a period, only the claims discharged in it and the
/// contracts of its years.
async fn everything(state: &State, ctx: &Ctx, look: &Lookups, p: &StoredPerson, region: RegionCode, period: Option<Period>) -> WebResult<Vec<Value>> {
    let about = Record::Person { id: p.id, region };
    let mut out = vec![fhir::patient(p, region, &look.path(region), &look.viewer.sight(about))];
    let claims: Vec<Disclosed<StoredClaim>> = if ctx.can(Permission::ViewClaims) {
        let in_period = |c: &StoredClaim| period.is_none_or(|pd| pd.from <= c.claim.discharge && c.claim.discharge <= pd.to);
        let mine = state.store.claims_of_person(p.id).await?.into_iter().filter(|c| claim_visible(ctx, c) && in_period(c));
        mine.filter_map(|c| look.viewer.show_own(c)).collect()
    } else {
        Vec::new()
    };
    // The coverages of every policy that settled a claim, else of the one in force today.
    let mut policies: Vec<&huimin_policy::Policy> = Vec::new();
    for c in &claims {
        if let Some(pol) = look.policies.get(&c.policy_id) {
            if !policies.iter().any(|x| x.id == pol.id) {
                policies.push(pol);
            }
        }
    }
    if policies.is_empty() {
        policies.extend(look.policies.in_force(region, today()).map(|p| p.as_ref()));
    }
    for pol in &policies {
        out.extend(fhir::coverages(p.id, pol));
    }
    let cards = if ctx.can(Permission::ViewHealth) { state.store.disease_cards(&[p.id]).await? } else { Vec::new() };
    let diagnoses: Vec<String> = cards.iter().map(|c| c.card.disease_code.clone()).collect();
    out.extend(cards.into_iter().filter_map(|c| look.viewer.show(about, c)).map(|c| fhir::condition(&c)));
    for c in &claims {
        let Some(pol) = look.policies.get(&c.policy_id) else { continue };
        let name = look.facility_name(&c.facility_code);
        out.push(fhir::encounter(c, &name));
        out.push(fhir::claim(c, pol, &name));
        out.extend(fhir::explanations(c, pol, &name));
    }
    if ctx.can(Permission::ViewHealth) {
        let follow_ups: Vec<_> = state.store.follow_ups_of(p.id).await?.into_iter().filter_map(|f| look.viewer.show(about, f)).collect();
        let this = chrono::Datelike::year(&today());
        let (first, last) = period.map_or((this - 1, this), |pd| (chrono::Datelike::year(&pd.from), chrono::Datelike::year(&pd.to)));
        for year in first..=last.min(first + 10) {
            let Some((contract_id, _)) = state.store.contract_of(p.id, year).await? else { continue };
            let Some(row) = state.store.contract(contract_id).await? else { continue };
            let groups = huimin_app::contracts::key_groups(row.birth_date, today(), &diagnoses, &[]);
            let per_year = huimin_app::contracts::rule_for(&look.rules, row.region).per_year(!groups.is_empty());
            let windows = huimin_domain::schedule(row.contract.starts_on, row.contract.ends_on, per_year);
            out.push(fhir::care_plan(&row, &windows, &follow_ups, today()));
        }
    }
    Ok(out)
}

/// A person as a Patient (resident ID number as an identifier, masked unless the role sees it whole)
#[utoipa::path(get, path = "/fhir/Patient/{id}", tag = "FHIR R4", params(("id" = i64, Path, description = "Person id")), responses((status = 200, description = "A FHIR R4 resource", body = Object, content_type = "application/fhir+json")))]
pub async fn patient(state: State, ctx: Ctx, Path(id): Path<i64>) -> WebResult<Response> {
    let (p, region) = patient_in_reach(&state, &ctx, id).await?;
    let look = Lookups::load(&state, &ctx).await?;
    state.store.append_audit(&ctx.audit("fhir.read", format!("person {id}"), "Patient")).await?;
    Ok(fhir_json(fhir::patient(&p, region, &look.path(region), &look.viewer.sight(Record::Person { id, region }))))
}

/// `GET /fhir/{Coverage|Condition|Encounter|CarePlan|ExplanationOfBenefit}/{id}`: a resource at the fullUrl its
/// bundle gave it. Its person is found from the id (`fhir::owner_of`), then the resource is the
/// one of that person's resources with this id: the same rules of role, region and disclosure as
/// `$everything`, by construction.
async fn read_of_person(state: State, ctx: Ctx, resource_type: &'static str, rid: String) -> WebResult<Response> {
    use huimin_app::fhir::Owner;
    let person = match fhir::owner_of(resource_type, &rid).ok_or(WebError::NotFound)? {
        Owner::Person(p) => p,
        Owner::Card(id) => state.store.card_person(id).await?.ok_or(WebError::NotFound)?,
        Owner::Claim(no) => state.store.claim(&no).await?.ok_or(WebError::NotFound)?.person_id,
        Owner::Contract(id) => state.store.contract(id).await?.ok_or(WebError::NotFound)?.contract.person_id,
    };
    let (p, region) = patient_in_reach(&state, &ctx, person).await?;
    let look = Lookups::load(&state, &ctx).await?;
    let found = everything(&state, &ctx, &look, &p, region, None).await?.into_iter().find(|r| r["resourceType"] == resource_type && r["id"] == rid.as_str());
    let r = found.ok_or(WebError::NotFound)?;
    state.store.append_audit(&ctx.audit("fhir.read", format!("person {person}"), resource_type)).await?;
    Ok(fhir_json(r))
}

/// A layer of protection covering a person
#[utoipa::path(get, path = "/fhir/Coverage/{rid}", tag = "FHIR R4", params(("rid" = String, Path, description = "The resource id its bundle gave it")), responses((status = 200, description = "A FHIR R4 resource", body = Object, content_type = "application/fhir+json")))]
pub async fn coverage(state: State, ctx: Ctx, Path(id): Path<String>) -> WebResult<Response> {
    read_of_person(state, ctx, "Coverage", id).await
}

/// A disease card as a Condition (as the disclosure rule allows)
#[utoipa::path(get, path = "/fhir/Condition/{rid}", tag = "FHIR R4", params(("rid" = String, Path, description = "The resource id its bundle gave it")), responses((status = 200, description = "A FHIR R4 resource", body = Object, content_type = "application/fhir+json")))]
pub async fn condition(state: State, ctx: Ctx, Path(id): Path<String>) -> WebResult<Response> {
    read_of_person(state, ctx, "Condition", id).await
}

/// A settled stay or visit as an Encounter
#[utoipa::path(get, path = "/fhir/Encounter/{rid}", tag = "FHIR R4", params(("rid" = String, Path, description = "The resource id its bundle gave it")), responses((status = 200, description = "A FHIR R4 resource", body = Object, content_type = "application/fhir+json")))]
pub async fn encounter(state: State, ctx: Ctx, Path(id): Path<String>) -> WebResult<Response> {
    read_of_person(state, ctx, "Encounter", id).await
}

/// A family-doctor contract as a CarePlan
#[utoipa::path(get, path = "/fhir/CarePlan/{rid}", tag = "FHIR R4", params(("rid" = String, Path, description = "The resource id its bundle gave it")), responses((status = 200, description = "A FHIR R4 resource", body = Object, content_type = "application/fhir+json")))]
pub async fn care_plan(state: State, ctx: Ctx, Path(id): Path<String>) -> WebResult<Response> {
    read_of_person(state, ctx, "CarePlan", id).await
}

/// One fund's ExplanationOfBenefit of a claim
#[utoipa::path(get, path = "/fhir/ExplanationOfBenefit/{rid}", tag = "FHIR R4", params(("rid" = String, Path, description = "The resource id its bundle gave it")), responses((status = 200, description = "A FHIR R4 resource", body = Object, content_type = "application/fhir+json")))]
pub async fn explanation(state: State, ctx: Ctx, Path(id): Path<String>) -> WebResult<Response> {
    read_of_person(state, ctx, "ExplanationOfBenefit", id).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EverythingQuery {
    /// Year of the claims and contracts (default: all)
    #[param(inline)]
    year: Option<crate::params::Year>,
}

/// A Bundle of everything about a person: Patient, Coverage, Condition, Encounter, Claim, ExplanationOfBenefit, CarePlan
#[utoipa::path(get, path = "/fhir/Patient/{id}/$everything", tag = "FHIR R4", params(("id" = i64, Path, description = "Person id"), EverythingQuery), responses((status = 200, description = "A FHIR R4 resource", body = Object, content_type = "application/fhir+json")))]
pub async fn patient_everything(state: State, ctx: Ctx, headers: HeaderMap, Path(id): Path<String>, Query(q): Query<EverythingQuery>) -> WebResult<Response> {
    // The route is `/fhir/Patient/{id}/$everything`; axum hands the id without the operation.
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let (p, region) = patient_in_reach(&state, &ctx, id).await?;
    let look = Lookups::load(&state, &ctx).await?;
    let resources = everything(&state, &ctx, &look, &p, region, q.year.map(|y| Period::year(y.0))).await?;
    state.store.append_audit(&ctx.audit("fhir.read", format!("person {id}"), "$everything")).await?;
    let url = format!("{}/Patient/{id}/$everything", base(&headers));
    Ok(fhir_json(fhir::bundle("searchset", &base(&headers), Some(&url), resources)))
}

/// A claim the user may see, as they may see it.
async fn claim_in_reach(state: &State, ctx: &Ctx, look: &Lookups, no: &str) -> WebResult<Disclosed<StoredClaim>> {
    let c = state.store.claim(no).await?.ok_or(WebError::NotFound)?;
    require_claim_access(ctx, &c)?;
    look.viewer.show_own(c).ok_or(WebError::NotFound)
}

/// A settled claim as a Claim
#[utoipa::path(get, path = "/fhir/Claim/{no}", tag = "FHIR R4", params(("no" = String, Path, description = "The Claim id (the claim number, or x- and its hex)")), responses((status = 200, description = "A FHIR R4 resource", body = Object, content_type = "application/fhir+json")))]
pub async fn claim(state: State, ctx: Ctx, Path(id): Path<String>) -> WebResult<Response> {
    // A claim is read at the id its resources carry (`fhir::id` of its number).
    let no = fhir::key_of(&id).ok_or(WebError::NotFound)?;
    let look = Lookups::load(&state, &ctx).await?;
    let c = claim_in_reach(&state, &ctx, &look, &no).await?;
    let policy = look.policies.get(&c.policy_id).ok_or(WebError::NotFound)?;
    state.store.append_audit(&ctx.audit("fhir.read", format!("claim {no}"), "Claim")).await?;
    Ok(fhir_json(fhir::claim(&c, policy, &look.facility_name(&c.facility_code))))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EobQuery {
    /// The Claim id
    #[param(min_length = 1)]
    claim: String,
}

/// A Bundle of a claim's ExplanationOfBenefit, one per paying fund
#[utoipa::path(get, path = "/fhir/ExplanationOfBenefit", tag = "FHIR R4", params(EobQuery), responses((status = 200, description = "A FHIR R4 resource", body = Object, content_type = "application/fhir+json")))]
pub async fn explanations(state: State, ctx: Ctx, headers: HeaderMap, Query(q): Query<EobQuery>) -> WebResult<Response> {
    let id = Some(q.claim.trim_start_matches("Claim/")).filter(|c| !c.is_empty()).ok_or_else(|| WebError::BadRequest("需要参数 claim（结算单号）".into()))?;
    let no = fhir::key_of(id).ok_or(WebError::NotFound)?;
    let look = Lookups::load(&state, &ctx).await?;
    let c = claim_in_reach(&state, &ctx, &look, &no).await?;
    let policy = look.policies.get(&c.policy_id).ok_or(WebError::NotFound)?;
    state.store.append_audit(&ctx.audit("fhir.read", format!("claim {no}"), "ExplanationOfBenefit")).await?;
    let url = format!("{}/ExplanationOfBenefit?claim={id}", base(&headers));
    Ok(fhir_json(fhir::bundle("searchset", &base(&headers), Some(&url), fhir::explanations(&c, policy, &look.facility_name(&c.facility_code)))))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Region code (default: the user's region)
    #[param(pattern = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$")]
    region: Option<String>,
    /// As for /api/indicators
    #[param(pattern = r"^([0-9]{4}(-([0-9]{2}|Q[1-4]))?|[0-9]{4}-[0-9]{2}-[0-9]{2}\.\.[0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    period: Option<String>,
}

/// A Bundle of a region for a period: its patients and everything about them
///
/// Every person in the programme in a county (or a region below) with what the user may see of
/// them; claims discharged in the period's years. The operation `$export` of the
/// CapabilityStatement (its OperationDefinition at /fhir/OperationDefinition/export).
#[utoipa::path(get, path = "/fhir/$export", tag = "FHIR R4", params(ExportQuery), responses((status = 200, description = "A FHIR R4 Bundle (collection)", body = Object, content_type = "application/fhir+json")))]
pub async fn export_operation(state: State, ctx: Ctx, headers: HeaderMap, q: Query<ExportQuery>) -> WebResult<Response> {
    export(state, ctx, headers, q).await
}

/// The same as `$export`, at the path it had first
#[utoipa::path(get, path = "/fhir/export", tag = "FHIR R4", params(ExportQuery), responses((status = 200, description = "A FHIR R4 Bundle (collection)", body = Object, content_type = "application/fhir+json")))]
pub async fn export(state: State, ctx: Ctx, headers: HeaderMap, Query(q): Query<ExportQuery>) -> WebResult<Response> {
    ctx.require(Permission::ViewRegistry)?;
    let region = crate::registry::region_param(&ctx, q.region.as_deref())?;
    if region.level() < RegionLevel::County {
        return Err(WebError::BadRequest("请按县（或乡镇、村）导出".into()));
    }
    let period = match q.period.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Period::parse(p).map_err(|e| WebError::BadRequest(e.0))?,
        None => Period::year(chrono::Datelike::year(&today())),
    };
    let look = Lookups::load(&state, &ctx).await?;
    let mut resources = Vec::new();
    for (p, village) in state.store.persons_in_region(region).await? {
        resources.extend(everything(&state, &ctx, &look, &p, village, Some(period)).await?);
    }
    state.store.append_audit(&ctx.audit("fhir.export", format!("region {region}"), period.label())).await?;
    Ok(fhir_json(fhir::bundle("collection", &base(&headers), None, resources)))
}
