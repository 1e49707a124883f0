//! `tls_server_config` -> a rustls server config (ring provider): certificate and key,
//! client certificate policy, TLS versions, cipher suites and curves, exporter-toolkit's
//! names and semantics.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use serde_saphyr::Spanned;
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::server::danger::ClientCertVerifier;
use tokio_rustls::rustls::{
    self, RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion,
};

use super::client_cert::{AllowedSans, AnyClientCert};
use crate::diag::{Diagnostics, Pos, at};

/// `tls_server_config`, as in exporter-toolkit.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTlsConfig {
    /// Server certificate chain, inline PEM (instead of `cert_file`).
    pub cert: Option<Spanned<String>>,
    /// Server private key, inline PEM (instead of `key_file`). A secret: never printed.
    pub key: Option<Spanned<String>>,
    /// CA certificates for client certificates, inline PEM (instead of `client_ca_file`).
    pub client_ca: Option<Spanned<String>>,
    /// Server certificate chain file (PEM), relative to the web config file.
    pub cert_file: Option<Spanned<String>>,
    /// Server private key file (PEM: PKCS#8, PKCS#1 or SEC1), relative to the web config file.
    pub key_file: Option<Spanned<String>>,
    /// `NoClientCert` (default), `RequestClientCert`, `RequireAnyClientCert`,
    /// `VerifyClientCertIfGiven` or `RequireAndVerifyClientCert`.
    pub client_auth_type: Option<Spanned<String>>,
    /// CA certificates (PEM) that client certificates must chain to.
    pub client_ca_file: Option<Spanned<String>>,
    /// A client certificate must carry one of these subject alternative names (DNS,
    /// IP, e-mail or URI, exact match).
    pub client_allowed_sans: Option<Spanned<Vec<String>>>,
    /// Oldest TLS version accepted: `TLS12` (default) or `TLS13`; `TLS10` and `TLS11`
    /// are read as `TLS12`, the oldest version offered.
    pub min_version: Option<Spanned<String>>,
    /// Newest TLS version accepted: `TLS13` (default) or `TLS12`.
    pub max_version: Option<Spanned<String>>,
    /// TLS 1.2 cipher suites, by their Go names; TLS 1.3 suites are not configurable.
    pub cipher_suites: Option<Vec<Spanned<String>>>,
    /// Whether the server's suite order wins over the client's. Default `true`.
    pub prefer_server_cipher_suites: Option<bool>,
    /// Key exchange groups in preference order: `X25519`, `CurveP256`, `CurveP384`.
    pub curve_preferences: Option<Vec<Spanned<String>>>,
}

/// What [`build`] produces.
pub(super) struct TlsSettings {
    /// The rustls config for new connections.
    pub config: Arc<ServerConfig>,
}

/// exporter-toolkit's `client_auth_type`, Go's `tls.ClientAuthType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

const CLIENT_AUTH_TYPES: &str = "NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert";

/// Go's names of the TLS 1.2 suites this server offers.
const TLS12_SUITES: [(&str, SupportedCipherSuite); 6] = [
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// TLS 1.3 suites: accepted in `cipher_suites` but, as in Go, not configurable.
const TLS13_SUITE_NAMES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Suites Go knows that this server does not offer (CBC and RSA key exchange): skipped
/// with a warning, so a file written for Go still loads.
const NOT_OFFERED_SUITES: [&str; 10] = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
];

/// Whether a string setting is given and not blank.
fn set(s: &Option<Spanned<String>>) -> bool {
    s.as_ref().is_some_and(|s| !s.value.trim().is_empty())
}

/// Builds the rustls config, recording every problem in `v`. `None` when TLS is off
/// (no certificate, key, client CA or client auth type given) or on errors.
pub(super) fn build(v: &mut Diagnostics, t: &FileTlsConfig, http2: bool) -> Option<TlsSettings> {
    let enabled = set(&t.cert)
        || set(&t.key)
        || set(&t.cert_file)
        || set(&t.key_file)
        || set(&t.client_ca)
        || set(&t.client_ca_file)
        || set(&t.client_auth_type);
    if !enabled {
        return None;
    }
    let issues_before = v.issues.len();
    let certs = server_certs(v, t);
    let key = private_key(v, t);
    let client_auth = client_auth(v, t);
    let client_cas = client_cas(v, t);
    check_client_policy(v, t, client_auth, client_cas.as_ref());
    let allowed_sans = allowed_sans(v, t, client_auth);
    let versions = versions(v, t);
    let provider = provider(v, t, versions.contains(&&rustls::version::TLS12));
    if v.issues.len() != issues_before {
        return None;
    }
    let (certs, key, provider) = (certs?, key?, Arc::new(provider));
    let verifier = verifier(v, client_auth, client_cas, allowed_sans, &provider).ok()?;
    let mut config = server_config(v, t, provider, &versions, verifier, certs, key)?;
    // ALPN: HTTP/2 first when on (`http_server_config.http2`, default true), as Go offers it.
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Some(TlsSettings {
        config: Arc::new(config),
    })
}

