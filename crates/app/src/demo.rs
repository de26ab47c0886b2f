//! The demo county: 兰山区 (371302) with about 5,000 synthetic registered poor persons, its
//! facilities, and one user per role.

use std::path::Path;

use huimin_domain::{Date, Money, RegionCode, Role};
use huimin_store::{AuditEntry, NewUser, Store, StoreError};

use crate::accounts::hash_password;
use crate::import::{self, RosterImport};
use crate::synthetic::{self, GenSpec};

pub const COUNTY: &str = "371302";
pub const PASSWORD: &str = "huimin2024";

/// The county plan's numbers (policies/county-plan-2020.toml), in force from 2024 on so that the
/// demo can settle stays of today.
pub fn demo_policy() -> String {
    include_str!("../../../policies/county-plan-2020.toml")
        .replace(r#"id = "county-plan-2020""#, r#"id = "demo-county""#)
        .replace(r#"name = "县2020年健康扶贫五道保障线""#, r#"name = "演示县健康扶贫五道保障线（依县2020年计划）""#)
        .replace(r#"effective_from = "2020-01-01""#, r#"effective_from = "2024-01-01""#)
        .replace(r#"effective_to = "2020-12-31""#, r#"effective_to = "2030-12-31""#)
}

/// (user name, display name, role, region code, facility code)
pub const USERS: [(&str, &str, Role, &str, Option<&str>); 10] = [
    ("cunyi", "王村医", Role::VillageDoctor, "371302001201", None),
    ("jtys", "李医生团队", Role::FamilyDoctorTeam, "371302001000", None),
    ("xzwsy", "赵卫生院", Role::TownshipStaff, "371302001000", None),
    ("jsck", "孙结算员", Role::SettlementClerk, "371302", Some("H37130201")),
    ("wjj", "周卫健局", Role::HealthBureau, "371302", None),
    ("ybj", "吴医保局", Role::MedicalInsurance, "371302", None),
    ("mzj", "郑民政局", Role::CivilAffairs, "371302", None),
    ("fpb", "冯扶贫办", Role::PovertyOffice, "371302", None),
    ("dudao", "陈督导", Role::Supervisor, "371300", None),
    ("admin", "系统管理员", Role::Admin, "37", None),
];

/// Loads the demo data into an empty store (does nothing if the county is already there).
/// `work_dir` receives the generated CSV files.
pub async fn load(store: &Store, work_dir: &Path) -> anyhow::Result<()> {
    let county = RegionCode::parse(COUNTY)?;
    if store.registry_counts(county).await?.persons == 0 {
        synthetic::generate(GenSpec { persons: 5000, seed: 2024, year: 2024 }, work_dir)?;
        import::import_regions(store, &work_dir.join("regions.csv")).await?;
        import::import_facilities(store, &work_dir.join("facilities.csv")).await?;
        let report = import::import_roster(store, &work_dir.join("roster.csv"), &RosterImport::new("demo", Date::from_ymd_opt(2024, 1, 1).expect("date"))).await?;
        anyhow::ensure!(report.errors.is_empty(), "demo roster has {} errors", report.errors.len());
    }
    if store.policies().await?.is_empty() {
        let audit = AuditEntry { username: "demo".into(), ip: "cli".into(), action: "policy.load".into(), target: "demo-county".into(), ..Default::default() };
        crate::settlement::load_policy(store, "demo-county.toml", &demo_policy(), false, &audit).await?;
    }
    if store.warning_rules().await?.is_empty() {
        load_demo_monitoring(store, county).await?;
    }
    if store.claims_in_region(county, 1).await?.is_empty() {
        settle_demo_claims(store, crate::clock::today()).await?;
    }
    if store.sick_persons(county).await?.is_empty() && work_dir.join("diseases.csv").exists() {
        load_demo_health(store, work_dir).await?;
    }
    let today = crate::clock::today();
    if store.contracts(county, chrono::Datelike::year(&today)).await?.is_empty() {
        load_contracts(store, county, today).await?;
    }
    let hash = hash_password(PASSWORD);
    for (username, display_name, role, region, facility) in USERS {
        let user = NewUser {
            username: username.into(),
            display_name: display_name.into(),
            role,
            region: RegionCode::parse(region)?,
            facility_code: facility.map(str::to_string),
            password_hash: hash.clone(),
            must_change_password: false,
        };
        let audit = AuditEntry { username: "demo".into(), ip: "cli".into(), action: "user.create".into(), target: format!("user {username}"), ..Default::default() };
        match store.create_user(&user, &audit).await {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    advance_demo_warnings(store, county).await?;
    Ok(())
}

/// The example warning rules, and the economics of a third of the households whose members the
/// demo settles claims for (incomes a little above the monitoring line): the claims' batch then
/// opens warnings for some of them.
async fn load_demo_monitoring(store: &Store, county: RegionCode) -> anyhow::Result<()> {
    let audit = |action: &str| AuditEntry { username: "demo".into(), ip: "cli".into(), action: action.into(), ..Default::default() };
    let year = crate::clock::this_year();
    let rules = include_str!("../../../warnings/county-2023.toml").replace("2026-12-31", &format!("{}-12-31", year + 1));
    crate::monitoring::load_rules(store, "county-2023.toml", &rules, "demo", &audit("warning.rules.load")).await?;
    let categories = huimin_domain::MonitoringCategory::ALL;
    for (i, h) in crate::exchange::all_households(store, county).await?.iter().enumerate().filter(|(i, _)| i % 15 == 0) {
        let e = huimin_store::Economics {
            as_of: crate::clock::today() - chrono::Duration::days(60),
            size: u32::try_from(h.members).unwrap_or(1).max(1),
            per_capita_income: Some(Money::from_yuan(7_600 + (i as i64 % 7) * 150)?),
            monitoring_category: Some(categories[i / 15 % categories.len()]),
        };
        store.record_economics(h.household.no.as_str(), &e, "村医", &audit("household.economics")).await?;
    }
    Ok(())
}

/// Warnings in several states: the first as found, the next ones visited, cross-checked and with
/// their notice up, as the demo's users would have done today; and a household's own report.
async fn advance_demo_warnings(store: &Store, county: RegionCode) -> anyhow::Result<()> {
    use huimin_domain::recognition::{Stage, Step};
    let open = store.warnings(county, true).await?;
    if open.len() < 4 || open.iter().any(|w| w.stage != Stage::Lead) {
        return Ok(());
    }
    let users = store.users_within(county).await?;
    let user = |name: &str| users.iter().find(|u| u.username == name).cloned().ok_or_else(|| anyhow::anyhow!("demo user {name}"));
    let (village, township) = (user("cunyi")?, user("xzwsy")?);
    let today = crate::clock::today();
    let audit = AuditEntry { username: "demo".into(), ip: "cli".into(), ..Default::default() };
    let steps = [
        (&village, Step::HomeVisit { note: "入户核实：住院自付较多，家庭收入接近监测标准".into() }),
        (&township, Step::CrossCheck { note: "医保结算与收入数据比对一致".into() }),
        (&village, Step::PostNotice),
    ];
    for (n, w) in open.iter().skip(1).take(3).enumerate() {
        for (who, step) in steps.iter().take(n + 1) {
            crate::monitoring::take_step(store, w.id, step, who, today, &audit).await?;
        }
    }
    // A lead no rule found: a household of the village doctor's village reports itself.
    let set = crate::monitoring::WarningRuleSet::load(store).await?;
    if let Some(h) = crate::exchange::all_households(store, village.region).await?.iter().find(|h| !open.iter().any(|w| w.household_no == h.household.no.as_str())) {
        let note = "户主来电申报：配偶突发重病住院，家庭收入骤减";
        crate::monitoring::report_lead(store, &set, h.household.no.as_str(), huimin_domain::LeadSource::SelfReport, note, &village, today, &audit).await?;
    }
    Ok(())
}

/// The generated diagnoses as disease cards (the major ones enter the treatment ledger), a
/// screening campaign of 2024 done in most villages, part of the ledger treated, and a few
/// examinations in the demo village doctor's village.
async fn load_demo_health(store: &Store, work_dir: &Path) -> anyhow::Result<()> {
    use huimin_domain::{ExamReadings, TreatmentStatus};
    let county = RegionCode::parse(COUNTY)?;
    let audit = |action: &str| AuditEntry { username: "demo".into(), ip: "cli".into(), action: action.into(), ..Default::default() };
    let catalog = crate::health::catalog(store).await?;
    let identified = Date::from_ymd_opt(2024, 6, 1).expect("date");
    let report = crate::health::import_diseases(store, &catalog, &work_dir.join("diseases.csv"), "demo", identified, &audit("health.import")).await?;
    anyhow::ensure!(report.errors.is_empty(), "demo diseases: {:?}", report.errors.first());

    let campaign = store
        .create_campaign("2024年建档立卡贫困人口因病致贫筛查", county, Date::from_ymd_opt(2024, 5, 4).expect("date"), Date::from_ymd_opt(2024, 6, 30).expect("date"), "demo", &audit("screening.campaign"))
        .await?;
    let households = crate::exchange::all_households(store, county).await?;
    // Nine households in ten screened; villages further down the list lag behind.
    let screenings: Vec<huimin_store::Screening> = households
        .iter()
        .enumerate()
        .filter(|(i, _)| i * 10 / households.len().max(1) < 9 && i % 7 != 3)
        .map(|(i, h)| huimin_store::Screening {
            household_no: h.household.no.as_str().to_string(),
            screened_on: Date::from_ymd_opt(2024, 5, 4).expect("date") + chrono::Duration::days((i % 40) as i64),
            screened_by: "王村医".into(),
            result: if h.household.cause == huimin_domain::PovertyCause::Illness { "核实患病，因病致贫".into() } else { "核实，非因病致贫".into() },
            illness_poor: h.household.cause == huimin_domain::PovertyCause::Illness,
        })
        .collect();
    store.record_screenings(campaign, &screenings, &audit("screening.record")).await?;
    // This year's campaign, under way: two households in three screened so far, the village
    // doctor's first household still to do.
    let year = crate::clock::this_year();
    let (from, to) = (Date::from_ymd_opt(year, 1, 1).expect("date"), Date::from_ymd_opt(year, 12, 31).expect("date"));
    let current = store.create_campaign(&format!("{year}年因病致贫返贫动态监测筛查"), county, from, to, "demo", &audit("screening.campaign")).await?;
    let last_day = crate::clock::today().min(to);
    let this_year: Vec<huimin_store::Screening> = households
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(i, h)| huimin_store::Screening {
            household_no: h.household.no.as_str().to_string(),
            screened_on: (from + chrono::Duration::days((i % 200) as i64)).min(last_day),
            screened_by: "王村医".into(),
            result: if h.household.cause == huimin_domain::PovertyCause::Illness { "核实患病，因病致贫".into() } else { "核实，非因病致贫".into() },
            illness_poor: h.household.cause == huimin_domain::PovertyCause::Illness,
        })
        .collect();
    store.record_screenings(current, &this_year, &audit("screening.record")).await?;

    let hospitals: Vec<String> = store.all_facilities().await?.into_values().filter(|f| f.designated).map(|f| f.code).collect();
    for (i, t) in store.treatments(county, None).await?.iter().enumerate() {
        let (status, reason) = match i % 4 {
            0 | 1 => (TreatmentStatus::Treated, ""),
            2 => (TreatmentStatus::InTreatment, ""),
            _ => continue,
        };
        let update = huimin_store::TreatmentUpdate {
            status,
            facility_code: hospitals.get(i % hospitals.len().max(1)).cloned(),
            plan: "一人一策：定点医院诊疗，按临床路径治疗".into(),
            reason: reason.into(),
            on: identified + chrono::Duration::days(20 + (i % 30) as i64),
        };
        store.update_treatment(t.id, &update, "demo", &audit("treatment.update")).await?;
    }

    let village = RegionCode::parse(USERS[0].3)?;
    let (households, _) = store.list_households(village, &Default::default(), 20, 0).await?;
    for (i, h) in households.iter().enumerate() {
        for m in store.household_members(&h.household.no).await?.iter().take(1) {
            let sys = 118 + (i * 7 % 40) as u16;
            let readings = ExamReadings::parse(&sys.to_string(), &(sys - 40).to_string(), &format!("{}.{}", 5 + i % 3, i % 10), "162", &format!("{}.5", 55 + i % 15))?;
            let findings = if sys >= 140 { "血压偏高，建议规律服药并复查" } else { "未见明显异常" };
            store.record_exam(m.id, Date::from_ymd_opt(2024, 4, 10).expect("date"), &readings, findings, "一镇卫生院", "demo", &audit("health.exam")).await?;
        }
    }
    Ok(())
}

/// A family-doctor team per township of `county` (the demo village doctor and team are members of
/// the first), this year's contracts for all but one person in eighty (Maojian reached 98.80%),
/// and the follow-ups done so far: most windows that have ended have one, some are late.
pub async fn load_contracts(store: &Store, county: RegionCode, today: Date) -> anyhow::Result<()> {
    use chrono::Datelike;
    use huimin_domain::{Adherence, FollowUpMode, FollowUpReadings, Service, schedule};
    use rand::{Rng, SeedableRng};
    let audit = |action: &str| AuditEntry { username: "demo".into(), ip: "cli".into(), action: action.into(), ..Default::default() };
    let year = today.year();
    let facilities = store.all_facilities().await?;
    let mut team_of: Vec<(RegionCode, i64)> = Vec::new();
    for (i, township) in store.child_regions(county).await?.into_iter().enumerate() {
        let centre = format!("H{}", &township.code.to_string()[..9]);
        if !facilities.contains_key(&centre) {
            continue;
        }
        let team = store.create_team(&format!("{}家庭医生团队", township.name), &centre, township.code, &audit("team.create")).await?;
        let members: Vec<(&str, &str, Option<&str>, Option<&str>)> = if i == 0 {
            vec![("李医生", "全科医生（团队长）", Some(&centre), Some(USERS[1].0)), ("王村医", "村医", None, Some(USERS[0].0)), ("刘主任", "县医院内科医生", Some("H37130201"), None)]
        } else {
            vec![("张医生", "全科医生（团队长）", Some(&centre), None), ("陈护士", "护士", Some(&centre), None)]
        };
        for (name, duty, facility, username) in members {
            let m = huimin_store::TeamMember { id: 0, name: name.into(), duty: duty.into(), phone: format!("1380539{:04}", team * 10 + 1), facility_code: facility.map(str::to_string), username: username.map(str::to_string) };
            store.add_team_member(team, &m, &audit("team.member")).await?;
        }
        team_of.push((township.code, team));
    }
    let starts_on = Date::from_ymd_opt(year, 1, 1).expect("date");
    let ends_on = Date::from_ymd_opt(year, 12, 31).expect("date");
    let mut contracts = Vec::new();
    for (i, (person_id, _, _)) in store.unsigned_persons(county, year, 1_000_000).await?.into_iter().enumerate() {
        let Some(p) = store.person(person_id).await? else { continue };
        let Some(h) = store.household(&p.person.household_no).await? else { continue };
        let Some((_, team)) = team_of.iter().find(|(t, _)| t.contains(h.household.region)) else { continue };
        if i % 80 == 79 {
            continue;
        }
        contracts.push(huimin_store::NewContract {
            person_id,
            team_id: *team,
            year,
            starts_on,
            ends_on,
            services: Service::ALL.to_vec(),
            signed_by: "李医生".into(),
            signed_on: starts_on,
            renewed_from: None,
        });
    }
    store.sign_contracts(&contracts, &audit("contract.sign")).await?;

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let rules = store.follow_up_rules().await?;
    let diagnoses = store.diagnoses(county).await?;
    let mut follow_ups = Vec::new();
    for c in store.contracts(county, year).await? {
        let codes = diagnoses.get(&c.contract.person_id).map_or(&[][..], Vec::as_slice);
        let groups = crate::contracts::key_groups(c.birth_date, today, codes, &[]);
        let per_year = crate::contracts::rule_for(&rules, c.region).per_year(!groups.is_empty());
        let hypertensive = groups.contains(&huimin_domain::KeyGroup::Hypertension);
        let diabetic = groups.contains(&huimin_domain::KeyGroup::Diabetes);
        for (k, w) in schedule(c.contract.starts_on, c.contract.ends_on, per_year).iter().enumerate() {
            let chance = if w.end < today { 0.9 } else { 0.35 };
            if w.start > today || !rng.random_bool(chance) {
                continue;
            }
            let last = w.end.min(today);
            let on = w.start + chrono::Duration::days(rng.random_range(0..=(last - w.start).num_days()));
            let sys: u16 = if hypertensive { rng.random_range(116..156) } else { rng.random_range(105..136) };
            let glucose = if diabetic { format!("{}.{}", rng.random_range(5..10), rng.random_range(0..10)) } else { String::new() };
            let readings = FollowUpReadings::parse(&sys.to_string(), &(sys * 3 / 5 + rng.random_range(0..8)).to_string(), &glucose, &rng.random_range(58..99).to_string(), "")?;
            let abnormal = readings.abnormal();
            follow_ups.push((
                huimin_store::NewFollowUp {
                    submission_key: format!("demo-{}-{k}", c.id),
                    person_id: c.contract.person_id,
                    contract_id: c.id,
                    followed_on: on,
                    mode: [FollowUpMode::Home, FollowUpMode::Clinic, FollowUpMode::Phone][rng.random_range(0..3)],
                    readings,
                    adherence: if hypertensive || diabetic { Adherence::Regular } else { Adherence::NotNeeded },
                    guidance: if abnormal.is_empty() { "保持健康生活方式".into() } else { "低盐低脂饮食，规律服药，两周后复测".into() },
                    next_on: None,
                },
                abnormal,
            ));
        }
    }
    store.import_follow_ups(&follow_ups, &audit("followup.import")).await?;
    Ok(())
}

/// About 570 stays of 2025 of the heads of every fifth household, at the county's hospitals, township health
/// centres and the city hospital (out of the county), and as many again in the current year up to
/// three weeks ago (so that the dashboard's default year has costs too), settled under the demo policy.
async fn settle_demo_claims(store: &Store, today: Date) -> anyhow::Result<()> {
    use rand::{Rng, SeedableRng};
    let set = crate::settlement::PolicySet::load(store).await?;
    let county = RegionCode::parse(COUNTY)?;
    let facilities: Vec<String> = store
        .facilities(RegionCode::parse("3713")?)
        .await?
        .into_iter()
        .filter(|f| f.kind != "村卫生室" && (county.contains(f.region) || f.level == huimin_domain::FacilityLevel::Three))
        .map(|f| f.code)
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2025);
    let households = crate::exchange::all_households(store, county).await?;
    let audit = AuditEntry { username: "demo".into(), ip: "cli".into(), action: "settlement.settle".into(), ..Default::default() };
    let diseases = ["I63.9", "I10", "E11.9", "C34.9", "J44.9", "I25.1", "K80.2", "S72.0", "N18.5", "C16.9"];
    let mut requests = Vec::new();
    let jan1 = |y: i32| Date::from_ymd_opt(y, 1, 1).expect("date");
    // (year, days of it to be admitted in): 2025, and this year up to three weeks ago.
    let this_year = chrono::Datelike::year(&today);
    let recent = (today - jan1(this_year)).num_days() - 21;
    let mut years = vec![(2025, 340)];
    if this_year > 2025 && recent > 0 {
        years.push((this_year, recent));
    }
    for (i, h) in households.iter().enumerate().filter(|(i, _)| i % 5 == 0) {
        let members = store.household_members(&h.household.no).await?;
        let Some(person) = members.first() else { continue };
        for &(year, days) in &years {
            // One stay, or two in the two halves of the time (a stay lasts up to 20 days; stays
            // of one person never overlap).
            let stays = if days >= 60 { rng.random_range(1..=2) } else { 1 };
            for k in 0..stays {
                let (from, to) = if stays == 1 { (0, days) } else if k == 0 { (0, days / 2 - 21) } else { (days / 2, days) };
                let admission = jan1(year) + chrono::Duration::days(rng.random_range(from..to));
                let cat_a = rng.random_range(2_000..60_000) * 100;
                requests.push(crate::settlement::SettleRequest {
                    claim_no: format!("DEMO-{year}-{:05}", requests.len() + 1),
                    person_id: person.id,
                    facility_code: facilities[rng.random_range(0..facilities.len())].clone(),
                    visit: huimin_policy::VisitType::Inpatient,
                    admission,
                    discharge: admission + chrono::Duration::days(rng.random_range(2..21)),
                    diseases: vec![diseases[(i + k) % diseases.len()].to_string()],
                    cat_a: Money::from_fen(cat_a)?,
                    cat_b: Money::from_fen(cat_a / 4)?,
                    out_of_catalogue: Money::from_fen(cat_a / 10)?,
                    necessary: Money::from_fen(cat_a / 25)?,
                });
            }
        }
    }
    let out = crate::settlement::settle_batch(store, &set, &requests, "demo", &audit).await?;
    anyhow::ensure!(out.refused.is_empty(), "demo claims refused: {:?}", out.refused.first());
    Ok(())
}
