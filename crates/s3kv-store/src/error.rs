//! The one error type of the store, and how `OpenDAL`'s errors map onto its kinds.
//!
//! A caller decides what to do from [`ErrorKind`] alone: retry, report a missing key, report a
//! lost race, or fix the configuration. The rest of the error is context for people: which
//! operation, which path, which backend.

use std::fmt;

/// Boxed cause of an [`Error`], as returned by `source()`.
type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, in the terms a caller acts on.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No object at that path.
    NotFound,
    /// A conditional write lost: the object exists (create-only) or changed (compare-and-swap).
    ConditionFailed,
    /// The backend cannot do this, for example compare-and-swap on a local folder.
    Unsupported,
    /// The path is not one this backend can store: empty, too long, or with a reserved part.
    InvalidPath,
    /// The settings are wrong: a missing region, an unknown bucket, half a credential pair.
    InvalidConfig,
    /// The backend could not be reached or did not answer in time; trying later may work.
    Unavailable,
    /// The credentials do not allow this operation.
    PermissionDenied,
    /// Anything else; the source says more.
    Other,
}

impl ErrorKind {
    /// A short lowercase name, as used in messages and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not found",
            Self::ConditionFailed => "condition failed",
            Self::Unsupported => "unsupported",
            Self::InvalidPath => "invalid path",
            Self::InvalidConfig => "invalid configuration",
            Self::Unavailable => "unavailable",
            Self::PermissionDenied => "permission denied",
            Self::Other => "backend error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed backend operation, with the context needed to act on it.
///
/// The message never holds a stored value or a secret. `Display` names the operation, the path,
/// the backend (for S3 this includes the endpoint) and the kind, but not the source: walk
/// [`std::error::Error::source`] for the underlying cause.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    operation: &'static str,
    path: String,
    backend: String,
    message: String,
    #[source]
    source: Option<Source>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.operation)?;
        if !self.path.is_empty() {
            write!(f, " {:?}", self.path)?;
        }
        write!(f, " on {}: {}", self.backend, self.kind)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl Error {
    /// Builds an error from its parts; backends outside this crate use it too.
    pub fn new(
        kind: ErrorKind,
        operation: &'static str,
        path: impl Into<String>,
        backend: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            operation,
            path: path.into(),
            backend: backend.into(),
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong, in the terms a caller acts on.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The backend operation that failed: `get`, `head`, `put`, `delete`, `list`, `check` or
    /// `open`.
    pub fn operation(&self) -> &str {
        self.operation
    }

    /// The path the operation was given (relative to the backend root); empty when none.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The backend, as [`crate::Backend::describe`] names it.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// The message alone, without the context that `Display` adds.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the same call may succeed later unchanged.
    ///
    /// True for [`ErrorKind::Unavailable`] only. The S3 backend has already retried such
    /// failures with backoff before returning them, so a caller that retries again should wait.
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Unavailable
    }
}

/// Which way an operation touches the store; some `OpenDAL` kinds mean different things for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// `get`, `head`, `list`, `check`.
    Read,
    /// `put`.
    Write,
    /// `delete`.
    Delete,
}

/// Maps an `OpenDAL` error kind onto ours.
///
/// `OpenDAL`'s enum is `#[non_exhaustive]`, so a final arm is unavoidable; every kind `OpenDAL` 0.59
/// has is listed above it, so a new one lands on [`ErrorKind::Other`] only until it is mapped.
#[expect(
    clippy::match_same_arms,
    reason = "naming every kind OpenDAL has shows that none was forgotten"
)]
pub(crate) fn kind_of(error: &opendal::Error, access: Access) -> ErrorKind {
    use opendal::ErrorKind as Od;

    // OpenDAL marks an error temporary when a retry may help, and persistent once the retry
    // layer has given up on a temporary one. Either way the service was unreachable or busy.
    let transient = error.is_temporary() || error.is_persistent();
    match error.kind() {
        Od::NotFound => ErrorKind::NotFound,
        Od::ConditionNotMatch => ErrorKind::ConditionFailed,
        Od::Unsupported => ErrorKind::Unsupported,
        Od::PermissionDenied => ErrorKind::PermissionDenied,
        Od::ConfigInvalid => ErrorKind::InvalidConfig,
        Od::RateLimited => ErrorKind::Unavailable,
        // A service-side conflict is retryable when OpenDAL says so (S3 `OperationAborted`, or a
        // conditional PutObject racing another). Otherwise it is a conditional request that lost.
        Od::Conflict if transient => ErrorKind::Unavailable,
        Od::Conflict => ErrorKind::ConditionFailed,
        // On a folder, `a` may be a directory because `a/b` exists, or `a/b` may be impossible
        // because `a` is a file. For reads there is simply no object; a write cannot be stored.
        Od::IsADirectory | Od::NotADirectory | Od::AlreadyExists => match access {
            Access::Read | Access::Delete => ErrorKind::NotFound,
            Access::Write => ErrorKind::InvalidPath,
        },
        // OpenDAL reports most file system errors as unexpected and temporary; the operating
        // system's own kind says more, and is never about a service being unreachable.
        Od::Unexpected if let Some(io) = io_source(error) => kind_of_io(io.kind(), access),
        Od::Unexpected if transient => ErrorKind::Unavailable,
        Od::Unexpected | Od::IsSameFile | Od::RangeNotSatisfied => ErrorKind::Other,
        _ => ErrorKind::Other,
    }
}

