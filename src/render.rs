//! Samples -> exposition bytes, once per change. Scrapes are served from the result.
//!
//! Each target's lines are rendered when its state changes ([`target_lines`]); a full
//! render only concatenates them family by family and compresses the result once. The
//! small `process_*` block changes every second, so it is rendered per scrape and spliced
//! onto the cached body: for gzip, the cached deflate stream ends with a sync flush, the
//! per-scrape part is compressed as the final block, and the CRC is combined, which makes
//! one valid gzip member without recompressing the big part.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flate2::Compression;

use crate::sample::Api;
use crate::snapshot::TargetStatus;
use crate::upstream::ApiCounters;

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

/// A target's exposition lines, one string per family of [`TARGET_FAMILIES`].
#[derive(Clone, Debug, Default)]
pub struct TargetLines {
    families: [String; TARGET_FAMILIES.len()],
}

/// Escapes a label value for the text format.
pub fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes a sample value: integers without a fraction, everything else in shortest form.
pub fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

fn line(out: &mut String, name: &str, labels: &[(&str, &str)], v: f64) {
    out.push_str(name);
    out.push('{');
    let mut first = true;
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

/// Renders the lines of one target from its status.
pub fn target_lines(s: &TargetStatus) -> TargetLines {
    let mut f: [String; TARGET_FAMILIES.len()] = Default::default();
    let t = &s.target;
    let api = t.api.as_str();
    let pid = t.project.id.as_str();
    let iid = t.instance_id.as_str();
    let roma = matches!(t.api, Api::RomaLivedata | Api::RomaAppQuota);
    let mut target_labels: Vec<(&str, &str)> = vec![("api", api), ("project_id", pid)];
    if roma {
        target_labels.push(("instance_id", iid));
    }
    if let Some(data) = &s.data {
        for r in &data.resources {
            let mut labels = target_labels.clone();
            labels.push(("resource", r.resource.as_str()));
            for (family, v) in [
                (LIMIT, r.limit),
                (USED, r.used),
                (LIMIT_MAX, r.limit_max),
                (LIMIT_MIN, r.limit_min),
            ] {
                if let Some(v) = v {
                    line(&mut f[family], TARGET_FAMILIES[family].0, &labels, v);
                }
            }
        }
        for c in &data.clients {
            let labels = [
                ("project_id", pid),
                ("instance_id", iid),
                ("app_quota_id", c.app_quota_id.as_str()),
            ];
            for (family, v) in [
                (CALL_LIMIT, c.call_limit),
                (WINDOW, c.window_seconds),
                (BOUND_APPS, c.bound_apps),
                (RESET, c.reset_timestamp),
            ] {
                if let Some(v) = v {
                    line(&mut f[family], TARGET_FAMILIES[family].0, &labels, v);
                }
            }
            let info = [
                ("project_id", pid),
                ("instance_id", iid),
                ("app_quota_id", c.app_quota_id.as_str()),
                ("name", c.name.as_str()),
                ("time_unit", c.time_unit.as_str()),
                ("remark", c.remark.as_str()),
            ];
            line(
                &mut f[CLIENT_INFO],
                TARGET_FAMILIES[CLIENT_INFO].0,
                &info,
                1.0,
            );
        }
    }
    if let Some(p) = &s.last_poll {
        let ok = if p.error.is_none() { 1.0 } else { 0.0 };
        line(
            &mut f[POLL_SUCCESS],
            TARGET_FAMILIES[POLL_SUCCESS].0,
            &target_labels,
            ok,
        );
        line(
            &mut f[POLL_DURATION],
            TARGET_FAMILIES[POLL_DURATION].0,
            &target_labels,
            (p.duration.as_micros() as f64) / 1e6,
        );
    }
    if let Some(ts) = s.last_success {
        line(
            &mut f[LAST_SUCCESS],
            TARGET_FAMILIES[LAST_SUCCESS].0,
            &target_labels,
            unix_seconds(ts),
        );
    }
    TargetLines { families: f }
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
}

/// Renders the cached part of the exposition (everything but `process_*`).
pub fn render_text(input: &RenderInput<'_>) -> String {
    let mut out = String::with_capacity(
        4096 + input
            .targets
            .iter()
            .map(|t| t.lines.families.iter().map(String::len).sum::<usize>())
            .sum::<usize>()
            + TARGET_FAMILIES.len() * 200,
    );
    header(
        &mut out,
        "huaweicloud_quota_build_info",
        "Version of the exporter (value 1).",
        "gauge",
    );
    line(
        &mut out,
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
        &mut out,
        "huaweicloud_quota_config_last_reload_successful",
        "1 if the last configuration reload succeeded, else 0.",
        "gauge",
    );
    out.push_str("huaweicloud_quota_config_last_reload_successful ");
    out.push_str(if input.reload_ok { "1\n" } else { "0\n" });

    header(
        &mut out,
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
                &mut out,
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

    for (i, (name, help)) in TARGET_FAMILIES.iter().enumerate() {
        if input.targets.iter().all(|t| t.lines.families[i].is_empty()) {
            continue;
        }
        header(&mut out, name, help, "gauge");
        for t in input.targets {
            out.push_str(&t.lines.families[i]);
        }
    }

    let requests = input.counters.requests();
    if !requests.is_empty() {
        header(
            &mut out,
            "huaweicloud_quota_api_requests_total",
            "Upstream HTTP requests by API and status code (or local error code when no response came).",
            "counter",
        );
        for ((api, code), n) in requests {
            line(
                &mut out,
                "huaweicloud_quota_api_requests_total",
                &[("api", api.as_str()), ("code", &code)],
                n as f64,
            );
        }
    }
    let errors = input.counters.errors();
    if !errors.is_empty() {
        header(
            &mut out,
            "huaweicloud_quota_api_errors_total",
            "Upstream errors by API and error_code (upstream codes such as APIG.0308, or local ones such as timeout and parse_value).",
            "counter",
        );
        for ((api, code), n) in errors {
            line(
                &mut out,
                "huaweicloud_quota_api_errors_total",
                &[("api", api.as_str()), ("error_code", &code)],
                n as f64,
            );
        }
    }
    out
}

/// A rendered exposition: plain bytes, and a gzip stream waiting for its final block.
#[derive(Clone, Debug)]
pub struct RenderedBody {
    /// The plain text.
    pub plain: Bytes,
    /// gzip header plus the deflate stream of `plain`, ended by a sync flush.
    gzip_prefix: Bytes,
    /// CRC-32 of `plain`.
    crc: crc32fast::Hasher,
    /// Number of targets in the render.
    pub targets: usize,
    /// Targets polled at least once.
    pub polled: usize,
}

/// gzip header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

impl RenderedBody {
    /// Builds a body from rendered text, compressing it once.
    pub fn new(text: String, targets: usize, polled: usize) -> Self {
        let plain = Bytes::from(text);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&plain);
        let mut enc = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(plain.len() / 8 + 64),
            Compression::new(6),
        );
        let mut prefix = GZIP_HEADER.to_vec();
        // Writing to a Vec cannot fail; a failure would only lose compression, so fall
        // back to a stored (uncompressed) prefix rather than panic.
        if enc.write_all(&plain).and_then(|_| enc.flush()).is_ok() {
            prefix.extend_from_slice(enc.get_ref());
        } else {
            prefix.extend_from_slice(&stored_blocks(&plain));
        }
        RenderedBody {
            plain,
            gzip_prefix: Bytes::from(prefix),
            crc,
            targets,
            polled,
        }
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
        vec![self.gzip_prefix.clone(), Bytes::from(end)]
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

/// The `process_*` block, read fresh on every call.
pub struct ProcessMetrics {
    collector: prometheus::process_collector::ProcessCollector,
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
        }
    }
}

