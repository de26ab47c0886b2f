//! 防止因病返贫动态监测 on SQLite and PostgreSQL: a settlement whose household's compliant
//! out-of-pocket spending over the window crosses a rule opens a warning at once, with the reason
//! in its figures; one open warning per household; a household below every threshold gets none.

use huimin_app::monitoring;
use huimin_app::settlement::{self, PolicySet, SettleRequest};
use huimin_domain::*;
use huimin_policy::VisitType;
use huimin_store::{Economics, both_backends};

mod common;
use common::*;

fn stay(no: &str, person_id: i64, discharge: Date, cat_a_yuan: i64) -> SettleRequest {
    SettleRequest {
        claim_no: no.into(),
        person_id,
        facility_code: "H2".into(),
        visit: VisitType::Inpatient,
        admission: discharge - chrono::Duration::days(5),
        discharge,
        diseases: vec![],
        cat_a: Money::from_yuan(cat_a_yuan).unwrap(),
        cat_b: Money::from_yuan(cat_a_yuan / 4).unwrap(),
        out_of_catalogue: Money::ZERO,
        necessary: Money::ZERO,
    }
}

/// The worked example's numbers, in force from last year to the end of this one.
async fn load_this_years_policy(db: &huimin_store::Store) {
    let year = chrono::Datelike::year(&huimin_app::clock::today());
    let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/worked-example.toml")).unwrap()
        .replace("2024-01-01", &format!("{}-01-01", year - 1)).replace("2024-12-31", &format!("{year}-12-31"));
    settlement::load_policy(db, "worked-example.toml", &policy, false, &audit("policy.load")).await.unwrap();
}

/// The example warning rules, in force to the end of next year.
fn example_rules() -> String {
    let year = chrono::Datelike::year(&huimin_app::clock::today());
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../warnings/county-2023.toml")).unwrap().replace("2026-12-31", &format!("{}-12-31", year + 1))
}

