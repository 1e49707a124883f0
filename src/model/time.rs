//! Wall-clock times as the exposition and the JSON status show them.

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` as Unix time in seconds, to the millisecond (plenty, and it keeps the numbers
/// short); times before 1970 read as 0.
pub fn unix_seconds(t: SystemTime) -> f64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_millis() as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn milliseconds_are_kept_and_the_past_is_zero() {
        let t = UNIX_EPOCH + Duration::from_micros(1_600_560_000_123_456);
        assert_eq!(unix_seconds(t), 1_600_560_000.123);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(1)), 0.0);
    }
}
