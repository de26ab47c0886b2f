//! Bulk exchange on SQLite and PostgreSQL: a region's registry, health files, contracts,
//! follow-ups and bills exported, imported into an empty installation and exported again come
//! out the same, in CSV and in XLSX.

use huimin_app::exchange::{self, Kind};
use huimin_app::import::{self, RosterImport};
use huimin_app::settlement::{self, PolicySet, SettleRequest};
use huimin_domain::*;
use huimin_policy::VisitType;
use huimin_store::{Backend, NewFollowUp, Store, both_backends, testing};

mod common;
use common::*;

fn stay(no: &str, person_id: i64, admission: &str, cat_a: i64, diseases: &[&str]) -> SettleRequest {
    let m = |y: i64| Money::from_yuan(y).unwrap();
    SettleRequest {
        claim_no: no.into(), person_id, facility_code: "H2".into(), visit: VisitType::Inpatient,
        admission: d(admission), discharge: d(admission) + chrono::Duration::days(6), diseases: diseases.iter().map(|s| s.to_string()).collect(),
        cat_a: m(cat_a), cat_b: m(cat_a / 5), out_of_catalogue: m(cat_a / 10), necessary: m(cat_a / 40),
    }
}

const POLICY: &str = include_str!("../../../policies/worked-example.toml");

/// Every kind of record: cards (one confidential, one with a plan), claims of one person before
/// and after a reversal, contracts (one a renewal) and follow-ups with readings.
async fn fill(db: &Store, p: &[i64]) {
    let catalog = huimin_app::health::catalog(db).await.unwrap();
    let today = huimin_app::clock::today();
    for (person, code, plan) in [(p[0], "I10", "规律服药，每月随访"), (p[0], "E11.9", ""), (p[3], "F20.0", "")] {
        let input = huimin_app::health::CardInput { code: code.into(), name: String::new(), diagnosed_on: "2019-05-01".into(), diagnosed_at: "县医院".into(), prognosis: String::new(), plan: plan.into() };
        huimin_app::health::record_card(db, catalog.base(), person, &input, "cunyi", today, &audit("health.card")).await.unwrap();
    }
    // A household's economics travel with the roster (as of the import's date on the other side).
    db.record_economics("H1", &economics_of_h1(), "cunyi", &audit("household.economics")).await.unwrap();
    settlement::load_policy(db, "worked-example.toml", POLICY, false, &audit("policy.load")).await.unwrap();
    let set = PolicySet::load(db).await.unwrap();
    for s in [stay("E1", p[0], "2024-02-01", 90000, &["I63.9"]), stay("E2", p[0], "2024-04-01", 30000, &[]), stay("E3", p[1], "2024-05-01", 8000, &["I10", "E11.9"])] {
        settlement::settle_claim(db, &set, &s, "jsck", &audit("settle")).await.unwrap();
    }
    settlement::reverse_claim(db, "E1", "重复结算", "jsck", &audit("reverse")).await.unwrap();
    // Settled after the reversal: its bill depends on the reversal coming first.
    settlement::settle_claim(db, &set, &stay("E4", p[0], "2024-06-01", 50000, &[]), "jsck", &audit("settle")).await.unwrap();

    let team = db.create_team("一镇家庭医生团队", "H2", region("371302001"), &audit("team")).await.unwrap();
    huimin_app::contracts::sign(db, &[p[0], p[1]], team, &[Service::ALL[0], Service::ALL[3]], "李医生", d("2023-01-01"), &audit("sign")).await.unwrap();
    huimin_app::contracts::renew(db, region("371302"), 2023, "李医生", &audit("renew")).await.unwrap();
    let contract = db.contract_of(p[0], 2024).await.unwrap().unwrap().0;
    for (key, on, sys) in [("k1", "2024-01-20", "148"), ("k2", "2024-04-11", "128")] {
        let readings = FollowUpReadings::parse(sys, "88", "6.8", "72", "61.5").unwrap();
        let f = NewFollowUp {
            submission_key: key.into(), person_id: p[0], contract_id: contract, followed_on: d(on), mode: FollowUpMode::Home, readings,
            adherence: Adherence::Regular, guidance: "低盐饮食".into(), next_on: Some(d(on) + chrono::Duration::days(30)),
        };
        db.record_follow_up(&f, &readings.abnormal(), &audit("followup")).await.unwrap();
    }
}

fn economics_of_h1() -> huimin_store::Economics {
    huimin_store::Economics { as_of: d("2024-01-01"), size: 2, per_capita_income: Some(Money::from_yuan(7600).unwrap()), monitoring_category: Some(MonitoringCategory::Edge) }
}

