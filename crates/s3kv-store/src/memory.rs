//! The memory backend: a process-local store for tests and demos, with the semantics of the
//! others (create-only writes, prefix listings, missing objects reported as not found).

use std::sync::Arc;

use opendal::Operator;
use opendal::services::Memory;

use crate::operator::{Flavor, OpendalBackend};
use crate::{Backend, Capabilities, Error, ErrorKind};

/// Longest path the memory backend accepts; memory has no real limit, this only keeps paths sane.
const MAX_PATH_BYTES: usize = 16 * 1024;

/// Opens a new, empty memory store; each call gives an independent one.
///
/// # Errors
///
/// [`ErrorKind::Other`] if `OpenDAL` cannot build the service, which does not happen in practice.
pub fn memory() -> Result<Arc<dyn Backend>, Error> {
    let description = "memory".to_owned();
    let operator = Operator::new(Memory::default()).map_err(|e| {
        Error::new(
            ErrorKind::Other,
            "open",
            "",
            description.as_str(),
            "cannot build the memory service",
        )
        .with_source(e)
    })?;

    let mut capabilities = Capabilities::new(MAX_PATH_BYTES);
    capabilities.conditional_create = operator.info().capability().write_with_if_not_exists;

    let backend = OpendalBackend::new(
        operator.clone(),
        operator,
        Flavor::Memory,
        description,
        capabilities,
        None,
    );
    Ok(Arc::new(backend))
}
