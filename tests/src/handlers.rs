//! Handlers of the test app.

use ember_runtime::{Request, Response, StatusCode};

/// `GET /plaintext`
pub async fn plaintext() -> &'static str {
    "Hello, World!"
}

/// `GET /`
pub async fn index() -> &'static str {
    "index"
}

/// `GET /n/{n:u64}`
pub async fn number(n: u64) -> String {
    format!("n={n}")
}

/// `GET /i/{i:i64}`
pub async fn signed(i: i64) -> String {
    format!("i={i}")
}

/// `GET /u/{id:uuid}`
pub async fn by_uuid(id: ember_runtime::params::Uuid) -> String {
    format!("uuid={id}")
}

/// `GET /files/{*rest}`
pub async fn files(rest: &str) -> String {
    format!("rest={rest}")
}

/// `POST /body`: the body's length and first bytes.
pub async fn body_len(req: &Request<'_>) -> String {
    format!(
        "len={} body={}",
        req.body().len(),
        String::from_utf8_lossy(req.body())
    )
}

/// `PUT /things/{name}/parts/{part:u32}`
pub async fn thing_part(req: &Request<'_>, name: &str, part: u32) -> String {
    format!("{} {name} {part}", req.method())
}

/// `GET /upstream?addr=HOST:PORT`: a round trip over a tokio socket, from inside a handler.
pub async fn upstream(req: &Request<'_>) -> Response {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(addr) = req.query_param("addr") else {
        return Response::error(StatusCode::BAD_REQUEST);
    };
    let mut s = match tokio::net::TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(_) => return Response::error(StatusCode::BAD_GATEWAY),
    };
    if s.write_all(b"ping").await.is_err() {
        return Response::error(StatusCode::BAD_GATEWAY);
    }
    let mut got = Vec::new();
    if s.read_to_end(&mut got).await.is_err() {
        return Response::error(StatusCode::BAD_GATEWAY);
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    Response::text(format!("upstream said {}", String::from_utf8_lossy(&got)))
}

/// `GET /sleep/{ms}`
pub async fn sleep(ms: u64) -> String {
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    format!("slept {ms}")
}

/// `GET /panic`
pub async fn panics() -> &'static str {
    panic!("handler panic (expected by the test)")
}

/// `/users/...`
pub mod users {
    /// `GET /users/{id:u64}`
    pub async fn show(id: u64) -> String {
        format!("user {id}")
    }

    /// `DELETE /users/{id:u64}`
    pub async fn delete(id: u64) -> String {
        format!("deleted {id}")
    }

    /// `GET /users/me`
    pub async fn me() -> &'static str {
        "me"
    }
}

/// `GET /stream/{n}`: `n` chunks, 5 ms apart, through a body channel.
pub async fn stream_n(n: u32) -> Response {
    let (tx, response) = Response::channel(4);
    tokio::task::spawn_local(async move {
        for i in 0..n {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            if tx.send(format!("chunk {i}\n")).await.is_err() {
                return;
            }
        }
    });
    response.with_content_type("text/plain")
}

/// `GET /forever`: a stream that only shutdown ends, with a final event.
pub async fn forever() -> Response {
    let (tx, response) = Response::channel(1);
    tokio::task::spawn_local(async move {
        let _ = tx.send("data: hello\n\n").await;
        std::future::pending::<()>().await;
        drop(tx);
    });
    response
        .with_content_type("text/event-stream")
        .with_final_chunk("event: shutdown\ndata: bye\n\n")
}

/// Handlers and hooks for the middleware routes under `/mw`.
pub mod mw {
    use ember_runtime::{Request, Response, StatusCode};

    /// The identity the auth middleware accepted.
    pub async fn whoami(req: &Request<'_>) -> String {
        format!("id={}", req.identity().unwrap_or("-"))
    }

    /// A user `verify` function: accepts `letmein`.
    pub async fn verify(_req: &Request<'_>, token: &str) -> Option<String> {
        tokio::task::yield_now().await;
        (token == "letmein").then(|| "verified-user".to_owned())
    }

    /// A `before` hook: `x-block: 1` short-circuits with 403.
    pub async fn gate(req: &Request<'_>) -> Option<Response> {
        req.header("x-block")
            .map(|_| Response::text("blocked").with_status(StatusCode::FORBIDDEN))
    }

    /// An `after` hook: stamps the response.
    pub async fn stamp(req: &Request<'_>, resp: Response) -> Response {
        resp.header("x-after", req.path())
    }

    /// What the `extend` hook hands to the handler.
    #[derive(Debug)]
    pub struct Tenant(pub String);

    /// An `extend` hook: the tenant from `x-tenant`, or 400.
    pub async fn tenant(req: &Request<'_>) -> Result<Tenant, Response> {
        match req.header_str("x-tenant") {
            Some(t) if !t.is_empty() => Ok(Tenant(t.to_owned())),
            _ => Err(Response::text("no tenant").with_status(StatusCode::BAD_REQUEST)),
        }
    }

    /// Reads the tenant the hook produced.
    pub async fn tenant_name(req: &Request<'_>) -> String {
        match req.extension::<Tenant>() {
            Some(t) => format!("tenant={}", t.0),
            None => "tenant=-".to_owned(),
        }
    }
}
