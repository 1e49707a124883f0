//! `tls_server_config` -> a rustls server config (ring provider): certificate and key,
//! client certificate policy, TLS versions, cipher suites and curves, exporter-toolkit's
//! names and semantics.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, ring};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::{
    self, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
    SupportedCipherSuite, SupportedProtocolVersion,
};

use super::{FileTlsConfig, WebValidator, at};
use serde_saphyr::Spanned;

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

/// Builds the rustls config, recording every problem in `v`. `None` when TLS is off
/// (no certificate, key, client CA or client auth type given) or on errors.
pub(super) fn build(v: &mut WebValidator, t: &FileTlsConfig) -> Option<TlsSettings> {
    let set = |s: &Option<Spanned<String>>| s.as_ref().is_some_and(|s| !s.value.trim().is_empty());
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

    let certs = pem_source(v, &t.cert, &t.cert_file, "cert", "the server certificate").and_then(
        |(pos, what, pem)| {
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
        },
    );
    let key = pem_source(v, &t.key, &t.key_file, "key", "the server private key").and_then(
        |(pos, what, pem)| match PrivateKeyDer::from_pem_slice(&pem) {
            Ok(k) => Some(k),
            // The key's text never goes into a message.
            Err(e) => {
                v.issue(
                    pos,
                    format!(
                        "{what} holds no readable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"
                    ),
                );
                None
            }
        },
    );

    let client_auth = match &t.client_auth_type {
        None => ClientAuth::NoClientCert,
        Some(s) => {
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
    };
    let auth_pos = t.client_auth_type.as_ref().map(at).unwrap_or((0, 0));

    let ca_given = set(&t.client_ca) || set(&t.client_ca_file);
    let client_cas = if ca_given {
        pem_source(
            v,
            &t.client_ca,
            &t.client_ca_file,
            "client_ca",
            "the client CA",
        )
        .and_then(|(pos, what, pem)| {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                match cert
                    .map_err(|e| e.to_string())
                    .and_then(|c| roots.add(c).map_err(|e| e.to_string()))
                {
                    Ok(()) => {}
                    Err(e) => {
                        v.issue(pos, format!("{what} holds an unusable certificate: {e}"));
                        return None;
                    }
                }
            }
            if roots.is_empty() {
                v.issue(pos, format!("{what} holds no PEM `CERTIFICATE` block"));
                return None;
            }
            Some((pos, Arc::new(roots)))
        })
    } else {
        None
    };
    match (&client_cas, client_auth) {
        (Some((pos, _)), ClientAuth::NoClientCert) => v.issue(
            *pos,
            "a client CA is configured without a client auth policy: set client_auth_type (RequireAndVerifyClientCert to require verified client certificates)",
        ),
        (None, ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert)
            if !ca_given =>
        {
            v.issue(
                auth_pos,
                "this client_auth_type verifies client certificates: set client_ca_file (or client_ca) to the CA they must chain to",
            )
        }
        _ => {}
    }
    let allowed_sans = t
        .client_allowed_sans
        .as_ref()
        .map(|s| (at(s), s.value.clone()));
    if let Some((pos, _)) = &allowed_sans
        && !matches!(
            client_auth,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    {
        v.issue(
                *pos,
                "client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert",
            );
    }

    let versions = versions(v, t);
    let provider = provider(v, t, versions.contains(&&rustls::version::TLS12));

    if v.issues.len() != issues_before {
        return None;
    }
    let (certs, key, provider) = (certs?, key?, Arc::new(provider));
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match client_auth {
        ClientAuth::NoClientCert => None,
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Some(Arc::new(AnyClientCert {
                mandatory: client_auth == ClientAuth::RequireAnyClientCert,
                algorithms,
            }))
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let (pos, roots) = client_cas?;
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
                    return None;
                }
            }
        }
    };
    let verifier = match (verifier, allowed_sans) {
        (Some(inner), Some((_, allowed))) => {
            Some(Arc::new(AllowedSans { inner, allowed }) as Arc<dyn ClientCertVerifier>)
        }
        (verifier, _) => verifier,
    };

    let builder =
        match ServerConfig::builder_with_provider(provider).with_protocol_versions(&versions) {
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
    // This server speaks HTTP/1.1 only (`http2` is accepted and ignored).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    Some(TlsSettings {
        config: Arc::new(config),
    })
}

