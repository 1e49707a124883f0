//! Values with their own syntax in the config file: durations (`30s`, `1h30m`) and byte
//! sizes (`8MiB`), each with the serde visitor that reads it and says what was expected.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A duration written as `30s`, `5m`, `1h30m` (humantime syntax).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(
            d,
            "a duration such as 30s, 5m or 1h",
            |s| {
                let d = humantime::parse_duration(s.trim()).map_err(|e| {
                    format!(
                        "invalid duration `{s}` ({e}): expected a number with a unit such as 30s, 5m or 1h"
                    )
                })?;
                if d.is_zero() {
                    return Err("a duration of zero is not allowed here".to_string());
                }
                Ok(ConfigDuration(d))
            },
            |n| {
                let n = n.unsigned_abs();
                Err(format!("`{n}` has no unit: write it as {n}s, {n}m or {n}h"))
            },
        )
    }
}

/// Why a size could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// The text does not start with a number.
    #[error("invalid size `{0}`: expected a number with a unit such as 8MiB or 512KiB")]
    NotANumber(String),
    /// The unit is none of the known ones.
    #[error("invalid size unit `{unit}` in `{text}`: use B, KiB, MiB or GiB")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole value as written.
        text: String,
    },
    /// The size does not fit 64 bits.
    #[error("size `{0}` is too large")]
    TooLarge(String),
}

/// A size in bytes written as `8MiB`, `512KiB`, `1GiB`, `4MB` or a plain number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Reads a size such as `8MiB`, `4MB` or `1234` into a number of bytes.
    pub fn parse(s: &str) -> Result<u64, SizeError> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| SizeError::NotANumber(s.to_string()))?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            other => {
                return Err(SizeError::UnknownUnit {
                    unit: other.to_string(),
                    text: s.to_string(),
                });
            }
        };
        n.checked_mul(mult)
            .ok_or_else(|| SizeError::TooLarge(s.to_string()))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(
            d,
            "a size such as 8MiB",
            |s| ByteSize::parse(s).map(ByteSize).map_err(|e| e.to_string()),
            |n| {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| "a size cannot be negative".to_string())
            },
        )
    }
}

/// Reads a scalar written as a string or an integer: `from_str` and `from_int` turn each
/// into the value or say what was expected; anything else is refused with `expecting`.
pub(crate) fn scalar<'de, D, T>(
    d: D,
    expecting: &'static str,
    from_str: impl FnOnce(&str) -> Result<T, String>,
    from_int: impl FnOnce(i128) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    /// The visitor behind [`scalar`].
    struct V<S, I> {
        expecting: &'static str,
        from_str: S,
        from_int: I,
    }
    impl<T, S, I> Visitor<'_> for V<S, I>
    where
        S: FnOnce(&str) -> Result<T, String>,
        I: FnOnce(i128) -> Result<T, String>,
    {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
            (self.from_str)(s).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<T, E> {
            (self.from_int)(i128::from(n)).map_err(E::custom)
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<T, E> {
            (self.from_int)(i128::from(n)).map_err(E::custom)
        }
    }
    d.deserialize_any(V {
        expecting,
        from_str,
        from_int,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_errors_say_what_was_expected() {
        assert_eq!(
            ByteSize::parse("8 parsecs").map_err(|e| e.to_string()),
            Err("invalid size unit `parsecs` in `8 parsecs`: use B, KiB, MiB or GiB".into())
        );
        assert_eq!(
            ByteSize::parse("MiB").map_err(|e| e.to_string()),
            Err("invalid size `MiB`: expected a number with a unit such as 8MiB or 512KiB".into())
        );
        assert_eq!(
            ByteSize::parse("99999999999GiB").map_err(|e| e.to_string()),
            Err("size `99999999999GiB` is too large".into())
        );
    }
}
