//! The fake cloud's contents (projects, ROMA instances, quotas, tokens, AK/SK pairs) and how
//! usage drifts.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde::Serialize;

/// Project id of the seed documents' project.
pub const SEED_PROJECT_ID: &str = "0123456789abcdef0123456789abcdef";
/// ROMA Connect instance id of the seed documents.
pub const SEED_INSTANCE_ID: &str = "f0fa1789-3b76-433b-a787-9892951c620e";
/// Client quota id of seed `001` (`ClientQuota_demo`).
pub const SEED_APP_QUOTA_ID: &str = "c900c5612dbe451bb43cbcc49cfaf2f3";
/// Second seed client quota: `HOURE` spelling, with `remark` and `bound_app_num`.
pub const SEED_HOURE_APP_QUOTA_ID: &str = "4f1c3a2b9d8e4f60a1b2c3d4e5f60718";
/// The static token every built-in world accepts.
pub const DEMO_TOKEN: &str = "demo-token";
/// Project id of the Open Telekom Cloud flavoured project that [`World::demo`] adds.
pub const DEMO_OTC_PROJECT_ID: &str = "7b3e5d2c9a814f06b2c4d6e8f0a1b3c5";
/// Access key of the permanent AK/SK pair every built-in world accepts.
pub const SIM_ACCESS_KEY: &str = "SIMAK0000000000000001";
/// Secret key of [`SIM_ACCESS_KEY`].
pub const SIM_SECRET_KEY: &str = "SimSecretKey0000000000000000000000000001";
/// Access key of the temporary AK/SK pair every built-in world accepts (needs
/// [`SIM_SECURITY_TOKEN`]).
pub const SIM_TEMP_ACCESS_KEY: &str = "SIMTEMPAK00000000001";
/// Secret key of [`SIM_TEMP_ACCESS_KEY`].
pub const SIM_TEMP_SECRET_KEY: &str = "SimTempSecretKey000000000000000000000001";
/// Security token of [`SIM_TEMP_ACCESS_KEY`], sent as `X-Security-Token`.
pub const SIM_SECURITY_TOKEN: &str =
    "gQpjbi1ub3J0aC00SIMSECURITYTOKEN0123456789abcdefABCDEF-_sim-temporary-credential";

/// Account (domain) id of every built-in world ([`IamSettings::domain_id`]).
pub const SIM_DOMAIN_ID: &str = "d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f";
/// Project id of `cn-north-4_dev`, the sub-project of [`World::discovery`].
pub const DISCOVERY_DEV_PROJECT_ID: &str = "1c2d3e4f5a6b47c8d9e0f1a2b3c4d5e6";
/// Project id of `ap-southeast-1` in [`World::discovery`].
pub const DISCOVERY_AP_PROJECT_ID: &str = "2d3e4f5a6b7c48d9e0f1a2b3c4d5e6f7";
/// Project id of the disabled `cn-east-3` project of [`World::discovery`].
pub const DISCOVERY_DISABLED_PROJECT_ID: &str = "3e4f5a6b7c8d49e0f1a2b3c4d5e6f7a8";
/// Project id of `MOS`, the project of [`World::discovery`] that is no region.
pub const DISCOVERY_MOS_PROJECT_ID: &str = "4f5a6b7c8d9e40f1a2b3c4d5e6f7a8b9";
/// `Authorization` token the CCE pod identity endpoint accepts in every built-in world.
pub const SIM_POD_IDENTITY_TOKEN: &str = "sim-pod-identity-token";
/// Default path of the CCE pod identity endpoint ([`TemporaryCredentials::pod_identity_path`]).
pub const SIM_POD_IDENTITY_PATH: &str = "/v1/credentials";
/// OIDC provider URN the STS stub trusts in every built-in world.
pub const SIM_OIDC_PROVIDER_URN: &str =
    "iam::d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f:identityProvider:cce";
/// Agency URN the STS stub lets [`SIM_OIDC_PROVIDER_URN`] assume.
pub const SIM_OIDC_AGENCY_URN: &str =
    "iam::d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f:agency:quota-monitoring";
/// OIDC id token the STS stub accepts in every built-in world (rotate it with
/// [`World::rotate_oidc_id_token`]).
pub const SIM_OIDC_ID_TOKEN: &str =
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bW9uaXRvcmluZyJ9.c2lt";

