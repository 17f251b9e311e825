//! Crate layering: which workspace crates may depend on which, read from each `Cargo.toml`.
//!
//! A small reader of dependency tables stands in for a TOML library to keep xtask lean.
//! It knows section headers, `key = value` lines, dotted keys, inline tables, comments, and
//! skips multi-line arrays and strings: all that Cargo manifests use for dependencies.

use std::{
    collections::{BTreeSet, HashMap},
    fs,
    path::Path,
};

use super::{Violation, read_text};

/// The crates that build on nothing else of this workspace.
const LEAVES: [&str; 4] = ["s3kv-codec", "s3kv-store", "s3kv-cache", "s3kv-config"];

/// The facade, the only crate that composes the leaves.
const FACADE: [&str; 1] = ["s3kv"];

/// The crates that reach the library through the facade alone.
const FRONTS: [&str; 2] = ["s3kv-cli", "s3kv-py"];

/// Where the rules live, for the message about a crate that has none.
const RULES_FILE: &str = "xtask/src/tidy/layering.rs";

/// The internal crates a crate may depend on, and why; `None` for a crate without a rule.
fn rule(package: &str) -> Option<(&'static [&'static str], &'static str)> {
    if LEAVES.contains(&package) {
        Some((&[], "codec, store, cache and config depend on no other crate of the workspace"))
    } else if FACADE.contains(&package) {
        Some((&LEAVES, "the facade composes codec, store, cache and config only"))
    } else if FRONTS.contains(&package) {
        Some((&FACADE, "the command line and the Python extension reach the library through s3kv"))
    } else {
        None
    }
}

/// Checks every `crates/*/Cargo.toml` against the rules.
///
/// # Errors
///
/// A manifest cannot be read.
pub(super) fn check(root: &Path) -> Result<Vec<Violation>, String> {
    let workspace = parse(&read_text(&root.join("Cargo.toml"))?);
    let renames: HashMap<String, String> = workspace
        .workspace_dependencies
        .iter()
        .map(|dependency| (dependency.key.clone(), dependency.target(&HashMap::new())))
        .collect();

    let mut manifests = Vec::new();
    let crates_dir = root.join("crates");
    let entries = fs::read_dir(&crates_dir)
        .map_err(|error| format!("cannot list {}: {error}", crates_dir.display()))?;
    for entry in entries {
        let dir = entry.map_err(|error| format!("cannot list crates: {error}"))?.path();
        let path = dir.join("Cargo.toml");
        if path.is_file() {
            let name = dir.file_name().map(|name| name.to_string_lossy().into_owned());
            let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            manifests.push((relative, name.unwrap_or_default(), parse(&read_text(&path)?)));
        }
    }
    manifests.sort_by(|left, right| left.0.cmp(&right.0));

    let mut internal: BTreeSet<String> =
        LEAVES.iter().chain(&FACADE).chain(&FRONTS).map(ToString::to_string).collect();
    internal.extend(manifests.iter().filter_map(|(_, _, manifest)| manifest.package.clone()));

    let mut violations = Vec::new();
    for (path, dir_name, manifest) in &manifests {
        violations.extend(judge(path, dir_name, manifest, &renames, &internal));
    }
    Ok(violations)
}

/// The violations of one crate's manifest.
fn judge(
    path: &Path,
    dir_name: &str,
    manifest: &Manifest,
    renames: &HashMap<String, String>,
    internal: &BTreeSet<String>,
) -> Vec<Violation> {
    let Some(package) = &manifest.package else {
        return vec![Violation::new(path, None, "no `[package]` name")];
    };
    let mut violations = Vec::new();
    if package != dir_name {
        let message =
            format!("package {package} lives in crates/{dir_name}; move it to crates/{package}");
        violations.push(Violation::new(path, manifest.package_line, message));
    }
    let Some((allowed, reason)) = rule(package) else {
        let message = format!("no layering rule for {package}: add one to {RULES_FILE}");
        violations.push(Violation::new(path, manifest.package_line, message));
        return violations;
    };

    for dependency in &manifest.dependencies {
        let target = dependency.target(renames);
        if internal.contains(&target) && !allowed.contains(&target.as_str()) {
            let message = format!(
                "{package} must not depend on {target} (in [{}]): {reason}",
                dependency.table
            );
            violations.push(Violation::new(path, Some(dependency.line), message));
        }
    }
    violations
}

/// What the checks need of a manifest.
#[derive(Debug, Default)]
struct Manifest {
    package: Option<String>,
    package_line: Option<usize>,
    /// Normal, dev and build dependencies, for every target.
    dependencies: Vec<Dependency>,
    /// `[workspace.dependencies]`, which members refer to with `workspace = true`.
    workspace_dependencies: Vec<Dependency>,
}

