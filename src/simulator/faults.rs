//! Fault injection: make chosen requests slow, fail, or answer with a chosen body.

use std::sync::Mutex;
use std::time::Duration;

use super::{Endpoint, lock};

/// How a matching fault changes the answer. Kinds that need another hook in the request
/// pipeline (truncated or oversize bodies, connection resets, endless stalls) are added here
/// and handled where [`super`] applies faults: before handling, or on the finished response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum FaultKind {
    /// Sleep [`Fault::latency`], then answer [`Fault::status`] with [`Fault::body`] (default:
    /// the API's error body for that status); without a status, handle the request normally.
    /// [`Fault::headers`] are added to the answer either way (replacing defaults of that name).
    #[default]
    Respond,
    /// Handle the request normally, then cut the body to this many bytes (the response is
    /// well-formed HTTP; the JSON in it is not).
    TruncateBody(usize),
    /// Handle the request normally, then pad the body with spaces to this many bytes
    /// (still valid JSON, just too large).
    OversizeBody(usize),
    /// Close the connection without answering (after any latency).
    ResetConnection,
}

/// One injected fault. Build with the constructors and `with_*` methods, then
/// [`Faults::push`] it. The first armed fault that matches a request applies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fault {
    /// Only requests to this endpoint; `None` matches every endpoint.
    pub endpoint: Option<Endpoint>,
    /// Only requests for this project (from the path); `None` matches every project.
    pub project_id: Option<String>,
    /// Sleep this long before answering (longer than a client's timeout makes a stall).
    pub latency: Option<Duration>,
    /// Answer this HTTP status instead of handling the request.
    pub status: Option<u16>,
    /// Body for `status`; `None` gives the API's error body for that status.
    pub body: Option<String>,
    /// Response headers to add (e.g. `Retry-After`, or `Content-Type: text/html`).
    pub headers: Vec<(String, String)>,
    /// How many more matching requests it applies to; `None` is forever.
    pub times: Option<u32>,
    /// What the fault does.
    pub kind: FaultKind,
}

impl Fault {
    /// A fault matching every request to `endpoint`, forever, that changes nothing yet.
    pub fn on(endpoint: Endpoint) -> Fault {
        Fault {
            endpoint: Some(endpoint),
            ..Fault::default()
        }
    }

    /// A fault matching every request to every endpoint, forever, that changes nothing yet.
    pub fn everywhere() -> Fault {
        Fault::default()
    }

    /// Cut `endpoint`'s normal answer to `keep` bytes.
    pub fn truncated(endpoint: Endpoint, keep: usize) -> Fault {
        Fault {
            kind: FaultKind::TruncateBody(keep),
            ..Fault::on(endpoint)
        }
    }

    /// Pad `endpoint`'s normal answer to `size` bytes.
    pub fn oversize(endpoint: Endpoint, size: usize) -> Fault {
        Fault {
            kind: FaultKind::OversizeBody(size),
            ..Fault::on(endpoint)
        }
    }

    /// Drop the connection of requests to `endpoint` without an answer.
    pub fn reset(endpoint: Endpoint) -> Fault {
        Fault {
            kind: FaultKind::ResetConnection,
            ..Fault::on(endpoint)
        }
    }

    /// Answer `status` on `endpoint` with the API's error body for that status.
    pub fn error(endpoint: Endpoint, status: u16) -> Fault {
        Fault::on(endpoint).with_status(status)
    }

    /// Answer `status` with `body` on `endpoint`.
    pub fn status_body(endpoint: Endpoint, status: u16, body: impl Into<String>) -> Fault {
        Fault::on(endpoint).with_status(status).with_body(body)
    }

    /// 429 `APIG.0308` on `endpoint`, with a `Retry-After: secs` header when given.
    pub fn throttled(endpoint: Endpoint, retry_after_secs: Option<u64>) -> Fault {
        let fault = Fault::error(endpoint, 429);
        match retry_after_secs {
            Some(secs) => fault.with_header("Retry-After", secs.to_string()),
            None => fault,
        }
    }

    /// An IAM outage: `POST /v3/auth/tokens` answers 503 with IAM's error body
    /// (`{"error":{"code":503,"message":"System error","title":"Service Unavailable"}}`) and
    /// issues nothing. Combine with [`Fault::repeat`] or [`Faults::clear`] to end it; tokens
    /// issued before keep working on the cloud routes.
    pub fn iam_outage() -> Fault {
        Fault::error(Endpoint::IamTokens, 503)
    }