/// What the temporary-credential sources accept, and how long what they issue lasts.
#[derive(Clone, Debug)]
pub struct TemporaryCredentials {
    /// Lifetime of every issued temporary AK/SK; `None`: the source's default (1 h for the
    /// metadata service and pod identity, `duration_seconds` (default 3600) for STS).
    pub lifetime: Option<Duration>,
    /// `PUT /meta-data/latest/api/token` hands out session tokens, and the security key needs
    /// one. `false`: an older metadata service: the `PUT` answers 404 and the security key
    /// is served without a session token.
    pub metadata_session_tokens: bool,
    /// An agency is bound to the server. `false`: the security key answers 401 "Please
    /// configure Cloud Service Agency first".
    pub metadata_agency: bool,
    /// Path of the CCE pod identity endpoint (`POST`), [`SIM_POD_IDENTITY_PATH`] by default.
    pub pod_identity_path: String,
    /// `Authorization` values the pod identity endpoint accepts (rotate them at run time).
    pub pod_identity_tokens: Vec<String>,
    /// OIDC provider URNs the STS stub trusts.
    pub oidc_provider_urns: Vec<String>,
    /// Agency URNs that may be assumed with an OIDC id token.
    pub oidc_agency_urns: Vec<String>,
    /// The id tokens currently valid (a test rotates them to show the file is read again).
    pub oidc_id_tokens: Vec<String>,
}

impl Default for TemporaryCredentials {
    fn default() -> Self {
        TemporaryCredentials {
            lifetime: None,
            metadata_session_tokens: true,
            metadata_agency: true,
            pod_identity_path: SIM_POD_IDENTITY_PATH.to_owned(),
            pod_identity_tokens: vec![SIM_POD_IDENTITY_TOKEN.to_owned()],
            oidc_provider_urns: vec![SIM_OIDC_PROVIDER_URN.to_owned()],
            oidc_agency_urns: vec![SIM_OIDC_AGENCY_URN.to_owned()],
            oidc_id_tokens: vec![SIM_OIDC_ID_TOKEN.to_owned()],
        }
    }
}

/// The fake cloud's contents.
#[derive(Clone, Debug)]
pub struct World {
    /// Every project the cloud knows.
    pub projects: Vec<SimProject>,
    /// Static `X-Auth-Token` values accepted for every project, never expiring.
    pub tokens: Vec<String>,
    /// Whether usage figures drift over time (see [`World::demo`]); `false` serves the stored values.
    pub drift: bool,
    /// List calls return at most this many items per page even when `limit` is larger
    /// (real servers may too); `0` means no cap beyond `limit`.
    pub max_page_size: usize,
    /// What the IAM stub accepts and how long the tokens it issues last.
    pub iam: IamSettings,
    /// AK/SK pairs accepted for `SDK-HMAC-SHA256` signed requests, for every project (and,
    /// with `X-Domain-Id`, for IAM's global routes). The temporary-credential sources add the
    /// pairs they issue here.
    pub aksk: Vec<SimAkSk>,
    /// The ROMA Connect instance list returns at most this many instances per page (fewer
    /// than `limit`, so clients must page by `size`/`total`); `None` uses `max_page_size`.
    pub instance_page_size: Option<usize>,
    /// What the temporary-credential sources (ECS metadata, CCE pod identity, STS) accept and
    /// how long what they issue lasts.
    pub temporary: TemporaryCredentials,
}

/// One AK/SK pair the simulator accepts for signed requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimAkSk {
    /// Access key id (`Access=` in the `Authorization` header).
    pub access_key: String,
    /// Secret key, the HMAC key.
    pub secret_key: String,
    /// `Some` for temporary credentials: requests must carry this exact value in a signed
    /// `X-Security-Token` header. `None`: a permanent pair, which must not send one.
    pub security_token: Option<String>,
    /// From then on the pair is refused (401 `APIG.0301`, "the security token has expired");
    /// `None`: never expires.
    pub expires_at: Option<SystemTime>,
}

impl SimAkSk {
    /// A permanent pair.
    pub fn permanent(access_key: impl Into<String>, secret_key: impl Into<String>) -> SimAkSk {
        SimAkSk {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            security_token: None,
            expires_at: None,
        }
    }

    /// A temporary pair that is only accepted together with `security_token`.
    pub fn temporary(
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
        security_token: impl Into<String>,
    ) -> SimAkSk {
        SimAkSk {
            security_token: Some(security_token.into()),
            ..SimAkSk::permanent(access_key, secret_key)
        }
    }

    /// Sets [`SimAkSk::expires_at`].
    pub fn expiring(mut self, at: SystemTime) -> SimAkSk {
        self.expires_at = Some(at);
        self
    }
}

/// Credentials the IAM password-token stub accepts.
#[derive(Clone, Debug)]
pub struct IamSettings {
    /// Account (domain) name.
    pub domain: String,
    /// Account (domain) id: what `GET /v3/auth/domains` answers and what AK/SK requests to
    /// IAM's global routes must send as `X-Domain-Id`.
    pub domain_id: String,
    /// IAM user name.
    pub username: String,
    /// IAM user password.
    pub password: String,
    /// How long an issued token is accepted.
    pub token_lifetime: Duration,
}

