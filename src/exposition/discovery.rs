//! The discovery families: `huaweicloud_quota_targets{api}` (what this process polls,
//! configured and discovered, after sharding) and, per credential that discovers, whether
//! its last run succeeded, when one last did, and how many projects it polls.

use super::text::{header, line};
use crate::model::api::Api;
use crate::model::discovery::DiscoveryStatus;
use crate::model::time::unix_seconds;
use crate::store::TargetStatus;

/// `huaweicloud_quota_targets{api}` (APIs with targets) and, with discovery, its health
/// per credential.
pub(super) fn write_discovery(
    out: &mut String,
    targets: &[TargetStatus],
    discovery: &[DiscoveryStatus],
) {
    let start = out.len();
    header(
        out,
        "huaweicloud_quota_targets",
        "Targets this process polls (after discovery and sharding), by API.",
        "gauge",
    );
    for api in Api::ALL {
        let n = targets.iter().filter(|t| t.target.api() == api).count();
        // An API without targets is left out, like every other family of it.
        if n > 0 {
            line(
                out,
                "huaweicloud_quota_targets",
                &[("api", api.as_str())],
                n as f64,
            );
        }
    }
    if targets.is_empty() {
        out.truncate(start);
    }
    if discovery.is_empty() {
        return;
    }
    header(
        out,
        "huaweicloud_quota_discovery_success",
        "1 if the last discovery run of the credential listed every project and instance, else 0.",
        "gauge",
    );
    for d in discovery {
        let v = if d.success { 1.0 } else { 0.0 };
        line(
            out,
            "huaweicloud_quota_discovery_success",
            &[("credentials", &d.credentials)],
            v,
        );
    }
    header(
        out,
        "huaweicloud_quota_discovery_last_success_timestamp_seconds",
        "When a discovery run of the credential last succeeded (Unix seconds).",
        "gauge",
    );
    for d in discovery {
        if let Some(t) = d.last_success {
            line(
                out,
                "huaweicloud_quota_discovery_last_success_timestamp_seconds",
                &[("credentials", &d.credentials)],
                unix_seconds(t),
            );
        }
    }
    header(
        out,
        "huaweicloud_quota_discovered_projects",
        "Projects the credential's discovery polls, after skips and filters.",
        "gauge",
    );
    for d in discovery {
        line(
            out,
            "huaweicloud_quota_discovered_projects",
            &[("credentials", &d.credentials)],
            d.discovered_projects() as f64,
        );
    }
}
