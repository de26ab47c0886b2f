//! Roster import in the browser: upload → preview (the difference and every bad row) → confirm.
//! The upload waits in the upload folder between the two steps, bound to the user who sent it.

use std::path::PathBuf;

use axum::Form;
use axum::extract::{Multipart, Path};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use huimin_app::import::{self, ImportError, RosterImport, RosterReport};
use huimin_app::table::Table;
use huimin_app::accounts::random_token;
use huimin_domain::{Date, Permission, RegionLevel};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use crate::auth::Ctx;
use crate::error::{WebError, WebResult};
use crate::layout::{self, csrf, num};
use crate::State;

#[derive(Serialize, Deserialize)]
struct Upload {
    user_id: i64,
    file_name: String,
    as_of: Date,
}

fn paths(state: &State, token: &str) -> WebResult<(PathBuf, PathBuf)> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WebError::NotFound);
    }
    let dir = &state.config.upload_dir;
    Ok((dir.join(format!("{token}.data")), dir.join(format!("{token}.json"))))
}

fn load(state: &State, ctx: &Ctx, token: &str) -> WebResult<(Upload, Vec<u8>)> {
    let (data, meta) = paths(state, token)?;
    let upload: Upload = serde_json::from_slice(&std::fs::read(meta).map_err(|_| WebError::NotFound)?)
        .map_err(|e| WebError::Internal(e.into()))?;
    if upload.user_id != ctx.user.id {
        return Err(WebError::NotFound);
    }
    Ok((upload, std::fs::read(data).map_err(|_| WebError::NotFound)?))
}

pub async fn form(ctx: Ctx) -> WebResult<Markup> {
    ctx.require(Permission::ImportRoster)?;
    Ok(layout::page(&ctx, ctx.t("名单导入", "Roster import"), "/import", upload_form(&ctx, None)))
}

fn upload_form(ctx: &Ctx, error: Option<&str>) -> Markup {
    let today = huimin_app::clock::today();
    html! {
        @if let Some(e) = error { p.alert.error role="alert" { (e) } }
        form.card.upload method="post" action="/import" enctype="multipart/form-data" {
            (csrf(ctx))
            p { (ctx.t("上传扶贫办导出的建档立卡名单（CSV，UTF-8 或 GBK；或 XLSX）。先预览差异和错误，确认后才写入。",
                       "Upload the roster exported by the poverty office (CSV in UTF-8 or GBK, or XLSX). You see the difference and any errors before anything is written.")) }
            label { (ctx.t("名单文件", "Roster file")) input type="file" name="file" accept=".csv,.xlsx" required; }
            label { (ctx.t("生效日期", "Effective date")) input type="date" name="as_of" value=(today) required; }
            button.primary type="submit" { (ctx.t("预览", "Preview")) }
            p.small.muted { (ctx.t("列：户编号、户主姓名、与户主关系、姓名、证件号码、性别、民族、行政区划代码、贫困户属性、脱贫状态、主要致贫原因、联系电话。",
                                   "Columns: household no., head, relation, name, ID number, sex, ethnicity, region code, category, status, cause, phone. "))
                a href="/import/template.xlsx" download { (ctx.t("下载名单模板（XLSX，含示例和填表说明）", "Download the roster template (XLSX, with an example and instructions)")) } }
        }
    }
}

