//! Authentication: the IAM password-token stub (`POST /v3/auth/tokens`) and the credential
//! check every cloud route does first (static token, IAM token, or AK/SK via [`super::aksk`]):
//! [`authorize`] for project APIs, [`authorize_global`] for IAM's global list routes.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use hyper::StatusCode;
use hyper::header::AUTHORIZATION;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::aksk;
use super::reply::{ErrorStyle, Reply};
use super::world::World;
use super::{RequestView, lock};

const MAX_ISSUED_TOKENS: usize = 10_000;

/// One token the IAM stub issued, as [`super::Simulator::iam_issued`] reports it: count them
/// per `(user, project_id)` to check "one token per project" and "reused until refresh".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    /// IAM user name from the request.
    pub user: String,
    /// Account (domain) name from the request.
    pub domain: String,
    /// Project id of the scope (also when the request scoped by name); `None` for a
    /// domain-scoped token, which only IAM's list routes (`/v3/auth/projects`,
    /// `/v3/auth/domains`) accept.
    pub project_id: Option<String>,
    /// The token, as sent in `X-Subject-Token` (compare with requests' `X-Auth-Token`).
    pub token: String,
    /// When it was issued (monotonic clock).
    pub issued: Instant,
    /// When the cloud routes start refusing it, as issued (monotonic clock; `None`: the
    /// lifetime was too long to represent). [`super::Simulator::expire_issued_tokens`] does
    /// not change this record.
    pub expires: Option<Instant>,
    /// `issued` on the wall clock (`token.issued_at` of the answer).
    pub issued_at: SystemTime,
    /// `token.expires_at` of the answer, to microseconds; never later than `expires`.
    pub expires_at: SystemTime,
}

/// Tokens the IAM stub issued, with their expiry and project scope.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    issued: Mutex<HashMap<String, Grant>>,
    /// Every issue, oldest first (the last [`MAX_ISSUED_TOKENS`]).
    log: Mutex<VecDeque<IssuedToken>>,
}

#[derive(Clone, Debug)]
struct Grant {
    /// `None`: never expires (lifetime too large to represent).
    expires: Option<Instant>,
    /// `None`: domain-scoped, accepted for no project.
    project: Option<String>,
}

impl TokenStore {
    /// Makes every issued token expired, as if IAM had revoked them.
    pub(crate) fn expire_all(&self) {
        let now = Instant::now();
        for grant in lock(&self.issued).values_mut() {
            grant.expires = Some(now);
        }
    }

    /// Every token issued so far, oldest first.
    pub(crate) fn issued(&self) -> Vec<IssuedToken> {
        lock(&self.log).iter().cloned().collect()
    }
}

/// Checks the credentials of a request to a cloud route for `project`: a static token from
/// the world, a token the IAM stub issued (unexpired, scoped to `project`), or an AK/SK
/// signature of a pair in [`World::aksk`]. `X-Auth-Token` wins when both are sent.
pub(crate) fn authorize(
    world: &World,
    tokens: &TokenStore,
    request: &RequestView<'_>,
    project: &str,
    style: ErrorStyle,
) -> Result<(), Reply> {
    let Some(token) = auth_token(request) else {
        let signed = aksk_signed(request);
        if signed {
            // The API gateway checks signatures before any service sees the request, so
            // every service answers the gateway's `APIG.0301`.
            return aksk::verify(&world.aksk, request, project, OffsetDateTime::now_utc())
                .map(|_| ())
                .map_err(|refusal| {
                    Reply::error(StatusCode::UNAUTHORIZED, "APIG.0301", refusal.message())
                });
        }
        return Err(Reply::standard_error(style, StatusCode::UNAUTHORIZED));
    };
    if world.tokens.iter().any(|t| t == token) {
        return Ok(());
    }
    let issued = lock(&tokens.issued);
    let Some(grant) = issued.get(token) else {
        return Err(Reply::standard_error(style, StatusCode::UNAUTHORIZED));
    };
    if grant.expires.is_some_and(|at| Instant::now() >= at) {
        return Err(match style {
            ErrorStyle::Apig => Reply::error(
                StatusCode::UNAUTHORIZED,
                "APIG.0301",
                "Incorrect IAM authentication information: the token has expired",
            ),
            _ => Reply::standard_error(style, StatusCode::UNAUTHORIZED),
        });
    }
    if grant.project.as_deref() != Some(project) {
        return Err(Reply::standard_error(style, StatusCode::FORBIDDEN));
    }
    Ok(())
}

