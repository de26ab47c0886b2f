//! The web application: server-rendered pages (zh-CN by default, English on request), sessions,
//! roles and regions, CSRF protection, security headers, and the audit log of every view of a
//! person's data, every write, every export and every login.
//!
//! `Server::build` binds the listener first, so a test can start the whole application on port 0
//! and read the port back.

mod admin;
mod audit_page;
mod auth;
mod charts;
mod dashboard_page;
mod contract_page;
mod error;
mod exchange_page;
mod fhir_page;
mod openapi;
mod params;
mod health_page;
mod import_page;
mod layout;
mod monitoring_page;
mod offline;
mod registry;
mod settlement_page;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use huimin_store::Store;

pub use auth::SESSION_COOKIE;
pub use error::WebError;

/// The OpenAPI document of the JSON API, as `/api/openapi.json` serves it.
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(&openapi::document()).unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    /// Where uploaded files wait between preview and confirmation.
    pub upload_dir: std::path::PathBuf,
    /// Send cookies with `Secure` (when served over HTTPS, e.g. behind a proxy).
    pub secure_cookies: bool,
}

pub(crate) struct AppState {
    pub store: Store,
    pub config: Config,
    /// The settlement policies, parsed; replaced when a policy is loaded.
    pub policies: tokio::sync::RwLock<huimin_app::settlement::PolicySet>,
    /// The disease catalogues in force; replaced when a county loads its extension.
    pub catalog: tokio::sync::RwLock<Arc<huimin_domain::Catalogues>>,
    /// Regions and years whose township figures a reader found unstored, for the job that
    /// stores them (`dashboard_page::nightly_figures`).
    pub figures_wanted: tokio::sync::mpsc::Sender<(huimin_domain::RegionCode, i32)>,
    pub login_throttle: auth::LoginThrottle,
}

pub(crate) type State = axum::extract::State<Arc<AppState>>;

impl AppState {
    pub async fn catalogues(&self) -> Arc<huimin_domain::Catalogues> {
        self.catalog.read().await.clone()
    }
}

