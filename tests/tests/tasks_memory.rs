//! The tasks API on its default in-memory store.

mod tasks_api;

#[test]
fn tasks_api_in_memory() {
    tasks::store::configure(tasks::store::Mode::Memory).expect("configure");
    // One backend: the store is per process and the exercise expects it empty.
    tasks_api::exercise(ember_runtime::Backend::IoUring);
}
