//! The OpenAPI 3.1 description of the JSON API, served at `/api/openapi.json`, generated from the
//! handlers' own request, parameter and answer types (`#[utoipa::path]` on each handler,
//! `ToSchema` on each type) so that it cannot drift from them. The conventions every operation
//! shares are added here once: its operationId, the error answers (RFC 9457 problem details under
//! `/api`, OperationOutcome under `/fhir`) and the two ways to sign in. The web tests check the
//! document against the router both ways, and schemathesis checks the server against it.

use utoipa::OpenApi;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Huimin (惠民) API",
        description = "The JSON API of Huimin, the health poverty alleviation information system. Amounts are integers in fen; dates are YYYY-MM-DD. Every call has the rights of its user: role and region rules apply exactly as on the pages, and data outside the user's region answers 404. Machine clients send `Authorization: Bearer <token>` (tokens are made by an administrator and act as one user); a browser session sends its cookie and, on POST, the session's CSRF token in `X-CSRF-Token`. Every error is a problem details object (RFC 9457, `application/problem+json`) whose `detail` says why. See docs/api.md and docs/fhir.md."
    ),
    paths(
        serve,
        crate::registry::api_regions,
        crate::registry::api_households,
        crate::registry::api_household,
        crate::registry::api_facilities,
        crate::registry::api_reveal_id_number,
        crate::import_page::api_roster,
        crate::exchange_page::download,
        crate::health_page::api_health,
        crate::health_page::api_save_card,
        crate::health_page::api_save_exam,
        crate::health_page::api_reveal_health,
        crate::health_page::api_catalog,
        crate::health_page::api_load_catalog,
        crate::health_page::api_campaigns,
        crate::health_page::api_create_campaign,
        crate::health_page::api_record_screening,
        crate::health_page::api_progress,
        crate::health_page::api_batches,
        crate::health_page::api_override_batch,
        crate::health_page::api_ledger,
        crate::health_page::api_update_treatment,
        crate::contract_page::api_worklist,
        crate::contract_page::api_record,
        crate::contract_page::api_contracts,
        crate::contract_page::api_sign,
        crate::contract_page::api_renew,
        crate::contract_page::api_teams,
        crate::contract_page::api_create_team,
        crate::contract_page::api_set_rule,
        crate::contract_page::api_add_member,
        crate::contract_page::api_add_key_group,
        crate::offline::api_pack,
        crate::monitoring_page::api_warnings,
        crate::monitoring_page::api_record_economics,
        crate::monitoring_page::api_load_rules,
        crate::monitoring_page::api_simulate,
        crate::monitoring_page::api_report_lead,
        crate::monitoring_page::api_take_step,
        crate::dashboard_page::api_indicators,
        crate::dashboard_page::api_over_ceiling,
        crate::dashboard_page::api_at_cap,
        crate::dashboard_page::api_reconciliation,
        crate::dashboard_page::api_refresh,
        crate::dashboard_page::api_targets,
        crate::dashboard_page::api_set_target,
        crate::settlement_page::api_claims,
        crate::settlement_page::api_policies,
        crate::settlement_page::api_load_policy,
        crate::settlement_page::api_simulate,
        crate::settlement_page::api_settle,
        crate::settlement_page::api_claim,
        crate::settlement_page::api_reverse,
        crate::audit_page::api_search,
        crate::admin::api_users,
        crate::admin::api_create_user,
        crate::auth::api_change_password,
        crate::fhir_page::metadata,
        crate::fhir_page::patient,
        crate::fhir_page::patient_everything,
        crate::fhir_page::claim,
        crate::fhir_page::coverage,
        crate::fhir_page::condition,
        crate::fhir_page::encounter,
        crate::fhir_page::care_plan,
        crate::fhir_page::explanation,
        crate::fhir_page::explanations,
        crate::fhir_page::export,
        crate::fhir_page::export_operation,
        crate::fhir_page::export_definition,
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&Conventions),
    security(("bearer" = []), ("session" = [])),
)]
struct ApiDoc;

