//! `defaults.http` and a project's `http`: the proxy URL, `no_proxy`, and the TLS files,
//! read and parsed here so a missing CA file or an unreadable key is reported with its
//! position at load time, not at the first poll.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_saphyr::Spanned;

use super::Validator;
use crate::config::file::{FileHttp, FileTls};
use crate::config::http::{
    ClientCert, HttpSettings, PemFile, ProxyUrl, TlsSettings, redact_url_credentials,
};
use crate::diag::at;

/// What a PEM file must hold.
#[derive(Clone, Copy)]
enum PemKind {
    /// One or more certificates.
    Certificates,
    /// One private key (PKCS#8, PKCS#1 or SEC1).
    PrivateKey,
}

impl Validator<'_> {
    /// The settings of one `http:` block: each key it sets replaces `base`'s (the
    /// defaults for a project; the built-in defaults for `defaults.http`).
    pub(super) fn http(
        &mut self,
        file: Option<&FileHttp>,
        base: &Arc<HttpSettings>,
    ) -> Arc<HttpSettings> {
        let Some(f) = file else {
            return base.clone();
        };
        let mut s = HttpSettings::clone(base);
        if let Some(p) = &f.proxy_url {
            s.proxy = self.proxy_url(p);
        }
        if let Some(list) = &f.no_proxy {
            s.no_proxy = self.no_proxy(list);
        }
        if let Some(t) = &f.tls {
            s.tls = self.tls(t, &s.tls);
        }
        Arc::new(s)
    }

    /// `proxy_url`: `http://` with a host (a TLS connection to the proxy itself is not
    /// supported); the password may come from `${VAR}`.
    fn proxy_url(&mut self, p: &Spanned<String>) -> Option<ProxyUrl> {
        let expanded = match crate::config::secrets::expand(p.value.trim(), self.secrets) {
            Ok(v) => v,
            Err(e) => {
                self.diag.issue(at(p), format!("http.proxy_url: {e}"));
                return None;
            }
        };
        let raw = expanded.as_str();
        let shown = redact_url_credentials(raw);
        let problem = match reqwest::Url::parse(raw) {
            Err(e) => Some(format!("not a URL ({e})")),
            Ok(u) if u.scheme() != "http" => Some(format!(
                "the scheme is `{}`: only `http://` proxies are supported (the tunnel to the API is TLS all the same)",
                u.scheme()
            )),
            Ok(u) if u.host_str().is_none_or(str::is_empty) => Some("no host".to_string()),
            Ok(u) if !matches!(u.path(), "" | "/") || u.query().is_some() => {
                Some("a proxy URL has no path or query: `http://host:port`".to_string())
            }
            Ok(_) => None,
        };
        match problem {
            Some(why) => {
                self.diag
                    .issue(at(p), format!("invalid http.proxy_url `{shown}`: {why}"));
                None
            }
            None => Some(ProxyUrl::new(raw)),
        }
    }

    /// `no_proxy`: host names, `.domain` suffixes, IPs or CIDR ranges.
    fn no_proxy(&mut self, list: &[Spanned<String>]) -> Vec<String> {
        let mut out = Vec::new();
        for h in list {
            let v = h.value.trim();
            if v.is_empty()
                || v.contains(|c: char| c == ',' || c.is_whitespace())
                || v.contains("://")
            {
                self.diag.issue(
                    at(h),
                    format!(
                        "invalid http.no_proxy entry `{v}`: expected a host name, `.domain`, an IP address or a CIDR range, one per list item"
                    ),
                );
            } else {
                out.push(v.to_string());
            }
        }
        out
    }

    /// `tls:`: each key it sets replaces `base`'s.
    fn tls(&mut self, t: &FileTls, base: &TlsSettings) -> TlsSettings {
        let mut s = base.clone();
        if let Some(ca) = &t.ca_file {
            s.ca = self.pem_file(ca, "http.tls.ca_file", PemKind::Certificates);
        }
        match (&t.cert_file, &t.key_file) {
            (Some(cert), Some(key)) => {
                let cert = self.pem_file(cert, "http.tls.cert_file", PemKind::Certificates);
                let key = self.pem_file(key, "http.tls.key_file", PemKind::PrivateKey);
                s.client_cert = cert.zip(key).map(|(cert, key)| ClientCert { cert, key });
            }
            (Some(one), None) | (None, Some(one)) => {
                self.diag.issue(
                    at(one),
                    "http.tls.cert_file and http.tls.key_file go together: set both (the client certificate and its private key)",
                );
            }
            (None, None) => {}
        }
        if let Some(n) = &t.server_name {
            let name = n.value.trim();
            if name.is_empty() || ServerName::try_from(name).is_err() {
                self.diag.issue(
                    at(n),
                    format!("invalid http.tls.server_name `{name}`: expected a DNS name or an IP address"),
                );
            } else {
                s.server_name = Some(name.to_string());
            }
        }
        if let Some(v) = &t.insecure_skip_verify {
            s.insecure_skip_verify = v.value;
        }
        s
    }

    /// Reads a PEM file (relative paths start at the config file's directory) and checks
    /// it holds what `kind` needs.
    fn pem_file(&mut self, f: &Spanned<String>, key: &str, kind: PemKind) -> Option<PemFile> {
        let path = self.relative_path(f.value.trim());
        let text = match self.secrets.read_file(&path) {
            Ok(t) => t,
            Err(e) => {
                self.diag
                    .issue(at(f), format!("cannot read {key} {}: {e}", path.display()));
                return None;
            }
        };
        let bytes = text.as_bytes();
        let problem = match kind {
            PemKind::Certificates => {
                let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(bytes).collect();
                match certs {
                    Ok(c) if c.is_empty() => Some("no `BEGIN CERTIFICATE` block in it".to_string()),
                    Ok(_) => None,
                    Err(e) => Some(format!("not a valid PEM certificate file ({e})")),
                }
            }
            PemKind::PrivateKey => match PrivateKeyDer::from_pem_slice(bytes) {
                Ok(_) => None,
                Err(e) => Some(format!(
                    "no private key in it ({e}): expected a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block"
                )),
            },
        };
        if let Some(why) = problem {
            self.diag
                .issue(at(f), format!("{key} {}: {why}", path.display()));
            return None;
        }
        Some(PemFile {
            path,
            pem: Arc::from(bytes),
        })
    }

    /// `raw` relative to the config file's directory, unless absolute.
    fn relative_path(&self, raw: &str) -> PathBuf {
        let p = Path::new(raw);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        match self.diag.file().parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError, SecretSource};

    /// A CA certificate PEM (any valid certificate will do) and a key, in memory.
    struct Files {
        cert: String,
        key: String,
    }
    impl SecretSource for Files {
        fn env(&self, _: &str) -> Option<String> {
            None
        }
        fn read_file(&self, path: &Path) -> std::io::Result<String> {
            match path.to_str() {
                Some("/etc/ca.pem") | Some("/etc/client.crt") => Ok(self.cert.clone()),
                Some("/etc/client.key") => Ok(self.key.clone()),
                Some("/etc/garbage.pem") => Ok("not a pem\n".into()),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "No such file or directory",
                )),
            }
        }
    }

    fn load(http_defaults: &str, http_project: &str) -> Result<Config, ConfigError> {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["ca.example".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let files = Files {
            cert: cert.pem(),
            key: key.serialize_pem(),
        };
        let yaml = format!(
            "defaults:\n  http:\n{http_defaults}credentials:\n  t:\n    token: abc\nprojects:\n  - id: p1\n    region: eu-de\n    credentials: t\n    gaussdb_mysql: {{}}\n  - id: p2\n    region: eu-de\n    credentials: t\n    gaussdb_mysql: {{}}\n    http:\n{http_project}"
        );
        Config::from_yaml(Path::new("test.yaml"), &yaml, &files)
    }

    #[test]
    fn projects_override_defaults_key_by_key() {
        let c = load(
            "    proxy_url: http://u:pw@proxy:3128\n    tls:\n      ca_file: /etc/ca.pem\n",
            "      tls:\n        server_name: roma.internal\n",
        )
        .expect("valid");
        let (p1, p2) = (&c.projects[0], &c.projects[1]);
        assert!(std::sync::Arc::ptr_eq(&p1.http, &c.http));
        assert_eq!(p2.http.proxy, c.http.proxy);
        assert_eq!(p2.http.tls.ca, c.http.tls.ca);
        assert_eq!(p2.http.tls.server_name.as_deref(), Some("roma.internal"));
        assert_eq!(c.http.tls.server_name, None);
        assert!(
            c.http
                .describe()
                .contains("proxy=http://u:<redacted>@proxy:3128")
        );
    }

    #[test]
    fn bad_settings_are_reported_with_their_position() {
        let e = load(
            "    proxy_url: https://u:pw@proxy:3128\n    tls:\n      ca_file: /etc/missing.pem\n      cert_file: /etc/client.crt\n",
            "      tls:\n        key_file: /etc/garbage.pem\n        cert_file: /etc/client.crt\n        ca_file: /etc/garbage.pem\n",
        )
        .expect_err("invalid")
        .to_string();
        assert!(e.contains("test.yaml:3:16: invalid http.proxy_url `https://u:<redacted>@proxy:3128`: the scheme is `https`"), "{e}");
        assert!(!e.contains(":pw@"), "{e}");
        assert!(
            e.contains("test.yaml:5:16: cannot read http.tls.ca_file /etc/missing.pem"),
            "{e}"
        );
        assert!(
            e.contains("test.yaml:6:18: http.tls.cert_file and http.tls.key_file go together"),
            "{e}"
        );
        assert!(
            e.contains("http.tls.key_file /etc/garbage.pem: no private key in it"),
            "{e}"
        );
        assert!(
            e.contains("http.tls.ca_file /etc/garbage.pem: no `BEGIN CERTIFICATE` block"),
            "{e}"
        );
    }

    #[test]
    fn a_client_certificate_needs_both_files() {
        let c = load(
            "    tls:\n      cert_file: /etc/client.crt\n      key_file: /etc/client.key\n",
            "      no_proxy: [internal.example, 10.0.0.0/8]\n",
        )
        .expect("valid");
        assert!(c.http.tls.client_cert.is_some());
        assert_eq!(
            c.projects[1].http.no_proxy,
            ["internal.example", "10.0.0.0/8"]
        );
        // The key never shows.
        assert!(!format!("{:?}", c.http).contains("PRIVATE KEY"));
    }
}
