//! Config -> the list of things to poll: one [`Target`] per API call set, with a stable key.
//!
//! A target is ROMA livedata per instance, ROMA client quotas per instance, EventGrid per
//! project, GaussDB for MySQL per project. Its key is stable across restarts and reloads,
//! so schedules and data survive a reload, and `--shard I/N` can split targets by a hash.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::config::{AppQuotaSelection, Config, PollSettings, Project};
use crate::sample::Api;

/// One API call set to poll.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Stable identity: `api/project_id[/instance_id]`.
    pub key: String,
    /// Which API.
    pub api: Api,
    /// The project it belongs to (credentials, endpoints, settings).
    pub project: Arc<Project>,
    /// ROMA instance id; empty for project-level APIs.
    pub instance_id: String,
    /// Base URL of the API host.
    pub base_url: String,
    /// For [`Api::RomaAppQuota`]: discover or fixed ids.
    pub app_quotas: AppQuotaSelection,
    /// For [`Api::Eventgrid`]: quota types to ask for (empty: all).
    pub eventgrid_types: Vec<String>,
}

impl Target {
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
    let mut out = Vec::new();
    for p in &config.projects {
        let project = Arc::new(p.clone());
        let mut push = |api: Api,
                        instance_id: &str,
                        base_url: &str,
                        app_quotas: AppQuotaSelection,
                        types: Vec<String>| {
            let key = if instance_id.is_empty() {
                format!("{}/{}", api.as_str(), project.id)
            } else {
                format!("{}/{}/{}", api.as_str(), project.id, instance_id)
            };
            if shard.owns(&key) {
                out.push(Arc::new(Target {
                    key,
                    api,
                    project: project.clone(),
                    instance_id: instance_id.to_string(),
                    base_url: base_url.to_string(),
                    app_quotas,
                    eventgrid_types: types,
                }));
            }
        };
        for inst in &p.roma_instances {
            if inst.livedata {
                push(
                    Api::RomaLivedata,
                    &inst.id,
                    &p.endpoints.roma,
                    AppQuotaSelection::None,
                    Vec::new(),
                );
            }
            if inst.app_quotas != AppQuotaSelection::None {
                push(
                    Api::RomaAppQuota,
                    &inst.id,
                    &p.endpoints.roma,
                    inst.app_quotas.clone(),
                    Vec::new(),
                );
            }
        }
        if let Some(types) = &p.eventgrid {
            push(
                Api::Eventgrid,
                "",
                &p.endpoints.eventgrid,
                AppQuotaSelection::None,
                types.clone(),
            );
        }
        if p.gaussdb_mysql {
            push(
                Api::GaussdbMysql,
                "",
                &p.endpoints.gaussdb_mysql,
                AppQuotaSelection::None,
                Vec::new(),
            );
        }
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
