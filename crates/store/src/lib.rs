//! Persistence for Huimin: one `Store` over SQLite (bundled, the default) or PostgreSQL, chosen by
//! the database URL. Both backends run the same queries: placeholders are `$n`, integers are
//! 64-bit, dates are ISO text, flags are 0/1. Each backend has its own embedded migrations.

mod access;
mod audit_key;
mod batch;
mod bill_text;
mod contracts;
pub mod county;
mod disclose;
mod health;
mod indicators;
mod monitoring;
mod registry;
mod rollup;
mod settlement;
mod sqlite_writer;
mod tx;
pub mod testing;

use std::path::Path;

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, install_default_drivers};
use sqlx::ConnectOptions;
use sqlx::{AnyPool, Executor};

pub use audit_key::{AuditKey, Checkpoint};
pub use access::{ApiToken, AuditEntry, AuditFilter, AuditRecord, AuditVerification, NewUser, User};
pub use contracts::*;
pub use health::*;
pub use indicators::*;
pub use monitoring::*;
pub use registry::*;
pub use settlement::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("{0}")]
    Conflict(String),
    /// The stay is settled already (the same claim, or an overlapping stay of the person):
    /// `claim_no` is the bill that holds it.
    #[error("{message}")]
    AlreadySettled { claim_no: String, message: String },
    #[error("{0} not found")]
    NotFound(String),
    /// A write the domain refused (the message is for the user).
    #[error("{0}")]
    Refused(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Migrations, in order; each runs once, in a transaction, and is recorded in `schema_migrations`.
/// Kept as plain SQL files per backend so a DBA can read exactly what runs.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "registry",
        include_str!("../migrations/sqlite/0001_registry.sql"),
        include_str!("../migrations/postgres/0001_registry.sql"),
    ),
    (
        2,
        "access",
        include_str!("../migrations/sqlite/0002_access.sql"),
        include_str!("../migrations/postgres/0002_access.sql"),
    ),
    (
        3,
        "append_only",
        include_str!("../migrations/sqlite/0003_append_only.sql"),
        include_str!("../migrations/postgres/0003_append_only.sql"),
    ),
    (
        4,
        "settlement",
        include_str!("../migrations/sqlite/0004_settlement.sql"),
        include_str!("../migrations/postgres/0004_settlement.sql"),
    ),
    (5, "health", include_str!("../migrations/sqlite/0005_health.sql"), include_str!("../migrations/postgres/0005_health.sql")),
    (6, "contracts", include_str!("../migrations/sqlite/0006_contracts.sql"), include_str!("../migrations/postgres/0006_contracts.sql")),
    (7, "indicators", include_str!("../migrations/sqlite/0007_indicators.sql"), include_str!("../migrations/postgres/0007_indicators.sql")),
    (8, "rollups", include_str!("../migrations/sqlite/0008_rollups.sql"), include_str!("../migrations/postgres/0008_rollups.sql")),
    (9, "api_tokens", include_str!("../migrations/sqlite/0009_api_tokens.sql"), include_str!("../migrations/postgres/0009_api_tokens.sql")),
    (10, "audit_keyed", include_str!("../migrations/sqlite/0010_audit_keyed.sql"), include_str!("../migrations/postgres/0010_audit_keyed.sql")),
    (11, "password_change", include_str!("../migrations/sqlite/0011_password_change.sql"), include_str!("../migrations/postgres/0011_password_change.sql")),
    (12, "catalog_scope", include_str!("../migrations/sqlite/0012_catalog_scope.sql"), include_str!("../migrations/postgres/0012_catalog_scope.sql")),
    (13, "claims_by_stay", include_str!("../migrations/sqlite/0013_claims_by_stay.sql"), include_str!("../migrations/postgres/0013_claims_by_stay.sql")),
    (14, "stay_exceptions", include_str!("../migrations/sqlite/0014_stay_exceptions.sql"), include_str!("../migrations/postgres/0014_stay_exceptions.sql")),
    (15, "no_stay_index", include_str!("../migrations/sqlite/0015_no_stay_index.sql"), include_str!("../migrations/postgres/0015_no_stay_index.sql")),
    (16, "revisions", include_str!("../migrations/sqlite/0016_revisions.sql"), include_str!("../migrations/postgres/0016_revisions.sql")),
    (17, "burden", include_str!("../migrations/sqlite/0017_burden.sql"), include_str!("../migrations/postgres/0017_burden.sql")),
    (18, "monitoring", include_str!("../migrations/sqlite/0018_monitoring.sql"), include_str!("../migrations/postgres/0018_monitoring.sql")),
    (19, "recognition", include_str!("../migrations/sqlite/0019_recognition.sql"), include_str!("../migrations/postgres/0019_recognition.sql")),
    (20, "leads", include_str!("../migrations/sqlite/0020_leads.sql"), include_str!("../migrations/postgres/0020_leads.sql")),
    (21, "county_rollup", include_str!("../migrations/sqlite/0021_county_rollup.sql"), include_str!("../migrations/postgres/0021_county_rollup.sql")),
    (22, "county_keys", include_str!("../migrations/sqlite/0022_county_keys.sql"), include_str!("../migrations/postgres/0022_county_keys.sql")),
];

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time. Writers queue here instead of in SQLite's busy handler,
    /// which sleeps in growing steps and made latency spike under load.
    write_gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// SQLite only: the thread that writes settlements (see `sqlite_writer`).
    writer: Option<sqlite_writer::Writer>,
    /// The audit log's key (see `audit_key`); `None`: entries carry no MAC.
    audit_key: Option<std::sync::Arc<AuditKey>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish()
    }
}

