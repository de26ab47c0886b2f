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

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Who
    username: Option<String>,
    /// e.g. settlement.settle
    action: Option<String>,
    /// Part of the target
    target: Option<String>,
    /// From this Beijing date
    #[param(inline)]
    from: Option<crate::params::DateOrEmpty>,
    /// Until this Beijing date
    #[param(inline)]
    to: Option<crate::params::DateOrEmpty>,
    /// From 1
    #[param(inline)]
    page: Option<crate::params::Page>,
}

const PER_PAGE: i64 = 100;

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AuditAnswer {
    page: i64,
    entries: Vec<huimin_store::AuditRecord>,
    chain: huimin_store::AuditVerification,
}

/// Audit entries, newest first, and the check of the hash chain
#[utoipa::path(get, path = "/api/audit", tag = "Audit", params(AuditQuery), responses((status = 200, body = AuditAnswer)))]
pub async fn api_search(state: State, ctx: Ctx, Query(q): Query<AuditQuery>) -> WebResult<axum::Json<AuditAnswer>> {
    ctx.require(Permission::ViewAudit)?;
    let page = q.page.map_or(1, |p| p.0);
    let entries = state.store.search_audit(&filter_of(&ctx, &q, PER_PAGE, page)).await?;
    let chain = state.store.verify_audit().await?;
    Ok(axum::Json(AuditAnswer { page, entries, chain }))
}

/// Every action the log records: its code, how people call it, and its kind.
const ACTIONS: &[(&str, &str, &str)] = &[
    ("login", "登录", "登录与账号"),
    ("login.failed", "登录失败", "登录与账号"),
    ("login.refused", "登录被拒（锁定或停用）", "登录与账号"),
    ("logout", "退出", "登录与账号"),
    ("user.password", "修改密码", "登录与账号"),
    ("user.create", "创建用户", "登录与账号"),
    ("user.disable", "停用用户", "登录与账号"),
    ("user.enable", "启用用户", "登录与账号"),
    ("user.reset", "重设密码", "登录与账号"),
    ("user.unlock", "解锁用户", "登录与账号"),
    ("token.create", "创建 API 令牌", "登录与账号"),
    ("token.revoke", "撤销 API 令牌", "登录与账号"),
    ("household.view", "查看一户一档", "查看个人信息"),
    ("health.view", "查看健康档案", "查看个人信息"),
    ("id.reveal", "破例查看身份证号", "查看个人信息"),
    ("health.reveal", "破例查看保密病种", "查看个人信息"),
    ("claim.view", "查看结算单", "查看个人信息"),
    ("claim.verify", "核验结算单", "查看个人信息"),
    ("card.print", "打印惠民卡", "查看个人信息"),
    ("fhir.read", "FHIR 读取", "查看个人信息"),
    ("offline.pack", "下载本村离线清单", "查看个人信息"),
    ("export", "导出", "导出"),
    ("fhir.export", "FHIR 导出", "导出"),
    ("roster.import", "导入建档立卡名单", "导入与名单"),
    ("health.import", "导入疾病信息", "导入与名单"),
    ("contract.import", "导入签约", "导入与名单"),
    ("followup.import", "导入随访", "导入与名单"),
    ("settlement.import", "导入结算", "导入与名单"),
    ("health.card", "登记一病一卡", "健康与随访"),
    ("health.card.update", "更新一病一卡", "健康与随访"),
    ("health.exam", "登记体检", "健康与随访"),
    ("screening.campaign", "开展筛查活动", "健康与随访"),
    ("screening.record", "登记筛查结果", "健康与随访"),
    ("batch.override", "调整三个一批", "健康与随访"),
    ("treatment.update", "更新大病救治台账", "健康与随访"),
    ("team.create", "组建家庭医生团队", "健康与随访"),
    ("team.member", "添加团队成员", "健康与随访"),
    ("followup.rule", "设置随访频次", "健康与随访"),
    ("contract.sign", "签约", "健康与随访"),
    ("contract.renew", "续约", "健康与随访"),
    ("keygroup.add", "纳入重点人群", "健康与随访"),
    ("followup.record", "登记随访", "健康与随访"),
    ("settlement.settle", "结算", "结算与政策"),
    ("settlement.reverse", "冲销结算", "结算与政策"),
    ("settlement.batch", "批量结算", "结算与政策"),
    ("stay.exception", "准予重叠住院结算", "结算与政策"),
    ("policy.load", "载入结算政策", "结算与政策"),
    ("catalog.load", "载入病种目录", "结算与政策"),
    ("target.set", "设置考核目标", "结算与政策"),
    ("household.economics", "登记家庭人口与收入", "防止返贫监测"),
    ("warning.open", "因病返贫预警", "防止返贫监测"),
    ("warning.lead", "登记监测线索", "防止返贫监测"),
    ("warning.rules.load", "载入预警规则", "防止返贫监测"),
    ("warning.step", "办理监测认定环节", "防止返贫监测"),
];

