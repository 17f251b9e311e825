//! The fs backend: objects as files under a root folder.
//!
//! Overwrites go to a temporary file in a reserved folder under the root, are synced, then
//! renamed over the target, so a crash never leaves a torn object. Create-only writes open the
//! target with `O_EXCL`, so of several racing creators exactly one wins.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use opendal::Operator;
use opendal::services::Fs;

use crate::operator::{Flavor, OpendalBackend};
use crate::{Backend, Capabilities, Error, ErrorKind};

/// Folder under the root for temporary files of atomic writes; never listed, never writable.
pub(crate) const TEMPORARY_FOLDER: &str = ".s3kv-tmp";

/// Longest file name on the file systems s3kv targets (ext4, xfs, btrfs, apfs, ntfs).
const MAX_NAME_BYTES: usize = 255;

/// Bytes `OpenDAL` appends to a file name for its temporary file: a dot and 8 random characters.
const TEMPORARY_SUFFIX_BYTES: usize = 9;

/// Longest absolute path Linux accepts in one system call, the terminating NUL included.
const MAX_ABSOLUTE_PATH_BYTES: usize = 4096;

/// Settings of the fs backend.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsSettings {
    /// The folder that holds the objects; created if missing.
    pub root: PathBuf,
}

impl FsSettings {
    /// Settings for objects under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
}

/// Opens the folder backend, creating its root folder if missing.
///
/// # Errors
///
/// [`ErrorKind::InvalidConfig`] when the root is not valid UTF-8 or cannot be created or used.
pub fn fs(settings: FsSettings) -> Result<Arc<dyn Backend>, Error> {
    let FsSettings { root } = settings;
    let description = format!("folder {}", root.display());
    let invalid = |message: &str| {
        Error::new(ErrorKind::InvalidConfig, "open", "", description.as_str(), message)
    };

    let root = root.to_str().ok_or_else(|| invalid("the folder path is not valid UTF-8"))?;
    if root.is_empty() {
        return Err(invalid("the folder path is empty"));
    }
    std::fs::create_dir_all(root)
        .map_err(|e| invalid("cannot create the folder").with_source(e))?;
    let root = Path::new(root)
        .canonicalize()
        .map_err(|e| invalid("cannot resolve the folder").with_source(e))?;
    let root_text = root.to_str().ok_or_else(|| invalid("the folder path is not valid UTF-8"))?;
    let temporary = root.join(TEMPORARY_FOLDER);
    let temporary_text =
        temporary.to_str().ok_or_else(|| invalid("the folder path is not valid UTF-8"))?;

    let build = |builder: Fs| {
        Operator::new(builder).map_err(|e| invalid("cannot open the folder").with_source(e))
    };
    let operator = build(Fs::default().root(root_text).atomic_write_dir(temporary_text))?;
    // TODO: create-only writes open the target itself with `O_EXCL` and fill it in place, so a
    // reader can see a partly written object, and a crash mid-write leaves a torn one that
    // blocks later creates. Writing a temporary file and hard-linking it into place would make
    // them atomic too.
    let create_operator = build(Fs::default().root(root_text))?;

    let capabilities =
        fs_capabilities(root_text.len(), operator.info().capability().write_with_if_not_exists);
    let description = format!("folder {root_text}");
    let backend = OpendalBackend::new(
        operator,
        create_operator,
        Flavor::Fs,
        description,
        capabilities,
        Some(TEMPORARY_FOLDER),
    );
    Ok(Arc::new(backend))
}

/// Limits of a folder whose absolute path is `root_bytes` long.
fn fs_capabilities(root_bytes: usize, conditional_create: bool) -> Capabilities {
    // The absolute path is root, `/`, path, NUL. The temporary file of an atomic write is named
    // after the last part plus a suffix, so every part must leave room for that suffix.
    let mut capabilities =
        Capabilities::new(MAX_ABSOLUTE_PATH_BYTES.saturating_sub(root_bytes + 2));
    capabilities.max_component_bytes = Some(MAX_NAME_BYTES - TEMPORARY_SUFFIX_BYTES);
    capabilities.conditional_create = conditional_create;
    capabilities
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_limits_leave_room_for_root_and_temporary_suffix() {
        let capabilities = fs_capabilities(10, true);
        assert_eq!(capabilities.max_path_bytes, 4084);
        assert_eq!(capabilities.max_component_bytes, Some(246));
    }
}
