//! The persistence file format: pure encode and decode, no I/O.
//!
//! A small binary encoding rather than JSON. The file is read at every start before the
//! exporter is ready and written every minute, and 100,000 series are mostly short
//! strings and `f64`s: as JSON every value would be printed and parsed as decimal text
//! and every field named on every target (2.5 times the bytes, and ten times the time
//! just to parse it: 71 ms against 6.6 ms to decode this format at 100,000 series, see
//! `benches/persistence.rs`), while here a value is its 8 bytes and a string its length
//! and bytes. JSON's one advantage, being readable, matters little
//! for a cache that is thrown away whenever it is in doubt. And a header with a magic,
//! a version and a CRC-32 turns a foreign, newer, truncated or corrupt file into a
//! definite reason, where JSON would only give a parse error somewhere in the middle.
//!
//! Layout (integers little-endian):
//! ```text
//! header   magic "HWCQSTAT" (8) | version u16 | flags u16 (0) | payload length u64 | CRC-32 of payload u32
//! payload  written_at time | target count varint | target...
//! target   key str | bits u8 (1: last_success, 2: data, 4: error) | [last_success time]
//!          | finished_at time | duration nanos u64 | value_errors varint | [error] | [data]
//! error    code (tag u8 [str | u16]) | status u16 (0: none) | message str | request_id (u8 0/1 [str])
//! data     resources varint, each: resource str | values
//!          clients varint, each: app_quota_id str | name str | time_unit str | remark str | values
//!          value_errors varint, each: field str | raw str | reason str
//! values   presence bits u8 | each present value f64 (8 bytes, bit-exact)
//! time     nanoseconds since the Unix epoch, u64
//! str      length varint | UTF-8 bytes
//! ```
//! Only what a restart needs is kept: no project settings, no credential, nothing from
//! the config (the running config supplies those), so the file never holds a secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::outcome::{ErrorCode, PollError};
use crate::model::poll::{ClientQuota, PollOutput, ResourceQuota, ValueError};
use crate::store::{PollRecord, RestoredTarget, TargetStatus};

/// The first 8 bytes of every persistence file.
pub const MAGIC: [u8; 8] = *b"HWCQSTAT";

/// The format version this build writes and reads.
pub const VERSION: u16 = 1;

/// Bytes before the payload.
pub const HEADER_LEN: usize = 24;

/// Why a file could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Nothing in it.
    #[error("the file is empty")]
    Empty,
    /// It does not start with [`MAGIC`].
    #[error("not a state file of this exporter (it does not start with `HWCQSTAT`)")]
    Foreign,
    /// Written by a newer build.
    #[error(
        "written in format {0} by a newer version of the exporter; this one reads format {VERSION}"
    )]
    Newer(u16),
    /// An older format this build does not read.
    #[error("written in format {0}, which this version does not read (it reads format {VERSION})")]
    Unsupported(u16),
    /// Shorter than its header says (a crash while writing it without the atomic rename,
    /// or a copy cut short).
    #[error("truncated: {have} bytes where the header promises {want}")]
    Truncated {
        /// Bytes present.
        have: u64,
        /// Bytes the header promises.
        want: u64,
    },
    /// Longer than its header says.
    #[error("{0} bytes after the end its header gives")]
    Trailing(u64),
    /// The payload does not match its checksum.
    #[error("checksum mismatch: the file is corrupt")]
    Checksum,
    /// The payload matches its checksum but does not decode (a bug, or a forged file).
    #[error("corrupt: {0}")]
    Corrupt(&'static str),
}

/// What a file held.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// When it was written.
    pub written_at: SystemTime,
    /// Every target it kept, in key order.
    pub targets: Vec<RestoredTarget>,
}

