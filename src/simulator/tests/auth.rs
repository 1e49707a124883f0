//! Authentication over real HTTP: AK/SK requests signed by a tiny signer written here (it
//! shares nothing with `src/auth/` nor with the simulator's verifier), and the IAM stub.

use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use reqwest::Method;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::*;

/// Percent-encoding as the notes describe it, written again on purpose.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn sdk_date(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// One AK/SK request: what is signed, and (for tampering tests) what is sent instead.
#[derive(Clone)]
pub(super) struct SignedRequest {
    method: Method,
    /// Raw path segments, encoded here.
    segments: Vec<String>,
    /// Raw query pairs, in the order sent.
    query: Vec<(String, String)>,
    body: Vec<u8>,
    access_key: String,
    secret_key: String,
    date: OffsetDateTime,
    sign_host: bool,
    /// Signed and sent (lower-case names).
    signed_extra: Vec<(String, String)>,
    /// Sent but not signed.
    unsigned_extra: Vec<(String, String)>,
    /// Sent instead of the signed query / body / path.
    send_query: Option<Vec<(String, String)>>,
    send_body: Option<Vec<u8>>,
    send_segments: Option<Vec<String>>,
    /// Replaces the whole `Authorization` header.
    authorization: Option<String>,
    /// Leaves `X-Sdk-Date` out of the request (it is still signed).
    omit_date: bool,
}

impl SignedRequest {
    pub(super) fn get(path: &str) -> SignedRequest {
        SignedRequest {
            method: Method::GET,
            segments: path
                .trim_start_matches('/')
                .split('/')
                .map(str::to_owned)
                .collect(),
            query: Vec::new(),
            body: Vec::new(),
            access_key: SIM_ACCESS_KEY.to_owned(),
            secret_key: SIM_SECRET_KEY.to_owned(),
            date: OffsetDateTime::now_utc(),
            sign_host: true,
            signed_extra: Vec::new(),
            unsigned_extra: Vec::new(),
            send_query: None,
            send_body: None,
            send_segments: None,
            authorization: None,
            omit_date: false,
        }
    }

    pub(super) fn post(path: &str, body: &str) -> SignedRequest {
        SignedRequest {
            method: Method::POST,
            body: body.as_bytes().to_vec(),
            ..SignedRequest::get(path)
        }
    }

    pub(super) fn query(mut self, k: &str, v: &str) -> Self {
        self.query.push((k.to_owned(), v.to_owned()));
        self
    }

    pub(super) fn keys(mut self, ak: &str, sk: &str) -> Self {
        self.access_key = ak.to_owned();
        self.secret_key = sk.to_owned();
        self
    }

