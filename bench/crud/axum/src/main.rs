//! The tasks API (examples/tasks) on axum 0.8, for the CRUD benchmark: the same routes,
//! JSON shapes, SQL (prepared, cached per connection), page + count queries pipelined on
//! one connection, and pool (deadpool-postgres, `POOL_SIZE` connections, default 16) as
//! Ember's tasks example, on one current-thread tokio runtime to match Ember's single
//! worker.
//!
//! `crud-axum` serves without a cache; `crud-axum --moka` puts a moka cache (1 s TTL,
//! `get_with`, so concurrent misses for one key run the loader once) in front of the two
//! read routes, keyed by path + query, holding the serialized response (status + body).
//! With `--moka`, `GET /_stats` returns `{"lookups":N,"misses":M}` (never part of the mix).
//!
//! Environment: `LISTEN` (default 127.0.0.1:8080), `DATABASE_URL` (required),
//! `POOL_SIZE` (default 16).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS tasks (
    id BIGSERIAL PRIMARY KEY,
    title TEXT NOT NULL,
    done BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// The columns every query returns, `created_at` already formatted (as in Ember's store).
const COLUMNS: &str =
    "id, title, done, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

const MAX_TITLE: usize = 500;
const MAX_LIMIT: i64 = 100;

#[derive(Serialize)]
struct Task {
    id: i64,
    title: String,
    done: bool,
    created_at: String,
}

fn row(r: &tokio_postgres::Row) -> Task {
    Task {
        id: r.get(0),
        title: r.get(1),
        done: r.get(2),
        created_at: r.get(3),
    }
}

/// A rendered response: what the cache holds.
#[derive(Clone)]
struct Rendered {
    status: StatusCode,
    body: Bytes,
    location: Option<String>,
}

impl IntoResponse for Rendered {
    fn into_response(self) -> Response {
        let mut r = (self.status, self.body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(loc) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            h.insert(header::LOCATION, loc);
        }
        r
    }
}

fn json<T: Serialize>(status: StatusCode, v: &T) -> Rendered {
    Rendered {
        status,
        body: Bytes::from(serde_json::to_vec(v).expect("serializable")),
        location: None,
    }
}

fn error(status: StatusCode, message: &str) -> Rendered {
    #[derive(Serialize)]
    struct Error<'a> {
        error: &'a str,
    }
    json(status, &Error { error: message })
}

fn unavailable(e: &dyn std::fmt::Display) -> Rendered {
    eprintln!("crud-axum: storage error: {e}");
    error(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable")
}

struct AppState {
    pool: deadpool_postgres::Pool,
    cache: Option<moka::future::Cache<String, Rendered>>,
    lookups: AtomicU64,
    misses: AtomicU64,
}

type St = State<Arc<AppState>>;

impl AppState {
    /// Serves a read route through the cache (when there is one).
    async fn cached<F>(&self, uri: &Uri, render: F) -> Rendered
    where
        F: std::future::Future<Output = Rendered>,
    {
        let Some(cache) = &self.cache else {
            return render.await;
        };
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let key = uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
        cache
            .get_with(key, async {
                self.misses.fetch_add(1, Ordering::Relaxed);
                render.await
            })
            .await
    }
}

fn parse_id(raw: &str) -> Result<i64, Rendered> {
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "task id must be a positive integer",
        )),
    }
}

/// The first value of query parameter `name`, percent-decoded.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    let q = query?;
    serde_urlencoded_pairs(q)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn serde_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    // `page` and `limit` are plain numbers: split on & and =, decode %XX and '+'.
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn number(
    query: Option<&str>,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, Rendered> {
    match query_param(query, name).as_deref() {
        None | Some("") => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "`{name}` must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        },
    }
}

async fn render_list(st: &AppState, query: Option<&str>) -> Rendered {
    #[derive(Serialize)]
    struct Page {
        tasks: Vec<Task>,
        total: i64,
    }
    let page = match number(query, "page", 1, 1..=1_000_000) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let limit = match number(query, "limit", 20, 1..=MAX_LIMIT) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let offset = (page - 1) * limit;
    let c = match st.pool.get().await {
        Ok(c) => c,
        Err(e) => return unavailable(&e),
    };
    let page_sql = format!("SELECT {COLUMNS} FROM tasks ORDER BY id DESC LIMIT $1 OFFSET $2");
    let res = async {
        let (page_stmt, count_stmt) = tokio::try_join!(
            c.prepare_cached(&page_sql),
            c.prepare_cached("SELECT count(*) FROM tasks")
        )?;
        // Both queries go out together on the one connection (pipelined), as in Ember.
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&limit, &offset];
        tokio::try_join!(c.query(&page_stmt, &params), c.query_one(&count_stmt, &[]))
    }
    .await;
    match res {
        Ok((rows, count)) => json(
            StatusCode::OK,
            &Page {
                tasks: rows.iter().map(row).collect(),
                total: count.get(0),
            },
        ),
        Err(e) => unavailable(&e),
    }
}