impl Default for IamSettings {
    fn default() -> Self {
        IamSettings {
            domain: "sim-domain".to_owned(),
            domain_id: SIM_DOMAIN_ID.to_owned(),
            username: "monitoring".to_owned(),
            password: "demo-password".to_owned(),
            token_lifetime: Duration::from_secs(24 * 3600),
        }
    }
}

/// One project and everything in it.
#[derive(Clone, Debug)]
pub struct SimProject {
    /// 32-hex project id.
    pub id: String,
    /// Project name, shown in the exporter's info metric.
    pub name: String,
    /// Region, also accepted as the project name in IAM scopes (`"project":{"name":"eu-de"}`).
    pub region: String,
    /// The name IAM gives the project (`GET /v3/auth/projects`, and accepted in name scopes):
    /// a region (`cn-north-4`), a sub-project (`cn-north-4_dev`) or no region (`MOS`).
    /// `None`: the region.
    pub iam_name: Option<String>,
    /// Disabled projects are listed with `"enabled": false` and refused in IAM scopes (their
    /// APIs still answer static tokens and AK/SK).
    pub enabled: bool,
    /// Parent project id (a sub-project's region project); `None`: the account (domain).
    pub parent_id: Option<String>,
    /// Free-text description in the IAM project list.
    pub description: String,
    /// ROMA Connect instances.
    pub roma_instances: Vec<SimRomaInstance>,
    /// EventGrid tenant quotas.
    pub eventgrid: Vec<SimEventgridQuota>,
    /// GaussDB for MySQL tenant quotas.
    pub gaussdb: Vec<SimGaussdbQuota>,
}

/// One ROMA Connect instance.
#[derive(Clone, Debug)]
pub struct SimRomaInstance {
    /// Instance id (UUID).
    pub id: String,
    /// Instance name.
    pub name: String,
    /// `RUNNING`, `CREATING`, `ERROR`, `DELETING`, `DELETED`, `SOFT_DELETED`, ... (the list's
    /// `status` filter matches it exactly). `DELETED` and `SOFT_DELETED` instances answer
    /// quota calls with 404 `APIG.3030`, like removed ones.
    pub status: String,
    /// Free-text description in the instance list.
    pub description: String,
    /// Flavor in the instance list (`roma.basic.x86`, ...).
    pub flavor_type: String,
    /// `create_time` (and `update_time`) in the instance list.
    pub create_time: String,
    /// Custom backend quota (`livedata-quota`).
    pub livedata: SimLivedata,
    /// Client quotas (`app-quotas`), in list order.
    pub app_quotas: Vec<SimAppQuota>,
}

impl SimProject {
    /// An enabled top-level project named after `region`, with no services.
    pub fn new(id: impl Into<String>, region: impl Into<String>) -> SimProject {
        let region = region.into();
        SimProject {
            id: id.into(),
            name: region.clone(),
            region,
            iam_name: None,
            enabled: true,
            parent_id: None,
            description: String::new(),
            roma_instances: Vec::new(),
            eventgrid: Vec::new(),
            gaussdb: Vec::new(),
        }
    }

    /// A sub-project `{region}_{suffix}` of the project `parent_id`.
    pub fn sub_project(
        id: impl Into<String>,
        region: impl Into<String>,
        suffix: &str,
        parent_id: impl Into<String>,
    ) -> SimProject {
        let mut project = SimProject::new(id, region);
        let name = format!("{}_{suffix}", project.region);
        project.name = name.clone();
        project.iam_name = Some(name);
        project.parent_id = Some(parent_id.into());
        project
    }

    /// The name IAM lists: [`SimProject::iam_name`], else the region.
    pub fn iam_name(&self) -> &str {
        self.iam_name.as_deref().unwrap_or(&self.region)
    }

    /// Adds a ROMA Connect instance.
    pub fn with_instance(mut self, instance: SimRomaInstance) -> SimProject {
        self.roma_instances.push(instance);
        self
    }
}

impl SimRomaInstance {
    /// A `RUNNING` instance with a small custom backend quota and no client quotas.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> SimRomaInstance {
        SimRomaInstance {
            id: id.into(),
            name: name.into(),
            status: "RUNNING".to_owned(),
            description: String::new(),
            flavor_type: "roma.basic.x86".to_owned(),
            create_time: "2024-03-01T08:00:00Z".to_owned(),
            livedata: SimLivedata {
                api: 1000,
                api_used: 10,
                datasource: 20,
                datasource_used: 2,
                scripts: 10,
            },
            app_quotas: Vec::new(),
        }
    }

    /// Sets [`SimRomaInstance::status`].
    pub fn with_status(mut self, status: impl Into<String>) -> SimRomaInstance {
        self.status = status.into();
        self
    }

    /// Whether its quota APIs answer (a deleted instance answers 404 `APIG.3030`).
    pub fn serves_quotas(&self) -> bool {
        !matches!(self.status.as_str(), "DELETED" | "SOFT_DELETED")
    }
}

