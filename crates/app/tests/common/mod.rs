//! Shared set-up of the health and contract suites: two townships with a village each, three
//! households, four persons, a designated county hospital.
#![allow(dead_code)]

use huimin_app::import::{self, RosterImport};
use huimin_domain::*;
use huimin_store::{AuditEntry, Store};

pub const V1: &str = "371302001201";
pub const V2: &str = "371302002201";

pub fn id(seq: u16) -> String {
    IdNumber::compose(371302, Date::from_ymd_opt(1960, 1, 1).unwrap(), seq).unwrap().as_str().to_string()
}

pub fn d(s: &str) -> Date {
    Date::parse_from_str(s, "%Y-%m-%d").unwrap()
}

pub fn audit(action: &str) -> AuditEntry {
    AuditEntry { username: "doc".into(), ip: "127.0.0.1".into(), action: action.into(), ..Default::default() }
}

pub fn region(s: &str) -> RegionCode {
    RegionCode::parse(s).unwrap()
}

/// Two townships with a village each; three households (two in village 1), four persons.
pub async fn setup(store: &Store, dir: &std::path::Path) -> Vec<i64> {
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let regions = format!("区划代码,名称\n37,山东省\n3713,临沂市\n371302,兰山区\n371302001,一镇\n{V1},一村\n371302002,二镇\n{V2},二村\n");
    import::import_regions(store, &write("r.csv", regions)).await.unwrap();
    import::import_facilities(store, &write("f.csv", "机构编码,机构名称,机构等级,机构类型,行政区划代码,是否定点医院\nH2,兰山区人民医院,2,县级医院,371302,是\n".into()))
        .await
        .unwrap();
    let roster = format!(
        "户编号,户主姓名,与户主关系,姓名,证件号码,民族,行政区划代码,贫困户属性,脱贫状态,主要致贫原因\n\
         H1,张三,户主,张三,{},汉族,{V1},低保贫困户,未脱贫,因病\n\
         H1,张三,配偶,李四娘,{},汉族,{V1},低保贫困户,未脱贫,因病\n\
         H2,王五,户主,王五,{},汉族,{V1},一般贫困户,未脱贫,缺劳力\n\
         H3,赵六,户主,赵六,{},汉族,{V2},特困供养贫困户,未脱贫,因病\n",
        id(1),
        id(2),
        id(3),
        id(4)
    );
    import::import_roster(store, &write("roster.csv", roster), &RosterImport::new("test", d("2024-01-01"))).await.unwrap();
    let mut ids = Vec::new();
    for seq in 1..=4 {
        ids.push(store.person_by_id_number(&IdNumber::parse(&id(seq)).unwrap()).await.unwrap().unwrap().id);
    }
    ids
}

