//! Secrets: the [`Secret`] type that never prints its value, where secrets come from
//! ([`SecretSource`], [`ProcessEnv`]), and the two ways a config value names one:
//! `${VAR}` references to the environment and `*_file` paths.

use std::fmt;
use std::path::{Path, PathBuf};

/// A secret (token, secret key, password). `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself; call only where it is put on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where secrets come from: the environment and the file system. Tests pass their own.
pub trait SecretSource {
    /// The value of an environment variable.
    fn env(&self, name: &str) -> Option<String>;
    /// The contents of a file.
    fn read_file(&self, path: &Path) -> std::io::Result<String>;
}

/// The process environment and the real file system.
pub struct ProcessEnv;

impl SecretSource for ProcessEnv {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// Why a value with `${VAR}` references could not be expanded. The messages follow the
/// key's name (``credential `a`: `token` has an unclosed ...``) and never show a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// A `${` without its `}`.
    #[error("has an unclosed `${{`")]
    Unclosed,
    /// The name between `${` and `}` is not a variable name.
    #[error("refers to an invalid variable name `{0}`")]
    InvalidName(String),
    /// The variable is not set, or set to the empty string.
    #[error("needs the environment variable {0}, which is not set or empty")]
    Unset(String),
    /// The value is empty after expansion and trimming.
    #[error("is empty")]
    Empty,
}

/// The marker that opens a variable reference.
const OPEN: &str = "${";

/// Replaces every `${VAR}` in `raw` by the variable's value and trims the result, which
/// must not be empty.
pub fn expand(raw: &str, source: &dyn SecretSource) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let end = after.find('}').ok_or(ExpandError::Unclosed)?;
        let var = &after[..end];
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ExpandError::InvalidName(var.to_string()));
        }
        match source.env(var) {
            Some(v) if !v.is_empty() => out.push_str(&v),
            _ => return Err(ExpandError::Unset(var.to_string())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    let out = out.trim().to_string();
    if out.is_empty() {
        return Err(ExpandError::Empty);
    }
    Ok(out)
}

/// Why a `*_file` secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// The file holds only white space.
    #[error("`{key}_file` {} is empty", path.display())]
    Empty {
        /// The secret's key, without `_file`.
        key: String,
        /// The file, resolved.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("cannot read `{key}_file` {}: {source}", path.display())]
    Read {
        /// The secret's key, without `_file`.
        key: String,
        /// The file, resolved.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
}

/// Reads the secret for `key` from `path`, without the trailing line break.
pub fn read_file(
    key: &str,
    path: &Path,
    source: &dyn SecretSource,
) -> Result<Secret, SecretFileError> {
    let text = source.read_file(path).map_err(|e| SecretFileError::Read {
        key: key.to_string(),
        path: path.to_path_buf(),
        source: e,
    })?;
    let v = text.trim_end_matches(['\r', '\n']);
    if v.trim().is_empty() {
        return Err(SecretFileError::Empty {
            key: key.to_string(),
            path: path.to_path_buf(),
        });
    }
    Ok(Secret::new(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    }

    struct Env;
    impl SecretSource for Env {
        fn env(&self, name: &str) -> Option<String> {
            (name == "A").then(|| "x".to_string())
        }
        fn read_file(&self, _: &Path) -> std::io::Result<String> {
            Ok(" \n".into())
        }
    }

    #[test]
    fn expansion_names_what_is_wrong() {
        assert_eq!(expand(" pre-${A}-${A} ", &Env), Ok("pre-x-x".into()));
        assert_eq!(expand("${A", &Env), Err(ExpandError::Unclosed));
        assert_eq!(
            expand("${A-B}", &Env),
            Err(ExpandError::InvalidName("A-B".into()))
        );
        assert_eq!(expand("${B}", &Env), Err(ExpandError::Unset("B".into())));
        assert_eq!(expand("  ", &Env), Err(ExpandError::Empty));
        assert_eq!(ExpandError::Unclosed.to_string(), "has an unclosed `${`");
        let e = read_file("token", Path::new("/t"), &Env).expect_err("blank");
        assert_eq!(e.to_string(), "`token_file` /t is empty");
    }
}
