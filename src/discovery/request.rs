//! Discovery's list calls, through the one shared transport (rate limits, concurrency cap,
//! bounded reads, error decoding and counting as `api="discovery"`), with the same retry
//! rule as polls: retryable failures only, full-jitter back-off, never a signature failure.
//!
//! IAM's project list is a global service: AK/SK requests carry a signed `X-Domain-Id`
//! (the account id, asked from `GET /v3/auth/domains` once when not configured), an IAM
//! password credential uses a token scoped to its domain. ROMA Connect's instance list is a
//! project API, authorised like every poll of that project.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::decode::{self, ProjectList, RomaInstanceInfo};
use crate::config::{Credential, Discovery, Project, Secret};
use crate::model::api::Service;
use crate::model::outcome::{ErrorCode, PollError};
use crate::upstream::backoff::{Backoff, Jitter};
use crate::upstream::client::decode_failure;
use crate::upstream::decode::DecodeError;
use crate::upstream::transport::{UpstreamResponse, encode_component};
use crate::upstream::{UpstreamClient, auth::aksk};

/// Retries wait up to 250 ms, 500 ms, 1 s, ... up to 8 s, as polls do.
const RETRY_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(250),
    cap: Duration::from_secs(8),
    jitter: Jitter::Full,
};

/// Instances asked for per page (servers may answer fewer: paging follows `size`).
pub const INSTANCE_PAGE_LIMIT: usize = 100;

/// Most pages followed for one project: a server whose `total` never comes within reach
/// cannot keep discovery paging forever.
const MAX_INSTANCE_PAGES: usize = 1000;

/// What a credential holds between runs to talk to the global IAM: the account id (AK/SK)
/// and the domain-scoped token (IAM password).
#[derive(Debug, Default)]
pub struct GlobalSession {
    domain_id: Option<String>,
    token: Option<(Secret, Instant)>,
}

