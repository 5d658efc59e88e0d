//! The hello app as a library, so tests can serve it in-process.

pub mod handlers;

ember_runtime::include_app!();