impl ProcessMetrics {
    /// Renders the standard process metrics.
    pub fn render(&self) -> Vec<u8> {
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
}

impl Default for Exposition {
    fn default() -> Self {
        Exposition {
            current: arc_swap::ArcSwap::from_pointee(RenderedBody::new(String::new(), 1, 0)),
            process: ProcessMetrics::default(),
        }
    }
}

impl Exposition {
    /// The latest render.
    pub fn current(&self) -> std::sync::Arc<RenderedBody> {
        self.current.load_full()
    }

    /// Renders the snapshot now and publishes the result.
    pub fn render_now(&self, snapshot: &crate::snapshot::Snapshot, counters: &ApiCounters) {
        let targets = snapshot.view();
        let polled = targets.iter().filter(|t| t.last_poll.is_some()).count();
        let text = render_text(&RenderInput {
            targets: &targets,
            counters,
            reload_ok: snapshot.reload_ok(),
        });
        self.current.store(std::sync::Arc::new(RenderedBody::new(
            text,
            targets.len(),
            polled,
        )));
    }

    /// Re-renders after every change, coalescing bursts: changes that arrive while a
    /// render runs (or within `min_gap` after it) are folded into the next one.
    pub async fn run(
        self: std::sync::Arc<Self>,
        snapshot: std::sync::Arc<crate::snapshot::Snapshot>,
        counters: std::sync::Arc<ApiCounters>,
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
            self.render_now(&snapshot, &counters);
            tokio::time::sleep(min_gap).await;
        }
    }
}
