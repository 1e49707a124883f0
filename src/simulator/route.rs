//! Request path and query -> which simulated API call it is.

use hyper::Method;

use super::Endpoint;

/// A recognised API call with its path parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Livedata {
        project: String,
        instance: String,
    },
    AppQuotaDetail {
        project: String,
        instance: String,
        quota: String,
    },
    AppQuotaList {
        project: String,
        instance: String,
    },
    AppQuotaCreate {
        project: String,
        instance: String,
    },
    RomaInstances {
        project: String,
    },
    Eventgrid {
        project: String,
    },
    Gaussdb {
        project: String,
    },
    IamTokens,
    IamProjects,
    IamDomains,
    MetadataToken,
    MetadataSecurityKey,
    PodIdentity,
    StsOidc,
}

impl Route {
    pub(crate) fn endpoint(&self) -> Endpoint {
        match self {
            Route::Livedata { .. } => Endpoint::Livedata,
            Route::AppQuotaDetail { .. } => Endpoint::AppQuotaDetail,
            Route::AppQuotaList { .. } => Endpoint::AppQuotaList,
            Route::AppQuotaCreate { .. } => Endpoint::AppQuotaCreate,
            Route::RomaInstances { .. } => Endpoint::RomaInstances,
            Route::Eventgrid { .. } => Endpoint::Eventgrid,
            Route::Gaussdb { .. } => Endpoint::Gaussdb,
            Route::IamTokens => Endpoint::IamTokens,
            Route::IamProjects => Endpoint::IamProjects,
            Route::IamDomains => Endpoint::IamDomains,
            Route::MetadataToken => Endpoint::MetadataToken,
            Route::MetadataSecurityKey => Endpoint::MetadataSecurityKey,
            Route::PodIdentity => Endpoint::PodIdentity,
            Route::StsOidc => Endpoint::StsOidc,
        }
    }

    /// The project the path names (IAM and the credential sources name none).
    pub(crate) fn project(&self) -> Option<&str> {
        match self {
            Route::Livedata { project, .. }
            | Route::AppQuotaDetail { project, .. }
            | Route::AppQuotaList { project, .. }
            | Route::AppQuotaCreate { project, .. }
            | Route::RomaInstances { project }
            | Route::Eventgrid { project }
            | Route::Gaussdb { project } => Some(project),
            Route::IamTokens
            | Route::IamProjects
            | Route::IamDomains
            | Route::MetadataToken
            | Route::MetadataSecurityKey
            | Route::PodIdentity
            | Route::StsOidc => None,
        }
    }
}

/// What a method and path resolve to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    Found(Route),
    /// A known path with the wrong method; `allow` is the `Allow` header value.
    MethodNotAllowed {
        endpoint: Endpoint,
        allow: &'static str,
    },
    NotFound,
}

impl Resolved {
    pub(crate) fn endpoint(&self) -> Endpoint {
        match self {
            Resolved::Found(route) => route.endpoint(),
            Resolved::MethodNotAllowed { endpoint, .. } => *endpoint,
            Resolved::NotFound => Endpoint::Unknown,
        }
    }

    pub(crate) fn project(&self) -> Option<&str> {
        match self {
            Resolved::Found(route) => route.project(),
            _ => None,
        }
    }
}

/// Resolves a request; paths must match API-NOTES exactly (no empty segments, no trailing `/`).
/// `pod_identity_path` is where the CCE pod identity endpoint is (configurable); it wins over
/// every other route.
pub(crate) fn resolve(method: &Method, path: &str, pod_identity_path: &str) -> Resolved {
    let pod = pod_identity_path.trim_start_matches('/');
    if !pod.is_empty() && path.strip_prefix('/') == Some(pod) {
        return if *method == Method::POST {
            Resolved::Found(Route::PodIdentity)
        } else {
            Resolved::MethodNotAllowed {
                endpoint: Endpoint::PodIdentity,
                allow: "POST",
            }
        };
    }
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Resolved::NotFound;
    }
    let s = |v: &str| v.to_owned();
    let get = *method == Method::GET;
    let (route, allowed, allow) = match segments.as_slice() {
        ["v2", p, "apic", "instances", i, "livedata-quota"] => (
            Route::Livedata {
                project: s(p),
                instance: s(i),
            },
            get,
            "GET",
        ),
        ["v2", p, "apic", "instances", i, "app-quotas", q] => (
            Route::AppQuotaDetail {
                project: s(p),
                instance: s(i),
                quota: s(q),
            },
            get,
            "GET",
        ),
        ["v2", p, "apic", "instances", i, "app-quotas"] if *method == Method::POST => (
            Route::AppQuotaCreate {
                project: s(p),
                instance: s(i),
            },
            true,
            "GET, POST",
        ),
        ["v2", p, "apic", "instances", i, "app-quotas"] => (
            Route::AppQuotaList {
                project: s(p),
                instance: s(i),
            },
            get,
            "GET, POST",
        ),
        ["v2", p, "instances"] => (Route::RomaInstances { project: s(p) }, get, "GET"),
        ["v1", p, "quotas"] => (Route::Eventgrid { project: s(p) }, get, "GET"),
        ["v3", "auth", "tokens"] => (Route::IamTokens, *method == Method::POST, "POST"),
        ["v3", "auth", "projects"] => (Route::IamProjects, get, "GET"),
        ["v3", "auth", "domains"] => (Route::IamDomains, get, "GET"),
        ["meta-data", "latest", "api", "token"] => {
            (Route::MetadataToken, *method == Method::PUT, "PUT")
        }
        ["openstack", "latest", "securitykey"] => (Route::MetadataSecurityKey, get, "GET"),
        ["v5", "agencies", "assume-with-oidc"] => (Route::StsOidc, *method == Method::POST, "POST"),
        ["v3", p, "project-quotas"] => (Route::Gaussdb { project: s(p) }, get, "GET"),
        _ => return Resolved::NotFound,
    };
    if allowed {
        Resolved::Found(route)
    } else {
        Resolved::MethodNotAllowed {
            endpoint: route.endpoint(),
            allow,
        }
    }
}