/// Runs `send` up to the client's attempts while failures are retryable.
async fn with_retries<T, F, Fut>(
    client: &UpstreamClient,
    what: &str,
    mut send: F,
) -> Result<T, PollError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, PollError>>,
{
    let mut attempt = 1;
    loop {
        match send().await {
            Ok(v) => return Ok(v),
            Err(e) if e.retryable() && attempt < client.max_attempts() => {
                let wait = RETRY_BACKOFF.delay(attempt);
                tracing::debug!(call = what, error_code = %e.code, attempt, wait_ms = wait.as_millis() as u64, "discovery: retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Decodes a 2xx body, counting a failure as a `decode` error of discovery.
fn decoded<T>(
    client: &UpstreamClient,
    response: &UpstreamResponse,
    decode: impl Fn(&[u8]) -> Result<T, DecodeError>,
) -> Result<T, PollError> {
    decode(&response.body).map_err(|e| {
        client
            .counters
            .count_error(Service::Discovery, &ErrorCode::Decode, 1);
        decode_failure(e, response)
    })
}

fn request(url: &str, timeout: Duration) -> Result<reqwest::Request, PollError> {
    let url = reqwest::Url::parse(url)
        .map_err(|e| PollError::local(ErrorCode::Config, format!("cannot build URL {url}: {e}")))?;
    let mut req = reqwest::Request::new(reqwest::Method::GET, url);
    *req.timeout_mut() = Some(timeout);
    req.headers_mut().insert(
        reqwest::header::ACCEPT,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    Ok(req)
}

fn header_error(credential: &str) -> PollError {
    PollError::local(
        ErrorCode::Auth,
        format!("credential `{credential}` holds characters not allowed in an HTTP header"),
    )
}

fn set_token(req: &mut reqwest::Request, token: &str, credential: &str) -> Result<(), PollError> {
    let mut v =
        reqwest::header::HeaderValue::from_str(token).map_err(|_| header_error(credential))?;
    v.set_sensitive(true);
    req.headers_mut().insert("x-auth-token", v);
    Ok(())
}

/// One authorised GET to the global IAM (`path` after `/v3`), sent and answered 2xx.
async fn iam_get(
    client: &UpstreamClient,
    discovery: &Discovery,
    session: &mut GlobalSession,
    path: &str,
    scope_domain: bool,
) -> Result<UpstreamResponse, PollError> {
    let url = format!("{}{path}", discovery.iam_endpoint.trim_end_matches('/'));
    let timeout = discovery.settings.timeout;
    let name = &discovery.credential.name;
    let mut req = request(&url, timeout)?;
    match &discovery.credential.credential {
        Credential::Token { token } => set_token(&mut req, token.expose(), name)?,
        Credential::AkSk {
            access_key,
            secret_key,
            security_token,
        } => {
            let auth = client.auth();
            let files = &discovery.credential.files;
            let access_key =
                auth.file_secret("access_key", &files.access_key, &Secret::new(access_key));
            let secret_key = auth.file_secret("secret_key", &files.secret_key, secret_key);
            let security_token = security_token
                .as_ref()
                .map(|t| auth.file_secret("security_token", &files.security_token, t));
            let domain = signed_domain(client, discovery, session, scope_domain).await?;
            aksk::sign_request_scoped(
                &mut req,
                access_key.expose(),
                secret_key.expose(),
                security_token.as_ref().map(Secret::expose),
                domain.as_deref().map(|v| ("x-domain-id", v)),
                SystemTime::now(),
            )
            .map_err(|_| header_error(name))?;
        }
        Credential::EcsMetadata { .. }
        | Credential::PodIdentity { .. }
        | Credential::Oidc { .. } => {
            let keys = client
                .auth()
                .temporary_keys(&discovery.credential, timeout)
                .await?;
            let domain = signed_domain(client, discovery, session, scope_domain).await?;
            aksk::sign_request_scoped(
                &mut req,
                &keys.access_key,
                keys.secret_key.expose(),
                Some(keys.security_token.expose()),
                domain.as_deref().map(|v| ("x-domain-id", v)),
                SystemTime::now(),
            )
            .map_err(|_| header_error(name))?;
        }
        Credential::IamPassword { .. } => {
            let token = domain_token(client, discovery, session).await?;
            set_token(&mut req, token.expose(), name)?;
        }
    }
    let result = client.transport().send(Service::Discovery, req).await;
    if matches!(&result, Err(e) if e.status == Some(401)) {
        // A revoked domain token: the next run asks for a new one.
        session.token = None;
    }
    result
}

/// The `X-Domain-Id` a signed request carries: the account id when `scope_domain`.
async fn signed_domain(
    client: &UpstreamClient,
    discovery: &Discovery,
    session: &mut GlobalSession,
    scope_domain: bool,
) -> Result<Option<String>, PollError> {
    if scope_domain {
        Ok(Some(domain_id(client, discovery, session).await?))
    } else {
        Ok(None)
    }
}

/// The account id for `X-Domain-Id`: configured, cached, or asked from IAM.
async fn domain_id(
    client: &UpstreamClient,
    discovery: &Discovery,
    session: &mut GlobalSession,
) -> Result<String, PollError> {
    if let Some(d) = discovery.domain_id.as_ref().or(session.domain_id.as_ref()) {
        return Ok(d.clone());
    }
    let response = Box::pin(iam_get(client, discovery, session, "/auth/domains", false)).await?;
    let id = decoded(client, &response, decode::decode_domain_id)?;
    tracing::debug!(credential = %discovery.credential.name, domain_id = %id, "discovery: account id from IAM");
    session.domain_id = Some(id.clone());
    Ok(id)
}

/// A token scoped to the credential's domain (IAM password), cached until half its life.
async fn domain_token(
    client: &UpstreamClient,
    discovery: &Discovery,
    session: &mut GlobalSession,
) -> Result<Secret, PollError> {
    if let Some((t, refresh_at)) = &session.token
        && Instant::now() < *refresh_at
    {
        return Ok(t.clone());
    }
    let Credential::IamPassword {
        iam_endpoint,
        domain,
        username,
        password,
    } = &discovery.credential.credential
    else {
        return Err(PollError::local(
            ErrorCode::Auth,
            "not an IAM password credential",
        ));
    };
    let body = serde_json::json!({
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {
                    "name": username,
                    "password": password.expose(),
                    "domain": {"name": domain}
                }}
            },
            "scope": {"domain": {"name": domain}}
        }
    });
    // The token comes from the credential's IAM, the list from the discovery's.
    let url = format!(
        "{}/auth/tokens?nocatalog=true",
        iam_endpoint.trim_end_matches('/')
    );
    let mut req = request(&url, discovery.settings.timeout)?;
    *req.method_mut() = reqwest::Method::POST;
    req.headers_mut().insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json;charset=utf8"),
    );
    *req.body_mut() = Some(body.to_string().into());
    let response = client
        .transport()
        .send(Service::Iam, req)
        .await
        .map_err(|mut e| {
            e.message = format!(
                "IAM refused a domain-scoped token for user `{username}` in domain `{domain}`: {}",
                e.message
            );
            e
        })?;
    let token = response
        .headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            client
                .counters
                .count_error(Service::Iam, &ErrorCode::Decode, 1);
            PollError {
                code: ErrorCode::Decode,
                status: Some(response.status),
                message: "IAM answered without an X-Subject-Token header".into(),
                request_id: response.request_id.clone(),
            }
        })?;
    let token = Secret::new(token);
    // Half of IAM's shortest usual lifetime (tokens last 24 h, can be revoked earlier).
    session.token = Some((
        token.clone(),
        Instant::now() + Duration::from_secs(6 * 3600),
    ));
    Ok(token)
}

