//! Lenient reading of the figures, names, time units and timestamps the quota APIs send.
//!
//! The published examples put numbers in strings (`"10000"`), leave trailing commas inside
//! them (`"4,"`, `"instance,"`), misspell units (`HOURE`) and format times four different
//! ways. Everything here is pure and never panics; a value that cannot be read is a
//! [`ValueErrorKind`], never a made-up 0.

use serde_json::Value;
use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

/// Longest excerpt of the offending input kept in an error message, in characters.
const EXCERPT_CHARS: usize = 64;

/// Milliseconds are assumed above this epoch value: 1e11 seconds is the year 5138, while
/// 1e11 milliseconds is 1973, so no plausible quota time is ambiguous.
const EPOCH_MILLIS_ABOVE: f64 = 1e11;

/// 9999-12-31T23:59:59Z, the last second `time` (and any sane quota) can represent.
const MAX_EPOCH_SECONDS: f64 = 253_402_300_799.0;

/// Why a value could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValueErrorKind {
    /// The value was JSON `null`.
    #[error("value is null")]
    Null,
    /// The value was an empty (or all-blank) string.
    #[error("value is an empty string")]
    Empty,
    /// The value had a JSON type that cannot hold what was expected.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What was expected (`a number`, `a timestamp`).
        expected: &'static str,
        /// The JSON type found (`a boolean`, `an array`, `an object`).
        found: &'static str,
    },
    /// A string that is not a decimal number.
    #[error("not a number: {0:?}")]
    NotANumber(String),
    /// A number too large to represent (`1e999`).
    #[error("not a finite number: {0:?}")]
    NotFinite(String),
    /// A time unit other than SECOND, MINUTE, HOUR (or HOURE) and DAY.
    #[error("unknown time unit {0:?}: expected SECOND, MINUTE, HOUR (or HOURE) or DAY")]
    UnknownTimeUnit(String),
    /// A string that is neither a supported date-time nor a Unix epoch.
    #[error("not a timestamp: {raw:?} ({why})")]
    NotATimestamp {
        /// The offending text (truncated).
        raw: String,
        /// What was wrong with it.
        why: &'static str,
    },
}

/// The first [`EXCERPT_CHARS`] characters of `s`, so one absurd value cannot bloat logs.
fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// Trims whitespace and the trailing commas upstream leaves inside strings (`"4,"`).
fn strip_quirks(s: &str) -> &str {
    s.trim_end_matches(|c: char| c == ',' || c.is_whitespace())
        .trim_start()
}

/// The JSON type of `v`, phrased for an error message.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads a quota figure: a JSON number or a numeric string.
///
/// Strings may carry surrounding whitespace (`" 40 "`), trailing commas (`"4,"`), strict
/// digit grouping (`"1,000"`), decimals and exponents. Negative values pass through (some
/// clouds use -1 for unlimited). `null`, booleans, arrays, objects, empty strings,
/// non-finite values and anything else (`"4a"`, `"--1"`, `"0x10"`, `"4,5"`) are errors.
pub fn parse_number(v: &Value) -> Result<f64, ValueErrorKind> {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(normalise_zero(f)),
            Some(_) => Err(ValueErrorKind::NotFinite(excerpt(&n.to_string()))),
            None => Err(ValueErrorKind::NotANumber(excerpt(&n.to_string()))),
        },
        Value::String(s) => parse_number_str(s),
        Value::Null => Err(ValueErrorKind::Null),
        other => Err(ValueErrorKind::WrongType {
            expected: "a number",
            found: json_kind(other),
        }),
    }
}

/// Reads a quota figure from text; the string half of [`parse_number`].
pub fn parse_number_str(s: &str) -> Result<f64, ValueErrorKind> {
    let t = strip_quirks(s);
    if t.is_empty() {
        return Err(ValueErrorKind::Empty);
    }
    let canonical = canonical_numeral(t).ok_or_else(|| ValueErrorKind::NotANumber(excerpt(s)))?;
    let f: f64 = canonical
        .parse()
        .map_err(|_| ValueErrorKind::NotANumber(excerpt(s)))?;
    if f.is_finite() {
        Ok(normalise_zero(f))
    } else {
        Err(ValueErrorKind::NotFinite(excerpt(s)))
    }
}

