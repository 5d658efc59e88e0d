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

// sse (issue 13): server-sent events (tests/tests/sse.rs).
/// `/sse/...`: server-sent events, and the probes the tests read (gates that release an
/// event only when the test says so, and the moment each watched stream was dropped).
pub mod sse {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Condvar, Mutex};
    use std::task::{Context, Poll};
    use std::time::{Duration, Instant};

    use ember_runtime::{Event, Request, Response, Sse, StatusCode};
    use futures_core::Stream;

    /// A stream over a list, every item ready at once.
    struct Listed<T>(std::vec::IntoIter<T>);

    impl<T: Unpin> Stream for Listed<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<T>> {
            Poll::Ready(self.0.next())
        }
    }

    #[derive(serde::Serialize)]
    struct Point {
        x: i32,
        label: &'static str,
    }

    /// `GET /sse/frames`: one event of each kind, for the byte-exact framing test.
    pub async fn frames() -> Result<Sse, StatusCode> {
        let point = Point {
            x: 1,
            label: "a\nb",
        };
        let json = Event::json(&point).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        let events = vec![
            Event::data("one\ntwo\r\nthree\rfour"),
            json.event("point").id("7"),
            Event::data("later").retry(Duration::from_millis(2500)),
            Event::comment("just a comment"),
            Event::data("safe").event("bad\nevent: forged").id("1\r\n2"),
        ];
        Ok(Sse::new(Listed(events.into_iter())).keep_alive(None))
    }

    /// `GET /sse/tokens`: a token stream.
    pub async fn tokens() -> Sse {
        Sse::tokens(Listed(vec!["Hel", "lo", " wor\nld"].into_iter())).keep_alive(None)
    }

    /// The gates of `/sse/gated/{key}`, by key.
    static GATES: Mutex<Vec<(String, Arc<tokio::sync::Notify>)>> = Mutex::new(Vec::new());

    fn gate(key: &str) -> Arc<tokio::sync::Notify> {
        let mut gates = GATES.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, g)) = gates.iter().find(|(k, _)| k == key) {
            return g.clone();
        }
        let g = Arc::new(tokio::sync::Notify::new());
        gates.push((key.to_owned(), g.clone()));
        g
    }

    /// `GET /sse/gated/{key}`: event 1, then event 2 only once `/sse/open/{key}` was called.
    pub async fn gated(key: &str) -> Sse {
        let gate = gate(key);
        let (tx, sse) = Sse::channel(1);
        tokio::task::spawn_local(async move {
            if tx.send(Event::data("first").id("1")).await.is_err() {
                return;
            }
            gate.notified().await;
            let _ = tx.send(Event::data("second").id("2")).await;
        });
        sse.keep_alive(None)
    }

    /// `GET /sse/open/{key}`: lets `/sse/gated/{key}` produce its second event.
    pub async fn open(key: &str) -> &'static str {
        gate(key).notify_one();
        "opened"
    }

    /// `GET /sse/keepalive/{ms}`: one event, then only keep-alives every `ms`.
    pub async fn keep_alive(ms: u64) -> Sse {
        let (tx, sse) = Sse::channel(1);
        tokio::task::spawn_local(async move {
            if tx.send(Event::data("hello")).await.is_ok() {
                tx.closed().await;
            }
        });
        sse.keep_alive(Duration::from_millis(ms))
    }

    /// `GET /sse/resume`: three numbered events after the client's `Last-Event-ID` (0
    /// without one), each saying where it resumed from; then the stream ends.
    pub async fn resume(req: &Request<'_>) -> Response {
        let last = req.last_event_id().map(str::to_owned);
        let from = match last.as_deref().map(str::parse::<u64>) {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(_)) => return Response::error(StatusCode::BAD_REQUEST),
        };
        let resumed = last.unwrap_or_else(|| "none".to_owned());
        let events: Vec<Event> = (from + 1..=from + 3)
            .map(|n| {
                let e = Event::data(format!("n={n}\nresumed={resumed}"))
                    .event("count")
                    .id(n.to_string());
                if n == from + 1 {
                    e.retry(Duration::from_millis(100))
                } else {
                    e
                }
            })
            .collect();
        ember_runtime::IntoResponse::into_response(Sse::new(Listed(events.into_iter())))
    }

    /// When each watched stream was dropped, by key.
    static DROPPED: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());
    static DROPPED_CV: Condvar = Condvar::new();

    fn record_drop(key: &str) {
        let mut d = DROPPED.lock().unwrap_or_else(|p| p.into_inner());
        d.push((key.to_owned(), Instant::now()));
        DROPPED_CV.notify_all();
    }

    /// When the stream served under `key` was dropped, waiting up to `timeout` for it.
    pub fn wait_dropped(key: &str, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let mut d = DROPPED.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some((_, at)) = d.iter().find(|(k, _)| k == key) {
                return Some(*at);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            d = DROPPED_CV
                .wait_timeout(d, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// An event stream that records when it is dropped: after its first event it is idle
    /// forever, or (busy) sends an event every 20 ms.
    struct Watched {
        key: String,
        sent: u64,
        busy: bool,
        tick: Option<Pin<Box<tokio::time::Sleep>>>,
    }

    impl Stream for Watched {
        type Item = Event;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
            if self.sent > 0 {
                if !self.busy {
                    return Poll::Pending;
                }
                let tick = self
                    .tick
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(20))));
                if tick.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.tick = None;
            }
            self.sent += 1;
            Poll::Ready(Some(Event::data(format!("event {}", self.sent))))
        }
    }

    impl Drop for Watched {
        fn drop(&mut self) {
            record_drop(&self.key);
        }
    }

    /// `GET /sse/watched/{key}/{mode}` (`idle` or `busy`): see [`Watched`]; no keep-alives.
    pub async fn watched(key: &str, mode: &str) -> Sse {
        Sse::new(Watched {
            key: key.to_owned(),
            sent: 0,
            busy: mode == "busy",
            tick: None,
        })
        .keep_alive(None)
    }

    /// `GET /sse/raw-watched/{key}`: a plain `Response::channel` stream, idle after one
    /// chunk; its producer records when the client is gone.
    pub async fn raw_watched(key: &str) -> Response {
        let key = key.to_owned();
        let (tx, response) = Response::channel(1);
        tokio::task::spawn_local(async move {
            if tx.send("data: hi\n\n").await.is_ok() {
                tx.closed().await;
            }
            record_drop(&key);
        });
        response.with_content_type("text/event-stream")
    }

    /// `GET /sse/forever`: one event, then idle until shutdown, which sends a last one.
    pub async fn forever() -> Sse {
        let (tx, sse) = Sse::channel(1);
        tokio::task::spawn_local(async move {
            if tx.send(Event::data("hello")).await.is_ok() {
                tx.closed().await;
            }
        });
        sse.keep_alive(None)
            .on_shutdown(Event::data("bye").event("shutdown"))
    }
}

