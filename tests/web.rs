//! End-to-end tests of the serving side: `--web.config.file` (TLS, mutual TLS, basic
//! auth, headers, reload), the hardened HTTP server (timeouts, limits, methods), the
//! landing page and `/api/v1/status`, all against the real binary and the simulator.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Exporter, eventually, raw_client, run};
use huaweicloud_quota_exporter::simulator::{
    Endpoint, Fault, SEED_APP_QUOTA_ID, SEED_HOURE_APP_QUOTA_ID, Simulator, World,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const READY: Duration = Duration::from_secs(30);

async fn start_sim(world: World) -> Simulator {
    Simulator::start(([127, 0, 0, 1], 0).into(), world)
        .await
        .expect("simulator")
}

/// A temporary directory holding the exporter config for `sim` and anything else a test writes.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(sim: &Simulator, world: &World) -> Files {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("config.yaml"),
            world.exporter_config_yaml(&sim.base_url(), "1h"),
        )
        .expect("write config");
        Files { dir }
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }
}

/// A test CA, a server certificate for 127.0.0.1 and localhost, and client certificates.
struct Pki {
    ca_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
    client_pem: String,
    stranger_pem: String,
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA")
}

/// A client certificate and its key as one PEM (what reqwest's `Identity` reads).
fn client_identity(issuer: &CertifiedIssuer<'static, KeyPair>, name: &str) -> String {
    let mut params = CertificateParams::new(vec![name.to_string()]).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("client cert");
    format!("{}{}", cert.pem(), key.serialize_pem())
}

impl Pki {
    fn new() -> Pki {
        let ca = new_ca("quota exporter test CA");
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("key");
        let server = params.signed_by(&key, &ca).expect("server cert");
        let other_ca = new_ca("someone else's CA");
        Pki {
            ca_pem: ca.pem(),
            server_cert_pem: server.pem(),
            server_key_pem: key.serialize_pem(),
            client_pem: client_identity(&ca, "prometheus.example"),
            stranger_pem: client_identity(&other_ca, "stranger.example"),
        }
    }

    /// Writes the server's files next to the web config; returns nothing, the config
    /// names them relative to itself.
    fn write(&self, files: &Files) {
        files.write("server.crt", &self.server_cert_pem);
        files.write("server.key", &self.server_key_pem);
        files.write("ca.crt", &self.ca_pem);
    }

    /// A client trusting only the test CA, optionally presenting `identity`.
    fn client(&self, identity: Option<&str>) -> reqwest::Client {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("CA"),
            )
            .no_gzip()
            .timeout(Duration::from_secs(10));
        if let Some(pem) = identity {
            b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
        }
        b.build().expect("client")
    }
}

/// Sends raw bytes, returns everything the server sends back until it closes (or 10 s).
async fn raw_exchange(base: &str, request: &[u8]) -> Vec<u8> {
    let addr = base.split_once("://").map_or(base, |(_, a)| a);
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("send");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    out
}

