//! On SQLite, settlements are written by one dedicated thread with its own connection.
//!
//! sqlx runs every SQLite statement on a worker thread, so a settlement of a dozen statements is a
//! dozen thread hand-offs; under load those hand-offs, not SQLite, were the limit. Here a whole
//! settlement runs on the writer thread in one hand-off, and the settlements waiting together share
//! one transaction (group commit: one fsync for all of them with `synchronous=full`), each inside
//! its own savepoint so that one refused claim does not undo the others. Replies are sent only
//! after the commit. The thread holds the store's write gate while it writes, so it takes turns
//! with the other (sqlx) writers instead of meeting them in SQLite's busy handler.

use std::sync::Arc;
use std::sync::mpsc;

use rusqlite::Connection;

use crate::access::{AUDIT_ADVANCE, AUDIT_HEAD, AUDIT_INSERT, entry_hash};
use crate::batch::Val;
use crate::{AuditEntry, Result, StoreError, now};

/// Runs after the batch's commit with its outcome (`None`: committed).
type Finish = Box<dyn FnOnce(Option<String>) + Send>;
/// A job runs inside the group's transaction; `false` beside its answer means it could not undo
/// its own writes, and the whole group must be rolled back.
type Job = Box<dyn FnOnce(&Connection) -> (Finish, bool) + Send>;

/// How many waiting settlements one transaction takes at most.
const GROUP: usize = 64;

/// Above this size the WAL is checkpointed to its end with the writers held off for the moment it
/// takes (below it, checkpoints run beside them), so that the next write starts it again from
/// the beginning and truncates it to this size (`journal_size_limit`).
pub(crate) const WAL_LIMIT: u64 = 64 << 20;

#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt(format!("sqlite: {e}"))
}

/// The writer's and checkpointer's connection, with the pool's settings.
fn open_connection(path: &str, synchronous: &str) -> Result<Connection> {
    let conn = Connection::open(path).map_err(db_err)?;
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
         PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 0; \
         PRAGMA journal_size_limit = {WAL_LIMIT};"
    ))
    .map_err(db_err)?;
    Ok(conn)
}

/// Ends whatever transaction `conn` is still in. A connection that cannot leave it (the rollback
/// itself failed) is replaced: closing it releases the write lock it holds.
fn ensure_no_transaction(conn: &mut Connection, path: &str, synchronous: &str) {
    if conn.is_autocommit() {
        return;
    }
    let _ = conn.execute_batch("ROLLBACK");
    if conn.is_autocommit() {
        return;
    }
    tracing::error!("the SQLite writer could not roll back: reopening its connection");
    match open_connection(path, synchronous) {
        Ok(fresh) => drop(std::mem::replace(conn, fresh)),
        Err(e) => tracing::error!(error = %e, "reopening the SQLite writer's connection failed"),
    }
}

impl Writer {
    pub(crate) fn open(path: &str, synchronous: &str, gate: Arc<tokio::sync::Mutex<()>>, audit_key: Option<Arc<crate::AuditKey>>) -> Result<Writer> {
        let mut conn = open_connection(path, synchronous)?;
        // Checkpoints run beside the writers, not inside a commit (where an automatic one would
        // stall every settlement waiting in that group): PASSIVE never blocks them. But while
        // writers append, a checkpoint never reaches the WAL's end, and the WAL is only started
        // again from the beginning once it has: under steady load it grew without bound (1.5 GB
        // in 20 s of the HTTP benchmark). Past WAL_LIMIT, one PASSIVE checkpoint runs under the
        // write gate and so reaches the end. (TRUNCATE instead waits for every reader in SQLite's
        // sleeping busy handler: p99 of the benchmark 31–35 ms instead of 13–14 ms.)
        // It stops when the writer does (the writer thread holds `_stop` until it ends).
        let checkpointer = open_connection(path, synchronous)?;
        checkpointer.busy_timeout(std::time::Duration::from_secs(2)).map_err(db_err)?;
        let wal = format!("{path}-wal");
        let checkpoint_gate = gate.clone();
        let (_stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("huimin-sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(std::time::Duration::from_millis(500)) {
                    if let Err(e) = checkpointer.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_LIMIT) {
                        let _gate = checkpoint_gate.blocking_lock();
                        if let Err(e) = checkpointer.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
                            tracing::warn!(error = %e, "WAL checkpoint failed");
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Corrupt(format!("checkpoint thread: {e}")))?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let (path, synchronous) = (path.to_string(), synchronous.to_string());
        std::thread::Builder::new()
            .name("huimin-sqlite-writer".into())
            .spawn(move || {
                let _stop = _stop;
                AUDIT_KEY.set(audit_key);
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < GROUP {
                        match rx.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    let _gate = gate.blocking_lock();
                    ensure_no_transaction(&mut conn, &path, &synchronous);
                    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                        tracing::error!(error = %e, "the SQLite writer could not begin a transaction");
                        // Dropping the jobs unrun answers each of them with an error.
                        drop(batch);
                        continue;
                    }
                    let mut healthy = true;
                    let finishers: Vec<Finish> = batch
                        .into_iter()
                        .map(|job| {
                            let (finish, ok) = job(&conn);
                            healthy &= ok;
                            finish
                        })
                        .collect();
                    let outcome = if healthy {
                        conn.execute_batch("COMMIT").err().map(|e| e.to_string())
                    } else {
                        Some("a settlement of this group could not be undone on its own".to_string())
                    };
                    if let Some(e) = &outcome {
                        tracing::error!(error = %e, "a group of settlements was not committed");
                        ensure_no_transaction(&mut conn, &path, &synchronous);
                    }
                    for f in finishers {
                        f(outcome.clone());
                    }
                }
            })
            .map_err(|e| StoreError::Corrupt(format!("writer thread: {e}")))?;
        Ok(Writer { jobs })
    }

