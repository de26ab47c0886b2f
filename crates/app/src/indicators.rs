//! The indicators of domain.md §4 for a region and a period, their targets, and the reports
//! built from them (XLSX): the county's monthly progress, the claims report in the form of seed
//! 004, screening progress, and fund reconciliation.

use std::path::Path;

use huimin_domain::{Date, Money, Period, RegionCode};
use huimin_policy::Fund;
use huimin_store::{ClaimSums, RegistryCounts, Store, StoreError, SumsBy, Target};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use serde::Serialize;

use crate::health;

/// The supervised indicators and their default targets: (code, Chinese name, at most?, target in
/// ppm, source). A region's own target (the most specific) replaces the default.
pub const INDICATORS: [(&str, &str, bool, i64, &str); 4] = [
    ("self_pay_ratio", "住院个人自付比例", true, 100_000, "种子001“一个确保”：贫困患者住院费用个人自付比例控制在10%以内"),
    ("contract_rate", "家庭医生签约率", false, 1_000_000, "种子001：应签尽签（茅箭区达到 98.80%）"),
    ("follow_up_rate", "随访履约率", false, 900_000, "假设：种子文件未给出，取 90%"),
    ("screening_rate", "因病致贫筛查完成率", false, 950_000, "假设：云南一个月完成 96%，取 95%"),
];

/// Everything the dashboard shows for one region and period.
#[derive(Debug, Clone, Serialize)]
pub struct Indicators {
    pub region: RegionCode,
    pub period: Period,
    pub registry: RegistryCounts,
    /// The latest screening campaign covering the region: (name, households to screen, screened, poor because of illness).
    pub screening: Option<(String, i64, i64, i64)>,
    /// Persons per batch (centralised, contract, backstop) and sick persons.
    pub batches: [usize; 3],
    pub sick_persons: usize,
    /// Centralised treatment: identified, treated.
    pub treatment: (usize, usize),
    /// Persons in the programme and those with a contract for the period's year.
    pub contracts: (i64, i64),
    /// Follow-ups done and due so far this year, and persons late.
    pub follow_ups: (u32, u32, usize),
    pub claims: ClaimSums,
    pub inpatient: ClaimSums,
    pub outpatient_chronic: ClaimSums,
}

/// A figure against its target.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub indicator: &'static str,
    pub name: &'static str,
    /// The figure in ppm, if there is anything to measure.
    pub value_ppm: Option<i64>,
    pub target_ppm: i64,
    pub at_most: bool,
    pub source: String,
    pub met: bool,
}

/// `part / whole` in parts per million, rounded half up; `None` when the whole is zero.
pub fn ppm(part: i64, whole: i64) -> Option<i64> {
    (whole > 0).then(|| (i128::from(part) * 2_000_000 + i128::from(whole)) / (2 * i128::from(whole))).map(|v| v as i64)
}

/// A ppm figure as a percentage with two decimals (`91.42%`).
pub fn percent(ppm: Option<i64>) -> String {
    match ppm {
        Some(v) => {
            let hundredths = (v + 50) / 100;
            format!("{}.{:02}%", hundredths / 100, hundredths % 100)
        }
        None => "—".into(),
    }
}

