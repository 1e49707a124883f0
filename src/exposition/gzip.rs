//! The gzip form of a rendered body, compressed once per render: a gzip header and the
//! body's deflate stream ended by a sync flush, kept with the body's CRC. A scrape's
//! `process_*` tail is then compressed as the final block and the CRC combined, which
//! makes one valid gzip member without recompressing the big part.

use std::io::Write as _;
use std::sync::Mutex;

use bytes::Bytes;
use flate2::Compression;

/// gzip header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// Compression level of the cached body. Level 3 is zlib's fast strategy: on a 4 MB
/// exposition it takes 4 ms where level 6 takes 10 ms, for 119 kB against 109 kB. Every
/// change pays for a compression, while the bytes only travel once per scrape.
const GZIP_LEVEL: u32 = 3;

/// A body's gzip stream, waiting for its final block.
#[derive(Debug)]
pub(super) struct GzipBody {
    /// gzip header plus the deflate stream of the body, ended by a sync flush.
    pub(super) prefix: Bytes,
    /// CRC-32 of the body.
    crc: crc32fast::Hasher,
    /// Length of the body.
    pub(super) len: usize,
    /// The last tail spliced on, and the gzip end made for it: the `process_*` tail
    /// changes about once a second, so most gzip scrapes compress nothing at all.
    end: Mutex<Option<(Bytes, Bytes)>>,
}

/// A body's gzip stream being written piece by piece, so a render never needs its whole
/// text at once.
pub(super) struct GzipStream<'a> {
    encoder: &'a mut BodyEncoder,
    crc: crc32fast::Hasher,
    len: usize,
    ok: bool,
}

impl<'a> GzipStream<'a> {
    /// A stream into `prefix` (emptied first) with a reused encoder: `reset` ends the
    /// encoder's previous stream into the empty buffer it left behind and restarts the
    /// compressor with its memory kept.
    pub(super) fn start(encoder: &'a mut BodyEncoder, mut prefix: Vec<u8>) -> Self {
        prefix.clear();
        prefix.extend_from_slice(&GZIP_HEADER);
        let ok = encoder.0.reset(prefix).is_ok();
        GzipStream {
            encoder,
            crc: crc32fast::Hasher::new(),
            len: 0,
            ok,
        }
    }

    /// Appends `piece` of the body.
    pub(super) fn push(&mut self, piece: &[u8]) {
        self.crc.update(piece);
        self.len += piece.len();
        if self.ok {
            self.ok = self.encoder.0.write_all(piece).is_ok();
        }
    }

    /// The body's gzip form, ended by a sync flush; `None` if compressing failed.
    pub(super) fn finish(self) -> Option<GzipBody> {
        if !self.ok || self.encoder.0.flush().is_err() {
            return None;
        }
        Some(GzipBody {
            prefix: Bytes::from(std::mem::take(self.encoder.0.get_mut())),
            crc: self.crc,
            len: self.len,
            end: Mutex::new(None),
        })
    }
}

impl GzipBody {
    /// Compresses `plain` with a reused encoder, writing the stream into `prefix`.
    pub(super) fn encode(plain: &[u8], encoder: &mut BodyEncoder, prefix: Vec<u8>) -> Self {
        let mut stream = GzipStream::start(encoder, prefix);
        stream.push(plain);
        // Writing to a Vec cannot fail; a failure would only lose compression, so fall
        // back to a stored (uncompressed) prefix rather than panic.
        stream.finish().unwrap_or_else(|| {
            let mut p = GZIP_HEADER.to_vec();
            p.extend_from_slice(&stored_blocks(plain));
            let mut crc = crc32fast::Hasher::new();
            crc.update(plain);
            GzipBody {
                prefix: Bytes::from(p),
                crc,
                len: plain.len(),
                end: Mutex::new(None),
            }
        })
    }

    /// The body again, inflated from the prefix (its deflate stream ends with a sync
    /// flush, so every byte of the body comes out); `None` if that fails, which would be a
    /// bug here, or the length is not the body's.
    ///
    /// Into memory mapped for it alone and unmapped when the last scrape of it is done:
    /// through the allocator, glibc's raised large-allocation threshold would keep the
    /// megabytes of every inflated copy after the first in its heap for good.
    pub(super) fn inflate(&self) -> Option<Bytes> {
        let stream = self.prefix.get(GZIP_HEADER.len()..)?;
        if self.len == 0 {
            return Some(Bytes::new());
        }
        // Room for the whole body plus a little, so the sync flush's empty block at the
        // end is consumed too.
        let mut out = memmap2::MmapMut::map_anon(self.len + 1024).ok()?;
        let mut inflater = flate2::Decompress::new(false);
        loop {
            let (read, written) = (inflater.total_in() as usize, inflater.total_out() as usize);
            if read >= stream.len() {
                break;
            }
            inflater
                .decompress(
                    stream.get(read..)?,
                    out.get_mut(written..)?,
                    flate2::FlushDecompress::Sync,
                )
                .ok()?;
            if (inflater.total_in() as usize, inflater.total_out() as usize) == (read, written) {
                break;
            }
        }
        if inflater.total_out() as usize != self.len {
            return None;
        }
        // Read-only from here on: a connection may send it by reference (see `frozen`).
        let map = out.make_read_only().ok()?;
        Some(Bytes::from_owner(super::frozen::Frozen::new(map)).slice(..self.len))
    }

