//! Temporary-credential sources over real HTTP: ECS metadata, CCE pod identity and STS
//! OIDC; the credentials they issue on the cloud routes until they expire; faults on them.

use std::time::{Duration, SystemTime};

use super::auth::{SignedRequest, assert_refused};
use super::*;

const TOKEN_PATH: &str = "/meta-data/latest/api/token";
const KEY_PATH: &str = "/openstack/latest/securitykey";
const STS_PATH: &str = "/v5/agencies/assume-with-oidc";

/// A temporary credential as a client reads it.
#[derive(Debug)]
struct Temp {
    ak: String,
    sk: String,
    token: String,
    expires: String,
}

impl Temp {
    /// Reads any of the documented key-name variants, wrapped or not.
    fn read(body: &Value) -> Temp {
        let inner = body
            .get("credential")
            .or_else(|| body.get("credentials"))
            .unwrap_or(body);
        let pick = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| inner[*n].as_str())
                .unwrap_or_else(|| panic!("none of {names:?} in {body}"))
                .to_owned()
        };
        Temp {
            ak: pick(&["access", "accessKeyId", "access_key_id"]),
            sk: pick(&["secret", "secretAccessKey", "secret_access_key"]),
            token: pick(&["securitytoken", "securityToken", "security_token"]),
            expires: pick(&["expires_at", "expiration"]),
        }
    }

    fn sign(&self, path: &str) -> SignedRequest {
        SignedRequest::get(path)
            .keys(&self.ak, &self.sk)
            .signed_header("x-security-token", &self.token)
    }

    fn expires_at(&self) -> SystemTime {
        let t = time::OffsetDateTime::parse(
            &self.expires,
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", self.expires));
        t.into()
    }
}

async fn session_token(sim: &Simulator, ttl: &str) -> Answer {
    let client = reqwest::Client::new();
    send(
        client
            .put(format!("{}{TOKEN_PATH}", sim.base_url()))
            .header("X-Metadata-Token-Ttl-Seconds", ttl),
    )
    .await
}

async fn security_key(sim: &Simulator, session: Option<&str>) -> Answer {
    let mut request = reqwest::Client::new().get(format!("{}{KEY_PATH}", sim.base_url()));
    if let Some(session) = session {
        request = request.header("X-Metadata-Token", session);
    }
    send(request).await
}

/// The metadata flow a client runs: session token, then the security key.
async fn metadata_credential(sim: &Simulator) -> Temp {
    let session = session_token(sim, "21600").await;
    assert_eq!(session.status, 200, "{}", session.text);
    let key = security_key(sim, Some(&session.text)).await;
    assert_eq!(key.status, 200, "{}", key.text);
    Temp::read(&key.json())
}

async fn pod_identity(sim: &Simulator, path: &str, token: Option<&str>, body: &str) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    send(request).await
}

fn oidc_body(id_token: &str) -> Value {
    json!({
        "provider_urn": SIM_OIDC_PROVIDER_URN,
        "agency_urn": SIM_OIDC_AGENCY_URN,
        "agency_session_name": "quota-exporter",
        "id_token": id_token,
        "duration_seconds": 3600,
    })
}

async fn assume(sim: &Simulator, body: &str) -> Answer {
    let client = reqwest::Client::new();
    send(
        client
            .post(format!("{}{STS_PATH}", sim.base_url()))
            .header("Content-Type", "application/json")
            .body(body.to_owned()),
    )
    .await
}

