//! The YAML configuration: structs with doc comments, loading, secrets and validation.
//!
//! Loading happens in two steps: [`FileConfig`] is the file as written (every key known,
//! spans kept), and [`Config`] is the validated, resolved result (defaults applied,
//! secrets read, credentials attached to projects). Every error names the file, the line,
//! the column and what was expected.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_saphyr::Spanned;

pub mod discovery;
pub mod regions;

pub use self::discovery::{Discovery, FileDiscovery, FileRomaInstances, RomaDiscovery};

/// A secret (token, secret key, password). `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself; call only where it is put on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A duration written as `30s`, `5m`, `1h30m` (humantime syntax).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 30s, 5m or 1h")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ConfigDuration, E> {
                let d = humantime::parse_duration(s.trim()).map_err(|e| {
                    E::custom(format!(
                        "invalid duration `{s}` ({e}): expected a number with a unit such as 30s, 5m or 1h"
                    ))
                })?;
                if d.is_zero() {
                    return Err(E::custom("a duration of zero is not allowed here"));
                }
                Ok(ConfigDuration(d))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ConfigDuration, E> {
                Err(E::custom(format!(
                    "`{n}` has no unit: write it as {n}s, {n}m or {n}h"
                )))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ConfigDuration, E> {
                self.visit_u64(n.unsigned_abs())
            }
        }
        d.deserialize_any(V)
    }
}

/// A size in bytes written as `8MiB`, `512KiB`, `1GiB`, `4MB` or a plain number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    fn parse(s: &str) -> Result<u64, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| {
            format!("invalid size `{s}`: expected a number with a unit such as 8MiB or 512KiB")
        })?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            other => {
                return Err(format!(
                    "invalid size unit `{other}` in `{s}`: use B, KiB, MiB or GiB"
                ));
            }
        };
        n.checked_mul(mult)
            .ok_or_else(|| format!("size `{s}` is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as 8MiB")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ByteSize, E> {
                ByteSize::parse(s).map(ByteSize).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
        }
        d.deserialize_any(V)
    }
}

/// Which client quotas of a ROMA Connect instance to poll.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum AppQuotaSelection {
    /// List every client quota of the instance (paged list call). The default.
    #[default]
    Discover,
    /// Fetch exactly these client quota ids (one detail call each).
    Ids(Vec<String>),
    /// Do not poll client quotas.
    None,
}

impl<'de> Deserialize<'de> for AppQuotaSelection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AppQuotaSelection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`discover`, `none`, or a list of client quota ids")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<AppQuotaSelection, E> {
                match s.trim() {
                    "discover" => Ok(AppQuotaSelection::Discover),
                    "none" => Ok(AppQuotaSelection::None),
                    other => Err(E::custom(format!(
                        "invalid app_quotas `{other}`: expected `discover`, `none`, or a list of client quota ids"
                    ))),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<AppQuotaSelection, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<String>()? {
                    let id = id.trim().to_string();
                    if id.is_empty() {
                        return Err(de::Error::custom("an app quota id must not be empty"));
                    }
                    if ids.contains(&id) {
                        return Err(de::Error::custom(format!(
                            "app quota id `{id}` is listed twice"
                        )));
                    }
                    ids.push(id);
                }
                Ok(AppQuotaSelection::Ids(ids))
            }
        }
        d.deserialize_any(V)
    }
}

/// Poll settings; every key may be set under `defaults` and overridden per project.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// How often each target is polled (jittered by up to 10%). Default `5m`.
    pub interval: Option<ConfigDuration>,
    /// Time limit of one HTTP request. Default `10s`.
    pub timeout: Option<ConfigDuration>,
    /// A series whose last good poll is older than this is dropped. Default `30m`.
    pub max_staleness: Option<ConfigDuration>,
}

/// The `defaults:` block: poll settings plus the process-wide limits.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDefaults {
    /// How often each target is polled (jittered). Default `5m`.
    pub interval: Option<ConfigDuration>,
    /// Time limit of one HTTP request. Default `10s`.
    pub timeout: Option<ConfigDuration>,
    /// A series whose last good poll is older than this is dropped. Default `30m`.
    pub max_staleness: Option<ConfigDuration>,
    /// Upstream requests in flight at once, whole process. Default 16.
    pub concurrency: Option<Spanned<u32>>,
    /// Requests per second per API host (token bucket). Default 5.
    pub rate_limit: Option<Spanned<f64>>,
    /// Retries of a failed request (connection errors, timeouts, 5xx, 429, malformed
    /// bodies), with exponential back-off and full jitter. Default 2; at most 10.
    pub retries: Option<Spanned<u32>>,
    /// Largest upstream response body read; larger ones fail with `body_too_large`
    /// without being read whole. Default `8MiB`.
    pub max_response_size: Option<Spanned<ByteSize>>,
}

/// A credential as written: the keys decide its kind (token, AK/SK or IAM password).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCredential {
    /// Static `X-Auth-Token` (short-lived; tests and debugging).
    pub token: Option<Spanned<String>>,
    /// File holding the static token.
    pub token_file: Option<Spanned<String>>,
    /// AK/SK: the access key id.
    pub access_key: Option<Spanned<String>>,
    /// AK/SK: the secret key.
    pub secret_key: Option<Spanned<String>>,
    /// AK/SK: file holding the secret key.
    pub secret_key_file: Option<Spanned<String>>,
    /// AK/SK: security token of temporary credentials.
    pub security_token: Option<Spanned<String>>,
    /// AK/SK: file holding the security token.
    pub security_token_file: Option<Spanned<String>>,
    /// IAM password: the IAM endpoint, for example `https://iam.eu-de.otc.t-systems.com/v3`.
    pub iam_endpoint: Option<Spanned<String>>,
    /// IAM password: the account (domain) name.
    pub domain: Option<Spanned<String>>,
    /// IAM password: the IAM user name.
    pub username: Option<Spanned<String>>,
    /// IAM password: the password.
    pub password: Option<Spanned<String>>,
    /// IAM password: file holding the password.
    pub password_file: Option<Spanned<String>>,
}

