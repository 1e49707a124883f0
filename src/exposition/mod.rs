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
pub mod frozen;
pub mod gzip;
pub mod persistence;
pub mod process;
pub mod text;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use self::families::{ClientFigure, Family, ResourceFigure};
pub use self::gzip::BodyEncoder;
use self::gzip::{GzipBody, GzipStream};
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
    // Reserved once rather than grown line by line (a buffer sized from the last render
    // usually has the room already): 180 bytes per series is a little above the usual
    // line length.
    let series: usize = input.targets.iter().map(series_of).sum();
    let estimate = 4096 + series * 180;
    if out.capacity() < estimate * 7 / 8 {
        // Exact: an amortised reserve could double a buffer that is already large.
        out.reserve_exact(estimate);
    }
    render_text_pieces(input, out, usize::MAX, &mut |_| {});
}

/// Renders into `out` and hands it to `sink` (then empties it) whenever it holds
/// `flush_at` bytes or more, so the text can be compressed as it is written, a piece at a
/// time; what is left at the end stays in `out`.
fn render_text_pieces(
    input: &RenderInput<'_>,
    out: &mut String,
    flush_at: usize,
    sink: &mut dyn FnMut(&str),
) {
    write_exporter_info(out, input.reload_ok, input.shard);
    if let Some(p) = input.persistence {
        persistence::write_persistence(out, p);
    }
    write_project_info(out, input.targets);
    discovery::write_discovery(out, input.targets, input.discovery);
    for family in Family::ALL {
        let mut start = out.len();
        header(out, family.name(), family.help(), "gauge");
        let mut first_line = out.len();
        let mut handed_lines = false;
        for t in input.targets {
            write_family(out, family, t);
            // Handed on only once the family has a line: its header may still go.
            if out.len() >= flush_at && out.len() > first_line {
                sink(out);
                out.clear();
                (start, first_line, handed_lines) = (0, 0, true);
            }
        }
        // A family no target has is left out, header included.
        if !handed_lines && out.len() == first_line {
            out.truncate(start);
        }
    }
    write_counters(out, input.counters);
}

/// How much rendered text is compressed at a time.
const RENDER_PIECE_BYTES: usize = 256 * 1024;

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

/// A rendered exposition: a gzip stream waiting for its final block, and the plain text
/// while plain scrapes want it.
///
/// Prometheus asks for gzip; plain scrapes (a person with `curl`, a few other agents) are
/// the exception. Keeping the plain text of every render would hold 16 MB at 100,000
/// series for them, against 0.5 MB of gzip. So a body's first plain scrape inflates the
/// gzip stream (about 1 ms per MB, into memory of its own), the next ones send that, and
/// it goes [`PLAIN_KEEP`] after the last plain scrape, or with the body at the next render.
#[derive(Debug)]
pub struct RenderedBody {
    /// The plain text, when kept.
    plain: Mutex<Option<Bytes>>,
    /// The compressed form of the text.
    gzip: GzipBody,
    /// Number of targets in the render.
    pub targets: usize,
    /// Targets polled at least once.
    pub polled: usize,
}

impl RenderedBody {
    /// Builds a body from rendered text, compressing it once; the text is kept.
    pub fn new(text: String, targets: usize, polled: usize) -> Self {
        let mut encoder = BodyEncoder::default();
        let prefix = Vec::with_capacity(text.len() / 16 + 64);
        RenderedBody::encode(text, targets, polled, &mut encoder, prefix, true)
    }

    /// Builds a body with a reused encoder, writing the gzip prefix into `prefix`;
    /// `keep_plain` keeps the text too.
    fn encode(
        text: String,
        targets: usize,
        polled: usize,
        encoder: &mut BodyEncoder,
        prefix: Vec<u8>,
        keep_plain: bool,
    ) -> Self {
        let gzip = GzipBody::encode(text.as_bytes(), encoder, prefix);
        RenderedBody {
            plain: Mutex::new(keep_plain.then(|| Bytes::from(text))),
            gzip,
            targets,
            polled,
        }
    }

