//! Passwords (argon2id), random tokens, and API tokens for machine clients.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Passwords guessed first (the all-digit and one-character ones the other rules refuse
/// anyway), and this system's own demo password; each also with digits or "!" added.
const COMMON: &[&str] = &[
    "password", "passw0rd", "qwertyuiop", "qwerty", "1q2w3e4r5t", "abc", "a123456789", "iloveyou", "woaini",
    "admin", "administrator", "huimin", "changeme", "welcome", "letmein", "zxcvbnm", "qazwsxedc",
];

/// What a password must be: 10 to 128 characters, not only digits, not one character repeated,
/// not containing the user name, not a common password.
pub fn check_password_strength(password: &str, username: &str) -> Result<(), String> {
    let n = password.chars().count();
    if !(10..=128).contains(&n) {
        return Err("密码应为 10–128 位".into());
    }
    if password.chars().all(|c| c.is_ascii_digit()) {
        return Err("密码不能全是数字".into());
    }
    let lower = password.to_lowercase();
    if lower.chars().all(|c| Some(c) == lower.chars().next()) {
        return Err("密码不能是同一个字符".into());
    }
    let name = username.trim().to_lowercase();
    if name.len() >= 3 && lower.contains(&name) {
        return Err("密码不能包含用户名".into());
    }
    // A common password with digits or "!" added at the end is as easily guessed.
    let stem = lower.trim_end_matches(|ch: char| ch.is_ascii_digit() || ch == '!');
    if COMMON.iter().any(|c| *c == lower || *c == stem) {
        return Err("这是常见密码，很容易被猜到，请换一个".into());
    }
    Ok(())
}

/// Checks a password against a fixed hash, for a user name that does not exist: the same work
/// and the same time as for one that does, so that timing does not tell which names exist.
pub fn verify_password_of_nobody(password: &str) {
    static NOBODY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = NOBODY.get_or_init(|| hash_password("no user has this password"));
    let _ = verify_password(password, hash);
}

/// An argon2id hash in PHC string form (salt and parameters included).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 with default parameters").to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// 32 random bytes from the operating system, as 64 hex digits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a session or API token, as stored: a stolen database holds no usable token.
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes an API token for `user` valid for `days` days and stores its hash; returns the token,
/// which is shown once and never stored.
pub async fn issue_api_token(store: &huimin_store::Store, user: &huimin_store::User, name: &str, days: i64, by: &huimin_store::AuditEntry) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err("令牌名称应为 1–64 个字符（说明用途，如“县医院HIS”）".into());
    }
    if !(1..=3650).contains(&days) {
        return Err("有效期应为 1–3650 天".into());
    }
    if !user.active {
        return Err(format!("用户 {} 已停用", user.username));
    }
    let token = format!("hm_{}", random_token());
    let expires = (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut audit = by.clone();
    audit.action = "token.create".into();
    audit.target = format!("user {}", user.username);
    audit.detail = format!("{name}; {days} days");
    store.create_api_token(user.id, name, &token_hash(&token), &expires, &audit).await.map_err(|e| e.to_string())?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
        for weak in ["1234567", "12345678901", "password", "Password123", "aaaaaaaaaaaa", "zhangsan-2024", "huimin2024", "Huimin2024!"] {
            assert!(check_password_strength(weak, "zhangsan").is_err(), "{weak}");
        }
        for fine in ["兰山区卫健局2024年", "correct horse battery", "Lanshan-2024-county"] {
            assert!(check_password_strength(fine, "zhangsan").is_ok(), "{fine}");
        }
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 64);
    }
}
