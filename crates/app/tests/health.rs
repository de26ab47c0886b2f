//! Health files, screening, the three batches and the treatment ledger, on SQLite and PostgreSQL.

use huimin_app::health::{self, CardInput};
use huimin_app::settlement::{self, PolicySet, SettleRequest};
use huimin_domain::*;
use huimin_store::{ScreeningWrite, Screening, TreatmentUpdate, both_backends};

mod common;
use common::*;

fn card(code: &str) -> CardInput {
    CardInput { code: code.into(), ..Default::default() }
}

both_backends! {
    disease_cards_import_and_the_three_batches(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let catalog = health::catalog(&db).await.unwrap();
        let today = d("2024-06-30");
        // Import: a good file with three bad rows, each reported with row, column and reason.
        let file = dir.path().join("diseases.csv");
        std::fs::write(&file, format!(
            "证件号码,疾病编码,疾病名称,确诊年份\n{},I10,原发性高血压,2019\n{},C34.9,,2024\n{},F20.0,,2020\n{},XX,坏编码,2020\n{},I10,,2019\n{},E11.9,,2031\n",
            id(1), id(2), id(4), id(3), IdNumber::compose(371302, d("1970-01-01"), 99).unwrap().as_str(), id(3)
        )).unwrap();
        let report = health::import_diseases(&db, &catalog, &file, "doc", today, &audit("health.import")).await.unwrap();
        assert_eq!(report.applied, 3);
        let bad: Vec<(u64, &str)> = report.errors.iter().map(|e| (e.row, e.column.as_str())).collect();
        assert_eq!(bad, [(5, "疾病编码"), (6, "证件号码"), (7, "确诊年份")], "{:?}", report.errors);
        assert!(report.errors[1].reason.contains("不在建档立卡名单中"));

        let cards = db.disease_cards(&[p[0], p[1], p[3]]).await.unwrap();
        assert_eq!(cards.len(), 3);
        let lung = cards.iter().find(|c| c.card.disease_code == "C34.9").unwrap();
        assert_eq!(lung.card.disease_name, "支气管和肺恶性肿瘤（肺癌）", "the catalogue's name when the file gives none");
        assert!(cards.iter().find(|c| c.card.disease_code == "F20.0").unwrap().card.confidential);
        assert_eq!(cards.iter().find(|c| c.card.disease_code == "I10").unwrap().card.prognosis, Prognosis::LongTerm);

        // The rules: lung cancer → centralised; hypertension → contract; F20 (special) → contract.
        let rows = health::batches(&db, &catalog, region("371302"), 2024).await.unwrap();
        let batch_of = |rows: &[health::BatchRow], person: i64| rows.iter().find(|r| r.person.person_id == person).and_then(|r| r.batch());
        assert_eq!(batch_of(&rows, p[0]), Some(CareBatch::Contract));
        assert_eq!(batch_of(&rows, p[1]), Some(CareBatch::Centralised));
        assert_eq!(batch_of(&rows, p[3]), Some(CareBatch::Contract));
        assert_eq!(health::batch_counts(&rows), [(CareBatch::Centralised, 1), (CareBatch::Contract, 2), (CareBatch::Backstop, 0)]);
        // A township sees its own people only.
        assert_eq!(health::batches(&db, &catalog, region("371302002"), 2024).await.unwrap().len(), 1);

        // A manual override needs a reason and wins over the rules; clearing returns to the rules.
        assert!(health::override_batch(&db, p[0], Some(CareBatch::Backstop), false, "", "doc", &audit("batch.override")).await.is_err());
        health::override_batch(&db, p[0], Some(CareBatch::Backstop), false, "住院费用高，自付仍超出承受能力", "doc", &audit("batch.override")).await.unwrap();
        let rows = health::batches(&db, &catalog, region("371302"), 2024).await.unwrap();
        let row = rows.iter().find(|r| r.person.person_id == p[0]).unwrap();
        assert_eq!((row.by_rules, row.batch()), (Some(CareBatch::Contract), Some(CareBatch::Backstop)));
        let log = db.search_audit(&huimin_store::AuditFilter { target: Some(format!("person {}", p[0])), limit: 10, ..Default::default() }).await.unwrap();
        assert!(log.iter().any(|e| e.entry.action == "batch.override" && e.entry.detail.contains("自付仍超出")), "the reason is logged");
        health::override_batch(&db, p[0], None, true, "", "doc", &audit("batch.override")).await.unwrap();
        assert_eq!(batch_of(&health::batches(&db, &catalog, region("371302"), 2024).await.unwrap(), p[0]), Some(CareBatch::Contract));
        // No audit entry names a diagnosis.
        let all = db.search_audit(&huimin_store::AuditFilter { limit: 100, ..Default::default() }).await.unwrap();
        assert!(all.iter().all(|e| !e.entry.detail.contains("F20") && !e.entry.target.contains("F20")));
    }

    high_own_payments_put_a_person_in_the_backstop_batch(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let catalog = health::catalog(&db).await.unwrap();
        let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/worked-example.toml")).unwrap();
        settlement::load_policy(&db, "worked-example.toml", &policy, false, &audit("policy.load")).await.unwrap();
        let set = PolicySet::load(&db).await.unwrap();
        let yuan = |s: &str| Money::parse_yuan(s).unwrap();
        // The worked example's stays (a 低保 patient), both at the county hospital.
        let stay = |no: &str, adm: &str, a: [&str; 4]| SettleRequest {
            claim_no: no.into(), person_id: p[0], facility_code: "H2".into(), visit: huimin_policy::VisitType::Inpatient,
            admission: d(adm), discharge: d(adm) + chrono::Duration::days(5), diseases: vec![],
            cat_a: yuan(a[0]), cat_b: yuan(a[1]), out_of_catalogue: yuan(a[2]), necessary: yuan(a[3]),
        };
        let first = settlement::settle_claim(&db, &set, &stay("K1", "2024-03-01", ["20000", "8000", "2000", "1000"]), "jsck", &audit("settle")).await.unwrap();
        assert_eq!(first.patient_total.fen(), 144_050);
        let rows = health::batches(&db, &catalog, region("371302"), 2024).await.unwrap();
        assert!(rows.iter().all(|r| r.person.person_id != p[0]), "1,440.50 yuan own payment is below the line");
        let second = settlement::settle_claim(&db, &set, &stay("K2", "2024-06-01", ["90000", "20000", "10000", "6000"]), "jsck", &audit("settle")).await.unwrap();
        let rows = health::batches(&db, &catalog, region("371302"), 2024).await.unwrap();
        let row = rows.iter().find(|r| r.person.person_id == p[0]).expect("a person with no card but high costs is listed");
        assert_eq!((row.batch(), row.own_payment), (Some(CareBatch::Backstop), first.patient_total.fen() + second.patient_total.fen()));
        assert!(row.own_payment >= health::HIGH_COST_FEN);
        assert!(health::batches(&db, &catalog, region("371302"), 2023).await.unwrap().is_empty(), "by year");
    }

    confidentiality_follows_the_disease_not_the_catalogue_listing(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let catalog = health::catalog(&db).await.unwrap();
        assert!(catalog.base().entry("B23.0").is_none(), "the built-in catalogue does not list acute HIV infection");
        let input = CardInput { code: "B23.0".into(), name: "急性HIV感染综合征".into(), ..Default::default() };
        let (saved, updated) = health::record_card(&db, catalog.base(), p[0], &input, "doc", d("2024-03-01"), &audit("card.save")).await.unwrap();
        assert!(saved.confidential && !updated);
        assert!(db.disease_cards(&[p[0]]).await.unwrap().iter().all(|c| c.card.confidential));
    }

    a_diagnosis_lies_between_birth_and_today(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let catalog = health::catalog(&db).await.unwrap();
        let born = db.person(p[0]).await.unwrap().unwrap().person.id_number.birth_date();
        let on = |date: &str| CardInput { code: "I10".into(), diagnosed_on: date.into(), ..Default::default() };
        let e = health::record_card(&db, catalog.base(), p[0], &on("1850-05-01"), "doc", d("2024-03-01"), &audit("card.save")).await.unwrap_err();
        assert!(e.to_string().contains(&format!("确诊日期 1850-05-01 早于出生日期 {born}")), "{e}");
        let year_before = (chrono::Datelike::year(&born) - 1).to_string();
        assert!(health::record_card(&db, catalog.base(), p[0], &on(&year_before), "doc", d("2024-03-01"), &audit("card.save")).await.is_err());
        // The year of birth alone is accepted (its first day may be before the birthday).
        let year_of_birth = chrono::Datelike::year(&born).to_string();
        health::record_card(&db, catalog.base(), p[0], &on(&year_of_birth), "doc", d("2024-03-01"), &audit("card.save")).await.unwrap();
        assert!(health::record_card(&db, catalog.base(), p[0], &on("2024-03-02"), "doc", d("2024-03-01"), &audit("card.save")).await.unwrap_err().to_string().contains("晚于今天"));
    }

    a_card_saved_again_for_its_code_is_an_update_that_keeps_the_earlier_values(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let catalog = health::catalog(&db).await.unwrap();
        let on = |date: &str, plan: &str| CardInput { code: "I10".into(), diagnosed_on: date.into(), plan: plan.into(), ..Default::default() };
        let (_, updated) = health::record_card(&db, catalog.base(), p[0], &on("2020-05-01", "规律服药"), "doc", d("2024-03-01"), &audit("card.save")).await.unwrap();
        assert!(!updated);
        let (card, updated) = health::record_card(&db, catalog.base(), p[0], &on("2019-05-01", "规律服药，低盐饮食"), "doc2", d("2024-03-02"), &audit("card.save")).await.unwrap();
        assert!(updated);
        assert_eq!(card.diagnosed_on, Some(d("2019-05-01")));
        let cards = db.disease_cards(&[p[0]]).await.unwrap();
        assert_eq!(cards.len(), 1, "one card per disease");
        assert_eq!((cards[0].card.plan.as_str(), cards[0].recorded_by.as_str()), ("规律服药，低盐饮食", "doc2"));
        let revisions = db.card_revisions(&[cards[0].id]).await.unwrap();
        let earlier = &revisions[&cards[0].id];
        assert_eq!(earlier.len(), 1);
        assert_eq!((earlier[0].diagnosed_on, earlier[0].plan.as_str(), earlier[0].recorded_by.as_str(), earlier[0].replaced_by.as_str()), (Some(d("2020-05-01")), "规律服药", "doc", "doc2"));
        // The same values again are no revision.
        health::record_card(&db, catalog.base(), p[0], &on("2019-05-01", "规律服药，低盐饮食"), "doc3", d("2024-03-03"), &audit("card.save")).await.unwrap();
        assert_eq!(db.card_revisions(&[cards[0].id]).await.unwrap()[&cards[0].id].len(), 1);
        assert_eq!(db.disease_cards(&[p[0]]).await.unwrap()[0].recorded_by, "doc2");

        // Saved together (a file), a card of the same code later in the list updates the earlier
        // one with a revision, as one by one; the ledger takes the patient once.
        let card = |plan: &str| huimin_store::DiseaseCard {
            person_id: p[1], disease_code: "E11".into(), disease_name: "2型糖尿病".into(), diagnosed_on: None, diagnosed_at: String::new(),
            prognosis: huimin_domain::Prognosis::LongTerm, plan: plan.into(), confidential: false,
        };
        db.save_disease_cards(&[(card("饮食控制"), true), (card("二甲双胍"), true)], "doc4", d("2024-03-04"), &audit("health.import")).await.unwrap();
        let saved = db.disease_cards(&[p[1]]).await.unwrap();
        assert_eq!(saved.iter().map(|c| c.card.plan.as_str()).collect::<Vec<_>>(), ["二甲双胍"]);
        assert_eq!(db.card_revisions(&[saved[0].id]).await.unwrap()[&saved[0].id].iter().map(|r| r.plan.as_str()).collect::<Vec<_>>(), ["饮食控制"]);
        // A card of a person not in the registry refuses the whole list, naming the person.
        let stranger = huimin_store::DiseaseCard { person_id: 999_999, ..card("x") };
        let e = db.save_disease_cards(&[(card("胰岛素"), false), (stranger, false)], "doc4", d("2024-03-04"), &audit("health.import")).await.unwrap_err();
        assert!(e.to_string().contains("人员 999999 不存在"), "{e}");
        assert_eq!(db.disease_cards(&[p[1]]).await.unwrap()[0].card.plan, "二甲双胍", "nothing of it was saved");
    }

    the_treatment_ledger_follows_a_major_disease(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let catalog = health::catalog(&db).await.unwrap();
        health::record_card(&db, catalog.base(), p[1], &card("c16.9"), "doc", d("2024-03-01"), &audit("card.save")).await.unwrap();
        health::record_card(&db, catalog.base(), p[0], &card("I10"), "doc", d("2024-03-01"), &audit("card.save")).await.unwrap();
        let e = health::record_card(&db, catalog.base(), p[0], &CardInput { code: "I10".into(), diagnosed_on: "2099-01-01".into(), ..Default::default() }, "doc", d("2024-03-01"), &audit("card.save")).await.unwrap_err();
        assert!(e.to_string().contains("晚于今天"), "{e}");
        assert!(health::record_card(&db, catalog.base(), p[0], &card("K29.9"), "doc", d("2024-03-01"), &audit("card.save")).await.unwrap_err().to_string().contains("请填写疾病名称"));

        let ledger = db.treatments(region("371302"), None).await.unwrap();
        assert_eq!(ledger.len(), 1, "only the major disease enters the ledger");
        let t = &ledger[0];
        assert_eq!((t.person_id, t.status, t.identified_on), (p[1], TreatmentStatus::Identified, d("2024-03-01")));
        // Recording the card again does not identify the patient twice.
        health::record_card(&db, catalog.base(), p[1], &card("C16.9"), "doc", d("2024-04-01"), &audit("card.save")).await.unwrap();
        assert_eq!(db.treatments(region("371302"), None).await.unwrap().len(), 1);

        let update = |status, facility: Option<&str>| TreatmentUpdate { status, facility_code: facility.map(str::to_string), plan: "胃癌根治术＋化疗".into(), reason: String::new(), on: d("2024-04-10") };
        let moved = db.update_treatment(t.id, &update(TreatmentStatus::InTreatment, Some("H2")), "county", &audit("treatment.update")).await.unwrap();
        assert_eq!((moved.status, moved.facility_name.as_deref()), (TreatmentStatus::InTreatment, Some("兰山区人民医院")));
        assert!(db.update_treatment(t.id, &update(TreatmentStatus::Identified, None), "county", &audit("treatment.update")).await.unwrap_err().to_string().contains("不能从"));
        assert!(db.update_treatment(t.id, &update(TreatmentStatus::Treated, Some("NOPE")), "county", &audit("treatment.update")).await.is_err(), "an unknown hospital is refused");
        assert_eq!(db.treatment(t.id).await.unwrap().unwrap().status, TreatmentStatus::InTreatment, "nothing half-applied");
        db.update_treatment(t.id, &update(TreatmentStatus::Treated, Some("H2")), "county", &audit("treatment.update")).await.unwrap();
        assert_eq!(db.treatments(region("371302"), Some(TreatmentStatus::Treated)).await.unwrap().len(), 1);
        assert!(db.treatments(region("371302002"), None).await.unwrap().is_empty(), "another township's ledger is empty");
    }

    screening_progress_by_region(db) {
        let dir = tempfile::tempdir().unwrap();
        setup(&db, dir.path()).await;
        assert!(db.create_campaign("筛查", region("371302"), d("2024-05-04"), d("2024-05-01"), "county", &audit("campaign.create")).await.is_err());
        let c = db.create_campaign("2024年因病致贫筛查", region("371302"), d("2024-05-04"), d("2024-06-30"), "county", &audit("campaign.create")).await.unwrap();
        let screen = |no: &str, ill: bool| Screening { household_no: no.into(), screened_on: d("2024-05-10"), screened_by: "村医".into(), result: "核实".into(), illness_poor: ill };
        db.record_screenings(c, &[screen("H1", true)], &audit("screening.record")).await.unwrap();
        db.record_screenings(c, &[screen("H3", false)], &audit("screening.record")).await.unwrap();
        db.record_screenings(c, &[screen("H3", true)], &audit("screening.record")).await.unwrap();
        assert!(db.record_screenings(c, &[screen("H2", true), screen("NOPE", true)], &audit("screening.record")).await.is_err());
        assert!(db.screening(c, "H2").await.unwrap().is_none(), "a batch with a bad household records nothing");
        let progress = db.screening_progress(c, region("371302")).await.unwrap();
        let by: Vec<(String, i64, i64, i64)> = progress.iter().map(|p| (p.region.to_string(), p.to_screen, p.screened, p.illness_poor)).collect();
        assert_eq!(by, [("371302001000".to_string(), 2, 1, 1), ("371302002000".to_string(), 1, 1, 1)]);
        let village = db.screening_progress(c, region(V1)).await.unwrap();
        assert_eq!((village.len(), village[0].to_screen, village[0].screened), (1, 2, 1), "a village is its own row");
        let list = db.households_to_screen(c, region(V1), 100).await.unwrap();
        assert_eq!(list.iter().filter(|(_, _, s)| s.is_none()).count(), 1);
        assert_eq!(db.campaigns(region("371302002")).await.unwrap().len(), 1, "a township sees the county's campaign");
    }

    a_screening_is_stored_once_per_key_and_a_stale_one_is_a_conflict(db) {
        let dir = tempfile::tempdir().unwrap();
        setup(&db, dir.path()).await;
        let c = db.create_campaign("筛查", region("371302"), d("2024-05-01"), d("2024-06-30"), "county", &audit("campaign.create")).await.unwrap();
        let screen = |result: &str| Screening { household_no: "H1".into(), screened_on: d("2024-05-10"), screened_by: "村医".into(), result: result.into(), illness_poor: false };
        let v1 = match db.record_screening(c, &screen("甲"), "key-one-0001", Some(None), &audit("screening.record")).await.unwrap() {
            ScreeningWrite::Stored { version } => version,
            w => panic!("{w:?}"),
        };
        assert!(matches!(db.record_screening(c, &screen("甲"), "key-one-0001", Some(None), &audit("screening.record")).await.unwrap(), ScreeningWrite::Before { version } if version == v1));
        // Another device that saw no result, and one that saw an older version: conflicts.
        match db.record_screening(c, &screen("乙"), "key-two-0002", Some(None), &audit("screening.record")).await.unwrap() {
            ScreeningWrite::Stale(current) => assert_eq!((current.screening.result.as_str(), current.version.as_str()), ("甲", v1.as_str())),
            w => panic!("{w:?}"),
        }
        assert!(matches!(db.record_screening(c, &screen("乙"), "key-two-0002", Some(Some("2024-01-01T00:00:00Z")), &audit("screening.record")).await.unwrap(), ScreeningWrite::Stale(_)));
        assert_eq!(db.screening(c, "H1").await.unwrap().unwrap().result, "甲");
        // Based on the version stored, or with no version at all: written.
        assert!(matches!(db.record_screening(c, &screen("乙"), "key-two-0002", Some(Some(&v1)), &audit("screening.record")).await.unwrap(), ScreeningWrite::Stored { .. }));
        assert!(matches!(db.record_screening(c, &screen("丙"), "key-three-003", None, &audit("screening.record")).await.unwrap(), ScreeningWrite::Stored { .. }));
        assert_eq!(db.screening(c, "H1").await.unwrap().unwrap().result, "丙");
        let list = db.households_to_screen(c, region("371302"), 10).await.unwrap();
        assert!(list.iter().any(|(no, _, s)| no == "H1" && s.as_ref().is_some_and(|s| s.screening.result == "丙" && !s.version.is_empty())));
    }

    exams_are_checked_and_kept(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let r = ExamReadings::parse("142", "92", "7.2", "168", "70.5").unwrap();
        db.record_exam(p[0], d("2024-04-01"), &r, "血压偏高，建议复查", "一镇卫生院", "doc", &audit("exam.record")).await.unwrap();
        assert!(db.record_exam(99_999, d("2024-04-01"), &r, "", "", "doc", &audit("exam.record")).await.is_err());
        let exams = db.exams(&[p[0]]).await.unwrap();
        assert_eq!(exams.len(), 1);
        assert_eq!((exams[0].readings, exams[0].readings.bmi_tenths()), (r, Some(250)));
    }
}

