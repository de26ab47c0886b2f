//! What the web tests share: the application behind a router, a fixture of two counties with
//! a user of every role, and requests as browsers and machine clients send them.
#![allow(dead_code)]

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::Router;
use huimin_domain::*;
use huimin_store::{AuditEntry, NewUser, Store, testing};
use huimin_domain::Money;
use tower::ServiceExt;

pub const PASSWORD: &str = "secret-pass-1";
pub const V1: &str = "371302001201";
pub const V2: &str = "371302001202";
pub const OUT_VILLAGE: &str = "371311001201";

pub struct TestApp {
    pub router: Router,
    pub db: testing::TestDb,
    pub _uploads: tempfile::TempDir,
}

#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub location: Option<String>,
    pub cookies: Vec<String>,
    pub body: String,
    /// The body as sent (a workbook is binary).
    pub bytes: Vec<u8>,
    pub headers: axum::http::HeaderMap,
}

impl TestApp {
    pub async fn new() -> TestApp {
        let db = testing::sqlite().await;
        fixture(&db).await;
        let uploads = tempfile::tempdir().unwrap();
        let config = huimin_web::Config { addr: "127.0.0.1:0".parse().unwrap(), upload_dir: uploads.path().to_path_buf(), secure_cookies: false };
        TestApp { router: huimin_web::app(db.store.clone(), config).await.unwrap(), db, _uploads: uploads }
    }

    pub async fn send(&self, method: &str, path: &str, cookie: &str, body: Option<(&str, Vec<u8>)>) -> Response {
        self.send_from("10.0.0.7", method, path, cookie, body).await
    }

    pub async fn send_from(&self, ip: &str, method: &str, path: &str, cookie: &str, body: Option<(&str, Vec<u8>)>) -> Response {
        let mut req = Request::builder().method(method).uri(path).header(header::COOKIE, cookie);
        let body = match body {
            Some((content_type, bytes)) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let mut req = req.body(body).unwrap();
        req.extensions_mut().insert(ConnectInfo::<SocketAddr>(format!("{ip}:5000").parse().unwrap()));
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let location = res.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string());
        let cookies = res.headers().get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        Response { status, location, cookies, body: String::from_utf8_lossy(&bytes).into_owned(), bytes: bytes.to_vec(), headers }
    }

    /// A JSON request with the session's CSRF token in its header, as API clients send it.
    pub async fn post_json(&self, path: &str, cookie: &str, csrf: &str, body: &serde_json::Value) -> Response {
        let mut req = Request::post(path).header(header::COOKIE, cookie).header("x-csrf-token", csrf).header(header::CONTENT_TYPE, "application/json");
        req = req.extension(ConnectInfo::<SocketAddr>("10.0.0.7:5000".parse().unwrap()));
        let res = self.router.clone().oneshot(req.body(Body::from(body.to_string())).unwrap()).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        Response { status, location: None, cookies: Vec::new(), body: String::from_utf8_lossy(&bytes).into_owned(), bytes: bytes.to_vec(), headers }
    }

    /// A request of a machine client: an API token, no cookie, no CSRF header.
    pub async fn bearer(&self, method: &str, path: &str, token: &str, json: Option<&serde_json::Value>) -> Response {
        let mut req = Request::builder().method(method).uri(path).header(header::AUTHORIZATION, format!("Bearer {token}"));
        if json.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req.extension(ConnectInfo::<SocketAddr>("10.0.0.9:5000".parse().unwrap()));
        let res = self.router.clone().oneshot(req.body(json.map_or(Body::empty(), |j| Body::from(j.to_string()))).unwrap()).await.unwrap();
        let status = res.status();
        let location = res.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string());
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        Response { status, location, cookies: Vec::new(), body: String::from_utf8_lossy(&bytes).into_owned(), bytes: bytes.to_vec(), headers }
    }

    pub async fn get(&self, path: &str, cookie: &str) -> Response {
        self.send("GET", path, cookie, None).await
    }

    pub async fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> Response {
        let body = form.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        self.send("POST", path, cookie, Some(("application/x-www-form-urlencoded", body.into_bytes()))).await
    }

    /// Posts the login form from an address; the answer (a session cookie and a redirect when
    /// it succeeded).
    pub async fn sign_in_from(&self, ip: &str, username: &str, password: &str) -> Response {
        let page = self.get("/login", "").await;
        let login_cookie = cookie_pair(&page.cookies, "huimin_login").unwrap();
        let csrf = csrf_of(&page.body);
        let body = [("_csrf", csrf.as_str()), ("username", username), ("password", password), ("next", "/")]
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send_from(ip, "POST", "/login", &login_cookie, Some(("application/x-www-form-urlencoded", body.into_bytes()))).await
    }

    /// Logs in through the login form; returns the session cookie and the session's CSRF token.
    pub async fn login(&self, username: &str, password: &str) -> Result<(String, String), Response> {
        let res = self.sign_in_from("10.0.0.7", username, password).await;
        let Some(session) = cookie_pair(&res.cookies, "huimin_session") else { return Err(res) };
        let home = self.get("/", &session).await;
        assert_eq!(home.status, StatusCode::OK);
        Ok((session.clone(), csrf_of(&home.body)))
    }
}

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