/// One entry of a dependency table.
#[derive(Debug, PartialEq, Eq)]
struct Dependency {
    /// The name it is declared under.
    key: String,
    /// `package = "..."`, when the key renames the package.
    package: Option<String>,
    /// `workspace = true`: the root's entry names the package.
    workspace: bool,
    /// The table, such as `dependencies` or `target.'cfg(unix)'.dev-dependencies`.
    table: String,
    line: usize,
}

impl Dependency {
    /// The package this entry brings in.
    fn target(&self, renames: &HashMap<String, String>) -> String {
        if let Some(package) = &self.package {
            return package.clone();
        }
        if self.workspace
            && let Some(package) = renames.get(&self.key)
        {
            return package.clone();
        }
        self.key.clone()
    }
}

/// Where the reader is in the manifest.
#[derive(Clone, Debug)]
enum Section {
    Package,
    /// A table of dependencies such as `[dependencies]`.
    Table {
        name: String,
        workspace: bool,
    },
    /// One dependency as its own table, such as `[dependencies.serde]`.
    Entry {
        workspace: bool,
        index: usize,
    },
    Other,
}

/// What spans lines and must be skipped: an open array or inline table, or a multi-line string.
#[derive(Clone, Copy, Debug)]
enum Continuation {
    None,
    Nested(i32),
    String(&'static str),
}

fn parse(text: &str) -> Manifest {
    let mut manifest = Manifest::default();
    let mut section = Section::Other;
    let mut continuation = Continuation::None;

    for (index, raw_line) in text.lines().enumerate() {
        let line_number = index + 1;
        match continuation {
            Continuation::String(delimiter) => {
                if raw_line.contains(delimiter) {
                    continuation = Continuation::None;
                }
                continue;
            }
            Continuation::Nested(depth) => {
                let depth = depth + nesting(strip_comment(raw_line));
                continuation =
                    if depth > 0 { Continuation::Nested(depth) } else { Continuation::None };
                continue;
            }
            Continuation::None => {}
        }

        let line = strip_comment(raw_line).trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = header(line, line_number, &mut manifest);
            continue;
        }
        let Some((key, value)) = split_key_value(line) else {
            continue;
        };
        continuation = opens(value);
        assign(&mut manifest, &section, &split_dotted(key), value, line_number);
    }
    manifest
}

/// The section a header line starts, adding the dependency it declares, if any.
fn header(line: &str, line_number: usize, manifest: &mut Manifest) -> Section {
    if line.starts_with("[[") {
        return Section::Other;
    }
    let inner = line.trim_start_matches('[');
    let inner = inner.rfind(']').map_or(inner, |end| &inner[..end]);
    let segments = split_dotted(inner);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();

    let (workspace, rest) = match segments.as_slice() {
        ["package"] => return Section::Package,
        ["workspace", rest @ ..] => (true, rest),
        ["target", _, rest @ ..] | rest => (false, rest),
    };
    match rest {
        [kind] if is_dependency_table(kind) => {
            Section::Table { name: segments.join("."), workspace }
        }
        [kind, key] if is_dependency_table(kind) => {
            let table = segments[..segments.len() - 1].join(".");
            let list = dependency_list(manifest, workspace);
            list.push(Dependency {
                key: (*key).to_owned(),
                package: None,
                workspace: false,
                table,
                line: line_number,
            });
            Section::Entry { workspace, index: list.len() - 1 }
        }
        _ => Section::Other,
    }
}

fn is_dependency_table(name: &str) -> bool {
    matches!(name, "dependencies" | "dev-dependencies" | "build-dependencies")
}

fn dependency_list(manifest: &mut Manifest, workspace: bool) -> &mut Vec<Dependency> {
    if workspace { &mut manifest.workspace_dependencies } else { &mut manifest.dependencies }
}

/// Records what a `key = value` line says about the package or a dependency.
fn assign(manifest: &mut Manifest, section: &Section, key: &[String], value: &str, line: usize) {
    match section {
        Section::Package => {
            if key == ["name"] {
                manifest.package = Some(unquote(value).to_owned());
                manifest.package_line = Some(line);
            }
        }
        Section::Table { name, workspace } => {
            let Some(dependency_key) = key.first() else {
                return;
            };
            let list = dependency_list(manifest, *workspace);
            let existing =
                list.iter().position(|entry| entry.key == *dependency_key && entry.table == *name);
            let index = existing.unwrap_or_else(|| {
                list.push(Dependency {
                    key: dependency_key.clone(),
                    package: None,
                    workspace: false,
                    table: name.clone(),
                    line,
                });
                list.len() - 1
            });
            match &key[1..] {
                [] => apply_value(&mut list[index], value),
                [field] => apply_field(&mut list[index], field, value),
                _ => {}
            }
        }
        Section::Entry { workspace, index } => {
            if let ([field], Some(entry)) =
                (key, dependency_list(manifest, *workspace).get_mut(*index))
            {
                apply_field(entry, field, value);
            }
        }
        Section::Other => {}
    }
}

