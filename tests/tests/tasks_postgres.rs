//! The tasks API on a real PostgreSQL (DATABASE_URL; `.ci/run` starts one). A database of
//! its own, `ember_tasks_test`, is created and emptied first.

mod tasks_api;

fn test_database_url() -> Option<String> {
    let url = match std::env::var("DATABASE_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            require_or_skip(
                "PostgreSQL",
                "DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres)",
            );
            return None;
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        // Ignore "already exists".
        let _ = client
            .batch_execute("CREATE DATABASE ember_tasks_test")
            .await;
        Ok::<(), tokio_postgres::Error>(())
    });
    if let Err(e) = result {
        require_or_skip("PostgreSQL", &format!("{url} is unreachable: {e}"));
        return None;
    }
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&url);
    let test_url = format!("{base}/ember_tasks_test");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&test_url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
            .batch_execute("DROP TABLE IF EXISTS tasks")
            .await
            .expect("reset");
    });
    Some(test_url)
}

#[test]
fn tasks_api_on_postgres() {
    let Some(url) = test_database_url() else {
        return;
    };
    tasks::store::configure(tasks::store::Mode::Postgres { url, pool_size: 4 }).expect("configure");
    // Writes purge the cached reads, so the contract sees its own writes at once.
    tasks::set_purge_on_write(true);
    tasks_api::exercise(ember_runtime::Backend::Tokio);
    tasks_api::freshness(ember_runtime::Backend::Tokio);
}