/// What the command line on the server exports: everything.
async fn whole(db: &Store) -> huimin_domain::Viewer {
    huimin_domain::Viewer::whole_database(region("37"), std::sync::Arc::new(huimin_app::health::catalog(db).await.unwrap()))
}

/// The sheets of one store, by kind.
async fn sheets(db: &Store) -> Vec<(Kind, exchange::Sheet)> {
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let mut sheet = exchange::export(db, &whole(db).await, kind, region("37"), 2024).await.unwrap();
        if kind == Kind::Claims {
            // The times are this installation's: when each claim was settled or reversed here.
            for row in &mut sheet.rows {
                row[13].clear();
                row[14].clear();
            }
        }
        out.push((kind, sheet));
    }
    out
}

both_backends! {
    a_region_exported_and_imported_again_comes_out_the_same(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        fill(&db, &p).await;
        let before = sheets(&db).await;
        let rows = |k: Kind| before.iter().find(|(x, _)| *x == k).unwrap().1.rows.len();
        assert_eq!((rows(Kind::Roster), rows(Kind::Diseases), rows(Kind::Contracts), rows(Kind::FollowUps), rows(Kind::Claims)), (4, 3, 2, 2, 4));

        // Half the files as CSV, half as XLSX.
        let mut files = Vec::new();
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            let file = dir.path().join(format!("{}.{}", kind.code(), if i % 2 == 0 { "csv" } else { "xlsx" }));
            exchange::write(&exchange::export(&db, &whole(&db).await, kind, region("37"), 2024).await.unwrap(), &file, Default::default()).unwrap();
            files.push(file);
        }

        let target = match db.backend() {
            Backend::Sqlite => testing::sqlite().await,
            Backend::Postgres => testing::postgres().await.unwrap(),
        };
        import::import_regions(&target, &files[0]).await.unwrap();
        import::import_facilities(&target, &files[1]).await.unwrap();
        let roster = import::import_roster(&target, &files[2], &RosterImport::new("exchange", d("2024-01-01"))).await.unwrap();
        assert!(roster.errors.is_empty(), "{:?}", roster.errors);
        let catalog = huimin_app::health::catalog(&target).await.unwrap();
        let today = huimin_app::clock::today();
        let cards = huimin_app::health::import_diseases(&target, &catalog, &files[3], "exchange", today, &audit("health.import")).await.unwrap();
        assert!(cards.errors.is_empty(), "{:?}", cards.errors);
        settlement::load_policy(&target, "worked-example.toml", POLICY, false, &audit("policy.load")).await.unwrap();
        // A renewal links to the year before when that year is imported first.
        let contracts_2023 = dir.path().join("contracts-2023.csv");
        exchange::write(&exchange::export(&db, &whole(&db).await, Kind::Contracts, region("37"), 2023).await.unwrap(), &contracts_2023, Default::default()).unwrap();
        assert_eq!(exchange::import_contracts(&target, &contracts_2023, &audit("contract.import")).await.unwrap().applied, 2);
        let contracts = exchange::import_contracts(&target, &files[4], &audit("contract.import")).await.unwrap();
        assert_eq!((contracts.applied, contracts.errors.len()), (2, 0), "{:?}", contracts.errors);
        let follow_ups = exchange::import_follow_ups(&target, &files[5], &audit("followup.import")).await.unwrap();
        assert_eq!((follow_ups.applied, follow_ups.errors.len()), (2, 0), "{:?}", follow_ups.errors);
        let claims = exchange::import_claims(&target, &files[6], "exchange", &audit("settlement.import")).await.unwrap();
        assert!(claims.errors.is_empty(), "the bills come out the same: {:?}", claims.errors);

        assert_eq!(target.economics("H1").await.unwrap().map(|e| e.economics), Some(economics_of_h1()), "the roster carried H1's economics");
        let after = sheets(&target).await;
        for ((kind, a), (_, b)) in before.iter().zip(&after) {
            assert_eq!(a, b, "{} differs after the round trip", kind.code());
        }
        assert_eq!(exchange::export(&db, &whole(&db).await, Kind::Contracts, region("37"), 2023).await.unwrap(), exchange::export(&target, &whole(&target).await, Kind::Contracts, region("37"), 2023).await.unwrap());
        // Importing the same files again adds nothing.
        assert_eq!(exchange::import_follow_ups(&target, &files[5], &audit("followup.import")).await.unwrap().applied, 0);
        assert_eq!(exchange::import_contracts(&target, &files[4], &audit("contract.import")).await.unwrap().applied, 0);
        let again = exchange::import_claims(&target, &files[6], "exchange", &audit("settlement.import")).await.unwrap();
        assert_eq!(again.applied, 0);
        assert!(again.errors.iter().all(|e| e.reason.contains("已") ), "every claim number is taken: {:?}", again.errors);
    }

    a_county_export_carries_the_facilities_outside_it_that_its_claims_name(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        fill(&db, &p).await;
        // A stay at the city hospital, outside the county.
        let facilities = dir.path().join("city.csv");
        std::fs::write(&facilities, "机构编码,机构名称,机构等级,机构类型,行政区划代码,是否定点医院\nH371301,临沂市人民医院,3,市级医院,3713,是\n").unwrap();
        import::import_facilities(&db, &facilities).await.unwrap();
        let set = PolicySet::load(&db).await.unwrap();
        let mut city = stay("C1", p[1], "2024-08-01", 20000, &[]);
        city.facility_code = "H371301".into();
        settlement::settle_claim(&db, &set, &city, "jsck", &audit("settle")).await.unwrap();

        let county = region("371302");
        let export = |kind| {
            let db = &db;
            async move { exchange::export(db, &whole(db).await, kind, county, 2024).await.unwrap() }
        };
        let mut files = Vec::new();
        for kind in Kind::ALL {
            let file = dir.path().join(format!("county-{}.csv", kind.code()));
            exchange::write(&export(kind).await, &file, Default::default()).unwrap();
            files.push(file);
        }
        assert!(export(Kind::Facilities).await.rows.iter().any(|r| r[0] == "H371301"), "the city hospital is in the county's facilities");
        assert!(export(Kind::Regions).await.rows.iter().any(|r| r[0] == "3713"), "and its region");

        let target = match db.backend() {
            Backend::Sqlite => testing::sqlite().await,
            Backend::Postgres => testing::postgres().await.unwrap(),
        };
        import::import_regions(&target, &files[0]).await.unwrap();
        let f = import::import_facilities(&target, &files[1]).await.unwrap();
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        let roster = import::import_roster(&target, &files[2], &RosterImport::new("exchange", d("2024-01-01"))).await.unwrap();
        assert!(roster.errors.is_empty(), "{:?}", roster.errors);
        settlement::load_policy(&target, "worked-example.toml", POLICY, false, &audit("policy.load")).await.unwrap();
        let claims = exchange::import_claims(&target, &files[6], "exchange", &audit("settlement.import")).await.unwrap();
        assert!(claims.errors.is_empty(), "nothing is lost: {:?}", claims.errors);
        assert_eq!(claims.applied, export(Kind::Claims).await.rows.len(), "every claim of the county, the city hospital's too");
        assert!(target.claim("C1").await.unwrap().is_some());
    }

    bad_rows_are_reported_with_row_column_and_reason(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        fill(&db, &p).await;
        let file = dir.path().join("followups.csv");
        let good = exchange::export(&db, &whole(&db).await, Kind::FollowUps, region("37"), 2024).await.unwrap();
        let mut sheet = exchange::Sheet { headers: good.headers.clone(), rows: vec![good.rows[0].clone(), good.rows[0].clone(), good.rows[0].clone()] };
        sheet.rows[0][0] = "new-1".into();
        sheet.rows[1][0] = "new-2".into();
        sheet.rows[1][3] = "2024-13-01".into();
        sheet.rows[2][0] = "new-3".into();
        sheet.rows[2][1] = "110101199003071234".into();
        exchange::write(&sheet, &file, Default::default()).unwrap();
        let report = exchange::import_follow_ups(&db, &file, &audit("followup.import")).await.unwrap();
        assert_eq!(report.applied, 1);
        let errs: Vec<(u64, &str)> = report.errors.iter().map(|e| (e.row, e.column.as_str())).collect();
        assert_eq!(errs, [(3, "随访日期"), (4, "证件号码")]);
        let claims = dir.path().join("claims.csv");
        std::fs::write(&claims, "结算单号,证件号码,机构编码,就诊类型,入院日期,出院日期,甲类及政策范围内费用,乙类费用,目录外费用,其中目录外必需费用\nX1,,H2,住院,2024-01-01,2024-01-02,1,0,0,0\n").unwrap();
        let r = exchange::import_claims(&db, &claims, "x", &audit("settlement.import")).await.unwrap();
        assert_eq!((r.applied, r.errors[0].row, r.errors[0].column.as_str()), (0, 2, "证件号码"));
        let missing = dir.path().join("contracts.csv");
        std::fs::write(&missing, "证件号码,签约年度\n1,2024\n").unwrap();
        let e = exchange::import_contracts(&db, &missing, &audit("contract.import")).await.unwrap_err();
        assert!(e.to_string().contains("缺少必需的列"), "{e}");
    }
}