/// Custom backend quota of one instance; served as JSON strings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimLivedata {
    /// Backend API quota.
    pub api: u64,
    /// Backend APIs in use.
    pub api_used: u64,
    /// Data source quota.
    pub datasource: u64,
    /// Data sources in use.
    pub datasource_used: u64,
    /// Script quota (the API has no `scripts_used`).
    pub scripts: u64,
}

/// One ROMA Connect client quota, serialized exactly as the API does (absent when `None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimAppQuota {
    /// 32-hex id.
    pub app_quota_id: String,
    /// Quota name.
    pub name: String,
    /// Calls allowed per window.
    pub call_limits: i64,
    /// `SECOND`, `MINUTE`, `HOUR`, `HOURE` (documented spelling) or `DAY`.
    pub time_unit: String,
    /// Window length in `time_unit`s.
    pub time_interval: i64,
    /// Free-text description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// First reset time, in whatever shape the API gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_time: Option<String>,
    /// Creation time, in whatever shape the API gave.
    pub create_time: String,
    /// Number of apps bound to the quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound_app_num: Option<i64>,
}

/// One EventGrid quota resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimEventgridQuota {
    /// Display name.
    pub name: String,
    /// `CHANNEL`, `SOURCE`, ...
    pub r#type: String,
    /// Highest value the quota can be set to.
    pub max: i64,
    /// Lowest value the quota can be set to.
    pub min: i64,
    /// Current quota.
    pub quota: i64,
    /// Current usage.
    pub used: i64,
}

/// One GaussDB for MySQL quota resource; served with the seed's quirks
/// (`"type":"instance,"`, `"used":"4,"`, `quota` an integer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimGaussdbQuota {
    /// Resource type without the quirky trailing comma (`instance`).
    pub r#type: String,
    /// Current usage.
    pub used: i64,
    /// Current quota.
    pub quota: i64,
}

impl World {
    /// Exactly the seed documents' example values, no drift, token `demo-token`, the IAM user
    /// of [`IamSettings::default`], and two AK/SK pairs: [`SIM_ACCESS_KEY`] (permanent) and
    /// [`SIM_TEMP_ACCESS_KEY`] (temporary, with [`SIM_SECURITY_TOKEN`]).
    pub fn seeds() -> World {
        World {
            projects: vec![SimProject {
                id: SEED_PROJECT_ID.to_owned(),
                name: "prod-cn-north-4".to_owned(),
                region: "cn-north-4".to_owned(),
                iam_name: None,
                enabled: true,
                parent_id: None,
                description: String::new(),
                roma_instances: vec![SimRomaInstance {
                    id: SEED_INSTANCE_ID.to_owned(),
                    name: "roma-prod".to_owned(),
                    status: "RUNNING".to_owned(),
                    description: "ROMA Connect of the seed documents".to_owned(),
                    flavor_type: "roma.professional.x86".to_owned(),
                    create_time: "2020-09-19T07:27:47Z".to_owned(),
                    livedata: SimLivedata {
                        api: 10000,
                        api_used: 4,
                        datasource: 3,
                        datasource_used: 0,
                        scripts: 5,
                    },
                    app_quotas: vec![
                        SimAppQuota {
                            app_quota_id: SEED_APP_QUOTA_ID.to_owned(),
                            name: "ClientQuota_demo".to_owned(),
                            call_limits: 1000,
                            time_unit: "DAY".to_owned(),
                            time_interval: 1,
                            remark: None,
                            reset_time: Some("2020-09-20 00:00:00 +0000 +0000".to_owned()),
                            create_time: "2020-09-19T07:27:47Z".to_owned(),
                            bound_app_num: None,
                        },
                        SimAppQuota {
                            app_quota_id: SEED_HOURE_APP_QUOTA_ID.to_owned(),
                            name: "PartnerQuota_hourly".to_owned(),
                            call_limits: 50000,
                            time_unit: "HOURE".to_owned(),
                            time_interval: 2,
                            remark: Some("Partner integrations, per two hours".to_owned()),
                            reset_time: Some("2020-09-20 00:00:00".to_owned()),
                            create_time: "2020-09-19T15:27:47.60571141+08:00".to_owned(),
                            bound_app_num: Some(3),
                        },
                    ],
                }],
                eventgrid: vec![
                    eg("Channels", "CHANNEL", 0, 500, 100, 3),
                    eg("Event sources", "SOURCE", 0, 1000, 100, 12),
                    eg("Subscriptions", "SUBSCRIPTION", 0, 5000, 1000, 57),
                    eg(
                        "Channel subscriptions",
                        "CHANNEL_SUBSCRIPTION",
                        1,
                        200,
                        100,
                        5,
                    ),
                ],
                gaussdb: vec![SimGaussdbQuota {
                    r#type: "instance".to_owned(),
                    used: 4,
                    quota: 50,
                }],
            }],
            tokens: vec![DEMO_TOKEN.to_owned()],
            drift: false,
            max_page_size: 2,
            iam: IamSettings::default(),
            aksk: vec![
                SimAkSk::permanent(SIM_ACCESS_KEY, SIM_SECRET_KEY),
                SimAkSk::temporary(SIM_TEMP_ACCESS_KEY, SIM_TEMP_SECRET_KEY, SIM_SECURITY_TOKEN),
            ],
            instance_page_size: None,
            temporary: TemporaryCredentials::default(),
        }
    }

