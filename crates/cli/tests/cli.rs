//! The `huimin` binary as a user runs it: exit codes, messages, files it writes.

use std::path::Path;
use std::process::{Command, Output};

fn huimin(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_huimin"))
        .args(args)
        .current_dir(dir)
        .env("HUIMIN_DATABASE_URL", "sqlite://db/huimin.db")
        .env_remove("HUIMIN_LOG")
        .output()
        .expect("run huimin")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn gen_is_deterministic_and_imports_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(huimin(d, &["gen", "--persons", "3000", "--seed", "9", "--out", "a"]).status.success());
    assert!(huimin(d, &["gen", "--persons", "3000", "--seed", "9", "--out", "b"]).status.success());
    assert!(huimin(d, &["gen", "--persons", "3000", "--seed", "10", "--out", "c"]).status.success());
    let read = |p: &str| std::fs::read(d.join(p)).unwrap();
    assert_eq!(read("a/roster.csv"), read("b/roster.csv"), "same seed, same population");
    assert_ne!(read("a/roster.csv"), read("c/roster.csv"));

    for (what, file) in [("regions", "a/regions.csv"), ("facilities", "a/facilities.csv")] {
        let o = huimin(d, &["import", what, file]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = huimin(d, &["import", "roster", "a/roster.csv", "--as-of", "2024-01-01"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("人：新增 3000"), "{}", text(&o));
    let o = huimin(d, &["import", "roster", "a/roster.csv", "--dry-run"]);
    assert!(text(&o).contains("不变 3000") && text(&o).contains("试运行"), "{}", text(&o));
    let o = huimin(d, &["audit", "verify"]);
    assert!(o.status.success() && text(&o).contains("哈希链无误"), "{}", text(&o));
}

#[test]
fn bad_files_fail_with_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("empty.csv"), "").unwrap();
    std::fs::write(d.join("photo.xlsx"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let o = huimin(d, &["import", "roster", "empty.csv"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("empty.csv：文件是空的"), "{}", text(&o));
    let o = huimin(d, &["import", "roster", "photo.xlsx"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("photo.xlsx") && text(&o).contains("PNG"), "{}", text(&o));
    let o = huimin(d, &["--database-url", "mysql://x", "migrate"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("unsupported database URL"), "{}", text(&o));
}

#[test]
fn bad_rows_are_listed_and_written_to_a_workbook() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("regions.csv"), "区划代码,名称\n37,山东省\n3713,临沂市\n371302,兰山区\n371302001,一镇\n371302001201,一村\n").unwrap();
    assert!(huimin(d, &["import", "regions", "regions.csv"]).status.success());
    let roster = "户编号,户主姓名,与户主关系,姓名,证件号码,民族,行政区划代码,贫困户属性,脱贫状态,主要致贫原因\n\
                  H1,张三,户主,张三,11010519491231002X,汉族,371302001201,低保贫困户,未脱贫,因病\n\
                  H2,李四,户主,李四,110105194912310021,汉族,371302001201,低保贫困户,未脱贫,因病\n";
    std::fs::write(d.join("名单.csv"), roster).unwrap();
    // By default a file with a refused row writes nothing and says so with its exit code.
    let o = huimin(d, &["import", "roster", "名单.csv"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("第 3 行，列「证件号码」：证件号码校验码错误：应为 X，实为 1"), "{out}");
    assert!(out.contains("未写入任何数据") && out.contains("--accept-partial"), "{out}");
    assert!(!out.contains("110105194912310021"), "the terminal does not show the full number");
    assert!(d.join("名单.errors.xlsx").exists(), "the error workbook is written first");
    let o = huimin(d, &["import", "roster", "--dry-run", "名单.csv"]);
    assert!(text(&o).contains("新增 1"), "nothing was written: {}", text(&o));
    // Asked for, the good households are applied.
    std::fs::remove_file(d.join("名单.errors.xlsx")).unwrap();
    let o = huimin(d, &["import", "roster", "--accept-partial", "--as-of", "2024-03-01", "名单.csv"]);
    assert!(o.status.success(), "good rows are applied: {}", text(&o));
    assert!(text(&o).contains("已写入"), "{}", text(&o));
    assert!(d.join("名单.errors.xlsx").exists());
    // History is not written out of order: an import effective before the last change is refused.
    let changed: String = roster.lines().take(2).map(|l| format!("{}\n", l.replace("低保贫困户", "一般贫困户"))).collect();
    std::fs::write(d.join("早.csv"), changed).unwrap();
    let o = huimin(d, &["import", "roster", "--as-of", "2024-01-01", "早.csv"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("生效日期 2024-01-01 早于") && text(&o).contains("2024-03-01"), "{}", text(&o));
}

#[test]
fn settle_writes_bills_and_reports_bad_rows_without_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/worked-example.toml");
    let claims = "claim_no,person_id,poverty_category,visit_type,facility_level,in_county,admission_date,discharge_date,disease_codes,cat_a,cat_b,out_of_catalogue,necessary_out_of_catalogue,action\n\
        C1,p1,低保,inpatient,2,1,2024-03-01,2024-03-10,,20000,8000,2000,1000,\n\
        C2,p1,低保,inpatient,2,1,2024-03-11,2024-03-01,,100,0,0,0,\n\
        C3,p1,低保,inpatient,3,1,2024-06-01,2024-06-20,,90000,20000,10000,6000,\n\
        C1,,,,,,,,,,,,,reverse\n\
        C1,p1,低保,inpatient,2,1,2024-03-01,2024-03-10,,20000,8000,2000,1000,\n";
    std::fs::write(d.join("claims.csv"), claims).unwrap();
    let o = huimin(d, &["settle", "--policy", policy.to_str().unwrap(), "--claims", "claims.csv"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("已结算 2 笔，冲销 1 笔，错误 2 行"), "{out}");
    assert!(out.contains("第 3 行（C2）：discharge_date：入院日期 2024-03-11 晚于出院日期 2024-03-01"), "{out}");
    assert!(out.contains("第 6 行（C1）：结算单号 C1 已结算过"), "{out}");
    let bills = std::fs::read_to_string(d.join("claims.bills.csv")).unwrap();
    let c3: Vec<&str> = bills.lines().find(|l| l.starts_with("4,C3,")).unwrap().split(',').collect();
    // C3 is the worked example's second stay: basic 75,040, critical 19,428, patient 6,038.30.
    assert_eq!((c3[12], c3[13], c3[18]), ("75040.00", "19428.00", "6038.30"));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("claims.bills.json")).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 5);
    assert_eq!(json[3]["action"], "reverse");
}

/// Runs the binary as an unprivileged user when the tests run as root (root writes any file).
fn as_unprivileged(dir: &Path, args: &[&str], url: &str) -> Output {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_huimin")]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_huimin"))
    };
    cmd.args(args).current_dir(dir).env("HUIMIN_DATABASE_URL", url).env_remove("HUIMIN_LOG").output().expect("run huimin")
}

#[test]
fn serve_refuses_a_database_it_cannot_write_and_says_why() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(huimin(d, &["migrate"]).status.success());
    let db = d.join("db");
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in std::fs::read_dir(&db).unwrap() {
        std::fs::set_permissions(f.unwrap().path(), std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o555)).unwrap();
    let o = as_unprivileged(d, &["serve", "--addr", "127.0.0.1:0"], "sqlite://db/huimin.db");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!text(&o).contains("惠民已启动"), "{}", text(&o));
    assert!(text(&o).contains("不可写") && text(&o).contains("huimin.db"), "{}", text(&o));

    // Only the shared-memory file (which SQLite maps: writing through the map would end the
    // process with SIGBUS) cannot be written.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o777)).unwrap();
    for f in std::fs::read_dir(&db).unwrap() {
        std::fs::set_permissions(f.unwrap().path(), std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    std::fs::write(db.join("huimin.db-shm"), vec![0u8; 32768]).unwrap();
    std::fs::set_permissions(db.join("huimin.db-shm"), std::fs::Permissions::from_mode(0o444)).unwrap();
    let o = as_unprivileged(d, &["serve", "--addr", "127.0.0.1:0"], "sqlite://db/huimin.db");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("huimin.db-shm") && text(&o).contains("不可写"), "{}", text(&o));
}

