//! What each role sees of a person, on every way out: pages, JSON, FHIR, exchange files, lists.
//! The expectations are written out from the rule in docs/security.md, not derived from the
//! code, so that a path that forgets the rule — or a change to the rule — fails here.

mod common;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use common::*;
use huimin_domain::*;
use huimin_store::AuditEntry;

/// 张三 (V1, household HIN) has hypertension and HIV; 李四 (V2, household HSIB) schizophrenia.
/// Both were treated at 兰山区人民医院 (the clerk's hospital), with those diagnoses on the claims.
async fn confidential_records(app: &TestApp) -> (i64, i64) {
    let (a, b) = (person_id(&app.db, 1).await, person_id(&app.db, 3).await);
    let audit = AuditEntry { username: "fixture".into(), action: "health.card".into(), ..Default::default() };
    let catalogues = huimin_app::health::catalog(&app.db).await.unwrap();
    for (person, code) in [(a, "I10"), (a, "B24"), (b, "F20.0")] {
        let input = huimin_app::health::CardInput { code: code.into(), diagnosed_on: "2020-01-01".into(), ..Default::default() };
        huimin_app::health::record_card(&app.db, catalogues.base(), person, &input, "cunyi", huimin_app::clock::today(), &audit).await.unwrap();
    }
    let set = huimin_app::settlement::PolicySet::load(&app.db).await.unwrap();
    for (no, person, diseases) in [("CCONF", a, vec!["B24", "I10"]), ("CPSY", b, vec!["F20.9"])] {
        let mut req = stay_request(no, person, "H37130201");
        req.diseases = diseases.into_iter().map(str::to_string).collect();
        req.admission = Date::from_ymd_opt(2024, 5, 1).unwrap();
        req.discharge = Date::from_ymd_opt(2024, 5, 9).unwrap();
        huimin_app::settlement::settle_claim(&app.db, &set, &req, "fixture", &audit).await.unwrap();
    }
    // 李四 signs with the township's team too, so that the worklist holds them.
    let team = app.db.teams(RegionCode::parse("371302001").unwrap()).await.unwrap()[0].id;
    let year = huimin_app::clock::this_year();
    huimin_app::contracts::sign(&app.db, &[b], team, Service::ALL, "医生", Date::from_ymd_opt(year, 1, 1).unwrap(), &audit).await.unwrap();
    (a, b)
}

