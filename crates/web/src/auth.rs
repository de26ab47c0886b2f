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
/// Wrong passwords for one user name from one address that are answered at once; after them
/// each try waits twice as long as the one before (1 s, 2 s, 4 s … up to 15 minutes). Guessing
/// is slowed where it comes from, and nobody can lock someone else out from elsewhere.
const FREE_FAILURES: u32 = 5;
const MAX_WAIT_SECS: u64 = 15 * 60;

/// Failed logins by (user name, address), in memory.
#[derive(Default)]
pub(crate) struct LoginThrottle {
    failures: std::sync::Mutex<std::collections::HashMap<(String, String), (u32, std::time::Instant)>>,
}

impl LoginThrottle {
    /// Seconds before `name` may be tried again from `ip` (0: now).
    fn wait(&self, name: &str, ip: &str) -> u64 {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let Some((count, last)) = map.get(&(name.to_string(), ip.to_string())) else { return 0 };
        if *count < FREE_FAILURES {
            return 0;
        }
        let delay = 1u64.checked_shl(count - FREE_FAILURES).unwrap_or(MAX_WAIT_SECS).min(MAX_WAIT_SECS);
        delay.saturating_sub(last.elapsed().as_secs())
    }

    fn failed(&self, name: &str, ip: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: names tried long ago are forgotten once the table is large.
        if map.len() > 10_000 {
            map.retain(|_, (_, last)| last.elapsed().as_secs() < MAX_WAIT_SECS);
        }
        let e = map.entry((name.to_string(), ip.to_string())).or_insert((0, std::time::Instant::now()));
        *e = (e.0.saturating_add(1), std::time::Instant::now());
    }

    fn succeeded(&self, name: &str, ip: &str) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&(name.to_string(), ip.to_string()));
    }
}

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
    /// The name of the user's region, for the page header (empty for machine clients).
    pub region_name: String,
    token_hash: String,
    /// Authenticated by an API token (`Authorization: Bearer …`), not a session cookie: no
    /// browser sends it on its own, so there is no cross-site request to guard against.
    pub bearer: bool,
}

