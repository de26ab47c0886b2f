//! `huimin gen`: a synthetic population that looks real, deterministic for a seed.
//!
//! Writes the three files the importers read — `regions.csv`, `facilities.csv`, `roster.csv` —
//! so that a generated population goes through exactly the path a real one does, and
//! `diseases.csv`: diagnosed diseases per person (ICD-10), the input of the health files.
//! Proportions (see `docs/roster-format.md`): household sizes 1–6 (mean ≈ 2.6); categories
//! 一般 60% / 低保 30% / 特困 10%; main cause 因病 42% (the national share of 因病致贫 households);
//! about 100 registered poor persons a village, 12 villages a township, 12 townships a county.

use std::collections::HashMap;

use std::path::Path;

use chrono::{Datelike, NaiveDate};
use huimin_domain::{IdNumber, RegionCode};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

const PROVINCE: (&str, &str) = ("37", "山东省");
const CITIES: [(&str, &str); 16] = [
    ("13", "临沂市"), ("01", "济南市"), ("03", "淄博市"), ("04", "枣庄市"), ("05", "东营市"), ("06", "烟台市"),
    ("07", "潍坊市"), ("08", "济宁市"), ("09", "泰安市"), ("10", "威海市"), ("11", "日照市"), ("14", "德州市"),
    ("15", "聊城市"), ("16", "滨州市"), ("17", "菏泽市"), ("02", "青岛市"),
];
/// Linyi's real counties come first, so a small population is a real county (兰山区, 371302).
const LINYI_COUNTIES: [(&str, &str); 12] = [
    ("02", "兰山区"), ("11", "罗庄区"), ("12", "河东区"), ("21", "沂南县"), ("22", "郯城县"), ("23", "沂水县"),
    ("24", "兰陵县"), ("25", "费县"), ("26", "平邑县"), ("27", "莒南县"), ("28", "蒙阴县"), ("29", "临沭县"),
];
const PLACE_SYLLABLES: &str = "白沙埠汪沟义堂方城枣园李官半程马厂湖朱保诸葛孝友柳青双月新庄桥东西南北大小王家河湾山前后峪岭泉石凤凰清平安乐太和兴隆永丰长宁";
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤";
const MALE_CHARS: &str = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳建国文志海峰成东亮春利生德福贵祥";
const FEMALE_CHARS: &str = "芳娜敏静丽艳娟霞秀英玲桂兰凤梅琳雪慧红燕萍洁婷倩颖晶欣玉珍淑莲翠荣琴云彩月花巧";

/// Diagnosed diseases and their prevalence (per mille) among registered poor persons aged 60+,
/// 18–59 and under 18. Assumed figures in the range of China's chronic-disease surveys, higher
/// than the general population as the programme selects the sick; a household poor because of
/// illness always has at least one diagnosis.
const DISEASES: [(&str, &str, u32, u32, u32); 14] = [
    ("I10", "原发性高血压", 350, 120, 0),
    ("E11.9", "2型糖尿病", 120, 50, 0),
    ("I25.1", "冠状动脉粥样硬化性心脏病", 60, 10, 0),
    ("I69.3", "脑梗死后遗症", 40, 8, 0),
    ("J44.9", "慢性阻塞性肺疾病", 50, 10, 0),
    ("M06.9", "类风湿关节炎", 15, 8, 0),
    ("N18.5", "慢性肾脏病5期（尿毒症）", 4, 3, 0),
    ("F20.9", "精神分裂症", 5, 7, 0),
    ("C34.9", "肺恶性肿瘤", 4, 1, 0),
    ("C16.9", "胃恶性肿瘤", 3, 1, 0),
    ("A15.0", "肺结核", 3, 2, 1),
    ("B24", "艾滋病病毒病", 0, 1, 0),
    ("E10.9", "1型糖尿病", 1, 1, 2),
    ("Q24.9", "先天性心脏病", 0, 0, 3),
];

#[derive(Debug, Clone, Copy)]
pub struct GenSpec {
    pub persons: u64,
    pub seed: u64,
    /// The roster's year: ages are computed at its 1 January.
    pub year: i32,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct GenSummary {
    pub counties: usize,
    pub townships: usize,
    pub villages: usize,
    pub facilities: usize,
    pub households: u64,
    pub persons: u64,
    pub diagnoses: u64,
}

fn pick<'a>(rng: &mut ChaCha8Rng, chars: &'a str) -> char {
    let n = chars.chars().count();
    chars.chars().nth(rng.random_range(0..n)).expect("non-empty")
}