fn options<'a>(ctx: &'a Ctx, as_of: Date, dry_run: bool, allow_mass_exit: bool) -> RosterImport<'a> {
    // A county user compares with their whole county; above that, with the counties in the file.
    let scope = (ctx.user.region.level() >= RegionLevel::County).then(|| vec![ctx.user.region]);
    RosterImport {
        user_id: Some(ctx.user.id),
        origin: &ctx.ip,
        allowed_region: Some(ctx.user.region),
        scope,
        dry_run,
        allow_mass_exit,
        ..RosterImport::new(&ctx.user.username, as_of)
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApiRosterQuery {
    /// roster.csv or roster.xlsx: the extension says how to read the body
    file_name: Option<String>,
    /// Effective date (default: today)
    #[param(inline)]
    as_of: Option<crate::params::DateOrEmpty>,
    /// true: compare and report only
    dry_run: Option<bool>,
    /// true: apply even if more than half the households in scope would exit
    allow_mass_exit: Option<bool>,
}

/// Import a roster file (the body)
///
/// Answers the difference with the registry, every bad row and the households held back; with
/// dry_run nothing is written, as in the page's preview.
#[utoipa::path(post, path = "/api/roster", tag = "Registry", params(ApiRosterQuery),
    request_body(content((Vec<u8> = "text/csv"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
    responses((status = 200, body = import::RosterReport)))]
pub async fn api_roster(state: State, ctx: Ctx, headers: axum::http::HeaderMap, axum::extract::Query(q): axum::extract::Query<ApiRosterQuery>, body: axum::body::Bytes) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    ctx.require(Permission::ImportRoster)?;
    let r = async {
        let as_of = crate::params::day(q.as_of).unwrap_or_else(huimin_app::clock::today);
        let file_name = q.file_name.clone().unwrap_or_else(|| "roster.csv".into());
        let table = Table::from_bytes(&file_name, body.to_vec(), &huimin_app::roster::ROSTER_COLUMNS).map_err(|e| WebError::BadRequest(e.to_string()))?;
        let opts = options(&ctx, as_of, q.dry_run.unwrap_or(false), q.allow_mass_exit.unwrap_or(false));
        match import::import_roster_table(&state.store, table, &opts).await {
            Ok(report) => Ok(report),
            Err(e @ (ImportError::File(_) | ImportError::MassExit { .. } | ImportError::BackDated { .. })) => Err(WebError::BadRequest(e.to_string())),
            Err(e) => Err(WebError::Internal(e.into())),
        }
    }
    .await;
    crate::error::json_answer(axum::http::StatusCode::OK, r)
}

pub async fn preview(state: State, ctx: Ctx, mut multipart: Multipart) -> WebResult<Response> {
    ctx.require(Permission::ImportRoster)?;
    let (mut csrf_token, mut file_name, mut bytes, mut as_of) = (String::new(), String::new(), Vec::new(), None);
    while let Some(field) = multipart.next_field().await.map_err(|e| WebError::BadRequest(e.to_string()))? {
        match field.name() {
            Some("_csrf") => csrf_token = field.text().await.map_err(|e| WebError::BadRequest(e.to_string()))?,
            Some("as_of") => as_of = field.text().await.ok().and_then(|d| Date::parse_from_str(&d, "%Y-%m-%d").ok()),
            Some("file") => {
                file_name = field.file_name().unwrap_or("roster.csv").rsplit(['/', '\\']).next().unwrap_or("roster.csv").to_string();
                bytes = field.bytes().await.map_err(|e| WebError::BadRequest(e.to_string()))?.to_vec();
            }
            _ => {}
        }
    }
    ctx.check_csrf(&csrf_token)?;
    let as_of = as_of.ok_or_else(|| WebError::BadRequest(ctx.t("生效日期无效", "Invalid effective date").into()))?;
    let table = match Table::from_bytes(&file_name, bytes.clone(), &huimin_app::roster::ROSTER_COLUMNS) {
        Ok(t) => t,
        Err(e) => return Ok(layout::page(&ctx, ctx.t("名单导入", "Roster import"), "/import", upload_form(&ctx, Some(&e.to_string()))).into_response()),
    };
    let report = match import::import_roster_table(&state.store, table, &options(&ctx, as_of, true, false)).await {
        Ok(r) => r,
        Err(e @ (ImportError::File(_) | ImportError::BackDated { .. })) => {
            return Ok(layout::page(&ctx, ctx.t("名单导入", "Roster import"), "/import", upload_form(&ctx, Some(&e.to_string()))).into_response());
        }
        Err(e) => return Err(WebError::Internal(e.into())),
    };
    let token = random_token();
    let (data, meta) = paths(&state, &token)?;
    std::fs::create_dir_all(&state.config.upload_dir).map_err(|e| WebError::Internal(e.into()))?;
    let upload = Upload { user_id: ctx.user.id, file_name, as_of };
    huimin_app::files::write(&data, &bytes).map_err(|e| WebError::Internal(e.into()))?;
    huimin_app::files::write(&meta, &serde_json::to_vec(&upload).map_err(|e| WebError::Internal(e.into()))?).map_err(|e| WebError::Internal(e.into()))?;
    let body = html! {
        (report_markup(&ctx, &report, &token))
        @if report.diff.is_empty() {
            p.alert { (ctx.t("与登记库一致，无需写入。", "The registry already matches this file; nothing to write.")) }
        } @else {
            form.card method="post" action=(format!("/import/{token}/apply")) {
                (csrf(&ctx))
                @if report.diff.exited_households.len() * 2 > report.diff.households_in_scope && report.diff.exited_households.len() >= 10 {
                    p.alert.error { (ctx.t("超过一半的户将退出，请确认文件和范围无误。", "More than half of the households would exit: check the file.")) }
                    label.check { input type="checkbox" name="allow_mass_exit" value="1"; (ctx.t("我已核实，确认退出", "I have checked; let them exit")) }
                }
                p { (ctx.t("确认后，以上差异将以 ", "On confirmation the difference is recorded with effective date ")) strong { (as_of) } (ctx.t(" 为生效日期写入，并保留历史。有错误的户暂不导入。", "; households with errors are held back.")) }
                button.primary type="submit" { (ctx.t("确认导入", "Confirm import")) }
                " " a href="/import" { (ctx.t("取消", "Cancel")) }
            }
        }
    };
    Ok(layout::page(&ctx, ctx.t("导入预览", "Import preview"), "/import", body).into_response())
}

#[derive(Deserialize)]
pub struct ApplyForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    allow_mass_exit: Option<String>,
}

