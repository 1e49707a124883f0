//! The operations artefacts: alert rules (promtool), the scrape config, the generated
//! PrometheusRule, the Alertmanager example and its templates (amtool), the Kubernetes
//! manifests, the systemd units, the Dockerfile, the Grafana dashboard, and `--shard` as
//! `--config.check` reports it.
//! (`tests/prometheus_e2e.rs` runs all of it under a real Prometheus, `tests/alerting_e2e.rs`
//! through a real Alertmanager.)

mod common;
mod ops_support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use huaweicloud_quota_exporter::simulator::World;
use ops_support::*;
use serde_json::Value;

// ---- Prometheus rules --------------------------------------------------------------------

#[test]
fn promtool_check_rules_accepts_every_rule() {
    let out = promtool(&["check", "rules", RULES]);
    let text = output_text(&out);
    assert!(out.status.success(), "promtool check rules:\n{text}");
    let n = rules_of(&yaml(RULES)).len();
    assert!(
        text.contains(&format!("SUCCESS: {n} rules found")),
        "expected {n} rules:\n{text}"
    );
    assert!(!text.contains("WARNING"), "{text}");
}

#[test]
fn promtool_unit_tests_pass_and_cover_every_alert_both_ways() {
    let out = promtool(&["test", "rules", RULES_TEST]);
    assert!(
        out.status.success(),
        "promtool test rules:\n{}",
        output_text(&out)
    );

    // Every alert has a case where it fires and one where it stays quiet.
    let tests = yaml(RULES_TEST);
    let mut fires = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for t in tests["tests"].as_array().expect("tests") {
        for a in t["alert_rule_test"].as_array().into_iter().flatten() {
            let name = a["alertname"].as_str().expect("alertname").to_string();
            let n = a["exp_alerts"].as_array().map_or(0, Vec::len);
            if n > 0 { &mut fires } else { &mut quiet }.insert(name);
        }
    }
    let all: BTreeSet<String> = alerts()
        .iter()
        .map(|a| a["alert"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all.len(), 11, "{all:?}");
    assert_eq!(fires, all, "alerts without a firing case");
    assert_eq!(quiet, all, "alerts without a quiet case");

    // The guards are among the inputs: a limit of 0 with usage, and a limit without `used`.
    let series: Vec<(String, String)> = tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["input_series"].as_array().cloned().unwrap_or_default())
        .map(|s| {
            (
                s["series"].as_str().unwrap().to_string(),
                s["values"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let limits = series
        .iter()
        .filter(|(s, _)| s.starts_with("huaweicloud_quota_limit{"));
    let zero_with_usage = limits.clone().any(|(s, v)| {
        let used = s.replacen("huaweicloud_quota_limit{", "huaweicloud_quota_used{", 1);
        v.starts_with("0x")
            && series
                .iter()
                .any(|(u, uv)| *u == used && !uv.starts_with("0x"))
    });
    let without_used = limits.clone().any(|(s, _)| {
        let used = s.replacen("huaweicloud_quota_limit{", "huaweicloud_quota_used{", 1);
        !series.iter().any(|(u, _)| *u == used)
    });
    assert!(
        zero_with_usage,
        "no test input with limit 0 and usage above 0"
    );
    assert!(
        without_used,
        "no test input with a limit and no used series"
    );
}

#[test]
fn promtool_unit_tests_fail_when_the_limit_guard_is_removed() {
    // The tests can fail: without `> 0`, a limit of 0 gives +Inf and an alert.
    let dir = tempfile::tempdir().unwrap();
    let rules = read(RULES);
    let guarded = "huaweicloud_quota_used / (huaweicloud_quota_limit > 0)";
    assert!(rules.contains(guarded));
    std::fs::write(
        dir.path().join("huaweicloud-quota.rules.yml"),
        rules.replace(guarded, "huaweicloud_quota_used / huaweicloud_quota_limit"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("huaweicloud-quota.rules.test.yml"),
        read(RULES_TEST),
    )
    .unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules", "huaweicloud-quota.rules.test.yml"])
        .current_dir(dir.path())
        .output()
        .expect("promtool");
    let text = output_text(&out);
    assert!(!out.status.success(), "unguarded rules passed:\n{text}");
    assert!(text.contains("+Inf"), "{text}");
}

#[test]
fn every_alert_has_severity_summary_description_and_runbook_section() {
    let anchors = github_anchors(&read("docs/operations.md"));
    for a in alerts() {
        let name = a["alert"].as_str().unwrap();
        let severity = a["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["warning", "critical"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        let summary = a["annotations"]["summary"].as_str().unwrap_or_default();
        let description = a["annotations"]["description"].as_str().unwrap_or_default();
        assert!(
            summary.len() > 10 && description.len() > 40,
            "{name}: summary/description"
        );
        let expr = a["expr"].as_str().unwrap();
        // Alerts about a project's data name the project (by name, falling back to the id).
        if expr.contains("huaweicloud_quota:project_info:unique") {
            for text in [summary, description] {
                assert!(
                    text.contains("{{ or $labels.project_name $labels.project_id }}"),
                    "{name}: does not name the project: {text}"
                );
            }
        }
        // Alerts about a quota name the resource.
        if expr.contains("utilisation") || expr.contains("huaweicloud_quota_used") {
            for text in [summary, description] {
                assert!(
                    text.contains("$labels.resource"),
                    "{name}: no resource: {text}"
                );
            }
        }
        let url = a["annotations"]["runbook_url"].as_str().unwrap_or_default();
        let anchor = url
            .strip_prefix(RUNBOOK_BASE)
            .and_then(|r| r.strip_prefix('#'))
            .unwrap_or_else(|| panic!("{name}: runbook_url {url} is not {RUNBOOK_BASE}#..."));
        assert_eq!(anchor, name.to_lowercase(), "{name}: runbook anchor");
        assert!(
            anchors.contains(anchor),
            "{name}: docs/operations.md has no section #{anchor}"
        );
    }
}

#[test]
fn thresholds_are_defined_once_as_recording_rules() {
    let rules = rules_of(&yaml(RULES));
    let thresholds: BTreeMap<&str, &str> = rules
        .iter()
        .filter_map(|r| {
            let name = r["record"].as_str()?;
            name.starts_with("huaweicloud_quota:threshold:")
                .then(|| (name, r["expr"].as_str().unwrap()))
        })
        .collect();
    assert_eq!(
        thresholds.keys().copied().collect::<Vec<_>>(),
        [
            "huaweicloud_quota:threshold:data_age_seconds",
            "huaweicloud_quota:threshold:exhaustion_horizon_seconds",
            "huaweicloud_quota:threshold:utilisation_critical",
            "huaweicloud_quota:threshold:utilisation_warning",
        ]
    );
    // No alert repeats a threshold number: they all refer to the recorded ones.
    for a in alerts() {
        let expr = a["expr"].as_str().unwrap();
        for literal in ["0.8", "0.95", "86400", "900"] {
            assert!(
                !expr.contains(literal),
                "{}: literal threshold {literal}",
                a["alert"]
            );
        }
    }
}

#[test]
fn example_scrape_config_is_valid() {
    let out = promtool(&["check", "config", SCRAPE_CONFIG]);
    assert!(
        out.status.success(),
        "promtool check config:\n{}",
        output_text(&out)
    );
    let cfg = yaml(SCRAPE_CONFIG);
    assert_eq!(cfg["scrape_configs"][0]["job_name"], JOB);
    assert_eq!(
        cfg["rule_files"][0], "huaweicloud-quota.rules.yml",
        "the example loads the rules"
    );
}

#[test]
fn prometheusrule_is_the_rule_file() {
    let want = prometheus_rule_for(&read(RULES));
    if std::env::var_os("UPDATE_DEPLOY").is_some() {
        std::fs::write(repo(PROMETHEUS_RULE), &want).expect("write PrometheusRule");
    }
    let have = read(PROMETHEUS_RULE);
    assert!(
        have == want,
        "{PROMETHEUS_RULE} differs from {RULES}: run UPDATE_DEPLOY=1 cargo test --test operations"
    );
    // And it means the same: the spec is the rule file's document.
    let pr = yaml(PROMETHEUS_RULE);
    assert_eq!(pr["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(pr["kind"], "PrometheusRule");
    assert_eq!(pr["spec"], yaml(RULES));
}

// ---- Alertmanager ------------------------------------------------------------------------

const ALERTMANAGER: &str = "deploy/alertmanager/alertmanager.yml";
const AM_TEMPLATE: &str = "deploy/alertmanager/huaweicloud-quota.tmpl";

/// Runs amtool with `args` in the repository root.
fn amtool(args: &[&str]) -> std::process::Output {
    Command::new("amtool")
        .args(args)
        .current_dir(repo("."))
        .output()
        .expect("amtool not found: run scripts/test.sh, which installs Debian's prometheus-alertmanager package")
}

/// The alerts that are about the exporter, not a project: no project_info join.
fn exporter_alerts() -> BTreeSet<String> {
    alerts()
        .iter()
        .filter(|a| {
            !a["expr"]
                .as_str()
                .unwrap()
                .contains("huaweicloud_quota:project_info:unique")
        })
        .map(|a| a["alert"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn amtool_check_config_accepts_the_alertmanager_example() {
    let out = amtool(&["check-config", ALERTMANAGER]);
    let text = output_text(&out);
    assert!(out.status.success(), "amtool check-config:\n{text}");
    for want in ["SUCCESS", "4 inhibit rules", "2 receivers", "1 templates"] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
}

#[test]
fn alertmanager_routes_critical_to_the_pager_and_warnings_to_tickets() {
    let route = |receiver: &str, labels: &[String]| {
        let mut args = vec![
            "config".to_string(),
            "routes".into(),
            "test".into(),
            format!("--config.file={ALERTMANAGER}"),
            format!("--verify.receivers={receiver}"),
        ];
        args.extend(labels.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = amtool(&args);
        assert!(
            out.status.success(),
            "{labels:?} should go to {receiver}:\n{}",
            output_text(&out)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), receiver);
    };
    // Every shipped alert, with the labels it fires with.
    let exporter = exporter_alerts();
    for a in alerts() {
        let name = a["alert"].as_str().unwrap();
        let severity = a["labels"]["severity"].as_str().unwrap();
        let mut labels = vec![format!("alertname={name}"), format!("severity={severity}")];
        if !exporter.contains(name) {
            labels.extend(
                [
                    "project_id=0123456789abcdef0123456789abcdef",
                    "project_name=prod-cn-north-4",
                    "cloud_region=cn-north-4",
                    "api=gaussdb_mysql",
                    "resource=instance",
                ]
                .map(String::from),
            );
        }
        let receiver = if severity == "critical" {
            "pager"
        } else {
            "ticket"
        };
        route(receiver, &labels);
    }
    // The critical one is the usage alert, and only it pages.
    let critical: Vec<String> = alerts()
        .iter()
        .filter(|a| a["labels"]["severity"] == "critical")
        .map(|a| a["alert"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(critical, ["HuaweiCloudQuotaUsageCritical"]);
    // A critical alert of someone else's rules pages too; an unlabelled one makes a ticket.
    route(
        "pager",
        &["alertname=DiskFull".into(), "severity=critical".into()],
    );
    route("ticket", &["alertname=Other".into()]);
}

#[test]
fn alertmanager_groups_per_quota_inhibits_warnings_and_waits_like_quotas_do() {
    let am = yaml(ALERTMANAGER);
    let quota = serde_json::json!(["project_id", "api", "instance_id", "resource"]);
    let route = &am["route"];
    assert_eq!(route["group_by"], quota, "group by project and quota");
    // The exporter-health route names exactly the alerts without a project.
    let routes = route["routes"].as_array().unwrap();
    let health = &routes[0];
    let matcher = health["matchers"][0].as_str().unwrap();
    let names = matcher
        .split_once("HuaweiCloudQuota(")
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(n, _)| n)
        .expect("alertname regex");
    let listed: BTreeSet<String> = names
        .split('|')
        .map(|n| format!("HuaweiCloudQuota{n}"))
        .collect();
    assert_eq!(listed, exporter_alerts(), "exporter-health route");
    assert_eq!(
        health["group_by"],
        serde_json::json!(["alertname", "job", "instance"])
    );

    // Quotas change slowly: no page every few minutes (the shipped values; only the
    // end-to-end test's copy uses seconds).
    let secs = |v: &Value| -> u64 {
        let s = v.as_str().expect("duration");
        let (n, unit) = s.split_at(s.len() - 1);
        n.parse::<u64>().unwrap()
            * match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                _ => panic!("duration {s}"),
            }
    };
    assert!(secs(&route["group_wait"]) >= 30);
    assert!(secs(&route["group_interval"]) >= 5 * 60);
    let pager = routes
        .iter()
        .find(|r| r["receiver"] == "pager")
        .expect("pager route");
    let interval = secs(&route["group_interval"]);
    for r in routes {
        let wait = r.get("group_wait").map_or(secs(&route["group_wait"]), secs);
        let repeat = r
            .get("repeat_interval")
            .map_or(secs(&route["repeat_interval"]), secs);
        assert!(wait >= 30, "{r}");
        assert!(repeat >= 3600, "{r}: repeats more than hourly");
        assert_eq!(repeat % interval, 0, "{r}: repeat_interval not a multiple");
        if r["receiver"] == "ticket" {
            assert!(repeat >= 12 * 3600, "{r}: tickets at most twice a day");
        }
    }
    assert!(
        secs(&pager["repeat_interval"]) <= 12 * 3600,
        "a page is repeated"
    );

    // The critical alert inhibits the warning of the same quota, on the labels that identify
    // it, and not on job/instance (a critical from one shard or replica covers the others).
    let rules = am["inhibit_rules"].as_array().unwrap();
    let usage = rules
        .iter()
        .find(|r| {
            r["source_matchers"] == serde_json::json!(["alertname = HuaweiCloudQuotaUsageCritical"])
                && r["target_matchers"]
                    == serde_json::json!(["alertname = HuaweiCloudQuotaUsageHigh"])
        })
        .expect("critical inhibits warning");
    assert_eq!(usage["equal"], quota);
    // Every inhibition names alerts that exist (a renamed alert would silently stop it).
    let all: BTreeSet<String> = alerts()
        .iter()
        .map(|a| a["alert"].as_str().unwrap().to_string())
        .collect();
    for r in rules {
        for m in r["source_matchers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(r["target_matchers"].as_array().unwrap())
        {
            let m = m.as_str().unwrap();
            let value = m
                .split_once('=')
                .map(|(_, v)| v.trim_start_matches('~').trim().trim_matches('"'))
                .unwrap();
            let names: Vec<String> = match value.split_once('(') {
                Some((prefix, rest)) => rest
                    .trim_end_matches(')')
                    .split('|')
                    .map(|n| format!("{prefix}{n}"))
                    .collect(),
                None => vec![value.to_string()],
            };
            for n in names {
                assert!(all.contains(&n), "inhibit rule {m}: no alert {n}");
            }
        }
    }
    // Secrets come from files, never inline.
    let text = read(ALERTMANAGER);
    for secret in ["routing_key:", "service_key:", "api_url:", "password:"] {
        assert!(!text.contains(secret), "inline secret {secret}");
    }
    assert_eq!(
        am["templates"],
        serde_json::json!(["huaweicloud-quota.tmpl"])
    );
}

#[test]
fn alertmanager_templates_show_project_region_resource_usage_and_runbook() {
    let dir = tempfile::tempdir().unwrap();
    let render = |data: &Value, template: &str| {
        let path = dir.path().join("data.json");
        std::fs::write(&path, data.to_string()).unwrap();
        let out = amtool(&[
            "template",
            "render",
            &format!("--template.glob={AM_TEMPLATE}"),
            &format!("--template.data={}", path.display()),
            &format!("--template.text={{{{ template \"huaweicloud_quota.{template}\" . }}}}"),
        ]);
        assert!(out.status.success(), "{template}: {}", output_text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let runbook = format!("{RUNBOOK_BASE}#huaweicloudquotausagecritical");
    let labels = serde_json::json!({
        "alertname": "HuaweiCloudQuotaUsageCritical", "severity": "critical",
        "job": JOB, "instance": "exporter-0:9876",
        "project_id": "p1", "project_name": "prod-cn-north-4", "cloud_region": "cn-north-4",
        "api": "roma_livedata", "instance_id": "i1", "resource": "api"
    });
    let annotations = serde_json::json!({
        "summary": "Quota roma_livedata/api of project prod-cn-north-4 is nearly exhausted (97% used)",
        "description": "Project prod-cn-north-4 (p1, cn-north-4), ROMA Connect instance i1: ...",
        "used": "485", "limit": "500", "runbook_url": runbook
    });
    let data = serde_json::json!({
        "receiver": "pager", "status": "firing", "externalURL": "http://alertmanager:9093",
        "alerts": [{"status": "firing", "labels": labels, "annotations": annotations,
                    "startsAt": "2025-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}],
        "groupLabels": {"project_id": "p1", "api": "roma_livedata", "instance_id": "i1", "resource": "api"},
        "commonLabels": labels, "commonAnnotations": annotations
    });
    assert_eq!(
        render(&data, "title"),
        "[FIRING:1] HuaweiCloudQuotaUsageCritical prod-cn-north-4 (cn-north-4) roma_livedata/api"
    );
    assert_eq!(render(&data, "project"), "prod-cn-north-4 (p1)");
    assert_eq!(render(&data, "used"), "485 of 500");
    assert_eq!(render(&data, "severity"), "critical");
    let text = render(&data, "text");
    for want in [
        "Firing:",
        "nearly exhausted (97% used)",
        "Project: prod-cn-north-4 (p1), region cn-north-4",
        "Resource: api (roma_livedata, ROMA Connect instance i1)",
        "Used: 485 of 500",
        &format!("Runbook: {runbook}"),
        "Exporter: exporter-0:9876",
    ] {
        assert!(text.contains(want), "text lacks {want:?}:\n{text}");
    }
    // Without the project's info series: the id; an exporter alert: the job and instance.
    let mut bare = data.clone();
    for key in ["commonLabels", "groupLabels"] {
        bare[key].as_object_mut().unwrap().remove("project_name");
        bare[key].as_object_mut().unwrap().remove("cloud_region");
    }
    assert_eq!(render(&bare, "project"), "p1");
    let down = serde_json::json!({
        "receiver": "ticket", "status": "resolved", "externalURL": "http://alertmanager:9093",
        "alerts": [{"status": "resolved",
                    "labels": {"alertname": "HuaweiCloudQuotaExporterDown", "severity": "warning", "job": JOB, "instance": "exporter-1:9876"},
                    "annotations": {"summary": "Exporter exporter-1:9876 is down", "description": "...", "runbook_url": "r"},
                    "startsAt": "2025-01-01T00:00:00Z", "endsAt": "2025-01-01T01:00:00Z"}],
        "groupLabels": {"alertname": "HuaweiCloudQuotaExporterDown", "job": JOB, "instance": "exporter-1:9876"},
        "commonLabels": {"alertname": "HuaweiCloudQuotaExporterDown", "severity": "warning", "job": JOB, "instance": "exporter-1:9876"},
        "commonAnnotations": {"summary": "Exporter exporter-1:9876 is down", "runbook_url": "r"}
    });
    assert_eq!(
        render(&down, "title"),
        format!("[RESOLVED] HuaweiCloudQuotaExporterDown job {JOB} on exporter-1:9876")
    );
    let text = render(&down, "text");
    assert!(
        text.starts_with("\nResolved:") || text.contains("Resolved:"),
        "{text}"
    );
    assert!(
        !text.contains("Project:") && !text.contains("Used:"),
        "{text}"
    );
    assert_eq!(render(&down, "severity"), "warning");
}

// ---- Kubernetes ----------------------------------------------------------------------------

fn manifests() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(repo("deploy/kubernetes")).expect("deploy/kubernetes") {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "yaml") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let doc = yaml(&format!("deploy/kubernetes/{name}"));
            for key in ["apiVersion", "kind"] {
                assert!(doc[key].is_string(), "{name}: no {key}");
            }
            assert_eq!(
                doc["metadata"]["name"], "huaweicloud-quota-exporter",
                "{name}: metadata.name"
            );
            assert_eq!(
                doc["metadata"]["labels"]["app.kubernetes.io/name"], "huaweicloud-quota-exporter",
                "{name}: label"
            );
            out.insert(doc["kind"].as_str().unwrap().to_string(), doc);
        }
    }
    out
}

#[test]
fn kubernetes_manifests_parse_and_workloads_are_hardened() {
    let m = manifests();
    assert_eq!(
        m.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "ConfigMap",
            "Deployment",
            "PersistentVolumeClaim",
            "PrometheusRule",
            "Secret",
            "Service",
            "ServiceMonitor",
            "StatefulSet"
        ]
    );
    let secret_keys: BTreeSet<&str> = m["Secret"]["stringData"]
        .as_object()
        .expect("stringData")
        .keys()
        .map(String::as_str)
        .collect();
    for kind in ["Deployment", "StatefulSet"] {
        let w = &m[kind];
        let labels = &w["spec"]["template"]["metadata"]["labels"];
        assert_eq!(
            &w["spec"]["selector"]["matchLabels"], labels,
            "{kind}: selector"
        );
        let pod = &w["spec"]["template"]["spec"];
        assert_eq!(pod["automountServiceAccountToken"], false, "{kind}");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{kind}");
        assert!(
            pod["securityContext"]["runAsUser"].as_u64().unwrap_or(0) > 0,
            "{kind}: runAsUser"
        );
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
            "{kind}"
        );
        let containers = pod["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1);
        let c = &containers[0];
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{kind}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{kind}");
        assert_eq!(sc["runAsNonRoot"], true, "{kind}");
        assert_eq!(
            sc["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{kind}"
        );
        assert!(sc["capabilities"].get("add").is_none(), "{kind}");
        assert_eq!(
            c["livenessProbe"]["httpGet"]["path"], "/-/healthy",
            "{kind}"
        );
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/-/ready", "{kind}");
        for probe in ["livenessProbe", "readinessProbe"] {
            assert_eq!(c[probe]["httpGet"]["port"], "http", "{kind} {probe}");
        }
        assert_eq!(c["ports"][0]["name"], "http");
        assert_eq!(c["ports"][0]["containerPort"], 9876);
        for r in ["cpu", "memory"] {
            assert!(
                c["resources"]["requests"][r].is_string(),
                "{kind}: requests.{r}"
            );
        }
        assert!(c["resources"]["limits"]["memory"].is_string(), "{kind}");
        // Mounts match volumes; the volumes are the ConfigMap and the Secret.
        let volumes: BTreeMap<&str, &Value> = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap(), v))
            .collect();
        let mut mounts = BTreeMap::new();
        for vm in c["volumeMounts"].as_array().unwrap() {
            let name = vm["name"].as_str().unwrap();
            mounts.insert(name, vm["mountPath"].as_str().unwrap().to_string());
            // The one writable mount: the persistence file's volume (a claim of its own
            // per pod: pvc.yaml for the Deployment, volumeClaimTemplates per shard).
            if name == "state" {
                let claim = match kind {
                    "Deployment" => volumes["state"]["persistentVolumeClaim"]["claimName"].clone(),
                    _ => w["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].clone(),
                };
                let want = match kind {
                    "Deployment" => &m["PersistentVolumeClaim"]["metadata"]["name"],
                    _ => &vm["name"],
                };
                assert_eq!(&claim, want, "{kind}: state volume");
                continue;
            }
            assert!(
                volumes.contains_key(name),
                "{kind}: mount of unknown {name}"
            );
            assert_eq!(vm["readOnly"], true, "{kind}: {name} writable");
        }
        assert!(
            c["args"].as_array().unwrap().iter().any(|a| a
                .as_str()
                .unwrap()
                .strip_prefix("--persistence.file=")
                .is_some_and(|f| f.starts_with(&format!("{}/", mounts["state"])))),
            "{kind}: --persistence.file is not on the state volume"
        );
        assert_eq!(
            volumes["config"]["configMap"]["name"],
            m["ConfigMap"]["metadata"]["name"]
        );
        assert_eq!(
            volumes["secrets"]["secret"]["secretName"],
            m["Secret"]["metadata"]["name"]
        );
        // The config file named on the command line is the ConfigMap's key, where it is mounted.
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let config_arg = args
            .iter()
            .find_map(|a| a.strip_prefix("--config.file="))
            .expect("--config.file");
        let (dir, file) = config_arg.rsplit_once('/').unwrap();
        assert_eq!(dir, mounts["config"], "{kind}: config path");
        assert!(
            m["ConfigMap"]["data"][file].is_string(),
            "{kind}: ConfigMap has no key {file}"
        );
        // Every secret the container reads exists in the Secret example.
        for e in c["env"].as_array().unwrap() {
            if let Some(key) = e["valueFrom"]["secretKeyRef"]["key"].as_str() {
                assert!(secret_keys.contains(key), "{kind}: Secret has no {key}");
            }
        }
        let config = m["ConfigMap"]["data"][file].as_str().unwrap();
        for line in config.lines() {
            if let Some((_, path)) = line.split_once("_file: ") {
                let key = path
                    .trim()
                    .strip_prefix(&format!("{}/", mounts["secrets"]))
                    .unwrap_or_else(|| panic!("secret file {path} outside the Secret's mount"));
                assert!(secret_keys.contains(key), "Secret has no key {key}");
            }
        }
    }
    // Service -> pods; ServiceMonitor -> Service port.
    let svc = &m["Service"];
    assert_eq!(
        svc["spec"]["selector"],
        m["Deployment"]["spec"]["template"]["metadata"]["labels"]
    );
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(
        svc["metadata"]["name"], JOB,
        "the Service name becomes the job label the alerts select"
    );
    let sm = &m["ServiceMonitor"];
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"],
        svc["metadata"]["labels"]
    );
    assert_eq!(
        sm["spec"]["endpoints"][0]["port"],
        svc["spec"]["ports"][0]["name"]
    );
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
}

#[test]
fn statefulset_derives_the_shard_from_the_pod_ordinal() {
    let m = manifests();
    let sts = &m["StatefulSet"];
    let replicas = sts["spec"]["replicas"].as_u64().expect("replicas");
    assert!(replicas > 1);
    assert_eq!(sts["spec"]["serviceName"], m["Service"]["metadata"]["name"]);
    assert_eq!(
        m["Service"]["spec"]["clusterIP"], "None",
        "governing Service is headless"
    );
    let c = &sts["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.contains(&"--shard=$(SHARD_INDEX)/$(SHARD_COUNT)"),
        "{args:?}"
    );
    let env: BTreeMap<&str, &Value> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e))
        .collect();
    assert_eq!(
        env["SHARD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.labels['apps.kubernetes.io/pod-index']"
    );
    assert_eq!(
        env["SHARD_COUNT"]["value"],
        replicas.to_string(),
        "SHARD_COUNT must equal replicas"
    );
    // The shard alerts compare the pods of one job: the StatefulSet's pods are scraped
    // through its one governing Service, whose name is the job.
    assert_eq!(sts["spec"]["serviceName"], JOB);
    for name in [
        "HuaweiCloudQuotaShardingMismatch",
        "HuaweiCloudQuotaShardsMissing",
    ] {
        let a = alerts()
            .into_iter()
            .find(|a| a["alert"] == name)
            .unwrap_or_else(|| panic!("no alert {name}"));
        let expr = a["expr"].as_str().unwrap();
        assert!(expr.contains("huaweicloud_quota_total_shards"), "{name}");
        assert!(
            expr.matches("by (job)").count() >= 2,
            "{name} must compare the shards of a job: {expr}"
        );
    }
    let comments = read("deploy/kubernetes/statefulset-sharded.yaml");
    assert!(comments.contains("HuaweiCloudQuotaShardsMissing"));
    // The Deployment is the unsharded variant.
    let d = &m["Deployment"];
    assert_eq!(d["spec"]["replicas"], 1);
    let dargs = d["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap();
    assert!(
        !dargs
            .iter()
            .any(|a| a.as_str().unwrap().starts_with("--shard"))
    );
}

#[test]
fn configmap_config_passes_config_check_without_printing_secrets() {
    let m = manifests();
    let config = m["ConfigMap"]["data"]["huaweicloud-quota-exporter.yaml"]
        .as_str()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secrets = m["Secret"]["stringData"].as_object().unwrap();
    for (k, v) in secrets {
        std::fs::write(dir.path().join(k), v.as_str().unwrap()).unwrap();
    }
    let config = config.replace(
        "/etc/huaweicloud-quota-exporter/secrets",
        &dir.path().to_string_lossy(),
    );
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(common::BIN)
        .args(["--config.file", path.to_str().unwrap(), "--config.check"])
        .env("HWC_ACCESS_KEY", "AKEXAMPLE0123456789")
        .output()
        .unwrap();
    let text = output_text(&out);
    assert!(out.status.success(), "--config.check failed:\n{text}");
    // prod: ROMA livedata + client quotas, EventGrid, GaussDB; otc: GaussDB.
    assert!(text.contains("targets (shard 0/1): 5"), "{text}");
    for v in secrets.values() {
        assert!(
            !text.contains(v.as_str().unwrap()),
            "a secret was printed:\n{text}"
        );
    }
    assert!(!text.contains("AKEXAMPLE0123456789"), "{text}");
}

// ---- systemd, Docker ---------------------------------------------------------------------

#[test]
fn systemd_unit_verifies_and_is_sandboxed() {
    let unit = read("deploy/systemd/huaweicloud-quota-exporter.service");
    for directive in [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "MemoryDenyWriteExecute=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "LoadCredential=",
    ] {
        assert!(unit.contains(directive), "unit lacks {directive:?}");
    }
    // The service listens by itself; socket activation is the drop-in's job.
    let exec_start = unit
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("ExecStart");
    assert!(
        exec_start.contains("--web.listen-address=:9876"),
        "{exec_start}"
    );
    assert!(!exec_start.contains("--web.systemd-socket"), "{exec_start}");

    // systemd-analyze checks the real thing, with ExecStart pointing at the built binary: the
    // service, the socket unit and the socket-activation drop-in (found through
    // SYSTEMD_UNIT_PATH, as /etc/systemd/system would be).
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(format!("{SYSTEMD_SERVICE}.d"))).unwrap();
    for file in [
        SYSTEMD_SERVICE.to_string(),
        SYSTEMD_SOCKET.to_string(),
        SYSTEMD_DROP_IN.to_string(),
    ] {
        std::fs::write(
            dir.path().join(&file),
            read(&format!("deploy/systemd/{file}"))
                .replace("/usr/local/bin/huaweicloud-quota-exporter", common::BIN),
        )
        .unwrap();
    }
    let unit_path = format!("{}:", dir.path().display());
    let analyze = |args: &[&str], units: &[&str]| {
        Command::new("systemd-analyze")
            .args(args)
            .args(units.iter().map(|u| dir.path().join(u)))
            .env("SYSTEMD_UNIT_PATH", &unit_path)
            .output()
            .expect("systemd-analyze not found: run scripts/test.sh, which installs Debian's systemd package")
    };
    let run = |args: &[&str]| analyze(args, &[SYSTEMD_SERVICE]);
    let verify = analyze(&["verify"], &[SYSTEMD_SOCKET, SYSTEMD_SERVICE]);
    let text = output_text(&verify);
    assert!(
        verify.status.success() && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );
    // The drop-in is really read by that verification: a bad key in it is reported.
    let drop_in = dir.path().join(SYSTEMD_DROP_IN);
    let good = std::fs::read_to_string(&drop_in).unwrap();
    std::fs::write(&drop_in, format!("{good}NoSuchDirective=yes\n")).unwrap();
    let text = output_text(&run(&["verify"]));
    assert!(
        text.contains("socket-activation.conf") && text.contains("NoSuchDirective"),
        "the drop-in was not verified:\n{text}"
    );
    std::fs::write(&drop_in, good).unwrap();
    // Exposure 0.0 (locked down) .. 10.0 (unprotected); --threshold is in tenths.
    let security = run(&["security", "--offline=yes", "--threshold=20"]);
    let text = output_text(&security);
    assert!(security.status.success(), "exposure above 2.0:\n{text}");
    let level = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for huaweicloud-quota-exporter.service: ")
                .nth(1)
        })
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(level <= 2.0, "exposure {level}");
}

const SYSTEMD_SERVICE: &str = "huaweicloud-quota-exporter.service";
const SYSTEMD_SOCKET: &str = "huaweicloud-quota-exporter.socket";
const SYSTEMD_DROP_IN: &str = "huaweicloud-quota-exporter.service.d/socket-activation.conf";

#[test]
fn systemd_socket_activation_is_optional_and_consistent() {
    let socket = read(&format!("deploy/systemd/{SYSTEMD_SOCKET}"));
    let drop_in = read(&format!("deploy/systemd/{SYSTEMD_DROP_IN}"));
    let unit = read(&format!("deploy/systemd/{SYSTEMD_SERVICE}"));
    let directives = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
            .map(str::to_string)
            .collect()
    };
    let socket_directives = directives(&socket);
    for d in [
        "ListenStream=9876",
        "Accept=no",
        "Service=huaweicloud-quota-exporter.service",
        "WantedBy=sockets.target",
    ] {
        assert!(
            socket_directives.iter().any(|l| l == d),
            "socket unit lacks {d}"
        );
    }
    // The drop-in clears ExecStart, then runs the service's command line with the socket
    // flag in place of the listen address, and pulls in the socket.
    let drop_directives = directives(&drop_in);
    let starts: Vec<&String> = drop_directives
        .iter()
        .filter(|l| l.starts_with("ExecStart="))
        .collect();
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert_eq!(
        starts[0], "ExecStart=",
        "the drop-in must clear ExecStart first"
    );
    let service_start = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert_eq!(
        *starts[1],
        service_start.replace("--web.listen-address=:9876", "--web.systemd-socket"),
        "the drop-in's command line drifted from the service's"
    );
    for d in [
        "Requires=huaweicloud-quota-exporter.socket",
        "After=huaweicloud-quota-exporter.socket",
    ] {
        assert!(drop_directives.iter().any(|l| l == d), "drop-in lacks {d}");
    }
    // Documented where an operator looks.
    assert!(
        unit.contains(SYSTEMD_DROP_IN),
        "the service does not mention the drop-in"
    );
    assert!(
        socket.contains(SYSTEMD_DROP_IN),
        "the socket does not mention the drop-in"
    );
}

#[test]
fn dockerfile_is_multi_stage_non_root_and_locked() {
    let df = read("deploy/Dockerfile");
    let froms: Vec<&str> = df.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert!(froms[0].ends_with(" AS build"));
    for f in &froms {
        assert!(!f.contains(":latest"), "unpinned base image: {f}");
    }
    assert!(df.contains("cargo build --release --locked"));
    assert!(df.contains("COPY --from=build "));
    let user = df.lines().rfind(|l| l.starts_with("USER ")).expect("USER");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    assert!(df.contains("EXPOSE 9876"));
    assert!(df.contains("ENTRYPOINT [\"/usr/local/bin/huaweicloud-quota-exporter\"]"));
    // Everything the build copies exists.
    for line in df
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(repo(src).exists(), "COPY of missing {src}");
        }
    }
}

// ---- Grafana dashboard -------------------------------------------------------------------

#[test]
fn dashboard_is_importable_with_datasource_and_filter_variables() {
    let dash: Value = serde_json::from_str(&read(DASHBOARD)).expect("dashboard JSON");
    assert_eq!(dash["uid"], "huaweicloud-quota");
    let vars = dash["templating"]["list"].as_array().unwrap();
    let by_name: BTreeMap<&str, &Value> = vars
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v))
        .collect();
    assert_eq!(by_name["datasource"]["type"], "datasource");
    assert_eq!(by_name["datasource"]["query"], "prometheus");
    for v in ["project", "api", "instance_id"] {
        assert_eq!(by_name[v]["type"], "query", "{v}");
        assert_eq!(by_name[v]["includeAll"], true, "{v}");
        assert_eq!(by_name[v]["multi"], true, "{v}");
        assert_eq!(
            by_name[v]["allValue"], ".*",
            "{v}: All must also match series without the label"
        );
    }
    // Every panel and query uses the datasource variable; ids unique; grid within 24 columns
    // and without overlaps.
    let panels = dash["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "duplicate id {}",
            p["id"]
        );
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24, "{} too wide", p["title"]);
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "{} overlaps", p["title"]);
            }
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        }
    }
    // The panels the issue asks for.
    let titles: BTreeSet<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for t in [
        "Quotas closest to exhaustion",
        "Utilisation over time",
        "Used against limit per resource",
        "Predicted time to exhaustion",
        "Client quotas",
        "Targets polled OK",
        "Poll success by target",
        "Poll duration",
        "Upstream requests by status code",
        "Upstream errors by error code",
        "Throttled requests (HTTP 429)",
    ] {
        assert!(titles.contains(t), "no panel {t:?}");
    }
    // Quota queries honour the filters.
    for q in panel_queries(&dash) {
        if q.expr.contains("huaweicloud_quota_used") || q.expr.contains("poll_success") {
            for v in ["$project", "$api", "$instance_id"] {
                assert!(q.expr.contains(v), "{} {}: ignores {v}", q.panel, q.ref_id);
            }
        }
    }
}

