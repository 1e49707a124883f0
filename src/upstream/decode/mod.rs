//! Upstream failures: error bodies in their three dialects, responses that cannot be
//! decoded, and the lenient field readers every response decoder shares.
//!
//! The split between the two failure kinds is deliberate: a body that is not the expected
//! document fails the whole poll ([`DecodeError`], local error code `decode`), while one
//! unreadable figure only drops its own series (a [`ValueError`] in the poll output).

pub mod value;

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::model::poll::{PollOutput, ResourceQuota, ValueError};

/// Longest upstream message kept, in characters: enough for any real `error_msg`, short
/// enough that a misbehaving upstream cannot flood the logs or the landing page.
const MESSAGE_CHARS: usize = 512;

/// Longest excerpt of a body that is not a recognised error document, in characters.
const EXCERPT_CHARS: usize = 200;

/// Longest error code or request id kept, in characters (the API caps both at 128).
const ID_CHARS: usize = 128;

/// Longest raw JSON text kept in a [`ValueError`], in characters.
const RAW_CHARS: usize = 128;

/// Only this much of a non-JSON body is scanned for an excerpt: the `<title>` of an error
/// page comes early, and a multi-megabyte body should not cost a multi-megabyte copy.
const SCAN_BYTES: usize = 64 * 1024;

/// What an upstream error response said, whatever its dialect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpstreamErrorBody {
    /// The upstream error code (`APIG.1002`, `EG.00014010`, `401`), when the body had one.
    pub code: Option<String>,
    /// A single-line message: the upstream one, or an excerpt of a body that was not a
    /// recognised error document (the `<title>` of an HTML page).
    pub message: Option<String>,
    /// The `request_id` from the body, when present (the `X-Request-Id` header is the
    /// caller's business).
    pub request_id: Option<String>,
}

impl fmt::Display for UpstreamErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, &self.message) {
            (Some(code), Some(msg)) => write!(f, "{code}: {msg}")?,
            (Some(code), None) => f.write_str(code)?,
            (None, Some(msg)) => f.write_str(msg)?,
            (None, None) => f.write_str("no error details in the response body")?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

/// Reads an upstream error body. Understands `{"error_code","error_msg"[,"error_details",
/// "request_id"]}` (APIG, EventGrid, GaussDB), `{"code","message"}` with a string or
/// numeric code, and IAM's `{"error":{"code","message","title"}}`. Anything else (an
/// HTML page from a proxy, truncated JSON, an empty body) gives no code and a short
/// single-line excerpt as the message. Never panics.
pub fn decode_error_body(body: &[u8]) -> UpstreamErrorBody {
    let json = serde_json::from_slice::<Value>(strip_bom(body)).ok();
    if let Some(Value::Object(obj)) = &json {
        let found = error_fields(obj);
        if found.code.is_some() || found.message.is_some() {
            return found;
        }
    }
    UpstreamErrorBody {
        code: None,
        message: body_excerpt(body),
        request_id: None,
    }
}

/// The recognised fields of a JSON error object; all `None` when it is none of the dialects.
fn error_fields(obj: &Map<String, Value>) -> UpstreamErrorBody {
    let nested = obj.get("error").and_then(Value::as_object);
    let code = ["error_code", "code"]
        .iter()
        .find_map(|k| scalar_text(obj.get(*k)))
        .or_else(|| nested.and_then(|e| scalar_text(e.get("code"))));
    let mut message = ["error_msg", "message"]
        .iter()
        .find_map(|k| scalar_text(obj.get(*k)))
        .or_else(|| {
            nested
                .and_then(|e| scalar_text(e.get("message")).or_else(|| scalar_text(e.get("title"))))
        })
        // `{"error": "some text"}` is rare but costs nothing to understand.
        .or_else(|| scalar_text(obj.get("error")));
    let details = obj
        .get("error_details")
        .and_then(any_text)
        .filter(|d| message.as_deref() != Some(d.as_str()));
    if let Some(details) = details {
        message = Some(match message {
            Some(msg) => format!("{msg} ({details})"),
            None => details,
        });
    }
    UpstreamErrorBody {
        code: code.map(|c| one_line(&c, ID_CHARS)),
        message: message
            .map(|m| one_line(&m, MESSAGE_CHARS))
            .filter(|m| !m.is_empty()),
        request_id: scalar_text(obj.get("request_id")).map(|r| one_line(&r, ID_CHARS)),
    }
}

/// A non-blank string, number or boolean as text.
fn scalar_text(v: Option<&Value>) -> Option<String> {
    let text = match v? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// Like [`scalar_text`], but an array or object (ROMA may send structured details) is
/// kept as compact JSON rather than lost.
fn any_text(v: &Value) -> Option<String> {
    match v {
        Value::Array(_) | Value::Object(_) => serde_json::to_string(v).ok(),
        other => scalar_text(Some(other)),
    }
}

/// A short single-line excerpt of a body that is not a recognised error document: the
/// `<title>` of an HTML page, the text of an HTML page without one, else the body itself.
fn body_excerpt(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(SCAN_BYTES)];
    let text = String::from_utf8_lossy(strip_bom(head));
    let text = text.trim();
    let excerpt = if text.starts_with('<') {
        html_title(text)
            .map(decode_entities)
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| decode_entities(&strip_tags(text)))
    } else {
        text.to_owned()
    };
    let excerpt = one_line(&excerpt, EXCERPT_CHARS);
    (!excerpt.is_empty()).then_some(excerpt)
}

