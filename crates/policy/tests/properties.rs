//! Properties of the engine over random claims and random sequences of claims.

use std::path::Path;

use huimin_domain::{Date, FacilityLevel, Money, PovertyCategory};
use huimin_policy::engine::{reverse, settle};
use huimin_policy::policy::{Params, Rule};
use huimin_policy::{Bucket, Claim, Ledger, Policy, VisitType, YearAccumulators, parse_policy};
use proptest::prelude::*;

fn policies() -> Vec<Policy> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            out.push(parse_policy(&p.display().to_string(), &std::fs::read_to_string(&p).unwrap()).unwrap());
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn claim_strategy(policy: &Policy) -> impl Strategy<Value = Claim> + use<> {
    let from = policy.effective_from;
    let days = (policy.effective_to - policy.effective_from).num_days().max(0);
    (
        (0u32..4, 0u32..3, 1i64..=3, any::<bool>()),
        0..=days,
        0i64..=30,
        prop::sample::subsequence(vec!["I10", "E11.9", "C34.9", "F20.9", "N18.5", "J44.9", "S72.0"], 0..3),
        (0i64..=50_000_000, 0i64..=20_000_000, 0i64..=5_000_000, 0u32..=100),
    )
        .prop_map(move |((cat, visit, level, in_county), start, stay, diseases, (a, b, out, necessary_pct))| {
            let admission = from + chrono::Duration::days(start);
            Claim {
                claim_no: String::new(),
                person: "p".into(),
                category: [PovertyCategory::General, PovertyCategory::Dibao, PovertyCategory::Tekun, PovertyCategory::Orphan][cat as usize],
                visit: [VisitType::Inpatient, VisitType::OutpatientChronic, VisitType::OutpatientGeneral][visit as usize],
                level: FacilityLevel::from_number(level).unwrap(),
                in_county,
                admission,
                discharge: admission + chrono::Duration::days(stay),
                diseases: diseases.into_iter().map(str::to_string).collect(),
                cat_a: Money::from_fen(a).unwrap(),
                cat_b: Money::from_fen(b).unwrap(),
                out_of_catalogue: Money::from_fen(out).unwrap(),
                necessary: Money::from_fen(out * i64::from(necessary_pct) / 100).unwrap(),
            }
        })
}

/// A policy and a year's claims of one person under it.
fn sequence() -> impl Strategy<Value = (Policy, Vec<Claim>)> {
    let all = policies();
    (0..all.len()).prop_flat_map(move |i| {
        let policy = all[i].clone();
        let claims = prop::collection::vec(claim_strategy(&policy), 1..12);
        claims.prop_map(move |mut cs| {
            // One person keeps one category within the year; number the claims.
            let cat = cs[0].category;
            for (n, c) in cs.iter_mut().enumerate() {
                c.category = cat;
                c.claim_no = format!("C{n}");
                // Keep the accumulator year the policy's year.
                if c.discharge > policy.effective_to {
                    c.discharge = policy.effective_to;
                }
            }
            (policy.clone(), cs)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parts_add_up_and_no_bucket_goes_below_zero((policy, claims) in sequence()) {
        let mut acc = YearAccumulators::default();
        for claim in &claims {
            let (bill, after) = settle(&policy, claim, &acc).unwrap();
            let paid: i64 = bill.lines.iter().map(|l| l.total.fen()).sum();
            prop_assert_eq!(paid + bill.patient_total.fen(), bill.total.fen());
            prop_assert_eq!(bill.total, claim.total().unwrap());
            for b in Bucket::ALL {
                let i = b.index();
                let taken: i64 = bill.lines.iter().map(|l| l.paid[i].fen()).sum();
                prop_assert_eq!(taken + bill.patient[i].fen(), bill.buckets[i].fen(), "bucket {:?}", b);
            }
            for l in &bill.lines {
                prop_assert_eq!(l.paid.iter().map(|m| m.fen()).sum::<i64>(), l.total.fen());
            }
            acc = after;
        }
    }

    #[test]
    fn caps_are_never_exceeded((policy, claims) in sequence()) {
        let mut acc = YearAccumulators::default();
        for claim in &claims {
            let (bill, after) = settle(&policy, claim, &acc).unwrap();
            for line in &bill.lines {
                let layer = policy.layers.iter().find(|l| l.id == line.layer_id).unwrap();
                if let Rule::Share { base, variants } = &layer.rule {
                    let p = Params::resolve(base, variants, claim, &policy.disease_groups);
                    if let Some(cap) = p.cap {
                        // A cap bounds what this claim adds on top of what was paid before it.
                        prop_assert!(line.total.fen() <= (cap.fen() - line.before.paid.fen()).max(0),
                            "layer {} paid {} with {} already paid under cap {}", line.layer_id, line.total, line.before.paid, cap);
                    }
                }
            }
            acc = after;
        }
    }

    #[test]
    fn reversal_restores_the_accumulators_exactly((policy, claims) in sequence()) {
        let mut history = vec![YearAccumulators::default()];
        let mut bills = Vec::new();
        for claim in &claims {
            let (bill, after) = settle(&policy, claim, history.last().unwrap()).unwrap();
            bills.push(bill);
            history.push(after);
        }
        // Taking the claims back out, newest first, walks the same states backwards.
        let mut acc = history.pop().unwrap();
        while let Some(bill) = bills.pop() {
            acc = reverse(&bill, &acc);
            prop_assert_eq!(&acc, &history.pop().unwrap());
        }
        prop_assert_eq!(acc, YearAccumulators::default());
    }

    #[test]
    fn a_batch_equals_one_by_one((policy, claims) in sequence()) {
        let mut ledger = Ledger::default();
        let batch: Vec<_> = claims.iter().map(|c| ledger.settle(&policy, c).unwrap()).collect();
        let mut acc = YearAccumulators::default();
        for (claim, from_batch) in claims.iter().zip(&batch) {
            let (bill, after) = settle(&policy, claim, &acc).unwrap();
            prop_assert_eq!(&bill, from_batch);
            acc = after;
        }
        prop_assert_eq!(ledger.accumulators("p", policy.effective_to.format("%Y").to_string().parse().unwrap()), acc);
    }

    #[test]
    fn settling_never_panics_on_any_claim(claim in claim_strategy(&policies()[0]), admission_shift in -400i64..400) {
        let policy = &policies()[0];
        let mut c = claim;
        c.admission = c.admission + chrono::Duration::days(admission_shift);
        let _ = settle(policy, &c, &YearAccumulators::default());
    }
}

#[test]
fn a_claim_outside_the_policy_period_is_refused() {
    let policy = &policies().into_iter().find(|p| &*p.id == "worked-example").unwrap();
    let c = Claim {
        claim_no: "x".into(),
        person: "p".into(),
        category: PovertyCategory::General,
        visit: VisitType::Inpatient,
        level: FacilityLevel::Two,
        in_county: true,
        admission: Date::from_ymd_opt(2023, 12, 31).unwrap(),
        discharge: Date::from_ymd_opt(2024, 1, 2).unwrap(),
        diseases: vec![],
        cat_a: Money::from_yuan(100).unwrap(),
        cat_b: Money::ZERO,
        out_of_catalogue: Money::ZERO,
        necessary: Money::ZERO,
    };
    let e = settle(policy, &c, &YearAccumulators::default()).unwrap_err();
    assert!(e.to_string().contains("不含入院日期 2023-12-31"), "{e}");
}
