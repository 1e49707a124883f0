//! Samples -> exposition bytes, once per change. Scrapes are served from the result.
//!
//! A render (after changes, coalesced) writes every target's series family by family from
//! the snapshot's data into one buffer and compresses it once; scrapes send those bytes.
//! The small `process_*` block is read at most once a second and spliced onto the cached
//! body: for gzip, the cached deflate stream ends with a sync flush, the tail is
//! compressed as the final block, and the CRC is combined, which makes one valid gzip
//! member without recompressing the big part (the end is cached with its tail too).

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flate2::Compression;

use crate::model::labels::escape_label;
use crate::model::outcome::ApiCounters;
use crate::store::{PersistenceStatus, TargetStatus};

/// `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The per-target metric families, in exposition order.
const TARGET_FAMILIES: [(&str, &str); 12] = [
    (
        "huaweicloud_quota_limit",
        "Current quota limit of a resource.",
    ),
    (
        "huaweicloud_quota_used",
        "How much of the quota of a resource is used.",
    ),
    (
        "huaweicloud_quota_limit_max",
        "Largest value the quota limit can be set to.",
    ),
    (
        "huaweicloud_quota_limit_min",
        "Smallest value the quota limit can be set to.",
    ),
    (
        "huaweicloud_quota_client_call_limit",
        "Calls a ROMA Connect client quota allows per window.",
    ),
    (
        "huaweicloud_quota_client_window_seconds",
        "Length of a ROMA Connect client quota window in seconds.",
    ),
    (
        "huaweicloud_quota_client_bound_apps",
        "Applications bound to a ROMA Connect client quota.",
    ),
    (
        "huaweicloud_quota_client_reset_timestamp_seconds",
        "When a ROMA Connect client quota is first reset, as Unix time.",
    ),
    (
        "huaweicloud_quota_client_info",
        "A ROMA Connect client quota's name, time unit and remark (value 1).",
    ),
    (
        "huaweicloud_quota_poll_success",
        "1 if the last poll of the target succeeded, else 0.",
    ),
    (
        "huaweicloud_quota_poll_duration_seconds",
        "Duration of the last poll of the target in seconds.",
    ),
    (
        "huaweicloud_quota_last_success_timestamp_seconds",
        "When the target was last polled successfully, as Unix time.",
    ),
];

const LIMIT: usize = 0;
const USED: usize = 1;
const LIMIT_MAX: usize = 2;
const LIMIT_MIN: usize = 3;
const CALL_LIMIT: usize = 4;
const WINDOW: usize = 5;
const BOUND_APPS: usize = 6;
const RESET: usize = 7;
const CLIENT_INFO: usize = 8;
const POLL_SUCCESS: usize = 9;
const POLL_DURATION: usize = 10;
const LAST_SUCCESS: usize = 11;

