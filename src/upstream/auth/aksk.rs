//! AK/SK request signing (`SDK-HMAC-SHA256`), as pure functions.
//!
//! Canonical request = method, canonical URI, canonical query, canonical headers, signed
//! header names and the body's SHA-256, joined by newlines; the string to sign adds the
//! algorithm and `X-Sdk-Date`; the signature is HMAC-SHA256 with the secret key. The four
//! public SDK test vectors pin this byte for byte (see the tests).

use hmac::{Hmac, Mac};
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};

/// The algorithm name in the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// Percent-encodes one path segment, query key or query value: everything but
/// `A-Za-z0-9-_.~` is escaped (upper-case hex), as the SDKs do. The transport's encoder,
/// so that what is sent and what is signed cannot differ.
pub use crate::upstream::transport::encode_component as encode;

/// What gets signed, independent of any HTTP library.
#[derive(Clone, Debug)]
pub struct SigningInput<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path as sent (percent-encoded or not; it is decoded and re-encoded per segment).
    pub path: &'a str,
    /// Decoded query pairs, in any order; repeated keys allowed.
    pub query: &'a [(String, String)],
    /// The headers to sign (`name`, `value`), names in any case.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

/// The canonical URI: each segment decoded then escaped, always ending in `/`.
pub fn canonical_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        let decoded = percent_decode_str(segment).decode_utf8_lossy();
        out.push_str(&encode(&decoded));
    }
    out.push('/');
    out
}

/// The canonical query: keys sorted, values sorted within a key, `enc(k)=enc(v)` by `&`.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> =
        query.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Canonical header block (`name:value\n` each, sorted) and the signed header list.
pub fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut h: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    h.sort();
    let block: String = h.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let names = h
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (block, names)
}

/// The canonical request and the signed header list.
pub fn canonical_request(input: &SigningInput<'_>) -> (String, String) {
    let (headers, signed) = canonical_headers(input.headers);
    let body_hash = hex::encode(Sha256::digest(input.body));
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        input.method.to_ascii_uppercase(),
        canonical_uri(input.path),
        canonical_query(input.query),
        headers,
        signed,
        body_hash
    );
    (canonical, signed)
}

/// The string to sign for a canonical request at `sdk_date` (`YYYYMMDDTHHMMSSZ`).
pub fn string_to_sign(sdk_date: &str, canonical: &str) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

/// The hex signature of `input` with secret key `sk`. `sdk_date` must be the value of the
/// signed `x-sdk-date` header.
pub fn signature(sk: &str, sdk_date: &str, input: &SigningInput<'_>) -> (String, String) {
    let (canonical, signed) = canonical_request(input);
    let sts = string_to_sign(sdk_date, &canonical);
    // HMAC accepts keys of any length; the error branch cannot happen.
    let mut mac = match Hmac::<Sha256>::new_from_slice(sk.as_bytes()) {
        Ok(m) => m,
        Err(_) => return (String::new(), signed),
    };
    mac.update(sts.as_bytes());
    (hex::encode(mac.finalize().into_bytes()), signed)
}

/// The `Authorization` header value.
pub fn authorization(ak: &str, sk: &str, sdk_date: &str, input: &SigningInput<'_>) -> String {
    let (sig, signed) = signature(sk, sdk_date, input);
    format!("{ALGORITHM} Access={ak}, SignedHeaders={signed}, Signature={sig}")
}

