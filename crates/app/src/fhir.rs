//! FHIR R4 (4.0.1) resources built from Huimin's records: Patient, Coverage (one per layer of the
//! policy, `order` following the cascade), Condition (disease cards), Encounter, Claim and
//! ExplanationOfBenefit (one per paying fund) for a settled claim, CarePlan for a family-doctor
//! contract and its follow-ups, and Bundles. Pure: the caller fetches the records and decides
//! what the user may see. Mapping: docs/fhir.md.

use huimin_domain::{Date, Disclosed, Money, Sight};
use huimin_policy::{Bill, Fund, Policy, VisitType};
use huimin_domain::RegionCode;
use huimin_store::{ContractRow, StoredCard, StoredClaim, StoredFollowUp, StoredPerson};
use serde_json::{Value, json};

/// Our naming systems (URIs, not web addresses).
pub const RESIDENT_ID_SYSTEM: &str = "urn:huimin:sid:resident-id";
pub const HOUSEHOLD_SYSTEM: &str = "urn:huimin:sid:household";
pub const FUND_SYSTEM: &str = "urn:huimin:cs:fund";
pub const BUCKET_SYSTEM: &str = "urn:huimin:cs:bucket";
pub const ADJUDICATION_SYSTEM: &str = "urn:huimin:cs:adjudication";
const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";
const HL7_ADJUDICATION: &str = "http://terminology.hl7.org/CodeSystem/adjudication";

const BUCKETS: [(&str, &str); 4] = [("P", "政策范围内费用"), ("B", "乙类先行自付"), ("N", "目录外必需费用"), ("O", "目录外其他费用")];

/// A FHIR id (`[A-Za-z0-9\-\.]{1,64}`) for one of our keys, never a truncation (two keys must
/// not share an id): the key itself when it qualifies; else `b-` and its bytes in base 64 over
/// the id's own alphabet, which holds any key of up to 46 bytes (every claim number: at most 40)
/// and [`key_of`] reads back; else `h-` and 40 hex digits of its SHA-256.
pub fn id(key: &str) -> String {
    let plain = key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !key.is_empty() && key.len() <= 64 && plain && !["x-", "h-", "b-"].iter().any(|p| key.starts_with(p)) {
        return key.to_string();
    }
    if key.len() <= 46 {
        use base64::Engine;
        return format!("b-{}", ID_BASE64.encode(key));
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    format!("h-{}", digest.iter().take(20).map(|b| format!("{b:02x}")).collect::<String>())
}

/// Base 64 whose 64 symbols are exactly those a FHIR id may hold, without padding.
static ID_BASE64: std::sync::LazyLock<base64::engine::GeneralPurpose> = std::sync::LazyLock::new(|| {
    let alphabet = base64::alphabet::Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.").expect("64 distinct printable symbols");
    base64::engine::GeneralPurpose::new(&alphabet, base64::engine::general_purpose::NO_PAD)
});

/// The key of a FHIR id made by [`id`], where it can be read back (`h-` digests cannot; `x-`
/// and hex is how ids were written before `b-`).
pub fn key_of(id: &str) -> Option<String> {
    if let Some(text) = id.strip_prefix("b-") {
        use base64::Engine;
        return ID_BASE64.decode(text).ok().and_then(|b| String::from_utf8(b).ok());
    }
    match id.strip_prefix("x-") {
        Some(hex) => {
            let bytes: Option<Vec<u8>> = (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
            bytes.and_then(|b| String::from_utf8(b).ok())
        }
        None if id.starts_with("h-") => None,
        None => Some(id.to_string()),
    }
}

/// The key of one fund's ExplanationOfBenefit of a claim: `{claim}-{n}`, n the fund's place in
/// the cascade's list (1–9), short so that the id of every claim number can be read back.
fn explanation_key(claim_no: &str, fund: Fund) -> String {
    format!("{claim_no}-{}", Fund::ALL.iter().position(|f| *f == fund).map_or(0, |i| i + 1))
}

/// A FHIR Money in yuan. Amounts are computed in integer fen; only here, at the edge, does one
/// become a JSON number with two decimals (the shortest text of `fen / 100` is exactly those
/// digits for any amount below 2⁵³ fen).
pub fn money(fen: i64) -> Value {
    json!({ "value": fen as f64 / 100.0, "currency": "CNY" })
}

fn m(x: Money) -> Value {
    money(x.fen())
}

fn date(d: Date) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A person as a Patient. The resident ID number goes in only when the viewer sees it whole: a
/// masked number is no identifier.
pub fn patient(p: &StoredPerson, region: RegionCode, region_path: &str, sight: &Sight<'_>) -> Value {
    let person = &p.person;
    let mut identifiers = vec![json!({ "use": "secondary", "system": HOUSEHOLD_SYSTEM, "value": person.household_no.as_str() })];
    if sight.whole_id {
        identifiers.insert(0, json!({
            "use": "official",
            "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI", "display": "National unique individual identifier" }], "text": "居民身份证号码" },
            "system": RESIDENT_ID_SYSTEM,
            "value": person.id_number.as_str(),
        }));
    }
    let mut r = json!({
        "resourceType": "Patient",
        "id": p.id.to_string(),
        "identifier": identifiers,
        "active": p.in_programme,
        "name": [{ "text": person.name.as_str() }],
        "gender": if person.id_number.sex() == huimin_domain::Sex::Female { "female" } else { "male" },
        "birthDate": date(person.id_number.birth_date()),
        "address": [{ "text": region_path, "district": region.to_string(), "country": "CN" }],
    });
    if let Some(phone) = &person.phone {
        r["telecom"] = json!([{ "system": "phone", "value": phone.as_str() }]);
    }
    r
}