/// Writes a sample value: integers without a fraction, everything else in shortest form.
pub fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        write_integer(out, v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Writes an integer in decimal (the formatting machinery is several times slower, and
/// most values are integers).
fn write_integer(out: &mut String, v: i64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

fn line(out: &mut String, name: &str, labels: &[(&str, &str)], v: f64) {
    line_with(out, name, "", labels, v);
}

/// A line whose labels start with `block`, labels already written and escaped.
fn line_with(out: &mut String, name: &str, block: &str, labels: &[(&str, &str)], v: f64) {
    out.push_str(name);
    out.push('{');
    out.push_str(block);
    let mut first = block.is_empty();
    for (k, val) in labels {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        escape_label(out, val);
        out.push('"');
    }
    out.push_str("} ");
    write_value(out, v);
    out.push('\n');
}

fn unix_seconds(t: SystemTime) -> f64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    // Millisecond precision is plenty and keeps the numbers short.
    (d.as_millis() as f64) / 1000.0
}

/// Writes the lines of family `family` (an index into [`TARGET_FAMILIES`]) of one target.
///
/// Lines are made from the target's data at each render rather than kept as text: kept
/// text would double the memory of the exposition (every series twice: in the targets and
/// in the published body), while writing 100,000 series takes a few milliseconds.
fn write_family(out: &mut String, family: usize, s: &TargetStatus) {
    let name = TARGET_FAMILIES[family].0;
    let labels = s.target.labels.all();
    let (resources, clients) = match &s.data {
        Some(d) => (&d.resources[..], &d.clients[..]),
        None => (&[][..], &[][..]),
    };
    match family {
        LIMIT | USED | LIMIT_MAX | LIMIT_MIN => {
            for r in resources {
                let v = match family {
                    LIMIT => r.limit,
                    USED => r.used,
                    LIMIT_MAX => r.limit_max,
                    _ => r.limit_min,
                };
                if let Some(v) = v {
                    line_with(out, name, labels, &[("resource", &r.resource)], v);
                }
            }
        }
        CALL_LIMIT | WINDOW | BOUND_APPS | RESET => {
            for c in clients {
                let v = match family {
                    CALL_LIMIT => c.call_limit,
                    WINDOW => c.window_seconds,
                    BOUND_APPS => c.bound_apps,
                    _ => c.reset_timestamp,
                };
                if let Some(v) = v {
                    let quota = [("app_quota_id", c.app_quota_id.as_str())];
                    line_with(out, name, s.target.labels.without_api(), &quota, v);
                }
            }
        }
        CLIENT_INFO => {
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
        POLL_SUCCESS | POLL_DURATION => {
            if let Some(p) = &s.last_poll {
                let v = if family == POLL_DURATION {
                    (p.duration.as_micros() as f64) / 1e6
                } else if p.error.is_none() {
                    1.0
                } else {
                    0.0
                };
                line_with(out, name, labels, &[], v);
            }
        }
        LAST_SUCCESS => {
            if let Some(ts) = s.last_success {
                line_with(out, name, labels, &[], unix_seconds(ts));
            }
        }
        _ => {}
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
            .map(|r| {
                [r.limit, r.used, r.limit_max, r.limit_min]
                    .iter()
                    .flatten()
                    .count()
            })
            .sum();
        let clients: usize = d
            .clients
            .iter()
            .map(|c| {
                1 + [
                    c.call_limit,
                    c.window_seconds,
                    c.bound_apps,
                    c.reset_timestamp,
                ]
                .iter()
                .flatten()
                .count()
            })
            .sum();
        resources + clients
    });
    poll + data
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
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
    /// How the last write of the persistence file went (`None`: persistence is off).
    pub persistence: Option<PersistenceStatus>,
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
    header(
        out,
        "huaweicloud_quota_build_info",
        "Version of the exporter (value 1).",
        "gauge",
    );
    line(
        out,
        "huaweicloud_quota_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            (
                "revision",
                option_env!("HWC_QUOTA_REVISION").unwrap_or("unknown"),
            ),
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
    out.push_str(if input.reload_ok { "1\n" } else { "0\n" });
    if let Some(p) = input.persistence {
        render_persistence(out, p);
    }

    header(
        out,
        "huaweicloud_quota_project_info",
        "A configured project's name and region (value 1).",
        "gauge",
    );
    let mut seen: Vec<&str> = Vec::new();
    for t in input.targets {
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

    for (family, (name, help)) in TARGET_FAMILIES.iter().enumerate() {
        let start = out.len();
        header(out, name, help, "gauge");
        let first_line = out.len();
        for t in input.targets {
            write_family(out, family, t);
        }
        // A family no target has is left out, header included.
        if out.len() == first_line {
            out.truncate(start);
        }
    }

    let requests = input.counters.requests();
    if !requests.is_empty() {
        header(
            out,
            "huaweicloud_quota_api_requests_total",
            "Upstream HTTP requests by API and status code (or local error code when no response came).",
            "counter",
        );
        for ((api, code), n) in requests {
            line(
                out,
                "huaweicloud_quota_api_requests_total",
                &[("api", api.as_str()), ("code", &code)],
                n as f64,
            );
        }
    }
    let errors = input.counters.errors();
    if !errors.is_empty() {
        header(
            out,
            "huaweicloud_quota_api_errors_total",
            "Upstream errors by API and error_code (upstream codes such as APIG.0308, or local ones such as timeout and parse_value).",
            "counter",
        );
        for ((api, code), n) in errors {
            line(
                out,
                "huaweicloud_quota_api_errors_total",
                &[("api", api.as_str()), ("error_code", &code)],
                n as f64,
            );
        }
    }
}

/// `huaweicloud_quota_persistence_last_write_success` and `..._timestamp_seconds` (the
/// latter once a write succeeded).
fn render_persistence(out: &mut String, p: PersistenceStatus) {
    header(
        out,
        "huaweicloud_quota_persistence_last_write_success",
        "1 if the last write of the persistence file succeeded (or, before the first, the file was writable at start), else 0.",
        "gauge",
    );
    out.push_str("huaweicloud_quota_persistence_last_write_success ");
    out.push_str(if p.last_write_ok { "1\n" } else { "0\n" });
    if let Some(at) = p.last_write {
        header(
            out,
            "huaweicloud_quota_persistence_last_write_timestamp_seconds",
            "When the persistence file was last written successfully, as Unix time.",
            "gauge",
        );
        out.push_str("huaweicloud_quota_persistence_last_write_timestamp_seconds ");
        write_value(out, unix_seconds(at));
        out.push('\n');
    }
}

/// A rendered exposition: plain bytes, and a gzip stream waiting for its final block.
#[derive(Debug)]
pub struct RenderedBody {
    /// The plain text.
    pub plain: Bytes,
    /// gzip header plus the deflate stream of `plain`, ended by a sync flush.
    gzip_prefix: Bytes,
    /// CRC-32 of `plain`.
    crc: crc32fast::Hasher,
    /// The last tail spliced on, and the gzip end made for it: the `process_*` tail
    /// changes about once a second, so most gzip scrapes compress nothing at all.
    gzip_end: Mutex<Option<(Bytes, Bytes)>>,
    /// Number of targets in the render.
    pub targets: usize,
    /// Targets polled at least once.
    pub polled: usize,
}

/// gzip header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// Compression level of the cached body. Level 3 is zlib's fast strategy: on a 4 MB
/// exposition it takes 4 ms where level 6 takes 10 ms, for 119 kB against 109 kB. Every
/// change pays for a compression, while the bytes only travel once per scrape.
const GZIP_LEVEL: u32 = 3;

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
        mut prefix: Vec<u8>,
    ) -> Self {
        let plain = Bytes::from(text);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&plain);
        prefix.clear();
        prefix.extend_from_slice(&GZIP_HEADER);
        let enc = &mut encoder.0;
        // Writing to a Vec cannot fail; a failure would only lose compression, so fall
        // back to a stored (uncompressed) prefix rather than panic. `reset` ends the
        // previous stream into the empty buffer it left behind and restarts the
        // compressor with its memory kept.
        let prefix = match enc
            .reset(prefix)
            .and_then(|_| enc.write_all(&plain))
            .and_then(|_| enc.flush())
        {
            Ok(()) => std::mem::take(enc.get_mut()),
            Err(_) => {
                let mut p = GZIP_HEADER.to_vec();
                p.extend_from_slice(&stored_blocks(&plain));
                p
            }
        };
        RenderedBody {
            plain,
            gzip_prefix: Bytes::from(prefix),
            crc,
            gzip_end: Mutex::new(None),
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
        let prefix = self.gzip_prefix.try_into_mut().ok().map(Vec::from);
        (text, prefix)
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
        let mut cached = self.gzip_end.lock().unwrap_or_else(|e| e.into_inner());
        let end = match &*cached {
            Some((t, end)) if t[..] == *tail => end.clone(),
            _ => {
                let end = Bytes::from(self.gzip_end_for(tail));
                *cached = Some((Bytes::copy_from_slice(tail), end.clone()));
                end
            }
        };
        drop(cached);
        vec![self.gzip_prefix.clone(), end]
    }

    /// The final deflate block holding `tail`, then the gzip trailer (CRC and length of
    /// the body and `tail` together).
    fn gzip_end_for(&self, tail: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(tail.len() / 2 + 64),
            Compression::fast(),
        );
        let mut end = if enc.write_all(tail).is_ok() {
            enc.finish().unwrap_or_else(|_| final_stored_block(tail))
        } else {
            final_stored_block(tail)
        };
        let mut crc = self.crc.clone();
        crc.update(tail);
        let total = (self.plain.len() + tail.len()) as u64;
        end.extend_from_slice(&crc.finalize().to_le_bytes());
        end.extend_from_slice(&(total as u32).to_le_bytes());
        end
    }
}