// ---- Sharding ----------------------------------------------------------------------------

/// The target keys `--config.check --shard I/N` lists, checking its count line.
fn shard_targets(config: &str, shard: &str) -> Vec<String> {
    let (code, out, err) =
        common::run(&["--config.file", config, "--config.check", "--shard", shard]);
    assert_eq!(code, 0, "--shard {shard}: {err}");
    let (head, list) = out
        .split_once(&format!("targets (shard {shard}): "))
        .unwrap_or_else(|| panic!("no target list for {shard}:\n{out}"));
    let _ = head;
    let mut lines = list.lines();
    let count: usize = lines.next().unwrap().trim().parse().unwrap();
    let keys: Vec<String> = lines
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), count, "{shard}: count line");
    keys
}

#[test]
fn shards_are_disjoint_and_together_cover_every_target() {
    // 40 ROMA instances (livedata + client quotas each) + EventGrid + GaussDB = 82 targets.
    let world = World::with_roma_instances(40);
    let (_dir, path) = common::write_temp(
        "config.yaml",
        &world.exporter_config_yaml("http://127.0.0.1:9", "5m"),
    );
    let config = path.to_str().unwrap();
    let all = shard_targets(config, "0/1");
    assert_eq!(all.len(), 82);
    let all_set: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(all_set.len(), all.len(), "duplicate keys");
    for n in [2u32, 3, 5] {
        let mut union = BTreeSet::new();
        let mut sizes = Vec::new();
        for i in 0..n {
            let keys = shard_targets(config, &format!("{i}/{n}"));
            sizes.push(keys.len());
            for k in keys {
                assert!(union.insert(k.clone()), "{k} is in two shards of {n}");
            }
        }
        assert_eq!(union, all_set, "{n} shards do not cover every target");
        assert!(
            sizes.iter().all(|&s| s > 0),
            "an empty shard of {n}: {sizes:?}"
        );
        // Stable: the same answer twice.
        assert_eq!(
            shard_targets(config, &format!("1/{n}")),
            shard_targets(config, &format!("1/{n}"))
        );
    }
    // A bad shard is refused.
    let (code, _, err) =
        common::run(&["--config.file", config, "--config.check", "--shard", "3/3"]);
    assert_ne!(code, 0);
    assert!(err.contains("invalid shard"), "{err}");
}
