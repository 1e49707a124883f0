//! The config file as written: serde schema structs that know every key
//! (`deny_unknown_fields`) and keep the spans of the values messages point at. The
//! validator (`validate.rs`) turns them into the resolved types of `config`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::units::{ByteSize, ConfigDuration};

/// Which client quotas of a ROMA Connect instance to poll.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum AppQuotaSelection {
    /// List every client quota of the instance (paged list call). The default.
    #[default]
    Discover,
    /// Fetch exactly these client quota ids (one detail call each).
    Ids(Vec<String>),
    /// Do not poll client quotas.
    None,
}

impl<'de> Deserialize<'de> for AppQuotaSelection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AppQuotaSelection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`discover`, `none`, or a list of client quota ids")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<AppQuotaSelection, E> {
                match s.trim() {
                    "discover" => Ok(AppQuotaSelection::Discover),
                    "none" => Ok(AppQuotaSelection::None),
                    other => Err(E::custom(format!(
                        "invalid app_quotas `{other}`: expected `discover`, `none`, or a list of client quota ids"
                    ))),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<AppQuotaSelection, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<String>()? {
                    let id = id.trim().to_string();
                    if id.is_empty() {
                        return Err(de::Error::custom("an app quota id must not be empty"));
                    }
                    if ids.contains(&id) {
                        return Err(de::Error::custom(format!(
                            "app quota id `{id}` is listed twice"
                        )));
                    }
                    ids.push(id);
                }
                Ok(AppQuotaSelection::Ids(ids))
            }
        }
        d.deserialize_any(V)
    }
}

/// Poll settings; every key may be set under `defaults` and overridden per project.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// How often each target is polled (jittered by up to 10%). Default `5m`.
    pub interval: Option<ConfigDuration>,
    /// Time limit of one HTTP request. Default `10s`.
    pub timeout: Option<ConfigDuration>,
    /// A series whose last good poll is older than this is dropped. Default `30m`.
    pub max_staleness: Option<ConfigDuration>,
}

/// The `defaults:` block: poll settings plus the process-wide limits.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDefaults {
    /// How often each target is polled (jittered). Default `5m`.
    pub interval: Option<ConfigDuration>,
    /// Time limit of one HTTP request. Default `10s`.
    pub timeout: Option<ConfigDuration>,
    /// A series whose last good poll is older than this is dropped. Default `30m`.
    pub max_staleness: Option<ConfigDuration>,
    /// Upstream requests in flight at once, whole process. Default 16.
    pub concurrency: Option<Spanned<u32>>,
    /// Requests per second per API host (token bucket). Default 5.
    pub rate_limit: Option<Spanned<f64>>,
    /// Retries of a failed request (connection errors, timeouts, 5xx, 429, malformed
    /// bodies), with exponential back-off and full jitter. Default 2; at most 10.
    pub retries: Option<Spanned<u32>>,
    /// Largest upstream response body read; larger ones fail with `body_too_large`
    /// without being read whole. Default `8MiB`.
    pub max_response_size: Option<Spanned<ByteSize>>,
    /// How upstream connections are made (proxy, TLS); a project's `http` overrides it
    /// key by key.
    pub http: Option<FileHttp>,
}

/// A credential as written: the keys decide its kind (token, AK/SK or IAM password).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCredential {
    /// Static `X-Auth-Token` (short-lived; tests and debugging).
    pub token: Option<Spanned<String>>,
    /// File holding the static token.
    pub token_file: Option<Spanned<String>>,
    /// AK/SK: the access key id.
    pub access_key: Option<Spanned<String>>,
    /// AK/SK: file holding the access key id (read again when it changes).
    pub access_key_file: Option<Spanned<String>>,
    /// AK/SK: the secret key.
    pub secret_key: Option<Spanned<String>>,
    /// AK/SK: file holding the secret key.
    pub secret_key_file: Option<Spanned<String>>,
    /// AK/SK: security token of temporary credentials.
    pub security_token: Option<Spanned<String>>,
    /// AK/SK: file holding the security token.
    pub security_token_file: Option<Spanned<String>>,
    /// IAM password: the IAM endpoint, for example `https://iam.eu-de.otc.t-systems.com/v3`.
    pub iam_endpoint: Option<Spanned<String>>,
    /// IAM password: the account (domain) name.
    pub domain: Option<Spanned<String>>,
    /// IAM password: the IAM user name.
    pub username: Option<Spanned<String>>,
    /// IAM password: the password.
    pub password: Option<Spanned<String>>,
    /// IAM password: file holding the password.
    pub password_file: Option<Spanned<String>>,
    /// Temporary keys of the ECS/BMS agency from the metadata service.
    pub ecs_metadata: Option<Spanned<FileEcsMetadata>>,
    /// Temporary keys from CCE pod identity.
    pub pod_identity: Option<Spanned<FilePodIdentity>>,
    /// Temporary keys of an agency assumed with an OIDC id token (STS).
    pub oidc: Option<Spanned<FileOidc>>,
}