/// `-0` would render as `-0` in the exposition; nobody means that.
fn normalise_zero(f: f64) -> f64 {
    if f == 0.0 { 0.0 } else { f }
}

/// Checks `t` against `[+-]? int? (. digits)? ([eE][+-]?digits)?` where `int` is plain
/// digits or strictly grouped `\d{1,3}(,\d{3})+`, and returns it without the grouping
/// commas. A hand-written scanner rather than `f64::from_str` alone, because that accepts
/// `inf`, `NaN` and `infinity`, and knows nothing of grouping.
fn canonical_numeral(t: &str) -> Option<String> {
    let b = t.as_bytes();
    let mut i = 0;
    let mut out = String::with_capacity(b.len());
    if let Some(&sign @ (b'+' | b'-')) = b.first() {
        if sign == b'-' {
            out.push('-');
        }
        i = 1;
    }
    let int_start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b',') {
        i += 1;
    }
    let int = &t[int_start..i];
    if int.contains(',') {
        // Only the unambiguous thousands form: "4,5" might be a European decimal.
        let mut groups = int.split(',');
        let first = groups.next()?;
        if first.is_empty() || first.len() > 3 || groups.clone().any(|g| g.len() != 3) {
            return None;
        }
    }
    let int_digits: String = int.chars().filter(|c| *c != ',').collect();
    let mut frac = "";
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac = &t[frac_start..i];
    }
    if int_digits.is_empty() && frac.is_empty() {
        return None;
    }
    out.push_str(if int_digits.is_empty() {
        "0"
    } else {
        &int_digits
    });
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        out.push('e');
        if let Some(&sign @ (b'+' | b'-')) = b.get(i) {
            out.push(char::from(sign));
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
        out.push_str(&t[exp_start..i]);
    }
    (i == b.len()).then_some(out)
}

/// Normalises a resource type or name to a label value: trimmed, trailing commas removed,
/// lower-case, every character outside `[a-z0-9_]` turned into `_`, runs of `_` collapsed
/// and `_` trimmed from both ends (`"instance,"` -> `instance`, `"CHANNEL_SUBSCRIPTION"` ->
/// `channel_subscription`, `"private-endpoint"` -> `private_endpoint`). `None` when nothing
/// usable is left.
pub fn parse_resource_name(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    for c in strip_quirks(s).chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        };
        // Collapsing keeps "a - b" from becoming "a___b".
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    (!out.is_empty()).then_some(out)
}

/// The unit of a ROMA Connect client quota window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// `SECOND`.
    Second,
    /// `MINUTE`.
    Minute,
    /// `HOUR`; the API documents it as `HOURE`, the SDK enum as `HOUR`.
    Hour,
    /// `DAY`.
    Day,
}

impl TimeUnit {
    /// Reads a unit, case-insensitive and trimmed; `HOURE` (the documented spelling) is
    /// [`TimeUnit::Hour`].
    pub fn parse(s: &str) -> Result<Self, ValueErrorKind> {
        let t = strip_quirks(s);
        if t.is_empty() {
            return Err(ValueErrorKind::Empty);
        }
        let unit = match t.to_ascii_uppercase().as_str() {
            "SECOND" => TimeUnit::Second,
            "MINUTE" => TimeUnit::Minute,
            "HOUR" | "HOURE" => TimeUnit::Hour,
            "DAY" => TimeUnit::Day,
            _ => return Err(ValueErrorKind::UnknownTimeUnit(excerpt(s))),
        };
        Ok(unit)
    }

    /// Length of one unit in seconds.
    pub fn seconds(self) -> f64 {
        match self {
            TimeUnit::Second => 1.0,
            TimeUnit::Minute => 60.0,
            TimeUnit::Hour => 3_600.0,
            TimeUnit::Day => 86_400.0,
        }
    }

    /// The normalised upper-case name (`HOUR`, also for upstream `HOURE`).
    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Second => "SECOND",
            TimeUnit::Minute => "MINUTE",
            TimeUnit::Hour => "HOUR",
            TimeUnit::Day => "DAY",
        }
    }
}

