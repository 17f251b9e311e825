//! `cargo xtask tidy`: rules of this repository that neither rustc nor clippy knows.
//!
//! Each checker returns its violations; [`run`] prints them all with file and line.

mod layering;
mod sources;

use std::{
    fmt, fs,
    path::{Path, PathBuf},
};

use crate::Repo;

/// One broken rule at one place.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    /// The file, relative to the repository root.
    path: PathBuf,
    /// The 1-based line, when the rule is about one line.
    line: Option<usize>,
    message: String,
}

impl Violation {
    fn new(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Violation { path: path.to_path_buf(), line, message: message.into() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(formatter, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(formatter, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Runs every check and prints every violation.
///
/// # Errors
///
/// Some rule is broken, or a file cannot be read.
pub(crate) fn run(repo: &Repo) -> Result<(), String> {
    let mut violations = layering::check(repo.root())?;
    let scanned = sources::check(repo.root(), &mut violations)?;

    for violation in &violations {
        println!("{violation}");
    }
    if violations.is_empty() {
        println!("tidy: crate layering and {scanned} source files are in order");
        Ok(())
    } else {
        Err(format!("{} tidy violations", violations.len()))
    }
}

/// A file's text, with invalid UTF-8 replaced rather than refused.
fn read_text(path: &Path) -> Result<String, String> {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .map_err(|error| format!("cannot read {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::Violation;

    #[test]
    fn violation_shows_file_line_and_message() {
        let violation = Violation::new(Path::new("crates/a/src/lib.rs"), Some(3), "bad");
        assert_eq!(violation.to_string(), "crates/a/src/lib.rs:3: bad");
        let whole_file = Violation::new(Path::new("crates/a/Cargo.toml"), None, "bad");
        assert_eq!(whole_file.to_string(), "crates/a/Cargo.toml: bad");
    }
}
