//! The one echo handler.

use ember_runtime::{Request, Response};
use serde::Serialize;

#[derive(Serialize)]
struct Echo<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: Vec<(&'a str, String)>,
    body: String,
}

/// Byte `0xNN` → `U+00NN`.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// `ANY /{*path}`: answers with what was parsed.
pub async fn echo(req: &Request<'_>, _path: &str) -> Response {
    let echo = Echo {
        method: req.method().as_str(),
        path: req.path(),
        query: req.query(),
        headers: req
            .headers()
            .iter()
            .map(|h| (h.name, latin1(h.value)))
            .collect(),
        body: latin1(req.body()),
    };
    Response::json(&echo)
}
