//! huaweicloud-quota-exporter: polls Huawei Cloud and Open Telekom Cloud quota APIs and
//! serves every limit and usage figure as Prometheus gauges.
//!
//! The data flows one way, one module per step:
//! [`config`] -> [`target`] -> [`scheduler`] -> [`upstream`] (with [`auth`] and [`value`])
//! -> [`sample`] -> [`snapshot`] -> [`render`] -> [`server`]. [`app`] wires them up for the
//! daemon, `--once` and `--config.check`; [`simulator`] is the fake cloud behind `--demo`
//! and the tests. [`persistence`] keeps the store's state in a file across restarts.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod exposition;
pub mod logging;
pub mod model;
pub mod persistence;
pub mod scheduler;
pub mod server;
pub mod simulator;
pub mod store;
pub mod upstream;