pub struct Server {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl Server {
    pub async fn build(store: Store, config: Config) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let (state, wanted) = app_state(store, config).await?;
        tokio::spawn(dashboard_page::nightly_figures(state.clone(), wanted));
        tokio::spawn(audit_page::checkpoints(state.store.clone()));
        tokio::spawn(import_page::sweep_uploads(state.config.upload_dir.clone()));
        Ok(Server { listener, router: router(state) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    pub async fn run(self) -> std::io::Result<()> {
        axum::serve(self.listener, self.router.into_make_service_with_connect_info::<SocketAddr>()).await
    }
}

/// The whole application as a router (for tests that drive it without a socket, they must add
/// a `ConnectInfo<SocketAddr>` extension to each request).
pub async fn app(store: Store, config: Config) -> anyhow::Result<Router> {
    Ok(router(app_state(store, config).await?.0))
}

type FiguresWanted = tokio::sync::mpsc::Receiver<(huimin_domain::RegionCode, i32)>;

async fn app_state(store: Store, config: Config) -> anyhow::Result<(Arc<AppState>, FiguresWanted)> {
    let policies = tokio::sync::RwLock::new(huimin_app::settlement::PolicySet::load(&store).await?);
    let catalog = tokio::sync::RwLock::new(Arc::new(huimin_app::health::catalog(&store).await?));
    let (figures_wanted, wanted) = tokio::sync::mpsc::channel(16);
    Ok((Arc::new(AppState { store, config, policies, catalog, figures_wanted, login_throttle: Default::default() }), wanted))
}

/// The largest request body: a form, a JSON request, a policy or catalogue file.
const BODY_LIMIT: usize = 1 << 20;
/// A roster file (uploaded on the import page or to `POST /api/roster`).
const ROSTER_LIMIT: usize = 64 << 20;

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(registry::home))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/lang/{lang}", get(auth::set_lang))
        .route("/account/password", get(auth::password_page).post(auth::change_password))
        .route("/api/account/password", post(auth::api_change_password))
        .route("/regions", get(registry::regions))
        .route("/households", get(registry::households))
        .route("/households/{no}", get(registry::household_file))
        .route("/households/{no}/economics", post(registry::record_economics))
        .route("/persons/{id}/reveal", post(registry::reveal_id_number))
        .route("/households/{no}/health", get(health_page::household_health))
        .route("/households/{no}/card", get(health_page::benefit_card))
        .route("/households/{no}/card.pdf", get(health_page::benefit_card_pdf))
        .route("/regions/{code}/cards", get(health_page::village_cards))
        .route("/persons/{id}/cards", post(health_page::save_card))
        .route("/persons/{id}/exams", post(health_page::save_exam))
        .route("/persons/{id}/reveal-health", post(health_page::reveal_health))
        .route("/screening", get(health_page::campaigns).post(health_page::create_campaign))
        .route("/screening/{id}", get(health_page::campaign))
        .route("/screening/{id}/households/{no}", post(health_page::record_screening))
        .route("/batches", get(health_page::batches))
        .route("/batches/{id}", post(health_page::override_batch))
        .route("/treatment", get(health_page::ledger))
        .route("/treatment/{id}", post(health_page::update_treatment))
        .route("/catalog", get(health_page::catalog_page).post(health_page::upload_catalog))
        .route("/teams", get(contract_page::teams).post(contract_page::create_team))
        .route("/teams/rule", post(contract_page::set_rule))
        .route("/teams/{id}/members", post(contract_page::add_member))
        .route("/contracts", get(contract_page::contracts_page).post(contract_page::sign))
        .route("/contracts/renew", post(contract_page::renew))
        .route("/worklist", get(contract_page::worklist))
        .route("/followups", post(contract_page::record))
        .route("/followups/new", get(contract_page::new_follow_up))
        .route("/followups/abnormal", get(contract_page::abnormal))
        .route("/persons/{id}/key-groups", post(contract_page::add_key_group))
        .route("/api/openapi.json", get(openapi::serve))
        .route("/fhir/metadata", get(fhir_page::metadata))
        .route("/fhir/Patient/{id}", get(fhir_page::patient))
        .route("/fhir/Patient/{id}/$everything", get(fhir_page::patient_everything))
        .route("/fhir/Claim/{no}", get(fhir_page::claim))
        .route("/fhir/Coverage/{rid}", get(fhir_page::coverage))
        .route("/fhir/Condition/{rid}", get(fhir_page::condition))
        .route("/fhir/Encounter/{rid}", get(fhir_page::encounter))
        .route("/fhir/CarePlan/{rid}", get(fhir_page::care_plan))
        .route("/fhir/ExplanationOfBenefit/{rid}", get(fhir_page::explanation))
        .route("/fhir/ExplanationOfBenefit", get(fhir_page::explanations))
        .route("/fhir/export", get(fhir_page::export))
        .route("/fhir/$export", get(fhir_page::export_operation))
        .route("/fhir/OperationDefinition/export", get(fhir_page::export_definition))
        .route("/api/regions", get(registry::api_regions))
        .route("/api/households", get(registry::api_households))
        .route("/api/roster", post(import_page::api_roster).layer(axum::extract::DefaultBodyLimit::max(ROSTER_LIMIT)))
        .route("/api/exchange/{kind}", get(exchange_page::download))
        .route("/exchange", get(exchange_page::page))
        .route("/api/households/{no}", get(registry::api_household))
        .route("/api/facilities", get(registry::api_facilities))
        .route("/api/worklist", get(contract_page::api_worklist))
        .route("/api/indicators", get(dashboard_page::api_indicators))
        .route("/api/dashboard/refresh", post(dashboard_page::api_refresh))
        .route("/api/targets", get(dashboard_page::api_targets).post(dashboard_page::api_set_target))
        .route("/api/audit", get(audit_page::api_search))
        .route("/api/screening", get(health_page::api_campaigns).post(health_page::api_create_campaign))
        .route("/api/batches/{id}", post(health_page::api_override_batch))
        .route("/api/claims", get(settlement_page::api_claims))
        .route("/api/policies", get(settlement_page::api_policies).post(settlement_page::api_load_policy))
        .route("/api/policies/{id}/simulate", get(settlement_page::api_simulate))
        .route("/api/claims/over-ceiling", get(dashboard_page::api_over_ceiling))
        .route("/api/persons-at-cap", get(dashboard_page::api_at_cap))
        .route("/api/reconciliation", get(dashboard_page::api_reconciliation))
        .route("/api/contracts", get(contract_page::api_contracts).post(contract_page::api_sign))
        .route("/api/contracts/renew", post(contract_page::api_renew))
        .route("/api/teams", get(contract_page::api_teams).post(contract_page::api_create_team))
        .route("/api/teams/rule", post(contract_page::api_set_rule))
        .route("/api/teams/{id}/members", post(contract_page::api_add_member))
        .route("/api/persons/{id}/key-groups", post(contract_page::api_add_key_group))
        .route("/api/persons/{id}/exams", post(health_page::api_save_exam))
        .route("/api/persons/{id}/reveal", post(registry::api_reveal_id_number))
        .route("/api/persons/{id}/reveal-health", post(health_page::api_reveal_health))
        .route("/api/catalog", get(health_page::api_catalog).post(health_page::api_load_catalog))
        .route("/api/users", get(admin::api_users).post(admin::api_create_user))
        .route("/api/screening/{id}/households/{no}", post(health_page::api_record_screening))
        .route("/api/treatment/{id}", post(health_page::api_update_treatment))
        .route("/dashboard", get(dashboard_page::dashboard))
        .route("/dashboard/method", get(dashboard_page::method))
        .route("/dashboard/refresh", post(dashboard_page::refresh))
        .route("/dashboard/over-ceiling", get(dashboard_page::over_ceiling))
        .route("/dashboard/caps", get(dashboard_page::at_cap))
        .route("/dashboard/targets", get(dashboard_page::targets).post(dashboard_page::set_target))
        .route("/reports/claims.xlsx", get(dashboard_page::claims_report))
        .route("/reports/monthly.xlsx", get(dashboard_page::monthly_report))
        .route("/reports/monitoring.xlsx", get(dashboard_page::monitoring_report))
        .route("/reports/screening/{id}", get(dashboard_page::screening_report))
        .route("/reconciliation", get(dashboard_page::reconciliation))
        .route("/reconciliation.xlsx", get(dashboard_page::reconciliation_xlsx))
        .route("/api/followups", post(contract_page::api_record))
        .route("/api/households/{no}/health", get(health_page::api_health))
        .route("/api/persons/{id}/cards", post(health_page::api_save_card))
        .route("/api/screening/{id}/progress", get(health_page::api_progress))
        .route("/api/batches", get(health_page::api_batches))
        .route("/api/treatment", get(health_page::api_ledger))
        .route("/facilities", get(registry::facilities))
        .route("/import", get(import_page::form).post(import_page::preview).layer(axum::extract::DefaultBodyLimit::max(ROSTER_LIMIT)))
        .route("/import/template.xlsx", get(import_page::template))
        .route("/import/{token}/apply", post(import_page::apply))
        .route("/import/{token}/errors.xlsx", get(import_page::error_report))
        .route("/settlement", get(settlement_page::window))
        .route("/settlement/new", get(settlement_page::new_claim))
        .route("/settlement/preview", post(settlement_page::preview).get(settlement_page::back_to_window))
        .route("/settlement/confirm", post(settlement_page::confirm).get(settlement_page::back_to_window))
        .route("/settlement/claims", get(settlement_page::claims))
        .route("/settlement/verify", get(settlement_page::verify))
        .route("/settlement/exceptions", get(settlement_page::exceptions).post(settlement_page::approve_exception))
        .route("/settlement/claims/{no}", get(settlement_page::bill_page))
        .route("/settlement/claims/{no}/bill.pdf", get(settlement_page::bill_pdf))
        .route("/settlement/claims/{no}/reverse", post(settlement_page::reverse))
        .route("/policies", get(settlement_page::policies).post(settlement_page::upload_policy))
        .route("/policies/template.toml", get(settlement_page::policy_template))
        .route("/policies/{id}/simulate", get(settlement_page::simulate))
        .route("/api/settlements", post(settlement_page::api_settle))
        .route("/api/settlements/{no}", get(settlement_page::api_claim))
        .route("/api/settlements/{no}/reverse", post(settlement_page::api_reverse))
        .route("/static/app.js", get(script))
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route("/admin/users/{id}", post(admin::update_user))
        .route("/admin/tokens", get(admin::tokens).post(admin::create_token))
        .route("/admin/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/audit", get(audit_page::search))
        .route("/static/app.css", get(stylesheet))
        .route("/static/offline.js", get(offline::script))
        .route("/static/icon.svg", get(offline::icon))
        .route("/offline", get(offline::shell))
        .route("/sw.js", get(offline::service_worker))
        .route("/manifest.webmanifest", get(offline::manifest))
        .route("/api/offline/pack", get(offline::api_pack))
        .route("/monitoring", get(monitoring_page::warnings))
        .route("/monitoring/rules", get(monitoring_page::rules_page).post(monitoring_page::simulate_page))
        .route("/monitoring/{id}", get(monitoring_page::warning_page))
        .route("/monitoring/{id}/steps", post(monitoring_page::take_step))
        .route("/monitoring/{id}/notice", get(monitoring_page::notice))
        .route("/api/warnings/{id}/steps", post(monitoring_page::api_take_step))
        .route("/api/warnings", get(monitoring_page::api_warnings))
        .route("/api/households/{no}/economics", post(monitoring_page::api_record_economics))
        .route("/api/warning-rules", post(monitoring_page::api_load_rules))
        .route("/api/warning-rules/simulate", post(monitoring_page::api_simulate))
        .route("/api/households/{no}/leads", post(monitoring_page::api_report_lead))
        .route("/households/{no}/leads", post(monitoring_page::report_lead))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { WebError::NotFound })
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(state.clone(), error::framed_errors))
        .layer(axum::middleware::from_fn(error::machine_errors))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], include_str!("../assets/app.js"))
}

async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], include_str!("../assets/app.css"))
}

/// Headers on every response: no framing, no sniffing, no outside resources, and no caching of
/// pages that carry personal data.
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "same-origin");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    res
}
