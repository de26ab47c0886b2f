//! Every page as each role reaches it, read the way a county's staff read it: the test follows
//! every link from the home page (as a crawler would) and fails on what a government product
//! must not show — a path into the source tree, a format name as text to non-administrators, a
//! stored UTC timestamp, an amount without ¥ and separators, a field without a label, a page
//! without a link to skip to its content.

mod common;

use std::collections::{BTreeSet, VecDeque};

use axum::http::StatusCode;
use common::*;
use huimin_domain::Role;

/// The text a person reads: tags removed, entities as they show.
fn visible_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    // Scripts and styles are not read.
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        out.push(' ');
        rest = &rest[at..];
        let end = if rest.starts_with("<script") || rest.starts_with("<style") {
            let close = if rest.starts_with("<script") { "</script>" } else { "</style>" };
            rest.find(close).map_or(rest.len(), |e| e + close.len())
        } else {
            rest.find('>').map_or(rest.len(), |e| e + 1)
        };
        rest = &rest[end..];
    }
    out.push_str(rest);
    out.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&nbsp;", " ")
}

/// Same-site page links (no downloads, no machine answers, no sign-out).
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(|h| h.split('#').next().unwrap_or("").replace("&amp;", "&"))
        .filter(|h| h.starts_with('/') && !h.starts_with("//") && !h.is_empty())
        .filter(|h| {
            let path = h.split(['?', '#']).next().unwrap_or("");
            !(path.starts_with("/api/") || path.starts_with("/fhir") || path.starts_with("/lang/") || path.starts_with("/static/") || path == "/logout")
                && ![".xlsx", ".pdf", ".csv", ".json", ".webmanifest", ".js", ".svg"].iter().any(|e| path.ends_with(e))
        })
        .collect()
}

/// Inputs, selects and text areas a person fills in that have no label: not inside a <label>, no
/// `aria-label`, no `<label for>` naming their id.
fn unlabelled_fields(html: &str) -> Vec<String> {
    let fors: BTreeSet<&str> = html.split("for=\"").skip(1).filter_map(|s| s.split('"').next()).collect();
    let mut depth = 0i32;
    let mut out = Vec::new();
    for tag in html.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        let name = tag.split([' ', '/', '\n']).next().unwrap_or("");
        match name {
            "label" => depth += 1,
            "/label" => depth -= 1,
            "input" | "select" | "textarea" => {
                let kind = tag.split("type=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("text");
                if name == "input" && matches!(kind, "hidden" | "submit" | "button" | "reset" | "image") {
                    continue;
                }
                let id = tag.split(" id=\"").nth(1).and_then(|s| s.split('"').next());
                if depth <= 0 && !tag.contains("aria-label=") && !id.is_some_and(|id| fors.contains(id)) {
                    out.push(format!("<{tag}>"));
                }
            }
            _ => {}
        }
    }
    out
}

