//! The ways to run, chosen from the command line ([`Mode`]): the daemon ([`serve`]),
//! `--once`, `--config.check`, and the commands (`app-quota create`, `simulator`);
//! `--demo` puts the built-in simulator behind the first three.

mod commands;
pub mod discovery;
mod reload;
mod serve;

use std::process::ExitCode;
use std::sync::Arc;

#[cfg(feature = "simulator")]
use crate::cli::SimulatorArgs;
use crate::cli::{AppQuotaCommand, Cli, Command, CreateAppQuota};
use crate::config::Config;
use crate::exposition::Exposition;
use crate::model::outcome::ApiCounters;
use crate::model::target::{self, Target};
use crate::store::Snapshot;
use crate::upstream::{ClientSettings, UpstreamClient};

pub use commands::describe;
pub use reload::{ReloadOutcome, Reloader};

/// What the command line asks for, in the order the flags take precedence.
#[derive(Debug)]
pub enum Mode<'a> {
    /// The `simulator` command: only the built-in cloud simulator.
    #[cfg(feature = "simulator")]
    Simulator(&'a SimulatorArgs),
    /// `app-quota create`: create a client quota with a project's credentials.
    CreateAppQuota(&'a CreateAppQuota),
    /// `discover`: run discovery once and print what it found (this config file, if given).
    Discover(Option<&'a std::path::Path>),
    /// `--config.check`: validate the config (and web config), print the targets.
    Check,
    /// `--once`: poll every target once and print the exposition.
    Once,
    /// The exporter daemon.
    Serve,
}

impl<'a> Mode<'a> {
    /// The mode `cli` asks for: a command first, then `--config.check`, then `--once`.
    pub fn of(cli: &'a Cli) -> Mode<'a> {
        match &cli.command {
            #[cfg(feature = "simulator")]
            Some(Command::Simulator(args)) => Mode::Simulator(args),
            Some(Command::AppQuota(AppQuotaCommand::Create(args))) => Mode::CreateAppQuota(args),
            Some(Command::Discover { config_file }) => Mode::Discover(config_file.as_deref()),
            None if cli.config_check => Mode::Check,
            None if cli.once => Mode::Once,
            None => Mode::Serve,
        }
    }
}

/// Runs what the command line asks for.
pub async fn run(cli: Cli) -> ExitCode {
    let mode = Mode::of(&cli);
    match mode {
        #[cfg(feature = "simulator")]
        Mode::Simulator(args) => commands::run_simulator(args).await,
        Mode::CreateAppQuota(args) => commands::create_app_quota(&cli, args).await,
        Mode::Discover(path) => {
            let path = path.unwrap_or(&cli.config_file);
            let config = match Config::load(path) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            match build_client(&config, Arc::default()) {
                Ok(client) => discovery::run_discover(&config, cli.shard, &client).await,
                Err(code) => code,
            }
        }
        Mode::Check | Mode::Once | Mode::Serve => {
            let loaded = match Loaded::load(&cli, matches!(mode, Mode::Check)).await {
                Ok(l) => l,
                Err(code) => return code,
            };
            match mode {
                Mode::Check => commands::check(&cli, &loaded).await,
                Mode::Once => once(&loaded).await,
                _ => serve::serve(&cli, loaded).await,
            }
        }
    }
}

/// The config to run and its targets; in demo mode also the simulator it polls, which
/// runs as long as this lives.
pub(crate) struct Loaded {
    config: Config,
    targets: Vec<Arc<Target>>,
    shard: target::Shard,
    #[cfg(feature = "simulator")]
    _simulator: Option<crate::simulator::Simulator>,
}

impl Loaded {
    /// Loads `--config.file`, or with `--demo` starts the simulator on loopback with a
    /// config that polls it. A failure is printed (with `config check FAILED` when
    /// `checking`) and gives the exit code.
    async fn load(cli: &Cli, checking: bool) -> Result<Loaded, ExitCode> {
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
    match Simulator::start(([127, 0, 0, 1], 0).into(), discovery::demo_world()).await {
        Ok(sim) => {
            let yaml = discovery::demo_config_yaml(&sim.base_url(), "15s");
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
    counters: Arc<ApiCounters>,
    client: Arc<UpstreamClient>,
    snapshot: Arc<Snapshot>,
    exposition: Arc<Exposition>,
}

impl Pipeline {
    /// An empty pipeline for `config`; a client that cannot be built is printed.
    fn new(config: &Config) -> Result<Pipeline, ExitCode> {
        let counters = Arc::new(ApiCounters::default());
        let client = Arc::new(build_client(config, counters.clone())?);
        Ok(Pipeline {
            counters,
            client,
            snapshot: Arc::new(Snapshot::new()),
            exposition: Arc::new(Exposition::default()),
        })
    }
}

/// The HTTP client for `config`'s process-wide settings; a failure is printed.
fn build_client(config: &Config, counters: Arc<ApiCounters>) -> Result<UpstreamClient, ExitCode> {
    let settings = ClientSettings {
        concurrency: config.concurrency,
        rate_limit: config.rate_limit,
        max_body_bytes: config.max_response_bytes,
        max_attempts: config.retries + 1,
    };
    UpstreamClient::new(settings, counters).map_err(|e| {
        eprintln!("cannot build the HTTP client: {e}");
        ExitCode::FAILURE
    })
}

/// `--once`: poll every target, print the exposition, fail if any target failed.
async fn once(loaded: &Loaded) -> ExitCode {
    let p = match Pipeline::new(&loaded.config) {
        Ok(p) => p,
        Err(code) => return code,
    };
    // With discovery: one run first, its targets added to the configured ones.
    let (targets, rounds) = discovery::targets_once(&p.client, &loaded.config, loaded.shard).await;
    for r in rounds.iter().filter(|r| !r.status.success) {
        for (scope, e) in &r.status.errors {
            eprintln!(
                "discovery with credentials {}: {scope}: {e}",
                r.status.credentials
            );
        }
    }
    p.snapshot
        .set_discovery(rounds.into_iter().map(|r| r.status).collect());
    let targets = &targets;
    let failed = crate::scheduler::poll_all_once(p.client, p.snapshot.clone(), targets).await;
    p.exposition.render_now(&p.snapshot, &p.counters);
    let body = p.exposition.current();
    let mut out = body.plain.to_vec();
    out.extend_from_slice(&p.exposition.process.render());
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(&out).and_then(|_| stdout.flush()).is_err() {
        return ExitCode::FAILURE;
    }
    if failed > 0 {
        eprintln!("{failed} of {} targets failed", targets.len());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
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
