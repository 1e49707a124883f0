//! Micro-benchmarks of the persistence file at 25,000 and 100,000 series: a write as the
//! periodic writer does it (view of the store, encode, atomic write with both fsyncs), and
//! a restore as a start does it (read, decode, load into the store), plus the encode and
//! decode alone and, for the choice of format, what parsing the same content as JSON costs.
//!
//! The store is built through the public API only, like `benches/render.rs`: a simulator
//! world's config, its targets, and for every target the simulator's answer run through
//! the real decoder. File sizes are printed when the fixtures are built.
//!
//! `cargo bench --bench persistence`; the figures are in docs/persistence.md.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use divan::Bencher;
use huaweicloud_quota_exporter::config::{Config, ProcessEnv};
use huaweicloud_quota_exporter::exposition::{self, RenderInput};
use huaweicloud_quota_exporter::model::api::Api;
use huaweicloud_quota_exporter::model::outcome::ApiCounters;
use huaweicloud_quota_exporter::model::poll::PollOutput;
use huaweicloud_quota_exporter::model::target::{self, Shard, Target};
use huaweicloud_quota_exporter::persistence::{self, file, format};
use huaweicloud_quota_exporter::simulator::World;
use huaweicloud_quota_exporter::store::Snapshot;
use huaweicloud_quota_exporter::upstream::{eventgrid, gaussdb, roma};
use serde_json::json;

fn main() {
    divan::main();
}

