//! Pure decoders of discovery's list answers: IAM's projects and domains, and one page of
//! ROMA Connect's instance list. Bytes in, plain structs out; no I/O.
//!
//! Quirks handled: numbers sent as strings (`"total": "12"`), `size` or `total` missing,
//! entries missing fields (an entry without an id is dropped and counted, one without a
//! status is kept as not running), statuses no document lists (kept as they came).

use serde_json::{Map, Value};

use crate::upstream::decode::{DecodeError, parse_json};

/// One project from `GET /v3/auth/projects`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IamProject {
    /// Project id.
    pub id: String,
    /// Project name (`cn-north-4`, `cn-north-4_dev`, `MOS`).
    pub name: String,
    /// `enabled`; a missing value counts as enabled (IAM always sends it).
    pub enabled: bool,
}

/// The project list: the projects, and how many entries were unusable (no id).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectList {
    /// The usable projects, in the order IAM sent them.
    pub projects: Vec<IamProject>,
    /// Entries dropped for want of an id.
    pub dropped: usize,
}

/// One instance from `GET /v2/{project_id}/instances`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RomaInstanceInfo {
    /// Instance id.
    pub id: String,
    /// Instance name (empty when missing).
    pub name: String,
    /// Status as sent (empty when missing).
    pub status: String,
}

impl RomaInstanceInfo {
    /// Only running instances have quotas worth polling.
    pub fn running(&self) -> bool {
        self.status.eq_ignore_ascii_case("RUNNING")
    }
}

/// One page of the instance list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstancePage {
    /// The instances of this page that have an id.
    pub instances: Vec<RomaInstanceInfo>,
    /// Entries on the page, usable or not: `size`, else the array's length. Paging
    /// advances `offset` by this.
    pub size: usize,
    /// `total` over every page, when sent.
    pub total: Option<usize>,
    /// Entries dropped for want of an id.
    pub dropped: usize,
}

fn text(obj: &Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn count(obj: &Map<String, Value>, key: &str) -> Option<usize> {
    match obj.get(key)? {
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(s) => s.trim().trim_end_matches(',').parse().ok(),
        _ => None,
    }
}

fn list<'a>(doc: &'a Value, key: &str) -> Result<&'a Vec<Value>, DecodeError> {
    match doc.get(key) {
        Some(Value::Array(a)) => Ok(a),
        Some(Value::Null) | None => Err(DecodeError::Shape(format!("`{key}` is missing"))),
        Some(_) => Err(DecodeError::Shape(format!("`{key}` is not an array"))),
    }
}

/// Decodes IAM's `{"projects":[...]}`.
pub fn decode_projects(body: &[u8]) -> Result<ProjectList, DecodeError> {
    let doc = parse_json(body)?;
    let mut out = ProjectList::default();
    for p in list(&doc, "projects")? {
        let Some(obj) = p.as_object() else {
            out.dropped += 1;
            continue;
        };
        let Some(id) = text(obj, "id").filter(|s| !s.is_empty()) else {
            out.dropped += 1;
            continue;
        };
        let enabled = match obj.get("enabled") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => !s.trim().eq_ignore_ascii_case("false"),
            _ => true,
        };
        out.projects.push(IamProject {
            id,
            name: text(obj, "name").unwrap_or_default(),
            enabled,
        });
    }
    Ok(out)
}

/// Decodes IAM's `{"domains":[{"id",...}]}` to the first domain's id.
pub fn decode_domain_id(body: &[u8]) -> Result<String, DecodeError> {
    let doc = parse_json(body)?;
    list(&doc, "domains")?
        .iter()
        .filter_map(Value::as_object)
        .find_map(|d| text(d, "id").filter(|s| !s.is_empty()))
        .ok_or_else(|| DecodeError::Shape("no domain with an id in `domains`".into()))
}

/// Decodes one page of ROMA Connect's `{"total","size","instances":[...]}`.
pub fn decode_instance_page(body: &[u8]) -> Result<InstancePage, DecodeError> {
    let doc = parse_json(body)?;
    let items = list(&doc, "instances")?;
    let obj = doc.as_object();
    let mut page = InstancePage {
        size: obj.and_then(|o| count(o, "size")).unwrap_or(items.len()),
        total: obj.and_then(|o| count(o, "total")),
        ..InstancePage::default()
    };
    for i in items {
        let Some(o) = i.as_object() else {
            page.dropped += 1;
            continue;
        };
        let Some(id) = text(o, "id").filter(|s| !s.is_empty()) else {
            page.dropped += 1;
            continue;
        };
        page.instances.push(RomaInstanceInfo {
            id,
            name: text(o, "name").unwrap_or_default(),
            status: text(o, "status").unwrap_or_default().to_ascii_uppercase(),
        });
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_with_quirks() {
        let body = br#"{"projects":[
            {"id":"p1","name":"cn-north-4","enabled":true,"domain_id":"d","is_domain":false},
            {"id":"p2","name":"cn-north-4_dev"},
            {"id":"p3","name":"cn-east-3","enabled":false},
            {"name":"no-id"},
            "junk",
            {"id":"p4","name":"MOS","enabled":"false"}
        ],"links":{"self":"x","next":null}}"#;
        let l = decode_projects(body).expect("decodes");
        assert_eq!(l.dropped, 2);
        let got: Vec<(&str, &str, bool)> = l
            .projects
            .iter()
            .map(|p| (p.id.as_str(), p.name.as_str(), p.enabled))
            .collect();
        assert_eq!(
            got,
            [
                ("p1", "cn-north-4", true),
                ("p2", "cn-north-4_dev", true),
                ("p3", "cn-east-3", false),
                ("p4", "MOS", false)
            ]
        );
        assert!(decode_projects(br#"{"projects":null}"#).is_err());
        assert!(decode_projects(br#"{"project":[]}"#).is_err());
        assert!(decode_projects(b"<html>500</html>").is_err());
        assert!(decode_projects(b"").is_err());
    }

    #[test]
    fn domain_id_is_the_first_domain_with_an_id() {
        let body = br#"{"domains":[{"name":"x"},{"id":"d0e1","name":"acct","enabled":true}]}"#;
        assert_eq!(decode_domain_id(body).expect("decodes"), "d0e1");
        assert!(decode_domain_id(br#"{"domains":[]}"#).is_err());
    }

    #[test]
    fn instance_pages_with_quirks() {
        let body = br#"{"total":"12","size":3,"instances":[
            {"id":"i1","name":"prod-1","status":"RUNNING","flavor_type":"x"},
            {"id":"i2","name":"prod-2","status":"creating"},
            {"id":"i3","status":"FROZEN_SOMETHING_NEW"},
            {"name":"no-id","status":"RUNNING"}
        ]}"#;
        let p = decode_instance_page(body).expect("decodes");
        assert_eq!((p.size, p.total, p.dropped), (3, Some(12), 1));
        assert_eq!(p.instances.len(), 3);
        assert!(p.instances[0].running());
        assert_eq!(p.instances[1].status, "CREATING");
        assert!(!p.instances[1].running());
        assert_eq!(p.instances[2].name, "");
        assert!(!p.instances[2].running());
        // No size and no total: the array's length, total unknown.
        let p = decode_instance_page(br#"{"instances":[{"id":"a"}]}"#).expect("decodes");
        assert_eq!((p.size, p.total), (1, None));
        assert_eq!(p.instances[0].status, "");
        assert!(decode_instance_page(br#"{"total":0}"#).is_err());
        assert!(decode_instance_page(br#"{"instances":[{"id":"a"}"#).is_err());
    }
}
