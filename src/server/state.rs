//! What every handler reads: the shared state, the server's limits, the response body
//! type and the paths of the fixed routes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::status::StatusCache;
use super::web::WebState;
use crate::exposition::Exposition;
use crate::model::credentials::CredentialBoard;
use crate::store::Snapshot;

/// Largest request head (request line and headers); larger ones get 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Largest request body a client may announce; none is read, larger ones get 413.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;
/// Environment variable that overrides [`ServerLimits::header_read_timeout`]
/// (humantime: `10s`, `500ms`); for tests and unusual networks.
pub const HEADER_READ_TIMEOUT_ENV: &str = "HWC_QUOTA_HEADER_READ_TIMEOUT";
/// Path of the JSON status.
pub const STATUS_PATH: &str = "/api/v1/status";
/// Path of the reload endpoint.
pub const RELOAD_PATH: &str = "/-/reload";

/// Connection limits of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time for the TLS handshake and for each request head, including the wait for the
    /// next request on a keep-alive connection: idle connections close after this.
    pub header_read_timeout: Duration,
    /// A response write that makes no progress for this long closes the connection.
    pub write_stall_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            write_stall_timeout: Duration::from_secs(30),
            max_connections: 4096,
        }
    }
}

impl ServerLimits {
    /// The defaults, with [`HEADER_READ_TIMEOUT_ENV`] applied when set.
    pub fn from_env() -> Result<ServerLimits, String> {
        let mut limits = ServerLimits::default();
        if let Ok(v) = std::env::var(HEADER_READ_TIMEOUT_ENV) {
            let d = humantime::parse_duration(v.trim()).map_err(|e| {
                format!(
                    "{HEADER_READ_TIMEOUT_ENV}=`{v}` is not a duration such as 10s or 500ms: {e}"
                )
            })?;
            if d.is_zero() {
                return Err(format!(
                    "{HEADER_READ_TIMEOUT_ENV} must be longer than zero"
                ));
            }
            limits.header_read_timeout = d;
        }
        Ok(limits)
    }
}

/// Largest piece of a response body handed to hyper at once: large enough that a 16 MB
/// exposition goes out in few system calls (hyper gathers up to 16 pieces per `writev`),
/// small enough that a body's `--web.max-requests` slot is held until nearly all of it is
/// on the wire.
pub const BODY_PIECE_BYTES: usize = 256 * 1024;

/// A response body made of ready chunks (lets a scrape send the cached body without copying).
#[derive(Debug, Default)]
pub struct Chunks {
    chunks: VecDeque<Bytes>,
    /// A `--web.max-requests` slot, held until the body is sent or dropped.
    slot: Option<OwnedSemaphorePermit>,
}

impl Chunks {
    /// A body of these chunks, sent in pieces of at most [`BODY_PIECE_BYTES`] (slices, not
    /// copies, cut as hyper asks for them): hyper asks for the next piece only once its
    /// buffer has room, so a body is done (and its `--web.max-requests` slot free) only
    /// when nearly all of it is on the wire, not as soon as hyper has queued it.
    pub fn new(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        Chunks {
            chunks: chunks.into_iter().filter(|c| !c.is_empty()).collect(),
            slot: None,
        }
    }
    /// This body, holding `slot` until it is sent (or the client goes away).
    pub(crate) fn holding(mut self, slot: Option<OwnedSemaphorePermit>) -> Self {
        self.slot = slot;
        self
    }
    pub(crate) fn text(s: impl Into<String>) -> Self {
        Chunks::new([Bytes::from(s.into())])
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let piece = match this.chunks.front_mut() {
            Some(c) if c.len() > BODY_PIECE_BYTES => Some(c.split_to(BODY_PIECE_BYTES)),
            _ => this.chunks.pop_front(),
        };
        match piece {
            Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
            None => {
                // Sent: the slot is free for the next scrape even while the connection stays.
                this.slot = None;
                Poll::Ready(None)
            }
        }
    }
    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }
    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.chunks.iter().map(|b| b.len() as u64).sum())
    }
}

