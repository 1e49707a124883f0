//! The file itself: read it whole, write it atomically, check that it can be written.
//!
//! A write goes to a temporary file in the same directory (a rename is only atomic within
//! one file system), which is fsynced, renamed over the old file, and then the directory
//! is fsynced so the rename itself survives a power loss. A crash at any moment leaves
//! either the old file or the new one, never a torn one; a leftover temporary file is
//! overwritten by the next write.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// The directory holding `path` (`.` for a bare file name).
pub fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Where a write of `path` is prepared: `.NAME.tmp` beside it.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_string());
    dir_of(path).join(format!(".{name}.tmp"))
}

/// The whole file, or `None` when there is none.
pub fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `path` with `bytes`, atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&dir_of(path))
}

/// Fails unless a write of `path` could succeed: the directory exists and takes a new
/// file, and `path` is not a directory. Leaves nothing behind.
pub fn check_writable(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "it is a directory",
        ));
    }
    let tmp = temp_path(path);
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    fs::remove_file(&tmp)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // Directories cannot be opened for fsync on every platform; where they can (Linux,
    // the BSDs, macOS) this makes the rename durable.
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_the_file_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().join("state.bin");
        assert_eq!(read(&path).ok(), Some(None));
        check_writable(&path).unwrap_or_else(|e| panic!("writable: {e}"));
        write_atomic(&path, b"one").unwrap_or_else(|e| panic!("write: {e}"));
        write_atomic(&path, b"two").unwrap_or_else(|e| panic!("write: {e}"));
        assert_eq!(read(&path).ok().flatten().as_deref(), Some(&b"two"[..]));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("read dir: {e}"))
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.bin")]);
    }

    #[test]
    fn a_missing_directory_or_a_directory_is_not_writable() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        assert!(check_writable(&dir.path().join("nope/state.bin")).is_err());
        assert!(check_writable(dir.path()).is_err());
        assert!(write_atomic(&dir.path().join("nope/state.bin"), b"x").is_err());
        assert_eq!(dir_of(Path::new("state.bin")), PathBuf::from("."));
    }
}
