//! The ways to run, chosen from the command line ([`Mode`]): the daemon ([`serve`]),
//! `--once`, `--config.check`, and the commands (`app-quota create`, `simulator`);
//! `--demo` puts the built-in simulator behind the first three.

mod commands;
pub mod discovery;
mod reload;
mod serve;
mod setup;

use self::setup::{Loaded, Pipeline};

use std::process::ExitCode;
use std::sync::Arc;

#[cfg(feature = "simulator")]
use crate::cli::SimulatorArgs;
use crate::cli::{AppQuotaCommand, Cli, Command, CreateAppQuota};
use crate::config::Config;

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
            match setup::build_client(&config, Arc::default()) {
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
                Mode::Once => once(&cli, &loaded).await,
                _ => serve::serve(&cli, loaded).await,
            }
        }
    }
}

/// `--once`: poll every target, print the exposition, fail if any target failed.
async fn once(cli: &Cli, loaded: &Loaded) -> ExitCode {
    let p = match Pipeline::new(&loaded.config, cli.shard) {
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
    let mut out = body.plain().unwrap_or_default().to_vec();
    if !cli.disable_exporter_metrics {
        out.extend_from_slice(&p.exposition.process.render());
    }
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
