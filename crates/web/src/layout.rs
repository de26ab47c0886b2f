//! The page shell: header with the user and their region, navigation by permission, language
//! switch, and the small pieces every page uses.

use huimin_domain::Permission;
use huimin_domain::Role::{self, *};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::auth::{Ctx, Lang, urlencode};

pub fn bare(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(if lang == Lang::En { "en" } else { "zh-CN" }) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 惠民" }
                link rel="stylesheet" href="/static/app.css";
                link rel="manifest" href="/manifest.webmanifest";
                link rel="icon" href="/static/icon.svg";
                script src="/static/app.js" defer {}
                script src="/static/offline.js" defer {}
            }
            body { (body) }
        }
    }
}

/// Navigation entries: path, Chinese, English, the permission that opens the page, the roles
/// whose work uses it. The menu shows only those; the pages stay reachable by permission.
const NAV: &[(&str, &str, &str, Option<Permission>, &[Role])] = &[
    ("/", "首页", "Home", None, &Role::ALL),
    ("/offline", "离线随访", "Offline work", Some(Permission::RecordFollowUp), &[VillageDoctor]),
    ("/worklist", "随访工作清单", "Follow-up worklist", Some(Permission::ViewHealth), &[VillageDoctor, FamilyDoctorTeam, TownshipStaff, HealthBureau]),
    ("/followups/abnormal", "随访异常提示", "Abnormal readings", Some(Permission::ViewHealth), &[VillageDoctor, FamilyDoctorTeam, TownshipStaff]),
    ("/monitoring", "因病返贫预警", "Warnings", Some(Permission::ViewWarnings), &[VillageDoctor, TownshipStaff, HealthBureau, MedicalInsurance, CivilAffairs, PovertyOffice, Supervisor]),
    ("/households", "建档立卡户", "Households", Some(Permission::ViewRegistry), &[VillageDoctor, FamilyDoctorTeam, TownshipStaff, HealthBureau, CivilAffairs, PovertyOffice]),
    ("/screening", "因病致贫筛查", "Screening", Some(Permission::ViewProgress), &[VillageDoctor, FamilyDoctorTeam, TownshipStaff, HealthBureau, PovertyOffice, Supervisor]),
    ("/contracts", "家庭医生签约", "Contracts", Some(Permission::ViewProgress), &[VillageDoctor, FamilyDoctorTeam, TownshipStaff, HealthBureau, Supervisor]),
    ("/dashboard", "督导考核", "Supervision", Some(Permission::ViewProgress), &[TownshipStaff, HealthBureau, MedicalInsurance, CivilAffairs, PovertyOffice, Supervisor]),
    ("/regions", "区划", "Regions", Some(Permission::ViewRegistry), &[HealthBureau, PovertyOffice, Supervisor, Admin]),
    ("/import", "名单导入", "Roster import", Some(Permission::ImportRoster), &Role::ALL),
    ("/exchange", "数据交换", "Data exchange", Some(Permission::ImportRoster), &Role::ALL),
    ("/batches", "三个一批", "Three batches", Some(Permission::ViewProgress), &[TownshipStaff, HealthBureau, PovertyOffice, Supervisor]),
    ("/treatment", "大病救治台账", "Treatment ledger", Some(Permission::ViewHealth), &[TownshipStaff, HealthBureau]),
    // Townships reach it from the contracts page: their menu keeps to ten entries.
    ("/teams", "家庭医生团队", "Teams", Some(Permission::ViewProgress), &[HealthBureau]),
    ("/catalog", "病种目录", "Disease catalogue", Some(Permission::ViewProgress), &[HealthBureau, MedicalInsurance]),
    ("/settlement", "一站式结算", "Settlement", Some(Permission::Settle), &Role::ALL),
    ("/settlement/claims", "结算记录", "Settlements", Some(Permission::ViewClaims), &Role::ALL),
    ("/settlement/exceptions", "重叠住院例外", "Overlapping stays", Some(Permission::ApproveStayException), &Role::ALL),
    ("/reconciliation", "基金对账", "Reconciliation", Some(Permission::ViewClaims), &[HealthBureau, MedicalInsurance, CivilAffairs, PovertyOffice, Supervisor]),
    ("/policies", "结算政策", "Policies", Some(Permission::ViewClaims), &[HealthBureau, MedicalInsurance, CivilAffairs, Supervisor]),
    ("/facilities", "医疗机构", "Facilities", Some(Permission::ViewFacilities), &[HealthBureau, MedicalInsurance, Admin]),
    ("/admin/users", "用户管理", "Users", Some(Permission::ManageUsers), &Role::ALL),
    ("/audit", "审计日志", "Audit log", Some(Permission::ViewAudit), &Role::ALL),
];

