//! The command line: Prometheus-style double-dash dotted flags, and the `app-quota` command.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::model::target::Shard;

/// Prometheus exporter for Huawei Cloud and Open Telekom Cloud quotas.
#[derive(Debug, Parser)]
#[command(
    name = "huaweicloud-quota-exporter",
    about,
    long_about = None,
    disable_version_flag = true
)]
pub struct Cli {
    /// Print the version and build facts (prometheus/common's layout) and exit.
    #[arg(long)]
    pub version: bool,

    /// YAML config file.
    #[arg(
        long = "config.file",
        value_name = "FILE",
        default_value = "huaweicloud-quota-exporter.yaml"
    )]
    pub config_file: PathBuf,

    /// Load and validate the config, print the resolved targets, exit 0 (valid) or 1.
    #[arg(long = "config.check")]
    pub config_check: bool,

    /// Address to listen on; repeat for several (`:9876` means every interface).
    #[arg(
        long = "web.listen-address",
        value_name = "ADDR",
        default_value = ":9876"
    )]
    pub listen_addresses: Vec<String>,

    /// Serve on the sockets systemd passes (socket activation, Linux) instead of
    /// `--web.listen-address`; see deploy/systemd/huaweicloud-quota-exporter.socket.
    #[arg(long = "web.systemd-socket")]
    pub systemd_socket: bool,

    /// Scrapes served in parallel; more get 503 (0: no limit).
    #[arg(long = "web.max-requests", value_name = "N", default_value_t = 40)]
    pub max_requests: usize,

    /// Leave the exporter's own process metrics (`process_*`) out of the scrape.
    #[arg(long = "web.disable-exporter-metrics")]
    pub disable_exporter_metrics: bool,

    /// Path under which the metrics are served.
    #[arg(
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// TLS and basic auth config (Prometheus exporter-toolkit web-config.yml format).
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Allow POST /-/reload.
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,

    /// Log level.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// Log format.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt)]
    pub log_format: LogFormat,

    /// Start the built-in cloud simulator on loopback and poll it (no config, no account).
    #[cfg(feature = "simulator")]
    #[arg(long)]
    pub demo: bool,

    /// Poll every target once, print the exposition to stdout, exit 1 if any target failed.
    #[arg(long)]
    pub once: bool,

    /// Poll only the targets whose stable hash falls in shard I of N.
    #[arg(long, value_name = "I/N", default_value = "0/1")]
    pub shard: Shard,

    /// Keep the last good state of every target in this file, restore it at start.
    #[arg(long = "persistence.file", value_name = "FILE")]
    pub persistence_file: Option<PathBuf>,

    /// Write the persistence file at most this often (and at shutdown).
    #[arg(long = "persistence.interval", value_name = "DURATION", default_value = "1m", value_parser = humantime::parse_duration)]
    pub persistence_interval: std::time::Duration,

    /// A command instead of running the exporter.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands besides running the exporter.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// ROMA Connect client quotas.
    #[command(name = "app-quota", subcommand)]
    AppQuota(AppQuotaCommand),
    /// Run discovery once: print the projects, instances and resulting targets (and what
    /// was skipped, and why); exit 1 if discovery failed.
    Discover {
        /// YAML config file (instead of the global `--config.file`).
        #[arg(long = "config.file", value_name = "FILE")]
        config_file: Option<PathBuf>,
    },
    /// Run only the built-in cloud simulator (for trying configs and for benchmarks).
    #[cfg(feature = "simulator")]
    Simulator(SimulatorArgs),
}

/// `simulator` arguments.
#[cfg(feature = "simulator")]
#[derive(Debug, clap::Args)]
pub struct SimulatorArgs {
    /// Address to listen on.
    #[arg(long = "listen-address", default_value = "127.0.0.1:9877")]
    pub listen_address: String,
    /// Number of ROMA instances in the simulated world (0: the demo world).
    #[arg(long = "roma-instances", default_value_t = 0)]
    pub roma_instances: usize,
    /// Write an exporter config that polls this simulator to this file.
    #[arg(long = "write-config", value_name = "FILE")]
    pub write_config: Option<PathBuf>,
    /// Poll interval written into that config.
    #[arg(long, default_value = "30s")]
    pub interval: String,
    /// Delay every answer by this long (`100ms`, `1s`), like a distant API; for
    /// benchmarks of the start-up fan-out.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub latency: std::time::Duration,
}

/// `app-quota` subcommands.
#[derive(Debug, Subcommand)]
pub enum AppQuotaCommand {
    /// Create a client quota with the credentials of the config's project; prints it as JSON.
    Create(CreateAppQuota),
}

/// `app-quota create` arguments (checked locally with the API's rules before sending).
#[derive(Debug, clap::Args)]
pub struct CreateAppQuota {
    /// Project id; must be in the config (its credentials and ROMA endpoint are used).
    #[arg(long = "project-id")]
    pub project_id: String,
    /// ROMA Connect instance id.
    #[arg(long = "instance-id")]
    pub instance_id: String,
    /// Quota name: 3-255 letters, digits and `_`, starting with a letter.
    #[arg(long)]
    pub name: String,
    /// Calls allowed per window, 1..2147483647.
    #[arg(long = "call-limits", allow_negative_numbers = true)]
    pub call_limits: i64,
    /// SECOND, MINUTE, HOUR (or HOURE) or DAY.
    #[arg(long = "time-unit")]
    pub time_unit: String,
    /// Window length in time units, 1..2147483647.
    #[arg(long = "time-interval", allow_negative_numbers = true)]
    pub time_interval: i64,
    /// First reset, `YYYY-MM-DD HH:MM:SS`.
    #[arg(long = "reset-time")]
    pub reset_time: Option<String>,
    /// Description: at most 255 characters, no `<` or `>`.
    #[arg(long)]
    pub remark: Option<String>,
}

/// `--log.level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything, including each successful poll.
    Debug,
    /// Start, stop, reloads.
    Info,
    /// Failed polls and unreadable values.
    Warn,
    /// Only errors.
    Error,
}

/// `--log.format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `key=value` pairs, one line per event.
    Logfmt,
    /// One JSON object per line.
    Json,
}

impl Cli {
    /// `--demo`: poll the built-in simulator instead of a config file (always `false` when
    /// built without the `simulator` feature, which has no `--demo` flag).
    pub fn demo(&self) -> bool {
        #[cfg(feature = "simulator")]
        return self.demo;
        #[cfg(not(feature = "simulator"))]
        false
    }
}