/// The text between `<title ...>` and `</title>`, case-insensitive.
fn html_title(html: &str) -> Option<&str> {
    // ASCII lower-casing keeps byte offsets, so positions found in `lower` index `html`.
    let lower = html.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    html.get(start..end)
}

/// The text of an HTML fragment with its tags removed (comments and scripts included, as
/// the result is only ever a hint for a human).
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            // A space keeps "<h1>502</h1><p>Bad</p>" from reading "502Bad".
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Decodes the handful of entities error pages actually use.
fn decode_entities(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// Control characters and runs of whitespace become one space; the result is trimmed and
/// cut to `max` characters (an ellipsis marks the cut), so it fits one log line.
fn one_line(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let collapsed = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate_chars(&collapsed, max)
}

/// `s` cut to at most `max` characters, the last of them an ellipsis when cut.
fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let keep: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{keep}…")
}

/// A UTF-8 byte order mark is legal in front of JSON from some gateways, but serde_json
/// refuses it.
fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

/// A response that cannot be decoded at all; the whole poll fails with local error code
/// [`DecodeError::ERROR_CODE`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body was empty.
    #[error("the response body is empty")]
    EmptyBody,
    /// The body was not JSON (an HTML page, truncated JSON, ...).
    #[error("the response body is not valid JSON ({source}); it starts with: {excerpt}")]
    NotJson {
        /// Why the JSON parser gave up.
        source: serde_json::Error,
        /// A short excerpt of the body, as for error bodies.
        excerpt: String,
    },
    /// The body was JSON, but not the expected document (`quotas` missing, an array where
    /// an object belongs, ...).
    #[error("unexpected response shape: {0}")]
    Shape(String),
}

impl DecodeError {
    /// The local error code counted in `huaweicloud_quota_api_errors_total`.
    pub const ERROR_CODE: &'static str = "decode";

    /// The local error code for this error; every variant is [`Self::ERROR_CODE`].
    pub fn error_code(&self) -> &'static str {
        Self::ERROR_CODE
    }
}

/// Parses a response body as JSON, tolerating a byte order mark.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, DecodeError> {
    let body = strip_bom(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::EmptyBody);
    }
    serde_json::from_slice(body).map_err(|source| DecodeError::NotJson {
        source,
        excerpt: body_excerpt(body).unwrap_or_default(),
    })
}

