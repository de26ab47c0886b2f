//! Settlement in the system, on SQLite and PostgreSQL: registered persons, stored accumulators,
//! refusals with reasons, reversal, concurrency, and simulation of a draft policy.

use std::path::Path;

use huimin_app::import::{self, RosterImport};
use huimin_app::settlement::{self, PolicySet, SettleError, SettleRequest};
use huimin_domain::*;
use huimin_policy::{Fund, VisitType};
use huimin_store::{AuditEntry, EventKind, Store, both_backends};

const V1: &str = "371302001201";

fn id(seq: u16) -> String {
    IdNumber::compose(371302, Date::from_ymd_opt(1960, 1, 1).unwrap(), seq).unwrap().as_str().to_string()
}

fn d(s: &str) -> Date {
    Date::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn audit() -> AuditEntry {
    AuditEntry { username: "jsck".into(), ip: "127.0.0.1".into(), action: "settlement.settle".into(), ..Default::default() }
}

fn policy_text(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies").join(name)).unwrap()
}

/// Regions, two facilities (one in the county, one outside), three 低保 persons, the worked-example policy.
async fn setup(store: &Store) -> (PolicySet, i64, i64) {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let regions = write("r.csv", format!("区划代码,名称\n37,山东省\n3713,临沂市\n371302,兰山区\n371302001,一镇\n{V1},一村\n371311,罗庄区\n"));
    import::import_regions(store, &regions).await.unwrap();
    let facilities = write(
        "f.csv",
        "机构编码,机构名称,机构等级,机构类型,行政区划代码\nH2,兰山区人民医院,2,县级医院,371302\nH3,临沂市人民医院,3,市级医院,371302\nHX,罗庄区医院,2,县级医院,371311\n".into(),
    );
    import::import_facilities(store, &facilities).await.unwrap();
    let roster = write(
        "roster.csv",
        format!(
            "户编号,户主姓名,与户主关系,姓名,证件号码,民族,行政区划代码,贫困户属性,脱贫状态,主要致贫原因\n\
             H1,张三,户主,张三,{},汉族,{V1},低保贫困户,未脱贫,因病\n\
             H1,张三,配偶,李四娘,{},汉族,{V1},低保贫困户,未脱贫,因病\n",
            id(1),
            id(2)
        ),
    );
    import::import_roster(store, &roster, &RosterImport::new("test", d("2024-01-01"))).await.unwrap();
    settlement::load_policy(store, "worked-example.toml", &policy_text("worked-example.toml"), false, &audit()).await.unwrap();
    let set = PolicySet::load(store).await.unwrap();
    let p1 = store.person_by_id_number(&IdNumber::parse(&id(1)).unwrap()).await.unwrap().unwrap().id;
    let p2 = store.person_by_id_number(&IdNumber::parse(&id(2)).unwrap()).await.unwrap().unwrap().id;
    (set, p1, p2)
}

fn yuan(s: &str) -> Money {
    Money::parse_yuan(s).unwrap()
}

fn stay(claim_no: &str, person_id: i64, facility: &str, admission: &str, amounts: [&str; 4]) -> SettleRequest {
    SettleRequest {
        claim_no: claim_no.into(),
        person_id,
        facility_code: facility.into(),
        visit: VisitType::Inpatient,
        admission: d(admission),
        discharge: d(admission) + chrono::Duration::days(5),
        diseases: vec![],
        cat_a: yuan(amounts[0]),
        cat_b: yuan(amounts[1]),
        out_of_catalogue: yuan(amounts[2]),
        necessary: yuan(amounts[3]),
    }
}

fn line(bill: &huimin_policy::Bill, layer: &str) -> String {
    bill.lines.iter().find(|l| &*l.layer_id == layer).map(|l| l.total.to_string()).unwrap_or_default()
}

both_backends! {
    the_worked_example_in_the_system(db) {
        let (set, p1, _) = setup(&db).await;
        let first = stay("C1", p1, "H2", "2024-03-01", ["20000", "8000", "2000", "1000"]);
        let (_, preview) = settlement::preview(&db, &set, &first).await.unwrap();
        assert_eq!(preview.patient_total.to_string(), "1440.50");
        assert!(db.claim("C1").await.unwrap().is_none(), "a preview writes nothing");
        let bill = settlement::settle_claim(&db, &set, &first, "jsck", &audit()).await.unwrap();
        assert_eq!(bill, preview);
        assert_eq!(db.claim("C1").await.unwrap().unwrap().bill, bill, "the stored bill reads back as settled");
        let second = stay("C2", p1, "H3", "2024-06-01", ["90000", "20000", "10000", "6000"]);
        let bill = settlement::settle_claim(&db, &set, &second, "jsck", &audit()).await.unwrap();
        assert_eq!((line(&bill, "basic"), line(&bill, "critical"), line(&bill, "supplementary")), ("75040.00".into(), "19428.00".into(), "18478.80".into()));
        assert_eq!(bill.patient_total.to_string(), "6038.30");
        let acc = db.accumulators(p1, 2024).await.unwrap();
        assert_eq!(acc.get("critical").base.to_string(), "37380.00");
        assert_eq!(acc.get("basic").paid.to_string(), "97820.00");

        let again = settlement::settle_claim(&db, &set, &first, "jsck", &audit()).await.unwrap_err();
        assert!(again.to_string().contains("已结算过"), "{again}");

        // Reversal restores the accumulators exactly; a second reversal is refused.
        let before_second = {
            let mut a = huimin_policy::YearAccumulators::default();
            for l in &bill.lines { a.set(&l.layer_id, l.before); }
            a
        };
        let r = settlement::reverse_claim(&db, "C2", "重复录入", "jsck", &audit()).await.unwrap();
        assert_eq!(r.reversal_reason.as_deref(), Some("重复录入"));
        assert_eq!(db.accumulators(p1, 2024).await.unwrap(), before_second);
        assert!(settlement::reverse_claim(&db, "C2", "再次", "jsck", &audit()).await.unwrap_err().to_string().contains("已冲销"));
        assert_eq!(db.claim("C2").await.unwrap().unwrap().status, huimin_store::ClaimStatus::Reversed);
        let log = db.search_audit(&huimin_store::AuditFilter { target: Some("claim C2".into()), limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(log.len(), 2, "settled and reversed, each recorded");
    }

    refusals_say_why(db) {
        let (set, p1, p2) = setup(&db).await;
        db.record_person_event(p2, EventKind::Exit, d("2024-05-01"), "死亡", "test").await.unwrap();
        let e = settlement::settle_claim(&db, &set, &stay("X1", p2, "H2", "2024-05-02", ["100", "0", "0", "0"]), "jsck", &audit()).await.unwrap_err();
        assert!(matches!(e, SettleError::NotInProgramme(_)), "{e}");
        assert!(e.to_string().contains("2024-05-02 不在健康扶贫名单中"));
        // Admitted before the exit: still covered.
        settlement::settle_claim(&db, &set, &stay("X2", p2, "H2", "2024-04-20", ["100", "0", "0", "0"]), "jsck", &audit()).await.unwrap();
        let e = settlement::settle_claim(&db, &set, &stay("X3", p1, "H2", "2025-02-01", ["100", "0", "0", "0"]), "jsck", &audit()).await.unwrap_err();
        assert!(matches!(e, SettleError::NoPolicy { .. }), "{e}");
        let e = settlement::settle_claim(&db, &set, &stay("X4", p1, "NOPE", "2024-02-01", ["100", "0", "0", "0"]), "jsck", &audit()).await.unwrap_err();
        assert!(matches!(e, SettleError::FacilityNotFound(_)));
        let mut bad = stay("X5", p1, "H2", "2024-02-01", ["100", "0", "10", "20"]);
        bad.claim_no = "X5".into();
        let e = settlement::settle_claim(&db, &set, &bad, "jsck", &audit()).await.unwrap_err();
        assert!(e.to_string().contains("目录外必需费用"), "{e}");
        let e = settlement::settle_claim(&db, &set, &stay("bad no!", p1, "H2", "2024-02-01", ["1", "0", "0", "0"]), "jsck", &audit()).await.unwrap_err();
        assert!(e.to_string().contains("结算单号"), "{e}");
        // Out of the county: the place is "out", which the worked example's basic layer has no
        // variant for, so level 2 numbers apply; the claim settles and says it was out of county.
        let out = settlement::settle_claim(&db, &set, &stay("X6", p1, "HX", "2024-02-01", ["1000", "0", "0", "0"]), "jsck", &audit()).await.unwrap();
        assert_eq!(line(&out, "basic"), "510.00");
        assert!(!db.claim("X6").await.unwrap().unwrap().claim.in_county);
    }

    concurrent_settlements_never_break_a_cap(db) {
        let (set, p1, _) = setup(&db).await;
        // Each stay alone would have basic insurance pay (100,000 − 400) × 85% = 84,660; the
        // annual cap is 150,000, so at most 150,000 can be paid whatever the interleaving.
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = db.store.clone();
            let set = set.clone();
            tasks.push(tokio::spawn(async move {
                // Stays one after another (overlapping ones would be refused).
                let admission = (d("2024-03-01") + chrono::Duration::days(i * 10)).to_string();
                let req = stay(&format!("P{i}"), p1, "H2", &admission, ["100000", "0", "0", "0"]);
                settlement::settle_claim(&store, &set, &req, "jsck", &audit()).await
            }));
        }
        let mut paid = 0;
        for t in tasks {
            let bill = t.await.unwrap().unwrap();
            paid += bill.lines.iter().find(|l| &*l.layer_id == "basic").unwrap().total.fen();
        }
        assert_eq!(paid, 150_000_00, "the cap is reached exactly, never passed");
        assert_eq!(db.accumulators(p1, 2024).await.unwrap().get("basic").paid.fen(), 150_000_00);
    }

    one_claim_number_sent_at_once_for_different_persons_is_settled_once_and_refused_otherwise(db) {
        let (set, p1, p2) = setup(&db).await;
        // Different persons take different locks: only the claim number's key stops the second.
        for round in 0..10 {
            let mut tasks = Vec::new();
            for i in 0..12 {
                let (store, set) = (db.store.clone(), set.clone());
                let person = if i % 2 == 0 { p1 } else { p2 };
                tasks.push(tokio::spawn(async move {
                    let admission = (d("2024-03-01") + chrono::Duration::days(round * 10)).to_string();
                    let req = stay(&format!("SAME-{round}"), person, "H2", &admission, ["1000", "0", "0", "0"]);
                    settlement::settle_claim(&store, &set, &req, "jsck", &audit()).await
                }));
            }
            let mut settled = 0;
            for t in tasks {
                match t.await.unwrap() {
                    Ok(_) => settled += 1,
                    Err(SettleError::AlreadySettled { claim_no, message }) => assert!(claim_no == format!("SAME-{round}") && message.contains("已结算过"), "{message}"),
                    Err(e) => panic!("round {round}: a duplicate claim number must be refused, not fail: {e:?}"),
                }
            }
            assert_eq!(settled, 1, "round {round}");
        }
    }

    one_stay_sent_at_once_under_different_numbers_is_settled_once(db) {
        let (set, p1, _) = setup(&db).await;
        // Two clerks, two hospitals, the same person's overlapping stays at the same moment.
        for round in 0..6 {
            let admission = d("2024-02-01") + chrono::Duration::days(round * 20);
            let mut tasks = Vec::new();
            for i in 0..8 {
                let (store, set) = (db.store.clone(), set.clone());
                tasks.push(tokio::spawn(async move {
                    let from = (admission + chrono::Duration::days(i % 3)).to_string();
                    let req = stay(&format!("R{round}-{i}"), p1, if i % 2 == 0 { "H2" } else { "H3" }, &from, ["1000", "0", "0", "0"]);
                    settlement::settle_claim(&store, &set, &req, "jsck", &audit()).await.map(|_| req.claim_no)
                }));
            }
            let mut settled = Vec::new();
            let mut refused = Vec::new();
            for t in tasks {
                match t.await.unwrap() {
                    Ok(no) => settled.push(no),
                    Err(SettleError::AlreadySettled { claim_no, message }) => {
                        assert!(message.contains("时间重叠"), "{message}");
                        refused.push(claim_no);
                    }
                    Err(e) => panic!("round {round}: {e:?}"),
                }
            }
            assert_eq!(settled.len(), 1, "round {round}: {settled:?}");
            assert!(refused.iter().all(|no| *no == settled[0]), "each refusal names the bill that holds the stay");
        }
        // Outpatient visits on the same days are not stays: both settle.
        let mut visit = stay("OUT-1", p1, "H2", "2024-02-02", ["100", "0", "0", "0"]);
        visit.visit = VisitType::OutpatientGeneral;
        visit.discharge = visit.admission;
        settlement::settle_claim(&db, &set, &visit, "jsck", &audit()).await.unwrap();
        visit.claim_no = "OUT-2".into();
        settlement::settle_claim(&db, &set, &visit, "jsck", &audit()).await.unwrap();
    }

    a_batch_settles_in_order_and_reports_each_refusal(db) {
        let (set, p1, p2) = setup(&db).await;
        settlement::settle_claim(&db, &set, &stay("OLD", p2, "H2", "2024-02-01", ["100", "0", "0", "0"]), "jsck", &audit()).await.unwrap();
        db.record_person_event(p2, EventKind::Exit, d("2024-05-01"), "迁出", "test").await.unwrap();
        let batch = vec![
            stay("B1", p1, "H2", "2024-03-01", ["20000", "8000", "2000", "1000"]),
            stay("B2", p1, "H3", "2024-06-01", ["90000", "20000", "10000", "6000"]),
            stay("B1", p1, "H2", "2024-07-01", ["100", "0", "0", "0"]),
            stay("OLD", p1, "H2", "2024-07-01", ["100", "0", "0", "0"]),
            stay("B3", p2, "H2", "2024-06-01", ["100", "0", "0", "0"]),
            stay("B4", p1, "NOPE", "2024-06-01", ["100", "0", "0", "0"]),
            stay("B5", p1, "H2", "2024-08-01", ["100", "0", "50", "60"]),
        ];
        let out = settlement::settle_batch(&db, &set, &batch, "his", &audit()).await.unwrap();
        assert_eq!(out.settled, 2);
        let refused: Vec<&str> = out.refused.iter().map(|(no, _)| no.as_str()).collect();
        assert_eq!(refused, ["B3", "B4", "B5", "B1", "OLD"], "checked first, then settled in order");
        assert!(out.refused[0].1.contains("不在健康扶贫名单中"));
        assert!(out.refused[3].1.contains("已结算过"));
        // The worked example's two stays, settled in one batch: the same bills as one by one.
        let b2 = db.claim("B2").await.unwrap().unwrap().bill;
        assert_eq!((line(&b2, "critical"), b2.patient_total.to_string()), ("19428.00".into(), "6038.30".into()));
        assert_eq!(db.accumulators(p1, 2024).await.unwrap().get("critical").base.to_string(), "37380.00");
        assert_eq!(out.total, 150_000_00);
    }

    a_draft_policy_simulated_over_settled_claims(db) {
        let (set, p1, p2) = setup(&db).await;
        settlement::settle_claim(&db, &set, &stay("S1", p1, "H2", "2024-03-01", ["20000", "8000", "2000", "1000"]), "jsck", &audit()).await.unwrap();
        settlement::settle_claim(&db, &set, &stay("S2", p2, "H2", "2024-04-01", ["10000", "0", "0", "0"]), "jsck", &audit()).await.unwrap();
        settlement::settle_claim(&db, &set, &stay("S3", p1, "H2", "2024-05-01", ["5000", "0", "0", "0"]), "jsck", &audit()).await.unwrap();
        settlement::reverse_claim(&db, "S3", "作废", "jsck", &audit()).await.unwrap();
        // The draft raises basic insurance to 90%.
        let draft_text = policy_text("worked-example.toml").replace(r#"id = "worked-example""#, r#"id = "draft-2024""#).replacen(r#"ratio = "85%""#, r#"ratio = "90%""#, 1);
        let draft = settlement::load_policy(&db, "draft.toml", &draft_text, true, &audit()).await.unwrap();
        let set = PolicySet::load(&db).await.unwrap();
        assert_eq!(set.in_force(RegionCode::parse(V1).unwrap(), d("2024-03-01")).unwrap().id.as_ref(), "worked-example", "a draft never settles");
        let sim = settlement::simulate(&db, &draft, RegionCode::parse("371302").unwrap(), d("2024-01-01"), d("2024-12-31")).await.unwrap();
        assert_eq!(sim.claims, 2, "the reversed claim is left out");
        let basic = sim.by_fund.iter().find(|f| f.fund == Fund::ResidentBasic).unwrap();
        // Actual: (27,200 − 400) × 85% + (10,000 − 400) × 85% = 22,780 + 8,160; draft at 90%: 24,120 + 8,640.
        assert_eq!((basic.actual.to_string(), basic.simulated.to_string()), ("30940.00".into(), "32760.00".into()));
        assert_eq!(sim.by_region.len(), 1);
        assert_eq!(sim.by_region[0].region, RegionCode::parse("371302001").unwrap());
        assert_eq!(sim.by_region[0].total.to_string(), "40000.00");
    }
}

/// A batch is one transaction on both backends: a feed that stops before its end leaves nothing behind.
both_backends! {
    a_batch_cut_off_before_its_end_settles_nothing(db) {
        let (set, p1, _) = setup(&db).await;
        let policy = set.in_force(RegionCode::parse(V1).unwrap(), d("2024-03-01")).unwrap().clone();
        let req = stay("CUT1", p1, "H2", "2024-03-01", ["20000", "8000", "2000", "1000"]);
        let claim = huimin_policy::Claim {
            claim_no: req.claim_no.clone(),
            person: p1.to_string(),
            category: PovertyCategory::Dibao,
            visit: req.visit,
            level: FacilityLevel::Two,
            in_county: true,
            admission: req.admission,
            discharge: req.discharge,
            diseases: vec![],
            cat_a: req.cat_a,
            cat_b: req.cat_b,
            out_of_catalogue: req.out_of_catalogue,
            necessary: req.necessary,
        };
        let record = huimin_store::ClaimRecord { claim, person_id: p1, facility_code: "H2".into(), region: RegionCode::parse(V1).unwrap(), policy_id: policy.id.to_string() };
        let (sender, feed) = tokio::sync::mpsc::channel(1);
        sender.send(huimin_store::BatchChunk::Claims(vec![(record, policy)])).await.unwrap();
        drop(sender);
        let e = db.settle_batch(feed, "his", &audit()).await.unwrap_err();
        assert!(e.to_string().contains("未传送完整"), "{e}");
        assert!(db.claim("CUT1").await.unwrap().is_none());
        assert_eq!(db.accumulators(p1, 2024).await.unwrap(), huimin_policy::YearAccumulators::default());
    }
}

both_backends! {
    an_overlapping_stay_is_settled_only_with_an_exception_let_for_it(db) {
        let (set, p1, _) = setup(&db).await;
        settlement::settle_claim(&db, &set, &stay("FIRST", p1, "H2", "2024-04-01", ["1000", "0", "0", "0"]), "jsck", &audit()).await.unwrap();
        // Readmitted at the city hospital within the first stay's dates (a record the first
        // hospital closed late): refused, until the bureau lets that very stay.
        let second = stay("SECOND", p1, "H3", "2024-04-03", ["2000", "0", "0", "0"]);
        assert!(matches!(settlement::preview(&db, &set, &second).await, Err(SettleError::AlreadySettled { .. })));
        let exception = huimin_store::NewStayException {
            person_id: p1, facility_code: "H3".into(), admission: second.admission, discharge: second.discharge, reason: "转院，首院出院日期登记延后".into(), approved_by: "ybj".into(),
        };
        let short = huimin_store::NewStayException { reason: "转院".into(), ..exception.clone() };
        assert!(settlement::approve_stay_exception(&db, &short, &audit()).await.unwrap_err().to_string().contains("例外原因"));
        // An exception for another facility or other dates does not let this stay.
        let elsewhere = huimin_store::NewStayException { facility_code: "H2".into(), ..exception.clone() };
        settlement::approve_stay_exception(&db, &elsewhere, &audit()).await.unwrap();
        assert!(matches!(settlement::settle_claim(&db, &set, &second, "jsck", &audit()).await, Err(SettleError::AlreadySettled { .. })));
        settlement::approve_stay_exception(&db, &exception, &audit()).await.unwrap();
        assert!(settlement::preview(&db, &set, &second).await.is_ok(), "the preview knows the exception");
        settlement::settle_claim(&db, &set, &second, "jsck", &audit()).await.unwrap();
        // Used once: a third overlapping stay with the same dates is refused again.
        let third = SettleRequest { claim_no: "THIRD".into(), ..second.clone() };
        assert!(matches!(settlement::settle_claim(&db, &set, &third, "jsck", &audit()).await, Err(SettleError::AlreadySettled { .. })));
        let listed = db.stay_exceptions(RegionCode::parse("371302").unwrap()).await.unwrap();
        assert_eq!(listed.iter().filter(|e| e.used_by_claim.as_deref() == Some("SECOND")).count(), 1);
    }

    a_batch_refuses_stays_overlapping_settled_ones_and_its_own(db) {
        let (set, p1, p2) = setup(&db).await;
        settlement::settle_claim(&db, &set, &stay("EARLIER", p1, "H2", "2024-04-01", ["1000", "0", "0", "0"]), "jsck", &audit()).await.unwrap();
        let late = stay("LATE", p1, "H3", "2024-04-04", ["500", "0", "0", "0"]);
        let exception = huimin_store::NewStayException {
            person_id: p1, facility_code: "H3".into(), admission: late.admission, discharge: late.discharge, reason: "首院出院日期登记有误".into(), approved_by: "ybj".into(),
        };
        settlement::approve_stay_exception(&db, &exception, &audit()).await.unwrap();
        let mut next_day = stay("TRANSFER", p2, "H3", "2024-05-06", ["300", "0", "0", "0"]);
        next_day.discharge = d("2024-05-08");
        let batch = vec![
            stay("AGAIN", p1, "H3", "2024-04-03", ["700", "0", "0", "0"]),  // overlaps EARLIER, stored before the batch
            stay("NEW", p2, "H2", "2024-05-01", ["900", "0", "0", "0"]),    // 05-01 to 05-06
            stay("INSIDE", p2, "H3", "2024-05-03", ["800", "0", "0", "0"]), // overlaps NEW, earlier in this batch
            next_day,                                                      // admitted the day NEW ended: a transfer
            late,                                                          // overlaps EARLIER, but let by the bureau
        ];
        let out = settlement::settle_batch(&db, &set, &batch, "his", &audit()).await.unwrap();
        let refused: Vec<(&str, &str)> = out.refused.iter().map(|(no, why)| (no.as_str(), why.as_str())).collect();
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(refused[0].0 == "AGAIN" && refused[0].1.contains("EARLIER") && refused[0].1.contains("时间重叠"), "{refused:?}");
        assert!(refused[1].0 == "INSIDE" && refused[1].1.contains("结算单 NEW"), "{refused:?}");
        assert_eq!(out.settled, 3);
        for no in ["NEW", "TRANSFER", "LATE"] {
            assert!(db.claim(no).await.unwrap().is_some(), "{no} settled");
        }
        let listed = db.stay_exceptions(RegionCode::parse("371302").unwrap()).await.unwrap();
        assert_eq!(listed.iter().filter(|e| e.used_by_claim.as_deref() == Some("LATE")).count(), 1, "the exception is used by the batch's claim");
    }
}