#[test]
fn demo_loads_into_the_database_given() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = Command::new(env!("CARGO_BIN_EXE_huimin"))
        .args(["demo", "--no-serve", "--database-url", "sqlite://elsewhere/county.db"])
        .current_dir(d)
        .env_remove("HUIMIN_DATABASE_URL")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(d.join("elsewhere/county.db").exists() && !d.join("data/demo.db").exists(), "{}", text(&o));
    assert!(text(&o).contains("sqlite://elsewhere/county.db"), "{}", text(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_huimin")).args(["demo", "--no-serve", "--fresh", "--database-url", "postgres://x@127.0.0.1:1/x"]).current_dir(d).output().unwrap();
    assert!(!o.status.success() && text(&o).contains("--fresh 只用于 SQLite"), "{}", text(&o));
}

#[test]
fn the_audit_key_lives_beside_the_database_and_checkpoints_are_printed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("regions.csv"), "区划代码,名称\n37,山东省\n").unwrap();
    assert!(huimin(d, &["import", "regions", "regions.csv"]).status.success());
    let o = Command::new(env!("CARGO_BIN_EXE_huimin"))
        .args(["user", "add", "zhang", "--name", "张三", "--role", "admin", "--region", "37"])
        .current_dir(d)
        .env("HUIMIN_DATABASE_URL", "sqlite://db/huimin.db")
        .env("HUIMIN_PASSWORD", "Lanshan-2024-county")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = huimin(d, &["audit", "checkpoint"]);
    assert!(o.status.success(), "{}", text(&o));
    let line = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let parts: Vec<&str> = line.split(' ').collect();
    assert!(parts.len() == 4 && parts[0].parse::<i64>().is_ok() && parts[1].len() == 64 && parts[3].len() == 64, "{line}");
    let key = d.join("db/huimin.db.audit-key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600, "the key is readable by its owner only");
    assert_eq!(std::fs::metadata(d.join("db/huimin.db")).unwrap().permissions().mode() & 0o777, 0o600, "so is the database");
    assert_eq!(std::fs::metadata(d.join("db")).unwrap().permissions().mode() & 0o777, 0o700, "and its folder");
    assert!(std::fs::read_to_string(d.join("db/huimin.db.audit-key.checkpoints")).unwrap().contains(&line));
    let o = huimin(d, &["audit", "verify"]);
    assert!(o.status.success() && text(&o).contains("1 条记录") && text(&o).contains("校验码与检查点无误"), "{}", text(&o));
    // Without its key the signed log is not opened (a new key would hide a recomputed chain).
    std::fs::remove_file(&key).unwrap();
    let o = huimin(d, &["audit", "verify"]);
    assert!(!o.status.success() && text(&o).contains("审计密钥文件") && text(&o).contains("不见了"), "{}", text(&o));
}

