//! The in-process fake cloud behind `--demo` and every end-to-end test: one HTTP server that
//! serves every polled Huawei Cloud API (ROMA Connect, EventGrid, GaussDB for MySQL), the
//! IAM token call, the discovery lists (IAM projects and domains, ROMA Connect instances)
//! and the temporary-credential sources (ECS metadata, CCE pod identity, STS OIDC), with the
//! published payload quirks, drifting usage and injectable faults.
//!
//! Each request goes: count -> fault (latency, canned answer) -> credentials (static token,
//! IAM token, or an AK/SK signature checked by the simulator's own verifier) -> handler ->
//! record. [`World`] is the cloud's contents, [`Faults`] what goes wrong.

mod aksk;
mod credentials;
mod discovery;
mod eventgrid;
mod faults;
mod gaussdb;
mod iam;
mod reply;
mod roma;
mod route;
mod world;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub use credentials::{
    AGENCY_NOT_CONFIGURED, CredentialSource, IssuedCredential, MAX_METADATA_SESSION_TTL_SECS,
};
pub use faults::{Fault, FaultKind, Faults};
pub use iam::IssuedToken;
pub use world::{
    DEMO_OTC_PROJECT_ID, DEMO_TOKEN, DISCOVERY_AP_PROJECT_ID, DISCOVERY_DEV_PROJECT_ID,
    DISCOVERY_DISABLED_PROJECT_ID, DISCOVERY_MOS_PROJECT_ID, IamSettings, SEED_APP_QUOTA_ID,
    SEED_HOURE_APP_QUOTA_ID, SEED_INSTANCE_ID, SEED_PROJECT_ID, SIM_ACCESS_KEY, SIM_DOMAIN_ID,
    SIM_OIDC_AGENCY_URN, SIM_OIDC_ID_TOKEN, SIM_OIDC_PROVIDER_URN, SIM_POD_IDENTITY_PATH,
    SIM_POD_IDENTITY_TOKEN, SIM_SECRET_KEY, SIM_SECURITY_TOKEN, SIM_TEMP_ACCESS_KEY,
    SIM_TEMP_SECRET_KEY, SimAkSk, SimAppQuota, SimEventgridQuota, SimGaussdbQuota, SimLivedata,
    SimProject, SimRomaInstance, TemporaryCredentials, World,
};

use reply::{ErrorStyle, Reply};
use route::{Query, Resolved, Route};

/// How many requests [`Simulator::requests`] keeps.
pub const REQUEST_LOG_CAPACITY: usize = 10_000;
/// Larger request bodies are refused with 413.
const MAX_BODY_BYTES: usize = 1 << 20;

/// A simulated API call, for counting, logging and aiming faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// ROMA Connect custom backend quota (`livedata-quota`).
    Livedata,
    /// ROMA Connect client quota detail.
    AppQuotaDetail,
    /// ROMA Connect client quota list.
    AppQuotaList,
    /// ROMA Connect client quota creation.
    AppQuotaCreate,
    /// ROMA Connect instance list.
    RomaInstances,
    /// EventGrid tenant quotas.
    Eventgrid,
    /// GaussDB for MySQL tenant quotas.
    Gaussdb,
    /// IAM `POST /v3/auth/tokens`.
    IamTokens,
    /// IAM `GET /v3/auth/projects` (discovery).
    IamProjects,
    /// IAM `GET /v3/auth/domains` (the account id for AK/SK requests to IAM).
    IamDomains,
    /// ECS metadata `PUT /meta-data/latest/api/token` (session token).
    MetadataToken,
    /// ECS metadata `GET /openstack/latest/securitykey` (temporary credentials).
    MetadataSecurityKey,
    /// CCE pod identity `POST` (temporary credentials).
    PodIdentity,
    /// STS `POST /v5/agencies/assume-with-oidc` (temporary credentials).
    StsOidc,
    /// Any path the simulator does not serve.
    Unknown,
}

