//! Secrets in files that rotate: every use stats the file (inode, size, mtime) and reads it
//! again when that changed, so a renewed Kubernetes Secret (replaced by rename) is used by
//! the next request without a reload. An empty or unreadable file keeps the old value and
//! says why once per change.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::config::Secret;

/// What identifies one version of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Ok(Stamp {
        inode,
        len: m.len(),
        modified: m.modified().ok(),
    })
}

struct Entry {
    stamp: Option<Stamp>,
    value: Secret,
}

/// The current value of every `*_file` secret in use.
#[derive(Default)]
pub struct FileSecrets {
    entries: Mutex<HashMap<PathBuf, Entry>>,
}

impl std::fmt::Debug for FileSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileSecrets")
    }
}

/// Reads a secret file as the config loader does: without the trailing line break.
fn read(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let v = text.trim_end_matches(['\r', '\n']);
    if v.trim().is_empty() {
        return Err("the file is empty (half written?)".into());
    }
    Ok(Secret::new(v))
}

impl FileSecrets {
    /// The value of `path` now; `initial` (read at load) until the file changes, and the
    /// last good value when the new contents cannot be used.
    pub fn current(&self, key: &str, path: &Path, initial: &Secret) -> Secret {
        let now = stamp(path).ok();
        let mut g = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = g.entry(path.to_path_buf()).or_insert_with(|| Entry {
            stamp: None,
            value: initial.clone(),
        });
        if now.is_some() && entry.stamp == now {
            return entry.value.clone();
        }
        match (now, read(path)) {
            (Some(_), Ok(v)) => {
                if v != entry.value {
                    tracing::info!(file = %path.display(), key, "secret file changed: using its new value");
                }
                entry.value = v;
                entry.stamp = now;
            }
            (_, Err(why)) => {
                if entry.stamp != now || now.is_none() {
                    tracing::warn!(file = %path.display(), key, reason = %why, "cannot use the secret file: keeping its last value");
                }
                entry.stamp = now;
            }
            (None, Ok(v)) => entry.value = v,
        }
        entry.value.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_is_read_again_and_an_empty_one_keeps_the_old_value() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sk");
        std::fs::write(&p, "one\n").unwrap();
        let f = FileSecrets::default();
        let init = Secret::new("one");
        assert_eq!(f.current("sk", &p, &init).expose(), "one");
        let tmp = dir.path().join("sk.tmp");
        std::fs::write(&tmp, "two-longer\n").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert_eq!(f.current("sk", &p, &init).expose(), "two-longer");
        std::fs::write(&p, "").unwrap();
        assert_eq!(f.current("sk", &p, &init).expose(), "two-longer");
        std::fs::remove_file(&p).unwrap();
        assert_eq!(f.current("sk", &p, &init).expose(), "two-longer");
    }
}
