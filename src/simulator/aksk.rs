//! The simulator's own `SDK-HMAC-SHA256` (AK/SK) verifier, written from API-NOTES alone.
//!
//! It deliberately shares no code with the exporter's signer in `src/auth/`: if both used one
//! canonicalisation, a bug in it would sign and verify alike and go unnoticed. The four
//! published SDK test vectors pin this side byte for byte (see the tests below).
//!
//! The canonical request is rebuilt from the request *as received*: path segments and query
//! components are percent-decoded, then re-encoded the one canonical way (only `A-Za-z0-9-_.~`
//! kept, upper-case hex), so any correct wire encoding of the same request verifies.

use std::fmt;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use hyper::header::{AUTHORIZATION, HeaderMap};
use sha2::{Digest, Sha256};
use time::{Date, Month, OffsetDateTime, Time};

use super::RequestView;
use super::world::SimAkSk;

/// The only algorithm the simulator knows.
pub(crate) const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// How far `X-Sdk-Date` may be from the simulator's clock, either way.
pub(crate) const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// Why a signed request was refused. [`Refusal::message`] is the `error_msg` of the 401
/// `APIG.0301` answer; every kind words it differently so that tests can tell them apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The `Authorization` header does not parse.
    Malformed(String),
    /// `X-Sdk-Date` missing or not `YYYYMMDDTHHMMSSZ`.
    BadDate,
    /// `X-Sdk-Date` more than [`MAX_CLOCK_SKEW`] from now.
    Skewed(String),
    /// A header that must be signed is not in `SignedHeaders`.
    Unsigned(&'static str),
    /// A header named in `SignedHeaders` is not in the request.
    SignedHeaderMissing(String),
    /// A signed header's value is not visible ASCII.
    BadHeaderValue(String),
    /// No such access key.
    UnknownAccessKey(String),
    /// The recomputed signature differs.
    SignatureMismatch(String),
    /// Temporary credentials without `X-Security-Token`.
    SecurityTokenMissing(String),
    /// `X-Security-Token` differs from the one issued with the access key.
    SecurityTokenWrong(String),
    /// `X-Security-Token` sent with a permanent access key.
    SecurityTokenUnexpected(String),
    /// A temporary access key past its `expires_at`.
    SecurityTokenExpired(String),
    /// A request to a global service (IAM) without a signed `X-Domain-Id`.
    DomainIdMissing,
    /// `X-Domain-Id` is not the account of the access key.
    DomainIdMismatch(String),
    /// `X-Project-Id` differs from the project in the path.
    ProjectMismatch {
        /// The header's value.
        header: String,
        /// The path's project.
        path: String,
    },
}

