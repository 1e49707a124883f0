//! `--web.config.file`: Prometheus exporter-toolkit's `web-config.yml` (TLS, basic auth,
//! response headers, rate limit), read strictly and turned into what the server uses.
//!
//! The file format is exporter-toolkit's, so a team can reuse the file it already has:
//! every key the toolkit documents is known here, anything else is an error naming the
//! file, line and column. Everything is checked at load time (certificates and keys
//! parsed, bcrypt hashes parsed, header names and values checked) so that a bad file
//! fails the start or the reload, never a request later.

pub mod basic_auth;
pub mod client_cert;
pub mod tls;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_saphyr::Spanned;
use tokio_rustls::rustls::ServerConfig;

use self::basic_auth::BasicAuth;
use self::tls::{FileTlsConfig, TlsSettings};
use crate::diag::{ConfigError, Diagnostics, at};

/// The file as written: every key exporter-toolkit knows, spans kept for messages.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWebConfig {
    /// TLS; without a certificate, key or client CA the server speaks plain HTTP.
    tls_server_config: Option<FileTlsConfig>,
    /// HTTP settings: `http2` and extra response `headers`.
    http_server_config: Option<FileHttpConfig>,
    /// User name -> bcrypt hash. When not empty, every request needs basic auth.
    basic_auth_users: Option<BTreeMap<String, Spanned<String>>>,
    /// Token bucket over all requests: one token per `interval`, `burst` at most.
    rate_limit: Option<FileRateLimit>,
}

/// `http_server_config`, as in exporter-toolkit.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHttpConfig {
    /// Offer HTTP/2 over TLS (ALPN `h2`); default true, as in exporter-toolkit. Plain
    /// HTTP is always HTTP/1.1.
    http2: Option<bool>,
    /// Extra response headers; only the ones exporter-toolkit allows.
    headers: Option<BTreeMap<String, Spanned<String>>>,
}

/// `rate_limit`, as in exporter-toolkit.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRateLimit {
    /// Time between two requests; `0` turns the limiter off.
    interval: Option<Spanned<WebDuration>>,
    /// Requests allowed at once after a quiet period.
    burst: Option<Spanned<u32>>,
}

/// A duration as Go writes it in YAML (`1s`, `100ms`, `1m30s`); `0` is allowed.
#[derive(Clone, Copy, Debug, Default)]
struct WebDuration(Duration);