    pub(super) fn signed_header(mut self, name: &str, value: &str) -> Self {
        self.signed_extra.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(super) fn unsigned_header(mut self, name: &str, value: &str) -> Self {
        self.unsigned_extra
            .push((name.to_owned(), value.to_owned()));
        self
    }

    /// `(SignedHeaders, Signature)` over what is signed.
    fn sign(&self, host: &str) -> (String, String) {
        let date = sdk_date(self.date);
        let mut headers: Vec<(String, String)> = vec![("x-sdk-date".to_owned(), date.clone())];
        if self.sign_host {
            headers.push(("host".to_owned(), host.to_owned()));
        }
        headers.extend(self.signed_extra.iter().cloned());
        headers.sort();
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        let signed_headers = names.join(";");
        let header_block: String = headers
            .iter()
            .map(|(n, v)| format!("{n}:{}\n", v.trim()))
            .collect();
        let mut uri = String::new();
        for segment in &self.segments {
            uri.push('/');
            uri.push_str(&enc(segment));
        }
        uri.push('/');
        let mut pairs = self.query.clone();
        pairs.sort();
        let query = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let canonical = format!(
            "{}\n{uri}\n{query}\n{header_block}\n{signed_headers}\n{}",
            self.method,
            hex::encode(Sha256::digest(&self.body))
        );
        let to_sign = format!(
            "SDK-HMAC-SHA256\n{date}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret_key.as_bytes()).expect("hmac");
        mac.update(to_sign.as_bytes());
        (signed_headers, hex::encode(mac.finalize().into_bytes()))
    }

    pub(super) async fn send(&self, sim: &Simulator) -> Answer {
        let host = sim.local_addr().to_string();
        let (signed_headers, signature) = self.sign(&host);
        let segments = self.send_segments.as_ref().unwrap_or(&self.segments);
        let path: String = segments.iter().map(|s| format!("/{}", enc(s))).collect();
        // Sent with form-style spaces (`+`) to show that any correct wire encoding verifies.
        let query = self
            .send_query
            .as_ref()
            .unwrap_or(&self.query)
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v).replace("%20", "+")))
            .collect::<Vec<_>>()
            .join("&");
        let url = if query.is_empty() {
            format!("{}{path}", sim.base_url())
        } else {
            format!("{}{path}?{query}", sim.base_url())
        };
        let authorization = self.authorization.clone().unwrap_or_else(|| {
            format!(
                "SDK-HMAC-SHA256 Access={}, SignedHeaders={signed_headers}, Signature={signature}",
                self.access_key
            )
        });
        let mut request = reqwest::Client::new()
            .request(self.method.clone(), url)
            .header("Authorization", authorization)
            .body(self.send_body.clone().unwrap_or_else(|| self.body.clone()));
        if !self.omit_date {
            request = request.header("X-Sdk-Date", sdk_date(self.date));
        }
        for (name, value) in self.signed_extra.iter().chain(&self.unsigned_extra) {
            request = request.header(name.as_str(), value.as_str());
        }
        send(request).await
    }
}

pub(super) fn error_msg(answer: &Answer) -> String {
    answer.json()["error_msg"].as_str().unwrap_or("").to_owned()
}

/// Asserts a 401 `APIG.0301` whose message contains `needle`.
pub(super) fn assert_refused(answer: &Answer, needle: &str, case: &str) {
    assert_eq!(answer.status, 401, "{case}: {}", answer.text);
    assert_eq!(answer.error_code(), "APIG.0301", "{case}: {}", answer.text);
    let msg = error_msg(answer);
    assert!(
        msg.starts_with("Incorrect IAM authentication information: "),
        "{case}: {msg}"
    );
    assert!(msg.contains(needle), "{case}: {msg} lacks {needle:?}");
}

#[tokio::test]
async fn aksk_signed_requests_are_accepted() {
    let sim = start(World::demo()).await;
    let livedata = SignedRequest::get(&livedata_path(P, I)).send(&sim).await;
    assert_eq!(livedata.status, 200, "{}", livedata.text);
    assert_eq!(livedata.json()["api"], "10000");

    // Spaces, unicode, reserved characters and a repeated key in the query; the wire order
    // differs from the canonical (sorted) order.
    let listed = SignedRequest::get(&app_quotas_path(P, I))
        .query("offset", "0")
        .query("name", "Client Quota/é&=+~")
        .query("limit", "20")
        .query("limit", "10")
        .send(&sim)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);

    // X-Project-Id signed, every service, both projects, an extra signed header.
    for p in [P, DEMO_OTC_PROJECT_ID] {
        for path in [
            format!("/v1/{p}/quotas"),
            format!("/v3/{p}/project-quotas"),
            format!("/v2/{p}/instances"),
        ] {
            let a = SignedRequest::get(&path)
                .signed_header("x-project-id", p)
                .signed_header("content-type", "application/json;charset=UTF-8")
                .send(&sim)
                .await;
            assert_eq!(a.status, 200, "{path}: {}", a.text);
        }
    }

    // A body is signed too.
    let body = r#"{"call_limits":10,"name":"Signed_quota","time_interval":1,"time_unit":"MINUTE"}"#;
    let created = SignedRequest::post(&app_quotas_path(P, I), body)
        .signed_header("content-type", "application/json")
        .send(&sim)
        .await;
    assert_eq!(created.status, 201, "{}", created.text);

    // Within the 15 minute window either way.
    for minutes in [-14, 14] {
        let mut r = SignedRequest::get(&livedata_path(P, I));
        r.date += time::Duration::minutes(minutes);
        assert_eq!(r.send(&sim).await.status, 200, "{minutes} min");
    }

    let log = sim.requests();
    let first = &log[0];
    assert!(
        first
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v.starts_with("SDK-HMAC-SHA256 Access=SIMAK"))
    );
}

