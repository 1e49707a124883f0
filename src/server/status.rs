//! What the landing page and `/api/v1/status` show: every target with its last poll,
//! every quota sorted by utilisation (fullest first), every client quota.
//!
//! The [`StatusModel`] is built from the snapshot only when the snapshot changed, and at
//! most once per [`MIN_REBUILD_GAP`] (polls of thousands of targets change it many times a
//! second); both views share it, and the JSON bytes are serialised once per model. A page
//! view then costs one page of rows, whatever the number of targets.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde::Serialize;

use crate::model::discovery::DiscoveryStatus;
use crate::model::poll::{ClientQuota, PollOutput, ResourceQuota};
use crate::model::target::Target;
use crate::model::time::unix_seconds;
use crate::store::{Snapshot, TargetStatus};

/// A model younger than this is reused even when the snapshot moved on.
pub const MIN_REBUILD_GAP: Duration = Duration::from_secs(1);

/// Utilisation from which a quota is a warning (amber).
pub const WARNING: f64 = 0.80;
/// Utilisation from which a quota is critical (red).
pub const CRITICAL: f64 = 0.95;

/// How a target's last poll went; the order is the display order (failed first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    /// The last poll failed.
    Failed,
    /// Not polled yet.
    Pending,
    /// The last poll succeeded.
    Ok,
}

impl TargetState {
    /// The JSON and CSS name.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Failed => "failed",
            TargetState::Pending => "pending",
            TargetState::Ok => "ok",
        }
    }
}

/// How full a quota is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// At or above [`CRITICAL`].
    Critical,
    /// At or above [`WARNING`].
    Warning,
    /// Below [`WARNING`].
    Ok,
    /// No utilisation: usage or limit unknown, or no limit (negative).
    Unknown,
}

impl Level {
    /// The level of a utilisation.
    pub fn of(utilisation: Option<f64>) -> Level {
        match utilisation {
            Some(u) if u >= CRITICAL => Level::Critical,
            Some(u) if u >= WARNING => Level::Warning,
            Some(_) => Level::Ok,
            None => Level::Unknown,
        }
    }

    /// The JSON and CSS name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Critical => "critical",
            Level::Warning => "warning",
            Level::Ok => "ok",
            Level::Unknown => "unknown",
        }
    }
}

/// used / limit, as an alert rule computes it; `None` when it means nothing: a figure
/// missing, a negative limit (some clouds write -1 for unlimited), or 0 of 0.
/// Usage above a zero limit is infinitely over.
pub fn utilisation(used: Option<f64>, limit: Option<f64>) -> Option<f64> {
    let (used, limit) = (used?, limit?);
    if !used.is_finite() || !limit.is_finite() || limit < 0.0 {
        return None;
    }
    if limit == 0.0 {
        return (used > 0.0).then_some(f64::INFINITY);
    }
    Some(used / limit)
}

/// One target and how its last poll went.
#[derive(Clone, Debug)]
pub struct TargetRow {
    /// The target's state in the snapshot.
    pub status: TargetStatus,
    /// Derived from the last poll.
    pub state: TargetState,
}

/// One resource quota of one target.
#[derive(Clone, Debug)]
pub struct QuotaRow {
    /// Whose quota.
    pub target: Arc<Target>,
    data: Arc<PollOutput>,
    index: usize,
    /// used / limit.
    pub utilisation: Option<f64>,
    /// Colour.
    pub level: Level,
}

impl QuotaRow {
    /// The figures.
    pub fn quota(&self) -> &ResourceQuota {
        &self.data.resources[self.index]
    }
}

/// One ROMA Connect client quota.
#[derive(Clone, Debug)]
pub struct ClientRow {
    /// Whose quota.
    pub target: Arc<Target>,
    data: Arc<PollOutput>,
    index: usize,
}

impl ClientRow {
    /// The figures.
    pub fn quota(&self) -> &ClientQuota {
        &self.data.clients[self.index]
    }
}

