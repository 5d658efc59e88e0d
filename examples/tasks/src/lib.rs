//! The tasks API as a library, so tests can serve it in-process.
//!
//! Storage is chosen once per process with [`store::configure`]: in memory (shared by all
//! workers) or PostgreSQL (a connection pool per worker thread, prepared statements, the
//! schema created at start-up).

pub mod handlers;
pub mod store;

ember_runtime::include_app!();