pub fn cookie_pair(set_cookies: &[String], name: &str) -> Option<String> {
    set_cookies
        .iter()
        .map(|c| c.split(';').next().unwrap().to_string())
        .find(|c| c.starts_with(&format!("{name}=")) && c.len() > name.len() + 1)
}

pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").expect("a form with a CSRF token") + 20;
    html[at..at + 64].to_string()
}

pub fn id(seq: u16) -> String {
    IdNumber::compose(371302, Date::from_ymd_opt(1960, 1, 1).unwrap(), seq).unwrap().as_str().to_string()
}

/// Two counties: 兰山区 (371302, with villages V1 and V2) and 罗庄区 (371311).
pub async fn fixture(store: &Store) {
    let dir = tempfile::tempdir().unwrap();
    let regions = format!(
        "区划代码,名称\n37,山东省\n3713,临沂市\n371302,兰山区\n371302001,一镇\n{V1},一村\n{V2},二村\n371311,罗庄区\n371311001,三镇\n{OUT_VILLAGE},三村\n"
    );
    std::fs::write(dir.path().join("regions.csv"), regions).unwrap();
    huimin_app::import::import_regions(store, &dir.path().join("regions.csv")).await.unwrap();
    let facilities = "机构编码,机构名称,机构等级,机构类型,行政区划代码,是否定点医院,扶贫病床数\nH37130201,兰山区人民医院,2,县级医院,371302,是,50\nH37131101,罗庄区人民医院,2,县级医院,371311,是,30\n";
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
    // The worked-example policy (2024) and one claim on each side of the county line.
    let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/worked-example.toml")).unwrap();
    let a = AuditEntry { username: "fixture".into(), action: "policy.load".into(), ..Default::default() };
    huimin_app::settlement::load_policy(store, "worked-example.toml", &policy, false, &a).await.unwrap();
    let luozhuang = policy.replace(r#"id = "worked-example""#, r#"id = "luozhuang""#).replace(r#"region = "371302""#, r#"region = "371311""#);
    huimin_app::settlement::load_policy(store, "luozhuang.toml", &luozhuang, false, &a).await.unwrap();
    let set = huimin_app::settlement::PolicySet::load(store).await.unwrap();
    for (no, seq, facility) in [("CIN", 1, "H37130201"), ("COUT", 5, "H37131101")] {
        let person_id = store.person_by_id_number(&IdNumber::parse(&id(seq)).unwrap()).await.unwrap().unwrap().id;
        let req = stay_request(no, person_id, facility);
        huimin_app::settlement::settle_claim(store, &set, &req, "fixture", &a).await.unwrap();
    }
    // A family-doctor team on each side of the county line, each with this year's contract of its person.
    let year = huimin_app::clock::this_year();
    for (seq, facility, area) in [(1, "H37130201", "371302001"), (5, "H37131101", "371311")] {
        let team = store.create_team(&format!("{area}团队"), facility, RegionCode::parse(area).unwrap(), &a).await.unwrap();
        let person_id = store.person_by_id_number(&IdNumber::parse(&id(seq)).unwrap()).await.unwrap().unwrap().id;
        huimin_app::contracts::sign(store, &[person_id], team, Service::ALL, "医生", Date::from_ymd_opt(year, 1, 1).unwrap(), &a).await.unwrap();
    }
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
            must_change_password: false,
        };
        store.create_user(&user, &AuditEntry { username: "fixture".into(), action: "user.create".into(), ..Default::default() }).await.unwrap();
    }
}

pub fn stay_request(claim_no: &str, person_id: i64, facility: &str) -> huimin_app::settlement::SettleRequest {
    huimin_app::settlement::SettleRequest {
        claim_no: claim_no.into(),
        person_id,
        facility_code: facility.into(),
        visit: huimin_policy::VisitType::Inpatient,
        admission: Date::from_ymd_opt(2024, 3, 1).unwrap(),
        discharge: Date::from_ymd_opt(2024, 3, 10).unwrap(),
        diseases: vec![],
        cat_a: Money::from_yuan(20000).unwrap(),
        cat_b: Money::from_yuan(8000).unwrap(),
        out_of_catalogue: Money::from_yuan(2000).unwrap(),
        necessary: Money::from_yuan(1000).unwrap(),
    }
}

pub async fn person_id(store: &Store, seq: u16) -> i64 {
    store.person_by_id_number(&IdNumber::parse(&id(seq)).unwrap()).await.unwrap().unwrap().id
}

