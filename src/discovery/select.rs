//! Pure selection: which listed projects and instances are polled (and why the others are
//! not), the configured [`Project`] of a discovered one, and what changed between two
//! target sets. No I/O, so every rule is tested without a network.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use super::decode::{IamProject, RomaInstanceInfo};
use crate::config::discovery::discovered_endpoint;
use crate::config::regions::{self, Service};
use crate::config::{Discovery, Endpoints, Project, RomaDiscovery, RomaInstance};
use crate::model::discovery::{FoundInstance, SkippedProject};

/// A listed project that passed every filter, with its region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The project as IAM listed it.
    pub project: IamProject,
    /// Its region, from its name.
    pub region: String,
}

/// Splits IAM's list into the projects to poll and the skipped ones with their reason.
/// `configured` holds the ids under `projects:`, which are polled as configured there.
pub fn select_projects(
    discovery: &Discovery,
    listed: &[IamProject],
    configured: &HashSet<&str>,
) -> (Vec<Selected>, Vec<SkippedProject>) {
    let mut selected = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = HashSet::new();
    for p in listed {
        let skip = |reason: String| SkippedProject {
            id: p.id.clone(),
            name: p.name.clone(),
            reason,
        };
        if !seen.insert(p.id.as_str()) {
            continue;
        }
        let Some(region) = regions::region_of_project(&p.name) else {
            skipped.push(skip(format!(
                "`{}` is no region (nor `{{region}}_{{name}}`)",
                p.name
            )));
            continue;
        };
        if !p.enabled {
            skipped.push(skip("disabled".into()));
            continue;
        }
        if configured.contains(p.id.as_str()) {
            skipped.push(skip(
                "configured under `projects:` (polled as configured)".into(),
            ));
            continue;
        }
        if let Some(allowed) = &discovery.regions
            && !allowed.iter().any(|r| r == region)
        {
            skipped.push(skip(format!("region {region} is not in `regions`")));
            continue;
        }
        if let Some(pattern) = discovery
            .exclude_projects
            .iter()
            .find(|x| x.matches(&p.name))
        {
            skipped.push(skip(format!(
                "name matches exclude_projects `{}`",
                pattern.as_str()
            )));
            continue;
        }
        selected.push(Selected {
            region: region.to_string(),
            project: p.clone(),
        });
    }
    (selected, skipped)
}

/// The [`Project`] a discovered project is polled as, and notes on APIs left out (not
/// offered in its region) or derived from an unverified pattern. Instances are added later.
pub fn discovered_project(discovery: &Discovery, s: &Selected) -> (Project, Vec<String>) {
    let mut notes = Vec::new();
    let t = &discovery.endpoints;
    let region = s.region.as_str();
    let mut at = |template: Option<&str>, service: Service, key: &str, wanted: bool| {
        if !wanted {
            return String::new();
        }
        match discovered_endpoint(template, service, region) {
            Some((url, false)) => url,
            Some((url, true)) => {
                notes.push(format!(
                    "{key}: region {region} is in no SDK region table, endpoint {url} from the usual pattern"
                ));
                url
            }
            None => {
                notes.push(format!("{key}: not offered in {region}"));
                String::new()
            }
        }
    };
    let roma = at(
        t.roma.as_deref(),
        Service::Roma,
        "roma",
        discovery.roma.is_some(),
    );
    let eventgrid = at(
        t.eventgrid.as_deref(),
        Service::EventGrid,
        "eventgrid",
        discovery.eventgrid.is_some(),
    );
    let gaussdb_mysql = at(
        t.gaussdb_mysql.as_deref(),
        Service::GaussDbMysql,
        "gaussdb_mysql",
        discovery.gaussdb_mysql,
    );
    let iam = match regions::endpoint(Service::Iam, region) {
        regions::Lookup::NotOffered => regions::global_iam(regions::cloud_of(region)),
        found => found,
    }
    .url()
    .map(|u| format!("{u}/v3"))
    .unwrap_or_default();
    let project = Project {
        id: s.project.id.clone(),
        name: s.project.name.clone(),
        region: s.region.clone(),
        credential: discovery.credential.clone(),
        eventgrid: discovery
            .eventgrid
            .clone()
            .filter(|_| !eventgrid.is_empty()),
        gaussdb_mysql: discovery.gaussdb_mysql && !gaussdb_mysql.is_empty(),
        roma_discovery: discovery.roma.clone().filter(|_| !roma.is_empty()),
        endpoints: Endpoints {
            roma,
            eventgrid,
            gaussdb_mysql,
            iam,
        },
        roma_instances: Vec::new(),
        http: discovery.http.clone(),
        settings: discovery.settings,
    };
    (project, notes)
}