/// Counts for the summary cards and the JSON.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Targets configured (in this shard).
    pub targets: usize,
    /// Targets whose last poll succeeded.
    pub targets_ok: usize,
    /// Targets whose last poll failed.
    pub targets_failed: usize,
    /// Targets not polled yet.
    pub targets_pending: usize,
    /// Resource quotas.
    pub quotas: usize,
    /// Quotas at or above 80%, below 95%.
    pub quotas_warning: usize,
    /// Quotas at or above 95%.
    pub quotas_critical: usize,
    /// Client quotas.
    pub client_quotas: usize,
}

/// Everything both views show, sorted for display.
#[derive(Debug)]
pub struct StatusModel {
    /// Snapshot generation it was built from.
    pub generation: u64,
    /// When it was built.
    pub built_at: SystemTime,
    built: Instant,
    /// When the process started.
    pub started_at: SystemTime,
    /// Result of the last config reload.
    pub reload_ok: bool,
    /// Failed first, then pending, then ok; each by key.
    pub targets: Vec<TargetRow>,
    /// Fullest first; quotas without a utilisation last.
    pub quotas: Vec<QuotaRow>,
    /// By target, in upstream order.
    pub clients: Vec<ClientRow>,
    /// Counts.
    pub summary: Summary,
    /// The discovery status of every credential that discovers.
    pub discovery: Arc<Vec<DiscoveryStatus>>,
    /// What was restored from the persistence file at start (`None`: persistence is off).
    pub restored: Option<Arc<str>>,
    json: OnceLock<Bytes>,
}

