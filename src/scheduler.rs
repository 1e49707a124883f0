//! When each target is polled: one driver task keeps every target's next poll in a
//! queue (a target never runs twice at once), with a jittered interval, a spread-out
//! start, and expiry of stale data. A poll runs as its own task only while it runs, so an
//! idle target costs a queue entry, not a task and a timer (with 12,500 targets that is
//! megabytes). The global concurrency cap and the per-host rate limits live in the shared
//! upstream client, so they hold for every request whoever sends it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use rand::Rng as _;
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};

use crate::model::outcome::{ErrorCode, PollError};
use crate::model::target::Target;
use crate::store::Snapshot;
use crate::upstream::UpstreamClient;

/// Start-up polls are spread over at most this window (or the interval, if shorter).
const STARTUP_SPREAD: Duration = Duration::from_secs(1);

/// How late the sleeping driver may start a due poll so that polls due close together
/// start in one wake-up: with 12,500 targets, one wake-up per poll is most of the
/// driver's cost. Small against any interval (at least a second).
pub const BATCH_WINDOW: Duration = Duration::from_millis(10);

/// A runtime of its own for the polls: one thread that runs the driver, every poll and
/// the connections they open. A poll is a chain of small steps (a permit, a request
/// written, an answer read, the next permit); on one thread each step wakes the next
/// without a cross-thread hand-off, so the requests in flight stay at the concurrency cap
/// and each costs less CPU, while scrapes and renders keep the main runtime.
pub fn polling_runtime() -> std::io::Result<tokio::runtime::Handle> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("polling")
        .build()?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("polling".into())
        .spawn(move || rt.block_on(std::future::pending::<()>()))?;
    Ok(handle)
}

/// Runs the polls of the current target set.
pub struct Scheduler {
    inner: Arc<Inner>,
    driver: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").finish_non_exhaustive()
    }
}

struct Inner {
    /// Where the driver and the polls run.
    runtime: tokio::runtime::Handle,
    client: Arc<UpstreamClient>,
    snapshot: Arc<Snapshot>,
    state: Mutex<State>,
    /// Wakes the driver when the queue changed.
    changed: Notify,
}

/// The polled set: a slot per target (reused after removals, told apart by generation),
/// and the queue of what is due when.
#[derive(Default)]
struct State {
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_key: HashMap<String, u32>,
    queue: BinaryHeap<Reverse<Due>>,
    /// When the sleeping driver wakes by itself (`None`: only when told): an entry due
    /// later needs no wake-up, so a finished poll, whose next one is an interval away,
    /// costs the driver nothing.
    driver_wakes_at: Option<Instant>,
}

#[derive(Default)]
struct Slot {
    /// Bumped whenever the slot is freed, so queue entries of its old target are ignored.
    generation: u32,
    /// `None` while the slot is free.
    target: Option<Arc<Target>>,
    /// The poll in flight, if any.
    running: Option<AbortHandle>,
    /// When the target last succeeded (restored from the persistence file at first).
    last_success: Option<Instant>,
}

/// Something due for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at: Instant,
    slot: u32,
    generation: u32,
    what: Wake,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Wake {
    /// Poll the target.
    Poll,
    /// Its data turns stale: expire it, so it vanishes on time, not at the next poll.
    Expire,
}

impl Scheduler {
    /// A scheduler polling through `client` into `snapshot`, its polls running on
    /// `runtime` (see [`polling_runtime`]).
    pub fn new(
        runtime: tokio::runtime::Handle,
        client: Arc<UpstreamClient>,
        snapshot: Arc<Snapshot>,
    ) -> Self {
        Scheduler {
            inner: Arc::new(Inner {
                runtime,
                client,
                snapshot,
                state: Mutex::new(State::default()),
                changed: Notify::new(),
            }),
            driver: Mutex::new(None),
        }
    }

    /// The upstream client every poll goes through.
    pub fn client(&self) -> &Arc<UpstreamClient> {
        &self.inner.client
    }

    /// Makes `targets` the polled set: targets that stay keep their schedule (and take
    /// changed settings at their next poll), removed ones stop, new ones start at once.
    pub fn apply(&self, targets: &[Arc<Target>]) {
        self.apply_spread(targets, STARTUP_SPREAD);
    }

