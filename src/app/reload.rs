//! Reloading a running exporter (SIGHUP and `POST /-/reload`): the web config and the
//! config file, each validated in full before anything changes, with a typed outcome.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::discovery::DiscoveryHub;
use crate::config::Config;
use crate::server::ReloadHook;
use crate::server::web::WebState;
use crate::store::Snapshot;

/// What a reload did. A rejected file keeps running as before; the reasons are the
/// validators' messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// Both files reloaded; `targets` targets now run.
    Reloaded {
        /// How many targets the new config has (in this shard).
        targets: usize,
    },
    /// Demo mode: the web config reloaded; the built-in config stays.
    WebOnly,
    /// The web config was rejected; the config file (if any) was reloaded.
    WebRejected {
        /// Why the web config was rejected.
        web: String,
    },
    /// The config file was rejected; the web config was reloaded.
    ConfigRejected {
        /// Why the config file was rejected.
        config: String,
    },
    /// Both were rejected.
    BothRejected {
        /// Why the web config was rejected.
        web: String,
        /// Why the config file was rejected.
        config: String,
    },
}

impl ReloadOutcome {
    /// From the two halves: the web config's result, and the config file's (`Ok(None)`
    /// in demo mode, else the number of targets).
    fn of(web: Result<(), String>, config: Result<Option<usize>, String>) -> ReloadOutcome {
        match (web, config) {
            (Ok(()), Ok(Some(targets))) => ReloadOutcome::Reloaded { targets },
            (Ok(()), Ok(None)) => ReloadOutcome::WebOnly,
            (Err(web), Ok(_)) => ReloadOutcome::WebRejected { web },
            (Ok(()), Err(config)) => ReloadOutcome::ConfigRejected { config },
            (Err(web), Err(config)) => ReloadOutcome::BothRejected { web, config },
        }
    }

    /// Whether nothing was rejected.
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            ReloadOutcome::Reloaded { .. } | ReloadOutcome::WebOnly
        )
    }

    /// The `POST /-/reload` answer: `Ok` with what now runs, `Err` with what was rejected.
    pub fn into_response(self) -> Result<String, String> {
        match self {
            ReloadOutcome::Reloaded { targets } => {
                Ok(format!("configuration reloaded: {targets} targets\n"))
            }
            ReloadOutcome::WebOnly => Ok(
                "web configuration reloaded (demo mode: the built-in config stays)\n".to_string(),
            ),
            ReloadOutcome::WebRejected { web } => Err(format!(
                "web config rejected, the previous one keeps running: {web}\n"
            )),
            ReloadOutcome::ConfigRejected { config } => Err(format!(
                "configuration rejected, the previous one keeps running:\n{config}\n"
            )),
            ReloadOutcome::BothRejected { web, config } => Err(format!(
                "web config rejected: {web}\nconfiguration rejected:\n{config}\nthe previous ones keep running\n"
            )),
        }
    }
}

/// Reloads the web config and the config file (not in demo mode): each is validated in
/// full before anything changes; a bad one is rejected with its reason and the running one
/// stays. Serves SIGHUP and `POST /-/reload`.
pub struct Reloader {
    path: Option<PathBuf>,
    web: Arc<WebState>,
    /// Applies a config's targets, configured and discovered (discovery restarts).
    hub: Arc<DiscoveryHub>,
    snapshot: Arc<Snapshot>,
    running: Mutex<Config>,
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
        path: Option<PathBuf>,
        web: Arc<WebState>,
        hub: Arc<DiscoveryHub>,
        snapshot: Arc<Snapshot>,
        config: Config,
    ) -> Self {
        Reloader {
            path,
            web,
            hub,
            snapshot,
            running: Mutex::new(config),
            busy: tokio::sync::Mutex::new(()),
        }
    }

    /// Reloads both files and records in the snapshot whether all went well.
    pub async fn reload(&self) -> ReloadOutcome {
        let _one_at_a_time = self.busy.lock().await;
        let web = self.reload_web().await;
        let config = match &self.path {
            None => Ok(None),
            Some(path) => self.reload_config(path).map(Some),
        };
        let outcome = ReloadOutcome::of(web, config);
        self.snapshot.set_reload_ok(outcome.is_ok());
        outcome
    }

    /// The `POST /-/reload` hook: [`Reloader::reload`] answered as
    /// [`ReloadOutcome::into_response`].
    pub fn hook(self: &Arc<Self>) -> ReloadHook {
        let reloader = self.clone();
        Arc::new(move || {
            let reloader = reloader.clone();
            Box::pin(async move { reloader.reload().await.into_response() })
        })
    }

    /// Re-reads the web config; `Err` says why it was rejected.
    async fn reload_web(&self) -> Result<(), String> {
        self.web.reload().await.map_err(|e| {
            tracing::error!(error = %e, "web config reload failed; the previous web config keeps running");
            e.to_string()
        })
    }

    /// Re-reads the config file and applies its targets; `Ok` is how many there are now.
    fn reload_config(&self, path: &std::path::Path) -> Result<usize, String> {
        let config = Config::load(path).map_err(|e| {
            tracing::error!(error = %e, "configuration reload failed; the previous configuration keeps running");
            e.to_string()
        })?;
        // The new connection settings (CA files read afresh, proxies) before the targets
        // that use them; settings that cannot be used reject the whole reload.
        self.hub.client().configure_http(&config).map_err(|e| {
            let e = crate::config::redact_credentials_in(&e);
            tracing::error!(error = %e, "configuration reload failed; the previous configuration keeps running");
            e
        })?;
        for w in &config.warnings {
            tracing::warn!("config warning: {w}");
        }
        let targets = self.hub.configure(&config);
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if process_wide(&running) != process_wide(&config) {
            tracing::warn!(
                "concurrency, rate_limit, retries and max_response_size are process-wide: their new values take effect at the next restart"
            );
        }
        *running = config;
        tracing::info!(targets, "configuration reloaded");
        Ok(targets)
    }

    /// Reloads on every SIGHUP.
    pub fn spawn_on_sighup(self: &Arc<Self>) {
        #[cfg(unix)]
        {
            let reloader = self.clone();
            tokio::spawn(async move {
                let Ok(mut hup) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                else {
                    tracing::warn!("cannot install the SIGHUP handler; reload by restarting");
                    return;
                };
                while hup.recv().await.is_some() {
                    let _ = reloader.reload().await;
                }
            });
        }
    }
}

/// The settings a reload cannot change: the client is built once per process.
fn process_wide(c: &Config) -> (u32, f64, u32, usize) {
    (c.concurrency, c.rate_limit, c.retries, c.max_response_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_messages() {
        let ok = ReloadOutcome::of(Ok(()), Ok(Some(3)));
        assert!(ok.is_ok());
        assert_eq!(
            ok.into_response(),
            Ok("configuration reloaded: 3 targets\n".to_string())
        );
        assert_eq!(ReloadOutcome::of(Ok(()), Ok(None)), ReloadOutcome::WebOnly);
        let both = ReloadOutcome::of(Err("w".into()), Err("c".into()));
        assert!(!both.is_ok());
        assert_eq!(
            both.into_response(),
            Err(
                "web config rejected: w\nconfiguration rejected:\nc\nthe previous ones keep running\n"
                    .to_string()
            )
        );
        assert!(matches!(
            ReloadOutcome::of(Err("w".into()), Ok(Some(1))),
            ReloadOutcome::WebRejected { .. }
        ));
    }
}
