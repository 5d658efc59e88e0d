//! The echo app as a library, so tests can serve it in-process.
//!
//! Contract: any method on any path → `200` with the JSON body
//! `{"method","path","query","headers":[[name,value],...],"body"}`, where `path` is the raw
//! path, `query` the raw query without `?` (`""` when none), and header values and the body
//! are decoded byte for byte as latin-1 (byte `0xNN` → `U+00NN`).

pub mod handlers;

ember_runtime::include_app!();