    /// [`Scheduler::apply`] with new targets starting spread over `spread` (at most their
    /// interval): a discovery refresh that finds many new instances does not burst.
    pub fn apply_spread(&self, targets: &[Arc<Target>], spread: Duration) {
        let inner = &self.inner;
        inner.snapshot.set_targets(targets);
        {
            let mut st = inner.lock();
            let st = &mut *st;
            let wanted: HashMap<&str, &Arc<Target>> =
                targets.iter().map(|t| (t.key.as_str(), t)).collect();
            let gone: Vec<u32> = st
                .by_key
                .iter()
                .filter(|(k, _)| !wanted.contains_key(k.as_str()))
                .map(|(_, i)| *i)
                .collect();
            for i in gone {
                st.free_slot(i);
            }
            let now = Instant::now();
            let mut rng = rand::rng();
            for t in targets {
                if let Some(&i) = st.by_key.get(&t.key) {
                    let slot = &mut st.slots[i as usize];
                    if slot.target.as_deref() != Some(&**t) {
                        slot.target = Some(t.clone());
                    }
                    continue;
                }
                // A success restored from the persistence file counts: its data turns
                // stale on time.
                let last_success = inner.snapshot.last_success(&t.key).and_then(|at| {
                    let age = SystemTime::now().duration_since(at).unwrap_or_default();
                    now.checked_sub(age)
                });
                let delay = spread
                    .min(t.settings().interval)
                    .mul_f64(rng.random::<f64>());
                let i = st.take_slot(t.clone(), last_success);
                st.push(i, now + delay, Wake::Poll);
            }
        }
        let mut driver = self.driver.lock().unwrap_or_else(|e| e.into_inner());
        if driver.is_none() {
            *driver = Some(inner.runtime.spawn(drive(inner.clone())));
        }
        inner.changed.notify_one();
    }

    /// Stops every poll.
    pub fn stop(&self) {
        if let Some(d) = self.driver.lock().unwrap_or_else(|e| e.into_inner()).take() {
            d.abort();
        }
        let mut st = self.inner.lock();
        for slot in &st.slots {
            if let Some(r) = &slot.running {
                r.abort();
            }
        }
        *st = State::default();
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// A slot for `target`, free or new.
    fn take_slot(&mut self, target: Arc<Target>, last_success: Option<Instant>) -> u32 {
        let key = target.key.clone();
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot::default());
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let slot = &mut self.slots[i as usize];
        slot.target = Some(target);
        slot.last_success = last_success;
        self.by_key.insert(key, i);
        i
    }

    /// Stops slot `i`'s target: its poll in flight is aborted, its queue entries void.
    fn free_slot(&mut self, i: u32) {
        let slot = &mut self.slots[i as usize];
        if let Some(r) = slot.running.take() {
            r.abort();
        }
        if let Some(t) = slot.target.take() {
            self.by_key.remove(&t.key);
        }
        slot.generation = slot.generation.wrapping_add(1);
        slot.last_success = None;
        self.free.push(i);
    }

    fn push(&mut self, slot: u32, at: Instant, what: Wake) {
        let generation = self.slots[slot as usize].generation;
        self.queue.push(Reverse(Due {
            at,
            slot,
            generation,
            what,
        }));
    }

    /// The next entry due by `now` that is still current.
    fn pop_due(&mut self, now: Instant) -> Option<Due> {
        while let Some(Reverse(d)) = self.queue.peek().copied() {
            if d.at > now {
                return None;
            }
            self.queue.pop();
            let slot = &self.slots[d.slot as usize];
            if slot.generation == d.generation && slot.target.is_some() {
                return Some(d);
            }
        }
        None
    }
}

/// The driver: starts what is due, then sleeps until the next entry or a change.
async fn drive(inner: Arc<Inner>) {
    loop {
        let changed = inner.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let next = {
            let mut st = inner.lock();
            let now = Instant::now();
            while let Some(d) = st.pop_due(now) {
                start(&inner, &mut st, d);
            }
            st.driver_wakes_at = st.queue.peek().map(|Reverse(d)| d.at + BATCH_WINDOW);
            st.driver_wakes_at
        };
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = &mut changed => {}
                }
            }
            None => changed.await,
        }
    }
}

