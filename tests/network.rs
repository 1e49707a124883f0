//! Upstream connections in real networks, end to end: the real binary polls the simulator
//! over HTTPS with a private CA (refused with `error_code="tls"` by default; trusted
//! through `http.tls.ca_file`, through `SSL_CERT_FILE`, or skipped with a warning), and
//! through a real HTTP CONNECT proxy (Debian's `tinyproxy`, on loopback with its own
//! config) from `HTTPS_PROXY` and from `http.proxy_url`, with `NO_PROXY` respected and
//! the proxy's password never printed.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Exporter, run, scrape_until};
use huaweicloud_quota_exporter::simulator::{Simulator, TlsIdentity, World};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// How long a poll may take to show up in a scrape.
const DEADLINE: Duration = Duration::from_secs(20);

/// The proxy password the tests look for in every output.
const PROXY_PASSWORD: &str = "proxy-pass-SECRET-4711";

/// A scrape with at least one quota series: a poll went through.
fn polled(body: &str) -> bool {
    body.contains("huaweicloud_quota_limit{")
}

/// The simulator over HTTPS with a fresh private CA, and that CA's PEM in a temp dir.
struct HttpsCloud {
    sim: Simulator,
    dir: tempfile::TempDir,
}

impl HttpsCloud {
    async fn start() -> HttpsCloud {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "private cloud test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("key");
        let server = params.signed_by(&key, &ca).expect("server cert");
        let identity = TlsIdentity {
            cert_chain: vec![
                CertificateDer::from_pem_slice(server.pem().as_bytes()).expect("cert"),
            ],
            key: PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).expect("key"),
        };
        let sim = Simulator::start_tls(([127, 0, 0, 1], 0).into(), World::demo(), identity)
            .await
            .expect("simulator");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write CA");
        HttpsCloud { sim, dir }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Writes the exporter config (with `http` under `defaults`, when given).
    fn config(&self, http: &str) -> PathBuf {
        let yaml = World::demo().exporter_config_yaml(&self.sim.base_url(), "30s");
        let yaml = if http.is_empty() {
            yaml
        } else {
            yaml.replacen("defaults:\n", &format!("defaults:\n  http:\n{http}"), 1)
        };
        let path = self.dir.path().join("config.yaml");
        std::fs::write(&path, yaml).expect("write config");
        path
    }
}

