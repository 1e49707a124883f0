//! The current state of every target: last poll and last good data. A poll result
//! replaces its target's entry in one step under one lock, so a render never sees a
//! half-updated target.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use crate::model::discovery::DiscoveryStatus;
use crate::model::outcome::PollError;
use crate::model::poll::PollOutput;
use crate::model::target::Target;

/// How the last poll of a target went.
#[derive(Clone, Debug)]
pub struct PollRecord {
    /// When it finished.
    pub finished_at: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// `None` on success (boxed: kept for every target, mostly `None`).
    pub error: Option<Box<PollError>>,
    /// Values that could not be read in an otherwise good poll.
    pub value_errors: usize,
}

/// Everything known about one target.
#[derive(Clone, Debug)]
pub struct TargetStatus {
    /// The target.
    pub target: Arc<Target>,
    /// The last poll, once there was one.
    pub last_poll: Option<PollRecord>,
    /// When a poll last succeeded.
    pub last_success: Option<SystemTime>,
    /// The last good data, until it is older than `max_staleness`.
    pub data: Option<Arc<PollOutput>>,
}

impl TargetStatus {
    fn new(target: Arc<Target>) -> Self {
        TargetStatus {
            target,
            last_poll: None,
            last_success: None,
            data: None,
        }
    }

    /// Starts from state the persistence file kept; data older than the target's
    /// `max_staleness` at `now` is not resurrected.
    fn load(&mut self, r: RestoredTarget, now: SystemTime) {
        let max_staleness = self.target.settings().max_staleness;
        let fresh = r
            .last_success
            .is_some_and(|t| now.duration_since(t).unwrap_or_default() < max_staleness);
        self.last_poll = Some(r.last_poll);
        self.last_success = r.last_success;
        self.data = if fresh { r.data.map(Arc::new) } else { None };
    }
}

/// The state of all targets, plus change notification for the renderer.
#[derive(Debug, Default)]
pub struct Snapshot {
    targets: Mutex<Targets>,
    changed: Notify,
    /// Fired when the last unpolled target gets its first result.
    all_polled: Notify,
    generation: AtomicU64,
    /// Counts changes of target state only (not of reload or persistence status): the
    /// persistence file is rewritten only when this moved.
    changes: AtomicU64,
    reload_ok: AtomicBool,
    /// How the last write of the persistence file went (`None`: persistence is off).
    persistence: Mutex<Option<PersistenceStatus>>,
    /// What was restored from the persistence file at start, for the landing page.
    restored: Mutex<Option<Arc<str>>>,
    /// The latest discovery status per credential.
    discovery: Mutex<Arc<Vec<DiscoveryStatus>>>,
}

/// How the last write of the persistence file went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PersistenceStatus {
    /// Whether the last attempt succeeded (true before the first one: the file was writable at start).
    pub last_write_ok: bool,
    /// When a write last succeeded.
    pub last_write: Option<SystemTime>,
}

/// A target's state as the persistence file kept it: what [`Snapshot::restore`] loads.
#[derive(Clone, Debug)]
pub struct RestoredTarget {
    /// The target's stable key.
    pub key: String,
    /// Its last poll.
    pub last_poll: PollRecord,
    /// When a poll of it last succeeded.
    pub last_success: Option<SystemTime>,
    /// Its last good data, unless stale.
    pub data: Option<PollOutput>,
}

/// The targets by key, and how many of them have no poll result yet.
#[derive(Debug, Default)]
struct Targets {
    by_key: BTreeMap<String, TargetStatus>,
    /// Targets without a result, plus discoveries whose first run is pending (readiness
    /// waits for those too: their targets are not known yet).
    unpolled: usize,
    pending_discoveries: usize,
    /// State from the persistence file for targets not known at start: discovered ones,
    /// restored when discovery lists them again; dropped once every discovery has run.
    parked: HashMap<String, RestoredTarget>,
}

