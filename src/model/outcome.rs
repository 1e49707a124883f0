//! How an upstream request or poll ended: the error codes, [`PollError`], and the request
//! and error counters. A leaf: the store keeps these, upstream makes them, the exposition
//! and the landing page show them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use super::api::Service;

/// Why a request or poll failed: the `error_code` label and the landing page's code column.
///
/// Upstream codes are kept as upstream sent them; every local failure has its own variant,
/// so [`PollError::retryable`] is a match on variants, not on strings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCode {
    /// The `error_code` an upstream error body carried (`APIG.3030`, `IAM.0001`, ...).
    Upstream(String),
    /// A non-2xx answer whose body had no `error_code`: `http_<status>`.
    Status(u16),
    /// The request or the poll's time budget ran out.
    Timeout,
    /// No connection could be made.
    Connect,
    /// The server's certificate did not verify (or the TLS handshake failed otherwise):
    /// trying again gives the same answer until the trust settings change.
    Tls,
    /// Another transport failure (reset, protocol error).
    Http,
    /// A 2xx body that could not be decoded.
    Decode,
    /// The body was larger than `max_response_size`.
    BodyTooLarge,
    /// A request could not be authenticated locally (a credential unusable in a header).
    Auth,
    /// An IAM token could not be had (paused after failures, no cause recorded).
    Iam,
    /// A figure that could not be read; only its own series is dropped.
    ParseValue,
    /// More items than one target may hold.
    TooManyItems,
    /// A request could not be built from the configuration (bad URL).
    Config,
    /// A request body could not be encoded.
    Encode,
    /// The exporter is shutting down.
    Shutdown,
}

impl ErrorCode {
    /// The label value.
    pub fn as_str(&self) -> Cow<'_, str> {
        let s = match self {
            ErrorCode::Upstream(code) => return Cow::Borrowed(code),
            ErrorCode::Status(status) => return Cow::Owned(format!("http_{status}")),
            ErrorCode::Timeout => "timeout",
            ErrorCode::Connect => "connect",
            ErrorCode::Tls => "tls",
            ErrorCode::Http => "http",
            ErrorCode::Decode => "decode",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::Auth => "auth",
            ErrorCode::Iam => "iam",
            ErrorCode::ParseValue => "parse_value",
            ErrorCode::TooManyItems => "too_many_items",
            ErrorCode::Config => "config",
            ErrorCode::Encode => "encode",
            ErrorCode::Shutdown => "shutdown",
        };
        Cow::Borrowed(s)
    }

    /// The code of a non-2xx answer: the body's `error_code`, else `http_<status>`.
    pub fn of_answer(upstream: Option<String>, status: u16) -> ErrorCode {
        match upstream {
            Some(code) => ErrorCode::Upstream(code),
            None => ErrorCode::Status(status),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// Why a poll (or one of its requests) failed, with the upstream `error_code` and
/// request id carried along.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollError {
    /// Upstream `error_code` or a local code.
    pub code: ErrorCode,
    /// HTTP status, when a response came.
    pub status: Option<u16>,
    /// Human-readable reason (single line, never a secret).
    pub message: String,
    /// Upstream request id (`X-Request-Id` or the body's `request_id`).
    pub request_id: Option<String>,
}

impl PollError {
    /// An error found locally (no upstream response involved).
    pub fn local(code: ErrorCode, message: impl Into<String>) -> Self {
        PollError {
            code,
            status: None,
            message: message.into(),
            request_id: None,
        }
    }

    /// The exporter is shutting down: nothing to retry, nothing to report.
    pub fn shutdown() -> Self {
        PollError::local(ErrorCode::Shutdown, "the exporter is shutting down")
    }

    /// Whether trying again can help: transport failures, timeouts, 5xx, 429 and bodies
    /// that came truncated or malformed. Client errors (400, 403, 404, ...), auth
    /// failures and oversize bodies would fail the same way again.
    pub fn retryable(&self) -> bool {
        match self.status {
            Some(429) => true,
            Some(s) if s >= 500 => true,
            Some(s) if (200..300).contains(&s) => {
                matches!(self.code, ErrorCode::Decode | ErrorCode::Http)
            }
            Some(_) => false,
            None => matches!(
                self.code,
                ErrorCode::Timeout | ErrorCode::Connect | ErrorCode::Http | ErrorCode::Decode
            ),
        }
    }
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.status {
            write!(f, "HTTP {s} ")?;
        }
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PollError {}

/// What a request ended with, for `huaweicloud_quota_api_requests_total{code}`: the HTTP
/// status when an answer came, else the local error code.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestOutcome {
    /// An answer with this status.
    Status(u16),
    /// No answer: why.
    Failed(ErrorCode),
}

impl fmt::Display for RequestOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestOutcome::Status(s) => write!(f, "{s}"),
            RequestOutcome::Failed(code) => f.write_str(&code.as_str()),
        }
    }
}

