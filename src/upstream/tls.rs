//! Upstream TLS and proxies: one reqwest client per distinct [`HttpSettings`] (the
//! system's CA certificates plus `ca_file`, a client certificate, `server_name`,
//! `insecure_skip_verify`, the proxy), and telling a failed certificate check apart from
//! other transport errors.

use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, SignatureScheme};

use crate::config::{HttpSettings, TlsSettings, redact_url_credentials};

/// The user agent sent upstream: name and version, so API owners can tell who calls.
pub const USER_AGENT: &str = concat!("huaweicloud-quota-exporter/", env!("CARGO_PKG_VERSION"));

/// Builds the reqwest client for `http`: TLS as configured, the proxy from the settings
/// or the environment, gzip, connect timeout, no redirects. `Err` says what is wrong.
pub fn build_http_client(http: &HttpSettings) -> Result<reqwest::Client, String> {
    let tls = client_config(&http.tls)?;
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(90))
        .gzip(true)
        .redirect(reqwest::redirect::Policy::none())
        // Retries are ours (counted, with back-off); reqwest's own (HTTP/2 refusals, which
        // an HTTP/1.1 client never sees) would copy every request's headers first.
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .use_preconfigured_tls(tls);
    // Without a `proxy_url`, reqwest reads HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY
    // (either case) itself; `no_proxy` from the file then adds to NO_PROXY's list.
    if let Some(proxy) = &http.proxy {
        let no_proxy = reqwest::NoProxy::from_string(&http.no_proxy.join(","));
        let p = reqwest::Proxy::all(proxy.expose())
            .map_err(|e| format!("invalid proxy {}: {e}", proxy.redacted()))?
            .no_proxy(no_proxy);
        builder = builder.proxy(p);
    } else if !http.no_proxy.is_empty() {
        let from_env = std::env::var("NO_PROXY")
            .or_else(|_| std::env::var("no_proxy"))
            .unwrap_or_default();
        let list = std::iter::once(from_env.as_str())
            .chain(http.no_proxy.iter().map(String::as_str))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(",");
        for (scheme, vars) in [
            ("https", ["HTTPS_PROXY", "https_proxy"]),
            ("http", ["HTTP_PROXY", "http_proxy"]),
        ] {
            // Set but empty is unset, as for curl.
            let Some(url) = vars
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
            else {
                continue;
            };
            let p = match scheme {
                "https" => reqwest::Proxy::https(&url),
                _ => reqwest::Proxy::http(&url),
            }
            .map_err(|e| format!("invalid proxy {}: {e}", redact_url_credentials(&url)))?
            .no_proxy(reqwest::NoProxy::from_string(&list));
            builder = builder.proxy(p);
        }
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// The rustls client configuration of `tls`.
pub fn client_config(tls: &TlsSettings) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(AcceptAnyCertificate { provider })
    } else {
        let roots = Arc::new(root_store(tls)?);
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| format!("TLS set-up: {e}"))?;
        match &tls.server_name {
            Some(name) => Arc::new(FixedName {
                name: ServerName::try_from(name.clone())
                    .map_err(|e| format!("invalid http.tls.server_name `{name}`: {e}"))?,
                inner: webpki,
            }),
            None => webpki,
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match &tls.client_cert {
        Some(c) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&c.cert.pem)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{}: {e}", c.cert.path.display()))?;
            let key = PrivateKeyDer::from_pem_slice(&c.key.pem)
                .map_err(|e| format!("{}: {e}", c.key.path.display()))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                format!(
                    "client certificate {} with key {}: {e}",
                    c.cert.path.display(),
                    c.key.path.display()
                )
            })
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The system's CA certificates (`SSL_CERT_FILE` / `SSL_CERT_DIR` instead, when set, as
/// OpenSSL does) plus `ca_file`'s.
fn root_store(tls: &TlsSettings) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::warn!(error = %e, "cannot read some of the system's CA certificates");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "system CA certificates loaded");
    if let Some(ca) = &tls.ca {
        for cert in CertificateDer::pem_slice_iter(&ca.pem) {
            let cert = cert.map_err(|e| format!("{}: {e}", ca.path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("CA certificate in {}: {e}", ca.path.display()))?;
        }
    }
    if roots.is_empty() {
        return Err(
            "no CA certificate to trust: the system has none (install ca-certificates, or set SSL_CERT_FILE) and http.tls.ca_file is not set"
                .to_string(),
        );
    }
    Ok(roots)
}

/// Why a transport error is a TLS failure (`invalid peer certificate: UnknownIssuer`),
/// if it is one: the rustls error somewhere in its source chain.
pub fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r.to_string());
        }
        // io::Error's `source` skips the error it wraps: look at that one too.
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(r) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(r.to_string());
        }
        // Wrapped where a downcast cannot see it (boxed by the connector): rustls's own
        // wording of certificate and handshake failures.
        let text = err.to_string();
        if RUSTLS_WORDING.iter().any(|w| text.starts_with(w)) {
            return Some(text);
        }
        next = err.source();
    }
    None
}