impl Targets {
    /// Records that `key` has a poll result now.
    fn polled(&mut self, key: &str) -> Option<&mut TargetStatus> {
        let s = self.by_key.get_mut(key)?;
        if s.last_poll.is_none() {
            self.unpolled = self.unpolled.saturating_sub(1);
        }
        Some(s)
    }
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        let s = Snapshot::default();
        s.reload_ok.store(true, Ordering::Relaxed);
        s
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Targets> {
        self.targets.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut Targets)) {
        let now_all_polled = {
            let mut g = self.lock();
            let before = g.unpolled;
            f(&mut g);
            before > 0 && g.unpolled == 0
        };
        self.changes.fetch_add(1, Ordering::Release);
        self.generation.fetch_add(1, Ordering::Release);
        self.changed.notify_one();
        if now_all_polled {
            self.all_polled.notify_waiters();
        }
    }

    /// Sets the target list: targets that stay keep their data, removed ones vanish,
    /// new ones start unpolled.
    pub fn set_targets(&self, targets: &[Arc<Target>]) {
        self.update(|m| {
            let mut next = BTreeMap::new();
            for t in targets {
                let status = match m.by_key.remove(&t.key) {
                    Some(mut old) => {
                        old.target = t.clone();
                        old
                    }
                    None => {
                        let mut status = TargetStatus::new(t.clone());
                        if let Some(r) = m.parked.remove(&t.key) {
                            status.load(r, SystemTime::now());
                        }
                        status
                    }
                };
                next.insert(t.key.clone(), status);
            }
            m.unpolled =
                next.values().filter(|s| s.last_poll.is_none()).count() + m.pending_discoveries;
            m.by_key = next;
        });
    }

    /// Records a successful poll: its data replaces the target's old data at once.
    pub fn record_success(
        &self,
        key: &str,
        finished_at: SystemTime,
        duration: Duration,
        mut output: PollOutput,
    ) {
        // Held until the next poll: no room left over from the decoder's growth.
        output.resources.shrink_to_fit();
        output.clients.shrink_to_fit();
        output.value_errors.shrink_to_fit();
        let value_errors = output.value_errors.len();
        self.update(|m| {
            if let Some(s) = m.polled(key) {
                s.last_poll = Some(PollRecord {
                    finished_at,
                    duration,
                    error: None,
                    value_errors,
                });
                s.last_success = Some(finished_at);
                s.data = Some(Arc::new(output));
            }
        });
    }

    /// Records a failed poll: the old data stays (until [`Snapshot::expire`]).
    pub fn record_failure(
        &self,
        key: &str,
        finished_at: SystemTime,
        duration: Duration,
        error: PollError,
    ) {
        self.update(|m| {
            if let Some(s) = m.polled(key) {
                s.last_poll = Some(PollRecord {
                    finished_at,
                    duration,
                    error: Some(Box::new(error)),
                    value_errors: 0,
                });
            }
        });
    }

    /// Drops a target's data if its last success is older than `max_staleness` at `now`.
    /// Returns whether anything was dropped.
    pub fn expire(&self, key: &str, now: SystemTime, max_staleness: Duration) -> bool {
        let stale = {
            let g = self.lock();
            g.by_key.get(key).is_some_and(|s| {
                s.data.is_some()
                    && s.last_success
                        .is_none_or(|t| now.duration_since(t).unwrap_or_default() >= max_staleness)
            })
        };
        if stale {
            self.update(|m| {
                if let Some(s) = m.by_key.get_mut(key) {
                    s.data = None;
                }
            });
        }
        stale
    }

    /// Loads state kept by the persistence file into targets that are configured and have
    /// no poll result yet (a poll that got there first wins); others are skipped. Returns
    /// how many were loaded. A loaded target counts as polled for readiness.
    pub fn restore(&self, restored: Vec<RestoredTarget>) -> usize {
        let mut loaded = 0;
        self.update(|m| {
            for r in restored {
                let Some(s) = m.by_key.get_mut(&r.key) else {
                    continue;
                };
                if s.last_poll.is_some() {
                    continue;
                }
                s.last_poll = Some(r.last_poll);
                s.last_success = r.last_success;
                s.data = r.data.map(Arc::new);
                m.unpolled = m.unpolled.saturating_sub(1);
                loaded += 1;
            }
        });
        loaded
    }

    /// Keeps state from the persistence file for targets not configured at start (they may
    /// be discovered): a target that appears later with one of these keys starts from it,
    /// its data dropped if older than its `max_staleness`. Kept until every discovery has
    /// had its first run; without discovery, nothing is kept.
    pub fn park(&self, restored: Vec<RestoredTarget>) {
        let mut g = self.lock();
        g.parked = restored.into_iter().map(|r| (r.key.clone(), r)).collect();
    }

    /// How many parked states are still waiting for their target.
    pub fn parked(&self) -> usize {
        self.lock().parked.len()
    }

    /// When a poll of `key` last succeeded (restored or polled).
    pub fn last_success(&self, key: &str) -> Option<SystemTime> {
        self.lock().by_key.get(key).and_then(|s| s.last_success)
    }

    /// Counts changes of target state; the persistence writer compares it to skip work.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Readiness also waits for the first run of `n` discoveries.
    pub fn set_pending_discoveries(&self, n: usize) {
        // No change, no render: an empty render before the targets are set would count as
        // "every target polled".
        if n == 0 {
            self.lock().parked = HashMap::new();
        }
        if self.lock().pending_discoveries == n {
            return;
        }
        self.update(|m| {
            m.unpolled = m.unpolled - m.pending_discoveries.min(m.unpolled) + n;
            m.pending_discoveries = n;
        });
    }

    /// A pending discovery finished its first run (its targets are set already).
    pub fn discovery_done(&self) {
        self.update(|m| {
            if m.pending_discoveries > 0 {
                m.pending_discoveries -= 1;
                m.unpolled = m.unpolled.saturating_sub(1);
            }
            if m.pending_discoveries == 0 {
                m.parked = HashMap::new();
            }
        });
    }

    /// Publishes the discovery status of every credential.
    pub fn set_discovery(&self, statuses: Vec<DiscoveryStatus>) {
        *self.discovery.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(statuses);
        self.generation.fetch_add(1, Ordering::Release);
        self.changed.notify_one();
    }

    /// The discovery status of every credential (empty without discovery).
    pub fn discovery(&self) -> Arc<Vec<DiscoveryStatus>> {
        self.discovery
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records how a write of the persistence file went (shown as metrics).
    pub fn set_persistence_status(&self, status: PersistenceStatus) {
        *self.persistence.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
        self.generation.fetch_add(1, Ordering::Release);
        self.changed.notify_one();
    }

    /// How the last write of the persistence file went; `None` when persistence is off.
    pub fn persistence_status(&self) -> Option<PersistenceStatus> {
        *self.persistence.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records what was restored at start (one line for the landing page).
    pub fn set_restored(&self, note: impl Into<Arc<str>>) {
        *self.restored.lock().unwrap_or_else(|e| e.into_inner()) = Some(note.into());
    }

    /// What was restored at start, if persistence is on.
    pub fn restored(&self) -> Option<Arc<str>> {
        self.restored
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Marks the result of the last config reload.
    pub fn set_reload_ok(&self, ok: bool) {
        self.reload_ok.store(ok, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Release);
        self.changed.notify_one();
    }

    /// Result of the last config reload.
    pub fn reload_ok(&self) -> bool {
        self.reload_ok.load(Ordering::Relaxed)
    }

    /// A consistent copy of every target's status (cheap: shares the data).
    pub fn view(&self) -> Vec<TargetStatus> {
        let mut out = Vec::new();
        self.view_into(&mut out);
        out
    }

    /// [`Snapshot::view`] into `out` (cleared first), reusing its allocation.
    pub fn view_into(&self, out: &mut Vec<TargetStatus>) {
        out.clear();
        let g = self.lock();
        out.reserve(g.by_key.len());
        out.extend(g.by_key.values().cloned());
    }

    /// [`Snapshot::view_into`], and how many discoveries have not finished their first
    /// run, read under one lock (readiness counts those as targets not yet polled).
    pub fn view_with_pending(&self, out: &mut Vec<TargetStatus>) -> usize {
        out.clear();
        let g = self.lock();
        out.reserve(g.by_key.len());
        out.extend(g.by_key.values().cloned());
        g.pending_discoveries
    }

    /// Whether every target has a poll result (success or failure).
    pub fn all_polled(&self) -> bool {
        self.lock().unpolled == 0
    }

    /// Waits until every target has a poll result; returns at once if they all have.
    pub async fn wait_all_polled(&self) {
        loop {
            let notified = self.all_polled.notified();
            tokio::pin!(notified);
            // Registered before the check, so a result that lands in between still wakes us.
            notified.as_mut().enable();
            if self.all_polled() {
                return;
            }
            notified.await;
        }
    }

    /// Counts changes; the renderer compares it to skip work.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Waits until something changed since the last call returned.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Wakes the renderer without a change (for example to finish a pending render).
    pub fn poke(&self) {
        self.changed.notify_one();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{Config, ProcessEnv};
    use crate::model::target::{self, Shard};
    use crate::simulator::World;

    /// The demo world's targets (shared with other modules' tests).
    pub(crate) fn targets() -> Vec<Arc<Target>> {
        let yaml = World::demo().exporter_config_yaml("http://127.0.0.1:9", "1m");
        let config = Config::from_yaml(std::path::Path::new("t.yaml"), &yaml, &ProcessEnv)
            .unwrap_or_else(|e| panic!("the demo config is valid: {e}"));
        target::targets(&config, Shard::default())
    }

    #[tokio::test]
    async fn all_polled_counts_first_results_across_reloads() {
        let all = targets();
        assert!(all.len() >= 4, "{}", all.len());
        let s = Arc::new(Snapshot::new());
        s.set_targets(&all[..2]);
        assert!(!s.all_polled());
        let now = SystemTime::now();
        let took = Duration::from_millis(5);
        s.record_failure(
            &all[0].key,
            now,
            took,
            PollError::local(crate::model::outcome::ErrorCode::Timeout, "slow"),
        );
        // A second result for the same target does not count twice.
        s.record_success(&all[0].key, now, took, PollOutput::default());
        assert!(!s.all_polled());
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.wait_all_polled().await }
        });
        tokio::task::yield_now().await;
        s.record_success(&all[1].key, now, took, PollOutput::default());
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken when the last target got its first result")
            .expect("the waiter does not panic");
        assert!(s.all_polled());
        // A reload that adds targets waits for them too; targets that stay keep their state.
        s.set_targets(&all);
        assert!(!s.all_polled());
        for t in &all[2..] {
            s.record_failure(
                &t.key,
                now,
                took,
                PollError::local(crate::model::outcome::ErrorCode::Timeout, "slow"),
            );
        }
        assert!(s.all_polled());
        s.wait_all_polled().await;
    }
}
