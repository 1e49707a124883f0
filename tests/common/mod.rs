//! Shared harness for the end-to-end tests: the real exporter binary against the
//! in-process simulator over loopback HTTP. Readiness is polled with a deadline.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Path of the exporter binary built by cargo for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_huaweicloud-quota-exporter");

/// A running exporter process; killed on drop.
pub struct Exporter {
    child: Child,
    /// `http://127.0.0.1:PORT` (`https://` when the web config turns TLS on).
    pub base: String,
    /// Everything it wrote to standard error so far.
    pub stderr: Arc<Mutex<String>>,
    /// Everything it wrote to standard output so far.
    pub stdout: Arc<Mutex<String>>,
}

impl Exporter {
    /// Starts the exporter with `args` plus a loopback listen address on a free port,
    /// and waits (up to 30 s) until it prints where it serves.
    pub fn start(args: &[&str]) -> Exporter {
        Exporter::start_with_env(args, &[])
    }

    /// [`Exporter::start`] with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Exporter {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .envs(env.iter().copied())
            .args(["--web.listen-address", "127.0.0.1:0"]);
        Exporter::spawn(cmd)
    }

    /// Runs `cmd` (the exporter, or a wrapper that starts it, such as
    /// `systemd-socket-activate`) and waits (up to 30 s) until it prints where it serves.
    pub fn spawn(mut cmd: Command) -> Exporter {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start exporter");
        let stdout = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("stdout");
        let out_sink = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let mut s = out_sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("serving on ").nth(1)
                    && let Some(t) = tx.take()
                {
                    // `http://host:port/` or `https://host:port/`.
                    let (scheme, rest) = rest.split_once("://").unwrap_or(("http", rest));
                    let hostport = rest.split('/').next().unwrap_or("");
                    let _ = t.send(format!("{scheme}://{hostport}"));
                }
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "exporter did not start; stderr:\n{}",
                    stderr.lock().unwrap()
                )
            });
        Exporter {
            child,
            base,
            stderr,
            stdout,
        }
    }

    /// Polls `/-/ready` until 200, failing after `deadline`.
    pub async fn wait_ready(&self, deadline: Duration) {
        self.wait_ready_with(&reqwest::Client::new(), deadline)
            .await;
    }

    /// [`Exporter::wait_ready`] with a given client (TLS, basic auth).
    pub async fn wait_ready_with(&self, client: &reqwest::Client, deadline: Duration) {
        let start = Instant::now();
        loop {
            if let Ok(r) = client.get(format!("{}/-/ready", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                start.elapsed() < deadline,
                "exporter not ready after {deadline:?}; stderr:\n{}",
                self.stderr.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// GET `path`, returning status, headers and body text (no automatic gzip).
    pub async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
        let r = raw_client()
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.text().await.expect("body"))
    }

    /// Sends a signal by name (TERM, HUP) and, for TERM, waits for the exit status.
    pub fn signal(&mut self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits up to `deadline` for the process to exit.
    pub fn wait_exit(&mut self, deadline: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(
                start.elapsed() < deadline,
                "exporter did not exit within {deadline:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident memory of the process in KiB (Linux `/proc`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// The captured standard error.
    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The captured standard output.
    pub fn output(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that leaves compression to the caller (no automatic Accept-Encoding).
pub fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client")
}

/// Starts the simulator with `world` on a free loopback port.
pub async fn start_sim(
    world: huaweicloud_quota_exporter::simulator::World,
) -> huaweicloud_quota_exporter::simulator::Simulator {
    huaweicloud_quota_exporter::simulator::Simulator::start(([127, 0, 0, 1], 0).into(), world)
        .await
        .expect("simulator")
}

/// Scrapes the exporter's `/metrics` as plain text.
pub async fn scrape(exporter: &Exporter) -> String {
    raw_client()
        .get(format!("{}/metrics", exporter.base))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body")
}

/// Scrapes until `cond` holds for the body, failing after `deadline` with `what`.
pub async fn scrape_until(
    exporter: &Exporter,
    deadline: Duration,
    what: &str,
    cond: impl Fn(&str) -> bool,
) -> String {
    let start = Instant::now();
    loop {
        let body = scrape(exporter).await;
        if cond(&body) {
            return body;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out waiting for {what}; last scrape:\n{body}\nlogs:\n{}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `cond` until true, failing after `deadline` with `what`.
pub async fn eventually<F: FnMut() -> bool>(deadline: Duration, what: &str, mut cond: F) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Writes `text` to `name` in a fresh temporary directory; returns (dir guard, path).
pub fn write_temp(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    (dir, path)
}

/// Runs the binary to completion with `args`; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run exporter");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `promtool check metrics` on `text`; returns its combined output (empty when clean).
/// promtool is a hard requirement: the README's test command installs it.
pub fn promtool_check_metrics(text: &str) -> String {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: run the README's test command (scripts/test.sh), which installs Debian's prometheus package");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() && s.is_empty() {
        s = format!("promtool exited with {}", out.status);
    }
    s
}

/// The exposition with run-to-run noise removed: `process_*` families dropped, poll
/// durations and timestamps replaced by placeholders, and the build facts that depend on
/// the checkout and the toolchain (`revision`, `branch`, `rustversion` of
/// `huaweicloud_quota_build_info`) shown as `<revision>`, `<branch>`, `<rustversion>`.
pub fn normalize(exposition: &str) -> String {
    let mut out = String::new();
    for line in exposition.lines() {
        let name = line
            .trim_start_matches("# HELP ")
            .trim_start_matches("# TYPE ");
        if name.starts_with("process_") {
            continue;
        }
        if line.starts_with("huaweicloud_quota_build_info{") {
            let mut l = line.to_string();
            for key in ["revision", "branch", "rustversion"] {
                let start = format!("{key}=\"");
                if let Some(i) = l.find(&start) {
                    let from = i + start.len();
                    if let Some(len) = l[from..].find('"') {
                        l.replace_range(from..from + len, &format!("<{key}>"));
                    }
                }
            }
            out.push_str(&l);
            out.push('\n');
            continue;
        }
        if (line.starts_with("huaweicloud_quota_poll_duration_seconds{")
            || line.starts_with("huaweicloud_quota_last_success_timestamp_seconds{"))
            && let Some((series, _)) = line.rsplit_once(' ')
        {
            out.push_str(series);
            out.push_str(" <volatile>\n");
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Checks the text exposition format strictly enough to catch a half-written or corrupt
/// scrape: every line is a comment or `name{labels} value`, labels are well quoted,
/// values parse, each family's samples are together and no series appears twice.
pub fn validate_exposition(text: &str) -> Result<usize, String> {
    let mut seen_series = std::collections::HashSet::new();
    let mut finished_families = std::collections::HashSet::new();
    let mut current = String::new();
    let mut samples = 0;
    if !text.ends_with('\n') {
        return Err("does not end with a newline".into());
    }
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap_or("");
            let name = parts.next().unwrap_or("");
            if (kind == "TYPE" || kind == "HELP") && name != current {
                if !current.is_empty() {
                    finished_families.insert(current.clone());
                }
                if finished_families.contains(name) {
                    return Err(format!("line {n}: family {name} appears twice"));
                }
                current = name.to_string();
            }
            continue;
        }
        if line.is_empty() {
            return Err(format!("line {n}: empty line"));
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or(format!("line {n}: no value: {line}"))?;
        if value != "NaN" && value != "+Inf" && value != "-Inf" && value.parse::<f64>().is_err() {
            return Err(format!("line {n}: bad value {value:?}"));
        }
        let name = series.split('{').next().unwrap_or("");
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(format!("line {n}: bad metric name in {line}"));
        }
        let family_ok = name == current
            || name.strip_suffix("_total").is_some_and(|b| b == current)
            || current.is_empty();
        if !family_ok && !name.starts_with(&current) {
            return Err(format!(
                "line {n}: sample {name} outside its family (current {current})"
            ));
        }
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            if !(labels.starts_with('{') && labels.ends_with('}')) {
                return Err(format!("line {n}: bad label block {labels}"));
            }
            let quotes = labels.matches('"').count() - labels.matches("\\\"").count();
            if quotes % 2 != 0 {
                return Err(format!("line {n}: unbalanced quotes"));
            }
        }
        if !seen_series.insert(series.to_string()) {
            return Err(format!("line {n}: duplicate series {series}"));
        }
        samples += 1;
    }
    Ok(samples)
}

/// Compares `actual` with the golden file; with `UPDATE_GOLDEN=1` rewrites it instead.
pub fn assert_golden(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).expect("write golden");
        return;
    }
    let want =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    if want != actual {
        let mut diff = String::new();
        for (i, (a, b)) in want.lines().zip(actual.lines()).enumerate() {
            if a != b {
                diff.push_str(&format!("line {}:\n  golden: {a}\n  actual: {b}\n", i + 1));
            }
        }
        panic!(
            "exposition differs from {} ({} vs {} lines):\n{diff}\nfull output:\n{actual}",
            path.display(),
            want.lines().count(),
            actual.lines().count()
        );
    }
}
