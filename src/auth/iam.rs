//! IAM password tokens: one per (credential, project), cached, refreshed ahead of expiry,
//! one request in flight per project, and backing off when IAM says no.
//!
//! A token is scoped to one project, so every project gets its own. It is refreshed at
//! half its remaining life (well before `expires_at`) and never used past 90% of it. A
//! failed token request (wrong password, IAM down) backs off exponentially: IAM locks
//! accounts after repeated failures, so polls during the back-off fail fast instead of
//! asking again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rand::Rng as _;
use tokio::time::Instant;

use crate::config::Secret;
use crate::sample::Api;
use crate::upstream::{ApiCounters, PollError, error};

/// First back-off after a failed token request; doubles per failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest back-off.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// What a token request needs.
#[derive(Clone, Copy, Debug)]
pub struct IamLogin<'a> {
    /// Name of the credential (cache key, messages).
    pub credential: &'a str,
    /// IAM endpoint ending in `/v3`.
    pub endpoint: &'a str,
    /// Account name.
    pub domain: &'a str,
    /// User name.
    pub username: &'a str,
    /// Password.
    pub password: &'a Secret,
    /// The project the token is scoped to.
    pub project_id: &'a str,
    /// Time limit of the request.
    pub timeout: Duration,
}

#[derive(Clone)]
struct CachedToken {
    value: Secret,
    refresh_at: Instant,
    use_until: Instant,
}

#[derive(Default)]
struct TokenState {
    token: Option<CachedToken>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<PollError>,
}

/// One project's token state; the async lock makes concurrent callers share one refresh.
type SharedState = Arc<tokio::sync::Mutex<TokenState>>;

/// Tokens per (credential, project).
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<(String, String), SharedState>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache")
    }
}

impl TokenCache {
    fn entry(&self, credential: &str, project_id: &str) -> SharedState {
        let mut g = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        g.entry((credential.to_string(), project_id.to_string()))
            .or_default()
            .clone()
    }

    /// A valid token for the project: the cached one, or a new one from IAM. Concurrent
    /// callers for the same project wait for one request instead of each sending one.
    pub async fn token(
        &self,
        http: &reqwest::Client,
        counters: &ApiCounters,
        login: IamLogin<'_>,
    ) -> Result<Secret, PollError> {
        let entry = self.entry(login.credential, login.project_id);
        let mut st = entry.lock().await;
        let now = Instant::now();
        if let Some(t) = &st.token
            && now < t.refresh_at
        {
            return Ok(t.value.clone());
        }
        if let Some(retry_at) = st.retry_at
            && now < retry_at
        {
            if let Some(t) = st.token.as_ref().filter(|t| now < t.use_until) {
                return Ok(t.value.clone());
            }
            let mut e = st
                .last_error
                .clone()
                .unwrap_or_else(|| PollError::local("iam", "IAM token request failed"));
            e.message = format!(
                "{} (IAM token requests paused for {}s after {} failure(s))",
                e.message,
                (retry_at - now).as_secs() + 1,
                st.failures
            );
            return Err(e);
        }
        match request_token(http, counters, &login).await {
            Ok((value, lifetime)) => {
                let now = Instant::now();
                st.failures = 0;
                st.retry_at = None;
                st.last_error = None;
                st.token = Some(CachedToken {
                    value: value.clone(),
                    refresh_at: now + lifetime / 2,
                    use_until: now + lifetime.mul_f64(0.9),
                });
                tracing::debug!(
                    credential = login.credential,
                    project = login.project_id,
                    lifetime_s = lifetime.as_secs(),
                    "IAM token issued"
                );
                Ok(value)
            }
            Err(e) => {
                st.failures = st.failures.saturating_add(1);
                let exp = BACKOFF_BASE.saturating_mul(1u32 << (st.failures - 1).min(16));
                let backoff = exp
                    .min(BACKOFF_MAX)
                    .mul_f64(rand::rng().random_range(0.8..1.2));
                st.retry_at = Some(Instant::now() + backoff);
                st.last_error = Some(e.clone());
                tracing::warn!(
                    api = "iam",
                    credential = login.credential,
                    project = login.project_id,
                    error_code = %e.code,
                    status = e.status.unwrap_or(0),
                    request_id = e.request_id.as_deref().unwrap_or(""),
                    reason = %e.message,
                    retry_in_s = backoff.as_secs(),
                    "IAM token request failed"
                );
                match st.token.as_ref().filter(|t| Instant::now() < t.use_until) {
                    Some(t) => Ok(t.value.clone()),
                    None => Err(e),
                }
            }
        }
    }

    /// Forgets `used` if it is still the cached token (after the API answered 401 to it).
    pub async fn invalidate(&self, credential: &str, project_id: &str, used: &Secret) {
        let entry = self.entry(credential, project_id);
        let mut st = entry.lock().await;
        if st.token.as_ref().is_some_and(|t| &t.value == used) {
            st.token = None;
        }
    }
}

/// `POST {endpoint}/auth/tokens?nocatalog=true` with a project-scoped password identity.
/// Returns the token (from `X-Subject-Token`) and its remaining lifetime.
async fn request_token(
    http: &reqwest::Client,
    counters: &ApiCounters,
    login: &IamLogin<'_>,
) -> Result<(Secret, Duration), PollError> {
    let body = serde_json::json!({
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {
                    "name": login.username,
                    "password": login.password.expose(),
                    "domain": {"name": login.domain}
                }}
            },
            "scope": {"project": {"id": login.project_id}}
        }
    });
    let url = format!(
        "{}/auth/tokens?nocatalog=true",
        login.endpoint.trim_end_matches('/')
    );
    let result = http
        .post(&url)
        .timeout(login.timeout)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/json;charset=utf8",
        )
        .body(body.to_string())
        .send()
        .await;
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            let code = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect"
            } else {
                "http"
            };
            counters.count_request(Api::Iam, code);
            counters.count_error(Api::Iam, code, 1);
            return Err(PollError::local(
                code,
                format!("IAM token request to {url} failed: {e}"),
            ));
        }
    };
    let status = resp.status().as_u16();
    counters.count_request(Api::Iam, &status.to_string());
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let token = resp
        .headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp.bytes().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        let decoded = error::decode_error_body(&bytes);
        let code = decoded.code.unwrap_or_else(|| format!("http_{status}"));
        counters.count_error(Api::Iam, &code, 1);
        return Err(PollError {
            code,
            status: Some(status),
            message: format!(
                "IAM refused a token for user `{}` in domain `{}`: {}",
                login.username,
                login.domain,
                decoded.message.unwrap_or_default()
            ),
            request_id: request_id.or(decoded.request_id),
        });
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        counters.count_error(Api::Iam, "decode", 1);
        return Err(PollError {
            code: "decode".into(),
            status: Some(status),
            message: "IAM answered without an X-Subject-Token header".into(),
            request_id,
        });
    };
    let expires_at = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.pointer("/token/expires_at")
                .and_then(|e| e.as_str())
                .map(str::to_string)
        })
        .and_then(|s| crate::value::parse_timestamp(&s).ok());
    let lifetime = match expires_at {
        Some(at) => {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            Duration::from_secs_f64((at - now).max(0.0))
        }
        // No readable expiry: assume IAM's documented 24 hours.
        None => Duration::from_secs(24 * 3600),
    };
    Ok((Secret::new(token), lifetime))
}
