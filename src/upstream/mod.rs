//! The upstream side: one poll function per API (request and decoder in the API's own
//! file), over one [`transport::Transport`] that every request shares, API calls and IAM
//! token requests alike.
//!
//! Decoders are pure functions over bytes (see [`roma`], [`eventgrid`], [`gaussdb`] and
//! [`decode`]); this module does the I/O around them, retries what can be retried, and
//! turns every failure into a [`PollError`] that keeps the upstream `error_code` and
//! `X-Request-Id`.

pub mod appquota;
pub mod auth;
pub mod backoff;
pub mod client;
pub mod decode;
pub mod eventgrid;
pub mod gaussdb;
pub mod ratelimit;
pub mod roma;
pub mod tls;
pub mod transport;

use tokio::time::Instant;

pub use self::client::{ClientSettings, UpstreamClient};
use crate::model::outcome::{ErrorCode, PollError};
use crate::model::poll::PollOutput;
use crate::model::target::{Job, Target};

/// Most resources plus client quotas one target may hold, so absurd answers cannot grow
/// memory (and the exposition) without bound.
pub const MAX_ITEMS_PER_TARGET: usize = 10_000;

/// Polls one target: every call its API needs, decoded into one [`PollOutput`].
/// All calls and their retries share one budget: 90% of the interval.
pub async fn poll(client: &UpstreamClient, target: &Target) -> Result<PollOutput, PollError> {
    let budget_end = Instant::now() + target.settings().interval.mul_f64(0.9);
    let _turn = client.poll_turn().await?;
    // Boxed: a waiting target then holds a few bytes, not the poll's whole state.
    Box::pin(poll_now(client, target, budget_end)).await
}

async fn poll_now(
    client: &UpstreamClient,
    target: &Target,
    budget_end: Instant,
) -> Result<PollOutput, PollError> {
    let output = match &target.job {
        Job::RomaLivedata { instance_id } => {
            roma::poll_livedata(client, target, instance_id, budget_end).await
        }
        Job::RomaAppQuota {
            instance_id,
            app_quotas,
        } => roma::poll_app_quotas(client, target, instance_id, app_quotas, budget_end).await,
        Job::Eventgrid { types } => eventgrid::poll(client, target, types, budget_end).await,
        Job::GaussdbMysql => gaussdb::poll(client, target, budget_end).await,
    }?;
    let items = output.resources.len() + output.clients.len();
    if items > MAX_ITEMS_PER_TARGET {
        let code = ErrorCode::TooManyItems;
        client.counters.count_error(target.api().into(), &code, 1);
        return Err(PollError::local(
            code,
            format!(
                "upstream returned {items} items, more than the limit of {MAX_ITEMS_PER_TARGET} per target"
            ),
        ));
    }
    Ok(output)
}
