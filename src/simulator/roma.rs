//! ROMA Connect: custom backend quota (livedata), client quotas (detail, list, create) and
//! the instance list used for discovery.

use std::time::Duration;

use hyper::StatusCode;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::{format_description, offset};

use super::reply::Reply;
use super::route::Query;
use super::world::{SimAppQuota, SimRomaInstance, World, drift_u64};

/// `GET .../livedata-quota`: every figure as a JSON string, as the real API does.
pub(crate) fn livedata(world: &World, project: &str, instance: &str, elapsed: Duration) -> Reply {
    let found = match find_instance(world, project, instance) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let l = found.livedata;
    let (api_used, datasource_used) = if world.drift {
        (
            drift_u64(
                l.api_used,
                l.api,
                &format!("{project}/{instance}/api"),
                elapsed,
            ),
            drift_u64(
                l.datasource_used,
                l.datasource,
                &format!("{project}/{instance}/datasource"),
                elapsed,
            ),
        )
    } else {
        (l.api_used, l.datasource_used)
    };
    Reply::json(
        StatusCode::OK,
        &json!({
            "api": l.api.to_string(),
            "api_used": api_used.to_string(),
            "datasource": l.datasource.to_string(),
            "datasource_used": datasource_used.to_string(),
            "scripts": l.scripts.to_string(),
        }),
    )
}

/// `GET .../app-quotas/{app_quota_id}`.
pub(crate) fn app_quota_detail(world: &World, project: &str, instance: &str, id: &str) -> Reply {
    let found = match find_instance(world, project, instance) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    match found.app_quotas.iter().find(|q| q.app_quota_id == id) {
        Some(quota) => Reply::json(StatusCode::OK, &quota_json(quota)),
        None => Reply::error(
            StatusCode::NOT_FOUND,
            "APIG.3093",
            format!("App quota {id} does not exist"),
        ),
    }
}

/// `GET .../app-quotas?offset=&limit=&name=`: one page, at most `max_page_size` long.
pub(crate) fn app_quota_list(world: &World, project: &str, instance: &str, query: &Query) -> Reply {
    let found = match find_instance(world, project, instance) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let (offset, take) = match page(query, world.max_page_size) {
        Ok(page) => page,
        Err(reply) => return reply,
    };
    let name = query.get("name").unwrap_or("");
    let matching: Vec<&SimAppQuota> = found
        .app_quotas
        .iter()
        .filter(|q| q.name.contains(name))
        .collect();
    let quotas: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(take)
        .map(|q| quota_json(q))
        .collect();
    Reply::json(
        StatusCode::OK,
        &json!({ "size": quotas.len(), "total": matching.len(), "quotas": quotas }),
    )
}

/// `POST .../app-quotas`: validates like the real API, then stores and returns the quota.
pub(crate) fn create_app_quota(
    world: &mut World,
    project: &str,
    instance: &str,
    body: &[u8],
) -> Reply {
    let found = match find_instance_mut(world, project, instance) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let new = match NewAppQuota::parse(body) {
        Ok(new) => new,
        Err(reply) => return reply,
    };
    if found.app_quotas.iter().any(|q| q.name == new.name) {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "APIG.3325",
            "The API quota name already exists",
        );
    }
    let now = OffsetDateTime::now_utc().to_offset(offset!(+8));
    let create_time = now
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:8]+08:00"
        ))
        .unwrap_or_default();
    let quota = SimAppQuota {
        app_quota_id: format!("{:032x}", rand::random::<u128>()),
        name: new.name,
        call_limits: new.call_limits,
        time_unit: new.time_unit,
        time_interval: new.time_interval,
        remark: new.remark,
        reset_time: new.reset_time,
        create_time,
        bound_app_num: None,
    };
    let reply = Reply::json(StatusCode::CREATED, &quota_json(&quota));
    found.app_quotas.push(quota);
    reply
}

/// `GET /v2/{project_id}/instances?status=&offset=&limit=`: the project's instances (only
/// those whose status is `status`, when given), at most [`World::instance_page_size`] (else
/// `max_page_size`) per page, whatever `limit` says.
pub(crate) fn instances(world: &World, project: &str, query: &Query) -> Reply {
    let Some(p) = world.projects.iter().find(|p| p.id == project) else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "APIG.3030",
            format!("The project does not exist;id:{project}"),
        );
    };
    let cap = world.instance_page_size.unwrap_or(world.max_page_size);
    let (offset, take) = match page(query, cap) {
        Ok(page) => page,
        Err(reply) => return reply,
    };
    let wanted = query.get("status").filter(|s| !s.is_empty());
    let matching: Vec<&SimRomaInstance> = p
        .roma_instances
        .iter()
        .filter(|i| wanted.is_none_or(|s| i.status == s))
        .collect();
    let instances: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(take)
        .map(|i| instance_json(i, &p.id, &p.region))
        .collect();
    Reply::json(
        StatusCode::OK,
        &json!({ "total": matching.len(), "size": instances.len(), "instances": instances }),
    )
}

