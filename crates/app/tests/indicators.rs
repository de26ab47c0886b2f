//! Indicators, reconciliation and reports, on SQLite and PostgreSQL: the sums agree with the
//! stored bills to the fen, before and after a reversal.

use calamine::{DataType, Reader, open_workbook_auto};
use huimin_app::indicators;
use huimin_app::settlement::{self, PolicySet, SettleRequest};
use huimin_domain::*;
use huimin_policy::{Fund, VisitType};
use huimin_store::both_backends;

mod common;
use common::*;

fn stay(no: &str, person_id: i64, admission: &str, a: [i64; 4]) -> SettleRequest {
    let m = |y: i64| Money::from_yuan(y).unwrap();
    SettleRequest {
        claim_no: no.into(), person_id, facility_code: "H2".into(), visit: VisitType::Inpatient,
        admission: d(admission), discharge: d(admission) + chrono::Duration::days(4), diseases: vec![],
        cat_a: m(a[0]), cat_b: m(a[1]), out_of_catalogue: m(a[2]), necessary: m(a[3]),
    }
}

/// The sums recomputed from the stored bills, claim by claim.
async fn recomputed(db: &huimin_store::Store, region: RegionCode, period: Period) -> huimin_store::ClaimSums {
    let mut s = huimin_store::ClaimSums::default();
    let mut persons = std::collections::HashSet::new();
    for c in db.settled_claims(region, period.from, period.to).await.unwrap() {
        s.claims += 1;
        persons.insert(c.person_id);
        s.total += c.bill.total.fen();
        s.in_policy += c.bill.buckets[0].fen();
        s.funds_total += c.bill.funds_total.fen();
        s.patient_total += c.bill.patient_total.fen();
        s.over_ceiling += i64::from(c.bill.patient_total.fen() * 10 > c.bill.total.fen());
        for l in &c.bill.lines {
            s.funds[Fund::ALL.iter().position(|f| *f == l.fund).unwrap()] += l.total.fen();
        }
    }
    s.persons = persons.len() as i64;
    s
}

