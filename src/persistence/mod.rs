//! No gap across restarts: the last good state of every target kept in a file
//! (`--persistence.file`), restored at start, rewritten at most every
//! `--persistence.interval` and at shutdown.
//!
//! Restoring loads only targets the running config still has, with their original
//! timestamps; data older than the target's `max_staleness` is not resurrected. Writing
//! happens on a blocking thread, after a copy of the store's view (a few `Arc` clones
//! under the store's lock), so polls and scrapes never wait for it. The format lives in
//! [`format`], the atomic file handling in [`file`].

pub mod file;
pub mod format;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;

use crate::model::target::Target;
use crate::store::{PersistenceStatus, RestoredTarget, Snapshot};

/// Why persistence could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The file cannot be written.
    #[error(
        "--persistence.file {path}: cannot write there ({source}); make the directory exist and be writable by this user (a volume in Kubernetes, StateDirectory= in systemd), or leave out --persistence.file"
    )]
    Unwritable {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The interval is zero.
    #[error("--persistence.interval must be longer than 0s")]
    ZeroInterval,
    /// The start-up work could not run.
    #[error("--persistence.file {path}: the start-up read did not finish: {reason}")]
    Interrupted {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// What a start found in the file and loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Targets loaded into the store.
    pub restored: usize,
    /// Their values (series of quota figures).
    pub values: usize,
    /// Targets in the file that the config no longer has.
    pub not_configured: usize,
    /// Restored targets whose data was older than their `max_staleness` (outcome kept,
    /// values dropped).
    pub stale: usize,
    /// Why the file was not used, when it was not.
    pub ignored: Option<String>,
    /// When the file was written.
    pub written_at: Option<SystemTime>,
}

impl RestoreReport {
    /// One line for the landing page and the log.
    pub fn describe(&self, path: &Path, configured: usize) -> String {
        let mut s = String::new();
        if let Some(why) = &self.ignored {
            let _ = write!(s, "nothing restored from {}: {why}", path.display());
            return s;
        }
        let _ = write!(
            s,
            "restored {} of {configured} targets ({} values) from {}",
            self.restored,
            self.values,
            path.display()
        );
        if let Some(at) = self.written_at {
            let _ = write!(s, ", written {}", humantime::format_rfc3339_seconds(at));
        }
        if self.stale > 0 {
            let _ = write!(
                s,
                "; {} past max_staleness kept their last poll but not their values",
                self.stale
            );
        }
        if self.not_configured > 0 {
            let _ = write!(
                s,
                "; {} no longer configured, left out",
                self.not_configured
            );
        }
        s
    }
}

/// Keeps the store's state in the file.
#[derive(Debug)]
pub struct Persistence {
    path: PathBuf,
    interval: Duration,
    snapshot: Arc<Snapshot>,
    /// The store's change count at the last successful write.
    written: AtomicU64,
    /// One write at a time, so the one at shutdown is the last.
    writing: Arc<Mutex<()>>,
    /// The periodic writer.
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Persistence {
    /// Reads the file into `snapshot` (whose targets are set already), checks that the file
    /// can be written, and starts writing it every `interval`. A file that cannot be used is
    /// logged and ignored; a path that cannot be written is an error.
    pub async fn start(
        path: PathBuf,
        interval: Duration,
        snapshot: Arc<Snapshot>,
        targets: &[Arc<Target>],
    ) -> Result<Arc<Persistence>, StartError> {
        if interval.is_zero() {
            return Err(StartError::ZeroInterval);
        }
        let p = path.clone();
        let read = tokio::task::spawn_blocking(move || {
            let read = read_file(&p);
            file::check_writable(&p).map(|()| read)
        })
        .await
        .map_err(|e| StartError::Interrupted {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let decoded = read.map_err(|source| StartError::Unwritable {
            path: path.display().to_string(),
            source,
        })?;
        let report = match decoded {
            Ok(decoded) => load(&snapshot, targets, decoded, SystemTime::now()),
            Err(why) => RestoreReport {
                ignored: Some(why),
                ..RestoreReport::default()
            },
        };
        let note = report.describe(&path, targets.len());
        match &report.ignored {
            Some(reason) => {
                tracing::warn!(file = %path.display(), reason = %reason, "persistence file not used; starting without it (it is replaced at the next write)")
            }
            None => tracing::info!(
                file = %path.display(),
                restored = report.restored,
                values = report.values,
                not_configured = report.not_configured,
                stale = report.stale,
                "restored state from the persistence file"
            ),
        }
        snapshot.set_restored(note);
        snapshot.set_persistence_status(PersistenceStatus {
            last_write_ok: true,
            last_write: None,
        });
        let persistence = Arc::new(Persistence {
            path,
            interval,
            // What was just restored is in the file already.
            written: AtomicU64::new(snapshot.changes()),
            snapshot,
            writing: Arc::new(Mutex::new(())),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(persistence.clone().run());
        *persistence.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(persistence)
    }

    /// Stops the periodic writer and writes once more if anything changed.
    pub async fn finish(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
        self.write_if_changed().await;
    }

    async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: the state was just restored, nothing to write.
        tick.tick().await;
        loop {
            tick.tick().await;
            self.write_if_changed().await;
        }
    }

    /// Writes the file if the store changed since the last successful write. Returns
    /// whether a write succeeded.
    pub async fn write_if_changed(&self) -> bool {
        if self.snapshot.changes() == self.written.load(Ordering::Acquire) {
            return true;
        }
        let (snapshot, path, writing) = (
            self.snapshot.clone(),
            self.path.clone(),
            self.writing.clone(),
        );
        let result = tokio::task::spawn_blocking(move || {
            let _one_at_a_time = writing.lock().unwrap_or_else(|e| e.into_inner());
            // Read the count before the view: a change in between is written again later.
            let changes = snapshot.changes();
            let view = snapshot.view();
            let now = SystemTime::now();
            let bytes = format::encode(&view, now);
            drop(view);
            file::write_atomic(&path, &bytes).map(|()| (changes, bytes.len(), now))
        })
        .await;
        let previous = self.snapshot.persistence_status();
        match result {
            Ok(Ok((changes, bytes, at))) => {
                self.written.store(changes, Ordering::Release);
                tracing::debug!(file = %self.path.display(), bytes, "persistence file written");
                self.snapshot.set_persistence_status(PersistenceStatus {
                    last_write_ok: true,
                    last_write: Some(at),
                });
                true
            }
            Ok(Err(e)) => {
                tracing::warn!(file = %self.path.display(), error = %e, "cannot write the persistence file; the exporter keeps running and tries again at the next interval");
                self.snapshot.set_persistence_status(PersistenceStatus {
                    last_write_ok: false,
                    last_write: previous.and_then(|p| p.last_write),
                });
                false
            }
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "the persistence write did not finish");
                false
            }
        }
    }
}

/// The file decoded, or why it cannot be used (missing, unreadable, not ours...).
fn read_file(path: &Path) -> Result<format::Decoded, String> {
    match file::read(path) {
        Ok(Some(bytes)) => format::decode(&bytes).map_err(|e| e.to_string()),
        Ok(None) => Err("there is no such file yet".to_string()),
        Err(e) => Err(format!("cannot read it: {e}")),
    }
}

/// Loads what `decoded` holds for targets still in `targets` into `snapshot`, dropping
/// values older than each target's `max_staleness` at `now`.
pub fn load(
    snapshot: &Snapshot,
    targets: &[Arc<Target>],
    decoded: format::Decoded,
    now: SystemTime,
) -> RestoreReport {
    let configured: std::collections::HashMap<&str, &Target> =
        targets.iter().map(|t| (t.key.as_str(), &**t)).collect();
    let mut report = RestoreReport {
        written_at: Some(decoded.written_at),
        ..RestoreReport::default()
    };
    let mut keep: Vec<RestoredTarget> = Vec::with_capacity(decoded.targets.len());
    let mut parked = Vec::new();
    for mut r in decoded.targets {
        let Some(target) = configured.get(r.key.as_str()) else {
            report.not_configured += 1;
            parked.push(r);
            continue;
        };
        let max_staleness = target.settings().max_staleness;
        let fresh = r
            .last_success
            .is_some_and(|t| now.duration_since(t).unwrap_or_default() < max_staleness);
        if r.data.is_some() && !fresh {
            r.data = None;
            report.stale += 1;
        }
        report.values += r.data.as_ref().map_or(0, values_of);
        keep.push(r);
    }
    report.restored = snapshot.restore(keep);
    // Discovered targets are not known yet: they start from the file when discovery
    // lists them again (the store drops what no discovery claims).
    snapshot.park(parked);
    report
}

fn values_of(d: &crate::model::poll::PollOutput) -> usize {
    let resources: usize = d
        .resources
        .iter()
        .map(|r| {
            [r.limit, r.used, r.limit_max, r.limit_min]
                .iter()
                .flatten()
                .count()
        })
        .sum();
    let clients: usize = d
        .clients
        .iter()
        .map(|c| {
            [
                c.call_limit,
                c.window_seconds,
                c.bound_apps,
                c.reset_timestamp,
            ]
            .iter()
            .flatten()
            .count()
        })
        .sum();
    resources + clients
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ProcessEnv};
    use crate::model::poll::{PollOutput, ResourceQuota};
    use crate::model::target::{self, Shard};
    use crate::simulator::World;

    fn targets() -> Vec<Arc<Target>> {
        let yaml = World::demo()
            .exporter_config_yaml("http://127.0.0.1:9", "1m")
            .replacen("defaults:\n", "defaults:\n  max_staleness: 10m\n", 1);
        let config = Config::from_yaml(Path::new("t.yaml"), &yaml, &ProcessEnv)
            .unwrap_or_else(|e| panic!("the demo config is valid: {e}"));
        target::targets(&config, Shard::default())
    }

    #[test]
    fn load_restores_configured_targets_and_drops_stale_values() {
        let all = targets();
        assert!(all.len() >= 3, "{}", all.len());
        let now = SystemTime::now();
        let before = Arc::new(Snapshot::new());
        before.set_targets(&all);
        let output = PollOutput {
            resources: vec![ResourceQuota {
                resource: "api".into(),
                limit: Some(10.0),
                used: Some(3.0),
                ..ResourceQuota::default()
            }],
            ..PollOutput::default()
        };
        let fresh = now - Duration::from_secs(60);
        let old = now - Duration::from_secs(3600);
        let took = Duration::from_millis(3);
        before.record_success(&all[0].key, fresh, took, output.clone());
        before.record_success(&all[1].key, old, took, output.clone());
        before.record_success(&all[2].key, fresh, took, output);
        let decoded = format::decode(&format::encode(&before.view(), now))
            .unwrap_or_else(|e| panic!("decodes: {e}"));

        // A config without the third target.
        let configured: Vec<Arc<Target>> = all
            .iter()
            .filter(|t| t.key != all[2].key)
            .cloned()
            .collect();
        let after = Snapshot::new();
        after.set_targets(&configured);
        let report = load(&after, &configured, decoded, now);
        assert_eq!(
            (
                report.restored,
                report.stale,
                report.not_configured,
                report.values
            ),
            (2, 1, 1, 2),
            "{report:?}"
        );
        let view = after.view();
        let get = |key: &str| view.iter().find(|s| s.target.key == key);
        let first = get(&all[0].key).unwrap_or_else(|| unreachable!());
        assert_eq!(first.last_success, Some(fresh));
        assert!(first.data.is_some());
        let second = get(&all[1].key).unwrap_or_else(|| unreachable!());
        assert_eq!(second.last_success, Some(old));
        assert!(second.data.is_none(), "stale values are not resurrected");
        assert!(get(&all[2].key).is_none());
        let line = report.describe(Path::new("/s/state"), configured.len());
        assert!(line.starts_with("restored 2 of"), "{line}");
        assert!(line.contains("1 no longer configured"), "{line}");
    }

    #[tokio::test]
    async fn a_path_that_becomes_unwritable_is_a_warning_and_a_metric_not_a_crash() {
        let all = targets();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let state_dir = dir.path().join("state");
        std::fs::create_dir(&state_dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let path = state_dir.join("exporter.state");
        let snapshot = Arc::new(Snapshot::new());
        snapshot.set_targets(&all);
        let p = Persistence::start(
            path.clone(),
            Duration::from_secs(3600),
            snapshot.clone(),
            &all,
        )
        .await
        .unwrap_or_else(|e| panic!("starts: {e}"));
        let ok = |s: &Snapshot| s.persistence_status().map(|p| p.last_write_ok);
        assert_eq!(ok(&snapshot), Some(true));
        // Nothing changed: nothing written.
        assert!(p.write_if_changed().await);
        assert!(!path.exists());
        let now = SystemTime::now();
        snapshot.record_success(
            &all[0].key,
            now,
            Duration::from_millis(1),
            PollOutput::default(),
        );
        assert!(p.write_if_changed().await);
        let written = snapshot.persistence_status().and_then(|s| s.last_write);
        assert!(written.is_some());
        assert!(path.exists());
        // The directory goes away: the write fails, the exporter carries on.
        std::fs::remove_dir_all(&state_dir).unwrap_or_else(|e| panic!("rm: {e}"));
        snapshot.record_success(
            &all[0].key,
            now,
            Duration::from_millis(1),
            PollOutput::default(),
        );
        assert!(!p.write_if_changed().await);
        assert_eq!(ok(&snapshot), Some(false));
        assert_eq!(
            snapshot.persistence_status().and_then(|s| s.last_write),
            written
        );
        // It comes back: the next write succeeds.
        std::fs::create_dir(&state_dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        p.finish().await;
        assert_eq!(ok(&snapshot), Some(true));
        assert!(path.exists());
    }
}
