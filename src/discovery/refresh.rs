//! One discovery run per credential, and the loop that repeats it every
//! `refresh_interval`: list projects (a `discovery:` entry) and instances (its projects, and
//! configured projects with `roma: {instances: discover}`), select, and build the targets.
//!
//! A list call that fails keeps the last good list of its scope (the project list of the
//! credential, or the instance list of one project): a hiccup never empties the
//! exposition. A run with any failure is retried with back-off instead of waiting for the
//! next refresh.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::stream::{self, StreamExt as _};

use super::decode::{IamProject, RomaInstanceInfo};
use super::request::{self, GlobalSession};
use super::select;
use crate::config::discovery::DEFAULT_REFRESH_INTERVAL;
use crate::config::{Config, Discovery, Project};
use crate::model::discovery::{DiscoveryStatus, FoundProject};
use crate::model::outcome::PollError;
use crate::model::target::{Target, project_targets};
use crate::upstream::UpstreamClient;
use crate::upstream::backoff::{Backoff, Jitter};

/// After a failed run: 5 s, doubling per failure, at most the refresh interval (and 5
/// minutes), +-20%. IAM locks an AK after repeated signature failures: never a tight loop.
pub const FAILURE_BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(5),
    cap: Duration::from_secs(300),
    jitter: Jitter::Scaled { lo: 0.8, hi: 1.2 },
};

/// New targets of a refresh start spread over at most this long (or half the refresh
/// interval, if shorter), not in one burst.
pub const MAX_NEW_TARGET_SPREAD: Duration = Duration::from_secs(30);

/// What one credential discovers: its `discovery:` entry, if any, and the configured
/// projects of that credential whose instances are discovered.
#[derive(Clone, Debug, PartialEq)]
pub struct Scope {
    /// The credential's name.
    pub credentials: String,
    /// Its `discovery:` entry.
    pub discovery: Option<Discovery>,
    /// Configured projects with `roma: {instances: discover}`.
    pub configured: Vec<Arc<Project>>,
    /// Ids under `projects:` (a discovered project with one of them is left to its entry).
    pub configured_ids: Arc<HashSet<String>>,
}

impl Scope {
    /// How often it runs: its entry's `refresh_interval`, else the default.
    pub fn refresh_interval(&self) -> Duration {
        self.discovery
            .as_ref()
            .map_or(DEFAULT_REFRESH_INTERVAL, |d| d.refresh_interval)
    }
}

/// Every discovery scope of a config, one per credential, in name order.
pub fn scopes(config: &Config) -> Vec<Scope> {
    let ids: Arc<HashSet<String>> =
        Arc::new(config.projects.iter().map(|p| p.id.clone()).collect());
    let mut by_name: std::collections::BTreeMap<String, Scope> = Default::default();
    let blank = |name: &str| Scope {
        credentials: name.to_string(),
        discovery: None,
        configured: Vec::new(),
        configured_ids: ids.clone(),
    };
    for d in &config.discovery {
        let name = &d.credential.name;
        by_name
            .entry(name.clone())
            .or_insert_with(|| blank(name))
            .discovery = Some(d.clone());
    }
    for p in config
        .projects
        .iter()
        .filter(|p| p.roma_discovery.is_some())
    {
        let name = &p.credential.name;
        by_name
            .entry(name.clone())
            .or_insert_with(|| blank(name))
            .configured
            .push(Arc::new(p.clone()));
    }
    by_name.into_values().collect()
}

/// What a scope keeps between runs (and across reloads): the last good lists, and the
/// account id and domain token for the global IAM.
#[derive(Debug, Default)]
pub struct ScopeState {
    projects: Option<Vec<IamProject>>,
    instances: HashMap<String, Vec<RomaInstanceInfo>>,
    session: GlobalSession,
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct Round {
    /// How it went, and what it found.
    pub status: DiscoveryStatus,
    /// The targets it contributes (all shards).
    pub targets: Vec<Arc<Target>>,
}

/// Instance lists of one credential in flight at once: a refresh over many projects is not
/// one round trip per page after another, nor a burst (the host rate limit holds anyway).
pub const INSTANCE_LISTS_IN_FLIGHT: usize = 8;

/// A project to list the instances of, and how its targets are made.
struct Pending {
    /// The project (discovered or configured).
    project: Arc<Project>,
    /// Notes on its APIs (discovered projects).
    notes: Vec<String>,
    /// Configured under `projects:`: only its ROMA targets come from here.
    configured: bool,
}

/// Uses the result of a project's instance list: on failure the last good list of that
/// project, recorded as an error. Returns the instances to poll, every listed instance as
/// found, and whether the list is the last good one.
fn instances_of(
    project: &Project,
    result: InstanceList,
    state: &mut ScopeState,
    errors: &mut Vec<(String, PollError)>,
) -> (
    Vec<crate::config::RomaInstance>,
    Vec<crate::model::discovery::FoundInstance>,
    bool,
) {
    let (Some(roma), Some(result)) = (&project.roma_discovery, result) else {
        return (Vec::new(), Vec::new(), false);
    };
    let (listed, stale) = match result {
        Ok(list) => {
            state.instances.insert(project.id.clone(), list.clone());
            (list, false)
        }
        Err(e) => {
            tracing::warn!(project = %project.id, credential = %project.credential.name, error_code = %e.code, reason = %e.message, "discovery: instance list failed; keeping the last good list");
            errors.push((format!("instances of project {}", project.id), e));
            (
                state
                    .instances
                    .get(&project.id)
                    .cloned()
                    .unwrap_or_default(),
                true,
            )
        }
    };
    let (polled, found) = select::select_instances(roma, &listed);
    (polled, found, stale)
}

/// One project's instance list: `None` when its instances are not discovered.
type InstanceList = Option<Result<Vec<RomaInstanceInfo>, PollError>>;

/// A boxed instance list call (a named, `Send` type for the bounded fan-out).
type InstanceListCall<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = InstanceList> + Send + 'a>>;

/// The instance list of `project`, when its instances are discovered.
fn list_if_discovered(client: &UpstreamClient, project: Arc<Project>) -> InstanceListCall<'_> {
    Box::pin(async move {
        match project.roma_discovery {
            Some(_) => Some(request::list_instances(client, &project).await),
            None => None,
        }
    })
}

