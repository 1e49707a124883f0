//! Basic auth against bcrypt hashes (`basic_auth_users`), as exporter-toolkit does it:
//! unknown users are checked against a decoy hash so the time taken does not tell which
//! users exist, successful checks are cached, and bcrypt runs on the blocking thread
//! pool, a few at a time, never on the async workers.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Mutex;

use base64::Engine as _;
use hyper::header::HeaderValue;
use rand::Rng as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

/// Successful checks remembered at most (then the cache starts over).
const CACHE_CAPACITY: usize = 1024;
/// The decoy hash is the bcrypt of this, with a fixed salt, at the users' highest cost.
const DECOY_PASSWORD: &[u8] = b"huaweicloud-quota-exporter: no such user";
const DECOY_SALT: [u8; 16] = *b"hwc-quota-decoy!";

/// The configured users and the cache of good credentials.
pub struct BasicAuth {
    /// User name -> bcrypt hash.
    users: HashMap<String, String>,
    /// What an unknown user's password is checked against (same cost as the users').
    decoy: String,
    /// Random per process: cache keys are useless outside it.
    cache_salt: [u8; 16],
    /// SHA-256 of salt, user and password of credentials that passed bcrypt.
    cache: Mutex<HashSet<[u8; 32]>>,
    /// bcrypt runs at once, at most (one per CPU): a flood of guesses queues here
    /// instead of taking every core.
    slots: Semaphore,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut users: Vec<&str> = self.users.keys().map(String::as_str).collect();
        users.sort_unstable();
        f.debug_struct("BasicAuth").field("users", &users).finish()
    }
}

impl BasicAuth {
    /// Users as (name, bcrypt hash, cost), hashes already checked. Computes the decoy
    /// hash (one bcrypt run): call it off the async workers.
    pub fn new(users: Vec<(String, String, u32)>) -> Result<BasicAuth, bcrypt::BcryptError> {
        let cost = users
            .iter()
            .map(|u| u.2)
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST);
        let decoy = bcrypt::hash_with_salt(DECOY_PASSWORD, cost, DECOY_SALT)?
            .format_for_version(bcrypt::Version::TwoY);
        let mut cache_salt = [0u8; 16];
        rand::rng().fill(&mut cache_salt);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(BasicAuth {
            users: users.into_iter().map(|(u, h, _)| (u, h)).collect(),
            decoy,
            cache_salt,
            cache: Mutex::new(HashSet::new()),
            slots: Semaphore::new(cpus),
        })
    }

    /// Number of users.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    fn cache_key(&self, user: &[u8], password: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.cache_salt);
        h.update((user.len() as u64).to_le_bytes());
        h.update(user);
        h.update(password);
        h.finalize().into()
    }

    /// Whether an `Authorization` header holds the right password of a configured user.
    pub async fn check(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let key = self.cache_key(&user, &password);
        if self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return true;
        }
        let known = std::str::from_utf8(&user)
            .ok()
            .and_then(|u| self.users.get(u));
        let hash = known.unwrap_or(&self.decoy).clone();
        let Ok(_slot) = self.slots.acquire().await else {
            return false;
        };
        let verified =
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        // The decoy is never a pass, whatever was typed.
        let ok = known.is_some() && verified;
        if ok {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(key);
        }
        ok
    }
}

/// `Basic base64(user:password)` -> (user, password); the password may hold `:`.
fn parse_basic(v: &HeaderValue) -> Option<(Vec<u8>, Vec<u8>)> {
    let s = v.to_str().ok()?.trim();
    let (scheme, creds) = s.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(creds.trim())
        .ok()?;
    let colon = raw.iter().position(|b| *b == b':')?;
    Some((raw[..colon].to_vec(), raw[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> HeaderValue {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {b64}")).expect("header")
    }

    fn auth() -> BasicAuth {
        let hash = bcrypt::hash("s3cret:with:colons", 4).expect("hash");
        BasicAuth::new(vec![("alice".into(), hash, 4)]).expect("auth")
    }

    #[tokio::test]
    async fn right_wrong_missing_and_unknown() {
        let a = auth();
        assert!(a.check(Some(&header("alice", "s3cret:with:colons"))).await);
        // Second time from the cache.
        assert!(a.check(Some(&header("alice", "s3cret:with:colons"))).await);
        assert!(!a.check(Some(&header("alice", "s3cret"))).await);
        assert!(!a.check(Some(&header("bob", "s3cret:with:colons"))).await);
        assert!(!a.check(None).await);
        assert!(!a.check(Some(&HeaderValue::from_static("Bearer abc"))).await);
        assert!(!a.check(Some(&HeaderValue::from_static("Basic !!!"))).await);
    }

    #[tokio::test]
    async fn the_decoy_never_lets_anyone_in() {
        let a = auth();
        let decoy = std::str::from_utf8(DECOY_PASSWORD).expect("utf8");
        assert!(!a.check(Some(&header("nobody", decoy))).await);
        assert!(
            a.decoy.starts_with("$2y$04$"),
            "decoy has the users' cost: {}",
            a.decoy
        );
    }

    #[test]
    fn debug_shows_no_hash() {
        let s = format!("{:?}", auth());
        assert_eq!(s, "BasicAuth { users: [\"alice\"] }");
    }
}
