//! Which upstream API: the `api` label and the key prefix of every target.

use std::fmt;

/// An upstream API that targets poll; rendered as the `api` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    /// ROMA Connect custom backend quota (`livedata-quota`), one target per instance.
    RomaLivedata,
    /// ROMA Connect client quotas (`app-quotas`), one target per instance.
    RomaAppQuota,
    /// EventGrid tenant quotas, one target per project.
    Eventgrid,
    /// GaussDB for MySQL tenant quotas, one target per project.
    GaussdbMysql,
}

impl Api {
    /// Every API, in exposition order.
    pub const ALL: [Api; 4] = [
        Api::RomaLivedata,
        Api::RomaAppQuota,
        Api::Eventgrid,
        Api::GaussdbMysql,
    ];

    /// The `api` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::RomaLivedata => "roma_livedata",
            Api::RomaAppQuota => "roma_app_quota",
            Api::Eventgrid => "eventgrid",
            Api::GaussdbMysql => "gaussdb_mysql",
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an upstream request was for: a poll of an [`Api`], or a token from IAM. The `api`
/// label of the request and error counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// A request of a poll.
    Poll(Api),
    /// An IAM token request.
    Iam,
    /// A discovery list call (IAM projects and domains, ROMA Connect instances).
    Discovery,
    /// A temporary-credential request (metadata service, pod identity, STS).
    Credentials,
}

impl Service {
    /// The `api` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Poll(api) => api.as_str(),
            Service::Iam => "iam",
            Service::Discovery => "discovery",
            Service::Credentials => "credentials",
        }
    }
}

impl From<Api> for Service {
    fn from(api: Api) -> Service {
        Service::Poll(api)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
