//! No gap across restarts, end to end: the real binary against the simulator, with
//! `--persistence.file`. After the first good poll the simulator answers every request
//! with a 500 (or stalls), so whatever is served after a restart can only have come from
//! the file.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Exporter, scrape, scrape_until, start_sim};
use huaweicloud_quota_exporter::persistence::format;
use huaweicloud_quota_exporter::simulator::{
    DEMO_TOKEN, Endpoint, Fault, SIM_ACCESS_KEY, SIM_SECRET_KEY, Simulator, World,
};
use rand::Rng as _;

const READY: Duration = Duration::from_secs(30);

/// The seed world's targets: ROMA livedata, ROMA client quotas, EventGrid, GaussDB.
const TARGETS: usize = 4;

/// A config directory with the config and the state file path.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    state: PathBuf,
}

impl Setup {
    fn new(sim: &Simulator, interval: &str, defaults: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.yaml");
        let state = dir.path().join("state").join("exporter.state");
        std::fs::create_dir(dir.path().join("state")).expect("mkdir");
        let setup = Setup { dir, config, state };
        setup.write_config(&config_yaml(sim, interval, defaults));
        setup
    }

    fn write_config(&self, yaml: &str) {
        std::fs::write(&self.config, yaml).expect("write config");
    }

    /// Starts the exporter with this config and state file, writing every `persistence_interval`.
    fn start(&self, persistence_interval: &str) -> Exporter {
        Exporter::start(&[
            "--config.file",
            self.config.to_str().expect("utf-8"),
            "--persistence.file",
            self.state.to_str().expect("utf-8"),
            "--persistence.interval",
            persistence_interval,
        ])
    }

    fn read_state(&self) -> Result<format::Decoded, String> {
        let bytes = std::fs::read(&self.state).map_err(|e| e.to_string())?;
        format::decode(&bytes).map_err(|e| e.to_string())
    }