#[tokio::test]
async fn metadata_credentials_sign_quota_calls_with_their_security_token() {
    let sim = start(World::seeds()).await;
    let session = session_token(&sim, "21600").await;
    assert_eq!(session.status, 200);
    assert!(session.header("content-type").starts_with("text/plain"));
    assert_eq!(session.header("x-metadata-token-ttl-seconds"), "21600");
    assert!(!session.text.is_empty());

    let key = security_key(&sim, Some(&session.text)).await;
    assert_eq!(key.status, 200, "{}", key.text);
    let body = key.json();
    let c = &body["credential"];
    for field in ["access", "secret", "securitytoken", "expires_at"] {
        assert!(
            c[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}: {body}"
        );
    }
    let temp = Temp::read(&body);
    // `2026-12-01T10:00:00.000000Z`, about an hour from now by default.
    assert_eq!(temp.expires.len(), "2026-12-01T10:00:00.000000Z".len());
    assert!(temp.expires.ends_with('Z'));
    let left = temp
        .expires_at()
        .duration_since(SystemTime::now())
        .expect("in the future");
    assert!(left > Duration::from_secs(3590) && left <= Duration::from_secs(3600));

    let ok = temp.sign(&livedata_path(P, I)).send(&sim).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let with_project = temp
        .sign(&format!("/v1/{P}/quotas"))
        .signed_header("x-project-id", P)
        .send(&sim)
        .await;
    assert_eq!(with_project.status, 200, "{}", with_project.text);
    let without_token = SignedRequest::get(&livedata_path(P, I))
        .keys(&temp.ak, &temp.sk)
        .send(&sim)
        .await;
    assert_refused(
        &without_token,
        "needs a signed X-Security-Token",
        "no token",
    );
    let wrong_token = SignedRequest::get(&livedata_path(P, I))
        .keys(&temp.ak, &temp.sk)
        .signed_header("x-security-token", SIM_SECURITY_TOKEN)
        .send(&sim)
        .await;
    assert_refused(
        &wrong_token,
        "X-Security-Token does not match",
        "wrong token",
    );

    let issued = sim.issued_credentials();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].source, CredentialSource::EcsMetadata);
    assert_eq!(issued[0].access_key, temp.ak);
    assert_eq!(issued[0].security_token, temp.token);
    assert_eq!(issued[0].expires_at, temp.expires_at());
    assert_eq!(sim.request_count(Endpoint::MetadataToken), 1);
    assert_eq!(sim.request_count(Endpoint::MetadataSecurityKey), 1);
    assert_eq!(sim.credential_fetches(), 1);
}