/// The server certificate chain from `cert` or `cert_file`.
fn server_certs(v: &mut Diagnostics, t: &FileTlsConfig) -> Option<Vec<CertificateDer<'static>>> {
    let (pos, what, pem) = pem_source(v, &t.cert, &t.cert_file, "cert", "the server certificate")?;
    let certs: Result<Vec<CertificateDer<'static>>, _> =
        CertificateDer::pem_slice_iter(&pem).collect();
    match certs {
        Ok(c) if !c.is_empty() => Some(c),
        Ok(_) => {
            v.issue(pos, format!("{what} holds no PEM `CERTIFICATE` block"));
            None
        }
        Err(e) => {
            v.issue(
                pos,
                format!("{what} is not a readable PEM certificate: {e}"),
            );
            None
        }
    }
}

/// The server private key from `key` or `key_file`.
fn private_key(v: &mut Diagnostics, t: &FileTlsConfig) -> Option<PrivateKeyDer<'static>> {
    let (pos, what, pem) = pem_source(v, &t.key, &t.key_file, "key", "the server private key")?;
    match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(k) => Some(k),
        // The key's text never goes into a message.
        Err(e) => {
            v.issue(
                pos,
                format!("{what} holds no readable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
            );
            None
        }
    }
}

/// `client_auth_type`; `NoClientCert` when not given (or not valid, with an issue).
fn client_auth(v: &mut Diagnostics, t: &FileTlsConfig) -> ClientAuth {
    let Some(s) = &t.client_auth_type else {
        return ClientAuth::NoClientCert;
    };
    match s.value.trim() {
        "" | "NoClientCert" => ClientAuth::NoClientCert,
        "RequestClientCert" => ClientAuth::RequestClientCert,
        // "RequireClientCert" is exporter-toolkit's old spelling.
        "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
        other => {
            v.issue(
                at(s),
                format!("invalid client_auth_type `{other}`: expected one of {CLIENT_AUTH_TYPES}"),
            );
            ClientAuth::NoClientCert
        }
    }
}

/// The client CA certificates from `client_ca` or `client_ca_file`, with their position;
/// `None` when neither is given or on errors.
fn client_cas(v: &mut Diagnostics, t: &FileTlsConfig) -> Option<(Pos, Arc<RootCertStore>)> {
    if !set(&t.client_ca) && !set(&t.client_ca_file) {
        return None;
    }
    let (pos, what, pem) = pem_source(
        v,
        &t.client_ca,
        &t.client_ca_file,
        "client_ca",
        "the client CA",
    )?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        if let Err(e) = cert
            .map_err(|e| e.to_string())
            .and_then(|c| roots.add(c).map_err(|e| e.to_string()))
        {
            v.issue(pos, format!("{what} holds an unusable certificate: {e}"));
            return None;
        }
    }
    if roots.is_empty() {
        v.issue(pos, format!("{what} holds no PEM `CERTIFICATE` block"));
        return None;
    }
    Some((pos, Arc::new(roots)))
}

/// A client CA needs a policy that uses it, and a verifying policy needs a client CA.
fn check_client_policy(
    v: &mut Diagnostics,
    t: &FileTlsConfig,
    client_auth: ClientAuth,
    client_cas: Option<&(Pos, Arc<RootCertStore>)>,
) {
    let ca_given = set(&t.client_ca) || set(&t.client_ca_file);
    match (client_cas, client_auth) {
        (Some((pos, _)), ClientAuth::NoClientCert) => v.issue(
            *pos,
            "a client CA is configured without a client auth policy: set client_auth_type (RequireAndVerifyClientCert to require verified client certificates)",
        ),
        (None, ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert)
            if !ca_given =>
        {
            let auth_pos = t.client_auth_type.as_ref().map(at).unwrap_or((0, 0));
            v.issue(
                auth_pos,
                "this client_auth_type verifies client certificates: set client_ca_file (or client_ca) to the CA they must chain to",
            )
        }
        _ => {}
    }
}

