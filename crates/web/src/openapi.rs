//! The OpenAPI 3 description of the JSON API, served at `/api/openapi.json`. The web tests check
//! it against the router both ways (every documented operation answers, every `/api` and `/fhir`
//! route is documented), so it cannot drift from the code.

use serde_json::{Value, json};

/// The schema of a parameter by its name: the server reads these as numbers or flags
/// (`params::bounded!`, `Option<bool>`), so a client generated from this document sends them so.
fn param_schema(name: &str) -> Value {
    match name {
        "page" => json!({ "type": "integer", "minimum": 1 }),
        "limit" | "per_page" => json!({ "type": "integer", "minimum": 1, "maximum": 1000 }),
        "year" => json!({ "type": "integer", "minimum": 2000, "maximum": 2100 }),
        "overdue_days" | "days" => json!({ "type": "integer", "minimum": 1 }),
        "dry_run" | "draft" | "allow_mass_exit" | "preview" | "illness" | "exited" => json!({ "type": "boolean" }),
        "as_of" | "from" | "to" => json!({ "type": "string", "format": "date" }),
        _ => json!({ "type": "string" }),
    }
}

/// A query parameter (`?name=`), optional unless `required`.
fn query(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": param_schema(name) })
}

fn path(name: &str, description: &str) -> Value {
    let schema = if name == "id" { json!({ "type": "integer" }) } else { json!({ "type": "string" }) };
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": schema })
}

fn ok(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "type": "object" } } } })
}

/// An error answer: `{"error": "…"}`.
fn error(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

/// The answers every operation may give besides its own.
fn responses(extra: Value) -> Value {
    let mut r = json!({
        "400": error("A parameter or body that does not parse, with the reason"),
        "401": error("No valid session or API token"),
        "403": error("The role may not do this"),
        "404": error("Not found, or outside the user's region"),
    });
    if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            r.insert(k.clone(), v.clone());
        }
    }
    r
}

fn get(tag: &str, summary: &str, params: Vec<Value>, answer: &str) -> Value {
    json!({ "tags": [tag], "summary": summary, "parameters": params, "responses": responses(json!({ "200": ok(answer) })) })
}

fn post(tag: &str, summary: &str, params: Vec<Value>, body: &str, answers: Value) -> Value {
    let mut answers = answers;
    answers["415"] = error("The body is not JSON (Content-Type: application/json)");
    json!({
        "tags": [tag], "summary": summary, "parameters": params,
        "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{body}") } } } },
        "responses": responses(answers),
    })
}

