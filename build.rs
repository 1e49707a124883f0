//! Build facts for `--version` and `huaweicloud_quota_build_info`, as prometheus/common's
//! `version` package has them: git revision and branch, build user and date, Rust version.
//!
//! Everything falls back to `unknown` rather than failing the build: a source tarball has no
//! `.git`, a CI image may have no `git`, and a detached checkout has no branch.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let revision = env_or("HWC_QUOTA_REVISION", || {
        git(&["rev-parse", "--short=7", "HEAD"])
    });
    let branch = env_or("HWC_QUOTA_BRANCH", || {
        git(&["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD")
    });
    let user = env_or("HWC_QUOTA_BUILD_USER", || {
        let user = ["USER", "LOGNAME"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|u| !u.is_empty()))
            .or_else(|| {
                let out = Command::new("id").arg("-un").output().ok()?;
                let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
                (out.status.success() && !s.is_empty()).then_some(s)
            })?;
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty());
        Some(match host {
            Some(h) => format!("{user}@{h}"),
            None => user,
        })
    });
    // SOURCE_DATE_EPOCH (reproducible builds) wins over the clock.
    let date = env_or("HWC_QUOTA_BUILD_DATE", || {
        let secs = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(s) => s.trim().parse::<u64>().ok()?,
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs(),
        };
        Some(build_date(secs))
    });
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rust_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        // `rustc 1.95.0 (hash date)`: the version number, as Go's `go1.22.1`.
        .and_then(|s| s.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());

    // Go's names (`linux/amd64`), so that dashboards keyed on them still match.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_else(|_| "unknown".into());
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "amd64".to_string(),
        Ok("aarch64") => "arm64".to_string(),
        Ok("x86") => "386".to_string(),
        Ok(other) => other.to_string(),
        Err(_) => "unknown".to_string(),
    };
    let platform = format!("{os}/{arch}");

    for (key, value) in [
        ("HWC_QUOTA_BUILD_REVISION", revision),
        ("HWC_QUOTA_BUILD_BRANCH", branch),
        ("HWC_QUOTA_BUILD_USER_AT_HOST", user),
        ("HWC_QUOTA_BUILD_DATE_TEXT", date),
        ("HWC_QUOTA_BUILD_RUST_VERSION", rust_version),
        ("HWC_QUOTA_BUILD_PLATFORM", platform),
    ] {
        println!("cargo:rustc-env={key}={value}");
    }
    for key in [
        "HWC_QUOTA_REVISION",
        "HWC_QUOTA_BRANCH",
        "HWC_QUOTA_BUILD_USER",
        "HWC_QUOTA_BUILD_DATE",
        "SOURCE_DATE_EPOCH",
    ] {
        println!("cargo:rerun-if-env-changed={key}");
    }
    // A new commit or a branch switch changes the revision: rebuild only then (not on every
    // file change, which `rerun-if-changed` on nothing at all would mean).
    println!("cargo:rerun-if-changed=build.rs");
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]).map(absolute) {
        let head = git_dir.join("HEAD");
        println!("cargo:rerun-if-changed={}", head.display());
        if let Some(reference) = std::fs::read_to_string(&head)
            .ok()
            .and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_string()))
        {
            // In a worktree the refs live in the common directory.
            let common = git(&["rev-parse", "--git-common-dir"])
                .map(absolute)
                .unwrap_or_else(|| git_dir.clone());
            for dir in [&git_dir, &common] {
                let r = dir.join(&reference);
                if r.exists() {
                    println!("cargo:rerun-if-changed={}", r.display());
                }
            }
            let packed = common.join("packed-refs");
            if packed.exists() {
                println!("cargo:rerun-if-changed={}", packed.display());
            }
        }
    }
}

/// `key` from the environment when set (a packager's override), else `compute`, else
/// `unknown`.
fn env_or(key: &str, compute: impl FnOnce() -> Option<String>) -> String {
    std::env::var(key)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .or_else(compute)
        .unwrap_or_else(|| "unknown".into())
}

/// Runs git in the crate's directory; `None` without git, outside a repository, or on
/// output that is not one plain line.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let out = Command::new("git")
        .args(args)
        .current_dir(Path::new(&dir))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    let plain = !s.is_empty() && !s.contains(char::is_whitespace);
    plain.then_some(s)
}

/// A path git printed, relative to the crate's directory when not absolute.
fn absolute(p: String) -> PathBuf {
    let p = PathBuf::from(p);
    match std::env::var("CARGO_MANIFEST_DIR") {
        Ok(dir) if p.is_relative() => Path::new(&dir).join(p),
        _ => p,
    }
}

/// Unix seconds as prometheus/common writes the build date: `20060102-15:04:05` (UTC).
fn build_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