/// Per-project endpoint overrides; unset ones are derived from `region`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEndpoints {
    /// ROMA Connect API endpoint.
    pub roma: Option<Spanned<String>>,
    /// EventGrid API endpoint.
    pub eventgrid: Option<Spanned<String>>,
    /// GaussDB for MySQL API endpoint.
    pub gaussdb_mysql: Option<Spanned<String>>,
    /// IAM endpoint (used by IAM password credentials).
    pub iam: Option<Spanned<String>>,
}

/// One ROMA Connect instance.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRomaInstance {
    /// The instance id.
    pub id: Spanned<String>,
    /// Client quotas: `discover` (default), `none`, or a list of ids.
    #[serde(default)]
    pub app_quotas: AppQuotaSelection,
    /// Poll the custom backend quota (`livedata-quota`). Default true.
    #[serde(default = "default_true")]
    pub livedata: bool,
}

fn default_true() -> bool {
    true
}

/// The `roma:` block of a project.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRoma {
    /// Instances to poll: a list, or `discover` (the project's `RUNNING` instances).
    #[serde(default)]
    pub instances: FileRomaInstances,
    /// With `instances: discover`: only instances whose name matches one of these regexes.
    #[serde(default)]
    pub include_instances: Vec<Spanned<String>>,
    /// With `instances: discover`: client quotas per instance, `discover` or `none`.
    #[serde(default)]
    pub app_quotas: AppQuotaSelection,
    /// With `instances: discover`: poll each instance's livedata quota. Default true.
    #[serde(default = "default_true")]
    pub livedata: bool,
}

/// The `eventgrid:` block of a project; present means enabled.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEventgrid {
    /// Only these quota types (for example `[CHANNEL, SOURCE]`); default all.
    #[serde(default)]
    pub types: Vec<Spanned<String>>,
}

/// The `gaussdb_mysql:` block of a project; present means enabled.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGaussdb {}

/// One project as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProject {
    /// Project id (32 hex characters on Huawei Cloud and OTC).
    pub id: Spanned<String>,
    /// Optional display name, shown in the info metric and the landing page.
    pub name: Option<String>,
    /// Region, for example `cn-north-4` or `eu-de`; derives the endpoints.
    pub region: Option<Spanned<String>>,
    /// Name of an entry under `credentials`.
    pub credentials: Spanned<String>,
    /// Endpoint overrides.
    #[serde(default)]
    pub endpoints: FileEndpoints,
    /// ROMA Connect instances.
    pub roma: Option<FileRoma>,
    /// EventGrid tenant quotas.
    pub eventgrid: Option<FileEventgrid>,
    /// GaussDB for MySQL tenant quotas.
    pub gaussdb_mysql: Option<FileGaussdb>,
    /// Overrides of `defaults.interval`.
    pub interval: Option<ConfigDuration>,
    /// Overrides of `defaults.timeout`.
    pub timeout: Option<ConfigDuration>,
    /// Overrides of `defaults.max_staleness`.
    pub max_staleness: Option<ConfigDuration>,
}

/// The whole file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Settings every project inherits.
    #[serde(default)]
    pub defaults: FileDefaults,
    /// Named credentials, referenced by projects.
    #[serde(default)]
    pub credentials: BTreeMap<String, FileCredential>,
    /// The projects to poll.
    pub projects: Option<Spanned<Vec<FileProject>>>,
    /// Credentials whose projects and instances are found, and kept current, by listing them.
    #[serde(default)]
    pub discovery: Vec<FileDiscovery>,
}

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
}

impl Credential {
    /// Short kind name for `--config.check` and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::Token { .. } => "token",
            Credential::AkSk { .. } => "aksk",
            Credential::IamPassword { .. } => "iam_password",
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
    /// What is valid but suspicious (unverified endpoints, APIs a region does not offer).
    pub warnings: Vec<ConfigIssue>,
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

/// One problem in a config file, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Why a config could not be loaded: every issue found, each with its position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The problems, in file order.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            if issue.line > 0 {
                write!(
                    f,
                    "{}:{}:{}: {}",
                    self.file.display(),
                    issue.line,
                    issue.column,
                    issue.message
                )?;
            } else {
                write!(f, "{}: {}", self.file.display(), issue.message)?;
            }
        }
        Ok(())
    }
}

/// Where secrets come from: the environment and the file system. Tests pass their own.
pub trait SecretSource {
    /// The value of an environment variable.
    fn env(&self, name: &str) -> Option<String>;
    /// The contents of a file.
    fn read_file(&self, path: &Path) -> std::io::Result<String>;
}

/// The process environment and the real file system.
pub struct ProcessEnv;

