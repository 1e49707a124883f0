//! The exporter daemon, step by step: web config and limits, listeners, the one line for
//! the user, polling, reload, and the server until SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::discovery::DiscoveryHub;
use super::reload::Reloader;
use super::setup::{Loaded, Pipeline, shutdown_signal};
use crate::cli::Cli;
use crate::model::build::BUILD;
use crate::persistence::Persistence;
use crate::scheduler::Scheduler;
use crate::server::web::{WEB_CONFIG_POLL, WebState};
use crate::server::{self, AppState, ServerLimits};

/// How long in-flight requests may take after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How often the exposition is re-rendered from the snapshot.
const RENDER_EVERY: Duration = Duration::from_millis(100);

/// Runs the exporter until SIGTERM or Ctrl-C.
pub(super) async fn serve(cli: &Cli, loaded: Loaded) -> ExitCode {
    match start_and_serve(cli, loaded).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// Every step; a failing one has printed why and gives the exit code.
async fn start_and_serve(cli: &Cli, mut loaded: Loaded) -> Result<(), ExitCode> {
    // First, as Prometheus's components log their version before anything else.
    tracing::info!(
        version = BUILD.version,
        revision = BUILD.revision,
        branch = BUILD.branch,
        rustversion = BUILD.rust_version,
        build_user = BUILD.build_user,
        build_date = BUILD.build_date,
        "starting huaweicloud-quota-exporter"
    );
    let pipeline = Pipeline::new(&loaded.config, cli.shard)?;
    let persistence = restore(cli, &pipeline, &loaded).await?;
    // The discovery hub builds the polled set from the config itself: this copy (half a
    // kilobyte per target) would only sit in memory for the exporter's lifetime.
    loaded.targets = Vec::new();
    // TLS, basic auth and headers; a bad file stops the start, naming file:line:column.
    let web = WebState::load(cli.web_config_file.clone())
        .await
        .map(Arc::new)
        .map_err(fail)?;
    let limits = ServerLimits::from_env().map_err(fail)?;
    tokio::spawn(web.clone().watch(WEB_CONFIG_POLL));
    let listeners = bind_all(cli, &web).await?;
    announce(cli, &web, &listeners);

    tokio::spawn(pipeline.exposition.clone().run(
        pipeline.snapshot.clone(),
        pipeline.counters.clone(),
        RENDER_EVERY,
    ));
    let polling = crate::scheduler::polling_runtime().map_err(|e| {
        eprintln!("cannot start the polling runtime: {e}");
        ExitCode::FAILURE
    })?;
    let scheduler = Arc::new(Scheduler::new(
        polling,
        pipeline.client.clone(),
        pipeline.snapshot.clone(),
    ));
    // Configured targets now; discovered ones after each credential's first round.
    let hub = DiscoveryHub::new(
        pipeline.client.clone(),
        scheduler.clone(),
        pipeline.snapshot.clone(),
        cli.shard,
    );
    let applied = hub.configure(&loaded.config);
    tracing::info!(targets = applied, discovery = loaded.config.discovery.len(), shard = %cli.shard, "polling started");

    let reloader = Arc::new(Reloader::new(
        (!cli.demo()).then(|| cli.config_file.clone()),
        web.clone(),
        hub.clone(),
        pipeline.snapshot.clone(),
        loaded.config.clone(),
    ));
    reloader.spawn_on_sighup();

    let state = app_state(cli, &pipeline, web, limits, &reloader);
    server::serve(listeners, state, shutdown_signal(), SHUTDOWN_GRACE).await;
    hub.stop();
    scheduler.stop();
    if let Some(p) = persistence {
        p.finish().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// With `--persistence.file`: the saved state into the snapshot before anything listens or
/// polls (so it is served, and counts for readiness, at once), and the periodic writer.
/// An unwritable path stops the start.
async fn restore(
    cli: &Cli,
    pipeline: &Pipeline,
    loaded: &Loaded,
) -> Result<Option<Arc<Persistence>>, ExitCode> {
    let Some(path) = &cli.persistence_file else {
        return Ok(None);
    };
    pipeline.snapshot.set_targets(&loaded.targets);
    Persistence::start(
        path.clone(),
        cli.persistence_interval,
        pipeline.snapshot.clone(),
        &loaded.targets,
    )
    .await
    .map(Some)
    .map_err(fail)
}

/// Prints a start-up error; the exit code is failure.
fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("{e}");
    ExitCode::FAILURE
}

/// Binds every `--web.listen-address`, or takes systemd's sockets with
/// `--web.systemd-socket`, logging each; the first that fails stops the start.
async fn bind_all(cli: &Cli, web: &WebState) -> Result<Vec<TcpListener>, ExitCode> {
    if cli.systemd_socket {
        let listeners = server::systemd_listeners().map_err(|e| {
            eprintln!("--web.systemd-socket: {e}");
            ExitCode::FAILURE
        })?;
        for l in &listeners {
            let local = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
            tracing::info!(address = %local, web = %web.current().describe(), "listening on a socket from systemd");
        }
        return Ok(listeners);
    }
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
                return Err(ExitCode::FAILURE);
            }
        }
    }
    Ok(listeners)
}

/// The one line a new user needs: where to look (the first listener's URL).
fn announce(cli: &Cli, web: &WebState, listeners: &[TcpListener]) {
    let Some(a) = listeners.first().and_then(|l| l.local_addr().ok()) else {
        return;
    };
    let scheme = if web.current().tls.is_some() {
        "https"
    } else {
        "http"
    };
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
    let b = &BUILD;
    eprintln!(
        "huaweicloud-quota-exporter {} (branch: {}, revision: {}) serving on {scheme}://{host}:{}/ (metrics at {})",
        b.version,
        b.branch,
        b.revision,
        a.port(),
        cli.telemetry_path
    );
}

/// What the HTTP handlers read; the reload route only with `--web.enable-lifecycle`.
fn app_state(
    cli: &Cli,
    pipeline: &Pipeline,
    web: Arc<WebState>,
    limits: ServerLimits,
    reloader: &Arc<Reloader>,
) -> Arc<AppState> {
    let mut state = AppState::new(
        pipeline.snapshot.clone(),
        pipeline.exposition.clone(),
        cli.telemetry_path.clone(),
    )
    .with_web(web)
    .with_limits(limits)
    .with_max_requests(cli.max_requests)
    .with_credentials(pipeline.client.credential_board());
    if cli.disable_exporter_metrics {
        state = state.without_process_metrics();
    }
    if cli.enable_lifecycle {
        state = state.with_reload(reloader.hook());
    }
    Arc::new(state)
}
