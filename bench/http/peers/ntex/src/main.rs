//! ntex 3 peer on ntex's tokio runtime feature: `HttpServer::workers(n)`, one
//! single-threaded ntex runtime per worker, ntex's own Date header cache.

use bench_common::{MESSAGE, PLAINTEXT};
use ntex::http::header::{CONTENT_TYPE, SERVER};
use ntex::web::{self, App, HttpResponse, HttpServer};

async fn plaintext() -> HttpResponse {
    HttpResponse::Ok()
        .header(SERVER, "ntex")
        .header(CONTENT_TYPE, "text/plain")
        .body(PLAINTEXT)
}

async fn json() -> HttpResponse {
    let body = serde_json::to_vec(&MESSAGE).expect("serialize");
    HttpResponse::Ok()
        .header(SERVER, "ntex")
        .header(CONTENT_TYPE, "application/json")
        .body(body)
}

#[ntex::main]
async fn main() -> std::io::Result<()> {
    let addr = bench_common::listen_addr();
    let workers = bench_common::workers();
    bench_common::announce("ntex", addr, workers, ", tokio runtime feature");
    HttpServer::new(async || {
        App::new()
            .route("/plaintext", web::get().to(plaintext))
            .route("/json", web::get().to(json))
    })
    .workers(workers)
    .backlog(4096)
    .disable_signals()
    .bind(addr)?
    .run()
    .await
}
