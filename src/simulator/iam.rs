//! Authentication: the IAM password-token stub (`POST /v3/auth/tokens`) and the credential
//! check every cloud route does first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use hyper::StatusCode;
use hyper::header::AUTHORIZATION;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::reply::{ErrorStyle, Reply};
use super::world::World;
use super::{RequestView, lock};

const MAX_ISSUED_TOKENS: usize = 10_000;

/// Tokens the IAM stub issued, with their expiry and project scope.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    issued: Mutex<HashMap<String, Grant>>,
}

#[derive(Clone, Debug)]
struct Grant {
    /// `None`: never expires (lifetime too large to represent).
    expires: Option<Instant>,
    /// `None`: unscoped, accepted for every project.
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
}

/// Checks the credentials of a request to a cloud route for `project`: a static token from
/// the world, a token the IAM stub issued (unexpired, scoped to `project`), or AK/SK.
pub(crate) fn authorize(
    world: &World,
    tokens: &TokenStore,
    request: &RequestView<'_>,
    project: &str,
    style: ErrorStyle,
) -> Result<(), Reply> {
    let token = request
        .headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let Some(token) = token else {
        let signed = request
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("SDK-HMAC-SHA256"));
        if signed {
            // AK/SK verification goes here: look the `Access=` key up in the world, recompute
            // the SDK-HMAC-SHA256 signature over `request` (method, path, query, signed
            // headers, body; see API-NOTES), check `X-Sdk-Date` skew, 401 `APIG.0301` on mismatch.
            return Err(Reply::error(
                StatusCode::UNAUTHORIZED,
                "APIG.0301",
                "Incorrect IAM authentication information: AK/SK signing is not supported by the simulator yet",
            ));
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
    if grant.project.as_deref().is_some_and(|p| p != project) {
        return Err(Reply::standard_error(style, StatusCode::FORBIDDEN));
    }
    Ok(())
}

/// `POST /v3/auth/tokens`: checks the password-auth body against [`World::iam`] and issues a
/// token in the `X-Subject-Token` header, scoped to the requested project.
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
    if user != iam.username || password != iam.password || domain != iam.domain {
        return Reply::iam_error(
            StatusCode::UNAUTHORIZED,
            "The username or password is wrong.",
        );
    }
    let project = match request.pointer("/auth/scope/project") {
        None => None,
        Some(scope) => {
            let id = scope.get("id").and_then(Value::as_str);
            let name = scope.get("name").and_then(Value::as_str);
            let found = world.projects.iter().find(|p| match (id, name) {
                (Some(id), _) => p.id == id,
                (None, Some(name)) => p.name == name || p.region == name,
                (None, None) => false,
            });
            match found {
                Some(p) => Some(p),
                None => {
                    return Reply::iam_error(
                        StatusCode::UNAUTHORIZED,
                        "The project in the scope does not exist.",
                    );
                }
            }
        }
    };

    let token = format!(
        "MIIsim{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    let now = OffsetDateTime::now_utc();
    let expires_at = time::Duration::try_from(iam.token_lifetime)
        .ok()
        .and_then(|d| now.checked_add(d))
        .unwrap_or(now.replace_year(9999).unwrap_or(now));
    let iam_time =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    let format = |t: OffsetDateTime| t.format(&iam_time).unwrap_or_default();

    let mut token_body = json!({
        "expires_at": format(expires_at),
        "issued_at": format(now),
        "methods": ["password"],
        "user": { "name": user, "domain": { "name": domain } },
    });
    if let Some(p) = project {
        token_body["project"] =
            json!({ "id": p.id, "name": p.region, "domain": { "name": domain } });
    }
    {
        let mut issued = lock(&tokens.issued);
        let now = Instant::now();
        // Expired tokens are kept so that using one answers "expired", not "unknown"; only
        // a long-running simulator that issued very many tokens forgets the expired ones.
        if issued.len() >= MAX_ISSUED_TOKENS {
            issued.retain(|_, g| g.expires.is_none_or(|at| at > now));
        }
        issued.insert(
            token.clone(),
            Grant {
                expires: now.checked_add(iam.token_lifetime),
                project: project.map(|p| p.id.clone()),
            },
        );
    }
    let mut reply = Reply::json(StatusCode::CREATED, &json!({ "token": token_body }));
    reply.headers.push(("X-Subject-Token".to_owned(), token));
    reply
}
