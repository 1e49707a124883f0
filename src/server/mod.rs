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
//!
//! HTTP/2 is spoken over TLS when the client offers `h2` in ALPN (as Go's net/http does;
//! `http_server_config.http2: false` offers HTTP/1.1 only), never over plain HTTP. The same
//! limits hold for it: the connection cap and the handshake timeout are the same code, the
//! header list is capped at [`MAX_HEADER_BYTES`], a connection with no request in flight
//! for [`ServerLimits::header_read_timeout`] is closed with GOAWAY, and the handlers check
//! bodies whatever the protocol.

pub mod handlers;
pub mod landing;
pub mod splice;
pub mod stall;
pub mod state;
pub mod status;
pub mod web;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use stall::WriteStallGuard;

pub use handlers::handle;
pub use state::{
    AppState, BODY_PIECE_BYTES, Chunks, HEADER_READ_TIMEOUT_ENV, MAX_BODY_BYTES, MAX_HEADER_BYTES,
    RELOAD_PATH, ReloadFuture, ReloadHook, STATUS_PATH, ServerLimits,
};

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

/// The listening sockets systemd passed (socket activation: `LISTEN_FDS` sockets from fd 3,
/// for this process per `LISTEN_PID`), in order. Call it once, early: the variables are
/// removed so that child processes do not take the sockets too.
pub fn systemd_listeners() -> std::io::Result<Vec<TcpListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no sockets from systemd (LISTEN_FDS is not set for this process): start the \
             exporter through its .socket unit, or use --web.listen-address instead",
        ));
    }
    let mut listeners = Vec::with_capacity(fds.len());
    for i in 0..fds.len() {
        let l = fds.take_tcp_listener(i)?.ok_or_else(|| {
            std::io::Error::other(format!("systemd socket {i} was already taken"))
        })?;
        l.set_nonblocking(true)?;
        listeners.push(TcpListener::from_std(l)?);
    }
    Ok(listeners)
}

/// Tells the connections that the server stops, and waits until they are done.
struct Shutdown {
    tx: watch::Sender<()>,
}

impl Shutdown {
    fn new() -> Self {
        Shutdown {
            tx: watch::channel(()).0,
        }
    }
    /// What a connection holds while it runs; it finishes when told.
    fn watcher(&self) -> watch::Receiver<()> {
        self.tx.subscribe()
    }
    /// Tells every connection to finish (in-flight requests complete), then waits for all.
    async fn shutdown(self) {
        let _ = self.tx.send(());
        self.tx.closed().await;
    }
}

/// Serves on every listener until `shutdown` completes, then lets in-flight requests
/// finish for up to `grace`.
pub async fn serve(
    listeners: Vec<TcpListener>,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let graceful = Shutdown::new();
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
/// then HTTP/1.1, or HTTP/2 when ALPN chose `h2`, until the client or a limit closes it.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    _slot: OwnedSemaphorePermit,
    state: Arc<AppState>,
    watcher: watch::Receiver<()>,
) {
    let limits = state.limits;
    let _ = stream.set_nodelay(true);
    let io = WriteStallGuard::new(
        splice::SplicingStream::new(stream),
        limits.write_stall_timeout,
    );
    let Some(tls) = state.web.current().tls.clone() else {
        return http(io, state, watcher).await;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(io)).await {
        Ok(Ok(tls_stream)) => {
            if tls_stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                http2(tls_stream, state, watcher).await
            } else {
                http(tls_stream, state, watcher).await
            }
        }
        // Plain HTTP to a TLS port, scanners, expired handshakes: nothing is served.
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// What hyper's HTTP/1.1 connection buffers of a response body before writing it out
/// (and the ceiling of its read buffer, whose request heads `max_header_size` caps far
/// lower).
const MAX_WRITE_QUEUE_BYTES: usize = 4 * BODY_PIECE_BYTES;

/// HTTP/1.1 on `io`; hyper's header read timeout closes idle keep-alive connections.
async fn http<I>(io: I, state: Arc<AppState>, watcher: watch::Receiver<()>)
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
        // Also what hyper queues of a response before it writes: room for a few body
        // pieces per `writev`. Request heads stay capped by `max_header_size`.
        .max_buf_size(MAX_WRITE_QUEUE_BYTES)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let never_idle = Idle::new();
    drive(conn, |c| c.graceful_shutdown(), watcher, &never_idle, None).await;
}

