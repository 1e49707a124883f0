//! The `discovery:` section resolved: which credential lists its projects and instances,
//! how often, which of them to poll and where; plus `roma: {instances: discover}` in a
//! configured project. The schema is in `file.rs`; the discovery itself is
//! `crate::discovery`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::endpoints::check_url;
use super::file::{AppQuotaSelection, FileDiscovery, FileEventgrid};
use super::regions::{self, Cloud, Lookup};
use super::resolved::EndpointTemplates;
use super::resolved::{
    Credential, Discovery, NamePattern, NamedCredential, PollSettings, RomaDiscovery,
};
use crate::diag::{Diagnostics, Pos, at};

/// Default `refresh_interval`.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(3600);
/// Shortest `refresh_interval` allowed: IAM is a shared, rate-limited service.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// Where a service is for a discovered project in `region`: the URL and whether it is an
/// unverified pattern (warn); `None` where the region does not offer it.
pub fn discovered_endpoint(
    template: Option<&str>,
    service: regions::Service,
    region: &str,
) -> Option<(String, bool)> {
    match template {
        // An override is the user's word: it serves the region whatever the tables say.
        Some(t) => Some((t.replace("{region}", region), false)),
        None => match regions::endpoint(service, region) {
            Lookup::Known(u) => Some((u.to_string(), false)),
            Lookup::Pattern(u) => Some((u, true)),
            Lookup::NotOffered => None,
        },
    }
}

/// Compiles a list of regexes, reporting each bad one.
pub(crate) fn patterns(
    key: &str,
    list: &[Spanned<String>],
    diag: &mut Diagnostics,
) -> Vec<NamePattern> {
    list.iter()
        .filter_map(|p| match NamePattern::new(&p.value) {
            Ok(r) => Some(r),
            Err(e) => {
                let e = e.lines().last().unwrap_or_default().trim().to_string();
                diag.issue(at(p), format!("invalid regex `{}` in {key}: {e}", p.value));
                None
            }
        })
        .collect()
}

/// Client quota selection of discovered instances: a list of ids makes no sense there.
pub(crate) fn discovered_app_quotas(
    selection: &AppQuotaSelection,
    pos: Pos,
    diag: &mut Diagnostics,
) -> AppQuotaSelection {
    if let AppQuotaSelection::Ids(_) = selection {
        diag.issue(pos,
            "app_quotas of discovered instances must be `discover` or `none`: ids belong to one instance, list it under `instances:`",
        );
    }
    selection.clone()
}

/// The EventGrid type filter, upper-case; bad names are reported.
pub(crate) fn eventgrid_types(eg: &FileEventgrid, diag: &mut Diagnostics) -> Vec<String> {
    eg.types
        .iter()
        .filter_map(|t| {
            let v = t.value.trim().to_ascii_uppercase();
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                diag.issue(at(t),
                    format!(
                        "invalid EventGrid quota type `{}`: expected a name such as CHANNEL or SOURCE",
                        t.value
                    ),
                );
                None
            } else {
                Some(v)
            }
        })
        .collect()
}

/// Validates every `discovery:` entry against the resolved `credentials`.
pub(crate) fn validate(
    entries: &[FileDiscovery],
    credentials: &HashMap<String, Arc<NamedCredential>>,
    written: &[&str],
    defaults: PollSettings,
    diag: &mut Diagnostics,
) -> Vec<Discovery> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for e in entries {
        let name = e.credentials.value.trim();
        if !seen.insert(name.to_string()) {
            diag.issue(
                at(&e.credentials),
                format!("credentials `{name}` has two discovery entries: keep one per credential"),
            );
            continue;
        }
        let credential = credentials.get(name).cloned();
        if credential.is_none() && !written.contains(&name) {
            diag.issue(at(&e.credentials),
                if written.is_empty() {
                    format!(
                        "unknown credentials `{name}`: there is no `credentials:` section; define it there"
                    )
                } else {
                    format!(
                        "unknown credentials `{name}`: expected one of {}",
                        written.join(", ")
                    )
                },
            );
        }
        if let Some(entry) = entry(e, credential, defaults, diag) {
            out.push(entry);
        }
    }
    out
}

