//! Micro-benchmarks of the serving path: rendering an exposition of 25,000 and 100,000
//! series from a snapshot (writing the text, then gzip once), and the per-scrape work
//! (`process_*` tail, gzip splice).
//!
//! The snapshot is built through the public API only: a simulator world's config, its
//! targets, and for every target the simulator's answer run through the real decoder.
//!
//! `cargo bench --bench render`; the figures are in BENCHMARKS.md.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use divan::Bencher;
use huaweicloud_quota_exporter::config::{Config, ProcessEnv};
use huaweicloud_quota_exporter::exposition::{self, Exposition, RenderInput, RenderedBody};
use huaweicloud_quota_exporter::model::api::Api;
use huaweicloud_quota_exporter::model::outcome::{ApiCounters, RequestOutcome};
use huaweicloud_quota_exporter::model::poll::PollOutput;
use huaweicloud_quota_exporter::model::target::{self, Shard};
use huaweicloud_quota_exporter::simulator::World;
use huaweicloud_quota_exporter::store::{Snapshot, TargetStatus};
use huaweicloud_quota_exporter::upstream::{eventgrid, gaussdb, roma};
use serde_json::json;

fn main() {
    divan::main();
}

/// A polled snapshot of `instances` ROMA instances (livedata and two client quotas
/// each, 19 series per instance) plus the seed EventGrid and GaussDB quotas.
struct Fixture {
    snapshot: Snapshot,
    counters: ApiCounters,
    view: Vec<TargetStatus>,
    series: usize,
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
        let counters = ApiCounters::default();
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
            counters.count_request(t.api().into(), &RequestOutcome::Status(200));
            snapshot.record_success(
                &t.key,
                SystemTime::now(),
                Duration::from_micros(103_512),
                output,
            );
        }
        let view = snapshot.view();
        let text = exposition::render_text(&input(&view, &counters));
        let series = text.lines().filter(|l| !l.starts_with('#')).count();
        Fixture {
            snapshot,
            counters,
            view,
            series,
        }
    }

    fn text(&self) -> String {
        exposition::render_text(&input(&self.view, &self.counters))
    }
}

fn decode<E: std::fmt::Display>(r: Result<PollOutput, E>) -> PollOutput {
    r.unwrap_or_else(|e| panic!("the fixture decodes: {e}"))
}

fn input<'a>(view: &'a [TargetStatus], counters: &'a ApiCounters) -> RenderInput<'a> {
    RenderInput {
        targets: view,
        counters,
        reload_ok: true,
        discovery: &[],
        persistence: None,
        shard: Default::default(),
    }
}

/// ROMA instances for about this many series (19 per instance).
fn instances_for(series: usize) -> usize {
    series.div_ceil(19)
}

static FIXTURES: LazyLock<[(usize, Fixture); 2]> = LazyLock::new(|| {
    let make = |series: usize| {
        let f = Fixture::new(instances_for(series));
        eprintln!(
            "fixture: {} targets, {} series, {} bytes plain",
            f.view.len(),
            f.series,
            f.text().len()
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

/// A full render as the renderer does it after a change: write every target's series,
/// then CRC and gzip once (`render_text` + `RenderedBody::new`).
#[divan::bench(args = SIZES, sample_count = 20)]
fn render_text_and_body(b: Bencher, series: usize) {
    let f = fixture(series);
    b.bench(|| {
        let text = exposition::render_text(&input(&f.view, &f.counters));
        RenderedBody::new(text, f.view.len(), f.view.len())
    });
}

/// Only the text.
#[divan::bench(args = SIZES, sample_count = 20)]
fn render_text(b: Bencher, series: usize) {
    let f = fixture(series);
    b.bench(|| exposition::render_text(&input(&f.view, &f.counters)));
}

/// Only the compression (CRC + gzip of the text).
#[divan::bench(args = SIZES, sample_count = 20)]
fn rendered_body_new(b: Bencher, series: usize) {
    let f = fixture(series);
    b.with_inputs(|| f.text())
        .bench_values(|text| RenderedBody::new(text, 1, 1));
}

/// What the renderer task runs: take a consistent view of the snapshot, render, publish.
#[divan::bench(args = SIZES, sample_count = 20)]
fn exposition_render_now(b: Bencher, series: usize) {
    let f = fixture(series);
    let exposition = Exposition::default();
    b.bench(|| exposition.render_now(&f.snapshot, &f.counters));
}

/// The per-scrape work for a plain scrape of 25,000 series: tail plus chunk list.
#[divan::bench]
fn scrape_plain(b: Bencher) {
    let f = fixture(25_000);
    let body = RenderedBody::new(f.text(), 1, 1);
    let exposition = Exposition::default();
    b.bench(|| body.plain_with(&exposition.process.render()));
}

/// The per-scrape work for a gzip scrape of 25,000 series, as served: the `process_*`
/// tail (cached for a second) and the gzip end made for it (cached with it).
#[divan::bench]
fn scrape_gzip(b: Bencher) {
    let f = fixture(25_000);
    let body = RenderedBody::new(f.text(), 1, 1);
    let exposition = Exposition::default();
    b.bench(|| body.gzip_with(&exposition.process.render()));
}

/// The gzip splice itself with a tail it has not seen: compress the tail as the final
/// block and combine the CRC (what the first scrape after a change of the tail pays).
#[divan::bench]
fn gzip_splice_new_tail(b: Bencher) {
    let f = fixture(25_000);
    let body = RenderedBody::new(f.text(), 1, 1);
    let tail = Exposition::default().process.render();
    let tails = [tail.to_vec(), [&tail[..], b"# another tail\n"].concat()];
    let mut i = 0;
    b.bench_local(|| {
        i ^= 1;
        body.gzip_with(&tails[i])
    });
}

/// Reading the `process_*` block from /proc and encoding it (once a second at most).
#[divan::bench]
fn process_metrics_read(b: Bencher) {
    b.with_inputs(exposition::ProcessMetrics::default)
        .bench_values(|p| p.render());
}
