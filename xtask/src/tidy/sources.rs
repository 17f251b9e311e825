//! Source files: module docs, leftover debugging or disabled tests, and the form of to-do marks.
//!
//! The forbidden tokens are spelled in pieces here so that this file passes its own check.

use std::{
    fs,
    path::{Path, PathBuf},
};

use super::{Violation, read_text};

/// The trees whose Rust files are checked.
const RUST_ROOTS: [&str; 4] = ["crates", "xtask", "benches", "fuzz"];

/// More trees whose to-do marks are checked.
const MARK_ROOTS: [&str; 2] = ["examples", ".ci"];

/// Files of these kinds carry to-do marks worth checking (besides everything in `.ci`).
const MARK_EXTENSIONS: [&str; 5] = ["rs", "py", "pyi", "toml", "sh"];

/// Directories never entered: build output, caches and virtualenvs.
const SKIPPED_DIRS: [&str; 3] = ["target", "__pycache__", "node_modules"];

/// The to-do mark, spelled in pieces so that this file's own messages do not trip it.
const MARK: &str = concat!("TO", "DO");

/// Tokens that must not appear in Rust sources, and what to do instead.
const FORBIDDEN: [(&str, &str); 4] = [
    (
        concat!("to", "do!"),
        "unfinished code: return an error and leave a `TODO: ` comment saying what is missing",
    ),
    (concat!("db", "g!"), "leftover debugging output"),
    (
        concat!("#[", "ignore"),
        "a disabled test: fix it, or assert today's behaviour next to a `TODO: ` comment",
    ),
    (
        concat!("#[", "should", "_panic"),
        "a test that expects a panic: return an error and assert on it instead",
    ),
];

/// Checks every file in scope and adds what it finds; returns how many files it read.
///
/// # Errors
///
/// A directory cannot be listed or a file cannot be read.
pub(super) fn check(root: &Path, violations: &mut Vec<Violation>) -> Result<usize, String> {
    let mut files = Vec::new();
    for tree in RUST_ROOTS.iter().chain(&MARK_ROOTS) {
        collect(&root.join(tree), &mut files)?;
    }
    files.sort();

    let mut scanned = 0;
    for path in files {
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let extension = path.extension().and_then(|extension| extension.to_str()).unwrap_or("");
        let in_rust_tree = RUST_ROOTS.iter().any(|tree| relative.starts_with(tree));
        let is_rust = extension == "rs" && in_rust_tree;
        let has_marks = MARK_EXTENSIONS.contains(&extension) || relative.starts_with(".ci");
        if !is_rust && !has_marks {
            continue;
        }

        let text = read_text(&path)?;
        scanned += 1;
        let mut found = Vec::new();
        if is_rust {
            found.extend(module_doc(&text));
            found.extend(forbidden(&text));
        }
        found.extend(marks(&text));
        violations.extend(
            found.into_iter().map(|(line, message)| Violation::new(relative, line, message)),
        );
    }
    Ok(scanned)
}

/// Every file below a directory, skipping build output and hidden directories.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    if !dir.is_dir() {
        return Ok(());
    }
    let entries =
        fs::read_dir(dir).map_err(|error| format!("cannot list {}: {error}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|error| format!("cannot list {}: {error}", dir.display()))?;
        let path = entry.path();
        let file_type = entry
            .file_type()
            .map_err(|error| format!("cannot stat {}: {error}", path.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if file_type.is_dir() {
            if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_ref()) {
                collect(&path, files)?;
            }
        } else if file_type.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

/// A Rust file must open, after blank lines, with an inner doc comment.
fn module_doc(text: &str) -> Option<(Option<usize>, String)> {
    let first = text.lines().enumerate().find(|(_, line)| !line.trim().is_empty());
    match first {
        Some((_, line)) if line.trim_start().starts_with("//!") => None,
        Some((index, _)) => Some((
            Some(index + 1),
            "a Rust file opens with a `//!` line saying why the module exists".to_owned(),
        )),
        None => Some((None, "an empty Rust file: give it a `//!` line or remove it".to_owned())),
    }
}

/// Lines holding a forbidden token as a whole word.
fn forbidden(text: &str) -> Vec<(Option<usize>, String)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for (token, advice) in FORBIDDEN {
            if contains_word(line, token) {
                found.push((Some(index + 1), format!("`{token}`: {advice}")));
            }
        }
    }
    found
}

/// To-do marks not written as the mark, a colon, a space and some text.
fn marks(text: &str) -> Vec<(Option<usize>, String)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for (start, _) in line.match_indices(MARK) {
            if !is_word_at(line, start, MARK.len()) {
                continue;
            }
            let rest = &line[start + MARK.len()..];
            let text = rest.strip_prefix(": ").map_or("", str::trim);
            if text.is_empty() {
                let message =
                    format!("write `{MARK}: ` followed by what is missing and what it costs today");
                found.push((Some(index + 1), message));
            }
        }
    }
    found
}

