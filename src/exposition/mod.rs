//! Samples -> exposition bytes, once per change. Scrapes are served from the result.
//!
//! A render (after changes, coalesced) writes every target's series family by family from
//! the snapshot's data into one buffer and compresses it once; scrapes send those bytes.
//! The small `process_*` block ([`process`]) is read at most once a second and spliced
//! onto the cached body: for gzip ([`gzip`]), the cached deflate stream ends with a sync
//! flush, the tail is compressed as the final block, and the CRC is combined, which makes
//! one valid gzip member without recompressing the big part.
//!
//! [`families`] names the per-target families; [`text`] writes lines.

pub mod discovery;
pub mod families;
pub mod gzip;
pub mod persistence;
pub mod process;
pub mod text;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use self::families::{ClientFigure, Family, ResourceFigure};
pub use self::gzip::BodyEncoder;
use self::gzip::GzipBody;
pub use self::process::ProcessMetrics;
pub use self::text::write_value;
use self::text::{header, line, line_with};
use crate::model::api::Service;
use crate::model::build::BUILD;
use crate::model::discovery::DiscoveryStatus;
use crate::model::outcome::ApiCounters;
use crate::model::target::Shard;
use crate::model::time::unix_seconds;
use crate::store::{PersistenceStatus, Snapshot, TargetStatus};

/// `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes the lines of `family` of one target.
///
/// Lines are made from the target's data at each render rather than kept as text: kept
/// text would double the memory of the exposition (every series twice: in the targets and
/// in the published body), while writing 100,000 series takes a few milliseconds.
fn write_family(out: &mut String, family: Family, s: &TargetStatus) {
    let name = family.name();
    let labels = s.target.labels.all();
    let (resources, clients) = match &s.data {
        Some(d) => (&d.resources[..], &d.clients[..]),
        None => (&[][..], &[][..]),
    };
    match family {
        Family::Resource(figure) => {
            for r in resources {
                if let Some(v) = figure.of(r) {
                    line_with(out, name, labels, &[("resource", &r.resource)], v);
                }
            }
        }
        Family::Client(figure) => {
            for c in clients {
                if let Some(v) = figure.of(c) {
                    let quota = [("app_quota_id", c.app_quota_id.as_str())];
                    line_with(out, name, s.target.labels.without_api(), &quota, v);
                }
            }
        }
        Family::ClientInfo => {
            for c in clients {
                let info = [
                    ("app_quota_id", c.app_quota_id.as_str()),
                    ("name", c.name.as_str()),
                    ("time_unit", c.time_unit.as_str()),
                    ("remark", c.remark.as_str()),
                ];
                line_with(out, name, s.target.labels.without_api(), &info, 1.0);
            }
        }
        Family::PollSuccess => {
            if let Some(p) = &s.last_poll {
                let v = if p.error.is_none() { 1.0 } else { 0.0 };
                line_with(out, name, labels, &[], v);
            }
        }
        Family::PollDuration => {
            if let Some(p) = &s.last_poll {
                line_with(
                    out,
                    name,
                    labels,
                    &[],
                    (p.duration.as_micros() as f64) / 1e6,
                );
            }
        }
        Family::LastSuccess => {
            if let Some(ts) = s.last_success {
                line_with(out, name, labels, &[], unix_seconds(ts));
            }
        }
    }
}

/// How many series a target has (what [`write_family`] writes over all families).
fn series_of(s: &TargetStatus) -> usize {
    let poll = match (&s.last_poll, &s.last_success) {
        (None, None) => 0,
        (Some(_), None) => 2,
        (None, Some(_)) => 1,
        (Some(_), Some(_)) => 3,
    };
    let data = s.data.as_ref().map_or(0, |d| {
        let resources: usize = d
            .resources
            .iter()
            .map(|r| ResourceFigure::ALL.iter().filter_map(|f| f.of(r)).count())
            .sum();
        let clients: usize = d
            .clients
            .iter()
            .map(|c| 1 + ClientFigure::ALL.iter().filter_map(|f| f.of(c)).count())
            .sum();
        resources + clients
    });
    poll + data
}

/// Everything besides the targets that goes into a render.
#[derive(Debug)]
pub struct RenderInput<'a> {
    /// Every target's status, in key order.
    pub targets: &'a [TargetStatus],
    /// Request and error counters.
    pub counters: &'a ApiCounters,
    /// Result of the last config reload.
    pub reload_ok: bool,
    /// The discovery status of every credential that discovers.
    pub discovery: &'a [DiscoveryStatus],
    /// How the last write of the persistence file went (`None`: persistence is off).
    pub persistence: Option<PersistenceStatus>,
    /// `--shard I/N` of this exporter.
    pub shard: Shard,
}

