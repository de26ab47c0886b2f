//! Indicators, reconciliation and reports, on SQLite and PostgreSQL: the sums agree with the
//! stored bills to the fen, and the claim rollup with a recomputation from the claims, after
//! single settlements, a batch and a reversal.

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
    for c in db.settled_claims(region, period.from, period.to).await.unwrap() {
        s.claims += 1;
        s.total += c.bill.total.fen();
        s.in_policy += c.bill.buckets[0].fen();
        s.funds_total += c.bill.funds_total.fen();
        s.patient_total += c.bill.patient_total.fen();
        s.over_ceiling += i64::from(c.bill.patient_total.fen() * 10 > c.bill.total.fen());
        for l in &c.bill.lines {
            s.funds[Fund::ALL.iter().position(|f| *f == l.fund).unwrap()] += l.total.fen();
        }
    }
    s
}

/// The sums of a region and period as the dashboard reads them (from the rollup for whole
/// months), after checking the rollup against a recomputation from the claims, cell by cell.
async fn sums(db: &huimin_store::Store, region: RegionCode, period: Period) -> huimin_store::ClaimSums {
    let width = region.prefix().len() + 3;
    let cells = db.claim_cells(region, period, width).await.unwrap();
    assert_eq!(cells, db.claim_cells_from_claims(region, period, width).await.unwrap(), "the rollup equals a recomputation");
    // The county rollup too, as the province reads it by city and by county.
    let province = RegionCode::parse("37").unwrap();
    for w in [2, 4, 6] {
        assert_eq!(db.claim_cells(province, period, w).await.unwrap(), db.claim_cells_from_claims(province, period, w).await.unwrap(), "the county rollup at width {w}");
    }
    let mut s = huimin_store::ClaimSums::default();
    for c in &cells {
        s.add(&c.sums);
    }
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
        let all = sums(&db, county, year).await;
        assert_eq!(all, recomputed(&db, county, year).await);
        assert_eq!(all.claims, 5);
        assert_eq!(all.funds_total + all.patient_total, all.total, "every fen is paid by a fund or the patient");
        assert_eq!(all.funds.iter().sum::<i64>(), all.funds_total);

        // By month and by township, from the rollup: the parts add up to the whole.
        let cells = db.claim_cells(county, year, 9).await.unwrap();
        let mut months: Vec<&str> = cells.iter().map(|c| c.month.as_str()).collect();
        months.sort();
        months.dedup();
        assert_eq!(months, ["2024-03", "2024-06", "2024-07", "2024-09"]);
        assert_eq!(cells.iter().map(|c| c.sums.total).sum::<i64>(), all.total);
        let claims_in = |child: &str| cells.iter().filter(|c| c.child == child).map(|c| c.sums.claims).sum::<i64>();
        assert_eq!((claims_in("371302001"), claims_in("371302002")), (4, 1));
        assert_eq!(sums(&db, region("371302002"), year).await, recomputed(&db, region("371302002"), year).await);
        assert_eq!(sums(&db, county, Period::parse("2024-06").unwrap()).await.claims, 2);
        // A span of days that is not whole months is summed from the claims themselves.
        let span = Period::parse("2024-06-05..2024-07-31").unwrap();
        assert_eq!(sums(&db, county, span).await, recomputed(&db, county, span).await);
        assert_eq!(sums(&db, county, span).await.claims, 3, "R2 (out on 06-05), R3 and R4");

        // A batch goes into the rollup once, summed in memory.
        let batch = [stay("B1", p[1], "2024-06-20", [4000, 0, 0, 0]), stay("B2", p[2], "2024-11-02", [60000, 9000, 5000, 0]), stay("R1", p[2], "2024-11-03", [1, 0, 0, 0])];
        let out = settlement::settle_batch(&db, &set, &batch, "jsck", &audit("batch")).await.unwrap();
        assert_eq!((out.settled, out.refused.len()), (2, 1), "R1 is already settled");
        assert_eq!(sums(&db, county, year).await, recomputed(&db, county, year).await);
        assert_eq!(db.claim_persons(county, year, 6, "inpatient").await.unwrap(), [("371302".to_string(), 4)]);

        // A reversal takes its claim out of the rollup; it still agrees with a recomputation.
        settlement::reverse_claim(&db, "R2", "重复录入", "jsck", &audit("reverse")).await.unwrap();
        settlement::reverse_claim(&db, "B1", "重复录入", "jsck", &audit("reverse")).await.unwrap();
        let after = sums(&db, county, year).await;
        assert_eq!(after, recomputed(&db, county, year).await);
        assert_eq!(after.claims, 5);

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
        let total: f64 = summary.rows().skip(3).filter(|r| r[0].to_string() != "合计").filter_map(|r| r.get(5).and_then(|c| c.get_float())).sum();
        assert_eq!((total * 100.0).round() as i64, after.funds_total);
        // A total row, and each fund's sheet by the fund's name with its own total.
        let last = summary.rows().last().unwrap();
        assert_eq!((last[0].to_string().as_str(), last[5].get_float().map(|v| (v * 100.0).round() as i64)), ("合计", Some(after.funds_total)));
        assert!(book.sheet_names().iter().any(|n| n == "城乡居民基本医疗保险"), "{:?}", book.sheet_names());
        let basic = book.worksheet_range("城乡居民基本医疗保险").unwrap();
        assert!(matches!(basic.get((2, 2)), Some(calamine::Data::DateTime(_))), "discharge dates are dates: {:?}", basic.get((2, 2)));
        assert_eq!(basic.rows().last().unwrap()[0].to_string(), "合计");
        let file = dir.path().join("claims.xlsx");
        indicators::write_claims_report(&db, county, year, 9, &file).await.unwrap();
        let sheet = open_workbook_auto(&file).unwrap().worksheet_range("结算情况").unwrap();
        let last = sheet.rows().last().unwrap();
        assert_eq!(last[0].to_string(), "合计");
        assert_eq!(last[1].get_float(), Some(5.0));
        assert_eq!((last[2].get_float().unwrap() * 100.0).round() as i64, after.total);
        // The ratio is a number (a fraction shown as 0.0%), not text.
        let ratio = last[4].get_float().expect("a number");
        assert_eq!((ratio * 1_000_000.0).round() as i64, indicators::ppm(after.funds_total, after.total).unwrap());
    }

    dashboard_figures_and_targets(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/worked-example.toml")).unwrap();
        settlement::load_policy(&db, "worked-example.toml", &policy, false, &audit("policy.load")).await.unwrap();
        let set = PolicySet::load(&db).await.unwrap();
        settlement::settle_claim(&db, &set, &stay("T1", p[0], "2024-03-01", [20000, 8000, 2000, 1000]), "jsck", &audit("settle")).await.unwrap();
        let catalog = huimin_app::health::catalog(&db).await.unwrap();
        let input = huimin_app::health::CardInput { code: "I10".into(), name: String::new(), diagnosed_on: String::new(), diagnosed_at: String::new(), prognosis: String::new(), plan: String::new() };
        huimin_app::health::record_card(&db, catalog.base(), p[0], &input, "cunyi", d("2024-12-31"), &audit("health.card")).await.unwrap();
        let county = region("371302");
        let year = Period::parse("2024").unwrap();
        // Nothing stored yet: the county's figures are computed for the answer, and not stored
        // by it (only the job stores them).
        let live = indicators::compute(&db, &catalog, county, year, d("2024-12-31")).await.unwrap();
        assert_eq!((live.unstored_townships, live.population.persons), (2, 4));
        assert_eq!(indicators::refresh_figures(&db, &catalog, region("37"), 2024, d("2024-12-31"), false).await.unwrap(), 2, "nothing was stored by reading");
        let ind = indicators::compute(&db, &catalog, county, year, d("2024-12-31")).await.unwrap();
        let by_category: Vec<(&str, i64)> = ind.population.households_by_category.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(by_category, [("dibao", 1), ("general", 1), ("tekun", 1)]);
        assert_eq!((ind.population.sick_persons, ind.population.sick_by_group.get("chronic").copied()), (1, Some(1)), "{:?}", ind.population.sick_by_group);
        assert_eq!((ind.population.households, ind.population.persons, ind.inpatient.claims), (3, 4, 1));
        assert_eq!(ind.population.contracts, [4, 0]);
        // A county sums its townships' stored figures: the same as computing it from its persons.
        assert_eq!((ind.population_as_of.as_deref(), ind.unstored_townships), (Some("2024-12-31"), 0));
        assert_eq!(ind.population, indicators::population(&db, &catalog, county, year, d("2024-12-31")).await.unwrap().population);
        assert_eq!(ind.children.iter().map(|c| (c.region.name.as_str(), c.persons, c.claims.claims)).collect::<Vec<_>>(), [("一镇", 3, 1), ("二镇", 1, 0)]);
        let city = indicators::compute(&db, &catalog, region("3713"), year, d("2024-12-31")).await.unwrap();
        assert_eq!((city.population.clone(), city.claims.clone(), city.children.len(), city.children[0].persons), (ind.population.clone(), ind.claims.clone(), 1, 4));

        // The worked example's first stay: 1,440.50 of 30,000 yuan = 4.8% self-pay, within 10%.
        let checks = indicators::checks(&ind, &db.targets().await.unwrap());
        let self_pay = checks.iter().find(|c| c.indicator == "self_pay_ratio").unwrap();
        assert_eq!((indicators::percent(self_pay.value_ppm).as_str(), self_pay.met), ("4.8%", true));
        let contract = checks.iter().find(|c| c.indicator == "contract_rate").unwrap();
        assert!(!contract.met, "nobody signed: the contract rate misses its target");
        // A county's own target replaces the default.
        db.set_target(&huimin_store::Target { region: county, indicator: "self_pay_ratio".into(), value_ppm: 40_000, at_most: true, source: "县考核办法".into() }, &audit("target.set")).await.unwrap();
        let checks = indicators::checks(&ind, &db.targets().await.unwrap());
        assert!(!checks.iter().find(|c| c.indicator == "self_pay_ratio").unwrap().met, "4.8% is above a 4% target");
        // Stored figures stay as computed until refreshed; a township is live, and claims always are.
        let team = db.create_team("一镇家庭医生团队", "H2", region("371302001"), &audit("team")).await.unwrap();
        let contract = huimin_store::NewContract {
            person_id: p[0], team_id: team, year: 2024, starts_on: d("2024-01-01"), ends_on: d("2024-12-31"),
            services: vec![Service::ALL[0]], signed_by: "李医生".into(), signed_on: d("2024-01-01"), renewed_from: None,
        };
        db.sign_contracts(&[contract], &audit("contract.sign")).await.unwrap();
        settlement::settle_claim(&db, &set, &stay("T2", p[3], "2024-05-01", [1000, 0, 0, 0]), "jsck", &audit("settle")).await.unwrap();
        let stale = indicators::compute(&db, &catalog, region("3713"), year, d("2024-12-31")).await.unwrap();
        assert_eq!((stale.population.contracts, stale.inpatient.claims), ([4, 0], 2));
        let township = indicators::compute(&db, &catalog, region("371302001"), year, d("2024-12-31")).await.unwrap();
        assert_eq!((township.population.contracts, township.population_as_of), ([3, 1], None));
        // The city reads the county's stored sum of its townships; refreshing one township
        // refreshes the sum, as of the older township.
        let sums = db.stored_figures(region("37"), 2024, huimin_domain::RegionLevel::County).await.unwrap();
        assert_eq!(sums.iter().map(|(c, s)| (c.to_string(), s.as_ref().map(|(as_of, _)| as_of.as_str()))).collect::<Vec<_>>(), [("371302000000".to_string(), Some("2024-12-31"))]);
        assert_eq!(indicators::refresh_figures(&db, &catalog, region("371302001"), 2024, d("2025-01-02"), false).await.unwrap(), 1);
        let partly = indicators::compute(&db, &catalog, region("3713"), year, d("2025-01-02")).await.unwrap();
        assert_eq!((partly.population.contracts, partly.population_as_of.as_deref()), ([4, 1], Some("2024-12-31")));
        assert_eq!(indicators::refresh_figures(&db, &catalog, region("37"), 2024, d("2025-01-02"), false).await.unwrap(), 1, "the other township");
        assert_eq!(indicators::refresh_figures(&db, &catalog, region("37"), 2024, d("2025-01-02"), false).await.unwrap(), 0, "computed today: left");
        assert_eq!(indicators::refresh_figures(&db, &catalog, region("37"), 2024, d("2025-01-02"), true).await.unwrap(), 2, "on demand: again");
        let fresh = indicators::compute(&db, &catalog, region("3713"), year, d("2025-01-02")).await.unwrap();
        assert_eq!((fresh.population.contracts, fresh.population_as_of.as_deref()), ([4, 1], Some("2025-01-02")));
        assert_eq!(fresh.population, indicators::population(&db, &catalog, county, year, d("2025-01-02")).await.unwrap().population);
    }
}

