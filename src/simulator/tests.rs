//! Tests that start the simulator on loopback and talk to it over real HTTP.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

mod auth;
mod credentials;
mod discovery;

const P: &str = SEED_PROJECT_ID;
const I: &str = SEED_INSTANCE_ID;

async fn start(world: World) -> Simulator {
    let bind: SocketAddr = ([127, 0, 0, 1], 0).into();
    match Simulator::start(bind, world).await {
        Ok(sim) => sim,
        Err(error) => panic!("simulator did not start: {error}"),
    }
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    fn error_code(&self) -> String {
        self.json()["error_code"].as_str().unwrap_or("").to_owned()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("request failed");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    Answer {
        status,
        headers,
        text,
    }
}

async fn get_as(sim: &Simulator, path: &str, token: &str) -> Answer {
    let client = reqwest::Client::new();
    send(
        client
            .get(format!("{}{path}", sim.base_url()))
            .header("X-Auth-Token", token),
    )
    .await
}

async fn get(sim: &Simulator, path: &str) -> Answer {
    get_as(sim, path, DEMO_TOKEN).await
}

async fn post(sim: &Simulator, path: &str, body: &str) -> Answer {
    let client = reqwest::Client::new();
    send(
        client
            .post(format!("{}{path}", sim.base_url()))
            .header("X-Auth-Token", DEMO_TOKEN)
            .body(body.to_owned()),
    )
    .await
}

fn livedata_path(p: &str, i: &str) -> String {
    format!("/v2/{p}/apic/instances/{i}/livedata-quota")
}

fn app_quotas_path(p: &str, i: &str) -> String {
    format!("/v2/{p}/apic/instances/{i}/app-quotas")
}

#[tokio::test]
async fn livedata_serves_strings_as_in_the_seed() {
    let sim = start(World::seeds()).await;
    let a = get(&sim, &livedata_path(P, I)).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json(),
        json!({"api":"10000","api_used":"4","datasource":"3","datasource_used":"0","scripts":"5"})
    );
    assert_eq!(a.header("content-type"), "application/json");
    let id = a.header("x-request-id");
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
}

#[tokio::test]
async fn app_quota_detail_matches_seed_shapes() {
    let sim = start(World::seeds()).await;
    let base = app_quotas_path(P, I);
    let a = get(&sim, &format!("{base}/{SEED_APP_QUOTA_ID}")).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json(),
        json!({
            "app_quota_id": "c900c5612dbe451bb43cbcc49cfaf2f3",
            "call_limits": 1000,
            "create_time": "2020-09-19T07:27:47Z",
            "name": "ClientQuota_demo",
            "reset_time": "2020-09-20 00:00:00 +0000 +0000",
            "time_interval": 1,
            "time_unit": "DAY"
        })
    );
    let b = get(&sim, &format!("{base}/{SEED_HOURE_APP_QUOTA_ID}"))
        .await
        .json();
    assert_eq!(b["time_unit"], "HOURE");
    assert_eq!(b["bound_app_num"], 3);
    assert!(b["remark"].is_string());

    let missing = get(&sim, &format!("{base}/0000")).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json(),
        json!({"error_code":"APIG.3093","error_msg":"App quota 0000 does not exist"})
    );
}

#[tokio::test]
async fn app_quota_list_pages_at_most_max_page_size() {
    let mut world = World::seeds();
    let instance = &mut world.projects[0].roma_instances[0];
    for n in 0..3 {
        let mut quota = instance.app_quotas[0].clone();
        quota.app_quota_id = format!("{n:032x}");
        quota.name = format!("Extra_{n}");
        instance.app_quotas.push(quota);
    }
    let sim = start(world).await;
    let base = app_quotas_path(P, I);

    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = get(&sim, &format!("{base}?offset={offset}&limit=20"))
            .await
            .json();
        assert_eq!(page["total"], 5);
        let quotas = page["quotas"].as_array().expect("quotas array");
        assert_eq!(page["size"].as_u64(), Some(quotas.len() as u64));
        assert!(quotas.len() <= 2);
        seen.extend(quotas.iter().map(|q| q["app_quota_id"].clone()));
        offset += quotas.len();
        if offset >= 5 || quotas.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(sim.request_count(Endpoint::AppQuotaList), 3);

    let one = get(&sim, &format!("{base}?limit=1")).await.json();
    assert_eq!(
        (one["size"].clone(), one["total"].clone()),
        (json!(1), json!(5))
    );
    let past = get(&sim, &format!("{base}?offset=9")).await.json();
    assert_eq!(past["size"], 0);
    assert_eq!(past["total"], 5);
    let named = get(&sim, &format!("{base}?name=Extra")).await.json();
    assert_eq!(named["total"], 3);
    assert_eq!(named["size"], 2);

    for bad in [
        "limit=0",
        "limit=501",
        "limit=abc",
        "offset=-1",
        "limit=99999999999999999999",
    ] {
        let a = get(&sim, &format!("{base}?{bad}")).await;
        assert_eq!(a.status, 400, "{bad}");
        assert_eq!(a.error_code(), "APIG.2011", "{bad}");
    }
}