impl<'de> Deserialize<'de> for WebDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = WebDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 100ms, 1s or 1m")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<WebDuration, E> {
                if s.trim() == "0" {
                    return Ok(WebDuration(Duration::ZERO));
                }
                humantime::parse_duration(s.trim())
                    .map(WebDuration)
                    .map_err(|e| E::custom(format!("invalid duration `{s}` ({e}): expected a number with a unit such as 100ms, 1s or 1m")))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<WebDuration, E> {
                if n == 0 {
                    Ok(WebDuration(Duration::ZERO))
                } else {
                    Err(E::custom(format!(
                        "`{n}` has no unit: write it as {n}ms or {n}s"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<WebDuration, E> {
                self.visit_u64(n.unsigned_abs())
            }
        }
        d.deserialize_any(V)
    }
}

/// Headers exporter-toolkit lets a web config add, with the values it allows (none: any).
const ALLOWED_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// A token bucket over every request (`rate_limit`); excess requests get 429.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    burst: f64,
    /// Tokens left and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A bucket that refills one token per `interval` and holds at most `burst`.
    pub fn new(interval: Duration, burst: u32) -> Self {
        RateLimiter {
            interval,
            burst: f64::from(burst),
            state: Mutex::new((f64::from(burst), Instant::now())),
        }
    }

    /// Takes a token if there is one.
    pub fn allow(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(s.1).as_secs_f64() / self.interval.as_secs_f64();
        s.0 = (s.0 + refill).min(self.burst);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The loaded web config: what the server applies to connections and requests.
pub struct WebConfig {
    /// TLS settings for new connections; `None` serves plain HTTP.
    pub tls: Option<Arc<ServerConfig>>,
    /// Whether TLS offers HTTP/2 (`http_server_config.http2`).
    pub http2: bool,
    /// Basic auth users; `None` when `basic_auth_users` is empty or absent.
    pub basic_auth: Option<Arc<BasicAuth>>,
    /// Extra headers added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Request rate limit, when configured.
    pub rate_limit: Option<RateLimiter>,
    /// The files the config names (certificate, key, client CA), watched for changes.
    pub files: Vec<PathBuf>,
    /// Things worth a warning that are not errors (for example a TLS 1.0 minimum, read
    /// as TLS 1.2).
    pub notes: Vec<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            tls: None,
            http2: true,
            basic_auth: None,
            headers: Vec::new(),
            rate_limit: None,
            files: Vec::new(),
            notes: Vec::new(),
        }
    }
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("http2", &self.http2)
            .field("basic_auth", &self.basic_auth)
            .field("headers", &self.headers)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

impl WebConfig {
    /// Reads and checks a web config file. Runs bcrypt once (to build the decoy hash for
    /// unknown users), so call it off the async worker threads.
    pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::whole_file(path, format!("cannot read the web config file: {e}"))
        })?;
        WebConfig::from_yaml(path, &text)
    }

    /// Parses and checks web config text; `path` is used in messages and to resolve
    /// relative file names.
    pub fn from_yaml(path: &Path, text: &str) -> Result<WebConfig, ConfigError> {
        let blank = text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---");
        let file: FileWebConfig = if blank {
            FileWebConfig::default()
        } else {
            crate::diag::parse_yaml(path, text)?
        };
        let mut v = Diagnostics::new(path);
        let mut config = validate(&mut v, file);
        config.notes = v.finish()?;
        Ok(config)
    }

    /// A short description for the start-up log line.
    pub fn describe(&self) -> String {
        let mut parts = vec![
            match (&self.tls, self.http2) {
                (Some(_), true) => "TLS (HTTP/2 and HTTP/1.1)",
                (Some(_), false) => "TLS (HTTP/1.1)",
                (None, _) => "plain HTTP",
            }
            .to_string(),
        ];
        if let Some(a) = &self.basic_auth {
            parts.push(format!("basic auth ({} users)", a.user_count()));
        }
        if !self.headers.is_empty() {
            parts.push(format!("{} extra headers", self.headers.len()));
        }
        if self.rate_limit.is_some() {
            parts.push("rate limit".to_string());
        }
        parts.join(", ")
    }
}

/// Checks every section of the file, recording each problem in `v`.
fn validate(v: &mut Diagnostics, file: FileWebConfig) -> WebConfig {
    let http2 = file
        .http_server_config
        .as_ref()
        .and_then(|h| h.http2)
        .unwrap_or(true);
    let mut files = Vec::new();
    if let Some(t) = &file.tls_server_config {
        for f in [&t.cert_file, &t.key_file, &t.client_ca_file]
            .into_iter()
            .flatten()
        {
            if !f.value.trim().is_empty() {
                files.push(v.path(f.value.trim()));
            }
        }
    }
    let tls = file
        .tls_server_config
        .and_then(|t| tls::build(v, &t, http2))
        .map(|TlsSettings { config }| config);

    let mut headers = Vec::new();
    if let Some(http) = &file.http_server_config {
        for (name, value) in http.headers.iter().flatten() {
            header(v, name, value, &mut headers);
        }
    }

    let basic_auth = basic_auth(v, file.basic_auth_users.unwrap_or_default());
    let rate_limit = file.rate_limit.and_then(|r| rate_limit(v, r));

    WebConfig {
        tls,
        http2,
        basic_auth,
        headers,
        rate_limit,
        files,
        notes: Vec::new(),
    }
}