    /// Whether every target has been polled at least once.
    pub fn all_polled(&self) -> bool {
        self.polled == self.targets
    }

    /// The plain text: kept, or inflated from the gzip stream now (and kept until
    /// [`RenderedBody::drop_plain`]). `None` only if inflating fails, which is a bug.
    pub fn plain(&self) -> Option<Bytes> {
        let mut plain = self.plain.lock().unwrap_or_else(|e| e.into_inner());
        if plain.is_none() {
            *plain = self.gzip.inflate();
        }
        plain.clone()
    }

    /// Lets go of the plain text (scrapes still sending it keep their copy).
    fn drop_plain(&self) {
        *self.plain.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Whether the plain text is held.
    pub fn holds_plain(&self) -> bool {
        self.plain
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// The plain body with `tail` appended, as chunks (no copy of the big part).
    pub fn plain_with(&self, tail: &[u8]) -> Option<Vec<Bytes>> {
        Some(vec![self.plain()?, Bytes::copy_from_slice(tail)])
    }

    /// A complete gzip member of the body followed by `tail`, as chunks.
    pub fn gzip_with(&self, tail: &[u8]) -> Vec<Bytes> {
        self.gzip.with_tail(tail)
    }
}

/// How long the plain text is kept after the last plain scrape. Inflating it again costs
/// about as much CPU as sending it three times; holding it costs 160 bytes per series.
pub const PLAIN_KEEP: Duration = Duration::from_secs(10);

/// When plain scrapes were last served, and whether a task will drop the plain text
/// once they stop.
#[derive(Debug, Default)]
struct PlainDemand {
    /// Tokio's clock, which tests can drive.
    until: Option<tokio::time::Instant>,
    expiry_scheduled: bool,
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
    /// When plain scrapes came, so their text is let go once they stop.
    plain_demand: Mutex<PlainDemand>,
}

/// What renders reuse: the compressor's state (its window and tables, which are costly to
/// set up) and the small gzip prefix buffer. The text itself is *not* kept: a second
/// full-size text buffer waiting for the next render would hold every series twice (16 MB
/// at 100,000 series). Each render writes into a fresh buffer of the size the last one
/// needed, which the allocator maps fresh (pages are resident only once written) and
/// unmaps as soon as the last scrape of the previous body is done.
#[derive(Debug, Default)]
struct RenderScratch {
    encoder: BodyEncoder,
    prefix: Vec<u8>,
    /// The piece of text being written, before it is compressed.
    piece: String,
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
            plain_demand: Mutex::new(PlainDemand::default()),
        }
    }

