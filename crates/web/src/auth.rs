//! Logging in and out, the session cookie, CSRF tokens, and `Ctx`: the signed-in user of a
//! request with their role, region and language.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use huimin_app::accounts;
use huimin_domain::{Permission, RegionCode};
use huimin_store::{AuditEntry, User};
use maud::{Markup, html};
use serde::Deserialize;

use crate::error::{WebError, WebResult};
use crate::{AppState, State, layout};

pub const SESSION_COOKIE: &str = "huimin_session";
const LOGIN_COOKIE: &str = "huimin_login";
const LANG_COOKIE: &str = "huimin_lang";
const SESSION_HOURS: i64 = 12;
const LOCK_AFTER_FAILURES: i64 = 5;
const LOCK_MINUTES: i64 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        if cookie(headers, LANG_COOKIE).as_deref() == Some("en") { Lang::En } else { Lang::Zh }
    }

    /// Picks the text in this language.
    pub fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn client_ip(parts: &Parts) -> String {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_else(|| "unknown".into())
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The signed-in user of a request. Extracting it redirects to the login page when there is no
/// valid session.
pub struct Ctx {
    pub user: User,
    pub csrf: String,
    pub lang: Lang,
    pub ip: String,
    token_hash: String,
    /// Authenticated by an API token (`Authorization: Bearer …`), not a session cookie: no
    /// browser sends it on its own, so there is no cross-site request to guard against.
    pub bearer: bool,
}

impl Ctx {
    pub fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        self.lang.t(zh, en)
    }

    pub fn can(&self, p: Permission) -> bool {
        self.user.role.can(p)
    }

    pub fn require(&self, p: Permission) -> WebResult<()> {
        if self.can(p) { Ok(()) } else { Err(WebError::Forbidden) }
    }

    /// Data of `code` may be shown only if it lies inside the user's region.
    pub fn require_within(&self, code: RegionCode) -> WebResult<()> {
        if self.user.region.contains(code) { Ok(()) } else { Err(WebError::Forbidden) }
    }

    pub fn check_csrf(&self, token: &str) -> WebResult<()> {
        if self.bearer || same(token, &self.csrf) { Ok(()) } else { Err(WebError::Csrf) }
    }

    /// A JSON request carries the session's CSRF token in the `X-CSRF-Token` header.
    pub fn check_api_csrf(&self, headers: &HeaderMap) -> WebResult<()> {
        self.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or(""))
    }

    pub fn audit(&self, action: &str, target: impl Into<String>, detail: impl Into<String>) -> AuditEntry {
        AuditEntry {
            user_id: Some(self.user.id),
            username: self.user.username.clone(),
            ip: self.ip.clone(),
            action: action.into(),
            target: target.into(),
            detail: detail.into(),
            region: Some(self.user.region),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        // A machine client: a bearer token alone decides, and a bad one is 401, never the login
        // page. Other schemes (a proxy's Basic authentication) are left to the proxy.
        let bearer = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
        if let Some(token) = bearer {
            let unauthorized = || (axum::http::StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], axum::Json(serde_json::json!({ "error": "API 令牌无效、已过期或已撤销" }))).into_response();
            let token_hash = accounts::token_hash(token);
            return match state.store.token_user(&token_hash).await {
                Ok(Some(user)) => Ok(Ctx { user, csrf: String::new(), lang: Lang::from_headers(&parts.headers), ip: client_ip(parts), token_hash, bearer: true }),
                Ok(None) => Err(unauthorized()),
                Err(e) => Err(WebError::from(e).into_response()),
            };
        }
        let to_login = || {
            let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            Redirect::to(&format!("/login?next={}", urlencode(next))).into_response()
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_login()) };
        let token_hash = accounts::token_hash(&token);
        match state.store.session_user(&token_hash).await {
            Ok(Some((user, csrf))) => {
                Ok(Ctx { user, csrf, lang: Lang::from_headers(&parts.headers), ip: client_ip(parts), token_hash, bearer: false })
            }
            Ok(None) => Err(to_login()),
            Err(e) => Err(WebError::from(e).into_response()),
        }
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only paths on this site: no scheme, no `//host`. Browsers drop tabs and line breaks from a
/// URL and read `\` as `/` (so `/\t/evil.example/` goes to evil.example): a path with anything
/// but printable ASCII other than `\` is refused too.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') => n,
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_local_paths_are_followed() {
        for bad in ["//evil.example/", "/\t/evil.example/", "/\n/evil.example", "/\\evil.example", "https://evil.example/", "evil", "/ /x", "/\u{3000}/x"] {
            assert_eq!(super::safe_next(Some(bad)), "/", "{bad:?}");
        }
        for good in ["/", "/households?q=%E9%82%B9&page=2", "/settlement/claims/H1-2024"] {
            assert_eq!(super::safe_next(Some(good)), good);
        }
    }
}

