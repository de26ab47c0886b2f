//! The settlement engine: one claim through the policy's layers, in order, to the one bill
//! (一张单). Pure and exact: integer fen, ratios in parts per million, each bucket's payment
//! computed exactly and rounded half-up to the fen; later layers see the rounded amounts.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Datelike;
use huimin_domain::Money;
use serde::{Deserialize, Serialize};

use crate::model::{Bucket, Claim, ClaimError, Fund};
use crate::policy::{Params, Policy, Rate, Rule};
use crate::ratio::{Ratio, round_ppm};

/// What one layer has consumed and paid for one person in one year.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LayerYear {
    /// The cumulative base: what tiers and yearly deductibles are measured on (for an annual
    /// out-of-pocket cap, the own payment counted so far).
    pub base: Money,
    /// What the layer has paid; annual caps apply to it.
    pub paid: Money,
}

/// One person's accumulators for one year, by layer id. A short list kept sorted by id (a policy
/// has a handful of layers): looking a layer up compares the shared id's pointer first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct YearAccumulators {
    #[schema(value_type = Vec<(String, LayerYear)>)]
    pub layers: Vec<(Arc<str>, LayerYear)>,
}

impl YearAccumulators {
    fn position(&self, layer: &str) -> Result<usize, usize> {
        match self.layers.iter().position(|(id, _)| std::ptr::eq(id.as_ptr(), layer.as_ptr()) && id.len() == layer.len()) {
            Some(i) => Ok(i),
            None => self.layers.binary_search_by(|(id, _)| id.as_ref().cmp(layer)),
        }
    }

    pub fn get(&self, layer: &str) -> LayerYear {
        self.position(layer).map(|i| self.layers[i].1).unwrap_or_default()
    }

    /// Sets a layer's figures; an all-zero entry is not kept, so equal states compare equal.
    pub fn set(&mut self, layer: &Arc<str>, v: LayerYear) {
        match (self.position(layer), v == LayerYear::default()) {
            (Ok(i), true) => {
                self.layers.remove(i);
            }
            (Ok(i), false) => self.layers[i].1 = v,
            (Err(_), true) => {}
            (Err(i), false) => self.layers.insert(i, (layer.clone(), v)),
        }
    }
}

/// One layer's part of the bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BillLine {
    #[schema(value_type = String)]
    pub layer_id: Arc<str>,
    #[schema(value_type = String)]
    pub layer_name: Arc<str>,
    pub fund: Fund,
    /// Paid from each bucket (P, B, N, O).
    pub paid: [Money; 4],
    pub total: Money,
    /// The per-claim deductible taken off this layer's base.
    pub deductible: Money,
    pub before: LayerYear,
    pub after: LayerYear,
}

/// The one bill: every layer's payment by bucket and the patient's own payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Bill {
    pub claim_no: String,
    pub person: String,
    #[schema(value_type = String)]
    pub policy_id: Arc<str>,
    /// The accumulator year: the year of discharge.
    pub year: i32,
    pub total: Money,
    /// The buckets before any layer paid (P, B, N, O).
    pub buckets: [Money; 4],
    pub lines: Vec<BillLine>,
    /// What the patient pays, by bucket.
    pub patient: [Money; 4],
    pub patient_total: Money,
    pub funds_total: Money,
}

fn fen(m: Money) -> i64 {
    m.fen()
}

fn money(f: i64) -> Money {
    Money::from_fen(f.max(0)).unwrap_or(Money::ZERO)
}

/// The exact payment (in fen × 10⁻⁶) for `len` fen of base starting at `start` on the year's
/// cumulative axis above a yearly deductible (a 0% first tier up to `deductible`).
fn above_yearly_deductible(start: i64, len: i64, deductible: i64, ratio: Ratio) -> i128 {
    let paid_part = (start + len).saturating_sub(start.max(deductible)).max(0);
    i128::from(paid_part) * i128::from(ratio.ppm())
}

/// The exact payment (in fen × 10⁻⁶) for `len` fen of base starting at `start` on the year's
/// cumulative axis, each part at its tier's ratio.
fn tiered(start: i64, len: i64, tiers: &[(Money, Ratio)]) -> i128 {
    let end = start + len;
    let mut sum: i128 = 0;
    for (i, (from, ratio)) in tiers.iter().enumerate() {
        let lo = fen(*from).max(start);
        let hi = tiers.get(i + 1).map_or(end, |(next, _)| fen(*next).min(end));
        if hi > lo {
            sum += i128::from(hi - lo) * i128::from(ratio.ppm());
        }
    }
    sum
}

