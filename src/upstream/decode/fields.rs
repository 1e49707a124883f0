//! The part every response decoder shares: parsing the body ([`DecodeError`] when it is
//! not the expected document), lenient field readers that turn one unreadable figure into a
//! [`ValueError`], and the `{"quotas":{"resources":[...]}}` list EventGrid and GaussDB send.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};

use super::errors::{body_excerpt, strip_bom, truncate_chars};
use super::value::{self, json_kind};
use crate::model::poll::{PollOutput, ResourceQuota, ValueError};

/// Longest raw JSON text kept in a [`ValueError`], in characters.
const RAW_CHARS: usize = 128;

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
    let resources = resource_items(&doc)?;
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
        let Some((resource, name_key)) = resource_name(entry, fields, &prefix, &mut out) else {
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
        let quota = resource_quota(entry, fields, &prefix, resource, &mut out.value_errors);
        out.resources.push(quota);
    }
    Ok(out)
}

/// The entries of `quotas.resources`: `null` is an empty list; a missing key or another
/// JSON type is a shape error.
fn resource_items(doc: &Value) -> Result<&[Value], DecodeError> {
    let top = as_object(doc, "the response")?;
    let quotas = top
        .get("quotas")
        .ok_or_else(|| DecodeError::Shape("`quotas` is missing".to_owned()))?;
    let quotas = as_object(quotas, "`quotas`")?;
    match quotas.get("resources") {
        None => Err(DecodeError::Shape(
            "`quotas.resources` is missing".to_owned(),
        )),
        Some(Value::Null) => Ok(&[][..]),
        Some(Value::Array(items)) => Ok(items.as_slice()),
        Some(other) => Err(DecodeError::Shape(format!(
            "expected `quotas.resources` to be an array, found {}",
            json_kind(other)
        ))),
    }
}

/// The normalised resource name of `entry` and the key it came from, trying
/// [`ResourceFields::name_keys`] in order; `None` (with a [`ValueError`] in `out`) when
/// none is usable.
fn resource_name<'f>(
    entry: &Map<String, Value>,
    fields: &'f ResourceFields,
    prefix: &str,
    out: &mut PollOutput,
) -> Option<(String, &'f str)> {
    // One error for "no usable name" below says it all; an unreadable `type` whose
    // `name` fallback works is not worth reporting, as no series is lost.
    let name = fields.name_keys.iter().find_map(|key| {
        read_text(entry, key, prefix, &mut Vec::new())
            .and_then(|text| value::parse_resource_name(&text))
            .map(|resource| (resource, *key))
    });
    if name.is_none() {
        let key = fields.name_keys.first().copied().unwrap_or("type");
        let raw = entry.get(key).unwrap_or(&Value::Null);
        let why = format!(
            "no usable resource name in `{}`; entry skipped",
            fields.name_keys.join("` or `")
        );
        push_value_error(&mut out.value_errors, format!("{prefix}{key}"), raw, why);
    }
    name
}

/// The figures of one named entry; unreadable ones are `None` with a [`ValueError`].
fn resource_quota(
    entry: &Map<String, Value>,
    fields: &ResourceFields,
    prefix: &str,
    resource: String,
    errors: &mut Vec<ValueError>,
) -> ResourceQuota {
    let mut optional = |key: Option<&str>| key.and_then(|k| read_number(entry, k, prefix, errors));
    let limit_max = optional(fields.limit_max);
    let limit_min = optional(fields.limit_min);
    let limit = optional(Some(fields.limit));
    let used = optional(Some(fields.used));
    ResourceQuota {
        resource,
        limit,
        used,
        limit_max,
        limit_min,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
