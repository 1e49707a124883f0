//! Memory that nobody can change while it lives: the read-only mappings that hold inflated
//! plain expositions. A connection may hand bytes that lie in such memory to the kernel by
//! reference (`vmsplice`, then `splice` to the socket, as nginx's `sendfile` does from the
//! page cache) instead of copying them into socket buffers: with a 16 MB plain body, that
//! copy is the largest part of a plain scrape's CPU. The pages stay the kernel's to hold
//! after the mapping is gone, and they cannot change: nothing maps them writable again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The address ranges (start, length) of every live [`Frozen`] mapping.
static REGIONS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
/// How many there are: writes skip the lock while there are none (the usual case: the
/// plain copy exists only while plain scrapes come).
static LIVE: AtomicUsize = AtomicUsize::new(0);

fn regions() -> std::sync::MutexGuard<'static, Vec<(usize, usize)>> {
    REGIONS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A read-only mapping whose address range is registered while it lives (the owner of a
/// plain body's `Bytes`).
#[derive(Debug)]
pub struct Frozen {
    map: memmap2::Mmap,
}

impl Frozen {
    /// Registers `map` (read-only, so its bytes can no longer change).
    pub fn new(map: memmap2::Mmap) -> Self {
        if !map.is_empty() {
            regions().push((map.as_ptr() as usize, map.len()));
            LIVE.fetch_add(1, Ordering::Relaxed);
        }
        Frozen { map }
    }
}

impl AsRef<[u8]> for Frozen {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let range = (self.map.as_ptr() as usize, self.map.len());
        let mut r = regions();
        if let Some(i) = r.iter().position(|x| *x == range) {
            r.swap_remove(i);
            LIVE.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The leading run of `bufs` (empty ones skipped first by the caller) that is all frozen or
/// all not: whether it is frozen, and how many buffers it spans (at least one, unless
/// `bufs` is empty). One look at the registry, none while no mapping is alive.
pub fn leading_run(bufs: &[std::io::IoSlice<'_>]) -> (bool, usize) {
    if bufs.is_empty() {
        return (false, 0);
    }
    if LIVE.load(Ordering::Relaxed) == 0 {
        return (false, bufs.len());
    }
    let r = regions();
    let frozen = |b: &[u8]| {
        let (start, len) = (b.as_ptr() as usize, b.len());
        len > 0
            && r.iter()
                .any(|&(s, l)| start >= s && start.saturating_add(len) <= s.saturating_add(l))
    };
    let first = frozen(&bufs[0]);
    let n = bufs.iter().take_while(|b| frozen(b) == first).count();
    (first, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_frozen(bytes: &[u8]) -> bool {
        leading_run(&[std::io::IoSlice::new(bytes)]).0
    }

    #[test]
    fn only_bytes_inside_a_live_mapping_are_frozen() {
        // An odd size, so no other test's mapping has this exact range.
        let mut m = memmap2::MmapMut::map_anon(8192 + 3 * 4096).expect("map");
        m[..5].copy_from_slice(b"hello");
        let frozen = Frozen::new(m.make_read_only().expect("read-only"));
        let bytes = bytes::Bytes::from_owner(frozen);
        assert!(is_frozen(&bytes[..5]));
        assert!(is_frozen(&bytes[100..8192]));
        let range = (bytes.as_ptr() as usize, bytes.len());
        let copy = bytes[..5].to_vec();
        assert!(!is_frozen(&copy), "a copy is ordinary memory");
        assert!(!is_frozen(&bytes[..0]));
        let inside = bytes.slice(10..20);
        drop(bytes);
        assert!(is_frozen(&inside), "a slice keeps the mapping alive");
        drop(inside);
        assert!(
            !regions().contains(&range),
            "the range is gone with the mapping"
        );
    }
}
