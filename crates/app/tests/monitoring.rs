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

both_backends! {
    a_settlement_that_crosses_a_rule_opens_one_warning_at_once(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let today = huimin_app::clock::today();
        let year = chrono::Datelike::year(&today);
        // The worked example's numbers, in force this year.
        let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/worked-example.toml")).unwrap()
            .replace("2024-01-01", &format!("{year}-01-01")).replace("2024-12-31", &format!("{year}-12-31"));
        settlement::load_policy(&db, "worked-example.toml", &policy, false, &audit("policy.load")).await.unwrap();
        let rules = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../warnings/county-2023.toml")).unwrap()
            .replace("2026-12-31", &format!("{}-12-31", year + 1));
        monitoring::load_rules(&db, "county-2023.toml", &rules, "ybj", &audit("load")).await.unwrap();
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
