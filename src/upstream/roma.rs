//! ROMA Connect responses: the custom backend quota (`livedata-quota`) and client quotas
//! (`app-quotas`, detail and list), decoded leniently into samples.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::config::AppQuotaSelection;
use crate::model::poll::{ClientQuota, PollOutput, ResourceQuota, ValueError};
use crate::model::target::Target;
use crate::upstream::decode::{
    DecodeError, as_object, json_kind, parse_json, present, push_value_error, read_number,
    read_text,
};
use tokio::time::Instant;

use crate::model::outcome::{ErrorCode, PollError};
use crate::upstream::client::UpstreamClient;
use crate::upstream::decode::value::{self, TimeUnit};
use crate::upstream::transport::encode_component;

/// The livedata resources: (resource label, limit key, usage key). Upstream sends no
/// `scripts_used`, but it is read if it ever appears.
const LIVEDATA: [(&str, &str, &str); 3] = [
    ("api", "api", "api_used"),
    ("datasource", "datasource", "datasource_used"),
    ("scripts", "scripts", "scripts_used"),
];

/// Decodes `GET .../livedata-quota`: `{api, api_used, datasource, datasource_used,
/// scripts}`, figures usually as strings (`"10000"`). A resource appears when at least one
/// of its figures was sent. An object with none of the keys is a [`DecodeError`]: it is
/// some other document (an error body sent with status 200), not an empty quota.
pub fn decode_livedata(body: &[u8]) -> Result<PollOutput, DecodeError> {
    let doc = parse_json(body)?;
    let obj = as_object(&doc, "the livedata-quota response")?;
    let known = LIVEDATA.iter().flat_map(|(_, limit, used)| [*limit, *used]);
    if !known.clone().any(|k| obj.contains_key(k)) {
        return Err(DecodeError::Shape(format!(
            "none of the livedata-quota fields ({}) is present",
            known.collect::<Vec<_>>().join(", ")
        )));
    }
    let mut out = PollOutput::default();
    for (resource, limit_key, used_key) in LIVEDATA {
        if present(obj, limit_key).is_none() && present(obj, used_key).is_none() {
            continue;
        }
        let limit = read_number(obj, limit_key, "", &mut out.value_errors);
        let used = read_number(obj, used_key, "", &mut out.value_errors);
        out.resources.push(ResourceQuota {
            resource: resource.to_owned(),
            limit,
            used,
            ..ResourceQuota::default()
        });
    }
    Ok(out)
}

/// Decodes `GET .../app-quotas/{app_quota_id}` (and the `POST .../app-quotas` answer,
/// which has the same shape). Value errors name the quota: `app_quota {id}: call_limits`.
/// A body without an `app_quota_id` is a [`DecodeError`]: without it there is nothing to
/// label the series with.
pub fn decode_app_quota(body: &[u8]) -> Result<(ClientQuota, Vec<ValueError>), DecodeError> {
    let doc = parse_json(body)?;
    let obj = as_object(&doc, "the app quota response")?;
    let id = app_quota_id(obj).ok_or_else(|| {
        DecodeError::Shape("`app_quota_id` is missing, empty or not text".to_owned())
    })?;
    let prefix = format!("app_quota {id}: ");
    let mut errors = Vec::new();
    let quota = client_quota(obj, id, &prefix, &mut errors);
    Ok((quota, errors))
}

/// One page of `GET .../app-quotas?offset=&limit=` (discovery).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppQuotaPage {
    /// `size`: how many quotas this page holds; `None` when missing or unreadable.
    pub size: Option<u64>,
    /// `total`: how many quotas exist; `None` when missing or unreadable.
    pub total: Option<u64>,
    /// The quotas of this page that could be read, in upstream order.
    pub quotas: Vec<ClientQuota>,
    /// Figures that could not be read, and entries skipped (no id, a repeated id).
    pub value_errors: Vec<ValueError>,
}