/// Counters of upstream requests and errors, rendered as
/// `huaweicloud_quota_api_requests_total` and `huaweicloud_quota_api_errors_total`.
#[derive(Debug, Default)]
pub struct ApiCounters {
    requests: Mutex<BTreeMap<(Service, std::borrow::Cow<'static, str>), u64>>,
    errors: Mutex<BTreeMap<(Service, String), u64>>,
}

impl ApiCounters {
    /// Counts one request by its outcome (`200`, `429`, or a local code such as `timeout`).
    pub fn count_request(&self, service: Service, outcome: &RequestOutcome) {
        // The usual outcome counted without formatting (and allocating) its key.
        let code = match outcome {
            RequestOutcome::Status(200) => std::borrow::Cow::Borrowed("200"),
            other => std::borrow::Cow::Owned(other.to_string()),
        };
        let mut g = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *g.entry((service, code)).or_insert(0) += 1;
    }
    /// Counts `n` errors with this code.
    pub fn count_error(&self, service: Service, code: &ErrorCode, n: u64) {
        bump(&self.errors, service, code.as_str().into_owned(), n);
    }
    /// All request counters, sorted.
    pub fn requests(&self) -> Vec<((Service, String), u64)> {
        let g = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        g.iter()
            .map(|((s, code), n)| ((*s, code.to_string()), *n))
            .collect()
    }
    /// All error counters, sorted.
    pub fn errors(&self) -> Vec<((Service, String), u64)> {
        copy(&self.errors)
    }
}

fn bump(m: &Mutex<BTreeMap<(Service, String), u64>>, service: Service, code: String, n: u64) {
    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
    *g.entry((service, code)).or_insert(0) += n;
}

fn copy(m: &Mutex<BTreeMap<(Service, String), u64>>) -> Vec<((Service, String), u64)> {
    let g = m.lock().unwrap_or_else(|e| e.into_inner());
    g.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_render_as_before() {
        assert_eq!(ErrorCode::Status(503).as_str(), "http_503");
        assert_eq!(
            ErrorCode::Upstream("APIG.3030".into()).as_str(),
            "APIG.3030"
        );
        assert_eq!(ErrorCode::BodyTooLarge.as_str(), "body_too_large");
        assert_eq!(ErrorCode::of_answer(None, 404), ErrorCode::Status(404));
    }

    #[test]
    fn retryable_follows_status_then_code() {
        let e = |code, status| PollError {
            code,
            status,
            message: String::new(),
            request_id: None,
        };
        assert!(e(ErrorCode::Timeout, None).retryable());
        assert!(!e(ErrorCode::Auth, None).retryable());
        assert!(e(ErrorCode::Status(503), Some(503)).retryable());
        assert!(e(ErrorCode::Decode, Some(200)).retryable());
        assert!(!e(ErrorCode::BodyTooLarge, Some(200)).retryable());
        // A certificate that did not verify will not verify on the next attempt either.
        assert!(!e(ErrorCode::Tls, None).retryable());
        assert_eq!(ErrorCode::Tls.as_str(), "tls");
        assert!(!e(ErrorCode::Upstream("APIG.3030".into()), Some(404)).retryable());
    }
}