    /// The plain body of `body` with `tail`, for a plain scrape: the text is kept until
    /// [`PLAIN_KEEP`] after the last such scrape (a task drops it then).
    pub fn plain_scrape(self: &Arc<Self>, body: &RenderedBody, tail: &[u8]) -> Option<Vec<Bytes>> {
        let schedule = {
            let mut d = self.plain_demand.lock().unwrap_or_else(|e| e.into_inner());
            d.until = Some(tokio::time::Instant::now() + PLAIN_KEEP);
            !std::mem::replace(&mut d.expiry_scheduled, true)
        };
        if schedule && let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(self.clone().drop_plain_when_unused());
        }
        body.plain_with(tail)
    }

    /// Waits until no plain scrape came for [`PLAIN_KEEP`], then drops the text.
    async fn drop_plain_when_unused(self: Arc<Self>) {
        loop {
            let until = {
                let mut d = self.plain_demand.lock().unwrap_or_else(|e| e.into_inner());
                match d.until {
                    Some(t) if t > tokio::time::Instant::now() => t,
                    _ => {
                        d.until = None;
                        d.expiry_scheduled = false;
                        self.current().drop_plain();
                        return;
                    }
                }
            };
            tokio::time::sleep_until(until).await;
        }
    }

    /// The latest render.
    pub fn current(&self) -> Arc<RenderedBody> {
        self.current.load_full()
    }

    /// Renders the snapshot now and publishes the result. The text is compressed piece by
    /// piece as it is written and not kept: the body's first plain scrape inflates it.
    pub fn render_now(&self, snapshot: &Snapshot, counters: &ApiCounters) {
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let scratch = &mut *scratch;
        // A view of every target (shared data, cloned handles), dropped after the render.
        let mut view = Vec::new();
        let pending = snapshot.view_with_pending(&mut view);
        // A discovery whose first run is pending counts as a target not polled yet.
        let targets = view.len() + pending;
        let polled = view.iter().filter(|t| t.last_poll.is_some()).count();
        let input = RenderInput {
            targets: &view,
            counters,
            reload_ok: snapshot.reload_ok(),
            discovery: &snapshot.discovery(),
            persistence: snapshot.persistence_status(),
            shard: self.shard,
        };
        let mut piece = std::mem::take(&mut scratch.piece);
        piece.clear();
        piece.reserve(RENDER_PIECE_BYTES * 2);
        let mut stream =
            GzipStream::start(&mut scratch.encoder, std::mem::take(&mut scratch.prefix));
        let mut sink = |text: &str| stream.push(text.as_bytes());
        render_text_pieces(&input, &mut piece, RENDER_PIECE_BYTES, &mut sink);
        sink(&piece);
        scratch.piece = piece;
        let body = match stream.finish() {
            Some(gzip) => RenderedBody {
                plain: Mutex::new(None),
                gzip,
                targets,
                polled,
            },
            // Compressing into memory does not fail; if it did, the whole text once more.
            None => RenderedBody::new(render_text(&input), targets, polled),
        };
        drop(view);
        let previous = self.current.swap(Arc::new(body));
        // Take the gzip prefix buffer back unless a scrape is still sending it.
        if let Ok(previous) = Arc::try_unwrap(previous) {
            scratch.prefix = previous.gzip.into_buffer().unwrap_or_default();
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
            // On the blocking pool: a render of 100,000 series takes tens of milliseconds,
            // which on a runtime worker would stall the polls queued behind it.
            let (this, snap, ctr) = (self.clone(), snapshot.clone(), counters.clone());
            if let Err(e) = tokio::task::spawn_blocking(move || this.render_now(&snap, &ctr)).await
            {
                tracing::error!(error = %e, "a render failed; serving the previous one");
            }
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
/// one: it then uses at most 1 / (1 + factor), 1%, of one core however often results come
/// (at 100,000 series a render takes about 50 ms, so results are published every 5 s,
/// [`MAX_RENDER_GAP`], instead of costing 30 µs of every upstream request).
pub const RENDER_GAP_FACTOR: u32 = 99;

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
    fn each_render_is_a_valid_body_and_the_gzip_prefix_buffer_is_reused() {
        let exposition = Exposition::default();
        let snapshot = Snapshot::new();
        let counters = ApiCounters::default();
        let mut prefixes = Vec::new();
        for _ in 0..4 {
            exposition.render_now(&snapshot, &counters);
            let body = exposition.current();
            prefixes.push(body.gzip.prefix.as_ptr() as usize);
            let gz: Vec<u8> = body.gzip_with(b"tail\n").concat();
            let mut text = String::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut text)
                .expect("valid gzip");
            let plain = body.plain().expect("inflates");
            assert_eq!(text, format!("{}tail\n", String::from_utf8_lossy(&plain)));
        }
        // Two prefix buffers take turns: render 3 writes where render 1 did.
        assert_eq!(prefixes[2], prefixes[0]);
        assert_eq!(prefixes[3], prefixes[1]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_plain_text_is_kept_only_while_plain_scrapes_come() {
        let exposition = Arc::new(Exposition::default());
        let snapshot = Snapshot::new();
        let counters = ApiCounters::default();
        exposition.render_now(&snapshot, &counters);
        let body = exposition.current();
        assert!(!body.holds_plain(), "nobody asked for plain text");
        let gzip_text = {
            let gz: Vec<u8> = body.gzip_with(b"").concat();
            let mut t = String::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut t)
                .expect("valid gzip");
            t
        };
        // A plain scrape inflates it; the next ones of that body send the same bytes.
        let chunks = exposition.plain_scrape(&body, b"tail\n").expect("plain");
        assert_eq!(chunks.concat(), format!("{gzip_text}tail\n").into_bytes());
        assert!(body.holds_plain());
        let again = exposition.plain_scrape(&body, b"").expect("plain");
        assert_eq!(again[0].as_ptr(), chunks[0].as_ptr(), "not inflated twice");
        // A new render starts without it; its first plain scrape inflates it again.
        exposition.render_now(&snapshot, &counters);
        assert!(!exposition.current().holds_plain());
        tokio::time::sleep(PLAIN_KEEP / 2).await;
        exposition
            .plain_scrape(&exposition.current(), b"")
            .expect("plain");
        tokio::time::sleep(PLAIN_KEEP / 2 + Duration::from_secs(1)).await;
        assert!(
            exposition.current().holds_plain(),
            "the last scrape renewed it"
        );
        // PLAIN_KEEP after the last one, it goes.
        tokio::time::sleep(PLAIN_KEEP).await;
        assert!(!exposition.current().holds_plain());
    }

    #[test]
    fn rendering_in_pieces_writes_the_same_text_and_gzip() {
        use crate::model::poll::{PollOutput, ResourceQuota};
        let targets = crate::store::tests::targets();
        let snapshot = Snapshot::new();
        snapshot.set_targets(&targets);
        let now = std::time::SystemTime::now();
        // Some targets with data, one failing, the rest never polled: families of every
        // kind, and families no target has (their headers must go).
        for (i, t) in targets.iter().enumerate() {
            if i % 3 == 2 {
                continue;
            }
            let output = PollOutput {
                resources: vec![ResourceQuota {
                    resource: format!("r{i}"),
                    limit: Some(10.0),
                    used: Some(i as f64),
                    ..ResourceQuota::default()
                }],
                ..PollOutput::default()
            };
            snapshot.record_success(&t.key, now, Duration::from_millis(3), output);
        }
        let counters = ApiCounters::default();
        let mut view = Vec::new();
        snapshot.view_with_pending(&mut view);
        let discovery = snapshot.discovery();
        let input = RenderInput {
            targets: &view,
            counters: &counters,
            reload_ok: true,
            discovery: &discovery,
            persistence: None,
            shard: Shard::default(),
        };
        let whole = render_text(&input);
        for flush_at in [1, 100, 1000, usize::MAX] {
            let mut pieces = String::new();
            let mut out = String::new();
            render_text_pieces(&input, &mut out, flush_at, &mut |p| pieces.push_str(p));
            pieces.push_str(&out);
            assert_eq!(pieces, whole, "pieces of {flush_at} bytes");
        }
        // And the exposition's own render, compressed piece by piece, says the same.
        let exposition = Exposition::default();
        exposition.render_now(&snapshot, &counters);
        let gz: Vec<u8> = exposition.current().gzip_with(b"").concat();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .expect("valid gzip");
        assert_eq!(text, whole);
    }

    #[test]
    fn the_render_gap_grows_with_the_render_time() {
        let min = Duration::from_millis(100);
        assert_eq!(render_gap(Duration::from_micros(300), min), min);
        assert_eq!(
            render_gap(Duration::from_millis(10), min),
            Duration::from_millis(990)
        );
        assert_eq!(render_gap(Duration::from_secs(1), min), MAX_RENDER_GAP);
    }
}
