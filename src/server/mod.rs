//! The HTTP side: hyper 1 server, routes, and graceful shutdown.
//!
//! `/metrics` serves bytes rendered ahead of time; nothing here touches upstream or
//! renders quota data.

pub mod landing;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::render::{CONTENT_TYPE, Exposition};
use crate::snapshot::Snapshot;

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

/// What the handlers read.
#[derive(Debug)]
pub struct AppState {
    /// Target states (landing page).
    pub snapshot: Arc<Snapshot>,
    /// The rendered exposition.
    pub exposition: Arc<Exposition>,
    /// Path of the metrics endpoint.
    pub telemetry_path: String,
    /// When the process started.
    pub started: Instant,
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
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let (conn_tx, mut conn_rx) =
        tokio::sync::mpsc::channel::<(tokio::net::TcpStream, SocketAddr)>(64);
    let mut accepters = Vec::new();
    for l in listeners {
        let tx = conn_tx.clone();
        accepters.push(tokio::spawn(async move {
            loop {
                match l.accept().await {
                    Ok(c) => {
                        if tx.send(c).await.is_err() {
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
                let Some((stream, _peer)) = conn else { break };
                let state = state.clone();
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(&state, req)) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .max_buf_size(64 * 1024)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
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

fn respond(status: StatusCode, content_type: &'static str, body: Chunks) -> Response<Chunks> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn accepts_gzip(req: &Request<Incoming>) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or("").trim();
            let q_zero = it.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0))
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        })
}

/// Routes one request.
pub fn handle(state: &AppState, req: Request<Incoming>) -> Response<Chunks> {
    let path = req.uri().path();
    let known = path == state.telemetry_path || matches!(path, "/" | "/-/healthy" | "/-/ready");
    if !known {
        return respond(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            Chunks::text("404 page not found\n"),
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            Chunks::text("405 method not allowed: use GET or HEAD\n"),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let head = req.method() == Method::HEAD;
    let mut resp = if path == state.telemetry_path {
        metrics(state, &req)
    } else {
        match path {
            "/-/healthy" => respond(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                Chunks::text("Healthy\n"),
            ),
            "/-/ready" => {
                let body = state.exposition.current();
                if body.all_polled() {
                    respond(
                        StatusCode::OK,
                        "text/plain; charset=utf-8",
                        Chunks::text("Ready\n"),
                    )
                } else {
                    respond(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain; charset=utf-8",
                        Chunks::text(format!(
                            "Not ready: {} of {} targets polled\n",
                            body.polled, body.targets
                        )),
                    )
                }
            }
            _ => respond(
                StatusCode::OK,
                "text/html; charset=utf-8",
                Chunks::text(landing::render(state)),
            ),
        }
    };
    if head {
        let len = resp.body().size_hint().exact().unwrap_or(0);
        *resp.body_mut() = Chunks::default();
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    resp
}

fn metrics(state: &AppState, req: &Request<Incoming>) -> Response<Chunks> {
    let body = state.exposition.current();
    let tail = state.exposition.process.render();
    let gzip = accepts_gzip(req);
    let chunks = if gzip {
        body.gzip_with(&tail)
    } else {
        body.plain_with(&tail)
    };
    let mut r = respond(StatusCode::OK, CONTENT_TYPE, Chunks::new(chunks));
    if gzip {
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    r
}