#[tokio::test]
async fn one_credential_fetch_serves_many_polls() {
    let sim = start(World::demo()).await;
    let temp = metadata_credential(&sim).await;
    for _ in 0..5 {
        let a = temp.sign(&livedata_path(P, I)).send(&sim).await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    assert_eq!(sim.credential_fetches(), 1);
    assert_eq!(sim.request_count(Endpoint::Livedata), 5);
}

#[tokio::test]
async fn metadata_session_tokens_are_required_checked_and_expire() {
    let sim = start(World::seeds()).await;
    for (session, case) in [(None, "missing"), (Some("SIMMETAunknown"), "unknown")] {
        let a = security_key(&sim, session).await;
        assert_eq!(a.status, 401, "{case}");
        assert_eq!(a.text, "401 Unauthorized", "{case}");
        assert!(!a.text.contains(AGENCY_NOT_CONFIGURED));
    }
    for ttl in ["", "0", "21601", "abc", "-5"] {
        let a = session_token(&sim, ttl).await;
        assert_eq!(a.status, 400, "ttl {ttl:?}");
    }
    let no_ttl = send(reqwest::Client::new().put(format!("{}{TOKEN_PATH}", sim.base_url()))).await;
    assert_eq!(no_ttl.status, 400);

    // An expired session token gets 401; a client fetches a new one and retries once.
    let session = session_token(&sim, "60").await.text;
    assert_eq!(security_key(&sim, Some(&session)).await.status, 200);
    sim.expire_metadata_sessions();
    assert_eq!(security_key(&sim, Some(&session)).await.status, 401);
    let fresh = session_token(&sim, "60").await.text;
    assert_ne!(fresh, session);
    assert_eq!(security_key(&sim, Some(&fresh)).await.status, 200);
    // A one-second session token runs out by itself.
    let short = session_token(&sim, "1").await.text;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(security_key(&sim, Some(&short)).await.status, 401);

    // Wrong methods.
    let client = reqwest::Client::new();
    let get_token = send(client.get(format!("{}{TOKEN_PATH}", sim.base_url()))).await;
    assert_eq!((get_token.status, get_token.header("allow")), (405, "PUT"));
    let put_key = send(client.put(format!("{}{KEY_PATH}", sim.base_url()))).await;
    assert_eq!((put_key.status, put_key.header("allow")), (405, "GET"));
    assert_eq!(sim.issued_credentials().len(), 2);
}

#[tokio::test]
async fn older_metadata_service_and_missing_agency() {
    let mut world = World::seeds();
    world.temporary.metadata_session_tokens = false;
    let sim = start(world).await;
    let put = session_token(&sim, "21600").await;
    assert_eq!(put.status, 404);
    // Without session tokens the security key is served as is.
    let key = security_key(&sim, None).await;
    assert_eq!(key.status, 200, "{}", key.text);
    let temp = Temp::read(&key.json());
    assert_eq!(temp.sign(&livedata_path(P, I)).send(&sim).await.status, 200);

    // No agency bound: 401 whose body says so (and a new session token would not help).
    sim.update_world(|w| {
        w.temporary.metadata_session_tokens = true;
        w.temporary.metadata_agency = false;
    });
    let session = session_token(&sim, "21600").await;
    assert_eq!(session.status, 200);
    let refused = security_key(&sim, Some(&session.text)).await;
    assert_eq!(refused.status, 401);
    assert!(
        refused.text.contains(AGENCY_NOT_CONFIGURED),
        "{}",
        refused.text
    );
    assert_eq!(sim.issued_credentials().len(), 1);
}

#[tokio::test]
async fn temporary_credentials_expire_and_a_refresh_works_again() {
    let mut world = World::seeds();
    world.temporary.lifetime = Some(Duration::from_secs(1));
    let sim = start(world).await;
    let temp = metadata_credential(&sim).await;
    let left = temp
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    assert!(left <= Duration::from_secs(1), "{left:?}");
    assert_eq!(temp.sign(&livedata_path(P, I)).send(&sim).await.status, 200);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = temp.sign(&livedata_path(P, I)).send(&sim).await;
    assert_refused(&expired, "the security token has expired", "expired");
    let eg = temp.sign(&format!("/v1/{P}/quotas")).send(&sim).await;
    assert_refused(
        &eg,
        "the security token has expired",
        "expired on EventGrid",
    );

    // A client that refreshes goes on.
    sim.update_world(|w| w.temporary.lifetime = None);
    let renewed = metadata_credential(&sim).await;
    assert_ne!(renewed.ak, temp.ak);
    assert_eq!(
        renewed.sign(&livedata_path(P, I)).send(&sim).await.status,
        200
    );
    // Early revocation of everything issued so far.
    sim.expire_issued_credentials();
    assert_refused(
        &renewed.sign(&livedata_path(P, I)).send(&sim).await,
        "the security token has expired",
        "revoked",
    );
    // The built-in temporary pair is not an issued one and keeps working.
    let builtin = SignedRequest::get(&livedata_path(P, I))
        .keys(SIM_TEMP_ACCESS_KEY, SIM_TEMP_SECRET_KEY)
        .signed_header("x-security-token", SIM_SECURITY_TOKEN)
        .send(&sim)
        .await;
    assert_eq!(builtin.status, 200, "{}", builtin.text);
    assert_eq!(sim.credential_fetches(), 2);
}

#[tokio::test]
async fn pod_identity_needs_its_token_and_answers_camel_case() {
    let sim = start(World::seeds()).await;
    let a = pod_identity(
        &sim,
        SIM_POD_IDENTITY_PATH,
        Some(SIM_POD_IDENTITY_TOKEN),
        "{}",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let body = a.json();
    let c = &body["credentials"];
    for field in [
        "accessKeyId",
        "secretAccessKey",
        "securityToken",
        "expiration",
    ] {
        assert!(c[field].is_string(), "{field}: {body}");
    }
    assert!(body.get("credential").is_none());
    let temp = Temp::read(&body);
    temp.expires_at();
    assert_eq!(
        temp.sign(&format!("/v3/{P}/project-quotas"))
            .send(&sim)
            .await
            .status,
        200
    );
    // The token file's contents may end in a newline.
    let trimmed = pod_identity(
        &sim,
        SIM_POD_IDENTITY_PATH,
        Some(&format!(" {SIM_POD_IDENTITY_TOKEN} ")),
        "{}",
    )
    .await;
    assert_eq!(trimmed.status, 200);

    for (token, body, status) in [
        (None, "{}", 401),
        (Some("wrong"), "{}", 401),
        (Some(""), "{}", 401),
        (Some(SIM_POD_IDENTITY_TOKEN), "not json", 400),
        (Some(SIM_POD_IDENTITY_TOKEN), "[]", 400),
    ] {
        let a = pod_identity(&sim, SIM_POD_IDENTITY_PATH, token, body).await;
        assert_eq!(a.status, status, "{token:?} {body}");
        assert!(!a.error_code().is_empty());
    }

    // The token rotates; the path is configurable.
    sim.update_world(|w| {
        w.rotate_pod_identity_token("rotated");
        w.temporary.pod_identity_path = "/pod-identity/v1/credentials".to_owned();
    });
    let old_path = pod_identity(&sim, SIM_POD_IDENTITY_PATH, Some("rotated"), "{}").await;
    assert_eq!(old_path.status, 404);
    let path = "/pod-identity/v1/credentials";
    assert_eq!(
        pod_identity(&sim, path, Some(SIM_POD_IDENTITY_TOKEN), "{}")
            .await
            .status,
        401
    );
    assert_eq!(
        pod_identity(&sim, path, Some("rotated"), "{}").await.status,
        200
    );
    let issued = sim.issued_credentials();
    assert_eq!(issued.len(), 3);
    assert!(
        issued
            .iter()
            .all(|c| c.source == CredentialSource::PodIdentity)
    );
    assert_eq!(sim.request_count(Endpoint::PodIdentity), 9);
}

#[tokio::test]
async fn sts_exchanges_an_accepted_id_token_for_credentials() {
    let sim = start(World::seeds()).await;
    let a = assume(&sim, &oidc_body(SIM_OIDC_ID_TOKEN).to_string()).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let body = a.json();
    let c = &body["credentials"];
    for field in [
        "access_key_id",
        "secret_access_key",
        "security_token",
        "expiration",
    ] {
        assert!(c[field].is_string(), "{field}: {body}");
    }
    assert!(body["assumed_agency"]["agency_session_urn"].is_string());
    let temp = Temp::read(&body);
    assert_eq!(temp.expires.len(), "2026-12-01T10:00:00.000Z".len());
    let left = temp
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    assert!(left > Duration::from_secs(3590), "{left:?}");
    assert_eq!(temp.sign(&livedata_path(P, I)).send(&sim).await.status, 200);

    // duration_seconds sets the lifetime (unless the world fixes one).
    let mut short = oidc_body(SIM_OIDC_ID_TOKEN);
    short["duration_seconds"] = json!(900);
    let short = Temp::read(&assume(&sim, &short.to_string()).await.json());
    let left = short
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    assert!(
        left > Duration::from_secs(890) && left <= Duration::from_secs(900),
        "{left:?}"
    );
    let mut default = oidc_body(SIM_OIDC_ID_TOKEN);
    default["duration_seconds"] = Value::Null;
    assert_eq!(assume(&sim, &default.to_string()).await.status, 200);

    let refusals: Vec<(Value, u16, &str)> = vec![
        (
            json!({"provider_urn":"iam::1:identityProvider:other"}),
            404,
            "identity provider",
        ),
        (json!({"agency_urn":"iam::1:agency:other"}), 403, "agency"),
        (json!({"id_token":"eyJ.forged.token"}), 401, "id_token"),
        (json!({"id_token":""}), 400, "required"),
        (
            json!({"agency_session_name":"x"}),
            400,
            "agency_session_name",
        ),
        (
            json!({"agency_session_name":"has space"}),
            400,
            "agency_session_name",
        ),
        (json!({"duration_seconds":899}), 400, "duration_seconds"),
        (json!({"duration_seconds":43201}), 400, "duration_seconds"),
        (json!({"duration_seconds":"3600"}), 400, "duration_seconds"),
    ];
    for (change, status, needle) in refusals {
        let mut body = oidc_body(SIM_OIDC_ID_TOKEN);
        for (k, v) in change.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        let a = assume(&sim, &body.to_string()).await;
        assert_eq!(a.status, status, "{change}: {}", a.text);
        let msg = a.json()["error_msg"].as_str().unwrap_or("").to_owned();
        assert!(msg.contains(needle), "{change}: {msg}");
    }
    for bad in ["", "{", "[]", "{\"provider_urn\":1}"] {
        assert_eq!(assume(&sim, bad).await.status, 400, "{bad}");
    }

    // The id token rotates: the old one is refused, the new one accepted.
    sim.update_world(|w| w.rotate_oidc_id_token("eyJ.rotated.token"));
    assert_eq!(
        assume(&sim, &oidc_body(SIM_OIDC_ID_TOKEN).to_string())
            .await
            .status,
        401
    );
    assert_eq!(
        assume(&sim, &oidc_body("eyJ.rotated.token").to_string())
            .await
            .status,
        200
    );
    let issued = sim.issued_credentials();
    assert_eq!(issued.len(), 4);
    assert!(issued.iter().all(|c| c.source == CredentialSource::Oidc));
    assert_eq!(sim.request_count(Endpoint::StsOidc), 18);
}

#[tokio::test]
async fn credential_endpoints_take_faults() {
    let sim = start(World::seeds()).await;
    let session = session_token(&sim, "21600").await.text;

    sim.faults()
        .push(Fault::error(Endpoint::MetadataSecurityKey, 500).once());
    let failed = security_key(&sim, Some(&session)).await;
    assert_eq!(
        (failed.status, failed.text.as_str()),
        (500, "500 Internal Server Error")
    );
    assert!(failed.header("content-type").starts_with("text/plain"));
    assert_eq!(security_key(&sim, Some(&session)).await.status, 200);

    sim.faults()
        .push(Fault::error(Endpoint::MetadataToken, 503).once());
    assert_eq!(session_token(&sim, "60").await.status, 503);

    sim.faults()
        .push(Fault::throttled(Endpoint::StsOidc, Some(2)).once());
    let throttled = assume(&sim, &oidc_body(SIM_OIDC_ID_TOKEN).to_string()).await;
    assert_eq!(
        (throttled.status, throttled.header("retry-after")),
        (429, "2")
    );
    assert_eq!(throttled.error_code(), "APIG.0308");

    sim.faults().push(
        Fault::status_body(Endpoint::PodIdentity, 502, "<html>Bad Gateway</html>")
            .with_header("Content-Type", "text/html")
            .once(),
    );
    let html = pod_identity(
        &sim,
        SIM_POD_IDENTITY_PATH,
        Some(SIM_POD_IDENTITY_TOKEN),
        "{}",
    )
    .await;
    assert_eq!(
        (html.status, html.header("content-type")),
        (502, "text/html")
    );

    // A stall longer than the client's timeout.
    sim.faults()
        .push(Fault::slow(Endpoint::PodIdentity, Duration::from_secs(30)).once());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    let stalled = client
        .post(format!("{}{SIM_POD_IDENTITY_PATH}", sim.base_url()))
        .header("Authorization", SIM_POD_IDENTITY_TOKEN)
        .body("{}")
        .send()
        .await;
    assert!(stalled.is_err_and(|e| e.is_timeout()));
    let ok = pod_identity(
        &sim,
        SIM_POD_IDENTITY_PATH,
        Some(SIM_POD_IDENTITY_TOKEN),
        "{}",
    )
    .await;
    assert_eq!(ok.status, 200);

    // A plain-text fault body keeps one Content-Type when the fault sets its own.
    sim.faults().push(
        Fault::error(Endpoint::MetadataSecurityKey, 500)
            .with_header("Content-Type", "text/html")
            .once(),
    );
    let one = security_key(&sim, Some(&session)).await;
    assert_eq!(one.headers.get_all("content-type").iter().count(), 1);
    assert_eq!(one.header("content-type"), "text/html");

    // Faulted requests are counted; only answered fetches issue credentials.
    assert_eq!(sim.request_count(Endpoint::MetadataSecurityKey), 3);
    assert_eq!(sim.request_count(Endpoint::PodIdentity), 3);
    assert_eq!(sim.request_count(Endpoint::StsOidc), 1);
    assert_eq!(sim.credential_fetches(), 7);
    assert_eq!(sim.issued_credentials().len(), 2);
}