// # cookies & sessions (issue 15): tests/tests/cookies.rs and tests/tests/sessions.rs.

/// Cookies: set with every attribute, read back, removed, re-signed.
pub mod cookies {
    use ember_runtime::cookie::{Cookie, SameSite, time};
    use ember_runtime::{Json, Request, Response};

    /// Sets a plain cookie with every attribute, one whose value needs encoding, a signed
    /// and a private one.
    pub async fn set() -> Response {
        Response::text("set")
            .cookie(
                Cookie::build(("plain", "v1"))
                    .path("/ck")
                    .max_age(time::Duration::hours(1))
                    .same_site(SameSite::Lax)
                    .http_only(true),
            )
            .cookie(Cookie::build(("spaced", "a b;c")).path("/"))
            .cookie(
                Cookie::build(("attrs", "x"))
                    .path("/elsewhere")
                    .domain("example.com")
                    .max_age(time::Duration::seconds(60))
                    .expires(time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000))
                    .secure(true)
                    .http_only(true)
                    .same_site(SameSite::None)
                    .partitioned(true),
            )
            .signed_cookie(Cookie::build(("sig", "alice")).path("/"))
            .private_cookie(Cookie::build(("priv", "the secret")).path("/"))
    }

    /// What the request's cookies say: plain values, and the signed and private ones as
    /// the keys verify them (`null` when they do not), with whether an old key did.
    pub async fn read(req: &Request<'_>) -> Json<serde_json::Value> {
        let sig = req.signed_cookie("sig");
        let private = req.private_cookie("priv");
        Json(serde_json::json!({
            "plain": req.cookie("plain"),
            "spaced": req.cookie("spaced"),
            "sig": sig.as_deref(),
            "sig_stale": sig.as_ref().map(|v| v.is_stale()),
            "priv": private.as_deref(),
            "priv_stale": private.as_ref().map(|v| v.is_stale()),
            "count": req.cookies().count(),
        }))
    }

    /// Tells the client to drop `plain` (at its path) and `spaced`.
    pub async fn remove() -> Response {
        Response::text("removed")
            .remove_cookie(Cookie::build("plain").path("/ck"))
            .remove_cookie(Cookie::build("spaced").path("/"))
    }

    /// Re-signs `sig` under the current key when an old key signed it.
    pub async fn resign(req: &Request<'_>) -> Response {
        match req.signed_cookie("sig") {
            Some(v) if v.is_stale() => Response::text("resigned")
                .signed_cookie(Cookie::build(("sig", v.into_string())).path("/")),
            Some(_) => Response::text("current"),
            None => Response::text("none"),
        }
    }
}

