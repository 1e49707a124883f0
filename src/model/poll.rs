//! What one poll of one target produced: the quota figures, ready to become series.
//!
//! Upstream decoders build these; the snapshot stores them; the renderer and the landing
//! page read them. A figure that could not be read is `None` plus an entry in
//! [`PollOutput::value_errors`]: the series is dropped, never replaced by a made-up 0.

/// Limit and usage of one resource (`huaweicloud_quota_limit`, `_used`, `_limit_max`, `_limit_min`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceQuota {
    /// Lower-case resource name (`api`, `datasource`, `channel_subscription`, `instance`, ...).
    pub resource: String,
    /// The current limit.
    pub limit: Option<f64>,
    /// How much of the limit is used.
    pub used: Option<f64>,
    /// Largest value the limit can be set to (EventGrid `max`).
    pub limit_max: Option<f64>,
    /// Smallest value the limit can be set to (EventGrid `min`).
    pub limit_min: Option<f64>,
}

/// One ROMA Connect client quota (`huaweicloud_quota_client_*`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientQuota {
    /// `app_quota_id`.
    pub app_quota_id: String,
    /// Quota name, as upstream sent it.
    pub name: String,
    /// Normalised time unit: `SECOND`, `MINUTE`, `HOUR` (also for upstream `HOURE`) or `DAY`;
    /// empty when upstream sent none or an unknown one.
    pub time_unit: String,
    /// Free-text remark, as upstream sent it (may be empty).
    pub remark: String,
    /// `call_limits`: calls allowed per window.
    pub call_limit: Option<f64>,
    /// `time_interval` x `time_unit` in seconds.
    pub window_seconds: Option<f64>,
    /// `bound_app_num`.
    pub bound_apps: Option<f64>,
    /// `reset_time` as Unix seconds, when given.
    pub reset_timestamp: Option<f64>,
}

/// A single figure that could not be read; its series is dropped and counted as `parse_value`.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueError {
    /// Where it was: for example `quotas.resources[0].used` or `api_used`.
    pub field: String,
    /// The raw JSON text of the value (truncated to a sane length).
    pub raw: String,
    /// Why it could not be read.
    pub reason: String,
}

/// Everything one successful poll of one target produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PollOutput {
    /// Resource limits and usage (livedata, EventGrid, GaussDB).
    pub resources: Vec<ResourceQuota>,
    /// Client quotas (ROMA app quotas).
    pub clients: Vec<ClientQuota>,
    /// Values that could not be read; each dropped only its own series.
    pub value_errors: Vec<ValueError>,
}
