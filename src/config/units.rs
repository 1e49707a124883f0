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
        struct V;
        impl Visitor<'_> for V {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 30s, 5m or 1h")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ConfigDuration, E> {
                let d = humantime::parse_duration(s.trim()).map_err(|e| {
                    E::custom(format!(
                        "invalid duration `{s}` ({e}): expected a number with a unit such as 30s, 5m or 1h"
                    ))
                })?;
                if d.is_zero() {
                    return Err(E::custom("a duration of zero is not allowed here"));
                }
                Ok(ConfigDuration(d))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ConfigDuration, E> {
                Err(E::custom(format!(
                    "`{n}` has no unit: write it as {n}s, {n}m or {n}h"
                )))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ConfigDuration, E> {
                self.visit_u64(n.unsigned_abs())
            }
        }
        d.deserialize_any(V)
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
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as 8MiB")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ByteSize, E> {
                ByteSize::parse(s).map(ByteSize).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
        }
        d.deserialize_any(V)
    }
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
