//! `ai-load`: N concurrent streaming chat-completion clients against one OpenAI-compatible
//! server, each running R requests in turn (one connection per request), measuring
//! time to first token, tokens delivered, and the server processes' CPU time and RSS.
//!
//! ```text
//! ai-load --addr 127.0.0.1:8080 --path /v1/chat/completions --model ember-chat \
//!         --clients 1000 --rounds 3 --tokens 200 --ramp-ms 1000 [--key KEY] \
//!         [--pids 123,456] [--label ember] [--deadline-s 120]
//! ```
//! It prints one JSON object. A token is a streamed `"content":"…"` delta that is not
//! empty; the first token is the one that carries `[model-` (ai_upstream's first token).
//! `--pids`: the server's processes (their descendants are counted too): CPU is
//! utime+stime from /proc/PID/stat over the whole run, memory is the RSS sampled when
//! every stream of the first round is open, minus the RSS before the run.
//! Single-threaded (tokio current-thread) so that it takes one core at most and its own
//! cost stays small next to the servers'.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Clone)]
struct Args {
    addr: SocketAddr,
    path: String,
    model: String,
    key: Option<String>,
    clients: usize,
    rounds: usize,
    tokens: u64,
    ramp_ms: u64,
    pids: Vec<u32>,
    label: String,
    deadline_s: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:8080".parse().map_err(|_| "addr")?,
        path: "/v1/chat/completions".into(),
        model: "ember-chat".into(),
        key: None,
        clients: 100,
        rounds: 1,
        tokens: 200,
        ramp_ms: 1000,
        pids: Vec::new(),
        label: "server".into(),
        deadline_s: 120,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number"))
        };
        match flag.as_str() {
            "--addr" => a.addr = v.parse().map_err(|_| "--addr: not host:port")?,
            "--path" => a.path = v,
            "--model" => a.model = v,
            "--key" => a.key = Some(v),
            "--clients" => a.clients = num(&v)? as usize,
            "--rounds" => a.rounds = num(&v)? as usize,
            "--tokens" => a.tokens = num(&v)?,
            "--ramp-ms" => a.ramp_ms = num(&v)?,
            "--label" => a.label = v,
            "--deadline-s" => a.deadline_s = num(&v)?,
            "--pids" => {
                a.pids = v
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|p| p.parse().map_err(|_| "--pids: not numbers".to_string()))
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// What all clients measured.
#[derive(Debug, Default)]
struct Totals {
    ttft_us: Vec<u64>,
    tokens: u64,
    ok: u64,
    errors: u64,
    open: u64,
    peak_open: u64,
    first_error: Option<String>,
}

/// The processes `roots` and all their descendants.
fn family(roots: &[u32]) -> Vec<u32> {
    let mut parent: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1).and_then(|p| p.parse().ok()))
            {
                parent.push((pid, ppid));
            }
        }
    }
    let mut out: Vec<u32> = roots.to_vec();
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        for &(c, pp) in &parent {
            if pp == p && !out.contains(&c) {
                out.push(c);
            }
        }
        i += 1;
    }
    out
}

/// The fields of /proc/PID/stat after the command name (field 3 onwards).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// utime+stime (clock ticks) of the processes, their waited-for children included.
fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|&p| stat_fields(p))
        .map(|f| {
            // utime, stime, cutime, cstime are fields 14..=17: indexes 11..=14 here.
            (11..=14)
                .filter_map(|i| f.get(i).and_then(|v| v.parse::<u64>().ok()))
                .sum::<u64>()
        })
        .sum()
}

/// Resident set size (KiB) of the processes.
fn rss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
        })
        .sum()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

