//! `huimin settle`: settle a claims file under a policy file, with no database. Rows are applied
//! in file order, each person with their own accumulators; a bad row is reported with its row
//! number and reason and does not stop the others.

use std::path::Path;

use huimin_policy::model::CLAIM_COLUMNS;
use huimin_policy::{Bill, Claim, Ledger, Policy};
use serde::Serialize;

use crate::table::{Column, FileError, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Settle,
    Reverse,
}

/// What became of one row.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    pub row: u64,
    pub claim_no: String,
    pub action: Action,
    /// The bill settled, or the bill reversed.
    pub bill: Option<Bill>,
    pub error: Option<String>,
}

pub fn claim_columns() -> Vec<Column> {
    let mut cols: Vec<Column> = CLAIM_COLUMNS
        .iter()
        .map(|name| Column {
            name,
            aliases: &[],
            // Every column but those with a default: a file without `cat_a` (or with `cat-a`)
            // would settle every claim with no class-A cost.
            required: !matches!(*name, "in_county" | "disease_codes"),
        })
        .collect();
    cols.push(Column { name: "action", aliases: &[], required: false });
    cols
}

pub fn settle_file(policy: &Policy, claims: &Path) -> Result<Vec<Outcome>, FileError> {
    let table = Table::read(claims, &claim_columns())?;
    settle_table(policy, &table)
}

pub fn settle_table(policy: &Policy, table: &Table) -> Result<Vec<Outcome>, FileError> {
    let columns = claim_columns();
    let idx = table.columns(&columns)?;
    let mut ledger = Ledger::default();
    let mut out = Vec::with_capacity(table.rows.len());
    for r in &table.rows {
        let get = |name: &str| {
            columns
                .iter()
                .position(|c| c.name == name)
                .and_then(|i| idx[i])
                .and_then(|i| r.cells.get(i))
                .map(String::as_str)
                .unwrap_or("")
        };
        let claim_no = get("claim_no").trim().to_string();
        let action = match get("action").trim() {
            "" | "settle" | "结算" => Action::Settle,
            "reverse" | "冲销" => Action::Reverse,
            other => {
                out.push(Outcome { row: r.row, claim_no, action: Action::Settle, bill: None, error: Some(format!("action：「{other}」应为 settle 或 reverse")) });
                continue;
            }
        };
        let result = match action {
            Action::Reverse => ledger.reverse(&claim_no).map_err(|e| e.to_string()),
            Action::Settle => match Claim::from_fields(get) {
                Err((col, why)) => Err(format!("{col}：{why}")),
                Ok(claim) => ledger.settle(policy, &claim).map_err(|e| e.to_string()),
            },
        };
        let (bill, error) = match result {
            Ok(b) => (Some(b), None),
            Err(e) => (None, Some(e)),
        };
        out.push(Outcome { row: r.row, claim_no, action, bill, error });
    }
    Ok(out)
}

/// Writes the outcomes as CSV: one row per input row; amounts in yuan, reversals negative; one
/// column per layer of the policy.
pub fn write_bills_csv(policy: &Policy, outcomes: &[Outcome], path: &Path) -> std::io::Result<()> {
    let mut w = crate::csv_out::CsvFile::create(path, crate::csv_out::CsvEncoding::Utf8)?;
    let mut header: Vec<String> = ["row", "claim_no", "action", "status", "error", "person_id", "year", "total", "P", "B", "N", "O"]
        .map(String::from)
        .to_vec();
    for l in &policy.layers {
        header.push(format!("{} ({})", l.id, l.fund.code()));
    }
    header.extend(["funds_total", "patient_total", "patient_P", "patient_B", "patient_N", "patient_O"].map(String::from));
    w.row(&header)?;
    for o in outcomes {
        let sign = if o.action == Action::Reverse { "-" } else { "" };
        let amount = |m: huimin_domain::Money| if m.is_zero() { "0.00".to_string() } else { format!("{sign}{m}") };
        let mut rec = vec![
            o.row.to_string(),
            o.claim_no.clone(),
            format!("{:?}", o.action).to_lowercase(),
            if o.error.is_some() { "error".into() } else { "ok".into() },
            o.error.clone().unwrap_or_default(),
        ];
        if let Some(b) = &o.bill {
            rec.extend([b.person.clone(), b.year.to_string(), amount(b.total)]);
            rec.extend(b.buckets.iter().map(|m| amount(*m)));
            for l in &policy.layers {
                rec.push(b.lines.iter().find(|x| x.layer_id == l.id).map_or("0.00".into(), |x| amount(x.total)));
            }
            rec.extend([amount(b.funds_total), amount(b.patient_total)]);
            rec.extend(b.patient.iter().map(|m| amount(*m)));
        } else {
            rec.resize(header.len(), String::new());
        }
        w.row(&rec)?;
    }
    w.commit()
}
