//! Handlers for `ember.yaml`'s routes.

use ember_runtime::{Json, Response};
use serde::Serialize;

/// `GET /plaintext`
pub async fn plaintext() -> &'static str {
    "Hello, World!"
}

/// The `/json` body.
#[derive(Debug, Serialize)]
pub struct Message {
    message: &'static str,
}

/// `GET /json`: serialized per request, as TechEmpower requires.
pub async fn json() -> Json<Message> {
    Json(Message {
        message: "Hello, World!",
    })
}

/// `GET /hello/{name}`
pub async fn hello(name: &str) -> Response {
    Response::text(format!("Hello, {name}!"))
}
