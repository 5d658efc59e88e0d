//! `sem_load` (issue 14, point 6): non-streaming chat completions through the gateway at
//! a fixed concurrency for a fixed time, on keep-alive connections, to compare the
//! semantic cache's hit path with a miss:
//!
//! ```text
//! sem_load --addr 127.0.0.1:8080 --mode hit|miss|uncached --conns 32 --secs 10 \
//!          [--model ember-chat] [--pids 123] [--label x]
//! ```
//! * `hit`: one prompt at `temperature: 0`, asked once first (the miss that stores it),
//!   then over and over: every measured request is a semantic hit.
//! * `miss`: a new prompt per request at `temperature: 0` (random words): the
//!   lookup runs and misses, the upstream answers, the answer is stored.
//! * `uncached`: `temperature: 0.7`: not cacheable (no lookup), a plain proxied call.
//!
//! Prints one JSON object: requests/s, latency p50/p99, the `x-ember-cache` values seen,
//! and the CPU time of `--pids` (utime + stime from /proc) per request.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    addr: SocketAddr,
    mode: String,
    conns: usize,
    secs: u64,
    model: String,
    pids: Vec<u32>,
    label: String,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:8080".parse().map_err(|_| "addr")?,
        mode: "hit".into(),
        conns: 32,
        secs: 10,
        model: "ember-chat".into(),
        pids: Vec::new(),
        label: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => a.addr = v.parse().map_err(|_| "--addr: host:port")?,
            "--mode" => a.mode = v,
            "--conns" => a.conns = v.parse().map_err(|_| "--conns: a number")?,
            "--secs" => a.secs = v.parse().map_err(|_| "--secs: a number")?,
            "--model" => a.model = v,
            "--label" => a.label = v,
            "--pids" => {
                a.pids = v
                    .split(',')
                    .map(|p| p.trim().parse().map_err(|_| "--pids: numbers".to_string()))
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if !["hit", "miss", "uncached"].contains(&a.mode.as_str()) {
        return Err("--mode: hit, miss or uncached".into());
    }
    Ok(a)
}

/// utime + stime of `pids` in clock ticks.
fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .filter_map(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            // Fields 14 and 15 of the line are 12 and 13 after the command name.
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

/// Six pseudo-words drawn from `n`'s hash: prompts that share no word, so every one misses.
fn words(n: u64) -> String {
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491_4f6c_dd1d;
    let mut out = String::from("explain");
    for _ in 0..6 {
        out.push(' ');
        for _ in 0..6 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push((b'a' + (x % 26) as u8) as char);
        }
    }
    out
}

/// The request body for request number `n`.
fn body(a: &Args, n: u64) -> String {
    let (text, temp) = match a.mode.as_str() {
        "hit" => ("Explain how a hash map handles collisions in Rust".to_owned(), 0.0),
        "miss" => (words(n), 0.0),
        _ => ("Explain how a hash map handles collisions in Rust".to_owned(), 0.7),
    };
    format!(
        r#"{{"model":"{}","temperature":{temp},"messages":[{{"role":"user","content":"{text}"}}]}}"#,
        a.model
    )
}

/// One request on `s` (keep-alive); the `x-ember-cache` value and whether it was 200.
async fn call(s: &mut TcpStream, buf: &mut Vec<u8>, body: &str) -> std::io::Result<(bool, String)> {
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    buf.clear();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let ok = head.starts_with("http/1.1 200");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    let len: usize = header("content-length:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| std::io::Error::other("no content-length"))?;
    let cache = header("x-ember-cache:").unwrap_or_else(|| "-".into());
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((ok, cache))
}

#[derive(Default)]
struct Tally {
    lat_us: Vec<u64>,
    errors: u64,
    caches: std::collections::BTreeMap<String, u64>,
}

fn main() {
    let a = match args() {
        Ok(a) => Rc::new(a),
        Err(e) => {
            eprintln!("sem_load: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        if a.mode == "hit" {
            // Store the answer first.
            let mut s = TcpStream::connect(a.addr).await.expect("connect");
            let _ = call(&mut s, &mut Vec::new(), &body(&a, 0)).await;
        }
        let tally = Rc::new(RefCell::new(Tally::default()));
        let next = Rc::new(std::cell::Cell::new(1u64));
        let start = Instant::now();
        let end = start + Duration::from_secs(a.secs);
        let cpu0 = cpu_ticks(&a.pids);
        let mut tasks = Vec::new();
        for _ in 0..a.conns {
            let (a, tally, next) = (a.clone(), tally.clone(), next.clone());
            tasks.push(tokio::task::spawn_local(async move {
                let mut s = match TcpStream::connect(a.addr).await {
                    Ok(s) => s,
                    Err(_) => return,
                };
                let _ = s.set_nodelay(true);
                let mut buf = Vec::with_capacity(16 << 10);
                while Instant::now() < end {
                    let n = next.get();
                    next.set(n + 1);
                    let b = body(&a, n);
                    let t = Instant::now();
                    match call(&mut s, &mut buf, &b).await {
                        Ok((ok, cache)) => {
                            let mut t2 = tally.borrow_mut();
                            t2.lat_us.push(t.elapsed().as_micros() as u64);
                            if !ok {
                                t2.errors += 1;
                            }
                            *t2.caches.entry(cache).or_default() += 1;
                        }
                        Err(_) => {
                            tally.borrow_mut().errors += 1;
                            match TcpStream::connect(a.addr).await {
                                Ok(n) => s = n,
                                Err(_) => return,
                            }
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let secs = start.elapsed().as_secs_f64();
        let cpu_ms = (cpu_ticks(&a.pids) - cpu0) as f64 * 1000.0 / 100.0;
        let mut t = tally.borrow_mut();
        t.lat_us.sort_unstable();
        let n = t.lat_us.len().max(1);
        let pct = |p: f64| t.lat_us.get(((n - 1) as f64 * p) as usize).copied().unwrap_or(0);
        let caches: Vec<String> = t.caches.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        println!(
            "{{\"bench\":\"semantic_gateway\",\"label\":\"{}\",\"mode\":\"{}\",\"conns\":{},\"secs\":{secs:.1},\"requests\":{},\"rps\":{:.0},\"p50_us\":{},\"p99_us\":{},\"errors\":{},\"cache\":{{{}}},\"server_cpu_ms\":{cpu_ms:.0},\"cpu_us_per_req\":{:.1}}}",
            a.label,
            a.mode,
            a.conns,
            t.lat_us.len(),
            t.lat_us.len() as f64 / secs,
            pct(0.5),
            pct(0.99),
            t.errors,
            caches.join(","),
            cpu_ms * 1000.0 / n as f64
        );
    });
}