/// The operating system error directly under an `OpenDAL` error, as the fs service reports.
fn io_source(error: &opendal::Error) -> Option<&std::io::Error> {
    std::error::Error::source(error)?.downcast_ref::<std::io::Error>()
}

/// Maps an operating system error kind onto ours.
fn kind_of_io(kind: std::io::ErrorKind, access: Access) -> ErrorKind {
    use std::io::ErrorKind as Io;

    match kind {
        // A write makes the folders it needs: one missing is a folder of the backend's own
        // (its temporary folder, its root) removed while it ran, not a missing object.
        Io::NotFound if access == Access::Write => ErrorKind::Other,
        Io::NotFound => ErrorKind::NotFound,
        Io::PermissionDenied | Io::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
        Io::IsADirectory | Io::NotADirectory | Io::DirectoryNotEmpty | Io::AlreadyExists => {
            match access {
                Access::Read | Access::Delete => ErrorKind::NotFound,
                Access::Write => ErrorKind::InvalidPath,
            }
        }
        Io::InvalidFilename => ErrorKind::InvalidPath,
        Io::Interrupted | Io::TimedOut | Io::WouldBlock => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

/// Wraps an `OpenDAL` error with our context; the `OpenDAL` error stays reachable as the source.
pub(crate) fn from_opendal(
    error: opendal::Error,
    operation: &'static str,
    access: Access,
    path: &str,
    backend: &str,
) -> Error {
    let kind = kind_of(&error, access);
    let said = if error.message().trim().is_empty() {
        unexplained(&error)
    } else {
        error.message().to_owned()
    };
    let message = match kind {
        ErrorKind::Unavailable if error.is_persistent() => {
            format!("{said} (after any retries allowed)")
        }
        _ => said,
    };
    Error::new(kind, operation, path, backend, message).with_source(error)
}

/// What to say of an error `OpenDAL` left without a message: an answer with an empty body (a
/// redirect, a bare 500). Its status is kept in the error's context, which only its text shows.
fn unexplained(error: &opendal::Error) -> String {
    let text = error.to_string();
    let status = text
        .split_once("response: Parts { status: ")
        .and_then(|(_, rest)| rest.get(..3))
        .and_then(|digits| digits.parse::<u16>().ok());
    match status {
        Some(status @ 300..=399) => format!(
            "the server answered HTTP {status}, a redirect, which is not followed: check the \
             endpoint, the region and the addressing style"
        ),
        Some(status) => format!("the server answered HTTP {status} and gave no reason"),
        None => "the server gave no reason".to_owned(),
    }
}

/// Wraps an operating-system error of the fs backend with our context.
#[cfg(feature = "fs")]
pub(crate) fn from_io(
    error: std::io::Error,
    operation: &'static str,
    access: Access,
    path: &str,
    backend: &str,
) -> Error {
    let kind = kind_of_io(error.kind(), access);
    let message = match kind {
        ErrorKind::NotFound => "no object at this path".to_owned(),
        _ if error.kind() == std::io::ErrorKind::NotFound => {
            format!("a folder the write needs is gone (removed while it ran?): {error}")
        }
        ErrorKind::InvalidPath if error.kind() == std::io::ErrorKind::IsADirectory => format!(
            "a folder is where this value's file goes ({error}): in a folder store a key cannot \
             be written while other keys start with it and a `/` (`a` beside `a/b`), nor over a \
             folder put there by hand"
        ),
        ErrorKind::InvalidPath if error.kind() == std::io::ErrorKind::NotADirectory => format!(
            "a file is where one of this path's folders goes ({error}): in a folder store a key \
             cannot be written while another key is the start of it and a `/` (`a/b` beside \
             `a`), nor below a file put there by hand"
        ),
        _ => error.to_string(),
    };
    Error::new(kind, operation, path, backend, message).with_source(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn od(kind: opendal::ErrorKind) -> opendal::Error {
        opendal::Error::new(kind, "inner")
    }

    #[test]
    fn a_folder_gone_during_a_write_is_not_a_missing_object() {
        let gone = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let write = from_io(gone(), "put", Access::Write, "k", "folder /x");
        assert_eq!(write.kind(), ErrorKind::Other);
        assert!(write.message().contains("a folder the write needs is gone"), "{write}");
        assert_eq!(
            from_io(gone(), "get", Access::Read, "k", "folder /x").kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn a_path_taken_by_a_folder_or_a_file_says_which_and_why() {
        let write = |kind| from_io(std::io::Error::from(kind), "put", Access::Write, "a", "f");
        let folder = write(std::io::ErrorKind::IsADirectory);
        assert_eq!(folder.kind(), ErrorKind::InvalidPath);
        assert!(folder.message().contains("a folder is where this value's file goes"), "{folder}");
        let file = write(std::io::ErrorKind::NotADirectory);
        assert_eq!(file.kind(), ErrorKind::InvalidPath);
        assert!(file.message().contains("a file is where one of this path's folders"), "{file}");
    }

    #[test]
    fn condition_not_match_maps_to_condition_failed() {
        assert_eq!(
            kind_of(&od(opendal::ErrorKind::ConditionNotMatch), Access::Write),
            ErrorKind::ConditionFailed
        );
    }

    #[test]
    fn temporary_unexpected_maps_to_unavailable_and_is_retryable() {
        let error = od(opendal::ErrorKind::Unexpected).set_temporary();
        let ours = from_opendal(error, "get", Access::Read, "a", "memory");
        assert_eq!(ours.kind(), ErrorKind::Unavailable);
        assert!(ours.is_retryable());
    }

    #[cfg(feature = "s3")]
    #[test]
    fn an_answer_without_a_body_is_said_by_its_status() {
        let response = http::Response::builder().status(307).body(()).expect("a response");
        let (parts, ()) = response.into_parts();
        let redirect = opendal::Error::new(opendal::ErrorKind::Unexpected, "")
            .with_context("response", format!("{parts:?}"));
        let ours = from_opendal(redirect, "get", Access::Read, "a", "s3");
        assert!(ours.to_string().contains("answered HTTP 307, a redirect"), "{ours}");

        let response = http::Response::builder().status(500).body(()).expect("a response");
        let (parts, ()) = response.into_parts();
        let failure = opendal::Error::new(opendal::ErrorKind::Unexpected, " ")
            .with_context("response", format!("{parts:?}"))
            .set_persistent();
        let ours = from_opendal(failure, "get", Access::Read, "a", "s3");
        assert!(ours.to_string().contains("answered HTTP 500 and gave no reason"), "{ours}");

        let bare = from_opendal(od_empty(), "get", Access::Read, "a", "s3");
        assert!(bare.to_string().contains("the server gave no reason"), "{bare}");
    }

    #[cfg(feature = "s3")]
    fn od_empty() -> opendal::Error {
        opendal::Error::new(opendal::ErrorKind::Unexpected, "")
    }

    #[test]
    fn permanent_unexpected_maps_to_other_and_is_not_retryable() {
        let ours = from_opendal(od(opendal::ErrorKind::Unexpected), "get", Access::Read, "a", "m");
        assert_eq!(ours.kind(), ErrorKind::Other);
        assert!(!ours.is_retryable());
    }

    #[test]
    fn directory_in_the_way_is_not_found_for_reads_and_invalid_path_for_writes() {
        let error = od(opendal::ErrorKind::IsADirectory);
        assert_eq!(kind_of(&error, Access::Read), ErrorKind::NotFound);
        assert_eq!(kind_of(&error, Access::Write), ErrorKind::InvalidPath);
    }

    #[test]
    fn file_system_errors_map_by_their_own_kind_not_as_unavailable() {
        let io = |kind| {
            od(opendal::ErrorKind::Unexpected)
                .set_temporary()
                .set_source(std::io::Error::from(kind))
        };
        let is_dir = io(std::io::ErrorKind::IsADirectory);
        assert_eq!(kind_of(&is_dir, Access::Read), ErrorKind::NotFound);
        assert_eq!(kind_of(&is_dir, Access::Write), ErrorKind::InvalidPath);
        let full = io(std::io::ErrorKind::StorageFull);
        assert_eq!(kind_of(&full, Access::Write), ErrorKind::Other);
        let long = io(std::io::ErrorKind::InvalidFilename);
        assert_eq!(kind_of(&long, Access::Write), ErrorKind::InvalidPath);
    }

    #[test]
    fn config_invalid_and_rate_limited_map_to_their_kinds() {
        assert_eq!(
            kind_of(&od(opendal::ErrorKind::ConfigInvalid), Access::Read),
            ErrorKind::InvalidConfig
        );
        assert_eq!(
            kind_of(&od(opendal::ErrorKind::RateLimited), Access::Read),
            ErrorKind::Unavailable
        );
    }

    #[test]
    fn display_names_operation_path_backend_and_kind_but_not_the_source() {
        let error = Error::new(ErrorKind::NotFound, "get", "a/b", "memory", "no such object")
            .with_source(od(opendal::ErrorKind::NotFound));
        assert_eq!(error.to_string(), r#"get "a/b" on memory: not found: no such object"#);
    }

    #[test]
    fn display_without_path_skips_it() {
        let error = Error::new(ErrorKind::Unavailable, "check", "", "s3 bucket `b`", "");
        assert_eq!(error.to_string(), "check on s3 bucket `b`: unavailable");
    }
}