/// Sessions: the same handlers serve every store.
pub mod sess {
    use ember_runtime::{Json, Session};

    /// The session's id and data.
    pub async fn show(session: &mut Session) -> Json<serde_json::Value> {
        Json(serde_json::json!({
            "id": session.id(),
            "user": session.get::<String>("user"),
            "n": session.get::<u64>("n"),
        }))
    }

    /// Logs `user` in: a new id (fixation), data kept.
    pub async fn login(user: &str, session: &mut Session) -> Json<serde_json::Value> {
        session.regenerate();
        let _ = session.insert("user", user);
        show(session).await
    }

    /// Counts in the session.
    pub async fn incr(session: &mut Session) -> Json<serde_json::Value> {
        let n = session.get::<u64>("n").unwrap_or(0) + 1;
        let _ = session.insert("n", n);
        show(session).await
    }

    /// Logs out.
    pub async fn logout(session: &mut Session) -> &'static str {
        session.destroy();
        "bye"
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

// ai-tests (issue 13): the user AI route of tests/ember.yaml (tests/tests/ai_gateway.rs).
/// `/ai/...`: a user AI handler streaming its model's tokens with the SSE helpers.
pub mod ai_tests {
    use ember_runtime::Sse;
    use ember_runtime::ai::{AiError, ChatRequest, Model};

    /// `POST /ai/tokens`: the model's answer, one SSE event per token, then `[DONE]`.
    pub async fn tokens(chat: ChatRequest, model: &'static Model) -> Result<Sse, AiError> {
        Ok(Sse::tokens(model.stream(chat).await?.text()))
    }
}

// observe (obs, issue 16)
/// `GET /obs/request-id`: the request's id as the handler sees it (`-` without one).
pub async fn obs_request_id(req: &Request<'_>) -> String {
    req.request_id().unwrap_or("-").to_owned()
}

// ai state (issue 14): a user AI handler with `&mut Conversation` (tests/tests/ai_state.rs).
/// `/ai/remember`: answers with the model, keeping the conversation itself.
pub mod ai_state {
    use ember_runtime::ai::{AiError, ChatRequest, Conversation, Message, Model};

    /// `POST /ai/remember`: the stored history + the request's messages go to the model;
    /// the request's messages and the answer are added to the conversation. A request
    /// whose last message is `/clear` forgets the conversation instead.
    pub async fn remember(
        chat: ChatRequest,
        model: &'static Model,
        conv: &mut Conversation,
    ) -> Result<String, AiError> {
        if chat.messages.last().and_then(Message::text) == Some("/clear") {
            conv.clear();
            return Ok("cleared".to_owned());
        }
        let mut req = chat.clone();
        req.messages = conv.history().to_vec();
        req.messages.extend(chat.messages.iter().cloned());
        let text = model.complete(req).await?.text().unwrap_or("").to_owned();
        for m in chat.messages {
            conv.add_message(m);
        }
        conv.add_message(Message::assistant(text.clone()));
        Ok(text)
    }
}