    /// Delay every answer on `endpoint` by `latency`, then handle it normally.
    pub fn slow(endpoint: Endpoint, latency: Duration) -> Fault {
        Fault::on(endpoint).with_latency(latency)
    }

    /// Sets [`Fault::latency`].
    pub fn with_latency(mut self, latency: Duration) -> Fault {
        self.latency = Some(latency);
        self
    }

    /// Sets [`Fault::status`].
    pub fn with_status(mut self, status: u16) -> Fault {
        self.status = Some(status);
        self
    }

    /// Sets [`Fault::body`].
    pub fn with_body(mut self, body: impl Into<String>) -> Fault {
        self.body = Some(body.into());
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Fault {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Restricts the fault to one project.
    pub fn for_project(mut self, project_id: impl Into<String>) -> Fault {
        self.project_id = Some(project_id.into());
        self
    }

    /// Applies the fault to the next `n` matching requests only.
    pub fn repeat(mut self, n: u32) -> Fault {
        self.times = Some(n);
        self
    }

    /// Applies the fault to the next matching request only.
    pub fn once(self) -> Fault {
        self.repeat(1)
    }

    fn matches(&self, endpoint: Endpoint, project_id: Option<&str>) -> bool {
        self.endpoint.is_none_or(|e| e == endpoint)
            && self
                .project_id
                .as_deref()
                .is_none_or(|p| Some(p) == project_id)
    }
}

/// The armed faults of one simulator; cheap to use from tests while requests run.
#[derive(Debug, Default)]
pub struct Faults {
    armed: Mutex<Vec<Fault>>,
    /// Share of requests (0..=1) that get a random fault when no armed fault matches.
    chaos: Mutex<f64>,
    /// Random faults injected so far.
    injected: std::sync::atomic::AtomicU64,
}

impl Faults {
    /// Arms a fault after the ones already armed.
    pub fn push(&self, fault: Fault) {
        lock(&self.armed).push(fault);
    }

    /// Disarms every fault and stops chaos.
    pub fn clear(&self) {
        lock(&self.armed).clear();
        *lock(&self.chaos) = 0.0;
    }

    /// Chaos: from now on, `rate` (0..=1) of the requests that no armed fault matches get
    /// a random fault: 500, 502 or 503 with a JSON or an HTML body, 429 with
    /// `Retry-After: 1`, a truncated body, a reset connection, or a 3 s stall. 0 stops it.
    pub fn chaos(&self, rate: f64) {
        *lock(&self.chaos) = rate.clamp(0.0, 1.0);
    }

    /// How many random (chaos) faults were injected.
    pub fn injected(&self) -> u64 {
        self.injected.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn random_fault(&self, endpoint: Endpoint) -> Option<Fault> {
        let rate = *lock(&self.chaos);
        if rate <= 0.0 || rand::random::<f64>() >= rate {
            return None;
        }
        self.injected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let html = "<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>";
        Some(match rand::random_range(0..8u8) {
            0 => Fault::error(endpoint, 500),
            1 => Fault::status_body(endpoint, 503, html).with_header("Content-Type", "text/html"),
            2 => Fault::throttled(endpoint, Some(1)),
            // Without Retry-After the exporter pauses the whole host for an escalating
            // back-off (tested on its own); in chaos that would starve the run.
            3 => Fault::throttled(endpoint, Some(1)),
            4 => Fault::truncated(endpoint, 17),
            5 => Fault::reset(endpoint),
            6 => Fault::slow(endpoint, Duration::from_secs(3)),
            _ => Fault::error(endpoint, 502),
        })
    }

    /// How many faults are still armed (used-up `times` ones are gone).
    pub fn armed(&self) -> usize {
        lock(&self.armed)
            .iter()
            .filter(|f| f.times != Some(0))
            .count()
    }

    /// The fault that applies to this request, if any, counting one use of it.
    pub(crate) fn take(&self, endpoint: Endpoint, project_id: Option<&str>) -> Option<Fault> {
        let mut armed = lock(&self.armed);
        armed.retain(|f| f.times != Some(0));
        let Some(index) = armed.iter().position(|f| f.matches(endpoint, project_id)) else {
            drop(armed);
            return self.random_fault(endpoint);
        };
        let fault = &mut armed[index];
        if let Some(n) = fault.times.as_mut() {
            *n -= 1;
        }
        let applied = fault.clone();
        if fault.times == Some(0) {
            armed.remove(index);
        }
        Some(applied)
    }
}