impl StatusModel {
    /// Builds the model from a snapshot view.
    pub fn build(
        generation: u64,
        view: Vec<TargetStatus>,
        reload_ok: bool,
        started_at: SystemTime,
    ) -> StatusModel {
        let mut summary = Summary {
            targets: view.len(),
            ..Summary::default()
        };
        let mut targets = Vec::with_capacity(view.len());
        let mut quotas = Vec::new();
        let mut clients = Vec::new();
        for status in view {
            let state = match &status.last_poll {
                None => TargetState::Pending,
                Some(p) if p.error.is_some() => TargetState::Failed,
                Some(_) => TargetState::Ok,
            };
            match state {
                TargetState::Failed => summary.targets_failed += 1,
                TargetState::Pending => summary.targets_pending += 1,
                TargetState::Ok => summary.targets_ok += 1,
            }
            if let Some(data) = &status.data {
                for (index, r) in data.resources.iter().enumerate() {
                    let u = utilisation(r.used, r.limit);
                    let level = Level::of(u);
                    match level {
                        Level::Critical => summary.quotas_critical += 1,
                        Level::Warning => summary.quotas_warning += 1,
                        _ => {}
                    }
                    quotas.push(QuotaRow {
                        target: status.target.clone(),
                        data: data.clone(),
                        index,
                        utilisation: u,
                        level,
                    });
                }
                for index in 0..data.clients.len() {
                    clients.push(ClientRow {
                        target: status.target.clone(),
                        data: data.clone(),
                        index,
                    });
                }
            }
            targets.push(TargetRow { status, state });
        }
        // The snapshot view is in key order and both sorts are stable.
        targets.sort_by_key(|t| t.state);
        quotas.sort_by(|a, b| match (a.utilisation, b.utilisation) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        summary.quotas = quotas.len();
        summary.client_quotas = clients.len();
        StatusModel {
            generation,
            built_at: SystemTime::now(),
            built: Instant::now(),
            started_at,
            reload_ok,
            targets,
            quotas,
            clients,
            summary,
            discovery: Arc::default(),
            restored: None,
            json: OnceLock::new(),
        }
    }

    /// The model with the discovery status shown too.
    pub fn with_discovery(mut self, discovery: Arc<Vec<DiscoveryStatus>>) -> StatusModel {
        self.discovery = discovery;
        self
    }

    /// The `/api/v1/status` body (serialised once per model).
    pub fn json(&self) -> Bytes {
        self.json.get_or_init(|| self.render_json()).clone()
    }

    fn render_json(&self) -> Bytes {
        let status = JsonStatus {
            version: env!("CARGO_PKG_VERSION"),
            start_timestamp_seconds: unix_seconds(self.started_at),
            generated_timestamp_seconds: unix_seconds(self.built_at),
            config_last_reload_successful: self.reload_ok,
            summary: &self.summary,
            discovery: self.discovery.iter().map(json_discovery).collect(),
            targets: self.targets.iter().map(JsonTarget::of).collect(),
            quotas: self.quotas.iter().map(JsonQuota::of).collect(),
            client_quotas: self.clients.iter().map(JsonClient::of).collect(),
        };
        match serde_json::to_vec(&status) {
            Ok(mut v) => {
                v.push(b'\n');
                Bytes::from(v)
            }
            // Only plain structs of strings and numbers: cannot fail, but never panic.
            Err(e) => Bytes::from(format!("{{\"error\":\"{e}\"}}\n")),
        }
    }
}

/// One credential's discovery as JSON: the last run, the projects with their instances,
/// the skipped projects with their reason.
fn json_discovery(d: &DiscoveryStatus) -> serde_json::Value {
    serde_json::json!({
        "credentials": d.credentials,
        "success": d.success,
        "last_run_timestamp_seconds": d.last_run.map(unix_seconds),
        "last_run_duration_seconds": d.duration.as_secs_f64(),
        "last_success_timestamp_seconds": d.last_success.map(unix_seconds),
        "next_run_timestamp_seconds": d.next_run.map(unix_seconds),
        "targets": d.targets,
        "errors": d.errors.iter().map(|(scope, e)| serde_json::json!({
            "scope": scope,
            "code": e.code.as_str(),
            "status": e.status,
            "message": e.message,
            "request_id": e.request_id,
        })).collect::<Vec<_>>(),
        "projects": d.projects.iter().map(|p| serde_json::json!({
            "id": p.id,
            "name": p.name,
            "region": p.region,
            "configured": p.configured,
            "stale_instances": p.stale_instances,
            "notes": p.notes,
            "instances": p.instances.iter().map(|i| serde_json::json!({
                "id": i.id,
                "name": i.name,
                "status": i.status,
                "polled": i.skipped.is_none(),
                "skipped": i.skipped,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "skipped_projects": d.skipped.iter().map(|p| serde_json::json!({
            "id": p.id,
            "name": p.name,
            "reason": p.reason,
        })).collect::<Vec<_>>(),
    })
}

/// An instance id, left out of the JSON when the API has none.
fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

impl<'a> JsonTarget<'a> {
    fn of(t: &'a TargetRow) -> Self {
        let target = &t.status.target;
        let poll = t.status.last_poll.as_ref();
        JsonTarget {
            key: &target.key,
            api: target.api().as_str(),
            project_id: &target.project.id,
            project_name: &target.project.name,
            instance_id: non_empty(target.instance_id()),
            state: t.state,
            last_poll_timestamp_seconds: poll.map(|p| unix_seconds(p.finished_at)),
            last_poll_duration_seconds: poll.map(|p| p.duration.as_secs_f64()),
            last_success_timestamp_seconds: t.status.last_success.map(unix_seconds),
            unreadable_values: poll.map_or(0, |p| p.value_errors),
            error: poll.and_then(|p| p.error.as_ref()).map(|e| JsonError {
                code: e.code.as_str(),
                status: e.status,
                message: &e.message,
                request_id: e.request_id.as_deref(),
            }),
        }
    }
}

impl<'a> JsonQuota<'a> {
    fn of(q: &'a QuotaRow) -> Self {
        let r = q.quota();
        JsonQuota {
            api: q.target.api().as_str(),
            project_id: &q.target.project.id,
            project_name: &q.target.project.name,
            instance_id: non_empty(q.target.instance_id()),
            resource: &r.resource,
            used: r.used,
            limit: r.limit,
            limit_min: r.limit_min,
            limit_max: r.limit_max,
            utilisation: q.utilisation.filter(|u| u.is_finite()),
            level: q.level,
        }
    }
}

impl<'a> JsonClient<'a> {
    fn of(c: &'a ClientRow) -> Self {
        let q = c.quota();
        JsonClient {
            project_id: &c.target.project.id,
            project_name: &c.target.project.name,
            instance_id: c.target.instance_id(),
            app_quota_id: &q.app_quota_id,
            name: &q.name,
            time_unit: &q.time_unit,
            remark: &q.remark,
            call_limit: q.call_limit,
            window_seconds: q.window_seconds,
            bound_apps: q.bound_apps,
            reset_timestamp_seconds: q.reset_timestamp,
        }
    }
}

#[derive(Serialize)]
struct JsonStatus<'a> {
    version: &'static str,
    start_timestamp_seconds: f64,
    generated_timestamp_seconds: f64,
    config_last_reload_successful: bool,
    summary: &'a Summary,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    discovery: Vec<serde_json::Value>,
    targets: Vec<JsonTarget<'a>>,
    quotas: Vec<JsonQuota<'a>>,
    client_quotas: Vec<JsonClient<'a>>,
}

#[derive(Serialize)]
struct JsonTarget<'a> {
    key: &'a str,
    api: &'static str,
    project_id: &'a str,
    project_name: &'a str,
    instance_id: Option<String>,
    state: TargetState,
    last_poll_timestamp_seconds: Option<f64>,
    last_poll_duration_seconds: Option<f64>,
    last_success_timestamp_seconds: Option<f64>,
    unreadable_values: usize,
    error: Option<JsonError<'a>>,
}

#[derive(Serialize)]
struct JsonError<'a> {
    code: std::borrow::Cow<'a, str>,
    status: Option<u16>,
    message: &'a str,
    request_id: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonQuota<'a> {
    api: &'static str,
    project_id: &'a str,
    project_name: &'a str,
    instance_id: Option<String>,
    resource: &'a str,
    used: Option<f64>,
    limit: Option<f64>,
    limit_min: Option<f64>,
    limit_max: Option<f64>,
    utilisation: Option<f64>,
    level: Level,
}

#[derive(Serialize)]
struct JsonClient<'a> {
    project_id: &'a str,
    project_name: &'a str,
    instance_id: &'a str,
    app_quota_id: &'a str,
    name: &'a str,
    time_unit: &'a str,
    remark: &'a str,
    call_limit: Option<f64>,
    window_seconds: Option<f64>,
    bound_apps: Option<f64>,
    reset_timestamp_seconds: Option<f64>,
}

/// The current model, rebuilt on demand when the snapshot changed (at most once per
/// [`MIN_REBUILD_GAP`]). Concurrent requests wait for one build instead of each building.
#[derive(Debug, Default)]
pub struct StatusCache {
    model: Mutex<Option<Arc<StatusModel>>>,
}

impl StatusCache {
    /// The model for the snapshot as it is now (or at most [`MIN_REBUILD_GAP`] ago).
    pub fn get(&self, snapshot: &Snapshot, started_at: SystemTime) -> Arc<StatusModel> {
        let mut slot = self.model.lock().unwrap_or_else(|e| e.into_inner());
        // Read the generation before the view: the model never claims a newer state
        // than it holds.
        let generation = snapshot.generation();
        if let Some(m) = slot.as_ref()
            && (m.generation == generation || m.built.elapsed() < MIN_REBUILD_GAP)
        {
            return m.clone();
        }
        let mut model = StatusModel::build(
            generation,
            snapshot.view(),
            snapshot.reload_ok(),
            started_at,
        )
        .with_discovery(snapshot.discovery());
        model.restored = snapshot.restored();
        let model = Arc::new(model);
        *slot = Some(model.clone());
        model
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utilisation_like_an_alert_rule() {
        assert_eq!(utilisation(Some(4.0), Some(5.0)), Some(0.8));
        assert_eq!(utilisation(Some(0.0), Some(0.0)), None);
        assert_eq!(utilisation(Some(1.0), Some(0.0)), Some(f64::INFINITY));
        assert_eq!(
            utilisation(Some(3.0), Some(-1.0)),
            None,
            "negative: unlimited"
        );
        assert_eq!(utilisation(None, Some(5.0)), None);
        assert_eq!(Level::of(Some(0.95)), Level::Critical);
        assert_eq!(Level::of(Some(0.8)), Level::Warning);
        assert_eq!(Level::of(Some(0.79)), Level::Ok);
        assert_eq!(Level::of(Some(f64::INFINITY)), Level::Critical);
        assert_eq!(Level::of(None), Level::Unknown);
    }
}
