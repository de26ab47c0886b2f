//! Fresh databases for tests on both backends.
//!
//! SQLite runs everywhere. PostgreSQL runs when `HUIMIN_TEST_POSTGRES` holds the URL of a server
//! database the tests may create databases from (`scripts/test` and `.ci/run` set it); without it
//! the PostgreSQL half of a test is skipped with a loud warning, and with `HUIMIN_REQUIRE_POSTGRES=1`
//! (set in CI) a missing server fails the run instead.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Executor;
use sqlx::any::AnyPoolOptions;

use crate::{Backend, Store};

/// A store on a database of its own; the SQLite file lives as long as this value.
pub struct TestDb {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for TestDb {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}", dir.path().join("huimin.db").display());
    let store = Store::connect_with_audit_key(&url, None).await.expect("open SQLite test database");
    TestDb { store, _dir: Some(dir) }
}

/// A fresh PostgreSQL database, or `None` (after a warning) when no server is configured.
pub async fn postgres() -> Option<TestDb> {
    let url = postgres_url().await?;
    // The audit key lives outside the database, as in production.
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = Store::connect_with_audit_key(&url, Some(dir.path().join("audit.key"))).await.expect("open PostgreSQL test database");
    assert_eq!(store.backend(), Backend::Postgres);
    Some(TestDb { store, _dir: Some(dir) })
}

/// The URL of a fresh, empty PostgreSQL database (for tests that run the binary), or `None`
/// (after a warning) when no server is configured.
pub async fn postgres_url() -> Option<String> {
    let Ok(admin_url) = std::env::var("HUIMIN_TEST_POSTGRES") else {
        if std::env::var("HUIMIN_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("HUIMIN_REQUIRE_POSTGRES=1 but HUIMIN_TEST_POSTGRES is not set");
        }
        eprintln!("\n*** WARNING: PostgreSQL tests SKIPPED: set HUIMIN_TEST_POSTGRES=postgres://user@host/db ***\n");
        return None;
    };
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "huimin_test_{}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::any::install_default_drivers();
    let admin = AnyPoolOptions::new().max_connections(1).connect(&admin_url).await.expect("connect to HUIMIN_TEST_POSTGRES");
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create test database");
    admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').expect("URL with a database name");
    Some(format!("{base}/{name}"))
}

/// Runs an async test body once on SQLite and once on PostgreSQL (when configured).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident($db:ident) $body:block)+) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($db: $crate::testing::TestDb) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run($crate::testing::sqlite().await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(db) = $crate::testing::postgres().await {
                        run(db).await;
                    }
                }
            }
        )+
    };
}
