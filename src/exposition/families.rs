//! The per-target metric families: their names and help texts, in exposition order, and
//! which figure of a target each one shows.

use crate::model::poll::{ClientQuota, ResourceQuota};

/// A per-target metric family. [`Family::ALL`] is the exposition order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// One series per resource quota, showing one of its figures.
    Resource(ResourceFigure),
    /// One series per ROMA Connect client quota, showing one of its figures.
    Client(ClientFigure),
    /// `huaweicloud_quota_client_info`: a client quota's name, time unit and remark.
    ClientInfo,
    /// `huaweicloud_quota_poll_success`.
    PollSuccess,
    /// `huaweicloud_quota_poll_duration_seconds`.
    PollDuration,
    /// `huaweicloud_quota_last_success_timestamp_seconds`.
    LastSuccess,
}

/// A figure of a [`ResourceQuota`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceFigure {
    /// `huaweicloud_quota_limit`.
    Limit,
    /// `huaweicloud_quota_used`.
    Used,
    /// `huaweicloud_quota_limit_max`.
    LimitMax,
    /// `huaweicloud_quota_limit_min`.
    LimitMin,
}

/// A numeric figure of a [`ClientQuota`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientFigure {
    /// `huaweicloud_quota_client_call_limit`.
    CallLimit,
    /// `huaweicloud_quota_client_window_seconds`.
    WindowSeconds,
    /// `huaweicloud_quota_client_bound_apps`.
    BoundApps,
    /// `huaweicloud_quota_client_reset_timestamp_seconds`.
    ResetTimestamp,
}

impl ResourceFigure {
    /// Every resource figure.
    pub const ALL: [ResourceFigure; 4] = [
        ResourceFigure::Limit,
        ResourceFigure::Used,
        ResourceFigure::LimitMax,
        ResourceFigure::LimitMin,
    ];

    /// This figure of `r`, when it was read.
    pub fn of(self, r: &ResourceQuota) -> Option<f64> {
        match self {
            ResourceFigure::Limit => r.limit,
            ResourceFigure::Used => r.used,
            ResourceFigure::LimitMax => r.limit_max,
            ResourceFigure::LimitMin => r.limit_min,
        }
    }
}

impl ClientFigure {
    /// Every numeric client quota figure.
    pub const ALL: [ClientFigure; 4] = [
        ClientFigure::CallLimit,
        ClientFigure::WindowSeconds,
        ClientFigure::BoundApps,
        ClientFigure::ResetTimestamp,
    ];

    /// This figure of `c`, when it was read.
    pub fn of(self, c: &ClientQuota) -> Option<f64> {
        match self {
            ClientFigure::CallLimit => c.call_limit,
            ClientFigure::WindowSeconds => c.window_seconds,
            ClientFigure::BoundApps => c.bound_apps,
            ClientFigure::ResetTimestamp => c.reset_timestamp,
        }
    }
}

impl Family {
    /// Every per-target family, in exposition order.
    pub const ALL: [Family; 12] = [
        Family::Resource(ResourceFigure::Limit),
        Family::Resource(ResourceFigure::Used),
        Family::Resource(ResourceFigure::LimitMax),
        Family::Resource(ResourceFigure::LimitMin),
        Family::Client(ClientFigure::CallLimit),
        Family::Client(ClientFigure::WindowSeconds),
        Family::Client(ClientFigure::BoundApps),
        Family::Client(ClientFigure::ResetTimestamp),
        Family::ClientInfo,
        Family::PollSuccess,
        Family::PollDuration,
        Family::LastSuccess,
    ];

    /// The metric name.
    pub fn name(self) -> &'static str {
        match self {
            Family::Resource(f) => match f {
                ResourceFigure::Limit => "huaweicloud_quota_limit",
                ResourceFigure::Used => "huaweicloud_quota_used",
                ResourceFigure::LimitMax => "huaweicloud_quota_limit_max",
                ResourceFigure::LimitMin => "huaweicloud_quota_limit_min",
            },
            Family::Client(f) => match f {
                ClientFigure::CallLimit => "huaweicloud_quota_client_call_limit",
                ClientFigure::WindowSeconds => "huaweicloud_quota_client_window_seconds",
                ClientFigure::BoundApps => "huaweicloud_quota_client_bound_apps",
                ClientFigure::ResetTimestamp => "huaweicloud_quota_client_reset_timestamp_seconds",
            },
            Family::ClientInfo => "huaweicloud_quota_client_info",
            Family::PollSuccess => "huaweicloud_quota_poll_success",
            Family::PollDuration => "huaweicloud_quota_poll_duration_seconds",
            Family::LastSuccess => "huaweicloud_quota_last_success_timestamp_seconds",
        }
    }

    /// The `# HELP` text.
    pub fn help(self) -> &'static str {
        match self {
            Family::Resource(f) => match f {
                ResourceFigure::Limit => "Current quota limit of a resource.",
                ResourceFigure::Used => "How much of the quota of a resource is used.",
                ResourceFigure::LimitMax => "Largest value the quota limit can be set to.",
                ResourceFigure::LimitMin => "Smallest value the quota limit can be set to.",
            },
            Family::Client(f) => match f {
                ClientFigure::CallLimit => "Calls a ROMA Connect client quota allows per window.",
                ClientFigure::WindowSeconds => {
                    "Length of a ROMA Connect client quota window in seconds."
                }
                ClientFigure::BoundApps => "Applications bound to a ROMA Connect client quota.",
                ClientFigure::ResetTimestamp => {
                    "When a ROMA Connect client quota is first reset, as Unix time."
                }
            },
            Family::ClientInfo => {
                "A ROMA Connect client quota's name, time unit and remark (value 1)."
            }
            Family::PollSuccess => "1 if the last poll of the target succeeded, else 0.",
            Family::PollDuration => "Duration of the last poll of the target in seconds.",
            Family::LastSuccess => "When the target was last polled successfully, as Unix time.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_prefixed() {
        let names: std::collections::BTreeSet<&str> =
            Family::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), Family::ALL.len());
        assert!(names.iter().all(|n| n.starts_with("huaweicloud_quota_")));
        assert!(Family::ALL.iter().all(|f| f.help().ends_with('.')));
    }
}
