//! may_minihttp peer: stackful coroutines scheduled on `BENCH_WORKERS` may worker
//! threads (may's own core pinning is turned off, so the harness's `taskset`
//! decides where they run). may_minihttp writes `Server: M` and its cached Date
//! itself and batches the responses to pipelined requests.

use std::io;

use bench_common::{MESSAGE, PLAINTEXT};
use bytes::BufMut;
use may_minihttp::{HttpServer, HttpService, Request, Response};

#[derive(Clone)]
struct Bench;

impl HttpService for Bench {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        match (req.method(), req.path()) {
            ("GET", "/plaintext") => {
                rsp.header("Content-Type: text/plain").body(PLAINTEXT);
            }
            ("GET", "/json") => {
                rsp.header("Content-Type: application/json");
                serde_json::to_writer(rsp.body_mut().writer(), &MESSAGE)?;
            }
            _ => {
                rsp.status_code(404, "Not Found")
                    .header("Content-Type: text/plain")
                    .body("Not Found");
            }
        }
        Ok(())
    }
}

fn main() {
    let addr = bench_common::listen_addr();
    let workers = bench_common::workers();
    may::config().set_workers(workers);
    may::config().set_worker_pin(false);
    bench_common::announce("may-minihttp", addr, workers, ", may worker threads");
    let server = HttpServer(Bench).start(addr).expect("bind");
    let _ = server.join();
}