/// Reads a timestamp from text as Unix seconds (fractional).
///
/// Accepted: `2020-09-20 00:00:00` (no zone means UTC); Go's `time.String()` forms
/// `2020-09-20 00:00:00 +0000 +0000`, `2020-09-20 08:00:00.5 +0800 CST` (the abbreviation
/// and a trailing `m=+0.1` monotonic reading are ignored, the numeric offset wins);
/// RFC 3339 `2020-09-19T07:27:47Z`, `2020-09-19T15:27:47.60571141+08:00`, also with
/// `+0800`, `+08` or `UTC`; and a plain Unix epoch in seconds (milliseconds above 1e11).
pub fn parse_timestamp(s: &str) -> Result<f64, ValueErrorKind> {
    let t = strip_quirks(s);
    if t.is_empty() {
        return Err(ValueErrorKind::Empty);
    }
    let bad = |why| ValueErrorKind::NotATimestamp {
        raw: excerpt(s),
        why,
    };
    let b = t.as_bytes();
    if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
        return parse_date_time(t).map_err(bad);
    }
    match parse_number_str(t) {
        Ok(n) => epoch_seconds(n).map_err(bad),
        Err(_) => Err(bad(
            "expected a date like 2020-09-20 00:00:00, an RFC 3339 time or a Unix epoch",
        )),
    }
}

/// Reads a timestamp from JSON: a string as in [`parse_timestamp`], or a number as a Unix
/// epoch in seconds (milliseconds when above 1e11).
pub fn parse_timestamp_value(v: &Value) -> Result<f64, ValueErrorKind> {
    match v {
        Value::String(s) => parse_timestamp(s),
        Value::Number(n) => match n.as_f64() {
            Some(f) => epoch_seconds(f).map_err(|why| ValueErrorKind::NotATimestamp {
                raw: excerpt(&n.to_string()),
                why,
            }),
            None => Err(ValueErrorKind::NotANumber(excerpt(&n.to_string()))),
        },
        Value::Null => Err(ValueErrorKind::Null),
        other => Err(ValueErrorKind::WrongType {
            expected: "a timestamp",
            found: json_kind(other),
        }),
    }
}

/// An epoch number as seconds, telling milliseconds apart by magnitude.
fn epoch_seconds(n: f64) -> Result<f64, &'static str> {
    let secs = if n.abs() > EPOCH_MILLIS_ABOVE {
        n / 1000.0
    } else {
        n
    };
    if secs.is_finite() && secs.abs() <= MAX_EPOCH_SECONDS {
        Ok(normalise_zero(secs))
    } else {
        Err("epoch out of range")
    }
}

/// A byte cursor for the date-time grammar; every method is bounds-checked.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.i += 1;
        }
        hit
    }

    /// Exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let field = self.b.get(self.i..self.i + n)?;
        let mut v = 0u32;
        for &d in field {
            if !d.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(d - b'0');
        }
        self.i += n;
        Some(v)
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    /// The next run of non-blank bytes (possibly empty).
    fn token(&mut self) -> &[u8] {
        let start = self.i;
        while self.peek().is_some_and(|c| !c.is_ascii_whitespace()) {
            self.i += 1;
        }
        &self.b[start..self.i]
    }

    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }
}