pub async fn apply(state: State, ctx: Ctx, Path(token): Path<String>, Form(form): Form<ApplyForm>) -> WebResult<Markup> {
    ctx.check_csrf(&form.csrf)?;
    ctx.require(Permission::ImportRoster)?;
    let (upload, bytes) = load(&state, &ctx, &token)?;
    let table = Table::from_bytes(&upload.file_name, bytes, &huimin_app::roster::ROSTER_COLUMNS).map_err(|e| WebError::BadRequest(e.to_string()))?;
    let result = import::import_roster_table(&state.store, table, &options(&ctx, upload.as_of, false, form.allow_mass_exit.is_some())).await;
    let body = match result {
        Ok(report) => html! {
            p.alert.ok { (ctx.t("已导入", "Imported")) @if let Some(id) = report.import_id { (ctx.t("（导入批次 ", " (batch ")) (id) (ctx.t("）", ")")) } }
            (report_markup(&ctx, &report, &token))
            p { a.button href="/households" { (ctx.t("查看建档立卡户", "See the households")) } }
        },
        Err(ImportError::MassExit { .. } | ImportError::BackDated { .. }) => html! { p.alert.error { (result.unwrap_err().to_string()) } p { a href="/import" { (ctx.t("返回", "Back")) } } },
        Err(e) => return Err(WebError::Internal(e.into())),
    };
    Ok(layout::page(&ctx, ctx.t("导入结果", "Import result"), "/import", body))
}

/// `GET /import/template.xlsx`: the roster template.
pub async fn template(ctx: Ctx) -> WebResult<Response> {
    ctx.require(Permission::ImportRoster)?;
    let xlsx = import::roster_template().map_err(|e| WebError::Internal(e.into()))?;
    let disposition = format!("attachment; filename=\"roster-template.xlsx\"; filename*=UTF-8''{}", crate::auth::urlencode("建档立卡名单模板.xlsx"));
    Ok(([(header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string()), (header::CONTENT_DISPOSITION, disposition)], xlsx).into_response())
}

