//! The audit log's key and checkpoints, kept outside the database.
//!
//! The hash chain alone shows a change only to someone who cannot recompute it: with write access
//! to the database file anyone can change an entry and recompute every later hash. So each entry
//! also carries a MAC (HMAC-SHA256 of its hash) under a key that is not in the database — a key
//! file made with mode 0600 when the store is first opened — and every so often a checkpoint
//! (sequence number, head hash, time, MAC) is appended to a file beside the key. A recomputed or
//! inserted entry fails its MAC; entries deleted from the end, or all of them, are missing from a
//! checkpoint. `huimin audit checkpoint` also prints the line, for the bureau to keep elsewhere.

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;

use crate::{Result, StoreError};

#[derive(Debug)]
pub struct AuditKey {
    key: [u8; 32],
    /// The first entry under the key (entries before it were written without one).
    pub from_seq: i64,
    pub path: PathBuf,
    /// The head of the last checkpoint written (read from the file once, at opening).
    last_checkpoint: std::sync::Mutex<Option<(i64, String)>>,
}

/// A checkpoint read back: the entry it names and whether its MAC holds.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub line: usize,
    pub seq: i64,
    pub hash: String,
    pub at: String,
    pub valid: bool,
}

/// The checkpoint file of a key file: beside it, `KEYFILE.checkpoints`.
pub(crate) fn checkpoints_of(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".checkpoints");
    PathBuf::from(p)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn corrupt(path: &Path, why: &str) -> StoreError {
    StoreError::Corrupt(format!("审计密钥文件 {}：{why}", path.display()))
}

impl AuditKey {
    /// Reads the key file, or makes one (mode 0600) whose key applies from entry `next_seq` on.
    pub fn load_or_create(path: &Path, next_seq: i64) -> Result<AuditKey> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let field = |name: &str| text.lines().find_map(|l| l.trim().strip_prefix(name)?.strip_prefix('=')).map(str::trim);
                let key_hex = field("key").ok_or_else(|| corrupt(path, "缺少 key"))?;
                let from_seq = field("from").and_then(|f| f.parse().ok()).ok_or_else(|| corrupt(path, "缺少 from"))?;
                let mut key = [0u8; 32];
                if key_hex.len() != 64 {
                    return Err(corrupt(path, "key 应为 64 位十六进制"));
                }
                for (i, b) in key.iter_mut().enumerate() {
                    *b = u8::from_str_radix(&key_hex[2 * i..2 * i + 2], 16).map_err(|_| corrupt(path, "key 应为 64 位十六进制"))?;
                }
                let k = AuditKey { key, from_seq, path: path.to_path_buf(), last_checkpoint: Default::default() };
                *k.last_checkpoint.lock().unwrap_or_else(|e| e.into_inner()) = k.checkpoints()?.pop().map(|c| (c.seq, c.hash));
                Ok(k)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                OsRng.fill_bytes(&mut key);
                let text = format!(
                    "# 惠民审计日志密钥：每条审计记录的校验码由它算出。勿泄露；另存一份交上级部门。\n\
                     # The audit log's key: keep it secret, and a copy away from the database.\n\
                     key={}\nfrom={next_seq}\n",
                    hex(&key)
                );
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut f = options.open(path).map_err(|e| corrupt(path, &e.to_string()))?;
                f.write_all(text.as_bytes()).and_then(|_| f.sync_all()).map_err(|e| corrupt(path, &e.to_string()))?;
                tracing::info!(path = %path.display(), "audit key created");
                Ok(AuditKey { key, from_seq: next_seq, path: path.to_path_buf(), last_checkpoint: Default::default() })
            }
            Err(e) => Err(corrupt(path, &e.to_string())),
        }
    }

    fn mac_of(&self, text: &str) -> String {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        m.update(text.as_bytes());
        hex(&m.finalize().into_bytes())
    }

    /// The MAC of an entry's hash.
    pub fn entry_mac(&self, hash: &str) -> String {
        self.mac_of(&format!("entry|{hash}"))
    }

    /// The MAC of a document's facts (a bill's verification code).
    pub fn document_mac(&self, facts: &str) -> String {
        self.mac_of(&format!("document|{facts}"))
    }

    fn checkpoint_mac(&self, seq: i64, hash: &str, at: &str) -> String {
        self.mac_of(&format!("checkpoint|{seq}|{hash}|{at}"))
    }

    /// Where the checkpoints are appended.
    pub fn checkpoint_path(&self) -> PathBuf {
        checkpoints_of(&self.path)
    }

    /// Appends a checkpoint of the head (synced) and returns its line; `None` when the head has
    /// not moved since the last one.
    pub fn append_checkpoint(&self, seq: i64, hash: &str, at: &str) -> Result<Option<String>> {
        let mut last = self.last_checkpoint.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_ref().is_some_and(|(s, h)| *s == seq && h == hash) {
            return Ok(None);
        }
        let line = format!("{seq} {hash} {at} {}", self.checkpoint_mac(seq, hash, at));
        let path = self.checkpoint_path();
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&path).map_err(|e| corrupt(&path, &e.to_string()))?;
        f.write_all(format!("{line}\n").as_bytes()).and_then(|_| f.sync_all()).map_err(|e| corrupt(&path, &e.to_string()))?;
        *last = Some((seq, hash.to_string()));
        Ok(Some(line))
    }

    /// The checkpoints written so far, each with whether its MAC holds.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        let path = self.checkpoint_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(corrupt(&path, &e.to_string())),
        };
        Ok(text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let parts: Vec<&str> = l.split_whitespace().collect();
                let seq = parts.first().and_then(|s| s.parse().ok()).unwrap_or(-1);
                let (hash, at, mac) = (parts.get(1).copied().unwrap_or(""), parts.get(2).copied().unwrap_or(""), parts.get(3).copied().unwrap_or(""));
                let valid = parts.len() == 4 && self.checkpoint_mac(seq, hash, at) == mac;
                Checkpoint { line: i + 1, seq, hash: hash.into(), at: at.into(), valid }
            })
            .collect())
    }
}