    /// Runs `work` on the writer thread inside a savepoint of the current group transaction and
    /// returns its result once the transaction has committed (an error if it did not).
    pub(crate) async fn run<R: Send + 'static>(&self, work: impl FnOnce(&Connection) -> Result<R> + Send + 'static) -> Result<R> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // An I/O error can end the group's transaction under an earlier job (SQLite rolls
            // back by itself); a savepoint outside it would commit on its own.
            let (result, healthy) = if conn.is_autocommit() {
                (Err(StoreError::Corrupt("the group's transaction has ended".into())), false)
            } else {
                let result = conn.execute_batch("SAVEPOINT job").map_err(db_err).and_then(|_| work(conn));
                let undo = if result.is_ok() { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
                match conn.execute_batch(undo) {
                    Ok(()) => (result, !conn.is_autocommit()),
                    Err(e) => (Err(db_err(e)), false),
                }
            };
            let finish: Finish = Box::new(move |commit_error: Option<String>| {
                let result = match (result, commit_error) {
                    (Ok(_), Some(e)) => Err(StoreError::Corrupt(format!("commit failed: {e}"))),
                    (r, _) => r,
                };
                let _ = reply.send(result);
            });
            (finish, healthy)
        });
        self.jobs.send(job).map_err(|_| StoreError::Corrupt("the SQLite writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Corrupt("the SQLite writer dropped a job".into()))?
    }
}

impl rusqlite::ToSql for Val<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Val::Int(i) | Val::OptInt(Some(i)) => ValueRef::Integer(*i),
            Val::Text(s) | Val::OptText(Some(s)) => ValueRef::Text(s.as_bytes()),
            Val::OptText(None) | Val::OptInt(None) => ValueRef::Null,
        }))
    }
}

/// Executes `sql` (placeholders `$1`…`$n` in order) with one row of values.
pub(crate) fn execute_row(conn: &Connection, sql: &str, row: &[Val<'_>]) -> Result<()> {
    conn.prepare_cached(sql).map_err(db_err)?.execute(rusqlite::params_from_iter(row)).map_err(db_err)?;
    Ok(())
}

std::thread_local! {
    /// The audit key of the store whose writer runs on this thread (set when it starts).
    static AUDIT_KEY: std::cell::RefCell<Option<Arc<crate::AuditKey>>> = const { std::cell::RefCell::new(None) };
}

/// The audit log's append (see `access::append_audit_in`) on the writer's connection.
pub(crate) fn append_audit(conn: &Connection, e: &AuditEntry) -> Result<i64> {
    let e = &*crate::access::as_stored(e);
    let (seq, prev): (i64, String) = conn.prepare_cached(AUDIT_ADVANCE).map_err(db_err)?.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db_err)?;
    let at = now();
    let hash = entry_hash(&prev, seq, &at, e);
    conn.prepare_cached(AUDIT_INSERT)
        .map_err(db_err)?
        .execute(rusqlite::params![
            seq,
            at,
            e.user_id,
            e.username,
            e.ip,
            e.action,
            e.target,
            e.detail,
            prev,
            hash,
            AUDIT_KEY.with_borrow(|k| k.as_ref().map(|k| k.entry_mac(&hash))),
            e.region.map(|r| r.to_string()),
        ])
        .map_err(db_err)?;
    conn.prepare_cached(AUDIT_HEAD).map_err(db_err)?.execute([&hash]).map_err(db_err)?;
    Ok(seq)
}