#[tokio::test]
async fn create_validates_stores_and_rejects_duplicates() {
    let sim = start(World::seeds()).await;
    let base = app_quotas_path(P, I);
    let body = r#"{"call_limits":1000,"name":"New_quota_1","reset_time":"2020-09-20 00:00:00","time_interval":1,"time_unit":"HOURE","remark":"made by a test"}"#;
    let created = post(&sim, &base, body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let q = created.json();
    let id = q["app_quota_id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(q["name"], "New_quota_1");
    assert_eq!(q["reset_time"], "2020-09-20 00:00:00");
    let create_time = q["create_time"].as_str().expect("create_time");
    assert!(create_time.ends_with("+08:00"), "{create_time}");
    assert_eq!(
        create_time.len(),
        "2020-09-19T15:27:47.60571141+08:00".len()
    );

    let fetched = get(&sim, &format!("{base}/{id}")).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json(), q);
    assert_eq!(get(&sim, &base).await.json()["total"], 3);

    let duplicate = post(&sim, &base, body).await;
    assert_eq!(duplicate.status, 400);
    assert_eq!(
        duplicate.json(),
        json!({"error_code":"APIG.3325","error_msg":"The API quota name already exists"})
    );

    let long_name = format!("a{}", "b".repeat(255));
    let long_remark = "r".repeat(256);
    let invalid: Vec<(String, &str)> = vec![
        ("not json".to_owned(), "body"),
        ("[1]".to_owned(), "body"),
        (
            r#"{"name":"ab","call_limits":1,"time_unit":"DAY","time_interval":1}"#.into(),
            "name",
        ),
        (
            r#"{"name":"1abc","call_limits":1,"time_unit":"DAY","time_interval":1}"#.into(),
            "name",
        ),
        (
            r#"{"name":"ab-c","call_limits":1,"time_unit":"DAY","time_interval":1}"#.into(),
            "name",
        ),
        (
            format!(
                r#"{{"name":"{long_name}","call_limits":1,"time_unit":"DAY","time_interval":1}}"#
            ),
            "name",
        ),
        (
            r#"{"call_limits":1,"time_unit":"DAY","time_interval":1}"#.into(),
            "name",
        ),
        (
            r#"{"name":"abc","call_limits":0,"time_unit":"DAY","time_interval":1}"#.into(),
            "call_limits",
        ),
        (
            r#"{"name":"abc","call_limits":2147483648,"time_unit":"DAY","time_interval":1}"#.into(),
            "call_limits",
        ),
        (
            r#"{"name":"abc","call_limits":"5","time_unit":"DAY","time_interval":1}"#.into(),
            "call_limits",
        ),
        (
            r#"{"name":"abc","call_limits":1,"time_unit":"WEEK","time_interval":1}"#.into(),
            "time_unit",
        ),
        (
            r#"{"name":"abc","call_limits":1,"time_unit":"DAY","time_interval":0}"#.into(),
            "time_interval",
        ),
        (
            r#"{"name":"abc","call_limits":1,"time_unit":"DAY","time_interval":1.5}"#.into(),
            "time_interval",
        ),
        (
            r#"{"name":"abc","call_limits":1,"time_unit":"DAY","time_interval":1,"remark":"<b>"}"#
                .into(),
            "remark",
        ),
        (
            format!(
                r#"{{"name":"abc","call_limits":1,"time_unit":"DAY","time_interval":1,"remark":"{long_remark}"}}"#
            ),
            "remark",
        ),
        (
            r#"{"name":"abc","call_limits":1,"time_unit":"DAY","time_interval":1,"reset_time":5}"#
                .into(),
            "reset_time",
        ),
    ];
    for (body, param) in invalid {
        let a = post(&sim, &base, &body).await;
        assert_eq!(a.status, 400, "{body}");
        assert_eq!(a.error_code(), "APIG.2011", "{body}");
        let msg = a.json()["error_msg"].as_str().unwrap_or("").to_owned();
        assert!(
            msg.contains(&format!("parameterName:{param}")),
            "{body}: {msg}"
        );
    }
    assert_eq!(get(&sim, &base).await.json()["total"], 3);

    let other_instance = post(&sim, &app_quotas_path(P, "nope"), body).await;
    assert_eq!(other_instance.status, 404);
    assert_eq!(other_instance.error_code(), "APIG.3030");
}

#[tokio::test]
async fn instances_eventgrid_and_gaussdb_shapes() {
    let sim = start(World::seeds()).await;
    let list = get(&sim, &format!("/v2/{P}/instances")).await.json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["size"], 1);
    assert_eq!(list["instances"][0]["id"], I);
    assert_eq!(list["instances"][0]["status"], "RUNNING");

    let eg = get(&sim, &format!("/v1/{P}/quotas")).await.json();
    let resources = eg["quotas"]["resources"].as_array().expect("resources");
    assert_eq!(resources.len(), 4);
    assert_eq!(
        resources[0],
        json!({"name":"Channels","type":"CHANNEL","max":500,"min":0,"quota":100,"used":3})
    );
    for r in resources {
        let n = |k: &str| r[k].as_i64().expect("integer");
        assert!(n("max") >= n("quota") && n("quota") >= n("used") && n("min") >= 0);
    }
    let only = get(&sim, &format!("/v1/{P}/quotas?type=SOURCE"))
        .await
        .json();
    assert_eq!(
        only["quotas"]["resources"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(only["quotas"]["resources"][0]["type"], "SOURCE");

    for path in [
        format!("/v3/{P}/project-quotas"),
        format!("/v3/{P}/project-quotas?type=instance"),
    ] {
        let db = get(&sim, &path).await;
        assert_eq!(db.status, 200);
        assert_eq!(
            db.json(),
            json!({"quotas":{"resources":[{"type":"instance,","used":"4,","quota":50}]}})
        );
    }
}

#[tokio::test]
async fn not_found_and_wrong_method() {
    let sim = start(World::seeds()).await;
    let a = get(&sim, &livedata_path(P, "f0fa1789-0000")).await;
    assert_eq!(a.status, 404);
    assert_eq!(
        a.json(),
        json!({"error_code":"APIG.3030","error_msg":"The instance does not exist;id:f0fa1789-0000"})
    );
    let unknown_project = get(&sim, &livedata_path("ffff", I)).await;
    assert_eq!(unknown_project.status, 404);
    assert_eq!(unknown_project.error_code(), "APIG.3030");
    assert_eq!(
        get(&sim, "/v1/ffff/quotas").await.error_code(),
        "EG.00014040"
    );
    assert_eq!(get(&sim, "/v3/ffff/project-quotas").await.status, 404);
    assert_eq!(get(&sim, "/v2/ffff/instances").await.status, 404);

    let nowhere = get(&sim, "/v9/nothing/here").await;
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.header("content-type"), "application/json");
    assert_eq!(nowhere.header("x-request-id").len(), 32);
    assert_eq!(
        get(&sim, &format!("{}/", livedata_path(P, I))).await.status,
        404
    );
    assert_eq!(sim.request_count(Endpoint::Unknown), 2);

    let client = reqwest::Client::new();
    let wrong = send(client.delete(format!("{}/v1/{P}/quotas", sim.base_url()))).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), "GET");
    let iam_get = send(client.get(format!("{}/v3/auth/tokens", sim.base_url()))).await;
    assert_eq!(iam_get.status, 405);
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401() {
    let sim = start(World::seeds()).await;
    let client = reqwest::Client::new();
    let none = send(client.get(format!("{}{}", sim.base_url(), livedata_path(P, I)))).await;
    assert_eq!(none.status, 401);
    assert_eq!(
        none.json(),
        json!({"error_code":"APIG.1002","error_msg":"Incorrect token or token resolution failed"})
    );
    let wrong = get_as(&sim, &livedata_path(P, I), "not-a-token").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.error_code(), "APIG.1002");
    // EventGrid words it its own way (seed 002).
    let eg = get_as(&sim, &format!("/v1/{P}/quotas"), "not-a-token").await;
    assert_eq!(eg.status, 401);
    assert_eq!(eg.error_code(), "EG.00014010");
    // Unauthenticated requests never reveal whether an instance exists.
    assert_eq!(
        get_as(&sim, &livedata_path(P, "x"), "nope").await.status,
        401
    );
}

