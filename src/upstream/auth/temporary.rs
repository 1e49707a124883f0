//! Temporary AK/SK + security token from the ECS/BMS metadata service, CCE pod identity or
//! STS `assume-with-oidc`: fetched before first use, one set per credential shared by every
//! target, refreshed well before `expires_at` with one request in flight (an async lock per
//! credential), and backing off after a failure so a locked agency or a throttled metadata
//! service is never hammered. Requests go through the shared transport as
//! `api="credentials"`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderValue;
use serde_json::Value;
use tokio::time::Instant;

use super::files::FileSecrets;
use super::iam::FAILURE_BACKOFF;
use crate::config::{Credential, NamedCredential, Secret};
use crate::model::api::Service;
use crate::model::credentials::CredentialBoard;
use crate::model::outcome::{ErrorCode, PollError};
use crate::upstream::decode::value::parse_timestamp;
use crate::upstream::transport::{Transport, UpstreamResponse};

/// The metadata service's answer when no agency is bound to the server.
const AGENCY_NOT_CONFIGURED: &str = "Please configure Cloud Service Agency first";
/// Session token lifetime asked of the metadata service (its maximum).
const METADATA_SESSION_TTL: &str = "21600";
/// `agency_session_name` sent to STS.
const SESSION_NAME: &str = "huaweicloud-quota-exporter";
/// Refresh at the latest this long before `expires_at` (or at half the life, if sooner):
/// the official SDKs' threshold (`_DEFAULT_EXPIRATION_THRESHOLD_SECONDS`, 40 min).
const REFRESH_AHEAD: Duration = Duration::from_secs(40 * 60);
/// How long an older metadata service without session tokens is taken as such before
/// it is asked for one again (the official SDKs' 24 h).
const METADATA_TOKENLESS_RECHECK: Duration = Duration::from_secs(24 * 3600);

/// Shortest wait between two background refreshes.
const MIN_BACKGROUND_GAP: Duration = Duration::from_millis(500);

/// One set of temporary keys.
#[derive(Clone, PartialEq, Eq)]
pub struct TemporaryKeys {
    /// Access key id.
    pub access_key: String,
    /// Secret key.
    pub secret_key: Secret,
    /// `X-Security-Token`.
    pub security_token: Secret,
}

impl std::fmt::Debug for TemporaryKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TemporaryKeys(<redacted>)")
    }
}

struct Cached {
    keys: Arc<TemporaryKeys>,
    refresh_at: Instant,
    use_until: Instant,
}

#[derive(Default)]
struct State {
    keys: Option<Cached>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<PollError>,
    /// ECS metadata session token; `Some(None)`: the service has none (older metadata).
    session: Option<Option<Secret>>,
    /// When the metadata service last said it has no session tokens.
    tokenless_since: Option<Instant>,
    /// A background refresher runs.
    refresher: bool,
}

/// Temporary keys per credential name.
pub struct TemporaryCache {
    entries: Mutex<HashMap<String, Arc<tokio::sync::Mutex<State>>>>,
    /// The pod identity and id token files (the last good version while one is half
    /// written).
    files: Arc<FileSecrets>,
    /// Where refreshes and failures are shown (the landing page's credentials).
    board: Arc<CredentialBoard>,
}

impl std::fmt::Debug for TemporaryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TemporaryCache")
    }
}

impl TemporaryCache {
    /// An empty cache recording its refreshes on `board`.
    pub fn new(board: Arc<CredentialBoard>) -> Self {
        TemporaryCache {
            entries: Mutex::default(),
            files: Arc::default(),
            board,
        }
    }

    fn entry(&self, credential: &str) -> Arc<tokio::sync::Mutex<State>> {
        let mut g = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        g.entry(credential.to_string()).or_default().clone()
    }

