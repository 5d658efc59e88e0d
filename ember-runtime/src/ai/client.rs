//! The upstream HTTP client: hyper's pooled HTTP/1.1 client, one per worker thread (each
//! worker is a tokio current-thread runtime, so a thread-local client keeps its pooled
//! keep-alive connections on the runtime that drives them).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// How long an idle pooled connection to an upstream is kept.
const IDLE: Duration = Duration::from_secs(60);
/// How many idle connections per upstream host a worker keeps.
const MAX_IDLE_PER_HOST: usize = 256;

type Pool = Client<HttpConnector, Full<Bytes>>;

thread_local! {
    static CLIENT: Pool = build();
}

fn build() -> Pool {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_keepalive(Some(Duration::from_secs(30)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE)
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// Sends a request with this thread's client (must run inside a tokio runtime).
pub(crate) fn send(req: http::Request<Full<Bytes>>) -> ResponseFuture {
    CLIENT.with(|c| c.request(req))
}
