//! The memory backend: a process-local store for tests and demos, with the semantics of the
//! others (create-only writes, compare-and-swap on entity tags, prefix listings, missing objects
//! reported as not found).

use std::sync::Arc;

use opendal::Operator;
use opendal::services::Memory;

use crate::operator::{Flavor, Local, OpendalBackend};
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

    // s3kv hashes values for entity tags and checks conditions under a lock itself: the
    // memory service has neither.
    let mut capabilities = Capabilities::new(MAX_PATH_BYTES);
    capabilities.conditional_create = true;
    capabilities.compare_and_swap = true;
    // Values are in memory already: a range is a slice of the stored value, nothing is copied.
    capabilities.ranged_read = true;

    let local = Local::Memory(tokio::sync::Mutex::new(()));
    let backend =
        OpendalBackend::new(operator, Flavor::Memory, description, capabilities, None, Some(local));
    Ok(Arc::new(backend))
}