/// `basic_auth_users`: every password a bcrypt hash; `None` without users or on errors.
fn basic_auth(
    v: &mut Diagnostics,
    users: BTreeMap<String, Spanned<String>>,
) -> Option<Arc<BasicAuth>> {
    let mut hashes = Vec::with_capacity(users.len());
    for (user, hash) in users {
        match hash.value.parse::<bcrypt::HashParts>() {
            Ok(parts) => hashes.push((user, hash.value.clone(), parts.get_cost())),
            Err(e) => v.issue(
                at(&hash),
                format!(
                    "the password of basic_auth_users `{user}` is not a bcrypt hash ({e}): \
                     store a hash such as the output of `htpasswd -nBC 10 \"\" | tr -d ':\\n'`, never the password"
                ),
            ),
        }
    }
    if hashes.is_empty() || !v.issues.is_empty() {
        None
    } else {
        match BasicAuth::new(hashes) {
            Ok(a) => Some(Arc::new(a)),
            Err(e) => {
                v.issue((0, 0), format!("cannot prepare basic auth: {e}"));
                None
            }
        }
    }
}

/// `rate_limit`: `None` when off (interval 0) or on errors.
fn rate_limit(v: &mut Diagnostics, r: FileRateLimit) -> Option<RateLimiter> {
    let interval = r.interval.as_ref().map(|i| i.value.0).unwrap_or_default();
    if interval.is_zero() {
        return None;
    }
    match &r.burst {
        Some(b) if b.value >= 1 => Some(RateLimiter::new(interval, b.value)),
        Some(b) => {
            v.issue(
                at(b),
                "rate_limit burst must be at least 1 (0 would refuse every request)",
            );
            None
        }
        None => {
            let pos = r.interval.as_ref().map(at).unwrap_or((0, 0));
            v.issue(
                pos,
                "rate_limit needs `burst` (at least 1) next to `interval`",
            );
            None
        }
    }
}

/// One `http_server_config.headers` entry: allowed name and value, or a problem in `d`.
fn header(
    d: &mut Diagnostics,
    name: &str,
    value: &Spanned<String>,
    out: &mut Vec<(HeaderName, HeaderValue)>,
) {
    let Some((canonical, allowed)) = ALLOWED_HEADERS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    else {
        let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
        d.issue(
            at(value),
            format!(
                "HTTP header `{name}` can not be configured: expected one of {}",
                names.join(", ")
            ),
        );
        return;
    };
    let v = value.value.trim();
    if v.is_empty() {
        // exporter-toolkit: blank means unset.
        return;
    }
    if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) {
        d.issue(
            at(value),
            format!(
                "invalid value `{v}` for {canonical}: expected one of {}",
                allowed.join(", ")
            ),
        );
        return;
    }
    match (
        HeaderName::from_bytes(canonical.as_bytes()),
        HeaderValue::from_str(v),
    ) {
        (Ok(n), Ok(hv)) => out.push((n, hv)),
        _ => d.issue(
            at(value),
            format!("invalid value for {canonical}: only visible ASCII characters are allowed"),
        ),
    }
}

/// The web config in force, swapped whole on reload; connections and requests read it.
#[derive(Debug)]
pub struct WebState {
    /// `--web.config.file`, if given.
    pub path: Option<PathBuf>,
    current: ArcSwap<WebConfig>,
}

impl Default for WebState {
    fn default() -> Self {
        WebState::new(None, WebConfig::default())
    }
}

impl WebState {
    /// State serving `config`, reloadable from `path`.
    pub fn new(path: Option<PathBuf>, config: WebConfig) -> Self {
        WebState {
            path,
            current: ArcSwap::from_pointee(config),
        }
    }

    /// Loads `path` (on a blocking thread: bcrypt and file I/O), logging any notes.
    pub async fn load(path: Option<PathBuf>) -> Result<WebState, ConfigError> {
        let config = match &path {
            Some(p) => load_blocking(p.clone()).await?,
            None => WebConfig::default(),
        };
        Ok(WebState::new(path, config))
    }