fn instance_json(i: &SimRomaInstance, project_id: &str, region: &str) -> Value {
    let arm = i.flavor_type.contains("arm");
    json!({
        "id": i.id,
        "name": i.name,
        "description": i.description,
        "status": i.status,
        "project_id": project_id,
        "enterprise_project_id": "0",
        "flavor_type": i.flavor_type,
        "cpu_arch": if arm { "aarch64" } else { "x86_64" },
        "charge_type": "postPaid",
        "create_time": i.create_time,
        "update_time": i.create_time,
        "available_zone_ids": [format!("{region}a")],
        "version": "V1.0",
    })
}

/// `offset` (default 0) and the page length: `limit` (1..=500, default 20) capped at
/// `max_page_size` (0: no cap).
pub(crate) fn page(query: &Query, max_page_size: usize) -> Result<(usize, usize), Reply> {
    let offset = match query.get("offset") {
        None | Some("") => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| Reply::invalid_parameter("offset", "offset must be an integer >= 0"))?,
    };
    let limit = match query.get("limit") {
        None | Some("") => 20,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=500).contains(l))
            .ok_or_else(|| {
                Reply::invalid_parameter("limit", "limit must be an integer from 1 to 500")
            })?,
    };
    Ok((
        offset,
        if max_page_size == 0 {
            limit
        } else {
            limit.min(max_page_size)
        },
    ))
}

fn quota_json(quota: &SimAppQuota) -> Value {
    serde_json::to_value(quota).unwrap_or_default()
}

fn instance_not_found(instance: &str) -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        "APIG.3030",
        format!("The instance does not exist;id:{instance}"),
    )
}

/// An unknown project answers like an unknown instance: the caller cannot tell them apart.
fn find_instance<'w>(
    world: &'w World,
    project: &str,
    instance: &str,
) -> Result<&'w SimRomaInstance, Reply> {
    world
        .projects
        .iter()
        .find(|p| p.id == project)
        .and_then(|p| p.roma_instances.iter().find(|i| i.id == instance))
        .filter(|i| i.serves_quotas())
        .ok_or_else(|| instance_not_found(instance))
}

fn find_instance_mut<'w>(
    world: &'w mut World,
    project: &str,
    instance: &str,
) -> Result<&'w mut SimRomaInstance, Reply> {
    world
        .projects
        .iter_mut()
        .find(|p| p.id == project)
        .and_then(|p| p.roma_instances.iter_mut().find(|i| i.id == instance))
        .filter(|i| i.serves_quotas())
        .ok_or_else(|| instance_not_found(instance))
}

/// A validated create request body (API-NOTES, seed `003`).
#[derive(Debug, PartialEq, Eq)]
struct NewAppQuota {
    name: String,
    call_limits: i64,
    time_unit: String,
    time_interval: i64,
    reset_time: Option<String>,
    remark: Option<String>,
}

impl NewAppQuota {
    fn parse(body: &[u8]) -> Result<NewAppQuota, Reply> {
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
            return Err(Reply::invalid_parameter(
                "body",
                "the request body must be a JSON object",
            ));
        };
        let name = required_str(&fields, "name")?;
        let name_ok = (3..=255).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(Reply::invalid_parameter(
                "name",
                "3 to 255 letters, digits and underscores, starting with a letter",
            ));
        }
        let time_unit = required_str(&fields, "time_unit")?;
        if !["SECOND", "MINUTE", "HOUR", "HOURE", "DAY"].contains(&time_unit) {
            return Err(Reply::invalid_parameter(
                "time_unit",
                "one of SECOND, MINUTE, HOURE, DAY",
            ));
        }
        let remark = optional_str(&fields, "remark")?;
        if remark.is_some_and(|r| r.chars().count() > 255 || r.contains('<') || r.contains('>')) {
            return Err(Reply::invalid_parameter(
                "remark",
                "at most 255 characters, without < or >",
            ));
        }
        Ok(NewAppQuota {
            name: name.to_owned(),
            call_limits: positive_i32(&fields, "call_limits")?,
            time_unit: time_unit.to_owned(),
            time_interval: positive_i32(&fields, "time_interval")?,
            reset_time: optional_str(&fields, "reset_time")?.map(str::to_owned),
            remark: remark.map(str::to_owned),
        })
    }
}

fn required_str<'v>(fields: &'v Map<String, Value>, key: &str) -> Result<&'v str, Reply> {
    optional_str(fields, key)?
        .ok_or_else(|| Reply::invalid_parameter(key, &format!("{key} is required")))
}

/// A string field; absent or `null` is `None`, another type is an error.
fn optional_str<'v>(fields: &'v Map<String, Value>, key: &str) -> Result<Option<&'v str>, Reply> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Reply::invalid_parameter(
            key,
            &format!("{key} must be a string"),
        )),
    }
}

fn positive_i32(fields: &Map<String, Value>, key: &str) -> Result<i64, Reply> {
    fields
        .get(key)
        .and_then(Value::as_i64)
        .filter(|n| (1..=i64::from(i32::MAX)).contains(n))
        .ok_or_else(|| {
            Reply::invalid_parameter(
                key,
                &format!("{key} must be an integer from 1 to 2147483647"),
            )
        })
}
