//! `huimin`: the one binary. Subcommands parse their input and call the app services.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use huimin_app::import::{self, Progress, RosterImport, RosterReport, TableReport};
use huimin_app::synthetic::{self, GenSpec};
use huimin_app::accounts;
use huimin_app::health;
use huimin_app::exchange;
use huimin_domain::{Date, RegionCode, Role};
use huimin_store::{AuditEntry, NewUser, Store};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(name = "huimin", version, about = "惠民 — 健康扶贫信息系统 (health poverty alleviation)")]
struct Cli {
    /// sqlite://PATH (embedded; default sqlite://data/huimin.db, for `demo` sqlite://data/demo.db)
    /// or postgres://USER@HOST/DB. SQLite commits survive a power cut; add ?synchronous=normal for
    /// faster commits that survive a crash of the program only.
    #[arg(long, env = "HUIMIN_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// The fund dictionary (codes and names of the funds, funds/funds.toml's format) of a
    /// province whose systems label funds otherwise; default: the built-in funds/funds.toml.
    #[arg(long, env = "HUIMIN_FUNDS", global = true)]
    funds: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or upgrade the database schema.
    Migrate,
    /// Import a roster, regions or facilities from CSV (UTF-8 or GBK) or XLSX.
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Export a region's data in the formats the imports read (docs/exchange.md): regions,
    /// facilities, roster, diseases, contracts, followups or claims; .csv or .xlsx by the name.
    Export {
        what: String,
        /// The region: a code at any level.
        #[arg(long)]
        region: String,
        /// The year of the contracts and follow-ups, and of the claims' discharge.
        #[arg(long)]
        year: Option<i32>,
        /// The encoding of a CSV file: utf-8 (with a BOM) or gbk (for Excel on Chinese Windows).
        #[arg(long, default_value = "utf-8", value_parser = |s: &str| huimin_app::csv_out::CsvEncoding::parse(s).ok_or_else(|| format!("编码「{s}」应为 utf-8 或 gbk")))]
        encoding: huimin_app::csv_out::CsvEncoding,
        file: PathBuf,
    },
    /// Generate a synthetic population (regions.csv, facilities.csv, roster.csv).
    Gen {
        #[arg(long, default_value_t = 5000)]
        persons: u64,
        #[arg(long, default_value_t = 2024)]
        seed: u64,
        #[arg(long, default_value_t = 2024)]
        year: i32,
        #[arg(long, default_value = "data/gen")]
        out: PathBuf,
    },
    /// Serve the web application.
    Serve {
        #[arg(long, env = "HUIMIN_ADDR", default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Mark cookies Secure (when behind an HTTPS proxy).
        #[arg(long, env = "HUIMIN_SECURE_COOKIES")]
        secure_cookies: bool,
    },
    /// Load a demo county (about 5,000 persons, one user per role) into data/demo.db and serve it.
    Demo {
        /// Start again from an empty demo database.
        #[arg(long)]
        fresh: bool,
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Load the data and print the logins, but do not serve.
        #[arg(long)]
        no_serve: bool,
    },
    /// Users: add one (e.g. the first administrator of a new installation).
    User {
        #[command(subcommand)]
        what: UserWhat,
    },
    /// API tokens for machine clients: a token acts as its user (role, region, facility).
    Token {
        #[command(subcommand)]
        what: TokenWhat,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        what: AuditWhat,
    },
    /// Settle a claims file under a policy file, without a database; writes the bills as CSV and JSON.
    Settle {
        #[arg(long)]
        policy: PathBuf,
        /// CSV (UTF-8 or GBK) or XLSX with the columns of docs/policy-format.md.
        #[arg(long)]
        claims: PathBuf,
        /// Output prefix (default: the claims file without its extension): PREFIX.bills.csv and .json.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The disease catalogue (catalogs/diseases.toml and the county's additions).
    Catalog {
        #[command(subcommand)]
        what: CatalogWhat,
    },
    /// Check a policy file and list its assumed numbers.
    Policy {
        #[command(subcommand)]
        what: PolicyWhat,
    },
    /// Early-warning rules of 防止因病返贫动态监测 (docs/monitoring.md).
    Warning {
        #[command(subcommand)]
        what: WarningWhat,
    },
    /// The fund dictionary in use: each fund's kind, code, name and national platform code.
    Funds {
        /// Check this dictionary file instead and list it.
        #[arg(long)]
        check: Option<PathBuf>,
    },
    /// Print the OpenAPI document of the JSON API (as served at /api/openapi.json), e.g. to
    /// generate a client from it.
    Openapi,
    /// Benchmarks that print figures (see docs/performance.md).
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
}

#[derive(Subcommand)]
enum UserWhat {
    /// Add a user; the password is read from HUIMIN_PASSWORD or asked for on the terminal.
    Add {
        username: String,
        #[arg(long)]
        name: String,
        /// village_doctor, family_doctor_team, township_staff, settlement_clerk, health_bureau,
        /// medical_insurance, civil_affairs, poverty_office, supervisor, admin
        #[arg(long)]
        role: String,
        #[arg(long)]
        region: String,
        #[arg(long)]
        facility: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenWhat {
    /// Make a token for a user and print it (it is stored only as a hash).
    Add {
        /// The user the token acts as.
        #[arg(long)]
        user: String,
        /// What the token is for (e.g. "county hospital HIS").
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// Roster import: generate N persons and import them into a fresh SQLite database (with
    /// --database-url postgres://…: a fresh database on that server for each run).
    Import {
        #[arg(long, default_value_t = 1_000_000)]
        persons: u64,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Batch settlement into a fresh SQLite database (with --database-url postgres://…: a fresh
    /// database on that server for each run): N claims of 100,000 registered persons, with
    /// accumulators, bills and lines stored.
    Batch {
        #[arg(long, default_value_t = 1_000_000)]
        claims: u64,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// With the example warning rules loaded and a tenth of the households' economics near
        /// the line: every household of the batch checked after the commit.
        #[arg(long)]
        warnings: bool,
    },
    /// The supervision dashboard on a generated province: builds the database at --db (or in the
    /// PostgreSQL database --database-url names, made when missing) unless it exists (N persons, M claims of 2024 settled in batches, disease cards, the contracts and
    /// follow-ups of county 371302), stores every township's figures (the nightly job, timed),
    /// then times the figures of a township (computed from its persons), of the county and of
    /// the province (summed from the stored township figures and the claim rollup).
    Dashboard {
        #[arg(long, default_value_t = 5_000_000)]
        persons: u64,
        #[arg(long, default_value_t = 10_000_000)]
        claims: u64,
        #[arg(long, default_value = "data/bench-dashboard.db")]
        db: PathBuf,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// The settlement engine alone on one core: N claims of 100,000 persons under a six-layer policy.
    Engine {
        #[arg(long, default_value_t = 1_000_000)]
        claims: u64,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
}

#[derive(Subcommand)]
enum WarningWhat {
    /// Load a rules file with every check; print its rules and their sources.
    Check { file: PathBuf },
    /// Check the file and store it in the database (settlements are checked against the rules
    /// in force from the next start of the server).
    Load { file: PathBuf },
    /// Check every household that paid anything in the window of rules in force today, opening
    /// the warnings due (the server does it each night and when rules are loaded).
    Daily,
}

#[derive(Subcommand)]
enum PolicyWhat {
    /// Load the file with every check; print its layers and assumptions.
    Check { file: PathBuf },
    /// Check the file and store it in the database (the policy in force settles claims).
    Load {
        file: PathBuf,
        /// Store as a draft: used only to simulate, never to settle.
        #[arg(long)]
        draft: bool,
    },
}

#[derive(Subcommand)]
enum AuditWhat {
    /// Recompute the hash chain, check every entry's MAC under the audit key and every
    /// checkpoint, and report the first entry that was changed, inserted or deleted, if any.
    Verify,
    /// Append a checkpoint of the log's head to the checkpoint file beside the audit key and print
    /// it (keep the line elsewhere: it shows later whether entries up to it were deleted).
    Checkpoint,
}

#[derive(Subcommand)]
enum ImportWhat {
    /// The roster of registered poor households (see docs/roster-format.md).
    Roster {
        file: PathBuf,
        /// Date the entries, exits and changes take effect (default: today).
        #[arg(long)]
        as_of: Option<Date>,
        /// Regions compared with the file for exits (default: the file's counties).
        #[arg(long, value_delimiter = ',')]
        scope: Option<Vec<String>>,
        /// Show the difference with the registry; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply even if more than half of the households in scope would exit.
        #[arg(long)]
        allow_mass_exit: bool,
        /// Apply the households without errors even when other rows are refused (by default a
        /// file with refused rows writes nothing and the command exits with 1).
        #[arg(long)]
        accept_partial: bool,
        /// Who is importing, for the history.
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// Regions: 区划代码, 名称.
    Regions { file: PathBuf },
    /// Facilities: 机构编码, 机构名称, 机构等级, 机构类型, 行政区划代码, 是否定点医院, 扶贫病床数.
    Facilities { file: PathBuf },
    /// Diagnosed diseases, one card per person and disease: 证件号码, 疾病编码, 疾病名称, 确诊年份, 预后, 诊断机构, 治疗方案.
    Diseases { file: PathBuf },
    /// Family-doctor contracts (the contracts export's format; teams are made when missing).
    Contracts { file: PathBuf },
    /// Follow-ups (the follow-ups export's format), each once per 提交编号.
    Followups { file: PathBuf },
    /// Claims (the claims export's format): settled under the policies in force here, then those
    /// marked 已冲销 reversed; a bill that comes out different from the file's is reported.
    Claims { file: PathBuf },
}

#[derive(Subcommand)]
enum CatalogWhat {
    /// Check a county's catalogue file against the catalogue in force there; write nothing.
    Check {
        file: PathBuf,
        /// The county (or region) the file is for: it applies there only.
        #[arg(long)]
        region: String,
    },
    /// Check the file and add it to the catalogue in force in the region (its entries replace
    /// those with the same code there).
    Load {
        file: PathBuf,
        #[arg(long)]
        region: String,
    },
}

#[tokio::main]
async fn main() {
    guard_signals();
    // Databases, keys, exports, uploads: files Huimin makes are its owner's only (0600, folders
    // 0700).
    // SAFETY: sets the process's file-creation mask; no memory involved.
    unsafe { libc::umask(0o077) };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("HUIMIN_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // A command whose output is piped into `head` ends quietly when the pipe closes (what it
    // writes then comes after its commit); the server keeps SIGPIPE ignored: a closed client
    // connection is an error on that connection only.
    if !matches!(cli.command, Command::Serve { .. } | Command::Demo { .. }) {
        // SAFETY: sets a signal's disposition to the default before any thread writes output.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    if let Err(e) = run(cli).await {
        eprintln!("错误：{e:#}");
        std::process::exit(1);
    }
}

/// Signals that would end the process without a word. A file-size limit (`ulimit -f`) reached
/// by a write answers that write with an error, like a full disk, instead of killing the server;
/// SIGBUS (SQLite's shared-memory file, mapped, became unreadable: its disk is full or it was
/// truncated) still ends the process, but says why first.
fn guard_signals() {
    extern "C" fn on_sigbus(_: libc::c_int) {
        const WHY: &str = "错误：SIGBUS：数据库的共享内存文件（*.db-shm）无法访问，进程终止。请检查磁盘空间和文件权限后重新启动。\n";
        // Only async-signal-safe calls here; the default action follows when this returns.
        unsafe { libc::write(2, WHY.as_ptr().cast(), WHY.len()) };
    }
    // SAFETY: process-wide dispositions set once at start; the SIGBUS handler only writes.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESETHAND;
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
    }
}

/// Reads and checks a fund dictionary file.
fn read_funds(file: &std::path::Path) -> Result<huimin_policy::FundCodes> {
    let text = std::fs::read_to_string(file).with_context(|| format!("无法读取基金编码字典 {}", file.display()))?;
    huimin_policy::FundCodes::parse(&file.display().to_string(), &text).map_err(|e| anyhow::anyhow!(e))
}

async fn run(cli: Cli) -> Result<()> {
    let database_url = cli.database_url.as_deref().unwrap_or("sqlite://data/huimin.db");
    // Before anything reads a policy, a bill or a report: codes never change under a running program.
    if let Some(file) = &cli.funds {
        if read_funds(file)?.install().is_err() {
            anyhow::bail!("基金编码字典只能在启动时设置一次");
        }
    }
    match cli.command {
        Command::Funds { check } => {
            let d = match &check {
                Some(file) => read_funds(file)?,
                None => huimin_policy::FundCodes::current().clone(),
            };
            for e in d.entries() {
                println!("{:<26} {:<8} {:<8} {}", e.kind, e.code, if e.platform_code.is_empty() { "-" } else { &e.platform_code }, e.name);
            }
            if !d.source.is_empty() {
                println!("依据：{}", d.source);
            }
        }
        Command::Openapi => println!("{}", huimin_web::openapi_json()),
        Command::Migrate => {
            let store = Store::connect(database_url).await?;
            println!("数据库已是最新结构（{:?}）", store.backend());
        }
        Command::Import { what } => {
            let store = Store::connect(database_url).await?;
            match what {
                ImportWhat::Roster { file, as_of, scope, dry_run, allow_mass_exit, accept_partial, actor } => {
                    let scope = scope
                        .map(|s| s.iter().map(|c| RegionCode::parse(c)).collect::<Result<Vec<_>, _>>())
                        .transpose()?;
                    let effective = as_of.unwrap_or_else(|| huimin_app::clock::today());
                    let bar = ProgressBar::hidden();
                    let progress = |p: Progress| show_progress(&bar, p);
                    let report_path = error_file_path(&file);
                    let opts = RosterImport {
                        scope,
                        dry_run,
                        allow_mass_exit,
                        refuse_partial: !accept_partial,
                        error_report: Some(&report_path),
                        progress: &progress,
                        ..RosterImport::new(&actor, effective)
                    };
                    let result = import::import_roster(&store, &file, &opts).await;
                    bar.finish_and_clear();
                    let report = match result {
                        Err(e @ import::ImportError::MassExit { .. }) => anyhow::bail!("{e}（命令行：加 --allow-mass-exit）"),
                        r => r?,
                    };
                    print_roster_report(&report, dry_run);
                    if !report.errors.is_empty() {
                        println!("错误报告（可用 Excel 打开）：{}", report_path.display());
                        if !accept_partial {
                            anyhow::bail!("有 {} 行未通过检查，{} 户暂不导入：{}。改正后重新导入；只导入无误的户请加 --accept-partial", report.errors.len(), report.held_back.len(), if dry_run { "试运行" } else { "未写入任何数据" });
                        }
                    }
                }
                ImportWhat::Regions { file } => {
                    let report = import::import_regions(&store, &file).await?;
                    print_table_report("区划", &report);
                    error_file(&file, &report.errors, &[])?;
                }
                ImportWhat::Facilities { file } => {
                    let report = import::import_facilities(&store, &file).await?;
                    print_table_report("医疗机构", &report);
                    error_file(&file, &report.errors, &[])?;
                }
                ImportWhat::Diseases { file } => {
                    let catalog = health::catalog(&store).await?;
                    let audit = AuditEntry { username: "cli".into(), ip: "cli".into(), action: "health.import".into(), ..Default::default() };
                    let report = health::import_diseases(&store, &catalog, &file, "cli", huimin_app::clock::today(), &audit).await?;
                    print_table_report("疾病诊断（一病一卡）", &report);
                    error_file(&file, &report.errors, &[])?;
                }
                ImportWhat::Contracts { file } => {
                    let report = exchange::import_contracts(&store, &file, &cli_audit("contract.import")).await?;
                    print_table_report(exchange::Kind::Contracts.label().0, &report);
                    error_file(&file, &report.errors, &[])?;
                }
                ImportWhat::Followups { file } => {
                    let report = exchange::import_follow_ups(&store, &file, &cli_audit("followup.import")).await?;
                    print_table_report(exchange::Kind::FollowUps.label().0, &report);
                    error_file(&file, &report.errors, &[])?;
                }
                ImportWhat::Claims { file } => {
                    let report = exchange::import_claims(&store, &file, "cli", &cli_audit("settlement.import")).await?;
                    print_table_report(exchange::Kind::Claims.label().0, &report);
                    error_file(&file, &report.errors, &[])?;
                }
            }
        }
        Command::Export { what, region, year, encoding, file } => {
            let store = Store::connect(database_url).await?;
            let kind = exchange::Kind::from_code(&what).with_context(|| format!("不能导出「{what}」：可导出 {}", exchange::Kind::ALL.map(|k| k.code()).join("、")))?;
            let year = year.unwrap_or_else(|| huimin_app::clock::this_year());
            // The command line holds the database itself: the export is whole, for a faithful copy.
            let region = RegionCode::parse(&region)?;
            let viewer = huimin_domain::Viewer::whole_database(region, std::sync::Arc::new(health::catalog(&store).await?));
            let sheet = exchange::export(&store, &viewer, kind, region, year).await?;
            exchange::write(&sheet, &file, encoding)?;
            store.append_audit(&AuditEntry { action: "export".into(), target: format!("{what} {region} {year}"), ..cli_audit("export") }).await?;
            println!("已导出 {} 行到 {}", sheet.rows.len(), file.display());
        }
        Command::Catalog { what } => {
            let store = Store::connect(database_url).await?;
            let (file, region, load) = match what {
                CatalogWhat::Check { file, region } => (file, region, false),
                CatalogWhat::Load { file, region } => (file, region, true),
            };
            let region = RegionCode::parse(&region)?;
            let text = std::fs::read_to_string(&file).with_context(|| format!("读取 {}", file.display()))?;
            let name = file.file_name().unwrap_or_default().to_string_lossy().to_string();
            let ext = health::check_catalog_file(&health::catalog(&store).await?, region, &name, &text)?;
            println!("{name}：{} 个病种组，{} 个病种编码，检查通过", ext.groups.len(), ext.entries.len());
            if load {
                let audit = AuditEntry { username: "cli".into(), ip: "cli".into(), action: "catalog.load".into(), target: name.clone(), ..Default::default() };
                health::load_catalog_file(&store, region, &name, &text, "cli", &audit).await?;
                println!("已载入病种目录，在 {region} 范围内生效");
            }
        }
        Command::Gen { persons, seed, year, out } => {
            let started = Instant::now();
            let sum = synthetic::generate(GenSpec { persons, seed, year }, &out)?;
            println!(
                "已生成 {} 个县、{} 个乡镇、{} 个村，{} 家医疗机构，{} 户 {} 人，{} 条疾病诊断（{:.1} 秒）：{}",
                sum.counties,
                sum.townships,
                sum.villages,
                sum.facilities,
                sum.households,
                sum.persons,
                sum.diagnoses,
                started.elapsed().as_secs_f64(),
                out.display()
            );
        }
        Command::Serve { addr, secure_cookies } => {
            let store = Store::connect(database_url).await?;
            serve(store, addr, secure_cookies, Path::new("data/uploads")).await?;
        }
        Command::Demo { fresh, addr, no_serve } => demo(cli.database_url.as_deref().unwrap_or(DEMO_URL), fresh, addr, no_serve).await?,
        Command::User { what: UserWhat::Add { username, name, role, region, facility } } => {
            let store = Store::connect(database_url).await?;
            let password = match std::env::var("HUIMIN_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprint!("密码：");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            accounts::check_password_strength(&password, &username).map_err(anyhow::Error::msg)?;
            let user = NewUser {
                username: username.clone(),
                display_name: name,
                role: Role::from_code(&role)?,
                region: RegionCode::parse(&region)?,
                facility_code: facility,
                password_hash: accounts::hash_password(&password),
                // The first administrator chooses their own password on the command line.
                must_change_password: false,
            };
            let audit = AuditEntry { username: "cli".into(), ip: "cli".into(), action: "user.create".into(), target: format!("user {username}"), ..Default::default() };
            store.create_user(&user, &audit).await?;
            println!("已创建用户 {username}");
        }
        Command::Token { what: TokenWhat::Add { user, name, days } } => {
            let store = Store::connect(database_url).await?;
            let (found, _) = store.user_for_login(&user).await?.with_context(|| format!("用户 {user} 不存在"))?;
            let token = accounts::issue_api_token(&store, &found, &name, days, &cli_audit("token.create")).await.map_err(anyhow::Error::msg)?;
            println!("{token}");
        }
        Command::Audit { what: AuditWhat::Verify } => {
            let store = Store::connect(database_url).await?;
            let v = store.verify_audit().await?;
            match v.broken_at {
                None => println!(
                    "审计日志完整：{} 条记录，哈希链无误{}",
                    v.entries,
                    store.audit_key_path().map(|p| format!("，校验码与检查点无误（密钥 {}）", p.display())).unwrap_or_else(|| "（未设审计密钥：不能发现重新计算的链）".into())
                ),
                Some((seq, why)) => bail!("审计日志在第 {seq} 条处被改动：{why}（共 {} 条）", v.entries),
            }
        }
        Command::Audit { what: AuditWhat::Checkpoint } => {
            let store = Store::connect(database_url).await?;
            match store.audit_checkpoint().await? {
                Some(line) => println!("{line}"),
                None if store.audit_key_path().is_none() => bail!("未设审计密钥（HUIMIN_AUDIT_KEY_FILE）：没有可签的检查点"),
                None => println!("自上一个检查点以来没有新记录"),
            }
        }
        Command::Bench { what: BenchWhat::Import { persons, runs } } => bench_import(bench_server(&cli.database_url), persons, runs).await?,
        Command::Bench { what: BenchWhat::Engine { claims, runs } } => bench_engine(claims, runs)?,
        Command::Bench { what: BenchWhat::Batch { claims, runs, warnings } } => bench_batch(bench_server(&cli.database_url), claims, runs, warnings).await?,
        Command::Bench { what: BenchWhat::Dashboard { persons, claims, db, runs } } => bench_dashboard(bench_server(&cli.database_url), persons, claims, &db, runs).await?,
        Command::Warning { what: WarningWhat::Check { file } } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("无法读取预警规则文件 {}", file.display()))?;
            let r = huimin_policy::parse_warning_rules(&file.display().to_string(), &text)?;
            println!("{}（{}）：{}，{} 至 {}，近 {} 个月，监测标准 {}", r.name, r.id, r.region, r.effective_from, r.effective_to, r.window_months, huimin_domain::format::yuan(r.monitoring_line));
            for rule in &r.rules {
                println!("  {:<16} {}（依据：{}）", rule.id, rule.name, rule.source);
            }
        }
        Command::Warning { what: WarningWhat::Load { file } } => {
            let store = Store::connect(database_url).await?;
            let body = std::fs::read_to_string(&file).with_context(|| format!("无法读取预警规则文件 {}", file.display()))?;
            let audit = AuditEntry { username: "cli".into(), ip: "cli".into(), ..Default::default() };
            let r = huimin_app::monitoring::load_rules(&store, &file.display().to_string(), &body, "cli", &audit).await?;
            println!("已载入预警规则 {}（{}，{} 至 {}）", r.name, r.id, r.effective_from, r.effective_to);
        }
        Command::Warning { what: WarningWhat::Daily } => {
            let store = Store::connect(database_url).await?;
            let set = huimin_app::monitoring::WarningRuleSet::load(&store).await?;
            let audit = AuditEntry { username: "cli".into(), ip: "cli".into(), ..Default::default() };
            let t = Instant::now();
            let r = huimin_app::monitoring::daily_check(&store, &set, huimin_app::clock::today(), &audit).await?;
            println!("已检查 {} 户（近期有合规自付医疗费用），新发现预警 {} 户（{:.1} 秒）", r.checked, r.opened, t.elapsed().as_secs_f64());
        }
        Command::Policy { what: PolicyWhat::Check { file } } => {
            let policy = load_policy(&file)?;
            println!("{}（{}）：{}，{} 至 {}，{} 层", policy.name, policy.id, policy.region, policy.effective_from, policy.effective_to, policy.layers.len());
            for l in &policy.layers {
                println!("  {:<18} {} {}", l.id, l.fund.code(), l.name);
            }
            if !policy.assumptions.is_empty() {
                println!("假设的数值（种子文件未给出）：");
                for a in &policy.assumptions {
                    println!("  {a}");
                }
            }
        }
        Command::Policy { what: PolicyWhat::Load { file, draft } } => {
            let store = Store::connect(database_url).await?;
            let body = std::fs::read_to_string(&file).with_context(|| format!("无法读取政策文件 {}", file.display()))?;
            let audit = AuditEntry { username: "cli".into(), ip: "cli".into(), action: "policy.load".into(), target: file.display().to_string(), ..Default::default() };
            let p = huimin_app::settlement::load_policy(&store, &file.display().to_string(), &body, draft, &audit).await?;
            println!("已载入{}政策 {}（{}，{} 至 {}）", if draft { "草案" } else { "" }, p.name, p.id, p.effective_from, p.effective_to);
        }
        Command::Settle { policy, claims, out } => {
            let policy = load_policy(&policy)?;
            let outcomes = huimin_app::calculator::settle_file(&policy, &claims)?;
            let prefix = out.unwrap_or_else(|| claims.with_extension(""));
            let csv_path = PathBuf::from(format!("{}.bills.csv", prefix.display()));
            let json_path = PathBuf::from(format!("{}.bills.json", prefix.display()));
            huimin_app::calculator::write_bills_csv(&policy, &outcomes, &csv_path)?;
            std::fs::write(&json_path, serde_json::to_string_pretty(&outcomes)?)?;
            let errors: Vec<_> = outcomes.iter().filter(|o| o.error.is_some()).collect();
            let settled = outcomes.iter().filter(|o| o.bill.is_some() && o.action == huimin_app::calculator::Action::Settle).count();
            let reversed = outcomes.iter().filter(|o| o.bill.is_some() && o.action == huimin_app::calculator::Action::Reverse).count();
            println!("已结算 {settled} 笔，冲销 {reversed} 笔，错误 {} 行", errors.len());
            for o in errors.iter().take(30) {
                println!("  第 {} 行（{}）：{}", o.row, o.claim_no, o.error.as_deref().unwrap_or(""));
            }
            println!("结算单：{} 和 {}", csv_path.display(), json_path.display());
        }
    }
    Ok(())
}

fn show_progress(bar: &ProgressBar, p: Progress) {
    match p {
        // Small files finish before a bar would be worth drawing.
        Progress::Rows { total, .. } if total < 20_000 => {}
        Progress::Rows { done, total } => {
            if bar.is_hidden() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_length(total);
                bar.set_style(ProgressStyle::with_template("检查 {bar:40} {pos}/{len} 行 {per_sec} 剩余 {eta}").expect("template"));
            }
            bar.set_position(done);
        }
        Progress::Writing => {
            if !bar.is_hidden() {
                bar.set_style(ProgressStyle::with_template("{spinner} 写入数据库… {elapsed}").expect("template"));
                bar.enable_steady_tick(std::time::Duration::from_millis(200));
            }
        }
    }
}

fn print_roster_report(r: &RosterReport, dry_run: bool) {
    let d = &r.diff;
    println!("文件 {}（{}）：{} 行，通过检查 {} 户 {} 人", r.file, r.encoding, r.rows_total, r.households_accepted, r.persons_accepted);
    if !r.normalised.is_empty() {
        println!("  按原意读取 {} 处（全角数字、姓名或证件号码中的空格、小写 x）：", r.normalised.len());
        for n in r.normalised.iter().take(5) {
            println!("    第 {} 行「{}」：{} → {}", n.row, n.column, n.written, n.read);
        }
        if r.normalised.len() > 5 {
            println!("    …… 另有 {} 处", r.normalised.len() - 5);
        }
    }
    if r.sheet.is_some() || r.header_row > 1 {
        let sheet = r.sheet.as_ref().map(|s| format!("工作表「{s}」，")).unwrap_or_default();
        println!("  读取{sheet}表头在第 {} 行", r.header_row);
    }
    let scope: Vec<String> = r.scope.iter().map(ToString::to_string).collect();
    println!("比对范围：{}", scope.join("、"));
    let counts = |who: &str, new: usize, reentered: usize, changed: usize, exited: usize, unchanged: usize| {
        println!("  {who}：新增 {new}，重新列入 {reentered}，变更 {changed}，退出 {exited}，不变 {unchanged}");
    };
    counts("户", d.new_households.len(), d.reentered_households.len(), d.changed_households.len(), d.exited_households.len(), d.unchanged_households);
    counts("人", d.new_persons.len(), d.reentered_persons.len(), d.changed_persons.len(), d.exited_persons.len(), d.unchanged_persons);
    for (named, fields) in d.changed_households.iter().take(10) {
        let f: Vec<String> = fields.iter().map(|(c, a, b)| format!("{c}：{a} → {b}")).collect();
        println!("    户 {}（{}）{}", named.key, named.name, f.join("；"));
    }
    if d.changed_households.len() > 10 {
        println!("    …… 另有 {} 户变更", d.changed_households.len() - 10);
    }
    for named in d.exited_households.iter().take(10) {
        println!("    退出户 {}（{}）", named.key, named.name);
    }
    if d.exited_households.len() > 10 {
        println!("    …… 另有 {} 户退出", d.exited_households.len() - 10);
    }
    if r.mass_exit {
        println!("注意：将使范围内 {} 户中的 {} 户退出，超过一半；正式导入时会被拒绝，确需如此请加 --allow-mass-exit", d.households_in_scope, d.exited_households.len());
    }
    if !r.errors.is_empty() {
        println!("有 {} 处错误，{} 户暂不导入：", r.errors.len(), r.held_back.len());
        for e in r.errors.iter().take(20) {
            println!("  第 {} 行，列「{}」：{}", e.row, e.column, e.reason);
        }
        if r.errors.len() > 20 {
            println!("  …… 其余 {} 处见错误报告", r.errors.len() - 20);
        }
    }
    match (dry_run, r.import_id) {
        (true, _) => println!("试运行：未写入任何数据。"),
        (false, None) if r.refused_partial => println!("有未通过检查的行：未写入任何数据。"),
        (false, Some(id)) => println!("已写入（导入批次 {id}）。"),
        (false, None) => println!("与登记库一致，无需写入。"),
    }
}

fn cli_audit(action: &str) -> AuditEntry {
    AuditEntry { username: "cli".into(), ip: "cli".into(), action: action.into(), ..Default::default() }
}

fn print_table_report(what: &str, r: &TableReport) {
    println!("文件 {}：已导入{what} {} 条", r.file, r.applied);
    if r.already > 0 {
        println!("  另有 {} 条此前已导入（同一文件再次导入时跳过）", r.already);
    }
    for e in r.errors.iter().take(20) {
        println!("  第 {} 行，列「{}」：{}", e.row, e.column, e.reason);
    }
}

/// `<file>.errors.xlsx` next to the input.
fn error_file_path(input: &Path) -> PathBuf {
    let mut name = input.file_stem().unwrap_or_default().to_os_string();
    name.push(".errors.xlsx");
    input.with_file_name(name)
}

/// Writes `<file>.errors.xlsx` next to the input when there are bad rows.
fn error_file(input: &Path, errors: &[huimin_app::roster::RowError], held: &[huimin_app::roster::HeldBack]) -> Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let path = error_file_path(input);
    import::write_error_report(errors, held, &path).with_context(|| format!("写错误报告 {}", path.display()))?;
    println!("错误报告（可用 Excel 打开）：{}", path.display());
    Ok(())
}

fn load_policy(path: &Path) -> Result<huimin_policy::Policy> {
    let text = std::fs::read_to_string(path).with_context(|| format!("无法读取政策文件 {}", path.display()))?;
    Ok(huimin_policy::parse_policy(&path.display().to_string(), &text)?)
}

const DEMO_URL: &str = "sqlite://data/demo.db";

/// A database URL without its password, for printing.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &url[scheme + 3..at];
            let user = user.split(':').next().unwrap_or(user);
            format!("{}{user}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

async fn serve(store: Store, addr: std::net::SocketAddr, secure_cookies: bool, upload_dir: &Path) -> Result<()> {
    // Started only if every write can be stored: a server that says it runs must not answer
    // each write with an error.
    store.check_writable().await.context("无法启动")?;
    let config = huimin_web::Config { addr, upload_dir: upload_dir.to_path_buf(), secure_cookies };
    let server = huimin_web::Server::build(store, config).await.with_context(|| format!("无法监听 {addr}"))?;
    println!("惠民已启动：http://{}", server.local_addr());
    server.run().await?;
    Ok(())
}

async fn demo(url: &str, fresh: bool, addr: std::net::SocketAddr, no_serve: bool) -> Result<()> {
    if fresh {
        let Some(files) = huimin_store::sqlite_files(url) else {
            bail!("--fresh 只用于 SQLite 演示库；PostgreSQL 请换一个空数据库");
        };
        for file in files {
            let _ = std::fs::remove_file(file);
        }
    }
    let store = Store::connect(url).await?;
    println!("正在准备演示县（兰山区，约 5,000 名建档立卡人员）……");
    huimin_app::demo::load(&store, Path::new("data/demo")).await?;
    let counts = store.registry_counts(RegionCode::parse(huimin_app::demo::COUNTY)?).await?;
    println!("兰山区：建档立卡 {} 户 {} 人，其中因病致贫 {} 户（数据库 {}）", counts.households, counts.persons, counts.illness_households, redacted(url));
    println!("演示账号（密码均为 {}）：", huimin_app::demo::PASSWORD);
    for (username, _, role, region, _) in huimin_app::demo::USERS {
        println!("  {username:<8} {}（{region}）", role.label_zh());
    }
    if !no_serve {
        serve(store, addr, false, Path::new("data/demo-uploads")).await?;
    }
    Ok(())
}

/// The example warning rules for the whole province, over `months`, and the economics of every
/// tenth household of `region` a little above the monitoring line (their size as listed).
async fn bench_warnings(store: &Store, region: RegionCode, months: u32, as_of: Date) -> Result<()> {
    let audit = AuditEntry { username: "bench".into(), ip: "cli".into(), ..Default::default() };
    let rules = include_str!("../../../warnings/county-2023.toml")
        .replace(r#"region = "371302""#, r#"region = "37""#)
        .replace("effective_from = \"2023-01-01\"", "effective_from = \"2020-01-01\"")
        .replace("effective_to = \"2026-12-31\"", "effective_to = \"2099-12-31\"")
        .replace("window_months = 12", &format!("window_months = {months}"));
    huimin_app::monitoring::load_rules(store, "bench-rules.toml", &rules, "bench", &audit).await?;
    let households = huimin_app::exchange::all_households(store, region).await?;
    let mut n = 0;
    for (i, h) in households.iter().enumerate().filter(|(i, _)| i % 10 == 0) {
        let e = huimin_store::Economics {
            as_of,
            size: u32::try_from(h.members).unwrap_or(1).clamp(1, 99),
            per_capita_income: Some(huimin_domain::Money::from_yuan(7_600 + (i as i64 % 7) * 300)?),
            monitoring_category: None,
        };
        store.record_economics(h.household.no.as_str(), &e, "bench", &audit).await?;
        n += 1;
    }
    println!("warning rules loaded (window {months} months); economics of {n} households of {region}");
    Ok(())
}

/// The PostgreSQL server the import and batch benchmarks run on (`--database-url postgres://…/db`:
/// each run gets a fresh database on it, dropped afterwards); `None`: fresh SQLite files.
fn bench_server(url: &Option<String>) -> Option<String> {
    url.clone().filter(|u| u.starts_with("postgres"))
}

fn backend_name(server: &Option<String>) -> &'static str {
    if server.is_some() { "PostgreSQL" } else { "SQLite" }
}

async fn bench_batch(server: Option<String>, n: u64, runs: usize, warnings: bool) -> Result<()> {
    use huimin_app::settlement::{self, PolicySet, SettleRequest};
    let dir = tempfile::tempdir()?;
    let gen_dir = dir.path().join("gen");
    let sum = synthetic::generate(GenSpec { persons: 100_000, seed: 7, year: 2024 }, &gen_dir)?;
    // The demo policy, for the whole province so that every generated county has one.
    let policy = huimin_app::demo::demo_policy().replace(r#"region = "371302""#, r#"region = "37""#);
    let (mut rates, mut anchors) = (Vec::new(), Vec::new());
    for run in 1..=runs.max(1) {
        let url = huimin_store::scratch_database(server.as_deref(), dir.path(), &format!("huimin_bench_batch_{run}")).await?;
        let store = Store::connect(&url).await?;
        import::import_regions(&store, &gen_dir.join("regions.csv")).await?;
        import::import_facilities(&store, &gen_dir.join("facilities.csv")).await?;
        import::import_roster(&store, &gen_dir.join("roster.csv"), &RosterImport::new("bench", Date::from_ymd_opt(2024, 1, 1).expect("date"))).await?;
        let audit = AuditEntry { username: "bench".into(), ip: "cli".into(), action: "settlement.batch".into(), ..Default::default() };
        settlement::load_policy(&store, "demo.toml", &policy, false, &audit).await?;
        if warnings {
            // The claims are of 2024: a window reaching back to them from today.
            let today = huimin_app::clock::today();
            let months = (chrono::Datelike::year(&today) - 2024) as u32 * 12 + chrono::Datelike::month(&today);
            bench_warnings(&store, RegionCode::parse("37")?, months.clamp(12, 36), today).await?;
        }
        let set = PolicySet::load(&store).await?;
        let facilities: Vec<String> = store.all_facilities().await?.into_values().filter(|f| f.kind != "村卫生室").map(|f| f.code).collect();
        let engine_claims = huimin_app::synthetic::claims(set.get("demo-county").expect("loaded"), n, sum.persons, 11);
        let requests: Vec<SettleRequest> =
            engine_claims.into_iter().enumerate().map(|(i, c)| generated_request(c, format!("BATCH-{i}"), facilities[i % facilities.len()].clone(), None)).collect();
        let t = Instant::now();
        let out = settlement::settle_batch(&store, &set, &requests, "bench", &audit).await?;
        let secs = t.elapsed().as_secs_f64();
        let rate = out.settled as f64 / secs;
        let opened = if warnings { format!(", {} warnings opened", store.warnings(RegionCode::parse("37")?, true).await?.len()) } else { String::new() };
        println!("run {run}: {} settled, {} refused in {secs:.1} s = {rate:.0} claims/s{opened}", out.settled, out.refused.len());
        if let Some((no, why)) = out.refused.first() {
            println!("  first refusal: {no}: {why}");
        }
        rates.push(rate);
        if server.is_some() {
            anchors.push(claims_anchor(&store).await?);
        }
        store.pool().close().await;
        huimin_store::drop_scratch(server.as_deref(), &url).await?;
    }
    if !anchors.is_empty() {
        anchors.sort_by(f64::total_cmp);
        println!("anchor: the same claims copied by the server into a table with the same indexes, median {:.0} claims/s", anchors[anchors.len() / 2]);
    }
    rates.sort_by(f64::total_cmp);
    println!("median: {:.0} claims/s (batch settlement into {}, {} runs)", rates[rates.len() / 2], backend_name(&server), rates.len());
    Ok(())
}

/// The floor under a batch on PostgreSQL: the server writing the claims just settled again, in
/// one transaction, into a table with the same indexes (`INSERT … SELECT`: no engine, no client,
/// no network), in claims/s.
async fn claims_anchor(store: &Store) -> Result<f64> {
    let t = Instant::now();
    let copied = store.copy_claims_for_anchor().await?;
    let secs = t.elapsed().as_secs_f64();
    println!("  anchor: {copied} claims copied by the server in {secs:.1} s = {:.0} claims/s", copied as f64 / secs);
    Ok(copied as f64 / secs)
}

/// A generated claim (person `pN` is the N+1th person imported) as a settlement request, moved
/// to start on `admission` if given.
fn generated_request(c: huimin_policy::Claim, claim_no: String, facility_code: String, admission: Option<Date>) -> huimin_app::settlement::SettleRequest {
    let admission_on = admission.unwrap_or(c.admission);
    huimin_app::settlement::SettleRequest {
        claim_no,
        person_id: c.person[1..].parse::<i64>().unwrap_or(0) + 1,
        facility_code,
        visit: c.visit,
        admission: admission_on,
        discharge: admission_on + (c.discharge - c.admission),
        diseases: c.diseases,
        cat_a: c.cat_a,
        cat_b: c.cat_b,
        out_of_catalogue: c.out_of_catalogue,
        necessary: c.necessary,
    }
}

/// Settles `n` generated claims of 2024 for persons 1..=`persons` in batches of a million.
async fn settle_generated(store: &Store, n: u64, persons: u64) -> Result<()> {
    use huimin_app::settlement::{self, PolicySet, SettleRequest};
    let set = PolicySet::load(store).await?;
    let policy = set.get("demo-county").context("demo policy")?;
    let facilities: Vec<String> = store.all_facilities().await?.into_values().filter(|f| f.kind != "村卫生室").map(|f| f.code).collect();
    let audit = AuditEntry { username: "bench".into(), ip: "cli".into(), action: "settlement.batch".into(), ..Default::default() };
    let jan1 = Date::from_ymd_opt(2024, 1, 1).expect("date");
    let mut done = 0u64;
    while done < n {
        let size = (n - done).min(1_000_000);
        let t = Instant::now();
        let requests: Vec<SettleRequest> = synthetic::claims(policy, size, persons, 11 + done)
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                // Into 2024, keeping the length of stay.
                let admission = jan1 + chrono::Duration::days((c.admission - policy.effective_from).num_days() % 350);
                generated_request(c, format!("G{}", done + i as u64), facilities[(done as usize + i) % facilities.len()].clone(), Some(admission))
            })
            .collect();
        let out = settlement::settle_batch(store, &set, &requests, "bench", &audit).await?;
        done += size;
        println!("  settled {done} claims ({} refused in this batch, {:.0} claims/s)", out.refused.len(), size as f64 / t.elapsed().as_secs_f64());
    }
    Ok(())
}

/// `server`: the PostgreSQL database to build the province in (made when missing) instead of the
/// SQLite file `db`.
async fn bench_dashboard(server: Option<String>, persons: u64, claims: u64, db: &Path, runs: usize) -> Result<()> {
    use huimin_app::indicators;
    use huimin_domain::Period;
    let today = Date::from_ymd_opt(2024, 12, 31).expect("date");
    let county = RegionCode::parse("371302")?;
    let province = RegionCode::parse("37")?;
    let (fresh, url) = match &server {
        Some(url) => (huimin_store::create_database_if_missing(url).await?, url.clone()),
        None => {
            if let Some(dir) = db.parent() {
                std::fs::create_dir_all(dir)?;
            }
            (!db.exists(), format!("sqlite://{}", db.display()))
        }
    };
    let shown = if server.is_some() { "the PostgreSQL database".to_string() } else { db.display().to_string() };
    let store = Store::connect(&url).await?;
    if fresh {
        let t = Instant::now();
        let gen_dir = tempfile::tempdir()?;
        let sum = synthetic::generate(GenSpec { persons, seed: 7, year: 2024 }, gen_dir.path())?;
        import::import_regions(&store, &gen_dir.path().join("regions.csv")).await?;
        import::import_facilities(&store, &gen_dir.path().join("facilities.csv")).await?;
        import::import_roster(&store, &gen_dir.path().join("roster.csv"), &RosterImport::new("bench", Date::from_ymd_opt(2024, 1, 1).expect("date"))).await?;
        println!("registry: {} persons ({:.0} s)", sum.persons, t.elapsed().as_secs_f64());
        let catalog = health::catalog(&store).await?;
        let audit = |action: &str| AuditEntry { username: "bench".into(), ip: "cli".into(), action: action.into(), ..Default::default() };
        let report = health::import_diseases(&store, &catalog, &gen_dir.path().join("diseases.csv"), "bench", Date::from_ymd_opt(2024, 6, 1).expect("date"), &audit("health.import")).await?;
        println!("disease cards: {} ({:.0} s)", report.applied, t.elapsed().as_secs_f64());
        let policy = huimin_app::demo::demo_policy().replace(r#"region = "371302""#, r#"region = "37""#);
        huimin_app::settlement::load_policy(&store, "demo.toml", &policy, false, &audit("policy.load")).await?;
        settle_generated(&store, claims, sum.persons).await?;
        huimin_app::demo::load_contracts(&store, county, today).await?;
        println!("database built in {:.0} s: {shown}", t.elapsed().as_secs_f64());
    }
    if store.warning_rules().await?.is_empty() {
        bench_warnings(&store, county, 12, today).await?;
        let set = huimin_app::monitoring::WarningRuleSet::load(&store).await?;
        let audit = AuditEntry { username: "bench".into(), ip: "cli".into(), ..Default::default() };
        let t = Instant::now();
        let r = huimin_app::monitoring::daily_check(&store, &set, today, &audit).await?;
        println!("daily warning check of the province: {} households with spending checked, {} warnings opened in {:.1} s", r.checked, r.opened, t.elapsed().as_secs_f64());
    }
    let mut times = Vec::new();
    let mut listed = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        listed = store.warnings(county, true).await?.len();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!("warnings of county 371302: {listed} open; read in median {:.1} ms", times[times.len() / 2]);
    let catalog = health::catalog(&store).await?;
    let year = Period::year(2024);
    let t = Instant::now();
    let n = indicators::refresh_figures(&store, &catalog, province, 2024, today, true).await?;
    println!("township figures stored for {n} townships in {:.1} s (the nightly job)", t.elapsed().as_secs_f64());
    for (label, region) in [("township 371302001", RegionCode::parse("371302001")?), ("county 371302", county), ("province 37", province)] {
        let mut times = Vec::new();
        let mut ind = None;
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            let i = indicators::compute(&store, &catalog, region, year, today).await?;
            let targets = store.targets().await?;
            let _ = indicators::checks(&i, &targets);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            ind = Some(i);
        }
        let ind = ind.expect("one run");
        let shown: Vec<String> = times.iter().map(|t| format!("{t:.0}")).collect();
        times.sort_by(f64::total_cmp);
        println!(
            "{label}: {} persons, {} claims, {} children; runs (ms) {} → median {:.0} ms",
            ind.population.persons,
            ind.claims.claims,
            ind.children.len(),
            shown.join(" · "),
            times[times.len() / 2]
        );
    }
    Ok(())
}

fn bench_engine(n: u64, runs: usize) -> Result<()> {
    let policy = huimin_policy::parse_policy("maojian-985-2020.toml", include_str!("../../../policies/maojian-985-2020.toml"))?;
    let claims = huimin_app::synthetic::claims(&policy, n, 100_000, 7);
    let persons: Vec<usize> = claims.iter().map(|c| c.person[1..].parse().unwrap_or(0)).collect();
    let inpatient_layers = policy.layers.iter().filter(|l| l.filter.visits.as_ref().is_some_and(|v| v.contains(&huimin_policy::VisitType::Inpatient))).count();
    println!("{} claims of 100,000 persons under {} ({inpatient_layers} inpatient layers)", claims.len(), policy.id);
    let mut rates = Vec::new();
    let mut check = 0i64;
    for run in 1..=runs.max(1) {
        // Each person's accumulators found by index, outside the timing: the engine is measured.
        let mut acc = vec![huimin_policy::YearAccumulators::default(); 100_000];
        let t = Instant::now();
        for (c, &p) in claims.iter().zip(&persons) {
            let bill = huimin_policy::settle_into(&policy, c, &mut acc[p])?;
            check = check.wrapping_add(bill.patient_total.fen());
        }
        let secs = t.elapsed().as_secs_f64();
        let rate = claims.len() as f64 / secs;
        println!("run {run}: {:.3} s = {rate:.0} claims/s", secs);
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!("median: {:.0} claims/s on one core (checksum {check})", rates[rates.len() / 2]);
    Ok(())
}

async fn bench_import(server: Option<String>, persons: u64, runs: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gen_dir = dir.path().join("gen");
    let started = Instant::now();
    let sum = synthetic::generate(GenSpec { persons, seed: 7, year: 2024 }, &gen_dir)?;
    println!("generated {} persons in {} households ({:.1} s)", sum.persons, sum.households, started.elapsed().as_secs_f64());
    let mut rates = Vec::new();
    for run in 1..=runs.max(1) {
        let url = huimin_store::scratch_database(server.as_deref(), dir.path(), &format!("huimin_bench_import_{run}")).await?;
        let store = Store::connect(&url).await?;
        import::import_regions(&store, &gen_dir.join("regions.csv")).await?;
        import::import_facilities(&store, &gen_dir.join("facilities.csv")).await?;
        let opts = RosterImport::new("bench", Date::from_ymd_opt(2024, 1, 1).expect("date"));
        let t = Instant::now();
        let report = import::import_roster(&store, &gen_dir.join("roster.csv"), &opts).await?;
        let secs = t.elapsed().as_secs_f64();
        if report.persons_accepted as u64 != sum.persons {
            bail!("imported {} of {} persons", report.persons_accepted, sum.persons);
        }
        let rate = sum.persons as f64 / secs;
        println!("run {run}: {} persons in {secs:.1} s = {rate:.0} persons/s", sum.persons);
        rates.push(rate);
        store.pool().close().await;
        huimin_store::drop_scratch(server.as_deref(), &url).await?;
    }
    rates.sort_by(f64::total_cmp);
    println!("median: {:.0} persons/s (roster import, CSV → {}, {} runs)", rates[rates.len() / 2], backend_name(&server), rates.len());
    Ok(())
}
