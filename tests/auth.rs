//! End-to-end authentication: static tokens, AK/SK signing and IAM password tokens against
//! the simulator's own verifier, secrets that never leak, and `app-quota create`.

mod common;

use common::{run, write_temp};
use huaweicloud_quota_exporter::simulator::{Endpoint, Simulator, World};

async fn start_sim(world: World) -> Simulator {
    Simulator::start(([127, 0, 0, 1], 0).into(), world)
        .await
        .expect("simulator")
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
