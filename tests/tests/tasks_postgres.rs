//! The tasks API on a real PostgreSQL (DATABASE_URL; `.ci/run` starts one), on both
//! backends. The run gets a database of its own, `ember_tasks_test_<pid>_<time>`, created
//! empty and dropped at the end, so concurrent runs (other checkouts, other test binaries)
//! never see each other's tasks.

mod tasks_api;

use ember_runtime::test_util::require_or_skip;

/// A database of this run's own; dropped (with its connections) when this is dropped.
struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `sql` on the database at `url`.
fn execute(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    runtime().block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let driver = tokio::spawn(conn);
        let result = client.batch_execute(sql).await;
        drop(client);
        let _ = driver.await;
        result
    })
}

impl TestDatabase {
    /// Creates the database, or says why not (skip, or fail under CI).
    fn create() -> Option<TestDatabase> {
        let admin_url = match std::env::var("DATABASE_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                require_or_skip(
                    "PostgreSQL",
                    "DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres)",
                );
                return None;
            }
        };
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        let name = format!("ember_tasks_test_{}_{time}", std::process::id());
        if let Err(e) = execute(&admin_url, &format!("CREATE DATABASE {name}")) {
            require_or_skip("PostgreSQL", &format!("{admin_url}: {e}"));
            return None;
        }
        let base = admin_url
            .split_once('?')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
        let url = format!("{base}/{name}");
        Some(TestDatabase {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = execute(&self.admin_url, &sql) {
            eprintln!("could not drop {}: {e}", self.name);
        }
    }
}

#[test]
fn tasks_api_on_postgres_on_both_backends() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    tasks::store::configure(tasks::store::Mode::Postgres {
        url: db.url.clone(),
        pool_size: 4,
    })
    .expect("configure");
    tasks_api::on_each_backend();
}
