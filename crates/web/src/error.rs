use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

/// What a request can fail with. Internal causes are logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("the form has expired")]
    Csrf,
    /// The server lacks something the request needs (the CJK font of a PDF): 503, with what.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl From<huimin_store::StoreError> for WebError {
    fn from(e: huimin_store::StoreError) -> Self {
        match e {
            huimin_store::StoreError::NotFound(_) => WebError::NotFound,
            e => WebError::Internal(e.into()),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, zh, en) = match &self {
            WebError::NotFound => (StatusCode::NOT_FOUND, "页面或记录不存在".to_string(), "Not found".to_string()),
            WebError::Forbidden => (StatusCode::FORBIDDEN, "您无权访问此内容".to_string(), "You may not see this".to_string()),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone(), m.clone()),
            WebError::Csrf => (StatusCode::FORBIDDEN, "表单已过期，请返回后刷新页面再提交".to_string(), "The form has expired; reload and try again".to_string()),
            WebError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m.clone(), m.clone()),
            WebError::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "系统出错，请稍后再试".to_string(), "Something went wrong".to_string())
            }
        };
        let lang = crate::auth::Lang::Zh;
        let mut res = (status, bare_page(lang, status, &zh, &en)).into_response();
        res.extensions_mut().insert(ErrorMessage(zh.clone()));
        res.extensions_mut().insert(ErrorPage { status, zh, en });
        res
    }
}

/// An error page for people, framed by [`framed_errors`] when they are signed in.
#[derive(Clone)]
struct ErrorPage {
    status: StatusCode,
    zh: String,
    en: String,
}

fn title(lang: crate::auth::Lang, status: StatusCode) -> &'static str {
    let (zh, en) = match status {
        StatusCode::NOT_FOUND => ("未找到", "Not found"),
        StatusCode::FORBIDDEN => ("无权访问", "Not allowed"),
        StatusCode::BAD_REQUEST => ("未能完成", "Not done"),
        StatusCode::SERVICE_UNAVAILABLE => ("暂不可用", "Unavailable"),
        _ => ("系统出错", "Something went wrong"),
    };
    if lang == crate::auth::Lang::En { en } else { zh }
}

/// The page of one who is not signed in (or whose session could not be read).
fn bare_page(lang: crate::auth::Lang, status: StatusCode, zh: &str, en: &str) -> maud::Markup {
    let message = if lang == crate::auth::Lang::En { en } else { zh };
    crate::layout::bare(
        lang,
        title(lang, status),
        html! { main.card.error-page { h1 { (title(lang, status)) } p.alert.error role="alert" { (message) } p { a href="/" { (if lang == crate::auth::Lang::En { "Home" } else { "返回首页" }) } } } },
    )
}

/// Error pages for people in the user's language, inside the application frame (header, menu)
/// when they are signed in, with a way back to the page they came from.
pub(crate) async fn framed_errors(axum::extract::State(state): crate::State, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if for_machines(req.uri().path()) {
        return next.run(req).await;
    }
    let mut kept = axum::http::Request::builder().method(req.method().clone()).uri(req.uri().clone()).body(()).map(|r| r.into_parts().0).ok();
    if let Some(k) = kept.as_mut() {
        k.headers = req.headers().clone();
        if let Some(ci) = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
            k.extensions.insert(*ci);
        }
    }
    let res = next.run(req).await;
    let (Some(page), Some(mut parts)) = (res.extensions().get::<ErrorPage>().cloned(), kept) else { return res };
    let lang = crate::auth::Lang::from_headers(&parts.headers);
    let back = parts
        .headers
        .get(axum::http::header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("://").map(|i| &r[i + 3..]).and_then(|r| r.find('/').map(|j| r[j..].to_string())))
        .filter(|p| p.starts_with('/') && !p.starts_with("//"));
    let markup = match <crate::auth::Ctx as axum::extract::FromRequestParts<std::sync::Arc<crate::AppState>>>::from_request_parts(&mut parts, &state).await {
        Ok(ctx) => {
            let message = if ctx.lang == crate::auth::Lang::En { &page.en } else { &page.zh };
            let body = html! {
                p.alert.error role="alert" { (message) }
                p {
                    @if let Some(back) = &back { a.button href=(back) { (ctx.t("返回上一页", "Back")) } " " }
                    a href="/" { (ctx.t("返回首页", "Home")) }
                }
            };
            crate::layout::page(&ctx, title(ctx.lang, page.status), "", body)
        }
        Err(_) => bare_page(lang, page.status, &page.zh, &page.en),
    };
    let mut framed = (page.status, markup).into_response();
    framed.extensions_mut().insert(ErrorMessage(page.zh));
    framed
}

/// Whether a path is answered to machine clients (JSON), not to people (pages).
pub(crate) fn for_machines(path: &str) -> bool {
    path.starts_with("/api/") || path == "/fhir" || path.starts_with("/fhir/")
}

