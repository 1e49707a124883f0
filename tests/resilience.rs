//! Resilience end to end: retries, throttling, staleness and reload, against the
//! simulator's faults; the exporter keeps serving what it knows.

mod common;

use std::time::Duration;

use common::{Exporter, raw_client};
use huaweicloud_quota_exporter::simulator::{Endpoint, Simulator, World};

const READY: Duration = Duration::from_secs(30);
const PID: &str = "0123456789abcdef0123456789abcdef";

async fn start_sim(world: World) -> Simulator {
    Simulator::start(([127, 0, 0, 1], 0).into(), world)
        .await
        .expect("simulator")
}

async fn scrape(exporter: &Exporter) -> String {
    raw_client()
        .get(format!("{}/metrics", exporter.base))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body")
}

/// Scrapes until `cond` holds for the body, failing after `deadline`.
async fn scrape_until(
    exporter: &Exporter,
    deadline: Duration,
    what: &str,
    cond: impl Fn(&str) -> bool,
) -> String {
    let start = std::time::Instant::now();
    loop {
        let body = scrape(exporter).await;
        if cond(&body) {
            return body;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out waiting for {what}; last scrape:\n{body}\nlogs:\n{}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reload_rejects_bad_config_and_applies_good_one() {
    let sim = start_sim(World::seeds()).await;
    let full = World::seeds().exporter_config_yaml(&sim.base_url(), "1h");
    assert!(
        full.contains("    eventgrid: {}\n") && full.contains("    gaussdb_mysql: {}\n"),
        "{full}"
    );
    let without_eventgrid = full.replace("    eventgrid: {}\n", "");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, &without_eventgrid).expect("write");
    let mut exporter = Exporter::start(&["--config.file", path.to_str().expect("utf-8")]);
    exporter.wait_ready(READY).await;
    let body = scrape(&exporter).await;
    assert!(body.contains(r#"api="gaussdb_mysql""#) && !body.contains(r#"api="eventgrid""#));
    assert!(body.contains("huaweicloud_quota_config_last_reload_successful 1"));

    // A broken config: rejected with its reason, the old targets keep serving.
    std::fs::write(
        &path,
        without_eventgrid.replace(
            "    gaussdb_mysql: {}\n",
            "    gaussdb_mysql: {}\n    bogus_key: 1\n",
        ),
    )
    .expect("write");
    exporter.signal("HUP");
    let body = scrape_until(&exporter, Duration::from_secs(10), "reload failure", |b| {
        b.contains("huaweicloud_quota_config_last_reload_successful 0")
    })
    .await;
    assert!(body.contains(r#"huaweicloud_quota_used{api="gaussdb_mysql",project_id="0123456789abcdef0123456789abcdef",resource="instance"} 4"#));
    let logs = exporter.logs();
    assert!(
        logs.contains("configuration reload failed") && logs.contains("unknown field `bogus_key`"),
        "{logs}"
    );

    // A good config that adds EventGrid and drops GaussDB: the new target is polled at
    // once (the interval is an hour), the removed one's series vanish, the others keep
    // their data and their schedule (no extra poll).
    let livedata_before = sim.request_count(Endpoint::Livedata);
    std::fs::write(&path, full.replace("    gaussdb_mysql: {}\n", "")).expect("write");
    exporter.signal("HUP");
    let body = scrape_until(
        &exporter,
        Duration::from_secs(10),
        "eventgrid after reload",
        |b| {
            b.contains("huaweicloud_quota_config_last_reload_successful 1")
                && b.contains(r#"huaweicloud_quota_poll_success{api="eventgrid""#)
        },
    )
    .await;
    assert!(
        !body.contains(r#"api="gaussdb_mysql",project_id"#),
        "removed target still present:\n{body}"
    );
    assert!(body.contains(&format!(
        r#"huaweicloud_quota_limit{{api="roma_livedata",project_id="{PID}""#
    )));
    assert_eq!(
        sim.request_count(Endpoint::Livedata),
        livedata_before,
        "a kept target was re-polled by the reload"
    );
}
