//! The validator: turns the file as written ([`FileConfig`]) into the resolved
//! [`Config`], one method per section and per credential kind. It records every problem
//! (with its position) instead of stopping at the first, so a broken file is fixed in one
//! round.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_saphyr::Spanned;

mod credential;
mod http;

use super::discovery;
use super::endpoints::{self, check_url};
use super::file::AppQuotaSelection;
use super::file::{
    FileConfig, FileCredential, FileDefaults, FileProject, FileRoma, FileRomaInstances,
};
use super::http::HttpSettings;
use super::regions;
use super::resolved::RomaDiscovery;
use super::resolved::{
    Config, DEFAULT_CONCURRENCY, DEFAULT_INTERVAL, DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_STALENESS, DEFAULT_RATE_LIMIT, DEFAULT_RETRIES, DEFAULT_TIMEOUT, Endpoints,
    NamedCredential, PollSettings, Project, RomaInstance,
};
use super::secrets::SecretSource;
use crate::diag::{ConfigError, Diagnostics, Pos, at};

/// Checks one config file and resolves it.
pub(super) struct Validator<'a> {
    /// Where `${VAR}` and `*_file` secrets are read.
    secrets: &'a dyn SecretSource,
    /// The problems found so far.
    diag: Diagnostics,
}

/// The process-wide limits under `defaults:`.
struct Limits {
    concurrency: u32,
    rate_limit: f64,
    retries: u32,
    max_response_bytes: usize,
}

/// Ids seen so far, with the line they were first listed at.
#[derive(Default)]
struct Seen {
    projects: HashMap<String, u64>,
    /// Keyed by (project id, instance id).
    instances: HashMap<(String, String), u64>,
}

/// Resolved credentials by name; a credential that failed validation is absent.
type Credentials = HashMap<String, Arc<NamedCredential>>;

impl<'a> Validator<'a> {
    /// A validator for the file at `path` (named in messages; relative `*_file` paths
    /// start at its directory).
    pub(super) fn new(path: &std::path::Path, secrets: &'a dyn SecretSource) -> Self {
        Validator {
            secrets,
            diag: Diagnostics::new(path),
        }
    }

    /// Validates the whole file: the resolved config, or every problem found.
    pub(super) fn validate(mut self, file: FileConfig) -> Result<Config, ConfigError> {
        let limits = self.limits(&file.defaults);
        let http = self.http(file.defaults.http.as_ref(), &Arc::default());
        let credentials = self.credentials(&file.credentials);
        let projects = self.projects(&file, &credentials, &http);
        let written: Vec<&str> = file.credentials.keys().map(String::as_str).collect();
        let mut discovery = discovery::validate(
            &file.discovery,
            &credentials,
            &written,
            defaults(&file.defaults),
            &mut self.diag,
        );
        for d in &mut discovery {
            d.http = http.clone();
        }
        let source = self.diag.file().to_path_buf();
        let warnings = self.diag.finish()?;
        Ok(Config {
            source,
            concurrency: limits.concurrency,
            rate_limit: limits.rate_limit,
            retries: limits.retries,
            max_response_bytes: limits.max_response_bytes,
            projects,
            discovery,
            warnings,
            http,
        })
    }

    /// The process-wide limits of the `defaults:` section.
    fn limits(&mut self, d: &FileDefaults) -> Limits {
        let concurrency = match &d.concurrency {
            Some(c) if c.value == 0 => {
                self.diag.issue(at(c), "concurrency must be at least 1");
                1
            }
            Some(c) => c.value,
            None => DEFAULT_CONCURRENCY,
        };
        let rate_limit = match &d.rate_limit {
            Some(r) if !(r.value.is_finite() && r.value > 0.0) => {
                self.diag.issue(
                    at(r),
                    "rate_limit must be a positive number of requests per second, such as 5 or 0.5",
                );
                DEFAULT_RATE_LIMIT
            }
            Some(r) => r.value,
            None => DEFAULT_RATE_LIMIT,
        };
        let retries = match &d.retries {
            Some(r) if r.value > 10 => {
                self.diag.issue(at(r), "retries must be between 0 and 10");
                DEFAULT_RETRIES
            }
            Some(r) => r.value,
            None => DEFAULT_RETRIES,
        };
        let max_response_bytes = match &d.max_response_size {
            Some(m) if m.value.0 < 1024 => {
                self.diag
                    .issue(at(m), "max_response_size must be at least 1KiB");
                DEFAULT_MAX_RESPONSE_BYTES
            }
            Some(m) => usize::try_from(m.value.0).unwrap_or(usize::MAX),
            None => DEFAULT_MAX_RESPONSE_BYTES,
        };
        Limits {
            concurrency,
            rate_limit,
            retries,
            max_response_bytes,
        }
    }

