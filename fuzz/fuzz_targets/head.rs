//! Fuzz target: see `ember_runtime::__private::fuzzing::head`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_runtime::__private::fuzzing::head(data));
