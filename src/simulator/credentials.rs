//! Temporary-credential sources, on the same server as everything else so that a client needs
//! only a base URL: the ECS/BMS metadata service (session token, then security key), CCE pod
//! identity, and STS `assume-with-oidc`. Each answers a temporary AK/SK + security token in
//! its own key-name variant; the pair is added to [`World::aksk`] with its expiry, so the
//! cloud routes accept it (with the matching `X-Security-Token`) until then.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use hyper::StatusCode;
use hyper::header::{AUTHORIZATION, HeaderMap};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::lock;
use super::reply::Reply;
use super::world::{SimAkSk, World};

/// How many issued credentials [`Store`] remembers, and how many issued pairs the world keeps.
const MAX_ISSUED: usize = 10_000;
/// Longest metadata session token lifetime (`X-Metadata-Token-Ttl-Seconds`), as on ECS.
pub const MAX_METADATA_SESSION_TTL_SECS: u64 = 21_600;
/// Default lifetime of what the metadata service and pod identity issue.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// The body of the metadata service's 401 when no agency is bound to the server.
pub const AGENCY_NOT_CONFIGURED: &str = "Please configure Cloud Service Agency first";

/// Which source issued a temporary credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CredentialSource {
    /// `GET /openstack/latest/securitykey`.
    EcsMetadata,
    /// CCE pod identity (`POST` to [`super::TemporaryCredentials::pod_identity_path`]).
    PodIdentity,
    /// `POST /v5/agencies/assume-with-oidc`.
    Oidc,
}

/// One temporary credential a source issued, as [`super::Simulator::issued_credentials`]
/// reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCredential {
    /// Who issued it.
    pub source: CredentialSource,
    /// Temporary access key.
    pub access_key: String,
    /// Its secret key.
    pub secret_key: String,
    /// The `X-Security-Token` it needs.
    pub security_token: String,
    /// When it was issued (monotonic clock).
    pub issued: Instant,
    /// When the cloud routes start refusing it (as answered, on the wall clock).
    pub expires_at: SystemTime,
}

/// Metadata session tokens and the log of issued credentials.
#[derive(Debug, Default)]
pub(crate) struct Store {
    /// Metadata session token -> when it expires.
    sessions: Mutex<HashMap<String, Instant>>,
    log: Mutex<VecDeque<IssuedCredential>>,
}

impl Store {
    /// Every credential issued so far (the last [`MAX_ISSUED`]), oldest first.
    pub(crate) fn issued(&self) -> Vec<IssuedCredential> {
        lock(&self.log).iter().cloned().collect()
    }

    /// Expires every metadata session token (the next security-key request gets 401).
    pub(crate) fn expire_sessions(&self) {
        let now = Instant::now();
        for at in lock(&self.sessions).values_mut() {
            *at = now;
        }
    }

    fn session_valid(&self, token: &str) -> bool {
        lock(&self.sessions)
            .get(token)
            .is_some_and(|at| Instant::now() < *at)
    }
}