#[tokio::test]
async fn aksk_bad_signatures_are_refused_with_apig_0301() {
    let sim = start(World::demo()).await;
    let path = livedata_path(P, I);
    let base = || SignedRequest::get(&path);

    let cases: Vec<(&str, SignedRequest, &str)> = vec![
        (
            "wrong secret key",
            base().keys(SIM_ACCESS_KEY, "not-the-secret-key"),
            "the signature does not match",
        ),
        (
            "unknown access key",
            base().keys("SIMAKUNKNOWN000000001", SIM_SECRET_KEY),
            "ak SIMAKUNKNOWN000000001 does not exist",
        ),
        (
            "stale date",
            SignedRequest {
                date: OffsetDateTime::now_utc() - time::Duration::minutes(20),
                ..base()
            },
            "more than 15 minutes",
        ),
        (
            "date in the future",
            SignedRequest {
                date: OffsetDateTime::now_utc() + time::Duration::minutes(16),
                ..base()
            },
            "more than 15 minutes",
        ),
        (
            "host not signed",
            SignedRequest {
                sign_host: false,
                ..base()
            },
            "header host must be signed",
        ),
        (
            "no X-Sdk-Date",
            SignedRequest {
                omit_date: true,
                ..base()
            },
            "X-Sdk-Date is missing",
        ),
        (
            "tampered query",
            SignedRequest {
                send_query: Some(vec![("limit".to_owned(), "2".to_owned())]),
                ..SignedRequest::get(&app_quotas_path(P, I)).query("limit", "1")
            },
            "the signature does not match",
        ),
        (
            "query added",
            SignedRequest {
                send_query: Some(vec![("limit".to_owned(), "1".to_owned())]),
                ..base()
            },
            "the signature does not match",
        ),
        (
            "tampered body",
            SignedRequest {
                send_body: Some(
                    br#"{"call_limits":99,"name":"Tampered","time_interval":1,"time_unit":"DAY"}"#
                        .to_vec(),
                ),
                ..SignedRequest::post(
                    &app_quotas_path(P, I),
                    r#"{"call_limits":10,"name":"Tampered","time_interval":1,"time_unit":"DAY"}"#,
                )
            },
            "the signature does not match",
        ),
        (
            "tampered path",
            SignedRequest {
                send_segments: Some(
                    format!("v1/{P}/quotas")
                        .split('/')
                        .map(str::to_owned)
                        .collect(),
                ),
                ..base()
            },
            "the signature does not match",
        ),
        (
            "signed header changed after signing",
            SignedRequest {
                unsigned_extra: vec![("x-extra".to_owned(), "2".to_owned())],
                signed_extra: vec![("x-extra".to_owned(), "1".to_owned())],
                ..base()
            },
            "the signature does not match",
        ),
        (
            "X-Project-Id of another project",
            base().signed_header("x-project-id", DEMO_OTC_PROJECT_ID),
            "does not match project",
        ),
        (
            "X-Project-Id not signed",
            base().unsigned_header("x-project-id", P),
            "header x-project-id must be signed",
        ),
        (
            "malformed Authorization",
            SignedRequest {
                authorization: Some(format!(
                    "SDK-HMAC-SHA256 Access={SIM_ACCESS_KEY}, SignedHeaders=host;x-sdk-date"
                )),
                ..base()
            },
            "malformed Authorization header",
        ),
        (
            "unsorted SignedHeaders",
            SignedRequest {
                authorization: Some(format!(
                    "SDK-HMAC-SHA256 Access={SIM_ACCESS_KEY}, SignedHeaders=x-sdk-date;host, Signature={}",
                    "0".repeat(64)
                )),
                ..base()
            },
            "sorted",
        ),
    ];
    for (case, request, needle) in &cases {
        let answer = request.send(&sim).await;
        assert_refused(&answer, needle, case);
    }
    // Nothing was created by the tampered POST, and the gateway answers the same way in
    // front of EventGrid.
    assert_eq!(
        sim.world().projects[0].roma_instances[0].app_quotas.len(),
        2
    );
    let eventgrid = SignedRequest::get(&format!("/v1/{P}/quotas"))
        .keys(SIM_ACCESS_KEY, "wrong")
        .send(&sim)
        .await;
    assert_refused(&eventgrid, "verify aksk signature fail", "eventgrid");
    // A valid request still passes afterwards.
    assert_eq!(base().send(&sim).await.status, 200);
}