impl Ctx {
    pub fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        self.lang.t(zh, en)
    }

    /// The user as the disclosure rule sees them (`huimin_domain::Viewer`): what every output
    /// of a person's data goes through.
    pub async fn viewer(&self, state: &crate::AppState) -> huimin_domain::Viewer {
        huimin_domain::Viewer::new(self.user.role, self.user.region, self.user.facility_code.clone(), state.catalogues().await)
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
            // Answered as text: `error::machine_errors` makes it the path's error shape.
            let unauthorized = || (axum::http::StatusCode::UNAUTHORIZED, "API 令牌无效、已过期或已撤销").into_response();
            let token_hash = accounts::token_hash(token);
            return match state.store.token_user(&token_hash).await {
                Ok(Some(user)) => Ok(Ctx { user, csrf: String::new(), lang: Lang::from_headers(&parts.headers), ip: client_ip(parts), region_name: String::new(), token_hash, bearer: true }),
                Ok(None) => Err(unauthorized()),
                Err(e) => Err(WebError::from(e).into_response()),
            };
        }
        let to_login = || {
            // After signing in, back to the page: a form sent with an expired session cannot be
            // sent again by a redirect, so back to the page it was sent from (whose script keeps
            // what was typed, e.g. the settlement form).
            let next = if parts.method == axum::http::Method::GET {
                parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into())
            } else {
                referer_path(&parts.headers).unwrap_or_else(|| "/".into())
            };
            Redirect::to(&format!("/login?next={}", urlencode(&next))).into_response()
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_login()) };
        let token_hash = accounts::token_hash(&token);
        match state.store.session_user(&token_hash).await {
            Ok(Some((user, csrf))) => {
                // A password an administrator set is changed before anything else is done.
                let path = parts.uri.path();
                if user.must_change_password && !["/account/password", "/api/account/password", "/logout"].contains(&path) && !path.starts_with("/static/") {
                    return Err(if crate::error::for_machines(path) {
                        (axum::http::StatusCode::FORBIDDEN, "请先修改管理员为您设置的密码（/account/password）").into_response()
                    } else {
                        Redirect::to("/account/password").into_response()
                    });
                }
                let region_name = state.store.region(user.region).await.ok().flatten().map(|r| r.name).unwrap_or_default();
                Ok(Ctx { user, csrf, lang: Lang::from_headers(&parts.headers), ip: client_ip(parts), region_name, token_hash, bearer: false })
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
/// The path (and query) of the page a request came from, if it came from this site.
fn referer_path(headers: &HeaderMap) -> Option<String> {
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let rest = referer.strip_prefix("http://").or_else(|| referer.strip_prefix("https://"))?;
    let path = rest.strip_prefix(host)?;
    let path = if path.is_empty() { "/" } else { path };
    (safe_next(Some(path)) == path).then(|| path.to_string())
}

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

    let wait = state.login_throttle.wait(&username, &ip);
    if wait > 0 {
        state.store.append_audit(&audit("login.refused", None, "throttled")).await?;
        return fail(&format!("{} {wait} {}", lang.t("尝试过于频繁，请", "Too many attempts: try again in"), lang.t("秒后再试", "s")));
    }
    let found = state.store.user_for_login(&username).await?;
    let password = form.password.clone();
    // The same work whether or not the name exists, so that timing does not tell.
    let (user, ok) = match found {
        Some((user, hash)) => {
            let ok = tokio::task::spawn_blocking(move || accounts::verify_password(&password, &hash)).await.map_err(|e| WebError::Internal(e.into()))?;
            (Some(user), ok)
        }
        None => {
            tokio::task::spawn_blocking(move || accounts::verify_password_of_nobody(&password)).await.map_err(|e| WebError::Internal(e.into()))?;
            (None, false)
        }
    };
    let user = match user {
        Some(u) if ok && u.active => u,
        other => {
            state.login_throttle.failed(&username, &ip);
            match other {
                Some(u) => {
                    let detail = if u.active { "wrong password" } else { "inactive account" };
                    state.store.record_login_failure(u.id, &audit("login.failed", Some(&u), detail)).await?;
                }
                // Same answer as a wrong password, so names cannot be probed; still recorded.
                None => {
                    state.store.append_audit(&audit("login.failed", None, "unknown user")).await?;
                }
            }
            return fail(wrong);
        }
    };
    state.login_throttle.succeeded(&username, &ip);
    let now = chrono::Utc::now();
    // A password an administrator set is changed first.
    let next = if user.must_change_password { "/account/password".to_string() } else { next };
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
    // What offline work kept on this device (IndexedDB, the service worker's cache) goes too.
    Ok(([(header::SET_COOKIE, cookie_header(&state, SESSION_COOKIE, "", 0)), (header::HeaderName::from_static("clear-site-data"), "\"storage\"".to_string())], Redirect::to("/login"))
        .into_response())
}

pub async fn set_lang(state: State, Path(lang): Path<String>, Query(q): Query<NextQuery>) -> Response {
    let value = if lang == "en" { "en" } else { "zh" };
    let next = safe_next(q.next.as_deref()).to_string();
    // Not HttpOnly-sensitive, but kept to the same attributes as the other cookies.
    ([(header::SET_COOKIE, cookie_header(&state, LANG_COOKIE, value, 365 * 24 * 3600))], Redirect::to(&next)).into_response()
}

// ----- one's own password -----

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    current: String,
    new: String,
    #[serde(default)]
    repeat: Option<String>,
}

/// `GET /account/password`: change one's own password (first, when an administrator set it).
pub async fn password_page(ctx: Ctx) -> Markup {
    password_markup(&ctx, None)
}