/// `v` as an object, or a shape error naming `what` it should have been.
pub(crate) fn as_object<'a>(
    v: &'a Value,
    what: &str,
) -> Result<&'a Map<String, Value>, DecodeError> {
    v.as_object().ok_or_else(|| {
        DecodeError::Shape(format!(
            "expected {what} to be a JSON object, found {}",
            json_kind(v)
        ))
    })
}

/// The JSON type of `v`, phrased for an error message.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The compact JSON text of `v`, cut to a sane length, for [`ValueError::raw`].
pub(crate) fn raw_json(v: &Value) -> String {
    truncate_chars(&serde_json::to_string(v).unwrap_or_default(), RAW_CHARS)
}

/// The value under `key`, treating JSON `null` as absent: Go's encoder writes a nil
/// pointer or slice as `null`, and a figure that was not sent is not an error.
pub(crate) fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// Records that the figure at `field` could not be read.
pub(crate) fn push_value_error(
    errors: &mut Vec<ValueError>,
    field: String,
    raw: &Value,
    reason: impl fmt::Display,
) {
    errors.push(ValueError {
        field,
        raw: raw_json(raw),
        reason: reason.to_string(),
    });
}

/// Reads the figure under `key` leniently (see [`value::parse_number`]). Missing or
/// `null` gives `None` silently; an unreadable value gives `None` and a [`ValueError`]
/// whose field is `{prefix}{key}`.
pub(crate) fn read_number(
    obj: &Map<String, Value>,
    key: &str,
    prefix: &str,
    errors: &mut Vec<ValueError>,
) -> Option<f64> {
    let raw = present(obj, key)?;
    match value::parse_number(raw) {
        Ok(n) => Some(n),
        Err(why) => {
            push_value_error(errors, format!("{prefix}{key}"), raw, why);
            None
        }
    }
}

/// Reads the text under `key`: a string as sent, a number or boolean as its JSON text
/// (upstream types drift). Missing or `null` gives `None`; an array or object gives `None`
/// and a [`ValueError`].
pub(crate) fn read_text(
    obj: &Map<String, Value>,
    key: &str,
    prefix: &str,
    errors: &mut Vec<ValueError>,
) -> Option<String> {
    match present(obj, key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => {
            let why = format!("expected text, found {}", json_kind(other));
            push_value_error(errors, format!("{prefix}{key}"), other, why);
            None
        }
    }
}

/// Which keys of a `{"quotas":{"resources":[...]}}` entry mean what; EventGrid and GaussDB
/// differ only in this.
pub(crate) struct ResourceFields {
    /// Keys tried in order for the resource name; the first usable one wins.
    pub name_keys: &'static [&'static str],
    /// Key of the current limit.
    pub limit: &'static str,
    /// Key of the usage.
    pub used: &'static str,
    /// Key of the largest settable limit, if the API has one.
    pub limit_max: Option<&'static str>,
    /// Key of the smallest settable limit, if the API has one.
    pub limit_min: Option<&'static str>,
}

