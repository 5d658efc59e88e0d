//! axum 0.8 peer. Like the hyper peer, each worker thread runs its own
//! current-thread tokio runtime with its own `SO_REUSEPORT` listener and
//! `axum::serve` on it (hyper-util's connection builder underneath; hyper writes
//! the Date header). The Server header is set by the handlers.

use std::net::SocketAddr;

use axum::http::header::{CONTENT_TYPE, SERVER};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use bench_common::{MESSAGE, PLAINTEXT};

async fn plaintext() -> impl IntoResponse {
    ([(SERVER, "axum"), (CONTENT_TYPE, "text/plain")], PLAINTEXT)
}

async fn json() -> impl IntoResponse {
    // `Json` serializes with serde_json on every request.
    ([(SERVER, "axum")], Json(MESSAGE))
}

fn worker(addr: SocketAddr) -> std::io::Result<()> {
    let std_listener = bench_common::reuseport_listener(addr)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let app = Router::new()
            .route("/plaintext", get(plaintext))
            .route("/json", get(json));
        axum::serve(listener.tap_io(|s| {
            let _ = s.set_nodelay(true);
        }), app)
        .await
    })
}

fn main() {
    let addr = bench_common::listen_addr();
    let workers = bench_common::workers();
    bench_common::announce("axum", addr, workers, ", current-thread runtime per worker");
    let threads: Vec<_> = (0..workers)
        .map(|i| {
            std::thread::Builder::new()
                .name(format!("axum-w{i}"))
                .spawn(move || {
                    if let Err(e) = worker(addr) {
                        eprintln!("axum: worker {i}: {e}");
                        std::process::exit(1);
                    }
                })
                .expect("spawn worker")
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}
