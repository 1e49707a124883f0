//! How upstream connections are made (`defaults.http` and a project's `http`): the proxy
//! and the TLS trust, resolved; and the redaction of credentials in proxy URLs, used by
//! every output that may show one (logs, errors, `--config.check`, the landing page).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// The connection settings of a project (after `defaults.http` and its own `http`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpSettings {
    /// The proxy: `None` means the environment's `HTTPS_PROXY` / `HTTP_PROXY` /
    /// `NO_PROXY` (either case).
    pub proxy: Option<ProxyUrl>,
    /// Hosts reached directly, not through `proxy` (as `NO_PROXY`: names, domains,
    /// IP addresses, CIDR ranges).
    pub no_proxy: Vec<String>,
    /// Whom to trust, and how to identify ourselves.
    pub tls: TlsSettings,
}

impl HttpSettings {
    /// One line for `--config.check` and logs, credentials redacted.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match &self.proxy {
            Some(p) => parts.push(format!("proxy={}", p.redacted())),
            None => parts.push("proxy=from environment".to_string()),
        }
        if !self.no_proxy.is_empty() {
            parts.push(format!("no_proxy={}", self.no_proxy.join(",")));
        }
        let t = &self.tls;
        if let Some(ca) = &t.ca {
            parts.push(format!("ca_file={}", ca.path.display()));
        }
        if let Some(c) = &t.client_cert {
            parts.push(format!("cert_file={}", c.cert.path.display()));
        }
        if let Some(n) = &t.server_name {
            parts.push(format!("server_name={n}"));
        }
        if t.insecure_skip_verify {
            parts.push("insecure_skip_verify=true (certificates NOT verified)".to_string());
        }
        parts.join(" ")
    }
}

/// A proxy URL (`http://[user:password@]host:port`); its password never shows.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    url: String,
}

impl ProxyUrl {
    /// A checked URL (see the validator).
    pub fn new(url: impl Into<String>) -> Self {
        ProxyUrl { url: url.into() }
    }

    /// The URL with its credentials, for the HTTP client only.
    pub fn expose(&self) -> &str {
        &self.url
    }

    /// The URL with the password replaced (see [`redact_url_credentials`]).
    pub fn redacted(&self) -> String {
        redact_url_credentials(&self.url)
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// TLS settings of upstream connections. The operating system's CA certificates (or
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`, as OpenSSL does) are always trusted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// CA certificates trusted besides the system's.
    pub ca: Option<PemFile>,
    /// A client certificate and its key, for gateways that ask for one.
    pub client_cert: Option<ClientCert>,
    /// The name the server certificate must carry, instead of the URL's host.
    pub server_name: Option<String>,
    /// Accept any server certificate (warned about at start and at every reload).
    pub insecure_skip_verify: bool,
}

/// A client certificate chain and its private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCert {
    /// The certificate chain (PEM).
    pub cert: PemFile,
    /// The private key (PEM; never shown).
    pub key: PemFile,
}

/// A PEM file as read at load time: a changed file makes a reload build a new client.
#[derive(Clone, PartialEq, Eq)]
pub struct PemFile {
    /// Where it was read (for messages).
    pub path: PathBuf,
    /// Its contents.
    pub pem: Arc<[u8]>,
}

impl fmt::Debug for PemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The contents may be a private key.
        write!(f, "PemFile({})", self.path.display())
    }
}

/// What replaces a password in a URL.
pub const REDACTED: &str = "<redacted>";

/// `scheme://user:password@host...` becomes `scheme://user:<redacted>@host...`; a URL
/// without a password comes back unchanged (a user name alone is kept).
pub fn redact_url_credentials(url: &str) -> String {
    redact_credentials_in(url)
}

/// Redacts the password of every URL in a text (error messages that may quote a proxy
/// URL): anything between `://` and `@` that contains a `:` and no `/`, space or quote.
pub fn redact_credentials_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon + 1]);
                        out.push_str(REDACTED);
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url_credentials("http://alice:s3cret@proxy.example:3128"),
            "http://alice:<redacted>@proxy.example:3128"
        );
        assert_eq!(
            redact_url_credentials("http://proxy.example:3128/"),
            "http://proxy.example:3128/"
        );
        assert_eq!(
            redact_url_credentials("http://alice@proxy.example"),
            "http://alice@proxy.example"
        );
        // A password holding `@` and `:`: everything up to the last `@` is userinfo.
        assert_eq!(
            redact_url_credentials("http://a:b@c:d@proxy:1"),
            "http://a:<redacted>@proxy:1"
        );
        assert_eq!(
            redact_credentials_in(
                "error trying to connect via http://u:pw@p:3128 to https://x.example/v1?a=b@c"
            ),
            "error trying to connect via http://u:<redacted>@p:3128 to https://x.example/v1?a=b@c"
        );
        assert_eq!(redact_credentials_in("no url here"), "no url here");
    }

    #[test]
    fn proxy_urls_never_print_their_password() {
        let p = ProxyUrl::new("http://bob:hunter2@127.0.0.1:3128");
        assert!(!format!("{p:?} {p}").contains("hunter2"));
        let h = HttpSettings {
            proxy: Some(p),
            ..Default::default()
        };
        assert!(!format!("{h:?} {}", h.describe()).contains("hunter2"));
    }
}