/// Encodes every target that has a poll result (the others have nothing to keep).
pub fn encode(targets: &[TargetStatus], written_at: SystemTime) -> Vec<u8> {
    // About 40 bytes per value and 200 per target is a little above the usual size, so the
    // buffer is allocated once.
    let estimate: usize = targets
        .iter()
        .map(|t| {
            200 + t
                .data
                .as_ref()
                .map_or(0, |d| 40 * (d.resources.len() * 2 + d.clients.len() * 6))
        })
        .sum();
    let mut w = Vec::with_capacity(HEADER_LEN + 16 + estimate);
    w.extend_from_slice(&[0; HEADER_LEN]);
    put_time(&mut w, written_at);
    let kept: Vec<(&TargetStatus, &PollRecord)> = targets
        .iter()
        .filter_map(|t| t.last_poll.as_ref().map(|p| (t, p)))
        .collect();
    put_varint(&mut w, kept.len() as u64);
    for (t, poll) in kept {
        put_str(&mut w, &t.target.key);
        let bits = u8::from(t.last_success.is_some())
            | u8::from(t.data.is_some()) << 1
            | u8::from(poll.error.is_some()) << 2;
        w.push(bits);
        if let Some(ts) = t.last_success {
            put_time(&mut w, ts);
        }
        put_time(&mut w, poll.finished_at);
        w.extend_from_slice(&nanos(poll.duration).to_le_bytes());
        put_varint(&mut w, poll.value_errors as u64);
        if let Some(e) = &poll.error {
            put_error(&mut w, e);
        }
        if let Some(d) = &t.data {
            put_output(&mut w, d);
        }
    }
    let payload_len = (w.len() - HEADER_LEN) as u64;
    let crc = crc32fast::hash(&w[HEADER_LEN..]);
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    header[8..10].copy_from_slice(&VERSION.to_le_bytes());
    // 10..12: flags, none defined.
    header[12..20].copy_from_slice(&payload_len.to_le_bytes());
    header[20..24].copy_from_slice(&crc.to_le_bytes());
    w[..HEADER_LEN].copy_from_slice(&header);
    w
}

/// Decodes a whole file, checking magic, version, length and checksum first.
pub fn decode(bytes: &[u8]) -> Result<Decoded, FormatError> {
    if bytes.is_empty() {
        return Err(FormatError::Empty);
    }
    let magic_len = bytes.len().min(MAGIC.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return Err(FormatError::Foreign);
    }
    let truncated = |want: u64| FormatError::Truncated {
        have: bytes.len() as u64,
        want,
    };
    let Some(header) = bytes.get(..HEADER_LEN) else {
        return Err(truncated(HEADER_LEN as u64));
    };
    let mut h = Reader::new(&header[8..]);
    let version = h.u16()?;
    if version > VERSION {
        return Err(FormatError::Newer(version));
    }
    if version < VERSION {
        return Err(FormatError::Unsupported(version));
    }
    if h.u16()? != 0 {
        return Err(FormatError::Corrupt("unknown header flags"));
    }
    let payload_len = h.u64()?;
    let crc = h.u32()?;
    let want = (HEADER_LEN as u64).saturating_add(payload_len);
    let have = bytes.len() as u64;
    if have < want {
        return Err(truncated(want));
    }
    if have > want {
        return Err(FormatError::Trailing(have - want));
    }
    let payload = &bytes[HEADER_LEN..];
    if crc32fast::hash(payload) != crc {
        return Err(FormatError::Checksum);
    }
    decode_payload(payload)
}

fn decode_payload(payload: &[u8]) -> Result<Decoded, FormatError> {
    let mut r = Reader::new(payload);
    let written_at = r.time()?;
    let count = r.count()?;
    let mut targets = Vec::with_capacity(count);
    for _ in 0..count {
        let key = r.str()?;
        let bits = r.u8()?;
        if bits & !0b111 != 0 {
            return Err(FormatError::Corrupt("unknown target bits"));
        }
        let last_success = if bits & 1 != 0 { Some(r.time()?) } else { None };
        let finished_at = r.time()?;
        let duration = Duration::from_nanos(r.u64()?);
        let value_errors = usize::try_from(r.varint()?)
            .map_err(|_| FormatError::Corrupt("value error count too large"))?;
        let error = if bits & 4 != 0 {
            Some(r.error()?)
        } else {
            None
        };
        let data = if bits & 2 != 0 {
            Some(r.output()?)
        } else {
            None
        };
        targets.push(RestoredTarget {
            key,
            last_poll: PollRecord {
                finished_at,
                duration,
                error: error.map(Box::new),
                value_errors,
            },
            last_success,
            data,
        });
    }
    if !r.rest().is_empty() {
        return Err(FormatError::Corrupt("bytes after the last target"));
    }
    Ok(Decoded {
        written_at,
        targets,
    })
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn put_time(w: &mut Vec<u8>, t: SystemTime) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    w.extend_from_slice(&nanos(since).to_le_bytes());
}

