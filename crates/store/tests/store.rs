//! The store suite: every test runs on SQLite and on PostgreSQL.

use huimin_domain::*;
use huimin_store::{EventInput, EventKind, RosterChanges, Store, StoreError, both_backends};

fn code(s: &str) -> RegionCode {
    RegionCode::parse(s).unwrap()
}

fn d(s: &str) -> Date {
    Date::parse_from_str(s, "%Y-%m-%d").unwrap()
}

const COUNTY: &str = "371302000000";
const VILLAGE: &str = "371302104203";

async fn seed_regions(store: &Store) {
    let regions = [
        ("370000000000", "山东省"),
        ("371300000000", "临沂市"),
        (COUNTY, "兰山区"),
        ("371302104000", "白沙埠镇"),
        (VILLAGE, "诸葛村"),
        ("371302104204", "孝友村"),
    ];
    let regions: Vec<Region> = regions.iter().map(|(c, n)| Region { code: code(c), name: n.to_string() }).collect();
    store.upsert_regions(&regions).await.unwrap();
}

fn household(no: &str, village: &str, head: &str) -> Household {
    Household {
        no: HouseholdNo::parse(no).unwrap(),
        region: code(village),
        head_name: PersonName::parse(head).unwrap(),
        category: PovertyCategory::Dibao,
        status: PovertyStatus::NotLifted,
        cause: PovertyCause::Illness,
        phone: None,
    }
}

fn person(id: &str, household: &str, name: &str, relation: Relation) -> Person {
    Person {
        id_number: IdNumber::parse(id).unwrap(),
        household_no: HouseholdNo::parse(household).unwrap(),
        name: PersonName::parse(name).unwrap(),
        relation,
        ethnicity: Ethnicity::han(),
        phone: None,
    }
}

fn entry() -> Option<EventInput> {
    Some(EventInput { kind: EventKind::Entry, reason: "建档立卡".into(), changes: None })
}

fn id_for(seq: u16) -> String {
    IdNumber::compose(371302, d("1960-03-15"), seq).unwrap().as_str().to_string()
}

async fn seed_household(store: &Store) -> i64 {
    seed_regions(store).await;
    let changes = RosterChanges {
        file_name: "2024.csv".into(),
        actor: "tester".into(),
        effective_date: Some(d("2024-01-01")),
        households: vec![(household("H001", VILLAGE, "张三"), entry())],
        persons: vec![
            (person(&id_for(11), "H001", "张三", Relation::Head), entry()),
            (person(&id_for(12), "H001", "李四娘", Relation::Spouse), entry()),
        ],
        ..Default::default()
    };
    store.apply_roster(changes).await.unwrap()
}

#[tokio::test]
async fn a_mistyped_url_is_an_error_not_a_new_database() {
    let err = Store::connect("sqlit://huimin.db").await.unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{err}");
}