impl Endpoint {
    /// Every endpoint, in declaration order.
    pub const ALL: [Endpoint; 15] = [
        Endpoint::Livedata,
        Endpoint::AppQuotaDetail,
        Endpoint::AppQuotaList,
        Endpoint::AppQuotaCreate,
        Endpoint::RomaInstances,
        Endpoint::Eventgrid,
        Endpoint::Gaussdb,
        Endpoint::IamTokens,
        Endpoint::IamProjects,
        Endpoint::IamDomains,
        Endpoint::MetadataToken,
        Endpoint::MetadataSecurityKey,
        Endpoint::PodIdentity,
        Endpoint::StsOidc,
        Endpoint::Unknown,
    ];

    /// The endpoints that hand out temporary credentials (what a client should call once per
    /// credential lifetime, not once per poll).
    pub const CREDENTIAL_SOURCES: [Endpoint; 3] = [
        Endpoint::MetadataSecurityKey,
        Endpoint::PodIdentity,
        Endpoint::StsOidc,
    ];

    /// A short snake_case name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Livedata => "livedata",
            Endpoint::AppQuotaDetail => "app_quota_detail",
            Endpoint::AppQuotaList => "app_quota_list",
            Endpoint::AppQuotaCreate => "app_quota_create",
            Endpoint::RomaInstances => "roma_instances",
            Endpoint::Eventgrid => "eventgrid",
            Endpoint::Gaussdb => "gaussdb",
            Endpoint::IamTokens => "iam_tokens",
            Endpoint::IamProjects => "iam_projects",
            Endpoint::IamDomains => "iam_domains",
            Endpoint::MetadataToken => "metadata_token",
            Endpoint::MetadataSecurityKey => "metadata_securitykey",
            Endpoint::PodIdentity => "pod_identity",
            Endpoint::StsOidc => "sts_oidc",
            Endpoint::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One answered request, as [`Simulator::requests`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string, empty when there is none.
    pub query: String,
    /// Which API call it was.
    pub endpoint: Endpoint,
    /// Status answered.
    pub status: u16,
    /// Request headers, names lower-case, values lossily decoded.
    pub headers: Vec<(String, String)>,
    /// When the request arrived.
    pub at: std::time::Instant,
}

/// What handlers and the credential check see of a request.
#[derive(Clone, Copy)]
pub(crate) struct RequestView<'a> {
    /// Method, path (as received, still percent-encoded) and raw query: AK/SK signs them too.
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

/// Everything the server tasks share.
struct State {
    world: Mutex<World>,
    tokens: iam::TokenStore,
    credentials: credentials::Store,
    faults: Faults,
    counts: [AtomicU64; Endpoint::ALL.len()],
    /// Nanoseconds spent answering, summed over all requests: over a stretch of time, its
    /// growth divided by the stretch is how many requests were in flight on average.
    busy_nanos: AtomicU64,
    /// When the first request arrived and the last answer was ready, in nanoseconds since
    /// the start (`u64::MAX` / 0 before any).
    first_arrival_nanos: AtomicU64,
    last_answer_nanos: AtomicU64,
    log: Mutex<VecDeque<RecordedRequest>>,
    started: Instant,
}

/// A running simulator; dropping it (or [`Simulator::shutdown`]) stops the server and closes
/// its connections.
pub struct Simulator {
    addr: SocketAddr,
    /// Serving HTTPS (see [`Simulator::start_tls`]).
    tls: bool,
    state: Arc<State>,
    server: JoinHandle<()>,
}

impl Simulator {
    /// Binds `bind` (use `127.0.0.1:0` in tests) and serves `world`; returns once the socket
    /// is bound, so requests can be sent at once.
    pub async fn start(bind: SocketAddr, world: World) -> std::io::Result<Simulator> {
        Simulator::start_with(bind, world, None).await
    }

    /// As [`Simulator::start`], serving HTTPS with `identity` (tests make a private CA
    /// and a server certificate for `127.0.0.1` with it).
    pub async fn start_tls(
        bind: SocketAddr,
        world: World,
        identity: TlsIdentity,
    ) -> std::io::Result<Simulator> {
        Simulator::start_tls_with(bind, world, identity, Vec::new()).await
    }