    /// The prefix's buffer, when nobody else holds it any more.
    pub(super) fn into_buffer(self) -> Option<Vec<u8>> {
        self.prefix.try_into_mut().ok().map(Vec::from)
    }

    /// A complete gzip member of the body followed by `tail`, as chunks.
    pub(super) fn with_tail(&self, tail: &[u8]) -> Vec<Bytes> {
        let mut cached = self.end.lock().unwrap_or_else(|e| e.into_inner());
        let end = match &*cached {
            Some((t, end)) if t[..] == *tail => end.clone(),
            _ => {
                let end = Bytes::from(self.end_for(tail));
                *cached = Some((Bytes::copy_from_slice(tail), end.clone()));
                end
            }
        };
        drop(cached);
        vec![self.prefix.clone(), end]
    }

    /// The final deflate block holding `tail`, then the gzip trailer (CRC and length of
    /// the body and `tail` together).
    fn end_for(&self, tail: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(tail.len() / 2 + 64),
            Compression::fast(),
        );
        let mut end = if enc.write_all(tail).is_ok() {
            enc.finish().unwrap_or_else(|_| final_stored_block(tail))
        } else {
            final_stored_block(tail)
        };
        let mut crc = self.crc.clone();
        crc.update(tail);
        let total = (self.len + tail.len()) as u64;
        end.extend_from_slice(&crc.finalize().to_le_bytes());
        end.extend_from_slice(&(total as u32).to_le_bytes());
        end
    }
}

/// The compressor of the body, kept between renders: its state (window, hash chains,
/// pending output: a few hundred kB) is reset rather than allocated anew each time.
pub struct BodyEncoder(flate2::write::DeflateEncoder<Vec<u8>>);

impl Default for BodyEncoder {
    fn default() -> Self {
        BodyEncoder(flate2::write::DeflateEncoder::new(
            Vec::new(),
            Compression::new(GZIP_LEVEL),
        ))
    }
}

impl std::fmt::Debug for BodyEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyEncoder")
    }
}

/// Non-final stored deflate blocks holding `data` (fallback only).
fn stored_blocks(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 65535 * 5 + 5);
    for chunk in data.chunks(65535) {
        push_stored(&mut out, chunk, false);
    }
    out
}

/// Stored blocks holding `data`, the last one final (fallback only).
fn final_stored_block(data: &[u8]) -> Vec<u8> {
    let mut out = stored_blocks(data);
    push_stored(&mut out, &[], true);
    out
}

fn push_stored(out: &mut Vec<u8>, chunk: &[u8], last: bool) {
    let len = chunk.len() as u16;
    out.push(u8::from(last));
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(chunk);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn the_prefix_inflates_to_the_body() {
        for len in [0usize, 1, 1000, 300_000] {
            let body: Vec<u8> = (0..len).map(|i| b"abcdefgh xyz\n"[i % 13]).collect();
            let g = GzipBody::encode(&body, &mut BodyEncoder::default(), Vec::new());
            assert_eq!(g.inflate().as_deref(), Some(&body[..]), "{len} bytes");
            // A stream cut short does not pass for the body.
            if len > 0 {
                let mut cut = GzipBody::encode(&body, &mut BodyEncoder::default(), Vec::new());
                cut.prefix = cut.prefix.slice(..cut.prefix.len() - 4);
                cut.len += 1;
                assert_eq!(cut.inflate(), None, "{len} bytes");
            }
        }
    }

    #[test]
    fn spliced_gzip_is_one_valid_member() {
        let big: String = (0..20_000)
            .map(|i| format!("metric{{i=\"{i}\"}} {i}\n"))
            .collect();
        let body = GzipBody::encode(big.as_bytes(), &mut BodyEncoder::default(), Vec::new());
        for tail in ["", "process_open_fds 7\n", &"x".repeat(70_000)] {
            let gz: Vec<u8> = body.with_tail(tail.as_bytes()).concat();
            let mut d = flate2::read::GzDecoder::new(&gz[..]);
            let mut out = String::new();
            d.read_to_string(&mut out).expect("valid gzip");
            assert_eq!(out, format!("{big}{tail}"));
            // Nothing after the member: a single-member reader sees the whole body.
            let mut single = flate2::bufread::GzDecoder::new(&gz[..]);
            let mut all = Vec::new();
            single.read_to_end(&mut all).expect("valid");
            assert_eq!(all.len(), big.len() + tail.len());
        }
    }

    #[test]
    fn stored_fallback_is_valid_deflate() {
        let data = vec![b'a'; 70_000];
        let mut raw = stored_blocks(&data);
        raw.extend(final_stored_block(b"tail"));
        let mut d = flate2::read::DeflateDecoder::new(&raw[..]);
        let mut out = Vec::new();
        d.read_to_end(&mut out).expect("valid deflate");
        assert_eq!(out.len(), 70_004);
    }
}
