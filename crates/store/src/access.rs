//! Users, sessions and the audit log.
//!
//! The audit log is append-only and tamper-evident: each entry stores the SHA-256 of its own
//! fields and of the previous entry's hash, so changing, deleting or reordering any entry breaks
//! the chain from there on (`verify_audit`). Appends first update the single `audit_head` row,
//! which serialises concurrent writers on both backends.

use huimin_domain::{RegionCode, Role};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::tx::WriteTx;

use crate::registry::within;
use crate::{AuditKey, Result, Store, StoreError, now};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub region: RegionCode,
    pub facility_code: Option<String>,
    pub active: bool,
    pub failed_attempts: i64,
    pub locked_until: Option<String>,
    /// The password was set by an administrator: its user changes it before anything else.
    pub must_change_password: bool,
}

/// An API token as listed (never the token itself).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub username: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub region: RegionCode,
    pub facility_code: Option<String>,
    pub password_hash: String,
    /// Set by an administrator (not chosen by the user): to be changed at the first login.
    pub must_change_password: bool,
}

/// Who did what to what, from where. `detail` never holds a full ID number or a diagnosis.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub user_id: Option<i64>,
    pub username: String,
    pub ip: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    /// The region the entry concerns (the acting user's); `None` (the command line): seen by
    /// users of a province only.
    pub region: Option<RegionCode>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: String,
    pub entry: AuditEntry,
    pub hash: String,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub username: Option<String>,
    pub action: Option<String>,
    /// Inclusive RFC 3339 / ISO date prefixes.
    pub from: Option<String>,
    pub to: Option<String>,
    pub target: Option<String>,
    /// Only entries concerning this region (those without a region: for a province only).
    pub region: Option<RegionCode>,
    pub limit: i64,
    pub offset: i64,
}

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditVerification {
    pub entries: i64,
    /// The first entry that does not match, and why.
    pub broken_at: Option<(i64, String)>,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(crate) fn entry_hash(prev: &str, seq: i64, at: &str, e: &AuditEntry) -> String {
    let mut fields = serde_json::json!([prev, seq, at, e.user_id, e.username, e.ip, e.action, e.target, e.detail]);
    // Entries written before entries had a region hash as they did then.
    if let (Some(region), Some(list)) = (e.region, fields.as_array_mut()) {
        list.push(serde_json::Value::String(region.to_string()));
    }
    let digest = Sha256::digest(fields.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends an entry inside the caller's transaction, so the record and the write it records
/// commit together.
pub(crate) const AUDIT_ADVANCE: &str = "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash";
pub(crate) const AUDIT_INSERT: &str = "INSERT INTO audit_log (seq, at, user_id, username, ip, action, target, detail, prev_hash, hash, mac, region_code) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
pub(crate) const AUDIT_HEAD: &str = "UPDATE audit_head SET hash = $1 WHERE id = 1";
/// [`AUDIT_INSERT`] and [`AUDIT_HEAD`] as one statement (PostgreSQL; `$10` is the entry's hash).
static AUDIT_INSERT_AND_HEAD: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("WITH head AS (UPDATE audit_head SET hash = $10 WHERE id = 1) {AUDIT_INSERT}"));

/// The entry as stored: a reason typed with an ID number in it is kept with the number masked.
pub(crate) fn as_stored(e: &AuditEntry) -> std::borrow::Cow<'_, AuditEntry> {
    match huimin_domain::mask_id_numbers(&e.detail) {
        std::borrow::Cow::Borrowed(_) => std::borrow::Cow::Borrowed(e),
        std::borrow::Cow::Owned(detail) => std::borrow::Cow::Owned(AuditEntry { detail, ..e.clone() }),
    }
}

pub(crate) async fn append_audit_in(tx: &mut WriteTx, e: &AuditEntry) -> Result<i64> {
    let e = &*as_stored(e);
    let row = sqlx::query(AUDIT_ADVANCE)
        .fetch_one(&mut **tx)
        .await?;
    let seq: i64 = row.try_get("seq")?;
    let prev: String = row.try_get("hash")?;
    let at = now();
    let hash = entry_hash(&prev, seq, &at, e);
    // PostgreSQL: the entry and the new head in one statement (the head row is locked from the
    // advance to the commit; one round trip less that every writer waits in turn).
    let postgres = tx.backend_name() == "PostgreSQL";
    let insert = if postgres { &*AUDIT_INSERT_AND_HEAD } else { AUDIT_INSERT };
    sqlx::query(insert)
    .bind(seq)
    .bind(&at)
    .bind(e.user_id)
    .bind(&e.username)
    .bind(&e.ip)
    .bind(&e.action)
    .bind(&e.target)
    .bind(&e.detail)
    .bind(&prev)
    .bind(&hash)
    .bind(tx.audit_key.as_ref().map(|k| k.entry_mac(&hash)))
    .bind(e.region.map(|r| r.to_string()))
    .execute(&mut **tx)
    .await?;
    if !postgres {
        sqlx::query(AUDIT_HEAD).bind(&hash).execute(&mut **tx).await?;
    }
    Ok(seq)
}

const USER_COLUMNS: &str = "id, username, display_name, role, region_code, facility_code, active, failed_attempts, locked_until, must_change_password";

fn user_from_row(r: &AnyRow) -> Result<User> {
    let role: String = r.try_get("role")?;
    Ok(User {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        role: Role::from_code(&role).map_err(|e| StoreError::Corrupt(e.0))?,
        region: RegionCode::parse(&r.try_get::<String, _>("region_code")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        facility_code: r.try_get("facility_code")?,
        active: r.try_get::<i64, _>("active")? != 0,
        failed_attempts: r.try_get("failed_attempts")?,
        locked_until: r.try_get("locked_until")?,
        must_change_password: r.try_get::<i64, _>("must_change_password")? != 0,
    })
}

impl Store {
    pub async fn append_audit(&self, e: &AuditEntry) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let seq = append_audit_in(&mut tx, e).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Opens the audit key at `path`, making it when missing — unless entries already carry
    /// MACs (the key file was removed: a new key would hide a recomputed chain).
    pub(crate) async fn open_audit_key(&self, path: &std::path::Path) -> Result<AuditKey> {
        if !path.exists() {
            let keyed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE mac IS NOT NULL").fetch_one(&self.pool).await?;
            if keyed > 0 || crate::audit_key::checkpoints_of(path).exists() {
                return Err(StoreError::Refused(format!(
                    "审计密钥文件 {} 不见了，而审计日志已用它签过（{keyed} 条记录带校验码，或已有检查点）：请找回密钥文件（或设 HUIMIN_AUDIT_KEY_FILE）",
                    path.display()
                )));
            }
        }
        let head: i64 = sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?;
        AuditKey::load_or_create(path, head + 1)
    }

    /// Appends a checkpoint of the audit log's head to the checkpoint file beside the key and
    /// returns its line (`None`: no key, or no entry since the last checkpoint).
    pub async fn audit_checkpoint(&self) -> Result<Option<String>> {
        let Some(key) = &self.audit_key else { return Ok(None) };
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?;
        let (seq, hash): (i64, String) = (row.try_get("seq")?, row.try_get("hash")?);
        key.append_checkpoint(seq, &hash, &now())
    }

    /// Whether the audit log is signed with a key, and where it is.
    pub fn audit_key_path(&self) -> Option<&std::path::Path> {
        self.audit_key.as_ref().map(|k| k.path.as_path())
    }

    /// Recomputes every hash from the first entry on, checks every MAC under the key, and that
    /// every checkpoint's entry is there with the hash it had.
    pub async fn verify_audit(&self) -> Result<AuditVerification> {
        let rows = sqlx::query(
            "SELECT seq, at, user_id, username, ip, action, target, detail, prev_hash, hash, mac, region_code FROM audit_log ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        let entries = rows.len() as i64;
        let broken = |seq: i64, why: String| Ok(AuditVerification { entries, broken_at: Some((seq, why)) });
        let checkpoints = match &self.audit_key {
            Some(key) => key.checkpoints()?,
            None => Vec::new(),
        };
        if let Some(c) = checkpoints.iter().find(|c| !c.valid) {
            return broken(c.seq, format!("检查点文件第 {} 行被改动", c.line));
        }
        let mut checkpoint_at: std::collections::HashMap<i64, Vec<&crate::Checkpoint>> = std::collections::HashMap::new();
        for c in &checkpoints {
            checkpoint_at.entry(c.seq).or_default().push(c);
        }
        let mut prev = GENESIS.to_string();
        let mut expected_seq = 1;
        for r in &rows {
            let rec = audit_from_row(r)?;
            let stored_prev: String = r.try_get("prev_hash")?;
            let mac: Option<String> = r.try_get("mac")?;
            if rec.seq != expected_seq {
                return broken(rec.seq, "序号不连续：有记录被删除或插入".into());
            }
            if stored_prev != prev {
                return broken(rec.seq, "与上一条记录的链接不符".into());
            }
            if entry_hash(&prev, rec.seq, &rec.at, &rec.entry) != rec.hash {
                return broken(rec.seq, "记录内容被改动".into());
            }
            if let Some(key) = &self.audit_key {
                let signed = rec.seq >= key.from_seq;
                match (&mac, signed) {
                    (Some(m), true) if *m == key.entry_mac(&rec.hash) => {}
                    (None, false) => {}
                    (Some(_), false) => return broken(rec.seq, "记录带有校验码，但在密钥启用之前：密钥文件被换过".into()),
                    _ => return broken(rec.seq, "校验码不符：记录被改动后重新计算了哈希链，或被插入".into()),
                }
            }
            if let Some(c) = checkpoint_at.get(&rec.seq).and_then(|cs| cs.iter().find(|c| c.hash != rec.hash)) {
                return broken(rec.seq, format!("与检查点（{}）不符：记录被改动", c.at));
            }
            prev = rec.hash;
            expected_seq += 1;
        }
        let head: String = sqlx::query_scalar("SELECT hash FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?;
        if head != prev {
            return broken(expected_seq, "末尾的记录被删除".into());
        }
        if let Some(key) = &self.audit_key {
            if key.from_seq > expected_seq {
                return broken(expected_seq, format!("密钥启用时已有 {} 条记录，现只有 {entries} 条：记录被删除", key.from_seq - 1));
            }
        }
        if let Some(c) = checkpoints.iter().filter(|c| c.seq > entries).max_by_key(|c| c.seq) {
            return broken(c.seq, format!("检查点（{}）记有第 {} 条，现只有 {entries} 条：记录被删除", c.at, c.seq));
        }
        Ok(AuditVerification { entries, broken_at: None })
    }

    /// Entries matching the filter, newest first.
    pub async fn search_audit(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let mut sql = String::from(
            "SELECT seq, at, user_id, username, ip, action, target, detail, hash, region_code FROM audit_log WHERE 1 = 1",
        );
        let mut args: Vec<String> = Vec::new();
        let mut add = |cond: &str, v: String| {
            args.push(v);
            sql.push_str(&cond.replace('?', &format!("${}", args.len())));
        };
        if let Some(region) = f.region {
            let unassigned = if region.level() == huimin_domain::RegionLevel::Province { " OR region_code IS NULL" } else { "" };
            add(&format!(" AND ((region_code >= ? AND region_code < ? || ':'){unassigned})"), within(region));
        }
        if let Some(u) = f.username.as_ref().filter(|s| !s.is_empty()) {
            add(" AND username = ?", u.clone());
        }
        if let Some(a) = f.action.as_ref().filter(|s| !s.is_empty()) {
            add(" AND action = ?", a.clone());
        }
        if let Some(t) = f.target.as_ref().filter(|s| !s.is_empty()) {
            add(" AND target LIKE ?", format!("%{}%", t.replace(['%', '_'], "")));
        }
        if let Some(from) = f.from.as_ref().filter(|s| !s.is_empty()) {
            add(" AND at >= ?", from.clone());
        }
        if let Some(to) = f.to.as_ref().filter(|s| !s.is_empty()) {
            // A date means the whole day.
            add(" AND at < ?", format!("{to}\u{10FFFF}"));
        }
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT {} OFFSET {}", f.limit.clamp(1, 1000), f.offset.max(0)));
        let mut q = sqlx::query(&sql);
        for a in args {
            q = q.bind(a);
        }
        q.fetch_all(&self.pool).await?.iter().map(audit_from_row).collect()
    }

    /// Creates a user and records who did it, in one transaction.
    pub async fn create_user(&self, u: &NewUser, audit: &AuditEntry) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(&u.username)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!("用户名「{}」已被使用", u.username)));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, display_name, role, region_code, facility_code, password_hash, created_at, must_change_password) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&u.username)
        .bind(&u.display_name)
        .bind(u.role.code())
        .bind(u.region.to_string())
        .bind(&u.facility_code)
        .bind(&u.password_hash)
        .bind(now())
        .bind(i64::from(u.must_change_password))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                StoreError::Conflict("区划代码或机构编码不存在".into())
            }
            _ => StoreError::Database(e),
        })?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The name a user signs documents with (the bill's clerk); `None` for an unknown user name.
    pub async fn display_name(&self, username: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT display_name FROM users WHERE username = $1").bind(username).fetch_optional(&self.pool).await?)
    }

    pub async fn user(&self, id: i64) -> Result<Option<User>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The user and their password hash, for logging in.
    pub async fn user_for_login(&self, username: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = $1"))
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((user_from_row(&r)?, r.try_get("password_hash")?))).transpose()
    }

    /// Users whose region lies inside `region`.
    pub async fn users_within(&self, region: RegionCode) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE region_code >= $1 AND region_code < $1 || ':' ORDER BY region_code, role, username"))
            .bind(within(region))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Counts a failed login (shown to administrators) and records it. Accounts are not locked:
    /// the web layer slows down guessing per user name and address instead, so that nobody can
    /// lock someone else out.
    pub async fn record_login_failure(&self, user_id: i64, audit: &AuditEntry) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let n: i64 = sqlx::query_scalar("UPDATE users SET failed_attempts = failed_attempts + 1 WHERE id = $1 RETURNING failed_attempts")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Starts a session after a successful login.
    pub async fn create_session(&self, user_id: i64, token_hash: &str, csrf: &str, expires_at: &str, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE id = $1").bind(user_id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now()).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash)
            .bind(user_id)
            .bind(csrf)
            .bind(now())
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The active user of an unexpired session, with the session's CSRF token.
    pub async fn session_user(&self, token_hash: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query(&format!(
            "SELECT {}, s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = 1",
            USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((user_from_row(&r)?, r.try_get("csrf_token")?))).transpose()
    }

    /// The active user of an API token that is neither revoked nor expired.
    pub async fn token_user(&self, token_hash: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 AND u.active = 1",
            USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Stores a new API token (its hash) for a user.
    pub async fn create_api_token(&self, user_id: i64, name: &str, token_hash: &str, expires_at: &str, audit: &AuditEntry) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(&audit.username)
        .bind(now())
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The API tokens of the users inside `region`, newest first.
    pub async fn api_tokens(&self, region: RegionCode) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, u.username, t.created_by, t.created_at, t.expires_at, t.revoked_at FROM api_tokens t \
             JOIN users u ON u.id = t.user_id WHERE u.region_code >= $1 AND u.region_code < $1 || ':' ORDER BY t.id DESC",
        )
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiToken {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    username: r.try_get("username")?,
                    created_by: r.try_get("created_by")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes a token of a user inside `region`; `NotFound` for any other.
    pub async fn revoke_api_token(&self, id: i64, region: RegionCode, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
             AND user_id IN (SELECT id FROM users WHERE region_code >= $3 AND region_code < $3 || ':')",
        )
        .bind(now())
        .bind(id)
        .bind(within(region))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("token {id}")));
        }
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn end_session(&self, token_hash: &str, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&mut *tx).await?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user changes their own password: no change is asked for any more, and their other
    /// sessions end (the one `keep` stays).
    pub async fn change_own_password(&self, id: i64, password_hash: &str, keep_session: &str, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET password_hash = $1, must_change_password = 0 WHERE id = $2").bind(password_hash).bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2").bind(id).bind(keep_session).execute(&mut *tx).await?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Enables or disables a user, sets a password for them (which they must then change), or
    /// clears their failure count; ends their sessions when access is taken away or the password
    /// changes.
    pub async fn update_user(&self, id: i64, active: Option<bool>, password_hash: Option<&str>, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE users SET active = COALESCE($1, active), password_hash = COALESCE($2, password_hash), \
             must_change_password = CASE WHEN $2 IS NULL THEN must_change_password ELSE 1 END, \
             failed_attempts = 0, locked_until = NULL WHERE id = $3",
        )
        .bind(active.map(i64::from))
        .bind(password_hash)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("user {id}")));
        }
        if active == Some(false) || password_hash.is_some() {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
        }
        // Disabled is disabled for good for machine clients: enabling the user again does not
        // bring back their tokens.
        if active == Some(false) {
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL").bind(now()).bind(id).execute(&mut *tx).await?;
        }
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn audit_from_row(r: &AnyRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        entry: AuditEntry {
            user_id: r.try_get("user_id")?,
            username: r.try_get("username")?,
            ip: r.try_get("ip")?,
            action: r.try_get("action")?,
            target: r.try_get("target")?,
            detail: r.try_get("detail")?,
            region: match r.try_get::<Option<String>, _>("region_code")? {
                Some(code) => Some(RegionCode::parse(&code).map_err(|e| StoreError::Corrupt(e.to_string()))?),
                None => None,
            },
        },
        hash: r.try_get("hash")?,
    })
}