    /// The `credentials:` section.
    fn credentials(&mut self, file: &BTreeMap<String, FileCredential>) -> Credentials {
        let mut credentials = HashMap::new();
        for (name, c) in file {
            if let Some((credential, files)) = self.credential(name, c) {
                credentials.insert(
                    name.clone(),
                    Arc::new(NamedCredential {
                        name: name.clone(),
                        credential,
                        files,
                    }),
                );
            }
        }
        credentials
    }

    /// The `projects:` section.
    fn projects(
        &mut self,
        file: &FileConfig,
        credentials: &Credentials,
        http: &Arc<HttpSettings>,
    ) -> Vec<Project> {
        let listed: &[FileProject] = file.projects.as_ref().map_or(&[], |p| &p.value);
        if listed.is_empty() && file.discovery.is_empty() {
            self.diag.issue(
                file.projects.as_ref().map_or((1, 1), at),
                "`projects` is empty: list at least one project to poll, or add a `discovery:` entry",
            );
        }
        let defaults = defaults(&file.defaults);
        let mut seen = Seen::default();
        listed
            .iter()
            .filter_map(|p| self.project(p, file, credentials, &defaults, &mut seen, http))
            .collect()
    }

    /// One project; `None` when its credential or endpoints are unusable (the reason is
    /// recorded).
    fn project(
        &mut self,
        p: &FileProject,
        file: &FileConfig,
        credentials: &Credentials,
        defaults: &PollSettings,
        seen: &mut Seen,
        http: &Arc<HttpSettings>,
    ) -> Option<Project> {
        let id = self.project_id(p, seen);
        let credential = self.project_credential(p, file, credentials);
        let region = p
            .region
            .as_ref()
            .map(|r| r.value.trim().to_string())
            .unwrap_or_default();
        let endpoints = self.endpoints(p, &region);
        let roma_instances = self.roma_instances(p, &id, seen);
        let roma_discovery = p.roma.as_ref().and_then(|r| self.roma_discovery(r, p));
        let eventgrid = self.eventgrid_types(p);
        if p.roma.is_none() && p.eventgrid.is_none() && p.gaussdb_mysql.is_none() {
            self.diag.issue(
                at(&p.id),
                format!(
                    "project `{id}` polls nothing: add `roma`, `eventgrid: {{}}` and/or `gaussdb_mysql: {{}}`"
                ),
            );
        }
        let settings = self.settings(p, &id, defaults, file);
        let http = self.http(p.http.as_ref(), http);
        Some(Project {
            name: p.name.clone().unwrap_or_default().trim().to_string(),
            id,
            region,
            credential: credential?,
            endpoints: endpoints?,
            roma_instances,
            roma_discovery,
            eventgrid,
            gaussdb_mysql: p.gaussdb_mysql.is_some(),
            settings,
            http,
        })
    }

    /// `roma: {instances: discover}` of a configured project; the discovery-only keys
    /// are an error next to a list of instances.
    fn roma_discovery(&mut self, roma: &FileRoma, p: &FileProject) -> Option<RomaDiscovery> {
        match &roma.instances {
            FileRomaInstances::Discover => Some(RomaDiscovery {
                include_instances: discovery::patterns(
                    "include_instances",
                    &roma.include_instances,
                    &mut self.diag,
                ),
                app_quotas: discovery::discovered_app_quotas(
                    &roma.app_quotas,
                    at(&p.id),
                    &mut self.diag,
                ),
                livedata: roma.livedata,
            }),
            FileRomaInstances::List(_) => {
                if let Some(first) = roma.include_instances.first() {
                    self.diag.issue(
                        at(first),
                        "include_instances needs `instances: discover`: with a list, every listed instance is polled",
                    );
                }
                None
            }
        }
    }

