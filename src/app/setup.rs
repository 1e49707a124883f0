//! What every mode starts from: the loaded config and its targets (with the demo
//! simulator), the polling pipeline, the HTTP client, and the shutdown signal.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::Cli;
use crate::config::Config;
use crate::exposition::Exposition;
use crate::model::outcome::ApiCounters;
use crate::model::target::{self, Shard, Target};
use crate::store::Snapshot;
use crate::upstream::{ClientSettings, UpstreamClient};

/// The config to run and its targets; in demo mode also the simulator it polls, which
/// runs as long as this lives.
pub(crate) struct Loaded {
    pub(crate) config: Config,
    pub(crate) targets: Vec<Arc<Target>>,
    /// `--shard`.
    pub(crate) shard: target::Shard,
    #[cfg(feature = "simulator")]
    _simulator: Option<crate::simulator::Simulator>,
}

impl Loaded {
    /// Loads `--config.file`, or with `--demo` starts the simulator on loopback with a
    /// config that polls it. A failure is printed (with `config check FAILED` when
    /// `checking`) and gives the exit code.
    pub(crate) async fn load(cli: &Cli, checking: bool) -> Result<Loaded, ExitCode> {
        #[cfg(feature = "simulator")]
        let (loaded, simulator) = if cli.demo() {
            let (sim, yaml) = start_demo().await?;
            let path = std::path::Path::new("<demo>");
            let cfg = Config::from_yaml(path, &yaml, &crate::config::ProcessEnv);
            (cfg, Some(sim))
        } else {
            (Config::load(&cli.config_file), None)
        };
        #[cfg(not(feature = "simulator"))]
        let loaded = Config::load(&cli.config_file);
        let config = match loaded {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                if checking {
                    eprintln!("config check FAILED");
                }
                return Err(ExitCode::FAILURE);
            }
        };
        for w in &config.warnings {
            tracing::warn!("config warning: {w}");
        }
        let targets = target::targets(&config, cli.shard);
        Ok(Loaded {
            config,
            targets,
            shard: cli.shard,
            #[cfg(feature = "simulator")]
            _simulator: simulator,
        })
    }
}

/// `--demo`: the simulator on loopback, and the YAML of a config that polls it.
#[cfg(feature = "simulator")]
async fn start_demo() -> Result<(crate::simulator::Simulator, String), ExitCode> {
    use crate::simulator::Simulator;
    match Simulator::start(([127, 0, 0, 1], 0).into(), super::discovery::demo_world()).await {
        Ok(sim) => {
            let yaml = super::discovery::demo_config_yaml(&sim.base_url(), "15s");
            tracing::info!(simulator = %sim.base_url(), "demo mode: discovering and polling the built-in cloud simulator");
            Ok((sim, yaml))
        }
        Err(e) => {
            eprintln!("cannot start the demo simulator: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// What polling needs and fills: the client with its counters, the snapshot of results
/// and the rendered exposition.
pub(crate) struct Pipeline {
    pub(crate) counters: Arc<ApiCounters>,
    pub(crate) client: Arc<UpstreamClient>,
    pub(crate) snapshot: Arc<Snapshot>,
    pub(crate) exposition: Arc<Exposition>,
}

impl Pipeline {
    /// An empty pipeline for `config` polling shard `shard`; a client that cannot be built
    /// is printed.
    pub(crate) fn new(config: &Config, shard: Shard) -> Result<Pipeline, ExitCode> {
        let counters = Arc::new(ApiCounters::default());
        let client = Arc::new(build_client(config, counters.clone())?);
        Ok(Pipeline {
            counters,
            client,
            snapshot: Arc::new(Snapshot::new()),
            exposition: Arc::new(Exposition::for_shard(shard)),
        })
    }
}

/// The HTTP client for `config`'s process-wide settings; a failure is printed.
pub(crate) fn build_client(
    config: &Config,
    counters: Arc<ApiCounters>,
) -> Result<UpstreamClient, ExitCode> {
    let settings = ClientSettings {
        concurrency: config.concurrency,
        rate_limit: config.rate_limit,
        max_body_bytes: config.max_response_bytes,
        max_attempts: config.retries + 1,
    };
    let client = UpstreamClient::new(settings, counters).map_err(|e| {
        eprintln!("cannot build the HTTP client: {e}");
        ExitCode::FAILURE
    })?;
    client.configure_http(config).map_err(|e| {
        eprintln!(
            "cannot build the HTTP client: {}",
            crate::config::redact_credentials_in(&e)
        );
        ExitCode::FAILURE
    })?;
    Ok(client)
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down");
}