    /// Valid keys for `credential`: the cached ones, or new ones (one request however many
    /// callers wait).
    pub async fn keys(
        &self,
        transport: &Arc<Transport>,
        credential: &NamedCredential,
        timeout: Duration,
    ) -> Result<Arc<TemporaryKeys>, PollError> {
        let entry = self.entry(&credential.name);
        let mut st = entry.lock().await;
        let now = Instant::now();
        if let Some(c) = &st.keys
            && now < c.refresh_at
        {
            return Ok(c.keys.clone());
        }
        if let Some(retry_at) = st.retry_at
            && now < retry_at
        {
            if let Some(c) = st.keys.as_ref().filter(|c| now < c.use_until) {
                return Ok(c.keys.clone());
            }
            let mut e = st.last_error.clone().unwrap_or_else(|| {
                PollError::local(ErrorCode::Auth, "temporary credential request failed")
            });
            e.message = format!(
                "{} (credential requests paused for {}s after {} failure(s))",
                e.message,
                (retry_at - now).as_secs() + 1,
                st.failures
            );
            return Err(e);
        }
        let result = refresh_locked(
            transport,
            &self.files,
            &self.board,
            credential,
            &mut st,
            timeout,
        )
        .await;
        if result.is_ok() && !st.refresher {
            st.refresher = true;
            spawn_refresher(
                Arc::downgrade(&entry),
                transport.clone(),
                self.files.clone(),
                self.board.clone(),
                credential.clone(),
                timeout,
            );
        }
        result
    }

    /// Forgets `used` if still cached (an API answered 401 to it).
    pub async fn invalidate(&self, credential: &str, used: &Arc<TemporaryKeys>) {
        let entry = self.entry(credential);
        let mut st = entry.lock().await;
        if st.keys.as_ref().is_some_and(|c| &c.keys == used) {
            st.keys = None;
        }
    }
}

/// Fetches new keys with the state locked, recording success or the failure's back-off.
async fn refresh_locked(
    transport: &Transport,
    files: &FileSecrets,
    board: &CredentialBoard,
    credential: &NamedCredential,
    st: &mut State,
    timeout: Duration,
) -> Result<Arc<TemporaryKeys>, PollError> {
    match fetch(transport, files, credential, st, timeout).await {
        Ok((keys, lifetime)) => {
            let now = Instant::now();
            let ahead = refresh_ahead(lifetime);
            st.failures = 0;
            st.retry_at = None;
            st.last_error = None;
            let keys = Arc::new(keys);
            st.keys = Some(Cached {
                keys: keys.clone(),
                refresh_at: now + lifetime - ahead,
                use_until: now + lifetime.mul_f64(0.95),
            });
            let wall = SystemTime::now();
            board.refreshed(&credential.name, wall + lifetime, wall + (lifetime - ahead));
            tracing::debug!(
                credential = %credential.name,
                kind = credential.credential.kind(),
                lifetime_ms = lifetime.as_millis() as u64,
                refresh_in_ms = (lifetime - ahead).as_millis() as u64,
                "temporary credentials issued"
            );
            Ok(keys)
        }
        Err(mut e) => {
            e.message = format!(
                "temporary credentials of `{}` ({}): {}",
                credential.name,
                credential.credential.kind(),
                e.message
            );
            st.failures = st.failures.saturating_add(1);
            let backoff = FAILURE_BACKOFF.delay(st.failures);
            st.retry_at = Some(Instant::now() + backoff);
            st.last_error = Some(e.clone());
            board.failed(&credential.name, &e, SystemTime::now() + backoff);
            tracing::warn!(
                api = "credentials",
                credential = %credential.name,
                error_code = %e.code,
                status = e.status.unwrap_or(0),
                request_id = e.request_id.as_deref().unwrap_or(""),
                reason = %e.message,
                retry_in_s = backoff.as_secs(),
                "temporary credential request failed"
            );
            match st.keys.as_ref().filter(|c| Instant::now() < c.use_until) {
                Some(c) => Ok(c.keys.clone()),
                None => Err(e),
            }
        }
    }
}