both_backends! {
    persons_at_an_annual_cap_with_the_cap_of_their_category(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/worked-example.toml")).unwrap();
        settlement::load_policy(&db, "worked-example.toml", &policy, false, &audit("policy.load")).await.unwrap();
        let set = PolicySet::load(&db).await.unwrap();
        // p[0] is 低保: basic insurance stops at 150,000 yuan, assistance at the 低保 cap of 30,000 (not the base 20,000).
        settlement::settle_claim(&db, &set, &stay("C1", p[0], "2024-02-01", [5_000_000, 0, 0, 0]), "jsck", &audit("settle")).await.unwrap();
        settlement::settle_claim(&db, &set, &stay("C2", p[2], "2024-02-01", [3000, 0, 0, 0]), "jsck", &audit("settle")).await.unwrap();
        let list = indicators::persons_at_cap(&db, &set, region("371302"), 2024).await.unwrap();
        let rows: Vec<(i64, &str, i64, i64)> = list.iter().map(|c| (c.person_id, c.fund.code(), c.cap, c.amount)).collect();
        assert!(rows.contains(&(p[0], "390101", 15_000_000, 15_000_000)), "{rows:?}");
        assert!(rows.contains(&(p[0], "610101", 3_000_000, 3_000_000)), "{rows:?}");
        assert!(list.iter().all(|c| c.person_id == p[0] && c.amount >= c.cap && c.person_name == "张三"), "{rows:?}");
        // Outside the region, nobody; after the reversal, nobody.
        assert!(indicators::persons_at_cap(&db, &set, region("371302002"), 2024).await.unwrap().is_empty());
        settlement::reverse_claim(&db, "C1", "录入错误", "jsck", &audit("reverse")).await.unwrap();
        assert!(indicators::persons_at_cap(&db, &set, region("371302"), 2024).await.unwrap().is_empty());
    }
}