/// `{person}-{policy and layer}`: the person first, so the Coverage can be found again from its id.
fn coverage_id(person_id: i64, policy: &Policy, layer: &str) -> String {
    format!("{person_id}-{}", id(&format!("{}-{layer}", policy.id)))
}

/// The person a resource id made here is about, with what the store must be asked: a Coverage
/// starts with the person's id, a Condition is `card-{id}`, an Encounter `enc-{claim}`, a CarePlan
/// `contract-{id}`, an ExplanationOfBenefit `{claim}-{fund}`.
pub enum Owner {
    Person(i64),
    Card(i64),
    Claim(String),
    Contract(i64),
}

pub fn owner_of(resource_type: &str, resource_id: &str) -> Option<Owner> {
    match resource_type {
        "Coverage" => resource_id.split('-').next()?.parse().ok().map(Owner::Person),
        "Condition" => resource_id.strip_prefix("card-")?.parse().ok().map(Owner::Card),
        "Encounter" => key_of(resource_id)?.strip_prefix("enc-").map(|c| Owner::Claim(c.to_string())),
        "CarePlan" => resource_id.strip_prefix("contract-")?.parse().ok().map(Owner::Contract),
        // `{claim}-{fund code}`.
        "ExplanationOfBenefit" => key_of(resource_id)?.rsplit_once('-').map(|(claim, _)| Owner::Claim(claim.to_string())),
        _ => None,
    }
}

/// One Coverage per layer of the policy that settles the person's claims, `order` following
/// the cascade (1 = the basic insurance).
pub fn coverages(person_id: i64, policy: &Policy) -> Vec<Value> {
    policy
        .layers
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            json!({
                "resourceType": "Coverage",
                "id": coverage_id(person_id, policy, &layer.id),
                "status": "active",
                "type": { "coding": [{ "system": FUND_SYSTEM, "code": layer.fund.code(), "display": layer.fund.label_zh() }], "text": layer.name.as_ref() },
                "beneficiary": { "reference": format!("Patient/{person_id}") },
                "payor": [{ "display": layer.fund.label_zh() }],
                "order": i + 1,
                "class": [{
                    "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "plan" }] },
                    "value": policy.id.as_ref(),
                    "name": format!("{}：{}", policy.name, layer.name),
                }],
                "period": { "start": date(policy.effective_from), "end": date(policy.effective_to) },
            })
        })
        .collect()
}