/// `ecs_metadata:` of a credential.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEcsMetadata {
    /// The metadata service, default `http://169.254.169.254`.
    pub endpoint: Option<Spanned<String>>,
}

/// `pod_identity:` of a credential.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePodIdentity {
    /// The credential URL, default `$HC_CONTAINER_CREDENTIALS_FULL_URI`.
    pub uri: Option<Spanned<String>>,
    /// The authorization token file, default `$HC_CONTAINER_AUTHORIZATION_TOKEN_FILE`.
    pub token_file: Option<Spanned<String>>,
}

/// `oidc:` of a credential.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOidc {
    /// `iam::{account}:identityProvider:{name}`.
    pub provider_urn: Option<Spanned<String>>,
    /// `iam::{account}:agency:{name}`.
    pub agency_urn: Option<Spanned<String>>,
    /// The id token file, read again for every exchange.
    pub id_token_file: Option<Spanned<String>>,
    /// STS, default `https://sts.cn-north-4.myhuaweicloud.com`.
    pub sts_endpoint: Option<Spanned<String>>,
    /// Lifetime asked for, default `1h` (15 min to 12 h).
    pub duration: Option<Spanned<ConfigDuration>>,
}

/// Per-project endpoint overrides; unset ones are derived from `region`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEndpoints {
    /// ROMA Connect API endpoint.
    pub roma: Option<Spanned<String>>,
    /// EventGrid API endpoint.
    pub eventgrid: Option<Spanned<String>>,
    /// GaussDB for MySQL API endpoint.
    pub gaussdb_mysql: Option<Spanned<String>>,
    /// IAM endpoint (used by IAM password credentials).
    pub iam: Option<Spanned<String>>,
}

/// One ROMA Connect instance.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRomaInstance {
    /// The instance id.
    pub id: Spanned<String>,
    /// Client quotas: `discover` (default), `none`, or a list of ids.
    #[serde(default)]
    pub app_quotas: AppQuotaSelection,
    /// Poll the custom backend quota (`livedata-quota`). Default true.
    #[serde(default = "default_true")]
    pub livedata: bool,
}

/// serde's default of `livedata`.
fn default_true() -> bool {
    true
}

/// The `roma:` block of a project.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRoma {
    /// Instances to poll: a list, or `discover` (the project's `RUNNING` instances).
    #[serde(default)]
    pub instances: FileRomaInstances,
    /// With `instances: discover`: only instances whose name matches one of these regexes.
    #[serde(default)]
    pub include_instances: Vec<Spanned<String>>,
    /// With `instances: discover`: client quotas per instance, `discover` or `none`.
    #[serde(default)]
    pub app_quotas: AppQuotaSelection,
    /// With `instances: discover`: poll each instance's livedata quota. Default true.
    #[serde(default = "default_true")]
    pub livedata: bool,
}

/// The `eventgrid:` block of a project; present means enabled.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEventgrid {
    /// Only these quota types (for example `[CHANNEL, SOURCE]`); default all.
    #[serde(default)]
    pub types: Vec<Spanned<String>>,
}

/// The `gaussdb_mysql:` block of a project; present means enabled.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGaussdb {}

/// One project as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProject {
    /// Project id (32 hex characters on Huawei Cloud and OTC).
    pub id: Spanned<String>,
    /// Optional display name, shown in the info metric and the landing page.
    pub name: Option<String>,
    /// Region, for example `cn-north-4` or `eu-de`; derives the endpoints.
    pub region: Option<Spanned<String>>,
    /// Name of an entry under `credentials`.
    pub credentials: Spanned<String>,
    /// Endpoint overrides.
    #[serde(default)]
    pub endpoints: FileEndpoints,
    /// ROMA Connect instances.
    pub roma: Option<FileRoma>,
    /// EventGrid tenant quotas.
    pub eventgrid: Option<FileEventgrid>,
    /// GaussDB for MySQL tenant quotas.
    pub gaussdb_mysql: Option<FileGaussdb>,
    /// Overrides of `defaults.interval`.
    pub interval: Option<ConfigDuration>,
    /// Overrides of `defaults.timeout`.
    pub timeout: Option<ConfigDuration>,
    /// Overrides of `defaults.max_staleness`.
    pub max_staleness: Option<ConfigDuration>,
    /// Overrides of `defaults.http`, key by key.
    pub http: Option<FileHttp>,
}

/// `http:` (under `defaults` or a project): proxy and TLS of upstream connections.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHttp {
    /// `http://[user:password@]host:port`; default: `HTTPS_PROXY` / `HTTP_PROXY` /
    /// `NO_PROXY` from the environment.
    pub proxy_url: Option<Spanned<String>>,
    /// Hosts reached without the proxy (names, `.domain` suffixes, IPs, CIDR ranges).
    pub no_proxy: Option<Vec<Spanned<String>>>,
    /// TLS trust and client certificate.
    pub tls: Option<FileTls>,
}

