//! The domain model every later step shares: which API, which target, what a poll
//! produced and how it ended. Depends on `config` only.

pub mod api;
pub mod build;
pub mod credentials;
pub mod discovery;
pub mod labels;
pub mod outcome;
pub mod poll;
pub mod target;
pub mod time;