pub async fn error_report(state: State, ctx: Ctx, Path(token): Path<String>) -> WebResult<Response> {
    ctx.require(Permission::ImportRoster)?;
    let (upload, bytes) = load(&state, &ctx, &token)?;
    let table = Table::from_bytes(&upload.file_name, bytes, &huimin_app::roster::ROSTER_COLUMNS).map_err(|e| WebError::BadRequest(e.to_string()))?;
    let report = import::import_roster_table(&state.store, table, &options(&ctx, upload.as_of, true, false))
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    let dir = tempfile::tempdir().map_err(|e| WebError::Internal(e.into()))?;
    let path = dir.path().join("errors.xlsx");
    import::write_error_report(&report.errors, &report.held_back, &path).map_err(|e| WebError::Internal(e.into()))?;
    let xlsx = std::fs::read(&path).map_err(|e| WebError::Internal(e.into()))?;
    state
        .store
        .append_audit(&ctx.audit("export", format!("import errors of {}", upload.file_name), format!("{} rows", report.errors.len())))
        .await?;
    let stem = upload.file_name.rsplit_once('.').map(|(s, _)| s).unwrap_or(&upload.file_name).to_string();
    let disposition = format!("attachment; filename=\"errors.xlsx\"; filename*=UTF-8''{}", crate::auth::urlencode(&format!("{stem}.errors.xlsx")));
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        xlsx,
    )
        .into_response())
}