/// Renders the cached part of the exposition (everything but `process_*`).
pub fn render_text(input: &RenderInput<'_>) -> String {
    let mut out = String::new();
    render_text_into(input, &mut out);
    out
}

/// [`render_text`] into `out`, which is cleared first; its allocation is reused.
pub fn render_text_into(input: &RenderInput<'_>, out: &mut String) {
    out.clear();
    // Reserved once rather than grown line by line (a reused buffer usually has the
    // room already): 180 bytes per series is a little above the usual line length.
    let series: usize = input.targets.iter().map(series_of).sum();
    out.reserve(4096 + series * 180);
    write_exporter_info(out, input.reload_ok, input.shard);
    if let Some(p) = input.persistence {
        persistence::write_persistence(out, p);
    }
    write_project_info(out, input.targets);
    discovery::write_discovery(out, input.targets, input.discovery);
    for family in Family::ALL {
        let start = out.len();
        header(out, family.name(), family.help(), "gauge");
        let first_line = out.len();
        for t in input.targets {
            write_family(out, family, t);
        }
        // A family no target has is left out, header included.
        if out.len() == first_line {
            out.truncate(start);
        }
    }
    write_counters(out, input.counters);
}

/// The exporter's own gauges: `huaweicloud_quota_build_info` (prometheus/common's labels),
/// `huaweicloud_quota_config_last_reload_successful`, and the shard gauges
/// `huaweicloud_quota_shard_ordinal` / `huaweicloud_quota_total_shards` (kube-state-metrics'
/// names; the shipped shard alerts read them).
fn write_exporter_info(out: &mut String, reload_ok: bool, shard: Shard) {
    header(
        out,
        "huaweicloud_quota_build_info",
        "A metric with a constant '1' value labeled by version, revision, branch, and rustversion from which huaweicloud-quota-exporter was built.",
        "gauge",
    );
    line(
        out,
        "huaweicloud_quota_build_info",
        &[
            ("version", BUILD.version),
            ("revision", BUILD.revision),
            ("branch", BUILD.branch),
            ("rustversion", BUILD.rust_version),
        ],
        1.0,
    );
    header(
        out,
        "huaweicloud_quota_config_last_reload_successful",
        "1 if the last configuration reload succeeded, else 0.",
        "gauge",
    );
    out.push_str("huaweicloud_quota_config_last_reload_successful ");
    out.push_str(if reload_ok { "1\n" } else { "0\n" });
    for (name, help, value) in [
        (
            "huaweicloud_quota_shard_ordinal",
            "This exporter's shard I of --shard I/N (0 when not sharded).",
            shard.index,
        ),
        (
            "huaweicloud_quota_total_shards",
            "The number of shards N of --shard I/N (1 when not sharded).",
            shard.count,
        ),
    ] {
        header(out, name, help, "gauge");
        out.push_str(name);
        out.push(' ');
        write_value(out, f64::from(value));
        out.push('\n');
    }
}

/// `huaweicloud_quota_project_info`: one line per project, in the targets' order.
fn write_project_info(out: &mut String, targets: &[TargetStatus]) {
    header(
        out,
        "huaweicloud_quota_project_info",
        "A configured project's name and region (value 1).",
        "gauge",
    );
    let mut seen: Vec<&str> = Vec::new();
    for t in targets {
        let p = &t.target.project;
        if !seen.contains(&p.id.as_str()) {
            seen.push(p.id.as_str());
            line(
                out,
                "huaweicloud_quota_project_info",
                &[
                    ("project_id", &p.id),
                    ("project_name", &p.name),
                    ("cloud_region", &p.region),
                ],
                1.0,
            );
        }
    }
}

/// `huaweicloud_quota_api_requests_total` and `_api_errors_total`, each left out while
/// empty.
fn write_counters(out: &mut String, counters: &ApiCounters) {
    write_counter_family(
        out,
        "huaweicloud_quota_api_requests_total",
        "Upstream HTTP requests by API and status code (or local error code when no response came).",
        "code",
        counters.requests(),
    );
    write_counter_family(
        out,
        "huaweicloud_quota_api_errors_total",
        "Upstream errors by API and error_code (upstream codes such as APIG.0308, or local ones such as timeout and parse_value).",
        "error_code",
        counters.errors(),
    );
}