#[tokio::test]
async fn fault_with_times_applies_once_then_normal_service_resumes() {
    let sim = start(World::seeds()).await;
    sim.faults()
        .push(Fault::throttled(Endpoint::Livedata, Some(7)).once());
    assert_eq!(sim.faults().armed(), 1);

    // Another endpoint is not affected and does not use the fault up.
    assert_eq!(get(&sim, &format!("/v1/{P}/quotas")).await.status, 200);

    let throttled = get(&sim, &livedata_path(P, I)).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(
        throttled.json(),
        json!({"error_code":"APIG.0308","error_msg":"The throttling threshold has been reached"})
    );
    assert_eq!(throttled.header("retry-after"), "7");
    assert_eq!(throttled.header("x-request-id").len(), 32);
    assert_eq!(sim.faults().armed(), 0);
    assert_eq!(get(&sim, &livedata_path(P, I)).await.status, 200);

    // Custom bodies and headers, per project, a number of times.
    sim.faults().push(
        Fault::status_body(Endpoint::Gaussdb, 502, "<html>Bad Gateway</html>")
            .with_header("Content-Type", "text/html")
            .for_project(P)
            .repeat(2),
    );
    for _ in 0..2 {
        let html = get(&sim, &format!("/v3/{P}/project-quotas")).await;
        assert_eq!(html.status, 502);
        assert_eq!(html.text, "<html>Bad Gateway</html>");
        assert_eq!(html.header("content-type"), "text/html");
    }
    assert_eq!(
        get(&sim, &format!("/v3/{P}/project-quotas")).await.status,
        200
    );

    // Default bodies follow the API's error shape; clear() disarms.
    sim.faults().push(Fault::everywhere().with_status(500));
    assert_eq!(
        get(&sim, &livedata_path(P, I)).await.error_code(),
        "APIG.9999"
    );
    assert_eq!(
        get(&sim, &format!("/v1/{P}/quotas")).await.error_code(),
        "EG.00015000"
    );
    sim.faults().clear();
    assert_eq!(get(&sim, &livedata_path(P, I)).await.status, 200);
}

