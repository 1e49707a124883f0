//! Discovery over real HTTP: IAM's project and domain lists (AK/SK with `X-Domain-Id`, or
//! IAM tokens) and the ROMA Connect instance list, with the world changing while it runs.

use std::collections::BTreeMap;

use super::auth::{SignedRequest, assert_refused};
use super::*;

const PROJECTS: &str = "/v3/auth/projects";
const DOMAINS: &str = "/v3/auth/domains";

fn instances_path(p: &str) -> String {
    format!("/v2/{p}/instances")
}

/// The project list as `name -> project`.
fn by_name(answer: &Answer) -> BTreeMap<String, Value> {
    let body = answer.json();
    body["projects"]
        .as_array()
        .unwrap_or_else(|| panic!("projects array: {}", answer.text))
        .iter()
        .map(|p| (p["name"].as_str().unwrap_or("").to_owned(), p.clone()))
        .collect()
}

fn signed_projects() -> SignedRequest {
    SignedRequest::get(PROJECTS).signed_header("x-domain-id", SIM_DOMAIN_ID)
}

#[tokio::test]
async fn iam_lists_every_project_for_aksk_with_the_domain_id() {
    let sim = start(World::discovery()).await;
    let a = signed_projects().send(&sim).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let projects = by_name(&a);
    assert_eq!(
        projects.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "MOS",
            "ap-southeast-1",
            "cn-east-3",
            "cn-north-4",
            "cn-north-4_dev"
        ]
    );
    let host = sim.local_addr().to_string();
    for (name, p) in &projects {
        let id = p["id"].as_str().expect("id");
        assert_eq!(id.len(), 32, "{name}");
        assert_eq!(p["domain_id"], SIM_DOMAIN_ID, "{name}");
        assert_eq!(p["is_domain"], false, "{name}");
        assert!(p["description"].is_string(), "{name}");
        assert_eq!(
            p["links"]["self"],
            format!("http://{host}/v3/projects/{id}"),
            "{name}"
        );
        let want_enabled = name != "cn-east-3";
        assert_eq!(p["enabled"], want_enabled, "{name}");
        let want_parent = if name == "cn-north-4_dev" {
            SEED_PROJECT_ID
        } else {
            SIM_DOMAIN_ID
        };
        assert_eq!(p["parent_id"], want_parent, "{name}");
    }
    assert_eq!(projects["cn-north-4"]["id"], SEED_PROJECT_ID);
    assert_eq!(projects["cn-north-4_dev"]["id"], DISCOVERY_DEV_PROJECT_ID);
    assert_eq!(projects["MOS"]["id"], DISCOVERY_MOS_PROJECT_ID);
    let links = &a.json()["links"];
    assert_eq!(links["self"], format!("http://{host}{PROJECTS}"));
    assert!(links["next"].is_null() && links["previous"].is_null());

    // Temporary AK/SK with their security token work the same way.
    let temp = signed_projects()
        .keys(SIM_TEMP_ACCESS_KEY, SIM_TEMP_SECRET_KEY)
        .signed_header("x-security-token", SIM_SECURITY_TOKEN)
        .send(&sim)
        .await;
    assert_eq!(temp.status, 200, "{}", temp.text);

    // The seed world lists its one project under its region's name.
    let seeds = start(World::seeds()).await;
    let one = by_name(&signed_projects().send(&seeds).await);
    assert_eq!(one.keys().collect::<Vec<_>>(), ["cn-north-4"]);
    assert_eq!(sim.request_count(Endpoint::IamProjects), 2);
}