/// Counts non-empty `"content":"` deltas in `buf`, and whether `[model-` is in it.
fn scan(buf: &[u8]) -> (u64, bool) {
    const PAT: &[u8] = b"\"content\":\"";
    let mut n = 0;
    let mut i = 0;
    while i + PAT.len() < buf.len() {
        if &buf[i..i + PAT.len()] == PAT {
            if buf[i + PAT.len()] != b'"' {
                n += 1;
            }
            i += PAT.len();
        } else {
            i += 1;
        }
    }
    let first = buf.windows(7).any(|w| w == b"[model-");
    (n, first)
}

async fn one_request(
    args: &Args,
    body: &str,
    want: u64,
    totals: &RefCell<Totals>,
) -> Result<(), String> {
    let mut s = TcpStream::connect(args.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_nodelay(true);
    let auth = args
        .key
        .as_ref()
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{auth}Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        args.path,
        args.addr,
        body.len()
    );
    let sent = Instant::now();
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut carry: Vec<u8> = Vec::new();
    let mut head_done = false;
    let mut first = false;
    let mut tokens = 0;
    let mut done = false;
    let mut opened = false;
    loop {
        let n = s.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        let mut data = std::mem::take(&mut carry);
        data.extend_from_slice(&buf[..n]);
        if !head_done {
            let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                carry = data;
                continue;
            };
            let status = String::from_utf8_lossy(&data[..end.min(12)]).to_string();
            if !status.starts_with("HTTP/1.1 200") {
                return Err(format!(
                    "status: {}",
                    String::from_utf8_lossy(&data[..data.len().min(300)])
                ));
            }
            head_done = true;
            opened = true;
            let mut t = totals.borrow_mut();
            t.open += 1;
            t.peak_open = t.peak_open.max(t.open);
            data.drain(..end + 4);
        }
        // Keep the last bytes for a pattern cut between two reads.
        let keep = data.len().saturating_sub(11);
        let (k, f) = scan(&data);
        tokens += k;
        if f && !first {
            first = true;
            totals
                .borrow_mut()
                .ttft_us
                .push(sent.elapsed().as_micros() as u64);
        }
        if data.windows(12).any(|w| w == b"data: [DONE]") {
            done = true;
        }
        // Only the tail after the last full pattern position is carried.
        carry = data[keep..].to_vec();
        if let Some(p) = carry.windows(11).position(|w| w == b"\"content\":\"") {
            carry.drain(..=p);
        }
    }
    let mut t = totals.borrow_mut();
    if opened {
        t.open -= 1;
    }
    t.tokens += tokens;
    if done && tokens >= want {
        t.ok += 1;
        Ok(())
    } else {
        Err(format!("incomplete stream: {tokens} tokens, done={done}"))
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ai-load: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, run(args));
}

