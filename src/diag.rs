//! Diagnostics for the config files we read (the main config and `--web.config.file`):
//! every problem is collected with its position and reported at once, each as
//! `file:line:col: what was wrong and what to do`.
//!
//! A validator owns one [`Diagnostics`] per file, records problems with
//! [`Diagnostics::issue`] (positions come from [`at`]) and warnings with
//! [`Diagnostics::note`], and ends with [`Diagnostics::finish`], which turns the problems
//! into one [`ConfigError`] sorted in file order.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;

/// A position in a file: 1-based line and column; `(0, 0)` when unknown.
pub type Pos = (u64, u64);

/// Line and column of a spanned value.
pub fn at<T>(s: &Spanned<T>) -> Pos {
    (s.referenced.line(), s.referenced.column())
}

/// One problem in a config file, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ConfigIssue {
    /// A problem at `pos`.
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        ConfigIssue {
            line: pos.0,
            column: pos.1,
            message: message.into(),
        }
    }

    /// A YAML or schema error as an issue with its position.
    pub fn from_yaml(e: &serde_saphyr::Error) -> Self {
        let pos = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let options = serde_saphyr::render_options! {
            snippets: serde_saphyr::SnippetMode::Off,
        };
        let mut message = e.without_snippet().render_with_options(options);
        // The renderer appends its own position; ours leads the line instead.
        if let Some(i) = message.rfind(" at line ") {
            message.truncate(i);
        }
        ConfigIssue::new(pos, message.trim())
    }
}

/// Why a config file could not be loaded: every issue found, each with its position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The problems, in file order.
    pub issues: Vec<ConfigIssue>,
}

impl ConfigError {
    /// An error about the file as a whole (it cannot be read, for example), without a
    /// position.
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            issues: vec![ConfigIssue::new((0, 0), message)],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            if issue.line > 0 {
                write!(
                    f,
                    "{}:{}:{}: {}",
                    self.file.display(),
                    issue.line,
                    issue.column,
                    issue.message
                )?;
            } else {
                write!(f, "{}: {}", self.file.display(), issue.message)?;
            }
        }
        Ok(())
    }
}

/// Parses YAML `text` into the schema `T`; a syntax or schema error names its position in
/// `file`.
pub fn parse_yaml<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
    serde_saphyr::from_str(text).map_err(|e| ConfigError {
        file: file.to_path_buf(),
        issues: vec![ConfigIssue::from_yaml(&e)],
    })
}

/// The problems and warnings found in one file so far.
#[derive(Debug)]
pub struct Diagnostics {
    /// The file being checked.
    file: PathBuf,
    /// Problems found so far, in the order found.
    pub issues: Vec<ConfigIssue>,
    /// Warnings that do not stop the load.
    pub notes: Vec<String>,
}

impl Diagnostics {
    /// Nothing found yet in `file`.
    pub fn new(file: &Path) -> Self {
        Diagnostics {
            file: file.to_path_buf(),
            issues: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The file being checked.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Records a problem at `pos`.
    pub fn issue(&mut self, pos: Pos, message: impl Into<String>) {
        self.issues.push(ConfigIssue::new(pos, message));
    }

    /// Records a warning that does not stop the load.
    pub fn note(&mut self, message: impl Into<String>) {
        self.notes.push(message.into());
    }

    /// Resolves a file name written in the file: relative names start at its directory.
    pub fn path(&self, name: &str) -> PathBuf {
        let p = Path::new(name);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.file.parent().unwrap_or(Path::new(".")).join(p)
        }
    }

    /// The warnings when no problem was found, else every problem in file order.
    pub fn finish(mut self) -> Result<Vec<String>, ConfigError> {
        if self.issues.is_empty() {
            return Ok(self.notes);
        }
        self.issues.sort_by_key(|i| (i.line, i.column));
        Err(ConfigError {
            file: self.file,
            issues: self.issues,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_render_in_file_order_with_positions() {
        let mut d = Diagnostics::new(Path::new("/etc/x.yml"));
        d.issue((3, 2), "late");
        d.issue((0, 0), "whole file");
        d.issue((1, 5), "early");
        let err = d.finish().expect_err("has issues");
        assert_eq!(
            err.to_string(),
            "/etc/x.yml: whole file\n/etc/x.yml:1:5: early\n/etc/x.yml:3:2: late"
        );
    }

    #[test]
    fn notes_survive_a_clean_file_and_paths_resolve_next_to_it() {
        let mut d = Diagnostics::new(Path::new("/etc/x.yml"));
        d.note("careful");
        assert_eq!(d.path("a.pem"), Path::new("/etc/a.pem"));
        assert_eq!(d.path("/abs/b.pem"), Path::new("/abs/b.pem"));
        assert_eq!(d.finish(), Ok(vec!["careful".to_string()]));
    }
}
