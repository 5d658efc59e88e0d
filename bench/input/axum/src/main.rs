//! axum 0.8 serving the typed-input benchmark's routes with its `Json<T>` extractor, set up
//! like the HTTP benchmark's axum peer: a current-thread tokio runtime per worker, each with
//! its own `SO_REUSEPORT` listener (`LISTEN`, `WORKERS`; default 127.0.0.1:8082, 1).

use std::net::SocketAddr;

use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde::Deserialize;

/// The 1 KiB JSON body (the same type as Ember's).
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct Order {
    id: u64,
    customer: String,
    email: String,
    express: bool,
    note: String,
    tags: Vec<String>,
    items: Vec<Item>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct Item {
    sku: String,
    qty: u32,
    price_cents: u64,
}

async fn plaintext() -> &'static str {
    "Hello, World!"
}

async fn order(Json(o): Json<Order>) -> String {
    let total: u64 = o
        .items
        .iter()
        .map(|i| u64::from(i.qty) * i.price_cents)
        .sum::<u64>()
        + o.id % 2;
    total.to_string()
}

fn listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(s.into())
}

fn worker(addr: SocketAddr) -> std::io::Result<()> {
    let std_listener = listener(addr)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let l = tokio::net::TcpListener::from_std(std_listener)?;
        let app = Router::new()
            .route("/plaintext", get(plaintext))
            .route("/json", post(order));
        axum::serve(
            l.tap_io(|s| {
                let _ = s.set_nodelay(true);
            }),
            app,
        )
        .await
    })
}

fn main() {
    let addr: SocketAddr = std::env::var("LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:8082".to_owned())
        .parse()
        .expect("LISTEN is host:port");
    let workers: usize = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1);
    let threads: Vec<_> = (0..workers)
        .map(|_| std::thread::spawn(move || worker(addr)))
        .collect();
    for t in threads {
        if let Ok(Err(e)) = t.join() {
            eprintln!("bench-input-axum: {e}");
            std::process::exit(1);
        }
    }
}