/// How long before the end of keys living `lifetime` they are refreshed: at half the
/// life or 40 min before expiry, whichever comes first, but never in the first third of
/// the life (short-lived keys are not fetched in a loop).
fn refresh_ahead(lifetime: Duration) -> Duration {
    (lifetime / 2)
        .max(REFRESH_AHEAD)
        .min(lifetime.mul_f64(2.0 / 3.0))
}

/// Refreshes the keys of one credential ahead of expiry in the background, so they are
/// renewed even when no poll needs them at that moment; ends when the cache is dropped
/// (a reload) or the keys are forgotten.
fn spawn_refresher(
    entry: Weak<tokio::sync::Mutex<State>>,
    transport: Arc<Transport>,
    files: Arc<FileSecrets>,
    board: Arc<CredentialBoard>,
    credential: NamedCredential,
    timeout: Duration,
) {
    tokio::spawn(async move {
        loop {
            let wake = {
                let Some(e) = entry.upgrade() else { return };
                let mut st = e.lock().await;
                match (st.retry_at, &st.keys) {
                    (Some(at), _) if at > Instant::now() => at,
                    (_, Some(c)) => c.refresh_at,
                    _ => {
                        st.refresher = false;
                        return;
                    }
                }
            };
            // Never more often than twice a second, whatever the keys' life.
            let wake = wake.max(Instant::now() + MIN_BACKGROUND_GAP);
            tokio::time::sleep_until(wake).await;
            let Some(e) = entry.upgrade() else { return };
            let mut st = e.lock().await;
            let due = st
                .keys
                .as_ref()
                .is_none_or(|c| Instant::now() >= c.refresh_at);
            let paused = st.retry_at.is_some_and(|at| Instant::now() < at);
            if due && !paused && st.keys.is_some() {
                let _ =
                    refresh_locked(&transport, &files, &board, &credential, &mut st, timeout).await;
            } else if st.keys.is_none() {
                st.refresher = false;
                return;
            }
        }
    });
}

fn local(message: String) -> PollError {
    PollError::local(ErrorCode::Config, message)
}

fn request(
    method: reqwest::Method,
    url: &str,
    timeout: Duration,
) -> Result<reqwest::Request, PollError> {
    let url =
        reqwest::Url::parse(url).map_err(|e| local(format!("cannot build URL {url}: {e}")))?;
    let mut req = reqwest::Request::new(method, url);
    *req.timeout_mut() = Some(timeout);
    Ok(req)
}

fn sensitive(v: &str, what: &str) -> Result<HeaderValue, PollError> {
    let mut h = HeaderValue::from_str(v.trim()).map_err(|_| {
        local(format!(
            "{what} holds characters not allowed in an HTTP header"
        ))
    })?;
    h.set_sensitive(true);
    Ok(h)
}