/// What every operation shares, added to each once.
struct Conventions;

impl utoipa::Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some("An API token (hm_…) made by an administrator; it acts as its user")).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(crate::SESSION_COOKIE, "A browser session; POST also needs X-CSRF-Token"))),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let fhir = path.starts_with("/fhir");
            for (method, op) in [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
            ] {
                if let Some(op) = op {
                    conventions(path, method, fhir, op);
                }
            }
        }
    }
}

fn conventions(path: &str, method: HttpMethod, fhir: bool, op: &mut Operation) {
    op.operation_id = Some(operation_id(if method == HttpMethod::Get { "get" } else { "post" }, path));
    let public = op.security.as_ref().is_some_and(|s| s.iter().all(|r| r == &Default::default()));
    let mut errors = vec![("400", "A parameter or body that does not parse (a wrong type, a missing member), with the reason"), ("403", "The role may not do this"), ("404", "Not found, or outside the user's region")];
    if !public {
        errors.push(("401", "No valid session or API token"));
    }
    if fhir {
        errors.push(("406", "Only application/fhir+json is served"));
    }
    if op.request_body.as_ref().is_some_and(|b| b.content.contains_key("application/json")) {
        errors.push(("415", "The body is not JSON (Content-Type: application/json)"));
    }
    if !fhir {
        errors.push(("422", "Refused by a rule, with the reason"));
    }
    for (status, description) in errors {
        if op.responses.responses.contains_key(status) {
            continue;
        }
        let content = if fhir {
            ("application/fhir+json", ContentBuilder::new().schema(Some(outcome_schema())).build())
        } else {
            (crate::error::PROBLEM_JSON, ContentBuilder::new().schema(Some(RefOr::Ref(Ref::from_schema_name("Problem")))).build())
        };
        op.responses.responses.insert(status.to_string(), RefOr::T(ResponseBuilder::new().description(description).content(content.0, content.1).build()));
    }
}

fn outcome_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .property("resourceType", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["OperationOutcome"])))
        .required("resourceType")
        .property("issue", utoipa::openapi::schema::ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::Object)))
        .required("issue")
        .description(Some("A FHIR R4 OperationOutcome"))
        .into()
}

/// `GET /api/worklist` → `getApiWorklist`, `/api/persons/{id}/cards` → `postApiPersonsByIdCards`,
/// `/fhir/$export` → `getFhirRunExport`: unique, stable names a client generator makes methods of.
fn operation_id(method: &str, path: &str) -> String {
    let mut out = method.to_string();
    for part in path.split(['/', '-', '_', '.']).filter(|p| !p.is_empty()) {
        let part = match (part.strip_prefix('{').and_then(|p| p.strip_suffix('}')), part.strip_prefix('$')) {
            (Some(p), _) => format!("by_{p}"),
            (None, Some(op)) => format!("run_{op}"),
            _ => part.to_string(),
        };
        for word in part.split('_').filter(|w| !w.is_empty()) {
            let mut c = word.chars();
            if let Some(first) = c.next() {
                out.extend(first.to_uppercase());
                out.push_str(c.as_str());
            }
        }
    }
    out
}

pub fn document() -> serde_json::Value {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    fixed_length_arrays(&mut doc);
    doc
}

/// A tuple (a pair of claim number and reason) is written `prefixItems` with `items: false`;
/// client generators that cannot read a schema that is `false` get the same meaning from
/// `minItems` = `maxItems` = the tuple's length instead.
fn fixed_length_arrays(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(n) = map.get("prefixItems").and_then(|p| p.as_array()).map(Vec::len) {
                if map.get("items") == Some(&serde_json::Value::Bool(false)) {
                    map.remove("items");
                    map.insert("minItems".into(), n.into());
                    map.insert("maxItems".into(), n.into());
                }
            }
            map.values_mut().for_each(fixed_length_arrays);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(fixed_length_arrays),
        _ => {}
    }
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "API", security(()), responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub async fn serve() -> axum::Json<serde_json::Value> {
    axum::Json(document())
}