fn entry(
    e: &FileDiscovery,
    credential: Option<Arc<NamedCredential>>,
    defaults: PollSettings,
    diag: &mut Diagnostics,
) -> Option<Discovery> {
    let start = diag.issues.len();
    let refresh_interval = refresh_interval(e, diag);
    let regions = allowed_regions(e, diag);
    let exclude_projects = patterns("exclude_projects", &e.exclude_projects, diag);
    let roma = roma(e, diag);
    let eventgrid = e.eventgrid.as_ref().map(|eg| eventgrid_types(eg, diag));
    if e.roma.is_none() && e.eventgrid.is_none() && e.gaussdb_mysql.is_none() {
        diag.issue(at(&e.credentials),
            "this discovery entry polls nothing: add `roma: {instances: discover}`, `eventgrid: {}` and/or `gaussdb_mysql: {}`",
        );
    }
    let endpoints = endpoint_templates(e, diag);
    let iam_endpoint = iam_endpoint(e, diag);
    let domain_id = domain_id(e, diag);
    let credential = credential?;
    if diag.issues.len() > start {
        return None;
    }
    let iam_endpoint = iam_endpoint.unwrap_or_else(|| default_iam(&credential, regions.as_deref()));
    if let Some(r) = &regions
        && r.iter()
            .any(|r| regions::cloud_of(r) == Cloud::OpenTelekomCloudSwiss)
        && e.iam_endpoint.is_none()
    {
        let (line, column) = at(&e.credentials);
        diag.note(format!(
            "{}:{line}:{column}: the global IAM of eu-ch2 is unverified; set iam_endpoint if {iam_endpoint} is wrong",
            diag.file().display()
        ));
    }
    Some(Discovery {
        credential,
        iam_endpoint,
        domain_id,
        refresh_interval,
        regions,
        exclude_projects,
        roma,
        eventgrid,
        gaussdb_mysql: e.gaussdb_mysql.is_some(),
        endpoints,
        settings: defaults,
        http: Default::default(),
    })
}

/// `refresh_interval`, at least a second.
fn refresh_interval(e: &FileDiscovery, diag: &mut Diagnostics) -> Duration {
    match &e.refresh_interval {
        Some(r) if r.value.0 < MIN_REFRESH_INTERVAL => {
            diag.issue(at(r), "refresh_interval must be at least 1s");
            DEFAULT_REFRESH_INTERVAL
        }
        Some(r) => r.value.0,
        None => DEFAULT_REFRESH_INTERVAL,
    }
}

/// `regions`: every entry a region id.
fn allowed_regions(e: &FileDiscovery, diag: &mut Diagnostics) -> Option<Vec<String>> {
    e.regions.as_ref().map(|list| {
        list.iter()
            .filter_map(|r| {
                let v = r.value.trim().to_string();
                if regions::is_region(&v) {
                    Some(v)
                } else {
                    diag.issue(
                        at(r),
                        format!("`{v}` is no region id: expected one such as cn-north-4 or eu-de"),
                    );
                    None
                }
            })
            .collect::<Vec<_>>()
    })
}

/// `roma`: instances discovered, filters, what to poll of each.
fn roma(e: &FileDiscovery, diag: &mut Diagnostics) -> Option<RomaDiscovery> {
    let roma = e.roma.as_ref().map(|r| {
        if r.instances.value.trim() != "discover" {
            diag.issue(at(&r.instances),
                format!(
                    "roma.instances of a discovery entry must be `discover` (got `{}`): list fixed instances under a project in `projects:`",
                    r.instances.value
                ),
            );
        }
        RomaDiscovery {
            include_instances: patterns("include_instances", &r.include_instances, diag),
            app_quotas: discovered_app_quotas(&r.app_quotas, at(&r.instances), diag),
            livedata: r.livedata,
        }
    });
    if roma
        .as_ref()
        .is_some_and(|r| !r.livedata && r.app_quotas == AppQuotaSelection::None)
    {
        diag.issue(at(&e.credentials),
            "roma with `livedata: false` and `app_quotas: none` polls nothing: remove `roma` or enable one",
        );
    }
    roma
}

