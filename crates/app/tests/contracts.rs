//! Family-doctor teams, contracts, key groups, follow-ups and the worklist, on SQLite and PostgreSQL.

use huimin_app::contracts;
use huimin_app::health::{self, CardInput};
use huimin_domain::*;
use huimin_store::{NewFollowUp, TeamMember, both_backends};

mod common;
use common::*;

fn member(name: &str, username: Option<&str>) -> TeamMember {
    TeamMember { id: 0, name: name.into(), duty: "全科医生".into(), phone: "13800000000".into(), facility_code: Some("H2".into()), username: username.map(str::to_string) }
}

fn follow_up(key: &str, person_id: i64, contract_id: i64, on: &str, bp: (&str, &str)) -> NewFollowUp {
    NewFollowUp {
        submission_key: key.into(),
        person_id,
        contract_id,
        followed_on: d(on),
        mode: FollowUpMode::Home,
        readings: FollowUpReadings::parse(bp.0, bp.1, "", "72", "").unwrap(),
        adherence: Adherence::Regular,
        guidance: "低盐饮食".into(),
        next_on: None,
    }
}

both_backends! {
    contracts_key_groups_and_the_worklist(db) {
        let dir = tempfile::tempdir().unwrap();
        let p = setup(&db, dir.path()).await;
        let team = db.create_team("一镇家庭医生一队", "H2", region("371302001"), &audit("team.create")).await.unwrap();
        db.add_team_member(team, &member("李医生", Some("jtys")), &audit("team.member")).await.unwrap();
        assert_eq!(db.teams_of("jtys").await.unwrap(), [team]);
        assert_eq!(db.teams(region(V1)).await.unwrap().len(), 1, "a village sees the township's team");

        // Sign the three persons of village 1; the person of township 2 is outside the team's area.
        let e = contracts::sign(&db, &[p[0], p[3]], team, Service::ALL, "李医生", d("2024-01-01"), &audit("contract.sign")).await.unwrap_err();
        assert!(e.to_string().contains("不在团队"), "{e}");
        assert!(db.contracts(region("371302"), 2024).await.unwrap().is_empty(), "a refused batch signs nobody");
        contracts::sign(&db, &[p[0], p[1], p[2]], team, Service::ALL, "李医生", d("2024-01-01"), &audit("contract.sign")).await.unwrap();
        assert!(contracts::sign(&db, &[p[0]], team, Service::ALL, "李医生", d("2024-03-01"), &audit("contract.sign")).await.unwrap_err().to_string().contains("已有 2024 年度"));
        let rates = db.contract_rates(region("371302"), 2024).await.unwrap();
        let r: Vec<(String, i64, i64)> = rates.iter().map(|r| (r.region.to_string(), r.persons, r.signed)).collect();
        assert_eq!(r, [("371302001000".into(), 3, 3), ("371302002000".into(), 1, 0)]);

        // Key groups: hypertension from a card, pregnancy by hand, nobody else.
        let catalog = health::catalog(&db).await.unwrap();
        health::record_card(&db, catalog.base(), p[0], &CardInput { code: "I10".into(), ..Default::default() }, "doc", d("2024-01-05"), &audit("card")).await.unwrap();
        db.add_key_group(p[1], KeyGroup::Pregnant, "孕 12 周", &audit("keygroup.add")).await.unwrap();

        // By 2024-05-20: key persons owe a follow-up a month (Jan–Apr due), others a quarter (Q1 due).
        let c0 = db.contract_of(p[0], 2024).await.unwrap().unwrap().0;
        let c2 = db.contract_of(p[2], 2024).await.unwrap().unwrap().0;
        let (first, new) = db.record_follow_up(&follow_up("k-1", p[0], c0, "2024-01-20", ("150", "95")), &["血压偏高"], &audit("followup")).await.unwrap();
        assert!(new);
        let (again, new) = db.record_follow_up(&follow_up("k-1", p[0], c0, "2024-01-20", ("150", "95")), &["血压偏高"], &audit("followup")).await.unwrap();
        assert_eq!((again, new), (first, false), "the same submission twice is stored once");
        db.record_follow_up(&follow_up("k-2", p[0], c0, "2024-02-18", ("132", "84")), &[], &audit("followup")).await.unwrap();
        db.record_follow_up(&follow_up("k-3", p[2], c2, "2024-03-02", ("120", "80")), &[], &audit("followup")).await.unwrap();

        let today = d("2024-05-20");
        let items = contracts::worklist(&db, region("371302"), 2024, None, today).await.unwrap();
        let item = |person: i64| items.iter().find(|w| w.contract.contract.person_id == person).unwrap();
        assert_eq!((item(p[0]).key_groups.as_slice(), item(p[0]).per_year), (&[KeyGroup::Hypertension][..], 12));
        // Jan and Feb done, Mar and Apr missed (they count, and stay in the history); today's work
        // is May's window, and the person is late since April's ended without a follow-up.
        assert_eq!((item(p[0]).state.due, item(p[0]).state.done, item(p[0]).state.next_due), (4, 2, Some(d("2024-05-31"))));
        assert_eq!(item(p[0]).state.missed.iter().map(|w| w.end).collect::<Vec<_>>(), [d("2024-03-31"), d("2024-04-30")]);
        assert_eq!(item(p[0]).overdue_days, 20, "days since the last window ended, not since the first one missed");
        assert_eq!((item(p[1]).per_year, item(p[1]).state.due, item(p[1]).state.done), (12, 4, 0), "pregnant: a key group");
        assert_eq!((item(p[2]).per_year, item(p[2]).state.due, item(p[2]).state.done, item(p[2]).overdue_days), (4, 1, 1, 0));
        assert_eq!(item(p[2]).state.next_due, Some(d("2024-06-30")), "due by the end of the quarter");
        let (by_region, by_team) = contracts::completion(&items, 9);
        let c = &by_region["371302001"];
        assert_eq!((c.contracts, c.due, c.done, c.overdue), (3, 9, 3, 2));
        assert_eq!(by_team["一镇家庭医生一队"].done, 3);
        assert_eq!(contracts::worklist(&db, region("371302"), 2024, Some(&[team + 1]), today).await.unwrap().len(), 0, "by team");

        // A region's own rule: 6 and 2 a year.
        db.set_follow_up_rule(region("371302001"), FollowUpRule::new(6, 2).unwrap(), &audit("rule.set")).await.unwrap();
        let items = contracts::worklist(&db, region("371302"), 2024, None, today).await.unwrap();
        assert_eq!(items.iter().find(|w| w.contract.contract.person_id == p[2]).unwrap().per_year, 2);

        let abnormal = db.abnormal_follow_ups(region("371302"), d("2024-01-01")).await.unwrap();
        assert_eq!(abnormal.len(), 1);
        assert_eq!(abnormal[0].abnormal, ["血压偏高"]);

        // Renewal: next year, same team and services, from the day after.
        assert_eq!(contracts::renew(&db, region("371302"), 2024, "李医生", &audit("contract.renew")).await.unwrap(), 3);
        let (_, next) = db.contract_of(p[0], 2025).await.unwrap().unwrap();
        assert_eq!((next.starts_on, next.ends_on, next.renewed_from, next.services.len()), (d("2025-01-01"), d("2025-12-31"), Some(c0), 10));
        assert_eq!(contracts::renew(&db, region("371302"), 2024, "李医生", &audit("contract.renew")).await.unwrap(), 0, "renewing twice signs nobody twice");
    }
}
