//! The one lower transport every upstream request goes through, API calls and IAM token
//! requests alike: the per-host rate limit, the process-wide concurrency cap, sending,
//! reading the body within the size limit, classifying failures into [`PollError`]s
//! (decoding upstream error bodies, pausing a host after a 429) and counting.

use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::HeaderMap;
use tokio::sync::Semaphore;

use super::decode::decode_error_body;
use super::ratelimit::HostLimits;
use super::tls::{HttpClients, tls_failure, tls_hint};
use crate::config::{HttpSettings, redact_credentials_in};
use crate::model::api::Service;
use crate::model::outcome::{ApiCounters, ErrorCode, PollError, RequestOutcome};

/// The user agent sent upstream (set on every client, so defined where they are built).
pub use super::tls::USER_AGENT;

/// Longest request id kept from a response (they are shown on the landing page).
const REQUEST_ID_CHARS: usize = 128;

/// Everything but `A-Za-z0-9-_.~` is escaped (upper-case hex), as the SDKs do.
const ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes one path segment, query key or query value (ids come from config and
/// upstream; the AK/SK signer encodes the same way).
pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, ESCAPE).to_string()
}

/// A response whose body was read within the size limit.
#[derive(Debug)]
pub struct UpstreamResponse {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Bytes,
    /// `X-Request-Id`, when sent (truncated to a sane length).
    pub request_id: Option<String>,
    /// `Retry-After`, when sent (seconds or an HTTP date, as a delay from now).
    pub retry_after: Option<Duration>,
    /// The response headers (IAM sends its token in one).
    pub headers: HeaderMap,
}

/// The transport's limits.
#[derive(Clone, Copy, Debug)]
pub struct TransportSettings {
    /// Requests in flight at once, whole process.
    pub concurrency: u32,
    /// Requests per second per API host.
    pub rate_limit: f64,
    /// Largest response body accepted.
    pub max_body_bytes: usize,
}

/// Sends requests within the limits, reads them bounded, classifies and counts.
#[derive(Debug)]
pub struct Transport {
    /// One client per distinct `http` setting, swapped whole at a reload.
    clients: arc_swap::ArcSwap<HttpClients>,
    concurrency: Semaphore,
    limits: HostLimits,
    max_body_bytes: usize,
    counters: std::sync::Arc<ApiCounters>,
}

impl Transport {
    /// A transport over `http` with these limits, counting into `counters`.
    pub fn new(
        http: reqwest::Client,
        settings: TransportSettings,
        counters: std::sync::Arc<ApiCounters>,
    ) -> Self {
        Transport {
            clients: arc_swap::ArcSwap::from_pointee(HttpClients::only(http)),
            concurrency: Semaphore::new(settings.concurrency.max(1) as usize),
            limits: HostLimits::new(settings.rate_limit),
            max_body_bytes: settings.max_body_bytes,
            counters,
        }
    }

    /// Uses `clients` from now on (at start and at every reload).
    pub fn set_clients(&self, clients: HttpClients) {
        self.clients.store(std::sync::Arc::new(clients));
    }

    /// [`Transport::send`] over the client of `http` (a project's settings).
    pub async fn send_via(
        &self,
        service: Service,
        http: &HttpSettings,
        req: reqwest::Request,
    ) -> Result<UpstreamResponse, PollError> {
        let response = self.exchange_via(service, Some(http), req).await?;
        self.accept(service, response)
    }

    /// The request and error counters.
    pub fn counters(&self) -> &ApiCounters {
        &self.counters
    }

    /// How long requests to the host of `url` are paused from now (after a 429).
    pub fn paused_for(&self, url: &reqwest::Url) -> Duration {
        self.limits.bucket(&host_key(url)).paused_for()
    }

    /// Sends `req` and returns its 2xx answer; any other status becomes a [`PollError`]
    /// with the decoded upstream error, counted.
    pub async fn send(
        &self,
        service: Service,
        req: reqwest::Request,
    ) -> Result<UpstreamResponse, PollError> {
        let response = self.exchange(service, req).await?;
        self.accept(service, response)
    }

    /// Sends `req` within the host's rate limit and the concurrency cap, and returns the
    /// answer whatever its status. The request is counted; a transport failure is
    /// counted as an error too. Goes through the client of `defaults.http`.
    pub async fn exchange(
        &self,
        service: Service,
        req: reqwest::Request,
    ) -> Result<UpstreamResponse, PollError> {
        self.exchange_via(service, None, req).await
    }