fn place_name(rng: &mut ChaCha8Rng) -> String {
    (0..2).map(|_| pick(rng, PLACE_SYLLABLES)).collect()
}

fn person_name(rng: &mut ChaCha8Rng, surname: char, male: bool) -> String {
    let chars = if male { MALE_CHARS } else { FEMALE_CHARS };
    let len = if rng.random_bool(0.7) { 2 } else { 1 };
    std::iter::once(surname).chain((0..len).map(|_| pick(rng, chars))).collect()
}

/// Picks an index by weights in per mille.
fn weighted(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
    let mut x = rng.random_range(0..weights.iter().sum::<u32>());
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

struct Ids {
    used: HashMap<(u32, NaiveDate), u16>,
}

impl Ids {
    /// A unique valid ID number for a person born on `birth` in `area`.
    fn next(&mut self, area: u32, birth: NaiveDate, male: bool) -> IdNumber {
        let mut date = birth;
        loop {
            let k = self.used.entry((area, date)).or_insert(0);
            if *k < 499 {
                let seq = *k * 2 + u16::from(male);
                *k += 1;
                return IdNumber::compose(area, date, seq).expect("valid parts");
            }
            date = date.succ_opt().expect("date in range");
        }
    }
}

fn birth_date(rng: &mut ChaCha8Rng, year: i32, age: i32) -> NaiveDate {
    let y = year - 1 - age.clamp(0, 100);
    NaiveDate::from_yo_opt(y, rng.random_range(1..=365)).expect("day of year")
}

fn csv_writer(path: &Path) -> std::io::Result<crate::csv_out::CsvFile> {
    crate::csv_out::CsvFile::create(path, crate::csv_out::CsvEncoding::Utf8)
}

/// Writes `regions.csv`, `facilities.csv` and `roster.csv` into `dir`.
pub fn generate(spec: GenSpec, dir: &Path) -> std::io::Result<GenSummary> {
    std::fs::create_dir_all(dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut sum = GenSummary::default();
    let mut regions = csv_writer(&dir.join("regions.csv"))?;
    let mut facilities = csv_writer(&dir.join("facilities.csv"))?;
    let mut roster = csv_writer(&dir.join("roster.csv"))?;
    let mut diseases = csv_writer(&dir.join("diseases.csv"))?;
    diseases.row(["证件号码", "疾病编码", "疾病名称", "确诊年份"])?;
    regions.row(["区划代码", "名称"])?;
    facilities.row(["机构编码", "机构名称", "机构等级", "机构类型", "行政区划代码", "是否定点医院", "扶贫病床数"])?;
    roster.row([
        "户编号", "户主姓名", "与户主关系", "姓名", "证件号码", "性别", "民族", "行政区划代码", "贫困户属性", "脱贫状态", "主要致贫原因", "联系电话",
    ])?;

    const PER_VILLAGE: u64 = 100;
    const VILLAGES: u64 = 12;
    const TOWNSHIPS: u64 = 12;
    let villages_needed = spec.persons.div_ceil(PER_VILLAGE).max(1);
    let townships_needed = villages_needed.div_ceil(VILLAGES);
    let counties_needed = townships_needed.div_ceil(TOWNSHIPS) as usize;
    let mut ids = Ids { used: HashMap::new() };
    let mut facility = |f: &mut crate::csv_out::CsvFile, code: String, name: String, level: u8, kind: &str, region: &RegionCode, beds: u32| {
        sum.facilities += 1;
        f.row([code, name, level.to_string(), kind.into(), region.to_string(), if beds > 0 { "是" } else { "否" }.into(), beds.to_string()])
    };

    let province = RegionCode::parse(PROVINCE.0).expect("code");
    regions.row([province.to_string().as_str(), PROVINCE.1])?;
    facility(&mut facilities, "H370000001".into(), "山东省立医院".into(), 3, "省级医院", &province, 0)?;
    let mut persons_left = spec.persons;
    let mut household_seq: u64 = 0;
    let mut county_count = 0;
    'cities: for (ci, (city_code, city_name)) in CITIES.iter().enumerate() {
        let city = RegionCode::parse(&format!("37{city_code}")).expect("code");
        regions.row([city.to_string().as_str(), city_name])?;
        facility(&mut facilities, format!("H{}01", &city.to_string()[..4]), format!("{city_name}人民医院"), 3, "市级医院", &city, 30)?;
        let counties: Vec<(String, String)> = if ci == 0 {
            LINYI_COUNTIES.iter().map(|(c, n)| (c.to_string(), n.to_string())).collect()
        } else {
            (0..22).map(|k| (format!("{}", 21 + k), format!("{}{}县", place_name(&mut rng), ["", "安", "平", "阳"][k % 4]))).collect()
        };
        for (county_code, county_name) in counties {
            if county_count == counties_needed {
                break 'cities;
            }
            county_count += 1;
            sum.counties += 1;
            let county = RegionCode::parse(&format!("{}{county_code}", &city.to_string()[..4])).expect("code");
            let area: u32 = county.to_string()[..6].parse().expect("digits");
            regions.row([county.to_string().as_str(), &county_name])?;
            let c6 = &county.to_string()[..6];
            facility(&mut facilities, format!("H{c6}01"), format!("{county_name}人民医院"), 2, "县级医院", &county, 50)?;
            facility(&mut facilities, format!("H{c6}02"), format!("{county_name}中医医院"), 2, "县级医院", &county, 20)?;
            for t in 1..=TOWNSHIPS as u32 {
                if persons_left == 0 {
                    break;
                }
                let township = county.child(t).expect("township code");
                let t_name = format!("{}{}", place_name(&mut rng), if t % 3 == 0 { "乡" } else { "镇" });
                regions.row([township.to_string().as_str(), &t_name])?;
                sum.townships += 1;
                facility(&mut facilities, format!("H{}", &township.to_string()[..9]), format!("{t_name}卫生院"), 1, "乡镇卫生院", &township, 0)?;
                for v in 1..=VILLAGES as u32 {
                    if persons_left == 0 {
                        break;
                    }
                    let village = township.child(200 + v).expect("village code");
                    let v_name = format!("{}村", place_name(&mut rng));
                    regions.row([village.to_string().as_str(), &v_name])?;
                    sum.villages += 1;
                    facility(&mut facilities, format!("H{village}"), format!("{v_name}卫生室"), 1, "村卫生室", &village, 0)?;
                    let mut in_village = 0;
                    while in_village < PER_VILLAGE && persons_left > 0 {
                        household_seq += 1;
                        let size = (1 + weighted(&mut rng, &[250, 300, 200, 150, 70, 30]) as u64).min(persons_left);
                        let out = Out { roster: &mut roster, diseases: &mut diseases };
                        sum.diagnoses += write_household(&mut rng, out, &mut ids, spec.year, area, village, household_seq, size)?;
                        in_village += size;
                        persons_left -= size;
                        sum.households += 1;
                        sum.persons += size;
                    }
                }
            }
        }
    }
    for w in [regions, facilities, roster, diseases] {
        w.commit()?;
    }
    Ok(sum)
}

struct Out<'a> {
    roster: &'a mut crate::csv_out::CsvFile,
    diseases: &'a mut crate::csv_out::CsvFile,
}

