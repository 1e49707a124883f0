//! IAM's discovery routes (a global service): `GET /v3/auth/projects`
//! (KeystoneListAuthProjects) and `GET /v3/auth/domains`. Credentials are checked by
//! [`super::iam::authorize_global`] first.

use hyper::StatusCode;
use hyper::header::{HOST, HeaderMap};
use serde_json::{Value, json};

use super::reply::Reply;
use super::world::World;

/// `http://{Host}` of the request, for the `links` IAM puts in its answers.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or("iam.myhuaweicloud.com");
    format!("http://{host}")
}

/// Every project of the account, disabled ones and ones that are no region included.
pub(crate) fn projects(world: &World, headers: &HeaderMap) -> Reply {
    let origin = origin(headers);
    let domain_id = &world.iam.domain_id;
    let projects: Vec<Value> = world
        .projects
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "name": p.iam_name(),
                "domain_id": domain_id,
                "parent_id": p.parent_id.as_deref().unwrap_or(domain_id),
                "enabled": p.enabled,
                "is_domain": false,
                "description": p.description,
                "links": { "self": format!("{origin}/v3/projects/{}", p.id) },
            })
        })
        .collect();
    Reply::json(
        StatusCode::OK,
        &json!({
            "projects": projects,
            "links": {
                "self": format!("{origin}/v3/auth/projects"),
                "previous": null,
                "next": null,
            },
        }),
    )
}

/// The account's one domain.
pub(crate) fn domains(world: &World, headers: &HeaderMap) -> Reply {
    let origin = origin(headers);
    let iam = &world.iam;
    Reply::json(
        StatusCode::OK,
        &json!({
            "domains": [{
                "id": iam.domain_id,
                "name": iam.domain,
                "enabled": true,
                "description": "",
                "links": { "self": format!("{origin}/v3/domains/{}", iam.domain_id) },
            }],
            "links": {
                "self": format!("{origin}/v3/auth/domains"),
                "previous": null,
                "next": null,
            },
        }),
    )
}
