//! The audit log for supervisors: search it, and see whether the hash chain is intact.

use axum::extract::Query;
use huimin_domain::Permission;
use huimin_store::AuditFilter;
use maud::{Markup, html};
use serde::Deserialize;

use crate::auth::{Ctx, urlencode};
use crate::error::WebResult;
use crate::layout;
use crate::State;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    username: Option<String>,
    action: Option<String>,
    target: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<crate::params::Page>,
}

const PER_PAGE: i64 = 100;

/// `GET /api/audit?username=&action=&target=&from=&to=&page=`: entries, newest first, with the
/// result of checking the chain.
pub async fn api_search(state: State, ctx: Ctx, Query(q): Query<AuditQuery>) -> WebResult<axum::Json<serde_json::Value>> {
    ctx.require(Permission::ViewAudit)?;
    let page = q.page.map_or(1, |p| p.0);
    let filter = AuditFilter { region: Some(ctx.user.region), username: q.username.clone(), action: q.action.clone(), target: q.target.clone(), from: q.from.clone(), to: q.to.clone(), limit: PER_PAGE, offset: (page - 1) * PER_PAGE };
    let entries = state.store.search_audit(&filter).await?;
    let chain = state.store.verify_audit().await?;
    Ok(axum::Json(serde_json::json!({ "page": page, "entries": entries, "chain": chain })))
}

pub async fn search(state: State, ctx: Ctx, Query(q): Query<AuditQuery>) -> WebResult<Markup> {
    ctx.require(Permission::ViewAudit)?;
    let page = q.page.map_or(1, |p| p.0);
    let filter = AuditFilter {
        region: Some(ctx.user.region),
        username: q.username.clone(),
        action: q.action.clone(),
        target: q.target.clone(),
        from: q.from.clone(),
        to: q.to.clone(),
        limit: PER_PAGE + 1,
        offset: (page - 1) * PER_PAGE,
    };
    let mut rows = state.store.search_audit(&filter).await?;
    let more = rows.len() as i64 > PER_PAGE;
    rows.truncate(PER_PAGE as usize);
    let check = state.store.verify_audit().await?;
    let v = |s: &Option<String>| s.clone().unwrap_or_default();
    let base: String = [("username", &q.username), ("action", &q.action), ("target", &q.target), ("from", &q.from), ("to", &q.to)]
        .iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| format!("{k}={}&", urlencode(v))))
        .collect();
    let body = html! {
        @match &check.broken_at {
            None => p.alert.ok role="status" { (ctx.t("哈希链完整：", "Hash chain intact: ")) (layout::num(check.entries)) (ctx.t(" 条记录均未被改动", " entries, none altered")) },
            Some((seq, why)) => p.alert.error role="alert" { (ctx.t("哈希链在第 ", "Hash chain broken at entry ")) (seq) (ctx.t(" 条处断开：", ": ")) (why) },
        }
        form.filters.card method="get" action="/audit" {
            label { (ctx.t("用户", "User")) input name="username" value=(v(&q.username)); }
            label { (ctx.t("操作", "Action"))
                select name="action" {
                    option value="" { (ctx.t("全部", "All")) }
                    @for a in ["login", "login.failed", "login.refused", "logout", "household.view", "id.reveal", "roster.import", "export", "user.create", "user.disable", "user.enable", "user.reset", "user.unlock", "settlement.settle", "settlement.reverse", "settlement.batch", "claim.view", "policy.load"] {
                        option value=(a) selected[q.action.as_deref() == Some(a)] { (a) }
                    }
                }
            }
            label { (ctx.t("对象", "Target")) input name="target" value=(v(&q.target)); }
            label { (ctx.t("起", "From")) input type="date" name="from" value=(v(&q.from)); }
            label { (ctx.t("止", "To")) input type="date" name="to" value=(v(&q.to)); }
            button.primary type="submit" { (ctx.t("查询", "Search")) }
        }
        table.card.audit {
            thead { tr { th.num { "#" } th { (ctx.t("时间 (UTC)", "Time (UTC)")) } th { (ctx.t("用户", "User")) } th { "IP" } th { (ctx.t("操作", "Action")) } th { (ctx.t("对象", "Target")) } th { (ctx.t("详情", "Detail")) } } }
            tbody {
                @for r in &rows {
                    tr { td.num { (r.seq) } td.mono { (r.at) } td { (r.entry.username) } td.mono { (r.entry.ip) } td { (r.entry.action) } td { (r.entry.target) } td.small { (r.entry.detail) } }
                }
            }
        }
        nav.pager {
            @if page > 1 { a href=(format!("/audit?{base}page={}", page - 1)) { "‹ " (ctx.t("较新", "Newer")) } }
            @if more { a href=(format!("/audit?{base}page={}", page + 1)) { (ctx.t("较早", "Older")) " ›" } }
        }
    };
    Ok(layout::page(&ctx, ctx.t("审计日志", "Audit log"), "/audit", body))
}

/// Appends a checkpoint of the audit log's head every minute in which it moved (see
/// `huimin_store::AuditKey`): entries deleted from the end are then missing from a checkpoint.
pub(crate) async fn checkpoints(store: huimin_store::Store) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        every.tick().await;
        if let Err(e) = store.audit_checkpoint().await {
            tracing::error!(error = %e, "audit checkpoint not written");
        }
    }
}