    /// The project id, checked for its characters and listed once.
    fn project_id(&mut self, p: &FileProject, seen: &mut Seen) -> String {
        let id = p.id.value.trim().to_string();
        if !valid_id(&id) {
            self.diag.issue(
                at(&p.id),
                format!(
                    "invalid project id `{id}`: expected the project's id (letters, digits, `-` and `_`), as shown under My Credentials > Projects"
                ),
            );
        } else if let Some(first) = seen.projects.insert(id.clone(), p.id.referenced.line()) {
            self.diag.issue(
                at(&p.id),
                format!("duplicate project id `{id}` (first listed at line {first}): list each project once"),
            );
        }
        id
    }

    /// The credential a project names.
    fn project_credential(
        &mut self,
        p: &FileProject,
        file: &FileConfig,
        credentials: &Credentials,
    ) -> Option<Arc<NamedCredential>> {
        let name = p.credentials.value.trim();
        if let Some(c) = credentials.get(name) {
            return Some(c.clone());
        }
        // A credential that failed its own validation is already reported.
        if file.credentials.contains_key(name) {
            return None;
        }
        let known: Vec<&str> = file.credentials.keys().map(String::as_str).collect();
        let msg = if known.is_empty() {
            format!(
                "unknown credentials `{}`: there is no `credentials:` section; define it there",
                p.credentials.value
            )
        } else {
            format!(
                "unknown credentials `{}`: expected one of {}",
                p.credentials.value,
                known.join(", ")
            )
        };
        self.diag.issue(at(&p.credentials), msg);
        None
    }

    /// The project's endpoints: given ones checked, the others derived from the region.
    /// Derived whenever there is a region (app-quota create needs ROMA even for a project
    /// that polls only GaussDB); an error only where the API is polled.
    fn endpoints(&mut self, p: &FileProject, region: &str) -> Option<Endpoints> {
        let e = &p.endpoints;
        let apis = [
            (&e.roma, p.roma.is_some(), "roma", regions::Service::Roma),
            (
                &e.eventgrid,
                p.eventgrid.is_some(),
                "eventgrid",
                regions::Service::EventGrid,
            ),
            (
                &e.gaussdb_mysql,
                p.gaussdb_mysql.is_some(),
                "gaussdb_mysql",
                regions::Service::GaussDbMysql,
            ),
        ];
        let [roma, eventgrid, gaussdb_mysql] = apis.map(|(given, needed, key, derive)| {
            self.endpoint(p, region, given, needed, key, derive)
        });
        let iam = match &e.iam {
            Some(s) => self.url(&s.value, at(s), "endpoints.iam"),
            None if region.is_empty() => Some(String::new()),
            None => Some(endpoints::iam(region)),
        };
        Some(Endpoints {
            roma: roma?,
            eventgrid: eventgrid?,
            gaussdb_mysql: gaussdb_mysql?,
            iam: iam?,
        })
    }

    /// One API endpoint: as given, derived from the region, or empty when the API is not
    /// polled and there is no region.
    fn endpoint(
        &mut self,
        p: &FileProject,
        region: &str,
        given: &Option<Spanned<String>>,
        needed: bool,
        key: &str,
        service: regions::Service,
    ) -> Option<String> {
        match given {
            Some(s) => self.url(&s.value, at(s), &format!("endpoints.{key}")),
            None if !region.is_empty() => Some(self.derive(p, region, needed, key, service)),
            None if !needed => Some(String::new()),
            None => {
                self.diag.issue(
                    at(&p.id),
                    format!(
                        "project `{}`: set `region` or `endpoints.{key}` so the {key} endpoint is known",
                        p.id.value
                    ),
                );
                None
            }
        }
    }

    /// The endpoint of `service` in `region` from the SDK region tables
    /// ([`regions::endpoint`]). Where the API is polled, an unverified pattern is a
    /// warning, and so is a region that does not offer the API (empty: not polled).
    fn derive(
        &mut self,
        p: &FileProject,
        region: &str,
        polled: bool,
        key: &str,
        service: regions::Service,
    ) -> String {
        let (line, column) = at(&p.id);
        let here = format!("{}:{line}:{column}", self.diag.file().display());
        let id = &p.id.value;
        match regions::endpoint(service, region) {
            regions::Lookup::Known(u) => u.to_string(),
            regions::Lookup::Pattern(u) => {
                if polled {
                    self.diag.note(format!(
                        "{here}: project `{id}`: region `{region}` is in no SDK region table; the {key} endpoint {u} follows the usual pattern: set endpoints.{key} if it is wrong"
                    ));
                }
                u
            }
            regions::Lookup::NotOffered => {
                if polled {
                    self.diag.note(format!(
                        "{here}: project `{id}`: {key} is not offered in region `{region}` (SDK region tables), so it is not polled: set endpoints.{key} to poll it anyway"
                    ));
                }
                String::new()
            }
        }
    }

