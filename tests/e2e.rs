//! End-to-end: the real exporter binary polls the in-process simulator over loopback HTTP;
//! the tests scrape it like Prometheus would and check what an SRE depends on.

mod common;

use std::io::Read as _;
use std::time::Duration;

use common::{
    Exporter, assert_golden, normalize, promtool_check_metrics, raw_client, run, start_sim,
    write_temp,
};
use huaweicloud_quota_exporter::simulator::{Endpoint, Fault, Simulator, World};

const READY: Duration = Duration::from_secs(30);

/// Config for `world` served by `sim`, written to a temp file.
fn config_for(sim: &Simulator, world: &World, interval: &str) -> (tempfile::TempDir, String) {
    let yaml = world.exporter_config_yaml(&sim.base_url(), interval);
    let (dir, path) = write_temp("config.yaml", &yaml);
    (dir, path.to_string_lossy().into_owned())
}

fn series_value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_matches_golden_and_promtool_is_clean() {
    let sim = start_sim(World::seeds()).await;
    let (_dir, cfg) = config_for(&sim, &World::seeds(), "1h");
    let exporter = Exporter::start(&["--config.file", &cfg]);
    exporter.wait_ready(READY).await;

    let (status, headers, plain) = exporter.get("/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(headers.get("content-encoding").is_none());

    // The seeds' values, quirks resolved.
    assert_golden(
        std::path::Path::new("tests/golden/seeds.prom"),
        &normalize(&plain),
    );
    assert!(
        plain.contains("process_resident_memory_bytes"),
        "process metrics missing"
    );
    let lint = promtool_check_metrics(&plain);
    assert!(lint.is_empty(), "promtool check metrics:\n{lint}");

    // gzip: same content, one valid gzip member.
    let r = raw_client()
        .get(format!("{}/metrics", exporter.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("scrape");
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let bytes = r.bytes().await.expect("body");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .expect("valid gzip");
    assert_eq!(normalize(&text), normalize(&plain));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_prints_exposition_and_reports_failures() {
    let sim = start_sim(World::seeds()).await;
    let (_dir, cfg) = config_for(&sim, &World::seeds(), "1h");
    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(move || run(&["--once", "--config.file", &cfg]))
            .await
            .expect("join");
    assert_eq!(code, 0, "stderr:\n{stderr}");
    assert_eq!(
        series_value(
            &stdout,
            r#"huaweicloud_quota_used{api="gaussdb_mysql",project_id="0123456789abcdef0123456789abcdef",resource="instance"}"#
        ),
        Some(4.0)
    );
    assert!(stdout.contains("process_cpu_seconds_total"));

    // One API failing: exit 1, the other APIs' series still printed, the error counted.
    sim.faults().push(Fault::error(Endpoint::Gaussdb, 500));
    let (_dir2, cfg2) = config_for(&sim, &World::seeds(), "1h");
    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(move || run(&["--once", "--config.file", &cfg2]))
            .await
            .expect("join");
    assert_eq!(code, 1);
    assert!(stderr.contains("1 of 4 targets failed"), "{stderr}");
    // A 500 is retried: three attempts in all (retries: 2), each counted.
    assert!(
        stdout.contains(
            r#"huaweicloud_quota_api_errors_total{api="gaussdb_mysql",error_code="APIG.9999"} 3"#
        ),
        "{stdout}"
    );
    assert!(
        stdout
            .contains(r#"huaweicloud_quota_api_requests_total{api="gaussdb_mysql",code="500"} 3"#)
    );
    assert_eq!(
        sim.request_count(Endpoint::Gaussdb),
        1 + 3,
        "one good poll before, three attempts now"
    );
    assert!(stdout.contains(r#"huaweicloud_quota_poll_success{api="gaussdb_mysql",project_id="0123456789abcdef0123456789abcdef"} 0"#));
    assert!(stdout.contains(r#"resource="api"} 10000"#));
    // The failed poll is logged once with what an operator needs.
    let line = stderr
        .lines()
        .find(|l| l.contains("poll failed"))
        .unwrap_or_else(|| panic!("no failure log line:\n{stderr}"));
    for want in [
        "api=gaussdb_mysql",
        "project=0123456789abcdef0123456789abcdef",
        "error_code=APIG.9999",
        "request_id=",
        "status=500",
    ] {
        assert!(line.contains(want), "`{want}` missing in: {line}");
    }
    assert!(
        !line.contains("request_id=\"\""),
        "request id empty: {line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_value_drops_only_its_series() {
    let sim = start_sim(World::seeds()).await;
    sim.faults().push(Fault::status_body(
        Endpoint::Livedata,
        200,
        r#"{"api":"10000","api_used":"4a","datasource":" 3 ","datasource_used":"0,","scripts":"5"}"#,
    ));
    let (_dir, cfg) = config_for(&sim, &World::seeds(), "1h");
    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(move || run(&["--once", "--config.file", &cfg]))
            .await
            .expect("join");
    assert_eq!(code, 0, "a bad value is not a failed poll:\n{stderr}");
    let api_used = r#"huaweicloud_quota_used{api="roma_livedata",project_id="0123456789abcdef0123456789abcdef",instance_id="f0fa1789-3b76-433b-a787-9892951c620e",resource="api"}"#;
    assert_eq!(
        series_value(&stdout, api_used),
        None,
        "unreadable value must not become a series"
    );
    let ds = r#"huaweicloud_quota_limit{api="roma_livedata",project_id="0123456789abcdef0123456789abcdef",instance_id="f0fa1789-3b76-433b-a787-9892951c620e",resource="datasource"}"#;
    assert_eq!(series_value(&stdout, ds), Some(3.0));
    assert!(
        stdout.contains(
            r#"huaweicloud_quota_api_errors_total{api="roma_livedata",error_code="parse_value"} 1"#
        ),
        "{stdout}"
    );
    assert!(stderr.contains("unreadable value dropped"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_follows_size_and_total_across_short_pages() {
    let mut world = World::seeds();
    world.max_page_size = 2;
    let extra = world.projects[0].roma_instances[0].app_quotas[0].clone();
    for i in 0..3 {
        let mut q = extra.clone();
        q.app_quota_id = format!("{:032x}", 0xabc0 + i);
        q.name = format!("Extra_{i}");
        world.projects[0].roma_instances[0].app_quotas.push(q);
    }
    let total = world.projects[0].roma_instances[0].app_quotas.len();
    assert_eq!(total, 5);
    let sim = start_sim(world).await;
    let (_dir, cfg) = config_for(&sim, &World::seeds(), "1h");
    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(move || run(&["--once", "--config.file", &cfg]))
            .await
            .expect("join");
    assert_eq!(code, 0, "{stderr}");
    let n = stdout
        .lines()
        .filter(|l| l.starts_with("huaweicloud_quota_client_info{"))
        .count();
    assert_eq!(n, total, "{stdout}");
    // Pages of at most 2 items although the exporter asked for 500: 3 list calls.
    assert_eq!(sim.request_count(Endpoint::AppQuotaList), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_is_reported_and_other_targets_unaffected() {
    let sim = start_sim(World::seeds()).await;
    sim.faults()
        .push(Fault::slow(Endpoint::Eventgrid, Duration::from_secs(5)));
    let yaml = World::seeds()
        .exporter_config_yaml(&sim.base_url(), "1h")
        .replacen("defaults:\n", "defaults:\n  timeout: 300ms\n", 1);
    let (_dir, cfg) = write_temp("c.yaml", &yaml);
    let cfg = cfg.to_string_lossy().into_owned();
    let (code, stdout, _stderr) =
        tokio::task::spawn_blocking(move || run(&["--once", "--config.file", &cfg]))
            .await
            .expect("join");
    assert_eq!(code, 1);
    assert!(
        stdout.contains(
            r#"huaweicloud_quota_api_errors_total{api="eventgrid",error_code="timeout"} 3"#
        ),
        "{stdout}"
    );
    assert_eq!(
        sim.request_count(Endpoint::Eventgrid),
        3,
        "a timeout is retried twice"
    );
    assert!(stdout.contains(r#"huaweicloud_quota_poll_success{api="gaussdb_mysql",project_id="0123456789abcdef0123456789abcdef"} 1"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_and_graceful_shutdown() {
    let sim = start_sim(World::seeds()).await;
    let (_dir, cfg) = config_for(&sim, &World::seeds(), "1h");
    let mut exporter = Exporter::start(&["--config.file", &cfg]);
    exporter.wait_ready(READY).await;

    let (s, _, body) = exporter.get("/-/healthy").await;
    assert_eq!((s, body.as_str()), (200, "Healthy\n"));
    let (s, _, _) = exporter.get("/-/ready").await;
    assert_eq!(s, 200);
    let (s, _, _) = exporter.get("/nope").await;
    assert_eq!(s, 404);
    let r = raw_client()
        .post(format!("{}/metrics", exporter.base))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 405);
    let (s, h, page) = exporter.get("/").await;
    assert_eq!(s, 200);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    for want in [
        "prod-cn-north-4",
        "ClientQuota_demo",
        "gaussdb_mysql",
        "/metrics",
    ] {
        assert!(page.contains(want), "landing page lacks {want}");
    }
    let r = raw_client()
        .head(format!("{}/metrics", exporter.base))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);

    exporter.signal("TERM");
    let status = exporter.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_until_every_target_was_polled() {
    let sim = start_sim(World::seeds()).await;
    // EventGrid answers only after a while: until then the exporter is not ready.
    sim.faults().push(Fault::slow(
        Endpoint::Eventgrid,
        Duration::from_millis(1500),
    ));
    let (_dir, cfg) = config_for(&sim, &World::seeds(), "1h");
    let exporter = Exporter::start(&["--config.file", &cfg]);
    let (s, _, body) = exporter.get("/-/ready").await;
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("targets polled"), "{body}");
    exporter.wait_ready(READY).await;
}

#[test]
fn config_check_prints_targets_without_secrets() {
    let yaml = "\
credentials:
  t:
    token: super-secret-token-value
projects:
  - id: 0123456789abcdef0123456789abcdef
    name: prod
    region: cn-north-4
    credentials: t
    roma:
      instances:
        - id: f0fa1789-3b76-433b-a787-9892951c620e
          app_quotas: [c900c5612dbe451bb43cbcc49cfaf2f3]
    eventgrid:
      types: [CHANNEL]
    gaussdb_mysql: {}
";
    let (_dir, path) = write_temp("c.yaml", yaml);
    let p = path.to_string_lossy().into_owned();
    let (code, stdout, stderr) = run(&["--config.check", "--config.file", &p]);
    assert_eq!(code, 0, "{stderr}");
    for want in [
        "roma_livedata/0123456789abcdef0123456789abcdef/f0fa1789-3b76-433b-a787-9892951c620e https://roma.cn-north-4.myhuaweicloud.com",
        "roma_app_quota/0123456789abcdef0123456789abcdef/f0fa1789-3b76-433b-a787-9892951c620e https://roma.cn-north-4.myhuaweicloud.com app_quotas=c900c5612dbe451bb43cbcc49cfaf2f3",
        "eventgrid/0123456789abcdef0123456789abcdef https://eg.cn-north-4.myhuaweicloud.com types=CHANNEL",
        "gaussdb_mysql/0123456789abcdef0123456789abcdef https://gaussdb.cn-north-4.myhuaweicloud.com",
        "targets (shard 0/1): 4",
    ] {
        assert!(stdout.contains(want), "missing `{want}` in:\n{stdout}");
    }
    assert!(!stdout.contains("super-secret") && !stderr.contains("super-secret"));

    // A bad config: exit 1, file:line:column and the reason.
    let bad = yaml.replace("    credentials: t", "    credentials: missing");
    let (_dir2, path2) = write_temp("bad.yaml", &bad);
    let p2 = path2.to_string_lossy().into_owned();
    let (code, _stdout, stderr) = run(&["--config.check", "--config.file", &p2]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "{p2}:8:18: unknown credentials `missing`: expected one of t"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("super-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_are_polled_again_every_interval_and_failures_keep_last_values() {
    let sim = start_sim(World::seeds()).await;
    let (_dir, cfg) = config_for(&sim, &World::seeds(), "1s");
    let exporter = Exporter::start(&["--config.file", &cfg]);
    exporter.wait_ready(READY).await;
    common::eventually(Duration::from_secs(15), "three livedata polls", || {
        sim.request_count(Endpoint::Livedata) >= 3
    })
    .await;

    // Upstream starts failing: poll_success drops at once, the last values stay.
    sim.faults().push(Fault::error(Endpoint::Gaussdb, 503));
    let base = exporter.base.clone();
    let mut body = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        body = raw_client()
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text");
        if body.contains(r#"huaweicloud_quota_poll_success{api="gaussdb_mysql",project_id="0123456789abcdef0123456789abcdef"} 0"#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(body.contains(r#"huaweicloud_quota_poll_success{api="gaussdb_mysql",project_id="0123456789abcdef0123456789abcdef"} 0"#), "{body}");
    assert_eq!(
        series_value(
            &body,
            r#"huaweicloud_quota_used{api="gaussdb_mysql",project_id="0123456789abcdef0123456789abcdef",resource="instance"}"#
        ),
        Some(4.0),
        "last good value must stay until max_staleness"
    );
    assert!(
        body.contains(r#"huaweicloud_quota_api_requests_total{api="gaussdb_mysql",code="503"}"#)
    );
}

#[test]
fn demo_once_polls_every_simulated_target() {
    let (code, stdout, stderr) = run(&["--demo", "--once"]);
    assert_eq!(code, 0, "{stderr}");
    let polls: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("huaweicloud_quota_poll_success{"))
        .collect();
    assert!(polls.len() >= 8, "{stdout}");
    assert!(polls.iter().all(|l| l.ends_with(" 1")), "{polls:#?}");
    // The demo world has quotas near exhaustion, so alerts and the landing page have something to show.
    assert!(stdout.contains("cloud_region=\"eu-de\""), "{stdout}");
    // The demo discovers its projects: the skipped ones are not polled.
    assert!(
        stdout.contains("huaweicloud_quota_discovery_success{credentials=\"demo\"} 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("huaweicloud_quota_discovered_projects{credentials=\"demo\"} 2"),
        "{stdout}"
    );
}
