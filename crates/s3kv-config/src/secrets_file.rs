//! Reads one connection's table from a Streamlit secrets.toml file.
//!
//! The file is parsed here rather than by figment's TOML provider because a TOML parse error
//! normally quotes the offending line, and that line may hold a password: errors from this
//! module give only the file, the line, the column and what was expected.

use std::io::ErrorKind;
use std::path::Path;

use crate::Error;

/// The `[connections.<name>]` table of the file at `path`.
///
/// A missing file, a file without `connections`, and a `connections` without `name` all give
/// `None`.
///
/// # Errors
///
/// The file exists but cannot be read, is not UTF-8 or not TOML, or `connections` or
/// `connections.<name>` is not a table.
pub(crate) fn connection_table(path: &Path, name: &str) -> Result<Option<toml::Table>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) if error.kind() == ErrorKind::InvalidData => {
            return Err(malformed(path, "not valid UTF-8".to_owned()));
        }
        Err(source) => {
            return Err(Error::SecretsFileUnreadable { path: path.to_owned(), source });
        }
    };

    let mut document: toml::Table = toml::from_str(&text).map_err(|error| {
        let place = error.span().map(|span| position(&text, span.start)).unwrap_or_default();
        let message: Vec<&str> = error.message().lines().map(str::trim).collect();
        malformed(path, format!("{place}{}", message.join("; ")))
    })?;

    let Some(connections) = document.remove("connections") else { return Ok(None) };
    let toml::Value::Table(mut connections) = connections else {
        return Err(malformed(path, "`connections` is not a table".to_owned()));
    };
    match connections.remove(name) {
        None => Ok(None),
        Some(toml::Value::Table(table)) => Ok(Some(table)),
        Some(_) => Err(malformed(path, format!("`connections.{name}` is not a table"))),
    }
}

fn malformed(path: &Path, detail: String) -> Error {
    Error::SecretsFileMalformed { path: path.to_owned(), detail }
}

/// "line L, column C: " for a byte offset, both counted from one, columns in characters.
fn position(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |start| start.chars().count()) + 1;
    format!("line {line}, column {column}: ")
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn write(content: &str) -> std::io::Result<(tempfile::TempDir, std::path::PathBuf)> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("secrets.toml");
        std::fs::write(&path, content)?;
        Ok((dir, path))
    }

    #[test]
    fn position_counts_lines_and_characters_from_one() {
        assert_eq!(position("abc", 0), "line 1, column 1: ");
        assert_eq!(position("a\nbcd", 4), "line 2, column 3: ");
        assert_eq!(position("é\né", 4), "line 2, column 2: ");
    }

    #[test]
    fn missing_file_gives_no_table() -> TestResult {
        let dir = tempfile::tempdir()?;
        let table = connection_table(&dir.path().join("absent.toml"), "my_kv");
        assert!(matches!(table, Ok(None)));
        Ok(())
    }

    #[test]
    fn file_without_the_connection_gives_no_table() -> TestResult {
        let (_dir, path) = write("[connections.other]\nmode = \"dict\"\n")?;
        assert!(matches!(connection_table(&path, "my_kv"), Ok(None)));
        let (_dir, path) = write("title = \"app\"\n")?;
        assert!(matches!(connection_table(&path, "my_kv"), Ok(None)));
        Ok(())
    }

    #[test]
    fn connection_table_is_returned() -> TestResult {
        let (_dir, path) = write("[connections.my_kv]\nmode = \"dict\"\n")?;
        let table = connection_table(&path, "my_kv");
        let mode = table.ok().flatten().and_then(|table| table.get("mode").cloned());
        assert_eq!(mode, Some(toml::Value::String("dict".into())));
        Ok(())
    }

    #[test]
    fn syntax_error_names_file_and_place_but_not_the_line() -> TestResult {
        let (_dir, path) =
            write("[connections.my_kv]\npassword = \"never-shown-value\nmode = 1\n")?;
        let message = connection_table(&path, "my_kv").err().ok_or("accepted")?.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("line 2"), "{message}");
        assert!(!message.contains("never-shown-value"), "{message}");
        assert!(!message.contains('\n'), "{message}");
        Ok(())
    }

    #[test]
    fn connections_that_is_not_a_table_is_malformed() -> TestResult {
        let (_dir, path) = write("connections = 3\n")?;
        let error = connection_table(&path, "my_kv").err().map(|error| error.to_string());
        assert!(error.is_some_and(|message| message.contains("`connections` is not a table")));

        let (_dir, path) = write("[connections]\nmy_kv = \"s3\"\n")?;
        let error = connection_table(&path, "my_kv").err().map(|error| error.to_string());
        assert!(
            error.is_some_and(|message| message.contains("`connections.my_kv` is not a table"))
        );
        Ok(())
    }

    #[test]
    fn file_that_is_not_utf8_is_malformed() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("secrets.toml");
        std::fs::write(&path, [0xff, 0xfe, b'a'])?;
        let error = connection_table(&path, "my_kv").err().map(|error| error.to_string());
        assert!(error.is_some_and(|message| message.contains("not valid UTF-8")));
        Ok(())
    }

    #[test]
    fn directory_in_place_of_file_is_unreadable() -> TestResult {
        let dir = tempfile::tempdir()?;
        let error = connection_table(dir.path(), "my_kv");
        assert!(matches!(error, Err(Error::SecretsFileUnreadable { .. })));
        Ok(())
    }
}