both_backends! {
    a_settlement_that_crosses_a_rule_opens_one_warning_at_once(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let today = huimin_app::clock::today();
        load_this_years_policy(&db).await;
        monitoring::load_rules(&db, "county-2023.toml", &example_rules(), "ybj", &audit("load")).await.unwrap();
        let set = PolicySet::load(&db).await.unwrap();
        // H1 (two members) lives on 7,600 yuan a head, just above the 7,500 line; H3 is richer.
        let econ = |size, yuan: i64| Economics { as_of: today, size, per_capita_income: Some(Money::from_yuan(yuan).unwrap()), monitoring_category: Some(MonitoringCategory::Edge) };
        db.record_economics("H1", &econ(2, 7600), "cunyi", &audit("economics")).await.unwrap();
        db.record_economics("H3", &econ(1, 90000), "cunyi", &audit("economics")).await.unwrap();
        assert_eq!(db.economics_history("H1").await.unwrap().len(), 1);

        let day = today - chrono::Duration::days(10);
        settlement::settle_claim(&db, &set, &stay("M1", p[0], day, 400), "jsck", &audit("settle")).await.unwrap();
        assert!(db.warnings(RegionCode::parse("371302").unwrap(), true).await.unwrap().is_empty(), "a small bill: nothing fires");
        // A large stay of the spouse: what the household paid itself takes it below the line
        // (15,200 a year for two, 15,000 at the line).
        settlement::settle_claim(&db, &set, &stay("M2", p[1], day, 60000), "jsck", &audit("settle")).await.unwrap();
        let open = db.warnings(RegionCode::parse("371302").unwrap(), true).await.unwrap();
        assert_eq!(open.len(), 1, "{open:?}");
        let w = &open[0];
        assert_eq!((w.household_no.as_str(), w.opened_on, w.due_on), ("H1", today, today + chrono::Duration::days(15)));
        let oop = db.burden_of(&p[..2], &monitoring::window(today, 12).0, &monitoring::window(today, 12).1).await.unwrap().1;
        assert_eq!(w.out_of_pocket.fen(), oop, "the household's window, summed from its members");
        assert!(w.out_of_pocket.fen() > 20_000, "more than the 200 yuan above the line");
        assert!(w.reason.contains(&huimin_domain::format::yuan(w.out_of_pocket)) && w.reason.contains("低于监测标准 ¥7,500.00"), "{}", w.reason);
        assert_eq!((w.rule_id.as_str(), w.rule_name.as_str()), ("below-line", "扣除医疗支出后低于监测标准"));
        // Another settlement of the household: still one open warning.
        settlement::settle_claim(&db, &set, &stay("M3", p[0], day - chrono::Duration::days(30), 30000), "jsck", &audit("settle")).await.unwrap();
        assert_eq!(db.warnings(RegionCode::parse("371302").unwrap(), true).await.unwrap().len(), 1);
        // The rich household's large stay fires nothing but the spending rule's threshold.
        settlement::settle_claim(&db, &set, &stay("M4", p[3], day, 3000), "jsck", &audit("settle")).await.unwrap();
        assert_eq!(db.warnings(RegionCode::parse("371302").unwrap(), true).await.unwrap().len(), 1);
        // A batch checks its households too, in bulk: H2 (one member at 7,600) falls below the line.
        db.record_economics("H2", &econ(1, 7600), "cunyi", &audit("economics")).await.unwrap();
        let out = settlement::settle_batch(&db, &set, &[stay("M5", p[2], day, 60000), stay("M6", p[1], day - chrono::Duration::days(60), 100)], "jsck", &audit("batch")).await.unwrap();
        assert_eq!((out.settled, out.refused.len()), (2, 0), "{:?}", out.refused);
        let open = db.warnings(RegionCode::parse("371302").unwrap(), true).await.unwrap();
        assert_eq!(open.iter().map(|w| w.household_no.as_str()).collect::<Vec<_>>(), ["H1", "H2"], "H1 keeps its one open warning");
        // Outside the county's region nothing shows; the audit log names the household, no figures of health.
        assert!(db.warnings(RegionCode::parse("371311").unwrap(), true).await.unwrap().is_empty());
    }
}

/// The rules and the worked-example policy, in force today; economics near the line for H1 (two
/// members) and H2 (an edge household), none for H3.
async fn monitored_county(db: &huimin_store::Store, dir: &std::path::Path) -> (Vec<i64>, PolicySet) {
    let p = setup(db, dir).await;
    let today = huimin_app::clock::today();
    load_this_years_policy(db).await;
    monitoring::load_rules(db, "county-2023.toml", &example_rules(), "fpb", &audit("load")).await.unwrap();
    let econ = |size, yuan: i64, c| Economics { as_of: today, size, per_capita_income: Some(Money::from_yuan(yuan).unwrap()), monitoring_category: c };
    db.record_economics("H1", &econ(2, 7_600, None), "cunyi", &audit("economics")).await.unwrap();
    db.record_economics("H2", &econ(1, 9_000, Some(MonitoringCategory::Edge)), "cunyi", &audit("economics")).await.unwrap();
    (p, PolicySet::load(db).await.unwrap())
}