fn json_body(req: &mut reqwest::Request, body: &Value) {
    req.headers_mut().insert(
        reqwest::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    *req.body_mut() = Some(body.to_string().into());
}

/// Reads a token file (looked at for every request: they rotate); the last good version
/// while a new one is half written.
fn token_file(files: &FileSecrets, path: &Path, what: &str) -> Result<String, PollError> {
    let token = files.read(what, path).map_err(|why| {
        PollError::local(
            ErrorCode::Auth,
            format!("cannot use the {what} {}: {why}", path.display()),
        )
    })?;
    Ok(token.expose().trim().to_string())
}

async fn fetch(
    transport: &Transport,
    files: &FileSecrets,
    credential: &NamedCredential,
    st: &mut State,
    timeout: Duration,
) -> Result<(TemporaryKeys, Duration), PollError> {
    let response = match &credential.credential {
        Credential::EcsMetadata { endpoint } => ecs(transport, endpoint, st, timeout).await?,
        Credential::PodIdentity { uri, token_file: f } => {
            let token = token_file(files, f, "pod identity token file")?;
            let mut req = request(reqwest::Method::POST, uri, timeout)?;
            req.headers_mut().insert(
                reqwest::header::AUTHORIZATION,
                sensitive(&token, "the pod identity token")?,
            );
            json_body(&mut req, &serde_json::json!({}));
            transport.send(Service::Credentials, req).await?
        }
        Credential::Oidc {
            provider_urn,
            agency_urn,
            id_token_file,
            sts_endpoint,
            duration,
        } => {
            let id_token = token_file(files, id_token_file, "OIDC id token file")?;
            let url = format!("{sts_endpoint}/v5/agencies/assume-with-oidc");
            let mut req = request(reqwest::Method::POST, &url, timeout)?;
            json_body(
                &mut req,
                &serde_json::json!({
                    "provider_urn": provider_urn,
                    "agency_urn": agency_urn,
                    "agency_session_name": SESSION_NAME,
                    "id_token": id_token,
                    "duration_seconds": duration.as_secs(),
                }),
            );
            transport.send(Service::Credentials, req).await?
        }
        _ => return Err(local("not a temporary credential".into())),
    };
    parse_keys(&response.body, SystemTime::now()).map_err(|why| {
        transport
            .counters()
            .count_error(Service::Credentials, &ErrorCode::Decode, 1);
        PollError {
            code: ErrorCode::Decode,
            status: Some(response.status),
            message: why,
            request_id: response.request_id.clone(),
        }
    })
}

/// The metadata service: a session token first (404/405/503: an older service, go on
/// without, and ask again after 24 h), then the security key; a 401 that is not "no
/// agency" gets a new session token (required then: 404/405/503 is an error) and one more
/// try. As the official SDK core's `MetadataAccessor` does.
async fn ecs(
    transport: &Transport,
    endpoint: &str,
    st: &mut State,
    timeout: Duration,
) -> Result<UpstreamResponse, PollError> {
    let mut retried = false;
    if matches!(st.session, Some(None))
        && st
            .tokenless_since
            .is_none_or(|t| t.elapsed() >= METADATA_TOKENLESS_RECHECK)
    {
        st.session = None;
    }
    loop {
        if st.session.is_none() {
            // After a 401 a session token is required: an answer that there are none is
            // an error then, not "go on without".
            let token = session_token(transport, endpoint, timeout, retried).await?;
            if token.is_none() {
                st.tokenless_since = Some(Instant::now());
            }
            st.session = Some(token);
        }
        let mut req = request(
            reqwest::Method::GET,
            &format!("{endpoint}/openstack/latest/securitykey"),
            timeout,
        )?;
        if let Some(Some(t)) = &st.session {
            req.headers_mut().insert(
                "x-metadata-token",
                sensitive(t.expose(), "the metadata session token")?,
            );
        }
        let response = transport.exchange(Service::Credentials, req).await?;
        if response.status == 401 {
            let no_agency = String::from_utf8_lossy(&response.body).contains(AGENCY_NOT_CONFIGURED);
            if !no_agency && !retried {
                retried = true;
                st.session = None;
                continue;
            }
            if no_agency {
                let mut e = transport
                    .accept(Service::Credentials, response)
                    .unwrap_err();
                e.message = format!(
                    "no agency is bound to this server ({AGENCY_NOT_CONFIGURED}): bind one in the ECS console"
                );
                return Err(e);
            }
        }
        return transport.accept(Service::Credentials, response);
    }
}

async fn session_token(
    transport: &Transport,
    endpoint: &str,
    timeout: Duration,
    required: bool,
) -> Result<Option<Secret>, PollError> {
    let mut req = request(
        reqwest::Method::PUT,
        &format!("{endpoint}/meta-data/latest/api/token"),
        timeout,
    )?;
    req.headers_mut().insert(
        "x-metadata-token-ttl-seconds",
        HeaderValue::from_static(METADATA_SESSION_TTL),
    );
    let response = transport.exchange(Service::Credentials, req).await?;
    if matches!(response.status, 404 | 405 | 503) && !required {
        return Ok(None);
    }
    let response = transport.accept(Service::Credentials, response)?;
    let token = String::from_utf8_lossy(&response.body).trim().to_string();
    Ok((!token.is_empty()).then(|| Secret::new(token)))
}

/// The keys and their remaining life from any source's answer: every key-name variant,
/// wrapped in `credential` / `credentials` or not.
pub fn parse_keys(body: &[u8], now: SystemTime) -> Result<(TemporaryKeys, Duration), String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the credential answer is not JSON: {e}"))?;
    let obj = v
        .get("credential")
        .or_else(|| v.get("credentials"))
        .filter(|o| o.is_object())
        .unwrap_or(&v);
    let pick = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| obj.get(*n).and_then(Value::as_str))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let access = pick(&["access", "accessKeyId", "access_key_id", "AccessKeyId"]);
    let secret = pick(&[
        "secret",
        "secretAccessKey",
        "secret_access_key",
        "SecretAccessKey",
    ]);
    let token = pick(&[
        "securitytoken",
        "securityToken",
        "security_token",
        "SecurityToken",
    ]);
    let expires = pick(&["expires_at", "expiration", "expiresAt", "Expiration"]);
    let (Some(access), Some(secret), Some(token)) = (access, secret, token) else {
        return Err(
            "the credential answer lacks the access key, secret key or security token".into(),
        );
    };
    let now_s = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let lifetime = match expires.as_deref().map(parse_timestamp) {
        Some(Ok(at)) => Duration::from_secs_f64((at - now_s).max(0.0)),
        Some(Err(_)) => return Err("the credential answer has an unreadable expiry".into()),
        // No expiry: keys are refreshed every 15 minutes.
        None => Duration::from_secs(900),
    };
    Ok((
        TemporaryKeys {
            access_key: access,
            secret_key: Secret::new(secret),
            security_token: Secret::new(token),
        },
        lifetime,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_name_variant_is_read() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        for body in [
            r#"{"credential":{"access":"A","secret":"S","securitytoken":"T","expires_at":"2026-11-18T11:16:40.000000Z"}}"#,
            r#"{"credentials":{"accessKeyId":"A","secretAccessKey":"S","securityToken":"T","expiration":"2026-11-18T11:16:40Z"}}"#,
            r#"{"access_key_id":"A","secret_access_key":"S","security_token":"T","expires_at":"2026-11-18T11:16:40.000000Z"}"#,
        ] {
            let (k, life) = parse_keys(body.as_bytes(), now).expect(body);
            assert_eq!(k.access_key, "A");
            assert_eq!(k.secret_key.expose(), "S");
            assert_eq!(k.security_token.expose(), "T");
            assert_eq!(life, Duration::from_secs(600), "{life:?}");
        }
        assert!(parse_keys(br#"{"credential":{"access":"A"}}"#, now).is_err());
        assert!(
            !format!(
                "{:?}",
                parse_keys(br#"{"access":"A","secret":"S","securitytoken":"T"}"#, now)
            )
            .contains("\"S\"")
        );
    }
}

#[cfg(test)]
mod lifetime_tests {
    use super::*;

    #[test]
    fn keys_are_refreshed_at_least_40_minutes_ahead_when_their_life_allows() {
        let min = |m: u64| Duration::from_secs(m * 60);
        // The SDKs' threshold: 40 minutes before expiry.
        assert_eq!(refresh_ahead(min(60)), min(40));
        assert_eq!(refresh_ahead(min(90)), min(45), "half the life when sooner");
        assert_eq!(refresh_ahead(min(24 * 60)), min(12 * 60));
        // Never in the first third of the life.
        assert_eq!(refresh_ahead(min(15)), min(10));
        assert_eq!(
            refresh_ahead(Duration::from_secs(3)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn a_short_expiry_gives_its_lifetime() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let body = br#"{"credential":{"access":"A","secret":"S","securitytoken":"T","expires_at":"2026-11-18T11:06:42.500000Z"}}"#;
        let (_, life) = parse_keys(body, now).expect("keys");
        assert!((life.as_secs_f64() - 2.5).abs() < 0.01, "{life:?}");
    }
}
