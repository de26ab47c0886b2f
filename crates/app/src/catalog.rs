//! The disease catalogue file (`catalogs/diseases.toml`, format in docs/disease-catalog.md).

use std::collections::{BTreeMap, HashSet};

use huimin_domain::{CareBatch, DiseaseCatalog, DiseaseEntry, DiseaseGroup};
use serde::Deserialize;

/// The catalogue shipped with Huimin; a county loads its own file on top.
pub const BUILT_IN: &str = include_str!("../../../catalogs/diseases.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    sources: BTreeMap<String, String>,
    #[serde(default, rename = "group")]
    groups: Vec<RawGroup>,
    #[serde(default, rename = "disease")]
    diseases: Vec<RawDisease>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    id: String,
    name: String,
    batch: Option<String>,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisease {
    code: String,
    name: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    confidential: bool,
    source: String,
}

/// Everything wrong with a catalogue file: the file, and each field with the reason.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {}", issues.iter().map(|(f, r)| format!("{f}: {r}")).collect::<Vec<_>>().join("；"))]
pub struct CatalogError {
    pub file: String,
    pub issues: Vec<(String, String)>,
}

/// A catalogue code: an ICD-10 code or a prefix of one (`C`, `C34`, `E11.9`).
fn valid_code(code: &str) -> bool {
    let b = code.as_bytes();
    !b.is_empty() && b.len() <= 8 && b[0].is_ascii_uppercase() && b[1..].iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || *c == b'.')
}

/// Parses a catalogue file. `base` is the catalogue it extends (its groups may be referred to);
/// the result holds only this file's groups and entries.
pub fn parse_catalog(file: &str, text: &str, base: Option<&DiseaseCatalog>) -> Result<DiseaseCatalog, CatalogError> {
    let fail = |issues| CatalogError { file: file.to_string(), issues };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| format!("第 {} 行", text[..s.start.min(text.len())].lines().count().max(1))).unwrap_or_default();
        fail(vec![(at, e.message().to_string())])
    })?;
    let mut issues = Vec::new();
    let mut issue = |field: String, reason: String| issues.push((field, reason));
    let mut group_ids: HashSet<&str> = base.map(|b| b.groups.iter().map(|g| g.id.as_str()).collect()).unwrap_or_default();
    let mut groups = Vec::new();
    for (i, g) in raw.groups.iter().enumerate() {
        let field = format!("group[{}]", i + 1);
        if g.id.is_empty() || !g.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            issue(format!("{field}.id"), format!("病种组编号「{}」只能用字母、数字和下划线", g.id));
        }
        if raw.groups[..i].iter().any(|o| o.id == g.id) {
            issue(format!("{field}.id"), format!("病种组「{}」重复", g.id));
        }
        if !raw.sources.contains_key(&g.source) {
            issue(format!("{field}.source"), format!("来源「{}」未在 [sources] 中列出", g.source));
        }
        let batch = match g.batch.as_deref().map(CareBatch::parse).transpose() {
            Ok(b) => b,
            Err(e) => {
                issue(format!("{field}.batch"), e.to_string());
                None
            }
        };
        group_ids.insert(&g.id);
        groups.push(DiseaseGroup { id: g.id.clone(), name: g.name.clone(), batch });
    }
    let mut entries = Vec::new();
    let mut codes = HashSet::new();
    for (i, d) in raw.diseases.iter().enumerate() {
        let field = format!("disease[{}]", i + 1);
        let code = d.code.trim().to_ascii_uppercase();
        if !valid_code(&code) {
            issue(format!("{field}.code"), format!("「{}」不是 ICD-10 编码或编码前缀", d.code));
        }
        if !codes.insert(code.clone()) {
            issue(format!("{field}.code"), format!("编码 {code} 重复"));
        }
        if d.name.trim().is_empty() {
            issue(format!("{field}.name"), "缺少病种名称".into());
        }
        for g in &d.groups {
            if !group_ids.contains(g.as_str()) {
                issue(format!("{field}.groups"), format!("病种组「{g}」不存在"));
            }
        }
        if !raw.sources.contains_key(&d.source) {
            issue(format!("{field}.source"), format!("来源「{}」未在 [sources] 中列出", d.source));
        }
        let source = raw.sources.get(&d.source).cloned().unwrap_or_default();
        // A file can only make a code stricter: what the law or the catalogue it extends keeps
        // confidential stays so, whatever this file says.
        let confidential = d.confidential || huimin_domain::legally_confidential(&code) || base.is_some_and(|b| b.is_confidential(&code));
        entries.push(DiseaseEntry { code, name: d.name.trim().to_string(), groups: d.groups.clone(), confidential, source });
    }
    if groups.is_empty() && entries.is_empty() {
        issue("disease".into(), "目录中没有任何病种".into());
    }
    if issues.is_empty() { Ok(DiseaseCatalog { groups, entries }) } else { Err(fail(issues)) }
}