    /// As [`Simulator::start_tls`], requiring every client to present a certificate
    /// issued by one of `client_cas` (a handshake without one, or with another, fails).
    pub async fn start_tls_client_auth(
        bind: SocketAddr,
        world: World,
        identity: TlsIdentity,
        client_cas: Vec<rustls_pki_types::CertificateDer<'static>>,
    ) -> std::io::Result<Simulator> {
        if client_cas.is_empty() {
            return Err(std::io::Error::other("no client CA to verify clients with"));
        }
        Simulator::start_tls_with(bind, world, identity, client_cas).await
    }

    async fn start_tls_with(
        bind: SocketAddr,
        world: World,
        identity: TlsIdentity,
        client_cas: Vec<rustls_pki_types::CertificateDer<'static>>,
    ) -> std::io::Result<Simulator> {
        use tokio_rustls::rustls;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?;
        let builder = if client_cas.is_empty() {
            builder.with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for ca in client_cas {
                roots.add(ca).map_err(std::io::Error::other)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(std::io::Error::other)?;
            builder.with_client_cert_verifier(verifier)
        };
        let config = builder
            .with_single_cert(identity.cert_chain, identity.key)
            .map_err(std::io::Error::other)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Simulator::start_with(bind, world, Some(acceptor)).await
    }

    async fn start_with(
        bind: SocketAddr,
        world: World,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            world: Mutex::new(world),
            tokens: iam::TokenStore::default(),
            credentials: credentials::Store::default(),
            faults: Faults::default(),
            counts: Default::default(),
            busy_nanos: AtomicU64::new(0),
            first_arrival_nanos: AtomicU64::new(u64::MAX),
            last_answer_nanos: AtomicU64::new(0),
            log: Mutex::new(VecDeque::new()),
            started: Instant::now(),
        });
        let is_tls = tls.is_some();
        let server = tokio::spawn(serve(listener, Arc::clone(&state), tls));
        tracing::debug!(%addr, "cloud simulator listening");
        Ok(Simulator {
            addr,
            tls: is_tls,
            state,
            server,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the endpoint URL for every service (IAM is `{base_url}/v3`).
    /// A wildcard bind address is replaced by loopback, so the URL is always connectable.
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{addr}")
    }

    /// Fault injection for the requests that follow.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// How many requests reached `endpoint` (counted on arrival, so a request whose client
    /// gave up during an injected stall counts too).
    pub fn request_count(&self, endpoint: Endpoint) -> u64 {
        self.state.counts[endpoint as usize].load(Ordering::Relaxed)
    }

    /// The last [`REQUEST_LOG_CAPACITY`] answered requests, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.log).iter().cloned().collect()
    }

    /// A copy of the cloud's current contents (stored values, without drift).
    pub fn world(&self) -> World {
        lock(&self.state.world).clone()
    }

    /// Changes the cloud's contents while it runs (raise a quota, remove an instance, ...).
    pub fn update_world(&self, change: impl FnOnce(&mut World)) {
        change(&mut lock(&self.state.world));
    }

    /// Expires every token the IAM stub issued so far, as an early revocation would.
    pub fn expire_issued_tokens(&self) {
        self.state.tokens.expire_all();
    }

    /// Every token the IAM stub issued (the last 10 000), oldest first. Failed token requests
    /// are not here: see [`Simulator::requests`] for those. For "one token per project" count
    /// the entries per [`IssuedToken::project_id`]; for "reused until refresh" compare
    /// [`IssuedToken::issued`] times with the token's lifetime.
    pub fn iam_issued(&self) -> Vec<IssuedToken> {
        self.state.tokens.issued()
    }

    /// How many tokens the IAM stub issued to `user` scoped to `project_id`.
    pub fn iam_issued_count(&self, user: &str, project_id: &str) -> usize {
        self.iam_issued()
            .iter()
            .filter(|t| t.user == user && t.project_id.as_deref() == Some(project_id))
            .count()
    }