/// The compressor of the body, kept between renders: its state (window, hash chains,
/// pending output: a few hundred kB) is reset rather than allocated anew each time.
pub struct BodyEncoder(flate2::write::DeflateEncoder<Vec<u8>>);

impl Default for BodyEncoder {
    fn default() -> Self {
        BodyEncoder(flate2::write::DeflateEncoder::new(
            Vec::new(),
            Compression::new(GZIP_LEVEL),
        ))
    }
}

impl std::fmt::Debug for BodyEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyEncoder")
    }
}

/// Non-final stored deflate blocks holding `data` (fallback only).
fn stored_blocks(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 65535 * 5 + 5);
    for chunk in data.chunks(65535) {
        push_stored(&mut out, chunk, false);
    }
    out
}

fn final_stored_block(data: &[u8]) -> Vec<u8> {
    let mut out = stored_blocks(data);
    push_stored(&mut out, &[], true);
    out
}

fn push_stored(out: &mut Vec<u8>, chunk: &[u8], last: bool) {
    let len = chunk.len() as u16;
    out.push(u8::from(last));
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(chunk);
}

/// How long a rendered `process_*` block is reused. Reading it costs several `/proc`
/// reads and a text encoding, far more than serving the cached body; its figures move
/// slowly and Prometheus scrapes every few seconds at most, so once a second is plenty.
const PROCESS_METRICS_TTL: Duration = Duration::from_secs(1);

