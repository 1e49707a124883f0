//! Secrets in files that rotate: every use stats the file (inode, size, mtime) and reads it
//! again when that changed, so a renewed Kubernetes Secret (replaced by rename) is used by
//! the next request without a reload.
//!
//! A version of the file is used only once it is settled. It is not while
//! - it is empty or unreadable (kept refused until the file changes again),
//! - it changed while it was read (its size or modification time differ after the read:
//!   someone writes it in place, as `echo new > file` does), or
//! - the previous version ended with a line break and this one does not, and it was
//!   modified less than [`SETTLE`] ago (a writer that has not written its last bytes yet).
//!
//! Until then the last good value is used, the reason is logged at warn level once per
//! version (never the value), and the file is looked at again at the next use. A version
//! without the line break that stays unchanged for [`SETTLE`] is used (the format changed).

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::config::Secret;

/// How long a version that looks cut short must stay unchanged before it is used anyway.
pub const SETTLE: Duration = Duration::from_secs(5);

/// What identifies one version of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(m);
        #[cfg(not(unix))]
        let inode = 0;
        Stamp {
            inode,
            len: m.len(),
            modified: m.modified().ok(),
        }
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path).ok().map(|m| Stamp::of(&m))
}

/// What one look at the file found.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// A settled version: its value (without the trailing line break) and whether it had one.
    Use { value: String, newline: bool },
    /// Not settled yet: look again at the next use.
    Wait(&'static str),
    /// Unusable until the file changes (empty, unreadable).
    Refuse(String),
}

/// Reads `path` once, with its version before and after the read (of the open file, so
/// a rename during the read does not count as a change of what was read).
fn read(path: &Path) -> (Option<Stamp>, Result<String, String>, Option<Stamp>) {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return (stamp(path), Err(e.to_string()), None),
    };
    let before = file.metadata().ok().map(|m| Stamp::of(&m));
    let mut text = String::new();
    let read = file
        .read_to_string(&mut text)
        .map(|_| text)
        .map_err(|e| e.to_string());
    let after = file.metadata().ok().map(|m| Stamp::of(&m));
    (before, read, after)
}

/// Whether the version read (`before`/`after` its read, `text`) can be used, given whether
/// the previous good version ended with a line break.
fn judge(
    before: Option<Stamp>,
    text: Result<String, String>,
    after: Option<Stamp>,
    previous_newline: Option<bool>,
    now: SystemTime,
) -> Verdict {
    let text = match text {
        Ok(t) => t,
        Err(e) => return Verdict::Refuse(e),
    };
    if before.is_none() || before != after {
        return Verdict::Wait("the file changed while it was read (being written?)");
    }
    let value = text.trim_end_matches(['\r', '\n']);
    if value.trim().is_empty() {
        return Verdict::Refuse("the file is empty (half written?)".into());
    }
    let newline = value.len() != text.len();
    // Without a modification time, or with one in the future (clock skew), a version is
    // never held back for ever: it counts as settled.
    let recent = before
        .and_then(|s| s.modified)
        .is_some_and(|m| now.duration_since(m).is_ok_and(|age| age < SETTLE));
    if previous_newline == Some(true) && !newline && recent {
        return Verdict::Wait(
            "the file does not end with a line break as its previous version did (half written?)",
        );
    }
    Verdict::Use {
        value: value.to_string(),
        newline,
    }
}

struct Entry {
    /// The version last looked at.
    stamp: Option<Stamp>,
    /// The last good value (`None`: none yet).
    value: Option<Secret>,
    /// Whether the version of `value` ended with a line break (`None`: not known).
    newline: Option<bool>,
    /// The version last looked at was not settled: look again at the next use.
    unsettled: bool,
    /// The version and reason last warned about (once per version and reason).
    warned: Option<(Option<Stamp>, String)>,
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

impl FileSecrets {
    /// The value of `path` now; `initial` (read at load) until the file changes, and the
    /// last good value when the new contents cannot be used (yet).
    pub fn current(&self, key: &str, path: &Path, initial: &Secret) -> Secret {
        self.look(key, path, Some(initial))
            .unwrap_or_else(|_| initial.clone())
    }

    /// The value of a file read for every request (a token that rotates), without a value
    /// from the config load: the last good one while the file is not settled; `Err` (why)
    /// when there has never been a good one.
    pub fn read(&self, key: &str, path: &Path) -> Result<Secret, String> {
        self.look(key, path, None)
    }