/// Which households the rules fire for, from the settled claims themselves (their bills'
/// compliant out-of-pocket parts over the window), not from `person_burden`.
async fn firing_from_claims(db: &huimin_store::Store, set: &PolicySet, persons: &[i64]) -> std::collections::BTreeMap<String, i64> {
    let today = huimin_app::clock::today();
    let (from, to) = monitoring::window(today, 12);
    let mut spent: std::collections::BTreeMap<&str, i64> = Default::default();
    for c in db.settled_claims(region("37"), d("2000-01-01"), d("2100-01-01")).await.unwrap() {
        let month = c.claim.discharge.format("%Y-%m").to_string();
        if month < from || month > to {
            continue;
        }
        let household = if c.person_id == persons[0] || c.person_id == persons[1] { "H1" } else if c.person_id == persons[2] { "H2" } else { "H3" };
        *spent.entry(household).or_default() += huimin_policy::compliant_out_of_pocket(&c.bill).fen();
    }
    let rules = set.warnings.in_force(region(V1), today).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for (no, members) in [("H1", 2), ("H2", 1), ("H3", 1)] {
        let e = db.economics(no).await.unwrap().map(|e| e.economics);
        let figures = huimin_policy::HouseholdFigures {
            category: e.as_ref().and_then(|e| e.monitoring_category),
            size: e.as_ref().map_or(members, |e| e.size),
            per_capita_income: e.as_ref().and_then(|e| e.per_capita_income),
            out_of_pocket: Money::from_fen(spent.get(no).copied().unwrap_or(0)).unwrap(),
        };
        if !rules.check(&figures).is_empty() {
            out.insert(no.to_string(), figures.out_of_pocket.fen());
        }
    }
    out
}