#[tokio::test]
async fn iam_refuses_aksk_without_the_right_domain_id() {
    let sim = start(World::discovery()).await;
    let cases: Vec<(&str, SignedRequest, &str)> = vec![
        (
            "no X-Domain-Id",
            SignedRequest::get(PROJECTS),
            "needs a signed X-Domain-Id",
        ),
        (
            "X-Project-Id instead",
            SignedRequest::get(PROJECTS).signed_header("x-project-id", SEED_PROJECT_ID),
            "needs a signed X-Domain-Id",
        ),
        (
            "another account",
            SignedRequest::get(PROJECTS).signed_header("x-domain-id", "ffffffffffffffff"),
            "X-Domain-Id ffffffffffffffff is not the account",
        ),
        (
            "X-Domain-Id not signed",
            SignedRequest::get(PROJECTS).unsigned_header("x-domain-id", SIM_DOMAIN_ID),
            "header x-domain-id must be signed",
        ),
        (
            "wrong secret key",
            signed_projects().keys(SIM_ACCESS_KEY, "wrong"),
            "the signature does not match",
        ),
        (
            "temporary key without its token",
            signed_projects().keys(SIM_TEMP_ACCESS_KEY, SIM_TEMP_SECRET_KEY),
            "needs a signed X-Security-Token",
        ),
    ];
    for (case, request, needle) in &cases {
        assert_refused(&request.send(&sim).await, needle, case);
    }
    // Unauthenticated: IAM's own 401 shape.
    let none = send(reqwest::Client::new().get(format!("{}{PROJECTS}", sim.base_url()))).await;
    assert_eq!(none.status, 401);
    assert_eq!(
        none.json(),
        json!({"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}})
    );
}

#[tokio::test]
async fn domain_list_gives_the_account_id_without_one() {
    let sim = start(World::discovery()).await;
    // The SDKs call it without X-Domain-Id to learn the id.
    let a = SignedRequest::get(DOMAINS).send(&sim).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let body = a.json();
    assert_eq!(body["domains"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["domains"][0]["id"], SIM_DOMAIN_ID);
    assert_eq!(body["domains"][0]["name"], "sim-domain");
    assert_eq!(body["domains"][0]["enabled"], true);
    assert!(body["links"]["self"].is_string());
    // With the right id too; a wrong one is refused.
    let right = SignedRequest::get(DOMAINS)
        .signed_header("x-domain-id", SIM_DOMAIN_ID)
        .send(&sim)
        .await;
    assert_eq!(right.status, 200);
    let wrong = SignedRequest::get(DOMAINS)
        .signed_header("x-domain-id", "0000")
        .send(&sim)
        .await;
    assert_refused(&wrong, "is not the account", "wrong domain id");
    // A changed account id shows at once.
    sim.update_world(|w| w.iam.domain_id = "abcdef".to_owned());
    let changed = SignedRequest::get(DOMAINS).send(&sim).await.json();
    assert_eq!(changed["domains"][0]["id"], "abcdef");
    assert_refused(
        &signed_projects().send(&sim).await,
        "is not the account",
        "old domain id",
    );
    assert_eq!(sim.request_count(Endpoint::IamDomains), 4);
}

#[tokio::test]
async fn domain_scoped_tokens_list_projects_but_call_no_project_api() {
    let sim = start(World::discovery()).await;
    let domain = post_iam(
        &sim,
        &token_request("demo-password", json!({"domain":{"name":"sim-domain"}})),
    )
    .await;
    assert_eq!(domain.status, 201, "{}", domain.text);
    assert_eq!(domain.json()["token"]["domain"]["id"], SIM_DOMAIN_ID);
    let token = domain.header("x-subject-token").to_owned();
    let listed = get_as(&sim, PROJECTS, &token).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(by_name(&listed).len(), 5);
    assert_eq!(get_as(&sim, DOMAINS, &token).await.status, 200);
    let project_api = get_as(&sim, &instances_path(SEED_PROJECT_ID), &token).await;
    assert_eq!(project_api.status, 403);
    assert_eq!(project_api.error_code(), "APIG.1005");

    // Scope by domain id works too; another domain does not.
    let by_id = post_iam(
        &sim,
        &token_request("demo-password", json!({"domain":{"id":SIM_DOMAIN_ID}})),
    )
    .await;
    assert_eq!(by_id.status, 201);
    let other = post_iam(
        &sim,
        &token_request("demo-password", json!({"domain":{"name":"other"}})),
    )
    .await;
    assert_eq!(other.status, 401);

    // A project-scoped token still calls its project's APIs, and may list too.
    let dev = post_iam(
        &sim,
        &token_request(
            "demo-password",
            json!({"project":{"name":"cn-north-4_dev"}}),
        ),
    )
    .await;
    assert_eq!(dev.status, 201, "{}", dev.text);
    assert_eq!(
        dev.json()["token"]["project"]["id"],
        DISCOVERY_DEV_PROJECT_ID
    );
    let dev_token = dev.header("x-subject-token").to_owned();
    let dev_instances = get_as(&sim, &instances_path(DISCOVERY_DEV_PROJECT_ID), &dev_token).await;
    assert_eq!(dev_instances.status, 200);
    assert_eq!(get_as(&sim, PROJECTS, &dev_token).await.status, 200);
    // A disabled project cannot be scoped.
    let disabled = post_iam(
        &sim,
        &token_request(
            "demo-password",
            json!({"project":{"id":DISCOVERY_DISABLED_PROJECT_ID}}),
        ),
    )
    .await;
    assert_eq!(disabled.status, 401);
    assert_eq!(
        disabled.json()["error"]["message"],
        "The project in the scope is disabled."
    );

    // Unknown and expired tokens: IAM's 401.
    assert_eq!(get_as(&sim, PROJECTS, "nope").await.status, 401);
    sim.expire_issued_tokens();
    let expired = get_as(&sim, PROJECTS, &token).await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.json()["error"]["code"], 401);
    // Static tokens list too.
    assert_eq!(get(&sim, PROJECTS).await.status, 200);
}

/// Pages the instance list as API-NOTES says; returns the ids and the page sizes.
async fn page_instances(sim: &Simulator, project: &str, extra: &str) -> (Vec<String>, Vec<usize>) {
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    let mut offset = 0;
    loop {
        let a = get(
            sim,
            &format!(
                "{}?offset={offset}&limit=20{extra}",
                instances_path(project)
            ),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text);
        let page = a.json();
        let list = page["instances"].as_array().expect("instances");
        let size = usize::try_from(page["size"].as_u64().expect("size")).expect("usize");
        assert_eq!(size, list.len());
        sizes.push(size);
        ids.extend(
            list.iter()
                .map(|i| i["id"].as_str().unwrap_or("").to_owned()),
        );
        offset += size;
        let total = usize::try_from(page["total"].as_u64().expect("total")).expect("usize");
        if offset >= total || size == 0 {
            break;
        }
    }
    (ids, sizes)
}

#[tokio::test]
async fn instance_list_pages_below_limit_and_filters_by_status() {
    let sim = start(World::discovery()).await;
    let (ids, sizes) = page_instances(&sim, SEED_PROJECT_ID, "").await;
    assert_eq!(ids.len(), 12);
    assert_eq!(sizes, [7, 5], "fewer than limit=20 per page");
    assert_eq!(ids[0], SEED_INSTANCE_ID);
    assert_eq!(sim.request_count(Endpoint::RomaInstances), 2);

    let (running, _) = page_instances(&sim, SEED_PROJECT_ID, "&status=RUNNING").await;
    assert_eq!(running.len(), 10);
    let creating = get(
        &sim,
        &format!("{}?status=CREATING", instances_path(SEED_PROJECT_ID)),
    )
    .await
    .json();
    assert_eq!(
        (creating["total"].clone(), creating["size"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(creating["instances"][0]["name"], "prod-roma-creating");
    assert_eq!(creating["instances"][0]["status"], "CREATING");
    let none = get(
        &sim,
        &format!("{}?status=DELETED", instances_path(SEED_PROJECT_ID)),
    )
    .await
    .json();
    assert_eq!(
        (none["total"].clone(), none["size"].clone()),
        (json!(0), json!(0))
    );

    // Every documented field.
    let first = get(
        &sim,
        &format!("{}?limit=1", instances_path(SEED_PROJECT_ID)),
    )
    .await
    .json();
    assert_eq!(first["size"], 1);
    assert_eq!(first["total"], 12);
    let i = &first["instances"][0];
    for key in [
        "id",
        "name",
        "description",
        "status",
        "project_id",
        "enterprise_project_id",
        "flavor_type",
        "cpu_arch",
        "charge_type",
        "create_time",
        "update_time",
    ] {
        assert!(i[key].is_string(), "{key}: {i}");
    }
    assert_eq!(i["project_id"], SEED_PROJECT_ID);
    assert_eq!(i["available_zone_ids"], json!(["cn-north-4a"]));

    // Other projects: the sub-project has a failed instance, MOS none.
    let dev = get(&sim, &instances_path(DISCOVERY_DEV_PROJECT_ID))
        .await
        .json();
    assert_eq!(dev["total"], 2);
    assert_eq!(dev["instances"][1]["status"], "CREATE_FAILED");
    let mos = get(&sim, &instances_path(DISCOVERY_MOS_PROJECT_ID))
        .await
        .json();
    assert_eq!(mos, json!({"total":0,"size":0,"instances":[]}));

    // Bad paging parameters, as for the client quota list.
    for bad in ["limit=0", "limit=501", "offset=-1"] {
        let a = get(&sim, &format!("{}?{bad}", instances_path(SEED_PROJECT_ID))).await;
        assert_eq!(
            (a.status, a.error_code().as_str()),
            (400, "APIG.2011"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn instances_and_projects_appear_and_vanish_at_run_time() {
    let sim = start(World::discovery()).await;
    let new_id = "0badc0de-0000-4000-8000-000000000001";
    let instance = SimRomaInstance::new(new_id, "prod-roma-new");
    assert!(!sim.add_roma_instance("no-such-project", instance.clone()));
    assert!(sim.add_roma_instance(SEED_PROJECT_ID, instance));
    let (ids, _) = page_instances(&sim, SEED_PROJECT_ID, "").await;
    assert_eq!(ids.len(), 13);
    assert!(ids.iter().any(|i| i == new_id));
    assert_eq!(
        get(&sim, &livedata_path(SEED_PROJECT_ID, new_id))
            .await
            .status,
        200
    );

    // Deleted: gone from the list, its quota calls answer 404 APIG.3030.
    assert!(sim.remove_roma_instance(SEED_PROJECT_ID, new_id).is_some());
    assert!(sim.remove_roma_instance(SEED_PROJECT_ID, new_id).is_none());
    let (ids, _) = page_instances(&sim, SEED_PROJECT_ID, "").await;
    assert_eq!(ids.len(), 12);
    for path in [
        livedata_path(SEED_PROJECT_ID, new_id),
        app_quotas_path(SEED_PROJECT_ID, new_id),
    ] {
        let gone = get(&sim, &path).await;
        assert_eq!(gone.status, 404, "{path}");
        assert_eq!(gone.error_code(), "APIG.3030", "{path}");
    }

    // An instance in state DELETED is still listed (with its status) but serves no quotas.
    assert!(sim.set_roma_instance_status(SEED_PROJECT_ID, SEED_INSTANCE_ID, "DELETED"));
    let livedata = get(&sim, &livedata_path(SEED_PROJECT_ID, SEED_INSTANCE_ID)).await;
    assert_eq!(
        (livedata.status, livedata.error_code().as_str()),
        (404, "APIG.3030")
    );
    let deleted = get(
        &sim,
        &format!("{}?status=DELETED", instances_path(SEED_PROJECT_ID)),
    )
    .await
    .json();
    assert_eq!(deleted["instances"][0]["id"], SEED_INSTANCE_ID);
    assert!(sim.set_roma_instance_status(SEED_PROJECT_ID, SEED_INSTANCE_ID, "RUNNING"));
    assert_eq!(
        get(&sim, &livedata_path(SEED_PROJECT_ID, SEED_INSTANCE_ID))
            .await
            .status,
        200
    );

    // Projects come and go in IAM's list.
    let new_project = "5a6b7c8d9e0f41a2b3c4d5e6f7a8b9c0";
    sim.add_project(
        SimProject::new(new_project, "la-south-2")
            .with_instance(SimRomaInstance::new("1-2-3", "prod-la")),
    );
    let listed = by_name(&get(&sim, PROJECTS).await);
    assert_eq!(listed["la-south-2"]["id"], new_project);
    assert_eq!(
        get(&sim, &instances_path(new_project)).await.json()["total"],
        1
    );
    assert!(sim.remove_project(new_project).is_some());
    assert!(!by_name(&get(&sim, PROJECTS).await).contains_key("la-south-2"));
    assert_eq!(get(&sim, &instances_path(new_project)).await.status, 404);
    assert_eq!(
        get(&sim, &format!("/v1/{new_project}/quotas")).await.status,
        404
    );
}

#[tokio::test]
async fn discovery_endpoints_take_faults() {
    let sim = start(World::discovery()).await;
    sim.faults()
        .push(Fault::error(Endpoint::IamProjects, 500).once());
    let failed = get(&sim, PROJECTS).await;
    assert_eq!(failed.status, 500);
    assert_eq!(
        failed.json(),
        json!({"error":{"code":500,"message":"System error","title":"Internal Server Error"}})
    );
    assert_eq!(get(&sim, PROJECTS).await.status, 200);

    sim.faults().push(
        Fault::throttled(Endpoint::RomaInstances, Some(3))
            .for_project(DISCOVERY_AP_PROJECT_ID)
            .once(),
    );
    // Another project is not affected.
    assert_eq!(
        get(&sim, &instances_path(SEED_PROJECT_ID)).await.status,
        200
    );
    let throttled = get(&sim, &instances_path(DISCOVERY_AP_PROJECT_ID)).await;
    assert_eq!(
        (throttled.status, throttled.header("retry-after")),
        (429, "3")
    );
    assert_eq!(throttled.error_code(), "APIG.0308");
    assert_eq!(
        get(&sim, &instances_path(DISCOVERY_AP_PROJECT_ID))
            .await
            .status,
        200
    );
    assert_eq!(sim.request_count(Endpoint::IamProjects), 2);
    assert_eq!(sim.request_count(Endpoint::RomaInstances), 3);
}