impl Refusal {
    /// The `error_msg` of the answer.
    pub(crate) fn message(&self) -> String {
        const PREFIX: &str = "Incorrect IAM authentication information";
        match self {
            Refusal::Malformed(detail) => {
                format!(
                    "{PREFIX}: verify aksk signature fail, malformed Authorization header: {detail}"
                )
            }
            Refusal::BadDate => format!(
                "{PREFIX}: verify aksk signature fail, X-Sdk-Date is missing or not in YYYYMMDDTHHMMSSZ format"
            ),
            Refusal::Skewed(date) => format!(
                "{PREFIX}: verify aksk signature fail, X-Sdk-Date {date} differs from the server time by more than 15 minutes"
            ),
            Refusal::Unsigned(name) => {
                format!("{PREFIX}: verify aksk signature fail, header {name} must be signed")
            }
            Refusal::SignedHeaderMissing(name) => format!(
                "{PREFIX}: verify aksk signature fail, signed header {name} is not in the request"
            ),
            Refusal::BadHeaderValue(name) => format!(
                "{PREFIX}: verify aksk signature fail, signed header {name} has an invalid value"
            ),
            Refusal::UnknownAccessKey(ak) => {
                format!("{PREFIX}: get secret key from ak fail, ak {ak} does not exist")
            }
            Refusal::SignatureMismatch(ak) => format!(
                "{PREFIX}: verify aksk signature fail, ak:{ak}, the signature does not match"
            ),
            Refusal::SecurityTokenMissing(ak) => format!(
                "{PREFIX}: verify aksk signature fail, ak:{ak} is a temporary access key and needs a signed X-Security-Token"
            ),
            Refusal::SecurityTokenWrong(ak) => format!(
                "{PREFIX}: verify aksk signature fail, ak:{ak}, X-Security-Token does not match the temporary access key"
            ),
            Refusal::SecurityTokenUnexpected(ak) => format!(
                "{PREFIX}: verify aksk signature fail, ak:{ak} is a permanent access key but X-Security-Token was sent"
            ),
            Refusal::SecurityTokenExpired(ak) => format!(
                "{PREFIX}: verify aksk signature fail, ak:{ak}, the security token has expired"
            ),
            Refusal::DomainIdMissing => format!(
                "{PREFIX}: verify aksk signature fail, a global service needs a signed X-Domain-Id header"
            ),
            Refusal::DomainIdMismatch(id) => format!(
                "{PREFIX}: verify aksk signature fail, X-Domain-Id {id} is not the account of the access key"
            ),
            Refusal::ProjectMismatch { header, path } => format!(
                "{PREFIX}: verify aksk signature fail, X-Project-Id {header} does not match project {path} in the path"
            ),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// The parts of `Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AuthorizationHeader {
    /// `Access=`.
    pub(crate) access_key: String,
    /// `SignedHeaders=`, split at `;`: lower-case, sorted, no duplicates.
    pub(crate) signed_headers: Vec<String>,
    /// `Signature=`, decoded from 64 hex digits.
    pub(crate) signature: Vec<u8>,
}

impl AuthorizationHeader {
    /// Parses the header value; strict about everything a correct signer produces.
    pub(crate) fn parse(value: &str) -> Result<AuthorizationHeader, Refusal> {
        let malformed = |detail: &str| Refusal::Malformed(detail.to_owned());
        let rest = value
            .strip_prefix(ALGORITHM)
            .ok_or_else(|| malformed("the algorithm is not SDK-HMAC-SHA256"))?;
        if !rest.starts_with(' ') {
            return Err(malformed("the algorithm is not SDK-HMAC-SHA256"));
        }
        let (mut access, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| malformed("expected Access=, SignedHeaders= and Signature="))?;
            let slot = match name {
                "Access" => &mut access,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => return Err(malformed("unknown field")),
            };
            if slot.replace(value).is_some() {
                return Err(malformed("a field is repeated"));
            }
        }
        let (Some(access), Some(signed), Some(signature)) = (access, signed, signature) else {
            return Err(malformed("expected Access=, SignedHeaders= and Signature="));
        };
        if access.is_empty() {
            return Err(malformed("Access is empty"));
        }
        let signed_headers: Vec<String> = signed.split(';').map(str::to_owned).collect();
        let well_formed = signed_headers.iter().all(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        });
        if !well_formed {
            return Err(malformed(
                "SignedHeaders must be lower-case header names separated by ';'",
            ));
        }
        if !signed_headers.windows(2).all(|w| w[0] < w[1]) {
            return Err(malformed(
                "SignedHeaders must be sorted and without duplicates",
            ));
        }
        let signature = match hex::decode(signature) {
            Ok(bytes) if bytes.len() == 32 => bytes,
            _ => return Err(malformed("Signature must be 64 hex digits")),
        };
        Ok(AuthorizationHeader {
            access_key: access.to_owned(),
            signed_headers,
            signature,
        })
    }

    fn signs(&self, name: &str) -> bool {
        self.signed_headers.iter().any(|h| h == name)
    }
}

/// What a signed request is for: a project's API (the path names the project; an
/// `X-Project-Id` header must match it) or a global service of the account `id` (IAM: a
/// signed `X-Domain-Id` of that account; `required: false` for `GET /v3/auth/domains`, which
/// clients call to learn the id, where a sent one must still match).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope<'a> {
    Project(&'a str),
    Domain { id: &'a str, required: bool },
}

/// Verifies a signed request to a route of `project` against the world's `keys`, with the
/// simulator's clock at `now`. `Ok` names the key that signed it.
pub(crate) fn verify<'k>(
    keys: &'k [SimAkSk],
    request: &RequestView<'_>,
    project: &str,
    now: OffsetDateTime,
) -> Result<&'k SimAkSk, Refusal> {
    verify_scoped(keys, request, Scope::Project(project), now)
}