/// The user's message of an error answered as a page, for [`machine_errors`].
#[derive(Clone)]
struct ErrorMessage(String);

/// Every error under `/api` is a [`Problem`] and every error under `/fhir` an OperationOutcome,
/// whatever produced it: a handler's error, an extractor's refusal (a body that is not JSON), the
/// fallback's 404, a wrong method's 405 (its `Allow` kept), or a missing sign-in (401 rather than
/// the login page).
pub(crate) async fn machine_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path();
    let fhir = path == "/fhir" || path.starts_with("/fhir/");
    if !for_machines(path) {
        return next.run(req).await;
    }
    // FHIR is served as JSON only: a client that accepts only XML is told so (406), not given JSON.
    if fhir {
        let accept = req.headers().get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let format = req.uri().query().unwrap_or("").split('&').find_map(|kv| kv.strip_prefix("_format=")).unwrap_or("").to_ascii_lowercase();
        let wants_xml = |t: &str| t.contains("xml") && !t.contains("json") && !t.contains("*/*");
        if wants_xml(&accept) || wants_xml(&format) {
            return outcome(StatusCode::NOT_ACCEPTABLE, "只提供 JSON（application/fhir+json）");
        }
    }
    let res = next.run(req).await;
    let status = res.status();
    let json = res.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.contains("json"));
    if json || !(status.is_client_error() || status.is_server_error() || status.is_redirection()) {
        return res;
    }
    let allow = res.headers().get(axum::http::header::ALLOW).cloned();
    let (status, message) = if status.is_redirection() {
        (StatusCode::UNAUTHORIZED, "请先登录，或使用 API 令牌（Authorization: Bearer）".to_string())
    } else if let Some(ErrorMessage(m)) = res.extensions().get::<ErrorMessage>() {
        // Under /api, 400 is a request that does not parse (an extractor's refusal); a request
        // that parses but breaks a rule (a region code of the wrong length, an unknown period) is
        // 422 with the reason. FHIR keeps 400 for both, as its specification does.
        let refused = !fhir && status == StatusCode::BAD_REQUEST;
        (if refused { StatusCode::UNPROCESSABLE_ENTITY } else { status }, m.clone())
    } else {
        let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap_or_default();
        (status, String::from_utf8_lossy(&body).trim().to_string())
    };
    let mut answer = if fhir { outcome(status, &message) } else { problem(status, message) };
    if let Some(allow) = allow {
        answer.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    if status == StatusCode::UNAUTHORIZED {
        answer.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
    }
    answer
}

/// An error of the API (RFC 9457 problem details, `application/problem+json`): the status, its
/// name, and what went wrong in words a user can act on.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status' name, e.g. `Unprocessable Entity`.
    pub title: String,
    pub status: u16,
    /// Why, in Chinese.
    pub detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem { kind: "about:blank".into(), title: status.canonical_reason().unwrap_or("Error").into(), status: status.as_u16(), detail: detail.into() }
    }
}

/// A problem with more to say than its detail (the bill that holds a stay, the result stored
/// since): the problem's members and the extra ones side by side.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ProblemWith<T> {
    #[serde(flatten)]
    pub problem: Problem,
    #[serde(flatten)]
    pub extra: T,
}

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The answer of an API error.
pub fn problem(status: StatusCode, detail: impl Into<String>) -> Response {
    with_problem(status, &Problem::new(status, detail))
}

/// The answer of an API error with extension members.
pub fn problem_with<T: serde::Serialize>(status: StatusCode, detail: impl Into<String>, extra: T) -> Response {
    with_problem(status, &ProblemWith { problem: Problem::new(status, detail), extra })
}

fn with_problem<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    let body = serde_json::to_string(body).unwrap_or_default();
    (status, [(axum::http::header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response()
}

/// A FHIR error: an OperationOutcome with the issue code the status implies.
fn outcome(status: StatusCode, message: &str) -> Response {
    let code = match status {
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::UNAUTHORIZED => "login",
        StatusCode::NOT_ACCEPTABLE => "not-supported",
        s if s.is_server_error() => "exception",
        _ => "invalid",
    };
    let body = serde_json::json!({ "resourceType": "OperationOutcome", "issue": [{ "severity": "error", "code": code, "diagnostics": message }] });
    (status, [(axum::http::header::CONTENT_TYPE, "application/fhir+json; charset=utf-8")], body.to_string()).into_response()
}

pub type WebResult<T> = Result<T, WebError>;

/// The answer of a JSON API call: `status` with the value; an error as every error under `/api`
/// ([`machine_errors`]: a refusal with a reason is a 422 [`Problem`]).
pub fn json_answer<T: serde::Serialize>(status: StatusCode, r: WebResult<T>) -> WebResult<Response> {
    r.map(|v| (status, axum::Json(v)).into_response())
}
