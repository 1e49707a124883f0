//! The upstream side: one shared HTTP client, per-host rate limits, the global concurrency
//! cap, error decoding, and one poll function per API (request in the API's own file).
//!
//! Decoders are pure functions over bytes (see [`roma`], [`eventgrid`], [`gaussdb`]); this
//! module does the I/O around them and turns every failure into a [`PollError`] that keeps
//! the upstream `error_code` and `X-Request-Id`.

pub mod endpoints;
pub mod error;
pub mod eventgrid;
pub mod gaussdb;
pub mod roma;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use bytes::{Bytes, BytesMut};
use rand::Rng as _;
use tokio::sync::Semaphore;

use crate::auth::Authenticator;
use crate::sample::{Api, PollOutput};
use crate::target::Target;

/// The user agent sent upstream: name and version, so API owners can tell who calls.
pub const USER_AGENT: &str = concat!("huaweicloud-quota-exporter/", env!("CARGO_PKG_VERSION"));

/// Most resources plus client quotas one target may hold, so absurd answers cannot grow
/// memory (and the exposition) without bound.
pub const MAX_ITEMS_PER_TARGET: usize = 10_000;

/// Why a poll failed. `code` is the upstream `error_code` when there was one, else a local
/// code: `timeout`, `connect`, `http`, `decode`, `body_too_large`, `auth`, `http_<status>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollError {
    /// Upstream `error_code` or a local code.
    pub code: String,
    /// HTTP status, when a response came.
    pub status: Option<u16>,
    /// Human-readable reason (single line, never a secret).
    pub message: String,
    /// Upstream request id (`X-Request-Id` or the body's `request_id`).
    pub request_id: Option<String>,
}

impl PollError {
    /// An error found locally (no upstream response involved).
    pub fn local(code: &str, message: impl Into<String>) -> Self {
        PollError {
            code: code.to_string(),
            status: None,
            message: message.into(),
            request_id: None,
        }
    }
}