    /// The config in force.
    pub fn current(&self) -> Arc<WebConfig> {
        self.current.load_full()
    }

    /// Re-reads the file; on error the old config stays in force and the error is returned.
    /// Without a file this does nothing.
    pub async fn reload(&self) -> Result<(), ConfigError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let config = load_blocking(path.clone()).await?;
        let was_tls = self.current().tls.is_some();
        if was_tls && config.tls.is_none() {
            tracing::warn!(file = %path.display(), "web config reloaded: TLS is now OFF for new connections");
        }
        tracing::info!(file = %path.display(), settings = %config.describe(), "web config reloaded");
        self.current.store(Arc::new(config));
        Ok(())
    }
}

/// How a file looked: modification time, size and inode (a certificate renewed by rename
/// gets a new inode even when the clock or the size say nothing).
type FileStamp = Option<(std::time::SystemTime, u64, u64)>;

fn stamp(path: &Path) -> FileStamp {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// The stamps of the web config file and of every file it names.
fn stamps(path: &Path, config: &WebConfig) -> Vec<(PathBuf, FileStamp)> {
    std::iter::once(path.to_path_buf())
        .chain(config.files.iter().cloned())
        .map(|p| {
            let s = stamp(&p);
            (p, s)
        })
        .collect()
}

/// How often [`WebState::watch`] looks at the files.
pub const WEB_CONFIG_POLL: Duration = Duration::from_secs(2);

impl WebState {
    /// Re-reads the web config whenever it or a file it names (certificate, key, client
    /// CA) changes, looking every `every`: a renewed certificate is served to new
    /// connections without a signal, as exporter-toolkit (which reads them per handshake)
    /// does. A change that does not load is logged once and the config in force stays.
    /// Without `--web.config.file` this returns at once.
    pub async fn watch(self: Arc<Self>, every: Duration) {
        let Some(path) = self.path.clone() else {
            return;
        };
        let mut seen = stamps(&path, &self.current());
        loop {
            tokio::time::sleep(every).await;
            let now = stamps(&path, &self.current());
            if now == seen {
                continue;
            }
            seen = now;
            match self.reload().await {
                // The new config may name other files: watch those from now on.
                Ok(()) => seen = stamps(&path, &self.current()),
                Err(e) => tracing::warn!(
                    file = %path.display(),
                    error = %e,
                    "the web config or a file it names changed but cannot be used: the previous web config stays in force"
                ),
            }
        }
    }
}

async fn load_blocking(path: PathBuf) -> Result<WebConfig, ConfigError> {
    let p = path.clone();
    let config = tokio::task::spawn_blocking(move || WebConfig::load(&p))
        .await
        .map_err(|e| {
            ConfigError::whole_file(&path, format!("loading the web config failed: {e}"))
        })??;
    for note in &config.notes {
        tracing::warn!(file = %path.display(), "{note}");
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<WebConfig, String> {
        WebConfig::from_yaml(Path::new("/etc/web.yml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_file_means_plain_http_without_auth() {
        for text in ["", "# nothing\n", "---\n"] {
            let c = load(text).expect("empty is fine");
            assert!(c.tls.is_none() && c.basic_auth.is_none() && c.headers.is_empty());
        }
    }

    #[test]
    fn unknown_keys_name_file_line_and_column() {
        let err = load("basic_auth_users: {}\ntls_server_config:\n  cert_fiel: x\n").unwrap_err();
        assert!(
            err.starts_with("/etc/web.yml:3:3: unknown field `cert_fiel`"),
            "{err}"
        );
        let err = load("basic_auth_user:\n  a: b\n").unwrap_err();
        assert!(
            err.starts_with("/etc/web.yml:1:1: unknown field `basic_auth_user`"),
            "{err}"
        );
    }

    #[test]
    fn bad_bcrypt_hash_is_an_error_at_its_line() {
        let err = load("basic_auth_users:\n  alice: secret\n").unwrap_err();
        assert!(
            err.starts_with(
                "/etc/web.yml:2:10: the password of basic_auth_users `alice` is not a bcrypt hash"
            ),
            "{err}"
        );
        assert!(!err.contains("secret\n"), "{err}");
    }

    #[test]
    fn good_hash_enables_basic_auth() {
        let hash = bcrypt::hash("pw", 4).expect("hash");
        let c = load(&format!("basic_auth_users:\n  alice: '{hash}'\n")).expect("valid");
        assert_eq!(c.basic_auth.as_ref().map(|a| a.user_count()), Some(1));
    }

    #[test]
    fn only_toolkit_headers_with_allowed_values() {
        let c = load(
            "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    Content-Security-Policy: \"default-src 'self'\"\n    X-XSS-Protection: ''\n",
        )
        .expect("valid");
        let names: Vec<&str> = c.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["content-security-policy", "x-frame-options"]);
        let err = load("http_server_config:\n  headers:\n    Server: x\n").unwrap_err();
        assert!(
            err.starts_with("/etc/web.yml:3:13: HTTP header `Server` can not be configured"),
            "{err}"
        );
        let err =
            load("http_server_config:\n  headers:\n    X-Frame-Options: allow\n").unwrap_err();
        assert!(
            err.contains(
                "invalid value `allow` for X-Frame-Options: expected one of deny, sameorigin"
            ),
            "{err}"
        );
    }

    #[test]
    fn rate_limit_needs_a_burst() {
        assert!(
            load("rate_limit:\n  interval: 0\n")
                .expect("off")
                .rate_limit
                .is_none()
        );
        let c = load("rate_limit:\n  interval: 1s\n  burst: 2\n").expect("valid");
        let r = c.rate_limit.expect("limiter");
        assert!(r.allow() && r.allow() && !r.allow());
        let err = load("rate_limit:\n  interval: 1s\n  burst: 0\n").unwrap_err();
        assert!(
            err.starts_with("/etc/web.yml:3:10: rate_limit burst must be at least 1"),
            "{err}"
        );
        let err = load("rate_limit:\n  interval: 10\n  burst: 1\n").unwrap_err();
        assert!(err.contains("`10` has no unit"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_in_file_order() {
        let err = load(
            "tls_server_config:\n  cert_file: /nonexistent/cert.pem\n  key_file: /nonexistent/key.pem\nbasic_auth_users:\n  bob: nope\n",
        )
        .unwrap_err();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 3, "{err}");
        assert!(
            lines[0]
                .starts_with("/etc/web.yml:2:14: cannot read cert_file `/nonexistent/cert.pem`"),
            "{err}"
        );
        assert!(
            lines[1].starts_with("/etc/web.yml:3:13: cannot read key_file"),
            "{err}"
        );
        assert!(
            lines[2].starts_with("/etc/web.yml:5:8: the password of basic_auth_users `bob`"),
            "{err}"
        );
    }

    /// A directory with `server.crt`, `server.key`, `ca.crt` and `other.key`; the web
    /// config `text` is loaded as `web.yml` from it.
    fn load_tls(text: &str) -> (Result<WebConfig, String>, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let other = rcgen::KeyPair::generate().expect("key");
        for (name, text) in [
            ("server.crt", cert.pem()),
            ("server.key", key.serialize_pem()),
            ("ca.crt", cert.pem()),
            ("other.key", other.serialize_pem()),
            ("garbage.crt", "not a certificate\n".to_string()),
        ] {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        let text = text
            .replace("@CERT@", &cert.pem().replace('\n', "\n    "))
            .replace("@KEY@", &key.serialize_pem().replace('\n', "\n    "));
        let path = dir.path().join("web.yml");
        let shown = path.display().to_string();
        (
            WebConfig::from_yaml(&path, &text).map_err(|e| e.to_string()),
            shown,
        )
    }

    const FILES: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

    #[test]
    fn tls_from_files_or_inline_pem() {
        let (c, _) = load_tls(FILES);
        let c = c.expect("valid");
        assert!(c.tls.is_some() && c.notes.is_empty());
        let (c, _) = load_tls("tls_server_config:\n  cert: |\n    @CERT@\n  key: |\n    @KEY@\n");
        assert!(c.expect("inline PEM").tls.is_some());
        // TLS keys without a certificate, key or CA: plain HTTP, as in exporter-toolkit.
        let (c, _) = load_tls("tls_server_config:\n  min_version: TLS13\n");
        assert!(c.expect("valid").tls.is_none());
    }

    #[test]
    fn tls_problems_are_named_where_they_are() {
        let cases = [
            (
                "tls_server_config:\n  cert_file: server.crt\n",
                ":0:0",
                "needs key_file",
            ),
            (
                "tls_server_config:\n  cert: x\n  cert_file: server.crt\n  key_file: server.key\n",
                ":2:9",
                "give either cert or cert_file, not both",
            ),
            (
                "tls_server_config:\n  cert_file: garbage.crt\n  key_file: server.key\n",
                ":2:14",
                "holds no PEM `CERTIFICATE` block",
            ),
            (
                "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
                ":3:13",
                "the server certificate and private key cannot be used together",
            ),
            (
                &format!("{FILES}  client_ca_file: ca.crt\n"),
                ":4:19",
                "a client CA is configured without a client auth policy",
            ),
            (
                &format!("{FILES}  client_auth_type: RequireAndVerifyClientCert\n"),
                ":4:21",
                "set client_ca_file",
            ),
            (
                &format!("{FILES}  client_auth_type: Always\n"),
                ":4:21",
                "invalid client_auth_type `Always`: expected one of NoClientCert,",
            ),
            (
                &format!(
                    "{FILES}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n  client_allowed_sans: [a.example]\n"
                ),
                ":6:24",
                "client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert",
            ),
            (
                &format!("{FILES}  max_version: TLS11\n"),
                ":4:16",
                "max_version must be TLS12 or TLS13",
            ),
            (
                &format!("{FILES}  min_version: TLS13\n  max_version: TLS12\n"),
                ":4:16",
                "min_version is newer than max_version",
            ),
            (
                &format!("{FILES}  min_version: SSL3\n"),
                ":4:16",
                "unknown TLS version `SSL3`",
            ),
            (
                &format!("{FILES}  cipher_suites: [TLS_FOO]\n"),
                ":4:19",
                "unknown cipher suite `TLS_FOO`",
            ),
            (
                &format!("{FILES}  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"),
                ":4:19",
                "names no TLS 1.2 suite",
            ),
            (
                &format!("{FILES}  curve_preferences: [CurveP521]\n"),
                ":4:23",
                "names no curve",
            ),
            (
                &format!("{FILES}  curve_preferences: [P256]\n"),
                ":4:23",
                "unknown curve `P256`",
            ),
        ];
        for (text, pos, want) in cases {
            let (r, path) = load_tls(text);
            let Err(e) = r else {
                panic!("accepted:\n{text}")
            };
            let prefix = if pos == ":0:0" {
                format!("{path}: ")
            } else {
                format!("{path}{pos}: ")
            };
            assert!(
                e.lines()
                    .any(|l| l.starts_with(&prefix) && l.contains(want)),
                "want `{prefix}...{want}` in:\n{e}"
            );
        }
    }

    #[test]
    fn what_go_allows_but_is_not_offered_is_a_warning() {
        let (c, _) = load_tls(&format!(
            "{FILES}  min_version: TLS10\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n  curve_preferences: [CurveP521, X25519]\n  prefer_server_cipher_suites: false\n"
        ));
        let c = c.expect("valid");
        assert!(c.tls.is_some());
        assert_eq!(c.notes.len(), 3, "{:?}", c.notes);
        let (c, _) = load_tls(&format!(
            "{FILES}  min_version: TLS13\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [prometheus.example]\n"
        ));
        assert!(c.expect("valid").tls.is_some());
    }
}
