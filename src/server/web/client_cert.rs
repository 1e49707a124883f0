//! Client certificate verifiers beyond rustls' own: any certificate (the policies
//! `RequestClientCert` and `RequireAnyClientCert`) and the `client_allowed_sans` check,
//! with the small DER reader that finds a certificate's subject alternative names.

use std::sync::Arc;

use rustls_pki_types::{CertificateDer, UnixTime};
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::WebPkiSupportedAlgorithms;
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::{self, DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// `RequestClientCert` and `RequireAnyClientCert`: ask for a certificate, accept any
/// (the handshake signature is still checked, so the client holds the key).
#[derive(Debug)]
pub(super) struct AnyClientCert {
    /// Whether a client must send a certificate.
    pub mandatory: bool,
    /// Signature algorithms for the handshake signature.
    pub algorithms: WebPkiSupportedAlgorithms,
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
pub(super) struct AllowedSans {
    /// The policy's own verifier, asked first.
    pub inner: Arc<dyn ClientCertVerifier>,
    /// Names of which the certificate must carry one.
    pub allowed: Vec<String>,
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
