//! The upstream HTTP client: hyper's pooled HTTP/1.1 client, one per worker thread (each
//! worker is a tokio current-thread runtime, so a thread-local client keeps its pooled
//! keep-alive connections on the runtime that drives them). With the `ai-tls` feature
//! (default) `https://` upstreams go through rustls, verified against Mozilla's roots.

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

/// The read buffer of an upstream connection: what hyper offers each read. A streamed
/// answer's events are a few hundred bytes each, arriving one by one; a larger burst (or a
/// head longer than this) takes more reads, it is not cut short. 1 KiB instead of 4 KiB
/// takes 3 KiB off every open stream (the buffer is reused from its start once the
/// events read into it have been relayed).
const READ_BUF: usize = 1024;

#[cfg(feature = "ai-tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "ai-tls"))]
type Connector = HttpConnector;

type Pool = Client<Connector, Full<Bytes>>;

/// Whether this build can call `https://` upstreams.
pub(crate) const TLS: bool = cfg!(feature = "ai-tls");

thread_local! {
    static CLIENT: Pool = build();
}

fn build() -> Pool {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_keepalive(Some(Duration::from_secs(30)));
    #[cfg(feature = "ai-tls")]
    let connector = {
        connector.enforce_http(false);
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector)
    };
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE)
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
        .pool_timer(TokioTimer::new())
        // Events are small: a 1 KiB read buffer per upstream connection keeps an open
        // stream's memory low (hyper's default adapts upwards from 8 KiB).
        .http1_read_buf_exact_size(READ_BUF)
        .build(connector)
}

/// Sends a request with this thread's client (must run inside a tokio runtime).
pub(crate) fn send(req: http::Request<Full<Bytes>>) -> ResponseFuture {
    CLIENT.with(|c| c.request(req))
}
