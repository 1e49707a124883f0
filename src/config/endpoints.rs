//! API endpoints: checking the URLs a config gives, and the IAM endpoint of a region. The
//! other derived endpoints come from the SDK region tables in `regions.rs`.

use super::regions;

/// Why an endpoint URL is not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// It does not parse as a URL.
    #[error("`{url}` is not a URL ({reason}); expected https://host[:port][/path]")]
    NotAUrl {
        /// The URL as written (trimmed).
        url: String,
        /// What the URL parser said.
        reason: String,
    },
    /// Its scheme is neither `https` nor `http`.
    #[error("`{url}` has scheme `{scheme}`; expected https:// (or http:// for private endpoints)")]
    Scheme {
        /// The URL as written (trimmed).
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// It names no host.
    #[error("`{0}` has no host")]
    NoHost(String),
    /// It has a `?query` or `#fragment`.
    #[error("`{0}` must not have a query or fragment")]
    QueryOrFragment(String),
    /// It carries `user:password@`.
    #[error("URLs must not carry user:password; use `credentials:`")]
    UserInfo,
}

/// Accepts `http://` and `https://` URLs with a host; returns it without a trailing slash.
pub fn check_url(raw: &str) -> Result<String, UrlError> {
    let s = raw.trim();
    let u = reqwest::Url::parse(s).map_err(|e| UrlError::NotAUrl {
        url: s.to_string(),
        reason: e.to_string(),
    })?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(UrlError::Scheme {
            url: s.to_string(),
            scheme: u.scheme().to_string(),
        });
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::NoHost(s.to_string()));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(UrlError::QueryOrFragment(s.to_string()));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(UrlError::UserInfo);
    }
    Ok(s.trim_end_matches('/').to_string())
}

/// The IAM endpoint (`.../v3`) of a region: its regional IAM from the SDK table, the
/// global IAM of its cloud where the table lists none, else the usual pattern.
pub fn iam(region: &str) -> String {
    let found = match regions::endpoint(regions::Service::Iam, region) {
        regions::Lookup::NotOffered => regions::global_iam(regions::cloud_of(region)),
        found => found,
    };
    found.url().map(|u| format!("{u}/v3")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_trimmed() {
        assert_eq!(check_url(" https://h/x/ "), Ok("https://h/x".into()));
        assert_eq!(
            check_url("ftp://h").map_err(|e| e.to_string()),
            Err(
                "`ftp://h` has scheme `ftp`; expected https:// (or http:// for private endpoints)"
                    .into()
            )
        );
        assert_eq!(
            check_url("https://h/?a=1"),
            Err(UrlError::QueryOrFragment("https://h/?a=1".into()))
        );
        assert_eq!(check_url("https://u:p@h"), Err(UrlError::UserInfo));
    }

    #[test]
    fn regions_derive_endpoints() {
        assert_eq!(iam("eu-de"), "https://iam.eu-de.otc.t-systems.com/v3");
        assert_eq!(
            iam("cn-north-4"),
            "https://iam.cn-north-4.myhuaweicloud.com/v3"
        );
        // No regional IAM in the SDK table: the cloud's global one.
        assert_eq!(iam("cn-north-11"), "https://iam.myhuaweicloud.com/v3");
    }
}