/// Whether the token occurs with no identifier character right before or after it.
fn contains_word(line: &str, token: &str) -> bool {
    line.match_indices(token).any(|(start, _)| is_word_at(line, start, token.len()))
}

fn is_word_at(line: &str, start: usize, length: usize) -> bool {
    let before = line[..start].chars().next_back();
    let after = line[start + length..].chars().next();
    let joins = |character: Option<char>| {
        character.is_some_and(|character| character.is_alphanumeric() || character == '_')
    };
    !joins(before) && !joins(after)
}

#[cfg(test)]
mod tests {
    use std::{fs, path::Path};

    use super::{FORBIDDEN, MARK, check, forbidden, marks, module_doc};

    fn lines_of(found: &[(Option<usize>, String)]) -> Vec<Option<usize>> {
        found.iter().map(|(line, _)| *line).collect()
    }

    #[test]
    fn module_doc_after_blank_lines_passes() {
        assert_eq!(module_doc("\n\n//! Why this module exists.\nfn f() {}\n"), None);
    }

    #[test]
    fn file_opening_with_code_or_outer_doc_is_reported_at_that_line() {
        let found = module_doc("\nuse std::fs;\n//! Too late.\n");
        assert_eq!(found.map(|(line, _)| line), Some(Some(2)));
        assert!(module_doc("/// Outer docs document the next item.\nfn f() {}\n").is_some());
    }

    #[test]
    fn empty_file_is_reported() {
        assert_eq!(module_doc(" \n").map(|(line, _)| line), Some(None));
    }

    #[test]
    fn every_forbidden_token_is_reported_with_its_line() {
        for (number, (token, _)) in FORBIDDEN.iter().enumerate() {
            let text = format!("//! Doc.\n\n    let x = {token}(1);\n");
            let found = forbidden(&text);
            assert_eq!(lines_of(&found), [Some(3)], "token {number}: {found:?}");
        }
    }

    #[test]
    fn forbidden_token_inside_a_longer_name_passes() {
        let (token, _) = FORBIDDEN[2];
        let text = format!("{token}_unrelated_attribute]\nfn my_{}() {{}}\n", FORBIDDEN[1].0);
        assert_eq!(forbidden(&text), Vec::new());
    }

    #[test]
    fn mark_with_colon_and_text_passes() {
        let text = format!("// {MARK}: chunked reads, whole values are buffered today\n");
        assert_eq!(marks(&text), Vec::new());
    }

    #[test]
    fn marks_without_colon_or_text_are_reported() {
        let text = format!(
            "// {MARK} later\n// {MARK}:\n// {MARK}:tight\n# {MARK}(owner): x\nok = 1\n// {MARK}: "
        );
        assert_eq!(lines_of(&marks(&text)), [Some(1), Some(2), Some(3), Some(4), Some(6)]);
    }

    #[test]
    fn mark_inside_a_longer_word_passes() {
        let text = format!("let {MARK}S = 1; let MY_{MARK} = 2; // {}\n", MARK.to_lowercase());
        assert_eq!(marks(&text), Vec::new());
    }

    #[test]
    fn check_reads_rust_trees_and_skips_build_output() {
        let root = std::env::temp_dir().join(format!("xtask-tidy-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let write = |relative: &str, text: &str| {
            let path = root.join(relative);
            fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).expect("create directory");
            fs::write(path, text).expect("write file");
        };
        write("crates/a/src/lib.rs", "//! Fine.\n");
        write("crates/a/src/bad.rs", "fn main() {}\n");
        write("crates/a/target/debug/build/out.rs", "generated\n");
        write("crates/a/.hidden/x.rs", "generated\n");
        write("examples/app.py", &format!("# {MARK} fix\n"));
        write("examples/loose.rs", "not in a Rust tree\n");
        write(".ci/run", &format!("# {MARK}: nothing\n"));

        let mut violations = Vec::new();
        let scanned = check(&root, &mut violations);
        fs::remove_dir_all(&root).expect("remove temporary tree");

        assert_eq!(scanned, Ok(5));
        let found: Vec<String> = violations.iter().map(ToString::to_string).collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("crates/a/src/bad.rs:1: "), "{found:?}");
        assert!(found[1].starts_with("examples/app.py:1: "), "{found:?}");
    }
}
