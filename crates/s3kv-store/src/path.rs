//! Path rules shared by every backend, checked before anything is sent.
//!
//! `OpenDAL` normalises paths: it drops empty parts and a leading `/`, and treats a trailing `/` as
//! a directory. Left alone, `a//b` and `a/b` would name one object, and `..` could leave a folder
//! root. Rejecting such paths up front keeps distinct paths distinct on every backend.

use crate::{Capabilities, Error, ErrorKind};

/// Checks an object path against the shared rules and the backend's limits.
pub(crate) fn check_object_path(
    path: &str,
    capabilities: &Capabilities,
    reserved: Option<&str>,
    operation: &'static str,
    backend: &str,
) -> Result<(), Error> {
    let invalid = |message: String| {
        Err(Error::new(ErrorKind::InvalidPath, operation, path, backend, message))
    };

    if path.is_empty() {
        return invalid("the path is empty".to_owned());
    }
    if path.len() > capabilities.max_path_bytes {
        return invalid(format!(
            "the path is {} bytes long; this backend allows at most {}",
            path.len(),
            capabilities.max_path_bytes
        ));
    }
    if let Some(problem) = structural_problem(path) {
        return invalid(problem);
    }
    if let Some(limit) = capabilities.max_component_bytes
        && let Some(long) = path.split('/').find(|part| part.len() > limit)
    {
        return invalid(format!(
            "a part of the path is {} bytes long; this backend allows at most {limit} per part",
            long.len()
        ));
    }
    if let Some(reserved) = reserved
        && is_under(path, reserved)
    {
        return invalid(format!("paths under `{reserved}/` are reserved by this backend"));
    }
    Ok(())
}

/// Checks a listing prefix: empty (everything), or complete parts followed by a partial one.
///
/// Only the parts before the last `/` must be well formed: `a/.` is a fine prefix of `a/.x`.
pub(crate) fn check_prefix(prefix: &str, backend: &str) -> Result<(), Error> {
    let folder = folder_of(prefix);
    let problem = if prefix.starts_with('/') {
        Some("the prefix starts with `/`".to_owned())
    } else if prefix.contains('\0') {
        Some("the prefix contains a NUL character".to_owned())
    } else if let Some(complete) = folder.strip_suffix('/') {
        structural_problem(complete)
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(Error::new(ErrorKind::InvalidPath, "list", prefix, backend, problem)),
    }
}

/// Says what is wrong with a root prefix (without leading or trailing `/`), if anything.
#[cfg(feature = "s3")]
pub(crate) fn root_problem(root: &str) -> Option<String> {
    if root.is_empty() { None } else { structural_problem(root) }
}

/// Says what is wrong with the shape of an object path, if anything.
fn structural_problem(path: &str) -> Option<String> {
    if path.is_empty() {
        return Some("the path is empty".to_owned());
    }
    if path.starts_with('/') {
        return Some("the path starts with `/`".to_owned());
    }
    if path.contains('\0') {
        return Some("the path contains a NUL character".to_owned());
    }
    for part in path.split('/') {
        match part {
            "" => return Some("the path has an empty part (`//` or a trailing `/`)".to_owned()),
            "." | ".." => return Some(format!("the path has a `{part}` part")),
            _ => {}
        }
    }
    None
}

/// Whether `path` is `folder` itself or inside it.
pub(crate) fn is_under(path: &str, folder: &str) -> bool {
    path.strip_prefix(folder).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The folder part of a listing prefix: everything up to and including its last `/`.
pub(crate) fn folder_of(prefix: &str) -> &str {
    match prefix.rfind('/') {
        Some(index) => &prefix[..=index],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str) -> Result<(), ErrorKind> {
        let mut capabilities = Capabilities::new(32);
        capabilities.max_component_bytes = Some(8);
        check_object_path(path, &capabilities, Some(".tmp"), "put", "test").map_err(|e| e.kind())
    }

    #[test]
    fn ordinary_paths_pass() {
        assert_eq!(check("a"), Ok(()));
        assert_eq!(check("a/b c/+%=?#"), Ok(()));
        assert_eq!(check(".tmpx/a"), Ok(()));
        assert_eq!(check("..a/b.."), Ok(()));
    }

    #[test]
    fn malformed_paths_are_invalid() {
        for path in ["", "/a", "a/", "a//b", "./a", "a/../b", "a/..", "a\0b"] {
            assert_eq!(check(path), Err(ErrorKind::InvalidPath), "{path:?}");
        }
    }

    #[test]
    fn paths_past_the_limits_are_invalid() {
        assert_eq!(check("123456789"), Err(ErrorKind::InvalidPath));
        assert_eq!(check("12345678/12345678/12345678/123456"), Err(ErrorKind::InvalidPath));
        assert_eq!(check("12345678/12345678"), Ok(()));
    }

    #[test]
    fn reserved_folder_is_invalid() {
        assert_eq!(check(".tmp"), Err(ErrorKind::InvalidPath));
        assert_eq!(check(".tmp/x"), Err(ErrorKind::InvalidPath));
    }

    #[test]
    fn prefixes_may_be_empty_or_end_with_a_slash() {
        for prefix in ["", "a", "a/", "a/b", "a/b/", "a/.", "a/.."] {
            assert!(check_prefix(prefix, "test").is_ok(), "{prefix:?}");
        }
        for prefix in ["/", "/a", "a//", "a//b", "../a", "a/./"] {
            assert!(check_prefix(prefix, "test").is_err(), "{prefix:?}");
        }
    }

    #[test]
    fn folder_of_keeps_up_to_the_last_slash() {
        assert_eq!(folder_of(""), "");
        assert_eq!(folder_of("abc"), "");
        assert_eq!(folder_of("a/bc"), "a/");
        assert_eq!(folder_of("a/b/"), "a/b/");
    }
}
