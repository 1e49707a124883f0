//! Config -> the list of things to poll: one [`Target`] per API call set, with a stable key.
//!
//! A target is ROMA livedata per instance, ROMA client quotas per instance, EventGrid per
//! project, GaussDB for MySQL per project. Its key is stable across restarts and reloads,
//! so schedules and data survive a reload, and `--shard I/N` can split targets by a hash.
//! Its labels are written once, here, in exposition form.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::api::Api;
use super::labels::TargetLabels;
use crate::config::{AppQuotaSelection, Config, PollSettings, Project};

/// One API call set to poll.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Stable identity: `api/project_id[/instance_id]`.
    pub key: String,
    /// The project it belongs to (credentials, endpoints, settings).
    pub project: Arc<Project>,
    /// Base URL of the API host.
    pub base_url: String,
    /// What to poll, with what only that API needs.
    pub job: Job,
    /// The target's labels in exposition form (they follow from its key, so they stay).
    pub labels: TargetLabels,
}

/// What a target polls: one variant per API, each with what only that API needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    /// ROMA Connect livedata quota of one instance.
    RomaLivedata {
        /// Instance id.
        instance_id: String,
    },
    /// ROMA Connect client quotas of one instance.
    RomaAppQuota {
        /// Instance id.
        instance_id: String,
        /// Discover every client quota, or fixed ids.
        app_quotas: AppQuotaSelection,
    },
    /// EventGrid tenant quotas of a project.
    Eventgrid {
        /// Quota types to ask for (upper-case; empty: all).
        types: Vec<String>,
    },
    /// GaussDB for MySQL tenant quotas of a project.
    GaussdbMysql,
}

impl Job {
    /// Which API this job polls.
    pub fn api(&self) -> Api {
        match self {
            Job::RomaLivedata { .. } => Api::RomaLivedata,
            Job::RomaAppQuota { .. } => Api::RomaAppQuota,
            Job::Eventgrid { .. } => Api::Eventgrid,
            Job::GaussdbMysql => Api::GaussdbMysql,
        }
    }

    /// The ROMA instance id; `None` for project-level APIs.
    pub fn instance_id(&self) -> Option<&str> {
        match self {
            Job::RomaLivedata { instance_id } | Job::RomaAppQuota { instance_id, .. } => {
                Some(instance_id)
            }
            Job::Eventgrid { .. } | Job::GaussdbMysql => None,
        }
    }
}

impl Target {
    /// A target of `project` for `job` at `base_url`; its key and labels follow from these.
    pub fn new(project: Arc<Project>, base_url: &str, job: Job) -> Target {
        let api = job.api();
        let key = match job.instance_id() {
            Some(instance) => format!("{}/{}/{}", api.as_str(), project.id, instance),
            None => format!("{}/{}", api.as_str(), project.id),
        };
        let labels = TargetLabels::new(api.as_str(), &project.id, job.instance_id());
        Target {
            key,
            project,
            base_url: base_url.to_string(),
            job,
            labels,
        }
    }

    /// Which API.
    pub fn api(&self) -> Api {
        self.job.api()
    }

    /// The ROMA instance id; empty for project-level APIs.
    pub fn instance_id(&self) -> &str {
        self.job.instance_id().unwrap_or_default()
    }

    /// Poll settings (interval, timeout, staleness) of this target.
    pub fn settings(&self) -> PollSettings {
        self.project.settings
    }

    /// The host part of the base URL, used for per-host rate limits.
    pub fn host(&self) -> String {
        reqwest::Url::parse(&self.base_url)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| format!("{}:{}", h, u.port_or_known_default().unwrap_or(0)))
            })
            .unwrap_or_else(|| self.base_url.clone())
    }
}

/// `--shard I/N`: this process polls only targets whose key hashes to shard I of N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0-based.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid shard `{s}`: expected I/N such as 0/3"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("invalid shard index `{i}`: expected a number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("invalid shard count `{n}`: expected a number"))?;
        if count == 0 || index >= count {
            return Err(format!(
                "invalid shard `{s}`: need 0 <= I < N (for example 0/3, 1/3, 2/3)"
            ));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether this shard owns the target with this key. FNV-1a: stable across versions
    /// and platforms, unlike the standard library's hasher.
    pub fn owns(&self, key: &str) -> bool {
        if self.count <= 1 {
            return true;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in key.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h % u64::from(self.count) == u64::from(self.index)
    }
}

/// Every target of a config that this shard owns, in a stable order.
pub fn targets(config: &Config, shard: Shard) -> Vec<Arc<Target>> {
    config
        .projects
        .iter()
        .flat_map(|p| project_targets(Arc::new(p.clone())))
        .filter(|t| shard.owns(&t.key))
        .map(Arc::new)
        .collect()
}

/// Every target of one project (configured or discovered), in a stable order. An API whose
/// endpoint is empty (its region does not offer it) has none.
pub fn project_targets(project: Arc<Project>) -> Vec<Target> {
    let p = &*project;
    let mut out = Vec::new();
    let mut push = |base_url: &str, job: Job| {
        if !base_url.is_empty() {
            out.push(Target::new(project.clone(), base_url, job));
        }
    };
    for inst in &p.roma_instances {
        if inst.livedata {
            let instance_id = inst.id.clone();
            push(&p.endpoints.roma, Job::RomaLivedata { instance_id });
        }
        if inst.app_quotas != AppQuotaSelection::None {
            let job = Job::RomaAppQuota {
                instance_id: inst.id.clone(),
                app_quotas: inst.app_quotas.clone(),
            };
            push(&p.endpoints.roma, job);
        }
    }
    if let Some(types) = &p.eventgrid {
        let types = types.clone();
        push(&p.endpoints.eventgrid, Job::Eventgrid { types });
    }
    if p.gaussdb_mysql {
        push(&p.endpoints.gaussdb_mysql, Job::GaussdbMysql);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parsing() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        assert!("3/3".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }

    #[test]
    fn shards_are_disjoint_and_cover_everything() {
        let keys: Vec<String> = (0..1000).map(|i| format!("roma_livedata/p/{i}")).collect();
        for n in 1..6u32 {
            let mut owners = vec![0u32; keys.len()];
            for i in 0..n {
                let s = Shard { index: i, count: n };
                for (k, key) in keys.iter().enumerate() {
                    if s.owns(key) {
                        owners[k] += 1;
                    }
                }
            }
            assert!(owners.iter().all(|&o| o == 1), "n={n}");
        }
    }
}