    /// [`World::seeds`] plus an Open Telekom Cloud flavoured project with two ROMA instances,
    /// drifting usage, and several quotas near exhaustion (above 80 % and above 95 %).
    pub fn demo() -> World {
        let mut world = World::seeds();
        world.drift = true;
        world.projects.push(SimProject {
            id: DEMO_OTC_PROJECT_ID.to_owned(),
            name: "otc-eu-de".to_owned(),
            region: "eu-de".to_owned(),
            iam_name: None,
            enabled: true,
            parent_id: None,
            description: String::new(),
            roma_instances: vec![
                SimRomaInstance {
                    id: "5d7f2a1c-8e4b-4c3d-9a6f-0b1e2d3c4f5a".to_owned(),
                    name: "roma-eu-de-prod".to_owned(),
                    status: "RUNNING".to_owned(),
                    description: String::new(),
                    flavor_type: "roma.professional.x86".to_owned(),
                    create_time: "2024-03-01T08:00:00Z".to_owned(),
                    livedata: SimLivedata {
                        api: 500,
                        api_used: 485, // 97 %
                        datasource: 20,
                        datasource_used: 17, // 85 %
                        scripts: 10,
                    },
                    app_quotas: vec![
                        app_quota(
                            "0a1b2c3d4e5f40718293a4b5c6d7e8f9",
                            "Shop_frontend",
                            200,
                            "SECOND",
                            1,
                        ),
                        app_quota(
                            "1b2c3d4e5f60718293a4b5c6d7e8f90a",
                            "Nightly_batch",
                            100_000,
                            "DAY",
                            1,
                        ),
                    ],
                },
                SimRomaInstance {
                    id: "a3c9e7b1-2d4f-4e6a-8b0c-1d3e5f7a9b2c".to_owned(),
                    name: "roma-eu-de-batch".to_owned(),
                    status: "RUNNING".to_owned(),
                    description: String::new(),
                    flavor_type: "roma.basic.x86".to_owned(),
                    create_time: "2024-03-01T08:00:00Z".to_owned(),
                    livedata: SimLivedata {
                        api: 2000,
                        api_used: 640,
                        datasource: 50,
                        datasource_used: 49, // 98 %
                        scripts: 20,
                    },
                    app_quotas: vec![
                        app_quota(
                            "2c3d4e5f60718293a4b5c6d7e8f90a1b",
                            "Partner_A",
                            6000,
                            "MINUTE",
                            10,
                        ),
                        app_quota(
                            "3d4e5f60718293a4b5c6d7e8f90a1b2c",
                            "Partner_B",
                            1000,
                            "HOUR",
                            1,
                        ),
                        app_quota(
                            "4e5f60718293a4b5c6d7e8f90a1b2c3d",
                            "Partner_C",
                            5000,
                            "HOURE",
                            1,
                        ),
                    ],
                },
            ],
            eventgrid: vec![
                eg("Channels", "CHANNEL", 1, 100, 20, 17), // 85 %
                eg("Event sources", "SOURCE", 0, 500, 50, 12),
                eg("Subscriptions", "SUBSCRIPTION", 0, 500, 100, 97), // 97 %
                eg(
                    "Channel subscriptions",
                    "CHANNEL_SUBSCRIPTION",
                    1,
                    200,
                    100,
                    40,
                ),
                eg("Schemas", "SCHEMA", 0, 1000, 200, 8),
            ],
            gaussdb: vec![SimGaussdbQuota {
                r#type: "instance".to_owned(),
                used: 49, // 98 %
                quota: 50,
            }],
        });
        world
    }

    /// A world for benchmarks: the seed project with `n` ROMA instances, each with livedata
    /// and two client quotas, plus the seed EventGrid and GaussDB quotas; no drift.
    pub fn with_roma_instances(n: usize) -> World {
        let mut world = World::seeds();
        let project = &mut world.projects[0];
        project.name = "bench".to_owned();
        project.roma_instances = (0..n)
            .map(|i| {
                let i64_i = i64::try_from(i).unwrap_or(i64::MAX);
                let u = u64::try_from(i).unwrap_or(u64::MAX);
                SimRomaInstance {
                    livedata: SimLivedata {
                        api: 10000,
                        api_used: u % 10000,
                        datasource: 100,
                        datasource_used: u % 100,
                        scripts: 50,
                    },
                    app_quotas: (0..2u64)
                        .map(|k| SimAppQuota {
                            bound_app_num: Some(i64_i % 7),
                            ..app_quota(
                                &format!("{u:016x}{k:016x}"),
                                &format!("Bench_{i}_{k}"),
                                1000 + i64_i % 1000,
                                if k == 0 { "MINUTE" } else { "DAY" },
                                1,
                            )
                        })
                        .collect(),
                    ..SimRomaInstance::new(
                        format!("{:08x}-0000-4000-8000-{:012x}", u >> 32, u & 0xffff_ffff),
                        format!("roma-bench-{i}"),
                    )
                }
            })
            .collect();
        world
    }

