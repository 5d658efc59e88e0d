//! The admission cost per request (issue 14, point 6), run by `bench/ai/admission.sh`:
//! `cargo test -p ember-runtime --release --lib ai::limits::bench -- --ignored --nocapture`.
//! Prints one JSON line per measure: counting a prompt, and reserve + settle with the
//! memory store and with Redis (`REDIS_URL`, sequential and 64 in flight).

use std::time::{Duration, Instant};

use super::{Limits, LimitsSpec, Per};
use crate::ai::store::{RedisSpec, StoreSpec};
use crate::ai::tokens::Encoding;
use crate::ai::wire::{ChatRequest, Message};

fn spec(store: StoreSpec) -> &'static LimitsSpec {
    Box::leak(Box::new(LimitsSpec {
        tokens_per_minute: u64::MAX / 4,
        tokens_per_minute_env: None,
        per: Per::Ip,
        max_prompt_tokens: 0,
        max_prompt_tokens_env: None,
        default_max_tokens: 1024,
        store,
    }))
}

fn chat() -> ChatRequest {
    let text = "Summarize the following paragraph in one sentence, keeping every number. ";
    ChatRequest::new(
        "gpt-4o-mini",
        vec![
            Message::system("You are a helpful assistant that answers briefly."),
            Message::user(text.repeat(12)),
            Message::assistant("Sure: here is the summary you asked for, in one sentence."),
            Message::user("Now do it again, shorter."),
        ],
    )
}

fn line(what: &str, n: u64, took: Duration) {
    println!(
        "{{\"measure\":\"{what}\",\"requests\":{n},\"ns_per_request\":{:.0},\"per_second\":{:.0}}}",
        took.as_nanos() as f64 / n as f64,
        n as f64 / took.as_secs_f64()
    );
}

#[test]
#[ignore = "a benchmark: bench/ai/admission.sh"]
fn admission_cost() {
    let chat = chat();
    let enc = Encoding::for_model(&chat.model);
    enc.warm();
    let prompt = enc.prompt(&chat);
    println!(
        "{{\"prompt_tokens\":{prompt},\"encoding\":\"{}\"}}",
        enc.name()
    );
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(enc.prompt(std::hint::black_box(&chat)));
    }
    line("count prompt (o200k_base)", n, t.elapsed());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let mem: &'static Limits = Box::leak(Box::new(Limits::resolve(spec(StoreSpec::Memory))));
        let n = 200_000;
        let t = Instant::now();
        for i in 0..n {
            let key = format!("ip:10.0.{}.{}", (i / 250) % 250, i % 250);
            let held = mem.admit(key, prompt, 1024).await.expect("admitted");
            mem.settle(held, prompt + 20);
        }
        line("memory reserve + settle", n, t.elapsed());

        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let url: &'static str = Box::leak(url.into_boxed_str());
        let prefix: &'static str =
            Box::leak(format!("ember:bench:tpm:{}:", std::process::id()).into_boxed_str());
        let redis: &'static Limits = Box::leak(Box::new(Limits::resolve(spec(StoreSpec::Redis(
            RedisSpec {
                url,
                prefix,
                timeout: Duration::from_secs(1),
            },
        )))));
        // Connect, and check Redis answers (a fail-open admission reserves nothing).
        let _ = redis.admit("ip:warm".into(), 1, 1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let warm = redis.admit("ip:warm".into(), 1, 1).await.expect("admitted");
        if warm.reserved == 0 {
            println!("{{\"skipped\":\"Redis at {url} does not answer\"}}");
            return;
        }
        let n = 5_000;
        let t = Instant::now();
        for i in 0..n {
            let held = redis
                .admit(format!("ip:10.1.0.{}", i % 250), prompt, 1024)
                .await
                .expect("admitted");
            assert!(held.reserved > 0, "Redis failed mid-run");
            super::redis::adjust(
                redis.redis.as_ref().expect("redis"),
                &held.key,
                held.window,
                -1000,
            )
            .await
            .expect("settled");
        }
        line(
            "redis reserve + settle, sequential (2 round trips)",
            n,
            t.elapsed(),
        );
        let n = 20_000u64;
        let t = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..64u64 {
            tasks.push(tokio::task::spawn_local(async move {
                for i in 0..n / 64 {
                    let held = redis
                        .admit(format!("ip:10.2.{w}.{}", i % 250), prompt, 1024)
                        .await
                        .expect("admitted");
                    redis.settle(held, prompt + 20);
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        line(
            "redis reserve + settle, 64 in flight (one connection)",
            n,
            t.elapsed(),
        );
    });
}
