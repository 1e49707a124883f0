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
pub mod state;
pub mod status;
pub mod web;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use stall::WriteStallGuard;

pub use handlers::handle;
pub use state::{
    AppState, Chunks, HEADER_READ_TIMEOUT_ENV, MAX_BODY_BYTES, MAX_HEADER_BYTES, RELOAD_PATH,
    ReloadFuture, ReloadHook, STATUS_PATH, ServerLimits,
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