/// [`verify`] for either kind of [`Scope`].
pub(crate) fn verify_scoped<'k>(
    keys: &'k [SimAkSk],
    request: &RequestView<'_>,
    scope: Scope<'_>,
    now: OffsetDateTime,
) -> Result<&'k SimAkSk, Refusal> {
    let authorization = request
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Refusal::Malformed("not visible ASCII".to_owned()))?;
    let auth = AuthorizationHeader::parse(authorization)?;

    let date = header(request.headers, "x-sdk-date").ok_or(Refusal::BadDate)?;
    let signed_at = parse_sdk_date(date).ok_or(Refusal::BadDate)?;
    for required in ["host", "x-sdk-date"] {
        if !auth.signs(required) {
            return Err(Refusal::Unsigned(required));
        }
    }
    if (now - signed_at).unsigned_abs() > MAX_CLOCK_SKEW {
        return Err(Refusal::Skewed(date.to_owned()));
    }
    let key = keys
        .iter()
        .find(|k| k.access_key == auth.access_key)
        .ok_or_else(|| Refusal::UnknownAccessKey(auth.access_key.clone()))?;

    let headers = canonical_headers(request.headers, &auth.signed_headers)?;
    let canonical = canonical_request(
        request.method.as_str(),
        request.path,
        request.query,
        &headers,
        &auth.signed_headers.join(";"),
        request.body,
    );
    let mut mac = hmac_sha256(key.secret_key.as_bytes())
        .ok_or_else(|| Refusal::SignatureMismatch(key.access_key.clone()))?;
    mac.update(string_to_sign(date, &canonical).as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&auth.signature)
        .map_err(|_| Refusal::SignatureMismatch(key.access_key.clone()))?;

    let sent_token = header(request.headers, "x-security-token");
    match (&key.security_token, sent_token) {
        (Some(_), None) => return Err(Refusal::SecurityTokenMissing(key.access_key.clone())),
        (Some(_), Some(_)) if !auth.signs("x-security-token") => {
            return Err(Refusal::Unsigned("x-security-token"));
        }
        (Some(issued), Some(sent)) if !constant_time_eq(issued.as_bytes(), sent.as_bytes()) => {
            return Err(Refusal::SecurityTokenWrong(key.access_key.clone()));
        }
        (None, Some(_)) => return Err(Refusal::SecurityTokenUnexpected(key.access_key.clone())),
        _ => {}
    }
    if key.expires_at.is_some_and(|at| SystemTime::from(now) >= at) {
        return Err(Refusal::SecurityTokenExpired(key.access_key.clone()));
    }
    match scope {
        Scope::Project(project) => {
            if let Some(sent) = header(request.headers, "x-project-id") {
                if !auth.signs("x-project-id") {
                    return Err(Refusal::Unsigned("x-project-id"));
                }
                if sent != project {
                    return Err(Refusal::ProjectMismatch {
                        header: sent.to_owned(),
                        path: project.to_owned(),
                    });
                }
            }
        }
        Scope::Domain {
            id: domain_id,
            required,
        } => {
            let Some(sent) = header(request.headers, "x-domain-id") else {
                return if required {
                    Err(Refusal::DomainIdMissing)
                } else {
                    Ok(key)
                };
            };
            if !auth.signs("x-domain-id") {
                return Err(Refusal::Unsigned("x-domain-id"));
            }
            if !constant_time_eq(sent.as_bytes(), domain_id.as_bytes()) {
                return Err(Refusal::DomainIdMismatch(sent.to_owned()));
            }
        }
    }
    Ok(key)
}

/// The first value of a header, if it is visible ASCII.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn hmac_sha256(key: &[u8]) -> Option<Hmac<Sha256>> {
    // HMAC takes keys of any length; the error case cannot happen.
    Hmac::<Sha256>::new_from_slice(key).ok()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses `YYYYMMDDTHHMMSSZ` (UTC).
pub(crate) fn parse_sdk_date(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(digits(4..6)?).ok()?).ok()?;
    let day = u8::try_from(digits(6..8)?).ok()?;
    let hour = u8::try_from(digits(9..11)?).ok()?;
    let minute = u8::try_from(digits(11..13)?).ok()?;
    let second = u8::try_from(digits(13..15)?).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    Some(date.with_time(time).assume_utc())
}