/// A disease card as a Condition.
pub fn condition(c: &Disclosed<StoredCard>) -> Value {
    let card = &c.card;
    let mut r = json!({
        "resourceType": "Condition",
        "id": format!("card-{}", c.id),
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
        "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
        "code": { "coding": [{ "system": ICD10, "code": card.disease_code, "display": card.disease_name }], "text": card.disease_name },
        "subject": { "reference": format!("Patient/{}", card.person_id) },
        "recordedDate": c.recorded_at.get(..10).unwrap_or(""),
    });
    if let Some(d) = card.diagnosed_on {
        r["onsetDateTime"] = json!(date(d));
    }
    if !card.plan.is_empty() {
        r["note"] = json!([{ "text": card.plan }]);
    }
    r
}

fn facility_ref(c: &StoredClaim, facility_name: &str) -> Value {
    json!({ "identifier": { "system": "urn:huimin:sid:facility", "value": c.facility_code }, "display": facility_name })
}

/// Marks a resource from which diagnoses were left out that the viewer may open with a reason.
fn redacted(mut r: Value, withheld: usize) -> Value {
    if withheld > 0 {
        r["meta"] = json!({ "security": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "REDACTED", "display": "redacted" }] });
    }
    r
}

/// The stay or visit of a settled claim as an Encounter.
pub fn encounter(c: &Disclosed<StoredClaim>, facility_name: &str) -> Value {
    let inpatient = c.claim.visit == VisitType::Inpatient;
    redacted(json!({
        "resourceType": "Encounter",
        "id": id(&format!("enc-{}", c.claim_no)),
        "status": "finished",
        "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": if inpatient { "IMP" } else { "AMB" }, "display": if inpatient { "inpatient encounter" } else { "ambulatory" } },
        "subject": { "reference": format!("Patient/{}", c.person_id) },
        "period": { "start": date(c.claim.admission), "end": date(c.claim.discharge) },
        "reasonCode": c.claim.diseases.iter().map(|d| json!({ "coding": [{ "system": ICD10, "code": d }] })).collect::<Vec<_>>(),
        "serviceProvider": facility_ref(c, facility_name),
    }), c.diagnoses_withheld())
}

/// The elements a Claim and an ExplanationOfBenefit share, with `fields` added.
fn claim_like(resource_type: &str, resource_id: String, c: &StoredClaim, facility_name: &str, fields: Value) -> Value {
    let mut r = json!({
        "resourceType": resource_type,
        "id": resource_id,
        "status": if c.status == huimin_store::ClaimStatus::Reversed { "cancelled" } else { "active" },
        "type": claim_type(c),
        "use": "claim",
        "patient": { "reference": format!("Patient/{}", c.person_id) },
        "billablePeriod": { "start": date(c.claim.admission), "end": date(c.claim.discharge) },
        "created": c.settled_at.get(..10).unwrap_or(""),
        "provider": facility_ref(c, facility_name),
    });
    if let (Some(r), Value::Object(fields)) = (r.as_object_mut(), fields) {
        r.extend(fields);
    }
    r
}

fn claim_type(c: &StoredClaim) -> Value {
    let code = if c.claim.visit == VisitType::Inpatient { "institutional" } else { "professional" };
    json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": code }] })
}

fn bucket_items(buckets: &[Money; 4]) -> Vec<(usize, Value)> {
    BUCKETS
        .iter()
        .enumerate()
        .filter(|(i, _)| !buckets[*i].is_zero())
        .map(|(i, (code, name))| (i, json!({ "coding": [{ "system": BUCKET_SYSTEM, "code": code, "display": name }] })))
        .collect()
}