async fn render_show(st: &AppState, id: &str) -> Rendered {
    let id = match parse_id(id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let c = match st.pool.get().await {
        Ok(c) => c,
        Err(e) => return unavailable(&e),
    };
    let res = async {
        let stmt = c
            .prepare_cached(&format!("SELECT {COLUMNS} FROM tasks WHERE id = $1"))
            .await?;
        c.query_opt(&stmt, &[&id]).await
    }
    .await;
    match res {
        Ok(Some(r)) => json(StatusCode::OK, &row(&r)),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such task"),
        Err(e) => unavailable(&e),
    }
}

async fn list(State(st): St, uri: Uri, RawQuery(q): RawQuery) -> Rendered {
    st.cached(&uri, render_list(&st, q.as_deref())).await
}

async fn show(State(st): St, uri: Uri, Path(id): Path<String>) -> Rendered {
    st.cached(&uri, render_show(&st, &id)).await
}

/// Checks the body is JSON (by `Content-Type`, when one is sent) and parses it.
fn json_body<'a, T: Deserialize<'a>>(
    headers: &axum::http::HeaderMap,
    body: &'a [u8],
) -> Result<T, Rendered> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").trim_start().to_ascii_lowercase();
        if !ct.starts_with("application/json") {
            return Err(error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send application/json",
            ));
        }
    }
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")))
}

fn check_title(title: &str) -> Result<(), Rendered> {
    let t = title.trim();
    if t.is_empty() {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`title` must not be empty",
        ));
    }
    if t.chars().count() > MAX_TITLE {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`title` is longer than 500 characters",
        ));
    }
    Ok(())
}

async fn create(State(st): St, headers: axum::http::HeaderMap, body: Bytes) -> Rendered {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NewTask {
        title: String,
    }
    let new: NewTask = match json_body(&headers, &body) {
        Ok(n) => n,
        Err(r) => return r,
    };
    if let Err(r) = check_title(&new.title) {
        return r;
    }
    let title = new.title.trim();
    let c = match st.pool.get().await {
        Ok(c) => c,
        Err(e) => return unavailable(&e),
    };
    let res = async {
        let stmt = c
            .prepare_cached(&format!(
                "INSERT INTO tasks (title) VALUES ($1) RETURNING {COLUMNS}"
            ))
            .await?;
        c.query_one(&stmt, &[&title]).await
    }
    .await;
    match res {
        Ok(r) => {
            let task = row(&r);
            let mut out = json(StatusCode::CREATED, &task);
            out.location = Some(format!("/tasks/{}", task.id));
            out
        }
        Err(e) => unavailable(&e),
    }
}

async fn update(
    State(st): St,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Rendered {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Change {
        title: Option<String>,
        done: Option<bool>,
    }
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let change: Change = match json_body(&headers, &body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Some(t) = &change.title {
        if let Err(r) = check_title(t) {
            return r;
        }
    }
    let title = change.title.as_deref().map(str::trim);
    let c = match st.pool.get().await {
        Ok(c) => c,
        Err(e) => return unavailable(&e),
    };
    let res = async {
        let stmt = c
            .prepare_cached(&format!(
                "UPDATE tasks SET title = COALESCE($2, title), done = COALESCE($3, done) WHERE id = $1 RETURNING {COLUMNS}"
            ))
            .await?;
        c.query_opt(&stmt, &[&id, &title, &change.done]).await
    }
    .await;
    match res {
        Ok(Some(r)) => json(StatusCode::OK, &row(&r)),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such task"),
        Err(e) => unavailable(&e),
    }
}

async fn delete(State(st): St, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    let c = match st.pool.get().await {
        Ok(c) => c,
        Err(e) => return unavailable(&e).into_response(),
    };
    let res = async {
        let stmt = c.prepare_cached("DELETE FROM tasks WHERE id = $1").await?;
        c.execute(&stmt, &[&id]).await
    }
    .await;
    match res {
        Ok(1) => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => error(StatusCode::NOT_FOUND, "no such task").into_response(),
        Err(e) => unavailable(&e).into_response(),
    }
}

async fn stats(State(st): St) -> Rendered {
    #[derive(Serialize)]
    struct Stats {
        lookups: u64,
        misses: u64,
    }
    json(
        StatusCode::OK,
        &Stats {
            lookups: st.lookups.load(Ordering::Relaxed),
            misses: st.misses.load(Ordering::Relaxed),
        },
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let moka = std::env::args().skip(1).any(|a| a == "--moka");
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let url = std::env::var("DATABASE_URL").expect("crud-axum: set DATABASE_URL");
    let pool_size = std::env::var("POOL_SIZE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(16);

    // Schema, as Ember's tasks example creates it at start.
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("crud-axum: connect");
    let driver = tokio::spawn(conn);
    client
        .batch_execute(SCHEMA)
        .await
        .expect("crud-axum: schema");
    drop(client);
    let _ = driver.await;

    let mut cfg = deadpool_postgres::Config::new();
    cfg.url = Some(url);
    cfg.pool = Some(deadpool_postgres::PoolConfig::new(pool_size.max(1)));
    let pool = cfg
        .create_pool(
            Some(deadpool_postgres::Runtime::Tokio1),
            tokio_postgres::NoTls,
        )
        .expect("crud-axum: pool");

    let cache = moka.then(|| {
        moka::future::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(1))
            .build()
    });
    let state = Arc::new(AppState {
        pool,
        cache,
        lookups: AtomicU64::new(0),
        misses: AtomicU64::new(0),
    });

    let mut app = Router::new()
        .route("/tasks", get(list).post(create))
        .route("/tasks/{id}", get(show).patch(update).delete(delete));
    if moka {
        app = app.route("/_stats", get(stats));
    }
    let app = app
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .with_state(state);

    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .expect("crud-axum: bind");
    eprintln!(
        "crud-axum: listening on {listen} (pool {pool_size}, cache {})",
        if moka { "moka 1s" } else { "none" }
    );
    axum::serve(listener, app).await.expect("crud-axum: serve");
}
