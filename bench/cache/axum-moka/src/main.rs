//! axum 0.8 serving `/slow` (a 1 ms handler) and `/slow-cached` (the same through a moka
//! cache with a 1 s TTL and `get_with`, which coalesces concurrent misses).

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use moka::future::Cache;

const BODY: &str = "{\"tasks\":[{\"id\":1,\"title\":\"write the benchmark\",\"done\":false},{\"id\":2,\"title\":\"read the results\",\"done\":false}]}";

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(1)).await;
    BODY
}

fn main() -> std::io::Result<()> {
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let addr = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8082".to_owned());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let cache: Cache<String, &'static str> = Cache::builder()
            .max_capacity(10_000)
            .time_to_live(Duration::from_secs(1))
            .build();
        let app = Router::new().route("/slow", get(slow)).route(
            "/slow-cached",
            get(move |uri: axum::http::Uri| {
                let cache = cache.clone();
                async move { cache.get_with(uri.to_string(), slow()).await }
            }),
        );
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        eprintln!("axum+moka on http://{addr} workers={workers}");
        axum::serve(listener, app).await
    })
}