/// How people call an action (its code when it is not listed).
fn action_label(code: &str) -> &str {
    ACTIONS.iter().find(|(c, _, _)| *c == code).map_or(code, |(_, zh, _)| zh)
}

/// A target or detail as written by the code (`person 12`, `566 rows`, `reason: …`) in words.
fn readable(text: &str) -> String {
    const LEADING: &[(&str, &str)] = &[
        ("person ", "人员 "), ("household ", "户 "), ("claim ", "结算单 "), ("user ", "用户 "), ("region ", "区划 "), ("facility ", "机构 "),
        ("team ", "团队 "), ("token ", "令牌 "), ("import errors of ", "导入错误报告："), ("monthly report ", "月度进展表 "),
        ("reconciliation ", "基金对账 "), ("reason: ", "原因："), ("role ", "角色 "),
    ];
    const TRAILING: &[(&str, &str)] = &[(" rows", " 行"), (" contracts", " 份签约"), (" households", " 户"), (" claims", " 笔结算")];
    let mut t = text.trim().to_string();
    if t == "api" {
        return "经 API".into();
    }
    // A roster import's summary: `import 2: {"households": {"new": 1, …}, "persons": {…}}`.
    if let Some((batch, json)) = t.strip_prefix("import ").and_then(|r| r.split_once(": ")) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(json) {
            let n = |kind: &str, k: &str| v[kind][k].as_i64().unwrap_or(0);
            return format!(
                "导入批次 {batch}：新增 {} 户（{} 人），重新列入 {} 户，变更 {} 户，退出 {} 户（{} 人），不变 {} 户",
                n("households", "new"), n("persons", "new"), n("households", "reentered"), n("households", "changed"),
                n("households", "exited"), n("persons", "exited"), n("households", "unchanged")
            );
        }
    }
    if let Some((from, to)) = LEADING.iter().find(|(from, _)| t.starts_with(from)) {
        t = format!("{to}{}", &t[from.len()..]);
    }
    if let Some((from, to)) = TRAILING.iter().find(|(from, _)| t.ends_with(from)) {
        t = format!("{}{to}", &t[..t.len() - from.len()]);
    }
    t.replace(" region ", " 区划 ")
}

/// The filter as the store reads it.
fn filter_of(ctx: &Ctx, q: &AuditQuery, limit: i64, page: i64) -> AuditFilter {
    let (from, to) = utc_bounds(crate::params::day(q.from), crate::params::day(q.to));
    AuditFilter { region: Some(ctx.user.region), username: q.username.clone(), action: q.action.clone(), target: q.target.clone(), from, to, limit, offset: (page - 1) * PER_PAGE }
}

/// The dates asked for are Beijing dates; the log keeps UTC. `from`: the day's first instant;
/// `to`: its last second, as a prefix (the store takes `at` up to anything that starts with it).
fn utc_bounds(from: Option<huimin_domain::Date>, to: Option<huimin_domain::Date>) -> (Option<String>, Option<String>) {
    (from.map(huimin_domain::day_start_stored), to.map(huimin_domain::day_last_second_stored))
}

