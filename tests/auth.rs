//! End-to-end authentication: static tokens, AK/SK signing and IAM password tokens against
//! the simulator's own verifier, secrets that never leak, and `app-quota create`.

mod common;

use std::time::{Duration, Instant};

use common::{Exporter, raw_client, run, scrape, start_sim, write_temp};
use huaweicloud_quota_exporter::simulator::{
    DEMO_TOKEN, Endpoint, SIM_ACCESS_KEY, SIM_SECRET_KEY, SIM_SECURITY_TOKEN, SIM_TEMP_ACCESS_KEY,
    SIM_TEMP_SECRET_KEY, Simulator, World,
};

const READY: Duration = Duration::from_secs(30);
/// The issue asks for at least 20 s of 1 s polls.
const RUN: Duration = Duration::from_secs(21);

/// The world's exporter config with its static token credential replaced by `credential`
/// (YAML lines indented for a credential body).
fn config_with(world: &World, sim: &Simulator, interval: &str, credential: &str) -> String {
    let yaml = world.exporter_config_yaml(&sim.base_url(), interval);
    let token_line = format!("    token: {DEMO_TOKEN}\n");
    assert!(yaml.contains(&token_line), "{yaml}");
    yaml.replace(&token_line, credential)
}

/// Every series line of `family` in `body`.
fn lines<'a>(body: &'a str, family: &str) -> Vec<&'a str> {
    body.lines()
        .filter(|l| l.starts_with(family) && l[family.len()..].starts_with('{'))
        .collect()
}