/// Writes one household's rows and its members' diagnoses; returns the number of diagnoses.
#[allow(clippy::too_many_arguments)]
fn write_household(
    rng: &mut ChaCha8Rng,
    out: Out<'_>,
    ids: &mut Ids,
    year: i32,
    area: u32,
    village: RegionCode,
    seq: u64,
    size: u64,
) -> std::io::Result<u64> {
    let household_no = format!("{village}{:06}", seq % 1_000_000);
    let surname = pick(rng, SURNAMES);
    let category = ["一般贫困户", "低保贫困户", "特困供养贫困户"][weighted(rng, &[600, 300, 100])];
    let status = ["未脱贫", "已脱贫", "返贫"][weighted(rng, &[200, 780, 20])];
    let cause = ["因病", "因残", "缺劳力", "缺资金", "缺技术", "因学", "因灾", "缺土地", "自身发展动力不足"]
        [weighted(rng, &[420, 150, 120, 100, 100, 50, 20, 20, 20])];
    let ethnicity = if rng.random_bool(0.995) { "汉族" } else { "回族" };
    let head_male = size == 1 && rng.random_bool(0.45) || size > 1 && rng.random_bool(0.85);
    let head_age = rng.random_range(if size == 1 { 55..90 } else { 30..80 });
    let mut members: Vec<(&str, String, bool, i32)> = Vec::new();
    members.push(("户主", person_name(rng, surname, head_male), head_male, head_age));
    for i in 1..size {
        if i == 1 && rng.random_bool(0.85) {
            let age = (head_age + rng.random_range(-5..5)).max(20);
            let spouse_surname = pick(rng, SURNAMES);
            members.push(("配偶", person_name(rng, spouse_surname, !head_male), !head_male, age));
        } else if head_age > 62 && rng.random_bool(0.5) {
            let male = rng.random_bool(0.5);
            let age = (head_age - rng.random_range(45..60)).max(0);
            members.push((if male { "之孙子" } else { "之孙女" }, person_name(rng, surname, male), male, age));
        } else {
            let male = rng.random_bool(0.52);
            let age = (head_age - rng.random_range(22..36)).max(0);
            members.push((if male { "之子" } else { "之女" }, person_name(rng, surname, male), male, age));
        }
    }
    let head_name = members[0].1.clone();
    let mut diagnoses = 0;
    for (i, (relation, name, male, age)) in members.into_iter().enumerate() {
        let birth = birth_date(rng, year, age);
        let id = ids.next(area, birth, male);
        debug_assert_eq!(birth.year(), year - 1 - age.clamp(0, 100));
        let phone = if i == 0 && rng.random_bool(0.8) { format!("1{}{:09}", rng.random_range(3..=9), rng.random_range(0..1_000_000_000u64)) } else { String::new() };
        out.roster.row([
            household_no.as_str(),
            &head_name,
            relation,
            &name,
            id.as_str(),
            if male { "男" } else { "女" },
            ethnicity,
            &village.to_string(),
            category,
            status,
            cause,
            &phone,
        ])?;
        let mut sick: Vec<usize> = (0..DISEASES.len())
            .filter(|&k| {
                let (_, _, old, adult, child) = DISEASES[k];
                let per_mille = if age >= 60 { old } else if age >= 18 { adult } else { child };
                rng.random_range(0..1000) < per_mille
            })
            .collect();
        if i == 0 && sick.is_empty() && cause == "因病" {
            sick.push(if age >= 40 { 0 } else { 12 });
        }
        for k in sick {
            let (code, disease, ..) = DISEASES[k];
            let since = year - 1 - rng.random_range(0..=age.clamp(0, 15));
            out.diseases.row([id.as_str(), code, disease, &since.to_string()])?;
            diagnoses += 1;
        }
    }
    Ok(diagnoses)
}

