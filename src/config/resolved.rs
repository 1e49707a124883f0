//! The validated configuration: what every later step reads (credentials, projects,
//! endpoints, poll settings, process-wide limits and their defaults).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::file::AppQuotaSelection;
use super::http::HttpSettings;
use super::secrets::Secret;

/// How a request is authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A static `X-Auth-Token`.
    Token {
        /// The token.
        token: Secret,
    },
    /// AK/SK request signing (`SDK-HMAC-SHA256`).
    AkSk {
        /// Access key id (not secret on its own, but shown only in part).
        access_key: String,
        /// Secret key.
        secret_key: Secret,
        /// Security token of temporary credentials.
        security_token: Option<Secret>,
    },
    /// IAM user and password; a token per project is requested from IAM.
    IamPassword {
        /// IAM endpoint (`.../v3`).
        iam_endpoint: String,
        /// Account (domain) name.
        domain: String,
        /// IAM user name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// Temporary keys of the server's agency from the ECS/BMS metadata service.
    EcsMetadata {
        /// Base URL of the metadata service, without a trailing slash.
        endpoint: String,
    },
    /// Temporary keys from CCE pod identity.
    PodIdentity {
        /// The credential URL (`POST`).
        uri: String,
        /// The file whose contents go in `Authorization` (read for every request).
        token_file: PathBuf,
    },
    /// Temporary keys of an agency assumed with an OIDC id token (`assume-with-oidc`).
    Oidc {
        /// The identity provider's URN.
        provider_urn: String,
        /// The agency's URN.
        agency_urn: String,
        /// The id token file (read for every exchange).
        id_token_file: PathBuf,
        /// STS base URL, without a trailing slash.
        sts_endpoint: String,
        /// Lifetime asked for.
        duration: Duration,
    },
}

/// The `*_file` paths a credential's secrets were read from: read again when they change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretFiles {
    /// `token_file`.
    pub token: Option<PathBuf>,
    /// `access_key_file`.
    pub access_key: Option<PathBuf>,
    /// `secret_key_file`.
    pub secret_key: Option<PathBuf>,
    /// `security_token_file`.
    pub security_token: Option<PathBuf>,
    /// `password_file`.
    pub password: Option<PathBuf>,
}

impl Credential {
    /// Short kind name for `--config.check` and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::Token { .. } => "token",
            Credential::AkSk { .. } => "aksk",
            Credential::IamPassword { .. } => "iam_password",
            Credential::EcsMetadata { .. } => "ecs_metadata",
            Credential::PodIdentity { .. } => "pod_identity",
            Credential::Oidc { .. } => "oidc",
        }
    }
}

/// A named credential after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedCredential {
    /// Its key under `credentials:`.
    pub name: String,
    /// What it is.
    pub credential: Credential,
    /// Where its secrets came from, when from files.
    pub files: SecretFiles,
}

/// Poll settings after defaults and overrides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollSettings {
    /// Poll interval.
    pub interval: Duration,
    /// One request's time limit.
    pub timeout: Duration,
    /// Age after which a failing target's series are dropped.
    pub max_staleness: Duration,
}

/// Resolved API endpoints of a project (base URLs without a trailing slash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// ROMA Connect.
    pub roma: String,
    /// EventGrid.
    pub eventgrid: String,
    /// GaussDB for MySQL.
    pub gaussdb_mysql: String,
    /// IAM (`.../v3`).
    pub iam: String,
}

/// A ROMA instance after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RomaInstance {
    /// Instance id.
    pub id: String,
    /// Which client quotas to poll.
    pub app_quotas: AppQuotaSelection,
    /// Whether to poll the livedata quota.
    pub livedata: bool,
}

/// A project after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// Project id.
    pub id: String,
    /// Display name (empty when not given).
    pub name: String,
    /// Region (empty when not given).
    pub region: String,
    /// Its credential.
    pub credential: Arc<NamedCredential>,
    /// Its endpoints.
    pub endpoints: Endpoints,
    /// ROMA instances.
    pub roma_instances: Vec<RomaInstance>,
    /// `roma: {instances: discover}`: the instances are listed at every discovery refresh.
    pub roma_discovery: Option<RomaDiscovery>,
    /// EventGrid enabled, with optional type filter (upper-case).
    pub eventgrid: Option<Vec<String>>,
    /// GaussDB for MySQL enabled.
    pub gaussdb_mysql: bool,
    /// Poll settings.
    pub settings: PollSettings,
    /// How its upstream connections are made (shared by projects with equal settings).
    pub http: Arc<HttpSettings>,
}