    /// Requests that reached any of [`Endpoint::CREDENTIAL_SOURCES`] (metadata security
    /// key, pod identity, STS): "one credential fetch for N polls".
    pub fn credential_fetches(&self) -> u64 {
        Endpoint::CREDENTIAL_SOURCES
            .iter()
            .map(|e| self.request_count(*e))
            .sum()
    }

    /// Every temporary credential the sources issued (the last 10 000), oldest first.
    pub fn issued_credentials(&self) -> Vec<IssuedCredential> {
        self.state.credentials.issued()
    }

    /// Makes every temporary credential issued so far expired: the cloud routes answer 401
    /// `APIG.0301` "the security token has expired" until the client fetches a new one.
    pub fn expire_issued_credentials(&self) {
        let now = std::time::SystemTime::now();
        let mut world = lock(&self.state.world);
        let issued: std::collections::HashSet<String> = self
            .state
            .credentials
            .issued()
            .into_iter()
            .map(|c| c.access_key)
            .collect();
        for key in world.aksk.iter_mut() {
            if issued.contains(&key.access_key) {
                key.expires_at = Some(key.expires_at.map_or(now, |at| at.min(now)));
            }
        }
    }

    /// Expires every metadata session token, so the next security-key request gets 401 and a
    /// client has to fetch a new session token (and retry once).
    pub fn expire_metadata_sessions(&self) {
        self.state.credentials.expire_sessions();
    }

    /// Adds (or replaces) a project while the simulator runs ([`World::add_project`]).
    pub fn add_project(&self, project: SimProject) {
        lock(&self.state.world).add_project(project);
    }

    /// Removes a project while the simulator runs ([`World::remove_project`]).
    pub fn remove_project(&self, project_id: &str) -> Option<SimProject> {
        lock(&self.state.world).remove_project(project_id)
    }

    /// Creates (or replaces) a ROMA Connect instance while the simulator runs
    /// ([`World::add_roma_instance`]); `false` when the project does not exist.
    pub fn add_roma_instance(&self, project_id: &str, instance: SimRomaInstance) -> bool {
        lock(&self.state.world).add_roma_instance(project_id, instance)
    }

    /// Deletes a ROMA Connect instance while the simulator runs: it leaves the list and its
    /// quota calls answer 404 `APIG.3030` ([`World::remove_roma_instance`]).
    pub fn remove_roma_instance(
        &self,
        project_id: &str,
        instance_id: &str,
    ) -> Option<SimRomaInstance> {
        lock(&self.state.world).remove_roma_instance(project_id, instance_id)
    }

    /// Changes an instance's status while the simulator runs
    /// ([`World::set_roma_instance_status`]).
    pub fn set_roma_instance_status(
        &self,
        project_id: &str,
        instance_id: &str,
        status: &str,
    ) -> bool {
        lock(&self.state.world).set_roma_instance_status(project_id, instance_id, status)
    }

    /// Stops the server and closes its connections.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection task.
        self.server.abort();
    }
}

/// Locks a mutex, carrying on after a panic elsewhere: the simulator's data stays usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A server certificate chain and its key, for [`Simulator::start_tls`].
pub struct TlsIdentity {
    /// The chain, leaf first.
    pub cert_chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: rustls_pki_types::PrivateKeyDer<'static>,
}

async fn serve(listener: TcpListener, state: Arc<State>, tls: Option<tokio_rustls::TlsAcceptor>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let state = Arc::clone(&state);
                    let tls = tls.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |request| {
                            let state = Arc::clone(&state);
                            // An error makes hyper drop the connection: the reset fault.
                            async move { handle(&state, request).await.ok_or(ConnectionReset) }
                        });
                        let served = match tls {
                            None => http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await,
                            Some(acceptor) => match acceptor.accept(stream).await {
                                Ok(stream) => http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await,
                                Err(error) => {
                                    tracing::debug!(%error, "simulator TLS handshake failed");
                                    return;
                                }
                            },
                        };
                        if let Err(error) = served {
                            tracing::debug!(%error, "simulator connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "simulator failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Returned by the service to drop a connection without answering.
#[derive(Debug)]
struct ConnectionReset;

impl std::fmt::Display for ConnectionReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by an injected fault")
    }
}