/// Decoded query parameters, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    /// Parses `a=1&b=x%20y`; undecodable escapes are kept as written.
    pub(crate) fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    /// The first value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = hex {
                    out.push(b);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_every_route() {
        let get = Method::GET;
        let r = |m: &Method, p: &str| resolve(m, p, "/v1/credentials").endpoint();
        let resolve = |m: &Method, p: &str| resolve(m, p, "/v1/credentials");
        assert_eq!(
            r(&get, "/v2/p/apic/instances/i/livedata-quota"),
            Endpoint::Livedata
        );
        assert_eq!(
            r(&get, "/v2/p/apic/instances/i/app-quotas/q"),
            Endpoint::AppQuotaDetail
        );
        assert_eq!(
            r(&get, "/v2/p/apic/instances/i/app-quotas"),
            Endpoint::AppQuotaList
        );
        assert_eq!(
            r(&Method::POST, "/v2/p/apic/instances/i/app-quotas"),
            Endpoint::AppQuotaCreate
        );
        assert_eq!(r(&get, "/v2/p/instances"), Endpoint::RomaInstances);
        assert_eq!(r(&get, "/v1/p/quotas"), Endpoint::Eventgrid);
        assert_eq!(r(&get, "/v3/p/project-quotas"), Endpoint::Gaussdb);
        assert_eq!(r(&Method::POST, "/v3/auth/tokens"), Endpoint::IamTokens);
        assert_eq!(r(&get, "/v3/auth/projects"), Endpoint::IamProjects);
        assert_eq!(r(&get, "/v3/auth/domains"), Endpoint::IamDomains);
        assert_eq!(
            r(&Method::PUT, "/meta-data/latest/api/token"),
            Endpoint::MetadataToken
        );
        assert_eq!(
            r(&get, "/openstack/latest/securitykey"),
            Endpoint::MetadataSecurityKey
        );
        assert_eq!(r(&Method::POST, "/v1/credentials"), Endpoint::PodIdentity);
        assert_eq!(
            r(&Method::POST, "/v5/agencies/assume-with-oidc"),
            Endpoint::StsOidc
        );
        assert!(matches!(
            resolve(&get, "/v1/credentials"),
            Resolved::MethodNotAllowed {
                endpoint: Endpoint::PodIdentity,
                allow: "POST"
            }
        ));
        assert!(matches!(
            resolve(&get, "/meta-data/latest/api/token"),
            Resolved::MethodNotAllowed {
                endpoint: Endpoint::MetadataToken,
                allow: "PUT"
            }
        ));
        // The pod identity path is configurable, and an empty one serves nothing.
        assert_eq!(
            super::resolve(&Method::POST, "/pod/creds", "pod/creds").endpoint(),
            Endpoint::PodIdentity
        );
        assert_eq!(
            super::resolve(&Method::POST, "/v1/credentials", "/other").endpoint(),
            Endpoint::Unknown
        );
        assert_eq!(
            super::resolve(&Method::POST, "/", "").endpoint(),
            Endpoint::Unknown
        );
        assert_eq!(resolve(&get, "/v1/p/quotas/").endpoint(), Endpoint::Unknown);
        assert_eq!(resolve(&get, "//v1/p/quotas").endpoint(), Endpoint::Unknown);
        assert_eq!(resolve(&get, "").endpoint(), Endpoint::Unknown);
        assert!(matches!(
            resolve(&Method::DELETE, "/v1/p/quotas"),
            Resolved::MethodNotAllowed {
                endpoint: Endpoint::Eventgrid,
                allow: "GET"
            }
        ));
        assert!(matches!(
            resolve(&get, "/v3/auth/tokens"),
            Resolved::MethodNotAllowed {
                endpoint: Endpoint::IamTokens,
                ..
            }
        ));
        assert_eq!(resolve(&get, "/v1/abc/quotas").project(), Some("abc"));
    }

    #[test]
    fn parses_queries_leniently() {
        let q = Query::parse("limit=5&name=a%20b+c&&flag&bad=%zz%4&limit=7&sign=%+1");
        assert_eq!(q.get("limit"), Some("5"));
        assert_eq!(q.get("name"), Some("a b c"));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("bad"), Some("%zz%4"));
        assert_eq!(q.get("sign"), Some("% 1"));
        assert_eq!(q.get("none"), None);
        assert_eq!(Query::parse("x=%ff").get("x"), Some("\u{fffd}"));
    }
}
