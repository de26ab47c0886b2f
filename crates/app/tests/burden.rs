//! Each person's burden (`person_burden`: claims and compliant out-of-pocket spending by discharge
//! month) equals a recomputation from the settled claims after any sequence of settlements and
//! reversals, and after the migration that creates it: generated sequences, on SQLite and
//! PostgreSQL.

use huimin_app::settlement::{self, PolicySet, SettleRequest};
use huimin_domain::*;
use huimin_policy::VisitType;
use huimin_store::both_backends;
use rand::{Rng, SeedableRng};

mod common;
use common::*;

/// The burden recomputed from the settled claims' bills, as `person_burdens` lists it.
async fn recomputed(db: &huimin_store::Store) -> Vec<(i64, String, i64, i64)> {
    let mut by: std::collections::BTreeMap<(i64, String), (i64, i64)> = Default::default();
    for c in db.settled_claims(RegionCode::parse("37").unwrap(), d("2000-01-01"), d("2100-01-01")).await.unwrap() {
        let e = by.entry((c.person_id, c.claim.discharge.format("%Y-%m").to_string())).or_default();
        e.0 += 1;
        e.1 += huimin_policy::compliant_out_of_pocket(&c.bill).fen();
    }
    by.into_iter().filter(|(_, v)| *v != (0, 0)).map(|((p, m), (n, oop))| (p, m, n, oop)).collect()
}

both_backends! {
    the_burden_equals_a_recomputation_after_any_settlements_and_reversals(db) {
        let dir = tempfile::tempdir().unwrap();
        let persons = setup(&db, dir.path()).await;
        let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/worked-example.toml")).unwrap();
        settlement::load_policy(&db, "worked-example.toml", &policy, false, &audit("policy.load")).await.unwrap();
        let set = PolicySet::load(&db).await.unwrap();
        let mut settled: Vec<String> = Vec::new();
        for seed in 0..4u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            for step in 0..25 {
                let batch = rng.random_range(0..5) == 0;
                if !settled.is_empty() && rng.random_range(0..4) == 0 {
                    let no = settled.swap_remove(rng.random_range(0..settled.len()));
                    settlement::reverse_claim(&db, &no, "录入错误，冲销", "jsck", &audit("reverse")).await.unwrap();
                } else {
                    let admission = d("2024-01-01") + chrono::Duration::days(rng.random_range(0..330));
                    let yuan = |hi: i64, rng: &mut rand_chacha::ChaCha8Rng| Money::from_fen(rng.random_range(0..hi * 100)).unwrap();
                    let out_of_catalogue = yuan(5_000, &mut rng);
                    let req = SettleRequest {
                        claim_no: format!("B{seed}-{step}"),
                        person_id: persons[rng.random_range(0..persons.len())],
                        facility_code: "H2".into(),
                        // Outpatient visits: any dates, so stays never overlap.
                        visit: if rng.random_bool(0.5) { VisitType::OutpatientChronic } else { VisitType::OutpatientGeneral },
                        admission,
                        discharge: admission,
                        diseases: vec!["I10".into()],
                        cat_a: yuan(60_000, &mut rng),
                        cat_b: yuan(10_000, &mut rng),
                        necessary: Money::from_fen(rng.random_range(0..=out_of_catalogue.fen())).unwrap(),
                        out_of_catalogue,
                    };
                    if batch {
                        // A batch of three (the bulk path sums its burden in memory).
                        let reqs: Vec<SettleRequest> = (0..3).map(|i| SettleRequest { claim_no: format!("{}-{i}", req.claim_no), person_id: persons[i], ..req.clone() }).collect();
                        let out = settlement::settle_batch(&db, &set, &reqs, "jsck", &audit("batch")).await.unwrap();
                        let refused: Vec<&String> = out.refused.iter().map(|(no, _)| no).collect();
                        settled.extend(reqs.into_iter().map(|r| r.claim_no).filter(|no| !refused.contains(&no)));
                    } else if settlement::settle_claim(&db, &set, &req, "jsck", &audit("settle")).await.is_ok() {
                        settled.push(req.claim_no);
                    }
                }
                assert_eq!(db.person_burdens().await.unwrap(), recomputed(&db).await, "seed {seed} step {step}");
            }
        }
        let rows = db.person_burdens().await.unwrap();
        assert!(rows.len() >= 5 && rows.iter().any(|r| r.3 > 0), "the sequences settled claims with out-of-pocket spending: {rows:?}");
        // A household's window: its members' rows summed.
        let (claims, oop) = db.burden_of(&persons[..2], "2024-01", "2024-12").await.unwrap();
        let expected = rows.iter().filter(|r| persons[..2].contains(&r.0)).fold((0, 0), |a, r| (a.0 + r.2, a.1 + r.3));
        assert_eq!((claims, oop), expected);
        assert_eq!(db.burden_of(&persons[..2], "2030-01", "2030-12").await.unwrap(), (0, 0));
        // The migration that creates the table writes the burden of the claims settled before.
        // (Run again on SQLite only: on PostgreSQL its foreign key to persons (id) no longer fits
        // the key migration 22 gave persons; the rebuild's code is the same on both.)
        if db.backend() == huimin_store::Backend::Postgres {
            return;
        }
        for sql in ["DROP TABLE person_burden", "DELETE FROM schema_migrations WHERE version = 17"] {
            sqlx::query(sql).execute(db.pool()).await.unwrap();
        }
        assert_eq!(db.migrate().await.unwrap(), 1);
        assert_eq!(db.person_burdens().await.unwrap(), rows, "rebuilt from the bills");
    }
}
