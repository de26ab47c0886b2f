//! A province's fund dictionary in use: its own test binary (so its own process), since a
//! dictionary is installed once for the whole process.

use huimin_policy::{Fund, FundCodes};

#[test]
fn a_province_dictionary_renames_every_fund_and_stored_codes_still_read() {
    let province = include_str!("../../../funds/funds.toml")
        .replace("code = \"390101\"", "code = \"390100\"")
        .replace("code = \"390201\"", "code = \"390200\"")
        .replace("name = \"医疗救助\"", "name = \"城乡医疗救助\"");
    FundCodes::parse("province.toml", &province).unwrap().install().unwrap();
    assert!(FundCodes::parse("again.toml", &province).unwrap().install().is_err(), "installed once");

    assert_eq!((Fund::ResidentBasic.code(), Fund::CriticalIllness.code()), ("390100", "390200"));
    assert_eq!(Fund::MedicalAssistance.label_zh(), "城乡医疗救助");
    // What leaves the program carries the province's code; a bill stored with the built-in code
    // reads back.
    assert_eq!(serde_json::to_string(&Fund::ResidentBasic).unwrap(), "\"390100\"");
    assert_eq!(Fund::from_stored("390101"), Some(Fund::ResidentBasic));
    assert_eq!(Fund::ResidentBasic.stored_code(), "390101");
    assert_eq!(Fund::from_code("390101"), None, "the built-in code is not the province's");
    // A policy names its funds by the province's codes, and an old code is refused with the list.
    let policy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/county-plan-2020.toml")).unwrap();
    let e = huimin_policy::parse_policy("county.toml", &policy).unwrap_err().to_string();
    assert!(e.contains("基金编码「390101」未知") && e.contains("390100"), "{e}");
    let p = huimin_policy::parse_policy("county.toml", &policy.replace("\"390101\"", "\"390100\"").replace("\"390201\"", "\"390200\"")).unwrap();
    assert!(p.layers.iter().any(|l| l.fund == Fund::ResidentBasic));
}
