//! Answers: JSON bodies, each API's error shape, and the headers every answer carries.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::Endpoint;

/// Which error body shape an endpoint uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorStyle {
    /// `{"error_code":"APIG.xxxx","error_msg":...}` (ROMA Connect, the API gateway, GaussDB).
    Apig,
    /// Same shape with `EG.0001xxxx` codes (seed `002`); throttling still comes from the gateway.
    Eventgrid,
    /// `{"error":{"code":401,"message":...,"title":...}}`.
    Iam,
    /// `401 Unauthorized` as plain text (the ECS metadata service).
    Plain,
}

impl ErrorStyle {
    pub(crate) fn of(endpoint: Endpoint) -> ErrorStyle {
        match endpoint {
            Endpoint::Eventgrid => ErrorStyle::Eventgrid,
            Endpoint::IamTokens | Endpoint::IamProjects | Endpoint::IamDomains => ErrorStyle::Iam,
            Endpoint::MetadataToken | Endpoint::MetadataSecurityKey => ErrorStyle::Plain,
            _ => ErrorStyle::Apig,
        }
    }
}

/// An answer before it becomes an HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: String,
    /// Extra headers; one named like a default (`Content-Type`, `X-Request-Id`) replaces it.
    pub(crate) headers: Vec<(String, String)>,
}

impl Reply {
    pub(crate) fn json(status: StatusCode, value: &Value) -> Reply {
        Reply {
            status,
            body: value.to_string(),
            headers: Vec::new(),
        }
    }

    /// `{"error_code","error_msg"}`.
    pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Reply {
        Reply::json(
            status,
            &json!({ "error_code": code, "error_msg": message.into() }),
        )
    }

    /// IAM's `{"error":{"code","message","title"}}`.
    pub(crate) fn iam_error(status: StatusCode, message: &str) -> Reply {
        let title = status.canonical_reason().unwrap_or("Error");
        Reply::json(
            status,
            &json!({ "error": { "code": status.as_u16(), "message": message, "title": title } }),
        )
    }

    /// 400 `APIG.2011` for an invalid parameter, as ROMA Connect words it.
    pub(crate) fn invalid_parameter(name: &str, details: &str) -> Reply {
        Reply::json(
            StatusCode::BAD_REQUEST,
            &json!({
                "error_code": "APIG.2011",
                "error_msg": format!(
                    "Invalid parameter value,parameterName:{name}. Please refer to the support documentation"
                ),
                "error_details": details,
            }),
        )
    }

    /// The body an API answers `status` with when nothing more specific applies
    /// (used for injected faults and for auth failures).
    pub(crate) fn standard_error(style: ErrorStyle, status: StatusCode) -> Reply {
        let code = status.as_u16();
        let reason = status.canonical_reason().unwrap_or("Error");
        match style {
            ErrorStyle::Plain => Reply {
                status,
                body: format!("{code} {reason}"),
                headers: vec![("Content-Type".to_owned(), "text/plain".to_owned())],
            },
            ErrorStyle::Iam => Reply::iam_error(
                status,
                match code {
                    401 => "The request you have made requires authentication.",
                    429 => "The throttling threshold has been reached",
                    500..=599 => "System error",
                    _ => reason,
                },
            ),
            ErrorStyle::Eventgrid if code != 429 => {
                let message = match code {
                    400 => "Bad request",
                    401 => "Incorrect token or token resolution failed",
                    403 => "No permissions to request this method",
                    404 => "Not request resource found",
                    500..=599 => "Internal Server Error",
                    _ => reason,
                };
                Reply::error(status, &format!("EG.0001{}", u32::from(code) * 10), message)
            }
            _ => {
                let (error_code, message) = match code {
                    400 => (
                        "APIG.2011",
                        "Invalid parameter value. Please refer to the support documentation",
                    ),
                    401 => ("APIG.1002", "Incorrect token or token resolution failed"),
                    403 => ("APIG.1005", "No permissions to request this method"),
                    404 | 405 => (
                        "APIG.0101",
                        "The API does not exist or has not been published in an environment",
                    ),
                    429 => ("APIG.0308", "The throttling threshold has been reached"),
                    502 => ("APIG.0201", "Backend unavailable"),
                    504 => ("APIG.0202", "Backend timeout"),
                    500..=599 => ("APIG.9999", "System error"),
                    _ => ("APIG.2011", reason),
                };
                Reply::error(status, error_code, message)
            }
        }
    }

    /// The HTTP response: adds `X-Request-Id` and `Content-Type: application/json` unless
    /// [`Reply::headers`] names them; skips headers that are not valid HTTP.
    pub(crate) fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::from(self.body)));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        if !headers.contains_key("x-request-id") {
            let id = format!("{:032x}", rand::random::<u128>());
            if let Ok(value) = HeaderValue::from_str(&id) {
                headers.insert("x-request-id", value);
            }
        }
        if !headers.contains_key(hyper::header::CONTENT_TYPE) {
            headers.insert(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        response
    }
}
