//! Resilience end to end: retries, throttling, staleness and reload, against the
//! simulator's faults; the exporter keeps serving what it knows.

mod common;

use std::time::Duration;

use common::{Exporter, scrape, scrape_until, start_sim};
use huaweicloud_quota_exporter::simulator::{Endpoint, Fault, Simulator, World};

const READY: Duration = Duration::from_secs(30);
const PID: &str = "0123456789abcdef0123456789abcdef";

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
    assert!(has(
        &body,
        "huaweicloud_quota_config_last_reload_successful 1"
    ));

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
        has(b, "huaweicloud_quota_config_last_reload_successful 0")
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
            has(b, "huaweicloud_quota_config_last_reload_successful 1")
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

/// Runs `--once` against `sim` with `extra_defaults` added to the `defaults:` block.
async fn once(sim: &Simulator, extra_defaults: &str) -> (i32, String, String) {
    let yaml = World::seeds()
        .exporter_config_yaml(&sim.base_url(), "1h")
        .replacen("defaults:\n", &format!("defaults:\n{extra_defaults}"), 1);
    let (dir, path) = common::write_temp("c.yaml", &yaml);
    let p = path.to_string_lossy().into_owned();
    let out = tokio::task::spawn_blocking(move || common::run(&["--once", "--config.file", &p]))
        .await
        .expect("join");
    drop(dir);
    out
}

