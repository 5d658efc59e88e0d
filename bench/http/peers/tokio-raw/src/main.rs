//! A hand-rolled, near-the-limit HTTP/1.1 responder on tokio.
//!
//! One current-thread tokio runtime per worker thread, each with its own
//! `SO_REUSEPORT` listener. A connection reads into one buffer, answers every
//! complete request in it (`bench_common::raw`, httparse) into one output buffer
//! and writes that once: pipelined requests that arrive in one read get a single
//! write. The Date header is cached per worker and refreshed once a second by a
//! timer task.

use std::net::SocketAddr;
use std::time::Duration;

use bench_common::raw::{refresh_date, Responder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READ_CHUNK: usize = 4096;
const MAX_BUF: usize = 64 * 1024;

async fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut responder = Responder::new("tokio-raw");
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    loop {
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            if buf.len() >= MAX_BUF {
                return Ok(()); // a request this large is not a benchmark request
            }
            buf.reserve(READ_CHUNK);
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        let handled = responder.handle(&buf, &mut out);
        if handled.consumed == buf.len() {
            buf.clear();
        } else {
            buf.drain(..handled.consumed);
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if !handled.keep_open {
            return Ok(());
        }
    }
}

fn worker(addr: SocketAddr) -> std::io::Result<()> {
    let std_listener = bench_common::reuseport_listener(addr)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        tokio::spawn(async {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                refresh_date();
            }
        });
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(async move {
                        let _ = serve(stream).await;
                    });
                }
                Err(e) => eprintln!("tokio-raw: accept: {e}"),
            }
        }
    })
}

fn main() {
    let addr = bench_common::listen_addr();
    let workers = bench_common::workers();
    bench_common::announce("tokio-raw", addr, workers, ", current-thread runtime per worker");
    let threads: Vec<_> = (0..workers)
        .map(|i| {
            std::thread::Builder::new()
                .name(format!("tokio-raw-w{i}"))
                .spawn(move || {
                    if let Err(e) = worker(addr) {
                        eprintln!("tokio-raw: worker {i}: {e}");
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
