//! The county code of every person-scoped row (migration 0022, docs/scaling.md): on both
//! backends every row written by the demo county's whole workload carries its person's or
//! household's county; on PostgreSQL every primary key, unique key and foreign key between
//! person-scoped tables includes the county code, as a distributed PostgreSQL requires; and a
//! roster that moves a household or a person to another county is refused, naming them.

use huimin_store::county::PERSON_SCOPED_TABLES;
use huimin_store::{Backend, Store, both_backends};

mod common;

/// The county each table's rows must carry, as SQL over the row `t`.
fn expected_county(table: &str) -> &'static str {
    match table {
        "households" => "SUBSTR(t.region_code, 1, 6)",
        "claim_rollup" => "SUBSTR(t.township, 1, 6)",
        "county_rollup" => "t.county_code",
        "township_figures" => "SUBSTR(t.region_code, 1, 6)",
        "disease_card_revisions" => "(SELECT c.county_code FROM disease_cards c WHERE c.id = t.card_id)",
        "warning_steps" => "(SELECT w.county_code FROM warnings w WHERE w.id = t.warning_id)",
        "persons" | "registry_events" | "screenings" | "household_economics" | "warnings" => {
            "(SELECT SUBSTR(h.region_code, 1, 6) FROM households h WHERE h.household_no = t.household_no)"
        }
        _ => "(SELECT p.county_code FROM persons p WHERE p.id = t.person_id)",
    }
}

/// Rows of each person-scoped table, and how many carry another county than their person's or
/// household's (or none).
async fn county_mismatches(store: &Store) -> Vec<(&'static str, i64, i64)> {
    let mut out = Vec::new();
    for table in PERSON_SCOPED_TABLES {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(store.pool()).await.unwrap();
        let wrong: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {table} t WHERE LENGTH(t.county_code) <> 6 OR t.county_code IS DISTINCT FROM {}",
            expected_county(table)
        ))
        .fetch_one(store.pool())
        .await
        .unwrap();
        out.push((*table, rows, wrong));
    }
    out
}

/// The writes of the person-scoped tables the demo leaves empty: a card saved again (its
/// revision), a batch set by hand, a key group, a stay exception, the nightly figures.
async fn write_what_the_demo_does_not(store: &Store) {
    use huimin_domain::{CareBatch, KeyGroup, RegionCode};
    let audit = common::audit("test");
    let person: i64 = sqlx::query_scalar("SELECT person_id FROM disease_cards ORDER BY id LIMIT 1").fetch_one(store.pool()).await.unwrap();
    let mut card = store.disease_cards(&[person]).await.unwrap().remove(0).card;
    card.plan = format!("{}（复查）", card.plan);
    store.save_disease_cards(&[(card, false)], "test", common::d("2026-03-01"), &audit).await.unwrap();
    store.set_batch_override(person, Some(CareBatch::Backstop), false, "手工调整", "test", &audit).await.unwrap();
    store.add_key_group(person, KeyGroup::Pregnant, "孕 12 周", &audit).await.unwrap();
    let facility: String = sqlx::query_scalar("SELECT code FROM facilities ORDER BY code LIMIT 1").fetch_one(store.pool()).await.unwrap();
    let stay = huimin_store::NewStayException {
        person_id: person,
        facility_code: facility,
        admission: common::d("2026-02-01"),
        discharge: common::d("2026-02-05"),
        reason: "转院".into(),
        approved_by: "test".into(),
    };
    store.approve_stay_exception(&stay, &audit).await.unwrap();
    let catalog = huimin_app::health::catalog(store).await.unwrap();
    let county: String = sqlx::query_scalar("SELECT MIN(SUBSTR(region_code, 1, 6)) FROM households").fetch_one(store.pool()).await.unwrap();
    let n = huimin_app::indicators::refresh_figures(store, &catalog, RegionCode::parse(&county).unwrap(), 2026, common::d("2026-03-01"), true).await.unwrap();
    assert!(n > 0);
}

both_backends! {
    demo_rows_carry_their_county(db) {
        let dir = tempfile::tempdir().unwrap();
        huimin_app::demo::load(&db, dir.path()).await.unwrap();
        write_what_the_demo_does_not(&db).await;
        let found = county_mismatches(&db).await;
        let wrong: Vec<_> = found.iter().filter(|(_, _, w)| *w > 0).collect();
        assert!(wrong.is_empty(), "rows without their person's county: {wrong:?}");
        let empty: Vec<_> = found.iter().filter(|(_, n, _)| *n == 0).map(|(t, ..)| *t).collect();
        assert!(empty.is_empty(), "the demo writes no rows into {empty:?}: the check above says nothing of them");
    }
}