/// The validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file it came from.
    pub source: PathBuf,
    /// Upstream requests in flight at once.
    pub concurrency: u32,
    /// Requests per second per API host.
    pub rate_limit: f64,
    /// Retries of a retryable failure.
    pub retries: u32,
    /// Largest upstream response body.
    pub max_response_bytes: usize,
    /// The projects.
    pub projects: Vec<Project>,
    /// The `discovery:` entries.
    pub discovery: Vec<Discovery>,
    /// What is valid but suspicious (`file:line:col: ...`): unverified endpoints, APIs a
    /// region does not offer.
    pub warnings: Vec<String>,
    /// `defaults.http`: for requests that belong to no project.
    pub http: Arc<HttpSettings>,
}

/// Default poll interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// Default request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default staleness bound (or three intervals, when that is longer).
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(1800);
/// Default global concurrency.
pub const DEFAULT_CONCURRENCY: u32 = 16;
/// Default per-host rate limit.
pub const DEFAULT_RATE_LIMIT: f64 = 5.0;
/// Default retries per request.
pub const DEFAULT_RETRIES: u32 = 2;
/// Default response body limit.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 << 20;

/// A regex on names, compared by its text (so configs can be compared).
#[derive(Clone, Debug)]
pub struct NamePattern(regex_lite::Regex);

impl NamePattern {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Result<NamePattern, String> {
        regex_lite::Regex::new(pattern)
            .map(NamePattern)
            .map_err(|e| e.to_string())
    }
    /// Whether `name` matches (anywhere, unless the pattern is anchored).
    pub fn matches(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl PartialEq for NamePattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for NamePattern {}

/// Instance discovery settings (a discovery entry's `roma:`, or a configured project's
/// `roma: {instances: discover}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RomaDiscovery {
    /// Only instances whose name matches one of these (empty: every one).
    pub include_instances: Vec<NamePattern>,
    /// Client quotas per instance: discover or none.
    pub app_quotas: AppQuotaSelection,
    /// Poll livedata per instance.
    pub livedata: bool,
}

impl RomaDiscovery {
    /// Whether an instance named `name` passes `include_instances`.
    pub fn includes(&self, name: &str) -> bool {
        self.include_instances.is_empty() || self.include_instances.iter().any(|p| p.matches(name))
    }
}

/// Endpoint templates after validation (`{region}` still in them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointTemplates {
    /// ROMA Connect.
    pub roma: Option<String>,
    /// EventGrid.
    pub eventgrid: Option<String>,
    /// GaussDB for MySQL.
    pub gaussdb_mysql: Option<String>,
}

/// One `discovery:` entry after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    /// The credential that lists and polls.
    pub credential: Arc<NamedCredential>,
    /// IAM endpoint (`.../v3`) that lists the projects.
    pub iam_endpoint: String,
    /// The account id for AK/SK (`X-Domain-Id`); `None`: asked from IAM.
    pub domain_id: Option<String>,
    /// How often discovery runs.
    pub refresh_interval: Duration,
    /// Region allow-list; `None`: every region.
    pub regions: Option<Vec<String>>,
    /// Projects whose name matches one of these are left out.
    pub exclude_projects: Vec<NamePattern>,
    /// ROMA Connect instance discovery.
    pub roma: Option<RomaDiscovery>,
    /// EventGrid, with its type filter (upper-case; empty: all).
    pub eventgrid: Option<Vec<String>>,
    /// GaussDB for MySQL.
    pub gaussdb_mysql: bool,
    /// Endpoint templates.
    pub endpoints: EndpointTemplates,
    /// Poll settings of discovered targets (the defaults).
    pub settings: PollSettings,
    /// `defaults.http`: how discovered projects connect (proxies, CAs).
    pub http: Arc<HttpSettings>,
}
