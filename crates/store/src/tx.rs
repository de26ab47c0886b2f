//! Write transactions over the pool, with one rule: a connection whose transaction did not end
//! cleanly never serves another request.
//!
//! sqlx's own `Transaction` keeps a count of the open levels beside the database's state. When a
//! COMMIT fails (SQLite: an I/O error, a full disk) and the ROLLBACK after it fails too, the count
//! and the database disagree: the connection went back to the pool still inside the failed
//! transaction, holding SQLite's write lock, and the next "transaction" on it became a savepoint
//! whose "commit" was acknowledged and never written. Here BEGIN, COMMIT and ROLLBACK are plain
//! statements: a transaction that did not commit is rolled back, and when the rollback (or the
//! commit) fails the connection is closed instead of returned, which ends whatever the database
//! still held for it.

use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Connection, Executor};
use tokio::sync::OwnedMutexGuard;

use crate::{Backend, Result, Store};

/// An open write transaction. `commit` ends it; dropped uncommitted (an error returned with `?`),
/// it is rolled back. On SQLite it holds the store's write gate until it has ended.
pub(crate) struct WriteTx {
    conn: Option<PoolConnection<Any>>,
    gate: Option<OwnedMutexGuard<()>>,
    /// What the audit entries of this transaction are signed with.
    pub(crate) audit_key: Option<std::sync::Arc<crate::AuditKey>>,
}

impl Store {
    /// Starts a write transaction (SQLite: `BEGIN IMMEDIATE`, taking the write lock at once, after
    /// the store's write gate).
    pub(crate) async fn begin_write(&self) -> Result<WriteTx> {
        let gate = self.write_gate().await;
        let mut conn = self.pool.acquire().await?;
        let begin = if self.backend == Backend::Sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
        let c: &mut AnyConnection = &mut conn;
        if let Err(e) = c.execute(begin).await {
            discard(conn).await;
            return Err(e.into());
        }
        Ok(WriteTx { conn: Some(conn), gate, audit_key: self.audit_key.clone() })
    }
}

impl WriteTx {
    /// Commits. If the commit fails the transaction did not happen, and the connection is closed.
    pub(crate) async fn commit(mut self) -> Result<()> {
        let mut conn = self.conn.take().expect("a transaction commits once");
        let gate = self.gate.take();
        let c: &mut AnyConnection = &mut conn;
        let result = c.execute("COMMIT").await;
        if let Err(e) = result {
            tracing::error!(error = %e, "commit failed: the transaction is rolled back and its connection closed");
            let c: &mut AnyConnection = &mut conn;
            let _ = c.execute("ROLLBACK").await;
            discard(conn).await;
            drop(gate);
            return Err(e.into());
        }
        drop(gate);
        Ok(())
    }
}

/// Closes a connection instead of returning it to the pool (the pool opens a new one).
async fn discard(conn: PoolConnection<Any>) {
    let _ = conn.detach().close().await;
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let gate = self.gate.take();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to roll back on: closing the connection rolls back.
            drop(conn.detach());
            return;
        };
        runtime.spawn(roll_back(conn, gate));
    }
}

/// Ends a transaction that did not commit; another writer may start only once it has ended.
fn roll_back(mut conn: PoolConnection<Any>, gate: Option<OwnedMutexGuard<()>>) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let c: &mut AnyConnection = &mut conn;
        if c.execute("ROLLBACK").await.is_err() {
            discard(conn).await;
        }
        drop(gate);
    })
}

impl Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        self.conn.as_deref().expect("an open transaction")
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn.as_deref_mut().expect("an open transaction")
    }
}