/// The rule a distributed PostgreSQL (Citus) puts on a table distributed by `county_code`,
/// checked over the schema the migrations make.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keys_carry_the_county() {
    let Some(db) = huimin_store::testing::postgres().await else { return };
    assert_eq!(db.backend(), Backend::Postgres);
    let pool = db.pool();
    let mut broken = Vec::new();
    for table in PERSON_SCOPED_TABLES {
        let nullable: Option<String> = sqlx::query_scalar(
            "SELECT is_nullable::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'county_code'",
        )
        .bind(*table)
        .fetch_optional(pool)
        .await
        .unwrap();
        if nullable.as_deref() != Some("NO") {
            broken.push(format!("{table}: no county_code NOT NULL column"));
        }
        // Every unique index, the primary key's included, and partial ones.
        let unique: Vec<(String, String)> = sqlx::query_as(
            "SELECT i.indexrelid::regclass::text, COALESCE(string_agg(a.attname::text, ','), '') FROM pg_index i \
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = $1::regclass AND i.indisunique GROUP BY 1",
        )
        .bind(*table)
        .fetch_all(pool)
        .await
        .unwrap();
        if unique.is_empty() {
            broken.push(format!("{table}: no primary key"));
        }
        for (index, columns) in unique {
            if !columns.split(',').any(|c| c == "county_code") {
                broken.push(format!("{table}: unique index {index} ({columns}) without county_code"));
            }
        }
    }
    // Every foreign key that points at a person-scoped table: from another one, both sides
    // with the county code.
    let foreign: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT c.conname::text, c.conrelid::regclass::text, c.confrelid::regclass::text, \
         (SELECT string_agg(attname::text, ',') FROM pg_attribute WHERE attrelid = c.conrelid AND attnum = ANY(c.conkey)), \
         (SELECT string_agg(attname::text, ',') FROM pg_attribute WHERE attrelid = c.confrelid AND attnum = ANY(c.confkey)) \
         FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let scoped = |t: &str| PERSON_SCOPED_TABLES.contains(&t);
    let mut checked = 0;
    for (name, from, to, columns, referenced) in &foreign {
        if !scoped(to) {
            continue;
        }
        checked += 1;
        if !scoped(from) {
            broken.push(format!("{from}.{name}: refers to {to} but is not a person-scoped table (add it to PERSON_SCOPED_TABLES)"));
        }
        if !columns.split(',').any(|c| c == "county_code") || !referenced.split(',').any(|c| c == "county_code") {
            broken.push(format!("{from}.{name}: ({columns}) → {to} ({referenced}) without county_code"));
        }
    }
    assert!(checked >= 20, "only {checked} foreign keys to person-scoped tables: the query found too few to mean anything");
    // A table that names a person or a household is person-scoped.
    let naming: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT table_name::text FROM information_schema.columns WHERE table_schema = current_schema() \
         AND column_name IN ('person_id', 'household_no')",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for table in naming.iter().filter(|t| !scoped(t)) {
        broken.push(format!("{table}: has a person or household column but is not in PERSON_SCOPED_TABLES"));
    }
    assert!(broken.is_empty(), "the county-code rule is broken:\n{}", broken.join("\n"));
}

/// The common set-up (county 371302) and a village of a second county, 371311.
async fn two_counties(db: &Store, dir: &std::path::Path) {
    common::setup(db, dir).await;
    let path = dir.join("regions-371311.csv");
    std::fs::write(&path, "区划代码,名称\n371311,罗庄区\n371311001,罗一镇\n371311001201,罗一村\n").unwrap();
    huimin_app::import::import_regions(db, &path).await.unwrap();
}

both_backends! {
    a_roster_does_not_move_files_between_counties(db) {
        use huimin_app::import::{self, RosterImport};
        use common::{V1, V2, d, id};
        let dir = tempfile::tempdir().unwrap();
        two_counties(&db, dir.path()).await;
        let write = |name: &str, text: String| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let roster = |h3_village: &str, h9: &str| {
            format!(
                "户编号,户主姓名,与户主关系,姓名,证件号码,民族,行政区划代码,贫困户属性,脱贫状态,主要致贫原因\n\
                 H1,张三,户主,张三,{},汉族,{V1},低保贫困户,未脱贫,因病\n\
                 H1,张三,配偶,李四娘,{},汉族,{V1},低保贫困户,未脱贫,因病\n\
                 H2,王五,户主,王五,{},汉族,{V1},一般贫困户,未脱贫,缺劳力\n\
                 H3,赵六,户主,赵六,{},汉族,{h3_village},特困供养贫困户,未脱贫,因病\n{h9}",
                id(1), id(2), id(3), id(4)
            )
        };
        let import = |text: String| {
            let path = write("roster2.csv", text);
            let db = &db;
            async move { import::import_roster(db, &path, &RosterImport::new("test", d("2024-02-01"))).await }
        };
        // The household moved to a village of another county.
        let err = import(roster("371311001201", "")).await.unwrap_err().to_string();
        assert!(err.contains("H3") && err.contains("371302") && err.contains("371311") && err.contains("跨县迁移"), "{err}");
        // A person of county 371302 listed in a new household of the other county.
        let moved = format!("H9,钱七,户主,钱七,{},汉族,371311001201,一般贫困户,未脱贫,因病\n", id(2));
        let err = import(roster(V2, &moved).replace(&format!("H1,张三,配偶,李四娘,{},汉族,{V1},低保贫困户,未脱贫,因病\n", id(2)), "")).await.unwrap_err().to_string();
        assert!(err.contains("跨县迁移") && err.contains("H9") && !err.contains(&id(2)), "{err}");
        // Neither wrote anything; a move inside the county still goes through.
        let h3: String = sqlx::query_scalar("SELECT region_code FROM households WHERE household_no = 'H3'").fetch_one(db.pool()).await.unwrap();
        assert_eq!(h3, V2);
        let h9: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM households WHERE household_no = 'H9'").fetch_one(db.pool()).await.unwrap();
        assert_eq!(h9, 0);
        import(roster(V1, "")).await.unwrap();
        let (region, county): (String, String) =
            sqlx::query_as("SELECT region_code, county_code FROM households WHERE household_no = 'H3'").fetch_one(db.pool()).await.unwrap();
        assert_eq!((region.as_str(), county.as_str()), (V1, "371302"));
    }
}

