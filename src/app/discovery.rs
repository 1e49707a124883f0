//! Discovery in the running exporter, and the `discover` command.
//!
//! [`DiscoveryHub`] runs one refresh loop per credential and, after every round, hands the
//! whole target set (configured targets plus every credential's latest discovered ones,
//! sharded) to the scheduler: the same path a reload takes, so targets that stay keep their
//! schedule and data, new ones start spread, removed ones' series vanish. A reload
//! reconfigures it; the last good lists of a credential survive the reload.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::config::{Config, Credential};
use crate::discovery::refresh::{self, Round, ScopeState};
use crate::model::discovery::DiscoveryStatus;
use crate::model::target::{self, Shard, Target};
use crate::scheduler::Scheduler;
use crate::store::Snapshot;
use crate::upstream::UpstreamClient;

/// The spread of the targets of a credential's first round (as at start-up).
const FIRST_ROUND_SPREAD: Duration = Duration::from_secs(1);

#[derive(Default)]
struct HubState {
    /// Targets of `projects:` (their discovered instances aside).
    configured: Vec<Arc<Target>>,
    /// The latest targets of each credential's discovery.
    discovered: BTreeMap<String, Vec<Arc<Target>>>,
    statuses: BTreeMap<String, DiscoveryStatus>,
    scopes: HashMap<String, Arc<tokio::sync::Mutex<ScopeState>>>,
    loops: Vec<JoinHandle<()>>,
    /// Bumped by every reconfiguration: rounds of older loops are ignored.
    generation: u64,
}

/// The running discovery loops and the combined target set.
pub struct DiscoveryHub {
    client: Arc<UpstreamClient>,
    scheduler: Arc<Scheduler>,
    snapshot: Arc<Snapshot>,
    shard: Shard,
    state: Mutex<HubState>,
}

impl DiscoveryHub {
    /// The upstream client the hub's discoveries (and the targets' polls) use.
    pub fn client(&self) -> &Arc<UpstreamClient> {
        &self.client
    }
}

impl std::fmt::Debug for DiscoveryHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveryHub").finish_non_exhaustive()
    }
}

/// Configured and discovered targets, sharded, each key once (configured ones win).
pub fn combine<'a>(
    configured: &'a [Arc<Target>],
    discovered: impl IntoIterator<Item = &'a Arc<Target>>,
    shard: Shard,
) -> Vec<Arc<Target>> {
    let mut seen = HashSet::new();
    configured
        .iter()
        .chain(discovered)
        .filter(|t| shard.owns(&t.key) && seen.insert(t.key.as_str()))
        .cloned()
        .collect()
}

