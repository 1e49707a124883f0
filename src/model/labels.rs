//! Label values in exposition form: escaping, and each target's own labels written once.

use std::sync::Arc;

/// Escapes a label value for the text format.
pub fn escape_label(out: &mut String, v: &str) {
    // Nearly every value needs no escaping; a vectorised search finds that out fast.
    if memchr::memchr3(b'\\', b'"', b'\n', v.as_bytes()).is_none() {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A target's own labels as every one of its lines starts: `api="...",project_id="..."`
/// and for ROMA `,instance_id="..."`. Written and escaped once per target, not per line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetLabels {
    text: Arc<str>,
    /// Where `project_id=` starts: client quota lines carry no `api` label.
    project_from: usize,
}

impl TargetLabels {
    /// The labels of a target of API `api` in project `project_id`, for ROMA of an instance.
    pub fn new(api: &str, project_id: &str, instance_id: Option<&str>) -> TargetLabels {
        let mut text = String::with_capacity(128);
        text.push_str("api=\"");
        escape_label(&mut text, api);
        text.push_str("\",");
        let project_from = text.len();
        text.push_str("project_id=\"");
        escape_label(&mut text, project_id);
        text.push('"');
        if let Some(instance_id) = instance_id {
            text.push_str(",instance_id=\"");
            escape_label(&mut text, instance_id);
            text.push('"');
        }
        TargetLabels {
            text: text.into(),
            project_from,
        }
    }

    /// Every label: `api`, `project_id` and, for ROMA, `instance_id`.
    pub fn all(&self) -> &str {
        &self.text
    }

    /// The labels without `api` (client quota lines).
    pub fn without_api(&self) -> &str {
        self.text.get(self.project_from..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_once_and_api_can_be_left_out() {
        let l = TargetLabels::new("roma_livedata", "p\"1", Some("i\\1"));
        assert_eq!(
            l.all(),
            r#"api="roma_livedata",project_id="p\"1",instance_id="i\\1""#
        );
        assert_eq!(l.without_api(), r#"project_id="p\"1",instance_id="i\\1""#);
        let g = TargetLabels::new("gaussdb_mysql", "p", None);
        assert_eq!(g.all(), r#"api="gaussdb_mysql",project_id="p""#);
    }
}