pub async fn compute(store: &Store, catalog: &huimin_domain::DiseaseCatalog, region: RegionCode, period: Period, today: Date) -> Result<Indicators, StoreError> {
    let year = chrono::Datelike::year(&period.to);
    let registry = store.registry_counts(region).await?;
    let screening = match store.campaigns(region).await?.into_iter().find(|c| c.starts_on <= period.to) {
        Some(c) => {
            let rows = store.screening_progress(c.id, region).await?;
            let (a, b, i) = rows.iter().fold((0, 0, 0), |(a, b, i), p| (a + p.to_screen, b + p.screened, i + p.illness_poor));
            Some((c.name, a, b, i))
        }
        None => None,
    };
    let rows = health::batches(store, catalog, region, year).await.map_err(|e| match e {
        health::HealthError::Store(e) => e,
        e => StoreError::Corrupt(e.to_string()),
    })?;
    let counts = health::batch_counts(&rows);
    let batches = [counts[0].1, counts[1].1, counts[2].1];
    let ledger = store.treatments(region, None).await?;
    let treated = ledger.iter().filter(|t| t.status == huimin_domain::TreatmentStatus::Treated).count();
    let rates = store.contract_rates(region, year).await?;
    let contracts = rates.iter().fold((0, 0), |(a, b), r| (a + r.persons, b + r.signed));
    let on = today.min(period.to);
    let work = crate::contracts::worklist(store, region, year, None, on).await?;
    let follow_ups = work.iter().fold((0, 0, 0), |(d, due, late), w| (d + w.state.done, due + w.state.due, late + usize::from(w.overdue_days > 0)));
    Ok(Indicators {
        region,
        period,
        registry,
        screening,
        batches,
        sick_persons: rows.len(),
        treatment: (ledger.len(), treated),
        contracts,
        follow_ups,
        claims: store.claim_sums(region, period, None).await?,
        inpatient: store.claim_sums(region, period, Some("inpatient")).await?,
        outpatient_chronic: store.claim_sums(region, period, Some("outpatient_chronic")).await?,
    })
}

/// The target for an indicator in a region: the most specific region's, else the default.
pub fn target_for(targets: &[Target], region: RegionCode, indicator: &str) -> (i64, bool, String) {
    let default = INDICATORS.iter().find(|(code, ..)| *code == indicator).map(|(_, _, at_most, v, src)| (*v, *at_most, src.to_string())).unwrap_or((0, false, String::new()));
    targets
        .iter()
        .filter(|t| t.indicator == indicator && t.region.contains(region))
        .max_by_key(|t| t.region.prefix().len())
        .map(|t| (t.value_ppm, t.at_most, t.source.clone()))
        .unwrap_or(default)
}

/// Each supervised figure of `ind` against its target.
pub fn checks(ind: &Indicators, targets: &[Target]) -> Vec<Check> {
    INDICATORS
        .iter()
        .map(|(code, name, ..)| {
            let value_ppm = match *code {
                "self_pay_ratio" => ppm(ind.inpatient.patient_total, ind.inpatient.total),
                "contract_rate" => ppm(ind.contracts.1, ind.contracts.0),
                "follow_up_rate" => ppm(i64::from(ind.follow_ups.0), i64::from(ind.follow_ups.1)),
                _ => ind.screening.as_ref().and_then(|(_, to, done, _)| ppm(*done, *to)),
            };
            let (target_ppm, at_most, source) = target_for(targets, ind.region, code);
            let met = value_ppm.is_none_or(|v| if at_most { v <= target_ppm } else { v >= target_ppm });
            Check { indicator: code, name, value_ppm, target_ppm, at_most, source, met }
        })
        .collect()
}

/// Claims by month and by child region for the charts and the comparison table.
pub async fn breakdowns(store: &Store, region: RegionCode, period: Period, child_width: usize) -> Result<(Vec<(String, ClaimSums)>, Vec<(String, ClaimSums)>), StoreError> {
    Ok((store.claim_sums_by(region, period, SumsBy::Month).await?, store.claim_sums_by(region, period, SumsBy::Region(child_width)).await?))
}

fn yuan(fen: i64) -> f64 {
    // For spreadsheet cells only: amounts are computed in fen; a cell shows yuan with 2 decimals.
    fen as f64 / 100.0
}

fn money_text(fen: i64) -> String {
    Money::from_fen(fen).map(|m| m.to_string()).unwrap_or_else(|_| format!("-{}", Money::from_fen(-fen).unwrap_or_default()))
}