impl Store {
    /// Opens (creating a SQLite file and its folder if needed) and migrates the database. The
    /// audit key is the file `HUIMIN_AUDIT_KEY_FILE` names, or on SQLite `PATH.audit-key`
    /// beside the database (made when missing); on PostgreSQL without that variable the audit
    /// log carries no MAC.
    pub async fn connect(url: &str) -> Result<Store> {
        let key_file = std::env::var_os("HUIMIN_AUDIT_KEY_FILE").map(std::path::PathBuf::from);
        Store::connect_with_audit_key(url, key_file).await
    }

    /// [`Store::connect`] with the audit key file given (`None`: the default beside a SQLite file).
    pub async fn connect_with_audit_key(url: &str, key_file: Option<std::path::PathBuf>) -> Result<Store> {
        install_default_drivers();
        // SQLite's durability: FULL (default) makes every commit survive a power cut, at an
        // fsync per commit (settlements share one per group); NORMAL
        // (`sqlite://PATH?synchronous=normal`) survives a crash of the program but may lose the
        // last commits on a power cut.
        let mut synchronous = "FULL";
        let mut sqlite_path = None;
        let (backend, url) = if let Some((path, query)) = sqlite_parts(url) {
            for param in query.split('&').filter(|p| !p.is_empty()) {
                match param.to_ascii_lowercase().as_str() {
                    "synchronous=full" => synchronous = "FULL",
                    "synchronous=normal" => synchronous = "NORMAL",
                    _ => return Err(StoreError::UnsupportedUrl(format!("{url} (unknown option {param})"))),
                }
            }
            if path != ":memory:" {
                if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| sqlx::Error::Io(e))?;
                }
            }
            // Even reading needs the WAL's shared-memory file: an unwritable file or folder is
            // said plainly here rather than as the pool's "attempt to write a readonly database".
            if std::fs::exists(path).unwrap_or(false) {
                sqlite_files_writable(path)?;
                owner_only(path);
            }
            sqlite_path = Some(path.to_string());
            (Backend::Sqlite, format!("sqlite://{path}?mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let checkpointed = sqlite_path.as_deref().is_some_and(|p| p != ":memory:");
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { postgres_pool_size()? })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers go on while one writer writes.
                        let pragmas = format!(
                            "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
                             PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY; \
                             PRAGMA journal_size_limit = {}; {}",
                            sqlite_writer::WAL_LIMIT,
                            // With a writer thread, its checkpointer keeps the WAL short.
                            if checkpointed { "PRAGMA wal_autocheckpoint = 0;" } else { "" }
                        );
                        conn.execute(pragmas.as_str()).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(AnyConnectOptions::from_str(&url)?.disable_statement_logging())
            .await?;
        let mut store = Store { pool, backend, write_gate: Default::default(), writer: None, audit_key: None };
        store.migrate().await?;
        let key_file = key_file.or_else(|| sqlite_path.as_deref().filter(|p| *p != ":memory:").map(default_audit_key));
        if let Some(path) = key_file {
            store.audit_key = Some(std::sync::Arc::new(store.open_audit_key(&path).await?));
        }
        if let Some(path) = sqlite_path.filter(|p| p != ":memory:") {
            store.writer = Some(sqlite_writer::Writer::open(&path, synchronous, store.write_gate.clone(), store.audit_key.clone())?);
        }
        Ok(store)
    }