/// `endpoints`: URL templates with `{region}`.
fn endpoint_templates(e: &FileDiscovery, diag: &mut Diagnostics) -> EndpointTemplates {
    let mut template = |t: &Option<Spanned<String>>, key: &str| -> Option<String> {
        let t = t.as_ref()?;
        // Checked with a sample region in place of the placeholder.
        match check_url(&t.value.replace("{region}", "cn-north-4")) {
            Ok(_) => Some(t.value.trim().trim_end_matches('/').to_string()),
            Err(why) => {
                diag.issue(at(t), format!("invalid URL for endpoints.{key}: {why}"));
                None
            }
        }
    };
    EndpointTemplates {
        roma: template(&e.endpoints.roma, "roma"),
        eventgrid: template(&e.endpoints.eventgrid, "eventgrid"),
        gaussdb_mysql: template(&e.endpoints.gaussdb_mysql, "gaussdb_mysql"),
    }
}

/// `iam_endpoint`, when given.
fn iam_endpoint(e: &FileDiscovery, diag: &mut Diagnostics) -> Option<String> {
    let s = e.iam_endpoint.as_ref()?;
    match check_url(&s.value) {
        Ok(u) => Some(u),
        Err(why) => {
            diag.issue(at(s), format!("invalid URL for iam_endpoint: {why}"));
            None
        }
    }
}

/// `domain_id`, when given: the account id.
fn domain_id(e: &FileDiscovery, diag: &mut Diagnostics) -> Option<String> {
    let s = e.domain_id.as_ref()?;
    let d = s.value.trim().to_string();
    if d.is_empty() || !d.chars().all(|c| c.is_ascii_alphanumeric()) {
        diag.issue(
            at(s),
            format!("invalid domain_id `{d}`: expected the account id (hex)"),
        );
    }
    Some(d)
}