/// The claims report in the form of seed 004, by child region: inpatient stays, total cost,
/// reimbursed, ratio; chronic outpatient persons, visits, reimbursed; the fiscal backstop.
pub async fn write_claims_report(store: &Store, region: RegionCode, period: Period, child_width: usize, path: &Path) -> Result<(), ReportError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    let sheet = book.add_worksheet().set_name("结算情况")?;
    sheet.write_with_format(0, 0, format!("贫困人口医疗费用结算情况（{}）", period.label()), &bold)?;
    let heads = ["区划", "住院人次", "住院总费用（元）", "各项报销合计（元）", "报销比例", "个人自付（元）", "自付超10%人次", "慢性病门诊人数", "门诊核销人次", "门诊核销费用（元）", "财政兜底（元）"];
    for (c, h) in heads.iter().enumerate() {
        sheet.write_with_format(2, c as u16, *h, &bold)?;
    }
    let names = store.region_codes().await?;
    let inpatient = sums_by_region(store, region, period, child_width, Some("inpatient")).await?;
    let chronic = sums_by_region(store, region, period, child_width, Some("outpatient_chronic")).await?;
    let mut row = 3u32;
    let mut keys: Vec<String> = inpatient.iter().chain(chronic.iter()).map(|(k, _)| k.clone()).collect();
    keys.sort();
    keys.dedup();
    let empty = ClaimSums::default();
    let mut all = (ClaimSums::default(), ClaimSums::default());
    for k in keys.iter().map(Some).chain([None]) {
        let (i, c) = match k {
            Some(k) => (inpatient.iter().find(|(x, _)| x == k).map_or(&empty, |(_, s)| s).clone(), chronic.iter().find(|(x, _)| x == k).map_or(&empty, |(_, s)| s).clone()),
            None => all.clone(),
        };
        let label = match k {
            Some(k) => names.iter().find(|(code, _)| code.prefix() == *k).map_or(k.clone(), |(_, n)| n.clone()),
            None => "合计".to_string(),
        };
        sheet.write(row, 0, &label)?;
        sheet.write(row, 1, i.claims as f64)?;
        sheet.write_with_format(row, 2, yuan(i.total), &money)?;
        sheet.write_with_format(row, 3, yuan(i.funds_total), &money)?;
        sheet.write(row, 4, percent(ppm(i.funds_total, i.total)))?;
        sheet.write_with_format(row, 5, yuan(i.patient_total), &money)?;
        sheet.write(row, 6, i.over_ceiling as f64)?;
        sheet.write(row, 7, c.persons as f64)?;
        sheet.write(row, 8, c.claims as f64)?;
        sheet.write_with_format(row, 9, yuan(c.funds_total), &money)?;
        sheet.write_with_format(row, 10, yuan(i.fund(Fund::FiscalBackstop) + c.fund(Fund::FiscalBackstop)), &money)?;
        if k.is_some() {
            add(&mut all.0, &i);
            add(&mut all.1, &c);
        }
        row += 1;
    }
    sheet.set_column_width(0, 16)?;
    for c in 1..heads.len() as u16 {
        sheet.set_column_width(c, 16)?;
    }
    book.save(path)?;
    Ok(())
}

fn add(into: &mut ClaimSums, s: &ClaimSums) {
    into.claims += s.claims;
    into.persons += s.persons;
    into.total += s.total;
    into.in_policy += s.in_policy;
    into.funds_total += s.funds_total;
    into.patient_total += s.patient_total;
    into.over_ceiling += s.over_ceiling;
    for (a, b) in into.funds.iter_mut().zip(s.funds) {
        *a += b;
    }
}

async fn sums_by_region(store: &Store, region: RegionCode, period: Period, width: usize, visit: Option<&str>) -> Result<Vec<(String, ClaimSums)>, StoreError> {
    // One query per child region keeps `claim_sums` the single definition of the sums.
    let children = store.child_regions(region).await?;
    let regions: Vec<RegionCode> = if children.is_empty() { vec![region] } else { children.iter().map(|c| c.code).collect() };
    let mut out = Vec::new();
    for r in regions {
        let s = store.claim_sums(r, period, visit).await?;
        if s.claims > 0 {
            out.push((r.prefix()[..width.min(r.prefix().len())].to_string(), s));
        }
    }
    Ok(out)
}

