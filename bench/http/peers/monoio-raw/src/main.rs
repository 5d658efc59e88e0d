//! A hand-rolled HTTP/1.1 responder on monoio's io_uring driver.
//!
//! One thread per worker, each with its own monoio runtime (io_uring, timer on)
//! and its own `SO_REUSEPORT` listener. Reads and writes are io_uring operations
//! on owned buffers; every complete request in a read is answered into one output
//! buffer (`bench_common::raw`) that goes out in one write. The Date header is
//! cached per worker and refreshed once a second by a timer task.

use std::net::SocketAddr;
use std::time::Duration;

use bench_common::raw::{refresh_date, Responder};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

const READ_CHUNK: usize = 4096;
const MAX_BUF: usize = 64 * 1024;

async fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut responder = Responder::new("monoio-raw");
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    loop {
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            if buf.len() >= MAX_BUF {
                return Ok(()); // a request this large is not a benchmark request
            }
            buf.reserve(READ_CHUNK);
        }
        // Read into the spare capacity after what is already buffered.
        let filled = buf.len();
        let (res, slice) = stream.read(buf.slice_mut(filled..)).await;
        buf = slice.into_inner();
        if res? == 0 {
            return Ok(());
        }
        let handled = responder.handle(&buf, &mut out);
        if handled.consumed == buf.len() {
            buf.clear();
        } else {
            buf.drain(..handled.consumed);
        }
        if !out.is_empty() {
            let (res, written) = stream.write_all(out).await;
            out = written;
            res?;
            out.clear();
        }
        if !handled.keep_open {
            return Ok(());
        }
    }
}

fn worker(addr: SocketAddr) -> std::io::Result<()> {
    let std_listener = bench_common::reuseport_listener(addr)?;
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(1024)
        .enable_timer()
        .build()?;
    rt.block_on(async move {
        monoio::spawn(async {
            loop {
                monoio::time::sleep(Duration::from_secs(1)).await;
                refresh_date();
            }
        });
        let listener = TcpListener::from_std(std_listener)?;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    monoio::spawn(async move {
                        let _ = serve(stream).await;
                    });
                }
                Err(e) => eprintln!("monoio-raw: accept: {e}"),
            }
        }
    })
}

fn main() {
    let addr = bench_common::listen_addr();
    let workers = bench_common::workers();
    bench_common::announce("monoio-raw", addr, workers, ", io_uring runtime per worker thread");
    let threads: Vec<_> = (0..workers)
        .map(|i| {
            std::thread::Builder::new()
                .name(format!("monoio-raw-w{i}"))
                .spawn(move || {
                    if let Err(e) = worker(addr) {
                        eprintln!("monoio-raw: worker {i}: {e}");
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