both_backends! {
    warnings_equal_a_recomputation_from_the_claims_after_any_settlements_and_reversals(db) {
        use rand::{Rng, SeedableRng};
        let dir = tempfile::tempdir().unwrap();
        let (p, set) = monitored_county(&db, dir.path()).await;
        let today = huimin_app::clock::today();
        let county = region("371302");
        let mut fired_steps = 0;
        for seed in 0..6u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut settled: Vec<String> = Vec::new();
            // Households a rule fired for at some step of this sequence, with the spending then.
            let mut fired: std::collections::BTreeMap<String, i64> = Default::default();
            for step in 0..30 {
                if !settled.is_empty() && rng.random_range(0..4) == 0 {
                    let no = settled.swap_remove(rng.random_range(0..settled.len()));
                    settlement::reverse_claim(&db, &no, "录入错误，冲销", "jsck", &audit("reverse")).await.unwrap();
                } else {
                    // Outpatient visits of the last 300 days (never overlapping): mostly small, some large.
                    let day = today - chrono::Duration::days(rng.random_range(0..300));
                    let big = rng.random_range(0..6) == 0;
                    let yuan = |hi: i64, rng: &mut rand_chacha::ChaCha8Rng| Money::from_fen(rng.random_range(0..hi * 100)).unwrap();
                    let req = SettleRequest {
                        claim_no: format!("P{seed}-{step}"),
                        person_id: p[rng.random_range(0..p.len())],
                        facility_code: "H2".into(),
                        visit: if rng.random_bool(0.5) { VisitType::OutpatientChronic } else { VisitType::OutpatientGeneral },
                        admission: day,
                        discharge: day,
                        diseases: vec!["I10".into()],
                        cat_a: yuan(if big { 80_000 } else { 3_000 }, &mut rng),
                        cat_b: yuan(if big { 20_000 } else { 500 }, &mut rng),
                        out_of_catalogue: yuan(500, &mut rng),
                        necessary: Money::ZERO,
                    };
                    let done = if rng.random_range(0..4) == 0 {
                        settlement::settle_batch(&db, &set, std::slice::from_ref(&req), "jsck", &audit("batch")).await.unwrap().settled == 1
                    } else {
                        settlement::settle_claim(&db, &set, &req, "jsck", &audit("settle")).await.is_ok()
                    };
                    if done {
                        settled.push(req.claim_no);
                    }
                }
                for (no, oop) in firing_from_claims(&db, &set, &p).await {
                    fired.entry(no).or_insert(oop);
                }
                // Opened at the step a rule first fired, never before, with the spending then.
                let open: std::collections::BTreeMap<String, i64> = db.warnings(county, true).await.unwrap().into_iter().map(|w| (w.household_no, w.out_of_pocket.fen())).collect();
                assert_eq!(open, fired, "seed {seed} step {step}");
            }
            fired_steps += fired.len();
            // The daily check finds nothing a settlement missed.
            let r = monitoring::daily_check(&db, &set.warnings, today, &audit("daily")).await.unwrap();
            assert_eq!(r.opened, 0, "seed {seed}");
            // The next sequence starts from nothing: every claim reversed, the warnings closed.
            for no in settled {
                settlement::reverse_claim(&db, &no, "重新测试，冲销", "jsck", &audit("reverse")).await.unwrap();
            }
            sqlx::query("UPDATE warnings SET closed_on = $1, stage = 'closed' WHERE closed_on IS NULL").bind(today.to_string()).execute(db.pool()).await.unwrap();
        }
        assert!(fired_steps >= 4, "the sequences crossed the rules: {fired_steps}");
    }

    the_daily_check_economics_and_leads_open_what_settlements_could_not(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let today = huimin_app::clock::today();
        load_this_years_policy(&db).await;
        // Claims settled before any rule was loaded: nothing is checked.
        let set = PolicySet::load(&db).await.unwrap();
        let day = today - chrono::Duration::days(20);
        settlement::settle_claim(&db, &set, &stay("D1", p[2], day, 90_000), "jsck", &audit("settle")).await.unwrap();
        settlement::settle_claim(&db, &set, &stay("D2", p[0], day, 5_000), "jsck", &audit("settle")).await.unwrap();
        assert!(db.warnings(region("371302"), false).await.unwrap().is_empty());
        // The programme leaves little to pay: a county's threshold of 600 yuan, for the test.
        let rules = example_rules().replace("amount = \"20000\"", "amount = \"600\"");
        monitoring::load_rules(&db, "county-2023.toml", &rules, "fpb", &audit("load")).await.unwrap();
        let set = PolicySet::load(&db).await.unwrap();
        // The daily check reads the burden of the window: H2's large stay fires the spending rule.
        let (from, to) = monitoring::window(today, 12);
        let h2_oop = db.burden_of(&p[2..3], &from, &to).await.unwrap().1;
        assert!(h2_oop > 60_000, "H2 paid over 600 yuan itself: {h2_oop}");
        assert!(db.burden_of(&p[0..2], &from, &to).await.unwrap().1 <= 60_000, "H1 did not");
        let r = monitoring::daily_check(&db, &set.warnings, today, &audit("daily")).await.unwrap();
        assert_eq!((r.checked, r.opened), (2, 1), "two households paid anything; one crosses a rule");
        let open = db.warnings(region("371302"), true).await.unwrap();
        assert_eq!((open[0].household_no.as_str(), open[0].lead, open[0].rule_id.as_str()), ("H2", LeadSource::Rule, "high-spending"));
        assert_eq!(monitoring::daily_check(&db, &set.warnings, today, &audit("daily")).await.unwrap().opened, 0, "one open warning a household");
        // A window that has moved past the claims sees no spending.
        let later = today + chrono::Duration::days(400);
        assert_eq!(monitoring::daily_check(&db, &set.warnings, later, &audit("daily")).await.unwrap().checked, 0);

        // H1's income recorded at the line: its spending now takes it below, found at once.
        let econ = Economics { as_of: today, size: 2, per_capita_income: Some(Money::from_yuan(7_500).unwrap()), monitoring_category: Some(MonitoringCategory::Unstable) };
        let opened = monitoring::record_economics(&db, &set.warnings, "H1", &econ, "村医", today, &audit("economics")).await.unwrap();
        let w = db.warning(opened.expect("a warning at once")).await.unwrap().unwrap();
        assert_eq!((w.household_no.as_str(), w.rule_id.as_str()), ("H1", "below-line"), "{}", w.reason);

        // A lead no rule found: H3's own report, by the village doctor.
        let lead_audit = audit("lead");
        let user = |role: Role| huimin_store::User {
            id: 1,
            username: "u".into(),
            display_name: "王五".into(),
            role,
            region: region("371302"),
            facility_code: None,
            active: true,
            failed_attempts: 0,
            locked_until: None,
            must_change_password: false,
        };
        let (dbr, rules, la) = (&db, &set.warnings, &lead_audit);
        let lead = move |source, role| {
            let u = user(role);
            async move { monitoring::report_lead(dbr, rules, "H3", source, "户主电话申报：住院花费较大", &u, today, la).await }
        };
        let refused = |r: Result<i64, monitoring::MonitoringError>| match r { Err(monitoring::MonitoringError::Invalid(m)) => m, other => panic!("{other:?}") };
        assert!(refused(lead(LeadSource::Rule, Role::PovertyOffice).await).contains("自动发现"));
        assert!(refused(lead(LeadSource::Department, Role::VillageDoctor).await).contains("应由"), "a department's screening is not the village's to report");
        assert!(refused(monitoring::report_lead(&db, &set.warnings, "H3", LeadSource::SelfReport, "无", &user(Role::VillageDoctor), today, &audit("lead")).await).contains("至少 4 个字"));
        let id = lead(LeadSource::SelfReport, Role::VillageDoctor).await.unwrap();
        let w = db.warning(id).await.unwrap().unwrap();
        assert_eq!((w.lead, w.rule_name.as_str(), w.opened_on, w.due_on), (LeadSource::SelfReport, "农户自主申报", today, today + chrono::Duration::days(15)));
        assert_eq!((w.reason.as_str(), w.source.as_str()), ("户主电话申报：住院花费较大", "村医王五登记"));
        assert!(refused(lead(LeadSource::CadreVisit, Role::TownshipStaff).await).contains("正在办理"), "one recognition under way a household");
        assert!(matches!(monitoring::report_lead(&db, &set.warnings, "NOPE", LeadSource::SelfReport, "户主电话申报", &user(Role::VillageDoctor), today, &audit("lead")).await,
            Err(monitoring::MonitoringError::Store(huimin_store::StoreError::NotFound(_)))));

        // The figures: three open, none decided; a household's recognition carried to approval
        // on time and its risk eliminated; another decided late.
        let cells = db.warning_cells(region("371302"), 9, today).await.unwrap();
        let total = cells.iter().fold(huimin_store::WarningCell::default(), |mut a, c| { a.add(c); a });
        assert_eq!((total.opened, total.pending, total.decided, total.late), (3, 3, 0, 0));
        let sql_steps = |id: i64, decided: Date, eliminated: bool| {
            let db = db.clone();
            async move {
                sqlx::query("UPDATE warnings SET stage = $1, decided_on = $2, closed_on = $3 WHERE id = $4")
                    .bind(if eliminated { "closed" } else { "approved" }).bind(decided.to_string()).bind(eliminated.then(|| decided.to_string())).bind(id)
                    .execute(db.pool()).await.unwrap();
                sqlx::query("INSERT INTO warning_steps (warning_id, step, outcome, note, taken_on, taken_by, role, recorded_at, county_code) VALUES ($1, 'county_approval', 'agreed', '同意纳入监测', $2, '扶贫办', 'poverty_office', '', (SELECT county_code FROM warnings WHERE id = $1))")
                    .bind(id).bind(decided.to_string()).execute(db.pool()).await.unwrap();
                if eliminated {
                    sqlx::query("INSERT INTO warning_steps (warning_id, step, outcome, note, taken_on, taken_by, role, recorded_at, county_code) VALUES ($1, 'assess', 'eliminated', '收入稳定高于监测标准', $2, '扶贫办', 'poverty_office', '', (SELECT county_code FROM warnings WHERE id = $1))")
                        .bind(id).bind(decided.to_string()).execute(db.pool()).await.unwrap();
                }
            }
        };
        let all = db.warnings(region("371302"), true).await.unwrap();
        let h3 = all.iter().find(|w| w.household_no == "H3").unwrap();
        let h1 = all.iter().find(|w| w.household_no == "H1").unwrap();
        sql_steps(h3.id, h3.due_on, true).await;
        sql_steps(h1.id, h1.due_on + chrono::Duration::days(1), false).await;
        let late_day = today + chrono::Duration::days(16);
        let cells = db.warning_cells(region("371302"), 9, late_day).await.unwrap();
        let total = cells.iter().fold(huimin_store::WarningCell::default(), |mut a, c| { a.add(c); a });
        assert_eq!((total.opened, total.pending, total.late, total.decided, total.decided_in_time, total.recognised, total.eliminated), (3, 1, 1, 2, 1, 2, 1), "{total:?}");
        assert_eq!(cells.iter().map(|c| c.child.as_str()).collect::<Vec<_>>(), ["371302001", "371302002"], "by township");
        assert_eq!(cells.iter().find(|c| c.child == "371302002").unwrap().eliminated, 1, "H3 lives in the second township");
        // Monitored households by category, and the burden by band (H3 paid over 20,000 yuan).
        let monitored = db.monitored_cells(region("371302"), 6).await.unwrap();
        assert_eq!(monitored.iter().map(|c| (c.category, c.households, c.persons)).collect::<Vec<_>>(), [(MonitoringCategory::Unstable, 1, 2)]);
        let (from, to) = monitoring::window(today, 12);
        let bands = db.burden_bands(region("371302"), &from, &to).await.unwrap();
        assert_eq!(bands.iter().sum::<i64>(), 2);
        let band_of = |fen: i64| huimin_store::BURDEN_BANDS.iter().position(|y| fen <= y * 100).unwrap_or(5);
        let mut expected = [0i64; 6];
        for members in [&p[0..2], &p[2..3]] {
            expected[band_of(db.burden_of(members, &from, &to).await.unwrap().1)] += 1;
        }
        assert_eq!(bands, expected);
    }

    a_simulation_counts_what_each_rule_would_flag_by_region(db) {
        let dir = tempfile::tempdir().unwrap();
        let (p, set) = monitored_county(&db, dir.path()).await;
        let today = huimin_app::clock::today();
        let day = today - chrono::Duration::days(30);
        // Settled with no rules in the set: the simulation alone looks at them.
        let mut quiet = set.clone();
        quiet.warnings = Default::default();
        for (no, person, yuan) in [("S1", p[0], 60_000), ("S2", p[2], 9_000), ("S3", p[3], 200)] {
            settlement::settle_claim(&db, &quiet, &stay(no, person, day, yuan), "jsck", &audit("settle")).await.unwrap();
        }
        assert!(db.warnings(region("371302"), false).await.unwrap().is_empty());
        let draft = example_rules();
        let rules = huimin_policy::parse_warning_rules("draft.toml", &draft).unwrap();
        let sim = monitoring::simulate(&db, &rules, region("371302"), today).await.unwrap();
        assert_eq!(sim.checked, 3);
        assert_eq!(sim.rules.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["high-spending", "share-of-income", "below-line"]);
        // The same households as a recomputation from the claims says.
        let expected = firing_from_claims(&db, &set, &p).await;
        assert_eq!(sim.total.any as usize, expected.len(), "{sim:?} {expected:?}");
        assert_eq!(sim.rows.iter().map(|r| r.region.as_str()).collect::<Vec<_>>(), ["371302001", "371302002"]);
        assert_eq!(sim.rows.iter().map(|r| r.checked).sum::<i64>(), 3);
        // Lower thresholds flag more; nothing was stored.
        let lower = huimin_policy::parse_warning_rules("draft.toml", &draft.replace("amount = \"20000\"", "amount = \"100\"")).unwrap();
        let more = monitoring::simulate(&db, &lower, region("371302"), today).await.unwrap();
        assert!(more.total.by_rule[0] > sim.total.by_rule[0], "{more:?}");
        assert!(db.warnings(region("371302"), false).await.unwrap().is_empty(), "a simulation writes nothing");
        // A window a year earlier holds none of these claims; a region outside the rules' is refused.
        assert_eq!(monitoring::simulate(&db, &rules, region("371302"), today - chrono::Duration::days(400)).await.unwrap().checked, 0);
        assert!(matches!(monitoring::simulate(&db, &rules, region("371311"), today).await, Err(monitoring::MonitoringError::Invalid(_))));
    }
}
