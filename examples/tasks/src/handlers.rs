//! The tasks API's handlers: JSON in, JSON out, JSON errors.
//!
//! Bodies and the list's query arrive typed (`body:` / `query:` in `ember.yaml`): input
//! that does not fit them never reaches these functions, it is answered with an
//! `application/problem+json` naming the field. The handlers' own errors (an unknown task,
//! a page out of range, a blank title) are `{"error": "..."}`.

use ember_runtime::{IntoResponse, Response, StatusCode};
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

/// `?page=P&limit=L` of `GET /tasks` (other keys are ignored): decoded before the handler
/// runs, so `?page=abc` is a `400` problem naming `page`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    page: Option<i64>,
    limit: Option<i64>,
}

/// A query number in `range`, or `default` when absent.
fn number(
    name: &str,
    value: Option<i64>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ApiError> {
    match value {
        None => Ok(default),
        Some(n) if range.contains(&n) => Ok(n),
        Some(_) => Err(api_error(
            StatusCode::BAD_REQUEST,
            format!(
                "`{name}` must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// The body of `POST /tasks`: `{"title": "..."}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    title: String,
}

/// The body of `PATCH /tasks/{id}`: `{"title"?: "...", "done"?: bool}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    title: Option<String>,
    done: Option<bool>,
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
pub async fn list(query: ListQuery) -> Response {
    #[derive(Serialize)]
    struct Page {
        tasks: Vec<Task>,
        total: i64,
    }
    let page = match number("page", query.page, 1, 1..=1_000_000) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let limit = match number("limit", query.limit, 20, 1..=MAX_LIMIT) {
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
pub async fn create(new: NewTask) -> Response {
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
pub async fn update(id: &str, change: Change) -> Response {
    let id = match parse_id(id) {
        Ok(id) => id,
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