/// The IAM that lists the projects when none is given: an IAM password credential's own,
/// else the global IAM of the cloud of the allowed regions (Huawei Cloud by default).
fn default_iam(credential: &NamedCredential, allowed: Option<&[String]>) -> String {
    if let Credential::IamPassword { iam_endpoint, .. } = &credential.credential {
        return iam_endpoint.clone();
    }
    let cloud = allowed
        .and_then(|r| r.first())
        .map_or(Cloud::HuaweiCloud, |r| regions::cloud_of(r));
    let origin = regions::global_iam(cloud);
    format!(
        "{}/v3",
        origin.url().unwrap_or("https://iam.myhuaweicloud.com")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_override_the_tables() {
        let l = discovered_endpoint(Some("http://x/{region}"), regions::Service::Roma, "eu-de");
        assert_eq!(l, Some(("http://x/eu-de".into(), false)));
        assert_eq!(
            discovered_endpoint(None, regions::Service::Roma, "eu-de"),
            None
        );
        assert_eq!(
            discovered_endpoint(None, regions::Service::GaussDbMysql, "cn-east-5"),
            Some((
                "https://gaussdb-mysql.cn-east-5.myhuaweicloud.com".into(),
                false
            ))
        );
        assert_eq!(
            discovered_endpoint(None, regions::Service::Roma, "xx-new-9"),
            Some(("https://roma.xx-new-9.myhuaweicloud.com".into(), true))
        );
    }

    #[test]
    fn name_patterns_compare_by_text() {
        let a = NamePattern::new("^prod-").expect("valid");
        assert!(a.matches("prod-1") && !a.matches("test-prod-1"));
        assert_eq!(a, NamePattern::new("^prod-").expect("valid"));
        assert!(NamePattern::new("(").is_err());
    }

    fn load(yaml: &str) -> Result<crate::config::Config, crate::config::ConfigError> {
        crate::config::Config::from_yaml(
            std::path::Path::new("t.yaml"),
            yaml,
            &crate::config::ProcessEnv,
        )
    }

    const BASE: &str = "credentials:\n  a:\n    access_key: AK\n    secret_key: SK\ndiscovery:\n  - credentials: a\n";

    #[test]
    fn discovery_alone_is_a_config_and_defaults_apply() {
        let c = load(&format!("{BASE}    roma: {{instances: discover}}\n")).expect("valid");
        assert!(c.projects.is_empty());
        let d = &c.discovery[0];
        assert_eq!(d.refresh_interval, DEFAULT_REFRESH_INTERVAL);
        assert_eq!(d.iam_endpoint, "https://iam.myhuaweicloud.com/v3");
        let roma = d.roma.as_ref().expect("roma");
        assert_eq!(roma.app_quotas, AppQuotaSelection::Discover);
        assert!(roma.livedata && roma.includes("anything"));
        // Only OTC regions: OTC's global IAM.
        let c = load(&format!(
            "{BASE}    regions: [eu-de]\n    gaussdb_mysql: {{}}\n"
        ))
        .expect("valid");
        assert_eq!(
            c.discovery[0].iam_endpoint,
            "https://iam.eu-de.otc.t-systems.com/v3"
        );
    }

    #[test]
    fn broken_discovery_entries_name_line_and_reason() {
        let cases = [
            ("    credentail: b\n", "unknown field `credentail`"),
            (
                "    refresh_interval: 500ms\n    gaussdb_mysql: {}\n",
                "refresh_interval must be at least 1s",
            ),
            (
                "    regions: [MOS]\n    gaussdb_mysql: {}\n",
                "`MOS` is no region id",
            ),
            (
                "    exclude_projects: [\"(\"]\n    gaussdb_mysql: {}\n",
                "invalid regex `(` in exclude_projects",
            ),
            ("    roma: {instances: all}\n", "must be `discover`"),
            (
                "    roma: {instances: discover, app_quotas: [x]}\n",
                "must be `discover` or `none`",
            ),
            (
                "    iam_endpoint: ftp://x\n    gaussdb_mysql: {}\n",
                "invalid URL for iam_endpoint",
            ),
            (
                "    endpoints: {roma: \"not a url/{region}\"}\n    roma: {instances: discover}\n",
                "invalid URL for endpoints.roma",
            ),
            ("    refresh_interval: 1h\n", "polls nothing"),
            (
                "    gaussdb_mysql: {}\n  - credentials: a\n    gaussdb_mysql: {}\n",
                "two discovery entries",
            ),
        ];
        for (extra, fragment) in cases {
            let yaml = format!("{BASE}{extra}");
            let err = load(&yaml).expect_err(&yaml).to_string();
            assert!(
                err.contains(fragment),
                "expected `{fragment}` in\n{err}\nfor\n{yaml}"
            );
            assert!(err.starts_with("t.yaml:"), "{err}");
        }
        let err = load("credentials:\n  a:\n    token: x\ndiscovery:\n  - credentials: nope\n    gaussdb_mysql: {}\n")
            .expect_err("unknown credential")
            .to_string();
        assert!(
            err.contains("unknown credentials `nope`: expected one of a"),
            "{err}"
        );
    }

    #[test]
    fn configured_projects_may_discover_their_instances_and_get_warnings() {
        let yaml = "credentials:\n  a:\n    token: x\nprojects:\n  - id: p1\n    region: eu-de\n    credentials: a\n    roma: {instances: discover, include_instances: [\"^prod\"]}\n    eventgrid: {}\n    gaussdb_mysql: {}\n";
        let c = load(yaml).expect("valid");
        let p = &c.projects[0];
        assert!(
            p.roma_discovery
                .as_ref()
                .is_some_and(|r| r.includes("prod-1") && !r.includes("test"))
        );
        // OTC offers neither ROMA Connect nor EventGrid: warned, not polled; GaussDB is.
        assert_eq!(p.endpoints.eventgrid, "");
        assert_eq!(
            p.endpoints.gaussdb_mysql,
            "https://gaussdb-mysql.eu-de.otc.t-systems.com"
        );
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(
            c.warnings[0]
                .starts_with("t.yaml:5:9: project `p1`: roma is not offered in region `eu-de`"),
            "{:?}",
            c.warnings
        );
        // A region in no table: the pattern, with a warning.
        let c = load(&yaml.replace("eu-de", "xx-new-3").replace(
            "    roma: {instances: discover, include_instances: [\"^prod\"]}\n",
            "",
        ))
        .expect("valid");
        assert_eq!(
            c.projects[0].endpoints.eventgrid,
            "https://eg.xx-new-3.myhuaweicloud.com"
        );
        assert!(
            c.warnings
                .iter()
                .all(|w| w.contains("in no SDK region table")),
            "{:?}",
            c.warnings
        );
        // include_instances beside a list is an error.
        let err = load(&yaml.replace("{instances: discover,", "{instances: [{id: i1}],"))
            .expect_err("list");
        assert!(
            err.to_string()
                .contains("include_instances needs `instances: discover`"),
            "{err}"
        );
    }
}