/// A polled store of `instances` ROMA instances (19 series each) plus the seed EventGrid
/// and GaussDB quotas, and its state file on disk.
struct Fixture {
    targets: Vec<Arc<Target>>,
    snapshot: Snapshot,
    bytes: Vec<u8>,
    json: Vec<u8>,
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn decode<E: std::fmt::Display>(r: Result<PollOutput, E>) -> PollOutput {
    r.unwrap_or_else(|e| panic!("the fixture decodes: {e}"))
}

impl Fixture {
    fn new(instances: usize) -> Fixture {
        let world = World::with_roma_instances(instances);
        let yaml = world.exporter_config_yaml("http://127.0.0.1:9", "5m");
        let config = Config::from_yaml(Path::new("bench.yaml"), &yaml, &ProcessEnv)
            .unwrap_or_else(|e| panic!("the bench config is valid: {e}"));
        let targets = target::targets(&config, Shard::default());
        let snapshot = Snapshot::new();
        snapshot.set_targets(&targets);
        let project = &world.projects[0];
        for t in &targets {
            let output = match t.api() {
                Api::RomaLivedata | Api::RomaAppQuota => {
                    let Some(i) = project
                        .roma_instances
                        .iter()
                        .find(|i| i.id == t.instance_id())
                    else {
                        panic!("every ROMA target is a world instance");
                    };
                    if t.api() == Api::RomaLivedata {
                        let d = &i.livedata;
                        let body = json!({
                            "api": d.api.to_string(), "api_used": d.api_used.to_string(),
                            "datasource": d.datasource.to_string(),
                            "datasource_used": d.datasource_used.to_string(),
                            "scripts": d.scripts.to_string(),
                        });
                        decode(roma::decode_livedata(body.to_string().as_bytes()))
                    } else {
                        let body = json!({
                            "size": i.app_quotas.len(), "total": i.app_quotas.len(),
                            "quotas": i.app_quotas,
                        });
                        let page = roma::decode_app_quota_page(body.to_string().as_bytes())
                            .unwrap_or_else(|e| panic!("the simulator's page decodes: {e}"));
                        PollOutput {
                            clients: page.quotas,
                            ..PollOutput::default()
                        }
                    }
                }
                Api::Eventgrid => decode(eventgrid::decode_quotas(include_bytes!(
                    "../tests/fixtures/eventgrid_quotas.json"
                ))),
                Api::GaussdbMysql => decode(gaussdb::decode_project_quotas(include_bytes!(
                    "../tests/fixtures/gaussdb_project_quotas.json"
                ))),
            };
            snapshot.record_success(
                &t.key,
                SystemTime::now(),
                Duration::from_micros(103_512),
                output,
            );
        }
        let view = snapshot.view();
        let bytes = format::encode(&view, SystemTime::now());
        let json = json_equivalent(&snapshot).into_bytes();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().join("exporter.state");
        file::write_atomic(&path, &bytes).unwrap_or_else(|e| panic!("write: {e}"));
        Fixture {
            targets,
            snapshot,
            bytes,
            json,
            _dir: dir,
            path,
        }
    }
}

/// The same content as JSON, field names and all (what a serde_json file would hold).
fn json_equivalent(snapshot: &Snapshot) -> String {
    let targets: Vec<serde_json::Value> = snapshot
        .view()
        .iter()
        .map(|s| {
            let d = s.data.as_deref().cloned().unwrap_or_default();
            json!({
                "key": s.target.key,
                "last_success_ns": 1_780_000_000_123_456_789u64,
                "finished_at_ns": 1_780_000_000_123_456_789u64,
                "duration_ns": 103_512_000u64,
                "value_errors": 0,
                "resources": d.resources.iter().map(|r| json!({
                    "resource": r.resource, "limit": r.limit, "used": r.used,
                    "limit_max": r.limit_max, "limit_min": r.limit_min,
                })).collect::<Vec<_>>(),
                "clients": d.clients.iter().map(|c| json!({
                    "app_quota_id": c.app_quota_id, "name": c.name, "time_unit": c.time_unit,
                    "remark": c.remark, "call_limit": c.call_limit,
                    "window_seconds": c.window_seconds, "bound_apps": c.bound_apps,
                    "reset_timestamp": c.reset_timestamp,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "version": 1, "targets": targets }).to_string()
}

/// ROMA instances for about this many series (19 per instance).
fn instances_for(series: usize) -> usize {
    series.div_ceil(19)
}

static FIXTURES: LazyLock<[(usize, Fixture); 2]> = LazyLock::new(|| {
    let make = |series: usize| {
        let f = Fixture::new(instances_for(series));
        let counters = ApiCounters::default();
        let view = f.snapshot.view();
        let text = exposition::render_text(&RenderInput {
            targets: &view,
            counters: &counters,
            reload_ok: true,
            discovery: &[],
            persistence: None,
            shard: Default::default(),
        });
        let real = text.lines().filter(|l| !l.starts_with('#')).count();
        eprintln!(
            "fixture: {} targets, {real} series; state file {} bytes ({:.1} per series), the same as JSON {} bytes; exposition {} bytes",
            f.targets.len(),
            f.bytes.len(),
            f.bytes.len() as f64 / real as f64,
            f.json.len(),
            text.len()
        );
        (series, f)
    };
    [make(25_000), make(100_000)]
});

fn fixture(series: usize) -> &'static Fixture {
    match FIXTURES.iter().find(|(s, _)| *s == series) {
        Some((_, f)) => f,
        None => panic!("no fixture of {series} series"),
    }
}

const SIZES: [usize; 2] = [25_000, 100_000];

/// One periodic write: the store's view, encode, temporary file, fsync, rename, fsync of
/// the directory (what runs on the blocking thread every `--persistence.interval`).
#[divan::bench(args = SIZES, sample_count = 20)]
fn write(b: Bencher, series: usize) {
    let f = fixture(series);
    b.bench(|| {
        let view = f.snapshot.view();
        let bytes = format::encode(&view, SystemTime::now());
        file::write_atomic(&f.path, &bytes).unwrap_or_else(|e| panic!("write: {e}"));
        bytes.len()
    });
}

/// Encoding alone (the CPU part of a write).
#[divan::bench(args = SIZES, sample_count = 20)]
fn encode(b: Bencher, series: usize) {
    let f = fixture(series);
    b.bench(|| format::encode(&f.snapshot.view(), SystemTime::now()));
}

/// A restore at start: read the file, decode it, load it into a store whose targets are
/// set (the time before the exporter can be ready).
#[divan::bench(args = SIZES, sample_count = 20)]
fn restore(b: Bencher, series: usize) {
    let f = fixture(series);
    b.with_inputs(|| {
        let s = Snapshot::new();
        s.set_targets(&f.targets);
        s
    })
    .bench_local_values(|snapshot| {
        let bytes = file::read(&f.path)
            .unwrap_or_else(|e| panic!("read: {e}"))
            .unwrap_or_else(|| panic!("the file is there"));
        let decoded = format::decode(&bytes).unwrap_or_else(|e| panic!("decode: {e}"));
        let report = persistence::load(&snapshot, &f.targets, decoded, SystemTime::now());
        assert_eq!(report.restored, f.targets.len());
        snapshot
    });
}

/// Decoding alone.
#[divan::bench(args = SIZES, sample_count = 20)]
fn decode_only(b: Bencher, series: usize) {
    let f = fixture(series);
    b.bench(|| format::decode(&f.bytes).map(|d| d.targets.len()));
}

/// For comparison: only parsing the same content as JSON into a `serde_json::Value`.
#[divan::bench(args = SIZES, sample_count = 20)]
fn json_parse_for_comparison(b: Bencher, series: usize) {
    let f = fixture(series);
    b.bench(|| serde_json::from_slice::<serde_json::Value>(&f.json).map(|v| v.is_object()));
}