/// Parses the date-time shapes listed on [`parse_timestamp`]; `t` is already trimmed.
fn parse_date_time(t: &str) -> Result<f64, &'static str> {
    let mut c = Cursor {
        b: t.as_bytes(),
        i: 0,
    };
    let (year, month, day) = (|| {
        let y = c.digits(4)?;
        c.eat(b'-').then_some(())?;
        let m = c.digits(2)?;
        c.eat(b'-').then_some(())?;
        Some((y, m, c.digits(2)?))
    })()
    .ok_or("expected the date as YYYY-MM-DD")?;
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return Err("expected a time after the date");
    }
    c.skip_spaces();
    let (hour, minute) = (|| {
        let h = c.digits(2)?;
        c.eat(b':').then_some(())?;
        Some((h, c.digits(2)?))
    })()
    .ok_or("expected the time as hh:mm:ss")?;
    // Seconds are optional: "2020-09-20 00:00" is unambiguous.
    let second = if c.eat(b':') {
        c.digits(2).ok_or("expected two-digit seconds")?
    } else {
        0
    };
    let mut nanos = 0u32;
    if c.eat(b'.') || c.eat(b',') {
        let mut scale = 100_000_000u32;
        let start = c.i;
        while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
            // Digits beyond nanoseconds are dropped, not rounded: sub-ns is noise here.
            nanos += u32::from(d - b'0') * scale;
            scale /= 10;
            c.i += 1;
        }
        if c.i == start {
            return Err("expected digits after the decimal point");
        }
    }
    c.skip_spaces();
    let offset = parse_zone(&mut c)?;
    c.skip_spaces();
    // Go's time.String() may add the zone abbreviation ("CST", "+0000") and a monotonic
    // clock reading ("m=+0.0001"); both are redundant once the numeric offset is known.
    let mut extra = 0;
    while !c.at_end() {
        let tok = c.token();
        let is_monotonic = tok.starts_with(b"m=");
        let is_abbreviation = tok.len() <= 10
            && tok
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"+-:_".contains(b));
        extra += 1;
        if extra > 2 || !(is_monotonic || is_abbreviation) {
            return Err("unexpected text after the time");
        }
        c.skip_spaces();
    }
    let offset = offset.unwrap_or(UtcOffset::UTC);
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or("month out of range")?;
    let year = i32::try_from(year).map_err(|_| "year out of range")?;
    let day = u8::try_from(day).map_err(|_| "day out of range")?;
    let date = Date::from_calendar_date(year, month, day).map_err(|_| "day out of range")?;
    let (h, m, s) = (
        u8::try_from(hour).map_err(|_| "hour out of range")?,
        u8::try_from(minute).map_err(|_| "minute out of range")?,
        u8::try_from(second).map_err(|_| "second out of range")?,
    );
    let time = Time::from_hms_nano(h, m, s, nanos).map_err(|_| "time of day out of range")?;
    let at = PrimitiveDateTime::new(date, time).assume_offset(offset);
    // Whole seconds and nanoseconds separately keep the fraction exact up to f64 precision.
    Ok(at.unix_timestamp() as f64 + f64::from(at.nanosecond()) / 1e9)
}