/// What to do about a TLS failure whose reason (see [`tls_failure`]) is `why`.
pub fn tls_hint(why: &str) -> &'static str {
    let has = |w: &[&str]| w.iter().any(|w| why.contains(w));
    if has(&["not valid for name", "NotValidForName"]) {
        "the certificate does not name the endpoint's host: use a name it carries in the URL, or set http.tls.server_name"
    } else if has(&[
        "CertificateRequired",
        "HandshakeFailure",
        "BadCertificate",
        "UnknownCA",
    ]) {
        "the server wants a client certificate it trusts: set http.tls.cert_file and key_file"
    } else if has(&["xpired", "NotValidYet", "not valid yet"]) {
        "the certificate is out of date, or this machine's clock is wrong"
    } else if has(&["peer is incompatible"]) {
        "no TLS version or cipher suite in common with the server"
    } else {
        "trust the CA with http.tls.ca_file, SSL_CERT_FILE or SSL_CERT_DIR"
    }
}

/// How rustls's errors about certificates and handshakes begin.
const RUSTLS_WORDING: &[&str] = &[
    "invalid peer certificate",
    "peer is incompatible",
    "peer misbehaved",
    "received fatal alert",
    "no certificates presented",
    "unsupported name type",
];

/// `server_name`: checks the certificate against the configured name, not the URL's host.
#[derive(Debug)]
struct FixedName {
    name: ServerName<'static>,
    inner: Arc<rustls::client::WebPkiServerVerifier>,
}

impl ServerCertVerifier for FixedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure_skip_verify`: any certificate is accepted (the handshake's signatures are
/// still checked, so the connection is encrypted, but not to a known party).
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The clients of one config: one per distinct [`HttpSettings`], shared by the projects
/// that use it, and the one of `defaults.http` for requests of no project.
#[derive(Debug)]
pub struct HttpClients {
    default: reqwest::Client,
    by_settings: Vec<(Arc<HttpSettings>, reqwest::Client)>,
}

impl HttpClients {
    /// Only `default`, for every request.
    pub fn only(default: reqwest::Client) -> Self {
        HttpClients {
            default,
            by_settings: Vec::new(),
        }
    }

    /// A client for `defaults.http` and for every distinct project setting of `config`;
    /// warns about each setting that skips certificate verification (so at start and at
    /// every reload). `Err` names the projects whose settings fail.
    pub fn build(config: &crate::config::Config) -> Result<Self, String> {
        let mut by_settings: Vec<(Arc<HttpSettings>, reqwest::Client)> = Vec::new();
        let mut default = None;
        let all = std::iter::once((&config.http, None)).chain(
            config
                .projects
                .iter()
                .map(|p| (&p.http, Some(p.id.as_str()))),
        );
        for (http, project) in all {
            if let Some((_, client)) = by_settings.iter().find(|(s, _)| **s == **http) {
                if project.is_none() {
                    default = Some(client.clone());
                }
                continue;
            }
            let client = build_http_client(http).map_err(|e| match project {
                Some(id) => format!("project `{id}`: http: {e}"),
                None => format!("defaults.http: {e}"),
            })?;
            if http.tls.insecure_skip_verify {
                let used_by: Vec<&str> = config
                    .projects
                    .iter()
                    .filter(|p| *p.http == **http)
                    .map(|p| p.id.as_str())
                    .collect();
                tracing::warn!(
                    projects = %used_by.join(","),
                    "http.tls.insecure_skip_verify is set: upstream certificates are NOT verified, anyone on the path can read and change the traffic (credentials included); use http.tls.ca_file instead"
                );
            }
            if project.is_none() {
                default = Some(client.clone());
            }
            by_settings.push((http.clone(), client));
        }
        let default = match default {
            Some(c) => c,
            None => build_http_client(&config.http)?,
        };
        Ok(HttpClients {
            default,
            by_settings,
        })
    }

    /// The client of `http` (`None`: `defaults.http`'s); built now for settings this set
    /// does not know (a poll begun before a reload changed them).
    pub fn client_for(&self, http: Option<&HttpSettings>) -> Result<reqwest::Client, String> {
        let Some(http) = http else {
            return Ok(self.default.clone());
        };
        match self.by_settings.iter().find(|(s, _)| **s == *http) {
            Some((_, c)) => Ok(c.clone()),
            None if self.by_settings.is_empty() && *http == HttpSettings::default() => {
                Ok(self.default.clone())
            }
            None => build_http_client(http),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tls_failure_names_its_fix() {
        assert!(tls_hint("invalid peer certificate: UnknownIssuer").contains("ca_file"));
        assert!(
            tls_hint("invalid peer certificate: certificate not valid for name \"127.0.0.1\"")
                .contains("server_name")
        );
        assert!(tls_hint("received fatal alert: CertificateRequired").contains("cert_file"));
        assert!(
            tls_hint("invalid peer certificate: certificate expired: verification time")
                .contains("clock")
        );
    }
}