#[tokio::test]
async fn aksk_temporary_credentials_need_their_security_token() {
    let sim = start(World::seeds()).await;
    let path = livedata_path(P, I);
    let temp = || SignedRequest::get(&path).keys(SIM_TEMP_ACCESS_KEY, SIM_TEMP_SECRET_KEY);

    let without = temp().send(&sim).await;
    assert_refused(&without, "needs a signed X-Security-Token", "no token");
    let unsigned = temp()
        .unsigned_header("x-security-token", SIM_SECURITY_TOKEN)
        .send(&sim)
        .await;
    assert_refused(
        &unsigned,
        "header x-security-token must be signed",
        "unsigned",
    );
    let wrong = temp()
        .signed_header("x-security-token", "some-other-token")
        .send(&sim)
        .await;
    assert_refused(&wrong, "X-Security-Token does not match", "wrong token");
    let permanent = SignedRequest::get(&path)
        .signed_header("x-security-token", SIM_SECURITY_TOKEN)
        .send(&sim)
        .await;
    assert_refused(&permanent, "is a permanent access key", "permanent + token");

    let good = temp()
        .signed_header("x-security-token", SIM_SECURITY_TOKEN)
        .signed_header("x-project-id", P)
        .send(&sim)
        .await;
    assert_eq!(good.status, 200, "{}", good.text);

    // Pairs can be changed while the simulator runs (e.g. to revoke temporary credentials).
    sim.update_world(|w| w.aksk.retain(|k| k.security_token.is_none()));
    let revoked = temp()
        .signed_header("x-security-token", SIM_SECURITY_TOKEN)
        .send(&sim)
        .await;
    assert_refused(&revoked, "does not exist", "revoked");
}

#[tokio::test]
async fn faults_apply_before_credentials_are_checked() {
    let sim = start(World::seeds()).await;
    sim.faults()
        .push(Fault::error(Endpoint::Livedata, 503).once());
    let badly_signed = SignedRequest::get(&livedata_path(P, I)).keys(SIM_ACCESS_KEY, "wrong");
    let faulted = badly_signed.send(&sim).await;
    assert_eq!(faulted.status, 503);
    assert_refused(
        &badly_signed.send(&sim).await,
        "does not match",
        "after fault",
    );
}

fn parse_iam_time(s: &str) -> SystemTime {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::PrimitiveDateTime::parse(s, &format)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .assume_utc()
        .into()
}

async fn issue(sim: &Simulator, scope: Value) -> Answer {
    post_iam(sim, &token_request("demo-password", scope)).await
}