/// A dependency's value: a version string, or an inline table of fields.
fn apply_value(dependency: &mut Dependency, value: &str) {
    let Some(inner) = value.strip_prefix('{').and_then(|rest| rest.trim_end().strip_suffix('}'))
    else {
        return;
    };
    for pair in split_outside(inner, ',') {
        if let Some((key, value)) = split_key_value(pair.trim())
            && let [field] = split_dotted(key).as_slice()
        {
            apply_field(dependency, field, value);
        }
    }
}

fn apply_field(dependency: &mut Dependency, field: &str, value: &str) {
    match field {
        "package" => dependency.package = Some(unquote(value).to_owned()),
        "workspace" => dependency.workspace = value.trim() == "true",
        _ => {}
    }
}

/// Whether a value goes on past its line.
fn opens(value: &str) -> Continuation {
    let value = value.trim_start();
    for delimiter in ["\"\"\"", "'''"] {
        if let Some(rest) = value.strip_prefix(delimiter)
            && !rest.contains(delimiter)
        {
            return Continuation::String(delimiter);
        }
    }
    let depth = nesting(value);
    if depth > 0 { Continuation::Nested(depth) } else { Continuation::None }
}

/// Tracks quoting one character at a time, so `#`, `=`, `.` and brackets in strings are ignored.
#[derive(Default)]
struct Quotes {
    open: Option<char>,
    escaped: bool,
}

impl Quotes {
    /// Feeds one character; true when it stands outside every string and is not a quote.
    fn is_structural(&mut self, character: char) -> bool {
        match self.open {
            Some('"') if self.escaped => {
                self.escaped = false;
                false
            }
            Some('"') if character == '\\' => {
                self.escaped = true;
                false
            }
            Some(quote) => {
                if character == quote {
                    self.open = None;
                }
                false
            }
            None if character == '"' || character == '\'' => {
                self.open = Some(character);
                false
            }
            None => true,
        }
    }
}

fn strip_comment(line: &str) -> &str {
    let mut quotes = Quotes::default();
    match line
        .char_indices()
        .find(|&(_, character)| quotes.is_structural(character) && character == '#')
    {
        Some((index, _)) => &line[..index],
        None => line,
    }
}

/// How many arrays and inline tables a text opens, less those it closes.
fn nesting(text: &str) -> i32 {
    let mut quotes = Quotes::default();
    text.chars()
        .filter(|&character| quotes.is_structural(character))
        .map(|character| match character {
            '[' | '{' => 1,
            ']' | '}' => -1,
            _ => 0,
        })
        .sum()
}