/// Which listed instances are polled: `RUNNING` ones whose name passes
/// `include_instances`. Returns them, and every listed instance with why it is skipped.
pub fn select_instances(
    roma: &RomaDiscovery,
    listed: &[RomaInstanceInfo],
) -> (Vec<RomaInstance>, Vec<FoundInstance>) {
    let mut polled = Vec::new();
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    for i in listed {
        if !seen.insert(i.id.as_str()) {
            continue;
        }
        let skipped = if !i.running() {
            Some(if i.status.is_empty() {
                "no status".to_string()
            } else {
                format!("status {}", i.status)
            })
        } else if !roma.includes(&i.name) {
            Some("name not in include_instances".to_string())
        } else {
            None
        };
        if skipped.is_none() {
            polled.push(RomaInstance {
                id: i.id.clone(),
                app_quotas: roma.app_quotas.clone(),
                livedata: roma.livedata,
            });
        }
        found.push(FoundInstance {
            id: i.id.clone(),
            name: i.name.clone(),
            status: i.status.clone(),
            skipped,
        });
    }
    (polled, found)
}

/// A project with the instances to poll put in.
pub fn with_instances(project: &Project, instances: Vec<RomaInstance>) -> Arc<Project> {
    let mut p = project.clone();
    p.roma_instances.extend(instances);
    Arc::new(p)
}