/// `client_allowed_sans`, which only a policy that requires a certificate can check.
fn allowed_sans(
    v: &mut Diagnostics,
    t: &FileTlsConfig,
    client_auth: ClientAuth,
) -> Option<Vec<String>> {
    let s = t.client_allowed_sans.as_ref()?;
    if !matches!(
        client_auth,
        ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
    ) {
        v.issue(
            at(s),
            "client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert",
        );
    }
    Some(s.value.clone())
}

/// The client certificate verifier of the policy (`None`: no client certificates),
/// wrapped in the SAN check when `client_allowed_sans` is set. `Err` after an issue.
fn verifier(
    v: &mut Diagnostics,
    client_auth: ClientAuth,
    client_cas: Option<(Pos, Arc<RootCertStore>)>,
    allowed_sans: Option<Vec<String>>,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, ()> {
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match client_auth {
        ClientAuth::NoClientCert => None,
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Some(Arc::new(AnyClientCert {
                mandatory: client_auth == ClientAuth::RequireAnyClientCert,
                algorithms: provider.signature_verification_algorithms,
            }))
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let (pos, roots) = client_cas.ok_or(())?;
            let builder = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
            let builder = if client_auth == ClientAuth::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            match builder.build() {
                Ok(verifier) => Some(verifier),
                Err(e) => {
                    v.issue(
                        pos,
                        format!("the client CA cannot verify client certificates: {e}"),
                    );
                    return Err(());
                }
            }
        }
    };
    Ok(match (verifier, allowed_sans) {
        (Some(inner), Some(allowed)) => {
            Some(Arc::new(AllowedSans { inner, allowed }) as Arc<dyn ClientCertVerifier>)
        }
        (verifier, _) => verifier,
    })
}

