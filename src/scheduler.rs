//! When each target is polled: one task per target (so a target never runs twice at
//! once), a jittered interval, a spread-out start, and expiry of stale data. The global
//! concurrency cap and the per-host rate limits live in the shared upstream client, so
//! they hold for every request whoever sends it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use rand::Rng as _;
use tokio::task::JoinHandle;

use crate::model::outcome::{ErrorCode, PollError};
use crate::model::target::Target;
use crate::store::Snapshot;
use crate::upstream::UpstreamClient;

/// Start-up polls are spread over at most this window (or the interval, if shorter).
const STARTUP_SPREAD: Duration = Duration::from_secs(1);

/// Runs the poll loops of the current target set.
pub struct Scheduler {
    client: Arc<UpstreamClient>,
    snapshot: Arc<Snapshot>,
    tasks: Mutex<HashMap<String, TargetTask>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").finish_non_exhaustive()
    }
}

/// A target's poll loop and the target it polls, which a reload may replace (the loop
/// takes the new one at its next poll). An `ArcSwap` rather than a channel: with 12,500
/// targets every byte per target counts.
struct TargetTask {
    target: Arc<ArcSwap<Target>>,
    handle: JoinHandle<()>,
}

impl Scheduler {
    /// A scheduler polling through `client` into `snapshot`.
    pub fn new(client: Arc<UpstreamClient>, snapshot: Arc<Snapshot>) -> Self {
        Scheduler {
            client,
            snapshot,
            tasks: Mutex::new(HashMap::new()),
        }
    }

    /// The upstream client every poll goes through.
    pub fn client(&self) -> &Arc<UpstreamClient> {
        &self.client
    }

    /// Makes `targets` the polled set: targets that stay keep their schedule (and take
    /// changed settings at their next poll), removed ones stop, new ones start at once.
    pub fn apply(&self, targets: &[Arc<Target>]) {
        self.apply_spread(targets, STARTUP_SPREAD);
    }

    /// [`Scheduler::apply`] with new targets starting spread over `spread` (at most their
    /// interval): a discovery refresh that finds many new instances does not burst.
    pub fn apply_spread(&self, targets: &[Arc<Target>], spread: Duration) {
        self.snapshot.set_targets(targets);
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let wanted: HashMap<&str, &Arc<Target>> =
            targets.iter().map(|t| (t.key.as_str(), t)).collect();
        tasks.retain(|key, task| {
            if wanted.contains_key(key.as_str()) {
                true
            } else {
                task.handle.abort();
                false
            }
        });
        let mut rng = rand::rng();
        for t in targets {
            match tasks.get(&t.key) {
                Some(task) => {
                    if **task.target.load() != **t {
                        task.target.store(t.clone());
                    }
                }
                None => {
                    let spread = spread.min(t.settings().interval);
                    let delay = spread.mul_f64(rng.random::<f64>());
                    let target = Arc::new(ArcSwap::new(t.clone()));
                    let handle = tokio::spawn(run_target(
                        target.clone(),
                        self.client.clone(),
                        self.snapshot.clone(),
                        delay,
                    ));
                    tasks.insert(t.key.clone(), TargetTask { target, handle });
                }
            }
        }
    }

    /// Stops every poll loop.
    pub fn stop(&self) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for (_, t) in tasks.drain() {
            t.handle.abort();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls one target, records the result in the snapshot and logs a failure.
/// Returns whether it succeeded.
pub async fn poll_and_record(
    client: &UpstreamClient,
    snapshot: &Snapshot,
    target: &Target,
) -> bool {
    let started = Instant::now();
    let result = crate::upstream::poll(client, target).await;
    let duration = started.elapsed();
    let finished_at = SystemTime::now();
    match result {
        Ok(output) => {
            if !output.value_errors.is_empty() {
                client.counters.count_error(
                    target.api().into(),
                    &ErrorCode::ParseValue,
                    output.value_errors.len() as u64,
                );
                for v in &output.value_errors {
                    tracing::warn!(
                        api = target.api().as_str(),
                        project = %target.project.id,
                        instance = %target.instance_id(),
                        error_code = "parse_value",
                        field = %v.field,
                        value = %v.raw,
                        reason = %v.reason,
                        "unreadable value dropped"
                    );
                }
            }
            tracing::debug!(
                api = target.api().as_str(),
                project = %target.project.id,
                instance = %target.instance_id(),
                resources = output.resources.len(),
                clients = output.clients.len(),
                duration_ms = duration.as_millis() as u64,
                "poll succeeded"
            );
            snapshot.record_success(&target.key, finished_at, duration, output);
            true
        }
        Err(e) => {
            log_failure(target, &e);
            snapshot.record_failure(&target.key, finished_at, duration, e);
            false
        }
    }
}

fn log_failure(target: &Target, e: &PollError) {
    tracing::warn!(
        api = target.api().as_str(),
        project = %target.project.id,
        instance = %target.instance_id(),
        error_code = %e.code,
        status = e.status.unwrap_or(0),
        request_id = e.request_id.as_deref().unwrap_or(""),
        reason = %e.message,
        "poll failed"
    );
}

/// Polls every target once, concurrently (within the client's limits).
/// Returns the number of targets that failed.
pub async fn poll_all_once(
    client: Arc<UpstreamClient>,
    snapshot: Arc<Snapshot>,
    targets: &[Arc<Target>],
) -> usize {
    snapshot.set_targets(targets);
    let mut set = tokio::task::JoinSet::new();
    for t in targets {
        let (client, snapshot, t) = (client.clone(), snapshot.clone(), t.clone());
        set.spawn(async move { poll_and_record(&client, &snapshot, &t).await });
    }
    let mut failed = 0;
    while let Some(r) = set.join_next().await {
        if !matches!(r, Ok(true)) {
            failed += 1;
        }
    }
    failed
}

/// A target's poll loop. Between polls it holds only its timer: the poll itself (a large
/// state machine: retries, authentication, the request) lives in its own allocation while
/// it runs.
async fn run_target(
    current: Arc<ArcSwap<Target>>,
    client: Arc<UpstreamClient>,
    snapshot: Arc<Snapshot>,
    initial_delay: Duration,
) {
    tokio::time::sleep(initial_delay).await;
    // A success restored from the persistence file counts: its data turns stale on time.
    let restored = snapshot.last_success(&current.load().key);
    let mut last_success: Option<Instant> = restored.and_then(|t| {
        let age = SystemTime::now().duration_since(t).unwrap_or_default();
        Instant::now().checked_sub(age)
    });
    loop {
        let target = current.load_full();
        let started = Instant::now();
        if Box::pin(poll_and_record(&client, &snapshot, &target)).await {
            last_success = Some(Instant::now());
        }
        let settings = target.settings();
        // +-10% jitter keeps targets that started together from staying in lockstep.
        let jitter = rand::rng().random_range(0.9..1.1);
        let next = started + settings.interval.mul_f64(jitter);
        // Wake early when held data turns stale, so it vanishes on time, not at the next poll.
        if let Some(ok) = last_success {
            let stale_at = ok + settings.max_staleness;
            if stale_at < next {
                tokio::time::sleep_until(stale_at.into()).await;
                snapshot.expire(&target.key, SystemTime::now(), settings.max_staleness);
            }
        }
        tokio::time::sleep_until(next.into()).await;
    }
}
