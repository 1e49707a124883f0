//! Soak, bounded to about a minute: 120+ targets, the simulator injecting random faults
//! into 30% of requests. The exporter must never panic, keep memory flat, serve a valid
//! exposition on every scrape, and every target must recover once the faults stop.

mod common;

use std::time::{Duration, Instant};

use common::{Exporter, promtool_check_metrics, raw_client, validate_exposition};
use huaweicloud_quota_exporter::simulator::{Endpoint, Simulator, World};

const CHAOS: Duration = Duration::from_secs(40);
const INSTANCES: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_random_faults_then_recovery() {
    let world = World::with_roma_instances(INSTANCES);
    let sim = Simulator::start(([127, 0, 0, 1], 0).into(), world.clone())
        .await
        .expect("simulator");
    let yaml = world.exporter_config_yaml(&sim.base_url(), "2s").replacen(
        "defaults:\n",
        "defaults:\n  timeout: 1s\n  max_staleness: 1h\n  concurrency: 32\n  rate_limit: 200\n",
        1,
    );
    let (_dir, path) = common::write_temp("c.yaml", &yaml);
    let exporter = Exporter::start(&["--config.file", path.to_str().expect("utf-8")]);
    exporter.wait_ready(Duration::from_secs(60)).await;
    let client = raw_client();
    let scrape = || async {
        client
            .get(format!("{}/metrics", exporter.base))
            .send()
            .await
            .expect("the exporter must keep answering")
            .text()
            .await
            .expect("body")
    };
    let first = scrape().await;
    let targets = first
        .lines()
        .filter(|l| l.starts_with("huaweicloud_quota_poll_success{"))
        .count();
    assert!(targets >= 100, "only {targets} targets");
    // Memory after the first full round, before any fault.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_start = exporter.rss_kib();

    sim.faults().chaos(0.3);
    let started = Instant::now();
    let mut scrapes = 0;
    let mut failing_seen = 0usize;
    while started.elapsed() < CHAOS {
        let body = scrape().await;
        let samples = validate_exposition(&body)
            .unwrap_or_else(|e| panic!("invalid exposition during chaos: {e}"));
        assert!(samples > 1000, "only {samples} samples");
        failing_seen = failing_seen.max(
            body.lines()
                .filter(|l| l.starts_with("huaweicloud_quota_poll_success{") && l.ends_with(" 0"))
                .count(),
        );
        if scrapes % 20 == 0 {
            let lint = promtool_check_metrics(&body);
            assert!(lint.is_empty(), "promtool during chaos:\n{lint}");
        }
        scrapes += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let rss_end = exporter.rss_kib();
    sim.faults().chaos(0.0);
    let injected = sim.faults().injected();
    let requests: u64 = Endpoint::ALL.iter().map(|e| sim.request_count(*e)).sum();

    // Recovery: every target's last poll succeeds again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let recovered = loop {
        let body = scrape().await;
        validate_exposition(&body).unwrap_or_else(|e| panic!("invalid exposition: {e}"));
        let polls: Vec<&str> = body
            .lines()
            .filter(|l| l.starts_with("huaweicloud_quota_poll_success{"))
            .collect();
        if polls.len() == targets && polls.iter().all(|l| l.ends_with(" 1")) {
            break started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "targets did not recover:\n{}",
            polls
                .iter()
                .filter(|l| l.ends_with(" 0"))
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let logs = exporter.logs();
    assert!(!logs.contains("panicked"), "the exporter panicked:\n{logs}");
    eprintln!(
        "soak: {targets} targets, {requests} upstream requests, {injected} random faults ({:.0}%), {scrapes} valid scrapes, up to {failing_seen} targets failing at once, RSS {rss_start} KiB -> {rss_end} KiB, all recovered {:.1} s after chaos began",
        100.0 * injected as f64 / requests.max(1) as f64,
        recovered.as_secs_f64()
    );
    assert!(
        injected > 100,
        "too few faults to mean anything: {injected}"
    );
    assert!(failing_seen > 0, "faults never showed as failed polls");
    // Flat memory: no growth beyond allocator noise.
    assert!(
        rss_end <= rss_start + rss_start / 2 + 4096,
        "RSS grew from {rss_start} KiB to {rss_end} KiB"
    );
}
