//! The tasks API on its default in-memory store.

mod tasks_api;

#[test]
fn tasks_api_in_memory() {
    tasks::store::configure(tasks::store::Mode::Memory).expect("configure");
    // One backend: the store is per process and the exercise expects it empty.
    // Writes purge the cached reads, so the contract sees its own writes at once.
    tasks::set_purge_on_write(true);
    tasks_api::exercise(ember_runtime::Backend::IoUring);
    tasks_api::freshness(ember_runtime::Backend::IoUring);
}