/// Keys in `new` but not in `old` (added), and in `old` but not in `new` (removed).
pub fn difference<'a>(
    old: impl IntoIterator<Item = &'a str>,
    new: impl IntoIterator<Item = &'a str>,
) -> (Vec<&'a str>, Vec<&'a str>) {
    let old: BTreeSet<&str> = old.into_iter().collect();
    let new: BTreeSet<&str> = new.into_iter().collect();
    (
        new.difference(&old).copied().collect(),
        old.difference(&new).copied().collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ProcessEnv};

    fn discovery(extra: &str) -> Discovery {
        let yaml = format!(
            "credentials:\n  a:\n    access_key: AK\n    secret_key: SK\ndiscovery:\n  - credentials: a\n{extra}"
        );
        let c = Config::from_yaml(std::path::Path::new("t.yaml"), &yaml, &ProcessEnv)
            .unwrap_or_else(|e| panic!("valid: {e}"));
        c.discovery.into_iter().next().expect("one entry")
    }

    fn p(id: &str, name: &str, enabled: bool) -> IamProject {
        IamProject {
            id: id.into(),
            name: name.into(),
            enabled,
        }
    }

    #[test]
    fn projects_are_skipped_with_a_reason() {
        let d = discovery(
            "    regions: [cn-north-4, ap-southeast-1, eu-de]\n    exclude_projects: [\"_test$\"]\n    gaussdb_mysql: {}\n",
        );
        let listed = [
            p("1", "cn-north-4", true),
            p("2", "cn-north-4_dev", true),
            p("3", "cn-north-4_test", true),
            p("4", "MOS", true),
            p("5", "cn-east-3", false),
            p("6", "af-south-1", true),
            p("7", "ap-southeast-1", true),
            p("8", "eu-de", true),
            p("1", "cn-north-4", true),
        ];
        let configured: HashSet<&str> = ["8"].into();
        let (sel, skipped) = select_projects(&d, &listed, &configured);
        let sel: Vec<(&str, &str)> = sel
            .iter()
            .map(|s| (s.project.id.as_str(), s.region.as_str()))
            .collect();
        assert_eq!(
            sel,
            [
                ("1", "cn-north-4"),
                ("2", "cn-north-4"),
                ("7", "ap-southeast-1")
            ]
        );
        let why: Vec<(&str, &str)> = skipped
            .iter()
            .map(|s| (s.id.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            why,
            [
                ("3", "name matches exclude_projects `_test$`"),
                ("4", "`MOS` is no region (nor `{region}_{name}`)"),
                ("5", "disabled"),
                ("6", "region af-south-1 is not in `regions`"),
                ("8", "configured under `projects:` (polled as configured)"),
            ]
        );
    }

    #[test]
    fn apis_a_region_does_not_offer_are_left_out_with_a_note() {
        let d = discovery(
            "    roma: {instances: discover}\n    eventgrid: {}\n    gaussdb_mysql: {}\n",
        );
        let s = |name: &str, region: &str| Selected {
            project: p("x", name, true),
            region: region.into(),
        };
        let (eu, notes) = discovered_project(&d, &s("eu-de", "eu-de"));
        assert_eq!(
            eu.endpoints.gaussdb_mysql,
            "https://gaussdb-mysql.eu-de.otc.t-systems.com"
        );
        assert!(eu.gaussdb_mysql && eu.eventgrid.is_none() && eu.roma_discovery.is_none());
        assert_eq!(
            notes,
            [
                "roma: not offered in eu-de",
                "eventgrid: not offered in eu-de"
            ]
        );
        let (cn, notes) = discovered_project(&d, &s("cn-north-4_dev", "cn-north-4"));
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(
            cn.endpoints.roma,
            "https://roma.cn-north-4.myhuaweicloud.com"
        );
        assert_eq!(
            cn.endpoints.iam,
            "https://iam.cn-north-4.myhuaweicloud.com/v3"
        );
        assert_eq!(cn.name, "cn-north-4_dev");
        let (new, notes) = discovered_project(&d, &s("xx-new-7", "xx-new-7"));
        assert_eq!(
            new.endpoints.eventgrid,
            "https://eg.xx-new-7.myhuaweicloud.com"
        );
        assert_eq!(notes.len(), 3, "{notes:?}");
        let (eu101, _) = discovered_project(&d, &s("eu-west-101", "eu-west-101"));
        assert_eq!(
            eu101.endpoints.eventgrid,
            "https://eg.eu-west-101.myhuaweicloud.eu"
        );
        assert!(eu101.roma_discovery.is_none());
    }

    #[test]
    fn templates_replace_the_region() {
        let d = discovery(
            "    roma: {instances: discover}\n    endpoints:\n      roma: http://127.0.0.1:1/{region}\n",
        );
        let (eu, notes) = discovered_project(
            &d,
            &Selected {
                project: p("x", "eu-de", true),
                region: "eu-de".into(),
            },
        );
        assert!(notes.is_empty());
        assert_eq!(eu.endpoints.roma, "http://127.0.0.1:1/eu-de");
        assert!(eu.roma_discovery.is_some());
    }

    #[test]
    fn only_running_included_instances_are_polled() {
        let d = discovery(
            "    roma:\n      instances: discover\n      include_instances: [\"^prod-\"]\n      app_quotas: none\n",
        );
        let roma = d.roma.expect("roma");
        let i = |id: &str, name: &str, status: &str| RomaInstanceInfo {
            id: id.into(),
            name: name.into(),
            status: status.into(),
        };
        let listed = [
            i("1", "prod-a", "RUNNING"),
            i("2", "prod-b", "CREATING"),
            i("3", "test-c", "RUNNING"),
            i("4", "prod-d", ""),
            i("1", "prod-a", "RUNNING"),
        ];
        let (polled, found) = select_instances(&roma, &listed);
        assert_eq!(polled.len(), 1);
        assert_eq!(polled[0].id, "1");
        assert_eq!(polled[0].app_quotas, crate::config::AppQuotaSelection::None);
        let why: Vec<Option<&str>> = found.iter().map(|f| f.skipped.as_deref()).collect();
        assert_eq!(
            why,
            [
                None,
                Some("status CREATING"),
                Some("name not in include_instances"),
                Some("no status")
            ]
        );
    }

    #[test]
    fn differences_both_ways() {
        let (added, removed) = difference(["a", "b", "c"], ["b", "c", "d", "e"]);
        assert_eq!(added, ["d", "e"]);
        assert_eq!(removed, ["a"]);
        let (added, removed) = difference(["a"], ["a"]);
        assert!(added.is_empty() && removed.is_empty());
    }
}