/// HTTP/2 on `io` (TLS with ALPN `h2`): the header list capped as for HTTP/1.1, streams
/// per connection capped, and the connection closed (GOAWAY) after
/// [`ServerLimits::header_read_timeout`] without a request in flight.
async fn http2<I>(io: I, state: Arc<AppState>, watcher: watch::Receiver<()>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = state.limits;
    let idle = Arc::new(Idle::new());
    let activity = idle.clone();
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        let activity = activity.clone();
        async move {
            let _busy = activity.begin();
            Ok::<_, Infallible>(handle(state, req).await)
        }
    });
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_concurrent_streams(MAX_H2_STREAMS)
        .keep_alive_interval(Some(limits.header_read_timeout))
        .keep_alive_timeout(limits.header_read_timeout)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    drive(
        conn,
        |c| c.graceful_shutdown(),
        watcher,
        &idle,
        Some(limits.header_read_timeout),
    )
    .await;
}

/// Streams one HTTP/2 client may have open at once (Go's net/http default is 250; a
/// scraper needs one).
const MAX_H2_STREAMS: u32 = 100;

/// Requests in flight on a connection and when the last one began or ended.
struct Idle {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `started`.
    last: AtomicU64,
}

/// Marks a request in flight until dropped.
struct Busy<'a>(&'a Idle);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Idle {
    fn new() -> Self {
        Idle {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last: AtomicU64::new(0),
        }
    }
    fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last.store(ms, Ordering::Release);
    }
    fn begin(&self) -> Busy<'_> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        Busy(self)
    }
    /// How long until the connection has been idle for `timeout` (zero: it has).
    fn remaining(&self, timeout: Duration) -> Duration {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return timeout;
        }
        let since =
            self.started.elapsed() - Duration::from_millis(self.last.load(Ordering::Acquire));
        timeout.saturating_sub(since)
    }
}

/// Runs a connection to its end: on server shutdown, or after `idle_timeout` without a
/// request (when given), it is asked to finish gracefully and then driven until it has.
async fn drive<C>(
    mut conn: Pin<&mut C>,
    shut: impl Fn(Pin<&mut C>),
    mut watcher: watch::Receiver<()>,
    idle: &Idle,
    idle_timeout: Option<Duration>,
) where
    C: Future<Output = Result<(), hyper::Error>>,
{
    let mut closing = false;
    loop {
        let wait = match idle_timeout {
            Some(t) if !closing => idle.remaining(t),
            _ => Duration::MAX,
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            r = watcher.changed(), if !closing => {
                let _ = r;
                closing = true;
                shut(conn.as_mut());
            }
            _ = tokio::time::sleep(wait.min(Duration::from_secs(86_400))), if idle_timeout.is_some() && !closing => {
                if let Some(t) = idle_timeout && idle.remaining(t).is_zero() {
                    closing = true;
                    shut(conn.as_mut());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Exposition;
    use crate::store::Snapshot;
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

    #[test]
    fn an_http2_connection_is_idle_only_without_a_request_in_flight() {
        let idle = Idle::new();
        let t = Duration::from_millis(400);
        let busy = idle.begin();
        std::thread::sleep(Duration::from_millis(450));
        // A long scrape is not idleness.
        assert_eq!(idle.remaining(t), t);
        drop(busy);
        assert!(idle.remaining(t) > Duration::from_millis(200));
        std::thread::sleep(Duration::from_millis(450));
        assert!(idle.remaining(t).is_zero());
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