impl PollError {
    /// Whether trying again can help: transport failures, timeouts, 5xx, 429 and bodies
    /// that came truncated or malformed. Client errors (400, 403, 404, ...), auth
    /// failures and oversize bodies would fail the same way again.
    pub fn retryable(&self) -> bool {
        match self.status {
            Some(429) => true,
            Some(s) if s >= 500 => true,
            Some(s) if (200..300).contains(&s) => matches!(self.code.as_str(), "decode" | "http"),
            Some(_) => false,
            None => matches!(
                self.code.as_str(),
                "timeout" | "connect" | "http" | "decode"
            ),
        }
    }
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.status {
            write!(f, "HTTP {s} ")?;
        }
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PollError {}

/// Counters of upstream requests and errors, rendered as
/// `huaweicloud_quota_api_requests_total` and `huaweicloud_quota_api_errors_total`.
#[derive(Debug, Default)]
pub struct ApiCounters {
    requests: Mutex<BTreeMap<(Api, String), u64>>,
    errors: Mutex<BTreeMap<(Api, String), u64>>,
}

impl ApiCounters {
    /// Counts one request by its outcome (`200`, `429`, or a local code such as `timeout`).
    pub fn count_request(&self, api: Api, code: &str) {
        bump(&self.requests, api, code, 1);
    }
    /// Counts `n` errors with this code.
    pub fn count_error(&self, api: Api, code: &str, n: u64) {
        bump(&self.errors, api, code, n);
    }
    /// All request counters, sorted.
    pub fn requests(&self) -> Vec<((Api, String), u64)> {
        copy(&self.requests)
    }
    /// All error counters, sorted.
    pub fn errors(&self) -> Vec<((Api, String), u64)> {
        copy(&self.errors)
    }
}

fn bump(m: &Mutex<BTreeMap<(Api, String), u64>>, api: Api, code: &str, n: u64) {
    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
    *g.entry((api, code.to_string())).or_insert(0) += n;
}

fn copy(m: &Mutex<BTreeMap<(Api, String), u64>>) -> Vec<((Api, String), u64)> {
    let g = m.lock().unwrap_or_else(|e| e.into_inner());
    g.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

/// A token bucket: `rate` requests per second with a burst of `max(1, rate)`, plus the
/// host-wide pause a 429 imposes.
/// Tokens may go negative: each caller reserves its slot and sleeps until it, so
/// waiting callers are served in arrival order without polling.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    refilled: Instant,
    /// No request to this host before this instant (429 `Retry-After` or back-off).
    blocked_until: Option<Instant>,
    /// 429s close together (each within a minute of the last), for the back-off when no
    /// `Retry-After` came.
    throttles: u32,
    /// When the last 429 came.
    last_throttle: Option<Instant>,
}

/// 429s further apart than this start the back-off over.
const THROTTLE_MEMORY: Duration = Duration::from_secs(60);

/// Longest pause a `Retry-After` can impose; larger values are treated as this.
const MAX_THROTTLE: Duration = Duration::from_secs(600);

impl TokenBucket {
    fn new(rate: f64) -> Self {
        let burst = rate.max(1.0);
        TokenBucket {
            rate,
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                refilled: Instant::now(),
                blocked_until: None,
                throttles: 0,
                last_throttle: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BucketState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn acquire(&self) {
        loop {
            let (wait, done) = {
                let mut g = self.lock();
                let now = Instant::now();
                match g.blocked_until {
                    Some(until) if until > now => (until - now, false),
                    _ => {
                        let refill = now.duration_since(g.refilled).as_secs_f64() * self.rate;
                        g.tokens = (g.tokens + refill).min(self.burst) - 1.0;
                        g.refilled = now;
                        let wait = if g.tokens >= 0.0 {
                            Duration::ZERO
                        } else {
                            Duration::from_secs_f64(-g.tokens / self.rate)
                        };
                        (wait, true)
                    }
                }
            };
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            if done {
                return;
            }
        }
    }

    /// A 429 from this host: pause every request to it for `retry_after`, or, without
    /// one, for an exponential back-off (1 s, 2 s, 4 s, ... up to a minute). Successes in
    /// between do not reset it (other calls may still get through a throttled gateway);
    /// a minute without a 429 does.
    fn throttle(&self, retry_after: Option<Duration>) -> Duration {
        let mut g = self.lock();
        let now = Instant::now();
        if g.last_throttle
            .is_some_and(|t| now.duration_since(t) > THROTTLE_MEMORY)
        {
            g.throttles = 0;
        }
        g.last_throttle = Some(now);
        g.throttles = g.throttles.saturating_add(1);
        let pause = match retry_after {
            Some(d) => d.min(MAX_THROTTLE),
            None => {
                let exp = Duration::from_secs(1).saturating_mul(1u32 << (g.throttles - 1).min(6));
                exp.min(Duration::from_secs(60))
                    .mul_f64(rand::rng().random_range(1.0..1.25))
            }
        };
        let until = Instant::now() + pause;
        g.blocked_until = Some(g.blocked_until.map_or(until, |b| b.max(until)));
        pause
    }

    /// How long requests to this host are paused from now.
    fn paused_for(&self) -> Duration {
        let g = self.lock();
        g.blocked_until
            .map(|b| b.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }
}

/// `Retry-After`: delay seconds or an HTTP date.
pub fn parse_retry_after(v: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// Full-jitter exponential back-off before retry number `attempt` (1-based).
fn full_jitter(attempt: u32) -> Duration {
    let ceiling = RETRY_BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(10))
        .min(RETRY_CAP);
    ceiling.mul_f64(rand::rng().random::<f64>())
}

/// First retry waits up to this long (full jitter), doubling per attempt.
const RETRY_BASE: Duration = Duration::from_millis(250);
/// Longest wait between two attempts.
const RETRY_CAP: Duration = Duration::from_secs(8);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn token_bucket_allows_a_burst_then_spaces_requests_at_the_rate() {
        let bucket = TokenBucket::new(5.0);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..11 {
            bucket.acquire().await;
            at.push(start.elapsed());
        }
        // Five at once (the burst), then one every 200 ms.
        assert!(at[4] < Duration::from_millis(1), "{at:?}");
        assert!(
            at[5] >= Duration::from_millis(199) && at[5] < Duration::from_millis(202),
            "{at:?}"
        );
        assert!(
            at[10] >= Duration::from_millis(1199) && at[10] < Duration::from_millis(1202),
            "{at:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_share_the_rate() {
        let bucket = Arc::new(TokenBucket::new(2.0));
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let b = bucket.clone();
            set.spawn(async move {
                b.acquire().await;
                start.elapsed()
            });
        }
        let mut done = Vec::new();
        while let Some(Ok(t)) = set.join_next().await {
            done.push(t);
        }
        done.sort();
        // Burst of 2, then 8 more at 2/s: the last at 4 s, never earlier.
        assert!(done[9] >= Duration::from_millis(3999), "{done:?}");
        for w in done.windows(3) {
            assert!(w[2] - w[0] >= Duration::from_millis(499), "{done:?}");
        }
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode_component("a b/ü"), "a%20b%2F%C3%BC");
        assert_eq!(encode_component("f0fa1789-3b76_x.y~"), "f0fa1789-3b76_x.y~");
    }
}

/// A response whose body was read within the size limit.
#[derive(Debug)]
pub struct UpstreamResponse {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Bytes,
    /// `X-Request-Id`, when sent.
    pub request_id: Option<String>,
    /// `Retry-After`, when sent (seconds or an HTTP date, as a delay from now).
    pub retry_after: Option<Duration>,
}

/// Settings of the shared client.
#[derive(Clone, Copy, Debug)]
pub struct ClientSettings {
    /// Requests in flight at once, whole process.
    pub concurrency: u32,
    /// Requests per second per API host.
    pub rate_limit: f64,
    /// Largest response body accepted.
    pub max_body_bytes: usize,
    /// Attempts per request (1 + retries) for retryable failures.
    pub max_attempts: u32,
}

/// Polls that may be under way at once, per request slot of the concurrency cap. A poll
/// makes its requests one after another, so this many per slot keeps every slot busy
/// (with room for polls that wait out a back-off or a rate limit), while the rest of the
/// targets wait before their poll's state (requests, auth, decoding: several kB) exists.
const POLLS_PER_REQUEST_SLOT: usize = 4;

/// The one HTTP client every target shares, with its limits and counters.
pub struct UpstreamClient {
    http: reqwest::Client,
    concurrency: Semaphore,
    polls: Semaphore,
    settings: ClientSettings,
    buckets: Mutex<HashMap<String, Arc<TokenBucket>>>,
    auth: Authenticator,
    /// Request and error counters.
    pub counters: Arc<ApiCounters>,
}

impl fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl UpstreamClient {
    /// Builds the shared client (rustls, gzip, connect timeout, user agent).
    pub fn new(
        settings: ClientSettings,
        counters: Arc<ApiCounters>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .gzip(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(UpstreamClient {
            http: http.clone(),
            concurrency: Semaphore::new(settings.concurrency.max(1) as usize),
            polls: Semaphore::new(
                (settings.concurrency.max(1) as usize).saturating_mul(POLLS_PER_REQUEST_SLOT),
            ),
            settings,
            buckets: Mutex::new(HashMap::new()),
            auth: Authenticator::new(http.clone(), counters.clone()),
            counters,
        })
    }

    fn bucket(&self, host: &str) -> Arc<TokenBucket> {
        let mut g = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        g.entry(host.to_string())
            .or_insert_with(|| Arc::new(TokenBucket::new(self.settings.rate_limit)))
            .clone()
    }

    /// Sends one GET for `target` to `path_and_query` (relative to the target's base URL),
    /// within the rate limit, the concurrency cap and the target's timeout. Any status
    /// other than 2xx becomes a [`PollError`] with the decoded upstream error.
    pub async fn get(
        &self,
        target: &Target,
        path_and_query: &str,
    ) -> Result<UpstreamResponse, PollError> {
        let req = build(
            reqwest::Method::GET,
            &target.base_url,
            path_and_query,
            target.settings().timeout,
            None,
        )?;
        self.execute(target.api, target.host(), &target.project, req)
            .await
    }

    /// GETs `path_and_query` for `target` and decodes the body, retrying what can be
    /// retried (connection errors, timeouts, 5xx, 429, truncated or malformed bodies) with
    /// full-jitter exponential back-off, within the target's budget: the last attempt must
    /// be able to finish before 90% of the interval has passed, so a poll never overlaps
    /// the next one. 400, 403, 404 and the like are not retried.
    pub async fn fetch<T>(
        &self,
        target: &Target,
        path_and_query: &str,
        budget_end: Instant,
        decode: impl Fn(&[u8]) -> Result<T, error::DecodeError>,
    ) -> Result<T, PollError> {
        let settings = target.settings();
        let mut attempt = 1;
        loop {
            let err = match self.get(target, path_and_query).await {
                Ok(response) => match decode(&response.body) {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        self.counters.count_error(target.api, "decode", 1);
                        decode_failure(e, &response)
                    }
                },
                Err(e) => e,
            };
            if !err.retryable() || attempt >= self.settings.max_attempts {
                return Err(err);
            }
            let wait = full_jitter(attempt).max(self.bucket(&target.host()).paused_for());
            if Instant::now() + wait + settings.timeout > budget_end {
                return Err(err);
            }
            tracing::debug!(
                api = target.api.as_str(),
                project = %target.project.id,
                instance = %target.instance_id,
                error_code = %err.code,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "retrying"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Sends one POST with a JSON body for `project` to `base_url` + `path`.
    pub async fn post_json(
        &self,
        api: Api,
        project: &crate::config::Project,
        base_url: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<UpstreamResponse, PollError> {
        let req = build(
            reqwest::Method::POST,
            base_url,
            path,
            project.settings.timeout,
            Some(body),
        )?;
        let host = req.url().host_str().unwrap_or_default().to_string();
        self.execute(api, host, project, req).await
    }

    async fn execute(
        &self,
        api: Api,
        host: String,
        project: &crate::config::Project,
        req: reqwest::Request,
    ) -> Result<UpstreamResponse, PollError> {
        let bucket = self.bucket(&host);
        bucket.acquire().await;
        let _permit = self
            .concurrency
            .acquire()
            .await
            .map_err(|_| PollError::local("shutdown", "the exporter is shutting down"))?;
        let timeout = req.timeout().copied().unwrap_or(Duration::from_secs(10));
        // Kept for one retry after a 401 with a refreshed IAM token.
        let spare = req.try_clone();
        let mut req = req;
        let applied = self
            .auth
            .authorize(&project.credential, project, &mut req, timeout)
            .await?;
        let mut result = self.send_counted(api, req).await;
        if matches!(&result, Ok(r) if r.status == 401)
            && let Some(mut again) = spare
            && self
                .auth
                .refused(&project.credential, project, &applied)
                .await
        {
            tracing::debug!(api = api.as_str(), project = %project.id, "401 with an IAM token: refreshing it and retrying once");
            self.auth
                .authorize(&project.credential, project, &mut again, timeout)
                .await?;
            result = self.send_counted(api, again).await;
        }
        let response = result.inspect_err(|e| self.counters.count_error(api, &e.code, 1))?;
        if (200..300).contains(&response.status) {
            return Ok(response);
        }
        if response.status == 429 {
            let pause = bucket.throttle(response.retry_after);
            tracing::debug!(host = %host, pause_ms = pause.as_millis() as u64, retry_after = response.retry_after.is_some(), "throttled: pausing every request to this host");
        }
        let decoded = error::decode_error_body(&response.body);
        let err = PollError {
            code: decoded
                .code
                .unwrap_or_else(|| format!("http_{}", response.status)),
            status: Some(response.status),
            message: decoded
                .message
                .unwrap_or_else(|| format!("HTTP {} with an empty body", response.status)),
            request_id: response.request_id.or(decoded.request_id),
        };
        self.counters.count_error(api, &err.code, 1);
        Err(err)
    }

    /// Sends one request and counts it by status (or local error code).
    async fn send_counted(
        &self,
        api: Api,
        req: reqwest::Request,
    ) -> Result<UpstreamResponse, PollError> {
        let result = self.read(req).await;
        let code = match &result {
            Ok(r) => r.status.to_string(),
            Err(e) => e
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.code.clone()),
        };
        self.counters.count_request(api, &code);
        result
    }

    /// Sends and reads the body, stopping as soon as it exceeds the size limit.
    async fn read(&self, req: reqwest::Request) -> Result<UpstreamResponse, PollError> {
        let limit = self.settings.max_body_bytes;
        let mut resp = self.http.execute(req).await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(128).collect::<String>());
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        let too_large = |request_id: Option<String>| PollError {
            code: "body_too_large".to_string(),
            status: Some(status),
            message: format!("response body exceeds the limit of {limit} bytes"),
            request_id,
        };
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large(request_id));
        }
        let mut body = BytesMut::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        return Err(too_large(request_id));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    let mut err = transport_error(e);
                    err.status = Some(status);
                    err.request_id = request_id;
                    return Err(err);
                }
            }
        }
        Ok(UpstreamResponse {
            status,
            body: body.freeze(),
            request_id,
            retry_after,
        })
    }

    /// Polls one target: every call its API needs, decoded into one [`PollOutput`].
    /// All calls and their retries share one budget: 90% of the interval.
    pub async fn poll(&self, target: &Target) -> Result<PollOutput, PollError> {
        let budget_end = Instant::now() + target.settings().interval.mul_f64(0.9);
        let _turn = self
            .polls
            .acquire()
            .await
            .map_err(|_| PollError::local("shutdown", "the exporter is shutting down"))?;
        // Boxed: a waiting target then holds a few bytes, not the poll's whole state.
        Box::pin(self.poll_now(target, budget_end)).await
    }

    async fn poll_now(
        &self,
        target: &Target,
        budget_end: Instant,
    ) -> Result<PollOutput, PollError> {
        let output = match target.api {
            Api::RomaLivedata => roma::poll_livedata(self, target, budget_end).await,
            Api::RomaAppQuota => roma::poll_app_quotas(self, target, budget_end).await,
            Api::Eventgrid => eventgrid::poll(self, target, budget_end).await,
            Api::GaussdbMysql => gaussdb::poll(self, target, budget_end).await,
            Api::Iam => Err(PollError::local("config", "IAM is not a pollable API")),
        }?;
        let items = output.resources.len() + output.clients.len();
        if items > MAX_ITEMS_PER_TARGET {
            self.counters.count_error(target.api, "too_many_items", 1);
            return Err(PollError::local(
                "too_many_items",
                format!(
                    "upstream returned {items} items, more than the limit of {MAX_ITEMS_PER_TARGET} per target"
                ),
            ));
        }
        Ok(output)
    }
}