impl std::error::Error for ConnectionReset {}

/// Handles one request; `None` means: drop the connection (reset fault).
async fn handle(state: &State, request: Request<Incoming>) -> Option<Response<Full<Bytes>>> {
    let arrived = std::time::Instant::now();
    if request.uri().path() == STATS_PATH {
        return Some(stats(state));
    }
    let reply = answer(state, request, arrived).await;
    let since_start = |t: std::time::Instant| {
        u64::try_from(t.saturating_duration_since(state.started).as_nanos()).unwrap_or(u64::MAX)
    };
    let (from, to) = (since_start(arrived), since_start(std::time::Instant::now()));
    state.busy_nanos.fetch_add(to - from, Ordering::Relaxed);
    state.first_arrival_nanos.fetch_min(from, Ordering::Relaxed);
    state.last_answer_nanos.fetch_max(to, Ordering::Relaxed);
    reply
}

/// `GET /_simulator/stats`: requests answered, the time spent answering them, and when the
/// first arrived and the last was answered (seconds since the simulator started): the
/// benchmark's measure of the requests a client keeps in flight.
pub const STATS_PATH: &str = "/_simulator/stats";

fn stats(state: &State) -> Response<Full<Bytes>> {
    let requests: u64 = state.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    let seconds = |a: &AtomicU64| match a.load(Ordering::Relaxed) {
        u64::MAX => 0.0,
        n => n as f64 / 1e9,
    };
    let body = serde_json::json!({
        "requests": requests,
        "busy_seconds": seconds(&state.busy_nanos),
        "first_request_seconds": seconds(&state.first_arrival_nanos),
        "last_answer_seconds": seconds(&state.last_answer_nanos),
    })
    .to_string();
    Response::builder()
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

/// Answers one request of the simulated cloud.
async fn answer(
    state: &State,
    request: Request<Incoming>,
    arrived: std::time::Instant,
) -> Option<Response<Full<Bytes>>> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let resolved = {
        let world = lock(&state.world);
        route::resolve(&parts.method, path, &world.temporary.pod_identity_path)
    };
    let endpoint = resolved.endpoint();
    state.counts[endpoint as usize].fetch_add(1, Ordering::Relaxed);

    let reply = respond(state, &parts, query, resolved, body).await;
    let reply = match reply {
        Some(r) => r,
        None => return None,
    };

    tracing::debug!(method = %parts.method, path, %endpoint, status = reply.status.as_u16(), "simulator request");
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: path.to_owned(),
        query: query.to_owned(),
        endpoint,
        status: reply.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        at: arrived,
    };
    {
        let mut log = lock(&state.log);
        if log.len() >= REQUEST_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(recorded);
    }
    Some(reply.into_response())
}