impl SecretSource for ProcessEnv {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            issues: vec![ConfigIssue {
                line: 0,
                column: 0,
                message: format!(
                    "cannot read the config file: {e} (pass another with --config.file, or try --demo)"
                ),
            }],
        })?;
        Config::from_yaml(path, &text, &ProcessEnv)
    }

    /// Parses and validates config text; `path` is used in messages and to resolve
    /// relative `*_file` paths.
    pub fn from_yaml(
        path: &Path,
        text: &str,
        secrets: &dyn SecretSource,
    ) -> Result<Config, ConfigError> {
        let file: FileConfig = serde_saphyr::from_str(text).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            issues: vec![yaml_issue(&e)],
        })?;
        Validator {
            path,
            secrets,
            issues: Vec::new(),
            warnings: Vec::new(),
        }
        .validate(file)
    }
}

/// A YAML or schema error as an issue with its position (also used for the web config).
pub(crate) fn yaml_issue(e: &serde_saphyr::Error) -> ConfigIssue {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let options = serde_saphyr::render_options! {
        snippets: serde_saphyr::SnippetMode::Off,
    };
    let mut message = e.without_snippet().render_with_options(options);
    // The renderer appends its own position; ours leads the line instead.
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    ConfigIssue {
        line,
        column,
        message: message.trim().to_string(),
    }
}

struct Validator<'a> {
    path: &'a Path,
    secrets: &'a dyn SecretSource,
    issues: Vec<ConfigIssue>,
    warnings: Vec<ConfigIssue>,
}

fn at<T>(s: &Spanned<T>) -> (u64, u64) {
    (s.referenced.line(), s.referenced.column())
}

