//! GaussDB for MySQL (TaurusDB) tenant quotas (`GET /v3/{project_id}/project-quotas`),
//! decoded leniently into samples.

use crate::model::poll::PollOutput;
use crate::model::target::Target;
use crate::upstream::decode::{DecodeError, ResourceFields, decode_resource_list};
use tokio::time::Instant;

use crate::model::outcome::PollError;
use crate::upstream::client::UpstreamClient;
use crate::upstream::transport::encode_component;

/// GaussDB entries carry only `type` (`instance`), `used` and `quota`.
const FIELDS: ResourceFields = ResourceFields {
    name_keys: &["type"],
    limit: "quota",
    used: "used",
    limit_max: None,
    limit_min: None,
};

/// Decodes `{"quotas":{"resources":[{type, used, quota}]}}`, including the published
/// example's `{"type":"instance,","used":"4,","quota":50}` (resource `instance`, used 4,
/// limit 50). Entries without a usable type or repeating one are skipped with a value
/// error; a wrong overall shape is a [`DecodeError`].
pub fn decode_project_quotas(body: &[u8]) -> Result<PollOutput, DecodeError> {
    decode_resource_list(body, &FIELDS)
}

/// Polls the GaussDB for MySQL tenant quotas of one project.
pub async fn poll(
    client: &UpstreamClient,
    target: &Target,
    budget_end: Instant,
) -> Result<PollOutput, PollError> {
    let path = format!(
        "/v3/{}/project-quotas",
        encode_component(&target.project.id)
    );
    client
        .fetch(target, &path, budget_end, decode_project_quotas)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::poll::ResourceQuota;
    use crate::upstream::decode::testing::{decoded, resource};

    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/gaussdb_project_quotas.json");

    fn instance(limit: Option<f64>, used: Option<f64>) -> ResourceQuota {
        resource("instance", limit, used)
    }

    fn decode(json: &str) -> PollOutput {
        decoded(decode_project_quotas, json)
    }

    #[test]
    fn seed_example() {
        let out = decode_project_quotas(FIXTURE).expect("seed example decodes");
        assert_eq!(
            out,
            PollOutput {
                resources: vec![instance(Some(50.0), Some(4.0))],
                ..PollOutput::default()
            }
        );
    }

    #[test]
    fn quirks() {
        let rows = [
            (
                r#"{"type":"instance","used":4,"quota":"50"}"#,
                instance(Some(50.0), Some(4.0)),
            ),
            (
                r#"{"type":" INSTANCE ","used":" 40 ","quota":"1,000"}"#,
                instance(Some(1_000.0), Some(40.0)),
            ),
            (
                r#"{"type":"instance","used":"4,","quota":-1}"#,
                instance(Some(-1.0), Some(4.0)),
            ),
            (r#"{"type":"instance","used":null}"#, instance(None, None)),
            (
                r#"{"type":"instance","used":"4a","quota":50}"#,
                instance(Some(50.0), None),
            ),
            (
                r#"{"type":"instance","used":true,"quota":[50]}"#,
                instance(None, None),
            ),
        ];
        for (entry, want) in rows {
            let out = decode(&format!(r#"{{"quotas":{{"resources":[{entry}]}}}}"#));
            assert_eq!(out.resources, vec![want], "entry {entry}");
        }

        let out = decode(
            r#"{"quotas":{"resources":[
                {"type":"instance,","used":"4a","quota":50},
                {"type":"instance","used":1,"quota":1},
                {"name":"instance","used":1,"quota":1}
            ]}}"#,
        );
        assert_eq!(out.resources, vec![instance(Some(50.0), None)]);
        let got: Vec<_> = out
            .value_errors
            .iter()
            .map(|e| (e.field.as_str(), e.raw.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("quotas.resources[0].used", r#""4a""#),
                ("quotas.resources[1].type", r#""instance""#),
                // GaussDB has no `name`, so it is not a fallback.
                ("quotas.resources[2].type", "null"),
            ]
        );
    }

    #[test]
    fn wrong_shapes() {
        for body in [
            &b""[..],
            b"not json",
            br#"{"quotas":{"resources":[{"type":"instance""#,
            b"[{\"quotas\":{}}]",
            br#"{"resources":[]}"#,
            br#"{"quotas":"instance"}"#,
            br#"{"quotas":{"resources":1}}"#,
            br#"{"error_code":"DBS.200001","error_msg":"Parameter error."}"#,
        ] {
            assert!(
                decode_project_quotas(body).is_err(),
                "{:?} should not decode",
                String::from_utf8_lossy(body)
            );
        }
    }
}
