//! End-to-end temporary credentials and rotating secret files: ECS metadata, CCE pod
//! identity, OIDC, AK/SK files replaced by rename; the real binary against the simulator.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{Exporter, scrape, scrape_until, start_sim};
use huaweicloud_quota_exporter::simulator::{
    AGENCY_NOT_CONFIGURED, DEMO_TOKEN, Endpoint, Fault, SIM_ACCESS_KEY, SIM_OIDC_AGENCY_URN,
    SIM_OIDC_ID_TOKEN, SIM_OIDC_PROVIDER_URN, SIM_POD_IDENTITY_PATH, SIM_POD_IDENTITY_TOKEN,
    SIM_SECRET_KEY, Simulator, World,
};

const READY: Duration = Duration::from_secs(30);

/// The world's config with its token credential replaced by `credential` (indented body).
fn config_with(world: &World, sim: &Simulator, interval: &str, credential: &str) -> String {
    let yaml = world.exporter_config_yaml(&sim.base_url(), interval);
    let token_line = format!("    token: {DEMO_TOKEN}\n");
    assert!(yaml.contains(&token_line), "{yaml}");
    // Credential sources and APIs share one simulator host here (not so in a cloud, where
    // the metadata service or STS has its own): room in the per-host rate limit for both.
    yaml.replace(&token_line, credential).replacen(
        "defaults:\n",
        "defaults:\n  rate_limit: 200\n",
        1,
    )
}

fn poll_lines(body: &str) -> Vec<&str> {
    body.lines()
        .filter(|l| l.starts_with("huaweicloud_quota_poll_success{"))
        .collect()
}

fn all_polls_ok(body: &str) -> bool {
    let p = poll_lines(body);
    !p.is_empty() && p.iter().all(|l| l.ends_with(" 1"))
}

/// [`config_with`] the simulator's metadata service as the credential source.
fn ecs_metadata_config(world: &World, sim: &Simulator, interval: &str) -> String {
    let source = format!("    ecs_metadata:\n      endpoint: {}\n", sim.base_url());
    config_with(world, sim, interval, &source)
}

fn start(dir: &tempfile::TempDir, yaml: &str) -> Exporter {
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, yaml).expect("write");
    Exporter::start(&[
        "--config.file",
        cfg.to_str().expect("utf-8"),
        "--log.level",
        "debug",
    ])
}

fn short_lived(world: &mut World, secs: f64) {
    world.temporary.lifetime = Some(Duration::from_secs_f64(secs));
}

