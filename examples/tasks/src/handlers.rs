//! The tasks API's handlers: JSON in, JSON out, JSON errors.

use ember_runtime::{IntoResponse, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use crate::store::{self, StoreError, Task};

/// Longest title accepted.
const MAX_TITLE: usize = 500;
/// Most tasks per page.
const MAX_LIMIT: i64 = 100;

/// An error answer: `{"error": "..."}` with a status.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.status, &self.message)
    }
}

fn api_error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

/// `{"error": "..."}` with a status.
fn error(status: StatusCode, message: &str) -> Response {
    #[derive(Serialize)]
    struct Error<'a> {
        error: &'a str,
    }
    Response::json(&Error { error: message }).with_status(status)
}

/// After a write: drop the cached reads, when purging is on.
async fn purge_reads() {
    if crate::purge_on_write()
        && let Some(hot) = crate::App::cache("hot")
        && let Err(e) = hot.purge_prefix("GET /tasks").await
    {
        eprintln!("tasks: cache purge failed: {e}");
    }
}

fn unavailable(e: &StoreError) -> Response {
    eprintln!("tasks: storage error: {e}");
    error(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable")
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(api_error(
            StatusCode::BAD_REQUEST,
            "task id must be a positive integer",
        )),
    }
}

/// A query parameter as a number in `range`, or `default` when absent.
fn number(
    req: &Request<'_>,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ApiError> {
    match req.query_param(name) {
        None | Some("") => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(api_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "`{name}` must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        },
    }
}

/// Checks the body is JSON (by `Content-Type`, when one is sent) and parses it.
fn json_body<'a, T: Deserialize<'a>>(req: &Request<'a>) -> Result<T, ApiError> {
    if let Some(ct) = req.header_str("content-type")
        && !ct
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    {
        return Err(api_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/json",
        ));
    }
    serde_json::from_slice(req.body())
        .map_err(|e| api_error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

fn check_title(title: &str) -> Result<(), ApiError> {
    let t = title.trim();
    if t.is_empty() {
        return Err(api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`title` must not be empty",
        ));
    }
    if t.chars().count() > MAX_TITLE {
        return Err(api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`title` is longer than 500 characters",
        ));
    }
    Ok(())
}

/// `GET /tasks?page=P&limit=L`: newest first, with the total count.
pub async fn list(req: &Request<'_>) -> Response {
    #[derive(Serialize)]
    struct Page {
        tasks: Vec<Task>,
        total: i64,
    }
    let page = match number(req, "page", 1, 1..=1_000_000) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let limit = match number(req, "limit", 20, 1..=MAX_LIMIT) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    match store::list(page, limit).await {
        Ok((tasks, total)) => Response::json(&Page { tasks, total }),
        Err(e) => unavailable(&e),
    }
}

/// `GET /tasks/{id}`
pub async fn show(id: &str) -> Response {
    let id = match parse_id(id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    match store::get(id).await {
        Ok(Some(task)) => Response::json(&task),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such task"),
        Err(e) => unavailable(&e),
    }
}

/// `POST /tasks` with `{"title": "..."}`: 201 and the task.
pub async fn create(req: &Request<'_>) -> Response {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NewTask {
        title: String,
    }
    let new: NewTask = match json_body(req) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = check_title(&new.title) {
        return e.into_response();
    }
    match store::create(new.title.trim()).await {
        Ok(task) => {
            purge_reads().await;
            Response::json(&task)
                .with_status(StatusCode::CREATED)
                .header("Location", &format!("/tasks/{}", task.id))
        }
        Err(e) => unavailable(&e),
    }
}

/// `PATCH /tasks/{id}` with `{"title"?: "...", "done"?: bool}`.
pub async fn update(req: &Request<'_>, id: &str) -> Response {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Change {
        title: Option<String>,
        done: Option<bool>,
    }
    let id = match parse_id(id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let change: Change = match json_body(req) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Some(t) = &change.title
        && let Err(e) = check_title(t)
    {
        return e.into_response();
    }
    match store::update(id, change.title.as_deref().map(str::trim), change.done).await {
        Ok(Some(task)) => {
            purge_reads().await;
            Response::json(&task)
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "no such task"),
        Err(e) => unavailable(&e),
    }
}

/// `DELETE /tasks/{id}`: 204.
pub async fn delete(id: &str) -> Response {
    let id = match parse_id(id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    match store::delete(id).await {
        Ok(true) => {
            purge_reads().await;
            Response::new(StatusCode::NO_CONTENT)
        }
        Ok(false) => error(StatusCode::NOT_FOUND, "no such task"),
        Err(e) => unavailable(&e),
    }
}
