//! Alerting delivered, end to end, all on 127.0.0.1: the simulator (in this process, the demo
//! world without drift: quotas at 97-98 %, one set to 90 %, changed while the test runs) -> the
//! exporter (polling every second) ->
//! Prometheus (Debian's `prometheus`, the shipped rules, evaluated every second) ->
//! Alertmanager (Debian's `prometheus-alertmanager`, the shipped
//! `deploy/alertmanager/alertmanager.yml` and its template) -> the receivers' HTTP endpoints,
//! pointed at a small webhook server in this test that records what is POSTed.
//!
//! Only the test's copies change: `for:` of the two usage alerts and of ExporterDown is cut to
//! seconds, the Alertmanager timings (group_wait, group_interval, repeat_interval) too, and the
//! receivers' URLs and secrets point at the webhook server. Routes, grouping, inhibitions and
//! templates are the shipped ones.
//!
//! Asserts: the critical alert of a near-exhausted quota pages (PagerDuty payload at the pager
//! URL) with the project, region, quota labels, used/limit and the runbook link; the warning of
//! the same quota reaches Alertmanager and is inhibited by the critical one (suppressed there,
//! never delivered to the ticket receiver); each quota is its own group (labels
//! project_id, api, instance_id, resource); a warning that is not inhibited (an exporter
//! target that is down) reaches the ticket receiver (Slack payload), rendered by the template;
//! a quota at 90 % gets its warning as a ticket and never pages; and when usage drops, the page
//! is resolved (PagerDuty `resolve`) and the ticket too (`[RESOLVED]`).

mod common;
mod ops_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Exporter;
use huaweicloud_quota_exporter::simulator::{DEMO_OTC_PROJECT_ID, World};
use ops_support::*;
use serde_json::{Value, json};

/// Everything must hold within this time after the test starts.
const DEADLINE: Duration = Duration::from_secs(50);
/// The shipped Alertmanager config and its template.
const ALERTMANAGER: &str = "deploy/alertmanager/alertmanager.yml";
const TEMPLATE: &str = "deploy/alertmanager/huaweicloud-quota.tmpl";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A child process with its log in a file; killed on drop.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Proc {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{name} not found ({e}): run scripts/test.sh, which installs it from Debian")
            });
        Proc { name, child, log }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Polls `url` until 200; fails at `deadline` or when the process exits.
    async fn wait_ready(&mut self, client: &reqwest::Client, url: &str, deadline: Instant) {
        loop {
            if let Ok(r) = client.get(url).send().await
                && r.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("wait") {
                panic!("{} exited with {status}:\n{}", self.name, self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One POST the webhook server received.
#[derive(Clone, Debug)]
struct Delivery {
    path: String,
    body: Value,
    at: Instant,
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that records every POSTed JSON body and answers 200.
struct Webhook {
    base: String,
    received: Arc<Mutex<Vec<Delivery>>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind webhook");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let sink = sink.clone();
                std::thread::spawn(move || serve_connection(stream, &sink));
            }
        });
        Webhook { base, received }
    }

    fn deliveries(&self, path: &str) -> Vec<Delivery> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|d| d.path == path)
            .cloned()
            .collect()
    }
}

/// Requests on one (keep-alive) connection until the client closes it.
fn serve_connection(stream: TcpStream, sink: &Mutex<Vec<Delivery>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        sink.lock().unwrap().push(Delivery {
            path,
            body,
            at: Instant::now(),
        });
        let answer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// GET a JSON document.
async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let r = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let text = r.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"))
}

/// The shipped rules with `for:` shortened for the alerts this test waits for: the critical one
/// first, the warning a second later (as in production, where critical's `for:` is the
/// shorter), and ExporterDown. Every other alert keeps its minutes-to-hours `for:`.
fn test_rules() -> Value {
    let mut rules = yaml(RULES);
    for group in rules["groups"].as_array_mut().unwrap() {
        for rule in group["rules"].as_array_mut().unwrap() {
            let short = match rule["alert"].as_str() {
                Some("HuaweiCloudQuotaUsageCritical") => "1s",
                Some("HuaweiCloudQuotaUsageHigh") => "2s",
                Some("HuaweiCloudQuotaExporterDown") => "1s",
                _ => continue,
            };
            rule["for"] = json!(short);
        }
    }
    rules
}

