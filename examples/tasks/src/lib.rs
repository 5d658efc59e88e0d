//! The tasks API as a library, so tests can serve it in-process.
//!
//! Storage is chosen once per process with [`store::configure`]: in memory (shared by all
//! workers) or PostgreSQL (a connection pool per worker thread, prepared statements, the
//! schema created at start-up).

pub mod handlers;

use std::sync::atomic::{AtomicBool, Ordering};

static PURGE_ON_WRITE: AtomicBool = AtomicBool::new(false);

/// Whether creates, updates and deletes purge the cached reads (`TASKS_PURGE_ON_WRITE=1`);
/// off, reads are fresh within the cache's 1 s TTL.
pub fn set_purge_on_write(on: bool) {
    PURGE_ON_WRITE.store(on, Ordering::Relaxed);
}

/// See [`set_purge_on_write`].
pub fn purge_on_write() -> bool {
    PURGE_ON_WRITE.load(Ordering::Relaxed)
}
pub mod store;

ember_runtime::include_app!();