/// `n` claims for `persons` persons within the policy's period up to today, deterministic for a
/// seed and a day: mostly inpatient stays at all levels, some outpatient chronic visits, amounts
/// spread from a few hundred yuan to a few hundred thousand. A person's stays never overlap (each
/// has its own 16-day slot of the period), as the settlement window requires.
pub fn claims(policy: &huimin_policy::Policy, n: u64, persons: u64, seed: u64) -> Vec<huimin_policy::Claim> {
    use huimin_domain::{FacilityLevel, Money, PovertyCategory};
    use huimin_policy::{Claim, VisitType};
    const SLOT: i64 = 16;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let last = policy.effective_to.min(crate::clock::today() - chrono::Duration::days(1)).max(policy.effective_from);
    let slots = ((last - policy.effective_from).num_days() / SLOT).max(1);
    let categories = [PovertyCategory::General, PovertyCategory::Dibao, PovertyCategory::Tekun];
    let mut taken = vec![0i64; persons.max(1) as usize];
    (0..n)
        .map(|i| {
            let person = rng.random_range(0..persons.max(1));
            // The person's next slot, from a random one on; a slot holds one stay of up to 15 days.
            let slot = (person as i64 * 7 + taken[person as usize]) % slots;
            taken[person as usize] += 1;
            let admission = policy.effective_from + chrono::Duration::days(slot * SLOT);
            let visit = if rng.random_bool(0.85) { VisitType::Inpatient } else { VisitType::OutpatientChronic };
            // Roughly log-uniform amounts: most stays cost thousands, a few hundreds of thousands.
            let scale = 10f64.powf(rng.random_range(2.5..5.5));
            let cat_a = (scale * 100.0) as i64;
            let cat_b = cat_a * rng.random_range(0..40) / 100;
            let out = cat_a * rng.random_range(0..15) / 100;
            Claim {
                claim_no: format!("B{i}"),
                person: format!("p{person}"),
                category: categories[(person % 3) as usize],
                visit,
                level: FacilityLevel::from_number(rng.random_range(1..=3)).expect("level"),
                in_county: rng.random_bool(0.9),
                admission,
                discharge: (admission + chrono::Duration::days(rng.random_range(0..15))).min(last),
                diseases: Vec::new(),
                cat_a: Money::from_fen(cat_a).expect("amount"),
                cat_b: Money::from_fen(cat_b).expect("amount"),
                out_of_catalogue: Money::from_fen(out).expect("amount"),
                necessary: Money::from_fen(out / 3).expect("amount"),
            }
        })
        .collect()
}