/// A plain-text answer, as the metadata service gives for errors.
fn plain(status: StatusCode, body: &str) -> Reply {
    Reply {
        status,
        body: body.to_owned(),
        headers: vec![("Content-Type".to_owned(), "text/plain".to_owned())],
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `PUT /meta-data/latest/api/token` with `X-Metadata-Token-Ttl-Seconds: 1..=21600`: a session
/// token in the body (text). An older metadata service
/// ([`super::TemporaryCredentials::metadata_session_tokens`] `false`) answers 404.
pub(crate) fn metadata_token(world: &World, store: &Store, headers: &HeaderMap) -> Reply {
    if !world.temporary.metadata_session_tokens {
        return plain(StatusCode::NOT_FOUND, "404 Not Found");
    }
    let ttl = header(headers, "x-metadata-token-ttl-seconds")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|t| (1..=MAX_METADATA_SESSION_TTL_SECS).contains(t));
    let Some(ttl) = ttl else {
        return plain(
            StatusCode::BAD_REQUEST,
            "400 Bad Request: X-Metadata-Token-Ttl-Seconds must be an integer from 1 to 21600",
        );
    };
    let token = format!("SIMMETA{:032x}", rand::random::<u128>());
    let expires = Instant::now() + Duration::from_secs(ttl);
    {
        let mut sessions = lock(&store.sessions);
        if sessions.len() >= MAX_ISSUED {
            let now = Instant::now();
            sessions.retain(|_, at| *at > now);
        }
        sessions.insert(token.clone(), expires);
    }
    let mut reply = plain(StatusCode::OK, &token);
    reply
        .headers
        .push(("X-Metadata-Token-Ttl-Seconds".to_owned(), ttl.to_string()));
    reply
}

/// `GET /openstack/latest/securitykey`: with a valid `X-Metadata-Token` (unless the service
/// is an older one), `{"credential":{"access","secret","securitytoken","expires_at"}}`. 401
/// for a missing, unknown or expired session token, and 401 [`AGENCY_NOT_CONFIGURED`] when
/// no agency is bound.
pub(crate) fn metadata_security_key(
    world: &mut World,
    store: &Store,
    headers: &HeaderMap,
) -> Reply {
    if world.temporary.metadata_session_tokens {
        let valid = header(headers, "x-metadata-token").is_some_and(|t| store.session_valid(t));
        if !valid {
            return plain(StatusCode::UNAUTHORIZED, "401 Unauthorized");
        }
    }
    if !world.temporary.metadata_agency {
        return Reply::json(
            StatusCode::UNAUTHORIZED,
            &json!({ "error": { "code": 401, "message": AGENCY_NOT_CONFIGURED } }),
        );
    }
    let lifetime = world.temporary.lifetime.unwrap_or(DEFAULT_LIFETIME);
    let c = issue(world, store, CredentialSource::EcsMetadata, lifetime);
    Reply::json(
        StatusCode::OK,
        &json!({ "credential": {
            "access": c.access_key,
            "secret": c.secret_key,
            "securitytoken": c.security_token,
            "expires_at": format_time(c.expires_at, 6),
        }}),
    )
}

/// CCE pod identity: `POST` with `Authorization: <token>` (one of
/// [`super::TemporaryCredentials::pod_identity_tokens`]) and a JSON object body (`{}`);
/// answers `{"credentials":{"accessKeyId","secretAccessKey","securityToken","expiration"},...}`.
pub(crate) fn pod_identity(
    world: &mut World,
    store: &Store,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let token = header(headers, AUTHORIZATION.as_str()).map(str::trim);
    let known = token.is_some_and(|t| {
        !t.is_empty() && world.temporary.pod_identity_tokens.iter().any(|k| k == t)
    });
    if !known {
        return Reply::error(
            StatusCode::UNAUTHORIZED,
            "CCE.01401001",
            "Unauthorized: the pod identity token is missing, invalid or expired",
        );
    }
    if !matches!(serde_json::from_slice::<Value>(body), Ok(Value::Object(_))) {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "CCE.01400001",
            "Bad request: the body must be a JSON object",
        );
    }
    let lifetime = world.temporary.lifetime.unwrap_or(DEFAULT_LIFETIME);
    let c = issue(world, store, CredentialSource::PodIdentity, lifetime);
    let agency = world
        .temporary
        .oidc_agency_urns
        .first()
        .cloned()
        .unwrap_or_default();
    Reply::json(
        StatusCode::OK,
        &json!({
            "assumedAgency": { "urn": agency, "id": format!("{:032x}", rand::random::<u128>()) },
            "audience": "sts.myhuaweicloud.com",
            "credentials": {
                "accessKeyId": c.access_key,
                "secretAccessKey": c.secret_key,
                "securityToken": c.security_token,
                "expiration": format_time(c.expires_at, 6),
            },
            "podIdentityAssociationId": format!("{:032x}", rand::random::<u128>()),
            "subject": { "namespace": "monitoring", "serviceAccount": "quota-exporter" },
        }),
    )
}

fn sts_error(status: StatusCode, code: &str, message: &str) -> Reply {
    Reply::error(status, code, message)
}

/// `POST /v5/agencies/assume-with-oidc` (unsigned JSON): checks provider, agency and id token
/// against the world, then answers
/// `{"credentials":{"access_key_id","secret_access_key","security_token","expiration"},...}`.
pub(crate) fn assume_with_oidc(world: &mut World, store: &Store, body: &[u8]) -> Reply {
    let invalid = |what: &str| {
        sts_error(
            StatusCode::BAD_REQUEST,
            "STS.0001",
            &format!("Invalid request body: {what}"),
        )
    };
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return invalid("not a JSON object");
    };
    let text = |key: &str| {
        fields
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let (Some(provider), Some(agency), Some(session), Some(id_token)) = (
        text("provider_urn"),
        text("agency_urn"),
        text("agency_session_name"),
        text("id_token"),
    ) else {
        return invalid("provider_urn, agency_urn, agency_session_name and id_token are required");
    };
    let session_ok = (2..=64).contains(&session.len())
        && session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !session_ok {
        return invalid("agency_session_name must be 2 to 64 of A-Za-z0-9_+=,.@-");
    }
    let duration = match fields.get("duration_seconds") {
        None | Some(Value::Null) => 3600,
        Some(v) => match v.as_u64().filter(|d| (900..=43_200).contains(d)) {
            Some(d) => d,
            None => return invalid("duration_seconds must be an integer from 900 to 43200"),
        },
    };
    let t = &world.temporary;
    if !t.oidc_provider_urns.iter().any(|p| p == provider) {
        return sts_error(
            StatusCode::NOT_FOUND,
            "STS.0004",
            "The identity provider does not exist",
        );
    }
    if !t.oidc_agency_urns.iter().any(|a| a == agency) {
        return sts_error(
            StatusCode::FORBIDDEN,
            "STS.0005",
            "The agency does not exist or does not trust the identity provider",
        );
    }
    if !t.oidc_id_tokens.iter().any(|k| k == id_token) {
        return sts_error(
            StatusCode::UNAUTHORIZED,
            "STS.0006",
            "The id_token is invalid or has expired",
        );
    }
    let lifetime = t.lifetime.unwrap_or(Duration::from_secs(duration));
    let c = issue(world, store, CredentialSource::Oidc, lifetime);
    Reply::json(
        StatusCode::OK,
        &json!({
            "credentials": {
                "access_key_id": c.access_key,
                "secret_access_key": c.secret_key,
                "security_token": c.security_token,
                "expiration": format_time(c.expires_at, 3),
            },
            "assumed_agency": {
                "agency_session_id": format!("{:032x}", rand::random::<u128>()),
                "agency_session_urn": format!("{agency}:{session}").replacen(":agency:", ":assumed-agency:", 1),
            },
        }),
    )
}

