//! Serving like a current Prometheus exporter, end to end against the real binary on
//! loopback: `--version` and `huaweicloud_quota_build_info`, the shard gauges,
//! `--web.disable-exporter-metrics`, `--web.max-requests` (scrapes held by unread HTTP/2
//! streams), socket activation through
//! `systemd-socket-activate`, HTTP/2 over TLS as `curl --http2` sees it, and a certificate
//! renewed by rename served without a signal.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Exporter, run, scrape, start_sim};
use huaweicloud_quota_exporter::simulator::{Simulator, World};
use rcgen::{CertificateParams, KeyPair};

const READY: Duration = Duration::from_secs(30);

/// A temporary directory with an exporter config polling `sim`.
fn config_dir(sim: &Simulator, world: &World) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, world.exporter_config_yaml(&sim.base_url(), "1h")).expect("write");
    (dir, path.to_string_lossy().into_owned())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The value of the unlabelled or fully written `series` in `body`.
fn value_of(body: &str, series: &str) -> Option<String> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(str::to_string)
}

/// The labels of the `huaweicloud_quota_build_info` line, in order.
fn build_info_labels(body: &str) -> Vec<(String, String)> {
    let line = body
        .lines()
        .find(|l| l.starts_with("huaweicloud_quota_build_info{"))
        .expect("build_info line");
    let inner = line
        .trim_start_matches("huaweicloud_quota_build_info{")
        .rsplit_once("} ")
        .expect("labels")
        .0;
    inner
        .split("\",")
        .map(|kv| {
            let (k, v) = kv.split_once("=\"").expect("k=\"v\"");
            (k.to_string(), v.trim_end_matches('"').to_string())
        })
        .collect()
}

