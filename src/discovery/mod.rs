//! Discovery: one credential finds its projects (IAM `GET /v3/auth/projects`), their
//! regions and their `RUNNING` ROMA Connect instances, and keeps the target set current.
//!
//! Between `config` and `scheduler` in the data flow: [`refresh`] turns the config's
//! `discovery:` entries (and `roma: {instances: discover}` of configured projects) into
//! targets, run after run; [`request`] sends the list calls through the shared upstream
//! transport; [`decode`] and [`select`] are pure. The app hands each round's targets to the
//! scheduler, the same path a reload takes.

pub mod decode;
pub mod refresh;
pub mod request;
pub mod select;
