//! What this binary is: version, git revision and branch, build user and date, Rust version
//! (set by `build.rs`, `unknown` where it could not tell), for `--version`,
//! `huaweicloud_quota_build_info` and the start-up log line.

/// The build facts, as prometheus/common's `version` package has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    /// Program name.
    pub program: &'static str,
    /// Crate version (`0.1.0`).
    pub version: &'static str,
    /// Short git commit hash, or `unknown` (source tarball, no git).
    pub revision: &'static str,
    /// Git branch, or `unknown` (detached checkout, no git).
    pub branch: &'static str,
    /// `user@host` that built it.
    pub build_user: &'static str,
    /// When it was built, `20060102-15:04:05` UTC (or `SOURCE_DATE_EPOCH`).
    pub build_date: &'static str,
    /// The rustc version (`1.95.0`).
    pub rust_version: &'static str,
    /// `os/arch`, as Go writes `GOOS/GOARCH` (`linux/amd64`).
    pub platform: &'static str,
}

/// This binary's build facts.
pub const BUILD: BuildInfo = BuildInfo {
    program: env!("CARGO_PKG_NAME"),
    version: env!("CARGO_PKG_VERSION"),
    revision: env!("HWC_QUOTA_BUILD_REVISION"),
    branch: env!("HWC_QUOTA_BUILD_BRANCH"),
    build_user: env!("HWC_QUOTA_BUILD_USER_AT_HOST"),
    build_date: env!("HWC_QUOTA_BUILD_DATE_TEXT"),
    rust_version: env!("HWC_QUOTA_BUILD_RUST_VERSION"),
    platform: env!("HWC_QUOTA_BUILD_PLATFORM"),
};

impl BuildInfo {
    /// The `--version` text, line for line as `prometheus --version` prints it.
    pub fn version_text(&self) -> String {
        format!(
            "{}, version {} (branch: {}, revision: {})\n  build user:       {}\n  build date:       {}\n  rust version:     {}\n  platform:         {}\n",
            self.program,
            self.version,
            self.branch,
            self.revision,
            self.build_user,
            self.build_date,
            self.rust_version,
            self.platform,
        )
    }
}