/// Fund reconciliation as a workbook: a summary sheet (hospital × fund) and one sheet of claims
/// per fund that owes anything.
pub async fn write_reconciliation(store: &Store, region: RegionCode, month: &str, path: &Path) -> Result<(), ReportError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    let summary = book.add_worksheet().set_name("对账汇总")?;
    summary.write_with_format(0, 0, format!("{month} 各基金应付医疗机构金额（按结算日期）"), &bold)?;
    for (c, h) in ["基金", "基金编码", "医疗机构编码", "医疗机构", "结算单数", "应付金额（元）"].iter().enumerate() {
        summary.write_with_format(2, c as u16, *h, &bold)?;
    }
    let mut row = 3u32;
    let mut details = Vec::new();
    for fund in Fund::ALL {
        let owed = store.fund_owed(fund, region, month).await?;
        for o in &owed {
            summary.write(row, 0, fund.label_zh())?;
            summary.write_string(row, 1, fund.code())?;
            summary.write_string(row, 2, &o.facility_code)?;
            summary.write(row, 3, &o.facility_name)?;
            summary.write(row, 4, o.claims as f64)?;
            summary.write_with_format(row, 5, yuan(o.amount), &money)?;
            row += 1;
            details.push((fund, o.facility_code.clone()));
        }
    }
    summary.set_column_width(0, 22)?.set_column_width(1, 10)?.set_column_width(2, 16)?.set_column_width(3, 24)?.set_column_width(5, 16)?;
    for fund in Fund::ALL {
        let facilities: Vec<&String> = details.iter().filter(|(f, _)| *f == fund).map(|(_, c)| c).collect();
        if facilities.is_empty() {
            continue;
        }
        let sheet = book.add_worksheet().set_name(fund.code())?;
        for (c, h) in ["医疗机构编码", "结算单号", "出院日期", "总费用（元）", "本基金支付（元）"].iter().enumerate() {
            sheet.write_with_format(0, c as u16, *h, &bold)?;
        }
        let mut r = 1u32;
        for f in facilities {
            for line in store.fund_claims(fund, region, month, f).await? {
                sheet.write_string(r, 0, &line.facility_code)?;
                sheet.write_string(r, 1, &line.claim_no)?;
                sheet.write_string(r, 2, &line.discharge)?;
                sheet.write_with_format(r, 3, yuan(line.total), &money)?;
                sheet.write_with_format(r, 4, yuan(line.fund_amount), &money)?;
                r += 1;
            }
        }
        sheet.set_column_width(0, 16)?.set_column_width(1, 24)?.set_column_width(2, 12)?.set_column_width(3, 14)?.set_column_width(4, 16)?;
    }
    book.save(path)?;
    Ok(())
}

/// The screening progress of a campaign by child region.
pub async fn write_screening_report(store: &Store, campaign_id: i64, region: RegionCode, path: &Path) -> Result<(), ReportError> {
    let c = store.campaign(campaign_id).await?.ok_or_else(|| StoreError::NotFound(format!("campaign {campaign_id}")))?;
    let rows = store.screening_progress(campaign_id, region).await?;
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet().set_name("筛查进度")?;
    sheet.write_with_format(0, 0, format!("{}（{} 至 {}）", c.name, c.starts_on, c.ends_on), &bold)?;
    for (i, h) in ["区划代码", "区划", "应筛查户数", "已筛查户数", "完成率", "因病致贫户数", "因病致贫率"].iter().enumerate() {
        sheet.write_with_format(2, i as u16, *h, &bold)?;
    }
    let (mut a, mut b, mut ill) = (0, 0, 0);
    for (i, p) in rows.iter().enumerate() {
        let r = 3 + i as u32;
        sheet.write_string(r, 0, p.region.to_string())?;
        sheet.write(r, 1, &p.name)?;
        sheet.write(r, 2, p.to_screen as f64)?;
        sheet.write(r, 3, p.screened as f64)?;
        sheet.write(r, 4, percent(ppm(p.screened, p.to_screen)))?;
        sheet.write(r, 5, p.illness_poor as f64)?;
        sheet.write(r, 6, percent(ppm(p.illness_poor, p.screened)))?;
        (a, b, ill) = (a + p.to_screen, b + p.screened, ill + p.illness_poor);
    }
    let r = 3 + rows.len() as u32;
    sheet.write(r, 1, "合计")?;
    sheet.write(r, 2, a as f64)?;
    sheet.write(r, 3, b as f64)?;
    sheet.write(r, 4, percent(ppm(b, a)))?;
    sheet.write(r, 5, ill as f64)?;
    sheet.write(r, 6, percent(ppm(ill, b)))?;
    sheet.set_column_width(0, 14)?.set_column_width(1, 16)?;
    book.save(path)?;
    Ok(())
}

