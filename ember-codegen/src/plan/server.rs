//! `server:`: address, workers, backend, io_uring settings.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::limits::{Level, limits_plan};
use super::{Builder, LimitsPlan};
use crate::diag::{Diagnostic, did_you_mean};
use crate::spec::Scalar;
use crate::spec::{ServerSpec, UringSpec};
use crate::validate::server::looks_like_host_port;
use crate::validate::{count, duration, flag, size};

/// `server.io_uring` settings given in the spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UringPlan {
    /// `entries`.
    pub entries: Option<u32>,
    /// `num_bufs`.
    pub num_bufs: Option<u16>,
    /// `buf_size`.
    pub buf_size: Option<u32>,
    /// `provided_buffers`.
    pub provided_buffers: Option<bool>,
}

/// Server settings given in the spec (unset ones take the runtime's defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerPlan {
    /// `host:port`.
    pub listen: Option<String>,
    /// `None` = auto.
    pub workers: Option<usize>,
    /// `auto`, `io_uring` or `tokio`.
    pub backend: Option<String>,
    /// `limits`.
    pub limits: LimitsPlan,
    /// `io_uring`.
    pub io_uring: UringPlan,
    /// `shutdown_grace`.
    pub shutdown_grace: Option<Duration>,
    /// `reuse_port`.
    pub reuse_port: Option<bool>,
}

pub(super) fn server_plan(cx: &mut Builder<'_, '_>, s: &ServerSpec) -> ServerPlan {
    let mut plan = ServerPlan::default();
    if let Some(l) = &s.listen
        && let Some(v) = cx.text(0, l)
    {
        if v.parse::<std::net::SocketAddr>().is_err() && !looks_like_host_port(&v) {
            let span = cx.span(0, l);
            let d = Diagnostic::new(format!("`{v}` is not a `host:port` address"))
                .at(span, "expected something like `0.0.0.0:8080`");
            cx.error(0, d);
        }
        plan.listen = Some(v);
    }
    if let Some(w) = &s.workers
        && let Some(v) = cx.scalar(0, w)
    {
        match v.parse::<usize>() {
            _ if v == "auto" => {}
            Ok(n) if (1..=4096).contains(&n) => plan.workers = Some(n),
            _ => {
                let span = cx.span(0, w);
                let d = Diagnostic::new(format!("invalid worker count `{v}`"))
                    .at(span, "expected `auto` or a whole number from 1 to 4096");
                cx.error(0, d);
            }
        }
    }
    if let Some(b) = &s.backend
        && let Some(v) = cx.text(0, b)
    {
        match v.as_str() {
            "auto" | "io_uring" | "tokio" => plan.backend = Some(v),
            other => {
                let span = cx.span(0, b);
                let mut d = Diagnostic::new(format!("unknown backend `{other}`"))
                    .at(span, "expected `auto`, `io_uring` or `tokio`");
                if let Some(s) = did_you_mean(other, &["auto", "io_uring", "tokio"]) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                cx.error(0, d);
            }
        }
    }
    if let Some(l) = &s.limits {
        plan.limits = limits_plan(cx, 0, l, Level::Server);
    }
    if let Some(u) = &s.io_uring {
        plan.io_uring = uring_plan(cx, &u.value);
    }
    if let Some(g) = &s.shutdown_grace {
        plan.shutdown_grace = duration(cx, 0, g, false).flatten();
    }
    if let Some(r) = &s.reuse_port {
        plan.reuse_port = flag(cx, r);
    }
    plan
}

fn uring_plan(cx: &mut Builder<'_, '_>, u: &UringSpec) -> UringPlan {
    let mut p = UringPlan::default();
    let pow2 = |cx: &mut Builder<'_, '_>, v: &Spanned<Scalar>, n: u64, what: &str| {
        if n.is_power_of_two() {
            true
        } else {
            let span = cx.span(0, v);
            let d = Diagnostic::new(format!("`{what}` must be a power of two"))
                .at(span, format!("{n} is not"))
                .help(format!("try {}", n.next_power_of_two()));
            cx.error(0, d);
            false
        }
    };
    if let Some(v) = &u.entries
        && let Some(n) = count(cx, 0, v, 8..=32768)
        && pow2(cx, v, n, "entries")
    {
        p.entries = Some(n as u32);
    }
    if let Some(v) = &u.num_bufs
        && let Some(n) = count(cx, 0, v, 1..=32768)
        && pow2(cx, v, n, "num_bufs")
    {
        p.num_bufs = Some(n as u16);
    }
    if let Some(v) = &u.buf_size {
        p.buf_size = size(cx, 0, v, 512..=1 << 20).map(|n| n as u32);
    }
    if let Some(v) = &u.provided_buffers {
        p.provided_buffers = flag(cx, v);
    }
    p
}