/// The shipped Alertmanager config with seconds instead of minutes and the receivers pointed
/// at the webhook server. Panics if the shipped file no longer has what is rewritten.
fn test_alertmanager_config(webhook: &str) -> Value {
    let mut am = yaml(ALERTMANAGER);
    assert_eq!(am["templates"], json!(["huaweicloud-quota.tmpl"]));
    am["templates"] = json!([repo(TEMPLATE)]);
    fn shorten(route: &mut Value) {
        for (key, short) in [
            ("group_wait", "1s"),
            ("group_interval", "1s"),
            ("repeat_interval", "1h"),
        ] {
            if route.get(key).is_some() {
                route[key] = json!(short);
            }
        }
        if let Some(routes) = route["routes"].as_array_mut() {
            routes.iter_mut().for_each(shorten);
        }
    }
    shorten(&mut am["route"]);
    for r in am["receivers"].as_array_mut().unwrap() {
        let name = r["name"].as_str().unwrap().to_string();
        let url = format!("{webhook}/{name}");
        let mut rewritten = 0;
        if let Some(configs) = r.get_mut("pagerduty_configs").and_then(Value::as_array_mut) {
            for c in configs {
                let c = c.as_object_mut().unwrap();
                assert!(
                    c.remove("routing_key_file").is_some(),
                    "{name}: routing_key_file"
                );
                c.insert("routing_key".into(), json!("test-routing-key"));
                c.insert("url".into(), json!(url));
                rewritten += 1;
            }
        }
        if let Some(configs) = r.get_mut("slack_configs").and_then(Value::as_array_mut) {
            for c in configs {
                let c = c.as_object_mut().unwrap();
                assert!(c.remove("api_url_file").is_some(), "{name}: api_url_file");
                c.insert("api_url".into(), json!(url));
                rewritten += 1;
            }
        }
        assert_eq!(rewritten, 1, "receiver {name}: one config to rewrite: {r}");
    }
    am
}

/// A quota: (api, instance_id or "", resource).
type Quota = (String, String, String);