/// Takes up to `amount` from the buckets in order; returns what was taken from each.
fn take_in_order(order: &[Bucket], remaining: &[i64; 4], mut amount: i64) -> [i64; 4] {
    let mut taken = [0i64; 4];
    for b in order {
        let t = amount.min(remaining[b.index()]).max(0);
        taken[b.index()] = t;
        amount -= t;
    }
    taken
}

/// Settles `claim` under `policy` with the person's accumulators for the claim's year; returns
/// the bill and the accumulators after it. Nothing is changed; the caller stores the result.
pub fn settle(policy: &Policy, claim: &Claim, acc: &YearAccumulators) -> Result<(Bill, YearAccumulators), ClaimError> {
    let mut after = acc.clone();
    let bill = settle_into(policy, claim, &mut after)?;
    Ok((bill, after))
}

/// As [`settle`], moving `acc` forward in place (it is left as it was when the claim is refused).
pub fn settle_into(policy: &Policy, claim: &Claim, acc: &mut YearAccumulators) -> Result<Bill, ClaimError> {
    claim.check()?;
    if !policy.in_force_on(claim.admission) {
        return Err(ClaimError::NotInForce { policy: policy.id.to_string(), from: policy.effective_from, to: policy.effective_to, admission: claim.admission });
    }
    let total = claim.total()?;
    let b = policy.b_first_pay_rate.of(claim.cat_b);
    let initial = [
        fen(claim.cat_a) + fen(claim.cat_b) - fen(b),
        fen(b),
        fen(claim.necessary),
        fen(claim.out_of_catalogue) - fen(claim.necessary),
    ];
    let mut remaining = initial;
    let mut lines = Vec::with_capacity(policy.layers.len());
    for layer in &policy.layers {
        if !layer.filter.matches(claim, &policy.disease_groups) {
            continue;
        }
        let before = acc.get(&layer.id);
        let covered: i64 = layer.buckets.iter().map(|b| remaining[b.index()]).sum();
        let mut deductible = 0;
        let (mut pay, base_after) = match &layer.rule {
            Rule::Share { base, variants } => {
                let p = Params::resolve(base, variants, claim, &policy.disease_groups);
                let yearly = if p.deductible_per_year { fen(p.deductible) } else { 0 };
                let mut net = [0i64; 4];
                let mut left = if p.deductible_per_year { 0 } else { fen(p.deductible) };
                for b in &layer.buckets {
                    let amt = remaining[b.index()];
                    let d = left.min(amt);
                    net[b.index()] = amt - d;
                    left -= d;
                    deductible += d;
                }
                let mut pay = [0i64; 4];
                let mut cum = fen(before.base);
                for b in &layer.buckets {
                    let n = net[b.index()];
                    let exact = match p.rate {
                        Rate::Flat(r) if yearly > 0 => above_yearly_deductible(cum, n, yearly, *r),
                        Rate::Flat(r) => i128::from(n) * i128::from(r.ppm()),
                        Rate::PerBucket(m) => i128::from(n) * i128::from(m.get(b).map_or(0, |r| r.ppm())),
                        Rate::Tiers(t) => tiered(cum, n, t),
                    };
                    pay[b.index()] = fen(round_ppm(exact)).min(remaining[b.index()]);
                    cum += n;
                }
                if let Some(cap) = p.cap {
                    let allowance = (fen(cap) - fen(before.paid)).max(0);
                    pay = take_in_order(&layer.buckets, &pay, allowance);
                }
                (pay, money(cum))
            }
            Rule::SelfPayCeiling { max_ratio } => {
                let limit = fen(max_ratio.of(total));
                (take_in_order(&layer.buckets, &remaining, covered - limit), before.base)
            }
            Rule::AnnualOutOfPocketCap { cap } => {
                let over = fen(before.base) + covered - fen(*cap);
                let pay = take_in_order(&layer.buckets, &remaining, over);
                let paid: i64 = pay.iter().sum();
                (pay, money(fen(before.base) + covered - paid))
            }
            Rule::MinimumReimbursement { min_ratio } => {
                let target: i64 = fen(min_ratio.of(money(layer.buckets.iter().map(|b| initial[b.index()]).sum())));
                let paid_so_far: i64 = layer.buckets.iter().map(|b| initial[b.index()] - remaining[b.index()]).sum();
                (take_in_order(&layer.buckets, &remaining, target - paid_so_far), before.base)
            }
        };
        for (i, p) in pay.iter_mut().enumerate() {
            *p = (*p).clamp(0, remaining[i]);
            remaining[i] -= *p;
        }
        let line_total: i64 = pay.iter().sum();
        let layer_after = LayerYear { base: base_after, paid: money(fen(before.paid) + line_total) };
        acc.set(&layer.id, layer_after);
        lines.push(BillLine {
            layer_id: layer.id.clone(),
            layer_name: layer.name.clone(),
            fund: layer.fund,
            paid: pay.map(money),
            total: money(line_total),
            deductible: money(deductible),
            before,
            after: layer_after,
        });
    }
    let funds_total: i64 = lines.iter().map(|l| fen(l.total)).sum();
    let patient_total: i64 = remaining.iter().sum();
    debug_assert_eq!(funds_total + patient_total, fen(total));
    let bill = Bill {
        claim_no: claim.claim_no.clone(),
        person: claim.person.clone(),
        policy_id: policy.id.clone(),
        year: claim.discharge.year(),
        total,
        buckets: initial.map(money),
        lines,
        patient: remaining.map(money),
        patient_total: money(patient_total),
        funds_total: money(funds_total),
    };
    Ok(bill)
}

