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
use huaweicloud_quota_exporter::simulator::{
    DEMO_TOKEN, Endpoint, SIM_OIDC_AGENCY_URN, SIM_OIDC_ID_TOKEN, SIM_OIDC_PROVIDER_URN,
    SIM_POD_IDENTITY_PATH, SIM_POD_IDENTITY_TOKEN, Simulator, TlsIdentity, World,
};
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

/// A private CA made by the test.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        Ca { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.pem().as_bytes()).expect("CA cert")
    }

    /// A leaf certificate for `names` with `usage`: (certificate PEM, key PEM).
    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        (cert.pem(), key.serialize_pem())
    }
}

/// The simulator over HTTPS with a fresh private CA, and that CA's PEM in a temp dir.
struct HttpsCloud {
    sim: Simulator,
    world: World,
    dir: tempfile::TempDir,
}

impl HttpsCloud {
    /// The demo world with a certificate for `127.0.0.1`.
    async fn start() -> HttpsCloud {
        HttpsCloud::start_with(World::demo(), &["127.0.0.1"], None).await
    }

    /// `world` with a certificate for `names`; with `client_ca`, the simulator requires a
    /// client certificate issued by it.
    async fn start_with(world: World, names: &[&str], client_ca: Option<&Ca>) -> HttpsCloud {
        let ca = Ca::new("private cloud test CA");
        let (cert, key) = ca.issue(names, ExtendedKeyUsagePurpose::ServerAuth);
        let identity = TlsIdentity {
            cert_chain: vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert")],
            key: PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key"),
        };
        let bind = ([127, 0, 0, 1], 0).into();
        let sim = match client_ca {
            None => Simulator::start_tls(bind, world.clone(), identity).await,
            Some(c) => {
                Simulator::start_tls_client_auth(bind, world.clone(), identity, vec![c.der()]).await
            }
        }
        .expect("simulator");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write CA");
        HttpsCloud { sim, world, dir }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn port(&self) -> u16 {
        self.sim.local_addr().port()
    }

    /// Writes the exporter config (with `http` under `defaults`, when given).
    fn config(&self, http: &str) -> PathBuf {
        self.config_with(http, "")
    }

    /// [`HttpsCloud::config`] with the `sim` credential's body replaced by `credential`
    /// (when not empty).
    fn config_with(&self, http: &str, credential: &str) -> PathBuf {
        let mut yaml = self.world.exporter_config_yaml(&self.sim.base_url(), "30s");
        if !http.is_empty() {
            yaml = yaml.replacen("defaults:\n", &format!("defaults:\n  http:\n{http}"), 1);
        }
        if !credential.is_empty() {
            let token_line = format!("    token: {DEMO_TOKEN}\n");
            assert!(yaml.contains(&token_line), "{yaml}");
            yaml = yaml.replace(&token_line, credential);
        }
        self.write("config.yaml", &yaml)
    }

    /// Writes `text` to `name` in the cloud's temp dir.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
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

    /// How many CONNECT tunnels to `127.0.0.1:port` the proxy was asked for.
    fn tunnels_to(&self, port: u16) -> usize {
        self.tunnels_to_host("127.0.0.1", port)
    }

    /// How many CONNECT tunnels to `host:port` the proxy was asked for.
    fn tunnels_to_host(&self, host: &str, port: u16) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.matches(&format!("CONNECT {host}:{port} ")).count()
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

/// Every target's last poll succeeded.
fn all_polls_ok(body: &str) -> bool {
    let polls: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("huaweicloud_quota_poll_success{"))
        .collect();
    !polls.is_empty() && polls.iter().all(|l| l.ends_with(" 1"))
}

/// Some poll failed with `error_code="tls"`.
fn tls_failed(body: &str) -> bool {
    body.contains("error_code=\"tls\"")
}

/// The proxy's environment cleared, so that only the config decides.
const NO_PROXY_ENV: [(&str, &str); 6] = [
    ("HTTPS_PROXY", ""),
    ("https_proxy", ""),
    ("HTTP_PROXY", ""),
    ("http_proxy", ""),
    ("NO_PROXY", ""),
    ("no_proxy", ""),
];

/// IAM and the temporary-credential sources at `https://localhost:PORT`: the same
/// simulator as the APIs at `https://127.0.0.1:PORT`, so that the proxy's log tells them
/// apart. The first go through the proxy (from `proxy_url`, and from `HTTPS_PROXY`), over
/// the private CA; the APIs are reached directly, by `http.no_proxy` from the config file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_and_credential_endpoints_go_through_the_proxy_over_the_private_ca() {
    let cloud = HttpsCloud::start_with(World::demo(), &["127.0.0.1", "localhost"], None).await;
    let port = cloud.port();
    let proxy = Proxy::start(port);
    let ca = cloud.ca_file().display().to_string();
    let pod_token = cloud.write("pod-token", &format!("{SIM_POD_IDENTITY_TOKEN}\n"));
    let id_token = cloud.write("id-token", SIM_OIDC_ID_TOKEN);
    let via = format!("https://localhost:{port}");
    let iam = cloud.world.iam.clone();
    let cases = [
        (
            "iam_password",
            format!(
                "    iam_endpoint: {via}/v3\n    domain: {}\n    username: {}\n    password: {}\n",
                iam.domain, iam.username, iam.password
            ),
            Endpoint::IamTokens,
            false,
        ),
        (
            "ecs_metadata",
            format!("    ecs_metadata:\n      endpoint: {via}\n"),
            Endpoint::MetadataSecurityKey,
            true,
        ),
        (
            "pod_identity",
            format!(
                "    pod_identity:\n      uri: {via}{SIM_POD_IDENTITY_PATH}\n      token_file: {}\n",
                pod_token.display()
            ),
            Endpoint::PodIdentity,
            false,
        ),
        (
            "oidc",
            format!(
                "    oidc:\n      provider_urn: {SIM_OIDC_PROVIDER_URN}\n      agency_urn: {SIM_OIDC_AGENCY_URN}\n      id_token_file: {}\n      sts_endpoint: {via}\n",
                id_token.display()
            ),
            Endpoint::StsOidc,
            false,
        ),
    ];
    let url = proxy.url();
    for (kind, credential, endpoint, from_env) in cases {
        let mut env = NO_PROXY_ENV.to_vec();
        let http = if from_env {
            env.push(("HTTPS_PROXY", &url));
            format!("    no_proxy: [127.0.0.1]\n    tls:\n      ca_file: {ca}\n")
        } else {
            format!(
                "    proxy_url: {url}\n    no_proxy: [127.0.0.1]\n    tls:\n      ca_file: {ca}\n"
            )
        };
        let config = cloud.config_with(&http, &credential);
        let tunnels = proxy.tunnels_to_host("localhost", port);
        let calls = cloud.sim.request_count(endpoint);
        let exporter = Exporter::start_with_env(&["--config.file", &config_arg(&config)], &env);
        scrape_until(&exporter, DEADLINE, kind, all_polls_ok).await;
        assert!(
            cloud.sim.request_count(endpoint) > calls,
            "{kind}: no request to {endpoint}"
        );
        assert!(
            proxy.tunnels_to_host("localhost", port) > tunnels,
            "{kind}: {endpoint} was not reached through the proxy"
        );
        assert_eq!(
            proxy.tunnels_to(port),
            0,
            "{kind}: an API call went through the proxy despite http.no_proxy"
        );
        assert!(!exporter.logs().contains(PROXY_PASSWORD), "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_is_presented_when_the_server_requires_one() {
    let client_ca = Ca::new("client test CA");
    let cloud = HttpsCloud::start_with(World::demo(), &["127.0.0.1"], Some(&client_ca)).await;
    let ca = cloud.ca_file().display().to_string();
    let with_cert = |name: &str, issuer: &Ca| {
        let (cert, key) = issuer.issue(&["quota-exporter"], ExtendedKeyUsagePurpose::ClientAuth);
        let cert_file = cloud.write(&format!("{name}.crt"), &cert);
        let key_file = cloud.write(&format!("{name}.key"), &key);
        let http = format!(
            "    tls:\n      ca_file: {ca}\n      cert_file: {}\n      key_file: {}\n",
            cert_file.display(),
            key_file.display()
        );
        (cloud.config(&http), key)
    };
    // None: the handshake fails, as `tls`, with the reason.
    let config = cloud.config(&format!("    tls:\n      ca_file: {ca}\n"));
    let exporter = Exporter::start(&["--config.file", &config_arg(&config)]);
    scrape_until(
        &exporter,
        DEADLINE,
        "tls without a client certificate",
        tls_failed,
    )
    .await;
    let (_, _, landing) = exporter.get("/").await;
    assert!(landing.contains("CertificateRequired"), "{landing}");
    assert!(
        landing.contains("http.tls.cert_file"),
        "the fix is named: {landing}"
    );
    drop(exporter);
    // One from a CA the server does not trust: refused too (it verifies, not only asks).
    let stranger = Ca::new("another CA");
    let (config, _) = with_cert("stranger", &stranger);
    let exporter = Exporter::start(&["--config.file", &config_arg(&config)]);
    scrape_until(
        &exporter,
        DEADLINE,
        "tls with a stranger's certificate",
        tls_failed,
    )
    .await;
    drop(exporter);
    // The right one: polled; its key never printed.
    let (config, key) = with_cert("client", &client_ca);
    let (code, out, err) = run(&["--config.file", &config_arg(&config), "--config.check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("cert_file="), "{out}");
    let key_body = key.lines().nth(1).expect("a key line");
    assert!(!out.contains(key_body) && !err.contains(key_body));
    let exporter = Exporter::start(&["--config.file", &config_arg(&config)]);
    scrape_until(
        &exporter,
        DEADLINE,
        "a poll with the client certificate",
        all_polls_ok,
    )
    .await;
    assert!(!exporter.logs().contains(key_body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_name_verifies_a_certificate_issued_for_another_name() {
    // The endpoint is 127.0.0.1; the certificate names only quota.internal.
    let cloud = HttpsCloud::start_with(World::demo(), &["quota.internal"], None).await;
    let ca = cloud.ca_file().display().to_string();
    let config = cloud.config(&format!("    tls:\n      ca_file: {ca}\n"));
    let exporter = Exporter::start(&["--config.file", &config_arg(&config)]);
    scrape_until(
        &exporter,
        DEADLINE,
        "tls: not valid for the name",
        tls_failed,
    )
    .await;
    let (_, _, landing) = exporter.get("/").await;
    assert!(landing.contains("not valid for name"), "{landing}");
    assert!(
        landing.contains("http.tls.server_name"),
        "the fix is named: {landing}"
    );
    drop(exporter);
    let config = cloud.config(&format!(
        "    tls:\n      ca_file: {ca}\n      server_name: quota.internal\n"
    ));
    let exporter = Exporter::start(&["--config.file", &config_arg(&config)]);
    scrape_until(
        &exporter,
        DEADLINE,
        "a poll verified as quota.internal",
        all_polls_ok,
    )
    .await;
}

/// One project reaches the cloud through the proxy and trusts the private CA (its own
/// `http`); the others use `defaults.http`, which has neither, and fail with `tls`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_http_override_applies_to_that_project_only() {
    let cloud = HttpsCloud::start().await;
    let port = cloud.port();
    let proxy = Proxy::start(port);
    let first = cloud.world.projects[0].id.clone();
    assert!(cloud.world.projects.len() >= 2);
    let yaml = cloud
        .world
        .exporter_config_yaml(&cloud.sim.base_url(), "30s");
    let id_line = format!("  - id: {first}\n");
    assert!(yaml.contains(&id_line), "{yaml}");
    let yaml = yaml.replacen(
        &id_line,
        &format!(
            "{id_line}    http:\n      proxy_url: {}\n      tls:\n        ca_file: {}\n",
            proxy.url(),
            cloud.ca_file().display()
        ),
        1,
    );
    let config = cloud.write("config.yaml", &yaml);
    let (code, out, err) = run(&["--config.file", &config_arg(&config), "--config.check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains(PROXY_PASSWORD), "{out}");
    let exporter =
        Exporter::start_with_env(&["--config.file", &config_arg(&config)], &NO_PROXY_ENV);
    let of = |body: &str, ok: bool| {
        let mine = format!("project_id=\"{first}\"");
        body.lines()
            .filter(|l| l.starts_with("huaweicloud_quota_poll_success{"))
            .filter(|l| l.contains(&mine) == ok)
            .map(|l| l.ends_with(" 1"))
            .collect::<Vec<bool>>()
    };
    scrape_until(
        &exporter,
        DEADLINE,
        "the override project ok, the others tls",
        |b| {
            let (mine, others) = (of(b, true), of(b, false));
            !mine.is_empty()
                && mine.iter().all(|ok| *ok)
                && !others.is_empty()
                && others.iter().all(|ok| !ok)
                && tls_failed(b)
        },
    )
    .await;
    assert!(
        proxy.tunnels_to(port) >= 1,
        "the override's proxy was not used"
    );
    let (_, _, landing) = exporter.get("/").await;
    assert!(!landing.contains(PROXY_PASSWORD));
    assert!(!exporter.logs().contains(PROXY_PASSWORD));
}

/// `SSL_CERT_DIR` as OpenSSL lays it out: `<subject hash>.0` symlinks to the PEMs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_ca_is_trusted_with_ssl_cert_dir() {
    let cloud = HttpsCloud::start().await;
    let certs = cloud.dir.path().join("certs");
    std::fs::create_dir(&certs).expect("mkdir");
    let hash = Command::new("openssl")
        .args(["x509", "-noout", "-subject_hash", "-in"])
        .arg(cloud.ca_file())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "0a1b2c3d".to_string());
    std::os::unix::fs::symlink(cloud.ca_file(), certs.join(format!("{hash}.0"))).expect("symlink");
    let config = cloud.config("");
    let dir = certs.display().to_string();
    let exporter = Exporter::start_with_env(
        &["--config.file", &config_arg(&config)],
        &[("SSL_CERT_DIR", &dir), ("SSL_CERT_FILE", "")],
    );
    scrape_until(
        &exporter,
        DEADLINE,
        "a poll trusting SSL_CERT_DIR",
        all_polls_ok,
    )
    .await;
}