/// The monthly progress report of a county: every indicator for the month, by township.
pub async fn write_monthly_report(store: &Store, catalog: &huimin_domain::DiseaseCatalog, county: RegionCode, month: Period, today: Date, path: &Path) -> Result<(), ReportError> {
    let targets = store.targets().await?;
    let mut regions = vec![(county, "全县".to_string())];
    regions.extend(store.child_regions(county).await?.into_iter().map(|r| (r.code, r.name)));
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet().set_name("月度进展")?;
    sheet.write_with_format(0, 0, format!("健康扶贫工作月度进展（{}）", month.label()), &bold)?;
    let heads = [
        "区划", "建档立卡户", "建档立卡人口", "因病致贫户", "因病致贫率", "筛查完成率", "患病人数", "大病集中救治", "慢病签约服务管理", "重病兜底保障",
        "大病已救治", "签约率", "随访履约率", "住院人次", "住院总费用（元）", "报销比例", "个人自付比例", "自付超10%人次", "未达标指标",
    ];
    for (c, h) in heads.iter().enumerate() {
        sheet.write_with_format(2, c as u16, *h, &bold)?;
    }
    for (i, (code, name)) in regions.iter().enumerate() {
        let ind = compute(store, catalog, *code, month, today).await?;
        let misses: Vec<&str> = checks(&ind, &targets).iter().filter(|c| !c.met).map(|c| c.name).collect();
        let r = 3 + i as u32;
        let cells: Vec<String> = vec![
            name.clone(),
            ind.registry.households.to_string(),
            ind.registry.persons.to_string(),
            ind.registry.illness_households.to_string(),
            percent(ppm(ind.registry.illness_households, ind.registry.households)),
            percent(ind.screening.as_ref().and_then(|(_, a, b, _)| ppm(*b, *a))),
            ind.sick_persons.to_string(),
            ind.batches[0].to_string(),
            ind.batches[1].to_string(),
            ind.batches[2].to_string(),
            format!("{}/{}", ind.treatment.1, ind.treatment.0),
            percent(ppm(ind.contracts.1, ind.contracts.0)),
            percent(ppm(i64::from(ind.follow_ups.0), i64::from(ind.follow_ups.1))),
            ind.inpatient.claims.to_string(),
            money_text(ind.inpatient.total),
            percent(ppm(ind.inpatient.funds_total, ind.inpatient.total)),
            percent(ppm(ind.inpatient.patient_total, ind.inpatient.total)),
            ind.inpatient.over_ceiling.to_string(),
            misses.join("、"),
        ];
        for (c, v) in cells.iter().enumerate() {
            sheet.write(r, c as u16, v)?;
        }
    }
    sheet.set_column_width(0, 14)?;
    book.save(path)?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the workbook: {0}")]
    Xlsx(#[from] XlsxError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_exact_and_rounded_half_up() {
        assert_eq!(ppm(1, 3), Some(333_333));
        assert_eq!(ppm(2, 3), Some(666_667));
        assert_eq!(ppm(0, 0), None);
        assert_eq!(percent(ppm(9142, 10_000)), "91.42%");
        assert_eq!(percent(ppm(1, 3)), "33.33%");
        assert_eq!(percent(ppm(99_999, 100_000)), "100.00%");
        assert_eq!(percent(None), "—");
    }
}