    /// A world for discovery: [`World::seeds`] (IAM name `cn-north-4`) whose ROMA Connect
    /// holds 12 instances (the seed one and 9 more `RUNNING`, named `prod-*` and `test-*`, one
    /// `CREATING`, one `ERROR`), listed at most 7 per page; the sub-project `cn-north-4_dev`
    /// ([`DISCOVERY_DEV_PROJECT_ID`], one `RUNNING` and one `CREATE_FAILED` instance,
    /// EventGrid); `ap-southeast-1` ([`DISCOVERY_AP_PROJECT_ID`], two `RUNNING` instances,
    /// GaussDB); the disabled `cn-east-3` ([`DISCOVERY_DISABLED_PROJECT_ID`]) and `MOS`
    /// ([`DISCOVERY_MOS_PROJECT_ID`], no region, no services). No drift.
    pub fn discovery() -> World {
        let mut world = World::seeds();
        world.instance_page_size = Some(7);
        let seed = &mut world.projects[0];
        seed.description = "Production".to_owned();
        for n in 1..=9u32 {
            let kind = if n <= 6 { "prod" } else { "test" };
            seed.roma_instances.push(SimRomaInstance::new(
                discovery_instance_id(0, n),
                format!("{kind}-roma-{n}"),
            ));
        }
        seed.roma_instances.push(
            SimRomaInstance::new(discovery_instance_id(0, 10), "prod-roma-creating")
                .with_status("CREATING"),
        );
        seed.roma_instances.push(
            SimRomaInstance::new(discovery_instance_id(0, 11), "prod-roma-broken")
                .with_status("ERROR"),
        );

        let mut dev = SimProject::sub_project(
            DISCOVERY_DEV_PROJECT_ID,
            "cn-north-4",
            "dev",
            SEED_PROJECT_ID,
        )
        .with_instance(SimRomaInstance::new(
            discovery_instance_id(1, 1),
            "dev-roma-1",
        ))
        .with_instance(
            SimRomaInstance::new(discovery_instance_id(1, 2), "dev-roma-failed")
                .with_status("CREATE_FAILED"),
        );
        dev.description = "Development".to_owned();
        dev.eventgrid = vec![eg("Channels", "CHANNEL", 0, 500, 100, 7)];

        let mut ap = SimProject::new(DISCOVERY_AP_PROJECT_ID, "ap-southeast-1")
            .with_instance(SimRomaInstance::new(
                discovery_instance_id(2, 1),
                "prod-ap-1",
            ))
            .with_instance(SimRomaInstance::new(
                discovery_instance_id(2, 2),
                "prod-ap-2",
            ));
        ap.gaussdb = vec![SimGaussdbQuota {
            r#type: "instance".to_owned(),
            used: 3,
            quota: 20,
        }];

        let mut disabled = SimProject::new(DISCOVERY_DISABLED_PROJECT_ID, "cn-east-3");
        disabled.enabled = false;
        disabled.eventgrid = vec![eg("Channels", "CHANNEL", 0, 500, 100, 1)];

        let mut mos = SimProject::new(DISCOVERY_MOS_PROJECT_ID, "MOS");
        mos.description = "Marketplace".to_owned();

        world.projects.extend([dev, ap, disabled, mos]);
        world
    }

    /// The project `id`.
    pub fn project(&self, id: &str) -> Option<&SimProject> {
        self.projects.iter().find(|p| p.id == id)
    }

    /// The project `id`, to change it.
    pub fn project_mut(&mut self, id: &str) -> Option<&mut SimProject> {
        self.projects.iter_mut().find(|p| p.id == id)
    }

    /// Adds `project`, replacing one with the same id.
    pub fn add_project(&mut self, project: SimProject) {
        match self.project_mut(&project.id) {
            Some(existing) => *existing = project,
            None => self.projects.push(project),
        }
    }

    /// Removes the project `id` (IAM stops listing it, its APIs answer 404); returns it.
    pub fn remove_project(&mut self, id: &str) -> Option<SimProject> {
        let index = self.projects.iter().position(|p| p.id == id)?;
        Some(self.projects.remove(index))
    }