/// The server config from its parts: versions, client verifier, certificate and key,
/// then the suite order.
fn server_config(
    v: &mut Diagnostics,
    t: &FileTlsConfig,
    provider: Arc<CryptoProvider>,
    versions: &[&'static SupportedProtocolVersion],
    verifier: Option<Arc<dyn ClientCertVerifier>>,
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Option<ServerConfig> {
    let builder =
        match ServerConfig::builder_with_provider(provider).with_protocol_versions(versions) {
            Ok(b) => b,
            Err(e) => {
                v.issue(
                    t.min_version.as_ref().map(at).unwrap_or((0, 0)),
                    format!("the TLS versions and cipher suites do not fit together: {e}"),
                );
                return None;
            }
        };
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = match builder.with_single_cert(certs, key) {
        Ok(c) => c,
        Err(e) => {
            let pos = t
                .key_file
                .as_ref()
                .or(t.key.as_ref())
                .map(at)
                .unwrap_or((0, 0));
            v.issue(
                pos,
                format!("the server certificate and private key cannot be used together: {e}"),
            );
            return None;
        }
    };
    config.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    Some(config)
}

/// Reads PEM text from the inline key or the file key (exactly one of them).
/// Returns the position for messages, a description, and the text.
fn pem_source(
    v: &mut Diagnostics,
    inline: &Option<Spanned<String>>,
    file: &Option<Spanned<String>>,
    key: &str,
    what: &str,
) -> Option<(Pos, String, Vec<u8>)> {
    let inline = inline.as_ref().filter(|s| !s.value.trim().is_empty());
    let file = file.as_ref().filter(|s| !s.value.trim().is_empty());
    match (inline, file) {
        (Some(i), Some(_)) => {
            v.issue(at(i), format!("give either {key} or {key}_file, not both"));
            None
        }
        (Some(i), None) => Some((
            at(i),
            format!("`{key}` ({what})"),
            i.value.clone().into_bytes(),
        )),
        (None, Some(f)) => {
            let path = v.path(f.value.trim());
            match std::fs::read(&path) {
                Ok(bytes) => Some((at(f), format!("{key}_file `{}`", path.display()), bytes)),
                Err(e) => {
                    v.issue(
                        at(f),
                        format!("cannot read {key}_file `{}`: {e}", path.display()),
                    );
                    None
                }
            }
        }
        (None, None) => {
            v.issue(
                (0, 0),
                format!("tls_server_config needs {key}_file (or {key}): {what}"),
            );
            None
        }
    }
}

fn versions(v: &mut Diagnostics, t: &FileTlsConfig) -> Vec<&'static SupportedProtocolVersion> {
    // Ordinals: 0 = TLS10, 1 = TLS11, 2 = TLS12, 3 = TLS13.
    let mut parse = |s: &Option<Spanned<String>>, key: &str, default: u8| -> u8 {
        let Some(s) = s else { return default };
        match s.value.trim() {
            "TLS10" => 0,
            "TLS11" => 1,
            "TLS12" => 2,
            "TLS13" => 3,
            other => {
                v.issue(
                    at(s),
                    format!("unknown TLS version `{other}` in {key}: expected one of TLS10, TLS11, TLS12, TLS13"),
                );
                default
            }
        }
    };
    let min = parse(&t.min_version, "min_version", 2);
    let max = parse(&t.max_version, "max_version", 3);
    if min < 2 {
        v.note(
            "min_version below TLS12: TLS 1.0 and 1.1 are not offered, the minimum is TLS 1.2"
                .to_string(),
        );
    }
    if let Some(s) = &t.max_version
        && max < 2
    {
        v.issue(
            at(s),
            "max_version must be TLS12 or TLS13: TLS 1.0 and 1.1 are not offered",
        );
    }
    if let Some(s) = &t.min_version
        && min > max
    {
        v.issue(at(s), "min_version is newer than max_version");
    }
    let mut out = Vec::new();
    if min <= 3 && max >= 3 {
        out.push(&rustls::version::TLS13);
    }
    if min <= 2 && max >= 2 {
        out.push(&rustls::version::TLS12);
    }
    out
}

fn provider(v: &mut Diagnostics, t: &FileTlsConfig, tls12: bool) -> CryptoProvider {
    let mut provider = ring::default_provider();
    if let Some(names) = &t.cipher_suites {
        let mut tls12_suites = Vec::new();
        for s in names {
            let name = s.value.trim();
            if let Some((_, suite)) = TLS12_SUITES.iter().find(|(n, _)| *n == name) {
                tls12_suites.push(*suite);
            } else if TLS13_SUITE_NAMES.contains(&name) {
                // As in Go: TLS 1.3 suites are always on.
            } else if NOT_OFFERED_SUITES.contains(&name) {
                v.note(format!(
                    "cipher suite {name} is not offered (no CBC or RSA key exchange); skipped"
                ));
            } else {
                let known: Vec<&str> = TLS12_SUITES.iter().map(|(n, _)| *n).collect();
                v.issue(
                    at(s),
                    format!(
                        "unknown cipher suite `{name}`: expected one of {}",
                        known.join(", ")
                    ),
                );
            }
        }
        if tls12
            && tls12_suites.is_empty()
            && !names.is_empty()
            && let Some(first) = names.first()
        {
            v.issue(at(first), "cipher_suites names no TLS 1.2 suite this server offers, so TLS 1.2 clients could not connect (set min_version: TLS13 to allow only TLS 1.3)");
        }
        if !names.is_empty() {
            let tls13: Vec<SupportedCipherSuite> = provider
                .cipher_suites
                .iter()
                .copied()
                .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
                .collect();
            provider.cipher_suites = tls13.into_iter().chain(tls12_suites).collect();
        }
    }
    if let Some(names) = &t.curve_preferences {
        let mut groups = Vec::new();
        for s in names {
            match s.value.trim() {
                "X25519" => groups.push(ring::kx_group::X25519),
                "CurveP256" => groups.push(ring::kx_group::SECP256R1),
                "CurveP384" => groups.push(ring::kx_group::SECP384R1),
                "CurveP521" => v.note("curve CurveP521 is not offered; skipped".to_string()),
                other => v.issue(
                    at(s),
                    format!("unknown curve `{other}`: expected one of X25519, CurveP256, CurveP384, CurveP521"),
                ),
            }
        }
        if groups.is_empty() {
            if let Some(first) = names.first() {
                v.issue(at(first), "curve_preferences names no curve this server offers (X25519, CurveP256, CurveP384)");
            }
        } else {
            provider.kx_groups = groups;
        }
    }
    provider
}