/// Runs what `due` asks for slot `due.slot`.
fn start(inner: &Arc<Inner>, st: &mut State, due: Due) {
    let slot = &mut st.slots[due.slot as usize];
    let Some(target) = slot.target.clone() else {
        return;
    };
    match due.what {
        Wake::Expire => {
            let max = target.settings().max_staleness;
            if slot.last_success.is_some_and(|ok| ok + max <= due.at) {
                inner.snapshot.expire(&target.key, SystemTime::now(), max);
            }
        }
        Wake::Poll => {
            if slot.running.is_some() {
                return;
            }
            let task =
                inner
                    .runtime
                    .spawn(poll_slot(inner.clone(), due.slot, due.generation, target));
            slot.running = Some(task.abort_handle());
        }
    }
}

/// One poll of a slot's target; then its next poll (and an early stale wake-up) is queued.
async fn poll_slot(inner: Arc<Inner>, i: u32, generation: u32, target: Arc<Target>) {
    let started = Instant::now();
    let ok = poll_and_record(&inner.client, &inner.snapshot, &target).await;
    let mut st = inner.lock();
    let slot = &mut st.slots[i as usize];
    if slot.generation != generation {
        return;
    }
    slot.running = None;
    if ok {
        slot.last_success = Some(Instant::now());
    }
    // The settings of the target as it is now (a reload may have changed them).
    let settings = slot.target.as_ref().unwrap_or(&target).settings();
    // +-10% jitter keeps targets that started together from staying in lockstep.
    let jitter = rand::rng().random_range(0.9..1.1);
    let next = started + settings.interval.mul_f64(jitter);
    // Wake early when held data turns stale, so it vanishes on time, not at the next poll.
    let stale_at = slot.last_success.map(|ok| ok + settings.max_staleness);
    st.push(i, next, Wake::Poll);
    let mut earliest = next;
    if let Some(at) = stale_at.filter(|at| *at < next) {
        st.push(i, at, Wake::Expire);
        earliest = at;
    }
    let wake = st
        .driver_wakes_at
        .is_none_or(|t| earliest + BATCH_WINDOW < t);
    drop(st);
    if wake {
        inner.changed.notify_one();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_slot_ignores_what_its_old_target_had_queued() {
        let targets = crate::store::tests::targets();
        let mut st = State::default();
        let now = Instant::now();
        let a = st.take_slot(targets[0].clone(), None);
        st.push(a, now, Wake::Poll);
        st.push(a, now + Duration::from_secs(1), Wake::Expire);
        st.free_slot(a);
        // The slot goes to another target, whose entry alone is due.
        let b = st.take_slot(targets[1].clone(), None);
        assert_eq!(a, b, "the free slot is reused");
        st.push(b, now + Duration::from_millis(500), Wake::Poll);
        let later = now + Duration::from_secs(2);
        let due = st.pop_due(later).expect("the new target's poll");
        assert_eq!((due.slot, due.what), (b, Wake::Poll));
        assert_eq!(st.pop_due(later), None, "the old target's entries are void");
        assert_eq!(st.by_key.len(), 1);
        assert!(st.by_key.contains_key(&targets[1].key));
    }

    #[test]
    fn entries_come_due_in_time_order() {
        let targets = crate::store::tests::targets();
        let mut st = State::default();
        let now = Instant::now();
        let slots: Vec<u32> = targets[..3]
            .iter()
            .map(|t| st.take_slot(t.clone(), None))
            .collect();
        for (n, s) in slots.iter().enumerate() {
            st.push(*s, now + Duration::from_secs(3 - n as u64), Wake::Poll);
        }
        assert_eq!(st.pop_due(now), None, "nothing is due yet");
        let order: Vec<u32> = std::iter::from_fn(|| st.pop_due(now + Duration::from_secs(5)))
            .map(|d| d.slot)
            .collect();
        assert_eq!(order, vec![slots[2], slots[1], slots[0]]);
    }
}
