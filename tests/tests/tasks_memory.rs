//! The tasks API on its default in-memory store.

mod tasks_api;

#[test]
fn tasks_api_in_memory_on_both_backends() {
    tasks::store::configure(tasks::store::Mode::Memory).expect("configure");
    tasks_api::on_each_backend();
}
