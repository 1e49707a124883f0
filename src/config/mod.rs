//! The YAML configuration: the resolved types the rest of the exporter uses, and loading.
//!
//! Loading happens in two steps: [`FileConfig`] is the file as written (every key known,
//! spans kept; `file.rs`), and [`Config`] is the validated, resolved result (defaults
//! applied, secrets read, credentials attached to projects; `validate.rs`). Every error
//! names the file, the line, the column and what was expected (`crate::diag`).
//!
//! The other rooms: `units.rs` (durations and sizes), `secrets.rs` (the [`Secret`] type,
//! `${VAR}` and `*_file` secrets), `endpoints.rs` (URL checks, the IAM endpoint of a region), `regions.rs` (the SDK
//! region tables), `discovery.rs` (the `discovery:` section's validation).

pub mod discovery;
mod endpoints;
mod file;
mod http;
pub mod regions;
mod resolved;
mod secrets;
mod units;
mod validate;

use std::path::Path;

pub use self::endpoints::{UrlError, check_url};
pub use self::file::{
    AppQuotaSelection, FileConfig, FileCredential, FileDefaults, FileDiscovery, FileDiscoveryRoma,
    FileEndpointTemplates, FileEndpoints, FileEventgrid, FileGaussdb, FileHttp, FileProject,
    FileRoma, FileRomaInstance, FileRomaInstances, FileSettings, FileTls,
};
pub use self::http::{
    ClientCert, HttpSettings, PemFile, ProxyUrl, REDACTED, TlsSettings, redact_credentials_in,
    redact_url_credentials,
};
pub use self::resolved::*;
pub use self::secrets::{ExpandError, ProcessEnv, Secret, SecretFileError, SecretSource};
pub use self::units::{ByteSize, ConfigDuration, SizeError};
pub use crate::diag::{ConfigError, ConfigIssue};

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::whole_file(
                path,
                format!(
                    "cannot read the config file: {e} (pass another with --config.file, or try --demo)"
                ),
            )
        })?;
        Config::from_yaml(path, &text, &ProcessEnv)
    }

    /// Parses and validates config text; `path` is used in messages and to resolve
    /// relative `*_file` paths.
    pub fn from_yaml(
        path: &Path,
        text: &str,
        secrets: &dyn SecretSource,
    ) -> Result<Config, ConfigError> {
        let file: FileConfig = crate::diag::parse_yaml(path, text)?;
        validate::Validator::new(path, secrets).validate(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Secrets for tests: a fixed environment and in-memory files.
    struct FakeEnv;
    impl SecretSource for FakeEnv {
        fn env(&self, name: &str) -> Option<String> {
            match name {
                "HWC_TOKEN" | "HWC_AK" | "OTC_PASSWORD" => Some("env-token-SECRET".into()),
                "EMPTY" => Some(String::new()),
                _ => None,
            }
        }
        fn read_file(&self, path: &Path) -> std::io::Result<String> {
            match path.to_str() {
                Some("/run/secrets/hwc_token") | Some("/run/secrets/hwc_sk") => {
                    Ok("file-token-SECRET\n".into())
                }
                Some("/run/secrets/empty") => Ok("\n".into()),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "No such file or directory",
                )),
            }
        }
    }

    fn load(yaml: &str) -> Result<Config, ConfigError> {
        Config::from_yaml(Path::new("test.yaml"), yaml, &FakeEnv)
    }

    const GOOD: &str = "\
defaults:
  interval: 1m
credentials:
  t:
    token: ${HWC_TOKEN}
projects:
  - id: 0123456789abcdef0123456789abcdef
    region: cn-north-4
    credentials: t
    roma:
      instances:
        - id: inst-1
    eventgrid: {}
    gaussdb_mysql: {}