/// Percent-encodes `bytes`: `A-Za-z0-9-_.~` as is, every other byte as `%XX` (upper-case).
pub(crate) fn encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Percent-decodes `s` to bytes (either hex case); a `%` not followed by two hex digits is
/// kept as is. `plus_is_space`: `+` means a space (query components), else a `+` (paths).
pub(crate) fn decode(s: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escaped = match (b, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex_value(h).zip(hex_value(l)).map(|(h, l)| (h << 4) | l),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(if plus_is_space && b == b'+' { b' ' } else { b });
                i += 1;
            }
        }
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The canonical URI of a received path: each `/`-separated segment decoded and re-encoded,
/// always ending in `/`.
pub(crate) fn canonical_uri(path: &str) -> String {
    let mut uri = path
        .split('/')
        .map(|segment| encode(&decode(segment, false)))
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// The canonical query of a received raw query string: `k=v` pairs decoded (a bare `k` is
/// `k=`, empty pairs are dropped), sorted by key then by value (bytewise, decoded), each
/// re-encoded as `enc(k)=enc(v)`, joined by `&`.
pub(crate) fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k, true), decode(v, true))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `name:trim(value)\n` for each signed header (already lower-case and sorted); a header sent
/// several times gives one line per value, values sorted.
pub(crate) fn canonical_headers(headers: &HeaderMap, signed: &[String]) -> Result<String, Refusal> {
    let mut out = String::new();
    for name in signed {
        let mut values = headers
            .get_all(name.as_str())
            .iter()
            .map(|v| {
                v.to_str()
                    .map(str::trim)
                    .map_err(|_| Refusal::BadHeaderValue(name.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if values.is_empty() {
            return Err(Refusal::SignedHeaderMissing(name.clone()));
        }
        values.sort_unstable();
        for value in values {
            out.push_str(name);
            out.push(':');
            out.push_str(value);
            out.push('\n');
        }
    }
    Ok(out)
}

/// `METHOD\nURI\nQUERY\nHEADERS\nSIGNED\nhex(sha256(body))`, `headers` ending in `\n`.
pub(crate) fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    body: &[u8],
) -> String {
    format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        canonical_uri(path),
        canonical_query(query),
        hex::encode(Sha256::digest(body)),
    )
}

/// `SDK-HMAC-SHA256\n{date}\nhex(sha256(canonical request))`.
pub(crate) fn string_to_sign(date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{date}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use hyper::Method;
    use hyper::header::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    /// `hex(HMAC-SHA256(sk, string_to_sign))`, the way a signer computes it.
    fn signature(sk: &str, string_to_sign: &str) -> String {
        let mut mac = hmac_sha256(sk.as_bytes()).unwrap_or_else(|| panic!("hmac key"));
        mac.update(string_to_sign.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            let name = hyper::header::HeaderName::from_bytes(name.as_bytes())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let value = HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{value}: {e}"));
            map.append(name, value);
        }
        map
    }

    struct Vector {
        method: &'static str,
        host: &'static str,
        path: &'static str,
        query: &'static str,
        date: &'static str,
        body: &'static str,
        signed: &'static [&'static str],
        want: &'static str,
    }

    /// The public SDK test vectors of API-NOTES (AK `AccessKey`, SK `SecretKey`).
    const VECTORS: [Vector; 4] = [
        Vector {
            method: "GET",
            host: "service.endpoint.myhuaweicloud.com",
            path: "/resources",
            query: "size=1",
            date: "20200608T023900Z",
            body: "",
            signed: &["host", "x-sdk-date"],
            want: "cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842",
        },
        Vector {
            method: "POST",
            host: "service.endpoint.myhuaweicloud.com",
            path: "/resources",
            query: "size=1",
            date: "20200608T023900Z",
            body: r#"{"name":"test","id":1}"#,
            signed: &["host", "x-sdk-date"],
            want: "436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f",
        },
        Vector {
            method: "GET",
            host: "example.huaweicloud.com",
            path: "/path",
            query: "limit=1",
            date: "20060102T150405Z",
            body: "",
            signed: &["x-sdk-date"],
            want: "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624",
        },
        Vector {
            method: "POST",
            host: "example.huaweicloud.com",
            path: "/path",
            query: "key=value",
            date: "20060102T150405Z",
            body: "{\"Name\":\"test\",\"Id\":1}\n",
            signed: &["x-sdk-date"],
            want: "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59",
        },
    ];

    impl Vector {
        fn headers(&self, signature: &str) -> HeaderMap {
            let authorization = format!(
                "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders={}, Signature={signature}",
                self.signed.join(";")
            );
            header_map(&[
                ("host", self.host),
                ("x-sdk-date", self.date),
                ("content-type", "application/json"),
                ("authorization", &authorization),
            ])
        }

        fn method(&self) -> Method {
            Method::from_bytes(self.method.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
        }

        fn verify_with(
            &self,
            headers: &HeaderMap,
            keys: &[SimAkSk],
            now: OffsetDateTime,
        ) -> Result<(), Refusal> {
            let method = self.method();
            let request = RequestView {
                method: &method,
                path: self.path,
                query: self.query,
                headers,
                body: self.body.as_bytes(),
            };
            verify(keys, &request, "p", now).map(|_| ())
        }

        fn date(&self) -> OffsetDateTime {
            parse_sdk_date(self.date).unwrap_or_else(|| panic!("{}", self.date))
        }
    }

    fn vector_keys() -> Vec<SimAkSk> {
        vec![SimAkSk::permanent("AccessKey", "SecretKey")]
    }

    #[test]
    fn published_vectors_byte_for_byte() {
        for v in &VECTORS {
            let signed: Vec<String> = v.signed.iter().map(|s| (*s).to_owned()).collect();
            let headers = canonical_headers(&v.headers(""), &signed)
                .unwrap_or_else(|e| panic!("{}: {e}", v.want));
            let canonical = canonical_request(
                v.method,
                v.path,
                v.query,
                &headers,
                &v.signed.join(";"),
                v.body.as_bytes(),
            );
            let sts = string_to_sign(v.date, &canonical);
            assert_eq!(signature("SecretKey", &sts), v.want, "{canonical}");
        }
        // The first vector's intermediate texts, spelled out.
        let v = &VECTORS[0];
        let signed = ["host".to_owned(), "x-sdk-date".to_owned()];
        let headers = canonical_headers(&v.headers(""), &signed).unwrap_or_default();
        let canonical = canonical_request(
            "GET",
            "/resources",
            "size=1",
            &headers,
            "host;x-sdk-date",
            b"",
        );
        assert_eq!(
            canonical,
            "GET\n/resources/\nsize=1\nhost:service.endpoint.myhuaweicloud.com\nx-sdk-date:20200608T023900Z\n\nhost;x-sdk-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(
            string_to_sign(v.date, &canonical).starts_with("SDK-HMAC-SHA256\n20200608T023900Z\n")
        );
    }

    #[test]
    fn verify_accepts_the_published_vectors_that_sign_host() {
        let keys = vector_keys();
        for v in &VECTORS[..2] {
            let headers = v.headers(v.want);
            for offset in [0, 14 * 60, -14 * 60, 15 * 60] {
                let now = v.date() + time::Duration::seconds(offset);
                assert_eq!(v.verify_with(&headers, &keys, now), Ok(()), "{}", v.want);
            }
            // One flipped hex digit, or an upper-case signature of another request, fails.
            let mut wrong = v.want.to_owned();
            wrong.replace_range(0..1, if wrong.starts_with('0') { "1" } else { "0" });
            assert_eq!(
                v.verify_with(&v.headers(&wrong), &keys, v.date()),
                Err(Refusal::SignatureMismatch("AccessKey".to_owned()))
            );
            // Wrong secret key.
            let other = [SimAkSk::permanent("AccessKey", "SecretKey2")];
            assert_eq!(
                v.verify_with(&headers, &other, v.date()),
                Err(Refusal::SignatureMismatch("AccessKey".to_owned()))
            );
            // Unknown access key.
            let other = [SimAkSk::permanent("OtherKey", "SecretKey")];
            assert_eq!(
                v.verify_with(&headers, &other, v.date()),
                Err(Refusal::UnknownAccessKey("AccessKey".to_owned()))
            );
            // Out of the 15 minute window, either way.
            for offset in [15 * 60 + 1, -15 * 60 - 1, 86_400] {
                let now = v.date() + time::Duration::seconds(offset);
                assert_eq!(
                    v.verify_with(&headers, &keys, now),
                    Err(Refusal::Skewed(v.date.to_owned()))
                );
            }
        }
        // Tampered method and body.
        let v = &VECTORS[1];
        let method = Method::PUT;
        let headers = v.headers(v.want);
        let request = RequestView {
            method: &method,
            path: v.path,
            query: v.query,
            headers: &headers,
            body: v.body.as_bytes(),
        };
        assert!(verify(&keys, &request, "p", v.date()).is_err());
        let post = Method::POST;
        let request = RequestView {
            method: &post,
            body: b"{\"name\":\"test\",\"id\":2}",
            ..request
        };
        assert!(verify(&keys, &request, "p", v.date()).is_err());
    }

    #[test]
    fn verify_checks_expiry_and_the_domain_scope() {
        let v = &VECTORS[0];
        let headers = v.headers(v.want);
        let method = v.method();
        let request = RequestView {
            method: &method,
            path: v.path,
            query: v.query,
            headers: &headers,
            body: v.body.as_bytes(),
        };
        let at = SystemTime::from(v.date());
        let key =
            |expires: SystemTime| [SimAkSk::permanent("AccessKey", "SecretKey").expiring(expires)];
        let later = key(at + Duration::from_secs(1));
        assert!(verify(&later, &request, "p", v.date()).is_ok());
        for expired in [key(at), key(at - Duration::from_secs(1))] {
            assert_eq!(
                verify(&expired, &request, "p", v.date()).map(|_| ()),
                Err(Refusal::SecurityTokenExpired("AccessKey".to_owned()))
            );
        }
        // The vector signs no X-Domain-Id: fine only where the id is optional.
        let keys = vector_keys();
        let domain = |required| Scope::Domain { id: "d", required };
        assert_eq!(
            verify_scoped(&keys, &request, domain(true), v.date()).map(|_| ()),
            Err(Refusal::DomainIdMissing)
        );
        assert!(verify_scoped(&keys, &request, domain(false), v.date()).is_ok());
        assert!(Refusal::DomainIdMissing.message().contains("X-Domain-Id"));
        assert!(
            Refusal::DomainIdMismatch("x".to_owned())
                .message()
                .contains("X-Domain-Id x is not the account")
        );
    }

    #[test]
    fn verify_requires_host_to_be_signed() {
        for v in &VECTORS[2..] {
            assert_eq!(
                v.verify_with(&v.headers(v.want), &vector_keys(), v.date()),
                Err(Refusal::Unsigned("host"))
            );
        }
    }

    #[test]
    fn authorization_header_parsing_is_strict() {
        let sig = "a".repeat(64);
        let ok = AuthorizationHeader::parse(&format!(
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature={sig}"
        ));
        assert_eq!(
            ok,
            Ok(AuthorizationHeader {
                access_key: "AK".to_owned(),
                signed_headers: vec!["host".to_owned(), "x-sdk-date".to_owned()],
                signature: vec![0xaa; 32],
            })
        );
        for bad in [
            String::new(),
            format!("SDK-HMAC-SHA1 Access=AK, SignedHeaders=host, Signature={sig}"),
            format!("SDK-HMAC-SHA256Access=AK, SignedHeaders=host, Signature={sig}"),
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host".to_owned(),
            format!("SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature={sig}"),
            format!("SDK-HMAC-SHA256 Access=AK, Access=AK, SignedHeaders=host, Signature={sig}"),
            format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=Host, Signature={sig}"),
            format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date;host, Signature={sig}"),
            format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;host, Signature={sig}"),
            format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;, Signature={sig}"),
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=abc".to_owned(),
            format!(
                "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature={}",
                "g".repeat(64)
            ),
            format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature={sig}, Extra=1"),
            format!("SDK-HMAC-SHA256 Access=AK SignedHeaders=host Signature={sig}"),
        ] {
            assert!(
                matches!(AuthorizationHeader::parse(&bad), Err(Refusal::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn sdk_dates_parse_strictly() {
        let parsed = parse_sdk_date("20200608T023900Z").map(|d| d.unix_timestamp());
        assert_eq!(parsed, Some(1_591_583_940));
        for bad in [
            "",
            "20200608T023900",
            "20200608 023900Z",
            "2020-06-08T02:39:00Z",
            "20201308T023900Z",
            "20200230T023900Z",
            "20200608T243900Z",
            "2020060+T023900Z",
            "20200608T023900Z0",
            "２0200608T02390Z",
        ] {
            assert_eq!(parse_sdk_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn encoding_examples() {
        assert_eq!(encode(b"AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(encode(b"a b+c/d?e=f&g%h"), "a%20b%2Bc%2Fd%3Fe%3Df%26g%25h");
        assert_eq!(encode("é😀".as_bytes()), "%C3%A9%F0%9F%98%80");
        assert_eq!(decode("a+b%2b%2F%zz%4", true), b"a b+/%zz%4");
        assert_eq!(decode("a+b", false), b"a+b");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/v1/p/quotas"), "/v1/p/quotas/");
        assert_eq!(canonical_uri("/v1/p/quotas/"), "/v1/p/quotas/");
        assert_eq!(canonical_uri("/a:b/c%20d/e+f/%7e"), "/a%3Ab/c%20d/e%2Bf/~/");
        assert_eq!(canonical_query(""), "");
        assert_eq!(
            canonical_query("b=2&a=z&a=y&&flag&c=x+y&d=%e2%82%ac"),
            "a=y&a=z&b=2&c=x%20y&d=%E2%82%AC&flag="
        );
        // Decoded byte order, not encoded order: `~` (0x7E) sorts after `%`-escaped `!`.
        assert_eq!(canonical_query("k=~&k=!"), "k=%21&k=~");
    }

    #[test]
    fn signed_headers_canonicalise_trimmed_and_per_value() {
        let headers = header_map(&[
            ("host", " example.com "),
            ("x-multi", "b"),
            ("x-multi", "a"),
        ]);
        let signed = ["host".to_owned(), "x-multi".to_owned()];
        assert_eq!(
            canonical_headers(&headers, &signed),
            Ok("host:example.com\nx-multi:a\nx-multi:b\n".to_owned())
        );
        let missing = ["host".to_owned(), "x-sdk-date".to_owned()];
        assert_eq!(
            canonical_headers(&headers, &missing),
            Err(Refusal::SignedHeaderMissing("x-sdk-date".to_owned()))
        );
    }

    #[test]
    fn every_refusal_has_its_own_message() {
        let refusals = [
            Refusal::Malformed("x".to_owned()),
            Refusal::BadDate,
            Refusal::Skewed("d".to_owned()),
            Refusal::Unsigned("host"),
            Refusal::SignedHeaderMissing("h".to_owned()),
            Refusal::BadHeaderValue("h".to_owned()),
            Refusal::UnknownAccessKey("AK".to_owned()),
            Refusal::SignatureMismatch("AK".to_owned()),
            Refusal::SecurityTokenMissing("AK".to_owned()),
            Refusal::SecurityTokenWrong("AK".to_owned()),
            Refusal::SecurityTokenUnexpected("AK".to_owned()),
            Refusal::ProjectMismatch {
                header: "a".to_owned(),
                path: "b".to_owned(),
            },
        ];
        let mut messages: Vec<String> = refusals.iter().map(Refusal::message).collect();
        assert!(
            messages
                .iter()
                .all(|m| m.starts_with("Incorrect IAM authentication information: "))
        );
        assert!(messages[7].contains("verify aksk signature fail"));
        messages.sort();
        messages.dedup();
        assert_eq!(messages.len(), refusals.len());
    }

    /// Characters that stress the encoding: unreserved, reserved, space, `%`, `+`, unicode.
    fn tricky_string() -> impl Strategy<Value = String> {
        const CHARS: &[char] = &[
            'a', 'Z', '0', '-', '_', '.', '~', ' ', '+', '%', '&', '=', '?', '/', '#', ':', '@',
            '!', '$', '\'', '(', ')', '*', ',', ';', '[', ']', '"', '<', '>', '\\', '^', '`', '{',
            '|', '}', 'é', '€', '😀', '\u{7f}', '\t',
        ];
        prop::collection::vec(prop::sample::select(CHARS), 0..8).prop_map(String::from_iter)
    }

    /// Another correct wire encoding: space as `+`, lower-case hex, sub-delimiters that are
    /// legal in a query left as they are.
    fn form_encode(s: &str) -> String {
        let mut out = String::new();
        for &b in s.as_bytes() {
            match b {
                b' ' => out.push('+'),
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(char::from(b));
                }
                b'!' | b'$' | b'\'' | b'(' | b')' | b'*' | b',' | b';' | b':' | b'@' | b'/' => {
                    out.push(char::from(b));
                }
                _ => out.push_str(&format!("%{b:02x}")),
            }
        }
        out
    }

    fn is_canonically_encoded(s: &str) -> bool {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' => {
                    let hex_ok = b
                        .get(i + 1..i + 3)
                        .is_some_and(|h| h.iter().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F')));
                    if !hex_ok {
                        return false;
                    }
                    i += 3;
                }
                c if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') => i += 1,
                _ => return false,
            }
        }
        true
    }

    proptest! {
        #[test]
        fn encoding_round_trips_and_leaves_only_unreserved(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let encoded = encode(&bytes);
            prop_assert!(is_canonically_encoded(&encoded), "{}", encoded);
            prop_assert_eq!(decode(&encoded, true), bytes.clone());
            prop_assert_eq!(decode(&encoded, false), bytes);
        }

        #[test]
        fn encoding_is_injective(a in tricky_string(), b in tricky_string()) {
            prop_assert_eq!(a == b, encode(a.as_bytes()) == encode(b.as_bytes()));
        }

        #[test]
        fn unreserved_strings_are_kept(s in "[A-Za-z0-9._~-]{0,32}") {
            prop_assert_eq!(encode(s.as_bytes()), s);
        }

        #[test]
        fn strings_round_trip(s in any::<String>()) {
            let encoded = encode(s.as_bytes());
            prop_assert!(is_canonically_encoded(&encoded));
            prop_assert_eq!(decode(&encoded, true), s.into_bytes());
        }

        #[test]
        fn canonical_query_ignores_order_and_wire_encoding(
            pairs in prop::collection::vec(
                (prop::sample::select(&["a", "b", "B", "a b", "é", "k+", "~"][..]), tricky_string()),
                0..8,
            ),
            rotate in 0usize..8,
        ) {
            let strict: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k.as_bytes()), encode(v.as_bytes())))
                .collect();
            let mut shuffled: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
                .collect();
            if !shuffled.is_empty() {
                let n = rotate % shuffled.len();
                shuffled.rotate_left(n);
                shuffled.reverse();
            }
            let canonical = canonical_query(&strict.join("&"));
            prop_assert_eq!(&canonical, &canonical_query(&shuffled.join("&")));
            // Idempotent, canonically encoded, and it decodes back to the same pairs, sorted.
            prop_assert_eq!(&canonical, &canonical_query(&canonical));
            let mut want: Vec<(Vec<u8>, Vec<u8>)> = pairs
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect();
            want.sort();
            let got: Vec<(Vec<u8>, Vec<u8>)> = canonical
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    prop_assert!(is_canonically_encoded(k) && is_canonically_encoded(v), "{}", p);
                    Ok((decode(k, false), decode(v, false)))
                })
                .collect::<Result<_, TestCaseError>>()?;
            prop_assert_eq!(got, want);
        }

        #[test]
        fn canonical_uri_encodes_each_segment(segments in prop::collection::vec(tricky_string(), 1..5)) {
            let mut want = segments
                .iter()
                .map(|s| encode(s.as_bytes()))
                .collect::<Vec<_>>()
                .join("/");
            want.insert(0, '/');
            if !want.ends_with('/') {
                want.push('/');
            }
            let strict = format!("/{}", segments.iter().map(|s| encode(s.as_bytes())).collect::<Vec<_>>().join("/"));
            // A path may carry sub-delimiters, `:` and `@` unescaped, and lower-case hex.
            let loose = format!(
                "/{}",
                segments
                    .iter()
                    .map(|s| form_encode(s).replace('+', "%20").replace('/', "%2f"))
                    .collect::<Vec<_>>()
                    .join("/")
            );
            prop_assert_eq!(canonical_uri(&strict), want.clone());
            prop_assert_eq!(canonical_uri(&loose), want.clone());
            prop_assert_eq!(canonical_uri(&want), want.clone());
            prop_assert!(want.ends_with('/'));
        }
    }
}