/// Decodes one page of the client quota list: `{size, total, quotas:[...]}`. An entry
/// without an id, or with the id of an earlier entry on the page, is skipped with a
/// [`ValueError`] (a repeated id would repeat series). `quotas` may be `null` (Go's nil
/// slice); missing, it is a [`DecodeError`] unless `total` says the list is empty.
pub fn decode_app_quota_page(body: &[u8]) -> Result<AppQuotaPage, DecodeError> {
    let doc = parse_json(body)?;
    let obj = as_object(&doc, "the app quota list response")?;
    let mut page = AppQuotaPage::default();
    page.size = read_count(obj, "size", &mut page.value_errors);
    page.total = read_count(obj, "total", &mut page.value_errors);
    let items = match obj.get("quotas") {
        Some(Value::Array(items)) => items.as_slice(),
        Some(Value::Null) => &[][..],
        None if page.total == Some(0) => &[][..],
        None => return Err(DecodeError::Shape("`quotas` is missing".to_owned())),
        Some(other) => {
            return Err(DecodeError::Shape(format!(
                "expected `quotas` to be an array, found {}",
                json_kind(other)
            )));
        }
    };
    let mut first_at: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("quotas[{i}].");
        let Some(entry) = item.as_object() else {
            let why = format!("expected an object, found {}", json_kind(item));
            push_value_error(&mut page.value_errors, format!("quotas[{i}]"), item, why);
            continue;
        };
        let Some(id) = app_quota_id(entry) else {
            let raw = entry.get("app_quota_id").unwrap_or(&Value::Null);
            let field = format!("{prefix}app_quota_id");
            let why = "app_quota_id is missing, empty or not text; entry skipped";
            push_value_error(&mut page.value_errors, field, raw, why);
            continue;
        };
        if let Some(first) = first_at.get(id.as_str()) {
            let raw = entry.get("app_quota_id").unwrap_or(&Value::Null);
            let field = format!("{prefix}app_quota_id");
            let why =
                format!("duplicate app_quota_id {id:?} (first at quotas[{first}]); entry skipped");
            push_value_error(&mut page.value_errors, field, raw, why);
            continue;
        }
        first_at.insert(id.clone(), i);
        let quota = client_quota(entry, id, &prefix, &mut page.value_errors);
        page.quotas.push(quota);
    }
    Ok(page)
}

