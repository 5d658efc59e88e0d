//! The fault and soak benchmark app: plaintext, JSON, cached (in-process, Redis,
//! Memcached), Redis rate-limited, sleeping, streaming and body-reading routes.

/// The handlers.
pub mod handlers {
    use std::time::Duration;

    use ember_runtime::{Request, Response};

    /// `GET /plaintext`
    pub async fn plaintext() -> &'static str {
        "Hello, World!"
    }

    /// `GET /json`
    pub async fn json() -> Response {
        Response::text("{\"message\":\"Hello, World!\"}").with_content_type("application/json")
    }

    /// `GET /c/*/{k}`: about a millisecond of work, like a quick database query.
    pub async fn item(k: u32) -> String {
        tokio::time::sleep(Duration::from_millis(1)).await;
        format!("{{\"id\":{k},\"title\":\"item {k}\",\"done\":false}}")
    }

    /// `GET /sleep/{ms}`
    pub async fn sleep(ms: u64) -> String {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        format!("slept {ms}")
    }

    /// `GET /sse/{n}`: an event every 100 ms, `n` of them then `event: end` (0: until
    /// shutdown); a stream that shutdown ends gets a final `event: shutdown` chunk.
    pub async fn sse(n: u32) -> Response {
        let (tx, response) = Response::channel(2);
        tokio::task::spawn_local(async move {
            let mut i: u32 = 0;
            while n == 0 || i < n {
                if tx.send(format!("data: tick {i}\n\n")).await.is_err() {
                    return;
                }
                i = i.wrapping_add(1);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = tx.send("event: end\ndata: bye\n\n").await;
        });
        response
            .with_content_type("text/event-stream")
            .with_final_chunk("event: shutdown\ndata: bye\n\n")
    }

    /// `POST /echo`: the body's length.
    pub async fn echo(req: &Request<'_>) -> String {
        format!("len={}", req.body().len())
    }
}

ember_runtime::include_app!();

fn main() -> std::io::Result<()> {
    ember_runtime::run(App)
}
