//! The facade's one error type: a kind that tells the caller what to do, and the context of
//! the failed operation (collection, key, backend, operation), never a value or a secret.

use std::fmt;

/// What went wrong, as a caller acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The key does not exist.
    NotFound,
    /// The password does not open the collection, or a value needs a password not given.
    WrongPassword,
    /// A stored value or manifest is damaged, tampered with, or was written for another key.
    Corrupt,
    /// The configuration is incomplete or has a bad value.
    Config,
    /// A key or argument is not acceptable (empty, too long for the backend).
    InvalidKey,
    /// The backend or the stored format cannot do what was asked.
    Unsupported,
    /// A conditional write lost against another writer.
    Conflict,
    /// The backend failed or could not be reached; trying again later may help.
    Backend,
    /// The caller's own reader or writer failed while a value streamed to or from it.
    Io,
    /// The process could not get the memory a value needs; the value itself may be sound.
    OutOfMemory,
    /// A bug in s3kv: please report it.
    Internal,
}

impl ErrorKind {
    /// A short lowercase name, stable for programs that match on it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not found",
            Self::WrongPassword => "wrong password",
            Self::Corrupt => "corrupt",
            Self::Config => "config",
            Self::InvalidKey => "invalid key",
            Self::Unsupported => "unsupported",
            Self::Conflict => "conflict",
            Self::Backend => "backend",
            Self::Io => "io",
            Self::OutOfMemory => "out of memory",
            Self::Internal => "internal",
        }
    }
}

/// Where an error happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The operation the caller asked for, such as `get` or `open collection`.
    pub operation: &'static str,
    /// The collection, when there is one.
    pub collection: Option<String>,
    /// The key, when there is one.
    pub key: Option<String>,
    /// The backend, as `Backend::describe` names it.
    pub backend: Option<String>,
}