/// The built-in catalogue (checked by a test, so this cannot fail in a release).
pub fn built_in() -> DiseaseCatalog {
    parse_catalog("catalogs/diseases.toml", BUILT_IN, None).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_catalogue_is_valid_and_complete() {
        let c = parse_catalog("catalogs/diseases.toml", BUILT_IN, None).unwrap();
        let in_group = |g: &str| c.entries.iter().filter(|e| e.groups.iter().any(|x| x == g)).count();
        assert_eq!(in_group("major"), 16, "the 15 major diseases (haemophilia A and B are two codes)");
        assert_eq!(in_group("chronic"), 30);
        assert_eq!(c.entry("C34.9").unwrap().code, "C34");
        assert_eq!(c.batch_for(["C34.9"], false), Some(CareBatch::Centralised));
        assert_eq!(c.batch_for(["I10"], false), Some(CareBatch::Contract));
        for code in ["B20", "B24", "F20.9", "F31", "Z21"] {
            assert!(c.is_confidential(code), "{code}");
        }
        assert!(!c.is_confidential("I10"));
    }

    #[test]
    fn a_bad_catalogue_names_file_field_and_reason() {
        let text = r#"
[sources]
s = "x"
[[group]]
id = "g"
name = "组"
batch = "everyone"
source = "s"
[[disease]]
code = "10X"
name = "坏"
groups = ["nope"]
source = "t"
[[disease]]
code = "I10"
name = "高血压"
groups = ["g"]
source = "s"
[[disease]]
code = "i10"
name = "重复"
source = "s"
"#;
        let e = parse_catalog("county.toml", text, None).unwrap_err().to_string();
        for part in ["county.toml", "group[1].batch", "disease[1].code", "病种组「nope」不存在", "disease[1].source", "disease[3].code: 编码 I10 重复"] {
            assert!(e.contains(part), "{part} in {e}");
        }
        assert!(parse_catalog("x.toml", "[[disease]]\ncode = 1", None).unwrap_err().to_string().contains("x.toml"));
    }

    #[test]
    fn an_extension_may_use_the_base_groups() {
        let base = built_in();
        let ext = "[sources]\ncounty = \"本县目录\"\n[[disease]]\ncode = \"K29.5\"\nname = \"慢性胃炎\"\ngroups = [\"chronic\"]\nsource = \"county\"\n";
        let ext = parse_catalog("county.toml", ext, Some(&base)).unwrap();
        let mut all = base.clone();
        all.extend(ext);
        assert_eq!(all.batch_for(["K29.5"], false), Some(CareBatch::Contract));
        assert!(parse_catalog("county.toml", "[sources]\nc = \"c\"\n[[disease]]\ncode = \"K29\"\nname = \"x\"\ngroups = [\"chronic\"]\nsource = \"c\"\n", None).is_err());
    }

    #[test]
    fn an_extension_can_only_make_codes_stricter() {
        let base = built_in();
        // A county redefines HIV and a subdivision of it, and an unlisted psychosis, as not confidential …
        let ext = "[sources]\nc = \"本县\"\n\
                   [[disease]]\ncode = \"B24\"\nname = \"艾滋病\"\nconfidential = false\nsource = \"c\"\n\
                   [[disease]]\ncode = \"B23.0\"\nname = \"急性HIV感染\"\nsource = \"c\"\n\
                   [[disease]]\ncode = \"F23\"\nname = \"急性短暂性精神病\"\nsource = \"c\"\n\
                   [[disease]]\ncode = \"K29.5\"\nname = \"慢性胃炎\"\nconfidential = true\nsource = \"c\"\n";
        let ext = parse_catalog("county.toml", ext, Some(&base)).unwrap();
        let mut all = base.clone();
        all.extend(ext);
        // … and they stay confidential; a code it marks confidential becomes so.
        for code in ["B24", "B24.0", "B23.0", "F23", "F20.9", "K29.5"] {
            assert!(all.is_confidential(code), "{code}");
            assert!(all.entry(code).is_none_or(|e| e.confidential || !huimin_domain::legally_confidential(code)), "{code}");
        }
        assert!(!all.is_confidential("K29.1"));
    }
}