/// `huimin import … | head`: the pipe closes before the report is printed; the command ends
/// quietly (no panic), and what it committed stays.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("regions.csv"), "区划代码,名称\n37,山东省\n3713,临沂市\n371302,兰山区\n371302001,一镇\n371302001201,一村\n").unwrap();
    assert!(huimin(d, &["import", "regions", "regions.csv"]).status.success());
    std::fs::write(d.join("r.csv"), "户编号,户主姓名,与户主关系,姓名,证件号码,民族,行政区划代码,贫困户属性,脱贫状态,主要致贫原因\nH1,张三,户主,张三,11010519491231002X,汉族,371302001201,低保贫困户,未脱贫,因病\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_huimin"))
        .args(["import", "roster", "r.csv"])
        .current_dir(d)
        .env("HUIMIN_DATABASE_URL", "sqlite://db/huimin.db")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let o = huimin(d, &["import", "roster", "--dry-run", "r.csv"]);
    assert!(text(&o).contains("不变 1"), "the import was committed: {}", text(&o));
}

#[test]
fn warning_rules_and_fund_dictionaries_are_checked_and_loaded_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let rules = root.join("warnings/county-2023.toml");
    let o = huimin(d, &["warning", "check", rules.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("below-line") && text(&o).contains("监测标准 ¥7,500.00"), "{}", text(&o));
    std::fs::write(d.join("bad.toml"), std::fs::read_to_string(&rules).unwrap().replace("window_months = 12", "window_months = 40")).unwrap();
    let o = huimin(d, &["warning", "check", "bad.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("bad.toml：rules.window_months：统计月数应为 1–36"), "{}", text(&o));
    assert!(huimin(d, &["migrate"]).status.success());
    let o = huimin(d, &["warning", "load", rules.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("已载入预警规则"), "{}", text(&o));
    // The fund dictionary in use, and a province's checked before use.
    let o = huimin(d, &["funds"]);
    assert!(o.status.success() && text(&o).contains("resident_basic") && text(&o).contains("390101"), "{}", text(&o));
    std::fs::write(d.join("funds.toml"), std::fs::read_to_string(root.join("funds/funds.toml")).unwrap().replace("code = \"390101\"", "code = \"390100\"")).unwrap();
    let o = huimin(d, &["--funds", "funds.toml", "funds"]);
    assert!(o.status.success() && text(&o).contains("390100") && !text(&o).contains("390101"), "{}", text(&o));
    std::fs::write(d.join("twice.toml"), std::fs::read_to_string(root.join("funds/funds.toml")).unwrap().replace("code = \"999996\"", "code = \"310101\"")).unwrap();
    let o = huimin(d, &["funds", "--check", "twice.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("code「310101」重复"), "{}", text(&o));
}