both_backends! {
    migrations_run_once(db) {
        assert_eq!(db.migrate().await.unwrap(), 0, "already migrated at connect");
    }

    region_tree(db) {
        seed_regions(&db).await;
        let roots = db.root_regions().await.unwrap();
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].name, "山东省");
        let villages = db.child_regions(code("371302104000")).await.unwrap();
        assert_eq!(villages.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["诸葛村", "孝友村"]);
        // Renaming keeps the code.
        db.upsert_regions(&[Region { code: code(VILLAGE), name: "诸葛社区".into() }]).await.unwrap();
        assert_eq!(db.region(code(VILLAGE)).await.unwrap().unwrap().name, "诸葛社区");
        assert_eq!(db.region_codes().await.unwrap().len(), 6);
    }

    facilities_inside_a_region(db) {
        seed_regions(&db).await;
        let f = Facility {
            code: "H37130201".into(),
            name: "兰山区人民医院".into(),
            level: FacilityLevel::Two,
            kind: "县级医院".into(),
            region: code(COUNTY),
            designated: true,
            poverty_beds: 20,
        };
        db.upsert_facilities(&[f.clone()]).await.unwrap();
        assert_eq!(db.facilities(code(COUNTY)).await.unwrap(), vec![f.clone()]);
        assert!(db.facilities(code("371300000000")).await.unwrap().len() == 1);
        assert!(db.facilities(code("371302104000")).await.unwrap().is_empty());
    }

    roster_applies_with_history(db) {
        seed_household(&db).await;
        let no = HouseholdNo::parse("H001").unwrap();
        let h = db.household(&no).await.unwrap().unwrap();
        assert!(h.in_programme);
        assert_eq!(h.household.category, PovertyCategory::Dibao);
        let members = db.household_members(&no).await.unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].person.relation, Relation::Head);
        let history = db.household_history(&no).await.unwrap();
        assert_eq!(history.len(), 3);
        assert!(history.iter().all(|e| e.kind == EventKind::Entry && e.actor == "tester"));
        let rewrite = sqlx::query("UPDATE registry_events SET reason = 'x'").execute(db.pool()).await;
        assert!(rewrite.unwrap_err().to_string().contains("append-only"), "history is never overwritten");
        assert!(sqlx::query("DELETE FROM registry_events").execute(db.pool()).await.is_err());
        let counts = db.registry_counts(code(COUNTY)).await.unwrap();
        assert_eq!((counts.households, counts.persons, counts.illness_households), (1, 2, 1));
        assert_eq!(db.registry_counts(code("371302104204")).await.unwrap().persons, 0);
    }

    search_by_initials_name_id_and_household(db) {
        seed_household(&db).await;
        let county = code(COUNTY);
        let names = |hits: Vec<huimin_store::PersonHit>| hits.into_iter().map(|h| h.name).collect::<Vec<_>>();
        assert_eq!(names(db.search_persons(county, "zs", 10).await.unwrap()), ["张三"]);
        assert_eq!(names(db.search_persons(county, "ZS", 10).await.unwrap()), ["张三"]);
        assert_eq!(names(db.search_persons(county, "四", 10).await.unwrap()), ["李四娘"]);
        assert_eq!(names(db.search_persons(county, &id_for(12), 10).await.unwrap()), ["李四娘"]);
        assert_eq!(db.search_persons(county, "H001", 10).await.unwrap().len(), 2);
        // Outside the searcher's region nothing is found.
        assert!(db.search_persons(code("371302104204"), "zs", 10).await.unwrap().is_empty());
        assert!(db.search_persons(county, "%", 10).await.unwrap().is_empty());
    }

    exit_and_entry_are_dated_events(db) {
        seed_household(&db).await;
        let p = db.person_by_id_number(&IdNumber::parse(&id_for(12)).unwrap()).await.unwrap().unwrap();
        db.record_person_event(p.id, EventKind::Exit, d("2024-06-30"), "迁出", "clerk").await.unwrap();
        assert!(db.in_programme_on(p.id, d("2024-06-29")).await.unwrap());
        assert!(!db.in_programme_on(p.id, d("2024-06-30")).await.unwrap());
        assert!(!db.in_programme_on(p.id, d("2023-12-31")).await.unwrap(), "not yet registered");
        assert!(!db.person(p.id).await.unwrap().unwrap().in_programme);
        db.record_person_event(p.id, EventKind::Entry, d("2025-02-01"), "返贫", "clerk").await.unwrap();
        assert!(db.in_programme_on(p.id, d("2025-02-01")).await.unwrap());
        let history = db.household_history(&HouseholdNo::parse("H001").unwrap()).await.unwrap();
        let last = history.last().unwrap();
        assert_eq!((last.kind, last.reason.as_str(), last.person_name.as_deref()), (EventKind::Entry, "返贫", Some("李四娘")));
        assert!(matches!(db.record_person_event(999_999, EventKind::Exit, d("2025-01-01"), "x", "y").await, Err(StoreError::NotFound(_))));
    }

    an_unknown_region_applies_nothing(db) {
        seed_household(&db).await;
        let changes = RosterChanges {
            file_name: "bad.csv".into(),
            actor: "tester".into(),
            households: vec![(household("H002", "371302104299", "王五"), entry())],
            persons: vec![(person(&id_for(21), "H002", "王五", Relation::Head), entry())],
            ..Default::default()
        };
        let err = db.apply_roster(changes).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert!(db.household(&HouseholdNo::parse("H002").unwrap()).await.unwrap().is_none());
        let imports: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM imports").fetch_one(db.pool()).await.unwrap();
        assert_eq!(imports, 1, "the failed import left no trace");
    }

    snapshot_sees_scope_and_named_persons(db) {
        seed_household(&db).await;
        let elsewhere = code("371302104204");
        let id = IdNumber::parse(&id_for(11)).unwrap();
        let snap = db.registry_snapshot(&[elsewhere], &[id.clone()]).await.unwrap();
        assert!(snap.households.is_empty());
        assert_eq!(snap.persons.len(), 1);
        assert_eq!(snap.persons[&id].person.name.as_str(), "张三");
        let snap = db.registry_snapshot(&[code(COUNTY)], &[]).await.unwrap();
        assert_eq!((snap.households.len(), snap.persons.len()), (1, 2));
    }
}