async fn respond(
    state: &State,
    parts: &hyper::http::request::Parts,
    query: &str,
    resolved: Resolved,
    body: Incoming,
) -> Option<Reply> {
    let endpoint = resolved.endpoint();
    let style = ErrorStyle::of(endpoint);

    // Faults come first: a fault can make even an unauthenticated or unknown request slow.
    let fault = state.faults.take(endpoint, resolved.project());
    let fault_headers = fault
        .as_ref()
        .map(|f| f.headers.clone())
        .unwrap_or_default();
    let mut after: Option<FaultKind> = None;
    if let Some(fault) = fault {
        if let Some(latency) = fault.latency {
            tokio::time::sleep(latency).await;
        }
        match fault.kind {
            FaultKind::ResetConnection => return None,
            kind @ (FaultKind::TruncateBody(_) | FaultKind::OversizeBody(_)) => after = Some(kind),
            FaultKind::Respond => {
                if let Some(status) = fault.status {
                    let status =
                        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    let mut reply = match fault.body {
                        Some(body) => Reply {
                            status,
                            body,
                            headers: Vec::new(),
                        },
                        None => Reply::standard_error(style, status),
                    };
                    merge_headers(&mut reply, fault_headers);
                    return Some(reply);
                }
            }
        }
    }

    let mut reply = match resolved {
        Resolved::NotFound => Reply::standard_error(style, StatusCode::NOT_FOUND),
        Resolved::MethodNotAllowed { allow, .. } => {
            let mut reply = Reply::standard_error(style, StatusCode::METHOD_NOT_ALLOWED);
            reply.headers.push(("Allow".to_owned(), allow.to_owned()));
            reply
        }
        Resolved::Found(route) => match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => {
                let body = collected.to_bytes();
                let request = RequestView {
                    method: &parts.method,
                    path: parts.uri.path(),
                    query,
                    headers: &parts.headers,
                    body: &body,
                };
                dispatch(state, &route, &request, style)
            }
            Err(error) => {
                let status = if error.is::<http_body_util::LengthLimitError>() {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                };
                Reply::standard_error(style, status)
            }
        },
    };
    merge_headers(&mut reply, fault_headers);
    match after {
        Some(FaultKind::TruncateBody(keep)) => {
            let mut cut = keep.min(reply.body.len());
            while !reply.body.is_char_boundary(cut) {
                cut -= 1;
            }
            reply.body.truncate(cut);
        }
        Some(FaultKind::OversizeBody(size)) => {
            let pad = size.saturating_sub(reply.body.len());
            reply.body.extend(std::iter::repeat_n(' ', pad));
        }
        _ => {}
    }
    Some(reply)
}

/// Adds a fault's headers to an answer, replacing the answer's own headers of those names.
fn merge_headers(reply: &mut Reply, headers: Vec<(String, String)>) {
    reply
        .headers
        .retain(|(name, _)| !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)));
    reply.headers.extend(headers);
}

/// Checks credentials, then runs the route's handler against the world.
fn dispatch(state: &State, route: &Route, request: &RequestView<'_>, style: ErrorStyle) -> Reply {
    let mut world = lock(&state.world);
    if let Some(project) = route.project()
        && let Err(reply) = iam::authorize(&world, &state.tokens, request, project, style)
    {
        return reply;
    }
    let query = Query::parse(request.query);
    let elapsed = state.started.elapsed();
    match route {
        Route::Livedata { project, instance } => roma::livedata(&world, project, instance, elapsed),
        Route::AppQuotaDetail {
            project,
            instance,
            quota,
        } => roma::app_quota_detail(&world, project, instance, quota),
        Route::AppQuotaList { project, instance } => {
            roma::app_quota_list(&world, project, instance, &query)
        }
        Route::AppQuotaCreate { project, instance } => {
            roma::create_app_quota(&mut world, project, instance, request.body)
        }
        Route::RomaInstances { project } => roma::instances(&world, project, &query),
        Route::Eventgrid { project } => eventgrid::quotas(&world, project, &query, elapsed),
        Route::Gaussdb { project } => gaussdb::quotas(&world, project, &query, elapsed),
        Route::IamTokens => iam::issue_token(&world, &state.tokens, request.body),
        Route::IamProjects => match iam::authorize_global(&world, &state.tokens, request, true) {
            Ok(()) => discovery::projects(&world, request.headers),
            Err(reply) => reply,
        },
        Route::IamDomains => match iam::authorize_global(&world, &state.tokens, request, false) {
            Ok(()) => discovery::domains(&world, request.headers),
            Err(reply) => reply,
        },
        Route::MetadataToken => {
            credentials::metadata_token(&world, &state.credentials, request.headers)
        }
        Route::MetadataSecurityKey => {
            credentials::metadata_security_key(&mut world, &state.credentials, request.headers)
        }
        Route::PodIdentity => credentials::pod_identity(
            &mut world,
            &state.credentials,
            request.headers,
            request.body,
        ),
        Route::StsOidc => {
            credentials::assume_with_oidc(&mut world, &state.credentials, request.body)
        }
    }
}