/// `GET {iam}/auth/projects`: every project the credential can reach.
pub async fn list_projects(
    client: &UpstreamClient,
    discovery: &Discovery,
    session: &mut GlobalSession,
) -> Result<ProjectList, PollError> {
    let mut attempt = 1;
    loop {
        let result = match iam_get(client, discovery, session, "/auth/projects", true).await {
            Ok(response) => decoded(client, &response, decode::decode_projects),
            Err(e) => Err(e),
        };
        match result {
            Err(e) if e.retryable() && attempt < client.max_attempts() => {
                tokio::time::sleep(RETRY_BACKOFF.delay(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Every ROMA Connect instance of `project`, page after page (`offset` advances by each
/// page's `size` until `total`: servers answer fewer than `limit`).
pub async fn list_instances(
    client: &UpstreamClient,
    project: &Project,
) -> Result<Vec<RomaInstanceInfo>, PollError> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    for _ in 0..MAX_INSTANCE_PAGES {
        let path = format!(
            "/v2/{}/instances?offset={offset}&limit={INSTANCE_PAGE_LIMIT}",
            encode_component(&project.id)
        );
        let page = with_retries(client, "roma_instances", || async {
            let response = client
                .get_for_project(Service::Discovery, project, &project.endpoints.roma, &path)
                .await?;
            decoded(client, &response, decode::decode_instance_page)
        })
        .await?;
        if page.dropped > 0 {
            tracing::warn!(project = %project.id, dropped = page.dropped, "discovery: instance list entries without an id ignored");
        }
        let size = page.size;
        out.extend(page.instances);
        offset += size;
        let done = match page.total {
            Some(total) => offset >= total,
            None => size < INSTANCE_PAGE_LIMIT,
        };
        if done || size == 0 {
            return Ok(out);
        }
    }
    Err(PollError::local(
        ErrorCode::TooManyItems,
        format!(
            "the instance list of project {} did not end after {MAX_INSTANCE_PAGES} pages",
            project.id
        ),
    ))
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "simulator")]
    #[tokio::test]
    async fn instance_lists_follow_size_and_total_and_fail_whole() {
        use std::sync::Arc;

        use crate::config::{Config, ProcessEnv};
        use crate::model::outcome::ApiCounters;
        use crate::simulator::{Endpoint, Fault, SEED_PROJECT_ID, Simulator, World};
        use crate::upstream::{ClientSettings, UpstreamClient};

        let sim = Simulator::start(([127, 0, 0, 1], 0).into(), World::discovery())
            .await
            .expect("simulator");
        let base = sim.base_url();
        let yaml = format!(
            "defaults:\n  retries: 0\ncredentials:\n  t:\n    token: demo-token\nprojects:\n  - id: {SEED_PROJECT_ID}\n    credentials: t\n    endpoints: {{roma: {base}}}\n    roma: {{instances: discover}}\n"
        );
        let config = Config::from_yaml(std::path::Path::new("t.yaml"), &yaml, &ProcessEnv)
            .unwrap_or_else(|e| panic!("{e}"));
        let settings = ClientSettings {
            concurrency: 4,
            rate_limit: 1000.0,
            max_body_bytes: 1 << 20,
            max_attempts: 1,
        };
        let client =
            UpstreamClient::new(settings, Arc::new(ApiCounters::default())).expect("client");
        let project = &config.projects[0];
        // 12 instances, at most 7 a page although 100 were asked for: two pages.
        let list = super::list_instances(&client, project)
            .await
            .expect("listed");
        assert_eq!(list.len(), 12);
        assert_eq!(sim.request_count(Endpoint::RomaInstances), 2);
        assert_eq!(list.iter().filter(|i| i.running()).count(), 10);
        // A failing page fails the whole list (the caller keeps the last good one).
        sim.faults()
            .push(Fault::error(Endpoint::RomaInstances, 500).once());
        let e = super::list_instances(&client, project)
            .await
            .expect_err("500");
        assert_eq!(e.status, Some(500));
    }
}