/// The request's non-empty `X-Auth-Token`.
fn auth_token<'a>(request: &'a RequestView<'_>) -> Option<&'a str> {
    request
        .headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// Whether the request carries an AK/SK `Authorization` header.
fn aksk_signed(request: &RequestView<'_>) -> bool {
    request
        .headers
        .get(AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().starts_with(aksk::ALGORITHM.as_bytes()))
}

/// Checks the credentials of a request to one of IAM's global routes (`/v3/auth/projects`,
/// `/v3/auth/domains`): a static token, an unexpired token the IAM stub issued (scoped to the
/// domain or to a project: both may list), or an AK/SK signature with the account's
/// `X-Domain-Id` (optional when `domain_id_required` is false: the domain list is how
/// clients learn it). Token failures answer in IAM's shape; signature failures as the
/// gateway does (`APIG.0301`).
pub(crate) fn authorize_global(
    world: &World,
    tokens: &TokenStore,
    request: &RequestView<'_>,
    domain_id_required: bool,
) -> Result<(), Reply> {
    let unauthorized = || Reply::standard_error(ErrorStyle::Iam, StatusCode::UNAUTHORIZED);
    let Some(token) = auth_token(request) else {
        let signed = aksk_signed(request);
        if !signed {
            return Err(unauthorized());
        }
        return aksk::verify_scoped(
            &world.aksk,
            request,
            aksk::Scope::Domain {
                id: &world.iam.domain_id,
                required: domain_id_required,
            },
            OffsetDateTime::now_utc(),
        )
        .map(|_| ())
        .map_err(|refusal| Reply::error(StatusCode::UNAUTHORIZED, "APIG.0301", refusal.message()));
    };
    if world.tokens.iter().any(|t| t == token) {
        return Ok(());
    }
    let issued = lock(&tokens.issued);
    match issued.get(token) {
        Some(grant) if grant.expires.is_none_or(|at| Instant::now() < at) => Ok(()),
        _ => Err(unauthorized()),
    }
}

/// `POST /v3/auth/tokens`: checks the password-auth body against [`World::iam`] (domain, user,
/// password) and its scope, then issues a token in the `X-Subject-Token` header that lasts
/// [`super::IamSettings::token_lifetime`].
///
/// The scope is required: `project` by `id` (must exist) or by `name` (a project's name or
/// region), or `domain` (by the account's `name` or `id`: a token only IAM's list routes
/// accept; another account answers 401). A disabled project answers 401. Answers 400 for a malformed body,
/// 401 for wrong credentials or an unknown project, in IAM's `{"error":{...}}` shape.
pub(crate) fn issue_token(world: &World, tokens: &TokenStore, body: &[u8]) -> Reply {
    let invalid = || Reply::iam_error(StatusCode::BAD_REQUEST, "The request body is invalid.");
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return invalid();
    };
    let text = |pointer: &str| request.pointer(pointer).and_then(Value::as_str);
    let password_method = request
        .pointer("/auth/identity/methods")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|m| m == "password"));
    let (Some(user), Some(password), Some(domain)) = (
        text("/auth/identity/password/user/name"),
        text("/auth/identity/password/user/password"),
        text("/auth/identity/password/user/domain/name"),
    ) else {
        return invalid();
    };
    if !password_method {
        return invalid();
    }
    let iam = &world.iam;
    // Compare all three, so that the answer does not tell which one was wrong.
    let user_ok = user == iam.username;
    let password_ok = password == iam.password;
    let domain_ok = domain == iam.domain;
    if !(user_ok & password_ok & domain_ok) {
        return Reply::iam_error(
            StatusCode::UNAUTHORIZED,
            "The username or password is wrong.",
        );
    }
    let project = match (
        request.pointer("/auth/scope/project"),
        request.pointer("/auth/scope/domain"),
    ) {
        (Some(scope), _) => {
            let id = scope.get("id").and_then(Value::as_str);
            let name = scope.get("name").and_then(Value::as_str);
            if id.is_none() && name.is_none() {
                return invalid();
            }
            let found = world.projects.iter().find(|p| match (id, name) {
                (Some(id), _) => p.id == id,
                (None, Some(name)) => p.iam_name() == name || p.name == name || p.region == name,
                (None, None) => false,
            });
            match found {
                Some(p) if !p.enabled => {
                    return Reply::iam_error(
                        StatusCode::UNAUTHORIZED,
                        "The project in the scope is disabled.",
                    );
                }
                Some(p) => Some(p),
                None => {
                    return Reply::iam_error(
                        StatusCode::UNAUTHORIZED,
                        "The project in the scope does not exist.",
                    );
                }
            }
        }
        (None, Some(scope)) if scope.is_object() => {
            // By name or id; either must be the account's.
            let name = scope.get("name").and_then(Value::as_str);
            let id = scope.get("id").and_then(Value::as_str);
            let ours = match (id, name) {
                (Some(id), _) => id == iam.domain_id,
                (None, Some(name)) => name == iam.domain,
                (None, None) => true,
            };
            if !ours {
                return Reply::iam_error(
                    StatusCode::UNAUTHORIZED,
                    "The domain in the scope does not exist.",
                );
            }
            None
        }
        _ => return invalid(),
    };

    let token = format!(
        "MIIsim{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    // Wall clock first, monotonic second: the expiry the client sees (`expires_at`, cut to
    // microseconds) is never later than the one the simulator enforces.
    let now = OffsetDateTime::now_utc();
    let issued = Instant::now();
    let expires_at = time::Duration::try_from(iam.token_lifetime)
        .ok()
        .and_then(|d| now.checked_add(d))
        .unwrap_or(now.replace_year(9999).unwrap_or(now));
    let expires_at = expires_at
        .replace_nanosecond(expires_at.nanosecond() / 1000 * 1000)
        .unwrap_or(expires_at);
    let iam_time =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    let format = |t: OffsetDateTime| t.format(&iam_time).unwrap_or_default();

    let mut token_body = json!({
        "expires_at": format(expires_at),
        "issued_at": format(now),
        "methods": ["password"],
        "user": { "name": user, "domain": { "name": domain } },
    });
    match project {
        Some(p) => {
            token_body["project"] =
                json!({ "id": p.id, "name": p.region, "domain": { "name": domain } });
        }
        None => token_body["domain"] = json!({ "id": iam.domain_id, "name": domain }),
    }
    let expires = issued.checked_add(iam.token_lifetime);
    {
        let mut grants = lock(&tokens.issued);
        // Expired tokens are kept so that using one answers "expired", not "unknown"; only
        // a long-running simulator that issued very many tokens forgets the expired ones.
        if grants.len() >= MAX_ISSUED_TOKENS {
            grants.retain(|_, g| g.expires.is_none_or(|at| at > issued));
        }
        grants.insert(
            token.clone(),
            Grant {
                expires,
                project: project.map(|p| p.id.clone()),
            },
        );
    }
    {
        let mut log = lock(&tokens.log);
        if log.len() >= MAX_ISSUED_TOKENS {
            log.pop_front();
        }
        log.push_back(IssuedToken {
            user: user.to_owned(),
            domain: domain.to_owned(),
            project_id: project.map(|p| p.id.clone()),
            token: token.clone(),
            issued,
            expires,
            issued_at: now.into(),
            expires_at: expires_at.into(),
        });
    }
    let mut reply = Reply::json(StatusCode::CREATED, &json!({ "token": token_body }));
    reply.headers.push(("X-Subject-Token".to_owned(), token));
    reply
}