#[tokio::test]
async fn iam_issues_are_recorded_per_user_and_project() {
    let mut world = World::demo();
    world.iam.token_lifetime = Duration::from_secs(5);
    let sim = start(world).await;
    assert!(sim.iam_issued().is_empty());

    let first = issue(&sim, json!({"project":{"id":P}})).await;
    let second = issue(&sim, json!({"project":{"id":P}})).await;
    let otc = issue(&sim, json!({"project":{"name":"eu-de"}})).await;
    let refused = post_iam(&sim, &token_request("guess", json!({"project":{"id":P}}))).await;
    assert_eq!(
        (first.status, second.status, otc.status, refused.status),
        (201, 201, 201, 401)
    );

    let issued = sim.iam_issued();
    assert_eq!(issued.len(), 3, "failed attempts are not issues");
    assert_eq!(sim.iam_issued_count("monitoring", P), 2);
    assert_eq!(sim.iam_issued_count("monitoring", DEMO_OTC_PROJECT_ID), 1);
    assert_eq!(sim.iam_issued_count("someone-else", P), 0);
    assert_eq!(sim.request_count(Endpoint::IamTokens), 4);
    for (record, answer) in issued.iter().zip([&first, &second, &otc]) {
        assert_eq!(record.token, answer.header("x-subject-token"));
        assert_eq!(
            (record.user.as_str(), record.domain.as_str()),
            ("monitoring", "sim-domain")
        );
        assert_eq!(
            record.expires.map(|e| e - record.issued),
            Some(Duration::from_secs(5))
        );
        let body = answer.json();
        let expires_at = parse_iam_time(body["token"]["expires_at"].as_str().expect("expires_at"));
        assert_eq!(record.expires_at, expires_at);
        let lifetime = expires_at
            .duration_since(record.issued_at)
            .expect("expires after issue");
        assert!(
            lifetime <= Duration::from_secs(5) && lifetime > Duration::from_millis(4990),
            "{lifetime:?}"
        );
        assert_eq!(
            record.project_id.as_deref(),
            body["token"]["project"]["id"].as_str()
        );
    }
    assert!(issued[0].issued <= issued[1].issued);
    assert_ne!(issued[0].token, issued[1].token);
    assert_eq!(
        issued[2].project_id.as_deref(),
        Some(DEMO_OTC_PROJECT_ID),
        "a name scope is recorded by project id"
    );
}

#[tokio::test]
async fn iam_token_works_for_its_project_only_until_it_expires() {
    let mut world = World::demo();
    world.iam.token_lifetime = Duration::from_secs(2);
    let sim = start(world).await;
    let issued = issue(&sim, json!({"project":{"id":P}})).await;
    assert_eq!(issued.status, 201);
    let token = issued.header("x-subject-token").to_owned();

    assert_eq!(get_as(&sim, &livedata_path(P, I), &token).await.status, 200);
    assert_eq!(
        get_as(&sim, &format!("/v1/{P}/quotas"), &token)
            .await
            .status,
        200
    );
    let other = get_as(
        &sim,
        &format!("/v3/{DEMO_OTC_PROJECT_ID}/project-quotas"),
        &token,
    )
    .await;
    assert_eq!(other.status, 403);
    assert_eq!(
        other.json(),
        json!({"error_code":"APIG.1005","error_msg":"No permissions to request this method"})
    );

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = get_as(&sim, &livedata_path(P, I), &token).await;
    assert_eq!(expired.status, 401);
    assert_eq!(
        expired.json(),
        json!({"error_code":"APIG.0301","error_msg":"Incorrect IAM authentication information: the token has expired"})
    );
    // EventGrid keeps its own 401 wording.
    let eg = get_as(&sim, &format!("/v1/{P}/quotas"), &token).await;
    assert_eq!((eg.status, eg.error_code().as_str()), (401, "EG.00014010"));

    // A fresh token works again.
    let renewed = issue(&sim, json!({"project":{"id":P}})).await;
    let fresh = renewed.header("x-subject-token").to_owned();
    assert_eq!(get_as(&sim, &livedata_path(P, I), &fresh).await.status, 200);
}

