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

use tokio::time::Instant;

use crate::config::Secret;
use crate::model::api::Service;
use crate::model::credentials::CredentialBoard;
use crate::model::outcome::{ErrorCode, PollError};
use crate::upstream::backoff::{Backoff, Jitter};
use crate::upstream::decode::value::parse_timestamp;
use crate::upstream::transport::{Transport, UpstreamResponse};

/// After a failed token request: 5 s, doubling per failure up to 5 minutes, +-20%.
pub const FAILURE_BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(5),
    cap: Duration::from_secs(300),
    jitter: Jitter::Scaled { lo: 0.8, hi: 1.2 },
};

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
    /// The project's connection settings (proxy, TLS): IAM is reached as its APIs are.
    pub http: &'a crate::config::HttpSettings,
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
    /// The password the cached token was issued for (a changed password drops it).
    password: Option<Secret>,
}

/// One project's token state; the async lock makes concurrent callers share one refresh.
type SharedState = Arc<tokio::sync::Mutex<TokenState>>;

/// Tokens per (credential, project).
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<(String, String), SharedState>>,
    /// Where issues and failures are shown (the landing page's credentials).
    board: Arc<CredentialBoard>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache")
    }
}

impl TokenCache {
    /// An empty cache recording its tokens on `board`.
    pub fn new(board: Arc<CredentialBoard>) -> Self {
        TokenCache {
            entries: Mutex::default(),
            board,
        }
    }

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
        transport: &Transport,
        login: IamLogin<'_>,
    ) -> Result<Secret, PollError> {
        let entry = self.entry(login.credential, login.project_id);
        let mut st = entry.lock().await;
        if st.password.as_ref() != Some(login.password) {
            if st.password.is_some() {
                tracing::info!(
                    credential = login.credential,
                    "password changed: dropping the cached IAM token"
                );
            }
            *st = TokenState {
                password: Some(login.password.clone()),
                ..TokenState::default()
            };
        }
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
                .unwrap_or_else(|| PollError::local(ErrorCode::Iam, "IAM token request failed"));
            e.message = format!(
                "{} (IAM token requests paused for {}s after {} failure(s))",
                e.message,
                (retry_at - now).as_secs() + 1,
                st.failures
            );
            return Err(e);
        }
        match request_token(transport, &login).await {
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
                let wall = SystemTime::now();
                self.board
                    .refreshed(login.credential, wall + lifetime, wall + lifetime / 2);
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
                let backoff = FAILURE_BACKOFF.delay(st.failures);
                st.retry_at = Some(Instant::now() + backoff);
                st.last_error = Some(e.clone());
                self.board
                    .failed(login.credential, &e, SystemTime::now() + backoff);
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

/// `POST {endpoint}/auth/tokens?nocatalog=true` with a project-scoped password identity,
/// through the shared transport (its rate limit, concurrency cap, size limit, error
/// decoding and counters, as `api="iam"`). Returns the token (from `X-Subject-Token`) and
/// its remaining lifetime.
async fn request_token(
    transport: &Transport,
    login: &IamLogin<'_>,
) -> Result<(Secret, Duration), PollError> {
    let req = token_request(login)?;
    let response = transport
        .send_via(Service::Iam, login.http, req)
        .await
        .map_err(|e| explain_failure(login, e))?;
    let token = subject_token(transport, &response)?;
    Ok((token, token_lifetime(&response.body)))
}

/// The token request: a project-scoped password identity as JSON, with the login's timeout.
fn token_request(login: &IamLogin<'_>) -> Result<reqwest::Request, PollError> {
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
    let url = reqwest::Url::parse(&url)
        .map_err(|e| PollError::local(ErrorCode::Config, format!("cannot build URL {url}: {e}")))?;
    let mut req = reqwest::Request::new(reqwest::Method::POST, url);
    *req.timeout_mut() = Some(login.timeout);
    req.headers_mut().insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json;charset=utf8"),
    );
    *req.body_mut() = Some(body.to_string().into());
    Ok(req)
}

/// Says who was refused (IAM answered) or where the request went (it did not).
fn explain_failure(login: &IamLogin<'_>, mut e: PollError) -> PollError {
    e.message = if e.status.is_some() {
        format!(
            "IAM refused a token for user `{}` in domain `{}`: {}",
            login.username, login.domain, e.message
        )
    } else {
        format!(
            "IAM token request to {} failed: {}",
            login.endpoint, e.message
        )
    };
    e
}

/// The token from `X-Subject-Token`; without one the answer counts as a decode error.
fn subject_token(transport: &Transport, response: &UpstreamResponse) -> Result<Secret, PollError> {
    let token = response
        .headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        transport
            .counters()
            .count_error(Service::Iam, &ErrorCode::Decode, 1);
        return Err(PollError {
            code: ErrorCode::Decode,
            status: Some(response.status),
            message: "IAM answered without an X-Subject-Token header".into(),
            request_id: response.request_id.clone(),
        });
    };
    Ok(Secret::new(token.to_string()))
}

/// How long the token has left, from `token.expires_at` in the body; IAM's documented 24
/// hours when that cannot be read.
fn token_lifetime(body: &[u8]) -> Duration {
    let expires_at = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/token/expires_at")
                .and_then(|e| e.as_str())
                .map(str::to_string)
        })
        .and_then(|s| parse_timestamp(&s).ok());
    match expires_at {
        Some(at) => {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            Duration::from_secs_f64((at - now).max(0.0))
        }
        // No readable expiry: assume IAM's documented 24 hours.
        None => Duration::from_secs(24 * 3600),
    }
}