#[tokio::test]
async fn latency_fault_delays_and_can_outlast_a_client_timeout() {
    let sim = start(World::seeds()).await;
    sim.faults()
        .push(Fault::slow(Endpoint::Eventgrid, Duration::from_millis(300)).once());
    let started = Instant::now();
    let a = get(&sim, &format!("/v1/{P}/quotas")).await;
    assert_eq!(a.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    sim.faults()
        .push(Fault::slow(Endpoint::Livedata, Duration::from_secs(30)).once());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    let stalled = client
        .get(format!("{}{}", sim.base_url(), livedata_path(P, I)))
        .header("X-Auth-Token", DEMO_TOKEN)
        .send()
        .await;
    assert!(stalled.is_err_and(|e| e.is_timeout()));
    assert_eq!(sim.request_count(Endpoint::Livedata), 1);
    assert_eq!(get(&sim, &livedata_path(P, I)).await.status, 200);
}

#[tokio::test]
async fn counts_and_records_requests() {
    let sim = start(World::seeds()).await;
    for _ in 0..3 {
        get(&sim, &livedata_path(P, I)).await;
    }
    get(&sim, &format!("{}?limit=5", app_quotas_path(P, I))).await;
    get_as(&sim, &format!("/v3/{P}/project-quotas"), "bad").await;
    assert_eq!(sim.request_count(Endpoint::Livedata), 3);
    assert_eq!(sim.request_count(Endpoint::AppQuotaList), 1);
    assert_eq!(sim.request_count(Endpoint::Gaussdb), 1);
    assert_eq!(sim.request_count(Endpoint::Eventgrid), 0);

    let log = sim.requests();
    assert_eq!(log.len(), 5);
    let list = &log[3];
    assert_eq!(
        (
            list.method.as_str(),
            list.path.as_str(),
            list.query.as_str()
        ),
        ("GET", app_quotas_path(P, I).as_str(), "limit=5")
    );
    assert_eq!((list.endpoint, list.status), (Endpoint::AppQuotaList, 200));
    assert!(
        list.headers
            .contains(&("x-auth-token".to_owned(), DEMO_TOKEN.to_owned()))
    );
    assert_eq!((log[4].endpoint, log[4].status), (Endpoint::Gaussdb, 401));
}

fn token_request(password: &str, scope: Value) -> String {
    json!({"auth":{
        "identity":{"methods":["password"],"password":{"user":{
            "name":"monitoring","password":password,"domain":{"name":"sim-domain"}}}},
        "scope": scope}})
    .to_string()
}

async fn post_iam(sim: &Simulator, body: &str) -> Answer {
    let client = reqwest::Client::new();
    let url = format!("{}/v3/auth/tokens?nocatalog=true", sim.base_url());
    send(client.post(url).body(body.to_owned())).await
}

#[tokio::test]
async fn iam_stub_issues_scoped_tokens_that_expire() {
    let sim = start(World::demo()).await;
    let issued = post_iam(
        &sim,
        &token_request("demo-password", json!({"project":{"id":P}})),
    )
    .await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    let token = issued.header("x-subject-token").to_owned();
    assert!(!token.is_empty());
    let body = issued.json();
    assert_eq!(body["token"]["project"]["id"], P);
    let expires_at = body["token"]["expires_at"].as_str().expect("expires_at");
    assert_eq!(expires_at.len(), "2017-06-03T02:19:49.000000Z".len());
    assert!(expires_at.ends_with('Z'));

    assert_eq!(get_as(&sim, &livedata_path(P, I), &token).await.status, 200);
    // Scoped to one project.
    let other = get_as(&sim, &format!("/v1/{DEMO_OTC_PROJECT_ID}/quotas"), &token).await;
    assert_eq!(other.status, 403);
    // OTC style: scope by project name (the region).
    let by_name = post_iam(
        &sim,
        &token_request("demo-password", json!({"project":{"name":"eu-de"}})),
    )
    .await;
    assert_eq!(by_name.status, 201);
    let otc = by_name.header("x-subject-token").to_owned();
    assert_eq!(
        get_as(&sim, &format!("/v1/{DEMO_OTC_PROJECT_ID}/quotas"), &otc)
            .await
            .status,
        200
    );

    let wrong = post_iam(&sim, &token_request("guess", json!({"project":{"id":P}}))).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.json(),
        json!({"error":{"code":401,"message":"The username or password is wrong.","title":"Unauthorized"}})
    );
    assert!(wrong.header("x-subject-token").is_empty());
    for bad in [
        "",
        "{",
        r#"{"auth":{}}"#,
        r#"{"auth":{"identity":{"methods":["token"]}}}"#,
    ] {
        assert_eq!(post_iam(&sim, bad).await.status, 400, "{bad}");
    }
    let unknown = post_iam(
        &sim,
        &token_request("demo-password", json!({"project":{"id":"ffff"}})),
    )
    .await;
    assert_eq!(unknown.status, 401);

    sim.expire_issued_tokens();
    let expired = get_as(&sim, &livedata_path(P, I), &token).await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.error_code(), "APIG.0301");
    assert_eq!(
        get(&sim, &livedata_path(P, I)).await.status,
        200,
        "static tokens never expire"
    );
    assert_eq!(sim.request_count(Endpoint::IamTokens), 8);
}