fn has(body: &str, line: &str) -> bool {
    body.lines().any(|l| l == line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_gets_the_right_retries_and_error_codes() {
    // (fault, endpoint, want exit code, want requests at the simulator, want lines)
    let html = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>";
    /// (name, fault, endpoint, exit code, requests at the simulator, expected lines)
    type Case = (&'static str, Fault, Endpoint, i32, u64, Vec<String>);
    let cases: Vec<Case> = vec![
        (
            "5xx with an HTML page: retried, code from the status",
            Fault::status_body(Endpoint::Gaussdb, 502, html).with_header("Content-Type", "text/html"),
            Endpoint::Gaussdb,
            1,
            3,
            vec![r#"huaweicloud_quota_api_errors_total{api="gaussdb_mysql",error_code="http_502"} 3"#.into()],
        ),
        (
            "truncated JSON once: retried, then fine",
            Fault::truncated(Endpoint::Gaussdb, 30).once(),
            Endpoint::Gaussdb,
            0,
            2,
            vec![
                r#"huaweicloud_quota_api_errors_total{api="gaussdb_mysql",error_code="decode"} 1"#.into(),
                format!(r#"huaweicloud_quota_poll_success{{api="gaussdb_mysql",project_id="{PID}"}} 1"#),
            ],
        ),
        (
            "connection reset once: retried, then fine",
            Fault::reset(Endpoint::Eventgrid).once(),
            Endpoint::Eventgrid,
            0,
            2,
            vec![format!(r#"huaweicloud_quota_poll_success{{api="eventgrid",project_id="{PID}"}} 1"#)],
        ),
        (
            "oversize body: rejected, not retried",
            Fault::oversize(Endpoint::Gaussdb, 200_000),
            Endpoint::Gaussdb,
            1,
            1,
            vec![r#"huaweicloud_quota_api_errors_total{api="gaussdb_mysql",error_code="body_too_large"} 1"#.into()],
        ),
        (
            "404 unknown instance: reported, not retried",
            Fault::status_body(
                Endpoint::Livedata,
                404,
                r#"{"error_code":"APIG.3030","error_msg":"The instance does not exist;id:f0fa1789-3b76-433b-a787-9892951c620e"}"#,
            ),
            Endpoint::Livedata,
            1,
            1,
            vec![r#"huaweicloud_quota_api_errors_total{api="roma_livedata",error_code="APIG.3030"} 1"#.into()],
        ),
        (
            "403: reported, not retried",
            Fault::error(Endpoint::Gaussdb, 403),
            Endpoint::Gaussdb,
            1,
            1,
            vec![],
        ),
        (
            "401 expired token with a static token: nothing to refresh, not retried",
            Fault::status_body(Endpoint::Eventgrid, 401, r#"{"error_code":"APIG.0301","error_msg":"Incorrect IAM authentication information: token expired"}"#),
            Endpoint::Eventgrid,
            1,
            1,
            vec![r#"huaweicloud_quota_api_errors_total{api="eventgrid",error_code="APIG.0301"} 1"#.into()],
        ),
    ];
    for (name, fault, endpoint, want_code, want_requests, want_lines) in cases {
        let sim = start_sim(World::seeds()).await;
        sim.faults().push(fault);
        let (code, stdout, stderr) = once(&sim, "  max_response_size: 64KiB\n").await;
        assert_eq!(code, want_code, "{name}: exit code\n{stderr}");
        assert_eq!(
            sim.request_count(endpoint),
            want_requests,
            "{name}: requests at the simulator"
        );
        for l in &want_lines {
            assert!(has(&stdout, l), "{name}: missing `{l}` in\n{stdout}");
        }
        // Other targets are unaffected.
        let others = stdout
            .lines()
            .filter(|l| {
                l.starts_with("huaweicloud_quota_poll_success{")
                    && !l.contains(&format!("api=\"{}\"", api_of(endpoint)))
            })
            .collect::<Vec<_>>();
        assert!(
            others.len() == 3 && others.iter().all(|l| l.ends_with(" 1")),
            "{name}: {others:#?}"
        );
    }
}

fn api_of(e: Endpoint) -> &'static str {
    match e {
        Endpoint::Livedata => "roma_livedata",
        Endpoint::AppQuotaList | Endpoint::AppQuotaDetail => "roma_app_quota",
        Endpoint::Eventgrid => "eventgrid",
        _ => "gaussdb_mysql",
    }
}

/// Arrivals at the simulator within `(from, to)` after `t`, in seconds.
fn arrivals_between(sim: &Simulator, t: std::time::Instant, from: f64, to: f64) -> Vec<f64> {
    sim.requests()
        .iter()
        .filter(|r| r.at > t)
        .map(|r| r.at.duration_since(t).as_secs_f64())
        .filter(|d| *d > from && *d < to)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_pauses_every_target_on_the_host() {
    let sim = start_sim(World::seeds()).await;
    let yaml = World::seeds().exporter_config_yaml(&sim.base_url(), "1s");
    let (_dir, path) = common::write_temp("c.yaml", &yaml);
    let exporter = Exporter::start(&["--config.file", path.to_str().expect("utf-8")]);
    exporter.wait_ready(READY).await;

    // One 429 with Retry-After: 3 on livedata; every target shares the simulator's host.
    sim.faults()
        .push(Fault::throttled(Endpoint::Livedata, Some(3)).once());
    let start = std::time::Instant::now();
    let throttled_at = loop {
        if let Some(r) = sim.requests().iter().find(|r| r.status == 429) {
            break r.at;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no 429 happened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Wait past the pause, then look at the gap.
    common::eventually(Duration::from_secs(15), "requests after the pause", || {
        sim.requests()
            .iter()
            .any(|r| r.at > throttled_at + Duration::from_millis(3100))
    })
    .await;
    // Requests already in flight when the 429 went out may land within a few ms; none
    // may start during the pause.
    let during = arrivals_between(&sim, throttled_at, 0.05, 2.95);
    assert!(
        during.is_empty(),
        "requests during the Retry-After pause at {during:?} s"
    );
    let first_after = sim
        .requests()
        .iter()
        .filter(|r| r.at > throttled_at + Duration::from_millis(50))
        .map(|r| r.at.duration_since(throttled_at).as_secs_f64())
        .fold(f64::MAX, f64::min);
    eprintln!("Retry-After: 3 -> first request on the host {first_after:.3} s after the 429");
    assert!(first_after >= 2.95);
    // The throttle is counted once, and the target is polled again after the pause and
    // succeeds (results reach /metrics at the next render, so wait for that one).
    let counted =
        r#"huaweicloud_quota_api_errors_total{api="roma_livedata",error_code="APIG.0308"} 1"#;
    let recovered = format!(
        r#"huaweicloud_quota_poll_success{{api="roma_livedata",project_id="{PID}",instance_id="f0fa1789-3b76-433b-a787-9892951c620e"}} 1"#
    );
    scrape_until(
        &exporter,
        Duration::from_secs(10),
        "throttle counted and the target polled again successfully",
        |b| b.contains(counted) && b.contains(&recovered),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_without_retry_after_backs_off_exponentially() {
    let sim = start_sim(World::seeds()).await;
    let yaml = World::seeds().exporter_config_yaml(&sim.base_url(), "1s");
    let (_dir, path) = common::write_temp("c.yaml", &yaml);
    let exporter = Exporter::start(&["--config.file", path.to_str().expect("utf-8")]);
    exporter.wait_ready(READY).await;
    // Two 429s in a row without Retry-After: pauses of about 1 s, then 2 s.
    sim.faults()
        .push(Fault::throttled(Endpoint::Livedata, None).repeat(2));
    common::eventually(
        Duration::from_secs(20),
        "two 429s and a success after them",
        || {
            let r = sim.requests();
            let t: Vec<_> = r.iter().filter(|x| x.status == 429).map(|x| x.at).collect();
            t.len() == 2 && r.iter().any(|x| x.at > t[1] + Duration::from_millis(2100))
        },
    )
    .await;
    let r = sim.requests();
    let t: Vec<_> = r.iter().filter(|x| x.status == 429).map(|x| x.at).collect();
    let during_first = arrivals_between(&sim, t[0], 0.05, 0.95);
    let during_second = arrivals_between(&sim, t[1], 0.05, 1.95);
    eprintln!(
        "429 without Retry-After: second 429 {:.3} s after the first",
        t[1].duration_since(t[0]).as_secs_f64()
    );
    assert!(
        during_first.is_empty(),
        "requests during the first pause: {during_first:?}"
    );
    assert!(
        during_second.is_empty(),
        "requests during the second (doubled) pause: {during_second:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_target_keeps_values_until_max_staleness_then_drops_them() {
    let sim = start_sim(World::seeds()).await;
    let yaml = World::seeds()
        .exporter_config_yaml(&sim.base_url(), "1s")
        .replacen(
            "defaults:\n",
            "defaults:\n  max_staleness: 4s\n  retries: 0\n",
            1,
        );
    let (_dir, path) = common::write_temp("c.yaml", &yaml);
    let exporter = Exporter::start(&["--config.file", path.to_str().expect("utf-8")]);
    exporter.wait_ready(READY).await;
    let used = format!(
        r#"huaweicloud_quota_used{{api="gaussdb_mysql",project_id="{PID}",resource="instance"}} 4"#
    );
    assert!(has(&scrape(&exporter).await, &used));

    sim.faults().push(Fault::error(Endpoint::Gaussdb, 500));
    let failed_at = std::time::Instant::now();
    let success0 =
        format!(r#"huaweicloud_quota_poll_success{{api="gaussdb_mysql",project_id="{PID}"}} 0"#);
    let body = scrape_until(&exporter, Duration::from_secs(10), "poll_success 0", |b| {
        has(b, &success0)
    })
    .await;
    assert!(
        has(&body, &used),
        "the last good value must stay while fresh:\n{body}"
    );
    let last_ok = body
        .lines()
        .find(|l| {
            l.starts_with(r#"huaweicloud_quota_last_success_timestamp_seconds{api="gaussdb_mysql""#)
        })
        .expect("last success timestamp")
        .to_string();

    let body = scrape_until(
        &exporter,
        Duration::from_secs(15),
        "stale series dropped",
        |b| !b.contains(r#"huaweicloud_quota_used{api="gaussdb_mysql""#),
    )
    .await;
    let dropped_after = failed_at.elapsed().as_secs_f64();
    eprintln!(
        "stale GaussDB series dropped {dropped_after:.1} s after the fault began (max_staleness 4s)"
    );
    assert!(
        dropped_after >= 2.0,
        "dropped too early: {dropped_after:.1} s"
    );
    assert!(has(&body, &success0));
    assert!(
        body.contains(&last_ok),
        "last_success_timestamp must stay and not move:\n{body}"
    );
    // The other APIs are unaffected.
    assert!(body.contains(&format!(
        r#"huaweicloud_quota_used{{api="eventgrid",project_id="{PID}",resource="channel"}}"#
    )));

    // Faults stop: the target recovers.
    sim.faults().clear();
    scrape_until(&exporter, Duration::from_secs(10), "recovery", |b| {
        has(b, &used)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_reload_answers_with_the_reason_and_keeps_the_old_config() {
    let sim = start_sim(World::seeds()).await;
    let full = World::seeds().exporter_config_yaml(&sim.base_url(), "1h");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, &full).expect("write");
    let cfg = path.to_str().expect("utf-8").to_string();

    // Without --web.enable-lifecycle the endpoint refuses, as Prometheus does.
    let plain = Exporter::start(&["--config.file", &cfg]);
    plain.wait_ready(READY).await;
    let r = common::raw_client()
        .post(format!("{}/-/reload", plain.base))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    drop(plain);

    let exporter = Exporter::start(&["--config.file", &cfg, "--web.enable-lifecycle"]);
    exporter.wait_ready(READY).await;
    std::fs::write(
        &path,
        full.replace("defaults:\n", "defaults:\n  interval: 5 minutes please\n"),
    )
    .expect("write");
    let r = common::raw_client()
        .post(format!("{}/-/reload", exporter.base))
        .send()
        .await
        .expect("post");
    let status = r.status();
    let text = r.text().await.expect("text");
    assert_eq!(status, 500, "{text}");
    assert!(
        text.contains("config.yaml:2:") && text.contains("invalid duration"),
        "{text}"
    );
    let body = scrape_until(
        &exporter,
        Duration::from_secs(5),
        "reload failure shown",
        |b| has(b, "huaweicloud_quota_config_last_reload_successful 0"),
    )
    .await;
    assert!(
        body.contains(r#"api="gaussdb_mysql""#),
        "old targets must keep serving"
    );

    std::fs::write(&path, full.replace("    gaussdb_mysql: {}\n", "")).expect("write");
    let r = common::raw_client()
        .post(format!("{}/-/reload", exporter.base))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("text").contains("3 targets"));
    let body = scrape_until(&exporter, Duration::from_secs(5), "reload applied", |b| {
        has(b, "huaweicloud_quota_config_last_reload_successful 1")
    })
    .await;
    assert!(
        !body.contains(r#"api="gaussdb_mysql",project_id"#),
        "{body}"
    );
}
