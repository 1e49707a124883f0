//! huaweicloud-quota-exporter: polls Huawei Cloud and Open Telekom Cloud quota APIs and
//! serves every limit and usage figure as Prometheus gauges.
//!
//! # The dependency rule
//! The data flows one way, one module per step:
//!
//! ```text
//! config -> model -> upstream -> scheduler -> store -> exposition -> server
//! ```
//!
//! and a module may use only the modules below it in this table (tests/architecture.rs
//! reads `src/` and fails on any other edge, and on any import cycle between files):
//!
//! | module | what it is | may use |
//! |---|---|---|
//! | [`diag`] | `file:line:col` diagnostics for every config file we read | - |
//! | [`config`] | YAML schema, validation, resolved settings, secrets | diag |
//! | [`model`] | `Api`, `Target` (a `Job` per API), poll results and outcomes | config |
//! | [`store`] | current state per target, swapped whole | model |
//! | [`upstream`] | one transport (limits, bounded reads, errors, counters), auth, decoders, one file per API | model, config |
//! | [`discovery`] | projects and instances found through IAM and ROMA, kept current | upstream, model, config |
//! | [`scheduler`] | intervals, jitter, spread, staleness | upstream, store, model, config, discovery |
//! | [`exposition`] | families, text, gzip, process metrics, the render loop | store, model, config |
//! | [`server`] | listeners and limits, one handler per route, landing page, web config | exposition, store, model, config, diag |
//! | [`persistence`] | the last good state of every target on disk, restored at start | store, model, config |
//! | [`cli`], [`logging`] | flags, log setup | model / cli |
//! | [`app`] | the modes (check, once, serve, commands) and reload: wires everything | all |
//! | [`simulator`] | the fake cloud behind `--demo` and every test | - (a leaf) |
//!
//! Types that two steps share live in the lower one (an error code is `model`'s, not
//! `upstream`'s), so no step ever needs to import a higher one.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod diag;
pub mod discovery;
pub mod exposition;
pub mod logging;
pub mod model;
pub mod persistence;
pub mod scheduler;
pub mod server;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod store;
pub mod upstream;