fn status_line(response: &[u8]) -> String {
    String::from_utf8_lossy(response)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Reads until the peer closes; returns how long that took and what was read.
async fn wait_for_close(s: &mut TcpStream, deadline: Duration) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(deadline.saturating_sub(start.elapsed()), s.read(&mut buf)).await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return (start.elapsed(), got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "connection still open after {deadline:?}; read so far: {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_https_and_plain_http_gets_no_data() {
    let sim = start_sim(World::seeds()).await;
    let files = Files::new(&sim, &World::seeds());
    let pki = Pki::new();
    pki.write(&files);
    // Relative names: resolved next to the web config, as exporter-toolkit does.
    files.write(
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS12\n",
    );
    let exporter = Exporter::start_with_env(
        &[
            "--config.file",
            &files.path("config.yaml"),
            "--web.config.file",
            &files.path("web.yml"),
        ],
        &[("HWC_QUOTA_HEADER_READ_TIMEOUT", "1s")],
    );
    assert!(exporter.base.starts_with("https://"), "{}", exporter.base);
    let client = pki.client(None);
    exporter.wait_ready_with(&client, READY).await;

    let r = client
        .get(format!("{}/metrics", exporter.base))
        .send()
        .await
        .expect("https scrape");
    assert_eq!(r.status(), 200);
    let body = r.text().await.expect("body");
    assert!(body.contains("huaweicloud_quota_limit{"), "{body}");

    // A client that does not trust the test CA refuses the server's certificate.
    let untrusting = reqwest::Client::builder()
        .use_rustls_tls()
        .build()
        .expect("client");
    assert!(
        untrusting
            .get(format!("{}/metrics", exporter.base))
            .send()
            .await
            .is_err(),
        "the generated certificate must be the one served"
    );

    // Plain HTTP to the TLS port: no HTTP answer and no data, just a TLS alert or a close.
    let reply = raw_exchange(
        &exporter.base,
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&reply);
    assert!(
        !text.contains("HTTP/") && !text.contains("huaweicloud"),
        "plain HTTP got: {text:?}"
    );
    assert!(
        reply.is_empty() || reply[0] == 0x15,
        "expected nothing or a TLS alert record, got {reply:?}"
    );

    // A TCP connection that never starts the handshake is closed after the timeout.
    let addr = exporter.base.trim_start_matches("https://").to_string();
    let mut idle = TcpStream::connect(&addr).await.expect("connect");
    let (took, _) = wait_for_close(&mut idle, Duration::from_secs(10)).await;
    assert!(
        took >= Duration::from_millis(800),
        "closed too early: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let sim = start_sim(World::seeds()).await;
    let files = Files::new(&sim, &World::seeds());
    let pki = Pki::new();
    pki.write(&files);
    files.write(
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    );
    let exporter = Exporter::start(&[
        "--config.file",
        &files.path("config.yaml"),
        "--web.config.file",
        &files.path("web.yml"),
    ]);
    let with_cert = pki.client(Some(&pki.client_pem));
    exporter.wait_ready_with(&with_cert, READY).await;
    let r = with_cert
        .get(format!("{}/metrics", exporter.base))
        .send()
        .await
        .expect("a client with a certificate from the CA gets in");
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("huaweicloud_quota_used{")
    );

    for (who, client) in [
        ("no client certificate", pki.client(None)),
        (
            "a certificate from another CA",
            pki.client(Some(&pki.stranger_pem)),
        ),
    ] {
        let result = client
            .get(format!("{}/metrics", exporter.base))
            .send()
            .await;
        match result {
            Err(_) => {}
            Ok(r) => panic!(
                "{who}: expected the handshake to fail, got HTTP {}",
                r.status()
            ),
        }
    }
}

fn basic(client: reqwest::RequestBuilder, user: &str, password: &str) -> reqwest::RequestBuilder {
    client.basic_auth(user, Some(password))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_right_wrong_missing_and_unknown_user() {
    let sim = start_sim(World::seeds()).await;
    let files = Files::new(&sim, &World::seeds());
    let hash = bcrypt::hash("correct horse", 4).expect("hash");
    files.write(
        "web.yml",
        &format!(
            "basic_auth_users:\n  alice: '{hash}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
        ),
    );
    let exporter = Exporter::start(&[
        "--config.file",
        &files.path("config.yaml"),
        "--web.config.file",
        &files.path("web.yml"),
    ]);
    let authed = reqwest::Client::builder()
        .default_headers({
            let mut h = reqwest::header::HeaderMap::new();
            let v = reqwest::header::HeaderValue::from_str(&format!(
                "Basic {}",
                base64_encode(b"alice:correct horse")
            ))
            .expect("header");
            h.insert(reqwest::header::AUTHORIZATION, v);
            h
        })
        .build()
        .expect("client");
    exporter.wait_ready_with(&authed, READY).await;
    let client = raw_client();
    let url = |p: &str| format!("{}{p}", exporter.base);

    // Right: every path.
    for path in ["/metrics", "/", "/-/healthy", "/-/ready", "/api/v1/status"] {
        let r = basic(client.get(url(path)), "alice", "correct horse")
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["x-frame-options"], "deny", "{path}");
    }
    // Missing, wrong, unknown user: 401 with a Basic challenge, on every path, even a
    // path that does not exist (no hint about what exists).
    for (what, req) in [
        ("missing", client.get(url("/metrics"))),
        ("missing on /-/healthy", client.get(url("/-/healthy"))),
        ("missing on an unknown path", client.get(url("/nope"))),
        (
            "wrong password",
            basic(client.get(url("/metrics")), "alice", "Correct horse"),
        ),
        (
            "unknown user",
            basic(client.get(url("/metrics")), "mallory", "correct horse"),
        ),
        ("empty password", basic(client.get(url("/")), "alice", "")),
    ] {
        let r = req.send().await.expect("request");
        assert_eq!(r.status(), 401, "{what}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap_or("");
        assert!(challenge.starts_with("Basic"), "{what}: {challenge}");
        assert_eq!(r.headers()["x-frame-options"], "deny", "{what}");
        let body = r.text().await.expect("body");
        assert!(!body.contains("huaweicloud_quota"), "{what}: {body}");
    }
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_web_config_and_a_bad_one_keeps_the_old() {
    let sim = start_sim(World::seeds()).await;
    let files = Files::new(&sim, &World::seeds());
    let alice = bcrypt::hash("pw-a", 4).expect("hash");
    let bob = bcrypt::hash("pw-b", 4).expect("hash");
    let web = files.write(
        "web.yml",
        &format!("basic_auth_users:\n  alice: '{alice}'\n"),
    );
    let mut exporter = Exporter::start(&[
        "--config.file",
        &files.path("config.yaml"),
        "--web.config.file",
        &files.path("web.yml"),
    ]);
    let client = raw_client();
    let base = exporter.base.clone();
    let status = |user: &'static str, pw: &'static str| {
        let req = basic(client.get(format!("{base}/-/healthy")), user, pw);
        async move { req.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
    };
    assert_eq!(status("alice", "pw-a").await, 200);
    assert_eq!(status("bob", "pw-b").await, 401);

    std::fs::write(&web, format!("basic_auth_users:\n  bob: '{bob}'\n")).expect("rewrite");
    exporter.signal("HUP");
    let start = Instant::now();
    while status("bob", "pw-b").await != 200 {
        assert!(
            start.elapsed() < READY,
            "reload not applied:\n{}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(status("alice", "pw-a").await, 401, "the old user is gone");

    // A broken file: the reload fails, is logged, and bob still gets in.
    std::fs::write(&web, "basic_auth_users:\n  bob: not-a-hash\n").expect("rewrite");
    exporter.signal("HUP");
    let logs = || exporter.logs();
    eventually(READY, "the failed web config reload is logged", || {
        logs().contains("web config reload failed")
    })
    .await;
    let log = exporter.logs();
    assert!(
        log.contains(&format!("{}:2:8", web.display())),
        "file:line:col in the log:\n{log}"
    );
    assert_eq!(status("bob", "pw-b").await, 200);
    let mut metrics = String::new();
    let start = Instant::now();
    while !metrics.contains("huaweicloud_quota_config_last_reload_successful 0") {
        assert!(
            start.elapsed() < READY,
            "reload failure not in the metrics:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
        metrics = basic(client.get(format!("{base}/metrics")), "bob", "pw-b")
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("body");
    }
}

#[test]
fn a_bad_web_config_stops_the_start_with_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        World::seeds().exporter_config_yaml("http://127.0.0.1:9", "1h"),
    )
    .expect("write");
    let cases = [
        (
            "tls_server_config:\n  cert_file: a.crt\n  key_fiel: a.key\n",
            ":3:3: unknown field `key_fiel`",
        ),
        (
            "basic_auth_users:\n  alice: hunter2\n",
            ":2:10: the password of basic_auth_users `alice` is not a bcrypt hash",
        ),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
            ":2:14: cannot read cert_file",
        ),
        (
            "http_server_config:\n  headers:\n    Server: nginx\n",
            ":3:13: HTTP header `Server` can not be configured",
        ),
    ];
    for (text, want) in cases {
        let web = dir.path().join("web.yml");
        std::fs::write(&web, text).expect("write");
        let (w, c) = (web.to_string_lossy(), config.to_string_lossy());
        let (code, _out, err) = run(&[
            "--config.file",
            &c,
            "--web.config.file",
            &w,
            "--web.listen-address",
            "127.0.0.1:0",
        ]);
        assert_eq!(code, 1, "{text}\n{err}");
        assert!(
            err.contains(&format!("{w}{want}")),
            "want `{w}{want}` in:\n{err}"
        );
        assert!(!err.contains("hunter2"), "a password in the error:\n{err}");
        // --config.check checks the web config too.
        let (code, _out, err) = run(&[
            "--config.check",
            "--config.file",
            &c,
            "--web.config.file",
            &w,
        ]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(&format!("{w}{want}")), "{err}");
    }
}

/// The seed world with markup in upstream strings.
fn hostile_world() -> World {
    let mut world = World::seeds();
    let quotas = &mut world.projects[0].roma_instances[0].app_quotas;
    for q in quotas.iter_mut() {
        if q.app_quota_id == SEED_APP_QUOTA_ID {
            q.name = "<script>alert('name')</script>".to_string();
        }
        if q.app_quota_id == SEED_HOURE_APP_QUOTA_ID {
            q.remark = Some("<script>alert(\"remark\")</script> & more".to_string());
        }
    }
    world
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_page_and_json_status_show_everything_escaped() {
    let sim = start_sim(World::seeds()).await;
    // Upstream strings with markup: set while the simulator runs.
    sim.update_world(|w| *w = hostile_world());
    sim.faults().push(Fault::status_body(
        Endpoint::Eventgrid,
        500,
        r#"{"error_code":"APIG.0308","error_msg":"<script>alert('msg')</script>","request_id":"req-<b>1</b>"}"#,
    ).with_header("X-Request-Id", "req-<b>1</b>"));
    let files = Files::new(&sim, &World::seeds());
    let exporter = Exporter::start(&["--config.file", &files.path("config.yaml")]);
    exporter.wait_ready(READY).await;

    let (status, headers, page) = exporter.get("/").await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap_or("");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!page.contains("<script"), "unescaped markup in the page");
    for want in [
        "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;",
        "&lt;script&gt;alert(&quot;remark&quot;)&lt;/script&gt; &amp; more",
        "&lt;script&gt;alert(&#39;msg&#39;)&lt;/script&gt;",
        "req-&lt;b&gt;1&lt;/b&gt;",
        "APIG.0308",
        "prod-cn-north-4",
        "0123456789abcdef0123456789abcdef",
        "f0fa1789-3b76-433b-a787-9892951c620e",
        "href=\"/metrics\"",
        "href=\"/-/healthy\"",
        "href=\"/-/ready\"",
        "href=\"/api/v1/status\"",
        "Version 0.1.0",
        "50,000",
        "2 hours",
    ] {
        assert!(page.contains(want), "landing page lacks {want}");
    }
    // Quotas by utilisation: GaussDB instances (8%) before ROMA APIs (0.04%).
    let pos = |s: &str| page.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(pos("8.0%") < pos("0.0%"));
    // The failed target comes first in the targets table.
    let targets = &page[pos("id=\"targets\"")..];
    assert!(
        targets.find("badge failed") < targets.find("badge ok"),
        "failed targets first"
    );

    let (status, headers, json) = exporter.get("/api/v1/status").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(v["version"], "0.1.0");
    assert_eq!(v["summary"]["targets"], 4);
    assert_eq!(v["summary"]["targets_failed"], 1);
    let targets = v["targets"].as_array().expect("targets");
    assert_eq!(targets[0]["api"], "eventgrid");
    assert_eq!(targets[0]["state"], "failed");
    assert_eq!(targets[0]["error"]["code"], "APIG.0308");
    assert_eq!(targets[0]["error"]["status"], 500);
    assert_eq!(
        targets[0]["error"]["message"],
        "<script>alert('msg')</script>"
    );
    assert_eq!(targets[0]["error"]["request_id"], "req-<b>1</b>");
    assert!(
        targets[1..]
            .iter()
            .all(|t| t["state"] == "ok" && t["error"].is_null())
    );
    let quotas = v["quotas"].as_array().expect("quotas");
    let utils: Vec<f64> = quotas
        .iter()
        .filter_map(|q| q["utilisation"].as_f64())
        .collect();
    assert!(utils.windows(2).all(|w| w[0] >= w[1]), "sorted: {utils:?}");
    assert_eq!(quotas[0]["api"], "gaussdb_mysql");
    assert_eq!(quotas[0]["resource"], "instance");
    assert_eq!(quotas[0]["used"], 4.0);
    assert_eq!(quotas[0]["limit"], 50.0);
    assert_eq!(quotas[0]["level"], "ok");
    assert!(quotas[0]["instance_id"].is_null());
    let clients = v["client_quotas"].as_array().expect("client quotas");
    let named = clients
        .iter()
        .find(|c| c["app_quota_id"] == SEED_APP_QUOTA_ID)
        .expect("seed client quota");
    assert_eq!(named["name"], "<script>alert('name')</script>");
    assert_eq!(named["call_limit"], 1000.0);
    assert_eq!(named["window_seconds"], 86400.0);
    let hourly = clients
        .iter()
        .find(|c| c["app_quota_id"] == SEED_HOURE_APP_QUOTA_ID)
        .expect("hourly client quota");
    assert_eq!(
        hourly["remark"],
        "<script>alert(\"remark\")</script> & more"
    );
    assert_eq!(hourly["time_unit"], "HOUR");
    assert_eq!(hourly["window_seconds"], 7200.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_closed_after_the_header_read_timeout() {
    let sim = start_sim(World::seeds()).await;
    let files = Files::new(&sim, &World::seeds());
    let exporter = Exporter::start_with_env(
        &["--config.file", &files.path("config.yaml")],
        &[("HWC_QUOTA_HEADER_READ_TIMEOUT", "500ms")],
    );
    exporter.wait_ready(READY).await;
    let addr = exporter.base.trim_start_matches("http://").to_string();

    // A client that connects and says nothing.
    let mut silent = TcpStream::connect(&addr).await.expect("connect");
    let (took, _) = wait_for_close(&mut silent, Duration::from_secs(10)).await;
    assert!(
        took >= Duration::from_millis(400),
        "closed too early: {took:?}"
    );

    // A slow client that never finishes its request head.
    let mut slow = TcpStream::connect(&addr).await.expect("connect");
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("send");
    let (took, _) = wait_for_close(&mut slow, Duration::from_secs(10)).await;
    assert!(
        took >= Duration::from_millis(400),
        "closed too early: {took:?}"
    );

    // A keep-alive connection, idle after one answered request.
    let mut keep = TcpStream::connect(&addr).await.expect("connect");
    keep.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    let (_, answer) = wait_for_close(&mut keep, Duration::from_secs(10)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("Healthy\n"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_paths_and_request_limits() {
    let sim = start_sim(World::seeds()).await;
    let files = Files::new(&sim, &World::seeds());
    let exporter = Exporter::start(&["--config.file", &files.path("config.yaml")]);
    exporter.wait_ready(READY).await;
    let client = raw_client();
    let url = |p: &str| format!("{}{p}", exporter.base);

    for path in ["/metrics", "/", "/-/healthy", "/-/ready", "/api/v1/status"] {
        for method in [
            reqwest::Method::POST,
            reqwest::Method::DELETE,
            reqwest::Method::PUT,
        ] {
            let r = client
                .request(method.clone(), url(path))
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), 405, "{method} {path}");
            assert_eq!(r.headers()["allow"], "GET, HEAD", "{method} {path}");
        }
    }
    let r = client.get(url("/-/reload")).send().await.expect("get");
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST, PUT");
    let r = client.post(url("/-/reload")).send().await.expect("post");
    assert_eq!(r.status(), 403, "lifecycle API off by default");
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("--web.enable-lifecycle")
    );
    let r = client.get(url("/metrics/extra")).send().await.expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");

    let r = client
        .head(url("/api/v1/status"))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
    let len: usize = r.headers()["content-length"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(len > 100, "HEAD announces the JSON's length: {len}");
    assert!(r.bytes().await.expect("body").is_empty());

    // A request head over 32 KiB: 431.
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let reply = raw_exchange(&exporter.base, big.as_bytes()).await;
    assert_eq!(
        status_line(&reply),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    // A body over 64 KiB announced: 413, nothing read.
    let reply = raw_exchange(
        &exporter.base,
        b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n",
    )
    .await;
    assert_eq!(status_line(&reply), "HTTP/1.1 413 Payload Too Large");
}