/// The text of an answer: a workbook's cells, a PDF's text, or the body.
fn text_of(r: &Response) -> String {
    if r.bytes.starts_with(b"%PDF") {
        let doc = lopdf::Document::load_mem(&r.bytes).expect("a PDF");
        doc.extract_text(&doc.get_pages().keys().copied().collect::<Vec<_>>()).expect("its text").chars().filter(|c| !c.is_whitespace()).collect()
    } else if r.bytes.starts_with(b"PK") {
        use calamine::Reader;
        let mut book = calamine::Xlsx::new(std::io::Cursor::new(r.bytes.clone())).expect("a workbook");
        let mut out = String::new();
        for name in book.sheet_names() {
            let range = book.worksheet_range(&name).unwrap();
            for row in range.rows() {
                for cell in row {
                    out.push_str(&cell.to_string());
                    out.push('\t');
                }
                out.push('\n');
            }
        }
        out
    } else {
        r.body.clone()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Zhang,
    Li,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Ordinary,
    Confidential,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A person's health file (cards, key groups).
    Health,
    /// A settled claim.
    Claim,
    /// Both (FHIR $everything and export).
    Both,
}

/// Whether `role` may see a diagnosis of `class` of `who` on a record of `kind` (docs/security.md,
/// "What each role sees"). Only whether the rule allows it; whether the route is open to the
/// role is `reach`.
fn may_see(role: Role, who: Who, class: Class, kind: Kind) -> bool {
    use Role::*;
    let on_file = match role {
        // Those who care for the person: the village doctor of 张三's village, the township's team.
        VillageDoctor => who == Who::Zhang,
        FamilyDoctorTeam => true,
        // Health staff who do not: ordinary diagnoses; confidential ones only with a reason.
        TownshipStaff | HealthBureau => class == Class::Ordinary,
        _ => false,
    };
    let on_claim = match role {
        // The clerks of the hospital that treated the stay entered its diagnoses.
        SettlementClerk => true,
        HealthBureau => class == Class::Ordinary,
        // The funds see payments, supervisors figures: no diagnoses.
        _ => false,
    };
    match kind {
        Kind::Health => on_file,
        Kind::Claim => on_claim,
        Kind::Both => on_file || (on_claim && role != SettlementClerk),
    }
}

/// Whether the route is open to the role for that person (403/404 otherwise).
fn reach(role: Role, path: &str, who: Who) -> bool {
    use Role::*;
    let health = matches!(role, VillageDoctor | FamilyDoctorTeam | TownshipStaff | HealthBureau) && (role != VillageDoctor || who == Who::Zhang);
    let claims = matches!(role, SettlementClerk | HealthBureau | MedicalInsurance | CivilAffairs | PovertyOffice | Supervisor);
    if path.starts_with("/api/exchange/diseases") {
        role == HealthBureau
    } else if path.starts_with("/api/exchange/") {
        matches!(role, HealthBureau | PovertyOffice)
    } else if path.starts_with("/fhir/Patient") || path.starts_with("/fhir/export") {
        role != SettlementClerk && (role != VillageDoctor || who == Who::Zhang)
    } else if path.contains("health") || path.contains("batches") || path.contains("worklist") {
        health
    } else {
        claims
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_matrix() {
    let app = TestApp::new().await;
    let (a, b) = confidential_records(&app).await;
    // (path, kind, whose record it holds)
    let paths: Vec<(String, Kind, Vec<Who>)> = vec![
        ("/households/HIN/health".into(), Kind::Health, vec![Who::Zhang]),
        ("/households/HSIB/health".into(), Kind::Health, vec![Who::Li]),
        ("/api/households/HIN/health".into(), Kind::Health, vec![Who::Zhang]),
        ("/api/households/HSIB/health".into(), Kind::Health, vec![Who::Li]),
        ("/batches".into(), Kind::Health, vec![Who::Zhang, Who::Li]),
        ("/api/batches".into(), Kind::Health, vec![Who::Zhang, Who::Li]),
        ("/worklist?show=all&teams=all".into(), Kind::Health, vec![Who::Zhang, Who::Li]),
        ("/api/worklist?show=all&teams=all".into(), Kind::Health, vec![Who::Zhang, Who::Li]),
        ("/api/exchange/diseases?format=csv".into(), Kind::Health, vec![Who::Zhang, Who::Li]),
        ("/api/exchange/diseases?format=xlsx".into(), Kind::Health, vec![Who::Zhang, Who::Li]),
        ("/api/settlements/CCONF".into(), Kind::Claim, vec![Who::Zhang]),
        ("/api/settlements/CPSY".into(), Kind::Claim, vec![Who::Li]),
        ("/settlement/claims/CCONF".into(), Kind::Claim, vec![Who::Zhang]),
        ("/settlement/claims/CPSY".into(), Kind::Claim, vec![Who::Li]),
        ("/settlement/claims/CCONF/bill.pdf".into(), Kind::Claim, vec![Who::Zhang]),
        ("/settlement/claims/CPSY/bill.pdf?paper=a5".into(), Kind::Claim, vec![Who::Li]),
        ("/api/claims".into(), Kind::Claim, vec![Who::Zhang, Who::Li]),
        ("/fhir/Claim/CCONF".into(), Kind::Claim, vec![Who::Zhang]),
        ("/fhir/Claim/CPSY".into(), Kind::Claim, vec![Who::Li]),
        ("/api/exchange/claims?format=csv&year=2024".into(), Kind::Claim, vec![Who::Zhang, Who::Li]),
        ("/api/exchange/claims?format=xlsx&year=2024".into(), Kind::Claim, vec![Who::Zhang, Who::Li]),
        (format!("/fhir/Patient/{a}/$everything"), Kind::Both, vec![Who::Zhang]),
        (format!("/fhir/Patient/{b}/$everything"), Kind::Both, vec![Who::Li]),
        ("/fhir/export?period=2024".into(), Kind::Both, vec![Who::Zhang, Who::Li]),
    ];
    let mut paths = paths;
    if !huimin_app::documents::available() {
        assert!(!std::env::var("HUIMIN_REQUIRE_BROWSER").is_ok_and(|v| v == "1"), "HUIMIN_REQUIRE_BROWSER=1 but no CJK font for PDF documents");
        eprintln!("\n*** WARNING: PDF documents left out of the privacy matrix: no CJK font (apt-get install fonts-noto-cjk) ***\n");
        paths.retain(|(p, _, _)| !p.contains(".pdf"));
    }
    // What would show each diagnosis: its code (cards, claims) or, on the worklist, its key group.
    let markers = |path: &str| -> Vec<(&'static str, Who, Class)> {
        if path.starts_with("/api/worklist") {
            vec![("hypertension", Who::Zhang, Class::Ordinary), ("severe_mental", Who::Li, Class::Confidential)]
        } else if path.starts_with("/worklist") {
            vec![("高血压", Who::Zhang, Class::Ordinary), ("严重精神障碍", Who::Li, Class::Confidential)]
        } else {
            vec![("I10", Who::Zhang, Class::Ordinary), ("B24", Who::Zhang, Class::Confidential), ("F20.", Who::Li, Class::Confidential)]
        }
    };
    let mut failures = Vec::new();
    let mut shown = 0;
    for role in Role::ALL {
        let (cookie, _) = app.login(role.code(), PASSWORD).await.unwrap();
        for (path, kind, whose) in &paths {
            let r = app.get(path, &cookie).await;
            let text = text_of(&r);
            for (marker, who, class) in markers(path) {
                if !whose.contains(&who) {
                    continue;
                }
                let expected = reach(role, path, who) && may_see(role, who, class, *kind);
                let found = r.status == StatusCode::OK && text.contains(marker);
                if expected != found {
                    failures.push(format!("{role:?} GET {path} ({}): {marker} {}", r.status, if found { "shown" } else { "missing" }));
                }
                shown += usize::from(found);
            }
        }
    }
    assert!(failures.is_empty(), "{} cells wrong:\n{}", failures.len(), failures.join("\n"));
    assert!(shown > 40, "the matrix saw diagnoses where they belong: {shown}");

    // A health user opens 张三's confidential diagnoses with a reason: then, for that answer only.
    let (bureau, csrf) = app.login("health_bureau", PASSWORD).await.unwrap();
    let opened = app.post(&format!("/persons/{a}/reveal-health"), &bureau, &[("_csrf", &csrf), ("reason", "核对大病救治名单")]).await;
    assert!(opened.status == StatusCode::OK && opened.body.contains("B24"), "{}", opened.status);
    assert!(!app.get("/households/HIN/health", &bureau).await.body.contains("B24"), "opened for one answer only");
    let withheld = app.get("/api/settlements/CCONF", &bureau).await;
    let v: serde_json::Value = serde_json::from_str(&withheld.body).unwrap();
    assert_eq!((v["claim"]["diseases"].clone(), v["diagnoses_withheld"].clone()), (serde_json::json!(["I10"]), serde_json::json!(1)), "{}", withheld.body);
    // The funds are not told that something was withheld.
    let (insurance, _) = app.login("medical_insurance", PASSWORD).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&app.get("/api/settlements/CCONF", &insurance).await.body).unwrap();
    assert_eq!((v["claim"]["diseases"].clone(), v.get("diagnoses_withheld")), (serde_json::json!([]), None));
}

/// Every GET route of the router, with each fixture value for its parameters, as every role: no
/// answer holds a whole ID number the role may not see (lists and the funds: masked; nobody: a
/// person outside their region).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_shows_a_whole_id_number_to_a_role_that_may_not_see_it() {
    let app = TestApp::new().await;
    let (a, b) = confidential_records(&app).await;
    let out = person_id(&app.db, 5).await;
    let source = include_str!("../src/lib.rs");
    let mut templates = BTreeSet::new();
    for line in source.lines().map(str::trim).filter(|l| l.starts_with(".route(\"") && l.contains("get(")) {
        templates.insert(line.split('"').nth(1).unwrap().to_string());
    }
    assert!(templates.len() > 50, "the routes were read: {templates:?}");
    let values = |param: &str| -> Vec<String> {
        match param {
            "{no}" => ["HIN", "HSIB", "HOUT", "CIN", "CCONF", "CPSY", "COUT"].map(String::from).to_vec(),
            "{id}" => vec![a.to_string(), b.to_string(), out.to_string(), "1".into()],
            "{code}" => ["371302001201", "371302001202", "371311001201", "371302"].map(String::from).to_vec(),
            "{kind}" => huimin_app::exchange::Kind::ALL.iter().map(|k| k.code().to_string()).collect(),
            // FHIR resource ids of each kind, of persons inside and outside the region.
            "{rid}" => [format!("{a}-worked-example-basic"), format!("{out}-worked-example-basic"), "card-1".into(), "card-2".into(), "card-3".into(), "enc-CIN".into(), "enc-CCONF".into(), "enc-COUT".into(), "contract-1".into(), "contract-2".into(), "CIN-2".into(), "CCONF-2".into()].to_vec(),
            "{lang}" => vec!["zh".into()],
            "{token}" => vec!["0".repeat(32)],
            other => panic!("no fixture values for {other}"),
        }
    };
    let mut requests = Vec::new();
    for t in &templates {
        let mut concrete = vec![String::new()];
        for part in t.split('/').skip(1) {
            let options = if part.starts_with('{') && part.ends_with('}') { values(part) } else { vec![part.to_string()] };
            let options = options.iter().map(|o| if part.contains("$everything") { part.to_string() } else { o.clone() }).collect::<Vec<_>>();
            concrete = concrete.iter().flat_map(|c| options.iter().map(move |o| format!("{c}/{o}"))).collect();
        }
        for c in concrete {
            let c = if c.is_empty() { "/".to_string() } else { c.replace("{id}", &a.to_string()) };
            for query in ["", "?show=all&teams=all&period=2024&year=2024&format=csv", "?format=xlsx&year=2024", "?q=张三", &format!("?q={}", id(1)), &format!("?person={a}"), &format!("?person={b}"), "?claim=CCONF"] {
                requests.push(format!("{c}{query}"));
            }
        }
    }
    let (zhang, li, outside) = (id(1), id(3), id(5));
    let mut failures = Vec::new();
    let mut answered = 0;
    for role in Role::ALL {
        use Role::*;
        // The whole numbers each role may see (on a person's own page or record).
        let allowed: Vec<&str> = match role {
            VillageDoctor => vec![&zhang],
            FamilyDoctorTeam | HealthBureau | PovertyOffice | SettlementClerk => vec![&zhang, &li],
            TownshipStaff | MedicalInsurance | CivilAffairs | Supervisor | Admin => vec![],
        };
        let (cookie, _) = app.login(role.code(), PASSWORD).await.unwrap();
        for path in &requests {
            let r = app.get(path, &cookie).await;
            answered += usize::from(r.status == StatusCode::OK);
            let text = text_of(&r);
            for whole in [&zhang, &li, &outside] {
                // A number the request itself carries (typed into a search) is not disclosed by
                // the answer.
                if !path.contains(whole.as_str()) && text.contains(whole.as_str()) && !allowed.contains(&whole.as_str()) {
                    failures.push(format!("{role:?} GET {path}: {whole}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} answers show a whole ID number:\n{}", failures.len(), failures.join("\n"));
    assert!(answered > 1000, "the routes answered: {answered} of {}", requests.len() * Role::ALL.len());
}

/// The monitoring outputs — the warnings list and its JSON, a warning's page, the village's
/// public notice, the monitoring report — carry no ID number and no diagnosis, for any role, though the warnings were opened by stays with
/// confidential diagnoses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_outputs_show_no_id_number_or_diagnosis() {
    let app = TestApp::new().await;
    let (a, b) = confidential_records(&app).await;
    let today = huimin_app::clock::today();
    let year = chrono::Datelike::year(&today);
    let audit = AuditEntry { username: "fixture".into(), action: "policy.load".into(), ..Default::default() };
    let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/worked-example.toml")).unwrap()
        .replace("2024-01-01", &format!("{}-01-01", year - 1)).replace("2024-12-31", &format!("{year}-12-31")).replace(r#"id = "worked-example""#, r#"id = "this-year""#);
    huimin_app::settlement::load_policy(&app.db, "this-year.toml", &policy, false, &audit).await.unwrap();
    // Any spending fires: every household with a stay is warned.
    let rules = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../warnings/county-2023.toml")).unwrap()
        .replace("2026-12-31", &format!("{}-12-31", year + 1)).replace("amount = \"20000\"", "amount = \"1\"").replace("\"15000\"", "\"1\"");
    huimin_app::monitoring::load_rules(&app.db, "rules.toml", &rules, "fixture", &audit).await.unwrap();
    let set = huimin_app::settlement::PolicySet::load(&app.db).await.unwrap();
    for (no, person, diseases) in [("WCONF", a, vec!["B24", "I10"]), ("WPSY", b, vec!["F20.9"])] {
        let mut req = stay_request(no, person, "H37130201");
        req.diseases = diseases.into_iter().map(str::to_string).collect();
        req.discharge = today - chrono::Duration::days(2);
        req.admission = req.discharge - chrono::Duration::days(8);
        huimin_app::settlement::settle_claim(&app.db, &set, &req, "fixture", &audit).await.unwrap();
    }
    let warnings = app.db.warnings(RegionCode::parse("371302").unwrap(), true).await.unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    // 张三's recognition is taken to its public notice.
    let zhang = warnings.iter().find(|w| w.household_no == "HIN").unwrap().id;
    let users = app.db.users_within(RegionCode::parse("37").unwrap()).await.unwrap();
    let user = |role: Role| users.iter().find(|u| u.role == role).unwrap().clone();
    for (role, step) in [
        (Role::VillageDoctor, huimin_domain::recognition::Step::HomeVisit { note: "入户核实情况属实".into() }),
        (Role::TownshipStaff, huimin_domain::recognition::Step::CrossCheck { note: "数据比对情况一致".into() }),
        (Role::VillageDoctor, huimin_domain::recognition::Step::PostNotice),
    ] {
        huimin_app::monitoring::take_step(&app.db, zhang, &step, &user(role), today, &audit).await.unwrap();
    }
    let paths = [
        "/monitoring?all=true".to_string(),
        "/api/warnings?all=true".into(),
        format!("/monitoring/{zhang}"),
        format!("/monitoring/{zhang}/notice"),
        "/reports/monitoring.xlsx".into(),
    ];
    let secrets: Vec<String> = ["I10", "B24", "F20", "高血压", "艾滋", "精神分裂"].into_iter().map(str::to_string).chain([id(1), id(3)]).collect();
    let mut failures = Vec::new();
    let mut seen = 0;
    for role in Role::ALL {
        let (cookie, _) = app.login(role.code(), PASSWORD).await.unwrap();
        for path in &paths {
            let r = app.get(path, &cookie).await;
            if r.status != StatusCode::OK {
                continue;
            }
            let text = text_of(&r);
            seen += usize::from(text.contains("HIN") || text.contains("张三"));
            for s in secrets.iter().filter(|s| text.contains(s.as_str())) {
                failures.push(format!("{role:?} GET {path}: shows {}", if s.len() == 18 { "a whole ID number" } else { s }));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(seen >= 20, "the roles that watch saw the warning: {seen}");
}