/// The `process_*` block, read at most once per [`PROCESS_METRICS_TTL`].
pub struct ProcessMetrics {
    collector: prometheus::process_collector::ProcessCollector,
    cached: Mutex<Option<(Instant, Bytes)>>,
}

impl std::fmt::Debug for ProcessMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProcessMetrics")
    }
}

impl Default for ProcessMetrics {
    fn default() -> Self {
        ProcessMetrics {
            collector: prometheus::process_collector::ProcessCollector::for_self(),
            cached: Mutex::new(None),
        }
    }
}

impl ProcessMetrics {
    /// The standard process metrics, at most [`PROCESS_METRICS_TTL`] old.
    pub fn render(&self) -> Bytes {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, text)) = &*cached
            && at.elapsed() < PROCESS_METRICS_TTL
        {
            return text.clone();
        }
        let text = Bytes::from(self.read());
        *cached = Some((Instant::now(), text.clone()));
        text
    }

    fn read(&self) -> Vec<u8> {
        use prometheus::Encoder as _;
        use prometheus::core::Collector as _;
        let families = self.collector.collect();
        let mut out = Vec::with_capacity(1024);
        if prometheus::TextEncoder::new()
            .encode(&families, &mut out)
            .is_err()
        {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn values_render_like_prometheus() {
        let cases = [
            (10000.0, "10000"),
            (0.0, "0"),
            (0.5, "0.5"),
            (-1.0, "-1"),
            (1600560000.123, "1600560000.123"),
            (-2147483648.0, "-2147483648"),
            (999_999_999_999_999.0, "999999999999999"),
            (1e15, "1000000000000000"),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            write_value(&mut s, v);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn labels_are_escaped() {
        let mut s = String::new();
        escape_label(&mut s, "a\"b\\c\nd");
        assert_eq!(s, r#"a\"b\\c\nd"#);
    }

    #[test]
    fn spliced_gzip_is_one_valid_member() {
        let big: String = (0..20_000)
            .map(|i| format!("metric{{i=\"{i}\"}} {i}\n"))
            .collect();
        let body = RenderedBody::new(big.clone(), 1, 1);
        for tail in ["", "process_open_fds 7\n", &"x".repeat(70_000)] {
            let gz: Vec<u8> = body.gzip_with(tail.as_bytes()).concat();
            let mut d = flate2::read::GzDecoder::new(&gz[..]);
            let mut out = String::new();
            d.read_to_string(&mut out).expect("valid gzip");
            assert_eq!(out, format!("{big}{tail}"));
            // Nothing after the member: a single-member reader sees the whole body.
            let mut single = flate2::bufread::GzDecoder::new(&gz[..]);
            let mut all = Vec::new();
            single.read_to_end(&mut all).expect("valid");
            assert_eq!(all.len(), big.len() + tail.len());
        }
    }

    #[test]
    fn renders_reuse_the_buffers_of_the_body_before() {
        let exposition = Exposition::default();
        let snapshot = crate::store::Snapshot::new();
        let counters = ApiCounters::default();
        let mut at = Vec::new();
        for _ in 0..4 {
            exposition.render_now(&snapshot, &counters);
            let body = exposition.current();
            at.push((
                body.plain.as_ptr() as usize,
                body.gzip_prefix.as_ptr() as usize,
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

    #[test]
    fn stored_fallback_is_valid_deflate() {
        let data = vec![b'a'; 70_000];
        let mut raw = stored_blocks(&data);
        raw.extend(final_stored_block(b"tail"));
        let mut d = flate2::read::DeflateDecoder::new(&raw[..]);
        let mut out = Vec::new();
        d.read_to_end(&mut out).expect("valid deflate");
        assert_eq!(out.len(), 70_004);
    }
}

/// The current rendered body, swapped whole after each change; scrapes only load it.
#[derive(Debug)]
pub struct Exposition {
    current: arc_swap::ArcSwap<RenderedBody>,
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
        Exposition {
            current: arc_swap::ArcSwap::from_pointee(RenderedBody::new(String::new(), 1, 0)),
            process: ProcessMetrics::default(),
            scratch: Mutex::new(RenderScratch::default()),
        }
    }
}

impl Exposition {
    /// The latest render.
    pub fn current(&self) -> Arc<RenderedBody> {
        self.current.load_full()
    }

    /// Renders the snapshot now and publishes the result.
    pub fn render_now(&self, snapshot: &crate::store::Snapshot, counters: &ApiCounters) {
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let scratch = &mut *scratch;
        snapshot.view_into(&mut scratch.view);
        let targets = scratch.view.len();
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
                persistence: snapshot.persistence_status(),
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
        snapshot: Arc<crate::store::Snapshot>,
        counters: Arc<ApiCounters>,
        min_gap: std::time::Duration,
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