#[tokio::test]
async fn a_county_extends_the_catalogue() {
    let db = huimin_store::testing::sqlite().await;
    let ext = "[sources]\ncounty = \"本县慢性病目录\"\n[[disease]]\ncode = \"K29.5\"\nname = \"慢性胃炎\"\ngroups = [\"chronic\"]\nsource = \"county\"\n";
    let county = huimin_domain::RegionCode::parse("371302").unwrap();
    assert!(health::load_catalog_file(&db, county, "bad.toml", "[[disease]]\ncode = \"K29.5\"\nname = \"x\"\ngroups = [\"nope\"]\nsource = \"s\"\n", "bureau", &audit("catalog.load")).await.is_err());
    assert!(db.catalog_files().await.unwrap().is_empty(), "a bad file is not stored");
    health::load_catalog_file(&db, county, "county.toml", ext, "bureau", &audit("catalog.load")).await.unwrap();
    let all = health::catalog(&db).await.unwrap();
    let c = all.for_region(huimin_domain::RegionCode::parse("371302001001").unwrap());
    assert_eq!(c.batch_for(["K29.5"], false), Some(CareBatch::Contract));
    assert_eq!(c.batch_for(["C34.9"], false), Some(CareBatch::Centralised), "the built-in entries stay");
    // The next county keeps the catalogue it had.
    let next = all.for_region(huimin_domain::RegionCode::parse("371311001001").unwrap());
    assert_eq!(next.batch_for(["K29.5"], false), None);
    assert_eq!(db.catalog_files().await.unwrap()[0].2, Some(county));
}
