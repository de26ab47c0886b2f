//! The stored form of a claim's one bill.
//!
//! A bill is written once per claim and a batch writes a million of them, so it is kept compact
//! (about a fifth of its JSON): what the claim's row already holds (claim number, person, policy,
//! year, totals) is not repeated, and the rest is plain text in fen:
//!
//! ```text
//! 1;<bucket P>,<B>,<N>,<O>;<patient P>,<B>,<N>,<O>
//! <layer id>;<fund code>;<paid P>,<B>,<N>,<O>;<deductible>;<before base>,<paid>;<after base>,<paid>;<layer name>
//! …one line per layer that paid…
//! ```
//!
//! The layer name comes last so it may hold `;`; a line break or `\` in it is escaped.

use std::sync::Arc;

use huimin_domain::Money;
use huimin_policy::{Bill, BillLine, Fund, LayerYear};

use crate::{Result, StoreError};

/// What the claim's row holds and the stored text leaves out.
pub(crate) struct BillRow<'a> {
    pub claim_no: &'a str,
    pub person: String,
    pub policy_id: &'a str,
    pub year: i32,
    pub total: i64,
    pub funds_total: i64,
    pub patient_total: i64,
}

fn corrupt(why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("bill: {why}"))
}

fn push_fen(out: &mut String, values: &[Money]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&v.fen().to_string());
    }
}

pub(crate) fn encode(bill: &Bill) -> String {
    let mut out = String::with_capacity(64 + bill.lines.len() * 96);
    out.push_str("1;");
    push_fen(&mut out, &bill.buckets);
    out.push(';');
    push_fen(&mut out, &bill.patient);
    for l in &bill.lines {
        out.push('\n');
        out.push_str(&l.layer_id);
        out.push(';');
        out.push_str(l.fund.stored_code());
        out.push(';');
        push_fen(&mut out, &l.paid);
        out.push(';');
        push_fen(&mut out, &[l.deductible]);
        out.push(';');
        push_fen(&mut out, &[l.before.base, l.before.paid]);
        out.push(';');
        push_fen(&mut out, &[l.after.base, l.after.paid]);
        out.push(';');
        for c in l.layer_name.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
    }
    out
}

fn money(s: &str) -> Result<Money> {
    let fen: i64 = s.parse().map_err(|_| corrupt(format!("not an amount: {s:?}")))?;
    Money::from_fen(fen).map_err(corrupt)
}

fn amounts<const N: usize>(s: &str) -> Result<[Money; N]> {
    let mut out = [Money::ZERO; N];
    let mut parts = s.split(',');
    for slot in &mut out {
        *slot = money(parts.next().ok_or_else(|| corrupt(format!("{N} amounts expected: {s:?}")))?)?;
    }
    if parts.next().is_some() {
        return Err(corrupt(format!("{N} amounts expected: {s:?}")));
    }
    Ok(out)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}

fn line(text: &str) -> Result<BillLine> {
    let f: Vec<&str> = text.splitn(7, ';').collect();
    let [id, fund, paid, deductible, before, after, name] = f[..] else {
        return Err(corrupt(format!("a layer line has {} fields: {text:?}", f.len())));
    };
    let paid = amounts::<4>(paid)?;
    let [bb, bp] = amounts::<2>(before)?;
    let [ab, ap] = amounts::<2>(after)?;
    let total = paid.iter().try_fold(Money::ZERO, |sum, p| sum.checked_add(*p)).ok_or_else(|| corrupt("layer total overflows"))?;
    Ok(BillLine {
        layer_id: Arc::from(id),
        layer_name: Arc::from(unescape(name)),
        fund: Fund::from_stored(fund).ok_or_else(|| corrupt(format!("unknown fund {fund}")))?,
        paid,
        total,
        deductible: money(deductible)?,
        before: LayerYear { base: bb, paid: bp },
        after: LayerYear { base: ab, paid: ap },
    })
}

pub(crate) fn decode(text: &str, row: BillRow<'_>) -> Result<Bill> {
    // Bills stored before the compact form were JSON.
    if text.starts_with('{') {
        return serde_json::from_str(text).map_err(corrupt);
    }
    let mut lines = text.split('\n');
    let head = lines.next().unwrap_or_default();
    let Some(("1", rest)) = head.split_once(';') else {
        return Err(corrupt(format!("unknown form: {head:?}")));
    };
    let (buckets, patient) = rest.split_once(';').ok_or_else(|| corrupt(format!("bad head: {head:?}")))?;
    Ok(Bill {
        claim_no: row.claim_no.to_string(),
        person: row.person,
        policy_id: Arc::from(row.policy_id),
        year: row.year,
        total: Money::from_fen(row.total).map_err(corrupt)?,
        buckets: amounts::<4>(buckets)?,
        lines: lines.map(line).collect::<Result<_>>()?,
        patient: amounts::<4>(patient)?,
        patient_total: Money::from_fen(row.patient_total).map_err(corrupt)?,
        funds_total: Money::from_fen(row.funds_total).map_err(corrupt)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(fen: i64) -> Money {
        Money::from_fen(fen).unwrap()
    }

    #[test]
    fn a_bill_comes_back_as_it_was_stored() {
        let bill = Bill {
            claim_no: "C1".into(),
            person: "7".into(),
            policy_id: Arc::from("p-2024"),
            year: 2024,
            total: m(3_100_000),
            buckets: [m(2_000_000), m(800_000), m(200_000), m(100_000)],
            lines: vec![BillLine {
                layer_id: Arc::from("basic"),
                layer_name: Arc::from("基本医保; 住院\n第二行 \\ 完"),
                fund: Fund::ResidentBasic,
                paid: [m(1_500_000), m(0), m(0), m(1)],
                total: m(1_500_001),
                deductible: m(50_000),
                before: LayerYear::default(),
                after: LayerYear { base: m(2_000_000), paid: m(1_500_001) },
            }],
            patient: [m(500_000), m(800_000), m(200_000), m(99_999)],
            patient_total: m(1_599_999),
            funds_total: m(1_500_001),
        };
        let text = encode(&bill);
        assert_eq!(text.lines().count(), 2, "{text}");
        let row = BillRow { claim_no: "C1", person: "7".into(), policy_id: "p-2024", year: 2024, total: 3_100_000, funds_total: 1_500_001, patient_total: 1_599_999 };
        assert_eq!(decode(&text, row).unwrap(), bill);
        let json = serde_json::to_string(&bill).unwrap();
        let row = BillRow { claim_no: "C1", person: "7".into(), policy_id: "p-2024", year: 2024, total: 0, funds_total: 0, patient_total: 0 };
        assert_eq!(decode(&json, row).unwrap(), bill, "a bill stored as JSON still reads");
    }

    #[test]
    fn a_damaged_bill_is_an_error() {
        let row = || BillRow { claim_no: "C1", person: "7".into(), policy_id: "p", year: 2024, total: 0, funds_total: 0, patient_total: 0 };
        for bad in ["", "2;0,0,0,0;0,0,0,0", "1;0,0,0;0,0,0,0", "1;0,0,0,0;0,0,0,0\nbasic;390101;1,2,3;0;0,0;0,0;x", "1;0,0,0,0;0,0,0,0\nbasic;000000;0,0,0,0;0;0,0;0,0;x", "1;0,0,0,0;0,0,0,0\nbasic;390101;0,0,0,0;0;0,0;0,0"] {
            assert!(decode(bad, row()).is_err(), "{bad:?}");
        }
    }
}
