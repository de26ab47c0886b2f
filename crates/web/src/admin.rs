//! User administration: an administrator manages the users inside their own region.

use axum::Form;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use huimin_app::accounts;
use huimin_domain::{Permission, RegionCode, Role};
use huimin_store::{NewUser, StoreError};
use maud::{Markup, html};
use serde::Deserialize;

use crate::auth::{Ctx, Lang};
use crate::error::{WebError, WebResult};
use crate::layout::{self, csrf};
use crate::State;

pub async fn users(state: State, ctx: Ctx) -> WebResult<Markup> {
    ctx.require(Permission::ManageUsers)?;
    users_page(&state, &ctx, None).await
}

async fn users_page(state: &State, ctx: &Ctx, message: Option<Result<String, String>>) -> WebResult<Markup> {
    let list = state.store.users_within(ctx.user.region).await?;
    let role_label = |r: Role| if ctx.lang == Lang::En { r.label_en() } else { r.label_zh() };
    let picker = layout::region_picker(state, ctx, ctx.t("所属区划", "Region"), Some(ctx.user.region)).await?;
    let body = html! {
        p { a href="/admin/tokens" { (ctx.t("API 令牌（机器客户端）", "API tokens (machine clients)")) } }
        @match &message {
            Some(Ok(m)) => p.alert.ok role="status" { (m) },
            Some(Err(m)) => p.alert.error role="alert" { (m) },
            None => {},
        }
        table.card {
            thead { tr {
                th { (ctx.t("用户名", "User name")) } th { (ctx.t("姓名", "Name")) } th { (ctx.t("角色", "Role")) }
                th { (ctx.t("区划", "Region")) } th { (ctx.t("机构", "Facility")) } th { (ctx.t("状态", "State")) } th {}
            } }
            tbody {
                @for u in &list {
                    tr class=(if u.active { "" } else { "exited" }) {
                        td.mono { (u.username) } td { (u.display_name) } td { (role_label(u.role)) }
                        td.mono { (u.region) } td.mono { (u.facility_code.clone().unwrap_or_default()) }
                        td {
                            @if !u.active { span.badge { (ctx.t("已停用", "Disabled")) } }
                            @else if u.locked_until.is_some() { span.badge.warn { (ctx.t("已锁定", "Locked")) } }
                            @else { span.badge.ok { (ctx.t("正常", "Active")) } }
                        }
                        td.actions {
                            @if u.id != ctx.user.id {
                                form.inline method="post" action=(format!("/admin/users/{}", u.id)) {
                                    (csrf(ctx))
                                    @if u.active {
                                        button name="action" value="disable" { (ctx.t("停用", "Disable")) }
                                        @if u.locked_until.is_some() { button name="action" value="unlock" { (ctx.t("解锁", "Unlock")) } }
                                    } @else {
                                        button name="action" value="enable" { (ctx.t("启用", "Enable")) }
                                    }
                                }
                                details.reveal {
                                    summary { (ctx.t("重设密码", "Reset password")) }
                                    form method="post" action=(format!("/admin/users/{}", u.id)) {
                                        (csrf(ctx))
                                        label { (ctx.t("新密码（至少 8 位）", "New password (8+)")) input type="password" name="password" minlength="8" required autocomplete="new-password"; }
                                        button name="action" value="reset" { (ctx.t("设置", "Set")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { (ctx.t("新建用户", "New user")) }
        form.card.grid method="post" action="/admin/users" {
            (csrf(ctx))
            label { (ctx.t("用户名", "User name")) input name="username" required pattern="[A-Za-z0-9_.-]{3,32}"; }
            label { (ctx.t("姓名", "Name")) input name="display_name" required; }
            label { (ctx.t("角色", "Role"))
                select name="role" { @for r in Role::ALL { option value=(r.code()) { (role_label(r)) } } }
            }
            (picker)
            label { (ctx.t("所属机构编码（结算窗口必填）", "Facility code (settlement clerks)")) input name="facility"; }
            label { (ctx.t("初始密码（至少 8 位）", "Initial password (8+)")) input type="password" name="password" minlength="8" required autocomplete="new-password"; }
            button.primary type="submit" { (ctx.t("创建", "Create")) }
        }
    };
    Ok(layout::page(ctx, ctx.t("用户管理", "Users"), "/admin/users", body))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewUserForm {
    #[serde(rename = "_csrf", default)]
    #[schema(ignore)]
    csrf: String,
    username: String,
    #[schema(inline)]
    display_name: crate::params::Short,
    role: String,
    region: String,
    facility: Option<String>,
    password: String,
}

pub async fn create_user(state: State, ctx: Ctx, Form(f): Form<NewUserForm>) -> WebResult<Markup> {
    ctx.check_csrf(&f.csrf)?;
    ctx.require(Permission::ManageUsers)?;
    let result = validate_new_user(&state, &ctx, &f).await;
    let message = match result {
        Err(m) => Err(m),
        Ok(new) => {
            let audit = ctx.audit("user.create", format!("user {}", new.username), format!("role {} region {}", new.role.code(), new.region));
            match state.store.create_user(&new, &audit).await {
                Ok(_) => Ok(format!("{}{}", ctx.t("已创建用户 ", "Created user "), new.username)),
                Err(StoreError::Conflict(m)) => Err(m),
                Err(e) => return Err(e.into()),
            }
        }
    };
    users_page(&state, &ctx, Some(message)).await
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct UsersAnswer {
    users: Vec<UserLine>,
}

/// A user as the administrator's list shows it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct UserLine {
    id: i64,
    username: String,
    display_name: String,
    /// The role's code (docs/security.md)
    role: &'static str,
    region: RegionCode,
    facility_code: Option<String>,
    active: bool,
    locked_until: Option<String>,
}

/// The users inside the administrator's region
#[utoipa::path(get, path = "/api/users", tag = "Administration", responses((status = 200, body = UsersAnswer)))]
pub async fn api_users(state: State, ctx: Ctx) -> WebResult<axum::Json<UsersAnswer>> {
    ctx.require(Permission::ManageUsers)?;
    let users = state
        .store
        .users_within(ctx.user.region)
        .await?
        .into_iter()
        .map(|u| UserLine { id: u.id, username: u.username, display_name: u.display_name, role: u.role.code(), region: u.region, facility_code: u.facility_code, active: u.active, locked_until: u.locked_until })
        .collect();
    Ok(axum::Json(UsersAnswer { users }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct UserCreated {
    id: i64,
    username: String,
    role: &'static str,
    region: RegionCode,
}

/// Add a user
///
/// The password: 10–128 characters, not only digits, not the user name, not a common password;
/// the user changes it at the first login.
#[utoipa::path(post, path = "/api/users", tag = "Administration", request_body = NewUserForm, responses((status = 201, body = UserCreated)))]
pub async fn api_create_user(state: State, ctx: Ctx, headers: axum::http::HeaderMap, axum::Json(f): axum::Json<NewUserForm>) -> WebResult<Response> {
    ctx.check_api_csrf(&headers)?;
    ctx.require(Permission::ManageUsers)?;
    let r = match validate_new_user(&state, &ctx, &f).await {
        Err(m) => Err(WebError::BadRequest(m)),
        Ok(new) => {
            let audit = ctx.audit("user.create", format!("user {}", new.username), format!("role {} region {}", new.role.code(), new.region));
            match state.store.create_user(&new, &audit).await {
                Ok(id) => Ok(UserCreated { id, username: new.username, role: new.role.code(), region: new.region }),
                Err(StoreError::Conflict(m)) => Err(WebError::BadRequest(m)),
                Err(e) => Err(e.into()),
            }
        }
    };
    crate::error::json_answer(axum::http::StatusCode::CREATED, r)
}

async fn validate_new_user(state: &State, ctx: &Ctx, f: &NewUserForm) -> Result<NewUser, String> {
    let username = f.username.trim();
    if username.len() < 3 || username.len() > 32 || !username.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
        return Err("用户名应为 3–32 位字母、数字、下划线、点或连字符".into());
    }
    if f.display_name.trim().is_empty() {
        return Err("姓名不能为空".into());
    }
    let role = Role::from_code(&f.role).map_err(|e| e.0)?;
    let mut region = RegionCode::parse(&f.region).map_err(|e| e.to_string())?;
    if !ctx.user.region.contains(region) {
        return Err(format!("区划 {region} 不在您的管辖范围内"));
    }
    if state.store.region(region).await.map_err(|e| e.to_string())?.is_none() {
        return Err(format!("区划 {region} 不存在"));
    }
    if !role.needs_facility() && !role.works_at().contains(&region.level()) {
        let levels: Vec<&str> = role.works_at().iter().map(|l| l.label_zh()).collect();
        return Err(format!("{}账号应属于{}级区划，{region} 是{}级", role.label_zh(), levels.join("、"), region.level().label_zh()));
    }
    let facility = f.facility.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    if role.needs_facility() {
        let Some(code) = &facility else { return Err("结算窗口用户必须指定所属医疗机构".into()) };
        let found = state.store.facilities(ctx.user.region).await.map_err(|e| e.to_string())?.into_iter().find(|x| &x.code == code);
        let Some(fac) = found else { return Err(format!("机构 {code} 不存在或不在您的管辖范围内")) };
        // A clerk checks patients of the facility's county.
        region = fac.region.ancestor(huimin_domain::RegionLevel::County).unwrap_or(fac.region);
    }
    accounts::check_password_strength(&f.password, username)?;
    let password = f.password.clone();
    let password_hash = tokio::task::spawn_blocking(move || accounts::hash_password(&password)).await.map_err(|e| e.to_string())?;
    Ok(NewUser {
        username: username.to_string(),
        display_name: f.display_name.trim().to_string(),
        role,
        region,
        facility_code: facility,
        password_hash,
        // The administrator chose it: its user changes it at the first login.
        must_change_password: true,
    })
}

#[derive(Deserialize)]
pub struct UpdateForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    action: String,
    password: Option<String>,
}

pub async fn update_user(state: State, ctx: Ctx, Path(id): Path<i64>, Form(f): Form<UpdateForm>) -> WebResult<Response> {
    ctx.check_csrf(&f.csrf)?;
    ctx.require(Permission::ManageUsers)?;
    let target = state.store.user(id).await?.ok_or(WebError::NotFound)?;
    ctx.require_within(target.region).map_err(|_| WebError::NotFound)?;
    if target.id == ctx.user.id {
        return Err(WebError::BadRequest(ctx.t("不能修改自己的账户状态", "You cannot change your own account here").into()));
    }
    let audit = ctx.audit(&format!("user.{}", f.action), format!("user {}", target.username), "");
    match f.action.as_str() {
        "disable" => state.store.update_user(id, Some(false), None, &audit).await?,
        "enable" => state.store.update_user(id, Some(true), None, &audit).await?,
        "unlock" => state.store.update_user(id, None, None, &audit).await?,
        "reset" => {
            let password = f.password.unwrap_or_default();
            if let Err(m) = accounts::check_password_strength(&password, &target.username) {
                return Ok(users_page(&state, &ctx, Some(Err(m))).await?.into_response());
            }
            let hash = tokio::task::spawn_blocking(move || accounts::hash_password(&password)).await.map_err(|e| WebError::Internal(e.into()))?;
            state.store.update_user(id, None, Some(&hash), &audit).await?
        }
        _ => return Err(WebError::BadRequest("unknown action".into())),
    }
    Ok(Redirect::to("/admin/users").into_response())
}

// ----- API tokens -----

/// API tokens of the users inside the administrator's region: list, make (shown once), revoke.
pub async fn tokens(state: State, ctx: Ctx) -> WebResult<Markup> {
    ctx.require(Permission::ManageUsers)?;
    tokens_page(&state, &ctx, None).await
}

async fn tokens_page(state: &State, ctx: &Ctx, message: Option<Result<String, String>>) -> WebResult<Markup> {
    let list = state.store.api_tokens(ctx.user.region).await?;
    let body = html! {
        p.muted { (ctx.t("机器客户端（医院信息系统、医保或民政的数据交换）以 Authorization: Bearer 令牌调用 JSON 接口，权限与所属用户的角色、区划完全相同。令牌只在创建时显示一次。",
            "Machine clients call the JSON API with Authorization: Bearer <token>, with exactly the rights of the token's user. A token is shown once, when made.")) }
        @match &message {
            Some(Ok(token)) => div.alert.ok role="status" { (ctx.t("新令牌（请立即复制，关闭后无法再次查看）：", "New token (copy it now, it is not shown again): ")) code.mono { (token) } },
            Some(Err(m)) => p.alert.error role="alert" { (m) },
            None => {},
        }
        table.card {
            thead { tr { th { "#" } th { (ctx.t("名称", "Name")) } th { (ctx.t("用户", "User")) } th { (ctx.t("创建", "Made")) } th { (ctx.t("到期", "Expires")) } th { (ctx.t("状态", "State")) } th {} } }
            tbody { @for t in &list { tr class=(if t.revoked_at.is_some() { "exited" } else { "" }) {
                td.mono { (t.id) } td { (t.name) } td.mono { (t.username) }
                td.small { (t.created_by) " " (t.created_at.get(..10).unwrap_or("")) } td.small { (t.expires_at.get(..10).unwrap_or("")) }
                td { @if t.revoked_at.is_some() { span.badge { (ctx.t("已撤销", "Revoked")) } } @else { span.badge.ok { (ctx.t("有效", "Active")) } } }
                td.actions { @if t.revoked_at.is_none() {
                    form.inline method="post" action=(format!("/admin/tokens/{}/revoke", t.id)) { (csrf(ctx)) button { (ctx.t("撤销", "Revoke")) } }
                } }
            } } }
        }
        h2 { (ctx.t("新建令牌", "New token")) }
        form.card.grid method="post" action="/admin/tokens" {
            (csrf(ctx))
            label { (ctx.t("用户名（令牌代表的用户）", "User name (the token acts as)")) input name="username" required; }
            label { (ctx.t("名称（用途）", "Name (what it is for)")) input name="name" required maxlength="64"; }
            label { (ctx.t("有效期（天）", "Valid for (days)")) input name="days" value="365" inputmode="numeric" required; }
            button.primary type="submit" { (ctx.t("创建", "Create")) }
        }
    };
    Ok(layout::page(ctx, ctx.t("API 令牌", "API tokens"), "/admin/users", body))
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    username: String,
    name: String,
    days: String,
}

pub async fn create_token(state: State, ctx: Ctx, Form(f): Form<TokenForm>) -> WebResult<Markup> {
    ctx.check_csrf(&f.csrf)?;
    ctx.require(Permission::ManageUsers)?;
    let user = state.store.users_within(ctx.user.region).await?.into_iter().find(|u| u.username == f.username.trim());
    let message = match (user, f.days.trim().parse::<i64>()) {
        (None, _) => Err(format!("用户「{}」不存在或不在您的管辖范围内", f.username.trim())),
        (_, Err(_)) => Err("有效期应为天数".to_string()),
        (Some(user), Ok(days)) => accounts::issue_api_token(&state.store, &user, &f.name, days, &ctx.audit("token.create", "", "")).await,
    };
    tokens_page(&state, &ctx, Some(message)).await
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

pub async fn revoke_token(state: State, ctx: Ctx, Path(id): Path<i64>, Form(f): Form<CsrfForm>) -> WebResult<Response> {
    ctx.check_csrf(&f.csrf)?;
    ctx.require(Permission::ManageUsers)?;
    state.store.revoke_api_token(id, ctx.user.region, &ctx.audit("token.revoke", format!("token {id}"), "")).await?;
    Ok(Redirect::to("/admin/tokens").into_response())
}