/// Scrapes once a second for `RUN`, asserting every target's last poll succeeded each time.
async fn assert_polls_keep_succeeding(exporter: &Exporter) -> String {
    let start = Instant::now();
    let mut body = String::new();
    while start.elapsed() < RUN {
        body = scrape(exporter).await;
        let polls = lines(&body, "huaweicloud_quota_poll_success");
        assert!(!polls.is_empty());
        assert!(
            polls.iter().all(|l| l.ends_with(" 1")),
            "a poll failed after {:?}:\n{body}\nlogs:\n{}",
            start.elapsed(),
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for code in ["401", "403", "APIG.0301", "APIG.1002", "APIG.1005", "auth"] {
        assert!(
            !body.contains(&format!("error_code=\"{code}\"")),
            "auth error {code}:\n{body}"
        );
    }
    body
}

fn create_args<'a>(cfg: &'a str, name: &'a str) -> Vec<&'a str> {
    vec![
        "--config.file",
        cfg,
        "app-quota",
        "create",
        "--project-id",
        "0123456789abcdef0123456789abcdef",
        "--instance-id",
        "f0fa1789-3b76-433b-a787-9892951c620e",
        "--name",
        name,
        "--call-limits",
        "1000",
        "--time-unit",
        "HOURE",
        "--time-interval",
        "2",
        "--reset-time",
        "2020-09-20 00:00:00",
        "--remark",
        "created by a test",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_quota_create_succeeds_rejects_locally_and_reports_duplicates() {
    let sim = start_sim(World::seeds()).await;
    let yaml = World::seeds().exporter_config_yaml(&sim.base_url(), "1h");
    let (_dir, path) = write_temp("c.yaml", &yaml);
    let cfg = path.to_string_lossy().into_owned();

    // Success: the created quota as JSON on stdout.
    let c = cfg.clone();
    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(move || run(&create_args(&c, "Nightly_batch")))
            .await
            .expect("join");
    assert_eq!(code, 0, "{stderr}");
    let created: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(created["name"], "Nightly_batch");
    assert_eq!(created["call_limits"], 1000);
    assert_eq!(created["app_quota_id"].as_str().map(str::len), Some(32));
    assert_eq!(sim.request_count(Endpoint::AppQuotaCreate), 1);

    // Local rejections: explained, exit 2, nothing sent.
    for (bad_name, why) in [
        ("ab", "3 to 255"),
        ("9lives", "start with a letter"),
        ("has-dash", "only letters"),
    ] {
        let c = cfg.clone();
        let (code, _stdout, stderr) =
            tokio::task::spawn_blocking(move || run(&create_args(&c, bad_name)))
                .await
                .expect("join");
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(why) && stderr.contains("nothing was sent"),
            "{stderr}"
        );
    }
    let c = cfg.clone();
    let (code, _o, stderr) = tokio::task::spawn_blocking(move || {
        let mut args = create_args(&c, "Valid_name");
        let i = args
            .iter()
            .position(|a| *a == "created by a test")
            .expect("remark");
        args[i] = "<b>bold</b>";
        run(&args)
    })
    .await
    .expect("join");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("must not contain `<` or `>`"), "{stderr}");
    assert_eq!(
        sim.request_count(Endpoint::AppQuotaCreate),
        1,
        "a rejected request reached the simulator"
    );

    // Duplicate name: the upstream refusal with its error code, exit 1.
    let c = cfg.clone();
    let (code, _stdout, stderr) =
        tokio::task::spawn_blocking(move || run(&create_args(&c, "ClientQuota_demo")))
            .await
            .expect("join");
    assert_eq!(code, 1);
    assert!(stderr.contains("APIG.3325"), "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aksk_signed_polls_succeed_for_20s_permanent_and_temporary_keys() {
    let world = World::demo();
    let sim = start_sim(world.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let sk_file = dir.path().join("sk");
    std::fs::write(&sk_file, format!("{SIM_SECRET_KEY}\n")).expect("write");
    // Project one signs with a permanent key (secret from a file), project two with a
    // temporary key and its security token.
    let mut yaml = config_with(
        &world,
        &sim,
        "1s",
        &format!(
            "    access_key: {SIM_ACCESS_KEY}\n    secret_key_file: {}\n  temp:\n    access_key: {SIM_TEMP_ACCESS_KEY}\n    secret_key: {SIM_TEMP_SECRET_KEY}\n    security_token: {SIM_SECURITY_TOKEN}\n",
            sk_file.display()
        ),
    );
    let second = yaml.rfind("    credentials: sim").expect("second project");
    yaml.replace_range(
        second..second + "    credentials: sim".len(),
        "    credentials: temp",
    );
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, yaml).expect("write");
    let exporter = Exporter::start(&["--config.file", cfg.to_str().expect("utf-8")]);
    exporter.wait_ready(READY).await;
    let body = assert_polls_keep_succeeding(&exporter).await;
    // Real polling happened: well over one request per target.
    let requests: f64 = lines(&body, "huaweicloud_quota_api_requests_total")
        .iter()
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum();
    eprintln!("AK/SK: {requests} signed requests in {RUN:?}, all polls succeeded");
    assert!(requests >= 100.0, "{requests} requests in 20 s:\n{body}");
    // Every request the simulator saw was signed, none used a token.
    let seen = sim.requests();
    assert!(seen.iter().all(|r| {
        r.headers
            .iter()
            .any(|(k, v)| k == "authorization" && v.starts_with("SDK-HMAC-SHA256 "))
    }));
    assert!(
        seen.iter()
            .all(|r| !r.headers.iter().any(|(k, _)| k == "x-auth-token"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_tokens_are_per_project_reused_and_refreshed_before_expiry() {
    let mut world = World::demo();
    world.iam.token_lifetime = Duration::from_secs(4);
    let iam = world.iam.clone();
    let sim = start_sim(world.clone()).await;
    let yaml = config_with(
        &world,
        &sim,
        "1s",
        &format!(
            "    iam_endpoint: {}/v3\n    domain: {}\n    username: {}\n    password: {}\n",
            sim.base_url(),
            iam.domain,
            iam.username,
            iam.password
        ),
    );
    let (_dir, cfg) = write_temp("c.yaml", &yaml);
    let exporter = Exporter::start(&["--config.file", cfg.to_str().expect("utf-8")]);
    exporter.wait_ready(READY).await;
    let started = Instant::now();
    assert_polls_keep_succeeding(&exporter).await;
    let elapsed = started.elapsed().as_secs_f64() + 1.0;

    let issued = sim.iam_issued();
    let polls: u64 = [
        Endpoint::Livedata,
        Endpoint::AppQuotaList,
        Endpoint::Eventgrid,
        Endpoint::Gaussdb,
    ]
    .into_iter()
    .map(|e| sim.request_count(e))
    .sum();
    for p in &world.projects {
        let mine: Vec<_> = issued
            .iter()
            .filter(|t| t.project_id.as_deref() == Some(p.id.as_str()))
            .collect();
        // Refreshed at half-life (2 s): about elapsed/2 tokens, never one per poll.
        assert!(
            mine.len() >= 5,
            "project {}: only {} tokens in {elapsed:.0}s: no refresh?",
            p.id,
            mine.len()
        );
        assert!(
            (mine.len() as f64) <= elapsed / 2.0 + 3.0,
            "project {}: {} tokens in {elapsed:.0}s: not reused",
            p.id,
            mine.len()
        );
        // One refresh in flight per project: consecutive tokens are spaced by about half a lifetime.
        for w in mine.windows(2) {
            let gap = w[1].issued.duration_since(w[0].issued);
            assert!(
                gap >= Duration::from_millis(1500),
                "project {}: tokens {gap:?} apart",
                p.id
            );
        }
    }
    eprintln!(
        "IAM: {} tokens for {} projects over {elapsed:.0}s, {polls} polls",
        issued.len(),
        world.projects.len()
    );
    assert!(
        polls > 10 * issued.len() as u64 / 2,
        "{polls} polls against {} tokens",
        issued.len()
    );
    // Each token is scoped to exactly one project.
    assert!(issued.iter().all(|t| t.project_id.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_iam_password_backs_off_and_shows_in_metrics_and_landing_page() {
    let world = World::seeds();
    let sim = start_sim(world.clone()).await;
    let yaml = config_with(
        &world,
        &sim,
        "1s",
        &format!(
            "    iam_endpoint: {}/v3\n    domain: {}\n    username: {}\n    password: not-the-password\n",
            sim.base_url(),
            world.iam.domain,
            world.iam.username
        ),
    );
    let (_dir, cfg) = write_temp("c.yaml", &yaml);
    let exporter = Exporter::start(&["--config.file", cfg.to_str().expect("utf-8")]);
    exporter.wait_ready(READY).await;
    let start = Instant::now();
    let mut body = String::new();
    while start.elapsed() < Duration::from_secs(8) {
        body = scrape(&exporter).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Four targets polled every second for 8 s, yet IAM was asked only a couple of times:
    // 5 s, 10 s, ... back-off, not one attempt per poll (accounts get locked).
    let iam_calls = sim.request_count(Endpoint::IamTokens);
    eprintln!("wrong password: {iam_calls} IAM calls in 8 s of 1 s polls");
    assert!((1..=3).contains(&iam_calls), "{iam_calls} IAM calls in 8 s");
    assert_eq!(
        sim.request_count(Endpoint::Livedata),
        0,
        "no request without a token"
    );
    assert!(
        lines(&body, "huaweicloud_quota_poll_success")
            .iter()
            .all(|l| l.ends_with(" 0"))
    );
    assert!(
        body.contains(r#"huaweicloud_quota_api_errors_total{api="iam",error_code="401"}"#),
        "{body}"
    );
    assert!(
        body.contains(r#"huaweicloud_quota_api_requests_total{api="iam",code="401"}"#),
        "{body}"
    );
    let page = raw_client()
        .get(format!("{}/", exporter.base))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(
        page.contains("IAM refused a token"),
        "landing page lacks the IAM error"
    );
    assert!(!page.contains("not-the-password") && !body.contains("not-the-password"));
    assert!(!exporter.logs().contains("not-the-password"));
    // The Credentials section: the IAM credential failing, with IAM's code and the user.
    let panel = page
        .split("<section class=\"panel\" id=\"credentials\">")
        .nth(1)
        .and_then(|p| p.split("</section>").next())
        .expect("a Credentials section");
    assert!(
        panel.contains("<b>sim</b>")
            && panel.contains("iam_password")
            && panel.contains("badge failed\">failing<")
            && panel.contains(&format!("as {}@{}", world.iam.username, world.iam.domain))
            && panel.contains(">401<"),
        "{panel}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_any_output() {
    let mut world = World::demo();
    world.iam.token_lifetime = Duration::from_secs(4);
    let sim = start_sim(world.clone()).await;
    // Three credential kinds, plus a wrong password so error paths are logged too.
    let mut yaml = config_with(
        &world,
        &sim,
        "1s",
        &format!(
            "    iam_endpoint: {base}/v3\n    domain: {d}\n    username: {u}\n    password: {p}\n  aksk:\n    access_key: {SIM_ACCESS_KEY}\n    secret_key: {SIM_SECRET_KEY}\n  bad:\n    iam_endpoint: {base}/v3\n    domain: {d}\n    username: {u}\n    password: wrong-password-SECRET\n  tok:\n    token: {DEMO_TOKEN}\n",
            base = sim.base_url(),
            d = world.iam.domain,
            u = world.iam.username,
            p = world.iam.password
        ),
    );
    let second = yaml.rfind("    credentials: sim").expect("second project");
    yaml.replace_range(
        second..second + "    credentials: sim".len(),
        "    credentials: aksk",
    );
    // A third project whose IAM login fails, so the error paths log too.
    yaml.push_str(&format!(
        "  - id: 00000000000000000000000000000bad\n    region: eu-de\n    credentials: bad\n    endpoints: {{ gaussdb_mysql: {} }}\n    gaussdb_mysql: {{}}\n",
        sim.base_url()
    ));
    let (_dir, cfg) = write_temp("c.yaml", &yaml);
    let cfg = cfg.to_string_lossy().into_owned();

    let c = cfg.clone();
    let (code, check_out, check_err) =
        tokio::task::spawn_blocking(move || run(&["--config.check", "--config.file", &c]))
            .await
            .expect("join");
    assert_eq!(code, 0, "{check_err}");

    let exporter = Exporter::start(&["--config.file", &cfg, "--log.level", "debug"]);
    exporter.wait_ready(READY).await;
    // Long enough for IAM refreshes (4 s tokens) and several polls.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let metrics = scrape(&exporter).await;
    let page = raw_client()
        .get(format!("{}/", exporter.base))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    let json_logs = {
        let c = cfg.clone();
        tokio::task::spawn_blocking(move || {
            run(&[
                "--once",
                "--config.file",
                &c,
                "--log.level",
                "debug",
                "--log.format",
                "json",
            ])
        })
        .await
        .expect("join")
    };
    let logs = exporter.logs();
    assert!(logs.contains("level=debug"), "debug logging was not on");
    assert!(
        logs.contains("IAM token request failed"),
        "the failing login was not exercised:\n{logs}"
    );
    assert!(metrics.contains(r#"huaweicloud_quota_poll_success{api="roma_livedata",project_id="0123456789abcdef0123456789abcdef""#));

    let mut secrets: Vec<String> = vec![
        world.iam.password.clone(),
        "wrong-password-SECRET".into(),
        SIM_SECRET_KEY.into(),
        DEMO_TOKEN.into(),
    ];
    secrets.extend(sim.iam_issued().into_iter().map(|t| t.token));
    assert!(
        secrets.len() > 4,
        "no IAM token was issued, the test would prove little"
    );
    let outputs = [
        ("--config.check stdout", check_out.as_str()),
        ("--config.check stderr", check_err.as_str()),
        ("logs (debug, logfmt)", logs.as_str()),
        ("logs (debug, json, --once)", json_logs.2.as_str()),
        ("--once stdout", json_logs.1.as_str()),
        ("metrics", metrics.as_str()),
        ("landing page", page.as_str()),
    ];
    for (name, text) in outputs {
        assert!(
            !text.is_empty() || name.contains("stderr"),
            "{name} is empty"
        );
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a secret ({} chars) leaked into {name}",
                s.len()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_iam_token_is_refreshed_once_and_the_request_retried() {
    let world = World::seeds();
    let sim = start_sim(world.clone()).await;
    let yaml = config_with(
        &world,
        &sim,
        "1s",
        &format!(
            "    iam_endpoint: {}/v3\n    domain: {}\n    username: {}\n    password: {}\n",
            sim.base_url(),
            world.iam.domain,
            world.iam.username,
            world.iam.password
        ),
    )
    // No retries of ordinary failures: a poll survives the revocation only through the
    // auth layer's refresh-and-retry.
    .replacen("defaults:\n", "defaults:\n  retries: 0\n", 1);
    let (_dir, cfg) = write_temp("c.yaml", &yaml);
    let exporter = Exporter::start(&["--config.file", cfg.to_str().expect("utf-8")]);
    exporter.wait_ready(READY).await;
    assert_eq!(
        sim.iam_issued().len(),
        1,
        "one token for the one project (24 h lifetime)"
    );

    // IAM revokes the token early: the next requests get 401 APIG.0301.
    sim.expire_issued_tokens();
    let revoked_at = Instant::now();
    common::eventually(
        Duration::from_secs(10),
        "a new token after the revocation",
        || sim.iam_issued().len() >= 2,
    )
    .await;
    // Several seconds of polls after the refresh: none failed.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        let body = scrape(&exporter).await;
        assert!(
            lines(&body, "huaweicloud_quota_poll_success")
                .iter()
                .all(|l| l.ends_with(" 1")),
            "a poll failed after the revocation:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let issued = sim.iam_issued();
    assert_eq!(
        issued.len(),
        2,
        "exactly one refresh for one revocation, however many polls hit the 401"
    );
    let refused = sim
        .requests()
        .iter()
        .filter(|r| r.status == 401 && r.at > revoked_at)
        .count();
    assert!(refused >= 1, "no request saw the revoked token");
    // The poll that got the 401 did not fail: it was retried with the new token.
    assert!(
        !exporter.logs().contains("poll failed"),
        "a poll failed:\n{}",
        exporter.logs()
    );
    eprintln!("revocation: {refused} request(s) got 401, one refresh, every poll succeeded");
}
