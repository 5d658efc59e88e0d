//! The server configuration the spec sets (`server:`).

use crate::code::Millis;
use crate::code::{Code, Str};
use crate::plan::Plan;

/// The body of `Service::config`: the server settings of the spec.
pub(super) fn emit_config(c: &mut Code, plan: &Plan) {
    let server = &plan.server;
    let mut calls = Vec::new();
    if let Some(l) = &server.listen {
        calls.push(format!(".listen({})", Str(l)));
    }
    if let Some(n) = server.workers {
        calls.push(format!(
            ".workers(::ember_runtime::__private::Workers::Count({n}))"
        ));
    }
    match server.backend.as_deref() {
        Some("io_uring") => {
            calls.push(".backend(::ember_runtime::__private::Backend::IoUring)".to_owned())
        }
        Some("tokio") => {
            calls.push(".backend(::ember_runtime::__private::Backend::Tokio)".to_owned())
        }
        _ => {}
    }
    let l = &server.limits;
    let mut limits = Vec::new();
    for (name, d) in [
        ("keep_alive_timeout", l.keep_alive_timeout),
        ("header_read_timeout", l.header_read_timeout),
        ("body_read_timeout", l.body_read_timeout),
    ] {
        if let Some(d) = d {
            limits.push(format!(".{name}({})", Millis(d)));
        }
    }
    match l.handler_timeout {
        Some(Some(d)) => limits.push(format!(".handler_timeout(Some({}))", Millis(d))),
        Some(None) => limits.push(".handler_timeout(None)".to_owned()),
        None => {}
    }
    for (name, v) in [
        ("max_request_line", l.max_request_line),
        ("max_header_bytes", l.max_header_bytes),
        ("max_headers", l.max_headers),
        ("max_connections", l.max_connections),
        ("max_body_size", l.max_body_size),
    ] {
        if let Some(v) = v {
            limits.push(format!(".{name}({v})"));
        }
    }
    if !limits.is_empty() {
        calls.push(format!(
            ".limits(::ember_runtime::__private::Limits::new(){})",
            limits.concat()
        ));
    }
    let u = &server.io_uring;
    let mut uring = Vec::new();
    if let Some(v) = u.entries {
        uring.push(format!(".entries({v})"));
    }
    if let Some(v) = u.num_bufs {
        uring.push(format!(".num_bufs({v})"));
    }
    if let Some(v) = u.buf_size {
        uring.push(format!(".buf_size({v})"));
    }
    if let Some(v) = u.provided_buffers {
        uring.push(format!(".provided_buffers({v})"));
    }
    if let Some(v) = u.defer_taskrun {
        uring.push(format!(".defer_taskrun({v})"));
    }
    if !uring.is_empty() {
        calls.push(format!(
            ".io_uring(::ember_runtime::__private::UringConfig::new(){})",
            uring.concat()
        ));
    }
    if let Some(g) = server.shutdown_grace {
        calls.push(format!(".shutdown_grace({})", Millis(g)));
    }
    if let Some(r) = server.reuse_port {
        calls.push(format!(".reuse_port({r})"));
    }
    // observe (obs, issue 16)
    super::observe::config_calls(plan, &mut calls);
    // scale (issue 18.3)
    if let Some(d) = server.drain {
        calls.push(format!(".drain({})", Millis(d)));
    }
    c.chain("::ember_runtime::ServerConfig::new()", &calls, "");
}