fn audit(action: &str, target: &str) -> huimin_store::AuditEntry {
    huimin_store::AuditEntry {
        user_id: None,
        username: "admin".into(),
        ip: "127.0.0.1".into(),
        action: action.into(),
        target: target.into(),
        detail: String::new(),
        region: None,
    }
}

/// What an insider with write access to the database, but not the key, can do: remove the
/// guard, then rewrite entries from `from` on with a correctly recomputed SHA-256 chain and head.
async fn recompute_chain(db: &Store, from: i64) {
    use sha2::{Digest, Sha256};
    let rows = sqlx::query("SELECT seq, at, user_id, username, ip, action, target, detail, prev_hash, region_code FROM audit_log ORDER BY seq").fetch_all(db.pool()).await.unwrap();
    let mut prev = "0".repeat(64);
    for r in &rows {
        use sqlx::Row;
        let seq: i64 = r.get("seq");
        if seq >= from {
            let mut fields = serde_json::json!([prev, seq, r.get::<String, _>("at"), r.get::<Option<i64>, _>("user_id"), r.get::<String, _>("username"), r.get::<String, _>("ip"), r.get::<String, _>("action"), r.get::<String, _>("target"), r.get::<String, _>("detail")]);
            if let Some(region) = r.get::<Option<String>, _>("region_code") {
                fields.as_array_mut().unwrap().push(region.into());
            }
            let hash: String = Sha256::digest(fields.to_string().as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
            sqlx::query("UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE seq = $3").bind(&prev).bind(&hash).bind(seq).execute(db.pool()).await.unwrap();
            prev = hash;
        } else {
            prev = sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1").bind(seq).fetch_one(db.pool()).await.unwrap();
        }
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1").bind(rows.len() as i64).bind(&prev).execute(db.pool()).await.unwrap();
}

/// Eight entries (the third of a village), a checkpoint, and the database's guard removed.
async fn keyed_log_without_its_guard(db: &Store) {
    for i in 0..8 {
        let region = (i == 2).then(|| code("371302001201"));
        db.append_audit(&huimin_store::AuditEntry { region, ..audit("view", &format!("household H{i}")) }).await.unwrap();
    }
    assert!(db.audit_checkpoint().await.unwrap().is_some_and(|l| l.starts_with("8 ")));
    assert_eq!(db.audit_checkpoint().await.unwrap(), None, "nothing new since the last checkpoint");
    assert_eq!(db.verify_audit().await.unwrap().broken_at, None);
    let drop_guard = match db.backend() {
        huimin_store::Backend::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
        huimin_store::Backend::Postgres => "DROP TRIGGER audit_log_append_only ON audit_log;",
    };
    sqlx::raw_sql(drop_guard).execute(db.pool()).await.unwrap();
}

fn broken_at(v: huimin_store::AuditVerification) -> (i64, String) {
    v.broken_at.expect("the tampering is detected")
}

fn new_user(name: &str, role: Role, region: &str) -> huimin_store::NewUser {
    huimin_store::NewUser {
        username: name.into(),
        display_name: name.into(),
        role,
        region: code(region),
        facility_code: None,
        password_hash: "$argon2id$test".into(),
        must_change_password: false,
    }
}

both_backends! {
    a_recomputed_chain_fails_its_macs(db) {
        keyed_log_without_its_guard(&db).await;
        sqlx::query("UPDATE audit_log SET target = 'household H9' WHERE seq = 3").execute(db.pool()).await.unwrap();
        recompute_chain(&db, 3).await;
        let (seq, why) = broken_at(db.verify_audit().await.unwrap());
        assert_eq!(seq, 3, "{why}");
        assert!(why.contains("校验码不符"), "{why}");
    }

    entries_deleted_from_the_end_are_missing_from_a_checkpoint(db) {
        keyed_log_without_its_guard(&db).await;
        sqlx::query("DELETE FROM audit_log WHERE seq > 6").execute(db.pool()).await.unwrap();
        recompute_chain(&db, 7).await;
        let (seq, why) = broken_at(db.verify_audit().await.unwrap());
        assert_eq!(seq, 8, "{why}");
        assert!(why.contains("检查点") && why.contains("被删除"), "{why}");
    }

    a_log_emptied_entirely_is_detected(db) {
        keyed_log_without_its_guard(&db).await;
        sqlx::query("DELETE FROM audit_log").execute(db.pool()).await.unwrap();
        recompute_chain(&db, 1).await;
        let (seq, why) = broken_at(db.verify_audit().await.unwrap());
        assert!(seq >= 1 && why.contains("被删除"), "{seq}: {why}");
    }

    an_inserted_entry_fails_its_mac(db) {
        keyed_log_without_its_guard(&db).await;
        // A new entry 4, the old 4..8 moved up by one, the chain recomputed from there.
        for seq in (4..=8).rev() {
            sqlx::query("UPDATE audit_log SET seq = seq + 1 WHERE seq = $1").bind(seq).execute(db.pool()).await.unwrap();
        }
        sqlx::query("INSERT INTO audit_log (seq, at, user_id, username, ip, action, target, detail, prev_hash, hash) VALUES (4, '2026-01-01T00:00:00Z', NULL, 'admin', '127.0.0.1', 'view', 'household H3b', '', '', '')")
            .execute(db.pool())
            .await
            .unwrap();
        recompute_chain(&db, 4).await;
        let (seq, why) = broken_at(db.verify_audit().await.unwrap());
        assert_eq!(seq, 4, "{why}");
    }

    a_forged_checkpoint_is_detected(db) {
        keyed_log_without_its_guard(&db).await;
        let mut file = db.audit_key_path().unwrap().as_os_str().to_owned();
        file.push(".checkpoints");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replacen("8 ", "5 ", 1)).unwrap();
        let (_, why) = broken_at(db.verify_audit().await.unwrap());
        assert!(why.contains("检查点文件第 1 行被改动"), "{why}");
    }

    a_reason_typed_with_an_id_number_is_stored_masked(db) {
        let id = IdNumber::compose(371302, chrono::NaiveDate::from_ymd_opt(1992, 3, 18).unwrap(), 1).unwrap();
        let e = huimin_store::AuditEntry { detail: format!("reason: 与{}重复登记", id.as_str()), ..audit("reveal", "person 1") };
        db.append_audit(&e).await.unwrap();
        let stored = &db.search_audit(&huimin_store::AuditFilter { limit: 1, ..Default::default() }).await.unwrap()[0];
        assert_eq!(stored.entry.detail, format!("reason: 与{}重复登记", id.masked()));
        assert_eq!(db.verify_audit().await.unwrap().broken_at, None, "the chain covers what is stored");
    }

    a_disabled_users_tokens_stay_revoked(db) {
        seed_regions(&db).await;
        let id = db.create_user(&new_user("his", Role::SettlementClerk, "371302"), &audit("user.create", "his")).await.unwrap();
        db.create_api_token(id, "县医院HIS", "tokenhash", "2099-01-01T00:00:00Z", &audit("token.create", "his")).await.unwrap();
        assert!(db.token_user("tokenhash").await.unwrap().is_some());
        db.update_user(id, Some(false), None, &audit("user.disable", "his")).await.unwrap();
        db.update_user(id, Some(true), None, &audit("user.enable", "his")).await.unwrap();
        assert!(db.token_user("tokenhash").await.unwrap().is_none(), "enabling the user again does not bring the token back");
    }

    audit_entries_are_searched_within_the_users_region(db) {
        keyed_log_without_its_guard(&db).await;
        let search = |region: &str| {
            let db = db.store.clone();
            let region = code(region);
            async move { db.search_audit(&huimin_store::AuditFilter { region: Some(region), limit: 100, ..Default::default() }).await.unwrap().len() }
        };
        // The village's entry for its county; the entries of the command line (no region) for the province only.
        assert_eq!((search("371302").await, search("371311").await, search("37").await, search("371302001201").await), (1, 0, 8, 1));
    }

    audit_chain_detects_tampering(db) {
        for i in 0..5 {
            db.append_audit(&audit("view", &format!("household H{i}"))).await.unwrap();
        }
        let ok = db.verify_audit().await.unwrap();
        assert_eq!((ok.entries, ok.broken_at.clone()), (5, None));
        let found = db.search_audit(&huimin_store::AuditFilter { target: Some("H3".into()), limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].seq, 4);

        // The database refuses changes to the log ...
        let refused = sqlx::query("UPDATE audit_log SET target = 'x' WHERE seq = 3").execute(db.pool()).await;
        assert!(refused.unwrap_err().to_string().contains("append-only"));
        assert!(sqlx::query("DELETE FROM audit_log").execute(db.pool()).await.is_err());

        // ... so someone with full database access first removes the guard, then edits an entry.
        let drop_guard = match db.backend() {
            huimin_store::Backend::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
            huimin_store::Backend::Postgres => "DROP TRIGGER audit_log_append_only ON audit_log;",
        };
        sqlx::raw_sql(drop_guard).execute(db.pool()).await.unwrap();
        sqlx::query("UPDATE audit_log SET target = 'household H9' WHERE seq = 3").execute(db.pool()).await.unwrap();
        let bad = db.verify_audit().await.unwrap();
        assert_eq!(bad.broken_at.map(|(seq, _)| seq), Some(3));
        sqlx::query("UPDATE audit_log SET target = 'household H2' WHERE seq = 3").execute(db.pool()).await.unwrap();
        assert_eq!(db.verify_audit().await.unwrap().broken_at, None);

        // ... or deletes one in the middle, or the last.
        sqlx::query("DELETE FROM audit_log WHERE seq = 5").execute(db.pool()).await.unwrap();
        assert_eq!(db.verify_audit().await.unwrap().broken_at.map(|(s, _)| s), Some(5));
        sqlx::query("DELETE FROM audit_log WHERE seq = 2").execute(db.pool()).await.unwrap();
        assert_eq!(db.verify_audit().await.unwrap().broken_at.map(|(s, _)| s), Some(3));
    }

    concurrent_appends_keep_one_chain(db) {
        let mut tasks = Vec::new();
        for i in 0..20 {
            let store = db.store.clone();
            tasks.push(tokio::spawn(async move { store.append_audit(&audit("view", &format!("t{i}"))).await.unwrap() }));
        }
        let mut seqs: Vec<i64> = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
        assert_eq!(db.verify_audit().await.unwrap().broken_at, None);
    }

    users_sessions_and_lockout(db) {
        seed_regions(&db).await;
        let id = db.create_user(&new_user("cunyi", Role::VillageDoctor, VILLAGE), &audit("user.create", "cunyi")).await.unwrap();
        let dup = db.create_user(&new_user("cunyi", Role::Admin, COUNTY), &audit("user.create", "cunyi")).await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))));
        let bad_region = db.create_user(&new_user("x", Role::Admin, "371302104299"), &audit("user.create", "x")).await;
        assert!(matches!(bad_region, Err(StoreError::Conflict(_))), "{bad_region:?}");

        let (user, hash) = db.user_for_login("cunyi").await.unwrap().unwrap();
        assert_eq!((user.id, user.role, hash.as_str()), (id, Role::VillageDoctor, "$argon2id$test"));
        assert_eq!(db.users_within(code(COUNTY)).await.unwrap().len(), 1);
        assert!(db.users_within(code("371302104204")).await.unwrap().is_empty());

        for n in 1..=6 {
            assert_eq!(db.record_login_failure(id, &audit("login.failed", "cunyi")).await.unwrap(), n);
        }
        let counted = db.user(id).await.unwrap().unwrap();
        assert_eq!((counted.failed_attempts, counted.locked_until.as_deref()), (6, None), "counted, never locked");

        db.create_session(id, "tokenhash", "csrf", "2099-01-01T00:00:00Z", &audit("login", "cunyi")).await.unwrap();
        let (u, csrf) = db.session_user("tokenhash").await.unwrap().unwrap();
        assert_eq!((u.id, csrf.as_str()), (id, "csrf"));
        assert_eq!((u.failed_attempts, u.locked_until.as_deref()), (0, None), "a successful login clears the count");
        db.create_session(id, "old", "c", "2000-01-01T00:00:00Z", &audit("login", "cunyi")).await.unwrap();
        assert!(db.session_user("old").await.unwrap().is_none(), "expired");

        db.update_user(id, Some(false), None, &audit("user.disable", "cunyi")).await.unwrap();
        assert!(db.session_user("tokenhash").await.unwrap().is_none(), "disabling ends sessions");
        assert!(!db.user(id).await.unwrap().unwrap().active);
        // Created, 6 failures, 2 logins, disabled; the refused creations left no entry.
        assert_eq!(db.verify_audit().await.unwrap().entries, 10);
    }
}