/// One counter family by API and `code_label`; nothing at all when `counts` is empty.
fn write_counter_family(
    out: &mut String,
    name: &str,
    help: &str,
    code_label: &str,
    counts: Vec<((Service, String), u64)>,
) {
    if counts.is_empty() {
        return;
    }
    header(out, name, help, "counter");
    for ((api, code), n) in counts {
        line(
            out,
            name,
            &[("api", api.as_str()), (code_label, &code)],
            n as f64,
        );
    }
}

/// A rendered exposition: plain bytes, and a gzip stream waiting for its final block.
#[derive(Debug)]
pub struct RenderedBody {
    /// The plain text.
    pub plain: Bytes,
    /// The compressed form of `plain`.
    gzip: GzipBody,
    /// Number of targets in the render.
    pub targets: usize,
    /// Targets polled at least once.
    pub polled: usize,
}

impl RenderedBody {
    /// Builds a body from rendered text, compressing it once.
    pub fn new(text: String, targets: usize, polled: usize) -> Self {
        let mut encoder = BodyEncoder::default();
        let prefix = Vec::with_capacity(text.len() / 16 + 64);
        RenderedBody::encode(text, targets, polled, &mut encoder, prefix)
    }

    /// Builds a body with a reused encoder, writing the gzip prefix into `prefix`.
    fn encode(
        text: String,
        targets: usize,
        polled: usize,
        encoder: &mut BodyEncoder,
        prefix: Vec<u8>,
    ) -> Self {
        let plain = Bytes::from(text);
        let gzip = GzipBody::encode(&plain, encoder, prefix);
        RenderedBody {
            plain,
            gzip,
            targets,
            polled,
        }
    }

    /// Gives back the buffers of a body nobody else holds any more: the text (emptied)
    /// and the gzip prefix, for the next render to fill.
    fn into_buffers(self) -> (Option<String>, Option<Vec<u8>>) {
        let text = self.plain.try_into_mut().ok().and_then(|b| {
            let mut v = Vec::from(b);
            v.clear();
            String::from_utf8(v).ok()
        });
        (text, self.gzip.into_buffer())
    }

    /// Whether every target has been polled at least once.
    pub fn all_polled(&self) -> bool {
        self.polled == self.targets
    }

    /// The plain body with `tail` appended, as chunks (no copy of the big part).
    pub fn plain_with(&self, tail: &[u8]) -> Vec<Bytes> {
        vec![self.plain.clone(), Bytes::copy_from_slice(tail)]
    }

    /// A complete gzip member of the body followed by `tail`, as chunks.
    pub fn gzip_with(&self, tail: &[u8]) -> Vec<Bytes> {
        self.gzip.with_tail(tail)
    }
}

/// The current rendered body, swapped whole after each change; scrapes only load it.
#[derive(Debug)]
pub struct Exposition {
    current: arc_swap::ArcSwap<RenderedBody>,
    /// `--shard I/N`, shown by the shard gauges.
    shard: Shard,
    /// The per-scrape `process_*` block.
    pub process: ProcessMetrics,
    /// What renders reuse.
    scratch: Mutex<RenderScratch>,
}

/// Buffers kept from one render to the next. A render then allocates next to nothing:
/// with thousands of targets the text is megabytes, and freeing and allocating that
/// again every fraction of a second leaves the allocator holding several copies' worth
/// of memory in holes, where reusing it keeps exactly two (the published body and this
/// one being filled).
#[derive(Debug, Default)]
struct RenderScratch {
    view: Vec<TargetStatus>,
    encoder: BodyEncoder,
    text: String,
    prefix: Vec<u8>,
}

impl Default for Exposition {
    fn default() -> Self {
        Exposition::for_shard(Shard::default())
    }
}

impl Exposition {
    /// An exposition of shard `shard` (`--shard I/N`), nothing rendered yet.
    pub fn for_shard(shard: Shard) -> Self {
        Exposition {
            current: arc_swap::ArcSwap::from_pointee(RenderedBody::new(String::new(), 1, 0)),
            shard,
            process: ProcessMetrics::default(),
            scratch: Mutex::new(RenderScratch::default()),
        }
    }

    /// The latest render.
    pub fn current(&self) -> Arc<RenderedBody> {
        self.current.load_full()
    }

