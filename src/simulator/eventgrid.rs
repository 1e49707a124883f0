//! EventGrid tenant quotas: `GET /v1/{project_id}/quotas[?type=T]`, plain integers.

use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;

use super::reply::Reply;
use super::route::Query;
use super::world::{World, drift};

/// Every quota resource of the project, or only those of `?type=`.
pub(crate) fn quotas(world: &World, project: &str, query: &Query, elapsed: Duration) -> Reply {
    let Some(p) = world.projects.iter().find(|p| p.id == project) else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "EG.00014040",
            "Not request resource found",
        );
    };
    let wanted = query.get("type").filter(|t| !t.is_empty());
    let resources: Vec<_> = p
        .eventgrid
        .iter()
        .filter(|q| wanted.is_none_or(|t| q.r#type == t))
        .map(|q| {
            let mut q = q.clone();
            if world.drift {
                let key = format!("{project}/eventgrid/{}", q.r#type);
                q.used = drift(q.used, q.quota, &key, elapsed);
            }
            q
        })
        .collect();
    Reply::json(
        StatusCode::OK,
        &json!({ "quotas": { "resources": resources } }),
    )
}