both_backends! {
    household_list_filters_and_region_counts(db) {
        seed_household(&db).await;
        let changes = RosterChanges {
            file_name: "more.csv".into(),
            actor: "tester".into(),
            households: vec![(Household { category: PovertyCategory::General, cause: PovertyCause::Disability, ..household("H002", "371302104204", "王五") }, entry())],
            persons: vec![(person(&id_for(21), "H002", "王五", Relation::Head), entry())],
            ..Default::default()
        };
        db.apply_roster(changes).await.unwrap();
        let county = code(COUNTY);
        let all = huimin_store::HouseholdFilter::default();
        let (rows, total) = db.list_households(county, &all, 10, 0).await.unwrap();
        assert_eq!(total, 2);
        assert_eq!((rows[0].household.no.as_str(), rows[0].members, rows[0].region_name.as_str()), ("H001", 2, "诸葛村"));
        let ill = huimin_store::HouseholdFilter { illness: true, ..Default::default() };
        assert_eq!(db.list_households(county, &ill, 10, 0).await.unwrap().1, 1);
        let general = huimin_store::HouseholdFilter { category: Some(PovertyCategory::General), ..Default::default() };
        assert_eq!(db.list_households(county, &general, 10, 0).await.unwrap().0[0].household.no.as_str(), "H002");
        let by_initials = huimin_store::HouseholdFilter { query: Some("lsn".into()), ..Default::default() };
        assert_eq!(db.list_households(county, &by_initials, 10, 0).await.unwrap().0[0].household.no.as_str(), "H001");
        let (page2, total) = db.list_households(county, &all, 1, 1).await.unwrap();
        assert_eq!((page2.len(), total, page2[0].household.no.as_str()), (1, 2, "H002"));

        let villages = db.region_children_counts(code("371302104000")).await.unwrap();
        let got: Vec<(&str, i64, i64, i64)> = villages.iter().map(|c| (c.region.name.as_str(), c.households, c.persons, c.illness_households)).collect();
        assert_eq!(got, [("诸葛村", 1, 2, 1), ("孝友村", 1, 1, 0)]);
        let path = db.region_path(code(VILLAGE)).await.unwrap();
        assert_eq!(path.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["山东省", "临沂市", "兰山区", "白沙埠镇", "诸葛村"]);
    }
}

