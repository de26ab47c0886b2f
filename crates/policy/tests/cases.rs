//! Data-driven settlement cases: each file under `tests/cases` names a policy (in `policies/`)
//! and lists claims in file order, with the expected bill of each (amounts in yuan; a layer's id
//! gives its total; `patient`, `buckets` "P B N O", `<layer>_base_after`, `<layer>_paid_after`),
//! or the expected error. `action = "reverse"` reverses an earlier claim number.

use std::collections::BTreeMap;
use std::path::Path;

use huimin_domain::Money;
use huimin_policy::{Bill, Claim, Ledger, parse_policy};

fn check_case(path: &Path) -> Vec<String> {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let text = std::fs::read_to_string(path).unwrap();
    let case: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let policy_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies").join(case["policy"].as_str().unwrap());
    let policy = parse_policy(&policy_file.display().to_string(), &std::fs::read_to_string(&policy_file).unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut ledger = Ledger::default();
    let mut failures = Vec::new();
    for (i, row) in case["claim"].as_array().unwrap().iter().enumerate() {
        let row = row.as_table().unwrap();
        let field = |k: &str| row.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let at = format!("{name} claim #{} ({})", i + 1, field("claim_no"));
        let result = if field("action") == "reverse" {
            ledger.reverse(field("claim_no")).map(|_| None)
        } else {
            let claim = Claim::from_fields(|k| field(k)).unwrap_or_else(|(c, e)| panic!("{at}: {c}: {e}"));
            ledger.settle(&policy, &claim).map(Some)
        };
        let expect: BTreeMap<String, String> = row
            .get("expect")
            .and_then(|e| e.as_table())
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default();
        match (result, expect.get("error")) {
            (Err(e), Some(want)) if e.to_string().contains(want.as_str()) => {}
            (Err(e), _) => failures.push(format!("{at}: unexpected error: {e}")),
            (Ok(_), Some(want)) => failures.push(format!("{at}: expected an error containing {want}")),
            (Ok(None), None) => {}
            (Ok(Some(bill)), None) => {
                for (k, want) in &expect {
                    let got = actual(&bill, k);
                    if got.as_deref() != Some(want.as_str()) {
                        failures.push(format!("{at}: {k}: expected {want}, got {got:?}"));
                    }
                }
                let sum: i64 = bill.lines.iter().map(|l| l.total.fen()).sum::<i64>() + bill.patient_total.fen();
                if sum != bill.total.fen() {
                    failures.push(format!("{at}: parts {sum} do not add up to the total {}", bill.total.fen()));
                }
            }
        }
    }
    failures
}

fn actual(bill: &Bill, key: &str) -> Option<String> {
    let m = |m: Money| m.to_string();
    match key {
        "patient" => Some(m(bill.patient_total)),
        "funds" => Some(m(bill.funds_total)),
        "buckets" => Some(bill.buckets.iter().map(|b| m(*b)).collect::<Vec<_>>().join(" ")),
        "patient_buckets" => Some(bill.patient.iter().map(|b| m(*b)).collect::<Vec<_>>().join(" ")),
        k => {
            if let Some(layer) = k.strip_suffix("_base_after") {
                return bill.lines.iter().find(|l| &*l.layer_id == layer).map(|l| m(l.after.base));
            }
            if let Some(layer) = k.strip_suffix("_paid_after") {
                return bill.lines.iter().find(|l| &*l.layer_id == layer).map(|l| m(l.after.paid));
            }
            // A layer that did not apply paid nothing.
            Some(bill.lines.iter().find(|l| &*l.layer_id == k).map_or_else(|| "0.00".to_string(), |l| m(l.total)))
        }
    }
}

#[test]
fn every_case_file_settles_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
    files.sort();
    assert!(!files.is_empty());
    let failures: Vec<String> = files.iter().flat_map(|f| check_case(f)).collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