#[tokio::test]
async fn iam_validates_credentials_and_scope() {
    let sim = start(World::demo()).await;
    let body = |user: &str, password: &str, domain: &str, scope: Option<Value>| {
        let mut auth = json!({"auth":{
            "identity":{"methods":["password"],"password":{"user":{
                "name":user,"password":password,"domain":{"name":domain}}}}}});
        if let Some(scope) = scope {
            auth["auth"]["scope"] = scope;
        }
        auth.to_string()
    };
    let scope = || Some(json!({"project":{"id":P}}));
    let wrong_password = json!({"error":{"code":401,"message":"The username or password is wrong.","title":"Unauthorized"}});
    for (user, password, domain) in [
        ("monitoring", "wrong", "sim-domain"),
        ("someone", "demo-password", "sim-domain"),
        ("monitoring", "demo-password", "other-domain"),
        ("monitoring", "", "sim-domain"),
    ] {
        let a = post_iam(&sim, &body(user, password, domain, scope())).await;
        assert_eq!(a.status, 401, "{user}/{domain}");
        assert_eq!(a.json(), wrong_password, "{user}/{domain}");
        assert!(a.header("x-subject-token").is_empty());
    }

    let good = |scope| body("monitoring", "demo-password", "sim-domain", scope);
    // No scope, or an empty project scope: invalid.
    for scope in [None, Some(json!({})), Some(json!({"project":{}}))] {
        let a = post_iam(&sim, &good(scope.clone())).await;
        assert_eq!(a.status, 400, "{scope:?}");
        assert_eq!(a.json()["error"]["code"], 400);
    }
    for scope in [
        json!({"project":{"id":"ffff"}}),
        json!({"project":{"name":"nowhere"}}),
    ] {
        let a = post_iam(&sim, &good(Some(scope))).await;
        assert_eq!(a.status, 401);
        assert_eq!(
            a.json()["error"]["message"],
            "The project in the scope does not exist."
        );
    }
    // A domain-scoped token is issued but no project API takes it.
    let domain = post_iam(&sim, &good(Some(json!({"domain":{"name":"sim-domain"}})))).await;
    assert_eq!(domain.status, 201);
    assert!(domain.json()["token"]["project"].is_null());
    let token = domain.header("x-subject-token").to_owned();
    assert_eq!(get_as(&sim, &livedata_path(P, I), &token).await.status, 403);
    // Password changes take effect at once.
    sim.update_world(|w| w.iam.password = "rotated".to_owned());
    assert_eq!(post_iam(&sim, &good(scope())).await.status, 401);
    let rotated = body("monitoring", "rotated", "sim-domain", scope());
    assert_eq!(post_iam(&sim, &rotated).await.status, 201);
}

#[tokio::test]
async fn iam_outage_answers_503_and_issues_nothing() {
    let sim = start(World::seeds()).await;
    let before = issue(&sim, json!({"project":{"id":P}})).await;
    let old_token = before.header("x-subject-token").to_owned();

    sim.faults().push(Fault::iam_outage().repeat(2));
    for _ in 0..2 {
        let a = issue(&sim, json!({"project":{"id":P}})).await;
        assert_eq!(a.status, 503);
        assert_eq!(
            a.json(),
            json!({"error":{"code":503,"message":"System error","title":"Service Unavailable"}})
        );
        assert!(a.header("x-subject-token").is_empty());
    }
    assert_eq!(sim.iam_issued().len(), 1);
    // Tokens issued before the outage keep working during it.
    sim.faults().push(Fault::iam_outage());
    assert_eq!(
        get_as(&sim, &livedata_path(P, I), &old_token).await.status,
        200
    );
    assert_eq!(issue(&sim, json!({"project":{"id":P}})).await.status, 503);
    sim.faults().clear();
    assert_eq!(issue(&sim, json!({"project":{"id":P}})).await.status, 201);
    assert_eq!(sim.iam_issued_count("monitoring", P), 2);
    assert_eq!(sim.request_count(Endpoint::IamTokens), 5);
}