fn report_markup(ctx: &Ctx, r: &RosterReport, token: &str) -> Markup {
    let d = &r.diff;
    // The list shows at most this many households of each kind, and says how many more there are.
    const SHOWN: usize = 200;
    let more = |n: usize| n.saturating_sub(SHOWN);
    html! {
        // What confirming will do, in words, first.
        p.lead {
            (ctx.t("确认后将：", "Confirming will: "))
            (ctx.t("新增 ", "add ")) strong { (num(d.new_households.len() as i64)) } (ctx.t(" 户（", " households (")) (num(d.new_persons.len() as i64)) (ctx.t(" 人）", " persons)"))
            @if !d.reentered_households.is_empty() { (ctx.t("，重新列入 ", ", re-enter ")) strong { (num(d.reentered_households.len() as i64)) } (ctx.t(" 户", " households")) }
            (ctx.t("，变更 ", ", change ")) strong { (num(d.changed_households.len() as i64)) } (ctx.t(" 户", " households"))
            (ctx.t("，退出 ", ", exit ")) strong { (num(d.exited_households.len() as i64)) } (ctx.t(" 户（", " households (")) (num(d.exited_persons.len() as i64)) (ctx.t(" 人）", " persons)"))
            (ctx.t("；其余 ", "; ")) (num(d.unchanged_households as i64)) (ctx.t(" 户不变。", " unchanged."))
        }
        @if !d.exited_households.is_empty() && !r.mass_exit {
            p.alert.warn role="alert" { (ctx.t("将有 ", "")) strong { (num(d.exited_households.len() as i64)) } (ctx.t(" 户退出帮扶名单（不在文件中的户视为退出），请核对下方名单。", " households will leave the programme (those not in the file); check the list below.")) }
        }
        @if r.mass_exit {
            p.alert.error role="alert" { strong { (ctx.t("注意：", "Warning: ")) } (ctx.t("本次导入将使范围内 ", "This import would exit ")) (d.exited_households.len())
                (ctx.t(" 户退出，超过范围内现有户数（", " households, more than half of the ")) (d.households_in_scope) (ctx.t(" 户）的一半。请先核对文件和比对范围；确需如此，确认导入时须勾选“我已核实，确认退出”。", " in scope. Check the file and the scope; to go on, tick “I have checked” when confirming.")) }
        }
        section.card {
            p { strong { (r.file) } " · " (r.encoding) " · "
                @if let Some(sheet) = &r.sheet { (ctx.t("工作表「", "sheet “")) (sheet) (ctx.t("」 · ", "” · ")) }
                @if r.header_row > 1 { (ctx.t("表头在第 ", "header in row ")) (r.header_row) (ctx.t(" 行 · ", " · ")) } (num(r.rows_total as i64)) (ctx.t(" 行", " rows")) " · "
                (ctx.t("通过检查 ", "accepted ")) (num(r.households_accepted as i64)) (ctx.t(" 户 ", " households, ")) (num(r.persons_accepted as i64)) (ctx.t(" 人", " persons")) }
            @if !r.normalised.is_empty() {
                p.small { (ctx.t("按原意读取 ", "Read as meant: ")) (r.normalised.len()) (ctx.t(" 处（全角数字、姓名或证件号码中的空格、小写 x），如第 ", " cells (full-width digits, spaces, a lowercase x), e.g. row "))
                    (r.normalised[0].row) (ctx.t(" 行「", " “")) (r.normalised[0].column) (ctx.t("」。", "”.")) }
            }
            table.diff {
                thead { tr { th {} th.num { (ctx.t("新增", "New")) } th.num { (ctx.t("重新列入", "Re-entered")) } th.num { (ctx.t("变更", "Changed")) } th.num { (ctx.t("退出", "Exited")) } th.num { (ctx.t("不变", "Unchanged")) } } }
                tbody {
                    tr { th { (ctx.t("户", "Households")) } td.num { (d.new_households.len()) } td.num { (d.reentered_households.len()) } td.num { (d.changed_households.len()) } td.num { (d.exited_households.len()) } td.num { (num(d.unchanged_households as i64)) } }
                    tr { th { (ctx.t("人", "Persons")) } td.num { (d.new_persons.len()) } td.num { (d.reentered_persons.len()) } td.num { (d.changed_persons.len()) } td.num { (d.exited_persons.len()) } td.num { (num(d.unchanged_persons as i64)) } }
                }
            }
        }
        @if !d.changed_households.is_empty() || !d.exited_households.is_empty() {
            details.card open {
                summary { (ctx.t("变更与退出的户", "Changed and exited households")) }
                @if !d.exited_households.is_empty() {
                    h3 { (ctx.t("退出的户", "Exiting")) " (" (num(d.exited_households.len() as i64)) ")" }
                    ul.small { @for n in d.exited_households.iter().take(SHOWN) { li { (n.key) " " (n.name) } } }
                    @if more(d.exited_households.len()) > 0 { p.small.muted { (ctx.t("另有 ", "And ")) (num(more(d.exited_households.len()) as i64)) (ctx.t(" 户退出，未逐一列出。", " more, not listed one by one.")) } }
                }
                @if !d.changed_households.is_empty() {
                    h3 { (ctx.t("变更的户", "Changing")) " (" (num(d.changed_households.len() as i64)) ")" }
                    ul.small { @for (n, fields) in d.changed_households.iter().take(SHOWN) { li { (n.key) " " (n.name) "：" @for (c, a, b) in fields { (c) " " (a) " → " (b) "；" } } } }
                    @if more(d.changed_households.len()) > 0 { p.small.muted { (ctx.t("另有 ", "And ")) (num(more(d.changed_households.len()) as i64)) (ctx.t(" 户变更，未逐一列出。", " more, not listed one by one.")) } }
                }
            }
        }
        @if !r.errors.is_empty() {
            section.card.errors {
                h2 { (ctx.t("错误", "Errors")) " (" (r.errors.len()) ")" }
                p { (ctx.t("有错误的户整户暂不导入：", "Households with a bad row are held back whole: ")) (r.held_back.len()) (ctx.t(" 户。", ".")) " "
                    a.button href=(format!("/import/{token}/errors.xlsx")) { (ctx.t("下载错误报告（Excel）", "Download the error report (Excel)")) } }
                table {
                    thead { tr { th.num { (ctx.t("行号", "Row")) } th { (ctx.t("列", "Column")) } th { (ctx.t("原因", "Reason")) } } }
                    tbody {
                        @for e in r.errors.iter().take(500) {
                            tr { td.num { (e.row) } td { (e.column) } td { (e.reason) } }
                        }
                    }
                }
                @if r.errors.len() > 500 { p.small.muted { (ctx.t("另有 ", "And ")) (num(r.errors.len() as i64 - 500)) (ctx.t(" 处错误未在此列出，见错误报告。", " more errors, in the error report.")) } }
            }
        }
    }
}

/// Uploaded rosters wait here between preview and confirmation (and for their error report):
/// removed a day after the upload, checked every hour and at start.
pub(crate) async fn sweep_uploads(dir: std::path::PathBuf) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(24 * 3600);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            if e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < day_ago) {
                if let Err(err) = std::fs::remove_file(e.path()) {
                    tracing::warn!(file = %e.path().display(), error = %err, "an old upload was not removed");
                }
            }
        }
    }
}