/// An s3kv error: kind, message, context and the underlying cause.
///
/// Boxed, so that results stay one pointer wide on the success path.
#[derive(Debug)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    message: String,
    context: Context,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind` with a lowercase message and no context yet.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let inner =
            Inner { kind, message: message.into(), context: Context::default(), source: None };
        Self { inner: Box::new(inner) }
    }

    /// Attaches the underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// Names the operation, unless an inner layer already did.
    #[must_use]
    pub(crate) fn during(mut self, operation: &'static str) -> Self {
        if self.inner.context.operation.is_empty() {
            self.inner.context.operation = operation;
        }
        self
    }

    /// Names the collection.
    #[must_use]
    pub(crate) fn in_collection(mut self, collection: &str) -> Self {
        self.inner.context.collection.get_or_insert_with(|| collection.to_owned());
        self
    }

    /// Names the key.
    #[must_use]
    pub(crate) fn for_key(mut self, key: &str) -> Self {
        self.inner.context.key.get_or_insert_with(|| key.to_owned());
        self
    }

    /// Names the backend.
    #[must_use]
    pub(crate) fn on_backend(mut self, backend: String) -> Self {
        self.inner.context.backend.get_or_insert(backend);
        self
    }

    /// What the caller should do about it.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message without context.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Where it happened.
    pub fn context(&self) -> &Context {
        &self.inner.context
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Backend | ErrorKind::Conflict)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)?;
        let Context { operation, collection, key, backend } = &self.inner.context;
        let mut parts = Vec::new();
        if !operation.is_empty() {
            parts.push(format!("operation {operation}"));
        }
        if let Some(collection) = collection {
            parts.push(format!("collection {}", shown_name(collection)));
        }
        if let Some(key) = key {
            parts.push(format!("key {}", shown_name(key)));
        }
        if let Some(backend) = backend {
            parts.push(format!("on {backend}"));
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// Names longer than this are cut in messages: a key of thousands of characters (often the
/// very reason for the error) would drown the message.
const SHOWN_NAME_CHARS: usize = 80;

/// A key or collection name as a message shows it: quoted, and cut after
/// [`SHOWN_NAME_CHARS`] characters with its full length in bytes.
fn shown_name(name: &str) -> String {
    match name.char_indices().nth(SHOWN_NAME_CHARS) {
        None => format!("{name:?}"),
        Some((cut, _)) => format!("{:?}... ({} bytes)", &name[..cut], name.len()),
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source.as_deref().map(|source| source as &(dyn std::error::Error + 'static))
    }
}

impl From<s3kv_config::Error> for Error {
    fn from(error: s3kv_config::Error) -> Self {
        Self::new(ErrorKind::Config, error.to_string())
    }
}

impl From<s3kv_store::Error> for Error {
    #[expect(
        clippy::match_same_arms,
        reason = "every current store kind is named; the wildcard is for kinds added later"
    )]
    fn from(error: s3kv_store::Error) -> Self {
        use s3kv_store::ErrorKind as Store;
        let kind = match error.kind() {
            Store::NotFound => ErrorKind::NotFound,
            Store::ConditionFailed => ErrorKind::Conflict,
            Store::Unsupported => ErrorKind::Unsupported,
            Store::InvalidPath => ErrorKind::InvalidKey,
            Store::InvalidConfig => ErrorKind::Config,
            Store::Unavailable | Store::PermissionDenied | Store::Other => ErrorKind::Backend,
            // The store may grow kinds; until mapped, they are backend failures.
            _ => ErrorKind::Backend,
        };
        // The store's message already says what failed and where; keeping it as the message
        // (not as a source) keeps `Display` from saying it twice.
        let backend = error.backend().to_owned();
        Self::new(kind, error.to_string()).on_backend(backend)
    }
}

impl From<s3kv_codec::Error> for Error {
    fn from(error: s3kv_codec::Error) -> Self {
        use s3kv_codec::Error as Codec;
        let (kind, message) = match &error {
            Codec::WrongKey => (
                ErrorKind::WrongPassword,
                "the password does not open this value (wrong password or wrong salt)".to_owned(),
            ),
            Codec::KeyRequired => (
                ErrorKind::WrongPassword,
                "this value is encrypted: open the collection with its password".to_owned(),
            ),
            Codec::NotEncrypted => (
                ErrorKind::Corrupt,
                "this value is not encrypted but the collection is: refusing an unauthenticated \
                 value that anyone with write access to the storage could have planted"
                    .to_owned(),
            ),
            Codec::Unsupported { .. } => (
                ErrorKind::Unsupported,
                "stored value uses a format this version cannot read".to_owned(),
            ),
            Codec::InvalidInput { .. } | Codec::Internal { .. } => {
                (ErrorKind::Internal, "the codec failed on valid input".to_owned())
            }
            Codec::Truncated => (ErrorKind::Corrupt, "stored value is cut short".to_owned()),
            Codec::NoMemory { needed } => (
                ErrorKind::OutOfMemory,
                format!("this process has no memory for the {needed} bytes of the decoded value"),
            ),
            Codec::Io { source } if source.kind() == std::io::ErrorKind::OutOfMemory => {
                (ErrorKind::OutOfMemory, "this process has no memory for the value".to_owned())
            }
            Codec::LimitExceeded { .. } => {
                (ErrorKind::Corrupt, "stored value claims more than it can hold".to_owned())
            }
            Codec::Corrupt { .. } | Codec::NotS3kv => {
                (ErrorKind::Corrupt, "stored value failed its checks".to_owned())
            }
            // Kinds the codec may add later are read failures until mapped here.
            _ => (ErrorKind::Corrupt, "stored value is unreadable".to_owned()),
        };
        Self::new(kind, message).with_source(error)
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_are_cut_in_messages_with_their_length() {
        let key = "k".repeat(2000);
        let error = Error::new(ErrorKind::InvalidKey, "key too long").for_key(&key);
        let message = error.to_string();
        assert!(message.len() < 200, "{message}");
        assert!(message.contains(&format!("{:?}...", "k".repeat(80))), "{message}");
        assert!(message.contains("(2000 bytes)"), "{message}");
        // The context keeps the whole key for programs.
        assert_eq!(error.context().key.as_deref(), Some(key.as_str()));

        let short = Error::new(ErrorKind::NotFound, "no value").for_key("ünï");
        assert!(short.to_string().ends_with("(key \"ünï\")"), "{short}");
    }
}