/// A free loopback port (bound, then released for the proxy to take).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A tinyproxy on loopback allowing CONNECT to one port only, with basic auth; killed on
/// drop.
struct Proxy {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Proxy {
    fn start(connect_port: u16) -> Proxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("tinyproxy.log");
        let port = free_port();
        let conf = dir.path().join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Connect\nMaxClients 50\nAllow 127.0.0.1\nConnectPort {connect_port}\nBasicAuth user {PROXY_PASSWORD}\n",
                log.display()
            ),
        )
        .expect("write tinyproxy config");
        let child = Command::new("tinyproxy")
            .args(["-d", "-c"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy (scripts/test.sh installs it: apt-get install tinyproxy)");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "tinyproxy did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Proxy {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// `http://user:PASSWORD@127.0.0.1:PORT`.
    fn url(&self) -> String {
        format!("http://user:{PROXY_PASSWORD}@127.0.0.1:{}", self.port)
    }

    /// How many CONNECT tunnels to `port` the proxy was asked for.
    fn tunnels_to(&self, port: u16) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.matches(&format!("CONNECT 127.0.0.1:{port} ")).count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config_arg(path: &Path) -> String {
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_ca_is_refused_with_tls_and_the_reason() {
    let cloud = HttpsCloud::start().await;
    let config = cloud.config("");
    let exporter = Exporter::start(&["--config.file", &config_arg(&config)]);
    scrape_until(&exporter, DEADLINE, "error_code=\"tls\"", |b| {
        b.contains("error_code=\"tls\"")
    })
    .await;
    let (_, _, landing) = exporter.get("/").await;
    assert!(
        landing.contains("UnknownIssuer"),
        "the landing page says why: {landing}"
    );
    assert!(
        exporter.logs().contains("UnknownIssuer"),
        "{}",
        exporter.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_ca_is_trusted_with_ca_file() {
    let cloud = HttpsCloud::start().await;
    let config = cloud.config(&format!(
        "    tls:\n      ca_file: {}\n",
        cloud.ca_file().display()
    ));
    let exporter = Exporter::start(&["--config.file", &config_arg(&config)]);
    let body = scrape_until(&exporter, DEADLINE, "a poll over HTTPS", polled).await;
    assert!(!body.contains("error_code=\"tls\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_ca_is_trusted_with_ssl_cert_file() {
    let cloud = HttpsCloud::start().await;
    let config = cloud.config("");
    let ca = cloud.ca_file().display().to_string();
    let exporter = Exporter::start_with_env(
        &["--config.file", &config_arg(&config)],
        &[("SSL_CERT_FILE", &ca)],
    );
    scrape_until(&exporter, DEADLINE, "a poll trusting SSL_CERT_FILE", polled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_skip_verify_polls_and_warns() {
    let cloud = HttpsCloud::start().await;
    let config = cloud.config("    tls:\n      insecure_skip_verify: true\n");
    let mut exporter = Exporter::start(&["--config.file", &config_arg(&config)]);
    scrape_until(&exporter, DEADLINE, "a poll without verification", polled).await;
    let warnings = |e: &Exporter| e.logs().matches("insecure_skip_verify is set").count();
    assert_eq!(warnings(&exporter), 1, "{}", exporter.logs());
    // And again at every reload.
    exporter.signal("HUP");
    common::eventually(DEADLINE, "the warning at the reload", || {
        warnings(&exporter) == 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_goes_through_the_proxy_from_https_proxy() {
    let cloud = HttpsCloud::start().await;
    let port = cloud.sim.local_addr().port();
    let proxy = Proxy::start(port);
    let config = cloud.config(&format!(
        "    tls:\n      ca_file: {}\n",
        cloud.ca_file().display()
    ));
    let url = proxy.url();
    let exporter = Exporter::start_with_env(
        &["--config.file", &config_arg(&config)],
        &[("HTTPS_PROXY", &url), ("NO_PROXY", ""), ("no_proxy", "")],
    );
    scrape_until(&exporter, DEADLINE, "a poll through the proxy", polled).await;
    assert!(proxy.tunnels_to(port) >= 1, "the proxy carried no tunnel");
    assert!(!exporter.logs().contains(PROXY_PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_goes_through_the_proxy_from_proxy_url() {
    let cloud = HttpsCloud::start().await;
    let port = cloud.sim.local_addr().port();
    let proxy = Proxy::start(port);
    let config = cloud.config(&format!(
        "    proxy_url: {}\n    tls:\n      ca_file: {}\n",
        proxy.url(),
        cloud.ca_file().display()
    ));
    let (code, stdout, stderr) = run(&["--config.file", &config_arg(&config), "--config.check"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("proxy=http://user:<redacted>@127.0.0.1"),
        "{stdout}"
    );
    assert!(!stdout.contains(PROXY_PASSWORD) && !stderr.contains(PROXY_PASSWORD));
    let exporter = Exporter::start(&["--config.file", &config_arg(&config)]);
    scrape_until(&exporter, DEADLINE, "a poll through proxy_url", polled).await;
    assert!(proxy.tunnels_to(port) >= 1, "the proxy carried no tunnel");
    let (_, _, landing) = exporter.get("/").await;
    assert!(!landing.contains(PROXY_PASSWORD));
    assert!(!exporter.logs().contains(PROXY_PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_proxy_hosts_are_reached_directly() {
    let cloud = HttpsCloud::start().await;
    let port = cloud.sim.local_addr().port();
    let proxy = Proxy::start(port);
    let config = cloud.config(&format!(
        "    tls:\n      ca_file: {}\n",
        cloud.ca_file().display()
    ));
    let url = proxy.url();
    let exporter = Exporter::start_with_env(
        &["--config.file", &config_arg(&config)],
        &[("HTTPS_PROXY", &url), ("NO_PROXY", "127.0.0.1")],
    );
    scrape_until(&exporter, DEADLINE, "a direct poll", polled).await;
    assert_eq!(proxy.tunnels_to(port), 0, "NO_PROXY was ignored");
}