/// The accumulators with a settled bill taken back out (冲销): each layer's base and payment
/// lose exactly what the bill added.
pub fn reverse(bill: &Bill, acc: &YearAccumulators) -> YearAccumulators {
    let mut out = acc.clone();
    for line in &bill.lines {
        let cur = out.get(&line.layer_id);
        let base = fen(cur.base) - (fen(line.after.base) - fen(line.before.base));
        let paid = fen(cur.paid) - fen(line.total);
        out.set(&line.layer_id, LayerYear { base: money(base), paid: money(paid) });
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("结算单号 {0} 已结算过，不能重复结算")]
    Duplicate(String),
    #[error("结算单号 {0} 不存在，无法冲销")]
    Unknown(String),
    #[error("结算单号 {0} 已冲销")]
    AlreadyReversed(String),
    #[error(transparent)]
    Claim(#[from] ClaimError),
}

/// Settlements in memory: each person's accumulators by year, and the bills by claim number so
/// that a claim is never paid twice and can be reversed.
#[derive(Debug, Default)]
pub struct Ledger {
    accumulators: HashMap<(String, i32), YearAccumulators>,
    bills: HashMap<String, (Bill, bool)>,
}

impl Ledger {
    pub fn accumulators(&self, person: &str, year: i32) -> YearAccumulators {
        self.accumulators.get(&(person.to_string(), year)).cloned().unwrap_or_default()
    }

    pub fn settle(&mut self, policy: &Policy, claim: &Claim) -> Result<Bill, LedgerError> {
        if self.bills.contains_key(&claim.claim_no) {
            return Err(LedgerError::Duplicate(claim.claim_no.clone()));
        }
        let acc = self.accumulators.entry((claim.person.clone(), claim.discharge.year())).or_default();
        let bill = settle_into(policy, claim, acc)?;
        self.bills.insert(claim.claim_no.clone(), (bill.clone(), false));
        Ok(bill)
    }

    /// Reverses a settled claim; returns the bill that was reversed.
    pub fn reverse(&mut self, claim_no: &str) -> Result<Bill, LedgerError> {
        let (bill, reversed) = self.bills.get_mut(claim_no).ok_or_else(|| LedgerError::Unknown(claim_no.to_string()))?;
        if *reversed {
            return Err(LedgerError::AlreadyReversed(claim_no.to_string()));
        }
        *reversed = true;
        let key = (bill.person.clone(), bill.year);
        let acc = self.accumulators.get(&key).cloned().unwrap_or_default();
        self.accumulators.insert(key, reverse(bill, &acc));
        Ok(bill.clone())
    }
}

impl Bill {
    /// 1 January of the bill's accumulator year.
    pub fn year_start(&self) -> huimin_domain::Date {
        huimin_domain::Date::from_ymd_opt(self.year, 1, 1).unwrap_or_default()
    }
}
