//! Faults from outside, on the real binary: the disk refusing writes in the middle of mixed load,
//! and kill -9 in the middle of imports and exports. What was acknowledged must be there after a
//! restart; a run again after an interruption must end where one clean run ends.
//!
//! The I/O fault is a file-size limit set on the running server (`prlimit --fsize`): every write
//! past it fails with EFBIG (SQLite: a disk I/O error), as writes fail on a full or failing disk,
//! and lifting it is the disk freed.
//! `HUIMIN_FAULT_ROUNDS` (default 2) sets how many random kill points each kill test tries; CI
//! runs the default, a longer run by hand takes e.g. 30. `HUIMIN_FAULT_SEED` replays a run;
//! `HUIMIN_FAULT_BIN` runs the tests against another build of `huimin` (an older release, say).

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary under test.
fn bin() -> String {
    std::env::var("HUIMIN_FAULT_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_huimin").to_string())
}

fn huimin(dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("HUIMIN_DATABASE_URL", url)
        .env_remove("HUIMIN_LOG")
        .output()
        .expect("run huimin")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(dir: &Path, url: &str, args: &[&str]) -> String {
    let o = huimin(dir, url, args);
    assert!(o.status.success(), "huimin {args:?}: {}", text(&o));
    text(&o)
}

fn rounds() -> usize {
    std::env::var("HUIMIN_FAULT_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(2)
}

/// A small deterministic generator (xorshift), so that a failing round can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seed() -> u64 {
    let s = std::env::var("HUIMIN_FAULT_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    eprintln!("fault test seed: HUIMIN_FAULT_SEED={s}");
    s
}

// ----- a server and its HTTP -----

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(dir: &Path, url: &str) -> Server {
        let mut child = Command::new(bin())
            .args(["serve", "--addr", "127.0.0.1:0"])
            .current_dir(dir)
            .env("HUIMIN_DATABASE_URL", url)
            .env("HUIMIN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start huimin serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read the start line");
        let addr = line.trim().rsplit("http://").next().unwrap_or_default().to_string();
        assert!(line.contains("惠民已启动") && !addr.is_empty(), "the server did not start: {line:?}");
        Server { child, addr }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request; `None` when no answer came (the connection failed or was cut).
fn http(addr: &str, method: &str, path: &str, token: &str, body: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer).to_string();
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

// ----- the demo county as the starting point -----

struct County {
    dir: tempfile::TempDir,
    url: String,
    clerk: String,
    doctor: String,
    /// (contract id, person id) of the village doctor's village.
    contracts: Vec<(i64, i64)>,
}

fn demo_county() -> County {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("huimin.db").display());
    ok(dir.path(), &url, &["demo", "--no-serve"]);
    let token = |user: &str| ok(dir.path(), &url, &["token", "add", "--user", user, "--name", "fault test"]).trim().to_string();
    let (clerk, doctor) = (token("jsck"), token("cunyi"));
    let server = Server::start(dir.path(), &url);
    let year = huimin_app::clock::this_year();
    let (status, body) = http(&server.addr, "GET", &format!("/api/contracts?region=371302001201&year={year}"), &doctor, None).expect("contracts");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("contracts JSON");
    let contracts: Vec<(i64, i64)> = v["contracts"]
        .as_array()
        .expect("contracts")
        .iter()
        .map(|c| (c["id"].as_i64().unwrap(), c["contract"]["person_id"].as_i64().unwrap()))
        .collect();
    assert!(contracts.len() >= 5, "the demo village has contracts");
    server.kill();
    County { dir, url, clerk, doctor, contracts }
}

// ----- I/O errors under load -----

#[derive(Default)]
struct Log {
    settled: HashSet<String>,
    reversed: HashSet<String>,
    /// Reversals asked for, whatever the answer.
    reversal_tried: HashSet<String>,
    follow_ups: HashSet<String>,
    errors: usize,
    requests: usize,
}

struct Load {
    addr: String,
    clerk: String,
    doctor: String,
    contracts: Vec<(i64, i64)>,
    year: i32,
    log: Mutex<Log>,
}

impl Load {
    /// One random write or audited read; records what was acknowledged.
    fn step(&self, rng: &mut Rng, worker: usize, n: usize) -> bool {
        let (contract, person) = self.contracts[rng.below(self.contracts.len() as u64) as usize];
        let op = rng.below(10);
        let (answer, acked): (Option<(u16, String)>, Box<dyn Fn(&mut Log)>) = match op {
            0..=4 => {
                let no = format!("FT{worker}-{n}");
                let month = 1 + rng.below(10);
                let body = serde_json::json!({
                    "claim_no": no, "person_id": person, "facility_code": "", "visit": "inpatient",
                    "admission": format!("{}-{month:02}-03", self.year), "discharge": format!("{}-{month:02}-0{}", self.year, 4 + rng.below(5)),
                    "diseases": ["I10"], "cat_a": 50_000 + rng.below(300_000), "cat_b": rng.below(50_000), "out_of_catalogue": 0, "necessary": 0,
                });
                let a = http(&self.addr, "POST", "/api/settlements", &self.clerk, Some(&body.to_string()));
                let ok = a.as_ref().is_some_and(|(s, _)| *s == 201);
                (a, Box::new(move |l: &mut Log| if ok { l.settled.insert(no.clone()); }))
            }
            5 | 6 => {
                let pick = {
                    let l = self.log.lock().unwrap();
                    let open: Vec<&String> = l.settled.iter().filter(|c| !l.reversal_tried.contains(*c) && c.starts_with(&format!("FT{worker}-"))).collect();
                    (!open.is_empty()).then(|| open[rng.below(open.len() as u64) as usize].clone())
                };
                let Some(no) = pick else { return true };
                self.log.lock().unwrap().reversal_tried.insert(no.clone());
                let a = http(&self.addr, "POST", &format!("/api/settlements/{no}/reverse"), &self.clerk, Some(r#"{"reason":"故障测试"}"#));
                let ok = a.as_ref().is_some_and(|(s, _)| *s == 200);
                (a, Box::new(move |l: &mut Log| if ok { l.reversed.insert(no.clone()); }))
            }
            7 | 8 => {
                let key = format!("fault-{worker}-{n}-{}", rng.next());
                let body = serde_json::json!({
                    "contract": contract, "submission_key": key, "followed_on": format!("{}-06-{:02}", self.year, 1 + rng.below(28)),
                    "mode": "home", "systolic": (110 + rng.below(60)).to_string(), "diastolic": "80", "adherence": "regular",
                    "guidance": "", "next_on": "", "again_same_day": true,
                });
                let a = http(&self.addr, "POST", "/api/followups", &self.doctor, Some(&body.to_string()));
                let ok = a.as_ref().is_some_and(|(s, _)| *s == 201 || *s == 200);
                (a, Box::new(move |l: &mut Log| if ok { l.follow_ups.insert(key.clone()); }))
            }
            _ => {
                let no = self.log.lock().unwrap().settled.iter().next().cloned().unwrap_or_else(|| "none".into());
                (http(&self.addr, "GET", &format!("/api/settlements/{no}"), &self.clerk, None), Box::new(|_: &mut Log| {}))
            }
        };
        let failed = answer.as_ref().is_none_or(|(s, _)| *s >= 500);
        let mut l = self.log.lock().unwrap();
        acked(&mut l);
        l.requests += 1;
        l.errors += usize::from(failed);
        !failed
    }
}

/// Runs the load on `workers` threads until `until`.
fn run_load(load: &Arc<Load>, workers: usize, until: Instant, seed: u64, start_at: usize) {
    let threads: Vec<_> = (0..workers)
        .map(|w| {
            let load = load.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(seed.wrapping_add(w as u64 * 7919) | 1);
                let mut n = start_at;
                while Instant::now() < until {
                    load.step(&mut rng, w, n);
                    n += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn prlimit(pid: &str, limit: &str) {
    let o = Command::new("prlimit").args(["--pid", pid, &format!("--fsize={limit}")]).output().expect("prlimit (util-linux)");
    assert!(o.status.success(), "prlimit: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn io_errors_under_load_lose_nothing_acknowledged_and_the_server_recovers() {
    let county = demo_county();
    let d = county.dir.path();
    let mut rng = Rng(seed());
    let server = Server::start(d, &county.url);
    let load = Arc::new(Load {
        addr: server.addr.clone(),
        clerk: county.clerk.clone(),
        doctor: county.doctor.clone(),
        contracts: county.contracts.clone(),
        year: huimin_app::clock::this_year(),
        log: Mutex::new(Log::default()),
    });
    let pid = server.pid();
    // Load; then writes past the WAL's current end fail for a while, under the same load.
    let base = rng.next();
    let faults = {
        let load = load.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            // Every write past the first MiB of any file fails: appends to the WAL once its
            // writing position passes it, and checkpoints into the database (so the WAL cannot
            // start again from the beginning). The soft limit only: raising it needs no privilege.
            prlimit(&pid, "1048576:unlimited");
            let before = load.log.lock().unwrap().errors;
            std::thread::sleep(Duration::from_secs(4));
            prlimit(&pid, "unlimited:unlimited");
            load.log.lock().unwrap().errors - before
        })
    };
    run_load(&load, 4, Instant::now() + Duration::from_millis(7000), base, 0);
    let errors_in_fault = faults.join().unwrap();
    assert!(errors_in_fault > 0, "the fault caused no failed request: the test did not test");

    // The disk is back: the server serves again by itself, every kind of write.
    let recovered = Instant::now() + Duration::from_secs(30);
    let mut n = 1_000_000;
    loop {
        let (before, _) = { let l = load.log.lock().unwrap(); (l.errors, l.requests) };
        let mut all = true;
        for _ in 0..40 {
            all &= load.step(&mut rng, 0, n);
            n += 1;
        }
        if all && load.log.lock().unwrap().errors == before {
            break;
        }
        assert!(Instant::now() < recovered, "the server did not recover within 30 s of the disk coming back");
        std::thread::sleep(Duration::from_millis(500));
    }
    for _ in 0..60 {
        assert!(load.step(&mut rng, 1, n), "a request failed after the server had recovered");
        n += 1;
    }
    server.kill();

    // After kill -9 and a restart: everything acknowledged is there.
    let log = load.log.lock().unwrap();
    eprintln!("{} requests, {} failed ({errors_in_fault} during the fault); acknowledged: {} settlements, {} reversals, {} follow-ups",
        log.requests, log.errors, log.settled.len(), log.reversed.len(), log.follow_ups.len());
    assert!(log.settled.len() > 20 && !log.reversed.is_empty() && log.follow_ups.len() > 10, "too little load to check");
    let server = Server::start(d, &county.url);
    for no in &log.settled {
        let (status, body) = http(&server.addr, "GET", &format!("/api/settlements/{no}"), &county.clerk, None).expect("answer");
        assert_eq!(status, 200, "settlement {no} was acknowledged and is gone: {body}");
        let reversed = body.contains(r#""status":"reversed""#);
        if log.reversed.contains(no) {
            assert!(reversed, "the reversal of {no} was acknowledged and is gone");
        }
        if reversed {
            assert!(log.reversal_tried.contains(no), "{no} is reversed but nobody asked");
        }
    }
    server.kill();
    let year = huimin_app::clock::this_year().to_string();
    ok(d, &county.url, &["export", "followups", "--region", "371302", "--year", &year, "followups.csv"]);
    let stored = std::fs::read_to_string(d.join("followups.csv")).unwrap();
    let stored: HashSet<&str> = stored.lines().filter_map(|l| l.split(',').next()).collect();
    for key in &log.follow_ups {
        assert!(stored.contains(key.as_str()), "follow-up {key} was acknowledged and is gone");
    }
    assert!(ok(d, &county.url, &["audit", "verify"]).contains("哈希链无误"));
}

// ----- kill -9 during imports and exports -----

/// A claims file of the demo county: settlements of this year with every third reversed, their
/// times interleaved so that the import alternates between batches and reversals.
fn claims_file(dir: &Path, claims: usize) -> PathBuf {
    let roster = std::fs::read_to_string(dir.join("data/demo/roster.csv")).expect("the demo's roster");
    let mut lines = roster.lines();
    let header: Vec<&str> = lines.next().unwrap().trim_start_matches('\u{feff}').split(',').collect();
    let id = header.iter().position(|h| *h == "证件号码").unwrap();
    let ids: Vec<String> = lines.map(|l| l.split(',').nth(id).unwrap_or_default().to_string()).filter(|s| s.len() == 18).collect();
    let year = huimin_app::clock::this_year();
    let mut out = String::from("结算单号,证件号码,机构编码,就诊类型,入院日期,出院日期,疾病编码,甲类及政策范围内费用,乙类费用,目录外费用,其中目录外必需费用,状态,冲销原因,结算时间,冲销时间\n");
    for i in 0..claims {
        let month = 1 + i % 10;
        let (status, reversed_at) = if i % 3 == 0 { ("已冲销", format!("{year}-11-01T00:{:02}:{:02}.000000Z", (i + 2) / 60 % 60, (i + 2) % 60)) } else { ("已结算", String::new()) };
        out.push_str(&format!(
            "K{i:05},{},H37130201,inpatient,{year}-{month:02}-02,{year}-{month:02}-06,I10,{}.00,300.00,50.00,20.00,{status},,{year}-11-01T00:{:02}:{:02}.000000Z,{reversed_at}\n",
            ids[(i * 7) % ids.len()],
            1000 + (i * 37) % 9000,
            i / 60 % 60,
            i % 60,
        ));
    }
    let path = dir.join("claims-import.csv");
    std::fs::write(&path, out).unwrap();
    path
}

/// The claims of the county as exported, without the times of this run (结算时间, 冲销时间).
fn claims_state(dir: &Path, url: &str) -> BTreeMap<String, String> {
    let year = huimin_app::clock::this_year().to_string();
    ok(dir, url, &["export", "claims", "--region", "371302", "--year", &year, "state.csv"]);
    let text = std::fs::read_to_string(dir.join("state.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().trim_start_matches('\u{feff}').split(',').collect();
    let drop: Vec<usize> = header.iter().enumerate().filter(|(_, h)| ["结算时间", "冲销时间"].contains(h)).map(|(i, _)| i).collect();
    lines
        .filter(|l| l.starts_with('K'))
        .map(|l| {
            let cells: Vec<&str> = l.split(',').enumerate().filter(|(i, _)| !drop.contains(i)).map(|(_, c)| c).collect();
            (cells[0].to_string(), cells.join(","))
        })
        .collect()
}

/// A copy of the demo database (with its WAL, and its audit key and checkpoints) for one round.
fn copy_db(from: &Path, to: &Path) {
    for suffix in ["", "-wal", ".audit-key", ".audit-key.checkpoints"] {
        let src = PathBuf::from(format!("{}{suffix}", from.display()));
        if src.exists() {
            std::fs::copy(&src, format!("{}{suffix}", to.display())).unwrap();
        }
    }
}

/// Runs `args` and kills it (SIGKILL) after `after`; whether it had finished by then.
fn run_killed(dir: &Path, url: &str, args: &[&str], after: Duration) -> bool {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("HUIMIN_DATABASE_URL", url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let end = Instant::now() + after;
    while Instant::now() < end {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    child.wait().unwrap();
    false
}

#[test]
fn a_claims_import_killed_anywhere_and_run_again_ends_as_one_clean_run() {
    let county = demo_county();
    let d = county.dir.path();
    let file = claims_file(d, 900);
    let file = file.to_str().unwrap();
    let source = d.join("huimin.db");
    let mut rng = Rng(seed());

    // One clean run: the reference, and how long a run takes.
    let clean_db = d.join("clean.db");
    copy_db(&source, &clean_db);
    let clean_url = format!("sqlite://{}", clean_db.display());
    let started = Instant::now();
    let report = ok(d, &clean_url, &["import", "claims", file]);
    let took = started.elapsed();
    let clean = claims_state(d, &clean_url);
    let reversed = clean.values().filter(|l| l.contains("已冲销")).count();
    assert!(clean.len() > 800 && reversed > 250, "{report}: {} claims, {reversed} reversed", clean.len());
    // Re-running the clean import changes nothing.
    assert!(ok(d, &clean_url, &["import", "claims", file]).contains("已导入结算单 0 条"));
    assert_eq!(claims_state(d, &clean_url), clean);

    let mut interrupted = 0;
    for round in 0..rounds() {
        let db = d.join(format!("round{round}.db"));
        copy_db(&source, &db);
        let url = format!("sqlite://{}", db.display());
        // Past the start (connecting, reading the file) and before the end, mostly.
        let after = took / 5 + Duration::from_micros(rng.below(took.as_micros() as u64 * 3 / 4));
        let finished = run_killed(d, &url, &["import", "claims", file], after);
        interrupted += usize::from(!finished);
        let again = ok(d, &url, &["import", "claims", file]);
        let state = claims_state(d, &url);
        let differ: Vec<&String> = clean.keys().filter(|k| clean.get(*k) != state.get(*k)).take(5).collect();
        assert!(differ.is_empty() && state.len() == clean.len(), "round {round}, killed after {after:?}: claims differ from one clean run: {differ:?}\n{again}");
        assert!(ok(d, &url, &["audit", "verify"]).contains("哈希链无误"));
    }
    eprintln!("{} rounds, {interrupted} interrupted in the middle (a clean run takes {took:?})", rounds());
}

/// Runs `args` and kills it (SIGKILL) as soon as `now` says so; whether it had finished first.
fn run_killed_when(dir: &Path, url: &str, args: &[&str], now: impl Fn() -> bool) -> bool {
    let mut child = Command::new(bin()).args(args).current_dir(dir).env("HUIMIN_DATABASE_URL", url).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        if now() {
            let _ = child.kill();
            child.wait().unwrap();
            return false;
        }
        std::thread::yield_now();
    }
}

#[test]
fn an_export_killed_anywhere_leaves_the_previous_file_or_the_whole_new_one() {
    let county = demo_county();
    let d = county.dir.path();
    let mut rng = Rng(seed());
    const PREVIOUS: &[u8] = b"previous export\n";
    for name in ["roster.csv", "roster.xlsx"] {
        let started = Instant::now();
        ok(d, &county.url, &["export", "roster", "--region", "371302", &format!("whole-{name}")]);
        let took = started.elapsed();
        let whole = std::fs::read(d.join(format!("whole-{name}"))).unwrap();
        let target = d.join(name);
        // A workbook carries the time it was written: compare what it holds.
        let cells = |p: &Path| huimin_app::table::Table::read(p, &[]).ok().map(|t| (t.headers, t.rows.into_iter().map(|r| r.cells).collect::<Vec<_>>()));
        let whole_cells = cells(&d.join(format!("whole-{name}")));
        assert!(whole_cells.as_ref().is_some_and(|(_, rows)| rows.len() > 1000), "the whole export is readable");
        let check = |how: &str| {
            let now = std::fs::read(&target).unwrap();
            let same = now == PREVIOUS || now == whole || cells(&target) == whole_cells;
            assert!(same, "{name}, killed {how}: the file is neither the previous one nor a whole export ({} bytes of {})", now.len(), whole.len());
            std::fs::write(&target, PREVIOUS).unwrap();
        };
        std::fs::write(&target, PREVIOUS).unwrap();
        for round in 0..rounds() * 2 {
            // At a random moment…
            let after = Duration::from_micros(rng.below(took.as_micros() as u64 * 3 / 2));
            run_killed(d, &county.url, &["export", "roster", "--region", "371302", name], after);
            check(&format!("after {after:?} (round {round})"));
            // … and the moment writing begins: the name changes, or a file beside it appears.
            let prefix = format!(".{name}.");
            let writing = || {
                std::fs::read(&target).is_ok_and(|b| b != PREVIOUS)
                    || std::fs::read_dir(d).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with(&prefix))
            };
            run_killed_when(d, &county.url, &["export", "roster", "--region", "371302", name], writing);
            check(&format!("as writing began (round {round})"));
        }
    }
}