fn cookie_header(state: &AppState, name: &str, value: &str, max_age: i64) -> String {
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_page(state: State, headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    let lang = Lang::from_headers(&headers);
    let token = accounts::random_token();
    let page = login_markup(lang, &token, safe_next(q.next.as_deref()), None);
    ([(header::SET_COOKIE, cookie_header(&state, LOGIN_COOKIE, &token, 3600))], page).into_response()
}

fn login_markup(lang: Lang, csrf: &str, next: &str, error: Option<&str>) -> Markup {
    layout::bare(
        lang,
        lang.t("登录", "Sign in"),
        html! {
            main.login {
                form.card method="post" action="/login" {
                    h1 { "惠民" }
                    p.muted { (lang.t("健康扶贫信息系统", "Health poverty alleviation system")) }
                    @if let Some(e) = error { p.alert.error role="alert" { (e) } }
                    input type="hidden" name="_csrf" value=(csrf);
                    input type="hidden" name="next" value=(next);
                    label { (lang.t("用户名", "User name")) input name="username" autocomplete="username" required autofocus; }
                    label { (lang.t("密码", "Password")) input name="password" type="password" autocomplete="current-password" required; }
                    button.primary type="submit" { (lang.t("登录", "Sign in")) }
                    p.lang-switch { a href="/lang/zh?next=/login" { "中文" } " · " a href="/lang/en?next=/login" { "English" } }
                }
            }
        },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(rename = "_csrf")]
    csrf: String,
    next: Option<String>,
}

pub async fn login(
    state: State,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> WebResult<Response> {
    let lang = Lang::from_headers(&headers);
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same(&expected, &form.csrf) {
        return Err(WebError::Csrf);
    }
    let next = safe_next(form.next.as_deref()).to_string();
    let username = form.username.trim().to_string();
    let ip = peer.ip().to_string();
    let audit = |action: &str, user: Option<&huimin_store::User>, detail: &str| AuditEntry {
        user_id: user.map(|u| u.id),
        username: username.clone(),
        ip: ip.clone(),
        action: action.into(),
        target: format!("user {username}"),
        detail: detail.into(),
        region: user.map(|u| u.region),
    };
    let fail = |msg: &str| Ok(login_markup(lang, &form.csrf, &next, Some(msg)).into_response());
    let wrong = lang.t("用户名或密码错误", "Wrong user name or password");

    let Some((user, hash)) = state.store.user_for_login(&username).await? else {
        // Same answer as a wrong password, so names cannot be probed; still recorded.
        state.store.append_audit(&audit("login.failed", None, "unknown user")).await?;
        return fail(wrong);
    };
    let now = chrono::Utc::now();
    if let Some(until) = user.locked_until.as_deref().and_then(|u| chrono::DateTime::parse_from_rfc3339(u).ok()) {
        if until > now {
            state.store.append_audit(&audit("login.refused", Some(&user), "locked")).await?;
            let local = until.with_timezone(&chrono::Local).format("%H:%M");
            return fail(&format!("{} {local}", lang.t("登录失败次数过多，账户已锁定至", "Too many failed attempts; locked until")));
        }
    }
    let password = form.password.clone();
    let ok = tokio::task::spawn_blocking(move || accounts::verify_password(&password, &hash))
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    if !ok || !user.active {
        let lock_until = (now + chrono::Duration::minutes(LOCK_MINUTES)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let detail = if user.active { "wrong password" } else { "inactive account" };
        state.store.record_login_failure(user.id, LOCK_AFTER_FAILURES, &lock_until, &audit("login.failed", Some(&user), detail)).await?;
        return fail(wrong);
    }
    let token = accounts::random_token();
    let expires = (now + chrono::Duration::hours(SESSION_HOURS)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    state
        .store
        .create_session(user.id, &accounts::token_hash(&token), &accounts::random_token(), &expires, &audit("login", Some(&user), ""))
        .await?;
    let mut res = Redirect::to(&next).into_response();
    res.headers_mut().append(header::SET_COOKIE, cookie_header(&state, SESSION_COOKIE, &token, SESSION_HOURS * 3600).parse().expect("cookie"));
    res.headers_mut().append(header::SET_COOKIE, cookie_header(&state, LOGIN_COOKIE, "", 0).parse().expect("cookie"));
    Ok(res)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    pub csrf: String,
}

pub async fn logout(state: State, ctx: Ctx, Form(form): Form<CsrfForm>) -> WebResult<Response> {
    ctx.check_csrf(&form.csrf)?;
    state.store.end_session(&ctx.token_hash, &ctx.audit("logout", format!("user {}", ctx.user.username), "")).await?;
    Ok(([(header::SET_COOKIE, cookie_header(&state, SESSION_COOKIE, "", 0))], Redirect::to("/login")).into_response())
}

pub async fn set_lang(state: State, Path(lang): Path<String>, Query(q): Query<NextQuery>) -> Response {
    let value = if lang == "en" { "en" } else { "zh" };
    let next = safe_next(q.next.as_deref()).to_string();
    // Not HttpOnly-sensitive, but kept to the same attributes as the other cookies.
    ([(header::SET_COOKIE, cookie_header(&state, LANG_COOKIE, value, 365 * 24 * 3600))], Redirect::to(&next)).into_response()
}