fn build(
    method: reqwest::Method,
    base_url: &str,
    path_and_query: &str,
    timeout: Duration,
    json_body: Option<Vec<u8>>,
) -> Result<reqwest::Request, PollError> {
    let url = format!("{base_url}{path_and_query}");
    let url = reqwest::Url::parse(&url)
        .map_err(|e| PollError::local("config", format!("cannot build URL {url}: {e}")))?;
    let mut req = reqwest::Request::new(method, url);
    *req.timeout_mut() = Some(timeout);
    let h = req.headers_mut();
    h.insert(
        reqwest::header::ACCEPT,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    if let Some(body) = json_body {
        h.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/json;charset=UTF-8"),
        );
        *req.body_mut() = Some(body.into());
    }
    Ok(req)
}

/// Maps a decode failure of a successful response to the `decode` error.
pub fn decode_failure(e: error::DecodeError, response: &UpstreamResponse) -> PollError {
    PollError {
        code: "decode".to_string(),
        status: Some(response.status),
        message: e.to_string(),
        request_id: response.request_id.clone(),
    }
}

fn transport_error(e: reqwest::Error) -> PollError {
    let code = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_decode() || e.is_body() {
        "decode"
    } else {
        "http"
    };
    // reqwest's Display names the URL, which holds no secret (auth is in headers).
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    PollError::local(code, message)
}

/// Percent-encodes one path segment or query value (ids come from config and upstream).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
