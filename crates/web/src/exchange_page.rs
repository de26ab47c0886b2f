//! Bulk exchange in the browser and for machine clients: a region's data as CSV or XLSX in the
//! formats the imports read (docs/exchange.md). Only the roles that import rosters (the health
//! bureau, the poverty office) may take them, for their own region; what the files hold follows
//! the disclosure rule (the poverty office: no health data; the health bureau: no confidential
//! diagnoses), and every download is audited.

use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use huimin_app::exchange::{self, Kind};
use huimin_domain::{Permission, RegionCode};
use maud::{Markup, html};
use serde::Deserialize;

use crate::State;
use crate::auth::Ctx;
use crate::error::{WebError, WebResult};
use crate::layout;

#[derive(Deserialize)]
pub struct ExchangeQuery {
    region: Option<String>,
    year: Option<crate::params::Year>,
}

use huimin_app::clock::this_year;

fn region_of(ctx: &Ctx, q: &ExchangeQuery) -> WebResult<RegionCode> {
    ctx.require(Permission::ImportRoster)?;
    crate::registry::region_param(ctx, q.region.as_deref())
}

pub async fn page(state: crate::State, ctx: Ctx, Query(q): Query<ExchangeQuery>) -> WebResult<Markup> {
    let region = region_of(&ctx, &q)?;
    let year = q.year.map_or_else(this_year, |y| y.0);
    let picker = layout::region_picker(&state, &ctx, ctx.t("区划", "Region"), Some(region)).await?;
    let body = html! {
        p { (ctx.t("导出本区划的数据，格式与导入相同，可导入另一套惠民系统。文件含完整身份证号，请妥善保管；每次导出都记入审计日志。",
                   "Export this region's data in the formats the imports read, for another Huimin installation. The files hold whole ID numbers; every export is audited.")) }
        form.filters.card method="get" action="/exchange" {
            (picker)
            label { (ctx.t("年度（签约、随访、结算）", "Year (contracts, follow-ups, claims)")) input name="year" value=(year) inputmode="numeric" size="4"; }
            button.primary type="submit" { (ctx.t("确定", "Set")) }
        }
        table.card {
            tbody { @for kind in Kind::ALL { @let (zh, en) = kind.label(); tr {
                td { (ctx.t(zh, en)) }
                td { a.button href=(format!("/api/exchange/{}?region={region}&year={year}&format=xlsx", kind.code())) { "XLSX" } " "
                     a.button href=(format!("/api/exchange/{}?region={region}&year={year}&format=csv", kind.code())) { "CSV" } " "
                     a.button href=(format!("/api/exchange/{}?region={region}&year={year}&format=csv&encoding=gbk", kind.code())) title=(ctx.t("供中文 Windows 上的 Excel 直接打开", "For Excel on Chinese Windows")) { "CSV（GBK）" } }
            } } }
        }
    };
    Ok(layout::page(&ctx, ctx.t("数据交换", "Data exchange"), "/exchange", body))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// Region code (default: the user's region)
    #[param(pattern = r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})?$")]
    region: Option<String>,
    /// Year of the contracts, follow-ups and claims
    #[param(inline)]
    year: Option<crate::params::Year>,
    /// xlsx (default) or csv
    format: Option<String>,
    /// `gbk` for a CSV that Excel on Chinese Windows opens as it is.
    encoding: Option<String>,
}

/// A region's data in the format the imports read
///
/// One of regions, facilities, roster, diseases, contracts, followups or claims
/// (docs/exchange.md). Whole ID numbers for the roster-import roles only; audited.
#[utoipa::path(get, path = "/api/exchange/{kind}", tag = "Registry",
    params(("kind" = String, Path, description = "regions, facilities, roster, diseases, contracts, followups or claims"), DownloadQuery),
    responses((status = 200, description = "The file", content((Vec<u8> = "text/csv"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))))]
pub async fn download(state: State, ctx: Ctx, Path(kind): Path<String>, Query(q): Query<DownloadQuery>) -> WebResult<Response> {
    let region = region_of(&ctx, &ExchangeQuery { region: q.region.clone(), year: q.year })?;
    let kind = Kind::from_code(&kind).ok_or(WebError::NotFound)?;
    let year = q.year.map_or_else(this_year, |y| y.0);
    let encoding = match q.encoding.as_deref() {
        None => huimin_app::csv_out::CsvEncoding::Utf8,
        Some(e) => huimin_app::csv_out::CsvEncoding::parse(e).ok_or_else(|| WebError::BadRequest(format!("编码「{e}」应为 utf-8 或 gbk")))?,
    };
    let ext = match q.format.as_deref().unwrap_or("xlsx") {
        "csv" => "csv",
        "xlsx" => "xlsx",
        other => return Err(WebError::BadRequest(format!("格式「{other}」应为 csv 或 xlsx"))),
    };
    if matches!(kind, Kind::Diseases | Kind::FollowUps) && !ctx.can(Permission::ViewHealth) {
        // Health files and follow-ups are the health roles'; nothing of them would be left.
        return Err(WebError::Forbidden);
    }
    let sheet = exchange::export(&state.store, &ctx.viewer(&state).await, kind, region, year).await?;
    let dir = tempfile::tempdir().map_err(|e| WebError::Internal(e.into()))?;
    let path = dir.path().join(format!("export.{ext}"));
    exchange::write(&sheet, &path, encoding).map_err(|e| WebError::Internal(e.into()))?;
    let bytes = std::fs::read(&path).map_err(|e| WebError::Internal(e.into()))?;
    state.store.append_audit(&ctx.audit("export", format!("{} {region} {year}", kind.code()), format!("{} rows", sheet.rows.len()))).await?;
    let name = format!("{}-{region}-{year}.{ext}", kind.code());
    let content_type = if ext != "csv" {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    } else if encoding == huimin_app::csv_out::CsvEncoding::Gbk {
        "text/csv; charset=gbk"
    } else {
        "text/csv; charset=utf-8"
    };
    let disposition = format!("attachment; filename=\"{name}\"");
    Ok(([(header::CONTENT_TYPE, content_type.to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response())
}