/// The paying funds of a bill in cascade order, each with its lines.
fn funds_of(bill: &Bill) -> Vec<(Fund, Vec<&huimin_policy::BillLine>)> {
    let mut out: Vec<(Fund, Vec<&huimin_policy::BillLine>)> = Vec::new();
    for line in bill.lines.iter().filter(|l| !l.total.is_zero()) {
        match out.iter_mut().find(|(f, _)| *f == line.fund) {
            Some((_, lines)) => lines.push(line),
            None => out.push((line.fund, vec![line])),
        }
    }
    out
}

/// The layers that adjudicated the claim (those of its bill: the layers for its kind of visit), in
/// cascade order; focal is the first that paid (the first of them when none did).
fn insurance_of(c: &Disclosed<StoredClaim>, policy: &Policy) -> Vec<Value> {
    let applied: Vec<_> = policy.layers.iter().filter(|l| c.bill.lines.iter().any(|b| b.layer_id == l.id)).collect();
    let paid = |id: &str| c.bill.lines.iter().any(|b| &*b.layer_id == id && !b.total.is_zero());
    let focal = applied.iter().position(|l| paid(&l.id)).unwrap_or(0);
    applied
        .iter()
        .enumerate()
        .map(|(i, l)| json!({ "sequence": i + 1, "focal": i == focal, "coverage": { "reference": format!("Coverage/{}", coverage_id(c.person_id, policy, &l.id)), "display": l.name.as_ref() } }))
        .collect()
}

/// A settled claim as a Claim: its cost by bucket, its diagnoses, and the layers that adjudicated
/// it as its insurance in cascade order (focal: the first that paid).
pub fn claim(c: &Disclosed<StoredClaim>, policy: &Policy, facility_name: &str) -> Value {
    let items: Vec<Value> = bucket_items(&c.bill.buckets)
        .into_iter()
        .enumerate()
        .map(|(n, (i, code))| json!({ "sequence": n + 1, "productOrService": code, "net": m(c.bill.buckets[i]) }))
        .collect();
    let r = claim_like("Claim", id(&c.claim_no), c, facility_name, json!({
        "identifier": claim_identifiers(c),
        "priority": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal" }] },
        "diagnosis": c.claim.diseases.iter().enumerate().map(|(i, d)| json!({ "sequence": i + 1, "diagnosisCodeableConcept": { "coding": [{ "system": ICD10, "code": d }] } })).collect::<Vec<_>>(),
        "insurance": insurance_of(c, policy),
        "item": items,
        "total": m(c.bill.total),
    }));
    redacted(r, c.diagnoses_withheld())
}

/// The claim number, and the hospital's own number of the visit (住院号) under the facility,
/// when the claim was settled at the window (`{facility}-{visit}`).
fn claim_identifiers(c: &StoredClaim) -> Vec<Value> {
    let mut out = vec![json!({ "system": "urn:huimin:sid:claim", "value": c.claim_no })];
    if let Some(visit) = c.visit_no() {
        out.push(json!({ "type": { "text": "住院号（门诊流水号）" }, "system": format!("urn:huimin:sid:visit:{}", c.facility_code), "value": visit }));
    }
    out
}

fn adjudication(code: &str, amount: i64) -> Value {
    let system = if code == "priorpaid" { ADJUDICATION_SYSTEM } else { HL7_ADJUDICATION };
    json!({ "category": { "coding": [{ "system": system, "code": code }] }, "amount": money(amount) })
}

