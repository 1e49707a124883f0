//! The HTTP side: hyper 1 server, TLS and basic auth from `--web.config.file`, routes,
//! limits, and graceful shutdown.
//!
//! `/metrics` serves bytes rendered ahead of time; the landing page and `/api/v1/status`
//! read a model rebuilt only when the snapshot changed. Nothing here touches upstream.
//!
//! Limits, so that a slow, idle or hostile client cannot hold the server: at most
//! [`ServerLimits::max_connections`] connections (further ones wait in the kernel's
//! backlog); the TLS handshake and each request head must arrive within
//! [`ServerLimits::header_read_timeout`], which also closes idle keep-alive connections;
//! request heads are capped at [`MAX_HEADER_BYTES`]; request bodies are never read
//! (announced bodies above [`MAX_BODY_BYTES`] get 413); a response the client stops
//! reading fails after [`ServerLimits::write_stall_timeout`].

pub mod handlers;
pub mod landing;
pub mod stall;
pub mod status;
pub mod web;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::exposition::Exposition;
use crate::store::Snapshot;
use stall::WriteStallGuard;
use status::StatusCache;
use web::WebState;

pub use handlers::handle;

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

/// A response body made of ready chunks (lets a scrape send the cached body without copying).
#[derive(Debug, Default)]
pub struct Chunks(VecDeque<Bytes>);

impl Chunks {
    /// A body of these chunks.
    pub fn new(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        Chunks(chunks.into_iter().filter(|c| !c.is_empty()).collect())
    }
    fn text(s: impl Into<String>) -> Self {
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
        Poll::Ready(self.get_mut().0.pop_front().map(|b| Ok(Frame::data(b))))
    }
    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
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
    pub snapshot: Arc<Snapshot>,
    /// The rendered exposition.
    pub exposition: Arc<Exposition>,
    /// Path of the metrics endpoint.
    pub telemetry_path: String,
    /// When the process started (uptime).
    pub started: Instant,
    /// When the process started (wall clock, for the JSON status).
    pub started_at: SystemTime,
    /// TLS, basic auth, headers and rate limit from `--web.config.file`; swapped on reload.
    pub web: Arc<WebState>,
    /// `POST /-/reload`: set it with `--web.enable-lifecycle`; while `None` the route
    /// answers 403, as Prometheus does. The hook runs on an async worker, so blocking work
    /// belongs in `spawn_blocking`; to re-read the web config as SIGHUP does, call
    /// [`WebState::reload`] on [`AppState::web`] from it. For example:
    /// `state.reload = Some(Arc::new(move || Box::pin(async move { Ok("reloaded".into()) })))`.
    pub reload: Option<ReloadHook>,
    /// Connection limits.
    pub limits: ServerLimits,
    /// The landing page's and JSON status's model, rebuilt when the snapshot changed.
    pub status: StatusCache,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("telemetry_path", &self.telemetry_path)
            .field("web", &self.web)
            .field("reload", &self.reload.is_some())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State with no web config, no reload hook and default limits; set the public
    /// fields to change them.
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
            status: StatusCache::default(),
        }
    }
}

/// Resolves a `--web.listen-address` (`:9876` means every interface) and binds it.
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    if let Some(port) = addr.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("invalid port in listen address `{addr}`"),
            )
        })?;
        // Dual-stack where IPv6 exists; plain IPv4 where it does not.
        return match TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await,
        };
    }
    TcpListener::bind(addr).await
}

/// Serves on every listener until `shutdown` completes, then lets in-flight requests
/// finish for up to `grace`.
pub async fn serve(
    listeners: Vec<TcpListener>,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(state.limits.max_connections));
    let (conn_tx, mut conn_rx) =
        tokio::sync::mpsc::channel::<(TcpStream, SocketAddr, OwnedSemaphorePermit)>(64);
    let mut accepters = Vec::new();
    for l in listeners {
        let tx = conn_tx.clone();
        let slots = slots.clone();
        accepters.push(tokio::spawn(async move {
            loop {
                // A free slot first: at the cap, new connections wait in the backlog.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                match l.accept().await {
                    Ok((stream, peer)) => {
                        if tx.send((stream, peer, slot)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    drop(conn_tx);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            conn = conn_rx.recv() => {
                let Some((stream, peer, slot)) = conn else { break };
                let state = state.clone();
                let watcher = graceful.watcher();
                tokio::spawn(connection(stream, peer, slot, state, watcher));
            }
        }
    }
    for a in accepters {
        a.abort();
    }
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish within the shutdown grace period");
    }
}

/// One accepted connection: TLS handshake when the web config in force asks for TLS,
/// then HTTP/1.1 until the client or a limit closes it.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    _slot: OwnedSemaphorePermit,
    state: Arc<AppState>,
    watcher: Watcher,
) {
    let limits = state.limits;
    let _ = stream.set_nodelay(true);
    let io = WriteStallGuard::new(stream, limits.write_stall_timeout);
    let Some(tls) = state.web.current().tls.clone() else {
        return http(io, state, watcher).await;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(io)).await {
        Ok(Ok(tls_stream)) => http(tls_stream, state, watcher).await,
        // Plain HTTP to a TLS port, scanners, expired handshakes: nothing is served.
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

async fn http<I>(io: I, state: Arc<AppState>, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = state.limits;
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(state, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .max_buf_size(2 * MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(io), service);
    let _ = watcher.watch(conn).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn healthy(s: &mut TcpStream) -> Option<String> {
        s.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .ok()?;
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_beyond_the_cap_wait_until_one_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut state = AppState::new(
            Arc::new(Snapshot::new()),
            Arc::new(Exposition::default()),
            "/metrics",
        );
        state.limits.max_connections = 2;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            vec![listener],
            Arc::new(state),
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(1),
        ));

        let mut a = TcpStream::connect(addr).await.expect("connect");
        let mut b = TcpStream::connect(addr).await.expect("connect");
        for s in [&mut a, &mut b] {
            let answer = healthy(s).await.expect("served");
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        }
        // Both keep their connections open: the third waits in the backlog.
        let mut c = TcpStream::connect(addr).await.expect("connect");
        assert_eq!(healthy(&mut c).await, None, "served beyond the cap");
        drop(a);
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .expect("served once a slot is free")
            .expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

        let _ = stop.send(());
        drop((b, c));
        server.await.expect("server stops");
    }
}