    /// Adds `instance` to project `project_id`, replacing one with the same id; `false`
    /// when there is no such project.
    pub fn add_roma_instance(&mut self, project_id: &str, instance: SimRomaInstance) -> bool {
        let Some(project) = self.project_mut(project_id) else {
            return false;
        };
        match project
            .roma_instances
            .iter_mut()
            .find(|i| i.id == instance.id)
        {
            Some(existing) => *existing = instance,
            None => project.roma_instances.push(instance),
        }
        true
    }

    /// Deletes an instance: it leaves the list and its quota calls answer 404 `APIG.3030`.
    pub fn remove_roma_instance(
        &mut self,
        project_id: &str,
        instance_id: &str,
    ) -> Option<SimRomaInstance> {
        let project = self.project_mut(project_id)?;
        let index = project
            .roma_instances
            .iter()
            .position(|i| i.id == instance_id)?;
        Some(project.roma_instances.remove(index))
    }

    /// Sets an instance's status (`RUNNING`, `ERROR`, `DELETED`, ...); `false` when there is
    /// no such instance.
    pub fn set_roma_instance_status(
        &mut self,
        project_id: &str,
        instance_id: &str,
        status: &str,
    ) -> bool {
        let instance = self
            .project_mut(project_id)
            .and_then(|p| p.roma_instances.iter_mut().find(|i| i.id == instance_id));
        match instance {
            Some(instance) => {
                status.clone_into(&mut instance.status);
                true
            }
            None => false,
        }
    }

    /// Makes `token` the only OIDC id token the STS stub accepts.
    pub fn rotate_oidc_id_token(&mut self, token: impl Into<String>) {
        self.temporary.oidc_id_tokens = vec![token.into()];
    }

    /// Makes `token` the only `Authorization` value the pod identity endpoint accepts.
    pub fn rotate_pod_identity_token(&mut self, token: impl Into<String>) {
        self.temporary.pod_identity_tokens = vec![token.into()];
    }

    /// Exporter config YAML that polls every target of this world at `base_url` with a static
    /// token credential (the world's first token), every `interval`.
    pub fn exporter_config_yaml(&self, base_url: &str, interval: &str) -> String {
        let base = base_url.trim_end_matches('/');
        let token = self.tokens.first().map_or(DEMO_TOKEN, String::as_str);
        let mut out = String::new();
        // `write!` to a String cannot fail.
        let _ = write!(
            out,
            "defaults:\n  interval: {}\ncredentials:\n  sim:\n    token: {}\nprojects:\n",
            yaml_scalar(interval),
            yaml_scalar(token)
        );
        let iam = yaml_scalar(&format!("{base}/v3"));
        let base = yaml_scalar(base);
        for p in &self.projects {
            let _ = write!(
                out,
                "  - id: {}\n    name: {}\n    region: {}\n    credentials: sim\n    endpoints: {{ roma: {base}, eventgrid: {base}, gaussdb_mysql: {base}, iam: {iam} }}\n",
                yaml_scalar(&p.id),
                yaml_scalar(&p.name),
                yaml_scalar(&p.region),
            );
            if !p.roma_instances.is_empty() {
                out.push_str("    roma:\n      instances:\n");
                for i in &p.roma_instances {
                    let _ = write!(
                        out,
                        "        - id: {}\n          app_quotas: discover\n",
                        yaml_scalar(&i.id)
                    );
                }
            }
            if !p.eventgrid.is_empty() {
                out.push_str("    eventgrid: {}\n");
            }
            if !p.gaussdb.is_empty() {
                out.push_str("    gaussdb_mysql: {}\n");
            }
        }
        out
    }
}

/// A UUID-shaped instance id for [`World::discovery`].
fn discovery_instance_id(project: u32, n: u32) -> String {
    format!("d15c0000-{project:04x}-4000-8000-{n:012x}")
}

fn eg(name: &str, kind: &str, min: i64, max: i64, quota: i64, used: i64) -> SimEventgridQuota {
    SimEventgridQuota {
        name: name.to_owned(),
        r#type: kind.to_owned(),
        max,
        min,
        quota,
        used,
    }
}

fn app_quota(id: &str, name: &str, call_limits: i64, unit: &str, interval: i64) -> SimAppQuota {
    SimAppQuota {
        app_quota_id: id.to_owned(),
        name: name.to_owned(),
        call_limits,
        time_unit: unit.to_owned(),
        time_interval: interval,
        remark: None,
        reset_time: None,
        create_time: "2024-03-01T08:00:00Z".to_owned(),
        bound_app_num: Some(1),
    }
}