fn quota_of(labels: &Value) -> Quota {
    let s = |k: &str| labels[k].as_str().unwrap_or("").to_string();
    (s("api"), s("instance_id"), s("resource"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_quota_pages_with_runbook_warning_is_inhibited_groups_are_per_quota() {
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Simulator -> exporter. The demo world as `simulator --write-config` serves it, without
    // drift so that the usage this test sets stays where it is set: EventGrid channels of
    // otc-eu-de at 18 of 20 (90 %: a warning, not critical).
    let mut world = World::demo();
    world.drift = false;
    world
        .project_mut(DEMO_OTC_PROJECT_ID)
        .unwrap()
        .eventgrid
        .iter_mut()
        .find(|q| q.r#type == "CHANNEL")
        .unwrap()
        .used = 18;
    let sim = common::start_sim(world.clone()).await;
    let sim_config_path = dir.path().join("sim.yaml");
    let sim_yaml = world.exporter_config_yaml(&sim.base_url(), "1s");
    std::fs::write(&sim_config_path, &sim_yaml).unwrap();
    let sim_config = yaml_str("sim.yaml", &sim_yaml);
    let project = sim_config["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "otc-eu-de")
        .expect("the demo's otc-eu-de project");
    let project_id = project["id"].as_str().unwrap().to_string();
    let exporter = Exporter::start(&["--config.file", sim_config_path.to_str().unwrap()]);
    exporter.wait_ready(Duration::from_secs(20)).await;

    // The receivers' endpoint, and Alertmanager.
    let webhook = Webhook::start();
    let am_config = dir.path().join("alertmanager.json");
    std::fs::write(
        &am_config,
        test_alertmanager_config(&webhook.base).to_string(),
    )
    .unwrap();
    let check = Command::new("amtool")
        .arg("check-config")
        .arg(&am_config)
        .output()
        .expect("amtool not found: run scripts/test.sh (Debian's prometheus-alertmanager)");
    assert!(check.status.success(), "{}", output_text(&check));
    let am_port = free_port();
    let am_base = format!("http://127.0.0.1:{am_port}");
    let mut am = Proc::spawn(
        "prometheus-alertmanager",
        Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", am_config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("am").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            // No HA gossip (it would listen on every interface).
            .arg("--cluster.listen-address="),
        dir.path().join("alertmanager.log"),
    );
    am.wait_ready(&client, &format!("{am_base}/-/ready"), deadline)
        .await;

    // Prometheus: the example scrape config with the exporter and a second, dead target in
    // its job (for ExporterDown, a warning nothing inhibits), the rules, and Alertmanager.
    let rules_path = dir.path().join("rules.json");
    std::fs::write(&rules_path, test_rules().to_string()).unwrap();
    let dead_target = format!("127.0.0.1:{}", free_port());
    let mut prom_config = yaml(SCRAPE_CONFIG);
    prom_config["global"] = json!({"scrape_interval": "1s", "evaluation_interval": "1s"});
    prom_config["rule_files"] = json!([rules_path]);
    prom_config["alerting"] = json!({"alertmanagers": [{"static_configs": [{"targets": [format!("127.0.0.1:{am_port}")]}]}]});
    let job = &mut prom_config["scrape_configs"][0];
    assert_eq!(job["job_name"], JOB);
    job["scrape_interval"] = json!("1s");
    job["scrape_timeout"] = json!("1s");
    job["static_configs"] = json!([{"targets": [
        exporter.base.trim_start_matches("http://"),
        dead_target,
    ]}]);
    let prom_config_path = dir.path().join("prometheus.json");
    std::fs::write(&prom_config_path, prom_config.to_string()).unwrap();
    let prom_port = free_port();
    let mut prom = Proc::spawn(
        "prometheus",
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}")),
        dir.path().join("prometheus.log"),
    );
    prom.wait_ready(
        &client,
        &format!("http://127.0.0.1:{prom_port}/-/ready"),
        deadline,
    )
    .await;
    eprintln!("all servers ready after {:?}", started.elapsed());

    // The quotas of the demo that stay above 95 % whatever the drift (GaussDB instances 49/50,
    // EventGrid subscriptions 97/100, the batch ROMA instance's data sources 49/50).
    let gaussdb: Quota = ("gaussdb_mysql".into(), String::new(), "instance".into());
    let must_page: Vec<Quota> = vec![
        gaussdb.clone(),
        ("eventgrid".into(), String::new(), "subscription".into()),
        (
            "roma_livedata".into(),
            "a3c9e7b1-2d4f-4e6a-8b0c-1d3e5f7a9b2c".into(),
            "datasource".into(),
        ),
    ];

    let mut rounds = 0;
    let (pages, am_alerts, groups) = loop {
        rounds += 1;
        let mut unmet: Vec<String> = Vec::new();
        let pages = webhook.deliveries("/pager");
        let tickets = webhook.deliveries("/ticket");
        let am_alerts = get_json(&client, &format!("{am_base}/api/v2/alerts")).await;
        let groups = get_json(&client, &format!("{am_base}/api/v2/alerts/groups")).await;
        let am_alerts = am_alerts.as_array().cloned().unwrap_or_default();

        // Pages for each quota that must page.
        let paged: BTreeSet<Quota> = pages
            .iter()
            .filter(|d| d.body["payload"]["custom_details"]["project_id"] == *project_id)
            .map(|d| quota_of(&d.body["payload"]["custom_details"]))
            .collect();
        for q in &must_page {
            if !paged.contains(q) {
                unmet.push(format!("no page for {q:?}"));
            }
        }
        // The warning of the GaussDB quota is in Alertmanager, and inhibited there.
        let warning = am_alerts.iter().find(|a| {
            a["labels"]["alertname"] == "HuaweiCloudQuotaUsageHigh"
                && a["labels"]["project_id"] == *project_id
                && quota_of(&a["labels"]) == gaussdb
        });
        match warning {
            None => unmet.push("the GaussDB warning is not in Alertmanager".into()),
            Some(w) => {
                if w["status"]["state"] != "suppressed"
                    || w["status"]["inhibitedBy"]
                        .as_array()
                        .is_none_or(Vec::is_empty)
                {
                    unmet.push(format!("the GaussDB warning is not inhibited: {w}"));
                }
            }
        }
        // The channel quota at 90 % got its warning as a ticket.
        if !tickets
            .iter()
            .any(|d| is_channel_ticket(d, "[FIRING:1] HuaweiCloudQuotaUsageHigh"))
        {
            unmet.push("no ticket for the channel quota at 90 %".into());
        }
        // The ExporterDown warning reached the ticket receiver.
        if !tickets.iter().any(|d| {
            d.body["attachments"][0]["title"]
                .as_str()
                .is_some_and(|t| t.contains("HuaweiCloudQuotaExporterDown"))
        }) {
            unmet.push("no ticket for HuaweiCloudQuotaExporterDown".into());
        }
        if unmet.is_empty() {
            break (pages, am_alerts, groups);
        }
        assert!(
            Instant::now() < deadline,
            "after {DEADLINE:?} ({rounds} rounds), still:\n  {}\npages: {pages:#?}\ntickets: {tickets:#?}\nalertmanager alerts: {am_alerts:#?}\nprometheus log:\n{}\nalertmanager log:\n{}",
            unmet.join("\n  "),
            prom.log_tail(),
            am.log_tail(),
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!(
        "pages, inhibition and ticket seen after {:?} ({rounds} rounds)",
        started.elapsed()
    );

    // Every shipped rule (the shard alerts and the used/limit annotations included) loaded
    // and evaluates without error in this Prometheus.
    let rules = get_json(
        &client,
        &format!("http://127.0.0.1:{prom_port}/api/v1/rules"),
    )
    .await;
    let loaded: Vec<&Value> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    assert_eq!(loaded.len(), rules_of(&yaml(RULES)).len());
    for r in &loaded {
        assert_eq!(r["health"], "ok", "rule {} {}", r["name"], r["lastError"]);
    }

    // ---- The pages: PagerDuty events v2, one per group, rendered by the template. -------
    for p in &pages {
        let b = &p.body;
        assert_eq!(b["routing_key"], "test-routing-key", "{b}");
        assert_eq!(b["event_action"], "trigger", "{b}");
        assert_eq!(b["payload"]["severity"], "critical", "{b}");
        let summary = b["payload"]["summary"].as_str().unwrap();
        assert!(
            summary.starts_with("[FIRING:") && summary.contains("HuaweiCloudQuotaUsageCritical"),
            "only critical usage alerts page: {summary}"
        );
    }
    let page = pages
        .iter()
        .find(|d| {
            d.body["payload"]["custom_details"]["project_id"] == *project_id
                && quota_of(&d.body["payload"]["custom_details"]) == gaussdb
        })
        .unwrap();
    let details = &page.body["payload"]["custom_details"];
    assert_eq!(details["project"], format!("otc-eu-de ({project_id})"));
    assert_eq!(details["region"], "eu-de");
    assert_eq!(details["api"], "gaussdb_mysql");
    assert_eq!(details["resource"], "instance");
    assert_eq!(details["instance_id"], "");
    assert_eq!(details["used"], "49 of 50", "used / limit: {details}");
    let runbook = format!("{RUNBOOK_BASE}#huaweicloudquotausagecritical");
    assert_eq!(details["runbook"], runbook);
    assert_eq!(page.body["links"][0]["href"], runbook, "{}", page.body);
    assert_eq!(
        page.body["payload"]["summary"],
        "[FIRING:1] HuaweiCloudQuotaUsageCritical otc-eu-de (eu-de) gaussdb_mysql/instance"
    );
    let text = details["alerts"].as_str().unwrap();
    for want in [
        "nearly exhausted (98% used)",
        &format!("Project: otc-eu-de ({project_id}), region eu-de"),
        "Resource: instance (gaussdb_mysql)",
        "Used: 49 of 50",
        &format!("Runbook: {runbook}"),
    ] {
        assert!(text.contains(want), "page text lacks {want:?}:\n{text}");
    }
    // One page (and one dedup key) per quota: different quotas of one project never share one.
    let keys: BTreeMap<String, BTreeSet<Quota>> = pages.iter().fold(BTreeMap::new(), |mut m, d| {
        m.entry(d.body["dedup_key"].as_str().unwrap().to_string())
            .or_default()
            .insert(quota_of(&d.body["payload"]["custom_details"]));
        m
    });
    assert!(keys.len() >= must_page.len(), "{keys:?}");
    for (key, quotas) in &keys {
        assert_eq!(quotas.len(), 1, "group {key} mixes quotas: {quotas:?}");
    }

    // ---- Alertmanager's groups: by project and quota. ------------------------------------
    let groups = groups.as_array().unwrap();
    let pager_groups: Vec<&Value> = groups
        .iter()
        .filter(|g| g["receiver"]["name"] == "pager")
        .collect();
    let gaussdb_group = pager_groups
        .iter()
        .find(|g| g["labels"]["project_id"] == *project_id && quota_of(&g["labels"]) == gaussdb)
        .expect("a pager group for the GaussDB quota");
    assert_eq!(
        gaussdb_group["labels"],
        json!({"project_id": project_id, "api": "gaussdb_mysql", "resource": "instance"}),
        "group labels"
    );
    for g in groups
        .iter()
        .filter(|g| g["receiver"]["name"] != "ticket" || g["labels"].get("project_id").is_some())
    {
        let labels: BTreeSet<&str> = g["labels"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            labels.is_subset(&BTreeSet::from([
                "project_id",
                "api",
                "instance_id",
                "resource"
            ])),
            "group labels {labels:?}"
        );
        for a in g["alerts"].as_array().unwrap() {
            for (k, v) in g["labels"].as_object().unwrap() {
                assert_eq!(&a["labels"][k], v, "alert outside its group: {a}");
            }
        }
    }
    let critical_quotas: BTreeSet<Quota> = am_alerts
        .iter()
        .filter(|a| {
            a["labels"]["alertname"] == "HuaweiCloudQuotaUsageCritical"
                && a["status"]["state"] == "active"
        })
        .map(|a| quota_of(&a["labels"]))
        .collect();
    assert!(
        critical_quotas.len() >= must_page.len(),
        "{critical_quotas:?}"
    );

    // ---- Inhibition: no warning of a critical quota was ever delivered. ----------------------
    // Watch a few more group intervals (1s in this copy) for a late delivery.
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let tickets = webhook.deliveries("/ticket");
    for t in &tickets {
        let a = &t.body["attachments"][0];
        let title = a["title"].as_str().unwrap_or("");
        let text = a["text"].as_str().unwrap_or("");
        assert!(
            !title.contains("HuaweiCloudQuotaUsageCritical"),
            "a critical alert went to the ticket receiver: {title}"
        );
        assert!(
            !text.contains("Resource: instance (gaussdb_mysql)")
                && !title.contains("gaussdb_mysql/instance"),
            "the inhibited GaussDB warning was delivered: {title}\n{text}"
        );
        assert_eq!(t.body["channel"], "#cloud-quotas", "{}", t.body);
    }
    let down = tickets
        .iter()
        .find(|d| {
            d.body["attachments"][0]["title"]
                .as_str()
                .is_some_and(|t| t.contains("HuaweiCloudQuotaExporterDown"))
        })
        .unwrap();
    let a = &down.body["attachments"][0];
    assert_eq!(
        a["title_link"],
        format!("{RUNBOOK_BASE}#huaweicloudquotaexporterdown")
    );
    assert_eq!(
        a["title"],
        format!("[FIRING:1] HuaweiCloudQuotaExporterDown job {JOB} on {dead_target}")
    );
    let text = a["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("Exporter: {dead_target}")) && text.contains("Runbook: "),
        "{text}"
    );
    let first_page = pages.iter().map(|d| d.at).min().unwrap();
    eprintln!(
        "{} pages ({} groups), {} tickets; first page {:?} after start; {} alerts in Alertmanager, {} critical quotas: {:?}",
        pages.len(),
        keys.len(),
        tickets.len(),
        first_page.duration_since(started),
        am_alerts.len(),
        critical_quotas.len(),
        critical_quotas
    );
    for t in &tickets {
        eprintln!(
            "ticket: {}",
            t.body["attachments"][0]["title"].as_str().unwrap_or("")
        );
    }

    // ---- The warning at 90 %: a ticket rendered by the template, never a page. ------------
    let channel_ticket = tickets
        .iter()
        .find(|d| is_channel_ticket(d, "[FIRING:1] HuaweiCloudQuotaUsageHigh"))
        .unwrap();
    let a = &channel_ticket.body["attachments"][0];
    assert_eq!(
        a["title"],
        "[FIRING:1] HuaweiCloudQuotaUsageHigh otc-eu-de (eu-de) eventgrid/channel"
    );
    assert_eq!(
        a["title_link"],
        format!("{RUNBOOK_BASE}#huaweicloudquotausagehigh")
    );
    let text = a["text"].as_str().unwrap();
    assert!(text.contains("Used: 18 of 20"), "{text}");
    assert!(
        !webhook
            .deliveries("/pager")
            .iter()
            .any(|d| { d.body["payload"]["custom_details"]["resource"] == "channel" }),
        "the quota at 90 % paged"
    );

    // ---- Usage drops: the page and the ticket are resolved. ------------------------------
    sim.update_world(|w| {
        let p = w.project_mut(DEMO_OTC_PROJECT_ID).unwrap();
        p.gaussdb[0].used = 10;
        for q in &mut p.eventgrid {
            if q.r#type == "CHANNEL" {
                q.used = 2;
            }
        }
    });
    let dropped = Instant::now();
    let resolve_deadline = dropped + Duration::from_secs(30);
    loop {
        let resolved_page = webhook.deliveries("/pager").into_iter().find(|d| {
            d.body["event_action"] == "resolve"
                && d.body["payload"]["custom_details"]["project_id"] == *project_id
                && quota_of(&d.body["payload"]["custom_details"]) == gaussdb
        });
        let resolved_ticket = webhook
            .deliveries("/ticket")
            .into_iter()
            .find(|d| is_channel_ticket(d, "[RESOLVED] HuaweiCloudQuotaUsageHigh"));
        if let (Some(p), Some(_)) = (&resolved_page, &resolved_ticket) {
            // The same incident as the page: PagerDuty closes it by its dedup key.
            assert_eq!(p.body["dedup_key"], page.body["dedup_key"], "{}", p.body);
            eprintln!(
                "page and ticket resolved {:?} after usage dropped",
                dropped.elapsed()
            );
            break;
        }
        assert!(
            Instant::now() < resolve_deadline,
            "not resolved within 30 s (page: {}, ticket: {});\npages: {:#?}\ntickets: {:#?}\nalertmanager log:\n{}",
            resolved_page.is_some(),
            resolved_ticket.is_some(),
            webhook.deliveries("/pager"),
            webhook.deliveries("/ticket"),
            am.log_tail(),
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(prom);
    drop(am);
    drop(exporter);
    sim.shutdown();
}

/// Whether `d` is a ticket whose title starts with `title` for the EventGrid channel quota.
fn is_channel_ticket(d: &Delivery, title: &str) -> bool {
    d.body["attachments"][0]["title"]
        .as_str()
        .is_some_and(|t| t.starts_with(title) && t.ends_with("eventgrid/channel"))
}
