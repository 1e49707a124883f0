//! The three ways to run: the daemon, `--once`, and `--config.check`; plus `--demo`,
//! which puts the built-in simulator behind any of them.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{AppQuotaCommand, Cli, Command, CreateAppQuota};
use crate::config::AppQuotaSelection;
use crate::config::{Config, Credential, ProcessEnv};
use crate::exposition::Exposition;
use crate::model::outcome::ApiCounters;
use crate::model::target::Job;
use crate::model::target::{self, Target};
use crate::persistence::Persistence;
use crate::scheduler::{self, Scheduler};
use crate::server::web::{WebConfig, WebState};
use crate::server::{self, AppState, ServerLimits};
use crate::simulator::{Simulator, World};
use crate::store::Snapshot;
use crate::upstream::{ClientSettings, UpstreamClient};

/// How long in-flight requests may take after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Runs what the command line asks for.
pub async fn run(cli: Cli) -> ExitCode {
    if let Some(Command::Simulator {
        listen_address,
        roma_instances,
        write_config,
        interval,
        latency,
    }) = &cli.command
    {
        return run_simulator(
            listen_address,
            *roma_instances,
            write_config.as_deref(),
            interval,
            *latency,
        )
        .await;
    }
    if let Some(Command::AppQuota(AppQuotaCommand::Create(args))) = &cli.command {
        return create_app_quota(&cli, args).await;
    }
    // --demo: the simulator on loopback and a config that polls it.
    let mut _simulator = None;
    let loaded = if cli.demo {
        match Simulator::start(([127, 0, 0, 1], 0).into(), World::demo()).await {
            Ok(sim) => {
                let yaml = World::demo().exporter_config_yaml(&sim.base_url(), "15s");
                let path = Path::new("<demo>");
                let cfg = Config::from_yaml(path, &yaml, &ProcessEnv);
                tracing::info!(simulator = %sim.base_url(), "demo mode: polling the built-in cloud simulator");
                _simulator = Some(sim);
                cfg
            }
            Err(e) => {
                eprintln!("cannot start the demo simulator: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        Config::load(&cli.config_file)
    };
    let config = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            if cli.config_check {
                eprintln!("config check FAILED");
            }
            return ExitCode::FAILURE;
        }
    };
    let targets = target::targets(&config, cli.shard);
    if cli.config_check {
        print!("{}", describe(&config, &targets, &cli));
        if let Some(path) = &cli.web_config_file {
            let p = path.clone();
            match tokio::task::spawn_blocking(move || WebConfig::load(&p)).await {
                Ok(Ok(web)) => println!("web config OK: {} ({})", path.display(), web.describe()),
                Ok(Err(e)) => {
                    eprintln!("{e}\nconfig check FAILED");
                    return ExitCode::FAILURE;
                }
                Err(e) => {
                    eprintln!("cannot check the web config: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        return ExitCode::SUCCESS;
    }
    let counters = Arc::new(ApiCounters::default());
    let client = match UpstreamClient::new(client_settings(&config), counters.clone()) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("cannot build the HTTP client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let snapshot = Arc::new(Snapshot::new());
    let exposition = Arc::new(Exposition::default());

    if cli.once {
        let failed = scheduler::poll_all_once(client, snapshot.clone(), &targets).await;
        exposition.render_now(&snapshot, &counters);
        let body = exposition.current();
        let mut out = body.plain.to_vec();
        out.extend_from_slice(&exposition.process.render());
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        if stdout.write_all(&out).and_then(|_| stdout.flush()).is_err() {
            return ExitCode::FAILURE;
        }
        if failed > 0 {
            eprintln!("{failed} of {} targets failed", targets.len());
            return ExitCode::FAILURE;
        }
        return ExitCode::SUCCESS;
    }

    // Restored state first, so it is served (and counts for readiness) before any poll.
    snapshot.set_targets(&targets);
    let persistence = match &cli.persistence_file {
        None => None,
        Some(path) => {
            let started = Persistence::start(
                path.clone(),
                cli.persistence_interval,
                snapshot.clone(),
                &targets,
            );
            match started.await {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    // TLS, basic auth and headers; a bad file stops the start, naming file:line:column.
    let web = match WebState::load(cli.web_config_file.clone()).await {
        Ok(w) => Arc::new(w),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let limits = match ServerLimits::from_env() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let scheme = if web.current().tls.is_some() {
        "https"
    } else {
        "http"
    };
    let mut listeners = Vec::new();
    for addr in &cli.listen_addresses {
        match server::bind(addr).await {
            Ok(l) => {
                let local = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
                tracing::info!(address = %local, web = %web.current().describe(), "listening");
                listeners.push(l);
            }
            Err(e) => {
                eprintln!("cannot listen on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(l) = listeners.first()
        && let Ok(a) = l.local_addr()
    {
        let host = if a.ip().is_unspecified() {
            "localhost".to_string()
        } else {
            a.ip().to_string()
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        // The one line a new user needs: where to look.
        eprintln!(
            "huaweicloud-quota-exporter {} serving on {scheme}://{host}:{}/ (metrics at {})",
            env!("CARGO_PKG_VERSION"),
            a.port(),
            cli.telemetry_path
        );
    }

    tokio::spawn(exposition.clone().run(
        snapshot.clone(),
        counters.clone(),
        Duration::from_millis(100),
    ));
    let scheduler = Arc::new(Scheduler::new(client, snapshot.clone()));
    scheduler.apply(&targets);
    tracing::info!(targets = targets.len(), shard = %cli.shard, "polling started");

    let reloader = Arc::new(Reloader::new(
        (!cli.demo).then(|| cli.config_file.clone()),
        web.clone(),
        cli.shard,
        scheduler.clone(),
        snapshot.clone(),
        config.clone(),
    ));
    spawn_reload_on_sighup(reloader.clone());

    let mut state = AppState::new(snapshot, exposition, cli.telemetry_path.clone());
    state.web = web;
    state.limits = limits;
    if cli.enable_lifecycle {
        let reloader = reloader.clone();
        state.reload = Some(Arc::new(move || {
            let reloader = reloader.clone();
            Box::pin(async move { reloader.reload().await })
        }));
    }
    let state = Arc::new(state);
    server::serve(listeners, state, shutdown_signal(), SHUTDOWN_GRACE).await;
    scheduler.stop();
    if let Some(p) = persistence {
        p.finish().await;
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

fn client_settings(config: &Config) -> ClientSettings {
    ClientSettings {
        concurrency: config.concurrency,
        rate_limit: config.rate_limit,
        max_body_bytes: config.max_response_bytes,
        max_attempts: config.retries + 1,
    }
}

/// Reloads the web config and the config file (not in demo mode): each is validated in
/// full before anything changes; a bad one is rejected with its reason and the running one
/// stays. Serves SIGHUP and `POST /-/reload`.
pub struct Reloader {
    path: Option<std::path::PathBuf>,
    web: Arc<WebState>,
    shard: target::Shard,
    scheduler: Arc<Scheduler>,
    snapshot: Arc<Snapshot>,
    running: std::sync::Mutex<Config>,
    /// One reload at a time, whoever asks.
    busy: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader for the web config and the config at `path` (`None` in demo mode),
    /// currently running `config`.
    pub fn new(
        path: Option<std::path::PathBuf>,
        web: Arc<WebState>,
        shard: target::Shard,
        scheduler: Arc<Scheduler>,
        snapshot: Arc<Snapshot>,
        config: Config,
    ) -> Self {
        Reloader {
            path,
            web,
            shard,
            scheduler,
            snapshot,
            running: std::sync::Mutex::new(config),
            busy: tokio::sync::Mutex::new(()),
        }
    }

    /// Reloads both files; `Ok` says what now runs, `Err` why something was rejected
    /// (whatever was rejected keeps running as before).
    pub async fn reload(&self) -> Result<String, String> {
        let _one_at_a_time = self.busy.lock().await;
        let web = self.web.reload().await.map_err(|e| {
            tracing::error!(error = %e, "web config reload failed; the previous web config keeps running");
            e.to_string()
        });
        let config = match &self.path {
            None => Ok(None),
            Some(path) => match Config::load(path) {
                Ok(config) => {
                    let targets = target::targets(&config, self.shard);
                    self.scheduler.apply(&targets);
                    let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
                    if (
                        running.concurrency,
                        running.rate_limit,
                        running.retries,
                        running.max_response_bytes,
                    ) != (
                        config.concurrency,
                        config.rate_limit,
                        config.retries,
                        config.max_response_bytes,
                    ) {
                        tracing::warn!(
                            "concurrency, rate_limit, retries and max_response_size are process-wide: their new values take effect at the next restart"
                        );
                    }
                    *running = config;
                    tracing::info!(targets = targets.len(), "configuration reloaded");
                    Ok(Some(targets.len()))
                }
                Err(e) => {
                    tracing::error!(error = %e, "configuration reload failed; the previous configuration keeps running");
                    Err(e.to_string())
                }
            },
        };
        self.snapshot.set_reload_ok(web.is_ok() && config.is_ok());
        match (web, config) {
            (Ok(()), Ok(Some(n))) => Ok(format!("configuration reloaded: {n} targets\n")),
            (Ok(()), Ok(None)) => Ok(
                "web configuration reloaded (demo mode: the built-in config stays)\n".to_string(),
            ),
            (Err(w), Ok(_)) => Err(format!(
                "web config rejected, the previous one keeps running: {w}\n"
            )),
            (Ok(()), Err(c)) => Err(format!(
                "configuration rejected, the previous one keeps running:\n{c}\n"
            )),
            (Err(w), Err(c)) => Err(format!(
                "web config rejected: {w}\nconfiguration rejected:\n{c}\nthe previous ones keep running\n"
            )),
        }
    }
}

/// Reloads on every SIGHUP.
fn spawn_reload_on_sighup(reloader: Arc<Reloader>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot install the SIGHUP handler; reload by restarting");
            return;
        };
        while hup.recv().await.is_some() {
            let _ = reloader.reload().await;
        }
    });
}

async fn shutdown_signal() {
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

/// The `--config.check` report: resolved settings and targets, never a secret.
pub fn describe(config: &Config, targets: &[Arc<Target>], cli: &Cli) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "config OK: {}", config.source.display());
    let _ = writeln!(
        s,
        "concurrency: {}  rate_limit: {}/s per API host",
        config.concurrency, config.rate_limit
    );
    let _ = writeln!(s, "projects:");
    for p in &config.projects {
        let cred = match &p.credential.credential {
            Credential::Token { .. } => "static token".to_string(),
            Credential::AkSk {
                access_key,
                security_token,
                ..
            } => {
                let shown: String = access_key.chars().take(4).collect();
                format!(
                    "AK/SK (access key {shown}...{})",
                    if security_token.is_some() {
                        ", temporary"
                    } else {
                        ""
                    }
                )
            }
            Credential::IamPassword {
                iam_endpoint,
                domain,
                username,
                ..
            } => {
                format!("IAM password ({username}@{domain} via {iam_endpoint})")
            }
        };
        let _ = writeln!(
            s,
            "  - {} name={:?} region={:?} credentials={} [{}]\n    interval={} timeout={} max_staleness={}",
            p.id,
            p.name,
            p.region,
            p.credential.name,
            cred,
            humantime::format_duration(p.settings.interval),
            humantime::format_duration(p.settings.timeout),
            humantime::format_duration(p.settings.max_staleness)
        );
    }
    let _ = writeln!(s, "targets (shard {}): {}", cli.shard, targets.len());
    for t in targets {
        let extra = match &t.job {
            Job::RomaAppQuota {
                app_quotas: AppQuotaSelection::Discover,
                ..
            } => " app_quotas=discover".to_string(),
            Job::RomaAppQuota {
                app_quotas: AppQuotaSelection::Ids(ids),
                ..
            } => format!(" app_quotas={}", ids.join(",")),
            Job::Eventgrid { types } if !types.is_empty() => format!(" types={}", types.join(",")),
            _ => String::new(),
        };
        let _ = writeln!(s, "  {} {}{}", t.key, t.base_url, extra);
    }
    s
}

async fn run_simulator(
    listen: &str,
    roma_instances: usize,
    write_config: Option<&Path>,
    interval: &str,
    latency: Duration,
) -> ExitCode {
    let addr: std::net::SocketAddr = match listen.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("invalid --listen-address `{listen}`: {e}");
            return ExitCode::FAILURE;
        }
    };
    let world = || {
        if roma_instances == 0 {
            World::demo()
        } else {
            World::with_roma_instances(roma_instances)
        }
    };
    let sim = match Simulator::start(addr, world()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start the simulator on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !latency.is_zero() {
        sim.faults()
            .push(crate::simulator::Fault::everywhere().with_latency(latency));
    }
    if let Some(path) = write_config
        && let Err(e) = std::fs::write(
            path,
            world().exporter_config_yaml(&sim.base_url(), interval),
        )
    {
        eprintln!("cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    eprintln!("simulator serving on {}", sim.base_url());
    shutdown_signal().await;
    ExitCode::SUCCESS
}

/// `app-quota create`: validate locally, then POST with the project's credentials.
async fn create_app_quota(cli: &Cli, args: &CreateAppQuota) -> ExitCode {
    let quota = crate::upstream::appquota::NewAppQuota {
        name: args.name.clone(),
        call_limits: args.call_limits,
        time_unit: args.time_unit.trim().to_ascii_uppercase(),
        time_interval: args.time_interval,
        reset_time: args.reset_time.clone(),
        remark: args.remark.clone(),
    };
    if let Err(problems) = quota.validate() {
        eprint!(
            "{}",
            crate::upstream::appquota::describe_problems(&problems)
        );
        return ExitCode::from(2);
    }
    let config = match Config::load(&cli.config_file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(project) = config.projects.iter().find(|p| p.id == args.project_id) else {
        let known: Vec<&str> = config.projects.iter().map(|p| p.id.as_str()).collect();
        eprintln!(
            "project `{}` is not in {}: its credentials and endpoint come from there (projects: {})",
            args.project_id,
            cli.config_file.display(),
            known.join(", ")
        );
        return ExitCode::FAILURE;
    };
    if project.endpoints.roma.is_empty() {
        eprintln!(
            "project `{}` has no ROMA endpoint: set `region` or `endpoints.roma` in the config",
            project.id
        );
        return ExitCode::FAILURE;
    }
    let counters = Arc::new(ApiCounters::default());
    let client = match UpstreamClient::new(client_settings(&config), counters) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot build the HTTP client: {e}");
            return ExitCode::FAILURE;
        }
    };
    match crate::upstream::roma::create_app_quota(&client, project, &args.instance_id, &quota).await
    {
        Ok(created) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&created).unwrap_or_else(|_| created.to_string())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("the client quota was not created: {e}");
            ExitCode::FAILURE
        }
    }
}
