//! The standard `process_*` metrics, read at most once a second and appended to every
//! scrape after the cached body.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

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