async fn run(args: Args) {
    let pids = family(&args.pids);
    let rss0 = rss_kib(&pids);
    let cpu0 = cpu_ticks(&pids);
    let totals = Rc::new(RefCell::new(Totals::default()));
    let body = format!(
        "{{\"model\":\"{}\",\"stream\":true,\"messages\":[{{\"role\":\"user\",\"content\":\"bench words here #tokens={}\"}}]}}",
        args.model, args.tokens
    );
    let args = Rc::new(args);
    let body = Rc::new(body);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.deadline_s);
    let mut tasks = Vec::new();
    for i in 0..args.clients {
        let (args, body, totals) = (args.clone(), body.clone(), totals.clone());
        let delay =
            Duration::from_micros(args.ramp_ms * 1000 * i as u64 / args.clients.max(1) as u64);
        tasks.push(tokio::task::spawn_local(async move {
            tokio::time::sleep(delay).await;
            for _ in 0..args.rounds {
                if Instant::now() > deadline {
                    break;
                }
                let r = tokio::time::timeout_at(
                    deadline.into(),
                    one_request(&args, &body, args.tokens, &totals),
                )
                .await;
                let err = match r {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e),
                    Err(_) => Some("deadline".to_owned()),
                };
                if let Some(e) = err {
                    let mut t = totals.borrow_mut();
                    t.errors += 1;
                    t.first_error.get_or_insert(e);
                }
            }
        }));
    }
    // RSS with every stream of the first round open: sampled when the most streams are.
    let sampler = {
        let (totals, pids, clients, rounds) = (
            totals.clone(),
            pids.clone(),
            args.clients as u64,
            args.rounds as u64,
        );
        tokio::task::spawn_local(async move {
            let mut best = (0u64, 0u64);
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let (open, ended) = {
                    let t = totals.borrow();
                    (t.open, t.ok + t.errors)
                };
                if open > best.0 {
                    best = (open, rss_kib(&family(&pids)));
                }
                if open >= clients || ended >= clients * rounds {
                    break;
                }
            }
            best
        })
    };
    // Probes: one short request at a time while the load is steady (every client's
    // stream open), timed alone: the added TTFT without the ramp's queueing.
    let probes = {
        let (args, totals) = (args.clone(), totals.clone());
        tokio::task::spawn_local(async move {
            let probe = RefCell::new(Totals::default());
            let body = format!(
                "{{\"model\":\"{}\",\"stream\":true,\"messages\":[{{\"role\":\"user\",\"content\":\"probe #tokens=1\"}}]}}",
                args.model
            );
            tokio::time::sleep(Duration::from_millis(args.ramp_ms + 300)).await;
            for _ in 0..200 {
                if totals.borrow().open < args.clients as u64 * 9 / 10 || Instant::now() > deadline
                {
                    break;
                }
                let _ = tokio::time::timeout(
                    Duration::from_secs(10),
                    one_request(&args, &body, 1, &probe),
                )
                .await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let mut v = probe.into_inner().ttft_us;
            v.sort_unstable();
            v
        })
    };
    for t in tasks {
        let _ = t.await;
    }
    let probe_ttft = probes.await.unwrap_or_default();
    let elapsed = start.elapsed().as_secs_f64();
    let (open_at_sample, rss1) = sampler.await.unwrap_or((0, 0));
    let cpu1 = cpu_ticks(&family(&args.pids));
    let hz = 100.0; // USER_HZ on Linux
    let cpu_s = cpu1.saturating_sub(cpu0) as f64 / hz;
    let t = totals.borrow();
    let mut ttft = t.ttft_us.clone();
    ttft.sort_unstable();
    let per_stream = if open_at_sample > 0 {
        (rss1 as f64 - rss0 as f64) / open_at_sample as f64
    } else {
        f64::NAN
    };
    println!(
        "{{\"label\":\"{}\",\"clients\":{},\"rounds\":{},\"tokens_per_stream\":{},\"ok\":{},\"errors\":{},\"first_error\":{:?},\"elapsed_s\":{:.2},\"tokens\":{},\"tokens_per_s\":{:.0},\"ttft_ms_p50\":{:.3},\"ttft_ms_p99\":{:.3},\"ttft_ms_max\":{:.3},\"cpu_s\":{:.2},\"cpu_ms_per_1k_tokens\":{:.3},\"rss_idle_kib\":{},\"rss_open_kib\":{},\"open_at_sample\":{},\"kib_per_stream\":{:.2},\"probes\":{},\"probe_ttft_ms_p50\":{:.3},\"probe_ttft_ms_p99\":{:.3},\"pids\":{:?}}}",
        args.label,
        args.clients,
        args.rounds,
        args.tokens,
        t.ok,
        t.errors,
        t.first_error.clone().unwrap_or_default(),
        elapsed,
        t.tokens,
        t.tokens as f64 / elapsed,
        percentile(&ttft, 0.5),
        percentile(&ttft, 0.99),
        percentile(&ttft, 1.0),
        cpu_s,
        if t.tokens > 0 {
            cpu_s * 1000.0 * 1000.0 / t.tokens as f64
        } else {
            f64::NAN
        },
        rss0,
        rss1,
        open_at_sample,
        per_stream,
        probe_ttft.len(),
        percentile(&probe_ttft, 0.5),
        percentile(&probe_ttft, 0.99),
        pids
    );
}
