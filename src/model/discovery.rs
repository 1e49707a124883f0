//! What a discovery run found, per credential: the projects and instances it polls, what it
//! skipped and why, and how the run went. Discovery makes these; the store keeps the
//! latest; the exposition, the landing page and `/api/v1/status` show them.

use std::time::{Duration, SystemTime};

use super::outcome::PollError;

/// A ROMA Connect instance as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundInstance {
    /// Instance id.
    pub id: String,
    /// Instance name (may be empty).
    pub name: String,
    /// Status as listed (`RUNNING`, `CREATING`, ...; empty when missing).
    pub status: String,
    /// `None`: polled; else why not (`status CREATING`, `name not in include_instances`).
    pub skipped: Option<String>,
}

/// A project that is polled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundProject {
    /// Project id.
    pub id: String,
    /// Project name as IAM lists it (`cn-north-4`, `cn-north-4_dev`).
    pub name: String,
    /// Region, from the name.
    pub region: String,
    /// Whether it is configured under `projects:` (only its instances are discovered).
    pub configured: bool,
    /// Its instances, when instance discovery is on.
    pub instances: Vec<FoundInstance>,
    /// APIs left out in this project, and why (`eventgrid: not offered in eu-de`).
    pub notes: Vec<String>,
    /// The instance list failed this run: the instances are those of the last good run.
    pub stale_instances: bool,
}

/// A project that is not polled, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedProject {
    /// Project id.
    pub id: String,
    /// Project name.
    pub name: String,
    /// Why (`disabled`, `MOS is no region`, `region not in regions`, ...).
    pub reason: String,
}

/// The state of one credential's discovery.
#[derive(Clone, Debug, PartialEq)]
pub struct DiscoveryStatus {
    /// The credential's name (the `credentials` label).
    pub credentials: String,
    /// When the last run finished; `None` before the first.
    pub last_run: Option<SystemTime>,
    /// How long it took.
    pub duration: Duration,
    /// When a run last succeeded wholly.
    pub last_success: Option<SystemTime>,
    /// Whether the last run succeeded wholly (every list call answered).
    pub success: bool,
    /// The errors of the last run (scope: what failed), empty on success.
    pub errors: Vec<(String, PollError)>,
    /// Projects polled (after skips and filters), with their instances.
    pub projects: Vec<FoundProject>,
    /// Projects not polled, with the reason.
    pub skipped: Vec<SkippedProject>,
    /// Targets it contributes (before sharding).
    pub targets: usize,
    /// When the next run is due.
    pub next_run: Option<SystemTime>,
}

impl DiscoveryStatus {
    /// A credential whose discovery has not run yet.
    pub fn pending(credentials: &str) -> DiscoveryStatus {
        DiscoveryStatus {
            credentials: credentials.to_string(),
            last_run: None,
            duration: Duration::ZERO,
            last_success: None,
            success: false,
            errors: Vec::new(),
            projects: Vec::new(),
            skipped: Vec::new(),
            targets: 0,
            next_run: None,
        }
    }

    /// Projects from the `discovery:` entry (configured projects left out): the
    /// `discovered_projects` gauge.
    pub fn discovered_projects(&self) -> usize {
        self.projects.iter().filter(|p| !p.configured).count()
    }
}
