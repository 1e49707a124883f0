//! One function per route, behind the web config's checks: `/metrics` (the telemetry
//! path), `/`, `/-/healthy`, `/-/ready`, `/api/v1/status` and `/-/reload`.

use std::sync::Arc;
use std::time::SystemTime;

use http_body::Body as _;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::landing;
use super::state::{AppState, Chunks, MAX_BODY_BYTES, RELOAD_PATH, STATUS_PATH};
use super::web::WebConfig;
use crate::exposition::CONTENT_TYPE;

fn respond(status: StatusCode, content_type: &'static str, body: Chunks) -> Response<Chunks> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Chunks> {
    respond(status, "text/plain; charset=utf-8", Chunks::text(body))
}

fn method_not_allowed(allow: &'static str) -> Response<Chunks> {
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("405 method not allowed: use {allow}\n"),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

fn internal_error() -> Response<Chunks> {
    text(StatusCode::INTERNAL_SERVER_ERROR, "500 internal error\n")
}

/// `Content-Security-Policy` of the HTML page: no scripts, no requests; inline CSS only.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

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

/// Handles one request: rate limit and basic auth from the web config in force, then the
/// route; the web config's extra headers go on every response, 401 and 404 included.
pub async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Response<Chunks> {
    let web = state.web.current();
    let mut resp = guarded(&state, &web, req).await;
    let h = resp.headers_mut();
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    for (name, value) in &web.headers {
        h.insert(name.clone(), value.clone());
    }
    resp
}

async fn guarded(
    state: &Arc<AppState>,
    web: &WebConfig,
    req: Request<Incoming>,
) -> Response<Chunks> {
    if web.rate_limit.as_ref().is_some_and(|l| !l.allow()) {
        return text(StatusCode::TOO_MANY_REQUESTS, "429 too many requests\n");
    }
    if let Some(auth) = &web.basic_auth
        && !auth.check(req.headers().get(header::AUTHORIZATION)).await
    {
        let mut r = text(StatusCode::UNAUTHORIZED, "401 Unauthorized\n");
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"huaweicloud-quota-exporter\""),
        );
        return r;
    }
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if announced > MAX_BODY_BYTES {
        let mut r = text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("413 request body too large: at most {MAX_BODY_BYTES} bytes\n"),
        );
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    route(state, req).await
}

/// Routes one request that passed the web config's checks.
async fn route(state: &Arc<AppState>, req: Request<Incoming>) -> Response<Chunks> {
    let path = req.uri().path();
    if path == RELOAD_PATH {
        return reload(state, req.method()).await;
    }
    let known = path == state.telemetry_path
        || matches!(path, "/" | "/-/healthy" | "/-/ready" | STATUS_PATH);
    if !known {
        return text(StatusCode::NOT_FOUND, "404 page not found\n");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed("GET, HEAD");
    }
    let mut resp = if path == state.telemetry_path {
        metrics(state, &req)
    } else {
        match path {
            "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
            "/-/ready" => ready(state),
            STATUS_PATH => status_json(state).await,
            _ => landing_page(state, &req).await,
        }
    };
    if req.method() == Method::HEAD {
        without_body(&mut resp);
    }
    resp
}

/// `HEAD`: the headers of the `GET` answer, its length included, and no body.
fn without_body(resp: &mut Response<Chunks>) {
    let len = resp.body().size_hint().exact().unwrap_or(0);
    *resp.body_mut() = Chunks::default();
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
}

/// `POST /-/reload` (or `PUT`, as Prometheus); 403 while the lifecycle API is off.
async fn reload(state: &AppState, method: &Method) -> Response<Chunks> {
    if method != Method::POST && method != Method::PUT {
        return method_not_allowed("POST, PUT");
    }
    let Some(reload) = &state.reload else {
        return text(
            StatusCode::FORBIDDEN,
            "Lifecycle API is not enabled: start with --web.enable-lifecycle (SIGHUP always reloads)\n",
        );
    };
    match reload().await {
        Ok(msg) => text(StatusCode::OK, format!("{}\n", msg.trim_end())),
        Err(reason) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{}\n", reason.trim_end()),
        ),
    }
}

/// `/-/ready`: 200 once every target has been polled, else 503 with the count.
fn ready(state: &AppState) -> Response<Chunks> {
    let body = state.exposition.current();
    if body.all_polled() {
        text(StatusCode::OK, "Ready\n")
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Not ready: {} of {} targets polled\n",
                body.polled, body.targets
            ),
        )
    }
}

/// `/api/v1/status`: the status model as JSON.
async fn status_json(state: &Arc<AppState>) -> Response<Chunks> {
    // Serialising 10,000 targets takes tens of milliseconds: not on a worker.
    let s = state.clone();
    let Ok(json) =
        tokio::task::spawn_blocking(move || s.status.get(&s.snapshot, s.started_at).json()).await
    else {
        return internal_error();
    };
    let mut r = respond(StatusCode::OK, "application/json", Chunks::new([json]));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `/`: the landing page.
async fn landing_page(state: &Arc<AppState>, req: &Request<Incoming>) -> Response<Chunks> {
    let s = state.clone();
    let Ok(model) =
        tokio::task::spawn_blocking(move || s.status.get(&s.snapshot, s.started_at)).await
    else {
        return internal_error();
    };
    let page = landing::render(
        &model,
        landing::PageQuery::parse(req.uri().query()),
        &landing::PageContext {
            telemetry_path: &state.telemetry_path,
            uptime: state.started.elapsed(),
            now: SystemTime::now(),
            credentials: &state.credentials.rows(),
        },
    );
    let mut r = respond(
        StatusCode::OK,
        "text/html; charset=utf-8",
        Chunks::text(page),
    );
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The telemetry path: the cached body plus the `process_*` tail, gzip when accepted;
/// 503 while `--web.max-requests` scrapes are being sent.
fn metrics(state: &AppState, req: &Request<Incoming>) -> Response<Chunks> {
    let slot = match &state.scrape_slots {
        None => None,
        Some((max, slots)) => match slots.clone().try_acquire_owned() {
            Ok(slot) => Some(slot),
            Err(_) => {
                let mut r = text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "503 too many scrapes at once: {max} are being served (--web.max-requests); try again later\n"
                    ),
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return r;
            }
        },
    };
    let body = state.exposition.current();
    let tail = if state.process_metrics {
        state.exposition.process.render()
    } else {
        bytes::Bytes::new()
    };
    let gzip = accepts_gzip(req);
    let chunks = if gzip {
        body.gzip_with(&tail)
    } else {
        match state.exposition.plain_scrape(&body, &tail) {
            Some(chunks) => chunks,
            None => {
                tracing::error!("the plain exposition could not be inflated from its gzip form");
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "500 the plain exposition is unavailable; scrape with Accept-Encoding: gzip\n",
                );
            }
        }
    };
    let mut r = respond(
        StatusCode::OK,
        CONTENT_TYPE,
        Chunks::new(chunks).holding(slot),
    );
    if gzip {
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    r
}