/// One ExplanationOfBenefit per fund that paid, in cascade order: for each bucket what was
/// submitted, what earlier funds had paid (`priorpaid`), what was left for this fund
/// (`eligible`) and what it paid (`benefit`); the fund's deductible; its own layers' coverages
/// focal and the earlier ones' as prior insurance; the rule each of its layers applied (the
/// numbers used and the policy clause's source text) as process notes, as on the bill.
pub fn explanations(c: &Disclosed<StoredClaim>, policy: &Policy, facility_name: &str) -> Vec<Value> {
    let basis = policy.basis(&c.claim, &c.bill);
    let mut prior = [0i64; 4];
    let mut paid_before: Vec<&huimin_policy::BillLine> = Vec::new();
    let mut out = Vec::new();
    for (fund, lines) in funds_of(&c.bill) {
        let paid: [i64; 4] = std::array::from_fn(|b| lines.iter().map(|l| l.paid[b].fen()).sum());
        let deductible: i64 = lines.iter().map(|l| l.deductible.fen()).sum();
        let items: Vec<Value> = bucket_items(&c.bill.buckets)
            .into_iter()
            .enumerate()
            .map(|(n, (b, code))| {
                let submitted = c.bill.buckets[b].fen();
                json!({
                    "sequence": n + 1,
                    "productOrService": code,
                    "adjudication": [adjudication("submitted", submitted), adjudication("priorpaid", prior[b]), adjudication("eligible", submitted - prior[b]), adjudication("benefit", paid[b])],
                })
            })
            .collect();
        let insurance: Vec<Value> = lines
            .iter()
            .map(|l| (true, l))
            .chain(paid_before.iter().map(|l| (false, l)))
            .map(|(focal, l)| json!({ "focal": focal, "coverage": { "reference": format!("Coverage/{}", coverage_id(c.person_id, policy, &l.layer_id)), "display": l.layer_name.as_ref() } }))
            .collect();
        let benefit: i64 = paid.iter().sum();
        let notes: Vec<Value> = basis
            .iter()
            .filter(|b| lines.iter().any(|l| l.layer_id == b.layer_id))
            .enumerate()
            .map(|(n, b)| json!({ "number": n + 1, "type": "print", "text": format!("{}：{}（依据：{}）", b.layer_name, b.rule, b.source) }))
            .collect();
        out.push(claim_like("ExplanationOfBenefit", id(&explanation_key(&c.claim_no, fund)), c, facility_name, json!({
            "insurer": { "identifier": { "system": FUND_SYSTEM, "value": fund.code() }, "display": fund.label_zh() },
            "claim": { "reference": format!("Claim/{}", id(&c.claim_no)) },
            "outcome": "complete",
            "insurance": insurance,
            "item": items,
            "total": [adjudication("submitted", c.bill.total.fen()), adjudication("priorpaid", prior.iter().sum()), adjudication("deductible", deductible), adjudication("benefit", benefit)],
            "payment": { "amount": money(benefit) },
            "processNote": notes,
        })));
        for (p, x) in prior.iter_mut().zip(paid) {
            *p += x;
        }
        paid_before.extend(lines);
    }
    out
}

/// A family-doctor contract as a CarePlan: its period, team, services, and one activity per
/// follow-up window (completed when a follow-up fell in it).
pub fn care_plan(c: &ContractRow, windows: &[huimin_domain::Window], follow_ups: &[Disclosed<StoredFollowUp>], today: Date) -> Value {
    let k = &c.contract;
    let activities: Vec<Value> = windows
        .iter()
        .map(|w| {
            let done = follow_ups.iter().find(|f| f.follow_up.contract_id == c.id && f.follow_up.followed_on >= w.start && f.follow_up.followed_on <= w.end);
            let (status, text) = match done {
                Some(f) => ("completed", format!("随访 {}", date(f.follow_up.followed_on))),
                None if w.end < today => ("not-started", "逾期未随访".to_string()),
                None => ("scheduled", "待随访".to_string()),
            };
            json!({ "detail": { "kind": "Appointment", "code": { "text": "家庭医生随访" }, "status": status, "description": text,
                                 "scheduledPeriod": { "start": date(w.start), "end": date(w.end) } } })
        })
        .collect();
    json!({
        "resourceType": "CarePlan",
        "id": format!("contract-{}", c.id),
        "status": if k.ends_on < today { "completed" } else { "active" },
        "intent": "plan",
        "category": [{ "text": "家庭医生签约服务" }],
        "title": format!("{} 年家庭医生签约服务", k.year),
        "description": k.services.iter().map(|s| s.label_zh()).collect::<Vec<_>>().join("、"),
        "subject": { "reference": format!("Patient/{}", k.person_id) },
        "period": { "start": date(k.starts_on), "end": date(k.ends_on) },
        "created": date(k.signed_on),
        "author": { "display": c.team_name },
        "activity": activities,
    })
}

