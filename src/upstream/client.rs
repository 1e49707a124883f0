//! The one upstream client every target shares: the transport, authentication before
//! each send, retries with back-off within a poll's budget, and the poll turn semaphore.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::auth::Authenticator;
use super::backoff::{Backoff, Jitter};
use super::decode::DecodeError;
use super::tls::HttpClients;
use super::transport::{Transport, TransportSettings, UpstreamResponse};
use crate::config::Project;
use crate::model::api::{Api, Service};
use crate::model::outcome::{ApiCounters, ErrorCode, PollError};
use crate::model::target::Target;

/// Retries wait up to 250 ms, 500 ms, 1 s, ... up to 8 s (full jitter).
const RETRY_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(250),
    cap: Duration::from_secs(8),
    jitter: Jitter::Full,
};

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

/// The one upstream client every target shares: transport, authentication, retries.
pub struct UpstreamClient {
    transport: Arc<Transport>,
    polls: Semaphore,
    settings: ClientSettings,
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
    pub fn new(settings: ClientSettings, counters: Arc<ApiCounters>) -> Result<Self, String> {
        let http = super::tls::build_http_client(&Default::default())?;
        let transport = Arc::new(Transport::new(
            http,
            TransportSettings {
                concurrency: settings.concurrency,
                rate_limit: settings.rate_limit,
                max_body_bytes: settings.max_body_bytes,
            },
            counters.clone(),
        ));
        Ok(UpstreamClient {
            polls: Semaphore::new(
                (settings.concurrency.max(1) as usize).saturating_mul(POLLS_PER_REQUEST_SLOT),
            ),
            settings,
            auth: Authenticator::new(transport.clone()),
            transport,
            counters,
        })
    }

    /// Builds the HTTP clients of `config` (one per distinct `http` setting) and uses
    /// them from now on, and lists its credentials on the credential board: at start and
    /// at every reload. `Err` leaves the old ones.
    pub fn configure_http(&self, config: &crate::config::Config) -> Result<(), String> {
        self.transport.set_clients(HttpClients::build(config)?);
        let mut seen = std::collections::BTreeSet::new();
        let in_use = config
            .projects
            .iter()
            .map(|p| &*p.credential)
            .chain(config.discovery.iter().map(|d| &*d.credential))
            .filter(|c| seen.insert(c.name.clone()));
        self.auth.board().configure(in_use);
        Ok(())
    }

    /// The state of every configured credential (refreshes, failures), for the landing
    /// page.
    pub fn credential_board(&self) -> Arc<crate::model::credentials::CredentialBoard> {
        self.auth.board().clone()
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
        self.execute(target.api().into(), &target.project, req)
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
        decode: impl Fn(&[u8]) -> Result<T, DecodeError>,
    ) -> Result<T, PollError> {
        let settings = target.settings();
        let mut attempt = 1;
        loop {
            let err = match self.get(target, path_and_query).await {
                Ok(response) => match decode(&response.body) {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        self.counters
                            .count_error(target.api().into(), &ErrorCode::Decode, 1);
                        decode_failure(e, &response)
                    }
                },
                Err(e) => e,
            };
            if !err.retryable() || attempt >= self.settings.max_attempts {
                return Err(err);
            }
            let paused = reqwest::Url::parse(&target.base_url)
                .map(|u| self.transport.paused_for(&u))
                .unwrap_or_default();
            let wait = RETRY_BACKOFF.delay(attempt).max(paused);
            if Instant::now() + wait + settings.timeout > budget_end {
                return Err(err);
            }
            tracing::debug!(
                api = target.api().as_str(),
                project = %target.project.id,
                instance = %target.instance_id(),
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
        project: &Project,
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
        self.execute(api.into(), project, req).await
    }

    /// Sends one GET to `base_url` + `path_and_query` for `project`, authenticated with its
    /// credential and counted as `service` (discovery's list calls).
    pub async fn get_for_project(
        &self,
        service: Service,
        project: &Project,
        base_url: &str,
        path_and_query: &str,
    ) -> Result<UpstreamResponse, PollError> {
        let req = build(
            reqwest::Method::GET,
            base_url,
            path_and_query,
            project.settings.timeout,
            None,
        )?;
        self.execute(service, project, req).await
    }

    /// The transport every request shares (for requests that authenticate themselves).
    pub fn transport(&self) -> &Arc<Transport> {
        &self.transport
    }

    /// Attempts per request (1 + retries) for retryable failures.
    pub fn max_attempts(&self) -> u32 {
        self.settings.max_attempts
    }

    /// The authenticator (temporary keys and rotated secret files, for discovery).
    pub fn auth(&self) -> &Authenticator {
        &self.auth
    }

    /// Waits for a turn to poll (see [`POLLS_PER_REQUEST_SLOT`]).
    pub async fn poll_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, PollError> {
        self.polls
            .acquire()
            .await
            .map_err(|_| PollError::shutdown())
    }

    /// Authenticates and sends one request; a 401 to an IAM token is answered by
    /// refreshing the token and sending once more. Authentication comes first, outside
    /// the concurrency cap, since it may itself need a request (an IAM token).
    async fn execute(
        &self,
        service: Service,
        project: &Project,
        req: reqwest::Request,
    ) -> Result<UpstreamResponse, PollError> {
        let timeout = req.timeout().copied().unwrap_or(Duration::from_secs(10));
        // Kept for one retry after a 401 with a refreshed IAM token.
        let spare = req.try_clone();
        let mut req = req;
        let applied = self
            .auth
            .authorize(&project.credential, project, &mut req, timeout)
            .await?;
        let http = Some(&*project.http);
        let mut response = self.transport.exchange_via(service, http, req).await?;
        if response.status == 401
            && let Some(mut again) = spare
            && self
                .auth
                .refused(&project.credential, project, &applied)
                .await
        {
            tracing::debug!(api = service.as_str(), project = %project.id, "401 with an IAM token or temporary keys: refreshing and retrying once");
            self.auth
                .authorize(&project.credential, project, &mut again, timeout)
                .await?;
            response = self.transport.exchange_via(service, http, again).await?;
        }
        self.transport.accept(service, response)
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
        .map_err(|e| PollError::local(ErrorCode::Config, format!("cannot build URL {url}: {e}")))?;
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
pub fn decode_failure(e: DecodeError, response: &UpstreamResponse) -> PollError {
    PollError {
        code: ErrorCode::Decode,
        status: Some(response.status),
        message: e.to_string(),
        request_id: response.request_id.clone(),
    }
}