/// What a page must not show, as (what, the offending text).
fn findings(role: Role, html: &str) -> Vec<(&'static str, String)> {
    let text = visible_text(html);
    let mut out = Vec::new();
    let around = |at: usize| {
        let start = text.floor_char_boundary(at.saturating_sub(30));
        let end = text.ceil_char_boundary((at + 30).min(text.len()));
        text[start..end].split_whitespace().collect::<Vec<_>>().join(" ")
    };
    if let Some(at) = text.find("docs/") {
        out.push(("a path into the source tree", around(at)));
    }
    if role != Role::Admin {
        for word in ["TOML", "JSON"] {
            if let Some(at) = text.find(word) {
                out.push(("a format's name shown to a non-administrator", around(at)));
            }
        }
    }
    // 2026-12-01T07:41 — a stored timestamp, not Beijing time for people.
    let b = text.as_bytes();
    for at in 0..b.len().saturating_sub(16) {
        if b[at..at + 4].iter().all(u8::is_ascii_digit) && b[at + 4] == b'-' && b[at + 7] == b'-' && b[at + 10] == b'T' && b[at + 11].is_ascii_digit() && b[at + 13] == b':' {
            out.push(("a stored UTC timestamp", around(at)));
            break;
        }
    }
    // An amount: digits, a point, exactly two digits. It must read ¥1,234.50.
    for at in 0..b.len().saturating_sub(3) {
        if b[at] == b'.' && b[at + 1].is_ascii_digit() && b[at + 2].is_ascii_digit() && !b.get(at + 3).is_some_and(u8::is_ascii_digit) && at > 0 && b[at - 1].is_ascii_digit() {
            let mut start = at;
            while start > 0 && (b[start - 1].is_ascii_digit() || b[start - 1] == b',') {
                start -= 1;
            }
            let yuan_sign = text[..start].ends_with('¥');
            let digits = &text[start..at];
            let grouped = digits.replace(',', "").len() <= 3 || digits.contains(',');
            if !(yuan_sign && grouped) && !text[at + 3..].starts_with('%') {
                out.push(("an amount without ¥ and separators", around(at)));
                break;
            }
        }
    }
    if html.contains("<nav class=\"side\">") && !html.contains("href=\"#main\"") {
        out.push(("no link to skip to the content", String::new()));
    }
    for field in unlabelled_fields(html) {
        out.push(("a field without a label", field));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_every_role_reaches_reads_as_a_product() {
    let app = TestApp::new().await;
    // Something on every page: a campaign under way with a result, a major disease (the
    // ledger, the batches), a chronic one with a revision, an abnormal follow-up.
    let today = huimin_app::clock::today();
    let a = huimin_store::AuditEntry { username: "fixture".into(), action: "fixture".into(), ..Default::default() };
    let campaign = app.db.create_campaign("本年因病致贫筛查", huimin_domain::RegionCode::parse("371302").unwrap(), today - chrono::Duration::days(5), today + chrono::Duration::days(5), "fixture", &a).await.unwrap();
    let s = huimin_store::Screening { household_no: "HIN".into(), screened_on: today, screened_by: "村医".into(), result: "住院支出大".into(), illness_poor: true };
    app.db.record_screenings(campaign, &[s], &a).await.unwrap();
    let catalogues = huimin_app::health::catalog(&app.db).await.unwrap();
    let (zhang, li) = (person_id(&app.db, 1).await, person_id(&app.db, 3).await);
    for (person, code, plan) in [(zhang, "C16.9", "手术"), (li, "I10", "服药"), (li, "I10", "服药，低盐")] {
        let input = huimin_app::health::CardInput { code: code.into(), plan: plan.into(), diagnosed_on: "2020-01-01".into(), ..Default::default() };
        huimin_app::health::record_card(&app.db, catalogues.base(), person, &input, "village_doctor", today, &a).await.unwrap();
    }
    let (doctor, csrf) = app.login("village_doctor", PASSWORD).await.unwrap();
    let contract = app.db.contract_of(zhang, chrono::Datelike::year(&today)).await.unwrap().unwrap().0;
    let f = serde_json::json!({ "contract": contract, "submission_key": "walk-0000001", "followed_on": today.to_string(), "mode": "home", "systolic": "160", "diastolic": "100", "glucose": "7.8", "adherence": "regular" });
    assert_eq!(app.post_json("/api/followups", &doctor, &csrf, &f).await.status, StatusCode::CREATED);
    let mut problems = Vec::new();
    let mut pages = 0;
    for role in Role::ALL {
        let (cookie, _) = app.login(role.code(), PASSWORD).await.unwrap();
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from(["/".to_string()]);
        // Pages that differ only in their query are the same page with other data: a few of each.
        let mut per_path = std::collections::HashMap::<String, usize>::new();
        while let Some(url) = queue.pop_front() {
            if !seen.insert(url.clone()) || seen.len() > 400 {
                continue;
            }
            let path = url.split('?').next().unwrap_or("").to_string();
            let n = per_path.entry(path.clone()).or_default();
            *n += 1;
            if *n > 6 {
                continue;
            }
            let r = app.get(&url, &cookie).await;
            if r.status != StatusCode::OK {
                // Links are only to what the role may open.
                assert!(r.status.is_redirection(), "{role:?} {url}: {}", r.status);
                continue;
            }
            if !r.headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/html")) {
                continue;
            }
            pages += 1;
            for (what, text) in findings(role, &r.body) {
                problems.push(format!("{role:?} {url}: {what}: {text}"));
            }
            queue.extend(links(&r.body));
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{} findings over {pages} pages:\n{}", problems.len(), problems.join("\n"));
    assert!(pages > 100, "the walk reached {pages} pages");
}

#[test]
fn the_checks_find_what_they_look_for() {
    let bad = "<p>格式见 docs/roster-format.md · TOML · 2026-12-01T07:41:48Z · 23413514.40 · <input name=q></p>";
    let found: Vec<&str> = findings(Role::HealthBureau, bad).into_iter().map(|(w, _)| w).collect();
    assert_eq!(found.len(), 5, "{found:?}");
    let good = "<p>¥23,413,514.40 · ¥12.00 · 41.9% · 2026-12-01 15:41 · <label>姓名 <input name=q></label> <input type=\"hidden\" name=x></p>";
    assert!(findings(Role::HealthBureau, good).is_empty(), "{:?}", findings(Role::HealthBureau, good));
}