    /// [`Transport::exchange`] over the client of `http` (`None`: `defaults.http`'s).
    pub async fn exchange_via(
        &self,
        service: Service,
        http: Option<&HttpSettings>,
        req: reqwest::Request,
    ) -> Result<UpstreamResponse, PollError> {
        let client = self
            .clients
            .load()
            .client_for(http)
            .map_err(|e| PollError::local(ErrorCode::Config, e))?;
        let host = host_key(req.url());
        self.limits.bucket(&host).acquire().await;
        let _permit = self
            .concurrency
            .acquire()
            .await
            .map_err(|_| PollError::shutdown())?;
        let result = self.read(&client, req, &host).await;
        let outcome = match &result {
            Ok(r) => RequestOutcome::Status(r.status),
            Err(e) => match e.status {
                Some(s) => RequestOutcome::Status(s),
                None => RequestOutcome::Failed(e.code.clone()),
            },
        };
        self.counters.count_request(service, &outcome);
        result.inspect_err(|e| self.counters.count_error(service, &e.code, 1))
    }

    /// Passes a 2xx answer through; anything else becomes the decoded upstream error,
    /// counted. (A 429 has already paused every request to its host.)
    pub fn accept(
        &self,
        service: Service,
        response: UpstreamResponse,
    ) -> Result<UpstreamResponse, PollError> {
        if (200..300).contains(&response.status) {
            return Ok(response);
        }
        let decoded = decode_error_body(&response.body);
        let err = PollError {
            code: ErrorCode::of_answer(decoded.code, response.status),
            status: Some(response.status),
            message: decoded
                .message
                .unwrap_or_else(|| format!("HTTP {} with an empty body", response.status)),
            request_id: response.request_id.or(decoded.request_id),
        };
        self.counters.count_error(service, &err.code, 1);
        Err(err)
    }

    /// Sends and reads the body, stopping as soon as it exceeds the size limit.
    async fn read(
        &self,
        client: &reqwest::Client,
        req: reqwest::Request,
        host: &str,
    ) -> Result<UpstreamResponse, PollError> {
        let limit = self.max_body_bytes;
        let mut resp = client.execute(req).await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(REQUEST_ID_CHARS).collect::<String>());
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        if status == 429 {
            let pause = self.limits.bucket(host).throttle(retry_after);
            tracing::debug!(host = %host, pause_ms = pause.as_millis() as u64, retry_after = retry_after.is_some(), "throttled: pausing every request to this host");
        }
        let too_large = |request_id: Option<String>| PollError {
            code: ErrorCode::BodyTooLarge,
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
            headers: std::mem::take(resp.headers_mut()),
        })
    }
}

/// The rate-limit key of a URL: `host:port`.
pub fn host_key(url: &reqwest::Url) -> String {
    match url.host_str() {
        Some(h) => format!("{}:{}", h, url.port_or_known_default().unwrap_or(0)),
        None => url.as_str().to_string(),
    }
}

/// `Retry-After`: delay seconds or an HTTP date.
pub fn parse_retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

fn transport_error(e: reqwest::Error) -> PollError {
    if let Some(why) = tls_failure(&e) {
        let url = e.url().map(|u| u.as_str()).unwrap_or("the upstream");
        return PollError::local(
            ErrorCode::Tls,
            format!(
                "TLS failure talking to {url}: {why} ({}; see docs/network.md)",
                tls_hint(&why)
            ),
        );
    }
    let code = if e.is_timeout() {
        ErrorCode::Timeout
    } else if e.is_connect() {
        ErrorCode::Connect
    } else if e.is_decode() || e.is_body() {
        ErrorCode::Decode
    } else {
        ErrorCode::Http
    };
    // reqwest's Display names the URL, which holds no secret (auth is in headers); a
    // proxy URL's password is redacted all the same, should an error quote one.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    PollError::local(code, redact_credentials_in(&message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode_component("a b/ü"), "a%20b%2F%C3%BC");
        assert_eq!(encode_component("f0fa1789-3b76_x.y~"), "f0fa1789-3b76_x.y~");
    }

    #[test]
    fn host_keys_carry_the_port() {
        let u = reqwest::Url::parse("https://roma.example/v2").unwrap();
        assert_eq!(host_key(&u), "roma.example:443");
        let u = reqwest::Url::parse("http://127.0.0.1:8080/x").unwrap();
        assert_eq!(host_key(&u), "127.0.0.1:8080");
    }
}