impl Validator<'_> {
    fn issue(&mut self, pos: (u64, u64), message: impl Into<String>) {
        self.issues.push(ConfigIssue {
            line: pos.0,
            column: pos.1,
            message: message.into(),
        });
    }

    fn validate(mut self, file: FileConfig) -> Result<Config, ConfigError> {
        let d = &file.defaults;
        let defaults = PollSettings {
            interval: d.interval.map(|x| x.0).unwrap_or(DEFAULT_INTERVAL),
            timeout: d.timeout.map(|x| x.0).unwrap_or(DEFAULT_TIMEOUT),
            max_staleness: d
                .max_staleness
                .map(|x| x.0)
                .unwrap_or(DEFAULT_MAX_STALENESS),
        };
        let concurrency = match &d.concurrency {
            Some(c) if c.value == 0 => {
                self.issue(at(c), "concurrency must be at least 1");
                1
            }
            Some(c) => c.value,
            None => DEFAULT_CONCURRENCY,
        };
        let rate_limit = match &d.rate_limit {
            Some(r) if !(r.value.is_finite() && r.value > 0.0) => {
                self.issue(
                    at(r),
                    "rate_limit must be a positive number of requests per second, such as 5 or 0.5",
                );
                DEFAULT_RATE_LIMIT
            }
            Some(r) => r.value,
            None => DEFAULT_RATE_LIMIT,
        };

        let retries = match &d.retries {
            Some(r) if r.value > 10 => {
                self.issue(at(r), "retries must be between 0 and 10");
                DEFAULT_RETRIES
            }
            Some(r) => r.value,
            None => DEFAULT_RETRIES,
        };
        let max_response_bytes = match &d.max_response_size {
            Some(m) if m.value.0 < 1024 => {
                self.issue(at(m), "max_response_size must be at least 1KiB");
                DEFAULT_MAX_RESPONSE_BYTES
            }
            Some(m) => usize::try_from(m.value.0).unwrap_or(usize::MAX),
            None => DEFAULT_MAX_RESPONSE_BYTES,
        };
        let mut credentials: HashMap<String, Arc<NamedCredential>> = HashMap::new();
        for (name, c) in &file.credentials {
            if let Some(credential) = self.credential(name, c) {
                credentials.insert(
                    name.clone(),
                    Arc::new(NamedCredential {
                        name: name.clone(),
                        credential,
                    }),
                );
            }
        }

        let file_projects: &[FileProject] = file.projects.as_ref().map_or(&[], |p| &p.value);
        if file_projects.is_empty() && file.discovery.is_empty() {
            let pos = file.projects.as_ref().map_or((1, 1), at);
            self.issue(
                pos,
                "`projects` is empty: list at least one project to poll, or add a `discovery:` entry",
            );
        }
        let written: Vec<&str> = file.credentials.keys().map(String::as_str).collect();
        let discovery = discovery::validate(
            &file.discovery,
            &credentials,
            &written,
            defaults,
            &mut self.issues,
            &mut self.warnings,
        );
        let mut projects = Vec::new();
        let mut seen_projects: HashMap<String, u64> = HashMap::new();
        let mut seen_instances: HashMap<(String, String), u64> = HashMap::new();
        for p in file_projects {
            let id = p.id.value.trim().to_string();
            if !valid_id(&id) {
                self.issue(
                    at(&p.id),
                    format!(
                        "invalid project id `{id}`: expected the project's id (letters, digits, `-` and `_`), as shown under My Credentials > Projects"
                    ),
                );
            } else if let Some(first) = seen_projects.insert(id.clone(), p.id.referenced.line()) {
                self.issue(
                    at(&p.id),
                    format!("duplicate project id `{id}` (first listed at line {first}): list each project once"),
                );
            }
            let credential = match credentials.get(p.credentials.value.trim()) {
                Some(c) => Some(c.clone()),
                None => {
                    let known: Vec<&str> = file.credentials.keys().map(String::as_str).collect();
                    let msg = if known.is_empty() {
                        format!(
                            "unknown credentials `{}`: there is no `credentials:` section; define it there",
                            p.credentials.value
                        )
                    } else {
                        format!(
                            "unknown credentials `{}`: expected one of {}",
                            p.credentials.value,
                            known.join(", ")
                        )
                    };
                    // A credential that failed its own validation is already reported.
                    if !file.credentials.contains_key(p.credentials.value.trim()) {
                        self.issue(at(&p.credentials), msg);
                    }
                    None
                }
            };
            let region = p
                .region
                .as_ref()
                .map(|r| r.value.trim().to_string())
                .unwrap_or_default();
            let endpoints = self.endpoints(p, &region);
            let mut roma_instances = Vec::new();
            let roma_discovery = p.roma.as_ref().and_then(|r| self.roma_discovery(r, &p.id));
            let listed = match p.roma.as_ref().map(|r| &r.instances) {
                Some(FileRomaInstances::List(list)) => &list[..],
                _ => &[],
            };
            {
                for inst in listed {
                    let iid = inst.id.value.trim().to_string();
                    if !valid_id(&iid) {
                        self.issue(
                            at(&inst.id),
                            format!(
                                "invalid instance id `{iid}`: expected a ROMA Connect instance id"
                            ),
                        );
                        continue;
                    }
                    if let Some(first) =
                        seen_instances.insert((id.clone(), iid.clone()), inst.id.referenced.line())
                    {
                        self.issue(
                            at(&inst.id),
                            format!(
                                "duplicate instance id `{iid}` in project `{id}` (first listed at line {first})"
                            ),
                        );
                        continue;
                    }
                    if let AppQuotaSelection::Ids(ids) = &inst.app_quotas
                        && ids.is_empty()
                    {
                        self.issue(
                                at(&inst.id),
                                "app_quotas is an empty list: use `none` to poll no client quotas, or `discover`",
                            );
                    }
                    roma_instances.push(RomaInstance {
                        id: iid,
                        app_quotas: inst.app_quotas.clone(),
                        livedata: inst.livedata,
                    });
                }
            }
            let eventgrid = p.eventgrid.as_ref().map(|eg| {
                eg.types
                    .iter()
                    .filter_map(|t| {
                        let v = t.value.trim().to_ascii_uppercase();
                        if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                            self.issue(
                                at(t),
                                format!(
                                    "invalid EventGrid quota type `{}`: expected a name such as CHANNEL or SOURCE",
                                    t.value
                                ),
                            );
                            None
                        } else {
                            Some(v)
                        }
                    })
                    .collect::<Vec<_>>()
            });
            if p.roma.is_none() && p.eventgrid.is_none() && p.gaussdb_mysql.is_none() {
                self.issue(
                    at(&p.id),
                    format!(
                        "project `{id}` polls nothing: add `roma`, `eventgrid: {{}}` and/or `gaussdb_mysql: {{}}`"
                    ),
                );
            }
            let interval = p.interval.map(|x| x.0).unwrap_or(defaults.interval);
            // Unset staleness follows the interval, so a long interval alone just works.
            let max_staleness = p
                .max_staleness
                .or(file.defaults.max_staleness)
                .map(|x| x.0)
                .unwrap_or_else(|| DEFAULT_MAX_STALENESS.max(interval * 3));
            let settings = PollSettings {
                interval,
                timeout: p.timeout.map(|x| x.0).unwrap_or(defaults.timeout),
                max_staleness,
            };
            if settings.max_staleness < settings.interval {
                self.issue(
                    at(&p.id),
                    format!(
                        "project `{id}`: max_staleness ({}) is shorter than interval ({}): every series would vanish between polls",
                        humantime::format_duration(settings.max_staleness),
                        humantime::format_duration(settings.interval)
                    ),
                );
            }
            if let (Some(credential), Some(endpoints)) = (credential, endpoints) {
                projects.push(Project {
                    id,
                    name: p.name.clone().unwrap_or_default().trim().to_string(),
                    region,
                    credential,
                    endpoints,
                    roma_instances,
                    roma_discovery,
                    eventgrid,
                    gaussdb_mysql: p.gaussdb_mysql.is_some(),
                    settings,
                });
            }
        }
        if !self.issues.is_empty() {
            self.issues.sort_by_key(|i| (i.line, i.column));
            return Err(ConfigError {
                file: self.path.to_path_buf(),
                issues: self.issues,
            });
        }
        Ok(Config {
            source: self.path.to_path_buf(),
            concurrency,
            rate_limit,
            retries,
            max_response_bytes,
            projects,
            discovery,
            warnings: self.warnings,
        })
    }

    /// `roma: {instances: discover}` of a configured project; the discovery-only keys
    /// are an error next to a list of instances.
    fn roma_discovery(&mut self, roma: &FileRoma, id: &Spanned<String>) -> Option<RomaDiscovery> {
        match &roma.instances {
            FileRomaInstances::Discover => {
                let include_instances = discovery::patterns(
                    "include_instances",
                    &roma.include_instances,
                    &mut self.issues,
                );
                let app_quotas =
                    discovery::discovered_app_quotas(&roma.app_quotas, at(id), &mut self.issues);
                Some(RomaDiscovery {
                    include_instances,
                    app_quotas,
                    livedata: roma.livedata,
                })
            }
            FileRomaInstances::List(_) => {
                if let Some(first) = roma.include_instances.first() {
                    self.issue(
                        at(first),
                        "include_instances needs `instances: discover`: with a list, every listed instance is polled",
                    );
                }
                None
            }
        }
    }

    fn endpoints(&mut self, p: &FileProject, region: &str) -> Option<Endpoints> {
        let mut ok = true;
        let mut pick = |this: &mut Self,
                        given: &Option<Spanned<String>>,
                        key: &str,
                        service: regions::Service,
                        needed: bool| {
            match given {
                Some(s) => match check_url(&s.value) {
                    Ok(u) => u,
                    Err(why) => {
                        this.issue(at(s), format!("invalid URL for endpoints.{key}: {why}"));
                        ok = false;
                        String::new()
                    }
                },
                None if region.is_empty() => {
                    this.issue(
                        at(&p.id),
                        format!(
                            "project `{}`: set `region` or `endpoints.{key}` so the {key} endpoint is known",
                            p.id.value
                        ),
                    );
                    ok = false;
                    String::new()
                }
                None => this.derive(service, region, needed.then_some((key, &p.id))),
            }
        };
        // Derived from the region whenever there is one (app-quota create needs ROMA even
        // for a project that polls only GaussDB); an error only where the API is polled.
        let mut endpoint = |this: &mut Self,
                            given: &Option<Spanned<String>>,
                            needed: bool,
                            key: &str,
                            service: regions::Service| {
            if needed || given.is_some() || !region.is_empty() {
                pick(this, given, key, service, needed)
            } else {
                String::new()
            }
        };
        let roma = endpoint(
            self,
            &p.endpoints.roma,
            p.roma.is_some(),
            "roma",
            regions::Service::Roma,
        );
        let eventgrid = endpoint(
            self,
            &p.endpoints.eventgrid,
            p.eventgrid.is_some(),
            "eventgrid",
            regions::Service::EventGrid,
        );
        let gaussdb_mysql = endpoint(
            self,
            &p.endpoints.gaussdb_mysql,
            p.gaussdb_mysql.is_some(),
            "gaussdb_mysql",
            regions::Service::GaussDbMysql,
        );
        let iam = match &p.endpoints.iam {
            Some(_) => pick(self, &p.endpoints.iam, "iam", regions::Service::Iam, false),
            None if region.is_empty() => String::new(),
            None => match regions::endpoint(regions::Service::Iam, region) {
                regions::Lookup::NotOffered => regions::global_iam(regions::cloud_of(region))
                    .url()
                    .map(|u| format!("{u}/v3"))
                    .unwrap_or_default(),
                found => found.url().map(|u| format!("{u}/v3")).unwrap_or_default(),
            },
        };
        ok.then_some(Endpoints {
            roma,
            eventgrid,
            gaussdb_mysql,
            iam,
        })
    }

    /// The endpoint of `service` in `region` from the SDK region tables (see
    /// [`regions`]). `polled` names the API key and project when the API is polled: an
    /// unverified pattern, or a region that does not offer the API (empty: not polled),
    /// is then a warning.
    fn derive(
        &mut self,
        service: regions::Service,
        region: &str,
        polled: Option<(&str, &Spanned<String>)>,
    ) -> String {
        match (regions::endpoint(service, region), polled) {
            (regions::Lookup::Known(u), _) => u.to_string(),
            (regions::Lookup::Pattern(u), Some((key, id))) => {
                self.warn(
                    at(id),
                    format!(
                        "project `{}`: region `{region}` is in no SDK region table; {key} endpoint {u} is derived from the usual pattern, set endpoints.{key} if it is wrong",
                        id.value
                    ),
                );
                u
            }
            (regions::Lookup::Pattern(u), None) => u,
            (regions::Lookup::NotOffered, Some((key, id))) => {
                self.warn(
                    at(id),
                    format!(
                        "project `{}`: {key} is not offered in region `{region}` (SDK region tables): it is not polled; set endpoints.{key} to poll it anyway",
                        id.value
                    ),
                );
                String::new()
            }
            (regions::Lookup::NotOffered, None) => String::new(),
        }
    }

    fn warn(&mut self, pos: (u64, u64), message: impl Into<String>) {
        self.warnings.push(ConfigIssue {
            line: pos.0,
            column: pos.1,
            message: message.into(),
        });
    }

    fn credential(&mut self, name: &str, c: &FileCredential) -> Option<Credential> {
        let first_pos = [
            &c.token,
            &c.token_file,
            &c.access_key,
            &c.secret_key,
            &c.secret_key_file,
            &c.iam_endpoint,
            &c.domain,
            &c.username,
            &c.password,
            &c.password_file,
        ]
        .into_iter()
        .flatten()
        .map(at)
        .min()
        .unwrap_or((0, 0));
        let is_token = c.token.is_some() || c.token_file.is_some();
        let is_aksk = c.access_key.is_some()
            || c.secret_key.is_some()
            || c.secret_key_file.is_some()
            || c.security_token.is_some()
            || c.security_token_file.is_some();
        let is_iam = c.iam_endpoint.is_some()
            || c.domain.is_some()
            || c.username.is_some()
            || c.password.is_some()
            || c.password_file.is_some();
        let kinds = [is_token, is_aksk, is_iam].iter().filter(|k| **k).count();
        if kinds == 0 {
            self.issue(
                first_pos,
                format!(
                    "credential `{name}` is empty: expected `token`, or `access_key` + `secret_key`, or `iam_endpoint` + `domain` + `username` + `password`"
                ),
            );
            return None;
        }
        if kinds > 1 {
            let mut which = Vec::new();
            if is_token {
                which.push("a static token");
            }
            if is_aksk {
                which.push("AK/SK keys");
            }
            if is_iam {
                which.push("IAM password keys");
            }
            self.issue(
                first_pos,
                format!(
                    "credential `{name}` is ambiguous: it mixes {}; keep the keys of one kind only",
                    which.join(" and ")
                ),
            );
            return None;
        }
        if is_token {
            let token = self.secret(name, "token", &c.token, &c.token_file, true, first_pos)?;
            return Some(Credential::Token { token: token? });
        }
        if is_aksk {
            let ak = self.plain(name, "access_key", &c.access_key, first_pos);
            let sk = self.secret(
                name,
                "secret_key",
                &c.secret_key,
                &c.secret_key_file,
                true,
                first_pos,
            );
            let st = self.secret(
                name,
                "security_token",
                &c.security_token,
                &c.security_token_file,
                false,
                first_pos,
            );
            return match (ak, sk, st) {
                (Some(access_key), Some(Some(secret_key)), Some(security_token)) => {
                    Some(Credential::AkSk {
                        access_key,
                        secret_key,
                        security_token,
                    })
                }
                _ => None,
            };
        }
        let endpoint = self.plain(name, "iam_endpoint", &c.iam_endpoint, first_pos);
        let endpoint = match (endpoint, &c.iam_endpoint) {
            (Some(e), Some(s)) => match check_url(&e) {
                Ok(u) => Some(u),
                Err(why) => {
                    self.issue(at(s), format!("invalid URL for iam_endpoint: {why}"));
                    None
                }
            },
            _ => None,
        };
        let domain = self.plain(name, "domain", &c.domain, first_pos);
        let username = self.plain(name, "username", &c.username, first_pos);
        let password = self.secret(
            name,
            "password",
            &c.password,
            &c.password_file,
            true,
            first_pos,
        );
        match (endpoint, domain, username, password) {
            (Some(iam_endpoint), Some(domain), Some(username), Some(Some(password))) => {
                Some(Credential::IamPassword {
                    iam_endpoint,
                    domain,
                    username,
                    password,
                })
            }
            _ => None,
        }
    }

    /// A required non-secret value (may use `${ENV}`).
    fn plain(
        &mut self,
        name: &str,
        key: &str,
        v: &Option<Spanned<String>>,
        pos: (u64, u64),
    ) -> Option<String> {
        match v {
            None => {
                self.issue(pos, format!("credential `{name}` is missing `{key}`"));
                None
            }
            Some(s) => self.expand(name, key, s),
        }
    }

    /// A secret given inline (with `${ENV}`) or as `{key}_file`. `Some(None)` means
    /// "not given and not required"; `None` means an error was recorded.
    fn secret(
        &mut self,
        name: &str,
        key: &str,
        inline: &Option<Spanned<String>>,
        file: &Option<Spanned<String>>,
        required: bool,
        pos: (u64, u64),
    ) -> Option<Option<Secret>> {
        match (inline, file) {
            (Some(s), Some(_)) => {
                self.issue(
                    at(s),
                    format!("credential `{name}` sets both `{key}` and `{key}_file`: keep one"),
                );
                None
            }
            (Some(s), None) => self.expand(name, key, s).map(|v| Some(Secret(v))),
            (None, Some(f)) => {
                let p = Path::new(f.value.trim());
                let p = if p.is_relative() {
                    self.path.parent().unwrap_or(Path::new(".")).join(p)
                } else {
                    p.to_path_buf()
                };
                match self.secrets.read_file(&p) {
                    Ok(text) => {
                        let v = text.trim_end_matches(['\r', '\n']).to_string();
                        if v.trim().is_empty() {
                            self.issue(at(f), format!("`{key}_file` {} is empty", p.display()));
                            None
                        } else {
                            Some(Some(Secret(v)))
                        }
                    }
                    Err(e) => {
                        self.issue(
                            at(f),
                            format!("cannot read `{key}_file` {}: {e}", p.display()),
                        );
                        None
                    }
                }
            }
            (None, None) if required => {
                self.issue(
                    pos,
                    format!("credential `{name}` is missing `{key}` (or `{key}_file`)"),
                );
                None
            }
            (None, None) => Some(None),
        }
    }

    /// Expands `${VAR}` references; the value itself is never put in a message.
    fn expand(&mut self, name: &str, key: &str, s: &Spanned<String>) -> Option<String> {
        let raw = s.value.as_str();
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                self.issue(
                    at(s),
                    format!("credential `{name}`: `{key}` has an unclosed `${{`"),
                );
                return None;
            };
            let var = &after[..end];
            if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                self.issue(
                    at(s),
                    format!(
                        "credential `{name}`: `{key}` refers to an invalid variable name `{var}`"
                    ),
                );
                return None;
            }
            match self.secrets.env(var) {
                Some(v) if !v.is_empty() => out.push_str(&v),
                _ => {
                    self.issue(
                        at(s),
                        format!("credential `{name}`: `{key}` needs the environment variable {var}, which is not set or empty"),
                    );
                    return None;
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        let out = out.trim().to_string();
        if out.is_empty() {
            self.issue(at(s), format!("credential `{name}`: `{key}` is empty"));
            return None;
        }
        Some(out)
    }
}