/// `X-Sdk-Date` for a time: `YYYYMMDDTHHMMSSZ` in UTC.
pub fn sdk_date(t: std::time::SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    dt.format(time::macros::format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .unwrap_or_default()
}

/// The `host` header value for a URL: host, plus the port when it is not the default.
pub fn host_header(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// Signs a request in place: sets `Host`, `X-Sdk-Date`, `X-Project-Id`, the security
/// token when given, and `Authorization`.
pub fn sign_request(
    req: &mut reqwest::Request,
    ak: &str,
    sk: &str,
    security_token: Option<&str>,
    project_id: &str,
    now: std::time::SystemTime,
) -> Result<(), reqwest::header::InvalidHeaderValue> {
    use reqwest::header::{AUTHORIZATION, HOST, HeaderValue};
    let date = sdk_date(now);
    let host = host_header(req.url());
    let mut headers = vec![
        ("host".to_string(), host.clone()),
        ("x-sdk-date".to_string(), date.clone()),
        ("x-project-id".to_string(), project_id.to_string()),
    ];
    if let Some(t) = security_token {
        headers.push(("x-security-token".to_string(), t.to_string()));
    }
    let query: Vec<(String, String)> = req
        .url()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let path = req.url().path().to_string();
    let body: Vec<u8> = req
        .body()
        .and_then(|b| b.as_bytes())
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let auth = authorization(
        ak,
        sk,
        &date,
        &SigningInput {
            method: req.method().as_str(),
            path: &path,
            query: &query,
            headers: &headers,
            body: &body,
        },
    );
    let h = req.headers_mut();
    h.insert(HOST, HeaderValue::from_str(&host)?);
    h.insert("x-sdk-date", HeaderValue::from_str(&date)?);
    h.insert("x-project-id", HeaderValue::from_str(project_id)?);
    if let Some(t) = security_token {
        let mut v = HeaderValue::from_str(t)?;
        v.set_sensitive(true);
        h.insert("x-security-token", v);
    }
    let mut v = HeaderValue::from_str(&auth)?;
    v.set_sensitive(true);
    h.insert(AUTHORIZATION, v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vector(method: &str, url: &str, date: &str, body: &[u8], sign_host: bool) -> String {
        let url = reqwest::Url::parse(url).expect("url");
        let query: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut headers = vec![("X-Sdk-Date".to_string(), date.to_string())];
        if sign_host {
            headers.push(("Host".to_string(), host_header(&url)));
        }
        signature(
            "SecretKey",
            date,
            &SigningInput {
                method,
                path: url.path(),
                query: &query,
                headers: &headers,
                body,
            },
        )
        .0
    }

    /// The public SDK test vectors from API-NOTES, byte for byte.
    #[test]
    fn published_test_vectors() {
        assert_eq!(
            vector(
                "GET",
                "https://service.endpoint.myhuaweicloud.com/resources?size=1",
                "20200608T023900Z",
                b"",
                true
            ),
            "cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842"
        );
        assert_eq!(
            vector(
                "POST",
                "https://service.endpoint.myhuaweicloud.com/resources?size=1",
                "20200608T023900Z",
                br#"{"name":"test","id":1}"#,
                true
            ),
            "436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f"
        );
        assert_eq!(
            vector(
                "GET",
                "https://example.huaweicloud.com/path?limit=1",
                "20060102T150405Z",
                b"",
                false
            ),
            "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"
        );
        assert_eq!(
            vector(
                "POST",
                "https://example.huaweicloud.com/path?key=value",
                "20060102T150405Z",
                b"{\"Name\":\"test\",\"Id\":1}\n",
                false
            ),
            "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"
        );
    }

    #[test]
    fn canonical_parts() {
        assert_eq!(
            canonical_uri("/v2/p/apic/instances/i/livedata-quota"),
            "/v2/p/apic/instances/i/livedata-quota/"
        );
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/a%20b/c"), "/a%20b/c/");
        let q = vec![
            ("b".to_string(), "2".to_string()),
            ("a".to_string(), "z".to_string()),
            ("a".to_string(), "y x".to_string()),
        ];
        assert_eq!(canonical_query(&q), "a=y%20x&a=z&b=2");
        let (block, names) = canonical_headers(&[
            ("X-Sdk-Date".into(), " 20200608T023900Z ".into()),
            ("Host".into(), "h".into()),
        ]);
        assert_eq!(block, "host:h\nx-sdk-date:20200608T023900Z\n");
        assert_eq!(names, "host;x-sdk-date");
    }

    #[test]
    fn sdk_date_format() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_591_583_940);
        assert_eq!(sdk_date(t), "20200608T023900Z");
    }

    #[test]
    fn sign_request_sets_the_headers_and_matches_the_pure_function() {
        let url = reqwest::Url::parse(
            "http://127.0.0.1:8080/v2/p1/apic/instances/i%201/app-quotas?offset=0&limit=500",
        )
        .expect("url");
        let mut req = reqwest::Request::new(reqwest::Method::GET, url);
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_591_583_940);
        sign_request(&mut req, "AK", "SK", Some("tok"), "p1", t).expect("sign");
        let h = req.headers();
        assert_eq!(h["host"], "127.0.0.1:8080");
        assert_eq!(h["x-sdk-date"], "20200608T023900Z");
        assert_eq!(h["x-project-id"], "p1");
        assert_eq!(h["x-security-token"], "tok");
        let auth = h["authorization"].to_str().expect("ascii");
        assert!(auth.starts_with("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-project-id;x-sdk-date;x-security-token, Signature="));
        let query = vec![
            ("offset".to_string(), "0".to_string()),
            ("limit".to_string(), "500".to_string()),
        ];
        let headers = vec![
            ("host".to_string(), "127.0.0.1:8080".to_string()),
            ("x-sdk-date".to_string(), "20200608T023900Z".to_string()),
            ("x-project-id".to_string(), "p1".to_string()),
            ("x-security-token".to_string(), "tok".to_string()),
        ];
        let (sig, _) = signature(
            "SK",
            "20200608T023900Z",
            &SigningInput {
                method: "GET",
                path: "/v2/p1/apic/instances/i 1/app-quotas",
                query: &query,
                headers: &headers,
                body: b"",
            },
        );
        assert!(auth.ends_with(&sig));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Only unreserved characters stay; everything else is %XX with upper-case hex,
        /// and decoding gives the original back.
        #[test]
        fn encoding_is_reversible_and_strict(s in "\\PC*") {
            let e = encode(&s);
            prop_assert!(e.chars().all(|c| c.is_ascii_alphanumeric() || "-_.~%ABCDEF".contains(c)));
            let mut chars = e.chars();
            while let Some(c) = chars.next() {
                if c == '%' {
                    let hi = chars.next();
                    let lo = chars.next();
                    prop_assert!(hi.is_some_and(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
                    prop_assert!(lo.is_some_and(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
                }
            }
            prop_assert_eq!(percent_decode_str(&e).decode_utf8_lossy().into_owned(), s);
        }

        /// Spaces, unicode and reserved characters in a path segment survive the round trip
        /// through a URL, and the canonical URI ends in exactly one slash.
        #[test]
        fn canonical_uri_of_encoded_path(seg in "[ a-zA-Z0-9üß漢/?#&=+%-]{1,20}") {
            let path = format!("/v2/{}", encode(&seg));
            let c = canonical_uri(&path);
            prop_assert!(c.ends_with('/') && !c.ends_with("//"));
            prop_assert_eq!(c, format!("/v2/{}/", encode(&seg)));
        }

        /// The canonical query does not depend on the order pairs came in, and repeated
        /// keys keep every value.
        #[test]
        fn canonical_query_is_order_independent(pairs in proptest::collection::vec(("[a-c ]{1,3}", "[x-z =&]{0,3}"), 0..8)) {
            let q: Vec<(String, String)> = pairs.clone();
            let mut rev = q.clone();
            rev.reverse();
            prop_assert_eq!(canonical_query(&q), canonical_query(&rev));
            let n = if q.is_empty() { 0 } else { canonical_query(&q).split('&').count() };
            prop_assert_eq!(n, q.len());
        }
    }
}
