//! Machine clients against a real server on a socket: schemathesis generates requests from the
//! OpenAPI document for several roles and checks every answer against it (status codes, content
//! types, headers, schemas, no server errors, authentication), and a Python client generated from
//! the document by openapi-python-client settles a claim. Both tools come from PyPI into
//! `target/toolenv` (scripts/test makes it); without them the checks are skipped loudly, unless
//! HUIMIN_REQUIRE_VALIDATORS=1 (CI).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use huimin_domain::RegionCode;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tool environment's program, or `None` (skipped loudly) when it is not installed.
fn tool(name: &str) -> Option<PathBuf> {
    let path = root().join("target/toolenv/bin").join(name);
    if path.exists() {
        return Some(path);
    }
    assert_ne!(std::env::var("HUIMIN_REQUIRE_VALIDATORS").as_deref(), Ok("1"), "validators required but {} is missing", path.display());
    eprintln!("*** WARNING: {name} SKIPPED: no {} (scripts/test installs it) ***", path.display());
    None
}

/// The fixture's two counties served on a free port, and what must live as long as the server.
async fn serve() -> (SocketAddr, huimin_store::testing::TestDb, tempfile::TempDir) {
    let db = huimin_store::testing::sqlite().await;
    fixture(&db).await;
    let uploads = tempfile::tempdir().unwrap();
    let config = huimin_web::Config { addr: "127.0.0.1:0".parse().unwrap(), upload_dir: uploads.path().to_path_buf(), secure_cookies: false };
    let server = huimin_web::Server::build(db.store.clone(), config).await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run());
    (addr, db, uploads)
}

/// An API token acting as the fixture's user of that name.
async fn token(store: &huimin_store::Store, username: &str) -> String {
    let users = store.users_within(RegionCode::parse("37").unwrap()).await.unwrap();
    let user = users.into_iter().find(|u| u.username == username).unwrap();
    let by = huimin_store::AuditEntry { username: "test".into(), ..Default::default() };
    huimin_app::accounts::issue_api_token(store, &user, "clients test", 1, &by).await.unwrap()
}

/// Seconds of generated requests per role: bounded in CI, longer by hand (HUIMIN_FUZZ_SECONDS).
fn fuzz_seconds() -> u64 {
    std::env::var("HUIMIN_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(40)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failing_check_for_three_roles() {
    let Some(st) = tool("st") else { return };
    let (addr, db, _uploads) = serve().await;
    let work = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for role in ["settlement_clerk", "health_bureau", "village_doctor"] {
        let token = token(&db.store, role).await;
        let out = tokio::task::spawn_blocking({
            let (st, dir) = (st.clone(), work.path().to_path_buf());
            move || {
                Command::new(st)
                    .current_dir(dir)
                    .env("NO_COLOR", "1")
                    .arg("--config-file")
                    .arg(root().join("tests/clients/schemathesis.toml"))
                    // One worker: the generator's Python (3.11) is not safe parsing in two threads.
                    .args(["run", &format!("http://{addr}/api/openapi.json"), "--checks", "all", "--max-time", &fuzz_seconds().to_string(), "--workers", "1"])
                    .args(["--request-timeout", "20", "--suppress-health-check", "all", "--no-color"])
                    .args(["-H", &format!("Authorization: Bearer {token}")])
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        eprintln!("--- schemathesis as {role} ---\n{text}");
        if !out.status.success() {
            failures.push(role);
        }
    }
    assert!(failures.is_empty(), "schemathesis failed as {failures:?} (output above)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_generated_from_the_document_settles_a_claim() {
    let (Some(generator), Some(python)) = (tool("openapi-python-client"), tool("python")) else { return };
    let (addr, db, _uploads) = serve().await;
    let work = tempfile::tempdir().unwrap();
    let spec = work.path().join("openapi.json");
    let body = http_get(addr, "/api/openapi.json").await;
    std::fs::write(&spec, body).unwrap();
    let package = work.path().join("huimin_client");
    let out = Command::new(&generator).current_dir(work.path()).args(["generate", "--meta", "none", "--path"]).arg(&spec).arg("--output-path").arg(&package).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && package.join("api/settlement/post_api_settlements.py").exists(), "the client was not generated:\n{text}");

    let token = token(&db.store, "settlement_clerk").await;
    let person = person_id(&db.store, 1).await;
    let script = root().join("tests/clients/settle.py");
    let run = tokio::task::spawn_blocking(move || Command::new(python).arg(script).arg(work.path()).arg(format!("http://{addr}")).arg(token).arg(person.to_string()).arg("H37130201-GEN-1").output().unwrap()).await.unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the generated client failed:\n{text}");
    // What the client read is what the store holds.
    let read: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let stored = db.store.claim("H37130201-GEN-1").await.unwrap().unwrap();
    assert_eq!(stored.status, huimin_store::ClaimStatus::Reversed);
    assert_eq!((read["total"].as_i64(), read["funds_total"].as_i64()), (Some(stored.bill.total.fen()), Some(stored.bill.funds_total.fen())));
    let lines: Vec<(String, i64)> = stored.bill.lines.iter().map(|l| (l.fund.code().to_string(), l.total.fen())).collect();
    assert_eq!(serde_json::to_value(lines).unwrap(), read["lines"]);
}

/// A GET on the served instance (the document a generator starts from), over a plain socket.
async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}