fn password_markup(ctx: &Ctx, message: Option<Result<&str, &str>>) -> Markup {
    let body = html! {
        @if ctx.user.must_change_password {
            p.alert { (ctx.t("这个密码是管理员为您设置的，请先换成只有您知道的密码。", "An administrator set this password: choose one only you know first.")) }
        }
        @match message {
            Some(Ok(m)) => p.alert.ok role="status" { (m) },
            Some(Err(m)) => p.alert.error role="alert" { (m) },
            None => {},
        }
        form.card method="post" action="/account/password" {
            (layout::csrf(ctx))
            label { (ctx.t("当前密码", "Current password")) input name="current" type="password" autocomplete="current-password" required; }
            label { (ctx.t("新密码（10 位以上，不含用户名，不用常见密码）", "New password (10+ characters, not your user name, not a common one)")) input name="new" type="password" autocomplete="new-password" minlength="10" maxlength="128" required; }
            label { (ctx.t("再输一遍新密码", "New password again")) input name="repeat" type="password" autocomplete="new-password" required; }
            button.primary type="submit" { (ctx.t("修改密码", "Change password")) }
        }
    };
    layout::page(ctx, ctx.t("修改密码", "Change password"), "/account/password", body)
}

/// Checks the current password and the new one, and stores it; the user's other sessions end.
async fn change_own_password(state: &State, ctx: &Ctx, f: &PasswordForm) -> WebResult<()> {
    if ctx.bearer {
        return Err(WebError::Forbidden);
    }
    if f.repeat.as_deref().is_some_and(|r| r != f.new) {
        return Err(WebError::BadRequest(ctx.t("两次输入的新密码不一致", "The new passwords differ").into()));
    }
    let Some((_, hash)) = state.store.user_for_login(&ctx.user.username).await? else { return Err(WebError::NotFound) };
    let (current, new) = (f.current.clone(), f.new.clone());
    let ok = tokio::task::spawn_blocking(move || accounts::verify_password(&current, &hash)).await.map_err(|e| WebError::Internal(e.into()))?;
    if !ok {
        return Err(WebError::BadRequest(ctx.t("当前密码不对", "The current password is wrong").into()));
    }
    if f.new == f.current {
        return Err(WebError::BadRequest(ctx.t("新密码不能与当前密码相同", "The new password must differ from the current one").into()));
    }
    accounts::check_password_strength(&f.new, &ctx.user.username).map_err(WebError::BadRequest)?;
    let new_hash = tokio::task::spawn_blocking(move || accounts::hash_password(&new)).await.map_err(|e| WebError::Internal(e.into()))?;
    state.store.change_own_password(ctx.user.id, &new_hash, &ctx.token_hash, &ctx.audit("user.password", format!("user {}", ctx.user.username), "")).await?;
    Ok(())
}

/// `POST /account/password`.
pub async fn change_password(state: State, ctx: Ctx, Form(f): Form<PasswordForm>) -> WebResult<Response> {
    ctx.check_csrf(&f.csrf)?;
    match change_own_password(&state, &ctx, &f).await {
        Ok(()) => Ok(Redirect::to("/").into_response()),
        Err(WebError::BadRequest(m)) => Ok(password_markup(&ctx, Some(Err(&m))).into_response()),
        Err(e) => Err(e),
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PasswordChanged {
    changed: bool,
}

/// Change one's own password
///
/// Sessions only; first of all, when an administrator set it.
#[utoipa::path(post, path = "/api/account/password", tag = "Administration", request_body = PasswordForm, responses((status = 200, body = PasswordChanged)))]
pub async fn api_change_password(state: State, ctx: Ctx, headers: HeaderMap, axum::Json(f): axum::Json<PasswordForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    let r = change_own_password(&state, &ctx, &f).await.map(|()| PasswordChanged { changed: true });
    crate::error::json_answer(axum::http::StatusCode::OK, r)
}
