//! Discovery end to end: the real binary against the simulator over loopback. One AK/SK
//! (or IAM password) credential finds exactly the enabled region projects and their
//! `RUNNING` instances; instances created or deleted while it runs are picked up within a
//! refresh; IAM failing keeps every target; `discover` prints what it found; a reload keeps
//! discovery running.

mod common;

use std::time::Duration;

use common::*;
use huaweicloud_quota_exporter::simulator::{
    DISCOVERY_AP_PROJECT_ID, DISCOVERY_DEV_PROJECT_ID, DISCOVERY_DISABLED_PROJECT_ID,
    DISCOVERY_MOS_PROJECT_ID, Endpoint, Fault, SEED_PROJECT_ID, SIM_ACCESS_KEY, SIM_SECRET_KEY,
    SimRomaInstance, World,
};

const DEADLINE: Duration = Duration::from_secs(30);

/// The running instances of [`World::discovery`]: 10 in the seed project, 1 in the dev
/// sub-project, 2 in ap-southeast-1.
const RUNNING_INSTANCES: usize = 13;
/// Three projects polled (MOS and the disabled one skipped), with EventGrid and GaussDB.
const PROJECTS: usize = 3;

fn credentials_aksk() -> String {
    format!("  sim:\n    access_key: {SIM_ACCESS_KEY}\n    secret_key: {SIM_SECRET_KEY}\n")
}

fn credentials_password(base: &str) -> String {
    format!(
        "  sim:\n    iam_endpoint: {base}/v3\n    domain: sim-domain\n    username: monitoring\n    password: demo-password\n"
    )
}

fn config(base: &str, credentials: &str, refresh: &str, extra: &str) -> String {
    format!(
        "defaults:\n  interval: 1s\n  timeout: 5s\n  rate_limit: 1000\ncredentials:\n{credentials}discovery:\n  - credentials: sim\n    iam_endpoint: {base}/v3\n    refresh_interval: {refresh}\n    roma:\n      instances: discover\n    eventgrid: {{}}\n    gaussdb_mysql: {{}}\n    endpoints:\n      roma: {base}\n      eventgrid: {base}\n      gaussdb_mysql: {base}\n{extra}"
    )
}

/// Lines of `metric` in `body` (`metric{` prefix).
fn series<'a>(body: &'a str, metric: &str) -> Vec<&'a str> {
    let prefix = format!("{metric}{{");
    body.lines().filter(|l| l.starts_with(&prefix)).collect()
}

fn value(body: &str, series_prefix: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(series_prefix))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

fn livedata_instances(body: &str) -> usize {
    series(body, "huaweicloud_quota_poll_success")
        .iter()
        .filter(|l| l.contains("api=\"roma_livedata\""))
        .count()
}

fn assert_expected_set(body: &str) {
    assert_eq!(livedata_instances(body), RUNNING_INSTANCES, "{body}");
    for id in [
        SEED_PROJECT_ID,
        DISCOVERY_DEV_PROJECT_ID,
        DISCOVERY_AP_PROJECT_ID,
    ] {
        assert!(
            body.contains(&format!("api=\"gaussdb_mysql\",project_id=\"{id}\"")),
            "{id} polled:\n{body}"
        );
    }
    for id in [DISCOVERY_DISABLED_PROJECT_ID, DISCOVERY_MOS_PROJECT_ID] {
        assert!(!body.contains(id), "{id} must be skipped:\n{body}");
    }
    // Not RUNNING: CREATING, ERROR, CREATE_FAILED instances are not polled.
    for id in [
        "d15c0000-0000-4000-8000-00000000000a",
        "d15c0000-0000-4000-8000-00000000000b",
        "d15c0000-0001-4000-8000-000000000002",
    ] {
        assert!(!body.contains(id), "{id} must not be polled:\n{body}");
    }
    assert_eq!(
        value(
            body,
            "huaweicloud_quota_discovered_projects{credentials=\"sim\"}"
        ),
        Some(PROJECTS as f64),
        "{body}"
    );
    assert_eq!(
        value(body, "huaweicloud_quota_targets{api=\"roma_livedata\"}"),
        Some(RUNNING_INSTANCES as f64)
    );
    assert_eq!(
        value(body, "huaweicloud_quota_targets{api=\"eventgrid\"}"),
        Some(PROJECTS as f64)
    );
}

