//! Per-host rate limits: a token bucket per API host, and the pause a 429 imposes on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::{Backoff, Jitter};

/// Without `Retry-After`, a 429 pauses its host 1 s, 2 s, 4 s, ... up to a minute, and
/// never less than the ceiling (so the host really rests).
const THROTTLE_BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(1),
    cap: Duration::from_secs(60),
    jitter: Jitter::Scaled { lo: 1.0, hi: 1.25 },
};

/// The buckets of every host, made on first use.
#[derive(Debug, Default)]
pub struct HostLimits {
    rate: f64,
    buckets: Mutex<HashMap<String, Arc<TokenBucket>>>,
}

impl HostLimits {
    /// `rate` requests per second per host.
    pub fn new(rate: f64) -> Self {
        HostLimits {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The bucket of `host` (`name:port`).
    pub fn bucket(&self, host: &str) -> Arc<TokenBucket> {
        let mut g = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = g.get(host) {
            return b.clone();
        }
        g.entry(host.to_string())
            .or_insert_with(|| Arc::new(TokenBucket::new(self.rate)))
            .clone()
    }
}

/// A token bucket: `rate` requests per second with a burst of `max(1, rate)`, plus the
/// host-wide pause a 429 imposes.
/// Tokens may go negative: each caller reserves its slot and sleeps until it, so
/// waiting callers are served in arrival order without polling.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    refilled: Instant,
    /// No request to this host before this instant (429 `Retry-After` or back-off).
    blocked_until: Option<Instant>,
    /// 429s close together (each within a minute of the last), for the back-off when no
    /// `Retry-After` came.
    throttles: u32,
    /// When the last 429 came.
    last_throttle: Option<Instant>,
}

/// 429s further apart than this start the back-off over.
const THROTTLE_MEMORY: Duration = Duration::from_secs(60);

/// Longest pause a `Retry-After` can impose; larger values are treated as this.
const MAX_THROTTLE: Duration = Duration::from_secs(600);

impl TokenBucket {
    pub fn new(rate: f64) -> Self {
        let burst = rate.max(1.0);
        TokenBucket {
            rate,
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                refilled: Instant::now(),
                blocked_until: None,
                throttles: 0,
                last_throttle: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BucketState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub async fn acquire(&self) {
        loop {
            let (wait, done) = {
                let mut g = self.lock();
                let now = Instant::now();
                match g.blocked_until {
                    Some(until) if until > now => (until - now, false),
                    _ => {
                        let refill = now.duration_since(g.refilled).as_secs_f64() * self.rate;
                        g.tokens = (g.tokens + refill).min(self.burst) - 1.0;
                        g.refilled = now;
                        let wait = if g.tokens >= 0.0 {
                            Duration::ZERO
                        } else {
                            Duration::from_secs_f64(-g.tokens / self.rate)
                        };
                        (wait, true)
                    }
                }
            };
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            if done {
                return;
            }
        }
    }

    /// A 429 from this host: pause every request to it for `retry_after`, or, without
    /// one, for an exponential back-off (1 s, 2 s, 4 s, ... up to a minute). Successes in
    /// between do not reset it (other calls may still get through a throttled gateway);
    /// a minute without a 429 does.
    pub fn throttle(&self, retry_after: Option<Duration>) -> Duration {
        let mut g = self.lock();
        let now = Instant::now();
        if g.last_throttle
            .is_some_and(|t| now.duration_since(t) > THROTTLE_MEMORY)
        {
            g.throttles = 0;
        }
        g.last_throttle = Some(now);
        g.throttles = g.throttles.saturating_add(1);
        let pause = match retry_after {
            Some(d) => d.min(MAX_THROTTLE),
            None => THROTTLE_BACKOFF.delay(g.throttles),
        };
        let until = Instant::now() + pause;
        g.blocked_until = Some(g.blocked_until.map_or(until, |b| b.max(until)));
        pause
    }

    /// How long requests to this host are paused from now.
    pub fn paused_for(&self) -> Duration {
        let g = self.lock();
        g.blocked_until
            .map(|b| b.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn token_bucket_allows_a_burst_then_spaces_requests_at_the_rate() {
        let bucket = TokenBucket::new(5.0);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..11 {
            bucket.acquire().await;
            at.push(start.elapsed());
        }
        // Five at once (the burst), then one every 200 ms.
        assert!(at[4] < Duration::from_millis(1), "{at:?}");
        assert!(
            at[5] >= Duration::from_millis(199) && at[5] < Duration::from_millis(202),
            "{at:?}"
        );
        assert!(
            at[10] >= Duration::from_millis(1199) && at[10] < Duration::from_millis(1202),
            "{at:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_share_the_rate() {
        let bucket = Arc::new(TokenBucket::new(2.0));
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let b = bucket.clone();
            set.spawn(async move {
                b.acquire().await;
                start.elapsed()
            });
        }
        let mut done = Vec::new();
        while let Some(Ok(t)) = set.join_next().await {
            done.push(t);
        }
        done.sort();
        // Burst of 2, then 8 more at 2/s: the last at 4 s, never earlier.
        assert!(done[9] >= Duration::from_millis(3999), "{done:?}");
        for w in done.windows(3) {
            assert!(w[2] - w[0] >= Duration::from_millis(499), "{done:?}");
        }
    }
}