/// `GET /api/worklist` → `getApiWorklist`, `/api/persons/{id}/cards` → `postApiPersonsByIdCards`:
/// unique, stable names a client generator makes methods of.
fn operation_id(method: &str, path: &str) -> String {
    let mut out = method.to_string();
    for part in path.split(['/', '-', '_', '.', '$']).filter(|p| !p.is_empty()) {
        let part = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')).map_or_else(|| part.to_string(), |p| format!("by_{p}"));
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

fn refused() -> Value {
    json!({ "description": "Refused, with the reason", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

/// Every operation, by path.
fn paths() -> Value {
    let region = || query("region", "Region code (default: the user's region)");
    let code = || query("code", "Region code (default: the user's region)");
    let fhir_get = |summary: &str, params: Vec<Value>| {
        // FHIR answers its errors as OperationOutcome resources, not the API's Error.
        let outcome = |d: &str| json!({ "description": d, "content": { "application/fhir+json": { "schema": { "type": "object", "description": "OperationOutcome" } } } });
        json!({ "tags": ["FHIR R4"], "summary": summary, "parameters": params,
                "responses": {
                    "200": { "description": "A FHIR R4 resource", "content": { "application/fhir+json": { "schema": { "type": "object" } } } },
                    "400": outcome("A parameter that does not parse"), "401": outcome("No valid session or API token"),
                    "403": outcome("The role may not do this"), "404": outcome("Not found, or outside the user's region"),
                    "406": outcome("Only application/fhir+json is served"),
                } })
    };
    let all = [
        ("/api/openapi.json", json!({ "get": { "tags": ["API"], "summary": "This document", "security": [], "responses": { "200": ok("OpenAPI 3 document") } } })),
        ("/api/regions", json!({ "get": get("Registry", "A region, its registry figures and those of each region below", vec![code()], "{region, households, persons, illness_households, children}") })),
        ("/api/households", json!({ "get": get("Registry", "A page of the households inside a region", vec![
                region(), query("category", "一般 general, 低保 dibao, 特困 tekun (codes as in docs/roster-format.md)"), query("status", "Poverty status code"),
                query("illness", "Only households poor because of illness (any value)"), query("exited", "Include households that left the programme (any value)"),
                query("q", "Name, pinyin initials, ID number start or household number"), query("page", "From 1"), query("per_page", "At most 1,000 (default 50)"),
            ], "{region, total, page, per_page, households}") })),
        ("/api/roster", json!({ "post": {
                "tags": ["Registry"], "summary": "Import a roster file (the body): the difference with the registry, every bad row, the households held back; dry_run writes nothing",
                "parameters": [query("file_name", "roster.csv or roster.xlsx: how to read the body"), query("as_of", "Effective date YYYY-MM-DD (default today)"), query("dry_run", "true: compare and report only"), query("allow_mass_exit", "true: apply even if more than half the households in scope would exit")],
                "requestBody": { "required": true, "content": { "text/csv": { "schema": { "type": "string", "format": "binary" } }, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": { "schema": { "type": "string", "format": "binary" } } } },
                "responses": responses(json!({ "200": ok("{file, rows_total, households_accepted, persons_accepted, errors, held_back, scope, diff, import_id}"), "422": refused() })),
            } })),
        ("/api/exchange/{kind}", json!({ "get": {
            "tags": ["Registry"], "summary": "A region's data in the format the imports read (docs/exchange.md): regions, facilities, roster, diseases, contracts, followups or claims. Whole ID numbers: the roster-import roles only; audited",
            "parameters": [path("kind", "regions, facilities, roster, diseases, contracts, followups, claims"), region(), query("year", "Year of the contracts, follow-ups and claims"), query("format", "xlsx (default) or csv")],
            "responses": responses(json!({ "200": { "description": "The file", "content": { "text/csv": { "schema": { "type": "string", "format": "binary" } }, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": { "schema": { "type": "string", "format": "binary" } } } } })),
        } })),
        ("/api/households/{no}", json!({ "get": get("Registry", "A household's file: members (ID numbers masked unless the role sees them whole) and history", vec![path("no", "Household number")], "{household, in_programme, members, history}") })),
        ("/api/facilities", json!({ "get": get("Registry", "The facilities inside a region", vec![code()], "{region, facilities}") })),
        ("/api/households/{no}/health", json!({ "get": get("Health", "A household's health file (confidential diagnoses left out without the right)", vec![path("no", "Household number")], "{household_no, cards, exams, confidential_withheld}") })),
        ("/api/persons/{id}/cards", json!({ "post": post("Health", "Record a disease card, or update the card of its code", vec![path("id", "Person id")], "Card", json!({ "200": ok("The card, updated (its earlier values kept)"), "201": ok("The card, new"), "422": refused() })) })),
        ("/api/screening/{id}/progress", json!({ "get": get("Health", "A screening campaign's progress by region below", vec![path("id", "Campaign id"), region()], "{campaign, region, progress}") })),
        ("/api/batches", json!({ "get": get("Health", "The three batches: counts, and the persons for health roles", vec![region(), query("year", "Year (default: this year)"), query("batch", "centralised, contract or backstop"), query("page", "From 1")], "{region, year, counts, persons}") })),
        ("/api/treatment", json!({ "get": get("Health", "The treatment ledger of the centralised batch", vec![region(), query("status", "identified, in_treatment, treated, not_treated"), query("overdue_days", "Identified and not treated for this many days")], "{region, treatments}") })),
        ("/api/worklist", json!({ "get": get("Contracts", "Who is due for a follow-up, who is late, and 履约率", vec![region(), query("year", "Contract year"), query("show", "due (default), overdue, key, abnormal or all"), query("sort", "due, overdue, name or village"), query("teams", "all: the whole region rather than one's own teams"), query("page", "Page of 100 rows, from 1")], "{region, year, total, page, per_page, items, completion_by_region, completion_by_team}") })),
        ("/api/followups", json!({ "post": post("Contracts", "Record a follow-up once per submission key", vec![], "FollowUp", json!({ "200": ok("Stored before under this key: the same id"), "201": ok("{id, abnormal}"), "422": refused() })) })),
        ("/api/indicators", json!({ "get": get("Supervision", "The dashboard's figures and each supervised figure against its target", vec![region(), query("period", "2025, 2025-03, 2025-Q1 or 2025-01-01..2025-06-30 (default: this year)")], "{period, indicators, checks}") })),
        ("/api/policies", json!({
                "get": get("Settlement", "The stored settlement policies with their files", vec![], "{policies}"),
                "post": {
                    "tags": ["Settlement"], "summary": "Check and store a policy file (TOML, docs/policy-format.md), or a draft to simulate",
                    "parameters": [query("name", "The file's name, for the messages"), query("draft", "true: only to simulate")],
                    "requestBody": { "required": true, "content": { "text/plain": { "schema": { "type": "string" } } } },
                    "responses": responses(json!({ "201": ok("The stored policy"), "422": refused() })),
                },
            })),
        ("/api/policies/{id}/simulate", json!({ "get": get("Settlement", "What a (draft) policy would have paid for past claims, by fund and region", vec![path("id", "Policy id"), region(), query("from", "Discharged from YYYY-MM-DD"), query("to", "Discharged until YYYY-MM-DD")], "{claims, by_fund, by_region, refused}") })),
        ("/api/claims", json!({ "get": get("Settlement", "The claims the user may see, newest first (a clerk: their facility's; diagnoses under the disclosure rule)", vec![query("limit", "Per page, at most 1,000 (default 200)"), query("page", "From 1 (default 1)")], "{claims}") })),
        ("/api/claims/over-ceiling", json!({ "get": get("Supervision", "Claims of the period above 10% self-pay, highest share first", vec![region(), query("period", "As for /api/indicators")], "{region, period, claims}") })),
        ("/api/persons-at-cap", json!({ "get": get("Supervision", "Persons at an annual cap in the period's year", vec![region(), query("period", "As for /api/indicators")], "{region, year, persons}") })),
        ("/api/reconciliation", json!({ "get": get("Supervision", "What each fund owes each hospital for a month (by settlement date), and the claims behind one amount", vec![region(), query("month", "YYYY-MM"), query("fund", "Fund code, with facility: the claims behind"), query("facility", "Facility code")], "{region, month, owed, claims}") })),
        ("/api/contracts", json!({
                "get": get("Contracts", "The contracts of a year and 签约率 by region below", vec![region(), query("year", "Contract year")], "{region, year, contracts, rates}"),
                "post": post("Contracts", "Sign contracts for persons with a team", vec![], "Sign", json!({ "201": ok("{region, year, signed}"), "422": refused() })),
            })),
        ("/api/contracts/renew", json!({ "post": post("Contracts", "Renew every contract of a year for the next", vec![], "Renewal", json!({ "201": ok("{region, year, renewed}"), "422": refused() })) })),
        ("/api/teams", json!({
            "get": get("Contracts", "The teams serving the user's region, their members, the follow-up rule", vec![], "{teams, rule}"),
            "post": post("Contracts", "Form a family-doctor team", vec![], "Team", json!({ "201": ok("The team"), "422": refused() })),
        })),
        ("/api/teams/rule", json!({ "post": post("Contracts", "Set a region's follow-ups a year (key groups, others)", vec![], "Rule", json!({ "200": ok("{region, key_per_year, other_per_year}"), "422": refused() })) })),
        ("/api/teams/{id}/members", json!({ "post": post("Contracts", "Add a member to a team", vec![path("id", "Team id")], "Member", json!({ "201": ok("The team"), "422": refused() })) })),
        ("/api/persons/{id}/key-groups", json!({ "post": post("Contracts", "Add a person to a key group by hand, with the grounds", vec![path("id", "Person id")], "KeyGroup", json!({ "201": ok("{person_id, group}"), "422": refused() })) })),
        ("/api/persons/{id}/exams", json!({ "post": post("Health", "Record a physical examination", vec![path("id", "Person id")], "Exam", json!({ "201": ok("{person_id, exam_date}"), "422": refused() })) })),
        ("/api/persons/{id}/reveal", json!({ "post": post("Registry", "Break the glass: a person's whole ID number, with a reason (logged without the number)", vec![path("id", "Person id")], "Reason", json!({ "200": ok("{person_id, id_number}"), "422": refused() })) })),
        ("/api/persons/{id}/reveal-health", json!({ "post": post("Health", "Break the glass: a person's confidential diagnoses, with a reason (logged)", vec![path("id", "Person id")], "Reason", json!({ "200": ok("{person_id, cards}"), "422": refused() })) })),
        ("/api/catalog", json!({
            "get": get("Health", "The disease catalogue in force", vec![], "{groups, entries}"),
            "post": {
                "tags": ["Health"], "summary": "Add a county's catalogue file (TOML, docs/disease-catalog.md) to the catalogue in force",
                "parameters": [query("name", "The file's name, for the messages")],
                "requestBody": { "required": true, "content": { "text/plain": { "schema": { "type": "string" } } } },
                "responses": responses(json!({ "201": ok("{loaded, entries}"), "422": refused() })),
            },
        })),
        ("/api/account/password", json!({ "post": post("Administration", "Change one's own password (sessions only; first, when an administrator set it)", vec![], "PasswordChange", json!({ "200": ok("{changed}"), "422": refused() })) })),
        ("/api/users", json!({
            "get": get("Administration", "The users inside the administrator's region", vec![], "{users}"),
            "post": post("Administration", "Add a user", vec![], "NewUser", json!({ "201": ok("{id, username, role, region}"), "422": refused() })),
        })),
        ("/api/screening/{id}/households/{no}", json!({ "post": post("Health", "Record a household's screening in a campaign, once per submission key; with based_on, a result stored since that version is a conflict", vec![path("id", "Campaign id"), path("no", "Household number")], "Screening", json!({ "200": ok("Stored before under this key: {campaign, household_no, region, version}"), "201": ok("{campaign, household_no, region, version}"), "409": ok("{error, current}: another result was stored since the version sent as based_on"), "422": refused() })) })),
        ("/api/offline/pack", json!({ "get": get("Contracts", "What a village doctor's phone keeps for offline work: the user's own village's contracts, the campaigns under way with each household's result and version, the forms' choices, the CSRF token", vec![], "{user, region, today, generated_at, csrf, modes, adherence, contracts, campaigns}") })),
        ("/api/treatment/{id}", json!({ "post": post("Health", "Move a treatment-ledger line on", vec![path("id", "Ledger line id")], "Treatment", json!({ "200": ok("The ledger line"), "422": refused() })) })),
        ("/api/dashboard/refresh", json!({ "post": post("Supervision", "Recompute the stored township figures of a region now (else nightly)", vec![], "Refresh", json!({ "200": ok("{region, period, townships}") })) })),
        ("/api/targets", json!({
                "get": get("Supervision", "The target in force for each indicator in the user's region, and the regions' own targets", vec![], "{region, in_force, targets}"),
                "post": post("Supervision", "Set a region's target for an indicator", vec![], "Target", json!({ "201": ok("The target"), "422": refused() })),
            })),
        ("/api/audit", json!({ "get": get("Audit", "Audit entries, newest first, and the check of the hash chain", vec![query("username", "Who"), query("action", "e.g. settlement.settle"), query("target", "Part of the target"), query("from", "From (date)"), query("to", "Until (date)"), query("page", "From 1")], "{page, entries, chain}") })),
        ("/api/screening", json!({
                "get": get("Health", "The screening campaigns touching the user's region", vec![], "{campaigns}"),
                "post": post("Health", "Open a screening campaign", vec![], "Campaign", json!({ "201": ok("The campaign"), "422": refused() })),
            })),
        ("/api/batches/{id}", json!({ "post": post("Health", "Set a person's batch by hand (with a reason), or back to the rules", vec![path("id", "Person id")], "BatchOverride", json!({ "200": ok("{person_id, region, batch}"), "422": refused() })) })),
        ("/api/settlements", json!({ "post": post("Settlement", "Settle a claim at the clerk's facility through the five lines of protection (or preview it)", vec![query("preview", "true: compute the bill, store nothing")], "SettleRequest", json!({ "200": ok("Preview: the bill"), "201": ok("The one bill"), "409": ok("{error, claim_no}: the stay is settled already (the same claim number, or an overlapping inpatient stay of the person); claim_no is the bill that holds it"), "422": refused() })) })),
        ("/api/settlements/{no}", json!({ "get": get("Settlement", "A stored claim with its bill and status (diagnoses as the user may see them), and the basis of each amount", vec![path("no", "Claim number")], "{claim_no, …, bill, claim, status, diagnoses_withheld?, basis: [{layer_id, layer_name, rule, source}]}") })),
        ("/api/settlements/{no}/reverse", json!({ "post": post("Settlement", "Reverse (冲销) a settled claim", vec![path("no", "Claim number")], "Reversal", json!({ "200": ok("The reversed claim"), "422": refused() })) })),
        ("/fhir/metadata", json!({ "get": { "tags": ["FHIR R4"], "summary": "The CapabilityStatement", "security": [], "responses": { "200": ok("CapabilityStatement") } } })),
        ("/fhir/Patient/{id}", json!({ "get": fhir_get("A person as a Patient (resident ID number as an identifier, masked unless the role sees it whole)", vec![path("id", "Person id")]) })),
        ("/fhir/Patient/{id}/$everything", json!({ "get": fhir_get("A Bundle of everything about a person: Patient, Coverage, Condition, Encounter, Claim, ExplanationOfBenefit, CarePlan", vec![path("id", "Person id"), query("year", "Year of the claims and contracts (default: all)")]) })),
        ("/fhir/Claim/{no}", json!({ "get": fhir_get("A settled claim as a Claim", vec![path("no", "Claim number")]) })),
        ("/fhir/Coverage/{rid}", json!({ "get": fhir_get("A layer of protection covering a person, at the id its bundle gave it", vec![path("rid", "Resource id")]) })),
        ("/fhir/Condition/{rid}", json!({ "get": fhir_get("A disease card as a Condition (as the disclosure rule allows)", vec![path("rid", "Resource id")]) })),
        ("/fhir/Encounter/{rid}", json!({ "get": fhir_get("A settled stay or visit as an Encounter", vec![path("rid", "Resource id")]) })),
        ("/fhir/ExplanationOfBenefit/{rid}", json!({ "get": fhir_get("One fund's ExplanationOfBenefit of a claim, at the id its bundle gave it", vec![path("rid", "Resource id")]) })),
        ("/fhir/CarePlan/{rid}", json!({ "get": fhir_get("A family-doctor contract as a CarePlan", vec![path("rid", "Resource id")]) })),
        ("/fhir/ExplanationOfBenefit", json!({ "get": fhir_get("A Bundle of the claim's ExplanationOfBenefit, one per paying fund", vec![query("claim", "Claim number")]) })),
        ("/fhir/export", json!({ "get": fhir_get("A Bundle of a region for a period: its patients and everything about them", vec![region(), query("period", "As for /api/indicators")]) })),
    ];
    Value::Object(
        all.into_iter()
            .map(|(k, mut v)| {
                if let Some(ops) = v.as_object_mut() {
                    for (method, op) in ops.iter_mut() {
                        op["operationId"] = json!(operation_id(method, k));
                    }
                }
                (k.to_string(), v)
            })
            .collect(),
    )
}

pub fn document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Huimin (惠民) API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The JSON API of Huimin, the health poverty alleviation information system. Amounts are integers in fen; dates are YYYY-MM-DD. Every call has the rights of its user: role and region rules apply exactly as on the pages, and data outside the user's region answers 404. Machine clients send `Authorization: Bearer <token>` (tokens are made by an administrator and act as one user); a browser session sends its cookie and, on POST, the session's CSRF token in `X-CSRF-Token`. See docs/api.md and docs/fhir.md."
        },
        "security": [{ "bearer": [] }, { "session": [] }],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "An API token (hm_…) made by an administrator; it acts as its user" },
                "session": { "type": "apiKey", "in": "cookie", "name": "huimin_session", "description": "A browser session; POST also needs X-CSRF-Token" }
            },
            "schemas": schemas(),
        }
    })
}

/// The bodies of the requests.
fn schemas() -> Value {
    json!({
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string", "description": "Why, in Chinese" } } },
                "SettleRequest": { "type": "object", "required": ["claim_no", "person_id", "visit", "admission", "discharge", "cat_a", "cat_b", "out_of_catalogue", "necessary"], "properties": {
                    "claim_no": { "type": "string" }, "person_id": { "type": "integer" }, "facility_code": { "type": "string", "description": "Ignored: always the clerk's facility" },
                    "visit": { "type": "string", "enum": ["inpatient", "outpatient_chronic", "outpatient_general"] },
                    "admission": { "type": "string", "format": "date" }, "discharge": { "type": "string", "format": "date" },
                    "diseases": { "type": "array", "items": { "type": "string", "description": "ICD-10" } },
                    "cat_a": { "type": "integer", "description": "Fen: class A and in-policy costs" }, "cat_b": { "type": "integer", "description": "Fen: class B" },
                    "out_of_catalogue": { "type": "integer", "description": "Fen: outside the catalogue" }, "necessary": { "type": "integer", "description": "Fen: of which necessary" }
                } },
                "Sign": { "type": "object", "required": ["team", "persons", "services", "starts_on", "signed_by"], "properties": {
                    "region": { "type": "string" }, "team": { "type": "integer" }, "persons": { "type": "array", "items": { "type": "integer" } },
                    "services": { "type": "array", "items": { "type": "string", "description": "Service codes (docs/family-doctors.md)" } },
                    "starts_on": { "type": "string", "format": "date" }, "signed_by": { "type": "string" }
                } },
                "Screening": { "type": "object", "required": ["result"], "properties": { "result": { "type": "string" }, "illness_poor": { "type": "boolean" }, "submission_key": { "type": "string", "minLength": 8, "maxLength": 80 }, "screened_on": { "type": "string", "format": "date" }, "based_on": { "type": "string", "nullable": true, "description": "The version of the household's result the sender saw (null: none)" } } },
                "Treatment": { "type": "object", "required": ["status"], "properties": {
                    "status": { "type": "string", "enum": ["identified", "in_treatment", "treated", "not_treated"] }, "facility": { "type": "string" }, "plan": { "type": "string" }, "reason": { "type": "string" }
                } },
                "Target": { "type": "object", "required": ["region", "indicator", "percent", "source"], "properties": {
                    "region": { "type": "string" }, "indicator": { "type": "string", "enum": ["self_pay_ratio", "contract_rate", "follow_up_rate", "screening_rate"] },
                    "percent": { "type": "string", "description": "e.g. 10 or 9.5" }, "source": { "type": "string", "description": "The document the target comes from" }
                } },
                "Campaign": { "type": "object", "required": ["name", "region", "starts_on", "ends_on"], "properties": {
                    "name": { "type": "string" }, "region": { "type": "string" }, "starts_on": { "type": "string", "format": "date" }, "ends_on": { "type": "string", "format": "date" }
                } },
                "BatchOverride": { "type": "object", "required": ["batch"], "properties": {
                    "batch": { "type": "string", "enum": ["centralised", "contract", "backstop", "none", "rules"] }, "reason": { "type": "string", "description": "Required (4+ characters) unless back to the rules" }
                } },
                "Renewal": { "type": "object", "required": ["region", "year"], "properties": { "region": { "type": "string" }, "year": { "type": "integer", "description": "The year renewed from" } } },
        "Team": { "type": "object", "required": ["name", "facility", "region"], "properties": { "name": { "type": "string" }, "facility": { "type": "string", "description": "Lead facility code" }, "region": { "type": "string", "description": "The area served" } } },
        "Rule": { "type": "object", "required": ["region", "key_per_year", "other_per_year"], "properties": { "region": { "type": "string" }, "key_per_year": { "type": "integer", "enum": [1, 2, 3, 4, 6, 12] }, "other_per_year": { "type": "integer", "enum": [1, 2, 3, 4, 6, 12] } } },
        "Member": { "type": "object", "required": ["name", "duty"], "properties": { "name": { "type": "string" }, "duty": { "type": "string" }, "phone": { "type": "string" }, "facility": { "type": "string" }, "username": { "type": "string", "description": "Links the member to a login (their worklist)" } } },
        "KeyGroup": { "type": "object", "required": ["group", "reason"], "properties": { "group": { "type": "string" }, "reason": { "type": "string" } } },
        "Exam": { "type": "object", "required": ["exam_date"], "properties": {
            "exam_date": { "type": "string", "format": "date" }, "systolic": { "type": "string" }, "diastolic": { "type": "string" }, "glucose": { "type": "string" },
            "height": { "type": "string" }, "weight": { "type": "string" }, "findings": { "type": "string" }, "examined_at": { "type": "string" }
        } },
        "Refresh": { "type": "object", "required": ["region", "period"], "properties": { "region": { "type": "string" }, "period": { "type": "string" } } },
        "Reason": { "type": "object", "required": ["reason"], "properties": { "reason": { "type": "string", "description": "Why (4+ characters)" } } },
        "PasswordChange": { "type": "object", "required": ["current", "new"], "properties": {
            "current": { "type": "string" }, "new": { "type": "string", "minLength": 10, "maxLength": 128 } } },
        "NewUser": { "type": "object", "required": ["username", "display_name", "role", "region", "password"], "properties": {
            "username": { "type": "string" }, "display_name": { "type": "string" }, "role": { "type": "string" }, "region": { "type": "string" },
            "facility": { "type": "string", "description": "Settlement clerks: their facility" }, "password": { "type": "string", "description": "10–128 characters, not only digits, not the user name, not a common password; the user changes it at the first login" }
        } },
        "Reversal": { "type": "object", "required": ["reason"], "properties": { "reason": { "type": "string" } } },
                "Card": { "type": "object", "required": ["code"], "properties": {
                    "code": { "type": "string", "description": "ICD-10" }, "name": { "type": "string" }, "diagnosed_on": { "type": "string", "description": "2019 or 2019-05-01" },
                    "diagnosed_at": { "type": "string" }, "prognosis": { "type": "string" }, "plan": { "type": "string" }
                } },
                "FollowUp": { "type": "object", "required": ["contract", "submission_key", "followed_on", "mode"], "properties": {
                    "contract": { "type": "integer" }, "submission_key": { "type": "string" }, "followed_on": { "type": "string", "format": "date" },
                    "mode": { "type": "string", "description": "clinic, home, phone, sms, online" }, "systolic": { "type": "string" }, "diastolic": { "type": "string" },
                    "glucose": { "type": "string" }, "heart_rate": { "type": "string" }, "weight": { "type": "string" },
                    "adherence": { "type": "string", "description": "regular, irregular, not_taking, not_needed" }, "guidance": { "type": "string" }, "next_on": { "type": "string" }
                } }
            })
}

pub async fn serve() -> axum::Json<Value> {
    axum::Json(document())
}