impl DiscoveryHub {
    /// A hub feeding `scheduler`; nothing runs until [`DiscoveryHub::configure`].
    pub fn new(
        client: Arc<UpstreamClient>,
        scheduler: Arc<Scheduler>,
        snapshot: Arc<Snapshot>,
        shard: Shard,
    ) -> Arc<Self> {
        Arc::new(DiscoveryHub {
            client,
            scheduler,
            snapshot,
            shard,
            state: Mutex::new(HubState::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `config` the running one: its configured targets now, its discovery loops
    /// restarted (credentials that stay keep their discovered targets until their new
    /// loop's first round). Returns the number of targets applied now.
    pub fn configure(self: &Arc<Self>, config: &Config) -> usize {
        let scopes = refresh::scopes(config);
        let mut st = self.lock();
        for h in st.loops.drain(..) {
            h.abort();
        }
        st.generation += 1;
        let generation = st.generation;
        st.configured = target::targets(config, Shard::default())
            .into_iter()
            .filter(|t| self.shard.owns(&t.key))
            .collect();
        let names: HashSet<&str> = scopes.iter().map(|s| s.credentials.as_str()).collect();
        st.discovered.retain(|k, _| names.contains(k.as_str()));
        st.statuses.retain(|k, _| names.contains(k.as_str()));
        st.scopes.retain(|k, _| names.contains(k.as_str()));
        let pending = scopes
            .iter()
            .filter(|s| !st.statuses.contains_key(&s.credentials))
            .count();
        for s in &scopes {
            st.statuses
                .entry(s.credentials.clone())
                .or_insert_with(|| DiscoveryStatus::pending(&s.credentials));
        }
        self.snapshot.set_pending_discoveries(pending);
        for scope in scopes {
            let state = st
                .scopes
                .entry(scope.credentials.clone())
                .or_default()
                .clone();
            let last_success = st
                .statuses
                .get(&scope.credentials)
                .and_then(|s| s.last_success);
            let hub: Weak<DiscoveryHub> = Arc::downgrade(self);
            let sink = move |round: Round, spread: Duration| {
                if let Some(hub) = hub.upgrade() {
                    hub.receive(generation, round, spread);
                }
            };
            st.loops.push(tokio::spawn(refresh::run_loop(
                self.client.clone(),
                scope,
                state,
                last_success,
                sink,
            )));
        }
        self.apply(&st, FIRST_ROUND_SPREAD)
    }

    fn receive(&self, generation: u64, round: Round, spread: Duration) {
        let mut st = self.lock();
        if st.generation != generation {
            return;
        }
        let name = round.status.credentials.clone();
        let first = st.statuses.get(&name).is_none_or(|s| s.last_run.is_none());
        let old: Vec<&str> = st
            .discovered
            .get(&name)
            .map(|v| v.iter().map(|t| t.key.as_str()).collect())
            .unwrap_or_default();
        let (added, removed) =
            crate::discovery::select::difference(old, round.targets.iter().map(|t| t.key.as_str()));
        if !added.is_empty() || !removed.is_empty() {
            tracing::info!(credential = %name, added = added.len(), removed = removed.len(), "discovered targets changed");
            for k in &added {
                tracing::debug!(credential = %name, target = %k, "target added");
            }
            for k in &removed {
                tracing::debug!(credential = %name, target = %k, "target removed");
            }
        }
        st.discovered.insert(name.clone(), round.targets);
        st.statuses.insert(name, round.status);
        self.apply(&st, if first { FIRST_ROUND_SPREAD } else { spread });
        if first {
            self.snapshot.discovery_done();
        }
    }

    fn apply(&self, st: &HubState, spread: Duration) -> usize {
        let all = combine(&st.configured, st.discovered.values().flatten(), self.shard);
        // Targets first: a render in between must not see an empty set.
        self.scheduler.apply_spread(&all, spread);
        self.snapshot
            .set_discovery(st.statuses.values().cloned().collect());
        all.len()
    }

    /// Stops every loop.
    pub fn stop(&self) {
        for h in self.lock().loops.drain(..) {
            h.abort();
        }
    }
}

/// Runs every discovery of `config` once; returns the rounds by credential.
pub async fn discover_once(client: &UpstreamClient, config: &Config) -> Vec<Round> {
    let mut out = Vec::new();
    for scope in refresh::scopes(config) {
        let mut state = ScopeState::default();
        out.push(refresh::run_once(client, &scope, &mut state).await);
    }
    out
}

/// Every target of `config` after one discovery run, sharded; and the rounds.
pub async fn targets_once(
    client: &UpstreamClient,
    config: &Config,
    shard: Shard,
) -> (Vec<Arc<Target>>, Vec<Round>) {
    let configured = target::targets(config, Shard::default());
    let rounds = discover_once(client, config).await;
    let all = combine(&configured, rounds.iter().flat_map(|r| &r.targets), shard);
    (all, rounds)
}

/// The `discover` report: per credential, the projects with their instances, what was
/// skipped and why, the errors; then the resulting targets.
pub fn report(rounds: &[Round], targets: &[Arc<Target>], shard: Shard) -> String {
    let mut s = String::new();
    for r in rounds {
        let d = &r.status;
        let _ = writeln!(
            s,
            "discovery with credentials {}: {} ({} projects, {} skipped, {} targets, {} ms)",
            d.credentials,
            if d.success { "OK" } else { "FAILED" },
            d.projects.len(),
            d.skipped.len(),
            r.targets.len(),
            d.duration.as_millis()
        );
        for (scope, e) in &d.errors {
            let _ = writeln!(s, "  error: {scope}: {e}");
        }
        let _ = writeln!(s, "  projects:");
        for p in &d.projects {
            let _ = writeln!(
                s,
                "    - {} {} region={}{}",
                p.id,
                p.name,
                p.region,
                if p.configured { " (configured)" } else { "" }
            );
            for n in &p.notes {
                let _ = writeln!(s, "      note: {n}");
            }
            for i in &p.instances {
                match &i.skipped {
                    None => {
                        let _ =
                            writeln!(s, "      instance {} {} {}: polled", i.id, i.name, i.status);
                    }
                    Some(why) => {
                        let _ = writeln!(
                            s,
                            "      instance {} {} {}: skipped ({why})",
                            i.id, i.name, i.status
                        );
                    }
                }
            }
        }
        if !d.skipped.is_empty() {
            let _ = writeln!(s, "  skipped projects:");
            for p in &d.skipped {
                let _ = writeln!(s, "    - {} {}: {}", p.id, p.name, p.reason);
            }
        }
    }
    let _ = writeln!(s, "targets (shard {shard}): {}", targets.len());
    for t in targets {
        let _ = writeln!(s, "  {} {}", t.key, t.base_url);
    }
    s
}

/// The discovery part of `--config.check` (no request is sent).
pub fn describe(config: &Config) -> String {
    let mut s = String::new();
    if config.discovery.is_empty() {
        return s;
    }
    let _ = writeln!(s, "discovery (run `discover` to see what it finds):");
    for d in &config.discovery {
        let kind = match &d.credential.credential {
            Credential::Token { .. } => "static token",
            Credential::AkSk { .. } => "AK/SK with X-Domain-Id",
            Credential::IamPassword { .. } => "IAM password, domain-scoped token",
            Credential::EcsMetadata { .. } => "ECS metadata temporary keys with X-Domain-Id",
            Credential::PodIdentity { .. } => "CCE pod identity temporary keys with X-Domain-Id",
            Credential::Oidc { .. } => "OIDC agency temporary keys with X-Domain-Id",
        };
        let mut apis = Vec::new();
        if let Some(r) = &d.roma {
            apis.push(format!(
                "roma(instances=discover{}{})",
                if r.livedata { ",livedata" } else { "" },
                match r.app_quotas {
                    crate::config::AppQuotaSelection::None => "",
                    _ => ",app_quotas",
                }
            ));
        }
        if d.eventgrid.is_some() {
            apis.push("eventgrid".into());
        }
        if d.gaussdb_mysql {
            apis.push("gaussdb_mysql".into());
        }
        let _ = writeln!(
            s,
            "  - credentials={} [{kind}] iam={} refresh_interval={} regions={} exclude_projects={} apis={}",
            d.credential.name,
            d.iam_endpoint,
            humantime::format_duration(d.refresh_interval),
            d.regions
                .as_ref()
                .map_or("all".to_string(), |r| r.join(",")),
            d.exclude_projects.len(),
            apis.join(",")
        );
    }
    s
}

/// `discover`: runs discovery once and prints what it found; exit 1 if any run failed.
pub async fn run_discover(config: &Config, shard: Shard, client: &UpstreamClient) -> ExitCode {
    if refresh::scopes(config).is_empty() {
        eprintln!(
            "{}: nothing to discover: add a `discovery:` entry or `roma: {{instances: discover}}` to a project",
            config.source.display()
        );
        return ExitCode::FAILURE;
    }
    let (targets, rounds) = targets_once(client, config, shard).await;
    print!("{}", report(&rounds, &targets, shard));
    if rounds.iter().all(|r| r.status.success) {
        ExitCode::SUCCESS
    } else {
        eprintln!("discovery FAILED");
        ExitCode::FAILURE
    }
}

#[cfg(feature = "simulator")]
use crate::simulator::{
    SEED_PROJECT_ID, SIM_ACCESS_KEY, SIM_SECRET_KEY, SimProject, SimRomaInstance, World,
};

/// The world `--demo` serves: [`World::demo`] plus what discovery skips (a `MOS` project,
/// a disabled one, an instance still being created), so the landing page shows why.
#[cfg(feature = "simulator")]
pub fn demo_world() -> World {
    let mut world = World::demo();
    world.add_project(SimProject::new(DEMO_MOS_PROJECT_ID, "MOS"));
    let mut disabled = SimProject::new(DEMO_DISABLED_PROJECT_ID, "cn-east-3");
    disabled.enabled = false;
    world.add_project(disabled);
    world.add_roma_instance(
        SEED_PROJECT_ID,
        SimRomaInstance::new("9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a", "roma-prod-next")
            .with_status("CREATING"),
    );
    world
}

/// `--demo`'s config: one AK/SK credential, discovering every project and instance of
/// the simulator at `base`.
#[cfg(feature = "simulator")]
pub fn demo_config_yaml(base: &str, interval: &str) -> String {
    let mut s = format!("defaults:\n  interval: {interval}\ncredentials:\n  demo:\n");
    s += &format!("    access_key: {SIM_ACCESS_KEY}\n    secret_key: {SIM_SECRET_KEY}\n");
    s += &format!("discovery:\n  - credentials: demo\n    iam_endpoint: {base}/v3\n");
    s += "    refresh_interval: 1m\n    roma:\n      instances: discover\n";
    s += "    eventgrid: {}\n    gaussdb_mysql: {}\n";
    s += &format!(
        "    endpoints:\n      roma: {base}\n      eventgrid: {base}\n      gaussdb_mysql: {base}\n"
    );
    s
}

/// Project id of the demo's `MOS` project (no region: skipped).
#[cfg(feature = "simulator")]
const DEMO_MOS_PROJECT_ID: &str = "8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5";
/// Project id of the demo's disabled project (skipped).
#[cfg(feature = "simulator")]
const DEMO_DISABLED_PROJECT_ID: &str = "9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProcessEnv;

    #[cfg(feature = "simulator")]
    #[test]
    fn configured_targets_win_and_shards_split_the_rest() {
        let yaml = World::demo().exporter_config_yaml("http://127.0.0.1:9", "1m");
        let config = Config::from_yaml(std::path::Path::new("t.yaml"), &yaml, &ProcessEnv)
            .unwrap_or_else(|e| panic!("{e}"));
        let all = target::targets(&config, Shard::default());
        let (a, b) = all.split_at(3);
        let dup = a[0].clone();
        let got = combine(a, b.iter().chain([&dup]), Shard::default());
        assert!(
            Config::from_yaml(
                std::path::Path::new("demo"),
                &demo_config_yaml("http://127.0.0.1:1", "15s"),
                &ProcessEnv
            )
            .is_ok_and(|c| c.discovery.len() == 1)
        );
        assert_eq!(got.len(), all.len());
        let s0 = combine(a, b, Shard { index: 0, count: 2 });
        let s1 = combine(a, b, Shard { index: 1, count: 2 });
        assert_eq!(s0.len() + s1.len(), all.len());
    }
}