async fn discovered(exporter: &Exporter) -> String {
    scrape_until(exporter, DEADLINE, "every discovered target polled", |b| {
        value(
            b,
            "huaweicloud_quota_discovery_success{credentials=\"sim\"}",
        ) == Some(1.0)
            && livedata_instances(b) == RUNNING_INSTANCES
            && series(b, "huaweicloud_quota_poll_success")
                .iter()
                .all(|l| l.ends_with(" 1"))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aksk_discovery_finds_exactly_the_enabled_projects_and_running_instances() {
    let sim = start_sim(World::discovery()).await;
    let (_dir, path) = write_temp(
        "c.yaml",
        &config(&sim.base_url(), &credentials_aksk(), "1h", ""),
    );
    let exporter = Exporter::start(&["--config.file", path.to_str().unwrap()]);
    exporter.wait_ready(DEADLINE).await;
    let body = discovered(&exporter).await;
    assert_expected_set(&body);
    assert!(
        value(
            &body,
            "huaweicloud_quota_discovery_last_success_timestamp_seconds{credentials=\"sim\"}"
        )
        .is_some_and(|t| t > 1.7e9)
    );
    // Domain id asked once, projects listed once, paged instance lists (12 seed instances
    // at 7 a page: two pages).
    assert_eq!(sim.request_count(Endpoint::IamDomains), 1);
    assert_eq!(sim.request_count(Endpoint::IamProjects), 1);
    assert_eq!(sim.request_count(Endpoint::RomaInstances), 4);
    assert!(
        body.contains("huaweicloud_quota_api_requests_total{api=\"discovery\",code=\"200\"} 6"),
        "{body}"
    );
    let (_, _, status) = exporter.get("/api/v1/status").await;
    assert!(
        status.contains("cn-north-4_dev") && status.contains("MOS"),
        "{status}"
    );
    let (_, _, landing) = exporter.get("/").await;
    assert!(
        landing.contains("Discovery") && landing.contains("disabled"),
        "{landing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_password_discovery_uses_a_domain_scoped_token() {
    let sim = start_sim(World::discovery()).await;
    let base = sim.base_url();
    let (_dir, path) = write_temp(
        "c.yaml",
        &config(&base, &credentials_password(&base), "1h", ""),
    );
    let exporter = Exporter::start(&["--config.file", path.to_str().unwrap()]);
    exporter.wait_ready(DEADLINE).await;
    let body = discovered(&exporter).await;
    assert_expected_set(&body);
    assert_eq!(sim.request_count(Endpoint::IamDomains), 0);
    // One domain token, then a token per polled project.
    assert!(sim.request_count(Endpoint::IamTokens) > PROJECTS as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_created_and_deleted_while_running_are_followed_within_a_refresh() {
    let sim = start_sim(World::discovery()).await;
    let (_dir, path) = write_temp(
        "c.yaml",
        &config(&sim.base_url(), &credentials_aksk(), "2s", ""),
    );
    let exporter = Exporter::start(&["--config.file", path.to_str().unwrap()]);
    exporter.wait_ready(DEADLINE).await;
    discovered(&exporter).await;

    let new_id = "d15c0000-0002-4000-8000-0000000000ff";
    assert!(sim.add_roma_instance(
        DISCOVERY_AP_PROJECT_ID,
        SimRomaInstance::new(new_id, "prod-ap-new")
    ));
    let created = std::time::Instant::now();
    scrape_until(
        &exporter,
        Duration::from_secs(10),
        "the new instance polled",
        |b| {
            b.lines()
                .any(|l| l.starts_with("huaweicloud_quota_limit{") && l.contains(new_id))
        },
    )
    .await;
    // One refresh (2 s) plus a poll, with room for a slow machine.
    assert!(
        created.elapsed() < Duration::from_secs(8),
        "{:?}",
        created.elapsed()
    );

    let gone = "d15c0000-0000-4000-8000-000000000001";
    sim.remove_roma_instance(SEED_PROJECT_ID, gone)
        .expect("instance exists");
    scrape_until(
        &exporter,
        Duration::from_secs(10),
        "the deleted instance's series gone",
        |b| !b.contains(gone),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_failing_for_several_refreshes_keeps_every_target() {
    let sim = start_sim(World::discovery()).await;
    let (_dir, path) = write_temp(
        "c.yaml",
        &config(&sim.base_url(), &credentials_aksk(), "1s", ""),
    );
    let exporter = Exporter::start(&["--config.file", path.to_str().unwrap()]);
    exporter.wait_ready(DEADLINE).await;
    discovered(&exporter).await;
    sim.faults().push(Fault::error(Endpoint::IamProjects, 500));
    sim.faults()
        .push(Fault::error(Endpoint::RomaInstances, 503));
    let before = sim.request_count(Endpoint::IamProjects);
    let body = scrape_until(&exporter, DEADLINE, "discovery failing", |b| {
        value(
            b,
            "huaweicloud_quota_discovery_success{credentials=\"sim\"}",
        ) == Some(0.0)
    })
    .await;
    assert_expected_set(&body);
    // Several failed refreshes (back-off capped at the 1 s refresh interval).
    eventually(DEADLINE, "three failed project lists", || {
        sim.request_count(Endpoint::IamProjects) >= before + 3 * 3
    })
    .await;
    let body = scrape(&exporter).await;
    assert_expected_set(&body);
    assert!(
        body.contains("huaweicloud_quota_api_errors_total{api=\"discovery\",error_code=\"500\"}"),
        "{body}"
    );
    sim.faults().clear();
    scrape_until(&exporter, DEADLINE, "discovery recovered", |b| {
        value(
            b,
            "huaweicloud_quota_discovery_success{credentials=\"sim\"}",
        ) == Some(1.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_prints_projects_instances_targets_and_skips() {
    let sim = start_sim(World::discovery()).await;
    let (_dir, path) = write_temp(
        "c.yaml",
        &config(
            &sim.base_url(),
            &credentials_aksk(),
            "1h",
            "    exclude_projects: [\"^ap-\"]\n",
        ),
    );
    let p = path.to_str().unwrap().to_string();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || run(&["discover", "--config.file", &p]))
            .await
            .unwrap();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("discovery with credentials sim: OK (2 projects, 3 skipped"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{DISCOVERY_DISABLED_PROJECT_ID} cn-east-3: disabled"
        )),
        "{out}"
    );
    assert!(out.contains("MOS: `MOS` is no region"), "{out}");
    assert!(
        out.contains("ap-southeast-1: name matches exclude_projects `^ap-`"),
        "{out}"
    );
    assert!(
        out.contains("prod-roma-creating CREATING: skipped (status CREATING)"),
        "{out}"
    );
    assert!(out.contains("dev-roma-1 RUNNING: polled"), "{out}");
    assert!(out.contains("targets (shard 0/1): 26"), "{out}");
    assert!(!out.contains(SIM_SECRET_KEY) && !err.contains(SIM_SECRET_KEY));

    // IAM down: exit 1, and say why.
    sim.faults().push(Fault::error(Endpoint::IamProjects, 500));
    let p = path.to_str().unwrap().to_string();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || run(&["discover", "--config.file", &p]))
            .await
            .unwrap();
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("FAILED") && out.contains("error: project list: HTTP 500"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_with_discovery_on_keeps_the_targets_and_applies_new_filters() {
    let sim = start_sim(World::discovery()).await;
    let base = sim.base_url();
    let (_dir, path) = write_temp("c.yaml", &config(&base, &credentials_aksk(), "1h", ""));
    let exporter = Exporter::start(&[
        "--config.file",
        path.to_str().unwrap(),
        "--web.enable-lifecycle",
    ]);
    exporter.wait_ready(DEADLINE).await;
    discovered(&exporter).await;
    std::fs::write(
        &path,
        config(
            &base,
            &credentials_aksk(),
            "1h",
            "    regions: [cn-north-4]\n",
        ),
    )
    .unwrap();
    let r = raw_client()
        .post(format!("{}/-/reload", exporter.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = scrape_until(&exporter, DEADLINE, "ap-southeast-1 filtered out", |b| {
        !b.contains(DISCOVERY_AP_PROJECT_ID)
            && value(
                b,
                "huaweicloud_quota_discovered_projects{credentials=\"sim\"}",
            ) == Some(2.0)
    })
    .await;
    assert_eq!(livedata_instances(&body), RUNNING_INSTANCES - 2, "{body}");
    assert!(body.contains("huaweicloud_quota_config_last_reload_successful 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_projects_win_and_may_discover_their_own_instances() {
    let sim = start_sim(World::discovery()).await;
    let base = sim.base_url();
    let explicit = format!(
        "projects:\n  - id: {SEED_PROJECT_ID}\n    name: prod-seed\n    region: cn-north-4\n    credentials: sim\n    endpoints: {{ roma: {base}, gaussdb_mysql: {base} }}\n    roma:\n      instances: discover\n      include_instances: [\"^prod-\"]\n      app_quotas: none\n    gaussdb_mysql: {{}}\n"
    );
    let (_dir, path) = write_temp(
        "c.yaml",
        &config(&base, &credentials_aksk(), "1h", &explicit),
    );
    let p = path.to_str().unwrap().to_string();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || run(&["--config.check", "--config.file", &p]))
            .await
            .unwrap();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("discovery (run `discover` to see what it finds):"),
        "{out}"
    );
    assert!(
        out.contains("credentials=sim [AK/SK with X-Domain-Id]"),
        "{out}"
    );
    assert!(!out.contains(SIM_SECRET_KEY));

    let exporter = Exporter::start(&["--config.file", path.to_str().unwrap()]);
    exporter.wait_ready(DEADLINE).await;
    let body = scrape_until(
        &exporter,
        DEADLINE,
        "configured and discovered targets",
        |b| {
            value(
                b,
                "huaweicloud_quota_discovery_success{credentials=\"sim\"}",
            ) == Some(1.0)
                && livedata_instances(b) == 6 + 1 + 2
        },
    )
    .await;
    // The configured project keeps its name and polls only what it configures.
    assert!(body.contains("project_name=\"prod-seed\""), "{body}");
    assert!(
        !body.contains(&format!(
            "api=\"eventgrid\",project_id=\"{SEED_PROJECT_ID}\""
        )),
        "{body}"
    );
    assert!(
        !body.contains(&format!(
            "api=\"roma_app_quota\",project_id=\"{SEED_PROJECT_ID}\""
        )),
        "{body}"
    );
    // Discovered projects besides it: dev and ap.
    assert_eq!(
        value(
            &body,
            "huaweicloud_quota_discovered_projects{credentials=\"sim\"}"
        ),
        Some(2.0)
    );
    let (_, _, status) = exporter.get("/api/v1/status").await;
    assert!(status.contains("configured under `projects:`"), "{status}");
}

/// Scale: 30 projects x 300 RUNNING instances (9,000 livedata targets) discovered and
/// polled. Prints the requests one refresh costs, the time to ready and the exporter's
/// memory (`cargo test --test discovery scale -- --nocapture`; BENCHMARKS.md quotes it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_30_projects_by_300_instances() {
    use huaweicloud_quota_exporter::simulator::SimProject;
    const PROJECTS_N: usize = 30;
    const INSTANCES_N: usize = 300;
    let mut world = World::seeds();
    world.instance_page_size = Some(100);
    world.projects = (0..PROJECTS_N)
        .map(|p| {
            let mut project = SimProject::sub_project(
                format!("{p:032x}"),
                "cn-north-4",
                &format!("team{p}"),
                SEED_PROJECT_ID,
            );
            project.roma_instances = (0..INSTANCES_N)
                .map(|i| {
                    SimRomaInstance::new(
                        format!("5ca1e000-{p:04x}-4000-8000-{i:012x}"),
                        format!("prod-{p}-{i}"),
                    )
                })
                .collect();
            project
        })
        .collect();
    let sim = start_sim(world).await;
    let base = sim.base_url();
    let yaml = format!(
        "defaults:\n  interval: 1h\n  concurrency: 32\n  rate_limit: 100000\ncredentials:\n{}discovery:\n  - credentials: sim\n    iam_endpoint: {base}/v3\n    roma: {{instances: discover, app_quotas: none}}\n    endpoints: {{roma: {base}}}\n",
        credentials_aksk()
    );
    let (_dir, path) = write_temp("c.yaml", &yaml);
    let started = std::time::Instant::now();
    let exporter = Exporter::start(&["--config.file", path.to_str().unwrap()]);
    exporter.wait_ready(Duration::from_secs(600)).await;
    let ready = started.elapsed();
    let lists = sim.request_count(Endpoint::IamDomains)
        + sim.request_count(Endpoint::IamProjects)
        + sim.request_count(Endpoint::RomaInstances);
    let polls = sim.request_count(Endpoint::Livedata);
    let body = scrape(&exporter).await;
    assert_eq!(
        value(&body, "huaweicloud_quota_targets{api=\"roma_livedata\"}"),
        Some((PROJECTS_N * INSTANCES_N) as f64)
    );
    // One project list, three pages per project (the account id once, at start).
    assert_eq!(lists, 1 + 1 + (PROJECTS_N * INSTANCES_N / 100) as u64);
    println!(
        "scale: {} targets ready in {:.1}s ({:.0} polls/s); discovery: {lists} requests for the first run (the account id once, then {} per refresh); {polls} polls; exporter RSS {} MiB",
        PROJECTS_N * INSTANCES_N,
        ready.as_secs_f64(),
        polls as f64 / ready.as_secs_f64(),
        lists - 1,
        exporter.rss_kib() / 1024
    );
}

/// `huaweicloud_quota_last_success_timestamp_seconds` of every discovered ROMA target.
fn livedata_successes(body: &str) -> Vec<String> {
    series(body, "huaweicloud_quota_last_success_timestamp_seconds")
        .into_iter()
        .filter(|l| l.contains("api=\"roma_livedata\""))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovered_targets_start_from_the_persistence_file_after_a_restart() {
    let sim = start_sim(World::discovery()).await;
    // One poll per target (a 1 h interval): what the first run served is what it saved.
    let yaml = config(&sim.base_url(), &credentials_aksk(), "1h", "")
        .replace("interval: 1s", "interval: 1h");
    let (dir, path) = write_temp("c.yaml", &yaml);
    let state = dir.path().join("state");
    let args = [
        "--config.file",
        path.to_str().unwrap(),
        "--persistence.file",
        state.to_str().unwrap(),
        "--persistence.interval",
        "100ms",
    ];
    let mut first = Exporter::start(&args);
    first.wait_ready(DEADLINE).await;
    let before = livedata_successes(&discovered(&first).await);
    assert_eq!(before.len(), RUNNING_INSTANCES);
    first.signal("TERM");
    assert!(first.wait_exit(Duration::from_secs(15)).success());

    // From now on every quota call fails; discovery still answers. What the restarted
    // exporter serves for discovered targets can only have come from the file.
    for endpoint in [Endpoint::Livedata, Endpoint::Eventgrid, Endpoint::Gaussdb] {
        sim.faults().push(Fault::error(endpoint, 500));
    }
    let second = Exporter::start(&args);
    second.wait_ready(DEADLINE).await;
    let body = scrape_until(&second, DEADLINE, "discovered targets listed", |b| {
        livedata_successes(b).len() == RUNNING_INSTANCES
    })
    .await;
    assert_eq!(
        livedata_successes(&body),
        before,
        "original success times:\n{body}"
    );
    let used = series(&body, "huaweicloud_quota_used")
        .into_iter()
        .filter(|l| l.contains("api=\"roma_livedata\""))
        .count();
    assert!(used >= RUNNING_INSTANCES, "restored values served:\n{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_metadata_temporary_keys_discover_and_poll() {
    let sim = start_sim(World::discovery()).await;
    let base = sim.base_url();
    let credentials = format!("  sim:\n    ecs_metadata:\n      endpoint: {base}\n");
    let yaml = config(&base, &credentials, "1h", "");
    let (_dir, path) = write_temp("c.yaml", &yaml);
    let exporter = Exporter::start(&["--config.file", path.to_str().unwrap()]);
    exporter.wait_ready(DEADLINE).await;
    let body = discovered(&exporter).await;
    assert_expected_set(&body);
    assert!(
        sim.request_count(Endpoint::MetadataSecurityKey) >= 1,
        "keys came from the metadata service"
    );
}
