//! Upstream error bodies in their three dialects (`error_code`/`error_msg`, `code`/`message`,
//! IAM's nested `error`), and a short single-line excerpt of a body that is none of them
//! (the `<title>` of a proxy's HTML page, or its text without tags).

use std::fmt;

use serde_json::{Map, Value};

/// Longest upstream message kept, in characters: enough for any real `error_msg`, short
/// enough that a misbehaving upstream cannot flood the logs or the landing page.
const MESSAGE_CHARS: usize = 512;

/// Longest excerpt of a body that is not a recognised error document, in characters.
const EXCERPT_CHARS: usize = 200;

/// Longest error code or request id kept, in characters (the API caps both at 128).
const ID_CHARS: usize = 128;

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
pub(super) fn body_excerpt(body: &[u8]) -> Option<String> {
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
pub(super) fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let keep: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{keep}…")
}

/// A UTF-8 byte order mark is legal in front of JSON from some gateways, but serde_json
/// refuses it.
pub(super) fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
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
}
