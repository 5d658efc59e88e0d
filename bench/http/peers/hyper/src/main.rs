//! hyper 1.x peer: http1 only. Each worker thread runs its own current-thread tokio
//! runtime with its own `SO_REUSEPORT` listener; connections are served by
//! `hyper::server::conn::http1` with keep-alive and `pipeline_flush` on. hyper
//! writes the Date header itself (its cached date).

use std::convert::Infallible;
use std::net::SocketAddr;

use bench_common::{MESSAGE, PLAINTEXT};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

static SERVER_NAME: HeaderValue = HeaderValue::from_static("hyper");
static TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain");
static APP_JSON: HeaderValue = HeaderValue::from_static("application/json");

fn respond(ct: &'static HeaderValue, body: Bytes) -> Response<Full<Bytes>> {
    let len = body.len();
    let mut rsp = Response::new(Full::new(body));
    let h = rsp.headers_mut();
    h.insert(SERVER, SERVER_NAME.clone());
    h.insert(CONTENT_TYPE, ct.clone());
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    rsp
}

async fn handle(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/plaintext") => respond(&TEXT_PLAIN, Bytes::from_static(PLAINTEXT.as_bytes())),
        (&Method::GET, "/json") => {
            let body = serde_json::to_vec(&MESSAGE).expect("serialize");
            respond(&APP_JSON, Bytes::from(body))
        }
        _ => {
            let mut rsp = respond(&TEXT_PLAIN, Bytes::from_static(b"Not Found"));
            *rsp.status_mut() = StatusCode::NOT_FOUND;
            rsp
        }
    })
}

fn worker(addr: SocketAddr) -> std::io::Result<()> {
    let std_listener = bench_common::reuseport_listener(addr)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let mut builder = http1::Builder::new();
        builder.keep_alive(true).pipeline_flush(true);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("hyper: accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service_fn(handle));
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    })
}

fn main() {
    let addr = bench_common::listen_addr();
    let workers = bench_common::workers();
    bench_common::announce("hyper", addr, workers, ", current-thread runtime per worker");
    let threads: Vec<_> = (0..workers)
        .map(|i| {
            std::thread::Builder::new()
                .name(format!("hyper-w{i}"))
                .spawn(move || {
                    if let Err(e) = worker(addr) {
                        eprintln!("hyper: worker {i}: {e}");
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