/// Issues a fresh temporary pair lasting `lifetime`: adds it to [`World::aksk`] and the log.
fn issue(
    world: &mut World,
    store: &Store,
    source: CredentialSource,
    lifetime: Duration,
) -> IssuedCredential {
    // At most a century, so that the expiry always has a calendar date to answer.
    let lifetime = lifetime.min(Duration::from_secs(100 * 365 * 86_400));
    let now = SystemTime::now();
    let expires_at = truncate_to_millis(now.checked_add(lifetime).unwrap_or(now));
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let pick = |n: usize, alphabet: &[u8]| -> String {
        (0..n)
            .map(|_| char::from(alphabet[rand::random_range(0..alphabet.len())]))
            .collect()
    };
    let access_key = format!("SIMSTS{}", pick(14, ALNUM));
    let secret_key = pick(
        40,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    );
    let security_token = format!(
        "gQ5jbi1ub3J0aC00SIMSTS{}",
        pick(
            96,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )
    );
    let issued = IssuedCredential {
        source,
        access_key: access_key.clone(),
        secret_key: secret_key.clone(),
        security_token: security_token.clone(),
        issued: Instant::now(),
        expires_at,
    };
    // Expired pairs stay, so that using one answers "expired" rather than "unknown"; only
    // very many issues make the oldest expired ones go.
    let temporary = world.aksk.iter().filter(|k| k.expires_at.is_some()).count();
    if temporary >= MAX_ISSUED {
        world
            .aksk
            .retain(|k| k.expires_at.is_none_or(|at| at > now));
    }
    world
        .aksk
        .push(SimAkSk::temporary(access_key, secret_key, security_token).expiring(expires_at));
    let mut log = lock(&store.log);
    if log.len() >= MAX_ISSUED {
        log.pop_front();
    }
    log.push_back(issued.clone());
    issued
}

fn truncate_to_millis(t: SystemTime) -> SystemTime {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => {
            SystemTime::UNIX_EPOCH
                + Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        }
        Err(_) => t,
    }
}

/// `2026-12-01T10:00:00.000000Z` (`digits` 6) or `2026-12-01T10:00:00.000Z` (3); empty for a
/// time without a calendar date (never issued: see [`issue`]).
pub(crate) fn format_time(t: SystemTime, digits: u8) -> String {
    let since = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).ok(),
        Err(e) => i64::try_from(e.duration().as_nanos()).ok().map(|n| -n),
    };
    let Some(t) = since.and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).ok())
    else {
        return String::new();
    };
    let formatted = if digits == 3 {
        t.format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
    } else {
        t.format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        ))
    };
    formatted.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_like_the_sources() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_119_200_123);
        assert_eq!(format_time(t, 6), "2026-12-01T10:00:00.123000Z");
        assert_eq!(format_time(t, 3), "2026-12-01T10:00:00.123Z");
        assert_eq!(
            truncate_to_millis(t + Duration::from_nanos(999_999)),
            t,
            "answered expiries are never later than enforced ones"
        );
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(format_time(far, 6), "");
    }

    #[test]
    fn issue_adds_an_expiring_pair_and_logs_it() {
        let mut world = World::seeds();
        let store = Store::default();
        let before = world.aksk.len();
        let c = issue(&mut world, &store, CredentialSource::Oidc, Duration::MAX);
        assert_eq!(world.aksk.len(), before + 1);
        let pair = world.aksk.last().cloned().unwrap_or_else(|| panic!("pair"));
        assert_eq!(pair.access_key, c.access_key);
        assert_eq!(
            pair.security_token.as_deref(),
            Some(c.security_token.as_str())
        );
        assert_eq!(pair.expires_at, Some(c.expires_at));
        assert!(!format_time(c.expires_at, 6).is_empty(), "lifetime capped");
        assert_eq!(store.issued(), vec![c]);
    }
}