/// `s` as a plain YAML scalar when that is unambiguous, else as a JSON (= YAML flow) string.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:".contains(c))
        && !s.contains(": ");
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// The drifted value of a usage figure `elapsed` after the simulator started: a slow sine
/// around `base`, whose amplitude (a third of the distance to 0 or to `limit`, whichever is
/// nearer) keeps it within `0..=limit` and keeps near-exhausted quotas near exhaustion.
/// `key` spreads the periods so that figures do not move in lockstep. Equals `base` at start.
pub(crate) fn drift(base: i64, limit: i64, key: &str, elapsed: Duration) -> i64 {
    let amplitude = base.min(limit.saturating_sub(base)) / 3;
    if amplitude <= 0 {
        return base;
    }
    let period = 600.0 + 120.0 * (fnv1a(key) % 5) as f64;
    let phase = std::f64::consts::TAU * (elapsed.as_secs_f64() % period) / period;
    let offset = (amplitude as f64 * phase.sin()).round() as i64;
    (base + offset).clamp(0, limit)
}

/// [`drift`] for the unsigned livedata figures.
pub(crate) fn drift_u64(base: u64, limit: u64, key: &str, elapsed: Duration) -> u64 {
    match (i64::try_from(base), i64::try_from(limit)) {
        (Ok(b), Ok(l)) => u64::try_from(drift(b, l, key, elapsed)).unwrap_or(base),
        _ => base,
    }
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_stays_in_bounds_and_starts_at_base() {
        for (base, limit) in [(97, 100), (85, 100), (4, 50), (0, 3), (49, 50), (120, 100)] {
            assert_eq!(drift(base, limit, "k", Duration::ZERO), base);
            for s in (0..20_000).step_by(7) {
                let v = drift(base, limit, "k", Duration::from_secs(s));
                if base <= limit {
                    assert!((0..=limit).contains(&v), "{base}/{limit} at {s}s: {v}");
                } else {
                    assert_eq!(v, base, "an over-used quota is served as is");
                }
            }
        }
        // 97 % stays above 95 %, 85 % stays at or above 80 %.
        for s in 0..2000 {
            let t = Duration::from_secs(s);
            assert!(drift(97, 100, "a", t) >= 96);
            assert!(drift(85, 100, "b", t) >= 80);
            assert!(drift(485, 500, "c", t) * 100 > 95 * 500);
        }
        let moved = (0..1000).any(|s| drift(485, 500, "c", Duration::from_secs(s)) != 485);
        assert!(moved, "demo usage must move");
    }

    #[test]
    fn demo_has_near_exhausted_quotas() {
        let world = World::demo();
        assert!(world.drift);
        let ratios: Vec<f64> = world
            .projects
            .iter()
            .flat_map(|p| {
                let roma = p.roma_instances.iter().flat_map(|i| {
                    [
                        i.livedata.api_used as f64 / i.livedata.api as f64,
                        i.livedata.datasource_used as f64 / i.livedata.datasource as f64,
                    ]
                });
                let eg = p.eventgrid.iter().map(|q| q.used as f64 / q.quota as f64);
                let db = p.gaussdb.iter().map(|q| q.used as f64 / q.quota as f64);
                roma.chain(eg).chain(db).collect::<Vec<_>>()
            })
            .collect();
        assert!(ratios.iter().all(|r| (0.0..=1.0).contains(r)));
        assert!(ratios.iter().filter(|r| (0.8..0.95).contains(*r)).count() >= 2);
        assert!(ratios.iter().filter(|r| **r > 0.95).count() >= 2);
    }

    #[test]
    fn bench_world_scales() {
        let world = World::with_roma_instances(1000);
        let instances = &world.projects[0].roma_instances;
        assert_eq!(instances.len(), 1000);
        assert!(instances.iter().all(|i| i.app_quotas.len() == 2));
        let mut ids: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn exporter_config_for_seeds() {
        let yaml = World::seeds().exporter_config_yaml("http://127.0.0.1:4321/", "30s");
        let want = "\
defaults:
  interval: 30s
credentials:
  sim:
    token: demo-token
projects:
  - id: 0123456789abcdef0123456789abcdef
    name: prod-cn-north-4
    region: cn-north-4
    credentials: sim
    endpoints: { roma: http://127.0.0.1:4321, eventgrid: http://127.0.0.1:4321, gaussdb_mysql: http://127.0.0.1:4321, iam: http://127.0.0.1:4321/v3 }
    roma:
      instances:
        - id: f0fa1789-3b76-433b-a787-9892951c620e
          app_quotas: discover
    eventgrid: {}
    gaussdb_mysql: {}
";
        assert_eq!(yaml, want);
        let demo = World::demo().exporter_config_yaml("http://127.0.0.1:1", "5s");
        assert_eq!(demo.matches("\n  - id: ").count(), 2);
        assert_eq!(demo.matches("app_quotas: discover").count(), 3);
    }

    #[test]
    fn yaml_scalars_are_quoted_when_needed() {
        assert_eq!(yaml_scalar("prod-cn-north-4"), "prod-cn-north-4");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
        assert_eq!(yaml_scalar("#x"), "\"#x\"");
        assert_eq!(yaml_scalar(""), "\"\"");
    }
}