/// Replaces `path` atomically, as Kubernetes does for mounted Secrets.
fn replace(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// Asserts no secret in the text of any output.
fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} shows a secret");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_metadata_keys_are_refreshed_before_they_expire_and_never_shown() {
    let mut world = World::demo();
    short_lived(&mut world, 2.5);
    let sim = start_sim(world.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = ecs_metadata_config(&world, &sim, "1s");
    let exporter = start(&dir, &yaml);
    exporter.wait_ready(READY).await;
    let t0 = Instant::now();
    let mut last = String::new();
    let mut expired_sessions = false;
    while t0.elapsed() < Duration::from_secs(20) {
        last = scrape(&exporter).await;
        assert!(
            all_polls_ok(&last),
            "a poll failed after {:?}:\n{last}\nlogs:\n{}",
            t0.elapsed(),
            exporter.logs()
        );
        if !expired_sessions && t0.elapsed() > Duration::from_secs(8) {
            // The 401 rule: a stale session token gets a new one and one retry.
            sim.expire_metadata_sessions();
            expired_sessions = true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let issued = sim.issued_credentials();
    assert!(issued.len() >= 5, "{} keys issued in 20 s", issued.len());
    // Every key was replaced before it expired, and no API request used an expired key.
    for pair in issued.windows(2) {
        let next_issued = SystemTime::now() - pair[1].issued.elapsed();
        assert!(
            next_issued < pair[0].expires_at,
            "a key was replaced only after it expired: {:?}\n{}",
            issued
                .iter()
                .map(|c| (
                    c.issued.elapsed().as_secs_f64(),
                    c.expires_at
                        .duration_since(SystemTime::now())
                        .map(|d| d.as_secs_f64())
                        .unwrap_or_else(|e| -e.duration().as_secs_f64())
                ))
                .collect::<Vec<_>>(),
            exporter
                .logs()
                .lines()
                .filter(|l| l.contains("credential"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    for r in sim.requests() {
        let Some((_, ak)) = r.headers.iter().find(|(k, _)| k == "authorization") else {
            continue;
        };
        if let Some(c) = issued.iter().find(|c| ak.contains(&c.access_key)) {
            let at = SystemTime::now() - r.at.elapsed();
            assert!(at < c.expires_at, "a request used an expired key");
        }
    }
    assert!(
        sim.request_count(Endpoint::MetadataToken) >= 2,
        "no new session token after the 401"
    );
    assert!(last.contains("api=\"credentials\""), "{last}");
    // No secret anywhere.
    let mut secrets: Vec<String> = Vec::new();
    for c in &issued {
        secrets.push(c.secret_key.clone());
        secrets.push(c.security_token.clone());
    }
    let (_, _, landing) = exporter.get("/").await;
    let (_, _, status) = exporter.get("/api/v1/status").await;
    assert_no_secret("/metrics", &last, &secrets);
    assert_no_secret("landing page", &landing, &secrets);
    assert_no_secret("status", &status, &secrets);
    assert_no_secret("logs", &exporter.logs(), &secrets);
    let (code, out, err) = common::run(&[
        "--config.file",
        dir.path().join("c.yaml").to_str().expect("utf-8"),
        "--config.check",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("metadata service"), "{out}");
    eprintln!(
        "ecs_metadata: {} keys issued in {:?}, every poll succeeded",
        issued.len(),
        t0.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_agency_shows_as_a_credentials_error_and_backs_off() {
    let mut world = World::demo();
    world.temporary.metadata_agency = false;
    let sim = start_sim(world.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = ecs_metadata_config(&world, &sim, "1s");
    let exporter = start(&dir, &yaml);
    let body = scrape_until(&exporter, READY, "a credentials error", |b| {
        b.lines().any(|l| {
            l.starts_with("huaweicloud_quota_api_errors_total{")
                && l.contains("api=\"credentials\"")
        })
    })
    .await;
    assert!(!all_polls_ok(&body));
    let (_, _, landing) = exporter.get("/").await;
    assert!(landing.contains(AGENCY_NOT_CONFIGURED), "{landing}");
    // Back-off: 5 s after the first failure, then 10 s: few requests in 8 s of 1 s polls.
    let before = sim.request_count(Endpoint::MetadataSecurityKey);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after = sim.request_count(Endpoint::MetadataSecurityKey);
    assert!(
        after - before <= 3,
        "{} security key requests in 8 s",
        after - before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_metadata_service_is_not_hammered() {
    let mut world = World::demo();
    short_lived(&mut world, 600.0);
    let sim = start_sim(world.clone()).await;
    sim.faults()
        .push(Fault::error(Endpoint::MetadataSecurityKey, 500));
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = ecs_metadata_config(&world, &sim, "1s");
    let exporter = start(&dir, &yaml);
    scrape_until(&exporter, READY, "a credentials 500", |b| {
        b.contains("api=\"credentials\",error_code=\"500\"")
            || b.contains("error_code=\"500\",api=\"credentials\"")
            || b.lines()
                .any(|l| l.contains("api=\"credentials\"") && l.contains("500"))
    })
    .await;
    let before = sim.request_count(Endpoint::MetadataSecurityKey);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after = sim.request_count(Endpoint::MetadataSecurityKey);
    assert!(after - before <= 3, "{} requests in 8 s", after - before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_identity_reads_its_rotated_token_file() {
    let mut world = World::demo();
    short_lived(&mut world, 2.0);
    let sim = start_sim(world.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{SIM_POD_IDENTITY_TOKEN}\n")).expect("write");
    // The defaults CCE injects: HC_CONTAINER_CREDENTIALS_FULL_URI and
    // HC_CONTAINER_AUTHORIZATION_TOKEN_FILE.
    let yaml = config_with(&world, &sim, "1s", "    pod_identity: {}\n");
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, yaml).expect("write");
    let uri = format!("{}{SIM_POD_IDENTITY_PATH}", sim.base_url());
    let exporter = Exporter::start_with_env(
        &["--config.file", cfg.to_str().expect("utf-8")],
        &[
            ("HC_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
            (
                "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token.to_str().expect("utf-8"),
            ),
        ],
    );
    exporter.wait_ready(READY).await;
    scrape_until(&exporter, READY, "polls succeed", all_polls_ok).await;
    // The kubelet writes the new token before the old one stops working.
    replace(&token, "rotated-pod-token\n");
    tokio::time::sleep(Duration::from_millis(200)).await;
    sim.update_world(|w| w.rotate_pod_identity_token("rotated-pod-token"));
    let n = sim.issued_credentials().len();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.issued_credentials().len() < n + 2 {
        assert!(Instant::now() < deadline, "no keys with the rotated token");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    scrape_until(
        &exporter,
        Duration::from_secs(5),
        "polls succeed",
        all_polls_ok,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_reads_its_rotated_id_token_file() {
    let mut world = World::demo();
    short_lived(&mut world, 2.0);
    let sim = start_sim(world.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("id-token");
    std::fs::write(&token, SIM_OIDC_ID_TOKEN).expect("write");
    let yaml = config_with(
        &world,
        &sim,
        "1s",
        &format!(
            "    oidc:\n      provider_urn: {SIM_OIDC_PROVIDER_URN}\n      agency_urn: {SIM_OIDC_AGENCY_URN}\n      id_token_file: {}\n      sts_endpoint: {}\n      duration: 15m\n",
            token.display(),
            sim.base_url()
        ),
    );
    let exporter = start(&dir, &yaml);
    exporter.wait_ready(READY).await;
    scrape_until(&exporter, READY, "polls succeed", all_polls_ok).await;
    replace(&token, "eyJrotated.id.token\n");
    tokio::time::sleep(Duration::from_millis(200)).await;
    sim.update_world(|w| w.rotate_oidc_id_token("eyJrotated.id.token"));
    let n = sim.issued_credentials().len();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.issued_credentials().len() < n + 2 {
        assert!(
            Instant::now() < deadline,
            "no keys with the rotated id token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = scrape_until(
        &exporter,
        Duration::from_secs(5),
        "polls succeed",
        all_polls_ok,
    )
    .await;
    assert_no_secret(
        "logs",
        &exporter.logs(),
        &[SIM_OIDC_ID_TOKEN.into(), "eyJrotated.id.token".into()],
    );
    assert_no_secret("/metrics", &body, &[SIM_OIDC_ID_TOKEN.into()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aksk_files_replaced_by_rename_are_used_without_a_reload() {
    let world = World::demo();
    let sim = start_sim(world.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ak = dir.path().join("ak");
    let sk = dir.path().join("sk");
    std::fs::write(&ak, format!("{SIM_ACCESS_KEY}\n")).expect("write");
    std::fs::write(&sk, format!("{SIM_SECRET_KEY}\n")).expect("write");
    let yaml = config_with(
        &world,
        &sim,
        "1s",
        &format!(
            "    access_key_file: {}\n    secret_key_file: {}\n",
            ak.display(),
            sk.display()
        ),
    );
    let exporter = start(&dir, &yaml);
    exporter.wait_ready(READY).await;
    scrape_until(&exporter, READY, "polls succeed", all_polls_ok).await;
    // A new key pair in the cloud; the old one revoked; the files replaced by rename.
    sim.update_world(|w| {
        w.aksk.retain(|k| k.access_key != SIM_ACCESS_KEY);
        w.aksk
            .push(huaweicloud_quota_exporter::simulator::SimAkSk::permanent(
                "ROTATEDAK000000000001",
                "RotatedSecretKey00000000000000000000001",
            ));
    });
    scrape_until(&exporter, Duration::from_secs(10), "a failed poll", |b| {
        !all_polls_ok(b)
    })
    .await;
    replace(&ak, "ROTATEDAK000000000001\n");
    replace(&sk, "RotatedSecretKey00000000000000000000001\n");
    let t = Instant::now();
    // An empty file (half written) keeps the old value: polls go on.
    scrape_until(
        &exporter,
        Duration::from_secs(8),
        "polls recover",
        all_polls_ok,
    )
    .await;
    eprintln!("recovered {:?} after the rename", t.elapsed());
    std::fs::write(&sk, "").expect("truncate");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    scrape_until(
        &exporter,
        Duration::from_secs(3),
        "polls go on",
        all_polls_ok,
    )
    .await;
    assert!(exporter.logs().contains("keeping its last value"));
    assert_no_secret(
        "logs",
        &exporter.logs(),
        &["RotatedSecretKey00000000000000000000001".into()],
    );
    let (_, _, landing) = exporter.get("/").await;
    let row = panel_row(credentials_panel(&landing), "sim").to_string();
    assert!(
        row.contains(&format!(
            "access_key_file {}, secret_key_file {}",
            ak.display(),
            sk.display()
        )) && row.contains(">static<"),
        "{row}"
    );
    assert_no_secret(
        "landing page",
        &landing,
        &[
            "RotatedSecretKey00000000000000000000001".into(),
            SIM_SECRET_KEY.into(),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_to_temporary_keys_refreshes_them_once_and_retries() {
    let mut world = World::demo();
    short_lived(&mut world, 600.0);
    let sim = start_sim(world.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = ecs_metadata_config(&world, &sim, "1s");
    let exporter = start(&dir, &yaml);
    exporter.wait_ready(READY).await;
    scrape_until(&exporter, READY, "polls succeed", all_polls_ok).await;
    assert_eq!(
        sim.issued_credentials().len(),
        1,
        "one key set for every target"
    );
    // The cloud stops accepting the keys long before their expiry (revoked).
    sim.expire_issued_credentials();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.issued_credentials().len() < 2 {
        assert!(Instant::now() < deadline, "no refresh after the 401");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    scrape_until(
        &exporter,
        Duration::from_secs(5),
        "polls succeed",
        all_polls_ok,
    )
    .await;
    // One refresh for all the targets that saw the 401, not one each.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let n = sim.issued_credentials().len();
    assert!(n <= 3, "{n} key sets after one revocation");
}

/// Signed requests (AK/SK `Authorization` with `ak`) that arrived after `since`: (2xx, other).
fn signed_since(sim: &Simulator, ak: &str, since: Instant) -> (usize, usize) {
    let mut ok = 0;
    let mut failed = 0;
    for r in sim.requests() {
        let signed = r
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v.contains(ak));
        if signed && r.at > since {
            if (200..300).contains(&r.status) {
                ok += 1;
            } else {
                failed += 1;
            }
        }
    }
    (ok, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_file_written_in_place_is_used_only_once_complete() {
    const NEW_SK: &str = "InPlaceSecretKey000000000000000000000001";
    let world = World::demo();
    let sim = start_sim(world.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let sk = dir.path().join("sk");
    std::fs::write(&sk, format!("{SIM_SECRET_KEY}\n")).expect("write");
    let yaml = config_with(
        &world,
        &sim,
        "1s",
        &format!(
            "    access_key: {SIM_ACCESS_KEY}\n    secret_key_file: {}\n",
            sk.display()
        ),
    );
    let exporter = start(&dir, &yaml);
    exporter.wait_ready(READY).await;
    scrape_until(&exporter, READY, "polls succeed", all_polls_ok).await;
    // An operator rewrites the file in place; the first half is there, the rest (and the
    // line break) not yet. The cloud still takes the old key.
    let written = Instant::now();
    std::fs::write(&sk, &NEW_SK[..20]).expect("truncate and write half");
    // One line: "cannot use the secret file yet: keeping its last value" with this reason.
    let warning = "does not end with a line break";
    common::eventually(
        huaweicloud_quota_exporter::upstream::auth::files::SETTLE - Duration::from_secs(1),
        "the half-written warning",
        || exporter.logs().contains(warning),
    )
    .await;
    let warned = Instant::now();
    let settle_end = written + huaweicloud_quota_exporter::upstream::auth::files::SETTLE;
    // Polls after the warning go on with the old value, signed correctly.
    while signed_since(&sim, SIM_ACCESS_KEY, warned).0 < 2 {
        assert!(
            Instant::now() < settle_end,
            "no signed request while the file was half written; logs:\n{}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, failed) = signed_since(&sim, SIM_ACCESS_KEY, written);
    assert_eq!(
        failed, 0,
        "a request was signed with the half-written secret"
    );
    assert_eq!(
        exporter.logs().matches(warning).count(),
        1,
        "warned once per version:\n{}",
        exporter.logs()
    );
    // The writer finishes; the cloud switches to the new key at the same moment.
    std::fs::write(&sk, format!("{NEW_SK}\n")).expect("write the rest");
    sim.update_world(|w| {
        w.aksk.retain(|k| k.access_key != SIM_ACCESS_KEY);
        w.aksk
            .push(huaweicloud_quota_exporter::simulator::SimAkSk::permanent(
                SIM_ACCESS_KEY,
                NEW_SK,
            ));
    });
    let complete = Instant::now();
    let deadline = complete + Duration::from_secs(8);
    while signed_since(&sim, SIM_ACCESS_KEY, complete).0 == 0 {
        assert!(
            Instant::now() < deadline,
            "the completed file was not used; logs:\n{}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        exporter
            .logs()
            .contains("secret file changed: using its new value")
    );
    assert_no_secret(
        "logs",
        &exporter.logs(),
        &[NEW_SK.into(), NEW_SK[..20].into(), SIM_SECRET_KEY.into()],
    );
}

/// The landing page's Credentials section.
fn credentials_panel(landing: &str) -> &str {
    let start = landing
        .find("<section class=\"panel\" id=\"credentials\">")
        .unwrap_or_else(|| panic!("no Credentials section: {landing}"));
    let rest = &landing[start..];
    &rest[..rest.find("</section>").expect("section end")]
}

/// The row of credential `name` in the Credentials section.
fn panel_row<'a>(panel: &'a str, name: &str) -> &'a str {
    panel
        .split("<tr")
        .find(|r| r.contains(&format!("<b>{name}</b>")))
        .unwrap_or_else(|| panic!("no row for {name}: {panel}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_metadata_service_is_backed_off_counted_and_recovered_from() {
    let mut world = World::demo();
    short_lived(&mut world, 600.0);
    let sim = start_sim(world.clone()).await;
    // The metadata service throttles the first two security key requests.
    sim.faults()
        .push(Fault::throttled(Endpoint::MetadataSecurityKey, None).repeat(2));
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = ecs_metadata_config(&world, &sim, "1s");
    let exporter = start(&dir, &yaml);
    let counted = |b: &str| {
        b.lines().any(|l| {
            l.starts_with("huaweicloud_quota_api_errors_total{")
                && l.contains("api=\"credentials\"")
                && l.contains("error_code=\"http_429\"")
        })
    };
    scrape_until(&exporter, READY, "a credentials 429 counted", counted).await;
    // The landing page's Credentials section: failing, with the code and the source.
    let (_, _, landing) = exporter.get("/").await;
    let panel = credentials_panel(&landing);
    let row = panel_row(panel, "sim");
    assert!(row.contains("badge failed\">failing<"), "{row}");
    assert!(row.contains("ecs_metadata"), "{row}");
    assert!(
        row.contains(&format!("metadata service {}", sim.base_url())),
        "{row}"
    );
    assert!(
        row.contains("http_429") && row.contains("429 Too Many Requests"),
        "{row}"
    );
    assert!(
        row.contains(" ago</td>") && row.contains(">in "),
        "when, and the next try: {row}"
    );
    let body = scrape_until(
        &exporter,
        Duration::from_secs(40),
        "polls recover",
        all_polls_ok,
    )
    .await;
    assert!(counted(&body), "the count stays: {body}");
    let (_, _, landing) = exporter.get("/").await;
    let row = panel_row(credentials_panel(&landing), "sim").to_string();
    assert!(row.contains("badge ok\">ok<"), "recovered: {row}");
    assert!(
        row.contains("http_429"),
        "the last error stays, with when: {row}"
    );
    // Three security key requests (429, 429, 200), each after the back-off of the one
    // before (5 s, then 10 s, less 20% jitter), however many polls wanted keys meanwhile.
    let asked: Vec<Instant> = sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::MetadataSecurityKey)
        .map(|r| r.at)
        .collect();
    assert_eq!(asked.len(), 3, "security key requests");
    let gaps: Vec<f64> = asked
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    assert!(gaps[0] >= 3.9 && gaps[1] >= 7.9, "back-off gaps {gaps:?}");
    let (_, _, landing) = exporter.get("/").await;
    assert!(
        !landing.contains("429 ") || landing.contains("credentials"),
        "{landing}"
    );
}

/// A discovery config for [`World::discovery`] with `credential` as `sim`, and a proxy URL
/// with a password (not used: every host here is in `no_proxy`) that must never show.
fn discovery_config(base: &str, credential: &str) -> String {
    format!(
        "defaults:\n  interval: 1s\n  timeout: 5s\n  rate_limit: 1000\n  http:\n    proxy_url: http://user:{PROXY_PASSWORD}@127.0.0.1:9\n    no_proxy: [127.0.0.1]\ncredentials:\n  sim:\n{credential}discovery:\n  - credentials: sim\n    iam_endpoint: {base}/v3\n    refresh_interval: 1h\n    roma:\n      instances: discover\n    eventgrid: {{}}\n    gaussdb_mysql: {{}}\n    endpoints:\n      roma: {base}\n      eventgrid: {base}\n      gaussdb_mysql: {base}\n"
    )
}

/// A proxy password that must not show in any output.
const PROXY_PASSWORD: &str = "proxy-pass-SECRET-0815";

/// For each temporary kind, with discovery, short-lived keys, a failed refresh and the
/// persistence file: no temporary secret key, security token, pod identity token, id
/// token or proxy password in the logs, standard output, `/metrics`, `/`,
/// `/api/v1/status`, the state file, `--config.check` or `discover`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_of_any_temporary_kind_shows_in_any_output() {
    let mut world = World::discovery();
    short_lived(&mut world, 3.0);
    let sim = start_sim(world).await;
    let base = sim.base_url();
    let dir = tempfile::tempdir().expect("tempdir");
    let pod_token = dir.path().join("pod-token");
    std::fs::write(&pod_token, format!("{SIM_POD_IDENTITY_TOKEN}\n")).expect("write");
    let id_token = dir.path().join("id-token");
    std::fs::write(&id_token, SIM_OIDC_ID_TOKEN).expect("write");
    let kinds = [
        (
            "ecs_metadata",
            format!("    ecs_metadata:\n      endpoint: {base}\n"),
            Endpoint::MetadataSecurityKey,
        ),
        (
            "pod_identity",
            format!(
                "    pod_identity:\n      uri: {base}{SIM_POD_IDENTITY_PATH}\n      token_file: {}\n",
                pod_token.display()
            ),
            Endpoint::PodIdentity,
        ),
        (
            "oidc",
            format!(
                "    oidc:\n      provider_urn: {SIM_OIDC_PROVIDER_URN}\n      agency_urn: {SIM_OIDC_AGENCY_URN}\n      id_token_file: {}\n      sts_endpoint: {base}\n",
                id_token.display()
            ),
            Endpoint::StsOidc,
        ),
    ];
    for (kind, credential, endpoint) in kinds {
        let cfg = dir.path().join(format!("{kind}.yaml"));
        std::fs::write(&cfg, discovery_config(&base, &credential)).expect("write");
        let cfg = cfg.to_str().expect("utf-8").to_string();
        let state = dir.path().join(format!("{kind}.state"));
        let exporter = Exporter::start(&[
            "--config.file",
            &cfg,
            "--log.level",
            "debug",
            "--persistence.file",
            state.to_str().expect("utf-8"),
            "--persistence.interval",
            "1s",
        ]);
        let discovered = |b: &str| {
            b.contains("huaweicloud_quota_discovery_success{credentials=\"sim\"} 1")
                && all_polls_ok(b)
        };
        scrape_until(&exporter, READY, kind, discovered).await;
        // A refresh fails once (the message goes to the log and the landing page).
        let issued = sim.issued_credentials().len();
        sim.faults().push(Fault::error(endpoint, 500).once());
        let deadline = Instant::now() + Duration::from_secs(15);
        while sim.issued_credentials().len() < issued + 2 {
            assert!(
                Instant::now() < deadline,
                "{kind}: no refresh after the failure"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            exporter
                .logs()
                .contains("temporary credential request failed"),
            "{kind}"
        );
        let body = scrape_until(&exporter, READY, "the state file written", |b| {
            b.contains("\nhuaweicloud_quota_persistence_last_write_success 1")
        })
        .await;
        let (_, _, landing) = exporter.get("/").await;
        let (_, _, status) = exporter.get("/api/v1/status").await;
        let check = common::run(&["--config.file", &cfg, "--config.check"]);
        assert_eq!(check.0, 0, "{kind}: {}{}", check.1, check.2);
        let p = cfg.clone();
        let discover =
            tokio::task::spawn_blocking(move || common::run(&["discover", "--config.file", &p]))
                .await
                .expect("discover");
        assert_eq!(discover.0, 0, "{kind}: {}{}", discover.1, discover.2);
        assert!(
            discover.1.contains("discovery with credentials sim: OK"),
            "{kind}: {}",
            discover.1
        );
        let state_file =
            String::from_utf8_lossy(&std::fs::read(&state).expect("state")).into_owned();
        let mut secrets: Vec<String> = vec![
            PROXY_PASSWORD.into(),
            SIM_POD_IDENTITY_TOKEN.into(),
            SIM_OIDC_ID_TOKEN.into(),
        ];
        for c in sim.issued_credentials() {
            secrets.push(c.secret_key);
            secrets.push(c.security_token);
        }
        assert!(
            secrets.len() >= 3 + 2 * 3,
            "{kind}: keys were issued and renewed"
        );
        for (what, text) in [
            ("logs", exporter.logs()),
            ("standard output", exporter.output()),
            ("/metrics", body),
            ("landing page", landing),
            ("status", status),
            ("state file", state_file),
            ("--config.check", format!("{}{}", check.1, check.2)),
            ("discover", format!("{}{}", discover.1, discover.2)),
        ] {
            assert!(
                !text.is_empty() || what == "standard output",
                "{kind}: {what} is empty"
            );
            assert_no_secret(&format!("{kind}: {what}"), &text, &secrets);
        }
    }
}

/// An older metadata service without session tokens: asked for one once (not at every
/// refresh), keys fetched without; a 401 then makes a session token required, so the
/// service's "none" is an error that backs off, not a tokenless retry (the SDK's rule).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_metadata_service_is_used_without_session_tokens() {
    let mut world = World::demo();
    short_lived(&mut world, 2.0);
    world.temporary.metadata_session_tokens = false;
    let sim = start_sim(world.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = ecs_metadata_config(&world, &sim, "1s");
    let exporter = start(&dir, &yaml);
    exporter.wait_ready(READY).await;
    scrape_until(&exporter, READY, "polls succeed", all_polls_ok).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.issued_credentials().len() < 4 {
        assert!(Instant::now() < deadline, "keys not refreshed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        sim.request_count(Endpoint::MetadataToken),
        1,
        "asked for a session token at every refresh"
    );
    // The service now refuses the tokenless request.
    sim.faults()
        .push(Fault::status_body(Endpoint::MetadataSecurityKey, 401, "401 Unauthorized").once());
    common::eventually(
        Duration::from_secs(10),
        "a session token asked after the 401",
        || sim.request_count(Endpoint::MetadataToken) == 2,
    )
    .await;
    common::eventually(Duration::from_secs(5), "the failure logged", || {
        exporter
            .logs()
            .lines()
            .any(|l| l.contains("temporary credential request failed") && l.contains("status=404"))
    })
    .await;
    // No tokenless retry right after the 401: the next security key request waits out
    // the back-off (5 s less 20%).
    let asked: Vec<(Instant, u16)> = sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::MetadataSecurityKey)
        .map(|r| (r.at, r.status))
        .collect();
    let refused = asked
        .iter()
        .position(|(_, status)| *status == 401)
        .expect("the 401 recorded");
    if let Some((next, _)) = asked.get(refused + 1) {
        let gap = (*next - asked[refused].0).as_secs_f64();
        assert!(
            gap >= 3.9,
            "a security key request {gap:.2} s after the 401"
        );
    }
}