/// The menu of a role: what its work uses and its permissions open.
pub fn menu(role: Role) -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    NAV.iter().filter(move |(_, _, _, perm, roles)| roles.contains(&role) && perm.is_none_or(|p| role.can(p))).map(|(path, zh, en, _, _)| (*path, *zh, *en))
}

pub fn page(ctx: &Ctx, title: &str, current: &str, body: Markup) -> Markup {
    let role = if ctx.lang == Lang::En { ctx.user.role.label_en() } else { ctx.user.role.label_zh() };
    bare(
        ctx.lang,
        title,
        html! {
            a.skip href="#main" { (ctx.t("跳到正文", "Skip to content")) }
            header.top {
                a.brand href="/" { span.logo { "惠" } span { "惠民" } small { (ctx.t("健康扶贫信息系统", "Health poverty alleviation")) } }
                div.who {
                    span.user { (ctx.user.display_name) }
                    span.role title=(ctx.user.region) { (role) " · " @if ctx.region_name.is_empty() { (ctx.user.region) } @else { (ctx.region_name) } }
                    a.lang href=(format!("/lang/{}?next={}", if ctx.lang == Lang::En { "zh" } else { "en" }, urlencode(current))) {
                        (ctx.t("English", "中文"))
                    }
                    a href="/account/password" { (ctx.t("修改密码", "Password")) }
                    form.inline method="post" action="/logout" {
                        (csrf(ctx))
                        button.link type="submit" { (ctx.t("退出", "Sign out")) }
                    }
                }
            }
            nav.side {
                @for (path, zh, en) in menu(ctx.user.role) {
                    @let active = if path == "/" || path == "/settlement" { current == path } else { current.starts_with(path) };
                    a class=(if active { "active" } else { "" }) href=(path) { (ctx.t(zh, en)) }
                }
            }
            main.content #main tabindex="-1" {
                h1.page-title { (title) }
                noscript { p.small.muted.noprint { (ctx.t("打印请用浏览器的“打印”（Ctrl+P）：页面已按纸张排版。", "To print, use the browser's Print (Ctrl+P): the page is laid out for paper.")) } }
                (body)
            }
        },
    )
}

pub fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="_csrf" value=(ctx.csrf); }
}

pub use huimin_domain::format::{count as num, percent, yuan};

/// The most regions a picker lists; a region with more below it (a province) gets a code field.
const PICKER_LIMIT: i64 = 3000;

/// A region picker (`name="region"`): the user's region and every region below it, indented by
/// level, `current` chosen. Nobody types a code.
pub async fn region_picker(state: &crate::AppState, ctx: &Ctx, label: &str, current: Option<huimin_domain::RegionCode>) -> crate::error::WebResult<Markup> {
    let regions = state.store.regions_within(ctx.user.region, PICKER_LIMIT + 1).await?;
    if regions.len() as i64 > PICKER_LIMIT {
        return Ok(html! { label { (label) input name="region" value=(current.unwrap_or(ctx.user.region)) inputmode="numeric" pattern="[0-9]{2,12}"; } });
    }
    let depth = |l: huimin_domain::RegionLevel| l as usize;
    let top = depth(ctx.user.region.level());
    Ok(html! {
        label { (label)
            select name="region" {
                @for r in &regions {
                    option value=(r.code) selected[current == Some(r.code)] { ("　".repeat(depth(r.code.level()).saturating_sub(top))) (r.name) }
                }
            }
        }
    })
}

/// Previous/next links keeping the other query parameters.
/// The page asked for (from 1) of the rows, `per_page` at a time, and its number.
pub fn page_of<T>(rows: &[T], page: Option<crate::params::Page>, per_page: usize) -> (i64, &[T]) {
    let page = page.map_or(1, |p| p.0).max(1);
    let first = usize::try_from(page - 1).unwrap_or(0).saturating_mul(per_page).min(rows.len());
    (page, &rows[first..(first + per_page).min(rows.len())])
}

pub fn pager(ctx: &Ctx, base: &str, page: i64, per_page: i64, total: i64) -> Markup {
    let pages = (total + per_page - 1) / per_page;
    let link = |p: i64| format!("{base}{}page={p}", if base.contains('?') { "&" } else { "?" });
    html! {
        @if pages > 1 {
            nav.pager {
                @if page > 1 { a href=(link(page - 1)) { "‹ " (ctx.t("上一页", "Previous")) } }
                span { (ctx.t("第", "Page ")) (page) " / " (pages) (ctx.t(" 页", "")) }
                @if page < pages { a href=(link(page + 1)) { (ctx.t("下一页", "Next")) " ›" } }
            }
        }
    }
}

pub fn empty_state(text: &str) -> Markup {
    html! { p.empty { (text) } }
}

/// A non-breaking marker for "not given".
pub fn dash() -> PreEscaped<&'static str> {
    PreEscaped("—")
}