    /// Checks that every write can be stored, before a server says it has started: a write
    /// transaction succeeds. (The files of a SQLite database were checked when it was opened.)
    /// The error says what is wrong.
    pub async fn check_writable(&self) -> Result<()> {
        let mut tx = self.begin_write().await.map_err(|e| StoreError::Refused(format!("数据库不可写：{e}")))?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(-1_i64)
            .bind("write check")
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::Refused(format!("数据库不可写：{e}")))?;
        drop(tx);
        Ok(())
    }

    /// Held for the length of a write transaction on SQLite; nothing on PostgreSQL.
    pub(crate) async fn write_gate(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.backend {
            Backend::Sqlite => Some(self.write_gate.clone().lock_owned().await),
            Backend::Postgres => None,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// PostgreSQL: refreshes the planner's statistics of tables a bulk write of `written` rows
    /// has just filled (from `batch::IN_LIST` rows up: a form's few rows leave them as they were).
    /// Until they are analyzed PostgreSQL plans from no statistics at all (autovacuum may be
    /// off, and runs late when on): a township's spending, summed in 23 ms once its tables were
    /// analyzed, took 75 s before. Run as the tables' owner; for another role PostgreSQL skips
    /// the tables with a warning and autovacuum is left to do it.
    pub(crate) async fn analyze(&self, written: usize, tables: &[&str]) -> Result<()> {
        if self.backend == Backend::Postgres && written >= batch::IN_LIST {
            sqlx::query(&format!("ANALYZE {}", tables.join(", "))).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Applies the migrations not yet applied; returns how many ran.
    pub async fn migrate(&self) -> Result<usize> {
        // Created only when missing: the server's PostgreSQL role may not create tables
        // (crates/store/sql/postgres-app-role.sql), even with IF NOT EXISTS.
        let exists = match self.backend {
            Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            Backend::Postgres => "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'",
        };
        if sqlx::query_scalar::<_, i64>(exists).fetch_one(&self.pool).await? == 0 {
            sqlx::query("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)").execute(&self.pool).await?;
        }
        let mut ran = 0;
        for (version, name, sqlite, postgres) in MIGRATIONS {
            let mut tx = self.begin_write().await?;
            let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_some() {
                continue;
            }
            let sql = if self.backend == Backend::Sqlite { sqlite } else { postgres };
            tx.execute(sqlx::raw_sql(sql)).await?;
            if *version == 17 {
                // The burden of the claims settled before, from their bills, in the same transaction.
                rollup::burden_of_settled_claims(&mut tx, self.backend).await?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(*version)
                .bind(*name)
                .bind(now())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version, name, "migration applied");
            ran += 1;
        }
        Ok(ran)
    }
}

/// What the server's PostgreSQL role may do: read and write, append to the audit log and the
/// registry's history, never change or delete them (run by the tables' owner).
pub const POSTGRES_APP_ROLE: &str = include_str!("../sql/postgres-app-role.sql");

/// The path and the options of a SQLite URL (`sqlite://PATH?…` or `sqlite:PATH`); `None` for
/// any other.
fn sqlite_parts(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    Some(rest.split_once('?').unwrap_or((rest, "")))
}

/// The audit key of a SQLite database, beside it.
fn default_audit_key(db_path: &str) -> std::path::PathBuf {
    format!("{db_path}.audit-key").into()
}

/// Every file of the SQLite database a URL names — the database, its WAL and shared memory, its
/// audit key and checkpoints (to start afresh or to back up); `None` for PostgreSQL.
pub fn sqlite_files(url: &str) -> Option<Vec<std::path::PathBuf>> {
    let (path, _) = sqlite_parts(url)?;
    let key = default_audit_key(path);
    Some(vec![path.into(), format!("{path}-wal").into(), format!("{path}-shm").into(), audit_key::checkpoints_of(&key), key])
}

/// Connections to a PostgreSQL server: `HUIMIN_PG_POOL` (1 to 1,000), 10 when unset. A server is
/// busiest with about twice its cores in queries at once (docs/scaling.md); more connections only
/// queue inside it.
fn postgres_pool_size() -> Result<u32> {
    match std::env::var("HUIMIN_PG_POOL") {
        Err(_) => Ok(10),
        Ok(v) => v.trim().parse::<u32>().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| StoreError::Refused(format!("HUIMIN_PG_POOL={v}: a number of connections from 1 to 1000"))),
    }
}

/// Makes the PostgreSQL database `url` names if its server has none of that name (through the
/// server's `postgres` database); true when it was made.
pub async fn create_database_if_missing(url: &str) -> Result<bool> {
    let (base, name) = url.rsplit_once('/').ok_or_else(|| StoreError::Refused("a PostgreSQL URL ends with a database name".into()))?;
    let name = name.split('?').next().unwrap_or(name);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(StoreError::Refused(format!("database name {name}: lower-case letters, digits and _")));
    }
    install_default_drivers();
    let admin = AnyPoolOptions::new().max_connections(1).connect(&format!("{base}/postgres")).await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1").bind(name).fetch_optional(&admin).await?;
    if exists.is_none() {
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await?;
    }
    admin.close().await;
    Ok(exists.is_none())
}

/// A scratch database for a benchmark run: a new SQLite file `name.db` in `dir`, or, when `server`
/// is a PostgreSQL URL, a new database `name` on that server (dropped first if left by an earlier
/// run). Returns its URL; [`drop_scratch`] removes it.
pub async fn scratch_database(server: Option<&str>, dir: &Path, name: &str) -> Result<String> {
    let Some(server) = server.filter(|u| u.starts_with("postgres")) else {
        return Ok(format!("sqlite://{}", dir.join(format!("{name}.db")).display()));
    };
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(StoreError::Refused(format!("scratch database name {name}")));
    }
    install_default_drivers();
    let admin = AnyPoolOptions::new().max_connections(1).connect(server).await?;
    admin.execute(format!("DROP DATABASE IF EXISTS {name}").as_str()).await?;
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await?;
    admin.close().await;
    let (base, _) = server.rsplit_once('/').ok_or_else(|| StoreError::Refused("a PostgreSQL URL ends with a database name".into()))?;
    Ok(format!("{base}/{name}"))
}