both_backends! {
    a_claim_number_is_settled_once_across_counties(db) {
        use huimin_app::import::{self, RosterImport};
        use huimin_app::settlement::{self, PolicySet, SettleRequest};
        use huimin_domain::{IdNumber, Money};
        use common::{V1, d, id};
        let dir = tempfile::tempdir().unwrap();
        two_counties(&db, dir.path()).await;
        let write = |name: &str, text: String| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let roster = format!(
            "户编号,户主姓名,与户主关系,姓名,证件号码,民族,行政区划代码,贫困户属性,脱贫状态,主要致贫原因\n\
             H1,张三,户主,张三,{},汉族,{V1},低保贫困户,未脱贫,因病\n\
             H7,孙八,户主,孙八,{},汉族,371311001201,低保贫困户,未脱贫,因病\n",
            id(1), id(7)
        );
        import::import_roster(&db, &write("roster2.csv", roster), &RosterImport::new("test", d("2024-02-01"))).await.unwrap();
        let policy = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/worked-example.toml")).unwrap();
        let audit = common::audit("settle");
        settlement::load_policy(&db, "a.toml", &policy, false, &audit).await.unwrap();
        let other = policy.replacen(r#"id = "worked-example""#, r#"id = "worked-example-371311""#, 1).replace(r#"region = "371302""#, r#"region = "371311""#);
        settlement::load_policy(&db, "b.toml", &other, false, &audit).await.unwrap();
        let set = PolicySet::load(&db).await.unwrap();
        let person = |seq| {
            let db = &db;
            async move { db.person_by_id_number(&IdNumber::parse(&id(seq)).unwrap()).await.unwrap().unwrap().id }
        };
        let (p1, p7) = (person(1).await, person(7).await);
        let stay = |no: &str, person_id: i64, admission: &str| SettleRequest {
            claim_no: no.into(), person_id, facility_code: "H2".into(), visit: huimin_policy::VisitType::Inpatient,
            admission: d(admission), discharge: d(admission) + chrono::Duration::days(3), diseases: vec![],
            cat_a: Money::from_yuan(5000).unwrap(), cat_b: Money::from_yuan(0).unwrap(),
            out_of_catalogue: Money::from_yuan(0).unwrap(), necessary: Money::from_yuan(0).unwrap(),
        };
        settlement::settle_claim(&db, &set, &stay("H2-1", p1, "2024-03-01"), "jsck", &audit).await.unwrap();
        // The other county's person: settled under its own policy, but not under a number taken.
        settlement::settle_claim(&db, &set, &stay("H2-2", p7, "2024-03-01"), "jsck", &audit).await.unwrap();
        let err = settlement::settle_claim(&db, &set, &stay("H2-1", p7, "2024-04-01"), "jsck", &audit).await.unwrap_err().to_string();
        assert!(err.contains("已结算过"), "{err}");
        let counties: Vec<String> = sqlx::query_scalar("SELECT county_code FROM claims ORDER BY claim_no").fetch_all(db.pool()).await.unwrap();
        assert_eq!(counties, ["371302", "371311"]);
        // The same new number for both at the same moment: each reads it free before either
        // commits, and only the number's own key (PostgreSQL's claim_numbers) keeps one out.
        for i in 0..30 {
            let no = format!("H2-R{i}");
            let day = (d("2024-05-01") + chrono::Duration::days(4 * i)).to_string();
            let (a, b) = (stay(&no, p1, &day), stay(&no, p7, &day));
            let (a, b) = tokio::join!(settlement::settle_claim(&db, &set, &a, "jsck", &audit), settlement::settle_claim(&db, &set, &b, "jsck", &audit));
            assert!(a.is_ok() != b.is_ok(), "{no}: {:?} / {:?}", a.as_ref().map(|b| &b.claim_no), b.as_ref().map(|b| &b.claim_no));
            let refusal = a.err().or(b.err()).unwrap().to_string();
            assert!(refusal.contains("已结算过"), "{refusal}");
        }
    }
}
