//! The web application through the front door: real HTTP requests into the router, a real
//! SQLite database, real password hashes and sessions.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::Router;
use huimin_domain::*;
use huimin_store::{AuditEntry, NewUser, Store, testing};
use tower::ServiceExt;

const PASSWORD: &str = "secret-pass-1";
const V1: &str = "371302001201";
const V2: &str = "371302001202";
const OUT_VILLAGE: &str = "371311001201";

struct TestApp {
    router: Router,
    db: testing::TestDb,
    _uploads: tempfile::TempDir,
}

#[derive(Debug)]
struct Response {
    status: StatusCode,
    location: Option<String>,
    cookies: Vec<String>,
    body: String,
}

impl TestApp {
    async fn new() -> TestApp {
        let db = testing::sqlite().await;
        fixture(&db).await;
        let uploads = tempfile::tempdir().unwrap();
        let config = huimin_web::Config { addr: "127.0.0.1:0".parse().unwrap(), upload_dir: uploads.path().to_path_buf(), secure_cookies: false };
        TestApp { router: huimin_web::app(db.store.clone(), config), db, _uploads: uploads }
    }

    async fn send(&self, method: &str, path: &str, cookie: &str, body: Option<(&str, Vec<u8>)>) -> Response {
        let mut req = Request::builder().method(method).uri(path).header(header::COOKIE, cookie);
        let body = match body {
            Some((content_type, bytes)) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let mut req = req.body(body).unwrap();
        req.extensions_mut().insert(ConnectInfo::<SocketAddr>("10.0.0.7:5000".parse().unwrap()));
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let location = res.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string());
        let cookies = res.headers().get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        Response { status, location, cookies, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    async fn get(&self, path: &str, cookie: &str) -> Response {
        self.send("GET", path, cookie, None).await
    }

    async fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> Response {
        let body = form.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        self.send("POST", path, cookie, Some(("application/x-www-form-urlencoded", body.into_bytes()))).await
    }

    /// Logs in through the login form; returns the session cookie and the session's CSRF token.
    async fn login(&self, username: &str, password: &str) -> Result<(String, String), Response> {
        let page = self.get("/login", "").await;
        let login_cookie = cookie_pair(&page.cookies, "huimin_login").unwrap();
        let csrf = csrf_of(&page.body);
        let res = self.post("/login", &login_cookie, &[("_csrf", &csrf), ("username", username), ("password", password), ("next", "/")]).await;
        let Some(session) = cookie_pair(&res.cookies, "huimin_session") else { return Err(res) };
        let home = self.get("/", &session).await;
        assert_eq!(home.status, StatusCode::OK);
        Ok((session.clone(), csrf_of(&home.body)))
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn cookie_pair(set_cookies: &[String], name: &str) -> Option<String> {
    set_cookies
        .iter()
        .map(|c| c.split(';').next().unwrap().to_string())
        .find(|c| c.starts_with(&format!("{name}=")) && c.len() > name.len() + 1)
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").expect("a form with a CSRF token") + 20;
    html[at..at + 64].to_string()
}

fn id(seq: u16) -> String {
    IdNumber::compose(371302, Date::from_ymd_opt(1960, 1, 1).unwrap(), seq).unwrap().as_str().to_string()
}

/// Two counties: 兰山区 (371302, with villages V1 and V2) and 罗庄区 (371311).
async fn fixture(store: &Store) {
    let dir = tempfile::tempdir().unwrap();
    let regions = format!(
        "区划代码,名称\n37,山东省\n3713,临沂市\n371302,兰山区\n371302001,一镇\n{V1},一村\n{V2},二村\n371311,罗庄区\n371311001,三镇\n{OUT_VILLAGE},三村\n"
    );
    std::fs::write(dir.path().join("regions.csv"), regions).unwrap();
    huimin_app::import::import_regions(store, &dir.path().join("regions.csv")).await.unwrap();
    let facilities = "机构编码,机构名称,机构等级,机构类型,行政区划代码,是否定点医院,扶贫病床数\nH37130201,兰山区人民医院,2,县级医院,371302,是,50\n";
    std::fs::write(dir.path().join("facilities.csv"), facilities).unwrap();
    huimin_app::import::import_facilities(store, &dir.path().join("facilities.csv")).await.unwrap();
    let roster = format!(
        "户编号,户主姓名,与户主关系,姓名,证件号码,民族,行政区划代码,贫困户属性,脱贫状态,主要致贫原因\n\
         HIN,张三,户主,张三,{},汉族,{V1},低保贫困户,未脱贫,因病\n\
         HSIB,李四,户主,李四,{},汉族,{V2},一般贫困户,已脱贫,因残\n\
         HOUT,王五,户主,王五,{},汉族,{OUT_VILLAGE},一般贫困户,未脱贫,因病\n",
        id(1),
        id(3),
        id(5)
    );
    std::fs::write(dir.path().join("roster.csv"), roster).unwrap();
    let opts = huimin_app::import::RosterImport::new("fixture", Date::from_ymd_opt(2024, 1, 1).unwrap());
    let r = huimin_app::import::import_roster(store, &dir.path().join("roster.csv"), &opts).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let hash = huimin_app::accounts::hash_password(PASSWORD);
    for role in Role::ALL {
        let region = match role {
            Role::VillageDoctor => V1,
            Role::FamilyDoctorTeam | Role::TownshipStaff => "371302001",
            _ => "371302",
        };
        let user = NewUser {
            username: role.code().into(),
            display_name: role.label_zh().into(),
            role,
            region: RegionCode::parse(region).unwrap(),
            facility_code: role.needs_facility().then(|| "H37130201".to_string()),
            password_hash: hash.clone(),
        };
        store.create_user(&user, &AuditEntry { username: "fixture".into(), action: "user.create".into(), ..Default::default() }).await.unwrap();
    }
}

async fn person_id(store: &Store, seq: u16) -> i64 {
    store.person_by_id_number(&IdNumber::parse(&id(seq)).unwrap()).await.unwrap().unwrap().id
}

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
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix() {
    let app = TestApp::new().await;
    let inside = person_id(&app.db, 1).await;
    let sibling = person_id(&app.db, 3).await;
    let outside = person_id(&app.db, 5).await;
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
            ("users", "/admin/users".into(), true),
            ("audit", "/audit".into(), true),
            ("reveal", format!("POST /persons/{inside}/reveal"), true),
            ("reveal", format!("POST /persons/{outside}/reveal"), false),
        ];
        // The neighbouring village is inside a township's or county's region, not a village doctor's.
        let sibling_inside = role != Role::VillageDoctor;
        cases.push(("household", "/households/HSIB".into(), sibling_inside));
        cases.push(("reveal", format!("POST /persons/{sibling}/reveal"), sibling_inside));
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
    let locked = app.login("health_bureau", PASSWORD).await.unwrap_err();
    assert!(locked.body.contains("已锁定"), "five failures lock the account even for the right password");

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
    let actions: Vec<&str> = log.iter().rev().map(|r| r.entry.action.as_str()).filter(|a| *a != "user.create" && *a != "roster.import").collect();
    assert_eq!(
        actions,
        ["login.failed", "login.failed", "login.failed", "login.failed", "login.failed", "login.failed", "login.refused", "login", "household.view", "logout"]
    );
    let view = log.iter().find(|r| r.entry.action == "household.view").unwrap();
    assert_eq!((view.entry.username.as_str(), view.entry.ip.as_str(), view.entry.target.as_str()), ("poverty_office", "10.0.0.7", "household HIN"));
    assert_eq!(app.db.verify_audit().await.unwrap().broken_at, None);
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
    assert!(create("clerk2", "settlement_clerk", "371302", "").await.body.contains("必须指定所属医疗机构"));
    assert!(create("newdoc", "admin", "371302", "").await.body.contains("已被使用"));
    let (doc_cookie, _) = app.login("newdoc", "new-pass-123").await.unwrap();
    let users = app.db.users_within(RegionCode::parse(V2).unwrap()).await.unwrap();
    let res = app.post(&format!("/admin/users/{}", users[0].id), &cookie, &[("_csrf", &csrf), ("action", "disable")]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/", &doc_cookie).await.status, StatusCode::SEE_OTHER, "disabling ends the user's sessions");
    assert!(app.login("newdoc", "new-pass-123").await.is_err());
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