/// Reads PEM text from the inline key or the file key (exactly one of them).
/// Returns the position for messages, a description, and the text.
fn pem_source(
    v: &mut WebValidator,
    inline: &Option<Spanned<String>>,
    file: &Option<Spanned<String>>,
    key: &str,
    what: &str,
) -> Option<((u64, u64), String, Vec<u8>)> {
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

fn versions(v: &mut WebValidator, t: &FileTlsConfig) -> Vec<&'static SupportedProtocolVersion> {
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
        v.notes.push(
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

fn provider(v: &mut WebValidator, t: &FileTlsConfig, tls12: bool) -> CryptoProvider {
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
                v.notes.push(format!(
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
                "CurveP521" => v
                    .notes
                    .push("curve CurveP521 is not offered; skipped".to_string()),
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

/// `RequestClientCert` and `RequireAnyClientCert`: ask for a certificate, accept any
/// (the handshake signature is still checked, so the client holds the key).
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `client_allowed_sans`: after the policy's own checks, the client certificate must
/// carry one of the allowed subject alternative names (exact match, as in Go).
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let sans = subject_alt_names(end_entity).unwrap_or_default();
        if sans.iter().any(|s| self.allowed.contains(s)) {
            Ok(verified)
        } else {
            Err(rustls::Error::General(format!(
                "the client certificate has none of the allowed SANs (it has: {})",
                sans.join(", ")
            )))
        }
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

/// One DER element: (tag, contents, rest). `None` on anything malformed.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The subject alternative names of a certificate as Go prints them: DNS names, e-mail
/// addresses, IP addresses and URIs. `None` when the certificate cannot be read.
pub fn subject_alt_names(cert: &[u8]) -> Option<Vec<String>> {
    const SEQUENCE: u8 = 0x30;
    const EXTENSIONS: u8 = 0xa3;
    const SAN_OID: [u8; 3] = [0x55, 0x1d, 0x11];
    let (tag, certificate, _) = der(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, mut tbs, _) = der(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut names = Vec::new();
    while !tbs.is_empty() {
        let (tag, contents, rest) = der(tbs)?;
        tbs = rest;
        if tag != EXTENSIONS {
            continue;
        }
        let (_, mut extensions, _) = der(contents)?;
        while !extensions.is_empty() {
            let (_, mut extension, rest) = der(extensions)?;
            extensions = rest;
            let (_, oid, after) = der(extension)?;
            extension = after;
            if oid != SAN_OID {
                continue;
            }
            // Skip the optional `critical` BOOLEAN; the OCTET STRING holds GeneralNames.
            let (mut tag, mut value, mut after) = der(extension)?;
            if tag == 0x01 {
                (tag, value, after) = der(after)?;
            }
            let _ = after;
            if tag != 0x04 {
                return None;
            }
            let (_, mut general_names, _) = der(value)?;
            while !general_names.is_empty() {
                let (tag, v, rest) = der(general_names)?;
                general_names = rest;
                match tag {
                    // rfc822Name, dNSName, uniformResourceIdentifier (IA5 strings).
                    0x81 | 0x82 | 0x86 => names.push(String::from_utf8_lossy(v).into_owned()),
                    // iPAddress.
                    0x87 => {
                        if let Ok(b) = <[u8; 4]>::try_from(v) {
                            names.push(std::net::Ipv4Addr::from(b).to_string());
                        } else if let Ok(b) = <[u8; 16]>::try_from(v) {
                            let ip = std::net::Ipv6Addr::from(b);
                            names.push(match ip.to_ipv4_mapped() {
                                Some(v4) => v4.to_string(),
                                None => ip.to_string(),
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_of_san_like_go() {
        let mut params = rcgen::CertificateParams::new(vec![
            "prometheus.example".to_string(),
            "10.0.0.7".to_string(),
            "::1".to_string(),
        ])
        .expect("params");
        params.subject_alt_names.push(rcgen::SanType::Rfc822Name(
            "ops@example.com".try_into().expect("ia5"),
        ));
        params.subject_alt_names.push(rcgen::SanType::URI(
            "spiffe://example/prometheus".try_into().expect("ia5"),
        ));
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let sans = subject_alt_names(cert.der()).expect("readable");
        assert_eq!(
            sans,
            [
                "prometheus.example",
                "10.0.0.7",
                "::1",
                "ops@example.com",
                "spiffe://example/prometheus"
            ]
        );
    }

    #[test]
    fn malformed_certificates_do_not_panic() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["a.example".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let der = cert.der().to_vec();
        for cut in 0..der.len() {
            let _ = subject_alt_names(&der[..cut]);
        }
        let mut flipped = der.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = subject_alt_names(&flipped);
            flipped[i] ^= 0xff;
        }
        assert_eq!(subject_alt_names(&[]), None);
    }
}
