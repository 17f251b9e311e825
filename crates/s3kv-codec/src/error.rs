//! The one error type of the codec, separating every cause a caller would act on differently.

/// Everything that can go wrong while encoding or decoding an object, a manifest or a legacy value.
///
/// The variants separate what a caller does next: a wrong key asks for another password,
/// corruption asks for a backup, an unsupported object asks for a newer reader, and a limit
/// asks for a larger limit or a closer look at where the object came from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key does not open this object: the key commitment in the header does not match.
    ///
    /// A damaged salt or commitment also reads as a wrong key, because both are compared
    /// before anything else can be checked (see `docs/format.md`, "Errors").
    #[error("wrong key: the key commitment does not match")]
    WrongKey,

    /// A check failed: the object was damaged, tampered with, or copied under another identity.
    #[error("corrupt object: {check} check failed {}", location(*.chunk, check))]
    Corrupt {
        /// The chunk whose check failed, or `None` for the header, index or footer.
        chunk: Option<u64>,
        /// What was checked, for example "authentication" or "chunk length".
        check: &'static str,
    },

    /// The object ends before its own structure says it should.
    #[error("object is truncated")]
    Truncated,

    /// The object uses something this reader does not know: a format version, payload kind,
    /// compression, cipher, chunk size or flag.
    #[error("unsupported {what}")]
    Unsupported {
        /// What is unknown, with its value.
        what: String,
    },

    /// The object claims more than a limit allows, or a chunk inflates past its length.
    #[error("limit exceeded: {what}")]
    LimitExceeded {
        /// Which limit, with the claimed and allowed values.
        what: String,
    },

    /// The process could not get the memory a decoded value needs: the value is sound, the
    /// machine is short of memory.
    #[error("no memory for {needed} bytes of decoded value")]
    NoMemory {
        /// How many bytes the decoder asked for in all.
        needed: u64,
    },

    /// The object is encrypted and no key was given.
    #[error("the object is encrypted and no key was given")]
    KeyRequired,

    /// A key was given but the object is not encrypted.
    ///
    /// An unencrypted object planted among encrypted ones is never accepted.
    #[error("the object is not encrypted but a key was given")]
    NotEncrypted,

    /// The bytes do not start with the s3kv magic; the caller may try the legacy reader.
    #[error("not an s3kv object: the magic bytes are missing")]
    NotS3kv,

    /// The caller asked for something impossible, such as a chunk size out of range.
    #[error("invalid input: {what}")]
    InvalidInput {
        /// What is wrong with the input.
        what: String,
    },

    /// Reading or writing the underlying stream failed (streaming encoder and decoder only).
    #[error("i/o error: {source}")]
    Io {
        /// The error of the reader or writer.
        source: std::io::Error,
    },

    /// The cryptographic or compression library failed where it cannot fail on valid input,
    /// for example when the system random number generator is unavailable.
    #[error("internal error: {what}")]
    Internal {
        /// Which operation failed.
        what: &'static str,
    },
}

/// Says where a failed check sits, for the `Corrupt` message: a chunk, the structure around
/// the chunks, (for the checks of the decoded text and its total length) the whole value, or
/// for a manifest or a value of the original library, which have no chunks, the whole object.
fn location(chunk: Option<u64>, check: &str) -> String {
    match (chunk, check) {
        (Some(index), _) => format!("at chunk {index}"),
        (None, "utf-8" | "plaintext length") => "for the value as a whole".to_owned(),
        (None, check) if check.starts_with("manifest") || check.starts_with("legacy") => {
            "for the object as a whole".to_owned()
        }
        (None, _) => "in the header, index or footer".to_owned(),
    }
}

impl From<std::io::Error> for Error {
    /// The codec error an [`crate::Encoder`] or [`crate::Decoder`] returned through `std::io`,
    /// or [`Error::Io`] for an error of the stream itself.
    fn from(error: std::io::Error) -> Self {
        if error.get_ref().is_some_and(<dyn std::error::Error + Send + Sync>::is::<Self>) {
            match error.into_inner().map(<dyn std::error::Error + Send + Sync>::downcast::<Self>) {
                Some(Ok(codec)) => *codec,
                _ => Self::Internal { what: "unwrapping an i/o error" },
            }
        } else {
            Self::Io { source: error }
        }
    }
}

impl Error {
    /// A corrupt chunk or structure, with the check that failed.
    pub(crate) fn corrupt(chunk: Option<u64>, check: &'static str) -> Self {
        Self::Corrupt { chunk, check }
    }

    /// A limit the input exceeds.
    pub(crate) fn limit(what: impl Into<String>) -> Self {
        Self::LimitExceeded { what: what.into() }
    }

    /// Something the reader does not know.
    pub(crate) fn unsupported(what: impl Into<String>) -> Self {
        Self::Unsupported { what: what.into() }
    }

    /// A mistake of the caller.
    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        Self::InvalidInput { what: what.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn corrupt_message_names_chunk_or_structure() {
        let chunk = Error::corrupt(Some(3), "authentication").to_string();
        let structure = Error::corrupt(None, "footer").to_string();

        assert_eq!(chunk, "corrupt object: authentication check failed at chunk 3");
        assert_eq!(structure, "corrupt object: footer check failed in the header, index or footer");
        let text = Error::corrupt(None, "utf-8").to_string();
        assert_eq!(text, "corrupt object: utf-8 check failed for the value as a whole");
        let manifest = Error::corrupt(None, "manifest json").to_string();
        assert_eq!(
            manifest,
            "corrupt object: manifest json check failed for the object as a whole"
        );
    }

    #[test]
    fn messages_are_lowercase_without_full_stop() {
        let errors = [
            Error::WrongKey,
            Error::Truncated,
            Error::KeyRequired,
            Error::NotEncrypted,
            Error::NotS3kv,
            Error::unsupported("format version 9"),
            Error::limit("too much"),
            Error::invalid("bad"),
            Error::Internal { what: "random" },
        ];

        for error in errors {
            let message = error.to_string();
            assert!(message.starts_with(|c: char| c.is_lowercase()), "{message}");
            assert!(!message.ends_with('.'), "{message}");
        }
    }
}
