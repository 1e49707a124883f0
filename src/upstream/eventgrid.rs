//! EventGrid tenant quotas (`GET /v1/{project_id}/quotas`), decoded leniently into samples.

use std::collections::HashSet;

use crate::model::poll::PollOutput;
use crate::model::target::Target;
use crate::upstream::decode::{DecodeError, ResourceFields, decode_resource_list};
use tokio::time::Instant;

use crate::model::outcome::PollError;
use crate::upstream::client::UpstreamClient;
use crate::upstream::transport::encode_component;

/// EventGrid entries carry `type` (`CHANNEL_SUBSCRIPTION`) and a display `name`; the type
/// is the stable one, the name only a fallback.
const FIELDS: ResourceFields = ResourceFields {
    name_keys: &["type", "name"],
    limit: "quota",
    used: "used",
    limit_max: Some("max"),
    limit_min: Some("min"),
};

/// Decodes `{"quotas":{"resources":[{name, type, max, min, quota, used}]}}`: the resource
/// is the normalised `type` (falling back to `name`), `quota` the limit, `max`/`min` the
/// settable range. An entry without a usable name, or repeating an earlier one, is skipped
/// with a value error; `quotas` or `resources` missing or of the wrong type is a
/// [`DecodeError`].
pub fn decode_quotas(body: &[u8]) -> Result<PollOutput, DecodeError> {
    decode_resource_list(body, &FIELDS)
}

/// Polls the EventGrid quotas of one project (one call, or one per configured type).
pub async fn poll(
    client: &UpstreamClient,
    target: &Target,
    types: &[String],
    budget_end: Instant,
) -> Result<PollOutput, PollError> {
    let path = format!("/v1/{}/quotas", encode_component(&target.project.id));
    if types.is_empty() {
        return client.fetch(target, &path, budget_end, decode_quotas).await;
    }
    let mut out = PollOutput::default();
    // A resource can come back for several types: the first answer wins.
    let mut seen = HashSet::new();
    for t in types {
        let part = client
            .fetch(
                target,
                &format!("{path}?type={}", encode_component(t)),
                budget_end,
                decode_quotas,
            )
            .await?;
        out.value_errors.extend(part.value_errors);
        for r in part.resources {
            if seen.insert(r.resource.clone()) {
                out.resources.push(r);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::poll::ResourceQuota;
    use crate::upstream::decode::testing::decoded;

    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/eventgrid_quotas.json");

    fn quota(name: &str, limit: f64, used: f64, max: f64, min: f64) -> ResourceQuota {
        ResourceQuota {
            resource: name.to_owned(),
            limit: Some(limit),
            used: Some(used),
            limit_max: Some(max),
            limit_min: Some(min),
        }
    }

    fn decode(json: &str) -> PollOutput {
        decoded(decode_quotas, json)
    }

    #[test]
    fn fixture() {
        let out = decode_quotas(FIXTURE).expect("fixture decodes");
        assert_eq!(
            out.resources,
            vec![
                quota("channel", 10.0, 2.0, 100.0, 0.0),
                quota("channel_subscription", 100.0, 97.0, 1_000.0, 0.0),
                quota("source", 100.0, 1.0, 1_000.0, 0.0),
                quota("subscription", 100.0, 12.0, 1_000.0, 0.0),
                quota("subscription_target", 5.0, 5.0, 5.0, 1.0),
                quota("connection", 50.0, 0.0, 100.0, 0.0),
            ]
        );
        assert!(out.value_errors.is_empty());
        assert!(out.clients.is_empty());
    }

    #[test]
    fn quirks() {
        // Strings, blanks, trailing commas, a lower-case type, a missing min, null used.
        let out = decode(
            r#"{"quotas":{"resources":[
                {"name":"Channel","type":"channel","max":"100","min":"0","quota":" 10 ","used":"3,"},
                {"name":"Source","type":"SOURCE","max":1000,"quota":100,"used":null}
            ]}}"#,
        );
        assert_eq!(out.resources[0], quota("channel", 10.0, 3.0, 100.0, 0.0));
        assert_eq!(
            out.resources[1],
            ResourceQuota {
                resource: "source".to_owned(),
                limit: Some(100.0),
                used: None,
                limit_max: Some(1_000.0),
                limit_min: None,
            }
        );
        assert!(out.value_errors.is_empty());

        // Garbage drops only its series; the name falls back when the type is unusable.
        let out = decode(
            r#"{"quotas":{"resources":[
                {"type":"CHANNEL","quota":"lots","used":1,"max":5,"min":0},
                {"type":"","name":"Schema Version","quota":3,"used":1},
                {"type":" ","name":null,"quota":1,"used":1},
                {"quota":1},
                7,
                {"type":"channel,","quota":99,"used":99}
            ]}}"#,
        );
        let names: Vec<_> = out.resources.iter().map(|r| r.resource.as_str()).collect();
        assert_eq!(names, ["channel", "schema_version"]);
        assert_eq!(out.resources[0].limit, None);
        assert_eq!(out.resources[0].used, Some(1.0));
        let fields: Vec<_> = out.value_errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "quotas.resources[0].quota",
                "quotas.resources[2].type",
                "quotas.resources[3].type",
                "quotas.resources[4]",
                "quotas.resources[5].type",
            ]
        );
        assert_eq!(out.value_errors[0].raw, r#""lots""#);
        assert_eq!(out.value_errors[0].reason, r#"not a number: "lots""#);
        assert!(
            out.value_errors[4]
                .reason
                .contains("duplicate resource \"channel\"")
        );
        assert!(out.value_errors[4].reason.contains("quotas.resources[0]"));

        // An unreadable type with a usable name loses nothing, so it is not an error.
        let out = decode(
            r#"{"quotas":{"resources":[{"type":["x"],"name":"Private endpoint","quota":1}]}}"#,
        );
        assert_eq!(out.resources[0].resource, "private_endpoint");
        assert!(out.value_errors.is_empty());

        // Empty in both spellings.
        for json in [
            r#"{"quotas":{"resources":[]}}"#,
            r#"{"quotas":{"resources":null}}"#,
        ] {
            assert_eq!(decode(json), PollOutput::default());
        }
    }

    #[test]
    fn wrong_shapes() {
        for body in [
            &b""[..],
            b"{",
            b"<html><head><title>504 Gateway Time-out</title></head></html>",
            b"[]",
            b"{}",
            br#"{"quotas":null}"#,
            br#"{"quotas":[]}"#,
            br#"{"quotas":{}}"#,
            br#"{"quotas":{"resources":{}}}"#,
            br#"{"quotas":{"resources":"[]"}}"#,
            br#"{"error_code":"EG.00014010","error_msg":"Incorrect token"}"#,
        ] {
            assert!(
                decode_quotas(body).is_err(),
                "{:?} should not decode",
                String::from_utf8_lossy(body)
            );
        }
    }
}