#[test]
fn version_prints_the_prometheus_common_layout() {
    let (code, stdout, stderr) = run(&["--version"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    let first = lines[0];
    let rest = first
        .strip_prefix(&format!(
            "huaweicloud-quota-exporter, version {} (branch: ",
            env!("CARGO_PKG_VERSION")
        ))
        .unwrap_or_else(|| panic!("first line: {first}"));
    let (branch, rest) = rest.split_once(", revision: ").expect("revision");
    let revision = rest.strip_suffix(')').expect("closing parenthesis");
    assert!(!branch.is_empty() && !revision.is_empty(), "{first}");
    // The value column starts where `prometheus --version` starts it (column 20).
    for (line, label) in
        lines[1..]
            .iter()
            .zip(["build user:", "build date:", "rust version:", "platform:"])
    {
        assert!(line.starts_with(&format!("  {label}")), "{line}");
        let value = &line[20..];
        assert!(
            line[..20].trim_end() == format!("  {label}")
                && !value.starts_with(' ')
                && !value.is_empty(),
            "value not at column 20: {line:?}"
        );
    }
    let date = &lines[2][20..];
    assert!(
        date.len() == 17
            && date.as_bytes()[8] == b'-'
            && date[..8].bytes().all(|b| b.is_ascii_digit()),
        "build date as 20060102-15:04:05: {date}"
    );
    assert!(
        lines[4][20..].contains('/'),
        "platform os/arch: {}",
        lines[4]
    );

    // Built from git: the revision is a commit of this checkout (HEAD, or an ancestor when
    // something was committed after the build), not "unknown".
    let in_git = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .is_ok_and(|o| o.status.success());
    if in_git {
        assert!(
            revision.len() == 7 && revision.bytes().all(|b| b.is_ascii_hexdigit()),
            "revision {revision}"
        );
        let ancestor = Command::new("git")
            .args(["merge-base", "--is-ancestor", revision, "HEAD"])
            .status()
            .expect("git");
        assert!(
            ancestor.success(),
            "revision {revision} is not in this checkout"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_info_shard_gauges_and_no_process_metrics_when_disabled() {
    let world = World::seeds();
    let sim = start_sim(world.clone()).await;
    let (_dir, cfg) = config_dir(&sim, &world);

    let exporter = Exporter::start(&["--config.file", &cfg, "--shard", "1/3"]);
    exporter.wait_ready(READY).await;
    let body = scrape(&exporter).await;
    assert_eq!(
        value_of(&body, "huaweicloud_quota_shard_ordinal").as_deref(),
        Some("1")
    );
    assert_eq!(
        value_of(&body, "huaweicloud_quota_total_shards").as_deref(),
        Some("3")
    );
    assert!(
        body.contains("process_resident_memory_bytes"),
        "process metrics by default"
    );

    // build_info carries what --version prints, and so does the start-up log line.
    let labels = build_info_labels(&body);
    let keys: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["version", "revision", "branch", "rustversion"]);
    let (_, version_text, _) = run(&["--version"]);
    let first = version_text.lines().next().unwrap_or("");
    let want = format!(
        "huaweicloud-quota-exporter, version {} (branch: {}, revision: {})",
        labels[0].1, labels[2].1, labels[1].1
    );
    assert_eq!(first, want);
    assert!(
        version_text.contains(&format!("  rust version:     {}\n", labels[3].1)),
        "{version_text}"
    );
    let logs = exporter.logs();
    assert!(
        logs.contains(&format!("revision={}", labels[1].1))
            && logs.contains(&format!("branch={}", labels[2].1))
            && logs.contains(&format!(
                "(branch: {}, revision: {}) serving on",
                labels[2].1, labels[1].1
            )),
        "{logs}"
    );
    drop(exporter);

    // Unsharded: 0 of 1. Without exporter metrics: no process_*, the quota families stay.
    let exporter = Exporter::start(&["--config.file", &cfg, "--web.disable-exporter-metrics"]);
    exporter.wait_ready(READY).await;
    let body = scrape(&exporter).await;
    assert_eq!(
        value_of(&body, "huaweicloud_quota_shard_ordinal").as_deref(),
        Some("0")
    );
    assert_eq!(
        value_of(&body, "huaweicloud_quota_total_shards").as_deref(),
        Some("1")
    );
    assert!(
        !body.contains("process_"),
        "process metrics left in:\n{body}"
    );
    assert!(body.contains("huaweicloud_quota_build_info{"));
    assert!(body.contains("huaweicloud_quota_limit{"));
}

/// An HTTP/2 connection over TLS (ALPN `h2`) to `addr`, trusting `ca_pem`, whose streams
/// have the smallest flow-control window HTTP/2 knows (65,535 bytes, never widened while
/// a body goes unread): a response body larger than that cannot be sent in full until the
/// client reads it, whatever the kernel's socket buffers hold.
async fn h2_connection(
    addr: std::net::SocketAddr,
    ca_pem: &str,
) -> hyper::client::conn::http2::SendRequest<String> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("pem"))
        .expect("root");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .adaptive_window(false)
            .handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    send
}

/// `GET /metrics` on `send`: the response, its body not read.
async fn h2_scrape(
    send: &mut hyper::client::conn::http2::SendRequest<String>,
) -> hyper::Response<hyper::body::Incoming> {
    h2_get(send, "/metrics").await
}

/// `GET path` on `send`: the response, its body not read.
async fn h2_get(
    send: &mut hyper::client::conn::http2::SendRequest<String>,
    path: &str,
) -> hyper::Response<hyper::body::Incoming> {
    send.ready().await.expect("connection ready");
    let req = hyper::Request::get(format!("https://localhost{path}"))
        .body(String::new())
        .expect("request");
    send.send_request(req).await.expect("response")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_beyond_max_requests_get_503_with_a_clear_body() {
    // An exposition many times the 64 KiB an unread HTTP/2 stream may be sent.
    let world = World::with_roma_instances(300);
    let sim = start_sim(world.clone()).await;
    let yaml = world.exporter_config_yaml(&sim.base_url(), "1h").replacen(
        "defaults:\n",
        "defaults:\n  concurrency: 32\n  rate_limit: 5000\n",
        1,
    );
    let (_cfg_dir, path) = common::write_temp("config.yaml", &yaml);
    let cfg = path.to_string_lossy().into_owned();
    let cert = self_signed("max-requests test");
    let (_tls_dir, web) = tls_dir(&cert, "");
    let exporter = Exporter::start(&[
        "--config.file",
        &cfg,
        "--web.config.file",
        web.to_str().unwrap(),
        "--web.max-requests",
        "2",
    ]);
    let addr: std::net::SocketAddr = exporter
        .base
        .trim_start_matches("https://")
        .parse()
        .expect("address");
    // Ready: a full scrape shows the instances' series.
    let start = Instant::now();
    let mut reader = h2_connection(addr, &cert.0).await;
    loop {
        let r = h2_scrape(&mut reader).await;
        let body = http_body_util::BodyExt::collect(r.into_body())
            .await
            .expect("body")
            .to_bytes();
        if body.len() > 250_000 {
            break;
        }
        assert!(
            start.elapsed() < READY,
            "not ready: a {} byte exposition\n{}",
            body.len(),
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Two scrapes whose bodies go unread hold both slots.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut send = h2_connection(addr, &cert.0).await;
        let r = h2_scrape(&mut send).await;
        assert_eq!(r.status(), 200);
        held.push((send, r));
    }
    let r = h2_scrape(&mut reader).await;
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let text = http_body_util::BodyExt::collect(r.into_body())
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(
        text,
        "503 too many scrapes at once: 2 are being served (--web.max-requests); try again later\n"
    );
    // Other routes are not scrapes.
    let r = h2_get(&mut reader, "/-/healthy").await;
    assert_eq!(r.status(), 200);

    // The held scrapes go away: their slots are free again.
    drop(held);
    let start = Instant::now();
    loop {
        let r = h2_scrape(&mut reader).await;
        let status = r.status();
        drop(http_body_util::BodyExt::collect(r.into_body()).await);
        if status == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "slots not freed: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_activation_serves_on_the_sockets_systemd_passes() {
    let world = World::seeds();
    let sim = start_sim(world.clone()).await;
    let (_dir, cfg) = config_dir(&sim, &world);

    // Without sockets from systemd the start fails and says why.
    let (code, _, stderr) = run(&["--config.file", &cfg, "--web.systemd-socket"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--web.systemd-socket: no sockets from systemd"),
        "{stderr}"
    );

    let port = free_port();
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.args(["-l", &format!("127.0.0.1:{port}")])
        .arg(common::BIN)
        .args(["--config.file", &cfg, "--web.systemd-socket"]);
    // Started on the first connection; the exporter then announces the socket it got.
    let connect = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let exporter = Exporter::spawn(cmd);
    let _ = connect.join();
    assert_eq!(exporter.base, format!("http://127.0.0.1:{port}"));
    exporter.wait_ready(READY).await;
    let body = scrape(&exporter).await;
    assert!(body.contains("huaweicloud_quota_limit{"), "{body}");
    assert!(
        exporter
            .logs()
            .contains("listening on a socket from systemd"),
        "{}",
        exporter.logs()
    );
}

/// A self-signed certificate for 127.0.0.1 / localhost: (cert PEM, key PEM).
fn self_signed(name: &str) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("cert");
    (cert.pem(), key.serialize_pem())
}

/// Writes `text` to `name` in `dir` by writing a temporary file and renaming it over, as
/// certificate renewers (certbot, cert-manager's volume updates) do.
fn replace_by_rename(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

fn tls_dir(cert: &(String, String), extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("server.crt"), &cert.0).expect("write");
    std::fs::write(dir.path().join("server.key"), &cert.1).expect("write");
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{extra}"),
    )
    .expect("write");
    (dir, web)
}

/// `curl` over TLS trusting `ca`: (HTTP version curl used, status), or `None` when
/// curl could not complete the request.
fn curl(url: &str, ca: &Path, extra: &[&str]) -> Option<(String, String)> {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "--max-time", "10"])
        .args(["-w", "%{http_version} %{http_code}"])
        .arg("--cacert")
        .arg(ca)
        .args(extra)
        .arg(url)
        .output()
        .expect("curl not found: run scripts/test.sh, which installs it");
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (v, code) = text.split_once(' ')?;
    Some((v.to_string(), code.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_sees_http2_over_tls_and_http1_with_http2_false() {
    let world = World::seeds();
    let sim = start_sim(world.clone()).await;
    let (_cfg_dir, cfg) = config_dir(&sim, &world);
    let cert = self_signed("h2 test");
    let (dir, web) = tls_dir(&cert, "");
    let ca = dir.path().join("server.crt");
    let exporter = Exporter::start(&[
        "--config.file",
        &cfg,
        "--web.config.file",
        web.to_str().unwrap(),
    ]);
    let base = exporter.base.clone();
    assert!(base.starts_with("https://"), "{base}");
    let url = format!("{base}/metrics");
    assert_eq!(
        curl(&url, &ca, &["--http2"]),
        Some(("2".to_string(), "200".to_string()))
    );
    // HTTP/1.1 when the client asks for it.
    assert_eq!(
        curl(&url, &ca, &["--http1.1"]),
        Some(("1.1".to_string(), "200".to_string()))
    );
    // The limits hold for HTTP/2: a header list over 32 KiB is refused, basic checks run.
    let big = format!("X-Big: {}", "a".repeat(40 * 1024));
    let refused = curl(&url, &ca, &["--http2", "-H", &big]);
    assert_ne!(refused, Some(("2".to_string(), "200".to_string())));
    assert_eq!(
        curl(&format!("{base}/nope"), &ca, &["--http2"]),
        Some(("2".to_string(), "404".to_string()))
    );
    assert_eq!(
        curl(&url, &ca, &["--http2", "-X", "POST"]),
        Some(("2".to_string(), "405".to_string()))
    );
    drop(exporter);

    // http2: false offers HTTP/1.1 only, even to a client that prefers HTTP/2.
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nhttp_server_config:\n  http2: false\n",
    )
    .expect("write");
    let exporter = Exporter::start(&[
        "--config.file",
        &cfg,
        "--web.config.file",
        web.to_str().unwrap(),
    ]);
    assert_eq!(
        curl(&format!("{}/metrics", exporter.base), &ca, &["--http2"]),
        Some(("1.1".to_string(), "200".to_string()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_replaced_by_rename_is_served_within_seconds_without_a_signal() {
    let world = World::seeds();
    let sim = start_sim(world.clone()).await;
    let (_cfg_dir, cfg) = config_dir(&sim, &world);
    let old = self_signed("old certificate");
    let (dir, web) = tls_dir(&old, "");
    let old_ca = dir.path().join("old-ca.crt");
    std::fs::write(&old_ca, &old.0).expect("write");
    let exporter = Exporter::start(&[
        "--config.file",
        &cfg,
        "--web.config.file",
        web.to_str().unwrap(),
    ]);
    let url = format!("{}/-/healthy", exporter.base);
    assert_eq!(
        curl(&url, &old_ca, &[]).map(|(_, code)| code).as_deref(),
        Some("200")
    );

    // Renewal: key first, then certificate, each by rename. Between the two the pair does
    // not match: that state is logged and the old one keeps serving.
    let new = self_signed("new certificate");
    let new_ca = dir.path().join("new-ca.crt");
    std::fs::write(&new_ca, &new.0).expect("write");
    let renewed = Instant::now();
    replace_by_rename(dir.path(), "server.key", &new.1);
    replace_by_rename(dir.path(), "server.crt", &new.0);
    loop {
        if curl(&url, &new_ca, &[]).is_some() {
            break;
        }
        assert!(
            renewed.elapsed() < Duration::from_secs(15),
            "the renewed certificate is not served; logs:\n{}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("renewed certificate served after {:?}", renewed.elapsed());
    assert_eq!(
        curl(&url, &old_ca, &[]),
        None,
        "the old certificate is still served"
    );
    assert!(
        exporter.logs().contains("web config reloaded"),
        "{}",
        exporter.logs()
    );

    // A broken certificate: logged with the reason, the renewed one stays in force.
    replace_by_rename(dir.path(), "server.crt", "not a certificate\n");
    let broken = Instant::now();
    loop {
        let logs = exporter.logs();
        if logs.contains("cannot be used: the previous web config stays in force") {
            assert!(logs.contains("server.crt"), "{logs}");
            break;
        }
        assert!(
            broken.elapsed() < Duration::from_secs(15),
            "the broken certificate was not reported; logs:\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        curl(&url, &new_ca, &[]).map(|(_, code)| code).as_deref(),
        Some("200")
    );
}
