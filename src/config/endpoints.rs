//! API endpoints: checking the URLs a config gives, and deriving the ones it leaves out
//! from the region (a small hand-written table, to be replaced by the SDK's region tables).

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

/// Whether a region belongs to Open Telekom Cloud rather than Huawei Cloud.
fn is_otc(region: &str) -> bool {
    region.starts_with("eu-de") || region.starts_with("eu-nl") || region.starts_with("eu-ch2")
}

/// The ROMA Connect endpoint of a region.
pub fn roma(region: &str) -> String {
    format!("https://roma.{region}.myhuaweicloud.com")
}

/// The EventGrid endpoint of a region.
pub fn eventgrid(region: &str) -> String {
    format!("https://eg.{region}.myhuaweicloud.com")
}

/// The GaussDB for MySQL endpoint of a region.
pub fn gaussdb_mysql(region: &str) -> String {
    if is_otc(region) {
        return format!("https://gaussdb-mysql.{region}.otc.t-systems.com");
    }
    match region {
        "tr-west-1" | "ap-southeast-1" | "ap-southeast-2" => {
            format!("https://gaussdbformysql.{region}.myhuaweicloud.com")
        }
        _ => format!("https://gaussdb.{region}.myhuaweicloud.com"),
    }
}

/// The IAM endpoint (`.../v3`) of a region.
pub fn iam(region: &str) -> String {
    if is_otc(region) {
        return format!("https://iam.{region}.otc.t-systems.com/v3");
    }
    format!("https://iam.{region}.myhuaweicloud.com/v3")
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
            gaussdb_mysql("ap-southeast-1"),
            "https://gaussdbformysql.ap-southeast-1.myhuaweicloud.com"
        );
    }
}