/// One run of `scope`.
pub async fn run_once(client: &UpstreamClient, scope: &Scope, state: &mut ScopeState) -> Round {
    let started = Instant::now();
    let mut status = DiscoveryStatus::pending(&scope.credentials);
    let mut errors = Vec::new();
    let mut targets = Vec::new();
    let mut keep = HashSet::new();
    let mut pending = Vec::new();
    if let Some(d) = &scope.discovery {
        let listed = match request::list_projects(client, d, &mut state.session).await {
            Ok(list) => {
                if list.dropped > 0 {
                    tracing::warn!(credential = %scope.credentials, dropped = list.dropped, "discovery: project list entries without an id ignored");
                }
                state.projects = Some(list.projects.clone());
                list.projects
            }
            Err(e) => {
                tracing::warn!(credential = %scope.credentials, error_code = %e.code, status = e.status.unwrap_or(0), reason = %e.message, "discovery: project list failed; keeping the last good list");
                errors.push(("project list".to_string(), e));
                state.projects.clone().unwrap_or_default()
            }
        };
        let configured: HashSet<&str> = scope.configured_ids.iter().map(String::as_str).collect();
        let (selected, skipped) = select::select_projects(d, &listed, &configured);
        status.skipped = skipped;
        for s in &selected {
            let (project, notes) = select::discovered_project(d, s);
            pending.push(Pending {
                project: Arc::new(project),
                notes,
                configured: false,
            });
        }
    }
    for p in &scope.configured {
        // Only the ROMA targets: the project's other APIs are configured targets already.
        let mut roma_only = (**p).clone();
        roma_only.eventgrid = None;
        roma_only.gaussdb_mysql = false;
        pending.push(Pending {
            project: Arc::new(roma_only),
            notes: Vec::new(),
            configured: true,
        });
    }
    let calls: Vec<_> = pending
        .iter()
        .map(|p| list_if_discovered(client, p.project.clone()))
        .collect();
    let lists: Vec<_> = stream::iter(calls)
        .buffered(INSTANCE_LISTS_IN_FLIGHT)
        .collect()
        .await;
    for (p, result) in pending.into_iter().zip(lists) {
        let project = &p.project;
        keep.insert(project.id.clone());
        let (polled, instances, stale) = instances_of(project, result, state, &mut errors);
        targets.extend(project_targets(select::with_instances(project, polled)));
        status.projects.push(FoundProject {
            id: project.id.clone(),
            name: project.name.clone(),
            region: project.region.clone(),
            configured: p.configured,
            instances,
            notes: p.notes,
            stale_instances: stale,
        });
    }
    // Projects gone from the list take their last good instance lists with them.
    state.instances.retain(|id, _| keep.contains(id));
    let now = SystemTime::now();
    status.last_run = Some(now);
    status.duration = started.elapsed();
    status.success = errors.is_empty();
    if status.success {
        status.last_success = Some(now);
    }
    status.errors = errors;
    status.targets = targets.len();
    Round {
        status,
        targets: targets.into_iter().map(Arc::new).collect(),
    }
}

/// Runs `scope` now and then every refresh interval (sooner, with back-off, after a
/// failure), handing every round to `sink` with the spread its new targets should start
/// over. `last_success` carries over from an earlier loop of the same scope (a reload).
pub async fn run_loop(
    client: Arc<UpstreamClient>,
    scope: Scope,
    state: Arc<tokio::sync::Mutex<ScopeState>>,
    mut last_success: Option<SystemTime>,
    sink: impl Fn(Round, Duration) + Send + Sync + 'static,
) {
    let refresh = scope.refresh_interval();
    let spread = MAX_NEW_TARGET_SPREAD.min(refresh / 2);
    let mut failures = 0u32;
    loop {
        let mut round = {
            let mut st = state.lock().await;
            run_once(&client, &scope, &mut st).await
        };
        let wait = if round.status.success {
            failures = 0;
            refresh
        } else {
            failures = failures.saturating_add(1);
            FAILURE_BACKOFF.delay(failures).min(refresh)
        };
        if round.status.success {
            last_success = round.status.last_success;
        } else {
            round.status.last_success = last_success;
        }
        round.status.next_run = Some(SystemTime::now() + wait);
        tracing::info!(
            credential = %scope.credentials,
            success = round.status.success,
            projects = round.status.projects.len(),
            skipped = round.status.skipped.len(),
            targets = round.targets.len(),
            duration_ms = round.status.duration.as_millis() as u64,
            next_in_s = wait.as_secs(),
            "discovery finished"
        );
        sink(round, spread);
        tokio::time::sleep(wait).await;
    }
}
