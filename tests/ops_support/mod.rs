//! Helpers for the operations tests (`tests/operations.rs`, `tests/prometheus_e2e.rs`):
//! the repository's deployment files, YAML as `serde_json::Value`, promtool, the generated
//! PrometheusRule, and the dashboard's queries with Grafana's variable substitution.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The alert and recording rules.
pub const RULES: &str = "deploy/prometheus/huaweicloud-quota.rules.yml";
/// promtool unit tests of [`RULES`].
pub const RULES_TEST: &str = "deploy/prometheus/huaweicloud-quota.rules.test.yml";
/// The example scrape config.
pub const SCRAPE_CONFIG: &str = "deploy/prometheus/prometheus.yml";
/// The PrometheusRule generated from [`RULES`].
pub const PROMETHEUS_RULE: &str = "deploy/kubernetes/prometheusrule.yaml";
/// The Grafana dashboard.
pub const DASHBOARD: &str = "dashboards/huaweicloud-quota.json";
/// What each alert's `runbook_url` starts with, followed by `#anchor`.
pub const RUNBOOK_BASE: &str = "https://github.com/huaweicloud-quota-exporter/huaweicloud-quota-exporter/blob/main/docs/operations.md";
/// The scrape job name that the exporter alerts select.
pub const JOB: &str = "huaweicloud-quota-exporter";

/// `path` inside the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The text of a repository file.
pub fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// A YAML text parsed (with the crate's YAML parser) into JSON-like values.
pub fn yaml_str(what: &str, text: &str) -> Value {
    serde_saphyr::from_str::<Value>(text)
        .unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}"))
}

/// A repository YAML file parsed into JSON-like values.
pub fn yaml(path: &str) -> Value {
    yaml_str(path, &read(path))
}

/// Runs promtool with `args` in the repository root.
pub fn promtool(args: &[&str]) -> Output {
    Command::new("promtool")
        .args(args)
        .current_dir(repo("."))
        .output()
        .expect("promtool not found: run the README's test command (scripts/test.sh), which installs Debian's prometheus package")
}

/// stdout and stderr of a finished command, for messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every rule (recording and alerting) of a rule-file document, in order.
pub fn rules_of(doc: &Value) -> Vec<Value> {
    doc["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").clone())
        .collect()
}

/// Every alerting rule of [`RULES`].
pub fn alerts() -> Vec<Value> {
    rules_of(&yaml(RULES))
        .into_iter()
        .filter(|r| r.get("alert").is_some())
        .collect()
}

/// The header of the generated PrometheusRule.
const PROMETHEUS_RULE_HEADER: &str = "\
# GENERATED from deploy/prometheus/huaweicloud-quota.rules.yml: edit that file, then run
#   UPDATE_DEPLOY=1 cargo test --test operations
# (`cargo test` fails while the two differ). For the Prometheus Operator; your Prometheus may
# only pick PrometheusRules with a given label (kube-prometheus-stack: `release: <name>`).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: huaweicloud-quota-exporter
  labels:
    app.kubernetes.io/name: huaweicloud-quota-exporter
spec:
";

/// The PrometheusRule for a rule file's text: the header, then everything from `groups:` on,
/// indented under `spec:` (comments included, so the thresholds are explained there too).
pub fn prometheus_rule_for(rules_text: &str) -> String {
    let start = rules_text
        .find("\ngroups:")
        .map(|i| i + 1)
        .expect("the rule file has a top-level `groups:`");
    let mut out = PROMETHEUS_RULE_HEADER.to_string();
    for line in rules_text[start..].lines() {
        if !line.is_empty() {
            out.push_str("  ");
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// GitHub's anchors for the Markdown headings of `md`.
pub fn github_anchors(md: &str) -> BTreeSet<String> {
    md.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// One query of a dashboard panel.
#[derive(Clone, Debug)]
pub struct PanelQuery {
    /// The panel's title.
    pub panel: String,
    /// The panel's type (`timeseries`, `table`, ...).
    pub kind: String,
    /// The target's refId.
    pub ref_id: String,
    /// The PromQL, with Grafana variables.
    pub expr: String,
}

/// Every panel query of a dashboard (rows' nested panels included).
pub fn panel_queries(dash: &Value) -> Vec<PanelQuery> {
    fn walk(panels: &[Value], out: &mut Vec<PanelQuery>) {
        for p in panels {
            if let Some(nested) = p["panels"].as_array() {
                walk(nested, out);
            }
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push(PanelQuery {
                    panel: p["title"].as_str().unwrap_or_default().to_string(),
                    kind: p["type"].as_str().unwrap_or_default().to_string(),
                    ref_id: t["refId"].as_str().unwrap_or_default().to_string(),
                    expr: t["expr"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
    }
    let mut out = Vec::new();
    walk(dash["panels"].as_array().expect("panels"), &mut out);
    out
}

/// How Grafana escapes one value of a multi-value variable inside a PromQL regex string
/// (`prometheusSpecialRegexEscape`): a backslash-escape written as `\\` in the string.
pub fn grafana_regex_escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\\\\\"),
            '$' | '^' | '*' | '{' | '}' | '[' | ']' | '\'' | '+' | '?' | '.' | '(' | ')' | '|' => {
                out.push_str("\\\\");
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Replaces `$name` and `${name}` of each variable (longest names first, so `$api` does not
/// eat `$api_x`), and `$__rate_interval`; panics if a `$` is left.
pub fn substitute(expr: &str, vars: &[(String, String)], rate_interval: &str) -> String {
    let mut vars = vars.to_vec();
    vars.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    let mut s = expr.replace("$__rate_interval", rate_interval);
    for (k, v) in &vars {
        s = s
            .replace(&format!("${{{k}}}"), v)
            .replace(&format!("${k}"), v);
    }
    assert!(!s.contains('$'), "unknown variable left in {s}");
    s
}