/// Decodes `{"quotas":{"resources":[...]}}`. An entry without a usable name, or whose name
/// repeats an earlier entry's (duplicate series would break the exposition), is skipped
/// with a [`ValueError`]; the first one wins. `"resources": null` is an empty list, as
/// Go writes a nil slice.
pub(crate) fn decode_resource_list(
    body: &[u8],
    fields: &ResourceFields,
) -> Result<PollOutput, DecodeError> {
    let doc = parse_json(body)?;
    let top = as_object(&doc, "the response")?;
    let quotas = top
        .get("quotas")
        .ok_or_else(|| DecodeError::Shape("`quotas` is missing".to_owned()))?;
    let quotas = as_object(quotas, "`quotas`")?;
    let resources = match quotas.get("resources") {
        None => {
            return Err(DecodeError::Shape(
                "`quotas.resources` is missing".to_owned(),
            ));
        }
        Some(Value::Null) => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(other) => {
            return Err(DecodeError::Shape(format!(
                "expected `quotas.resources` to be an array, found {}",
                json_kind(other)
            )));
        }
    };

    let mut out = PollOutput::default();
    let mut first_at: HashMap<String, usize> = HashMap::new();
    for (i, item) in resources.iter().enumerate() {
        let prefix = format!("quotas.resources[{i}].");
        let Some(entry) = item.as_object() else {
            let why = format!("expected an object, found {}", json_kind(item));
            push_value_error(
                &mut out.value_errors,
                format!("quotas.resources[{i}]"),
                item,
                why,
            );
            continue;
        };
        // One error for "no usable name" below says it all; an unreadable `type` whose
        // `name` fallback works is not worth reporting, as no series is lost.
        let name = fields.name_keys.iter().find_map(|key| {
            read_text(entry, key, &prefix, &mut Vec::new())
                .and_then(|text| value::parse_resource_name(&text))
                .map(|resource| (resource, *key))
        });
        let Some((resource, name_key)) = name else {
            let key = fields.name_keys.first().copied().unwrap_or("type");
            let raw = entry.get(key).unwrap_or(&Value::Null);
            let why = format!(
                "no usable resource name in `{}`; entry skipped",
                fields.name_keys.join("` or `")
            );
            push_value_error(&mut out.value_errors, format!("{prefix}{key}"), raw, why);
            continue;
        };
        if let Some(first) = first_at.get(&resource) {
            let raw = entry.get(name_key).unwrap_or(&Value::Null);
            let why = format!(
                "duplicate resource {resource:?} (first at quotas.resources[{first}]); entry skipped"
            );
            push_value_error(
                &mut out.value_errors,
                format!("{prefix}{name_key}"),
                raw,
                why,
            );
            continue;
        }
        first_at.insert(resource.clone(), i);
        let errors = &mut out.value_errors;
        let mut optional =
            |key: Option<&str>| key.and_then(|k| read_number(entry, k, &prefix, errors));
        let limit_max = optional(fields.limit_max);
        let limit_min = optional(fields.limit_min);
        let limit = optional(Some(fields.limit));
        let used = optional(Some(fields.used));
        out.resources.push(ResourceQuota {
            resource,
            limit,
            used,
            limit_max,
            limit_min,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(
        code: Option<&str>,
        message: Option<&str>,
        request_id: Option<&str>,
    ) -> UpstreamErrorBody {
        UpstreamErrorBody {
            code: code.map(str::to_owned),
            message: message.map(str::to_owned),
            request_id: request_id.map(str::to_owned),
        }
    }

    #[test]
    fn error_body_fixtures() {
        assert_eq!(
            decode_error_body(include_bytes!("../../../tests/fixtures/error_apig.json")),
            body(
                Some("APIG.1002"),
                Some("Incorrect token or token resolution failed"),
                None
            )
        );
        assert_eq!(
            decode_error_body(include_bytes!("../../../tests/fixtures/error_iam.json")),
            body(
                Some("401"),
                Some("The request you have made requires authentication."),
                None
            )
        );
        assert_eq!(
            decode_error_body(include_bytes!("../../../tests/fixtures/error_html.html")),
            body(None, Some("502 Bad Gateway"), None)
        );
    }

    #[test]
    fn error_body_dialects() {
        let rows: Vec<(&[u8], UpstreamErrorBody)> = vec![
            (
                br#"{"error_code":"EG.00014000","error_msg":"Bad request","error_details":"type is invalid","request_id":"0e5b8c"}"#,
                body(Some("EG.00014000"), Some("Bad request (type is invalid)"), Some("0e5b8c")),
            ),
            (
                br#"{"error_code":"APIG.0308","error_msg":"The throttling threshold has been reached","request_id":""}"#,
                body(Some("APIG.0308"), Some("The throttling threshold has been reached"), None),
            ),
            (
                br#"{"code":"DBS.200001","message":"Parameter error."}"#,
                body(Some("DBS.200001"), Some("Parameter error."), None),
            ),
            (
                br#"{"code":500,"message":"Internal error"}"#,
                body(Some("500"), Some("Internal error"), None),
            ),
            (
                br#"{"error":{"code":403,"title":"Forbidden"}}"#,
                body(Some("403"), Some("Forbidden"), None),
            ),
            (
                br#"{"error_code":"APIG.9999"}"#,
                body(Some("APIG.9999"), None, None),
            ),
            (
                b"{\"error_code\":\" APIG.1005 \",\"error_msg\":\"No\\npermissions\\r\\n\\tto  request\"}",
                body(Some("APIG.1005"), Some("No permissions to request"), None),
            ),
            (
                br#"{"error_details":["a","b"]}"#,
                body(None, Some(r#"["a","b"]"#), None),
            ),
            (
                br#"{"error":"invalid_request"}"#,
                body(None, Some("invalid_request"), None),
            ),
            // Not an error document: the body itself is the best hint.
            (br#"{"status":"down"}"#, body(None, Some(r#"{"status":"down"}"#), None)),
            (br#"[1,2]"#, body(None, Some("[1,2]"), None)),
            (br#"{"error_code":"APIG.10"#, body(None, Some(r#"{"error_code":"APIG.10"#), None)),
            (b"upstream\nconnect error\r\n", body(None, Some("upstream connect error"), None)),
            (b"", body(None, None, None)),
            (b"  \n ", body(None, None, None)),
            (
                b"<html><body><h1>503</h1><p>Service &amp; more</p></body></html>",
                body(None, Some("503 Service & more"), None),
            ),
            (
                b"<HTML><HEAD><TITLE>\n  Access   Denied\n</TITLE></HEAD></HTML>",
                body(None, Some("Access Denied"), None),
            ),
            (b"<html><title></title><p>x</p>", body(None, Some("x"), None)),
            (b"\xEF\xBB\xBF{\"code\":\"X\"}", body(Some("X"), None, None)),
            (b"\xff\xfe garbage \x00 bytes", body(None, Some("\u{fffd}\u{fffd} garbage bytes"), None)),
        ];
        for (input, want) in rows {
            assert_eq!(
                decode_error_body(input),
                want,
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn error_body_limits() {
        let long_msg = format!(
            r#"{{"error_code":"E","error_msg":"{}"}}"#,
            "word ".repeat(500)
        );
        let got = decode_error_body(long_msg.as_bytes());
        let msg = got.message.unwrap_or_default();
        assert_eq!(msg.chars().count(), MESSAGE_CHARS);
        assert!(msg.ends_with('…'));

        let long_html = format!("<html><body>{}</body></html>", "ünïcode ".repeat(100));
        let msg = decode_error_body(long_html.as_bytes())
            .message
            .unwrap_or_default();
        assert_eq!(msg.chars().count(), EXCERPT_CHARS);
        assert!(!msg.contains('\n'));

        let long_code = format!(r#"{{"error_code":"{}"}}"#, "C".repeat(1000));
        let code = decode_error_body(long_code.as_bytes())
            .code
            .unwrap_or_default();
        assert_eq!(code.chars().count(), ID_CHARS);
    }

    #[test]
    fn error_body_display() {
        let full = body(Some("APIG.0308"), Some("Throttled"), Some("abc"));
        assert_eq!(full.to_string(), "APIG.0308: Throttled (request id abc)");
        assert_eq!(
            UpstreamErrorBody::default().to_string(),
            "no error details in the response body"
        );
    }

    #[test]
    fn decode_error_messages() {
        let err = parse_json(b"<html><title>Bad Gateway</title></html>").unwrap_err();
        assert_eq!(err.error_code(), "decode");
        let msg = err.to_string();
        assert!(
            msg.starts_with("the response body is not valid JSON ("),
            "{msg}"
        );
        assert!(msg.ends_with("it starts with: Bad Gateway"), "{msg}");
        assert!(matches!(parse_json(b" \n"), Err(DecodeError::EmptyBody)));
        assert!(matches!(parse_json(b""), Err(DecodeError::EmptyBody)));
        assert_eq!(
            as_object(&Value::Array(vec![]), "the response")
                .unwrap_err()
                .to_string(),
            "unexpected response shape: expected the response to be a JSON object, found an array"
        );
    }

    #[test]
    fn value_error_raw_is_bounded() {
        let mut errors = Vec::new();
        let obj = serde_json::json!({ "used": "x".repeat(10_000) });
        let obj = obj.as_object().cloned().unwrap_or_default();
        assert_eq!(read_number(&obj, "used", "r.", &mut errors), None);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "r.used");
        assert_eq!(errors[0].raw.chars().count(), RAW_CHARS);
        assert!(errors[0].reason.len() < 100, "{}", errors[0].reason);
    }

    /// Deterministic xorshift, so a failing input can be reproduced.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Every fixture, decoder and error body alike.
    const FIXTURES: [&[u8]; 8] = [
        include_bytes!("../../../tests/fixtures/roma_livedata.json"),
        include_bytes!("../../../tests/fixtures/roma_app_quota.json"),
        include_bytes!("../../../tests/fixtures/roma_app_quota_created.json"),
        include_bytes!("../../../tests/fixtures/roma_app_quotas_list.json"),
        include_bytes!("../../../tests/fixtures/eventgrid_quotas.json"),
        include_bytes!("../../../tests/fixtures/gaussdb_project_quotas.json"),
        include_bytes!("../../../tests/fixtures/error_apig.json"),
        include_bytes!("../../../tests/fixtures/error_iam.json"),
    ];

    /// Feeds `input` to every decoder; a panic fails the test with the input shown.
    fn feed_all(input: &[u8]) {
        let outcome = std::panic::catch_unwind(|| {
            let _ = crate::upstream::roma::decode_livedata(input);
            let _ = crate::upstream::roma::decode_app_quota(input);
            let _ = crate::upstream::roma::decode_app_quota_page(input);
            let _ = crate::upstream::eventgrid::decode_quotas(input);
            let _ = crate::upstream::gaussdb::decode_project_quotas(input);
            let _ = decode_error_body(input);
        });
        assert!(
            outcome.is_ok(),
            "a decoder panicked on {:?}",
            String::from_utf8_lossy(input)
        );
    }

    #[test]
    fn no_decoder_panics_on_truncated_fixtures() {
        let html: &[u8] = include_bytes!("../../../tests/fixtures/error_html.html");
        for fixture in FIXTURES.iter().chain([&html]) {
            for end in 0..=fixture.len() {
                feed_all(&fixture[..end]);
            }
        }
    }

    #[test]
    fn no_decoder_panics_on_mutated_bytes() {
        // Bytes that change JSON structure or meaning, plus invalid UTF-8.
        const INTERESTING: &[u8] = b"\"\\,:{}[]0123456789-+.eEnulltrue \n\xff\xc3<>";
        let mut rng = Rng(0x5DEE_CE66_D1CE_F00D);
        for round in 0..4_000 {
            let mut bytes = FIXTURES[round % FIXTURES.len()].to_vec();
            for _ in 0..=rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                let b = INTERESTING[rng.below(INTERESTING.len())];
                match rng.below(4) {
                    0 if at < bytes.len() => bytes[at] = b,
                    1 => bytes.insert(at, b),
                    2 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => {
                        // Splice a copy of some other span in, nesting structures.
                        let from = rng.below(bytes.len());
                        let to = (from + rng.below(40)).min(bytes.len());
                        let span = bytes[from..to].to_vec();
                        bytes.splice(at..at, span);
                    }
                }
            }
            feed_all(&bytes);
        }
    }

    #[test]
    fn deep_nesting_is_a_decode_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        feed_all(deep.as_bytes());
        let deep_obj = format!("{}1{}", r#"{"quotas":"#.repeat(5_000), "}".repeat(5_000));
        feed_all(deep_obj.as_bytes());
        assert!(crate::upstream::eventgrid::decode_quotas(deep_obj.as_bytes()).is_err());
    }
}