    fn look(&self, key: &str, path: &Path, initial: Option<&Secret>) -> Result<Secret, String> {
        let now = stamp(path);
        let mut g = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = g.entry(path.to_path_buf()).or_insert_with(|| Entry {
            stamp: None,
            value: initial.cloned(),
            newline: None,
            unsettled: false,
            warned: None,
        });
        if let Some(v) = &entry.value
            && now.is_some()
            && entry.stamp == now
            && !entry.unsettled
        {
            return Ok(v.clone());
        }
        let (before, text, after) = read(path);
        let why = match judge(before, text, after, entry.newline, SystemTime::now()) {
            Verdict::Use { value, newline } => {
                let value = Secret::new(value);
                if entry.value.as_ref().is_some_and(|v| *v != value) {
                    tracing::info!(file = %path.display(), key, "secret file changed: using its new value");
                }
                entry.stamp = before;
                entry.newline = Some(newline);
                entry.unsettled = false;
                entry.warned = None;
                entry.value = Some(value.clone());
                return Ok(value);
            }
            Verdict::Wait(why) => {
                entry.unsettled = true;
                why.to_string()
            }
            Verdict::Refuse(why) => {
                entry.unsettled = false;
                why
            }
        };
        entry.stamp = before.or(now);
        let seen = Some((entry.stamp, why.clone()));
        if entry.warned != seen {
            entry.warned = seen;
            match &entry.value {
                Some(_) => {
                    tracing::warn!(file = %path.display(), key, reason = %why, "cannot use the secret file yet: keeping its last value")
                }
                None => {
                    tracing::warn!(file = %path.display(), key, reason = %why, "cannot use the secret file yet")
                }
            }
        }
        entry.value.clone().ok_or(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path, by: Duration) {
        let f = std::fs::File::options()
            .write(true)
            .open(path)
            .expect("open");
        f.set_modified(SystemTime::now() - by).expect("set mtime");
    }

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

    #[test]
    fn a_file_cut_short_keeps_the_old_value_until_it_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sk");
        std::fs::write(&p, "old-secret\n").unwrap();
        let f = FileSecrets::default();
        let init = Secret::new("old-secret");
        assert_eq!(f.current("sk", &p, &init).expose(), "old-secret");
        // Written in place, first half only: no line break yet, modified just now.
        std::fs::write(&p, "new-sec").unwrap();
        assert_eq!(f.current("sk", &p, &init).expose(), "old-secret");
        assert_eq!(f.current("sk", &p, &init).expose(), "old-secret");
        // The rest arrives: used at the next use.
        std::fs::write(&p, "new-secret\n").unwrap();
        assert_eq!(f.current("sk", &p, &init).expose(), "new-secret");
    }

    #[test]
    fn a_version_without_the_line_break_is_used_once_settled() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sk");
        std::fs::write(&p, "old\n").unwrap();
        let f = FileSecrets::default();
        let init = Secret::new("old");
        assert_eq!(f.current("sk", &p, &init).expose(), "old");
        std::fs::write(&p, "no-newline-now").unwrap();
        assert_eq!(f.current("sk", &p, &init).expose(), "old");
        // Unchanged for longer than SETTLE (its mtime put back, no waiting).
        age(&p, SETTLE + Duration::from_secs(1));
        assert_eq!(f.current("sk", &p, &init).expose(), "no-newline-now");
        // Without a line break before, none is expected: used at once.
        std::fs::write(&p, "next").unwrap();
        assert_eq!(f.current("sk", &p, &init).expose(), "next");
    }

    #[test]
    fn a_change_during_the_read_is_not_settled() {
        let t = SystemTime::now() - Duration::from_secs(60);
        let a = Stamp {
            inode: 1,
            len: 3,
            modified: Some(t),
        };
        let b = Stamp {
            len: 9,
            modified: Some(t + Duration::from_millis(1)),
            ..a
        };
        let now = SystemTime::now();
        assert!(matches!(
            judge(Some(a), Ok("abc".into()), Some(b), None, now),
            Verdict::Wait(_)
        ));
        assert!(matches!(
            judge(Some(a), Ok("abc".into()), None, None, now),
            Verdict::Wait(_)
        ));
        assert_eq!(
            judge(Some(a), Ok("abc\n".into()), Some(a), Some(true), now),
            Verdict::Use {
                value: "abc".into(),
                newline: true
            }
        );
        assert!(matches!(
            judge(Some(a), Ok(" \n".into()), Some(a), None, now),
            Verdict::Refuse(_)
        ));
        // Cut short (no line break, unlike before): held back only while recent.
        let fresh = Stamp {
            modified: Some(now - Duration::from_secs(1)),
            ..a
        };
        assert!(matches!(
            judge(Some(fresh), Ok("ab".into()), Some(fresh), Some(true), now),
            Verdict::Wait(_)
        ));
        for settled in [
            a,
            Stamp {
                modified: None,
                ..a
            },
            Stamp {
                modified: Some(now + Duration::from_secs(3600)),
                ..a
            },
        ] {
            assert_eq!(
                judge(
                    Some(settled),
                    Ok("ab".into()),
                    Some(settled),
                    Some(true),
                    now
                ),
                Verdict::Use {
                    value: "ab".into(),
                    newline: false
                },
                "{settled:?}"
            );
        }
        assert!(matches!(
            judge(Some(a), Err("denied".into()), Some(a), None, now),
            Verdict::Refuse(_)
        ));
    }

    #[test]
    fn a_token_file_without_a_good_version_yet_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        let f = FileSecrets::default();
        assert!(f.read("token", &p).is_err(), "missing");
        std::fs::write(&p, "").unwrap();
        assert!(f.read("token", &p).unwrap_err().contains("empty"));
        std::fs::write(&p, "tok-1\n").unwrap();
        assert_eq!(f.read("token", &p).unwrap().expose(), "tok-1");
        std::fs::write(&p, "tok").unwrap();
        assert_eq!(f.read("token", &p).unwrap().expose(), "tok-1");
    }
}