/// `http.tls:`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTls {
    /// PEM file of CA certificates trusted besides the system's.
    pub ca_file: Option<Spanned<String>>,
    /// PEM file of a client certificate (chain) for gateways that ask for one.
    pub cert_file: Option<Spanned<String>>,
    /// PEM file of the client certificate's private key.
    pub key_file: Option<Spanned<String>>,
    /// The name the server's certificate must carry, instead of the URL's host.
    pub server_name: Option<Spanned<String>>,
    /// Accept any server certificate. For tests only: warned about at start and at
    /// every reload.
    pub insecure_skip_verify: Option<Spanned<bool>>,
}

/// The whole file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Settings every project inherits.
    #[serde(default)]
    pub defaults: FileDefaults,
    /// Named credentials, referenced by projects.
    #[serde(default)]
    pub credentials: BTreeMap<String, FileCredential>,
    /// The projects to poll.
    pub projects: Option<Spanned<Vec<FileProject>>>,
    /// Credentials whose projects and instances are found, and kept current, by listing them.
    #[serde(default)]
    pub discovery: Vec<FileDiscovery>,
}

/// `roma.instances` of a configured project: a list, or `discover`.
#[derive(Clone, Debug)]
pub enum FileRomaInstances {
    /// These instances.
    List(Vec<FileRomaInstance>),
    /// The project's `RUNNING` instances, listed again at every refresh.
    Discover,
}

impl Default for FileRomaInstances {
    fn default() -> Self {
        FileRomaInstances::List(Vec::new())
    }
}

impl<'de> Deserialize<'de> for FileRomaInstances {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileRomaInstances;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of instances (`- id: ...`) or `discover`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<FileRomaInstances, E> {
                match s.trim() {
                    "discover" => Ok(FileRomaInstances::Discover),
                    other => Err(E::custom(format!(
                        "invalid roma.instances `{other}`: expected `discover` or a list of instances (`- id: ...`)"
                    ))),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<FileRomaInstances, A::Error> {
                let mut list = Vec::new();
                while let Some(i) = seq.next_element::<FileRomaInstance>()? {
                    list.push(i);
                }
                Ok(FileRomaInstances::List(list))
            }
        }
        d.deserialize_any(V)
    }
}

/// `roma:` of a discovery entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDiscoveryRoma {
    /// Must be `discover`: each project's `RUNNING` ROMA Connect instances.
    pub instances: Spanned<String>,
    /// Only instances whose name matches one of these regexes (default: every one).
    #[serde(default)]
    pub include_instances: Vec<Spanned<String>>,
    /// Client quotas per discovered instance: `discover` (default) or `none`.
    #[serde(default)]
    pub app_quotas: AppQuotaSelection,
    /// Poll each discovered instance's custom backend quota (`livedata-quota`). Default true.
    #[serde(default = "default_true")]
    pub livedata: bool,
}

/// Endpoint templates of a discovery entry; `{region}` becomes the project's region.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEndpointTemplates {
    /// ROMA Connect, for example `https://roma.{region}.example.internal`.
    pub roma: Option<Spanned<String>>,
    /// EventGrid.
    pub eventgrid: Option<Spanned<String>>,
    /// GaussDB for MySQL.
    pub gaussdb_mysql: Option<Spanned<String>>,
}

/// One `discovery:` entry as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDiscovery {
    /// Name of an entry under `credentials:` (any kind).
    pub credentials: Spanned<String>,
    /// IAM endpoint that lists the projects (`.../v3`). Default: the cloud's global IAM;
    /// for an IAM password credential, its own `iam_endpoint`.
    pub iam_endpoint: Option<Spanned<String>>,
    /// The account (domain) id sent as `X-Domain-Id` with AK/SK; default: asked from IAM
    /// (`GET /v3/auth/domains`) once.
    pub domain_id: Option<Spanned<String>>,
    /// List projects and instances again this often. Default `1h`.
    pub refresh_interval: Option<Spanned<ConfigDuration>>,
    /// Only projects in these regions (default: every region).
    pub regions: Option<Vec<Spanned<String>>>,
    /// Leave out projects whose name matches one of these regexes.
    #[serde(default)]
    pub exclude_projects: Vec<Spanned<String>>,
    /// ROMA Connect instances of every discovered project.
    pub roma: Option<FileDiscoveryRoma>,
    /// EventGrid quotas of every discovered project whose region offers EventGrid.
    pub eventgrid: Option<FileEventgrid>,
    /// GaussDB for MySQL quotas of every discovered project whose region offers it.
    pub gaussdb_mysql: Option<FileGaussdb>,
    /// Endpoint overrides; `{region}` becomes the project's region.
    #[serde(default)]
    pub endpoints: FileEndpointTemplates,
}