both_backends! {
    sums_and_reconciliation_agree_with_the_bills(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/worked-example.toml")).unwrap();
        settlement::load_policy(&db, "worked-example.toml", &policy, false, &audit("policy.load")).await.unwrap();
        let set = PolicySet::load(&db).await.unwrap();
        let stays = [
            stay("R1", p[0], "2024-03-01", [20000, 8000, 2000, 1000]),
            stay("R2", p[0], "2024-06-01", [90000, 20000, 10000, 6000]),
            stay("R3", p[1], "2024-06-10", [3000, 500, 800, 0]),
            stay("R4", p[3], "2024-07-01", [12000, 3000, 0, 0]),
            stay("R5", p[2], "2024-09-01", [500, 0, 0, 0]),
        ];
        for s in &stays {
            settlement::settle_claim(&db, &set, s, "jsck", &audit("settle")).await.unwrap();
        }
        let county = region("371302");
        let year = Period::parse("2024").unwrap();
        let sums = db.claim_sums(county, year, None).await.unwrap();
        assert_eq!(sums, recomputed(&db, county, year).await);
        assert_eq!((sums.claims, sums.persons), (5, 4));
        assert_eq!(sums.funds_total + sums.patient_total, sums.total, "every fen is paid by a fund or the patient");
        assert_eq!(sums.funds.iter().sum::<i64>(), sums.funds_total);

        // By month and by township: the parts add up to the whole.
        let by_month = db.claim_sums_by(county, year, huimin_store::SumsBy::Month).await.unwrap();
        assert_eq!(by_month.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>(), ["2024-03", "2024-06", "2024-07", "2024-09"]);
        assert_eq!(by_month.iter().map(|(_, s)| s.total).sum::<i64>(), sums.total);
        let by_region = db.claim_sums_by(county, year, huimin_store::SumsBy::Region(9)).await.unwrap();
        assert_eq!(by_region.iter().map(|(k, s)| (k.as_str(), s.claims)).collect::<Vec<_>>(), [("371302001", 4), ("371302002", 1)]);
        assert_eq!(db.claim_sums(region("371302002"), year, None).await.unwrap(), recomputed(&db, region("371302002"), year).await);
        assert_eq!(db.claim_sums(county, Period::parse("2024-06").unwrap(), None).await.unwrap().claims, 2);

        // A reversal leaves the sums; they still agree with a recomputation.
        settlement::reverse_claim(&db, "R2", "重复录入", "jsck", &audit("reverse")).await.unwrap();
        let after = db.claim_sums(county, year, None).await.unwrap();
        assert_eq!(after, recomputed(&db, county, year).await);
        assert_eq!(after.claims, 4);

        // Reconciliation: for each fund, the hospital's amount is the sum of that fund's lines on the settled bills.
        let month = db.claim("R1").await.unwrap().unwrap().settled_at[..7].to_string();
        for fund in Fund::ALL {
            let owed = db.fund_owed(fund, county, &month).await.unwrap();
            let expected: i64 = recomputed(&db, county, year).await.fund(fund);
            assert_eq!(owed.iter().map(|o| o.amount).sum::<i64>(), expected, "{fund:?}");
            for o in &owed {
                let lines = db.fund_claims(fund, county, &month, &o.facility_code).await.unwrap();
                assert_eq!(lines.iter().map(|l| l.fund_amount).sum::<i64>(), o.amount);
                assert_eq!(lines.len() as i64, o.claims);
                assert!(lines.iter().all(|l| l.claim_no != "R2"), "a reversed claim is owed nothing");
            }
        }

        // Claims above the 10% ceiling, highest share first.
        let over = db.claims_over_ceiling(county, year, 100).await.unwrap();
        assert_eq!(over.len() as i64, after.over_ceiling);
        assert!(over.windows(2).all(|w| w[0].patient_total * w[1].total >= w[1].patient_total * w[0].total));

        // The workbooks open and carry the same figures.
        let file = dir.path().join("reconciliation.xlsx");
        indicators::write_reconciliation(&db, county, &month, &file).await.unwrap();
        let mut book = open_workbook_auto(&file).unwrap();
        let summary = book.worksheet_range("对账汇总").unwrap();
        let total: f64 = summary.rows().skip(3).filter_map(|r| r.get(5).and_then(|c| c.get_float())).sum();
        assert_eq!((total * 100.0).round() as i64, after.funds_total);
        let file = dir.path().join("claims.xlsx");
        indicators::write_claims_report(&db, county, year, 9, &file).await.unwrap();
        let sheet = open_workbook_auto(&file).unwrap().worksheet_range("结算情况").unwrap();
        let last = sheet.rows().last().unwrap();
        assert_eq!(last[0].to_string(), "合计");
        assert_eq!(last[1].get_float(), Some(4.0));
        assert_eq!((last[2].get_float().unwrap() * 100.0).round() as i64, after.total);
    }

    dashboard_figures_and_targets(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/worked-example.toml")).unwrap();
        settlement::load_policy(&db, "worked-example.toml", &policy, false, &audit("policy.load")).await.unwrap();
        let set = PolicySet::load(&db).await.unwrap();
        settlement::settle_claim(&db, &set, &stay("T1", p[0], "2024-03-01", [20000, 8000, 2000, 1000]), "jsck", &audit("settle")).await.unwrap();
        let catalog = huimin_app::health::catalog(&db).await.unwrap();
        let county = region("371302");
        let ind = indicators::compute(&db, &catalog, county, Period::parse("2024").unwrap(), d("2024-12-31")).await.unwrap();
        assert_eq!((ind.registry.households, ind.registry.persons, ind.inpatient.claims), (3, 4, 1));
        assert_eq!(ind.contracts, (4, 0));
        // The worked example's first stay: 1,440.50 of 30,000 yuan = 4.80% self-pay, within 10%.
        let checks = indicators::checks(&ind, &db.targets().await.unwrap());
        let self_pay = checks.iter().find(|c| c.indicator == "self_pay_ratio").unwrap();
        assert_eq!((indicators::percent(self_pay.value_ppm).as_str(), self_pay.met), ("4.80%", true));
        let contract = checks.iter().find(|c| c.indicator == "contract_rate").unwrap();
        assert!(!contract.met, "nobody signed: the contract rate misses its target");
        // A county's own target replaces the default.
        db.set_target(&huimin_store::Target { region: county, indicator: "self_pay_ratio".into(), value_ppm: 40_000, at_most: true, source: "县考核办法".into() }, &audit("target.set")).await.unwrap();
        let checks = indicators::checks(&ind, &db.targets().await.unwrap());
        assert!(!checks.iter().find(|c| c.indicator == "self_pay_ratio").unwrap().met, "4.80% is above a 4% target");
    }
}