";

    #[test]
    fn good_config_resolves_defaults_endpoints_and_secrets() {
        let c = load(GOOD).expect("valid");
        assert_eq!(c.concurrency, DEFAULT_CONCURRENCY);
        let p = &c.projects[0];
        assert_eq!(p.settings.interval, Duration::from_secs(60));
        assert_eq!(p.settings.timeout, DEFAULT_TIMEOUT);
        assert_eq!(
            p.endpoints.roma,
            "https://roma.cn-north-4.myhuaweicloud.com"
        );
        assert_eq!(
            p.endpoints.eventgrid,
            "https://eg.cn-north-4.myhuaweicloud.com"
        );
        assert_eq!(
            p.endpoints.gaussdb_mysql,
            "https://gaussdb.cn-north-4.myhuaweicloud.com"
        );
        assert_eq!(p.roma_instances[0].app_quotas, AppQuotaSelection::Discover);
        assert_eq!(
            p.credential.credential,
            Credential::Token {
                token: Secret::new("env-token-SECRET")
            }
        );
        // Debug output of the whole config never shows the secret.
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    #[test]
    fn sizes_and_retries() {
        let c = load(&GOOD.replace(
            "  interval: 1m",
            "  interval: 1m\n  retries: 0\n  max_response_size: 512KiB",
        ))
        .expect("valid");
        assert_eq!(c.retries, 0);
        assert_eq!(c.max_response_bytes, 512 * 1024);
        assert_eq!(ByteSize::parse("8MiB"), Ok(8 << 20));
        assert_eq!(ByteSize::parse("4MB"), Ok(4_000_000));
        assert_eq!(ByteSize::parse("1234"), Ok(1234));
        assert!(ByteSize::parse("MiB").is_err());
        let d = load(GOOD).expect("valid");
        assert_eq!(
            (d.retries, d.max_response_bytes),
            (DEFAULT_RETRIES, DEFAULT_MAX_RESPONSE_BYTES)
        );
    }

    #[test]
    fn unset_staleness_follows_a_long_interval() {
        let c = load(&GOOD.replace("interval: 1m", "interval: 1h")).expect("valid");
        assert_eq!(
            c.projects[0].settings.max_staleness,
            Duration::from_secs(3 * 3600)
        );
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../../config/huaweicloud-quota-exporter.yaml");
        let c = load(text).expect("example config must load");
        assert_eq!(c.projects.len(), 2);
        assert_eq!(c.discovery.len(), 1);
        assert_eq!(
            c.discovery[0].iam_endpoint,
            "https://iam.myhuaweicloud.com/v3"
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(
            c.projects[1].endpoints.gaussdb_mysql,
            "https://gaussdb-mysql.eu-de.otc.t-systems.com"
        );
        assert_eq!(c.projects[1].settings.interval, Duration::from_secs(600));
        assert_eq!(
            c.projects[0].roma_instances[1].app_quotas,
            AppQuotaSelection::Ids(vec!["c900c5612dbe451bb43cbcc49cfaf2f3".into()])
        );
        assert_eq!(
            c.projects[0].roma_instances[2].app_quotas,
            AppQuotaSelection::None
        );
    }

    #[test]
    fn project_settings_override_defaults_and_http_urls_are_allowed() {
        let yaml = GOOD.replace(
            "    region: cn-north-4\n",
            "    region: cn-north-4\n    timeout: 3s\n    endpoints:\n      roma: http://127.0.0.1:8080/\n",
        );
        let c = load(&yaml).expect("valid");
        assert_eq!(c.projects[0].settings.timeout, Duration::from_secs(3));
        assert_eq!(c.projects[0].endpoints.roma, "http://127.0.0.1:8080");
    }

    #[test]
    fn aksk_and_iam_credentials_parse() {
        let yaml = "\
credentials:
  a:
    access_key: AKEXAMPLE
    secret_key_file: /run/secrets/hwc_token
  i:
    iam_endpoint: https://iam.eu-de.otc.t-systems.com/v3
    domain: OTC-EU-DE-1
    username: monitoring
    password: ${HWC_TOKEN}
projects:
  - id: p1
    region: eu-de
    credentials: a
    gaussdb_mysql: {}
  - id: p2
    region: eu-de
    credentials: i
    gaussdb_mysql: {}
";
        let c = load(yaml).expect("valid");
        assert_eq!(c.projects[0].credential.credential.kind(), "aksk");
        assert_eq!(c.projects[1].credential.credential.kind(), "iam_password");
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    /// Broken configs: (yaml, expected line, expected message fragment).
    #[test]
    fn broken_configs_name_line_and_reason() {
        let cases: Vec<(String, u64, &str)> = vec![
            (GOOD.replace("defaults:", "defaultz:"), 1, "unknown field `defaultz`"),
            (GOOD.replace("    region:", "    regoin:"), 8, "unknown field `regoin`"),
            (GOOD.replace("interval: 1m", "interval: 5x"), 2, "invalid duration `5x`"),
            (GOOD.replace("interval: 1m", "interval: 300"), 2, "has no unit"),
            (format!("{GOOD}  - id: 0123456789abcdef0123456789abcdef\n    region: x\n    credentials: t\n    gaussdb_mysql: {{}}\n"), 15, "duplicate project id"),
            (GOOD.replace("        - id: inst-1\n", "        - id: inst-1\n        - id: inst-1\n"), 13, "duplicate instance id `inst-1`"),
            (GOOD.replace("    credentials: t", "    credentials: nope"), 9, "unknown credentials `nope`: expected one of t"),
            (GOOD.replace("    region: cn-north-4\n", "    region: cn-north-4\n    endpoints:\n      roma: ftp://x\n"), 10, "invalid URL for endpoints.roma"),
            (GOOD.replace("    region: cn-north-4\n", "    region: cn-north-4\n    endpoints:\n      eventgrid: not a url\n"), 10, "is not a URL"),
            (GOOD.replace("        - id: inst-1\n", "        - id: inst-1\n          app_quotas: sometimes\n"), 13, "expected `discover`, `none`, or a list"),
            (GOOD.replace("    token: ${HWC_TOKEN}", "    token: x\n    access_key: y"), 5, "is ambiguous"),
            (GOOD.replace("    token: ${HWC_TOKEN}", "    access_key: y"), 5, "is missing `secret_key`"),
            (GOOD.replace("${HWC_TOKEN}", "${NOT_SET}"), 5, "environment variable NOT_SET"),
            (GOOD.replace("    token: ${HWC_TOKEN}", "    token_file: /run/secrets/missing"), 5, "cannot read `token_file`"),
            (GOOD.replace("    token: ${HWC_TOKEN}", "    token_file: /run/secrets/empty"), 5, "is empty"),
            (GOOD.replace("    roma:\n      instances:\n        - id: inst-1\n    eventgrid: {}\n    gaussdb_mysql: {}\n", ""), 7, "polls nothing"),
            (GOOD.replace("    region: cn-north-4\n", ""), 7, "set `region` or `endpoints.roma`"),
            (GOOD.replace("  interval: 1m", "  interval: 1m\n  concurrency: 0"), 3, "concurrency must be at least 1"),
            (GOOD.replace("  interval: 1m", "  interval: 1m\n  rate_limit: -2"), 3, "rate_limit must be a positive number"),
            (GOOD.replace("  interval: 1m", "  interval: 1h\n  max_staleness: 5m"), 8, "max_staleness (5m) is shorter than interval (1h)"),
            ("projects: []\n".to_string(), 1, "`projects` is empty"),
            (GOOD.replace("  interval: 1m", "  interval: 1m\n  retries: 11"), 3, "retries must be between 0 and 10"),
            (GOOD.replace("  interval: 1m", "  interval: 1m\n  max_response_size: 8 parsecs"), 3, "invalid size unit"),
            (GOOD.replace("credentials:\n  t:", "credentials:\n t:\n   x"), 5, "expected"),
            (GOOD.replace("        - id: inst-1", "        - id: inst/1"), 12, "invalid instance id"),
            (GOOD.replace("    eventgrid: {}", "    eventgrid:\n      types: [CHANNEL, \"bad type\"]"), 14, "invalid EventGrid quota type"),
        ];
        assert!(cases.len() >= 10);
        for (yaml, line, fragment) in cases {
            let err = load(&yaml).expect_err(&format!("must fail:\n{yaml}"));
            let text = err.to_string();
            assert!(text.starts_with("test.yaml:"), "{text}");
            assert!(
                text.contains(fragment),
                "expected `{fragment}` in:\n{text}\nfor:\n{yaml}"
            );
            assert_eq!(err.issues[0].line, line, "line of:\n{text}\nfor:\n{yaml}");
            assert!(err.issues[0].column > 0, "column of:\n{text}");
            assert!(!text.contains("SECRET"), "secret leaked:\n{text}");
        }
    }

    #[test]
    fn temporary_credential_kinds_resolve_and_name_their_errors() {
        let with = |body: &str| GOOD.replace("    token: ${HWC_TOKEN}", body);
        let c = load(&with("    ecs_metadata: {}")).expect("ecs");
        assert_eq!(
            c.projects[0].credential.credential,
            Credential::EcsMetadata {
                endpoint: "http://169.254.169.254".into()
            }
        );
        let c = load(&with(
            "    oidc:\n      provider_urn: iam::1:identityProvider:cce\n      agency_urn: iam::1:agency:q\n      id_token_file: /t",
        ))
        .expect("oidc");
        assert!(matches!(
            &c.projects[0].credential.credential,
            Credential::Oidc { sts_endpoint, duration, .. }
                if sts_endpoint == "https://sts.cn-north-4.myhuaweicloud.com"
                    && *duration == Duration::from_secs(3600)
        ));
        let c = load(&with(
            "    pod_identity:\n      uri: http://127.0.0.1:1/v1/credentials\n      token_file: /t",
        ))
        .expect("pod");
        assert_eq!(c.projects[0].credential.credential.kind(), "pod_identity");
        let c = load(&with(
            "    access_key_file: /run/secrets/hwc_sk\n    secret_key_file: /run/secrets/hwc_sk",
        ))
        .expect("ak file");
        assert_eq!(
            c.projects[0].credential.files.access_key.as_deref(),
            Some(Path::new("/run/secrets/hwc_sk"))
        );
        let cases: Vec<(String, u64, &str)> = vec![
            (
                with("    ecs_metadata:\n      endpoint: ftp://x"),
                6,
                "invalid URL for ecs_metadata.endpoint",
            ),
            (
                with("    ecs_metadata:\n      endpiont: http://x"),
                6,
                "unknown field `endpiont`",
            ),
            (
                with("    pod_identity: {}"),
                5,
                "HC_CONTAINER_CREDENTIALS_FULL_URI",
            ),
            (
                with("    oidc:\n      agency_urn: iam::1:agency:q\n      id_token_file: /t"),
                6,
                "missing `oidc.provider_urn`",
            ),
            (
                with(
                    "    oidc:\n      provider_urn: cce\n      agency_urn: iam::1:agency:q\n      id_token_file: /t",
                ),
                6,
                "is not a URN",
            ),
            (
                with(
                    "    oidc:\n      provider_urn: iam::1:identityProvider:c\n      agency_urn: iam::1:agency:q\n      id_token_file: /t\n      duration: 1m",
                ),
                9,
                "15m to 12h",
            ),
            (
                with("    ecs_metadata: {}\n    access_key: y"),
                5,
                "is ambiguous",
            ),
        ];
        for (yaml, line, fragment) in cases {
            let err = load(&yaml).expect_err(&format!("must fail:\n{yaml}"));
            let text = err.to_string();
            assert!(text.contains(fragment), "expected `{fragment}` in:\n{text}");
            assert_eq!(err.issues[0].line, line, "line of:\n{text}");
        }
    }

    #[test]
    fn several_errors_are_reported_together() {
        let yaml = GOOD
            .replace("    credentials: t", "    credentials: nope")
            .replace(
                "        - id: inst-1\n",
                "        - id: inst-1\n        - id: inst-1\n",
            );
        let err = load(&yaml).expect_err("two problems");
        assert_eq!(err.issues.len(), 2, "{err}");
    }
}
