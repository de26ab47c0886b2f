//! Offline work on a village doctor's phone (a PWA): the shell, script, manifest and service
//! worker the binary serves, and the pack of the user's own village that the phone keeps in
//! IndexedDB. Records made offline come back through the ordinary JSON API (`/api/followups`,
//! `/api/screening/…`) with the submission keys the server deduplicates on; a screening carries
//! the version of the household's result it was based on, so a stale one is a conflict.
//!
//! The shell holds no personal data (the service worker caches it); the pack is never cached by
//! the service worker, only kept by the page's script, and the logout clears the site's storage.

use std::sync::LazyLock;

use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;
use huimin_app::clock::{this_year, today};
use huimin_domain::{Adherence, Date, FollowUpMode, Permission, Record, RegionCode, RegionLevel};

use crate::State;
use crate::auth::Ctx;
use crate::contract_page::work_of;
use crate::error::{WebError, WebResult};

const SHELL: &str = include_str!("../assets/offline.html");
const SCRIPT: &str = include_str!("../assets/offline.js");
const WORKER: &str = include_str!("../assets/sw.js");
const ICON: &str = include_str!("../assets/icon.svg");

/// Changes whenever an asset the service worker caches changes: a new binary brings a new cache.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for part in [SHELL, SCRIPT, WORKER, ICON, include_str!("../assets/app.css"), include_str!("../assets/app.js")] {
        part.hash(&mut h);
    }
    format!("{:016x}", h.finish())
});

pub async fn shell() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], SHELL)
}

pub async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], SCRIPT)
}

pub async fn icon() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")], ICON)
}

/// At the root so that its scope is the whole site; never cached, so a new binary's worker
/// replaces the old one at the next visit.
pub async fn service_worker() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], WORKER.replace("__VERSION__", &VERSION))
}

pub async fn manifest() -> impl IntoResponse {
    let m = serde_json::json!({
        "name": "惠民 · 离线随访",
        "short_name": "惠民随访",
        "lang": "zh-CN",
        "start_url": "/offline",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#b71c1c",
        "icons": [{ "src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any" }],
    });
    ([(header::CONTENT_TYPE, "application/manifest+json"), (header::CACHE_CONTROL, "no-cache")], m.to_string())
}

/// What a phone keeps for offline work.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Pack {
    user: PackUser,
    region: PackRegion,
    today: Date,
    /// Beijing time, YYYY-MM-DD HH:MM.
    generated_at: String,
    /// The session's CSRF token, for sending.
    csrf: String,
    modes: Vec<Choice>,
    adherence: Vec<Choice>,
    contracts: Vec<PackContract>,
    campaigns: Vec<PackCampaign>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PackUser {
    id: i64,
    username: String,
    name: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PackRegion {
    code: RegionCode,
    name: String,
}

/// A choice of a form: its code and how people call it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Choice {
    code: &'static str,
    label: &'static str,
}

/// A contract with where its schedule stands.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PackContract {
    contract: i64,
    person_id: i64,
    name: String,
    household_no: String,
    phone: Option<String>,
    team: String,
    starts_on: Date,
    ends_on: Date,
    key_groups: Vec<&'static str>,
    next_due: Option<Date>,
    current_done: bool,
    overdue_days: i64,
    done: u32,
    due: u32,
    last_follow_up: Option<Date>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PackCampaign {
    id: i64,
    name: String,
    starts_on: Date,
    ends_on: Date,
    households: Vec<PackHousehold>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PackHousehold {
    household_no: String,
    head_name: String,
    screening: Option<PackScreening>,
}

/// A household's stored result, with the version a change is based on.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PackScreening {
    result: String,
    illness_poor: bool,
    screened_on: Date,
    screened_by: String,
    version: String,
}

/// What a village doctor's phone keeps for offline work
///
/// The user's own village only: this year's contracts with where each stands, the screening
/// campaigns under way with each household's result and its version, the choices of the forms,
/// the session's CSRF token for sending. Logged: personal data leaves for a device.
#[utoipa::path(get, path = "/api/offline/pack", tag = "Contracts", responses((status = 200, body = Pack)))]
pub async fn api_pack(state: State, ctx: Ctx) -> WebResult<Json<Pack>> {
    ctx.require(Permission::RecordFollowUp)?;
    let region = ctx.user.region;
    if region.level() != RegionLevel::Village {
        return Err(WebError::BadRequest("离线工作只在手机上保存一个村的数据：请用村级账号（村医）".into()));
    }
    let today = today();
    let (items, _) = work_of(&state, &ctx, region, this_year(), false).await?;
    let viewer = ctx.viewer(&state).await;
    let contracts: Vec<PackContract> = items
        .into_iter()
        .filter_map(|w| viewer.show(Record::Person { id: w.contract.contract.person_id, region: w.contract.region }, w))
        .map(|w| {
            let c = &w.contract;
            PackContract {
                contract: c.id,
                person_id: c.contract.person_id,
                name: c.person_name.clone(),
                household_no: c.household_no.clone(),
                phone: c.phone.clone(),
                team: c.team_name.clone(),
                starts_on: c.contract.starts_on,
                ends_on: c.contract.ends_on,
                key_groups: w.key_groups.iter().map(|g| g.label_zh()).collect(),
                next_due: w.state.next_due,
                current_done: w.state.current_done,
                overdue_days: w.overdue_days,
                done: w.state.done,
                due: w.state.due,
                last_follow_up: w.last_follow_up,
            }
        })
        .collect();
    let mut campaigns = Vec::new();
    if ctx.can(Permission::Screen) {
        for c in state.store.campaigns(region).await?.into_iter().filter(|c| c.starts_on <= today && today <= c.ends_on) {
            let households = state
                .store
                .households_to_screen(c.id, region, 5_000)
                .await?
                .into_iter()
                .map(|(household_no, head_name, s)| PackHousehold {
                    household_no,
                    head_name,
                    screening: s.map(|s| PackScreening {
                        result: s.screening.result,
                        illness_poor: s.screening.illness_poor,
                        screened_on: s.screening.screened_on,
                        screened_by: s.screening.screened_by,
                        version: s.version,
                    }),
                })
                .collect();
            campaigns.push(PackCampaign { id: c.id, name: c.name, starts_on: c.starts_on, ends_on: c.ends_on, households });
        }
    }
    let region_name = state.store.region(region).await?.map_or_else(|| region.to_string(), |r| r.name);
    state.store.append_audit(&ctx.audit("offline.pack", format!("region {region}"), format!("{} contracts", contracts.len()))).await?;
    Ok(Json(Pack {
        user: PackUser { id: ctx.user.id, username: ctx.user.username.clone(), name: ctx.user.display_name.clone() },
        region: PackRegion { code: region, name: region_name },
        today,
        generated_at: huimin_domain::local_datetime(chrono::Utc::now()).format("%Y-%m-%d %H:%M").to_string(),
        csrf: ctx.csrf.clone(),
        modes: FollowUpMode::ALL.iter().map(|m| Choice { code: m.code(), label: m.label_zh() }).collect(),
        adherence: Adherence::ALL.iter().map(|a| Choice { code: a.code(), label: a.label_zh() }).collect(),
        contracts,
        campaigns,
    }))
}