/// Splits at every `separator` outside strings, arrays and inline tables.
fn split_outside(text: &str, separator: char) -> Vec<&str> {
    let mut quotes = Quotes::default();
    let mut depth = 0;
    let mut parts = Vec::new();
    let mut start = 0;
    for (index, character) in text.char_indices() {
        if !quotes.is_structural(character) {
            continue;
        }
        match character {
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            _ if character == separator && depth == 0 => {
                parts.push(&text[start..index]);
                start = index + character.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn split_key_value(line: &str) -> Option<(&str, &str)> {
    let mut quotes = Quotes::default();
    let index = line
        .char_indices()
        .find(|&(_, character)| quotes.is_structural(character) && character == '=')?
        .0;
    Some((line[..index].trim(), line[index + 1..].trim()))
}

/// The parts of a dotted key, unquoted: `target.'cfg(unix)'.dependencies` has three.
fn split_dotted(key: &str) -> Vec<String> {
    split_outside(key, '.').into_iter().map(|part| unquote(part.trim()).to_owned()).collect()
}

fn unquote(value: &str) -> &str {
    let value = value.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|rest| rest.strip_suffix(quote)) {
            return inner;
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use std::{
        collections::{BTreeSet, HashMap},
        path::Path,
    };

    use super::{FACADE, FRONTS, LEAVES, Manifest, judge, parse};

    const EVERY_SPELLING: &str = r#"
[package]
name = "s3kv"   # the facade
description = """
[dependencies]
fake = "1"
"""

[features]
s3 = ["s3kv-store/s3"]

[dependencies]
bytes.workspace = true
s3kv-codec = { workspace = true, features = ["a", "b"] }
store = { path = "../s3kv-store", package = "s3kv-store" }
tricky = { version = "1", features = [
    "x = 1",
    "[dependencies]",
] }
hash = "1" # a comment with = and [brackets]

[dependencies.config]
package = "s3kv-config"
optional = true

[target.'cfg(unix)'.dev-dependencies]
s3kv-cache.workspace = true

[[bench]]
name = "not-a-dependency"
"#;

    fn internal() -> BTreeSet<String> {
        LEAVES.iter().chain(&FACADE).chain(&FRONTS).map(ToString::to_string).collect()
    }

    fn manifest(package: &str, dependencies: &str) -> Manifest {
        parse(&format!("[package]\nname = \"{package}\"\n\n[dependencies]\n{dependencies}"))
    }

    fn messages(dir_name: &str, manifest: &Manifest) -> Vec<String> {
        let path = Path::new("crates/x/Cargo.toml");
        judge(path, dir_name, manifest, &HashMap::new(), &internal())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn every_dependency_spelling_is_read_and_nothing_else() {
        let manifest = parse(EVERY_SPELLING);
        assert_eq!(manifest.package.as_deref(), Some("s3kv"));
        assert_eq!(manifest.package_line, Some(3));

        let renames = HashMap::new();
        let found: Vec<(String, &str, usize)> = manifest
            .dependencies
            .iter()
            .map(|entry| (entry.target(&renames), entry.table.as_str(), entry.line))
            .collect();
        let expected = [
            ("bytes", "dependencies", 13),
            ("s3kv-codec", "dependencies", 14),
            ("s3kv-store", "dependencies", 15),
            ("tricky", "dependencies", 16),
            ("hash", "dependencies", 20),
            ("s3kv-config", "dependencies", 22),
            ("s3kv-cache", "target.cfg(unix).dev-dependencies", 27),
        ];
        let expected: Vec<(String, &str, usize)> = expected
            .iter()
            .map(|&(target, table, line)| (target.to_owned(), table, line))
            .collect();
        assert_eq!(found, expected);
        assert!(manifest.dependencies[1].workspace);
    }

    #[test]
    fn workspace_rename_decides_the_package() {
        let root = parse(
            "[workspace.dependencies]\n\
             codec = { path = \"crates/s3kv-codec\", package = \"s3kv-codec\" }\n\
             s3kv-store = { path = \"crates/s3kv-store\", default-features = false }\n",
        );
        let renames: HashMap<String, String> = root
            .workspace_dependencies
            .iter()
            .map(|entry| (entry.key.clone(), entry.target(&HashMap::new())))
            .collect();
        assert_eq!(renames.get("codec").map(String::as_str), Some("s3kv-codec"));

        let member = manifest("s3kv-store", "codec.workspace = true\n");
        let path = Path::new("crates/s3kv-store/Cargo.toml");
        let violations = judge(path, "s3kv-store", &member, &renames, &internal());
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].to_string().contains("must not depend on s3kv-codec"));
    }

    #[test]
    fn leaf_depending_on_another_leaf_is_reported_at_its_line() {
        let leaf = manifest("s3kv-codec", "serde.workspace = true\ns3kv-store.workspace = true\n");
        let found = messages("s3kv-codec", &leaf);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("crates/x/Cargo.toml:6: s3kv-codec must not depend on s3kv-store"),
            "{found:?}"
        );
    }

    #[test]
    fn facade_may_depend_on_every_leaf() {
        let dependencies: String =
            LEAVES.iter().map(|leaf| leaf.to_string() + ".workspace = true\n").collect();
        assert_eq!(messages("s3kv", &manifest("s3kv", &dependencies)), Vec::<String>::new());
    }

    #[test]
    fn facade_depending_on_python_extension_is_reported() {
        let facade = manifest("s3kv", "s3kv-py = { path = \"../s3kv-py\" }\n");
        assert_eq!(messages("s3kv", &facade).len(), 1);
    }

    #[test]
    fn python_extension_reaching_past_the_facade_is_reported() {
        let extension = manifest(
            "s3kv-py",
            "s3kv.workspace = true\npyo3.workspace = true\n\n[dev-dependencies]\ns3kv-codec = \"0.1\"\n",
        );
        let found = messages("s3kv-py", &extension);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("(in [dev-dependencies])"), "{found:?}");
    }

    #[test]
    fn crate_without_a_rule_is_reported() {
        let found = messages("s3kv-extra", &manifest("s3kv-extra", ""));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("no layering rule for s3kv-extra"), "{found:?}");
    }

    #[test]
    fn crate_in_a_directory_of_another_name_is_reported() {
        let found = messages("codec", &manifest("s3kv-codec", ""));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("move it to crates/s3kv-codec"), "{found:?}");
    }

    #[test]
    fn manifest_without_package_name_is_reported() {
        let found = messages("s3kv", &parse("[dependencies]\nserde = \"1\"\n"));
        assert_eq!(found, ["crates/x/Cargo.toml: no `[package]` name"]);
    }
}
