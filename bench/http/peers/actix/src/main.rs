//! actix-web 4 peer: `HttpServer::workers(n)`, one actix (current-thread tokio)
//! runtime per worker, actix's own Date header cache.

use actix_web::http::header::{CONTENT_TYPE, SERVER};
use actix_web::{web, App, HttpResponse, HttpServer};
use bench_common::{MESSAGE, PLAINTEXT};

async fn plaintext() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((SERVER, "actix"))
        .insert_header((CONTENT_TYPE, "text/plain"))
        .body(PLAINTEXT)
}

async fn json() -> HttpResponse {
    let body = serde_json::to_vec(&MESSAGE).expect("serialize");
    HttpResponse::Ok()
        .insert_header((SERVER, "actix"))
        .insert_header((CONTENT_TYPE, "application/json"))
        .body(body)
}

fn main() -> std::io::Result<()> {
    let addr = bench_common::listen_addr();
    let workers = bench_common::workers();
    bench_common::announce("actix", addr, workers, "");
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| {
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
    })
}