/// Reads the zone right after the time: nothing (UTC), `Z`, `UTC`/`GMT`, or a numeric
/// offset `+08`, `+0800`, `+08:00`. `Ok(None)` means no zone was written; a bare
/// abbreviation other than UTC/GMT is refused because `CST` alone names three zones.
fn parse_zone(c: &mut Cursor<'_>) -> Result<Option<UtcOffset>, &'static str> {
    match c.peek() {
        None => Ok(None),
        Some(b'Z' | b'z') => {
            c.i += 1;
            Ok(Some(UtcOffset::UTC))
        }
        Some(sign @ (b'+' | b'-')) => {
            c.i += 1;
            let hours = c.digits(2).ok_or("expected the offset as +hh:mm")?;
            let colon = c.eat(b':');
            let minutes = if colon || c.peek().is_some_and(|d| d.is_ascii_digit()) {
                c.digits(2).ok_or("expected the offset as +hh:mm")?
            } else {
                0
            };
            let sign: i8 = if sign == b'-' { -1 } else { 1 };
            let hours = i8::try_from(hours).map_err(|_| "offset out of range")?;
            let minutes = i8::try_from(minutes).map_err(|_| "offset out of range")?;
            if hours > 23 || minutes > 59 {
                return Err("offset out of range");
            }
            UtcOffset::from_hms(sign * hours, sign * minutes, 0)
                .map(Some)
                .map_err(|_| "offset out of range")
        }
        Some(_) => {
            let tok = c.token();
            if tok.eq_ignore_ascii_case(b"UTC") || tok.eq_ignore_ascii_case(b"GMT") {
                Ok(Some(UtcOffset::UTC))
            } else {
                Err("a zone name without a numeric offset is ambiguous")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// 2020-09-20T00:00:00Z, the reset time in the seed examples.
    const RESET: f64 = 1_600_560_000.0;
    /// 2020-09-19T07:27:47Z, the create time in the seed examples.
    const CREATED: f64 = 1_600_500_467.0;

    #[test]
    fn parse_number_table() {
        use ValueErrorKind as K;
        let nan = |s: &str| Err(K::NotANumber(s.to_owned()));
        let rows: Vec<(Value, Result<f64, ValueErrorKind>)> = vec![
            // JSON numbers.
            (json!(50), Ok(50.0)),
            (json!(0), Ok(0.0)),
            (json!(-1), Ok(-1.0)),
            (json!(2.5), Ok(2.5)),
            (json!(9_007_199_254_740_993u64), Ok(9_007_199_254_740_992.0)),
            (json!(u64::MAX), Ok(u64::MAX as f64)),
            (json!(-0.0), Ok(0.0)),
            // Numbers as strings (livedata-quota).
            (json!("10000"), Ok(10_000.0)),
            (json!("0"), Ok(0.0)),
            (json!("007"), Ok(7.0)),
            // Whitespace and trailing commas (GaussDB "4,").
            (json!(" 40 "), Ok(40.0)),
            (json!("\t40\n"), Ok(40.0)),
            (json!("4,"), Ok(4.0)),
            (json!("4,,"), Ok(4.0)),
            (json!(" 4 , "), Ok(4.0)),
            // Strict digit grouping only.
            (json!("1,000"), Ok(1_000.0)),
            (json!("12,345,678"), Ok(12_345_678.0)),
            (json!("-1,000.5"), Ok(-1_000.5)),
            (json!("1,000,"), Ok(1_000.0)),
            (json!("4,5"), nan("4,5")),
            (json!("1,00"), nan("1,00")),
            (json!("1,0000"), nan("1,0000")),
            (json!("1234,567"), nan("1234,567")),
            (json!(",100"), nan(",100")),
            (json!("1,,000"), nan("1,,000")),
            // Decimals, exponents and signs.
            (json!("2.5"), Ok(2.5)),
            (json!(".5"), Ok(0.5)),
            (json!("5."), Ok(5.0)),
            (json!("1e3"), Ok(1_000.0)),
            (json!("1.5E-2"), Ok(0.015)),
            (json!("+7"), Ok(7.0)),
            (json!("-1"), Ok(-1.0)),
            (json!("-0"), Ok(0.0)),
            (json!("1e"), nan("1e")),
            (json!("1e+"), nan("1e+")),
            (json!("."), nan(".")),
            (json!("+"), nan("+")),
            (json!("-"), nan("-")),
            // Garbage.
            (json!("4a"), nan("4a")),
            (json!("--1"), nan("--1")),
            (json!("+-1"), nan("+-1")),
            (json!("0x10"), nan("0x10")),
            (json!("1 000"), nan("1 000")),
            (json!("1_000"), nan("1_000")),
            (json!("١٢"), nan("١٢")),
            (json!("½"), nan("½")),
            (json!("unlimited"), nan("unlimited")),
            // Non-finite values are never figures.
            (json!("NaN"), nan("NaN")),
            (json!("inf"), nan("inf")),
            (json!("-Infinity"), nan("-Infinity")),
            (json!("1e999"), Err(K::NotFinite("1e999".to_owned()))),
            (json!("-1e400"), Err(K::NotFinite("-1e400".to_owned()))),
            // Nothing to read.
            (json!(""), Err(K::Empty)),
            (json!("   "), Err(K::Empty)),
            (json!(","), Err(K::Empty)),
            (json!(null), Err(K::Null)),
            (
                json!(true),
                Err(K::WrongType {
                    expected: "a number",
                    found: "a boolean",
                }),
            ),
            (
                json!([1]),
                Err(K::WrongType {
                    expected: "a number",
                    found: "an array",
                }),
            ),
            (
                json!({"v": 1}),
                Err(K::WrongType {
                    expected: "a number",
                    found: "an object",
                }),
            ),
        ];
        assert!(rows.len() >= 30);
        for (input, want) in rows {
            assert_eq!(parse_number(&input), want, "input {input}");
        }
    }

    #[test]
    fn error_messages_are_human() {
        assert_eq!(
            parse_number(&json!("4a")).unwrap_err().to_string(),
            "not a number: \"4a\""
        );
        assert_eq!(
            parse_number(&json!(false)).unwrap_err().to_string(),
            "expected a number, found a boolean"
        );
        assert_eq!(
            TimeUnit::parse("WEEK").unwrap_err().to_string(),
            "unknown time unit \"WEEK\": expected SECOND, MINUTE, HOUR (or HOURE) or DAY"
        );
        assert_eq!(
            parse_timestamp("2020-02-30 00:00:00")
                .unwrap_err()
                .to_string(),
            "not a timestamp: \"2020-02-30 00:00:00\" (day out of range)"
        );
        // A huge input is cut short in the message.
        let long = "9".repeat(500) + "x";
        let msg = parse_number_str(&long).unwrap_err().to_string();
        assert!(msg.len() < 100, "{msg}");
        assert!(msg.ends_with("…\""), "{msg}");
    }

    #[test]
    fn resource_names() {
        let rows = [
            ("instance,", Some("instance")),
            ("instance", Some("instance")),
            ("CHANNEL_SUBSCRIPTION", Some("channel_subscription")),
            ("  Source_RabbitMQ  ", Some("source_rabbitmq")),
            ("private-endpoint", Some("private_endpoint")),
            ("schema.version", Some("schema_version")),
            ("a - b", Some("a_b")),
            ("_x_", Some("x")),
            ("db2", Some("db2")),
            ("Größe", Some("gr_e")),
            ("", None),
            ("   ", None),
            (",", None),
            ("-_-", None),
        ];
        for (input, want) in rows {
            assert_eq!(
                parse_resource_name(input).as_deref(),
                want,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn time_units() {
        let rows = [
            ("SECOND", Some((TimeUnit::Second, 1.0, "SECOND"))),
            ("minute", Some((TimeUnit::Minute, 60.0, "MINUTE"))),
            ("HOUR", Some((TimeUnit::Hour, 3_600.0, "HOUR"))),
            ("HOURE", Some((TimeUnit::Hour, 3_600.0, "HOUR"))),
            (" houre ", Some((TimeUnit::Hour, 3_600.0, "HOUR"))),
            ("Day", Some((TimeUnit::Day, 86_400.0, "DAY"))),
            ("DAY,", Some((TimeUnit::Day, 86_400.0, "DAY"))),
            ("DAYS", None),
            ("WEEK", None),
            ("H", None),
            ("", None),
        ];
        for (input, want) in rows {
            let got = TimeUnit::parse(input)
                .ok()
                .map(|u| (u, u.seconds(), u.as_str()));
            assert_eq!(got, want, "input {input:?}");
        }
        assert_eq!(TimeUnit::parse(""), Err(ValueErrorKind::Empty));
    }

    #[test]
    fn timestamp_table() {
        let rows: [(&str, Option<f64>); 40] = [
            // Every shape seen upstream.
            ("2020-09-20 00:00:00", Some(RESET)),
            ("2020-09-20 00:00:00 +0000 +0000", Some(RESET)),
            ("2020-09-20 08:00:00 +0800 CST", Some(RESET)),
            ("2020-09-20 08:00:00.5 +0800 CST", Some(RESET + 0.5)),
            (
                "2020-09-20 08:00:00.123456789 +0800 CST m=+0.000012345",
                Some(RESET + 0.123_456_789),
            ),
            ("2020-09-20 00:00:00 +0000 UTC", Some(RESET)),
            ("2020-09-19 23:00:00 -0100 -01", Some(RESET)),
            ("2020-09-19T07:27:47Z", Some(CREATED)),
            ("2020-09-19t07:27:47z", Some(CREATED)),
            (
                "2020-09-19T15:27:47.60571141+08:00",
                Some(CREATED + 0.605_711_41),
            ),
            (
                "2020-09-19T15:27:47.605711410+08:00",
                Some(CREATED + 0.605_711_41),
            ),
            ("2020-09-19T15:27:47+0800", Some(CREATED)),
            ("2020-09-19T15:27:47+08", Some(CREATED)),
            ("2020-09-19T03:57:47-03:30", Some(CREATED)),
            (
                "2020-09-19T07:27:47.1234567891234Z",
                Some(CREATED + 0.123_456_789),
            ),
            ("2020-09-19T07:27:47", Some(CREATED)),
            ("2020-09-19T07:27:47 UTC", Some(CREATED)),
            ("2020-09-19 07:27", Some(CREATED - 47.0)),
            ("  2020-09-20 00:00:00 , ", Some(RESET)),
            ("1970-01-01T00:00:00Z", Some(0.0)),
            ("2020-02-29 00:00:00", Some(1_582_934_400.0)),
            // Epochs as text.
            ("1600560000", Some(RESET)),
            ("1600560000000", Some(RESET)),
            ("1600560000.25", Some(RESET + 0.25)),
            // Garbage and impossible dates.
            ("2020-09-20", None),
            ("2020-9-20 00:00:00", None),
            ("2020-09-20 0:00:00", None),
            ("2020-13-01 00:00:00", None),
            ("2021-02-29 00:00:00", None),
            ("2020-09-20 24:00:00", None),
            ("2020-09-20 00:60:00", None),
            ("2020-09-20 00:00:60", None),
            ("2020-09-20 00:00:00 CST", None),
            ("2020-09-20 00:00:00 +2500", None),
            ("2020-09-20 00:00:00.", None),
            ("2020-09-20 00:00:00 +0000 +0000 extra words", None),
            ("2020-09-20 00:00:00 +0000 !!", None),
            ("yesterday", None),
            ("1e300", None),
            ("", None),
        ];
        for (input, want) in rows {
            let got = parse_timestamp(input).ok();
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-6, "{input:?}: {g} != {w}"),
                (g, w) => assert_eq!(g, w, "input {input:?}"),
            }
        }
    }

    #[test]
    fn timestamp_values() {
        assert_eq!(parse_timestamp_value(&json!(1_600_560_000)), Ok(RESET));
        assert_eq!(
            parse_timestamp_value(&json!(1_600_560_000_000u64)),
            Ok(RESET)
        );
        assert_eq!(
            parse_timestamp_value(&json!(1_600_560_000.5)),
            Ok(RESET + 0.5)
        );
        assert_eq!(
            parse_timestamp_value(&json!("2020-09-20 00:00:00 +0000 +0000")),
            Ok(RESET)
        );
        assert_eq!(
            parse_timestamp_value(&json!(null)),
            Err(ValueErrorKind::Null)
        );
        assert!(parse_timestamp_value(&json!(1e300)).is_err());
        assert!(parse_timestamp_value(&json!(true)).is_err());
        assert!(parse_timestamp_value(&json!({"t": 1})).is_err());
        assert_eq!(
            parse_timestamp_value(&json!("")),
            Err(ValueErrorKind::Empty)
        );
    }

    /// One edit of a timestamp: what to do, where (modulo the length at that point), and
    /// which character of the alphabet.
    fn timestamp_edit() -> impl Strategy<Value = (u8, usize, usize)> {
        (0..3u8, any::<usize>(), 0..TIMESTAMP_ALPHABET.len())
    }

    /// Characters the timestamp mutations insert.
    const TIMESTAMP_ALPHABET: &[char] = &[
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '-', '+', ':', '.', ' ', 'T', 'Z', 'z',
        'm', '=', 'C', 'S', 'T', 'é',
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]

        #[test]
        fn generated_strings_never_panic_and_keep_invariants(s in "[0-9,. +\\-eExaZT:inf]{0,12}") {
            if let Ok(f) = parse_number_str(&s) {
                assert!(f.is_finite(), "{s:?} gave {f}");
            }
            // Without grouping commas and blanks the scanner must agree with the standard
            // parser on every finite number.
            if !s.contains([',', ' ']) {
                let std = s
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && !s.contains(['i', 'n', 'f', 'a']));
                assert_eq!(parse_number_str(&s).ok(), std, "input {s:?}");
            }
            let _ = parse_number(&Value::String(s.clone()));
            if let Some(name) = parse_resource_name(&s) {
                assert!(!name.is_empty());
                assert!(
                    name.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{name:?}"
                );
                assert!(!name.starts_with('_') && !name.ends_with('_') && !name.contains("__"));
            }
            let _ = TimeUnit::parse(&s);
            if let Ok(t) = parse_timestamp(&s) {
                assert!(
                    t.is_finite() && t.abs() <= MAX_EPOCH_SECONDS,
                    "{s:?} gave {t}"
                );
            }
        }

        #[test]
        fn mutated_timestamps_never_panic(
            seed in prop::sample::select(&[
                "2020-09-20 00:00:00 +0000 +0000",
                "2020-09-19T15:27:47.60571141+08:00",
                "2020-09-20 08:00:00.123 +0800 CST m=+0.1",
            ][..]),
            edits in proptest::collection::vec(timestamp_edit(), 1..=3),
        ) {
            let mut chars: Vec<char> = seed.chars().collect();
            for (kind, at, c) in edits {
                let at = at % (chars.len() + 1);
                let c = TIMESTAMP_ALPHABET[c];
                match kind {
                    0 if at < chars.len() => chars[at] = c,
                    1 => chars.insert(at, c),
                    _ => chars.truncate(at),
                }
            }
            let s: String = chars.into_iter().collect();
            if let Ok(t) = parse_timestamp(&s) {
                assert!(t.is_finite(), "{s:?} gave {t}");
            }
        }
    }
}
