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
        let body = html! {
            (maud::DOCTYPE)
            html lang="zh-CN" {
                head { meta charset="utf-8"; title { "惠民 · " (status.as_u16()) } link rel="stylesheet" href="/static/app.css"; }
                body.error-page { main.card { h1 { (status.as_u16()) } p { (zh) } p.muted { (en) } p { a href="/" { "返回首页 / Home" } } } }
            }
        };
        let mut res = (status, body).into_response();
        res.extensions_mut().insert(ErrorMessage(zh));
        res
    }
}

/// Whether a path is answered to machine clients (JSON), not to people (pages).
pub(crate) fn for_machines(path: &str) -> bool {
    path.starts_with("/api/") || path == "/fhir" || path.starts_with("/fhir/")
}

/// The user's message of an error answered as a page, for [`machine_errors`].
#[derive(Clone)]
struct ErrorMessage(String);

/// Every error under `/api` is `{"error": "…"}` and every error under `/fhir` an
/// OperationOutcome, whatever produced it: a handler's error, an extractor's refusal (a body that
/// is not JSON), the fallback's 404, or a missing sign-in (401 rather than the login page).
pub(crate) async fn machine_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path();
    let fhir = path == "/fhir" || path.starts_with("/fhir/");
    if !for_machines(path) {
        return next.run(req).await;
    }
    let res = next.run(req).await;
    let status = res.status();
    let json = res.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.contains("json"));
    if json || !(status.is_client_error() || status.is_server_error() || status.is_redirection()) {
        return res;
    }
    let (status, message) = if status.is_redirection() {
        (StatusCode::UNAUTHORIZED, "请先登录，或使用 API 令牌（Authorization: Bearer）".to_string())
    } else if let Some(ErrorMessage(m)) = res.extensions().get::<ErrorMessage>() {
        (status, m.clone())
    } else {
        let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap_or_default();
        (status, String::from_utf8_lossy(&body).trim().to_string())
    };
    let body = if fhir {
        let code = match status {
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::UNAUTHORIZED => "login",
            s if s.is_server_error() => "exception",
            _ => "invalid",
        };
        serde_json::json!({ "resourceType": "OperationOutcome", "issue": [{ "severity": "error", "code": code, "diagnostics": message }] })
    } else {
        serde_json::json!({ "error": message })
    };
    let content_type = if fhir { "application/fhir+json; charset=utf-8" } else { "application/json" };
    (status, [(axum::http::header::CONTENT_TYPE, content_type)], body.to_string()).into_response()
}

pub type WebResult<T> = Result<T, WebError>;

/// The answer of a JSON API call: `status` with the value, or 422 `{"error"}` when the request
/// was refused with a reason the user can act on; other errors as usual.
pub fn json_answer<T: serde::Serialize>(status: StatusCode, r: WebResult<T>) -> WebResult<Response> {
    match r {
        Ok(v) => Ok((status, axum::Json(v)).into_response()),
        Err(WebError::BadRequest(m)) => Ok((StatusCode::UNPROCESSABLE_ENTITY, axum::Json(serde_json::json!({ "error": m }))).into_response()),
        Err(e) => Err(e),
    }
}