/// A Bundle of resources; `base` (e.g. `http://host/fhir`) gives each entry its full URL.
/// A Bundle of `resources`, each at its full URL under `base`. A `searchset` (the answer to
/// `self_url`) carries its self link, the total and each entry's search mode; a `collection`
/// carries neither (bdl-1: total only in a search set or a history).
pub fn bundle(kind: &str, base: &str, self_url: Option<&str>, resources: Vec<Value>) -> Value {
    let searchset = kind == "searchset";
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let url = format!("{base}/{}/{}", r["resourceType"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or(""));
            if searchset { json!({ "fullUrl": url, "resource": r, "search": { "mode": "match" } }) } else { json!({ "fullUrl": url, "resource": r }) }
        })
        .collect();
    let mut b = json!({ "resourceType": "Bundle", "type": kind, "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true) });
    if searchset {
        b["total"] = json!(entries.len());
        if let Some(url) = self_url {
            b["link"] = json!([{ "relation": "self", "url": url }]);
        }
    }
    b["entry"] = json!(entries);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fhir_ids() {
        assert_eq!(id("DEMO-2025-00001"), "DEMO-2025-00001");
        assert_eq!(key_of(&id("A/1")).as_deref(), Some("A/1"));
        assert_eq!(key_of("x-412f31").as_deref(), Some("A/1"), "ids written before b-");
        assert_eq!(key_of("DEMO-2025-00001").as_deref(), Some("DEMO-2025-00001"));
        // Every claim number the window takes (40 of [A-Za-z0-9_-]) reads back from its id, and
        // so do the Encounter's and each ExplanationOfBenefit's.
        let longest = format!("{}_", "H".repeat(39));
        for key in [longest.clone(), format!("enc-{longest}"), explanation_key(&longest, Fund::Other)] {
            let i = id(&key);
            assert!(i.starts_with("b-") && i.len() <= 64, "{i}");
            assert_eq!(key_of(&i).as_deref(), Some(key.as_str()));
        }
        assert!(id(&"长".repeat(40)).len() <= 64);
        // Keys that share their first 31 bytes still get different ids.
        let (a, b) = (id("1000-maojian-985-2020-backstop_90"), id("1000-maojian-985-2020-backstop_5000"));
        assert!(a != b && a.len() <= 64 && b.len() <= 64, "{a} {b}");
        assert_eq!(a, id("1000-maojian-985-2020-backstop_90"), "stable");
        assert_eq!(key_of(&a).as_deref(), Some("1000-maojian-985-2020-backstop_90"));
        assert_eq!(key_of(&id(&"长".repeat(16))), None, "a digest (48 bytes) is not read back");
        // Every id is a FHIR id, and ids of different keys differ.
        let keys = ["a", "a_b", "a b", "x-41", "b-QQ", "H1-住院号1", &"长".repeat(40), &"长".repeat(41)];
        let ids: std::collections::HashSet<String> = keys.iter().map(|k| id(k)).collect();
        assert_eq!(ids.len(), keys.len());
        assert!(ids.iter().all(|i| !i.is_empty() && i.len() <= 64 && i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')));
        assert_eq!(key_of(&id("H1-住院号1")).as_deref(), Some("H1-住院号1"));
        assert_eq!(key_of(&id("b-QQ")).as_deref(), Some("b-QQ"));
    }

    #[test]
    fn money_prints_exact_yuan() {
        for (fen, text) in [(0, "0.0"), (1, "0.01"), (12345, "123.45"), (100, "1.0"), (999_999_999_99, "999999999.99"), (-250, "-2.5")] {
            assert_eq!(money(fen)["value"].to_string(), text);
        }
    }
}