/// The trimmed, non-empty `app_quota_id`, the label every client series carries. The
/// callers report its absence in their own terms, so [`read_text`]'s error is not kept.
fn app_quota_id(obj: &Map<String, Value>) -> Option<String> {
    read_text(obj, "app_quota_id", "", &mut Vec::new())
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// A non-negative whole count (`size`, `total`); anything else is a [`ValueError`].
fn read_count(obj: &Map<String, Value>, key: &str, errors: &mut Vec<ValueError>) -> Option<u64> {
    let n = read_number(obj, key, "", errors)?;
    if n >= 0.0 && n.fract() == 0.0 && n < u64::MAX as f64 {
        // In range and whole, so the conversion is exact.
        Some(n as u64)
    } else {
        let raw = present(obj, key).unwrap_or(&Value::Null);
        push_value_error(
            errors,
            key.to_owned(),
            raw,
            "expected a non-negative whole number",
        );
        None
    }
}

/// The fields of one client quota object; `id` is already read. Value errors are named
/// `{prefix}{key}`.
fn client_quota(
    obj: &Map<String, Value>,
    id: String,
    prefix: &str,
    errors: &mut Vec<ValueError>,
) -> ClientQuota {
    let unit = read_text(obj, "time_unit", prefix, errors)
        .filter(|u| !u.trim().is_empty())
        .and_then(|u| match TimeUnit::parse(&u) {
            Ok(unit) => Some(unit),
            Err(why) => {
                let raw = present(obj, "time_unit").unwrap_or(&Value::Null);
                push_value_error(errors, format!("{prefix}time_unit"), raw, why);
                None
            }
        });
    let interval = read_number(obj, "time_interval", prefix, errors);
    let reset_timestamp = present(obj, "reset_time")
        // An empty reset_time means "from the first call", not an unreadable time.
        .filter(|v| v.as_str().is_none_or(|s| !s.trim().is_empty()))
        .and_then(|raw| match value::parse_timestamp_value(raw) {
            Ok(t) => Some(t),
            Err(why) => {
                push_value_error(errors, format!("{prefix}reset_time"), raw, why);
                None
            }
        });
    ClientQuota {
        app_quota_id: id,
        name: read_text(obj, "name", prefix, errors).unwrap_or_default(),
        time_unit: unit.map(|u| u.as_str().to_owned()).unwrap_or_default(),
        remark: read_text(obj, "remark", prefix, errors).unwrap_or_default(),
        call_limit: read_number(obj, "call_limits", prefix, errors),
        // Unreadable parts were reported above; the window just stays unknown.
        window_seconds: interval.zip(unit).map(|(n, u)| n * u.seconds()),
        bound_apps: read_number(obj, "bound_app_num", prefix, errors),
        reset_timestamp,
    }
}

/// Polls the custom backend quota of one instance.
pub async fn poll_livedata(
    client: &UpstreamClient,
    target: &Target,
    instance_id: &str,
    budget_end: Instant,
) -> Result<PollOutput, PollError> {
    let path = format!(
        "/v2/{}/apic/instances/{}/livedata-quota",
        encode_component(&target.project.id),
        encode_component(instance_id)
    );
    client
        .fetch(target, &path, budget_end, decode_livedata)
        .await
}

/// Largest page the list call allows.
const PAGE_LIMIT: u64 = 500;
/// Bound on pages per poll, so a server that never advances cannot loop us forever.
const MAX_PAGES: usize = 1000;

/// Polls the client quotas of one instance: the paged list call for `discover`, one
/// detail call per id otherwise.
pub async fn poll_app_quotas(
    client: &UpstreamClient,
    target: &Target,
    instance_id: &str,
    app_quotas: &AppQuotaSelection,
    budget_end: Instant,
) -> Result<PollOutput, PollError> {
    let base = format!(
        "/v2/{}/apic/instances/{}/app-quotas",
        encode_component(&target.project.id),
        encode_component(instance_id)
    );
    let mut out = PollOutput::default();
    let mut seen = HashSet::new();
    match app_quotas {
        AppQuotaSelection::None => {}
        AppQuotaSelection::Ids(ids) => {
            for id in ids {
                let (quota, errors) = client
                    .fetch(
                        target,
                        &format!("{base}/{}", encode_component(id)),
                        budget_end,
                        decode_app_quota,
                    )
                    .await?;
                out.value_errors.extend(errors);
                push_client(&mut out, &mut seen, quota);
            }
        }
        AppQuotaSelection::Discover => {
            let mut offset: u64 = 0;
            for _ in 0..MAX_PAGES {
                let page = client
                    .fetch(
                        target,
                        &format!("{base}?offset={offset}&limit={PAGE_LIMIT}"),
                        budget_end,
                        decode_app_quota_page,
                    )
                    .await?;
                // A server may return fewer items than `limit`: advance by what it says it
                // sent (`size`), falling back to what it actually sent.
                let got = page.quotas.len() as u64;
                let size = page.size.unwrap_or(got).max(got);
                out.value_errors.extend(page.value_errors);
                for q in page.quotas {
                    push_client(&mut out, &mut seen, q);
                }
                offset += size;
                match page.total {
                    Some(total) if offset < total && size > 0 => continue,
                    // No total: keep going while full pages come back.
                    None if size >= PAGE_LIMIT => continue,
                    _ => break,
                }
            }
        }
    }
    Ok(out)
}

/// Adds a client quota unless one with the same id is already there (paging can repeat
/// an item when quotas are created between pages; a duplicate series would be invalid).
/// `seen` holds the ids in `out.clients`; the first quota with an id wins.
fn push_client(out: &mut PollOutput, seen: &mut HashSet<String>, quota: ClientQuota) {
    if seen.insert(quota.app_quota_id.clone()) {
        out.clients.push(quota);
    }
}

/// Creates a client quota (`POST .../app-quotas`); returns the created quota as upstream
/// sent it. Validate `quota` first ([`crate::upstream::appquota::NewAppQuota::validate`]).
pub async fn create_app_quota(
    client: &UpstreamClient,
    project: &crate::config::Project,
    instance_id: &str,
    quota: &crate::upstream::appquota::NewAppQuota,
) -> Result<Value, PollError> {
    let path = format!(
        "/v2/{}/apic/instances/{}/app-quotas",
        encode_component(&project.id),
        encode_component(instance_id)
    );
    let body = serde_json::to_vec(quota)
        .map_err(|e| PollError::local(ErrorCode::Encode, e.to_string()))?;
    let response = client
        .post_json(
            crate::model::api::Api::RomaAppQuota,
            project,
            &project.endpoints.roma,
            &path,
            body,
        )
        .await?;
    let created: Value = serde_json::from_slice(&response.body).map_err(|e| PollError {
        code: ErrorCode::Decode,
        status: Some(response.status),
        message: format!("the created quota is not JSON: {e}"),
        request_id: response.request_id.clone(),
    })?;
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::decode::testing::{decoded, resource};

    const LIVEDATA_FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/roma_livedata.json");
    const APP_QUOTA_FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/roma_app_quota.json");
    const CREATED_FIXTURE: &[u8] =
        include_bytes!("../../tests/fixtures/roma_app_quota_created.json");
    const LIST_FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/roma_app_quotas_list.json");

    /// 2020-09-20T00:00:00Z, the seeds' reset time.
    const RESET: f64 = 1_600_560_000.0;

    fn livedata(json: &str) -> PollOutput {
        decoded(decode_livedata, json)
    }

    #[test]
    fn livedata_seed_example() {
        let out = decode_livedata(LIVEDATA_FIXTURE).expect("seed example decodes");
        assert_eq!(
            out,
            PollOutput {
                resources: vec![
                    resource("api", Some(10_000.0), Some(4.0)),
                    resource("datasource", Some(3.0), Some(0.0)),
                    resource("scripts", Some(5.0), None),
                ],
                ..PollOutput::default()
            }
        );
    }

    #[test]
    fn livedata_quirks() {
        // Mixed types, blanks and trailing commas; scripts_used read if it ever appears.
        let out = livedata(
            r#"{"api":10000,"api_used":" 40 ","datasource":"3,","datasource_used":0,
                "scripts":"1,000","scripts_used":"2"}"#,
        );
        assert_eq!(
            out.resources,
            vec![
                resource("api", Some(10_000.0), Some(40.0)),
                resource("datasource", Some(3.0), Some(0.0)),
                resource("scripts", Some(1_000.0), Some(2.0)),
            ]
        );
        assert!(out.value_errors.is_empty());

        // A garbage figure drops only its own series.
        let out = livedata(
            r#"{"api":"4a","api_used":"4","datasource":"3","datasource_used":"0","scripts":"5"}"#,
        );
        assert_eq!(out.resources[0], resource("api", None, Some(4.0)));
        assert_eq!(
            out.resources[1],
            resource("datasource", Some(3.0), Some(0.0))
        );
        assert_eq!(
            out.value_errors,
            vec![ValueError {
                field: "api".to_owned(),
                raw: r#""4a""#.to_owned(),
                reason: r#"not a number: "4a""#.to_owned(),
            }]
        );

        // Null and missing figures are absent, not errors; a resource with nothing is left out.
        let out = livedata(r#"{"api":null,"api_used":"1","datasource":null}"#);
        assert_eq!(out.resources, vec![resource("api", None, Some(1.0))]);
        assert!(out.value_errors.is_empty());

        // Wrong JSON types are value errors with the field named.
        let out = livedata(r#"{"api":true,"api_used":[1],"datasource":{"v":1},"scripts":""}"#);
        let fields: Vec<_> = out.value_errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["api", "api_used", "datasource", "scripts"]);
        assert!(
            out.resources
                .iter()
                .all(|r| r.limit.is_none() && r.used.is_none())
        );
    }

    #[test]
    fn livedata_wrong_shapes() {
        for body in [
            &b""[..],
            b"not json",
            b"<html><title>502</title></html>",
            b"[]",
            b"\"10000\"",
            b"null",
            b"{}",
            br#"{"error_code":"APIG.9999","error_msg":"System error"}"#,
            br#"{"api":"1""#,
        ] {
            assert!(
                decode_livedata(body).is_err(),
                "{:?} should not decode",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn app_quota_seed_example() {
        let (quota, errors) = decode_app_quota(APP_QUOTA_FIXTURE).expect("seed example decodes");
        assert_eq!(
            quota,
            ClientQuota {
                app_quota_id: "c900c5612dbe451bb43cbcc49cfaf2f3".to_owned(),
                name: "ClientQuota_demo".to_owned(),
                time_unit: "DAY".to_owned(),
                remark: String::new(),
                call_limit: Some(1_000.0),
                window_seconds: Some(86_400.0),
                bound_apps: None,
                reset_timestamp: Some(RESET),
            }
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn app_quota_created_seed_example() {
        let (quota, errors) = decode_app_quota(CREATED_FIXTURE).expect("seed example decodes");
        assert_eq!(quota.app_quota_id, "c900c5612dbe451bb43cbcc49cfaf2f3");
        assert_eq!(quota.reset_timestamp, Some(RESET));
        assert_eq!(quota.window_seconds, Some(86_400.0));
        assert_eq!(quota.call_limit, Some(1_000.0));
        assert!(errors.is_empty());
    }

    #[test]
    fn app_quota_quirks() {
        let decode = |json: &str| match decode_app_quota(json.as_bytes()) {
            Ok(got) => got,
            Err(e) => panic!("{json}: {e}"),
        };
        // HOURE, strings for integers, a remark, bound apps, Go's zone format.
        let (q, errors) = decode(
            r#"{"app_quota_id":" q1 ","name":"n","call_limits":"500","time_unit":"HOURE",
                "time_interval":"2,","remark":"team a","bound_app_num":3,
                "reset_time":"2020-09-20 08:00:00 +0800 CST"}"#,
        );
        assert_eq!(
            q,
            ClientQuota {
                app_quota_id: "q1".to_owned(),
                name: "n".to_owned(),
                time_unit: "HOUR".to_owned(),
                remark: "team a".to_owned(),
                call_limit: Some(500.0),
                window_seconds: Some(7_200.0),
                bound_apps: Some(3.0),
                reset_timestamp: Some(RESET),
            }
        );
        assert!(errors.is_empty());

        // Unknown unit: no unit, no window, one error naming the quota.
        let (q, errors) =
            decode(r#"{"app_quota_id":"q2","time_unit":"WEEK","time_interval":1,"call_limits":5}"#);
        assert_eq!((q.time_unit.as_str(), q.window_seconds), ("", None));
        assert_eq!(q.call_limit, Some(5.0));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "app_quota q2: time_unit");
        assert_eq!(errors[0].raw, r#""WEEK""#);

        // Unreadable interval and reset time and call limit: each its own error.
        let (q, errors) = decode(
            r#"{"app_quota_id":"q3","time_unit":"DAY","time_interval":"x","call_limits":"1e999",
                "reset_time":"soon"}"#,
        );
        assert_eq!(
            (q.window_seconds, q.call_limit, q.reset_timestamp),
            (None, None, None)
        );
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "app_quota q3: time_interval",
                "app_quota q3: reset_time",
                "app_quota q3: call_limits"
            ]
        );

        // Missing and empty optional fields are absent without errors.
        let (q, errors) =
            decode(r#"{"app_quota_id":"q4","reset_time":"","time_unit":"","remark":null}"#);
        assert_eq!(
            q,
            ClientQuota {
                app_quota_id: "q4".to_owned(),
                ..ClientQuota::default()
            }
        );
        assert!(errors.is_empty());

        // A numeric id and an epoch reset time are read leniently.
        let (q, _) = decode(r#"{"app_quota_id":12,"reset_time":1600560000000}"#);
        assert_eq!(
            (q.app_quota_id.as_str(), q.reset_timestamp),
            ("12", Some(RESET))
        );
    }

    #[test]
    fn app_quota_wrong_shapes() {
        for body in [
            &b"{}"[..],
            br#"{"app_quota_id":""}"#,
            br#"{"app_quota_id":null,"name":"x"}"#,
            br#"{"app_quota_id":["x"]}"#,
            br#"{"error_code":"APIG.3093","error_msg":"App quota c900 does not exist"}"#,
            b"[]",
            b"",
            b"{\"app_quota_id\":\"c900",
        ] {
            assert!(
                decode_app_quota(body).is_err(),
                "{:?} should not decode",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn app_quota_list_page() {
        let page = decode_app_quota_page(LIST_FIXTURE).expect("fixture decodes");
        assert_eq!((page.size, page.total), (Some(2), Some(2)));
        assert_eq!(page.quotas.len(), 2);
        assert_eq!(
            page.quotas[0].app_quota_id,
            "c900c5612dbe451bb43cbcc49cfaf2f3"
        );
        assert_eq!(page.quotas[0].window_seconds, Some(86_400.0));
        assert_eq!(page.quotas[0].reset_timestamp, Some(RESET));
        assert_eq!(page.quotas[1].time_unit, "HOUR");
        assert_eq!(page.quotas[1].window_seconds, Some(3_600.0));
        assert_eq!(page.quotas[1].bound_apps, Some(2.0));
        assert_eq!(page.quotas[1].reset_timestamp, None);
        assert!(page.value_errors.is_empty());
    }

    #[test]
    fn app_quota_list_quirks() {
        let page = decode_app_quota_page(
            br#"{"size":"5","total":-1,"quotas":[
                {"app_quota_id":"a","call_limits":"10"},
                {"app_quota_id":"b","call_limits":"ten"},
                "not an object",
                {"name":"no id"},
                {"app_quota_id":"a","call_limits":99},
                {"app_quota_id":"c","time_unit":"MINUTE","time_interval":5}
            ]}"#,
        )
        .expect("decodes");
        assert_eq!((page.size, page.total), (Some(5), None));
        let ids: Vec<_> = page
            .quotas
            .iter()
            .map(|q| q.app_quota_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(page.quotas[0].call_limit, Some(10.0));
        assert_eq!(page.quotas[1].call_limit, None);
        assert_eq!(page.quotas[2].window_seconds, Some(300.0));
        let fields: Vec<_> = page.value_errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "total",
                "quotas[1].call_limits",
                "quotas[2]",
                "quotas[3].app_quota_id",
                "quotas[4].app_quota_id"
            ]
        );
        assert!(
            page.value_errors[4].reason.contains("duplicate"),
            "{:?}",
            page.value_errors[4]
        );

        // Empty lists in their three spellings.
        for body in [
            &br#"{"size":0,"total":0,"quotas":[]}"#[..],
            br#"{"size":0,"total":0,"quotas":null}"#,
            br#"{"size":0,"total":0}"#,
        ] {
            let page = decode_app_quota_page(body).expect("decodes");
            assert!(page.quotas.is_empty() && page.value_errors.is_empty());
        }

        for body in [
            &br#"{"size":1,"total":1}"#[..],
            br#"{"quotas":{"a":1}}"#,
            br#"{"quotas":"[]"}"#,
            b"[]",
            b"<html></html>",
        ] {
            assert!(
                decode_app_quota_page(body).is_err(),
                "{:?} should not decode",
                String::from_utf8_lossy(body)
            );
        }
    }
}