#[tokio::test]
async fn zero_lifetime_tokens_are_expired_at_once() {
    let mut world = World::seeds();
    world.iam.token_lifetime = Duration::ZERO;
    let sim = start(world).await;
    let issued = post_iam(
        &sim,
        &token_request("demo-password", json!({"project":{"id":P}})),
    )
    .await;
    let token = issued.header("x-subject-token").to_owned();
    let a = get_as(&sim, &livedata_path(P, I), &token).await;
    assert_eq!((a.status, a.error_code().as_str()), (401, "APIG.0301"));
}

#[tokio::test]
async fn demo_world_serves_every_target_within_limits() {
    let sim = start(World::demo()).await;
    let world = sim.world();
    for p in &world.projects {
        for i in &p.roma_instances {
            let l = get(&sim, &livedata_path(&p.id, &i.id)).await.json();
            let n = |k: &str| {
                l[k].as_str()
                    .and_then(|s| s.parse::<u64>().ok())
                    .expect("number")
            };
            assert!(n("api_used") <= n("api") && n("datasource_used") <= n("datasource"));
            let list = get(&sim, &app_quotas_path(&p.id, &i.id)).await.json();
            assert_eq!(list["total"].as_u64(), Some(i.app_quotas.len() as u64));
        }
        assert_eq!(get(&sim, &format!("/v1/{}/quotas", p.id)).await.status, 200);
        let db = get(&sim, &format!("/v3/{}/project-quotas", p.id))
            .await
            .json();
        let used = db["quotas"]["resources"][0]["used"]
            .as_str()
            .expect("string");
        assert!(used.ends_with(','), "{used}");
    }
}