/// Ids are path segments: keep them to characters that need no escaping.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Accepts `http://` and `https://` URLs with a host; returns it without a trailing slash.
pub fn check_url(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let u = reqwest::Url::parse(s)
        .map_err(|e| format!("`{s}` is not a URL ({e}); expected https://host[:port][/path]"))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!(
            "`{s}` has scheme `{}`; expected https:// (or http:// for private endpoints)",
            u.scheme()
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{s}` has no host"));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(format!("`{s}` must not have a query or fragment"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("URLs must not carry user:password; use `credentials:`".to_string());
    }
    Ok(s.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secrets for tests: a fixed environment and in-memory files.
    struct FakeEnv;
    impl SecretSource for FakeEnv {
        fn env(&self, name: &str) -> Option<String> {
            match name {
                "HWC_TOKEN" | "HWC_AK" | "OTC_PASSWORD" => Some("env-token-SECRET".into()),
                "EMPTY" => Some(String::new()),
                _ => None,
            }
        }
        fn read_file(&self, path: &Path) -> std::io::Result<String> {
            match path.to_str() {
                Some("/run/secrets/hwc_token") | Some("/run/secrets/hwc_sk") => {
                    Ok("file-token-SECRET\n".into())
                }
                Some("/run/secrets/empty") => Ok("\n".into()),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "No such file or directory",
                )),
            }
        }
    }

    fn load(yaml: &str) -> Result<Config, ConfigError> {
        Config::from_yaml(Path::new("test.yaml"), yaml, &FakeEnv)
    }

    const GOOD: &str = "\
defaults:
  interval: 1m
credentials:
  t:
    token: ${HWC_TOKEN}
projects:
  - id: 0123456789abcdef0123456789abcdef
    region: cn-north-4
    credentials: t
    roma:
      instances:
        - id: inst-1
    eventgrid: {}
    gaussdb_mysql: {}
";

    #[test]
    fn good_config_resolves_defaults_endpoints_and_secrets() {
        let c = load(GOOD).expect("valid");
        assert_eq!(c.concurrency, DEFAULT_CONCURRENCY);
        let p = &c.projects[0];
        assert_eq!(p.settings.interval, Duration::from_secs(60));
        assert_eq!(p.settings.timeout, DEFAULT_TIMEOUT);
        assert_eq!(
            p.endpoints.roma,
            "https://roma.cn-north-4.myhuaweicloud.com"
        );
        assert_eq!(
            p.endpoints.eventgrid,
            "https://eg.cn-north-4.myhuaweicloud.com"
        );
        assert_eq!(
            p.endpoints.gaussdb_mysql,
            "https://gaussdb.cn-north-4.myhuaweicloud.com"
        );
        assert_eq!(p.roma_instances[0].app_quotas, AppQuotaSelection::Discover);
        assert_eq!(
            p.credential.credential,
            Credential::Token {
                token: Secret::new("env-token-SECRET")
            }
        );
        // Debug output of the whole config never shows the secret.
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    #[test]
    fn sizes_and_retries() {
        let c = load(&GOOD.replace(
            "  interval: 1m",
            "  interval: 1m\n  retries: 0\n  max_response_size: 512KiB",
        ))
        .expect("valid");
        assert_eq!(c.retries, 0);
        assert_eq!(c.max_response_bytes, 512 * 1024);
        assert_eq!(ByteSize::parse("8MiB"), Ok(8 << 20));
        assert_eq!(ByteSize::parse("4MB"), Ok(4_000_000));
        assert_eq!(ByteSize::parse("1234"), Ok(1234));
        assert!(ByteSize::parse("MiB").is_err());
        let d = load(GOOD).expect("valid");
        assert_eq!(
            (d.retries, d.max_response_bytes),
            (DEFAULT_RETRIES, DEFAULT_MAX_RESPONSE_BYTES)
        );
    }

    #[test]
    fn unset_staleness_follows_a_long_interval() {
        let c = load(&GOOD.replace("interval: 1m", "interval: 1h")).expect("valid");
        assert_eq!(
            c.projects[0].settings.max_staleness,
            Duration::from_secs(3 * 3600)
        );
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../../config/huaweicloud-quota-exporter.yaml");
        let c = load(text).expect("example config must load");
        assert_eq!(c.projects.len(), 2);
        assert_eq!(
            c.projects[1].endpoints.gaussdb_mysql,
            "https://gaussdb-mysql.eu-de.otc.t-systems.com"
        );
        assert_eq!(c.projects[1].settings.interval, Duration::from_secs(600));
        assert_eq!(
            c.projects[0].roma_instances[1].app_quotas,
            AppQuotaSelection::Ids(vec!["c900c5612dbe451bb43cbcc49cfaf2f3".into()])
        );
        assert_eq!(
            c.projects[0].roma_instances[2].app_quotas,
            AppQuotaSelection::None
        );
    }

    #[test]
    fn project_settings_override_defaults_and_http_urls_are_allowed() {
        let yaml = GOOD.replace(
            "    region: cn-north-4\n",
            "    region: cn-north-4\n    timeout: 3s\n    endpoints:\n      roma: http://127.0.0.1:8080/\n",
        );
        let c = load(&yaml).expect("valid");
        assert_eq!(c.projects[0].settings.timeout, Duration::from_secs(3));
        assert_eq!(c.projects[0].endpoints.roma, "http://127.0.0.1:8080");
    }

    #[test]
    fn aksk_and_iam_credentials_parse() {
        let yaml = "\
credentials:
  a:
    access_key: AKEXAMPLE
    secret_key_file: /run/secrets/hwc_token
  i:
    iam_endpoint: https://iam.eu-de.otc.t-systems.com/v3
    domain: OTC-EU-DE-1
    username: monitoring
    password: ${HWC_TOKEN}
projects:
  - id: p1
    region: eu-de
    credentials: a
    gaussdb_mysql: {}
  - id: p2
    region: eu-de
    credentials: i
    gaussdb_mysql: {}
";
        let c = load(yaml).expect("valid");
        assert_eq!(c.projects[0].credential.credential.kind(), "aksk");
        assert_eq!(c.projects[1].credential.credential.kind(), "iam_password");
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    /// Broken configs: (yaml, expected line, expected message fragment).
    #[test]
    fn broken_configs_name_line_and_reason() {
        let cases: Vec<(String, u64, &str)> = vec![
            (GOOD.replace("defaults:", "defaultz:"), 1, "unknown field `defaultz`"),
            (GOOD.replace("    region:", "    regoin:"), 8, "unknown field `regoin`"),
            (GOOD.replace("interval: 1m", "interval: 5x"), 2, "invalid duration `5x`"),
            (GOOD.replace("interval: 1m", "interval: 300"), 2, "has no unit"),
            (format!("{GOOD}  - id: 0123456789abcdef0123456789abcdef\n    region: x\n    credentials: t\n    gaussdb_mysql: {{}}\n"), 15, "duplicate project id"),
            (GOOD.replace("        - id: inst-1\n", "        - id: inst-1\n        - id: inst-1\n"), 13, "duplicate instance id `inst-1`"),
            (GOOD.replace("    credentials: t", "    credentials: nope"), 9, "unknown credentials `nope`: expected one of t"),
            (GOOD.replace("    region: cn-north-4\n", "    region: cn-north-4\n    endpoints:\n      roma: ftp://x\n"), 10, "invalid URL for endpoints.roma"),
            (GOOD.replace("    region: cn-north-4\n", "    region: cn-north-4\n    endpoints:\n      eventgrid: not a url\n"), 10, "is not a URL"),
            (GOOD.replace("        - id: inst-1\n", "        - id: inst-1\n          app_quotas: sometimes\n"), 13, "expected `discover`, `none`, or a list"),
            (GOOD.replace("    token: ${HWC_TOKEN}", "    token: x\n    access_key: y"), 5, "is ambiguous"),
            (GOOD.replace("    token: ${HWC_TOKEN}", "    access_key: y"), 5, "is missing `secret_key`"),
            (GOOD.replace("${HWC_TOKEN}", "${NOT_SET}"), 5, "environment variable NOT_SET"),
            (GOOD.replace("    token: ${HWC_TOKEN}", "    token_file: /run/secrets/missing"), 5, "cannot read `token_file`"),
            (GOOD.replace("    token: ${HWC_TOKEN}", "    token_file: /run/secrets/empty"), 5, "is empty"),
            (GOOD.replace("    roma:\n      instances:\n        - id: inst-1\n    eventgrid: {}\n    gaussdb_mysql: {}\n", ""), 7, "polls nothing"),
            (GOOD.replace("    region: cn-north-4\n", ""), 7, "set `region` or `endpoints.roma`"),
            (GOOD.replace("  interval: 1m", "  interval: 1m\n  concurrency: 0"), 3, "concurrency must be at least 1"),
            (GOOD.replace("  interval: 1m", "  interval: 1m\n  rate_limit: -2"), 3, "rate_limit must be a positive number"),
            (GOOD.replace("  interval: 1m", "  interval: 1h\n  max_staleness: 5m"), 8, "max_staleness (5m) is shorter than interval (1h)"),
            ("projects: []\n".to_string(), 1, "`projects` is empty"),
            (GOOD.replace("  interval: 1m", "  interval: 1m\n  retries: 11"), 3, "retries must be between 0 and 10"),
            (GOOD.replace("  interval: 1m", "  interval: 1m\n  max_response_size: 8 parsecs"), 3, "invalid size unit"),
            (GOOD.replace("credentials:\n  t:", "credentials:\n t:\n   x"), 5, "expected"),
            (GOOD.replace("        - id: inst-1", "        - id: inst/1"), 12, "invalid instance id"),
            (GOOD.replace("    eventgrid: {}", "    eventgrid:\n      types: [CHANNEL, \"bad type\"]"), 14, "invalid EventGrid quota type"),
        ];
        assert!(cases.len() >= 10);
        for (yaml, line, fragment) in cases {
            let err = load(&yaml).expect_err(&format!("must fail:\n{yaml}"));
            let text = err.to_string();
            assert!(text.starts_with("test.yaml:"), "{text}");
            assert!(
                text.contains(fragment),
                "expected `{fragment}` in:\n{text}\nfor:\n{yaml}"
            );
            assert_eq!(err.issues[0].line, line, "line of:\n{text}\nfor:\n{yaml}");
            assert!(err.issues[0].column > 0, "column of:\n{text}");
            assert!(!text.contains("SECRET"), "secret leaked:\n{text}");
        }
    }

    #[test]
    fn several_errors_are_reported_together() {
        let yaml = GOOD
            .replace("    credentials: t", "    credentials: nope")
            .replace(
                "        - id: inst-1\n",
                "        - id: inst-1\n        - id: inst-1\n",
            );
        let err = load(&yaml).expect_err("two problems");
        assert_eq!(err.issues.len(), 2, "{err}");
    }

    #[test]
    fn secrets_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    }
}