    /// Renders the snapshot now and publishes the result.
    pub fn render_now(&self, snapshot: &Snapshot, counters: &ApiCounters) {
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let scratch = &mut *scratch;
        let pending = snapshot.view_with_pending(&mut scratch.view);
        // A discovery whose first run is pending counts as a target not polled yet.
        let targets = scratch.view.len() + pending;
        let polled = scratch
            .view
            .iter()
            .filter(|t| t.last_poll.is_some())
            .count();
        let mut text = std::mem::take(&mut scratch.text);
        render_text_into(
            &RenderInput {
                targets: &scratch.view,
                counters,
                reload_ok: snapshot.reload_ok(),
                discovery: &snapshot.discovery(),
                persistence: snapshot.persistence_status(),
                shard: self.shard,
            },
            &mut text,
        );
        // The view holds every target's data: let go of it until the next render.
        scratch.view.clear();
        let body = RenderedBody::encode(
            text,
            targets,
            polled,
            &mut scratch.encoder,
            std::mem::take(&mut scratch.prefix),
        );
        let previous = self.current.swap(Arc::new(body));
        // Take its buffers back unless a scrape is still sending it.
        if let Ok(previous) = Arc::try_unwrap(previous) {
            let (text, prefix) = previous.into_buffers();
            scratch.text = text.unwrap_or_default();
            scratch.prefix = prefix.unwrap_or_default();
        }
    }

    /// Re-renders after every change, coalescing bursts: changes that arrive while a
    /// render runs (or within the gap after it) are folded into the next one. The gap is
    /// `min_gap`, or [`RENDER_GAP_FACTOR`] times the last render's duration when that is
    /// longer (at most [`MAX_RENDER_GAP`]), so that with many targets, whose results
    /// arrive all the time, rendering stays a small share of one core. The render that
    /// completes the first result of every target is not held back: readiness waits on it.
    pub async fn run(
        self: Arc<Self>,
        snapshot: Arc<Snapshot>,
        counters: Arc<ApiCounters>,
        min_gap: Duration,
    ) {
        let mut rendered_generation = u64::MAX;
        loop {
            snapshot.changed().await;
            let generation = snapshot.generation();
            if generation == rendered_generation {
                continue;
            }
            rendered_generation = generation;
            let started = Instant::now();
            self.render_now(&snapshot, &counters);
            let gap = render_gap(started.elapsed(), min_gap);
            if self.current().all_polled() {
                tokio::time::sleep(gap).await;
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(gap) => {}
                    _ = snapshot.wait_all_polled() => {}
                }
            }
        }
    }
}

/// The renderer waits this many times the duration of its last render before the next
/// one: it then uses at most 1 / (1 + factor), 2%, of one core however often results come.
pub const RENDER_GAP_FACTOR: u32 = 49;

/// The longest gap between renders: how stale a scrape can be behind the latest results.
pub const MAX_RENDER_GAP: Duration = Duration::from_secs(5);

/// The gap after a render that took `took`.
pub fn render_gap(took: Duration, min_gap: Duration) -> Duration {
    took.saturating_mul(RENDER_GAP_FACTOR)
        .clamp(min_gap, MAX_RENDER_GAP.max(min_gap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn renders_reuse_the_buffers_of_the_body_before() {
        let exposition = Exposition::default();
        let snapshot = Snapshot::new();
        let counters = ApiCounters::default();
        let mut at = Vec::new();
        for _ in 0..4 {
            exposition.render_now(&snapshot, &counters);
            let body = exposition.current();
            at.push((
                body.plain.as_ptr() as usize,
                body.gzip.prefix.as_ptr() as usize,
            ));
            let gz: Vec<u8> = body.gzip_with(b"tail\n").concat();
            let mut text = String::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut text)
                .expect("valid gzip");
            assert_eq!(
                text,
                format!("{}tail\n", String::from_utf8_lossy(&body.plain))
            );
        }
        // Two buffers take turns: render 3 writes where render 1 did.
        assert_eq!(at[2], at[0]);
        assert_eq!(at[3], at[1]);
        assert_ne!(at[0].0, at[1].0);
    }

    #[test]
    fn the_render_gap_grows_with_the_render_time() {
        let min = Duration::from_millis(100);
        assert_eq!(render_gap(Duration::from_micros(300), min), min);
        assert_eq!(
            render_gap(Duration::from_millis(10), min),
            Duration::from_millis(490)
        );
        assert_eq!(render_gap(Duration::from_secs(1), min), MAX_RENDER_GAP);
    }
}
