//! GaussDB for MySQL tenant quotas: `GET /v3/{project_id}/project-quotas[?type=instance]`,
//! served with the published example's quirks: `"type":"instance,"`, `"used":"4,"` (a string
//! with a trailing comma) next to an integer `quota`.

use std::time::Duration;

use hyper::StatusCode;
use serde_json::{Value, json};

use super::reply::Reply;
use super::route::Query;
use super::world::{World, drift};

/// Every quota resource of the project, or only those of `?type=`.
pub(crate) fn quotas(world: &World, project: &str, query: &Query, elapsed: Duration) -> Reply {
    let Some(p) = world.projects.iter().find(|p| p.id == project) else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "DBS.200022",
            format!("The project does not exist;id:{project}"),
        );
    };
    let wanted = query.get("type").filter(|t| !t.is_empty());
    let resources: Vec<Value> = p
        .gaussdb
        .iter()
        .filter(|q| wanted.is_none_or(|t| q.r#type == t))
        .map(|q| {
            let used = if world.drift {
                drift(q.used, q.quota, &format!("{project}/gaussdb/{}", q.r#type), elapsed)
            } else {
                q.used
            };
            json!({ "type": format!("{},", q.r#type), "used": format!("{used},"), "quota": q.quota })
        })
        .collect();
    Reply::json(
        StatusCode::OK,
        &json!({ "quotas": { "resources": resources } }),
    )
}