    /// Waits until the state file decodes and every target in it has values.
    async fn wait_state_complete(&self, deadline: Duration) -> format::Decoded {
        let start = Instant::now();
        loop {
            if let Ok(d) = self.read_state()
                && d.targets.len() == TARGETS
                && d.targets.iter().all(|t| t.data.is_some())
            {
                return d;
            }
            assert!(
                start.elapsed() < deadline,
                "the state file was not written with every target within {deadline:?}: {:?}",
                self.read_state().map(|d| d.targets.len())
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn config_yaml(sim: &Simulator, interval: &str, defaults: &str) -> String {
    World::seeds()
        .exporter_config_yaml(&sim.base_url(), interval)
        .replacen(
            "defaults:\n",
            &format!("defaults:\n  retries: 0\n{defaults}"),
            1,
        )
}

/// The lines that carry quota values or the last success time, sorted: what a restart
/// must serve unchanged.
fn kept_lines(body: &str) -> Vec<String> {
    let mut lines: Vec<String> = body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            [
                "huaweicloud_quota_limit",
                "huaweicloud_quota_used",
                "huaweicloud_quota_client_",
                "huaweicloud_quota_last_success_timestamp_seconds",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// [`kept_lines`] without the timestamps: the quota values alone.
fn value_lines(body: &str) -> Vec<String> {
    kept_lines(body)
        .into_iter()
        .filter(|l| !l.starts_with("huaweicloud_quota_last_success_timestamp_seconds"))
        .collect()
}

fn has_values(body: &str) -> bool {
    body.lines()
        .any(|l| l.starts_with("huaweicloud_quota_used{"))
}

/// The value of the first line that starts with `prefix`.
fn value_of(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

/// Every request fails from now on.
fn fail_everything(sim: &Simulator) {
    sim.faults().push(Fault::everywhere().with_status(500));
}

/// Every request hangs from now on (the first poll after a restart does not end soon).
fn stall_everything(sim: &Simulator) {
    sim.faults()
        .push(Fault::everywhere().with_latency(Duration::from_secs(120)));
}

/// A good first run that leaves a complete state file and stops cleanly; returns what it
/// served.
async fn first_run(setup: &Setup) -> String {
    let mut exporter = setup.start("100ms");
    exporter.wait_ready(READY).await;
    setup.wait_state_complete(READY).await;
    let body = scrape_until(&exporter, READY, "every value", |b| {
        kept_lines(b).len() > 10
    })
    .await;
    exporter.signal("TERM");
    assert!(exporter.wait_exit(Duration::from_secs(15)).success());
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_never_loses_the_state() {
    let started = Instant::now();
    let sim = start_sim(World::seeds()).await;
    // Polls every second, so the file changes (and is rewritten every 50 ms) all the time.
    let setup = Setup::new(&sim, "1s", "  max_staleness: 1h\n");
    let exporter = setup.start("50ms");
    exporter.wait_ready(READY).await;
    setup.wait_state_complete(READY).await;
    scrape_until(&exporter, READY, "a write's timestamp", |b| {
        b.contains("\nhuaweicloud_quota_persistence_last_write_timestamp_seconds ")
            && has_line(b, "huaweicloud_quota_persistence_last_write_success 1")
    })
    .await;
    fail_everything(&sim);
    // Once every target failed a poll, its last success is final: that is what every
    // restart must serve.
    let body = scrape_until(&exporter, READY, "every target failing", |b| {
        b.lines()
            .filter(|l| l.starts_with("huaweicloud_quota_poll_success{") && l.ends_with(" 0"))
            .count()
            == TARGETS
    })
    .await;
    let original = kept_lines(&body);
    assert!(original.len() > 10, "{original:?}");
    let mut rng = rand::rng();
    // Killed at a random moment while it fails polls and rewrites the file.
    let uptime = rng.random_range(0..700);
    tokio::time::sleep(Duration::from_millis(uptime)).await;
    drop(exporter);

    let kills = 15;
    for kill in 1..=kills {
        // No torn file, whenever the kill came.
        let decoded = setup
            .read_state()
            .unwrap_or_else(|e| panic!("after kill {kill}, the state file does not decode: {e}"));
        assert_eq!(decoded.targets.len(), TARGETS, "after kill {kill}");
        let exporter = setup.start("50ms");
        exporter.wait_ready(READY).await;
        let body = scrape(&exporter).await;
        assert_eq!(
            kept_lines(&body),
            original,
            "restart {kill} serves what the first run polled, with its timestamps; logs:\n{}",
            exporter.logs()
        );
        assert!(
            exporter
                .logs()
                .contains("restored state from the persistence file"),
            "{}",
            exporter.logs()
        );
        let uptime = rng.random_range(0..700);
        tokio::time::sleep(Duration::from_millis(uptime)).await;
        drop(exporter); // SIGKILL
    }
    assert!(
        sim.request_count(Endpoint::Gaussdb) > 1,
        "the restarted exporters polled (and failed)"
    );
    eprintln!("{kills} kills in {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restored_results_are_served_at_once_with_their_original_timestamps() {
    let sim = start_sim(World::seeds()).await;
    let setup = Setup::new(&sim, "1h", "  max_staleness: 2h\n");
    let original = first_run(&setup).await;
    stall_everything(&sim);

    let exporter = setup.start("100ms");
    // Ready with no poll finished: every target has a restored result.
    exporter.wait_ready(READY).await;
    let body = scrape(&exporter).await;
    assert_eq!(kept_lines(&body), kept_lines(&original));
    // The restored outcome until the first poll ends.
    let success_lines = |b: &str| {
        b.lines()
            .filter(|l| l.starts_with("huaweicloud_quota_poll_success{"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(success_lines(&body).len(), TARGETS);
    assert!(
        success_lines(&body).iter().all(|l| l.ends_with(" 1")),
        "{body}"
    );
    let ts = value_of(&body, "huaweicloud_quota_last_success_timestamp_seconds{")
        .expect("a last success timestamp");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!(ts < now, "{ts} is from the first run, before {now}");
    assert!(has_line(
        &body,
        "huaweicloud_quota_persistence_last_write_success 1"
    ));

    let (status, _, page) = exporter.get("/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("restored {TARGETS} of {TARGETS} targets")),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restored_values_expire_at_max_staleness_from_the_original_success() {
    let sim = start_sim(World::seeds()).await;
    let setup = Setup::new(&sim, "2s", "  max_staleness: 6s\n");
    first_run(&setup).await;
    let kept = setup.dir.path().join("kept.state");
    std::fs::copy(&setup.state, &kept).expect("copy");
    fail_everything(&sim);

    let exporter = setup.start("100ms");
    exporter.wait_ready(READY).await;
    let body = scrape(&exporter).await;
    assert!(has_values(&body), "restored values are served: {body}");
    let success = value_of(
        &body,
        "huaweicloud_quota_last_success_timestamp_seconds{api=\"gaussdb_mysql\"",
    )
    .expect("gaussdb's last success");
    let gaussdb_used = |b: &str| {
        b.lines()
            .any(|l| l.starts_with("huaweicloud_quota_used{api=\"gaussdb_mysql\""))
    };
    assert!(gaussdb_used(&body));
    scrape_until(
        &exporter,
        Duration::from_secs(15),
        "gaussdb values expire",
        |b| !gaussdb_used(b),
    )
    .await;
    let gone_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let after = gone_at - success;
    // max_staleness counts from the original success, not from the restart.
    assert!(
        (5.5..9.0).contains(&after),
        "values vanished {after:.1} s after their original success (max_staleness 6s)"
    );
    // Every target's values go (each had its own last success).
    scrape_until(
        &exporter,
        Duration::from_secs(15),
        "every value expires",
        |b| value_lines(b).is_empty(),
    )
    .await;
    drop(exporter);

    // A file older than max_staleness: its outcome comes back, its values do not.
    std::fs::copy(&kept, &setup.state).expect("copy back");
    let exporter = setup.start("100ms");
    exporter.wait_ready(READY).await;
    let body = scrape(&exporter).await;
    assert!(
        !has_values(&body),
        "stale values are not resurrected: {body}"
    );
    assert!(
        body.contains("huaweicloud_quota_last_success_timestamp_seconds{"),
        "{body}"
    );
    let (_, _, page) = exporter.get("/").await;
    assert!(page.contains("past max_staleness"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_targets_are_not_restored() {
    let sim = start_sim(World::seeds()).await;
    let setup = Setup::new(&sim, "1h", "  max_staleness: 2h\n");
    let original = first_run(&setup).await;
    assert!(original.contains("api=\"gaussdb_mysql\""));
    stall_everything(&sim);
    let yaml = config_yaml(&sim, "1h", "  max_staleness: 2h\n");
    assert!(yaml.contains("    gaussdb_mysql: {}\n"), "{yaml}");
    setup.write_config(&yaml.replace("    gaussdb_mysql: {}\n", ""));

    let exporter = setup.start("100ms");
    exporter.wait_ready(READY).await;
    let body = scrape(&exporter).await;
    assert!(!body.contains("api=\"gaussdb_mysql\""), "{body}");
    let without_gaussdb: Vec<String> = kept_lines(&original)
        .into_iter()
        .filter(|l| !l.contains("api=\"gaussdb_mysql\""))
        .collect();
    assert_eq!(kept_lines(&body), without_gaussdb);
    let (_, _, page) = exporter.get("/").await;
    assert!(
        page.contains(&format!("restored {} of {}", TARGETS - 1, TARGETS - 1))
            && page.contains("1 no longer configured"),
        "{page}"
    );
    // Gone from the file too at the next write.
    drop(exporter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_foreign_truncated_and_newer_files_are_logged_and_ignored() {
    let sim = start_sim(World::seeds()).await;
    let setup = Setup::new(&sim, "1h", "");
    first_run(&setup).await;
    let good = std::fs::read(&setup.state).expect("state");
    let mut newer = good.clone();
    newer[8..10].copy_from_slice(&(format::VERSION + 1).to_le_bytes());
    let mut flipped = good.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0xff;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "foreign",
            br#"{"targets":[]}"#.to_vec(),
            "not a state file of this exporter",
        ),
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
        ("corrupt", flipped, "checksum mismatch"),
        ("newer", newer, "by a newer version of the exporter"),
        ("empty", Vec::new(), "the file is empty"),
    ];
    for (name, bytes, reason) in cases {
        std::fs::write(&setup.state, &bytes).expect("write");
        let exporter = setup.start("100ms");
        // Ready from its own polls (the simulator answers normally here).
        exporter.wait_ready(READY).await;
        let logs = exporter.logs();
        assert!(
            logs.contains("persistence file not used") && logs.contains(reason),
            "{name}: {logs}"
        );
        let (_, _, page) = exporter.get("/").await;
        assert!(page.contains("nothing restored from"), "{name}: {page}");
        // Replaced by a good file at the next write.
        setup.wait_state_complete(READY).await;
        drop(exporter);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_holds_no_secret() {
    let sim = start_sim(World::seeds()).await;
    let setup = Setup::new(&sim, "1h", "");
    let yaml = config_yaml(&sim, "1h", "");
    let token_line = format!("    token: {DEMO_TOKEN}\n");
    assert!(yaml.contains(&token_line), "{yaml}");
    setup.write_config(&yaml.replace(
        &token_line,
        &format!("    access_key: {SIM_ACCESS_KEY}\n    secret_key: {SIM_SECRET_KEY}\n"),
    ));
    first_run(&setup).await;
    let bytes = std::fs::read(&setup.state).expect("state");
    let text = String::from_utf8_lossy(&bytes);
    for secret in [SIM_SECRET_KEY, SIM_ACCESS_KEY] {
        assert!(!text.contains(secret), "{secret} is in the state file");
    }
    assert_no_secret_in_dir(setup.dir.path(), &setup.config);
}

/// Nothing besides the config in the directory holds the secret (no leftover temporary).
fn assert_no_secret_in_dir(dir: &Path, config: &Path) {
    for entry in walk(dir) {
        if entry == config {
            continue;
        }
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SIM_SECRET_KEY),
            "{} holds the secret",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_path_stops_the_start_with_a_clear_message() {
    let sim = start_sim(World::seeds()).await;
    let setup = Setup::new(&sim, "1h", "");
    let missing = setup.dir.path().join("no-such-dir").join("exporter.state");
    let (code, _, stderr) = common::run(&[
        "--config.file",
        setup.config.to_str().expect("utf-8"),
        "--persistence.file",
        missing.to_str().expect("utf-8"),
        "--web.listen-address",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("--persistence.file") && stderr.contains("cannot write there"),
        "{stderr}"
    );
}

fn has_line(body: &str, line: &str) -> bool {
    body.lines().any(|l| l == line)
}

/// The shipped examples keep the file where it survives a restart: a volume in Kubernetes
/// (the root file system is read-only there), `StateDirectory=` under systemd.
#[test]
fn deploy_examples_keep_the_state_on_a_volume() {
    let read = |p: &str| {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(p))
            .unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    let flag = "--persistence.file=/var/lib/huaweicloud-quota-exporter/exporter.state";
    for p in [
        "deploy/kubernetes/deployment.yaml",
        "deploy/kubernetes/statefulset-sharded.yaml",
    ] {
        let m = read(p);
        assert!(m.contains(&format!("- {flag}")), "{p}: no {flag}");
        assert!(
            m.contains(
                "- name: state\n              mountPath: /var/lib/huaweicloud-quota-exporter\n"
            ),
            "{p}: the state volume is not mounted there"
        );
    }
    assert!(
        read("deploy/kubernetes/deployment.yaml").contains("claimName: huaweicloud-quota-exporter")
    );
    assert!(read("deploy/kubernetes/statefulset-sharded.yaml").contains("volumeClaimTemplates:"));
    let unit = read("deploy/systemd/huaweicloud-quota-exporter.service");
    assert!(
        unit.contains("StateDirectory=huaweicloud-quota-exporter\n"),
        "{unit}"
    );
    let exec = unit
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .unwrap_or_default();
    assert!(exec.contains(flag), "{exec}");
}
