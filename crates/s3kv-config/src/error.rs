//! The one error type of the crate: what is wrong, with which parameter, and from which source.

use std::path::PathBuf;

/// A configuration problem the user must fix before a connection can open.
///
/// Every message names the parameter and the source it came from, and says what is allowed.
/// No message ever contains the value of `password`, `salt`, `secret_key` or `session_token`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A source sets a parameter that s3kv does not know.
    #[error(
        "unknown parameter `{parameter}` in {origin}{}; allowed parameters: {}",
        suggestion_text(*suggestion),
        allowed.join(", ")
    )]
    UnknownParameter {
        /// The name as the source spelled it.
        parameter: String,
        /// Where it was set, for example "connection kwargs".
        origin: String,
        /// The accepted name closest to the misspelled one, if any is close.
        suggestion: Option<&'static str>,
        /// Every name this source accepts.
        allowed: &'static [&'static str],
    },

    /// A parameter's value has the wrong type or is out of range.
    #[error("invalid {parameter} {received}from {origin}: expected {expected}")]
    InvalidValue {
        /// The parameter's name.
        parameter: &'static str,
        /// Where the value came from, for example "environment variable `my_kv_mode`".
        origin: String,
        /// The value as received (only for parameters that are not secret), or its kind.
        received: Received,
        /// What the parameter accepts.
        expected: &'static str,
    },

    /// The chosen mode, or another parameter, needs a parameter that no source sets.
    #[error("{parameter} is required {needed}: set {parameter} {where_to_set}")]
    MissingParameter {
        /// The parameter's name.
        parameter: &'static str,
        /// What needs it and where that came from, for example `for mode s3 (mode from
        /// default)` or `with access_key (access_key from connection kwargs)`.
        needed: String,
        /// The places where the parameter can be set for this connection.
        where_to_set: String,
    },

    /// A secrets.toml file exists but cannot be read.
    #[error("cannot read secrets file {}", path.display())]
    SecretsFileUnreadable {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: std::io::Error,
    },

    /// A secrets.toml file is not UTF-8 or not TOML, or an entry on the way to the connection's
    /// table is not a table.
    #[error("malformed secrets file {}: {detail}", path.display())]
    SecretsFileMalformed {
        /// The file.
        path: PathBuf,
        /// Where and what, for example "line 3, column 12: invalid basic string".
        detail: String,
    },
}

impl Error {
    /// The parameter the error is about, if it is about one.
    pub fn parameter(&self) -> Option<&str> {
        match self {
            Self::UnknownParameter { parameter, .. } => Some(parameter),
            Self::InvalidValue { parameter, .. } | Self::MissingParameter { parameter, .. } => {
                Some(parameter)
            }
            Self::SecretsFileUnreadable { .. } | Self::SecretsFileMalformed { .. } => None,
        }
    }

    /// Builds the error for an unknown name, with a suggestion when the name is a near miss.
    pub(crate) fn unknown(parameter: &str, origin: &str, allowed: &'static [&'static str]) -> Self {
        Self::UnknownParameter {
            parameter: parameter.to_owned(),
            origin: origin.to_owned(),
            suggestion: closest(parameter, allowed),
            allowed,
        }
    }
}

/// What an [`Error::InvalidValue`] received, rendered so that no secret can show.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received {
    /// The value itself, quoted and shortened, for scalars of parameters that are not secret.
    Value(String),
    /// Only what kind of value it was ("a table", "a number"): for every value of a secret
    /// parameter, and for tables and lists.
    Kind(&'static str),
    /// Nothing can be said about the value.
    Unknown,
}

impl std::fmt::Display for Received {
    /// Renders as a fragment that ends with a space, so the message reads
    /// "invalid mode "ftp" from ..." or "invalid password (a table) from ...".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(value) => write!(f, "{value} "),
            Self::Kind(kind) => write!(f, "({kind}) "),
            Self::Unknown => Ok(()),
        }
    }
}

fn suggestion_text(suggestion: Option<&'static str>) -> String {
    suggestion.map(|name| format!(" (did you mean `{name}`?)")).unwrap_or_default()
}

/// The accepted name a misspelled one most likely meant, if any is close enough.
///
/// Case and `-` versus `_` are ignored, one transposition counts as one edit, and a name that
/// starts the other (`secret` for `secret_key`) counts as close.
fn closest(name: &str, allowed: &'static [&'static str]) -> Option<&'static str> {
    let wanted: Vec<char> = name.to_lowercase().replace('-', "_").chars().collect();
    let limit = (wanted.len() / 3).max(1);

    let mut best: Option<(usize, &'static str)> = None;
    for &candidate in allowed {
        let candidate_chars: Vec<char> = candidate.chars().collect();
        let is_prefix = wanted.len() >= 3
            && (candidate_chars.starts_with(&wanted) || wanted.starts_with(&candidate_chars));
        let distance = edit_distance(&wanted, &candidate_chars);
        let close = distance <= limit || is_prefix;
        if close && best.is_none_or(|(best_distance, _)| distance < best_distance) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Edit distance where insertions, deletions, substitutions and adjacent swaps each cost one.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    // Three rows suffice: the swap rule looks two rows back.
    let mut before_previous: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];

    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let substitution = usize::from(a[i - 1] != b[j - 1]);
            let mut best =
                (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + substitution);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before_previous[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before_previous, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PARAMETERS;

    fn distance(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        edit_distance(&a, &b)
    }

    #[test]
    fn edit_distance_counts_a_swap_as_one_edit() {
        assert_eq!(distance("bukcet", "bucket"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("mode", "mode"), 0);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn near_misses_suggest_the_intended_parameter() {
        assert_eq!(closest("bukcet", PARAMETERS), Some("bucket"));
        assert_eq!(closest("pasword", PARAMETERS), Some("password"));
        assert_eq!(closest("access-key", PARAMETERS), Some("access_key"));
        assert_eq!(closest("BUCKET", PARAMETERS), Some("bucket"));
        assert_eq!(closest("secret", PARAMETERS), Some("secret_key"));
        assert_eq!(closest("timeuot", PARAMETERS), Some("timeout"));
    }

    #[test]
    fn unrelated_names_suggest_nothing() {
        assert_eq!(closest("colour", PARAMETERS), None);
        assert_eq!(closest("x", PARAMETERS), None);
        assert_eq!(closest("max_entries", PARAMETERS), None);
    }

    #[test]
    fn unknown_parameter_message_names_source_suggestion_and_allowed_names() {
        let message = Error::unknown("bukcet", "connection kwargs", PARAMETERS).to_string();
        assert!(
            message.starts_with("unknown parameter `bukcet` in connection kwargs"),
            "{message}"
        );
        assert!(message.contains("(did you mean `bucket`?)"), "{message}");
        assert!(message.contains("allowed parameters: mode, password, salt, ttl"), "{message}");
    }

    #[test]
    fn messages_are_lowercase_without_full_stop() {
        let errors = [
            Error::unknown("x", "connection kwargs", PARAMETERS),
            Error::InvalidValue {
                parameter: "mode",
                origin: "connection kwargs".into(),
                received: Received::Value("\"ftp\"".into()),
                expected: "one of \"s3\", \"local\", \"dict\"",
            },
            Error::SecretsFileMalformed { path: "s.toml".into(), detail: "line 1".into() },
        ];
        for error in errors {
            let message = error.to_string();
            assert!(!message.ends_with('.'), "{message}");
            assert!(message.chars().next().is_some_and(char::is_lowercase), "{message}");
        }
    }
}