/// Removes a scratch database made by [`scratch_database`] (its store closed first).
pub async fn drop_scratch(server: Option<&str>, url: &str) -> Result<()> {
    match server.filter(|u| u.starts_with("postgres")) {
        None => {
            for f in sqlite_files(url).unwrap_or_default() {
                let _ = std::fs::remove_file(f);
            }
        }
        Some(server) => {
            let name = url.rsplit_once('/').map_or(url, |(_, n)| n);
            let admin = AnyPoolOptions::new().max_connections(1).connect(server).await?;
            // FORCE: a connection the closed pool has not finished ending would refuse the drop.
            admin.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await?;
            admin.close().await;
        }
    }
    Ok(())
}

/// A database file readable by others (made before Huimin made its files owner-only) becomes 0600.
fn owner_only(path: &str) {
    #[cfg(unix)]
    for file in [path.to_string(), format!("{path}-wal"), format!("{path}-shm")] {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(&file) {
            if m.permissions().mode() & 0o077 != 0 {
                if let Err(e) = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                    tracing::warn!(file, error = %e, "the database file is readable by others");
                }
            }
        }
    }
}

/// A SQLite database's files and folder can be written (see [`Store::check_writable`]).
fn sqlite_files_writable(path: &str) -> Result<()> {
    if path == ":memory:" {
        return Ok(());
    }
    let refuse = |what: String, e: std::io::Error| StoreError::Refused(format!("{what}不可写（{e}）：请检查磁盘和文件权限"));
    for file in [path.to_string(), format!("{path}-wal"), format!("{path}-shm")] {
        match std::fs::OpenOptions::new().write(true).open(&file) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(refuse(format!("数据库文件 {file} "), e)),
        }
    }
    let dir = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    tempfile::tempfile_in(dir).map_err(|e| refuse(format!("数据库所在目录 {} ", dir.display()), e))?;
    Ok(())
}

/// The current time as RFC 3339 text, as stored in `*_at` columns. Microseconds: the order of
/// settlements and reversals is replayed from these times (bulk exchange), and several happen
/// within a millisecond.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