pub async fn search(state: State, ctx: Ctx, Query(q): Query<AuditQuery>) -> WebResult<Markup> {
    ctx.require(Permission::ViewAudit)?;
    let page = q.page.map_or(1, |p| p.0);
    let mut rows = state.store.search_audit(&filter_of(&ctx, &q, PER_PAGE + 1, page)).await?;
    let more = rows.len() as i64 > PER_PAGE;
    rows.truncate(PER_PAGE as usize);
    let check = state.store.verify_audit().await?;
    let v = |s: &Option<String>| s.clone().unwrap_or_default();
    let date = |d: Option<crate::params::DateOrEmpty>| crate::params::day(d).map(|d| d.to_string());
    let (from, to) = (date(q.from), date(q.to));
    let base: String = [("username", &q.username), ("action", &q.action), ("target", &q.target), ("from", &from), ("to", &to)]
        .iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| format!("{k}={}&", urlencode(v))))
        .collect();
    let mut kinds: Vec<&str> = ACTIONS.iter().map(|(_, _, k)| *k).collect();
    kinds.dedup();
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
                    @for kind in &kinds {
                        optgroup label=(kind) {
                            @for (code, zh, _) in ACTIONS.iter().filter(|(_, _, k)| k == kind) {
                                option value=(code) selected[q.action.as_deref() == Some(code)] { (zh) }
                            }
                        }
                    }
                }
            }
            label { (ctx.t("对象", "Target")) input name="target" value=(v(&q.target)); }
            label { (ctx.t("起（北京时间）", "From (Beijing)")) input type="date" name="from" value=(v(&from)); }
            label { (ctx.t("止", "To")) input type="date" name="to" value=(v(&to)); }
            button.primary type="submit" { (ctx.t("查询", "Search")) }
        }
        table.card.audit {
            thead { tr { th.num { "#" } th { (ctx.t("时间（北京时间）", "Time (Beijing)")) } th { (ctx.t("用户", "User")) } th { "IP" } th { (ctx.t("操作", "Action")) } th { (ctx.t("对象", "Target")) } th { (ctx.t("详情", "Detail")) } } }
            tbody {
                @for r in &rows {
                    tr {
                        td.num { (r.seq) } td.mono { (huimin_domain::stored_time_seconds(&r.at)) } td { (r.entry.username) } td.mono { (r.entry.ip) }
                        td title=(r.entry.action) { (action_label(&r.entry.action)) } td { (readable(&r.entry.target)) } td.small { (readable(&r.entry.detail)) }
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_reads_in_words() {
        assert_eq!(action_label("claim.view"), "查看结算单");
        assert_eq!(action_label("unknown.code"), "unknown.code");
        assert_eq!(readable("566 rows"), "566 行");
        assert_eq!(readable("person 12"), "人员 12");
        assert_eq!(readable("reason: 核对身份"), "原因：核对身份");
        assert_eq!(readable("api"), "经 API");
        assert_eq!(
            readable(r#"import 2: {"households":{"changed":0,"exited":3,"new":1,"reentered":0,"unchanged":1911},"persons":{"exited":5,"new":2}}"#),
            "导入批次 2：新增 1 户（2 人），重新列入 0 户，变更 0 户，退出 3 户（5 人），不变 1911 户"
        );
        assert_eq!(readable("role village_doctor region 371302"), "角色 village_doctor 区划 371302");
        let day = huimin_domain::Date::from_ymd_opt(2026, 12, 1);
        assert_eq!(utc_bounds(day, day), (Some("2026-11-30T16:00:00Z".into()), Some("2026-12-01T15:59:59".into())));
        // Every action the code writes has a label.
        let mut codes: Vec<&str> = ACTIONS.iter().map(|(c, _, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ACTIONS.len(), "each action once");
    }
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