/// What `POST /-/reload` runs: reload the configuration, `Ok` with a message for the
/// response, or `Err` with the reason (the old configuration keeps running).
pub type ReloadFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// The reload action behind `POST /-/reload` (set with `--web.enable-lifecycle`).
pub type ReloadHook = Arc<dyn Fn() -> ReloadFuture + Send + Sync>;

/// What the handlers read.
pub struct AppState {
    /// Target states (landing page, JSON status).
    pub(crate) snapshot: Arc<Snapshot>,
    /// The rendered exposition.
    pub(crate) exposition: Arc<Exposition>,
    /// Path of the metrics endpoint.
    pub(crate) telemetry_path: String,
    /// When the process started (uptime).
    pub(crate) started: Instant,
    /// When the process started (wall clock, for the JSON status).
    pub(crate) started_at: SystemTime,
    /// TLS, basic auth, headers and rate limit from `--web.config.file`; swapped on reload.
    pub(crate) web: Arc<WebState>,
    /// `POST /-/reload`: set it with `--web.enable-lifecycle`; while `None` the route
    /// answers 403, as Prometheus does. The hook runs on an async worker, so blocking work
    /// belongs in `spawn_blocking`; to re-read the web config as SIGHUP does, call
    /// [`WebState::reload`] on [`AppState::web`] from it. For example:
    /// `state.with_reload(Arc::new(move || Box::pin(async move { Ok("reloaded".into()) })))`.
    pub(crate) reload: Option<ReloadHook>,
    /// Connection limits.
    pub(crate) limits: ServerLimits,
    /// `--web.max-requests`: scrapes of the telemetry path served at once (`None`: no
    /// limit); a scrape that finds no free slot gets 503.
    pub(crate) scrape_slots: Option<(usize, Arc<Semaphore>)>,
    /// Whether scrapes carry the `process_*` metrics (`--web.disable-exporter-metrics`
    /// turns them off).
    pub(crate) process_metrics: bool,
    /// The landing page's and JSON status's model, rebuilt when the snapshot changed.
    pub(crate) status: StatusCache,
    /// Every configured credential's state (the landing page's Credentials section).
    pub(crate) credentials: Arc<CredentialBoard>,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("telemetry_path", &self.telemetry_path)
            .field("web", &self.web)
            .field("reload", &self.reload.is_some())
            .field("limits", &self.limits)
            .field("max_requests", &self.scrape_slots.as_ref().map(|(n, _)| n))
            .field("process_metrics", &self.process_metrics)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State with no web config, no reload hook and default limits; the `with_*`
    /// methods set those.
    pub fn new(
        snapshot: Arc<Snapshot>,
        exposition: Arc<Exposition>,
        telemetry_path: impl Into<String>,
    ) -> AppState {
        AppState {
            snapshot,
            exposition,
            telemetry_path: telemetry_path.into(),
            started: Instant::now(),
            started_at: SystemTime::now(),
            web: Arc::new(WebState::default()),
            reload: None,
            limits: ServerLimits::default(),
            scrape_slots: None,
            process_metrics: true,
            status: StatusCache::default(),
            credentials: Arc::default(),
        }
    }

    /// Showing the credentials of `board` on the landing page.
    pub fn with_credentials(mut self, board: Arc<CredentialBoard>) -> AppState {
        self.credentials = board;
        self
    }

    /// With this web config (TLS, basic auth, headers), swapped on reload.
    pub fn with_web(mut self, web: Arc<WebState>) -> AppState {
        self.web = web;
        self
    }

    /// With these connection limits.
    pub fn with_limits(mut self, limits: ServerLimits) -> AppState {
        self.limits = limits;
        self
    }

    /// At most `max` scrapes served at once (`--web.max-requests`); 0 means no limit.
    pub fn with_max_requests(mut self, max: usize) -> AppState {
        self.scrape_slots = (max > 0).then(|| (max, Arc::new(Semaphore::new(max))));
        self
    }

    /// Without the `process_*` metrics in scrapes (`--web.disable-exporter-metrics`).
    pub fn without_process_metrics(mut self) -> AppState {
        self.process_metrics = false;
        self
    }

    /// With `POST /-/reload` running `hook` (`--web.enable-lifecycle`).
    pub fn with_reload(mut self, hook: ReloadHook) -> AppState {
        self.reload = Some(hook);
        self
    }
}