    /// A URL from the file, checked; `what` names its key in the message.
    fn url(&mut self, raw: &str, pos: Pos, what: &str) -> Option<String> {
        check_url(raw)
            .map_err(|why| {
                self.diag
                    .issue(pos, format!("invalid URL for {what}: {why}"))
            })
            .ok()
    }

    /// The project's `roma.instances`.
    fn roma_instances(&mut self, p: &FileProject, id: &str, seen: &mut Seen) -> Vec<RomaInstance> {
        let mut out = Vec::new();
        let listed = p.roma.iter().flat_map(|r| match &r.instances {
            FileRomaInstances::List(list) => &list[..],
            FileRomaInstances::Discover => &[],
        });
        for inst in listed {
            let iid = inst.id.value.trim().to_string();
            if !valid_id(&iid) {
                self.diag.issue(
                    at(&inst.id),
                    format!("invalid instance id `{iid}`: expected a ROMA Connect instance id"),
                );
                continue;
            }
            let key = (id.to_string(), iid.clone());
            if let Some(first) = seen.instances.insert(key, inst.id.referenced.line()) {
                self.diag.issue(
                    at(&inst.id),
                    format!(
                        "duplicate instance id `{iid}` in project `{id}` (first listed at line {first})"
                    ),
                );
                continue;
            }
            if let AppQuotaSelection::Ids(ids) = &inst.app_quotas
                && ids.is_empty()
            {
                self.diag.issue(
                    at(&inst.id),
                    "app_quotas is an empty list: use `none` to poll no client quotas, or `discover`",
                );
            }
            out.push(RomaInstance {
                id: iid,
                app_quotas: inst.app_quotas.clone(),
                livedata: inst.livedata,
            });
        }
        out
    }

    /// The project's `eventgrid.types`, upper-cased; `None` when EventGrid is not polled.
    fn eventgrid_types(&mut self, p: &FileProject) -> Option<Vec<String>> {
        let eg = p.eventgrid.as_ref()?;
        let mut types = Vec::new();
        for t in &eg.types {
            let v = t.value.trim().to_ascii_uppercase();
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                self.diag.issue(
                    at(t),
                    format!(
                        "invalid EventGrid quota type `{}`: expected a name such as CHANNEL or SOURCE",
                        t.value
                    ),
                );
            } else {
                types.push(v);
            }
        }
        Some(types)
    }

    /// The project's poll settings: its own, else `defaults:`, else the built-in ones.
    fn settings(
        &mut self,
        p: &FileProject,
        id: &str,
        defaults: &PollSettings,
        file: &FileConfig,
    ) -> PollSettings {
        let interval = p.interval.map(|x| x.0).unwrap_or(defaults.interval);
        // Unset staleness follows the interval, so a long interval alone just works.
        let max_staleness = p
            .max_staleness
            .or(file.defaults.max_staleness)
            .map(|x| x.0)
            .unwrap_or_else(|| DEFAULT_MAX_STALENESS.max(interval * 3));
        let settings = PollSettings {
            interval,
            timeout: p.timeout.map(|x| x.0).unwrap_or(defaults.timeout),
            max_staleness,
        };
        if settings.max_staleness < settings.interval {
            self.diag.issue(
                at(&p.id),
                format!(
                    "project `{id}`: max_staleness ({}) is shorter than interval ({}): every series would vanish between polls",
                    humantime::format_duration(settings.max_staleness),
                    humantime::format_duration(settings.interval)
                ),
            );
        }
        settings
    }
}

/// The poll settings of `defaults:` (a project's own override them).
fn defaults(d: &FileDefaults) -> PollSettings {
    PollSettings {
        interval: d.interval.map(|x| x.0).unwrap_or(DEFAULT_INTERVAL),
        timeout: d.timeout.map(|x| x.0).unwrap_or(DEFAULT_TIMEOUT),
        max_staleness: d
            .max_staleness
            .map(|x| x.0)
            .unwrap_or(DEFAULT_MAX_STALENESS),
    }
}

/// Ids are path segments: keep them to characters that need no escaping.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