/// On PostgreSQL the server's role (crates/store/sql/postgres-app-role.sql) appends to the audit
/// log and cannot change, delete, truncate it or drop its guard; the server starts as that role.
#[tokio::test]
async fn the_postgres_app_role_appends_to_the_audit_log_and_cannot_rewrite_it() {
    let Some(owner_url) = huimin_store::testing::postgres_url().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.key");
    let owner = Store::connect_with_audit_key(&owner_url, Some(key.clone())).await.unwrap();
    owner.append_audit(&huimin_store::AuditEntry { username: "owner".into(), action: "login".into(), ..Default::default() }).await.unwrap();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&owner_url).await.unwrap();
    sqlx::raw_sql(huimin_store::POSTGRES_APP_ROLE).execute(&pool).await.unwrap();
    pool.close().await;
    // The same server and database, signed in as the app role.
    let (scheme, rest) = owner_url.split_once("://").unwrap();
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    let app_url = format!("{scheme}://huimin_app@{host}");
    let app = Store::connect_with_audit_key(&app_url, Some(key)).await.expect("the server starts as the app role");
    app.append_audit(&huimin_store::AuditEntry { username: "clerk".into(), action: "claim.view".into(), ..Default::default() }).await.unwrap();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&app_url).await.unwrap();
    for sql in [
        "UPDATE audit_log SET detail = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "DROP TRIGGER audit_log_append_only ON audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "DELETE FROM registry_events",
        "DELETE FROM schema_migrations",
        "CREATE TABLE mine (x INTEGER)",
    ] {
        let e = sqlx::query(sql).execute(&pool).await.expect_err(sql).to_string();
        assert!(e.contains("permission denied") || e.contains("must be owner"), "{sql}: {e}");
    }
    let v = app.verify_audit().await.unwrap();
    assert_eq!((v.entries, v.broken_at), (2, None));
}
