//! The web application through the front door: real HTTP requests into the router, a real
//! SQLite database, real password hashes and sessions.

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use common::*;
use huimin_domain::*;
use huimin_store::AuditEntry;
use tower::ServiceExt;

/// Which roles may use each route. Written out, not derived from `Role::can`, so that a change
/// to the permission rules that opens a route shows up here.
fn allowed(route: &str) -> Vec<Role> {
    use Role::*;
    let registry = vec![VillageDoctor, FamilyDoctorTeam, TownshipStaff, HealthBureau, MedicalInsurance, CivilAffairs, PovertyOffice, Supervisor, Admin];
    match route {
        "home" | "facilities" => Role::ALL.to_vec(),
        "regions" | "households" | "household" => registry,
        "import" => vec![HealthBureau, PovertyOffice],
        "users" => vec![Admin],
        "audit" => vec![Supervisor, Admin],
        "reveal" => vec![TownshipStaff, MedicalInsurance, CivilAffairs, Supervisor],
        "settlement" => vec![SettlementClerk],
        "claims" | "claim" | "policies" => vec![SettlementClerk, HealthBureau, MedicalInsurance, CivilAffairs, PovertyOffice, Supervisor],
        "simulate" => vec![HealthBureau, MedicalInsurance],
        "health" | "ledger" => vec![VillageDoctor, FamilyDoctorTeam, TownshipStaff, HealthBureau],
        "card" => registry,
        "progress" => vec![VillageDoctor, FamilyDoctorTeam, TownshipStaff, HealthBureau, MedicalInsurance, CivilAffairs, PovertyOffice, Supervisor],
        "followup" => vec![VillageDoctor, FamilyDoctorTeam, TownshipStaff],
        "reconciliation" => vec![HealthBureau, MedicalInsurance, CivilAffairs, PovertyOffice, Supervisor],
        "exceptions" => vec![HealthBureau, MedicalInsurance],
        "warnings" => vec![VillageDoctor, FamilyDoctorTeam, TownshipStaff, HealthBureau, MedicalInsurance, CivilAffairs, PovertyOffice, Supervisor],
        "rules" => vec![HealthBureau, PovertyOffice],
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix() {
    let app = TestApp::new().await;
    let inside = person_id(&app.db, 1).await;
    let sibling = person_id(&app.db, 3).await;
    let outside = person_id(&app.db, 5).await;
    let year = huimin_app::clock::this_year();
    let contract_in = app.db.contract_of(inside, year).await.unwrap().unwrap().0;
    let contract_out = app.db.contract_of(outside, year).await.unwrap().unwrap().0;
    let mut failures = Vec::new();
    for role in Role::ALL {
        let (cookie, csrf) = app.login(role.code(), PASSWORD).await.unwrap_or_else(|r| panic!("{role:?} cannot log in: {}", r.status));
        let reason = [("_csrf", csrf.as_str()), ("reason", "核对身份信息")];
        // (route, request, inside the user's region?)
        let mut cases: Vec<(&str, String, bool)> = vec![
            ("home", "/".into(), true),
            ("facilities", "/facilities".into(), true),
            ("facilities", "/facilities?code=371311".into(), false),
            ("regions", "/regions".into(), true),
            ("regions", "/regions?code=371311".into(), false),
            ("households", "/households".into(), true),
            ("households", "/households?region=371311".into(), false),
            ("household", "/households/HIN".into(), true),
            ("household", "/households/HOUT".into(), false),
            ("import", "/import".into(), true),
            ("import", "/exchange".into(), true),
            ("import", "/exchange?region=371311".into(), false),
            ("import", "/api/exchange/roster?format=csv".into(), true),
            ("import", "/api/exchange/claims?region=371311".into(), false),
            ("regions", "/api/regions".into(), true),
            ("regions", "/api/regions?code=371311".into(), false),
            ("households", "/api/households".into(), true),
            ("households", "/api/households?region=371311".into(), false),
            ("households", "/fhir/export?period=2024".into(), true),
            ("households", "/fhir/export?region=371311".into(), false),
            ("household", "/api/households/HIN".into(), true),
            ("household", "/api/households/HOUT".into(), false),
            ("household", format!("/fhir/Patient/{inside}"), true),
            ("household", format!("/fhir/Patient/{outside}"), false),
            ("facilities", "/api/facilities".into(), true),
            ("facilities", "/api/facilities?code=371311".into(), false),
            ("claims", "/api/claims".into(), true),
            ("policies", "/api/policies".into(), true),
            ("audit", "/api/audit".into(), true),
            ("progress", "/api/targets".into(), true),
            ("progress", "/api/screening".into(), true),
            ("progress", "/api/teams".into(), true),
            ("progress", "/api/catalog".into(), true),
            ("users", "/api/users".into(), true),
            ("reconciliation", "/api/reconciliation?month=2024-03".into(), true),
            ("reconciliation", "/api/reconciliation?region=371311".into(), false),
            ("reconciliation", "/api/claims/over-ceiling?period=2024".into(), true),
            ("reconciliation", "/api/persons-at-cap?period=2024".into(), true),
            ("reconciliation", "/api/persons-at-cap?region=371311".into(), false),
            ("health", "/api/contracts".into(), true),
            ("health", "/api/contracts?region=371311".into(), false),
            ("claim", "/fhir/Claim/CIN".into(), true),
            ("claim", "/fhir/Claim/COUT".into(), false),
            ("users", "/admin/users".into(), true),
            ("audit", "/audit".into(), true),
            ("reveal", format!("POST /persons/{inside}/reveal"), true),
            ("reveal", format!("POST /persons/{outside}/reveal"), false),
            ("settlement", "/settlement".into(), true),
            ("settlement", format!("/settlement/new?person={inside}"), true),
            ("settlement", format!("/settlement/new?person={outside}"), false),
            ("claims", "/settlement/claims".into(), true),
            ("exceptions", "/settlement/exceptions".into(), true),
            ("claim", "/settlement/claims/CIN".into(), true),
            ("claim", "/settlement/claims/COUT".into(), false),
            ("claim", "/api/settlements/CIN".into(), true),
            ("claim", "/api/settlements/COUT".into(), false),
            ("policies", "/policies".into(), true),
            ("simulate", "/policies/worked-example/simulate?from=2024-01-01&to=2024-12-31".into(), true),
            ("simulate", "/policies/worked-example/simulate?region=371311".into(), false),
            ("health", "/households/HIN/health".into(), true),
            ("health", "/households/HOUT/health".into(), false),
            ("health", "/api/households/HIN/health".into(), true),
            ("health", "/api/households/HOUT/health".into(), false),
            ("card", "/households/HIN/card".into(), true),
            ("card", "/households/HOUT/card".into(), false),
            ("progress", "/screening".into(), true),
            ("progress", "/batches".into(), true),
            ("progress", "/batches?region=371311".into(), false),
            ("progress", "/api/batches".into(), true),
            ("progress", "/catalog".into(), true),
            ("ledger", "/treatment".into(), true),
            ("ledger", "/treatment?region=371311".into(), false),
            ("ledger", "/api/treatment?region=371311".into(), false),
            ("ledger", "/worklist?show=all".into(), true),
            ("ledger", "/worklist?region=371311".into(), false),
            ("ledger", "/api/worklist".into(), true),
            ("ledger", "/followups/abnormal".into(), true),
            ("ledger", "/followups/abnormal?region=371311".into(), false),
            ("progress", "/contracts".into(), true),
            ("progress", "/contracts?region=371311".into(), false),
            ("progress", "/teams".into(), true),
            ("followup", format!("/followups/new?contract={contract_in}"), true),
            ("progress", "/dashboard?period=2024".into(), true),
            ("progress", "/dashboard?region=371311".into(), false),
            ("progress", "/dashboard/targets".into(), true),
            ("progress", "/api/indicators?period=2024".into(), true),
            ("progress", "/api/indicators?region=371311".into(), false),
            ("progress", "/reports/claims.xlsx?period=2024".into(), true),
            ("progress", "/reports/claims.xlsx?region=371311".into(), false),
            ("reconciliation", "/reconciliation?month=2024-03".into(), true),
            ("reconciliation", "/reconciliation?region=371311".into(), false),
            ("reconciliation", "/reconciliation.xlsx?month=2024-03".into(), true),
            ("reconciliation", "/dashboard/over-ceiling?period=2024".into(), true),
            ("reconciliation", "/dashboard/caps?period=2024".into(), true),
            ("reconciliation", "/dashboard/caps?region=371311".into(), false),
            ("followup", format!("/followups/new?contract={contract_out}"), false),
            ("warnings", "/monitoring".into(), true),
            ("warnings", "/monitoring?region=371311".into(), false),
            ("warnings", "/api/warnings".into(), true),
            ("warnings", "/api/warnings?region=371311".into(), false),
            ("rules", "/monitoring/rules".into(), true),
            ("progress", "/reports/monitoring.xlsx".into(), true),
            ("progress", "/reports/monitoring.xlsx?region=371311".into(), false),
        ];
        // The neighbouring village is inside a township's or county's region, not a village doctor's.
        let sibling_inside = role != Role::VillageDoctor;
        cases.push(("household", "/households/HSIB".into(), sibling_inside));
        cases.push(("reveal", format!("POST /persons/{sibling}/reveal"), sibling_inside));
        cases.push(("health", "/households/HSIB/health".into(), sibling_inside));
        cases.push(("household", format!("/fhir/Patient/{sibling}"), sibling_inside));
        for (route, request, in_region) in cases {
            let res = match request.strip_prefix("POST ") {
                Some(path) => app.post(path, &cookie, &reason).await,
                None => app.get(&request, &cookie).await,
            };
            let expect_ok = in_region && allowed(route).contains(&role);
            let ok = res.status == StatusCode::OK;
            let refused = matches!(res.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND);
            if (expect_ok && !ok) || (!expect_ok && !refused) {
                failures.push(format!("{role:?} {request} (inside: {in_region}): got {}", res.status));
            }
        }
    }
    assert!(failures.is_empty(), "authorization matrix:\n{}", failures.join("\n"));
}

/// The links of the page's side menu.
fn menu_of(html: &str) -> Vec<String> {
    let nav = &html[html.find("<nav class=\"side\">").expect("a side menu")..];
    let nav = &nav[..nav.find("</nav>").unwrap()];
    nav.split("href=\"").skip(1).map(|s| s[..s.find('"').unwrap()].to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_has_a_menu_of_its_own_work_and_every_entry_opens() {
    let app = TestApp::new().await;
    for role in Role::ALL {
        let (cookie, _) = app.login(role.code(), PASSWORD).await.unwrap();
        let menu = menu_of(&app.get("/", &cookie).await.body);
        // Those who work in villages, townships and at a window see a short menu.
        if matches!(role, Role::VillageDoctor | Role::FamilyDoctorTeam | Role::TownshipStaff | Role::SettlementClerk) {
            assert!(menu.len() <= 10, "{role:?} has {} entries: {menu:?}", menu.len());
        }
        for path in &menu {
            let r = app.get(path, &cookie).await;
            assert_eq!(r.status, StatusCode::OK, "{role:?} {path}");
        }
        let expected: &[&str] = match role {
            Role::VillageDoctor => &["/", "/offline", "/worklist", "/followups/abnormal", "/monitoring", "/households", "/screening", "/contracts"],
            Role::SettlementClerk => &["/", "/settlement", "/settlement/claims"],
            Role::Admin => &["/", "/regions", "/facilities", "/admin/users", "/audit"],
            _ => continue,
        };
        assert_eq!(menu, expected, "{role:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_lockout_logout_and_the_audit_trail() {
    let app = TestApp::new().await;
    assert_eq!(app.get("/households", "").await.location.as_deref(), Some("/login?next=/households"));
    let wrong = app.login("health_bureau", "not-the-password").await.unwrap_err();
    assert_eq!(wrong.status, StatusCode::OK);
    assert!(wrong.body.contains("用户名或密码错误"));
    assert!(app.login("nobody", PASSWORD).await.unwrap_err().body.contains("用户名或密码错误"), "same answer for an unknown name");
    for _ in 0..4 {
        app.login("health_bureau", "still-wrong").await.unwrap_err();
    }
    // Five failures slow down this name from this address, even with the right password …
    let slowed = app.login("health_bureau", PASSWORD).await.unwrap_err();
    assert!(slowed.body.contains("尝试过于频繁") && slowed.body.contains("秒后再试"), "{}", slowed.body);
    // … but lock nobody out: the bureau signs in from its own office.
    let elsewhere = app.sign_in_from("10.0.0.8", "health_bureau", PASSWORD).await;
    assert!(cookie_pair(&elsewhere.cookies, "huimin_session").is_some(), "no account lock: {}", elsewhere.body);
    // An unknown name is slowed down the same way (the answers do not tell names apart).
    for _ in 0..5 {
        app.login("nobody-at-all", "guess-guess").await.unwrap_err();
    }
    assert!(app.login("nobody-at-all", "guess-guess").await.unwrap_err().body.contains("尝试过于频繁"));

    let (cookie, csrf) = app.login("poverty_office", PASSWORD).await.unwrap();
    let session = app.db.session_user(&sha256(&cookie["huimin_session=".len()..])).await.unwrap();
    assert!(session.is_some(), "only the token's hash is stored");
    let page = app.get("/households/HIN", &cookie).await;
    assert!(page.body.contains(&id(1)), "the poverty office sees full ID numbers on the household file");
    let list = app.get("/households?q=zs", &cookie).await;
    assert!(list.body.contains("HIN") && !list.body.contains("HSIB"), "pinyin initials find 张三");
    assert!(!list.body.contains(&id(1)), "lists never show a full ID number");

    // A form without the session's token is refused.
    assert_eq!(app.post("/logout", &cookie, &[("_csrf", "forged")]).await.status, StatusCode::FORBIDDEN);
    let out = app.post("/logout", &cookie, &[("_csrf", &csrf)]).await;
    assert_eq!(out.location.as_deref(), Some("/login"));
    assert_eq!(app.get("/", &cookie).await.status, StatusCode::SEE_OTHER, "the session is gone");

    let log = app.db.search_audit(&huimin_store::AuditFilter { limit: 100, ..Default::default() }).await.unwrap();
    let actions: Vec<&str> = log.iter().rev().filter(|r| r.entry.username != "fixture").map(|r| r.entry.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            ["login.failed"; 6].as_slice(), &["login.refused", "login"], &["login.failed"; 5], &["login.refused", "login", "household.view", "logout"]
        ]
        .concat()
    );
    let view = log.iter().find(|r| r.entry.action == "household.view").unwrap();
    assert_eq!((view.entry.username.as_str(), view.entry.ip.as_str(), view.entry.target.as_str()), ("poverty_office", "10.0.0.7", "household HIN"));
    assert_eq!(app.db.verify_audit().await.unwrap().broken_at, None);
}

fn as_refs<'a>(f: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn sha256(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_the_glass_shows_the_number_once_and_logs_why() {
    let app = TestApp::new().await;
    let (cookie, csrf) = app.login("supervisor", PASSWORD).await.unwrap();
    let page = app.get("/households/HIN", &cookie).await;
    assert!(!page.body.contains(&id(1)) && page.body.contains(&IdNumber::parse(&id(1)).unwrap().masked()));
    let pid = person_id(&app.db, 1).await;
    let short = app.post(&format!("/persons/{pid}/reveal"), &cookie, &[("_csrf", &csrf), ("reason", "看")]).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST, "a reason is required");
    let shown = app.post(&format!("/persons/{pid}/reveal"), &cookie, &[("_csrf", &csrf), ("reason", "核对重复登记")]).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains(&id(1)));
    let entry = &app.db.search_audit(&huimin_store::AuditFilter { action: Some("id.reveal".into()), limit: 5, ..Default::default() }).await.unwrap()[0];
    assert_eq!((entry.entry.username.as_str(), entry.entry.detail.as_str()), ("supervisor", "reason: 核对重复登记"));
    assert!(!entry.entry.detail.contains(&id(1)), "the log names the person, never the number");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roster_upload_preview_confirm_and_error_report() {
    let app = TestApp::new().await;
    let (cookie, csrf) = app.login("health_bureau", PASSWORD).await.unwrap();
    let bad = format!("{}0", &id(7)[..17]);
    let bad = if bad == id(7) { format!("{}1", &id(7)[..17]) } else { bad };
    let csv = format!(
        "户编号,户主姓名,与户主关系,姓名,证件号码,民族,行政区划代码,贫困户属性,脱贫状态,主要致贫原因\n\
         HIN,张三,户主,张三,{},汉族,{V1},一般贫困户,未脱贫,因病\n\
         HNEW,赵六,户主,赵六,{bad},汉族,{V2},一般贫困户,未脱贫,因病\n\
         HSIB,李四,户主,李四,{},汉族,{V2},一般贫困户,已脱贫,因残\n\
         HFAR,钱七,户主,钱七,{},汉族,{OUT_VILLAGE},一般贫困户,未脱贫,因病\n",
        id(1),
        id(3),
        id(9)
    );
    let boundary = "----huimin";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"as_of\"\r\n\r\n2025-01-01\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"2025名单.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n\
         --{boundary}--\r\n"
    );
    let preview = app.send("POST", "/import", &cookie, Some((&format!("multipart/form-data; boundary={boundary}"), body.into_bytes()))).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(preview.body.contains("校验码错误"), "the bad ID number is reported");
    assert!(preview.body.contains("不在您的管辖范围内"), "a household of another county is refused for a county user");
    assert_eq!(app.db.household(&HouseholdNo::parse("HIN").unwrap()).await.unwrap().unwrap().household.category, PovertyCategory::Dibao, "a preview writes nothing");
    let at = preview.body.find("/import/").unwrap();
    let token = &preview.body[at + 8..at + 72];

    let report = app.get(&format!("/import/{token}/errors.xlsx"), &cookie).await;
    assert_eq!(report.status, StatusCode::OK);
    assert!(report.body.starts_with("PK"), "an XLSX workbook");
    let (other, _) = app.login("poverty_office", PASSWORD).await.unwrap();
    assert_eq!(app.get(&format!("/import/{token}/errors.xlsx"), &other).await.status, StatusCode::NOT_FOUND, "an upload belongs to its user");

    let done = app.post(&format!("/import/{token}/apply"), &cookie, &[("_csrf", &csrf)]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let hin = app.db.household(&HouseholdNo::parse("HIN").unwrap()).await.unwrap().unwrap();
    assert_eq!(hin.household.category, PovertyCategory::General);
    assert!(app.db.household(&HouseholdNo::parse("HNEW").unwrap()).await.unwrap().is_none());
    assert!(app.db.household(&HouseholdNo::parse("HOUT").unwrap()).await.unwrap().unwrap().in_programme, "another county is out of scope");
    let log = app.db.search_audit(&huimin_store::AuditFilter { action: Some("roster.import".into()), limit: 5, ..Default::default() }).await.unwrap();
    assert_eq!((log[0].entry.username.as_str(), log[0].entry.target.as_str()), ("health_bureau", "2025名单.csv"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_creates_and_disables_users_inside_their_region() {
    let app = TestApp::new().await;
    let (cookie, csrf) = app.login("admin", PASSWORD).await.unwrap();
    let create = |username: &'static str, role: &'static str, region: &'static str, facility: &'static str| {
        let csrf = csrf.clone();
        let cookie = cookie.clone();
        let app = &app;
        async move {
            app.post(
                "/admin/users",
                &cookie,
                &[("_csrf", &csrf), ("username", username), ("display_name", "新用户"), ("role", role), ("region", region), ("facility", facility), ("password", "new-pass-123")],
            )
            .await
        }
    };
    assert!(create("newdoc", "village_doctor", V2, "").await.body.contains("已创建用户 newdoc"));
    assert!(create("far", "village_doctor", OUT_VILLAGE, "").await.body.contains("不在您的管辖范围内"));
    // An account belongs to a region at the level its role works at.
    assert!(create("countydoc", "village_doctor", "371302", "").await.body.contains("村医账号应属于村级区划，371302000000 是县级"));
    assert!(create("villagebureau", "health_bureau", V2, "").await.body.contains("应属于省、市、县级区划"));
    let page = app.get("/admin/users", &cookie).await.body;
    assert!(page.contains("<select name=\"region\">") && page.contains(&format!("<option value=\"{V2}\">")), "a region is picked, not typed");
    assert!(create("clerk2", "settlement_clerk", "371302", "").await.body.contains("必须指定所属医疗机构"));
    assert!(create("newdoc", "admin", "371302", "").await.body.contains("已被使用"));
    // The administrator chose the password: its user changes it before anything else.
    let first = app.sign_in_from("10.0.0.7", "newdoc", "new-pass-123").await;
    assert_eq!(first.location.as_deref(), Some("/account/password"));
    let doc_cookie = cookie_pair(&first.cookies, "huimin_session").unwrap();
    assert_eq!(app.get("/households", &doc_cookie).await.location.as_deref(), Some("/account/password"), "every page waits for the change");
    assert_eq!(app.get("/api/households", &doc_cookie).await.status, StatusCode::FORBIDDEN);
    let page = app.get("/account/password", &doc_cookie).await;
    let doc_csrf = csrf_of(&page.body);
    for (current, new, why) in [("wrong-pass-123", "Lanshan-2024-village", "当前密码不对"), ("new-pass-123", "password123", "常见密码"), ("new-pass-123", "newdoc-2024-x", "用户名"), ("new-pass-123", "short", "10–128")] {
        let r = app.post("/account/password", &doc_cookie, &[("_csrf", &doc_csrf), ("current", current), ("new", new), ("repeat", new)]).await;
        assert!(r.status == StatusCode::OK && r.body.contains(why), "{why}: {}", r.body);
    }
    let changed = app.post("/account/password", &doc_cookie, &[("_csrf", &doc_csrf), ("current", "new-pass-123"), ("new", "Lanshan-2024-village"), ("repeat", "Lanshan-2024-village")]).await;
    assert_eq!(changed.location.as_deref(), Some("/"));
    assert_eq!(app.get("/households", &doc_cookie).await.status, StatusCode::OK, "the same session goes on");
    assert!(app.login("newdoc", "new-pass-123").await.is_err());
    let (doc_cookie, _) = app.login("newdoc", "Lanshan-2024-village").await.unwrap();
    // Weak passwords are refused when an administrator sets them too.
    for weak in ["password", "aaaaaaaaaa", "newuser-123456"] {
        let r = app.post_json("/api/users", &cookie, &csrf, &serde_json::json!({ "username": "newuser", "display_name": "新", "role": "village_doctor", "region": V2, "password": weak })).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{weak}: {}", r.body);
    }
    let users = app.db.users_within(RegionCode::parse(V2).unwrap()).await.unwrap();
    let res = app.post(&format!("/admin/users/{}", users[0].id), &cookie, &[("_csrf", &csrf), ("action", "disable")]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/", &doc_cookie).await.status, StatusCode::SEE_OTHER, "disabling ends the user's sessions");
    assert!(app.login("newdoc", "Lanshan-2024-village").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_security_headers_and_speak_english_on_request() {
    let app = TestApp::new().await;
    let page = app.get("/login", "").await;
    let res = app.router.clone().oneshot(Request::get("/login").body(Body::empty()).unwrap()).await.unwrap();
    let h = res.headers();
    assert!(h["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert!(page.cookies.iter().any(|c| c.contains("HttpOnly") && c.contains("SameSite=Strict")));
    assert!(page.body.contains("登录"));
    let lang = app.get("/lang/en?next=/login", "").await;
    let en = cookie_pair(&lang.cookies, "huimin_lang").unwrap();
    assert!(app.get("/login", &en).await.body.contains("Sign in"));
    assert_eq!(app.get("/lang/en?next=//evil.example", "").await.location.as_deref(), Some("/"), "no open redirect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settlement_window_previews_confirms_prints_and_reverses() {
    let app = TestApp::new().await;
    let (cookie, csrf) = app.login("settlement_clerk", PASSWORD).await.unwrap();
    let found = app.get(&format!("/settlement?q={}", id(3)), &cookie).await;
    let pid = person_id(&app.db, 3).await;
    assert!(found.body.contains(&format!("/settlement/new?person={pid}")), "the clerk finds the patient by ID number");
    assert!(!found.body.contains(&id(3)) && found.body.contains(&IdNumber::parse(&id(3)).unwrap().masked()), "shown masked");
    // Not by name, initials or part of a number: the window is no way into the registry.
    for q in ["张", "zs", &id(3)[..10]] {
        let r = app.get(&format!("/settlement?q={}", enc(q)), &cookie).await;
        assert!(!r.body.contains("/settlement/new?person=") && r.body.contains("完整的 18 位证件号码"), "{q}");
    }
    // A mistyped check character is said as such, not as "not registered".
    let mut typo = id(3);
    let last = typo.pop().unwrap();
    typo.push(if last == '0' { '1' } else { '0' });
    let r = app.get(&format!("/settlement?q={typo}"), &cookie).await;
    assert!(r.body.contains("校验码应为") && !r.body.contains("不在本地区建档立卡名单中"), "{}", r.body);
    let form = [
        ("_csrf", csrf.as_str()), ("person_id", &pid.to_string()), ("visit_no", "ZY2024-0601"), ("visit", "inpatient"),
        ("admission", "2024-06-01"), ("discharge", "2024-06-20"), ("diseases", "I63.9"), ("cat_a", "90000"), ("cat_b", "20000"),
        ("out_of_catalogue", "10000"), ("necessary", "6000"),
    ];
    let form: Vec<(&str, String)> = form.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let with = |changes: &[(usize, &str)]| {
        let mut f = form.clone();
        for (i, v) in changes {
            f[*i].1 = v.to_string();
        }
        f
    };
    let preview = app.post("/settlement/preview", &cookie, &as_refs(&form)).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    // 李四, 一般贫困户, at a level-2 hospital: basic (108,000 − 400) × 85% = 91,460; critical
    // 11,540 × 60% = 6,924; supplementary 8,654.40 + 1,800 + 4,500 = 14,954.40; assistance
    // 961.60 × 55% = 528.88; patient 432.72 + 200 + 1,500 + 4,000 = 6,132.72.
    for figure in ["¥91,460.00", "¥6,924.00", "¥14,954.40", "¥528.88", "¥6,132.72"] {
        assert!(preview.body.contains(figure), "the preview shows {figure}");
    }
    // The preview shows what the bill will: the stay, its length, the diagnosis by name, the hospital.
    for fact in ["2024-06-01 至 2024-06-20", "住院 19 天", "I63.9", "脑梗死", "兰山区人民医院", "二级", "ZY2024-0601"] {
        assert!(preview.body.contains(fact), "the preview shows {fact}");
    }
    let no = "H37130201-ZY2024-0601";
    assert!(app.db.claim(no).await.unwrap().is_none(), "a preview writes nothing");
    let done = app.post("/settlement/confirm", &cookie, &as_refs(&form)).await;
    assert_eq!(done.location.as_deref(), Some(format!("/settlement/claims/{no}").as_str()), "{}", done.body);
    // Confirmed again (a double click, Back and resubmit): the bill it got, nothing settled twice.
    let again = app.post("/settlement/confirm", &cookie, &as_refs(&form)).await;
    assert_eq!(again.location.as_deref(), Some(format!("/settlement/claims/{no}?again=1").as_str()));
    assert!(app.get(&format!("/settlement/claims/{no}?again=1"), &cookie).await.body.contains("没有重复结算"));
    // The same visit from a freshly opened form, and an overlapping stay under another number:
    // refused before the preview, with the bill that holds the stay.
    let same = app.post("/settlement/preview", &cookie, &as_refs(&form)).await;
    assert!(same.status == StatusCode::UNPROCESSABLE_ENTITY && same.body.contains("已结算过") && same.body.contains(&format!("/settlement/claims/{no}")), "{}", same.body);
    let overlapping = with(&[(2, "ZY2024-0610"), (4, "2024-06-10"), (5, "2024-06-25")]);
    for path in ["/settlement/preview", "/settlement/confirm"] {
        let r = app.post(path, &cookie, &as_refs(&overlapping)).await;
        assert!(r.status == StatusCode::UNPROCESSABLE_ENTITY && r.body.contains("时间重叠") && r.body.contains(&format!("/settlement/claims/{no}")), "{path}: {} {:?} {}", r.status, r.location, r.body);
    }
    // A transfer: admitted elsewhere on the day of discharge is another stay.
    let transfer = with(&[(2, "ZY2024-0620"), (4, "2024-06-20"), (5, "2024-06-22")]);
    assert_eq!(app.post("/settlement/preview", &cookie, &as_refs(&transfer)).await.status, StatusCode::OK);
    // What the window refuses, with the reason.
    for (changes, why) in [
        (vec![(2, "ZY-X"), (6, "XYZ")], "不是 ICD-10 编码"),
        (vec![(2, "ZY-F"), (4, "2099-01-01"), (5, "2099-01-05")], "晚于今天"),
        (vec![(2, "ZY-L"), (4, "2022-01-01"), (5, "2024-06-30")], "超过一年"),
        (vec![(2, "住院 1")], "住院号"),
    ] {
        let r = app.post("/settlement/preview", &cookie, &as_refs(&with(&changes))).await;
        assert!(r.status.is_client_error() && r.body.contains(why), "{why}: {} {}", r.status, r.body.chars().take(200).collect::<String>());
    }
    let bill = app.get(&format!("/settlement/claims/{no}"), &cookie).await;
    let settled = app.db.claim(no).await.unwrap().unwrap();
    for part in ["兰山区人民医院", "健康扶贫“一站式”结算单", "data-print", "陆仟壹佰叁拾贰元柒角贰分", "¥6,132.72", "结算员：结算窗口", "（北京时间）", "患者（家属）签字", "医院结算专用章",
                 &huimin_domain::stored_time_text(&settled.settled_at)] {
        assert!(bill.body.contains(part), "the bill shows {part}");
    }
    assert!(!bill.body.contains(&settled.settled_at), "no raw UTC time on the bill");
    // Each amount cites its rule: the numbers applied to this claim and their source.
    assert!(bill.body.contains("计算依据") && bill.body.contains("报销 85%，每次起付 400 元，年度最高 15 万元") && bill.body.contains("Huimin domain guide"), "the bill cites its rules");
    let json: serde_json::Value = serde_json::from_str(&app.get(&format!("/api/settlements/{no}"), &cookie).await.body).unwrap();
    assert_eq!(json["basis"][0]["rule"], "报销 85%，每次起付 400 元，年度最高 15 万元", "{json}");
    assert_eq!(json["claim_no"], no, "the claim itself is there too");
    // The verification code printed on the bill checks it; a changed code does not.
    let code = app.db.bill_code(&settled);
    assert!(bill.body.contains(&code) && bill.body.contains("<svg"), "the bill carries its code and a QR code");
    let ok = app.get(&format!("/settlement/verify?no={no}&code={}", code.to_ascii_lowercase()), &cookie).await;
    assert!(ok.body.contains("核验通过") && ok.body.contains("陆仟壹佰叁拾贰元柒角贰分"), "{}", ok.body);
    // The same bill as a PDF, A4 and A5, reads back with the same facts.
    if huimin_app::documents::available() {
        for paper in ["a4", "a5"] {
            let pdf = app.get(&format!("/settlement/claims/{no}/bill.pdf?paper={paper}"), &cookie).await;
            assert_eq!(pdf.status, StatusCode::OK);
            let doc = lopdf::Document::load_mem(&pdf.bytes).unwrap();
            let text: String = doc.extract_text(&doc.get_pages().keys().copied().collect::<Vec<_>>()).unwrap().chars().filter(|c| !c.is_whitespace()).collect();
            for part in ["兰山区人民医院", "健康扶贫“一站式”结算单", "陆仟壹佰叁拾贰元柒角贰分", "结算员：结算窗口", "脑梗死", code.as_str()] {
                assert!(text.contains(part), "{paper}: {part} in {text}");
            }
        }
        assert_eq!(app.get(&format!("/settlement/claims/{no}/bill.pdf?paper=b5"), &cookie).await.status, StatusCode::BAD_REQUEST);
    } else if std::env::var("HUIMIN_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("HUIMIN_REQUIRE_BROWSER=1 but no CJK font for PDF documents");
    } else {
        eprintln!("\n*** WARNING: the bill's PDF is not checked: no CJK font (apt-get install fonts-noto-cjk) ***\n");
    }
    let forged = app.get(&format!("/settlement/verify?no={no}&code=0000000000000000"), &cookie).await;
    assert!(forged.body.contains("核验码不符") && !forged.body.contains("核验通过"));
    let late = with(&[(2, "ZY2025-0201"), (4, "2025-02-01"), (5, "2025-02-02")]);
    let refused = app.post("/settlement/preview", &cookie, &as_refs(&late)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("没有适用于区划"), "no policy in force on 2025-02-01");

    let rev = app.post(&format!("/settlement/claims/{no}/reverse"), &cookie, &[("_csrf", &csrf), ("reason", "录入错误")]).await;
    assert_eq!(rev.status, StatusCode::SEE_OTHER);
    assert_eq!(app.db.claim(no).await.unwrap().unwrap().status, huimin_store::ClaimStatus::Reversed);
    assert!(app.db.accumulators(pid, 2024).await.unwrap().layers.is_empty(), "the accumulators are back to nothing");
    // Once reversed, the stay can be settled again (under the corrected number).
    assert_eq!(app.post("/settlement/confirm", &cookie, &as_refs(&overlapping)).await.status, StatusCode::SEE_OTHER);
    // The list: newest first, with the patient's name and the hospital's, a page at a time.
    let first = app.get("/settlement/claims?limit=1", &cookie).await;
    assert!(first.body.contains("H37130201-ZY2024-0610") && first.body.contains("李四") && first.body.contains("兰山区人民医院") && first.body.contains("page=2"), "{}", first.body);
    let second = app.get("/settlement/claims?limit=1&page=2", &cookie).await;
    assert!(second.body.contains(no) && !second.body.contains("H37130201-ZY2024-0610"));

    // The JSON API: CSRF header required, amounts in fen.
    let body = serde_json::json!({
        "claim_no": "API-1", "person_id": pid, "facility_code": "ignored", "visit": "inpatient",
        "admission": "2024-07-01", "discharge": "2024-07-03", "diseases": [],
        "cat_a": 100000, "cat_b": 0, "out_of_catalogue": 0, "necessary": 0
    })
    .to_string();
    let no_token = app.send("POST", "/api/settlements", &cookie, Some(("application/json", body.clone().into_bytes()))).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let res = app.post_json("/api/settlements", &cookie, &csrf, &serde_json::from_str(&body).unwrap()).await;
    assert_eq!(res.status, StatusCode::CREATED);
    let bill: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(bill["total"], 100000);
    // Twice: 409 with the bill that holds the stay.
    let twice = app.post_json("/api/settlements", &cookie, &csrf, &serde_json::from_str(&body).unwrap()).await;
    let v: serde_json::Value = serde_json::from_str(&twice.body).unwrap();
    assert_eq!((twice.status, v["claim_no"].as_str()), (StatusCode::CONFLICT, Some("API-1")), "{}", twice.body);
    assert_eq!(app.db.claim("API-1").await.unwrap().unwrap().facility_code, "H37130201", "always the clerk's own facility");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_file_keeps_confidential_diagnoses_confidential() {
    let app = TestApp::new().await;
    let pid = person_id(&app.db, 1).await;
    // The village doctor records two diseases; one of them is confidential.
    let (doctor, csrf) = app.login("village_doctor", PASSWORD).await.unwrap();
    for code in ["I10", "F20.0"] {
        let res = app.post(&format!("/persons/{pid}/cards"), &doctor, &[("_csrf", &csrf), ("code", code), ("diagnosed_on", "2020-05-01"), ("diagnosed_at", "一镇卫生院")]).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    }
    let bad = app.post(&format!("/persons/{pid}/cards"), &doctor, &[("_csrf", &csrf), ("code", "高血压")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("不是 ICD-10 编码"));
    let exam = app.post(&format!("/persons/{pid}/exams"), &doctor, &[("_csrf", &csrf), ("exam_date", "2024-04-01"), ("systolic", "90"), ("diastolic", "120")]).await;
    assert_eq!(exam.status, StatusCode::BAD_REQUEST, "diastolic above systolic");
    let exam = app.post(&format!("/persons/{pid}/exams"), &doctor, &[("_csrf", &csrf), ("exam_date", "2024-04-01"), ("systolic", "150"), ("diastolic", "95"), ("glucose", "6.8")]).await;
    assert_eq!(exam.status, StatusCode::SEE_OTHER);
    let page = app.get("/households/HIN/health", &doctor).await;
    assert!(page.body.contains("精神分裂症") && page.body.contains("150/95"), "the doctor who cares for the patient sees it");
    // The same through the API.
    let json = app.post_json(&format!("/api/persons/{pid}/cards"), &doctor, &csrf, &serde_json::json!({ "code": "E11.9", "prognosis": "需长期服药" })).await;
    assert_eq!(json.status, StatusCode::CREATED, "{}", json.body);
    assert!(json.body.contains("2型糖尿病"));
    let json = app.post_json(&format!("/api/persons/{pid}/cards"), &doctor, &csrf, &serde_json::json!({ "code": "E11.9", "diagnosed_on": "2999-01-01" })).await;
    assert_eq!(json.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(json.body.contains("晚于今天"));
    assert_eq!(app.post_json(&format!("/api/persons/{pid}/cards"), &doctor, "wrong", &serde_json::json!({ "code": "E11.9" })).await.status, StatusCode::FORBIDDEN);

    // The township health centre sees that a confidential card exists, not what it is.
    let (township, csrf) = app.login("township_staff", PASSWORD).await.unwrap();
    let page = app.get("/households/HIN/health", &township).await;
    assert!(page.body.contains("原发性高血压") && page.body.contains("保密病种"));
    assert!(!page.body.contains("F20") && !page.body.contains("精神分裂症"));
    for list in ["/batches", "/api/batches", "/api/households/HIN/health"] {
        let body = app.get(list, &township).await.body;
        assert!(!body.contains("F20") && !body.contains("精神分裂症"), "{list} leaks the diagnosis");
    }
    let opened = app.post(&format!("/persons/{pid}/reveal-health"), &township, &[("_csrf", &csrf), ("reason", "转诊需要核对病情")]).await;
    assert_eq!(opened.status, StatusCode::OK);
    assert!(opened.body.contains("精神分裂症"));
    let entry = &app.db.search_audit(&huimin_store::AuditFilter { action: Some("health.reveal".into()), limit: 5, ..Default::default() }).await.unwrap()[0];
    assert_eq!(entry.entry.detail, "reason: 转诊需要核对病情");
    let log = app.db.search_audit(&huimin_store::AuditFilter { limit: 200, ..Default::default() }).await.unwrap();
    assert!(log.iter().all(|e| !e.entry.detail.contains("F20") && !e.entry.target.contains("F20")), "no diagnosis in the audit log");

    // Both diseases put the person in the contract batch (F20 is a special disease).
    let batches: serde_json::Value = serde_json::from_str(&app.get("/api/batches", &township).await.body).unwrap();
    assert_eq!(batches["counts"]["contract"], 1);
    // A settlement clerk sees none of it.
    let (clerk, _) = app.login("settlement_clerk", PASSWORD).await.unwrap();
    assert_eq!(app.get("/households/HIN/health", &clerk).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_is_stored_once_and_abnormal_readings_are_listed() {
    let app = TestApp::new().await;
    let today = huimin_app::clock::today();
    let year = chrono::Datelike::year(&today);
    let pid = person_id(&app.db, 1).await;
    let contract = app.db.contract_of(pid, year).await.unwrap().unwrap().0;
    let (doctor, csrf) = app.login("village_doctor", PASSWORD).await.unwrap();
    // Nobody has been followed up this year: the contract is on the worklist, late unless it is January.
    let list = app.get("/worklist?show=all", &doctor).await;
    assert!(list.body.contains("张三") && list.body.contains(&format!("/followups/new?contract={contract}")));
    let form = app.get(&format!("/followups/new?contract={contract}"), &doctor).await;
    let key = {
        let at = form.body.find("name=\"submission_key\" value=\"").expect("a submission key") + 28;
        form.body[at..at + 64].to_string()
    };
    let date = today.to_string();
    let fields = |key: &str| {
        vec![("_csrf", csrf.clone()), ("contract", contract.to_string()), ("submission_key", key.to_string()), ("followed_on", date.clone()), ("mode", "home".into()), ("systolic", "152".into()), ("diastolic", "96".into()), ("heart_rate", "76".into()), ("adherence", "regular".into()), ("guidance", "低盐饮食".into())]
    };
    let post = |f: Vec<(&'static str, String)>| {
        let (app, doctor) = (&app, &doctor);
        async move { app.post("/followups", doctor, &f.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()).await }
    };
    let none: serde_json::Value = serde_json::from_str(&app.get("/api/worklist?show=abnormal", &doctor).await.body).unwrap();
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0), "no abnormal reading yet");
    let first = post(fields(&key)).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    // The connection dropped and the doctor pressed save again: the same follow-up, stored once.
    let again = post(fields(&key)).await;
    assert_eq!((again.status, again.location.clone()), (StatusCode::SEE_OTHER, first.location.clone()));
    assert_eq!(app.db.follow_ups_of(pid).await.unwrap().len(), 1);
    // Today's visit clears today's work: the row says this window is done, and nobody is late.
    let items: serde_json::Value = serde_json::from_str(&app.get("/api/worklist?show=all", &doctor).await.body).unwrap();
    let row = items["items"].as_array().unwrap().iter().find(|w| w["contract"]["id"] == contract).cloned().unwrap_or_default();
    assert_eq!((row["state"]["current_done"].as_bool(), row["overdue_days"].as_i64()), (Some(true), Some(0)), "{row}");
    assert!(app.get("/worklist?show=all", &doctor).await.body.contains("本期已随访"));
    // Bad input is refused with the reason.
    let mut late = fields("another-key-0001");
    late[3].1 = format!("{}-12-31", year + 1);
    let refused = post(late).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("晚于今天"), "{}", refused.body);
    // The form comes back as typed, in the frame, with its key: correcting it stores it once.
    assert!(refused.body.contains("form class=\"card fast\"") && refused.body.contains("value=\"152\"") && refused.body.contains("value=\"低盐饮食\"") && refused.body.contains("another-key-0001"), "{}", refused.body);
    let abnormal = app.get("/followups/abnormal", &doctor).await;
    assert!(abnormal.body.contains("张三") && abnormal.body.contains("血压偏高"));
    let doctor_name = huimin_domain::Role::VillageDoctor.label_zh();
    assert!(abnormal.body.contains(&format!("/followups/new?contract={contract}")), "the name leads to the follow-up form");
    assert!(abnormal.body.contains(&format!("<td data-label=\"随访人\">{doctor_name}</td>")), "who recorded it, by name: {}", abnormal.body);
    // The doctor's home page starts the day: late, due, abnormal, each a link; a clerk's does not.
    let home = app.get("/", &doctor).await;
    assert!(home.body.contains("今日工作") && home.body.contains("/worklist?show=overdue") && home.body.contains("/followups/abnormal?days=30"), "{}", home.body);
    let abnormal_tile = home.body.split("/followups/abnormal?days=30").nth(1).unwrap_or_default();
    assert!(abnormal_tile.contains("<span class=\"value\">1</span>"), "one abnormal reading: {}", &abnormal_tile[..abnormal_tile.len().min(200)]);
    let (clerk, _) = app.login("settlement_clerk", PASSWORD).await.unwrap();
    assert!(!app.get("/", &clerk).await.body.contains("今日工作"));
    // The worklist's abnormal view lists this person, and only those with an abnormal reading.
    let flagged: serde_json::Value = serde_json::from_str(&app.get("/api/worklist?show=abnormal", &doctor).await.body).unwrap();
    let ids: Vec<i64> = flagged["items"].as_array().unwrap().iter().map(|w| w["contract"]["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [contract]);
    // A second follow-up of the same person on the same day is asked about first.
    let twice = app.post_json("/api/followups", &doctor, &csrf, &serde_json::json!({ "contract": contract, "submission_key": "api-key-000009", "followed_on": date, "mode": "phone" })).await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(twice.body.contains("已有一次随访记录") && twice.body.contains("同一天再次随访"), "{}", twice.body);
    assert!(app.get(&format!("/followups/new?contract={contract}"), &doctor).await.body.contains("此人今天已有一次随访记录"));
    // Confirmed, it is stored.
    let body = serde_json::json!({ "contract": contract, "submission_key": "api-key-000001", "followed_on": date, "mode": "phone", "glucose": "7.8", "again_same_day": true });
    let created = app.post_json("/api/followups", &doctor, &csrf, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.body.contains("空腹血糖偏高"));
    let repeated = app.post_json("/api/followups", &doctor, &csrf, &body).await;
    assert_eq!(repeated.status, StatusCode::OK);
    let (a, b): (serde_json::Value, serde_json::Value) = (serde_json::from_str(&created.body).unwrap(), serde_json::from_str(&repeated.body).unwrap());
    assert_eq!(a["id"], b["id"]);
    assert_eq!(app.post_json("/api/followups", &doctor, &csrf, &serde_json::json!({ "contract": contract, "submission_key": "api-key-000002", "followed_on": date, "mode": "fax" })).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Another county's contract does not exist for this doctor.
    let other = app.db.contract_of(person_id(&app.db, 5).await, year).await.unwrap().unwrap().0;
    let mut outside = fields("outside-key-0001");
    outside[1].1 = other.to_string();
    assert_eq!(post(outside).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_figures_their_targets_and_the_claims_behind_them() {
    let app = TestApp::new().await;
    let (cookie, csrf) = app.login("health_bureau", PASSWORD).await.unwrap();
    let page = app.get("/dashboard?period=2024", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    // A county sums its townships' stored figures; the bureau may recompute them now, a township may not.
    assert!(page.body.contains("每晚更新") && page.body.contains("立即重新统计"));
    let form = [("_csrf", csrf.as_str()), ("region", "371302"), ("period", "2024")];
    let refreshed = app.post("/dashboard/refresh", &cookie, &form).await;
    assert_eq!((refreshed.status, refreshed.location.as_deref()), (StatusCode::SEE_OTHER, Some("/dashboard?region=371302000000&period=2024")));
    let (township, township_csrf) = app.login("township_staff", PASSWORD).await.unwrap();
    let form = [("_csrf", township_csrf.as_str()), ("region", "371302001"), ("period", "2024")];
    assert_eq!(app.post("/dashboard/refresh", &township, &form).await.status, StatusCode::FORBIDDEN);
    assert!(app.get("/dashboard?period=2024", &township).await.body.contains("全部数据为实时统计"), "a township is computed live");
    let api = app.get("/api/indicators?period=2024", &cookie).await;
    let json: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    let cin = app.db.claim("CIN").await.unwrap().unwrap();
    assert_eq!(json["indicators"]["inpatient"]["total"], cin.bill.total.fen());
    assert_eq!(json["checks"].as_array().unwrap().len(), 5);
    // The monitoring figures travel with the indicators: none opened in this fixture yet.
    assert_eq!(json["indicators"]["population"]["warnings"]["opened"], 0);
    assert_eq!(json["indicators"]["population"]["burden"].as_array().unwrap().len(), 6);
    let caps = app.get("/dashboard/caps?period=2024", &cookie).await;
    assert!(caps.body.contains("达到年度封顶线的人员") && caps.body.contains("封顶线"));
    for text in ["住院个人自付比例", "家庭医生签约率", "达标", "计算方法", "<svg", "一镇", "/dashboard?region=371302001000&amp;period=2024"] {
        assert!(page.body.contains(text), "{text} missing");
    }
    assert!(!page.body.contains("http://") && !page.body.contains("https://"), "no outside resource");
    // The fixture's one claim in the county (CIN): the stays and its cost.
    let claim = app.db.claim("CIN").await.unwrap().unwrap();
    assert!(page.body.contains(&huimin_domain::format::yuan(claim.bill.total)), "the inpatient cost is the bill's total");
    let method = app.get("/dashboard/method", &cookie).await;
    assert!(method.body.contains("id=\"self_pay_ratio\""));
    // Reconciliation: the month the claim was settled; each fund's amount is its bill lines'.
    let month = &claim.settled_at[..7];
    let recon = app.get(&format!("/reconciliation?month={month}"), &cookie).await;
    for line in &claim.bill.lines {
        if !line.total.is_zero() {
            assert!(recon.body.contains(&huimin_domain::format::yuan(line.total)), "{} {}", line.layer_id, line.total);
        }
    }
    assert!(recon.body.contains(&huimin_domain::format::yuan(claim.bill.funds_total)), "the total owed is the bill's funds total");
    let xlsx = app.get(&format!("/reconciliation.xlsx?month={month}"), &cookie).await;
    assert_eq!(xlsx.status, StatusCode::OK);
    assert!(xlsx.body.starts_with("PK"), "an XLSX workbook");
    assert_eq!(app.get("/reconciliation?month=2024-13", &cookie).await.status, StatusCode::BAD_REQUEST);
    // A period that does not parse is said on the dashboard itself, the filter keeping it.
    let typo = app.get("/dashboard?period=last-year", &cookie).await;
    assert_eq!(typo.status, StatusCode::BAD_REQUEST);
    assert!(typo.body.contains("class=\"alert error grow\"") && typo.body.contains("value=\"last-year\"") && typo.body.contains("考核指标"), "{}", typo.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_act_as_their_user_until_revoked() {
    let app = TestApp::new().await;
    let (admin, csrf) = app.login("admin", PASSWORD).await.unwrap();
    let made = app.post("/admin/tokens", &admin, &[("_csrf", &csrf), ("username", "settlement_clerk"), ("name", "县医院HIS"), ("days", "30")]).await;
    assert_eq!(made.status, StatusCode::OK);
    let at = made.body.find("hm_").expect("the new token is shown once");
    let token = made.body[at..at + 67].to_string();
    assert!(token[3..].bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    let list = app.get("/admin/tokens", &admin).await;
    assert!(list.body.contains("县医院HIS") && !list.body.contains(&token), "listed, never shown again");
    assert!(app.db.search_audit(&Default::default()).await.unwrap().iter().any(|e| e.entry.action == "token.create" && !e.entry.detail.contains(&token)));

    // The clerk's token settles at the clerk's facility, with no cookie and no CSRF header.
    let pid = person_id(&app.db, 1).await;
    let claim = serde_json::json!({
        "claim_no": "TOKEN-1", "person_id": pid, "facility_code": "ignored", "visit": "inpatient",
        "admission": "2024-08-01", "discharge": "2024-08-03", "diseases": [], "cat_a": 50000, "cat_b": 0, "out_of_catalogue": 0, "necessary": 0
    });
    let res = app.bearer("POST", "/api/settlements", &token, Some(&claim)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(app.db.claim("TOKEN-1").await.unwrap().unwrap().facility_code, "H37130201");
    assert_eq!(app.bearer("GET", "/api/settlements/TOKEN-1", &token, None).await.status, StatusCode::OK);
    // Only what the clerk may do: not the dashboard, not another county's claim.
    assert_eq!(app.bearer("GET", "/api/indicators", &token, None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.bearer("GET", "/api/settlements/COUT", &token, None).await.status, StatusCode::NOT_FOUND);

    // A proxy's Basic authentication is not ours: the request goes on as a browser's would.
    let basic = |path: &str| Request::get(path).header(header::AUTHORIZATION, "Basic dXNlcjpwYXNz").extension(ConnectInfo::<SocketAddr>("10.0.0.9:5000".parse().unwrap())).body(Body::empty()).unwrap();
    assert_eq!(app.router.clone().oneshot(basic("/settlement/claims")).await.unwrap().status(), StatusCode::SEE_OTHER, "to the login page");
    // … and under /api, without a session, the answer is a JSON 401, not the login page.
    let res = app.router.clone().oneshot(basic("/api/claims")).await.unwrap();
    assert_eq!((res.status(), res.headers()[header::CONTENT_TYPE].to_str().unwrap()), (StatusCode::UNAUTHORIZED, "application/problem+json"));
    // A wrong token is 401, never the login page.
    let wrong = app.bearer("GET", "/api/settlements/TOKEN-1", "hm_0000", None).await;
    assert_eq!((wrong.status, wrong.location), (StatusCode::UNAUTHORIZED, None));
    // Revoked: 401 from then on.
    let id = app.db.api_tokens(RegionCode::parse("37").unwrap()).await.unwrap()[0].id;
    let revoked = app.post(&format!("/admin/tokens/{id}/revoke"), &admin, &[("_csrf", &csrf)]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(app.bearer("GET", "/api/settlements/TOKEN-1", &token, None).await.status, StatusCode::UNAUTHORIZED);
    // Revoking needs the form's CSRF token like any page action.
    assert_ne!(app.post(&format!("/admin/tokens/{id}/revoke"), &admin, &[("_csrf", "x")]).await.status, StatusCode::SEE_OTHER);
}

/// The Python with the independent validators (`scripts/test` makes `target/pyenv`). Without it
/// the check is skipped loudly, unless HUIMIN_REQUIRE_VALIDATORS=1 (CI).
fn validate(kind: &str, files: &[std::path::PathBuf]) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var("HUIMIN_VALIDATOR_PYTHON").map(std::path::PathBuf::from).unwrap_or_else(|_| root.join("target/pyenv/bin/python"));
    if !python.exists() {
        assert_ne!(std::env::var("HUIMIN_REQUIRE_VALIDATORS").as_deref(), Ok("1"), "validators required but {} is missing", python.display());
        eprintln!("*** WARNING: {kind} validation SKIPPED: no {} (scripts/test installs it) ***", python.display());
        return;
    }
    let out = std::process::Command::new(&python).arg(root.join("tests/validators/validate.py")).arg(kind).args(files).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{kind} validation failed:\n{text}");
    assert!(text.contains("0 problem(s)"), "{text}");
    if kind == "fhir" {
        validate_with_fhir_js(&root, files);
    }
}

/// The npm validator (FHIR.js, `tests/validators`, installed by scripts/test with `npm ci`).
fn validate_with_fhir_js(root: &std::path::Path, files: &[std::path::PathBuf]) {
    let dir = root.join("tests/validators");
    if !dir.join("node_modules/fhir").exists() {
        assert_ne!(std::env::var("HUIMIN_REQUIRE_VALIDATORS").as_deref(), Ok("1"), "validators required but {} is missing", dir.join("node_modules/fhir").display());
        eprintln!("*** WARNING: FHIR.js validation SKIPPED: run `npm ci` in {} (scripts/test does) ***", dir.display());
        return;
    }
    let out = std::process::Command::new("node").arg(dir.join("validate-fhir.mjs")).args(files).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains(" 0 problem(s)"), "FHIR.js validation failed:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_routes_both_ways() {
    let app = TestApp::new().await;
    let doc = app.get("/api/openapi.json", "").await;
    assert_eq!(doc.status, StatusCode::OK, "served without signing in");
    let spec: serde_json::Value = serde_json::from_str(&doc.body).unwrap();
    let mut documented = std::collections::BTreeSet::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.insert((path.clone(), method.to_uppercase()));
            // Every documented operation exists: unknown routes are 404 and wrong methods 405
            // before any sign-in check.
            let concrete: String = path.split('/').map(|s| if s.starts_with('{') { "1" } else { s }).collect::<Vec<_>>().join("/");
            let res = app.send(&method.to_uppercase(), &concrete, "", None).await;
            assert!(!matches!(res.status, StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED), "{method} {path}: {}", res.status);
        }
    }
    // Every /api and /fhir route of the router is documented.
    let source = include_str!("../src/lib.rs");
    let mut routed = std::collections::BTreeSet::new();
    for line in source.lines().map(str::trim).filter(|l| l.starts_with(".route(\"/api") || l.starts_with(".route(\"/fhir")) {
        let path = line.split('"').nth(1).unwrap().to_string();
        for (call, method) in [("get(", "GET"), ("post(", "POST")] {
            if line.contains(call) {
                routed.insert((path.clone(), method.to_string()));
            }
        }
    }
    assert!(routed.len() >= 20, "the routes were read: {routed:?}");
    assert_eq!(routed, documented, "routes and the OpenAPI document differ");
    // A client can be generated: every operation has its own operationId, numbers and flags are
    // typed, refusals documented as the Error schema.
    let mut ids = std::collections::BTreeSet::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_string()), "{id} twice");
            for p in op["parameters"].as_array().into_iter().flatten() {
                let kind = p["schema"]["type"].as_str().unwrap_or("");
                match p["name"].as_str().unwrap_or("") {
                    "page" | "limit" | "per_page" | "year" => assert_eq!(kind, "integer", "{method} {path} {}", p["name"]),
                    "dry_run" | "draft" | "preview" => assert_eq!(kind, "boolean", "{method} {path} {}", p["name"]),
                    _ => {}
                }
            }
            if path != "/api/openapi.json" {
                let problem = &op["responses"]["400"]["content"]["application/problem+json"]["schema"]["$ref"];
                assert!(problem == "#/components/schemas/Problem" || path.starts_with("/fhir"), "{method} {path}: 400 documented");
            }
            // Every JSON answer names its shape (a schema of the handler's type, not a bare object).
            for (status, answer) in op["responses"].as_object().unwrap() {
                if let Some(schema) = answer["content"]["application/json"]["schema"].as_object() {
                    let named = schema.contains_key("$ref") || schema.contains_key("properties") || schema.contains_key("allOf") || schema.get("type").is_some_and(|t| t == "array");
                    assert!(named || path == "/api/openapi.json", "{method} {path} {status}: {schema:?}");
                }
            }
        }
    }
    assert_eq!(spec["paths"]["/api/worklist"]["get"]["operationId"], "getApiWorklist");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &doc.body).unwrap();
    validate("openapi", &[file]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fhir_resources_are_valid_r4_and_show_each_role_only_its_part() {
    let app = TestApp::new().await;
    let pid = person_id(&app.db, 1).await;
    let (doctor, csrf) = app.login("village_doctor", PASSWORD).await.unwrap();
    for code in ["I10", "F20.0"] {
        assert_eq!(app.post(&format!("/persons/{pid}/cards"), &doctor, &[("_csrf", &csrf), ("code", code), ("diagnosed_on", "2020-05-01")]).await.status, StatusCode::SEE_OTHER);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut save = |name: &str, body: &str| {
        let f = dir.path().join(name);
        std::fs::write(&f, body).unwrap();
        files.push(f);
        serde_json::from_str::<serde_json::Value>(body).unwrap()
    };
    let of_type = |bundle: &serde_json::Value, t: &str| -> Vec<serde_json::Value> {
        bundle["entry"].as_array().unwrap().iter().map(|e| e["resource"].clone()).filter(|r| r["resourceType"] == t).collect()
    };

    // The health bureau sees everything about its county's person.
    let (bureau, _) = app.login("health_bureau", PASSWORD).await.unwrap();
    let res = app.get(&format!("/fhir/Patient/{pid}/$everything"), &bureau).await;
    assert_eq!(res.status, StatusCode::OK);
    let all = save("everything.json", &res.body);
    let patient = &of_type(&all, "Patient")[0];
    assert_eq!(patient["identifier"][0]["value"], id(1), "the resident ID number for a role that sees it whole");
    assert_eq!(patient["identifier"][0]["type"]["coding"][0]["code"], "NI");
    let coverages = of_type(&all, "Coverage");
    assert_eq!(coverages.iter().map(|c| c["order"].as_i64().unwrap()).collect::<Vec<_>>(), (1..=coverages.len() as i64).collect::<Vec<_>>(), "order follows the cascade");
    assert_eq!(coverages[0]["type"]["coding"][0]["code"], "390101");
    assert_eq!(of_type(&all, "Condition").len(), 1, "the confidential diagnosis is left out for the bureau");
    assert_eq!(of_type(&all, "CarePlan").len(), 1, "this year's contract");
    // The claim: one ExplanationOfBenefit per paying fund; their benefits add up to the bill's funds.
    let bill = app.db.claim("CIN").await.unwrap().unwrap().bill;
    let eobs = of_type(&all, "ExplanationOfBenefit");
    let funds: std::collections::BTreeSet<&str> = bill.lines.iter().filter(|l| !l.total.is_zero()).map(|l| l.fund.code()).collect();
    assert_eq!(eobs.len(), funds.len());
    let benefit = |e: &serde_json::Value| e["payment"]["amount"]["value"].as_f64().unwrap();
    assert_eq!((eobs.iter().map(benefit).sum::<f64>() * 100.0).round() as i64, bill.funds_total.fen());
    assert!(eobs.iter().all(|e| e["insurance"].as_array().unwrap().iter().any(|i| i["focal"] == true)));
    assert!(eobs[1]["insurance"].as_array().unwrap().iter().any(|i| i["focal"] == false), "the second payer lists the first as prior insurance");
    let categories: Vec<&str> = eobs[0]["item"][0]["adjudication"].as_array().unwrap().iter().map(|a| a["category"]["coding"][0]["code"].as_str().unwrap()).collect();
    assert_eq!(categories, ["submitted", "priorpaid", "eligible", "benefit"]);
    // Each payer cites the rule its layers applied, as the bill does.
    let first = eobs[0]["processNote"][0]["text"].as_str().unwrap();
    let first_layer = bill.lines.iter().find(|l| !l.total.is_zero()).unwrap();
    assert!(first.starts_with(&format!("{}：", first_layer.layer_name)) && first.contains('%') && first.contains("依据："), "{first}");
    assert!(eobs.iter().all(|e| e["processNote"].as_array().is_some_and(|n| !n.is_empty())));
    assert_eq!(of_type(&all, "Claim").len(), 1);
    assert_eq!(of_type(&all, "Encounter")[0]["class"]["code"], "IMP");
    save("claim.json", &app.get("/fhir/Claim/CIN", &bureau).await.body);
    save("eob.json", &app.get("/fhir/ExplanationOfBenefit?claim=CIN", &bureau).await.body);
    save("patient.json", &app.get(&format!("/fhir/Patient/{pid}"), &bureau).await.body);
    let cs = save("metadata.json", &app.get("/fhir/metadata", "").await.body);
    // The export is a declared operation whose definition is served.
    let declared = cs["rest"][0]["operation"][0]["definition"].as_str().unwrap();
    let definition = declared.split_once("/fhir").unwrap().1;
    let od = save("operation-export.json", &app.get(&format!("/fhir{definition}"), "").await.body);
    assert_eq!((od["resourceType"].as_str(), od["code"].as_str()), (Some("OperationDefinition"), Some("export")));

    // The village doctor: the confidential diagnosis of a patient in their care, no claims.
    let res = app.get(&format!("/fhir/Patient/{pid}/$everything"), &doctor).await;
    let theirs = save("doctor.json", &res.body);
    assert_eq!(of_type(&theirs, "Condition").len(), 2);
    assert!(of_type(&theirs, "Claim").is_empty() && of_type(&theirs, "ExplanationOfBenefit").is_empty());
    assert_eq!(app.get("/fhir/Claim/CIN", &doctor).await.status, StatusCode::FORBIDDEN);
    // The insurance office: no whole ID number, so no resident-ID identifier at all.
    let (insurance, _) = app.login("medical_insurance", PASSWORD).await.unwrap();
    let p = save("insurance-patient.json", &app.get(&format!("/fhir/Patient/{pid}"), &insurance).await.body);
    assert!(p["identifier"].as_array().unwrap().iter().all(|i| i["system"] != huimin_app::fhir::RESIDENT_ID_SYSTEM));
    // Outside the region: as if it did not exist.
    let outside = person_id(&app.db, 5).await;
    assert_eq!(app.get(&format!("/fhir/Patient/{outside}"), &bureau).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/fhir/Claim/COUT", &bureau).await.status, StatusCode::NOT_FOUND);

    // The county's export for 2024: its persons only, the 2024 claim with its EOBs.
    let res = app.get("/fhir/$export?period=2024", &bureau).await;
    assert_eq!(res.status, StatusCode::OK);
    let export = save("export.json", &res.body);
    assert_eq!(export["type"], "collection");
    assert_eq!(of_type(&export, "Patient").len(), 2, "张三 and 李四 of the county, not 王五");
    assert_eq!((of_type(&export, "Claim").len(), of_type(&export, "ExplanationOfBenefit").len()), (1, funds.len()));
    assert!(export["entry"].as_array().unwrap().iter().all(|e| e["fullUrl"].as_str().unwrap().starts_with("http://")));
    assert_eq!(app.get("/fhir/export?period=2023", &bureau).await.body.matches("\"Claim\"").count(), 0);
    assert_eq!(app.get("/fhir/export?region=37", &bureau).await.status, StatusCode::FORBIDDEN, "the province is outside the bureau's county");
    validate("fhir", &files);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_clients_do_the_pages_work_through_the_api() {
    let app = TestApp::new().await;
    let token = |user: &'static str| {
        let db = &app.db;
        async move {
            let (u, _) = db.user_for_login(user).await.unwrap().unwrap();
            huimin_app::accounts::issue_api_token(db, &u, "test", 1, &AuditEntry::default()).await.unwrap()
        }
    };
    let pid = person_id(&app.db, 1).await;

    // The bureau reads the claims, what each fund owes for the month, and the alerts.
    let bureau = token("health_bureau").await;
    let claims: serde_json::Value = serde_json::from_str(&app.bearer("GET", "/api/claims", &bureau, None).await.body).unwrap();
    assert!(claims["claims"].as_array().unwrap().iter().any(|c| c["claim_no"] == "CIN") && !claims.to_string().contains("COUT"));
    let cin = app.db.claim("CIN").await.unwrap().unwrap();
    let recon: serde_json::Value = serde_json::from_str(&app.bearer("GET", &format!("/api/reconciliation?month={}", &cin.settled_at[..7]), &bureau, None).await.body).unwrap();
    assert_eq!(recon["owed"].as_array().unwrap().iter().map(|o| o["amount"].as_i64().unwrap()).sum::<i64>(), cin.bill.funds_total.fen());
    let line = &recon["owed"][0];
    let detail = app.bearer("GET", &format!("/api/reconciliation?month={}&fund={}&facility={}", &cin.settled_at[..7], line["fund"].as_str().unwrap(), line["facility_code"].as_str().unwrap()), &bureau, None).await;
    assert!(detail.body.contains("\"claim_no\":\"CIN\""));
    assert_eq!(app.bearer("GET", "/api/claims/over-ceiling?period=2024", &bureau, None).await.status, StatusCode::OK);
    assert_eq!(app.bearer("GET", "/api/persons-at-cap?period=2024", &bureau, None).await.status, StatusCode::OK);

    // The village doctor signs next year's contract and records a screening.
    let doctor = token("village_doctor").await;
    let the_team = app.db.teams(RegionCode::parse("371302001").unwrap()).await.unwrap().remove(0);
    let team = the_team.id;
    let next = huimin_app::clock::this_year() + 1;
    // The doctor who signs is a named member of the team, not whoever is logged in.
    let stranger = serde_json::json!({ "team": team, "persons": [pid], "services": [Service::ALL[0].code()], "starts_on": format!("{next}-01-01"), "signed_by": "路人甲" });
    let res = app.bearer("POST", "/api/contracts", &doctor, Some(&stranger)).await;
    assert!(res.status == StatusCode::UNPROCESSABLE_ENTITY && res.body.contains("不是团队"), "{} {}", res.status, res.body);
    let doctor_member = huimin_store::TeamMember { id: 0, name: "王村医".into(), duty: "村医".into(), phone: "13805390001".into(), facility_code: None, username: None };
    app.db.add_team_member(team, &doctor_member, &AuditEntry { username: "fixture".into(), action: "team.member".into(), ..Default::default() }).await.unwrap();
    let member = doctor_member.name.clone();
    let sign = serde_json::json!({ "team": team, "persons": [pid], "services": [Service::ALL[0].code()], "starts_on": format!("{next}-01-01"), "signed_by": member });
    let res = app.bearer("POST", "/api/contracts", &doctor, Some(&sign)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert!(app.db.contract_of(pid, next).await.unwrap().is_some());
    let mut bad = sign.clone();
    bad["starts_on"] = "next year".into();
    assert_eq!(app.bearer("POST", "/api/contracts", &doctor, Some(&bad)).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let listed: serde_json::Value = serde_json::from_str(&app.bearer("GET", &format!("/api/contracts?year={next}"), &doctor, None).await.body).unwrap();
    assert_eq!(listed["contracts"].as_array().unwrap().len(), 1);
    let campaign = app.db.create_campaign("因病致贫筛查", RegionCode::parse("371302").unwrap(), Date::from_ymd_opt(2024, 1, 1).unwrap(), Date::from_ymd_opt(2030, 12, 31).unwrap(), "x", &AuditEntry::default()).await.unwrap();
    let res = app.bearer("POST", &format!("/api/screening/{campaign}/households/HIN"), &doctor, Some(&serde_json::json!({ "result": "核实患病", "illness_poor": true }))).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert!(app.db.screening(campaign, "HIN").await.unwrap().is_some_and(|s| s.illness_poor));
    assert_eq!(app.bearer("POST", &format!("/api/screening/{campaign}/households/HIN"), &doctor, Some(&serde_json::json!({ "result": "" }))).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.bearer("POST", &format!("/api/screening/{campaign}/households/HOUT"), &doctor, Some(&serde_json::json!({ "result": "x" }))).await.status, StatusCode::NOT_FOUND);
    // A campaign that has ended takes no more results.
    let ended = app.db.create_campaign("2024年筛查", RegionCode::parse("371302").unwrap(), Date::from_ymd_opt(2024, 1, 1).unwrap(), Date::from_ymd_opt(2024, 6, 30).unwrap(), "x", &AuditEntry::default()).await.unwrap();
    let late = app.bearer("POST", &format!("/api/screening/{ended}/households/HIN"), &doctor, Some(&serde_json::json!({ "result": "核实患病" }))).await;
    assert!(late.status == StatusCode::UNPROCESSABLE_ENTITY && late.body.contains("已于 2024-06-30 结束"), "{} {}", late.status, late.body);

    // The township health centre opens a campaign and sets a batch by hand, with a reason.
    let township = token("township_staff").await;
    let res = app.bearer("POST", "/api/screening", &township, Some(&serde_json::json!({ "name": "复核", "region": "371302001", "starts_on": "2024-01-01", "ends_on": "2024-12-31" }))).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(app.bearer("POST", "/api/screening", &township, Some(&serde_json::json!({ "name": "", "region": "371302001", "starts_on": "2024-01-01", "ends_on": "2024-12-31" }))).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.bearer("POST", &format!("/api/batches/{pid}"), &township, Some(&serde_json::json!({ "batch": "backstop", "reason": "家庭无力负担自付" }))).await.status, StatusCode::OK);
    assert_eq!(app.bearer("POST", &format!("/api/batches/{pid}"), &township, Some(&serde_json::json!({ "batch": "backstop" }))).await.status, StatusCode::UNPROCESSABLE_ENTITY, "a reason is required");

    // Teams, the follow-up rule, renewals, key groups and examinations.
    let res = app.bearer("POST", "/api/teams", &township, Some(&serde_json::json!({ "name": "二队", "facility": "H37130201", "region": "371302001" }))).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let team_id = serde_json::from_str::<serde_json::Value>(&res.body).unwrap()["id"].as_i64().unwrap();
    let res = app.bearer("POST", &format!("/api/teams/{team_id}/members"), &township, Some(&serde_json::json!({ "name": "刘医生", "duty": "全科医生" }))).await;
    assert!(res.status == StatusCode::CREATED && res.body.contains("刘医生"), "{}", res.body);
    assert_eq!(app.bearer("POST", "/api/teams/rule", &township, Some(&serde_json::json!({ "region": "371302001", "key_per_year": 12, "other_per_year": 5 }))).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.bearer("POST", "/api/teams/rule", &township, Some(&serde_json::json!({ "region": "371302001", "key_per_year": 12, "other_per_year": 6 }))).await.status, StatusCode::OK);
    let teams: serde_json::Value = serde_json::from_str(&app.bearer("GET", "/api/teams", &township, None).await.body).unwrap();
    assert_eq!(teams["rule"]["other_per_year"], 6);
    let res = app.bearer("POST", "/api/contracts/renew", &doctor, Some(&serde_json::json!({ "region": V1, "year": next }))).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert!(app.db.contract_of(pid, next + 1).await.unwrap().is_some_and(|(_, c)| c.renewed_from.is_some()));
    assert_eq!(app.bearer("POST", &format!("/api/persons/{pid}/key-groups"), &doctor, Some(&serde_json::json!({ "group": "hypertension", "reason": "" }))).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.bearer("POST", &format!("/api/persons/{pid}/key-groups"), &doctor, Some(&serde_json::json!({ "group": "hypertension", "reason": "血压长期偏高" }))).await.status, StatusCode::CREATED);
    assert_eq!(app.bearer("POST", &format!("/api/persons/{pid}/exams"), &doctor, Some(&serde_json::json!({ "exam_date": "2024-04-01", "systolic": "150", "diastolic": "95" }))).await.status, StatusCode::CREATED);
    assert_eq!(app.bearer("POST", &format!("/api/persons/{pid}/exams"), &doctor, Some(&serde_json::json!({ "exam_date": "2024-04-01", "systolic": "90", "diastolic": "120" }))).await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Breaking the glass through the API: a reason is required, the number is not logged.
    let insurance = token("medical_insurance").await;
    assert_eq!(app.bearer("POST", &format!("/api/persons/{pid}/reveal"), &insurance, Some(&serde_json::json!({ "reason": "" }))).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let shown = app.bearer("POST", &format!("/api/persons/{pid}/reveal"), &insurance, Some(&serde_json::json!({ "reason": "核对参保身份" }))).await;
    assert!(shown.status == StatusCode::OK && shown.body.contains(&id(1)), "{}", shown.body);
    assert!(app.db.search_audit(&Default::default()).await.unwrap().iter().any(|e| e.entry.action == "id.reveal" && !e.entry.detail.contains(&id(1))));
    assert_eq!(app.bearer("POST", &format!("/api/persons/{pid}/reveal-health"), &township, Some(&serde_json::json!({ "reason": "核实救治分类" }))).await.status, StatusCode::OK);
    assert_eq!(app.bearer("POST", &format!("/api/persons/{pid}/reveal-health"), &insurance, Some(&serde_json::json!({ "reason": "核实救治分类" }))).await.status, StatusCode::FORBIDDEN);
    assert!(app.bearer("GET", "/api/catalog", &township, None).await.body.contains("\"entries\""));
    // The administrator adds a user through the API.
    let admin = token("admin").await;
    let user = serde_json::json!({ "username": "his-h37130201", "display_name": "县医院HIS", "role": "settlement_clerk", "region": "371302", "facility": "H37130201", "password": "a-long-pass" });
    let res = app.bearer("POST", "/api/users", &admin, Some(&user)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(app.bearer("POST", "/api/users", &admin, Some(&user)).await.status, StatusCode::UNPROCESSABLE_ENTITY, "the name is taken");
    assert!(app.bearer("GET", "/api/users", &admin, None).await.body.contains("his-h37130201"));

    // The bureau takes its county's roster in the import format; the download is audited.
    let file = app.bearer("GET", "/api/exchange/roster?format=csv", &bureau, None).await;
    assert_eq!(file.status, StatusCode::OK);
    assert!(file.body.contains(&id(1)) && !file.body.contains(&id(5)), "its own county only, whole ID numbers");
    assert!(app.db.search_audit(&Default::default()).await.unwrap().iter().any(|e| e.entry.action == "export" && e.entry.target.starts_with("roster")));
    assert_eq!(app.bearer("GET", "/api/exchange/bills", &bureau, None).await.status, StatusCode::NOT_FOUND);

    // The bureau: a roster dry run, policies and a simulation, a target; the supervisor reads the audit log.
    let roster = format!("户编号,户主姓名,与户主关系,姓名,证件号码,民族,行政区划代码,贫困户属性,脱贫状态,主要致贫原因\nHNEW,赵七,户主,赵七,{},汉族,{V1},一般贫困户,未脱贫,因病\n", id(7));
    let req = Request::post("/api/roster?file_name=r.csv&as_of=2024-06-01&dry_run=true").header(header::AUTHORIZATION, format!("Bearer {bureau}")).extension(ConnectInfo::<SocketAddr>("10.0.0.9:5000".parse().unwrap())).body(Body::from(roster)).unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let report: serde_json::Value = serde_json::from_slice(&axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap()).unwrap();
    assert_eq!((report["persons_accepted"].as_i64(), report["import_id"].is_null()), (Some(1), true), "{report}");
    assert!(app.db.person_by_id_number(&IdNumber::parse(&id(7)).unwrap()).await.unwrap().is_none(), "a dry run writes nothing");
    let policies: serde_json::Value = serde_json::from_str(&app.bearer("GET", "/api/policies", &bureau, None).await.body).unwrap();
    assert!(policies["policies"].as_array().unwrap().iter().any(|p| p["id"] == "worked-example"));
    let sim = app.bearer("GET", "/api/policies/worked-example/simulate?from=2024-01-01&to=2024-12-31", &bureau, None).await;
    assert_eq!(sim.status, StatusCode::OK);
    assert!(sim.body.contains("by_fund"));
    let outside = include_str!("../../../policies/worked-example.toml").replace(r#"id = "worked-example""#, r#"id = "elsewhere""#).replace(r#"region = "371302""#, r#"region = "371311""#);
    let req = Request::post("/api/policies?name=elsewhere.toml").header(header::AUTHORIZATION, format!("Bearer {bureau}")).extension(ConnectInfo::<SocketAddr>("10.0.0.9:5000".parse().unwrap())).body(Body::from(outside)).unwrap();
    assert_eq!(app.router.clone().oneshot(req).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.db.policies().await.unwrap().iter().all(|p| p.id != "elsewhere"), "a policy for another county is not stored");
    let refreshed = app.bearer("POST", "/api/dashboard/refresh", &bureau, Some(&serde_json::json!({ "region": "371302", "period": "2024" }))).await;
    assert!(refreshed.status == StatusCode::OK && refreshed.body.contains("\"townships\":1"), "{}", refreshed.body);
    let target = serde_json::json!({ "region": "371302", "indicator": "self_pay_ratio", "percent": "9", "source": "县考核办法" });
    assert_eq!(app.bearer("POST", "/api/targets", &bureau, Some(&target)).await.status, StatusCode::CREATED);
    let targets: serde_json::Value = serde_json::from_str(&app.bearer("GET", "/api/targets", &bureau, None).await.body).unwrap();
    assert_eq!(targets["in_force"][0]["value_ppm"], 90_000);
    let supervisor = token("supervisor").await;
    let audit: serde_json::Value = serde_json::from_str(&app.bearer("GET", "/api/audit?action=target.set", &supervisor, None).await.body).unwrap();
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);
    assert!(audit["chain"]["broken_at"].is_null(), "{}", audit["chain"]);
    // Supervisors read: they neither set targets nor recompute figures.
    assert_eq!(app.bearer("POST", "/api/targets", &supervisor, Some(&target)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.bearer("POST", "/api/dashboard/refresh", &supervisor, Some(&serde_json::json!({ "region": "3713", "period": "2024" }))).await.status, StatusCode::FORBIDDEN);

    // The township health centre moves a major disease's ledger line on.
    let (d_cookie, d_csrf) = app.login("village_doctor", PASSWORD).await.unwrap();
    assert_eq!(app.post(&format!("/persons/{pid}/cards"), &d_cookie, &[("_csrf", &d_csrf), ("code", "C34.9")]).await.status, StatusCode::SEE_OTHER);
    let line = app.db.treatments(RegionCode::parse("371302").unwrap(), None).await.unwrap()[0].id;
    let res = app.bearer("POST", &format!("/api/treatment/{line}"), &township, Some(&serde_json::json!({ "status": "treated", "facility": "H37130201" }))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("\"status\":\"treated\""));
    let res = app.bearer("POST", &format!("/api/treatment/{line}"), &township, Some(&serde_json::json!({ "status": "not_treated" }))).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "not treated needs a reason");
    assert_eq!(app.bearer("POST", &format!("/api/treatment/{line}"), &doctor, Some(&serde_json::json!({ "status": "treated", "facility": "H37130201" }))).await.status, StatusCode::FORBIDDEN);
}

/// Whatever goes wrong, a machine client reads the answer: JSON under /api, an OperationOutcome
/// under /fhir; pages keep their HTML error page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_of_the_api_and_fhir_are_json() {
    let app = TestApp::new().await;
    let (session, _) = app.login("settlement_clerk", PASSWORD).await.unwrap();
    let json = |r: &Response| serde_json::from_str::<serde_json::Value>(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body));
    let cases: [(&str, &str, &str, Option<(&str, Vec<u8>)>, StatusCode); 5] = [
        ("GET", "/api/no-such-thing", session.as_str(), None, StatusCode::NOT_FOUND),
        ("GET", "/api/settlements/NO-SUCH-CLAIM", session.as_str(), None, StatusCode::NOT_FOUND),
        ("POST", "/api/settlements", session.as_str(), Some(("application/json", b"{not json".to_vec())), StatusCode::BAD_REQUEST),
        ("GET", "/api/indicators", session.as_str(), None, StatusCode::FORBIDDEN),
        ("GET", "/api/claims", "", None, StatusCode::UNAUTHORIZED),
    ];
    for (method, path, cookie, body, status) in cases {
        let r = app.send(method, path, cookie, body).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        // RFC 9457 problem details: the status twice, its name, and why.
        let p = json(&r);
        assert!(p["detail"].as_str().is_some_and(|m| !m.is_empty()), "{method} {path}: {}", r.body);
        assert_eq!((p["type"].as_str(), p["status"].as_u64(), p["title"].as_str()), (Some("about:blank"), Some(u64::from(status.as_u16())), status.canonical_reason()), "{method} {path}");
    }
    for (path, cookie, code) in [("/fhir/Claim/NO-SUCH-CLAIM", session.as_str(), "not-found"), ("/fhir/Patient/1", "", "login")] {
        let r = app.get(path, cookie).await;
        let v = json(&r);
        assert_eq!((v["resourceType"].as_str(), v["issue"][0]["code"].as_str()), (Some("OperationOutcome"), Some(code)), "{path}: {}", r.body);
    }
    let page = app.get("/no-such-page", &session).await;
    assert!(page.status == StatusCode::NOT_FOUND && page.body.contains("<html"), "pages keep their HTML error page");
    // A body past 1 MiB (a 2 MiB "guidance") is refused before it is read, except a roster file.
    let huge = serde_json::json!({ "contract": 1, "submission_key": "huge-body-1", "followed_on": "2024-06-01", "mode": "home", "guidance": "x".repeat(2 << 20) }).to_string();
    let r = app.send("POST", "/api/followups", &session, Some(("application/json", huge.into_bytes()))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body.chars().take(200).collect::<String>());
    assert!(json(&r)["detail"].is_string());
    // Free text has a length: a 2,001-character plan is refused with the limit, not stored.
    let long = serde_json::json!({ "code": "I10", "plan": "治".repeat(2001) }).to_string();
    let r = app.send("POST", "/api/persons/1/cards", &session, Some(("application/json", long.into_bytes()))).await;
    assert!(r.status.is_client_error() && json(&r)["detail"].as_str().is_some_and(|m| m.contains("最长 2000 字")), "{} {}", r.status, r.body);
    let roster = format!("户编号,姓名\n{}", "H1,张三\n".repeat(200_000));
    let r = app.send("POST", "/api/roster?file_name=r.csv&dry_run=true", &session, Some(("text/csv", roster.into_bytes()))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a roster may be larger: it is read, and the clerk may not import it");
}

/// Every numeric query parameter at its extremes answers (a 400 or the page), never a panic or a
/// server error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_query_values_at_their_extremes_never_fail_the_server() {
    let app = TestApp::new().await;
    let pid = person_id(&app.db, 1).await;
    let routes = [
        "/treatment?overdue_days=N", "/api/treatment?overdue_days=N", "/worklist?year=N", "/api/worklist?year=N",
        "/api/contracts?year=N", "/contracts?year=N", "/audit?page=N", "/api/audit?page=N", "/households?page=N",
        "/api/households?page=N&per_page=N", "/api/claims?limit=N", "/settlement/claims?limit=N", "/followups/abnormal?days=N",
        "/api/exchange/roster?year=N", "/api/exchange/claims?year=N", "/exchange?year=N", "/batches?year=N", "/api/batches?year=N",
        "/regions/371302001201/cards?page=N", "/followups/new?contract=N", "/api/persons-at-cap?period=N",
        "/api/indicators?period=N", "/dashboard?period=N", "/api/reconciliation?month=N",
    ];
    let extremes = ["9223372036854775807", "-9223372036854775808", "2147483647", "-2147483648", "-1", "0", "99999999999999999999", "1e9"];
    let mut pages = routes.iter().map(|r| r.to_string()).collect::<Vec<_>>();
    pages.push(format!("/fhir/Patient/{pid}/$everything?year=N"));
    let mut answers = std::collections::BTreeMap::new();
    for user in ["health_bureau", "village_doctor", "supervisor", "admin", "poverty_office"] {
        let (cookie, _) = app.login(user, PASSWORD).await.unwrap();
        for route in &pages {
            for n in extremes {
                let path = route.replace('N', n);
                let r = app.get(&path, &cookie).await;
                assert!(r.status.as_u16() < 500, "{user} GET {path}: {} {}", r.status, r.body.chars().take(300).collect::<String>());
                *answers.entry(r.status.as_u16()).or_insert(0) += 1;
            }
        }
    }
    // The values reached the handlers: some were answered, some refused with the reason.
    assert!(answers.get(&200).is_some_and(|n| *n > 30) && answers.get(&400).is_some_and(|n| *n > 100), "{answers:?}");
    let r = app.get("/api/treatment?overdue_days=9223372036854775807", &app.login("health_bureau", PASSWORD).await.unwrap().0).await;
    assert!(r.status == StatusCode::BAD_REQUEST && r.body.contains("天数应在 0 到 36500 之间"), "{}", r.body);
}

/// A key group that names a diagnosis (严重精神障碍) is on the worklist of those who care for the
/// person, not of township or county staff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worklist_names_a_severe_mental_disorder_only_to_carers() {
    let app = TestApp::new().await;
    let pid = person_id(&app.db, 1).await;
    let (doctor, doctor_csrf) = app.login("village_doctor", PASSWORD).await.unwrap();
    assert_eq!(app.post(&format!("/persons/{pid}/cards"), &doctor, &[("_csrf", &doctor_csrf), ("code", "F20.0")]).await.status, StatusCode::SEE_OTHER);
    let groups_of = |body: &str| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let items = v["items"].as_array().unwrap_or_else(|| panic!("{body}"));
        let item = items.iter().find(|w| w["contract"]["contract"]["person_id"] == pid).unwrap_or_else(|| panic!("{body}"));
        item["key_groups"].as_array().unwrap().iter().map(|g| g.as_str().unwrap().to_string()).collect()
    };
    assert!(groups_of(&app.get("/api/worklist?show=all&teams=all", &doctor).await.body).contains(&"severe_mental".to_string()));
    let (township, _) = app.login("township_staff", PASSWORD).await.unwrap();
    let page = app.get("/api/worklist?show=all&teams=all", &township).await;
    assert!(!groups_of(&page.body).contains(&"severe_mental".to_string()), "{}", page.body);
    assert!(!app.get("/worklist?show=all&teams=all", &township).await.body.contains("严重精神障碍"));
}

/// The benefit card names the household's family-doctor team, the doctor and their phone, says
/// what each layer of the policy gives in figures, and who issued it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benefit_card_names_the_family_doctor_and_the_benefits_in_figures() {
    let app = TestApp::new().await;
    let team = app.db.teams(RegionCode::parse("371302001").unwrap()).await.unwrap()[0].id;
    let member = huimin_store::TeamMember { id: 0, name: "王医生".into(), duty: "全科医生".into(), phone: "13800001111".into(), facility_code: None, username: None };
    let a = AuditEntry { username: "fixture".into(), action: "team.member".into(), ..Default::default() };
    app.db.add_team_member(team, &member, &a).await.unwrap();
    // The card shows the policy in force today.
    let year = huimin_app::clock::this_year();
    let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/worked-example.toml")).unwrap()
        .replace(r#"id = "worked-example""#, r#"id = "this-year""#)
        .replace("2024-01-01", &format!("{year}-01-01"))
        .replace("2024-12-31", &format!("{year}-12-31"));
    huimin_app::settlement::load_policy(&app.db, "this-year.toml", &policy, false, &a).await.unwrap();
    let config = huimin_web::Config { addr: "127.0.0.1:0".parse().unwrap(), upload_dir: app._uploads.path().to_path_buf(), secure_cookies: false };
    let app = TestApp { router: huimin_web::app(app.db.store.clone(), config).await.unwrap(), db: app.db, _uploads: app._uploads };
    let (cookie, _) = app.login("village_doctor", PASSWORD).await.unwrap();
    let card = app.get("/households/HIN/card", &cookie).await;
    assert_eq!(card.status, StatusCode::OK);
    for part in ["371302001团队", "王医生（全科医生）", "13800001111", "基本医疗保险", "报销 85%，每次起付 400 元，年度最高 15 万元", "个人自付不超过总费用的 10%", "发放单位：兰山区卫生健康局"] {
        assert!(card.body.contains(part), "the card shows {part}");
    }
    assert!(!card.body.contains("医疗救助（医疗救助）"), "a layer named after its fund is not named twice");
    if huimin_app::documents::available() {
        let pdf = app.get("/households/HIN/card.pdf", &cookie).await;
        assert_eq!(pdf.status, StatusCode::OK);
        let doc = lopdf::Document::load_mem(&pdf.bytes).unwrap();
        let text: String = doc.extract_text(&doc.get_pages().keys().copied().collect::<Vec<_>>()).unwrap().chars().filter(|c| !c.is_whitespace()).collect();
        for part in ["健康医疗惠民卡", "王医生（全科医生）", "13800001111", "报销85%，每次起付400元，年度最高15万元", "发放单位：兰山区卫生健康局"] {
            assert!(text.contains(part), "the card's PDF shows {part}: {text}");
        }
    }
    // 李四's household (another village, no contract): seen by the township's team.
    let (team_cookie, _) = app.login("family_doctor_team", PASSWORD).await.unwrap();
    let unsigned = app.get("/households/HSIB/card", &team_cookie).await;
    assert!(unsigned.status == StatusCode::OK && unsigned.body.contains("尚未签约") && !unsigned.body.contains("王医生"), "{}", unsigned.status);
}

/// A form sent after the session expired leads, after signing in, back to the page it was sent
/// from (its script restores what was typed), never to a form address answering 405.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_leads_back_to_the_form() {
    let app = TestApp::new().await;
    let pid = person_id(&app.db, 3).await;
    let form = format!("/settlement/new?person={pid}");
    let req = axum::http::Request::post("/settlement/preview")
        .header(header::HOST, "huimin.local")
        .header(header::REFERER, format!("http://huimin.local{form}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .extension(ConnectInfo::<SocketAddr>("10.0.0.7:5000".parse().unwrap()))
        .body(Body::from("visit_no=ZY1&person_id=1"))
        .unwrap();
    let res = tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap();
    let location = res.headers().get(header::LOCATION).unwrap().to_str().unwrap().to_string();
    assert_eq!(location, format!("/login?next={}", form.replace('?', "%3F").replace('=', "%3D")));
    // A referer elsewhere is not followed.
    let req = axum::http::Request::post("/settlement/preview")
        .header(header::HOST, "huimin.local")
        .header(header::REFERER, "http://evil.example/settlement/new")
        .extension(ConnectInfo::<SocketAddr>("10.0.0.7:5000".parse().unwrap()))
        .body(Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap();
    assert_eq!(res.headers().get(header::LOCATION).unwrap(), "/login?next=/");
    let (cookie, _) = app.login("settlement_clerk", PASSWORD).await.unwrap();
    for path in ["/settlement/preview", "/settlement/confirm"] {
        assert_eq!(app.get(path, &cookie).await.location.as_deref(), Some("/settlement"), "{path} opened as a page");
    }
    let page = app.get(&form, &cookie).await;
    assert!(page.body.contains(&format!("data-keep=\"stay-{pid}\"")), "the form keeps what is typed");
}

/// An overlapping stay is settled at the window only after the medical insurance bureau let that
/// very stay, with a reason; the exception is listed with the claim that used it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bureau_lets_one_overlapping_stay_be_settled() {
    let app = TestApp::new().await;
    let pid = person_id(&app.db, 3).await;
    let (clerk, clerk_csrf) = app.login("settlement_clerk", PASSWORD).await.unwrap();
    let stay = |visit: &str, from: &str, to: &str| -> Vec<(&'static str, String)> {
        vec![("_csrf", clerk_csrf.clone()), ("person_id", pid.to_string()), ("visit_no", visit.into()), ("visit", "inpatient".into()), ("admission", from.into()),
             ("discharge", to.into()), ("diseases", "".into()), ("cat_a", "5000".into())]
    };
    assert_eq!(app.post("/settlement/confirm", &clerk, &as_refs(&stay("A1", "2024-08-01", "2024-08-10"))).await.status, StatusCode::SEE_OTHER);
    let second = stay("A2", "2024-08-05", "2024-08-12");
    assert_eq!(app.post("/settlement/confirm", &clerk, &as_refs(&second)).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let (bureau, csrf) = app.login("medical_insurance", PASSWORD).await.unwrap();
    let li = id(3);
    let let_it = [("_csrf", csrf.as_str()), ("id_number", li.as_str()), ("facility", "H37130201"), ("admission", "2024-08-05"), ("discharge", "2024-08-12"), ("reason", "首院出院日期登记有误")];
    let page = app.post("/settlement/exceptions", &bureau, &let_it).await;
    assert!(page.status == StatusCode::OK && page.body.contains("已登记") && page.body.contains("未使用"), "{}", page.body);
    assert_eq!(app.post("/settlement/confirm", &clerk, &as_refs(&second)).await.status, StatusCode::SEE_OTHER, "settled with the exception");
    assert!(app.get("/settlement/exceptions", &bureau).await.body.contains("H37130201-A2"), "the exception names the claim that used it");
    let audit = app.db.search_audit(&huimin_store::AuditFilter { action: Some("stay.exception".into()), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(audit.len(), 1);
    // The clerk cannot let a stay themselves.
    assert_eq!(app.post("/settlement/exceptions", &clerk, &[("_csrf", clerk_csrf.as_str()), ("id_number", li.as_str()), ("facility", "H37130201"), ("admission", "2024-08-06"), ("discharge", "2024-08-07"), ("reason", "我自己放行")]).await.status, StatusCode::FORBIDDEN);
}

/// A 4 KB workbook with one value at the far corner of the grid, posted for a dry run: a clear
/// refusal naming the cell's row, and the server goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workbook_with_a_far_away_cell_is_refused_and_the_server_stays_up() {
    let app = TestApp::new().await;
    let (session, csrf) = app.login("health_bureau", PASSWORD).await.unwrap();
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["户编号", "户主姓名", "与户主关系", "姓名", "证件号码", "民族", "行政区划代码", "贫困户属性", "脱贫状态", "主要致贫原因"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    sheet.write_string(1_048_575, 16_383, "x").unwrap();
    let bytes = book.save_to_buffer().unwrap();
    assert!(bytes.len() < 8192);
    let req = Request::post("/api/roster?file_name=bomb.xlsx&dry_run=true").header(header::COOKIE, &session).header("x-csrf-token", &csrf).extension(ConnectInfo::<SocketAddr>("10.0.0.7:5000".parse().unwrap())).body(Body::from(bytes)).unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = String::from_utf8_lossy(&axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap()).into_owned();
    assert!(status.is_client_error(), "{status} {body}");
    assert!(body.contains("第 1048576 行") && body.contains("256 列"), "{body}");
    assert_eq!(app.get("/", &session).await.status, StatusCode::OK, "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_keeps_its_own_village_and_what_it_sends_is_stored_once_or_shown_as_a_conflict() {
    let app = TestApp::new().await;
    let today = huimin_app::clock::today();
    let a = AuditEntry { username: "fixture".into(), action: "campaign".into(), ..Default::default() };
    let campaign = app.db.create_campaign("本年筛查", RegionCode::parse("371302").unwrap(), today - chrono::Duration::days(10), today + chrono::Duration::days(10), "fixture", &a).await.unwrap();
    // The shell, script, worker and manifest are served to anyone and carry no personal data.
    for path in ["/offline", "/static/offline.js", "/sw.js", "/manifest.webmanifest", "/static/icon.svg"] {
        let r = app.get(path, "").await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(!r.body.contains("张三"), "{path}");
    }
    assert!(app.get("/sw.js", "").await.body.contains("const CACHE = 'huimin-") && !app.get("/sw.js", "").await.body.contains("__VERSION__"));

    let (doctor, csrf) = app.login("village_doctor", PASSWORD).await.unwrap();
    let pack = app.get("/api/offline/pack", &doctor).await;
    assert_eq!(pack.status, StatusCode::OK, "{}", pack.body);
    let pack: serde_json::Value = serde_json::from_str(&pack.body).unwrap();
    assert_eq!(pack["region"]["code"], V1);
    assert_eq!(pack["csrf"], csrf.as_str());
    let names: Vec<&str> = pack["contracts"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["张三"], "only the doctor's own village");
    let households = &pack["campaigns"][0]["households"];
    assert_eq!((pack["campaigns"][0]["id"].as_i64(), households.as_array().map(Vec::len)), (Some(campaign), Some(1)));
    assert!(households[0]["screening"].is_null());
    assert!(!pack.to_string().contains(&id(1)), "no ID number goes to the phone");
    // A township account covers many villages: it gets no pack.
    let (township, _) = app.login("township_staff", PASSWORD).await.unwrap();
    assert_eq!(app.get("/api/offline/pack", &township).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/api/offline/pack", "").await.status, StatusCode::UNAUTHORIZED);

    // A screening made offline, based on "no result yet", sent twice (the answer was lost): one.
    let url = format!("/api/screening/{campaign}/households/HIN");
    let sent = serde_json::json!({ "result": "因病支出大", "illness_poor": true, "submission_key": "off-phone-0001", "screened_on": (today - chrono::Duration::days(1)).to_string(), "based_on": null });
    let first = app.post_json(&url, &doctor, &csrf, &sent).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = app.post_json(&url, &doctor, &csrf, &sent).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let stored = app.db.screening(campaign, "HIN").await.unwrap().unwrap();
    assert_eq!((stored.result.as_str(), stored.screened_on), ("因病支出大", today - chrono::Duration::days(1)));
    let version = serde_json::from_str::<serde_json::Value>(&first.body).unwrap()["version"].as_str().unwrap().to_string();

    // A second phone that also saw no result: a conflict with the stored result, nothing overwritten.
    let stale = serde_json::json!({ "result": "无大额支出", "illness_poor": false, "submission_key": "off-phone-0002", "based_on": null });
    let conflict = app.post_json(&url, &doctor, &csrf, &stale).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.body);
    let body: serde_json::Value = serde_json::from_str(&conflict.body).unwrap();
    assert_eq!(body["current"]["screening"]["result"], "因病支出大");
    assert!(body["detail"].as_str().unwrap().contains("因病支出大"));
    assert_eq!(app.db.screening(campaign, "HIN").await.unwrap().unwrap().result, "因病支出大");
    // Its user keeps their own result: sent again based on the version now stored, it is stored.
    let insist = serde_json::json!({ "result": "无大额支出", "illness_poor": false, "submission_key": "off-phone-0002", "based_on": version });
    assert_eq!(app.post_json(&url, &doctor, &csrf, &insist).await.status, StatusCode::CREATED);
    assert_eq!(app.db.screening(campaign, "HIN").await.unwrap().unwrap().result, "无大额支出");
    // The campaign page's form carries the version it showed: a page shown before is refused.
    let stale_form = app.post(&format!("/screening/{campaign}/households/HIN"), &doctor, &[("_csrf", &csrf), ("result", "核实"), ("submission_key", "page-form-0001"), ("based_on", &version)]).await;
    assert_eq!(stale_form.status, StatusCode::BAD_REQUEST);
    assert!(stale_form.body.contains("无大额支出"), "{}", stale_form.body);
    // A date outside the campaign, or a household of another village, is refused.
    let early = serde_json::json!({ "result": "核实", "submission_key": "off-phone-0003", "screened_on": (today - chrono::Duration::days(30)).to_string() });
    assert_eq!(app.post_json(&url, &doctor, &csrf, &early).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.post_json(&format!("/api/screening/{campaign}/households/HSIB"), &doctor, &csrf, &early).await.status, StatusCode::NOT_FOUND);

    // Logging out tells the browser to clear what the site stored on the device.
    let out = app.post("/logout", &doctor, &[("_csrf", &csrf)]).await;
    assert_eq!((out.status, out.headers.get("clear-site-data").and_then(|v| v.to_str().ok())), (StatusCode::SEE_OTHER, Some("\"storage\"")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worklist_comes_a_page_at_a_time_and_a_village_prints_whole() {
    let app = TestApp::new().await;
    let (township, _) = app.login("township_staff", PASSWORD).await.unwrap();
    let first: serde_json::Value = serde_json::from_str(&app.get("/api/worklist?show=all", &township).await.body).unwrap();
    assert_eq!((first["total"].as_u64(), first["page"].as_i64(), first["per_page"].as_u64(), first["items"].as_array().map(Vec::len)), (Some(1), Some(1), Some(100), Some(1)));
    let second: serde_json::Value = serde_json::from_str(&app.get("/api/worklist?show=all&page=2", &township).await.body).unwrap();
    assert_eq!((second["total"].as_u64(), second["items"].as_array().map(Vec::len)), (Some(1), Some(0)), "past the last page: no rows, the total still");
    let page = app.get("/worklist?show=all", &township).await.body;
    let print = format!("/worklist?region={V1}&amp;year={}&amp;show=all&amp;sort=name&amp;print=1", huimin_app::clock::this_year());
    assert!(page.contains(&print), "each village's list can be printed: {page}");
    let printed = app.get(&print.replace("&amp;", "&"), &township).await;
    assert_eq!(printed.status, StatusCode::OK);
    assert!(printed.body.contains("print-title") && printed.body.contains("一村") && printed.body.contains("张三"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roster_template_downloads_and_imports_as_it_is() {
    let app = TestApp::new().await;
    let (bureau, csrf) = app.login("health_bureau", PASSWORD).await.unwrap();
    assert!(app.get("/import", &bureau).await.body.contains("href=\"/import/template.xlsx\""));
    let template = app.get("/import/template.xlsx", &bureau).await;
    assert_eq!(template.status, StatusCode::OK);
    // Every cell is text: the ID numbers keep their 18 digits when read back.
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(template.bytes.clone())).unwrap();
    let sheet = calamine::Reader::worksheet_range_at(&mut book, 0).unwrap().unwrap();
    assert!(matches!(sheet.get((1, 4)), Some(calamine::Data::String(s)) if s.len() == 18));
    let req = Request::post("/api/roster?file_name=template.xlsx&dry_run=true").header(header::COOKIE, &bureau).header("x-csrf-token", &csrf).extension(ConnectInfo::<SocketAddr>("10.0.0.7:5000".parse().unwrap())).body(Body::from(template.bytes)).unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body: serde_json::Value = serde_json::from_slice(&axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap()).unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(0), "{body}");
    assert_eq!(app.get("/import/template.xlsx", &app.login("village_doctor", PASSWORD).await.unwrap().0).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_page_stays_in_the_frame_in_the_users_language() {
    let app = TestApp::new().await;
    let (doctor, _) = app.login("village_doctor", PASSWORD).await.unwrap();
    let missing = app.get("/households/NOPE", &doctor).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("<nav class=\"side\">") && missing.body.contains("页面或记录不存在") && missing.body.contains("返回首页"), "{}", missing.body);
    assert!(!missing.body.contains("Not found"), "one language at a time");
    let forbidden = app.get("/admin/users", &doctor).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert!(forbidden.body.contains("您无权访问此内容") && !forbidden.body.contains("You may not see this"));
    let english = app.get("/households/NOPE", &format!("{doctor}; huimin_lang=en")).await;
    assert!(english.body.contains("Not found") && !english.body.contains("页面或记录不存在"), "{}", english.body);
    // Not signed in: the page without the frame.
    let anonymous = app.get("/no-such-page", "").await;
    assert_eq!(anonymous.status, StatusCode::NOT_FOUND);
    assert!(!anonymous.body.contains("<nav class=\"side\">") && anonymous.body.contains("页面或记录不存在"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_disease_card_comes_back_on_its_form_as_typed() {
    let app = TestApp::new().await;
    let pid = person_id(&app.db, 1).await;
    let (doctor, csrf) = app.login("village_doctor", PASSWORD).await.unwrap();
    let r = app.post(&format!("/persons/{pid}/cards"), &doctor, &[("_csrf", &csrf), ("code", "I10"), ("diagnosed_on", "1850-05-01"), ("diagnosed_at", "兰山区人民医院"), ("plan", "规律服药")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("<nav class=\"side\">") && r.body.contains("早于出生日期"), "{}", r.body);
    assert!(r.body.contains("<details open") && r.body.contains("value=\"1850-05-01\"") && r.body.contains("value=\"兰山区人民医院\"") && r.body.contains("value=\"规律服药\""), "the form as typed");
    assert!(app.db.disease_cards(&[pid]).await.unwrap().is_empty());
    // An examination likewise.
    let r = app.post(&format!("/persons/{pid}/exams"), &doctor, &[("_csrf", &csrf), ("exam_date", "2024-05-01"), ("systolic", "80"), ("diastolic", "120"), ("findings", "血压待复查")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("应低于收缩压") && r.body.contains("value=\"2024-05-01\"") && r.body.contains("value=\"血压待复查\"") && r.body.matches("<details open").count() == 1, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fund_bureau_starts_from_what_its_funds_owe_this_month() {
    let app = TestApp::new().await;
    let claim = app.db.claim("CIN").await.unwrap().unwrap();
    let owed = |codes: &[&str]| claim.bill.lines.iter().filter(|l| codes.contains(&l.fund.code())).map(|l| l.total.fen()).sum::<i64>();
    for (role, codes) in [("medical_insurance", &["310101", "390101", "390201", "390401"][..]), ("civil_affairs", &["610101", "640101"][..])] {
        let (cookie, _) = app.login(role, PASSWORD).await.unwrap();
        let home = app.get("/", &cookie).await.body;
        assert!(home.contains("各基金应付") && home.contains("/reconciliation?month="), "{role}: {home}");
        let total: i64 = codes.iter().map(|c| owed(&[c])).sum();
        assert!(total > 0, "{role}: the fixture's claim pays from these funds");
        assert!(codes.iter().filter(|c| owed(&[c]) > 0).all(|c| home.contains(&huimin_domain::format::yuan_fen(owed(&[c])))), "{role}: each fund's amount");
        assert!(menu_of(&home).contains(&"/reconciliation".to_string()), "{role}: 基金对账 in the menu");
    }
    let (doctor, _) = app.login("village_doctor", PASSWORD).await.unwrap();
    assert!(!app.get("/", &doctor).await.body.contains("各基金应付"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monthly_report_holds_numbers_a_spreadsheet_can_sum() {
    use calamine::DataType;
    let app = TestApp::new().await;
    let (bureau, _) = app.login("health_bureau", PASSWORD).await.unwrap();
    let month = huimin_app::clock::today().format("%Y-%m").to_string();
    let r = app.get(&format!("/reports/monthly.xlsx?period={month}"), &bureau).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(r.bytes)).unwrap();
    let sheet = calamine::Reader::worksheet_range_at(&mut book, 0).unwrap().unwrap();
    let county = sheet.rows().nth(3).expect("the county's row");
    assert_eq!(county[0].to_string(), "全县");
    // Counts and money are numbers; rates are fractions (shown as 0.0%) or — without a denominator.
    for (col, what) in [(1, "households"), (2, "persons"), (13, "stays"), (14, "cost")] {
        assert!(county[col].get_float().is_some(), "{what} is a number: {:?}", county[col]);
    }
    assert_eq!(county[1].get_float(), Some(2.0), "the county's two households");
    assert!(county[4].get_float().is_some_and(|v| (0.0..=1.0).contains(&v)), "a rate: {:?}", county[4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_claim_is_read_at_the_id_its_resources_carry_and_no_two_resources_share_one() {
    let app = TestApp::new().await;
    // A visit number with underscores, which a FHIR id may not hold, as long as a claim number
    // may be (40 characters).
    let person = person_id(&app.db, 1).await;
    let set = huimin_app::settlement::PolicySet::load(&app.db).await.unwrap();
    let mut req = stay_request("H37130201-ZY_2024_17_0000000000000000000", person, "H37130201");
    assert_eq!(req.claim_no.len(), 40);
    req.admission = Date::from_ymd_opt(2024, 9, 1).unwrap();
    req.discharge = Date::from_ymd_opt(2024, 9, 5).unwrap();
    let a = AuditEntry { username: "fixture".into(), action: "settle".into(), ..Default::default() };
    huimin_app::settlement::settle_claim(&app.db, &set, &req, "fixture", &a).await.unwrap();
    let (bureau, _) = app.login("health_bureau", PASSWORD).await.unwrap();
    let everything: serde_json::Value = serde_json::from_str(&app.get(&format!("/fhir/Patient/{person}/$everything"), &bureau).await.body).unwrap();
    let entries = everything["entry"].as_array().unwrap();
    let urls: Vec<&str> = entries.iter().filter_map(|e| e["fullUrl"].as_str()).collect();
    let unique: std::collections::HashSet<&&str> = urls.iter().collect();
    assert_eq!(unique.len(), urls.len(), "duplicate fullUrls: {urls:?}");
    let claim = entries.iter().map(|e| &e["resource"]).find(|r| r["resourceType"] == "Claim" && r["identifier"].to_string().contains("ZY_2024_17")).expect("the claim");
    let id = claim["id"].as_str().unwrap();
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') && id.len() <= 64, "{id}");
    let read = app.get(&format!("/fhir/Claim/{id}"), &bureau).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&read.body).unwrap()["id"], id);
    assert_eq!(app.get(&format!("/fhir/ExplanationOfBenefit?claim={id}"), &bureau).await.status, StatusCode::OK);
    // Its Encounter and ExplanationOfBenefit answer at their fullUrls too.
    let encounter = huimin_app::fhir::id(&format!("enc-{}", req.claim_no));
    let of_claim: Vec<&serde_json::Value> = entries
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| (r["resourceType"] == "Encounter" && r["id"] == encounter.as_str()) || (r["resourceType"] == "ExplanationOfBenefit" && r["claim"]["reference"] == format!("Claim/{id}").as_str()))
        .collect();
    assert!(of_claim.len() >= 3, "its Encounter and an EOB per paying fund: {}", of_claim.len());
    for r in of_claim {
        let path = format!("/fhir/{}/{}", r["resourceType"].as_str().unwrap(), r["id"].as_str().unwrap());
        assert_eq!(app.get(&path, &bureau).await.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fhir_bundles_say_what_they_are_and_xml_is_not_pretended() {
    let app = TestApp::new().await;
    let (bureau, _) = app.login("health_bureau", PASSWORD).await.unwrap();
    let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    let export = json(&app.get("/fhir/export?period=2024", &bureau).await.body);
    assert_eq!(export["type"], "collection");
    assert!(export.get("total").is_none() && export.get("link").is_none(), "bdl-1: a collection has no total");
    let eob = json(&app.get("/fhir/ExplanationOfBenefit?claim=CIN", &bureau).await.body);
    assert_eq!((eob["type"].as_str(), eob["link"][0]["relation"].as_str()), (Some("searchset"), Some("self")));
    assert!(eob["link"][0]["url"].as_str().unwrap().ends_with("/fhir/ExplanationOfBenefit?claim=CIN"));
    assert_eq!(eob["total"].as_u64(), eob["entry"].as_array().map(|e| e.len() as u64));
    assert!(eob["entry"].as_array().unwrap().iter().all(|e| e["search"]["mode"] == "match"));
    // A Claim's insurance: the layers of its bill, the first that paid focal.
    let claim = json(&app.get("/fhir/Claim/CIN", &bureau).await.body);
    let stored = app.db.claim("CIN").await.unwrap().unwrap();
    let insurance = claim["insurance"].as_array().unwrap();
    assert_eq!(insurance.len(), stored.bill.lines.len());
    let focal: Vec<&serde_json::Value> = insurance.iter().filter(|i| i["focal"] == true).collect();
    let first_paying = stored.bill.lines.iter().find(|l| !l.total.is_zero()).unwrap();
    assert_eq!((focal.len(), focal[0]["coverage"]["display"].as_str()), (1, Some(&*first_paying.layer_name)));
    // Bill lines name their funds by code, as everywhere else.
    let api = json(&app.get("/api/settlements/CIN", &bureau).await.body);
    assert!(api.to_string().contains("\"390101\"") && !api.to_string().contains("ResidentBasic"), "{api}");
    let cs = json(&app.get("/fhir/metadata", &bureau).await.body);
    assert!(cs["implementation"]["description"].is_string(), "cpb-14");
    // Only JSON is served: a client asking for XML alone is answered 406, as an OperationOutcome.
    let req = Request::get("/fhir/Claim/CIN").header(header::COOKIE, &bureau).header(header::ACCEPT, "application/fhir+xml").extension(ConnectInfo::<SocketAddr>("10.0.0.7:5000".parse().unwrap())).body(Body::empty()).unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_ACCEPTABLE);
    let body = json(&String::from_utf8_lossy(&axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap()));
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(app.get("/fhir/Claim/CIN?_format=xml", &bureau).await.status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(app.get("/fhir/Claim/CIN?_format=json", &bureau).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resource_of_a_bundle_answers_at_its_full_url_as_its_role_may_see_it() {
    let app = TestApp::new().await;
    let person = person_id(&app.db, 1).await;
    let catalogues = huimin_app::health::catalog(&app.db).await.unwrap();
    let a = AuditEntry { username: "fixture".into(), action: "card".into(), ..Default::default() };
    let input = huimin_app::health::CardInput { code: "I10".into(), ..Default::default() };
    huimin_app::health::record_card(&app.db, catalogues.base(), person, &input, "fixture", huimin_app::clock::today(), &a).await.unwrap();
    let (bureau, _) = app.login("health_bureau", PASSWORD).await.unwrap();
    let bundle: serde_json::Value = serde_json::from_str(&app.get(&format!("/fhir/Patient/{person}/$everything"), &bureau).await.body).unwrap();
    let mut types = std::collections::BTreeSet::new();
    for e in bundle["entry"].as_array().unwrap() {
        let url = e["fullUrl"].as_str().unwrap();
        let local = &url[url.find("/fhir/").unwrap()..];
        let r = app.get(local, &bureau).await;
        assert_eq!(r.status, StatusCode::OK, "{local}: {}", r.body);
        let read: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!((&read["resourceType"], &read["id"]), (&e["resource"]["resourceType"], &e["resource"]["id"]), "{local}");
        types.insert(read["resourceType"].as_str().unwrap().to_string());
    }
    for t in ["Patient", "Coverage", "Condition", "Encounter", "Claim", "CarePlan"] {
        assert!(types.contains(t), "{t} in the bundle and readable: {types:?}");
    }
    // Declared in the CapabilityStatement.
    let cs: serde_json::Value = serde_json::from_str(&app.get("/fhir/metadata", "").await.body).unwrap();
    let declared: Vec<&str> = cs["rest"][0]["resource"].as_array().unwrap().iter().filter_map(|r| r["type"].as_str()).collect();
    for t in &types {
        assert!(declared.contains(&t.as_str()), "{t} declared: {declared:?}");
    }
    // Outside the region, or not the role's to see: not there.
    let outside = person_id(&app.db, 5).await;
    assert_eq!(app.get(&format!("/fhir/Coverage/{outside}-worked-example-basic"), &bureau).await.status, StatusCode::NOT_FOUND);
    let (clerk, _) = app.login("settlement_clerk", PASSWORD).await.unwrap();
    let condition = bundle["entry"].as_array().unwrap().iter().find(|e| e["resource"]["resourceType"] == "Condition").unwrap()["resource"]["id"].as_str().unwrap().to_string();
    assert_ne!(app.get(&format!("/fhir/Condition/{condition}"), &clerk).await.status, StatusCode::OK, "a clerk sees no diagnosis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_settlement_becomes_a_warning_that_each_role_sees_in_its_region() {
    let app = TestApp::new().await;
    let year = huimin_app::clock::this_year();
    let today = huimin_app::clock::today();
    // The worked example in force this year.
    let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/worked-example.toml")).unwrap()
        .replace("id = \"worked-example\"", "id = \"this-year\"")
        .replace("2024-01-01", &format!("{year}-01-01"))
        .replace("2024-12-31", &format!("{year}-12-31"));
    let a = AuditEntry { username: "fixture".into(), action: "policy.load".into(), ..Default::default() };
    huimin_app::settlement::load_policy(&app.db, "this-year.toml", &policy, false, &a).await.unwrap();
    let rules = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../warnings/county-2023.toml")).unwrap().replace("2026-12-31", &format!("{}-12-31", year + 1));
    let send_text = |cookie: String, csrf: String, body: String| {
        let req = Request::post("/api/warning-rules?name=county.toml").header(header::COOKIE, cookie).header("x-csrf-token", csrf).header(header::CONTENT_TYPE, "text/plain");
        req.extension(ConnectInfo::<SocketAddr>("10.0.0.7:5000".parse().unwrap())).body(Body::from(body)).unwrap()
    };
    // Only the roles that set the rules load them; the file is checked first.
    let (doctor, doctor_csrf) = app.login("village_doctor", PASSWORD).await.unwrap();
    assert_eq!(app.router.clone().oneshot(send_text(doctor.clone(), doctor_csrf.clone(), rules.clone())).await.unwrap().status(), StatusCode::FORBIDDEN);
    let (office, office_csrf) = app.login("poverty_office", PASSWORD).await.unwrap();
    let bad = app.router.clone().oneshot(send_text(office.clone(), office_csrf.clone(), rules.replace("window_months = 12", "window_months = 0"))).await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.router.clone().oneshot(send_text(office.clone(), office_csrf.clone(), rules)).await.unwrap().status(), StatusCode::CREATED);

    // The village doctor records the household's figures: two members at 7,600 yuan a head.
    let econ = serde_json::json!({ "size": 2, "per_capita_income": 760_000, "monitoring_category": "edge" });
    let r = app.post_json("/api/households/HIN/economics", &doctor, &doctor_csrf, &econ).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&r.body).unwrap()[0]["per_capita_income"], 760_000);
    assert_eq!(app.post_json("/api/households/HIN/economics", &doctor, &doctor_csrf, &serde_json::json!({ "size": 0 })).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.post_json("/api/households/HOUT/economics", &doctor, &doctor_csrf, &econ).await.status, StatusCode::NOT_FOUND, "outside the village");

    // The same from the household page's form (income in yuan): a second record, the history kept.
    let form = app.post("/households/HIN/economics", &doctor, &[("_csrf", &doctor_csrf), ("size", "2"), ("per_capita_income", "7600"), ("monitoring_category", "edge")]).await;
    assert_eq!(form.status, StatusCode::SEE_OTHER);
    assert_eq!(app.post("/households/HIN/economics", &doctor, &[("_csrf", &doctor_csrf), ("size", "两"), ("per_capita_income", "")]).await.status, StatusCode::BAD_REQUEST);
    let page = app.get("/households/HIN", &doctor).await.body;
    assert!(page.contains("¥7,600.00") && page.contains("边缘易致贫户") && page.contains("共 2 次"), "{page}");

    // The clerk settles a large stay of the household's member: a warning at once.
    let (clerk, clerk_csrf) = app.login("settlement_clerk", PASSWORD).await.unwrap();
    let person = person_id(&app.db, 1).await;
    let day = today - chrono::Duration::days(3);
    let stay = serde_json::json!({ "claim_no": "H37130201-W1", "person_id": person, "visit": "inpatient", "admission": (day - chrono::Duration::days(6)).to_string(),
        "discharge": day.to_string(), "diseases": [], "cat_a": 6_000_000, "cat_b": 1_500_000, "out_of_catalogue": 0, "necessary": 0 });
    let settled = app.post_json("/api/settlements", &clerk, &clerk_csrf, &stay).await;
    assert_eq!(settled.status, StatusCode::CREATED, "{}", settled.body);
    let seen = |who: String| {
        let app = &app;
        async move { serde_json::from_str::<serde_json::Value>(&app.get("/api/warnings", &who).await.body).unwrap() }
    };
    let w = seen(doctor.clone()).await;
    let list = w["warnings"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{w}");
    assert_eq!((list[0]["household_no"].as_str(), list[0]["rule_id"].as_str()), (Some("HIN"), Some("below-line")));
    assert_eq!(list[0]["due_on"], (today + chrono::Duration::days(15)).to_string());
    assert!(!w.to_string().contains(&id(1)), "no ID number in a warning");
    // The county and the township see it; the clerk may not; the other county's bureau has none.
    let (bureau, _) = app.login("health_bureau", PASSWORD).await.unwrap();
    assert_eq!(seen(bureau).await["warnings"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/warnings", &clerk).await.status, StatusCode::FORBIDDEN);
    let (township, _) = app.login("township_staff", PASSWORD).await.unwrap();
    let page = app.get("/monitoring", &township).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("HIN") && page.body.contains("扣除医疗支出后低于监测标准") && page.body.contains("15 天"), "{}", page.body);
    assert_eq!(app.get("/api/warnings?region=371311", &township).await.status, StatusCode::FORBIDDEN);
    assert!(app.get("/households/HIN", &doctor).await.body.contains("因病返贫预警：扣除医疗支出后低于监测标准"), "the household page links its open warning");

    // The recognition, step by step, each by the role that owns it.
    let wid = list[0]["id"].as_i64().unwrap();
    let url = format!("/api/warnings/{wid}/steps");
    let (township, township_csrf) = app.login("township_staff", PASSWORD).await.unwrap();
    let (civil, civil_csrf) = app.login("civil_affairs", PASSWORD).await.unwrap();
    let step = |s: &str, note: &str, yes: bool| serde_json::json!({ "step": s, "note": note, "yes": if yes { "true" } else { "false" } });
    let stage = |r: &Response| serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["warning"]["stage"].as_str().map(str::to_string);
    let r = app.post_json(&url, &doctor, &doctor_csrf, &step("home_visit", "入户核实：住院自付较多，家庭收入低", true)).await;
    assert_eq!((r.status, stage(&r).as_deref()), (StatusCode::OK, Some("visited")), "{}", r.body);
    assert_eq!(app.post_json(&url, &clerk, &clerk_csrf, &step("cross_check", "数据比对一致无误", true)).await.status, StatusCode::FORBIDDEN);
    let wrong_role = app.post_json(&url, &doctor, &doctor_csrf, &step("cross_check", "数据比对一致无误", true)).await;
    assert_eq!(wrong_role.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong_role.body.contains("应由"), "{}", wrong_role.body);
    assert_eq!(stage(&app.post_json(&url, &township, &township_csrf, &step("cross_check", "收入与医保结算数据比对一致", true)).await).as_deref(), Some("cross_checked"));
    assert_eq!(stage(&app.post_json(&url, &doctor, &doctor_csrf, &step("post_notice", "", true)).await).as_deref(), Some("notice_posted"));
    // The notice shows the head, the village and the category, nothing else of the household.
    let notice = app.get(&format!("/monitoring/{wid}/notice"), &doctor).await;
    assert_eq!(notice.status, StatusCode::OK);
    let main = &notice.body[notice.body.find("<main").unwrap()..];
    assert!(main.contains("张三") && main.contains("一村") && main.contains("边缘易致贫户"), "{main}");
    assert!(!main.contains(&id(1)) && !main.contains('¥') && !main.contains("低于监测标准"), "{main}");
    let early = app.post_json(&url, &township, &township_csrf, &step("township_review", "审核同意纳入监测", true)).await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY, "the notice has not been up five days");
    // Five days later (the notice dated back as time would have passed):
    sqlx::query("UPDATE warnings SET notice_on = $1 WHERE id = $2").bind((today - chrono::Duration::days(5)).to_string()).bind(wid).execute(app.db.pool()).await.unwrap();
    assert_eq!(stage(&app.post_json(&url, &township, &township_csrf, &step("township_review", "审核同意纳入监测", true)).await).as_deref(), Some("township_reviewed"));
    assert_eq!(stage(&app.post_json(&url, &office, &office_csrf, &step("county_approval", "审批认定为边缘易致贫户", true)).await).as_deref(), Some("approved"));
    assert_eq!(stage(&app.post_json(&url, &civil, &civil_csrf, &step("help", "依申请医疗救助，再救助 2,000 元", true)).await).as_deref(), Some("helped"));
    let page = app.get(&format!("/monitoring/{wid}"), &township).await;
    assert!(page.body.contains("依申请医疗救助") && page.body.contains("帮扶中") && page.body.contains("乡镇审核"), "{}", page.body);
    let done = app.post_json(&url, &office, &office_csrf, &step("assess", "收入稳定超过监测标准，风险消除", true)).await;
    let done: serde_json::Value = serde_json::from_str(&done.body).unwrap();
    assert_eq!((done["warning"]["stage"].as_str(), done["warning"]["closed_on"].as_str()), (Some("closed"), Some(today.to_string().as_str())));
    assert_eq!(done["steps"].as_array().unwrap().len(), 7);
    assert!(seen(doctor.clone()).await["warnings"].as_array().unwrap().is_empty(), "no longer open");
    assert_eq!(app.get("/api/warnings?all=true", &doctor).await.body.matches("\"id\"").count(), 1);
    // The page's form: refused steps come back with the reason.
    let refused = app.post(&format!("/monitoring/{wid}/steps"), &office, &[("_csrf", &office_csrf), ("step", "help"), ("note", "再次帮扶措施")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("已办结"));
}

/// Each step of a recognition and each kind of lead, tried by every role: only the roles that own
/// it move the recognition (the others refused: 403 without the permission, 422 with the reason),
/// and nobody outside the household's region.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_takes_only_its_own_steps_of_a_recognition() {
    let app = TestApp::new().await;
    let today = huimin_app::clock::today();
    let mut sessions = Vec::new();
    for role in Role::ALL {
        let (cookie, csrf) = app.login(role.code(), PASSWORD).await.unwrap();
        sessions.push((role, cookie, csrf));
    }
    // Leads: each source by each role, on a household in every role's region (HIN: the village).
    let mut failures = Vec::new();
    for source in LeadSource::ALL {
        for (role, cookie, csrf) in &sessions {
            let r = app.post_json("/api/households/HIN/leads", cookie, csrf, &serde_json::json!({ "source": source.code(), "note": "户主电话申报：住院花费较大" })).await;
            let owner = huimin_domain::recognition::lead_roles(*source).contains(role);
            match (owner, r.status) {
                (true, StatusCode::CREATED) => {
                    // Closed again, so the next role may report one.
                    let id = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"].as_i64().unwrap();
                    sqlx::query("UPDATE warnings SET closed_on = $1, stage = 'closed' WHERE id = $2").bind(today.to_string()).bind(id).execute(app.db.pool()).await.unwrap();
                }
                (false, StatusCode::FORBIDDEN | StatusCode::UNPROCESSABLE_ENTITY) => {}
                (_, status) => failures.push(format!("{role:?} lead {source:?}: {status} {}", r.body)),
            }
        }
    }
    // Outside the region: the other county's household does not exist for this county's office.
    let office = sessions.iter().find(|(r, ..)| *r == Role::PovertyOffice).unwrap();
    assert_eq!(app.post_json("/api/households/HOUT/leads", &office.1, &office.2, &serde_json::json!({ "source": "self_report", "note": "户主电话申报情况" })).await.status, StatusCode::NOT_FOUND);
    assert!(failures.is_empty(), "leads:\n{}", failures.join("\n"));

    // A recognition walked from its lead: at each stage every other role is refused first.
    let doctor = sessions.iter().find(|(r, ..)| *r == Role::VillageDoctor).unwrap();
    let r = app.post_json("/api/households/HIN/leads", &doctor.1, &doctor.2, &serde_json::json!({ "source": "cadre_visit", "note": "村干部走访发现：大病住院" })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let wid = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"].as_i64().unwrap();
    let url = format!("/api/warnings/{wid}/steps");
    let path = [("home_visit", true), ("cross_check", true), ("post_notice", true), ("township_review", true), ("county_approval", true), ("help", true), ("assess", true)];
    for (code, yes) in path {
        if code == "township_review" {
            // The notice has been up five days.
            sqlx::query("UPDATE warnings SET notice_on = $1 WHERE id = $2").bind((today - chrono::Duration::days(5)).to_string()).bind(wid).execute(app.db.pool()).await.unwrap();
        }
        let owners = huimin_domain::recognition::Step::from_code(code, yes, String::new()).unwrap().roles();
        let body = serde_json::json!({ "step": code, "note": "按程序办理本环节", "yes": if yes { "true" } else { "false" } });
        for (role, cookie, csrf) in sessions.iter().filter(|(r, ..)| !owners.contains(r)) {
            let r = app.post_json(&url, cookie, csrf, &body).await;
            if !matches!(r.status, StatusCode::FORBIDDEN | StatusCode::UNPROCESSABLE_ENTITY) {
                failures.push(format!("{role:?} took {code}: {}", r.status));
            }
        }
        let (_, cookie, csrf) = sessions.iter().find(|(r, ..)| owners.contains(r)).unwrap();
        let r = app.post_json(&url, cookie, csrf, &body).await;
        assert_eq!(r.status, StatusCode::OK, "{code}: {}", r.body);
    }
    assert!(failures.is_empty(), "steps:\n{}", failures.join("\n"));
    let w: serde_json::Value = serde_json::from_str(&app.get("/api/warnings?all=true", &office.1).await.body).unwrap();
    let walked = w["warnings"].as_array().unwrap().iter().find(|x| x["id"] == wid).unwrap().clone();
    assert_eq!((walked["stage"].as_str(), walked["lead"].as_str(), walked["decided_on"].as_str()), (Some("closed"), Some("cadre_visit"), Some(today.to_string().as_str())));
    // The household page's form: a lead reported by the township for the neighbouring village.
    let township = sessions.iter().find(|(r, ..)| *r == Role::TownshipStaff).unwrap();
    assert!(app.get("/households/HSIB", &township.1).await.body.contains("登记监测线索"));
    let short = app.post("/households/HSIB/leads", &township.1, &[("_csrf", township.2.as_str()), ("source", "self_report"), ("note", "困难")]).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.body.contains("至少 4 个字"), "{}", short.body);
    let posted = app.post("/households/HSIB/leads", &township.1, &[("_csrf", township.2.as_str()), ("source", "self_report"), ("note", "农户到乡镇申报家庭困难")]).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert!(posted.location.as_deref().is_some_and(|l| l.starts_with("/monitoring/")), "{:?}", posted.location);
    let page = app.get("/households/HSIB", &township.1).await.body;
    assert!(page.contains("因病返贫预警：农户自主申报") && !page.contains("登记监测线索"), "one recognition under way: the form is gone");
    // The monitoring report opens as a workbook with its three sheets.
    let (bureau, _) = app.login("health_bureau", PASSWORD).await.unwrap();
    let report = app.get("/reports/monitoring.xlsx", &bureau).await;
    assert_eq!(report.status, StatusCode::OK);
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(report.bytes.clone())).unwrap();
    assert_eq!(calamine::Reader::sheet_names(&book), ["监测认定", "医疗负担分布", "办理中的认定"]);
    let sheet = calamine::Reader::worksheet_range_at(&mut book, 0).unwrap().unwrap();
    let total = sheet.rows().find(|r| r.get(1).is_some_and(|c| c.to_string() == "合计")).expect("a total row");
    // Leads opened: one by each role that reports each source, the walked one and the township's.
    let opened: usize = LeadSource::ALL.iter().map(|s| huimin_domain::recognition::lead_roles(*s).len()).sum::<usize>() + 2;
    assert_eq!(total[6].to_string(), opened.to_string(), "{total:?}");
    let under_way = calamine::Reader::worksheet_range_at(&mut book, 2).unwrap().unwrap();
    assert!(under_way.rows().any(|r| r.first().is_some_and(|c| c.to_string() == "HSIB")), "the township's lead is under way");
}

/// A region parameter is read one way everywhere (`registry::region_param`): a code with spaces
/// or a line break around it is refused, never read as the user's own region.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_region_parameter_refuses_a_code_with_spaces() {
    let app = TestApp::new().await;
    let (bureau, _) = app.login("health_bureau", PASSWORD).await.unwrap();
    let (insurance, _) = app.login("medical_insurance", PASSWORD).await.unwrap();
    for (path, who) in [
        ("/api/indicators", &bureau),
        ("/dashboard", &bureau),
        ("/fhir/export", &bureau),
        ("/api/exchange/roster", &bureau),
        ("/reconciliation", &bureau),
        ("/api/warnings", &bureau),
        ("/monitoring", &bureau),
        ("/api/households", &bureau),
        ("/policies/worked-example/simulate", &insurance),
    ] {
        for code in ["%0A", "%20371302"] {
            let r = app.get(&format!("{path}?region={code}"), who).await;
            assert!(matches!(r.status, StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY), "{path}?region={code}: {}", r.status);
        }
    }
}