#[tokio::test]
async fn update_world_is_seen_and_shutdown_closes_the_port() {
    let sim = start(World::seeds()).await;
    sim.update_world(|w| w.projects[0].roma_instances[0].livedata.api_used = 9999);
    let l = get(&sim, &livedata_path(P, I)).await.json();
    assert_eq!(l["api_used"], "9999");

    let url = format!("{}{}", sim.base_url(), livedata_path(P, I));
    sim.shutdown();
    tokio::task::yield_now().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    assert!(client.get(url).send().await.is_err());
}

#[tokio::test]
async fn malformed_requests_get_answers_not_panics() {
    let sim = start(World::seeds()).await;
    let client = reqwest::Client::new();
    let base = app_quotas_path(P, I);
    let weird = [
        format!("{base}?limit=%zz&offset=%"),
        format!("{base}?name=%E2%28"),
        format!("{base}?&&&=&limit"),
        format!("/v2/{P}/apic/instances/%00/livedata-quota"),
        format!("/v1/{P}/quotas?type=%F0%28%8C%28"),
    ];
    for path in weird {
        let a = get(&sim, &path).await;
        assert!([200, 400, 404].contains(&a.status), "{path}: {}", a.status);
        a.json();
    }
    let too_big = send(
        client
            .post(format!("{}{base}", sim.base_url()))
            .header("X-Auth-Token", DEMO_TOKEN)
            .body(vec![b'x'; MAX_BODY_BYTES + 1]),
    )
    .await;
    assert_eq!(too_big.status, 413);
    let iam_binary = send(
        client
            .post(format!("{}/v3/auth/tokens", sim.base_url()))
            .body(vec![0xff, 0xfe]),
    )
    .await;
    assert_eq!(iam_binary.status, 400);
    // Still serving.
    assert_eq!(get(&sim, &livedata_path(P, I)).await.status, 200);
}

#[tokio::test]
async fn exporter_config_points_at_the_simulator() {
    let sim = start(World::demo()).await;
    let yaml = sim.world().exporter_config_yaml(&sim.base_url(), "1s");
    assert!(yaml.contains(&format!("roma: {}", sim.base_url())));
    assert!(yaml.contains(&format!("iam: {}/v3", sim.base_url())));
    assert!(yaml.contains("  interval: 1s\n"));
}

#[tokio::test]
async fn stats_add_up_the_time_requests_spend_in_flight() {
    let sim = start(World::seeds()).await;
    sim.faults()
        .push(Fault::slow(Endpoint::Livedata, Duration::from_millis(100)));
    let path = livedata_path(P, I);
    let four = (0..4).map(|_| get(&sim, &path));
    for a in futures_util::future::join_all(four).await {
        assert_eq!(a.status, 200);
    }
    let stats = get(&sim, STATS_PATH).await;
    assert_eq!(stats.status, 200);
    let v: Value = serde_json::from_str(&stats.text).expect("JSON");
    // The stats request itself is not counted.
    assert_eq!(v["requests"], json!(4));
    let busy = v["busy_seconds"].as_f64().expect("busy_seconds");
    assert!((0.4..2.0).contains(&busy), "{busy}");
    let first = v["first_request_seconds"].as_f64().expect("first");
    let last = v["last_answer_seconds"].as_f64().expect("last");
    // Four at once: the window is about one latency, in which four were in flight.
    assert!(last - first >= 0.1 && busy / (last - first) > 2.0, "{v}");
}
