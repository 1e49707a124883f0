//! How long the landing page and `/api/v1/status` take with 10,000 targets:
//! `cargo bench --bench landing`. Prints the median of several runs of each step.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use huaweicloud_quota_exporter::config::{Config, ProcessEnv};
use huaweicloud_quota_exporter::model::outcome::PollError;
use huaweicloud_quota_exporter::model::poll::{ClientQuota, PollOutput, ResourceQuota};
use huaweicloud_quota_exporter::model::target::{self, Shard};
use huaweicloud_quota_exporter::server::landing::{self, PageContext, PageQuery};
use huaweicloud_quota_exporter::server::status::{StatusCache, StatusModel};
use huaweicloud_quota_exporter::simulator::World;
use huaweicloud_quota_exporter::store::Snapshot;

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = None;
    let times = (0..runs)
        .map(|_| {
            let start = Instant::now();
            out = Some(f());
            start.elapsed()
        })
        .collect();
    (median(times), out.unwrap_or_else(f))
}

fn main() {
    // 4,999 ROMA instances (livedata + client quotas each) + EventGrid + GaussDB = 10,000 targets.
    let world = World::with_roma_instances(4_999);
    let yaml = world.exporter_config_yaml("http://127.0.0.1:9", "5m");
    let config = match Config::from_yaml(Path::new("<bench>"), &yaml, &ProcessEnv) {
        Ok(c) => c,
        Err(e) => panic!("bench config: {e}"),
    };
    let targets = target::targets(&config, Shard::default());
    let snapshot = Snapshot::new();
    snapshot.set_targets(&targets);
    let now = SystemTime::now();
    for (i, t) in targets.iter().enumerate() {
        if i % 50 == 7 {
            let mut e = PollError::local(
                huaweicloud_quota_exporter::model::outcome::ErrorCode::Timeout,
                "request timed out after 10s",
            );
            e.request_id = Some(format!("req-{i}"));
            snapshot.record_failure(&t.key, now, Duration::from_millis(10_000), e);
            continue;
        }
        let used = (i % 100) as f64;
        let output = PollOutput {
            resources: vec![
                ResourceQuota {
                    resource: "api".into(),
                    limit: Some(100.0),
                    used: Some(used),
                    ..ResourceQuota::default()
                },
                ResourceQuota {
                    resource: "datasource".into(),
                    limit: Some(50.0),
                    used: Some((i % 51) as f64),
                    ..ResourceQuota::default()
                },
            ],
            clients: vec![ClientQuota {
                app_quota_id: format!("{i:032x}"),
                name: format!("quota_{i}"),
                time_unit: "HOUR".into(),
                remark: "bench <remark>".into(),
                call_limit: Some(1000.0),
                window_seconds: Some(3600.0),
                bound_apps: Some(1.0),
                reset_timestamp: None,
            }],
            value_errors: Vec::new(),
        };
        snapshot.record_success(&t.key, now, Duration::from_millis(120), output);
    }
    println!("targets: {}", targets.len());

    let (view, _) = time(21, || snapshot.view().len());
    let (build, model) = time(21, || {
        StatusModel::build(snapshot.generation(), snapshot.view(), true, now)
    });
    let model = Arc::new(model);
    println!(
        "model (view + sort) : {:>8.2} ms   ({} targets, {} quotas, {} client quotas; snapshot.view alone {:.2} ms)",
        build.as_secs_f64() * 1e3,
        model.targets.len(),
        model.quotas.len(),
        model.clients.len(),
        view.as_secs_f64() * 1e3
    );
    let ctx = PageContext {
        telemetry_path: "/metrics",
        uptime: Duration::from_secs(3600),
        now,
        credentials: &[],
    };
    let (page, html) = time(101, || landing::render(&model, PageQuery::default(), &ctx));
    println!(
        "landing page        : {:>8.3} ms   ({} bytes, first page of each table)",
        page.as_secs_f64() * 1e3,
        html.len()
    );
    let last = PageQuery {
        quotas: usize::MAX,
        targets: usize::MAX,
        clients: usize::MAX,
    };
    let (page_last, _) = time(101, || landing::render(&model, last, &ctx));
    println!(
        "landing, last pages : {:>8.3} ms",
        page_last.as_secs_f64() * 1e3
    );
    let (json, bytes) = time(11, || {
        StatusModel::build(snapshot.generation(), snapshot.view(), true, now).json()
    });
    println!(
        "JSON status (build+serialise, uncached): {:.2} ms ({} bytes)",
        json.as_secs_f64() * 1e3,
        bytes.len()
    );
    // What a request pays once the model is cached (the snapshot did not change).
    let cache = StatusCache::default();
    let _ = cache.get(&snapshot, now);
    let (cached, _) = time(1001, || {
        let m = cache.get(&snapshot, now);
        landing::render(&m, PageQuery::default(), &ctx).len() + m.json().len()
    });
    println!(
        "cached model: page + JSON per request: {:.3} ms",
        cached.as_secs_f64() * 1e3
    );
}