fn put_varint(w: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        w.push((v as u8) | 0x80);
        v >>= 7;
    }
    w.push(v as u8);
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    put_varint(w, s.len() as u64);
    w.extend_from_slice(s.as_bytes());
}

fn put_values(w: &mut Vec<u8>, values: [Option<f64>; 4]) {
    let mut bits = 0u8;
    for (i, v) in values.iter().enumerate() {
        if v.is_some() {
            bits |= 1 << i;
        }
    }
    w.push(bits);
    for v in values.into_iter().flatten() {
        w.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

fn put_error(w: &mut Vec<u8>, e: &PollError) {
    // Every variant has its own tag; the match is exhaustive so a new code cannot be
    // forgotten here (or in `Reader::error`).
    match &e.code {
        ErrorCode::Upstream(code) => {
            w.push(0);
            put_str(w, code);
        }
        ErrorCode::Status(s) => {
            w.push(1);
            w.extend_from_slice(&s.to_le_bytes());
        }
        ErrorCode::Timeout => w.push(2),
        ErrorCode::Connect => w.push(3),
        ErrorCode::Http => w.push(4),
        ErrorCode::Decode => w.push(5),
        ErrorCode::BodyTooLarge => w.push(6),
        ErrorCode::Auth => w.push(7),
        ErrorCode::Iam => w.push(8),
        ErrorCode::ParseValue => w.push(9),
        ErrorCode::TooManyItems => w.push(10),
        ErrorCode::Config => w.push(11),
        ErrorCode::Encode => w.push(12),
        ErrorCode::Shutdown => w.push(13),
        ErrorCode::Tls => w.push(14),
    }
    w.extend_from_slice(&e.status.unwrap_or(0).to_le_bytes());
    put_str(w, &e.message);
    match &e.request_id {
        Some(id) => {
            w.push(1);
            put_str(w, id);
        }
        None => w.push(0),
    }
}

fn put_output(w: &mut Vec<u8>, d: &PollOutput) {
    put_varint(w, d.resources.len() as u64);
    for r in &d.resources {
        put_str(w, &r.resource);
        put_values(w, [r.limit, r.used, r.limit_max, r.limit_min]);
    }
    put_varint(w, d.clients.len() as u64);
    for c in &d.clients {
        put_str(w, &c.app_quota_id);
        put_str(w, &c.name);
        put_str(w, &c.time_unit);
        put_str(w, &c.remark);
        put_values(
            w,
            [
                c.call_limit,
                c.window_seconds,
                c.bound_apps,
                c.reset_timestamp,
            ],
        );
    }
    put_varint(w, d.value_errors.len() as u64);
    for v in &d.value_errors {
        put_str(w, &v.field);
        put_str(w, &v.raw);
        put_str(w, &v.reason);
    }
}

/// Reads the payload; every read is bounds-checked and ends in an error, never a panic.
struct Reader<'a> {
    rest: &'a [u8],
}

const SHORT: FormatError = FormatError::Corrupt("a field runs past the end");

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    fn rest(&self) -> &'a [u8] {
        self.rest
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.rest.len() < n {
            return Err(SHORT);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64, FormatError> {
        Ok(f64::from_bits(self.u64()?))
    }

    fn time(&mut self) -> Result<SystemTime, FormatError> {
        UNIX_EPOCH
            .checked_add(Duration::from_nanos(self.u64()?))
            .ok_or(FormatError::Corrupt("time out of range"))
    }

    fn varint(&mut self) -> Result<u64, FormatError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(FormatError::Corrupt("varint too long"))
    }

    /// A count of items that each take at least one byte: never more than the bytes left,
    /// so a bad count cannot make a huge allocation.
    fn count(&mut self) -> Result<usize, FormatError> {
        let n = self.varint()?;
        if n > self.rest.len() as u64 {
            return Err(FormatError::Corrupt("count larger than the file"));
        }
        Ok(n as usize)
    }

    fn str(&mut self) -> Result<String, FormatError> {
        let n = self.count()?;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| FormatError::Corrupt("text is not UTF-8"))
    }

    fn values(&mut self) -> Result<[Option<f64>; 4], FormatError> {
        let bits = self.u8()?;
        if bits & !0b1111 != 0 {
            return Err(FormatError::Corrupt("unknown value bits"));
        }
        let mut out = [None; 4];
        for (i, slot) in out.iter_mut().enumerate() {
            if bits & (1 << i) != 0 {
                *slot = Some(self.f64()?);
            }
        }
        Ok(out)
    }

    fn error(&mut self) -> Result<PollError, FormatError> {
        let code = match self.u8()? {
            0 => ErrorCode::Upstream(self.str()?),
            1 => ErrorCode::Status(self.u16()?),
            2 => ErrorCode::Timeout,
            3 => ErrorCode::Connect,
            4 => ErrorCode::Http,
            5 => ErrorCode::Decode,
            6 => ErrorCode::BodyTooLarge,
            7 => ErrorCode::Auth,
            8 => ErrorCode::Iam,
            9 => ErrorCode::ParseValue,
            10 => ErrorCode::TooManyItems,
            11 => ErrorCode::Config,
            12 => ErrorCode::Encode,
            13 => ErrorCode::Shutdown,
            14 => ErrorCode::Tls,
            _ => return Err(FormatError::Corrupt("unknown error code")),
        };
        let status = Some(self.u16()?).filter(|s| *s != 0);
        let message = self.str()?;
        let request_id = match self.u8()? {
            0 => None,
            1 => Some(self.str()?),
            _ => return Err(FormatError::Corrupt("bad request id marker")),
        };
        Ok(PollError {
            code,
            status,
            message,
            request_id,
        })
    }

    fn output(&mut self) -> Result<PollOutput, FormatError> {
        let n = self.count()?;
        let mut resources = Vec::with_capacity(n);
        for _ in 0..n {
            let resource = self.str()?;
            let [limit, used, limit_max, limit_min] = self.values()?;
            resources.push(ResourceQuota {
                resource,
                limit,
                used,
                limit_max,
                limit_min,
            });
        }
        let n = self.count()?;
        let mut clients = Vec::with_capacity(n);
        for _ in 0..n {
            let app_quota_id = self.str()?;
            let name = self.str()?;
            let time_unit = self.str()?;
            let remark = self.str()?;
            let [call_limit, window_seconds, bound_apps, reset_timestamp] = self.values()?;
            clients.push(ClientQuota {
                app_quota_id,
                name,
                time_unit,
                remark,
                call_limit,
                window_seconds,
                bound_apps,
                reset_timestamp,
            });
        }
        let n = self.count()?;
        let mut value_errors = Vec::with_capacity(n);
        for _ in 0..n {
            value_errors.push(ValueError {
                field: self.str()?,
                raw: self.str()?,
                reason: self.str()?,
            });
        }
        Ok(PollOutput {
            resources,
            clients,
            value_errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::target::Target;

    fn targets() -> Vec<Arc<Target>> {
        crate::store::tests::targets()
    }

    /// Every kind of state: data with every value present and absent, client quotas,
    /// value errors, an upstream error with a request id, a local error, an unpolled target.
    fn statuses() -> Vec<TargetStatus> {
        let at = UNIX_EPOCH + Duration::new(1_780_000_000, 123_456_789);
        let output = PollOutput {
            resources: vec![
                ResourceQuota {
                    resource: "api".into(),
                    limit: Some(1000.0),
                    used: Some(0.1 + 0.2),
                    limit_max: None,
                    limit_min: Some(-0.0),
                },
                ResourceQuota {
                    resource: "ünïcode \"quoted\"\n".into(),
                    limit: Some(f64::MAX),
                    used: None,
                    limit_max: Some(f64::INFINITY),
                    limit_min: None,
                },
            ],
            clients: vec![ClientQuota {
                app_quota_id: "q1".into(),
                name: "n".into(),
                time_unit: "SECOND".into(),
                remark: String::new(),
                call_limit: Some(5.0),
                window_seconds: Some(1.0),
                bound_apps: None,
                reset_timestamp: Some(1.7e9),
            }],
            value_errors: vec![ValueError {
                field: "api_used".into(),
                raw: "\"4,\"".into(),
                reason: "not a number".into(),
            }],
        };
        targets()
            .into_iter()
            .enumerate()
            .map(|(i, target)| {
                let poll = |error: Option<PollError>| PollRecord {
                    finished_at: at + Duration::from_secs(i as u64),
                    duration: Duration::from_micros(1234 + i as u64),
                    error: error.map(Box::new),
                    value_errors: i,
                };
                let (last_poll, last_success, data) = match i % 4 {
                    0 => (Some(poll(None)), Some(at), Some(Arc::new(output.clone()))),
                    1 => (
                        Some(poll(Some(PollError {
                            code: ErrorCode::Upstream("APIG.0308".into()),
                            status: Some(429),
                            message: "throttled".into(),
                            request_id: Some("req-1".into()),
                        }))),
                        Some(at),
                        Some(Arc::new(PollOutput::default())),
                    ),
                    2 => (
                        Some(poll(Some(PollError::local(ErrorCode::Timeout, "slow")))),
                        None,
                        None,
                    ),
                    _ => (None, None, None),
                };
                TargetStatus {
                    target,
                    last_poll,
                    last_success,
                    data,
                }
            })
            .collect()
    }

    #[test]
    fn round_trip_keeps_everything_bit_exact() {
        let statuses = statuses();
        assert!(statuses.len() >= 4, "{}", statuses.len());
        let written_at = UNIX_EPOCH + Duration::new(1_780_000_100, 5);
        let bytes = encode(&statuses, written_at);
        let decoded = decode(&bytes).unwrap_or_else(|e| panic!("decodes: {e}"));
        assert_eq!(decoded.written_at, written_at);
        let kept: Vec<&TargetStatus> = statuses.iter().filter(|s| s.last_poll.is_some()).collect();
        assert_eq!(decoded.targets.len(), kept.len());
        for (r, s) in decoded.targets.iter().zip(kept) {
            assert_eq!(r.key, s.target.key);
            let p = s.last_poll.as_ref().unwrap_or_else(|| unreachable!());
            assert_eq!(r.last_poll.finished_at, p.finished_at);
            assert_eq!(r.last_poll.duration, p.duration);
            assert_eq!(r.last_poll.error, p.error);
            assert_eq!(r.last_poll.value_errors, p.value_errors);
            assert_eq!(r.last_success, s.last_success);
            assert_eq!(r.data.as_ref(), s.data.as_deref());
            // Bit-exact, not just equal: -0.0 stays -0.0.
            if let (Some(a), Some(b)) = (&r.data, &s.data)
                && let (Some(x), Some(y)) = (a.resources.first(), b.resources.first())
            {
                assert_eq!(x.limit_min.map(f64::to_bits), y.limit_min.map(f64::to_bits));
            }
        }
        // Encoding is deterministic.
        assert_eq!(encode(&statuses, written_at), bytes);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = encode(&statuses(), SystemTime::now());
        for n in 0..bytes.len() {
            let err = decode(&bytes[..n]).err();
            assert!(
                matches!(
                    err,
                    Some(FormatError::Empty | FormatError::Truncated { .. })
                ),
                "prefix of {n} of {} bytes: {err:?}",
                bytes.len()
            );
        }
        assert!(decode(&bytes).is_ok());
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let bytes = encode(&statuses(), SystemTime::now());
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            assert!(decode(&b).is_err(), "byte {i} flipped went unnoticed");
        }
    }

    #[test]
    fn foreign_newer_and_older_files_say_why() {
        assert_eq!(
            decode(br#"{"targets": []}"#).err(),
            Some(FormatError::Foreign)
        );
        assert_eq!(
            decode(b"HWC").err().map(|e| e.to_string()),
            Some("truncated: 3 bytes where the header promises 24".into())
        );
        let mut bytes = encode(&statuses(), SystemTime::now());
        bytes[8..10].copy_from_slice(&(VERSION + 1).to_le_bytes());
        assert_eq!(decode(&bytes).err(), Some(FormatError::Newer(VERSION + 1)));
        bytes[8..10].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(decode(&bytes).err(), Some(FormatError::Unsupported(0)));
        let mut bytes = encode(&[], SystemTime::now());
        bytes.push(0);
        assert_eq!(decode(&bytes).err(), Some(FormatError::Trailing(1)));
        assert_eq!(decode(&[]).err(), Some(FormatError::Empty));
    }
}
