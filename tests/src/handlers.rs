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
pub async fn by_uuid(id: ember_runtime::Uuid) -> String {
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

/// Cached routes: each counts its calls per tag, so tests can tell hits from misses.
pub mod cached {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use ember_runtime::{Request, Response, StatusCode};

    static CALLS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

    fn bump(tag: &str) -> u64 {
        let mut calls = match CALLS.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let n = calls.entry(tag.to_owned()).or_insert(0);
        *n += 1;
        *n
    }

    async fn pause(req: &Request<'_>) {
        if let Some(ms) = req.query_param("ms").and_then(|v| v.parse::<u64>().ok()) {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    /// Sleeps `?ms=`, counts the call, and says which call this was.
    pub async fn counted(req: &Request<'_>, tag: &str) -> String {
        pause(req).await;
        let n = bump(tag);
        format!(
            "tag={tag} n={n} lang={} query={}",
            req.header_str("accept-language").unwrap_or("-"),
            req.query()
        )
    }

    /// How many times `tag`'s handlers ran.
    pub async fn count(tag: &str) -> String {
        let calls = match CALLS.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        calls.get(tag).copied().unwrap_or(0).to_string()
    }

    /// Answers with status `code`.
    pub async fn status(tag: &str, code: u16) -> Response {
        let n = bump(tag);
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
        Response::text(format!("tag={tag} n={n}")).with_status(status)
    }

    /// A response the cache must not keep.
    pub async fn no_store(tag: &str) -> Response {
        let n = bump(tag);
        Response::text(format!("tag={tag} n={n}")).header("Cache-Control", "no-store")
    }

    /// Sleeps `?ms=`, counts, then panics.
    pub async fn panics(req: &Request<'_>, tag: &str) -> &'static str {
        pause(req).await;
        bump(tag);
        panic!("cached handler panic (expected by the test)")
    }

    /// `POST /c/purge/{cache}` with `?key=K` or `?prefix=P` (spaces as `+`).
    pub async fn purge(req: &Request<'_>, cache: &str) -> Response {
        let Some(c) = crate::App::cache(cache) else {
            return Response::error(StatusCode::NOT_FOUND);
        };
        let decode = |v: &str| v.replace('+', " ").replace("%2F", "/");
        let result = match (req.query_param("key"), req.query_param("prefix")) {
            (Some(k), _) => c.purge(&decode(k)).await.map(usize::from),
            (None, Some(p)) => c.purge_prefix(&decode(p)).await,
            _ => return Response::error(StatusCode::BAD_REQUEST),
        };
        match result {
            Ok(n) => Response::text(format!("purged {n}")),
            Err(e) if e.is_unsupported() => {
                Response::text(e.to_string()).with_status(StatusCode::NOT_IMPLEMENTED)
            }
            Err(e) => Response::text(e.to_string()).with_status(StatusCode::SERVICE_UNAVAILABLE),
        }
    }

    /// Application data kept in a cache: a JSON list of numbers.
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    pub struct Data {
        /// Some numbers.
        pub values: Vec<u64>,
    }

    /// `GET /c/data/{cache}/{key}`: the stored `Data`, or 404.
    pub async fn get_data(cache: &str, key: &str) -> Response {
        let Some(c) = crate::App::cache(cache) else {
            return Response::error(StatusCode::NOT_FOUND);
        };
        match c.get::<Data>(key).await {
            Ok(Some(d)) => Response::json(&d),
            Ok(None) => Response::error(StatusCode::NOT_FOUND),
            Err(e) => Response::text(e.to_string()).with_status(StatusCode::SERVICE_UNAVAILABLE),
        }
    }

    /// `PUT /c/data/{cache}/{key}?values=1,2,3`: stores `Data`.
    pub async fn set_data(req: &Request<'_>, cache: &str, key: &str) -> Response {
        let Some(c) = crate::App::cache(cache) else {
            return Response::error(StatusCode::NOT_FOUND);
        };
        let values = req
            .query_param("values")
            .unwrap_or("")
            .split(',')
            .filter_map(|v| v.parse().ok())
            .collect();
        match c.set(key, &Data { values }, None).await {
            Ok(()) => Response::new(StatusCode::NO_CONTENT),
            Err(e) => Response::text(e.to_string()).with_status(StatusCode::SERVICE_UNAVAILABLE),
        }
    }
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

// honest tests (issue 11, point 5): handlers only their routes use.
/// Handlers of the `/honest` routes (tests/tests/middleware.rs).
pub mod honest {
    use ember_runtime::Request;

    /// A bearer `verify` function that accepts any token `user-NAME` as identity `NAME`,
    /// so each test run can sign in as a user of its own.
    pub async fn any_user(_req: &Request<'_>, token: &str) -> Option<String> {
        token
            .strip_prefix("user-")
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
    }
}

// Remote stores (issue 11, points 2-3; tests/tests/remote_*.rs).
/// Handlers for the remote-store routes under `/rm`.
pub mod remote {
    use ember_runtime::Request;

    /// Counts the call (as `cached::counted` does) and answers `?kb=` KiB of text.
    pub async fn big(req: &Request<'_>, tag: &str) -> String {
        let n = super::cached::counted(req, tag).await;
        let kb = req
            .query_param("kb")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1);
        let mut out = String::with_capacity(kb * 1024 + n.len() + 1);
        out.push_str(&n);
        out.push('\n');
        while out.len() < kb * 1024 {
            out.push_str("0123456789abcdef");
        }
        out
    }
}

// f11-swr (issue 11, point 1): handlers of tests/tests/cache_swr_identity.rs.
/// `/swr-ctx/...`: what a stale-while-revalidate refresh must keep.
pub mod swr_ctx {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use ember_runtime::Request;

    static CALLS: Mutex<BTreeMap<(String, String), u64>> = Mutex::new(BTreeMap::new());

    /// Echoes the identity and client address, with the call number per tag and identity.
    pub async fn whoami(req: &Request<'_>, tag: &str) -> String {
        let id = req.identity().unwrap_or("-");
        let n = {
            let mut calls = match CALLS.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let n = calls.entry((tag.to_owned(), id.to_owned())).or_insert(0);
            *n += 1;
            *n
        };
        let peer = req
            .peer_ip()
            .map_or_else(|| "-".to_owned(), |ip| ip.to_string());
        format!("id={id} peer={peer} n={n}")
    }
}

// typed input (issue 15): handlers of tests/tests/typed_input.rs. Each echoes what it
// received as JSON, so the tests see the decoded values.
/// `/in/...`: typed bodies and queries.
pub mod input {
    use ember_runtime::{Json, Request};
    use serde::{Deserialize, Serialize};

    /// A JSON body.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct NewItem {
        /// A title.
        pub title: String,
        /// Tags, none by default.
        #[serde(default)]
        pub tags: Vec<String>,
        /// Nested parts.
        #[serde(default)]
        pub parts: Vec<Part>,
    }

    /// A nested object of [`NewItem`].
    #[derive(Debug, Deserialize, Serialize)]
    pub struct Part {
        /// How many.
        pub count: u32,
    }

    /// A form body.
    #[derive(Debug, Deserialize, Serialize)]
    pub struct Login {
        /// The user.
        pub user: String,
        /// Remember the login.
        #[serde(default)]
        pub remember: bool,
    }

    /// A query.
    #[derive(Debug, Deserialize, Serialize)]
    pub struct Search {
        /// The search text.
        pub q: String,
        /// Repeated `tag=` keys.
        #[serde(default)]
        pub tag: Vec<String>,
        /// The page.
        pub page: Option<u32>,
        /// Exact match.
        pub exact: Option<bool>,
    }

    /// The query of `PUT /in/items/{id}`.
    #[derive(Debug, Deserialize, Serialize)]
    pub struct Opts {
        /// Dry run.
        #[serde(default)]
        pub dry: bool,
    }

    /// A validated JSON body.
    #[derive(Debug, Deserialize, Serialize, garde::Validate)]
    pub struct Signup {
        /// 3 to 16 characters.
        #[garde(length(chars, min = 3, max = 16))]
        pub name: String,
        /// 13 to 130.
        #[garde(range(min = 13, max = 130))]
        pub age: u16,
        /// Lower-case letters and digits.
        #[garde(pattern(r"^[a-z0-9]+$"))]
        pub handle: String,
    }

    /// A validated query.
    #[derive(Debug, Deserialize, Serialize, garde::Validate)]
    pub struct Pages {
        /// 1 or more.
        #[garde(range(min = 1))]
        pub page: u32,
        /// 1 to 100.
        #[garde(range(min = 1, max = 100))]
        pub per_page: u32,
    }

    /// `POST /in/json`, `POST /in/small`
    pub async fn create(item: NewItem) -> Json<NewItem> {
        Json(item)
    }

    /// `POST /in/form`
    pub async fn login(form: Login) -> Json<Login> {
        Json(form)
    }

    /// `GET /in/search`
    pub async fn search(q: Search) -> Json<Search> {
        Json(q)
    }

    /// `PUT /in/items/{id:u64}`: the path parameter, the body, the query and the raw body.
    pub async fn update(
        req: &Request<'_>,
        id: u64,
        item: NewItem,
        opts: Opts,
    ) -> Json<serde_json::Value> {
        Json(serde_json::json!({
            "id": id,
            "item": item,
            "opts": opts,
            "raw": String::from_utf8_lossy(req.body()),
        }))
    }

    /// `POST /in/valid`
    pub async fn create_valid(s: Signup) -> Json<Signup> {
        Json(s)
    }

    /// `GET /in/pages`
    pub async fn pages(p: Pages) -> Json<Pages> {
        Json(p)
    }
}
