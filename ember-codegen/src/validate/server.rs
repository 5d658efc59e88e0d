//! Rules of the `server:` section: address, workers, backend, limits, io_uring settings.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::limits::{Level, Limits, limits};
use super::{count, duration, flag, size};
use crate::ctx::Ctx;
use crate::diag::{Diagnostic, did_you_mean};
use crate::spec::{Scalar, ServerSpec, UringSpec};

/// Checked `server.io_uring` values (unset or invalid ones are `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Uring {
    pub(crate) entries: Option<u32>,
    pub(crate) num_bufs: Option<u16>,
    pub(crate) buf_size: Option<u32>,
    pub(crate) provided_buffers: Option<bool>,
    pub(crate) defer_taskrun: Option<bool>,
}

/// Checked `server:` values (unset or invalid ones are `None`; the invalid ones reported).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Server {
    pub(crate) listen: Option<String>,
    /// `None` = auto.
    pub(crate) workers: Option<usize>,
    /// `auto`, `io_uring` or `tokio`.
    pub(crate) backend: Option<String>,
    pub(crate) limits: Limits,
    pub(crate) io_uring: Uring,
    pub(crate) shutdown_grace: Option<Duration>,
    pub(crate) reuse_port: Option<bool>,
    /// scale: the drain after SIGTERM.
    pub(crate) drain: Option<Duration>,
}

/// Checks `server:` (always in the root file).
pub(crate) fn server(cx: &mut Ctx<'_, '_>, s: &ServerSpec) -> Server {
    let mut out = Server::default();
    if let Some(l) = &s.listen
        && let Some(v) = cx.text(0, l)
    {
        if v.parse::<std::net::SocketAddr>().is_err() && !looks_like_host_port(&v) {
            let span = cx.span(0, l);
            let d = Diagnostic::new(format!("`{v}` is not a `host:port` address"))
                .at(span, "expected something like `0.0.0.0:8080`");
            cx.error(0, d);
        }
        out.listen = Some(v);
    }
    if let Some(w) = &s.workers
        && let Some(v) = cx.scalar(0, w)
    {
        match v.parse::<usize>() {
            _ if v == "auto" => {}
            Ok(n) if (1..=4096).contains(&n) => out.workers = Some(n),
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
            "auto" | "io_uring" | "tokio" => out.backend = Some(v),
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
        out.limits = limits(cx, 0, l, Level::Server);
    }
    if let Some(u) = &s.io_uring {
        out.io_uring = uring(cx, &u.value);
    }
    if let Some(g) = &s.shutdown_grace {
        out.shutdown_grace = duration(cx, 0, g, false).flatten();
    }
    if let Some(r) = &s.reuse_port {
        out.reuse_port = flag(cx, r);
    }
    // scale (issue 18.3)
    if let Some(d) = &s.drain {
        out.drain = duration(cx, 0, d, false).flatten();
    }
    out
}

/// Checks `server.io_uring`.
fn uring(cx: &mut Ctx<'_, '_>, u: &UringSpec) -> Uring {
    let mut p = Uring::default();
    let pow2 = |cx: &mut Ctx<'_, '_>, v: &Spanned<Scalar>, n: u64, what: &str| {
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
    if let Some(v) = &u.defer_taskrun {
        p.defer_taskrun = flag(cx, v);
    }
    p
}

/// Whether `s` looks like `host:port` with a plain host name.
pub(crate) fn looks_like_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && port.parse::<u16>().is_ok()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::tests::check_table;

    /// A spec, and the `LINE:COL` and part of the message of the one error it must get
    /// (`""` = valid).
    const CASES: &[(&str, &str, &str)] = &[
        (
            "server:\n  listen: '[::1]:80'\n  workers: auto\n  backend: tokio\n  \
             shutdown_grace: 5s\n  reuse_port: true\n",
            "",
            "",
        ),
        ("server:\n  listen: host-1.example:80\n", "", ""),
        (
            "server:\n  listen: 'bad host:80'\n",
            "2:11",
            "is not a `host:port` address",
        ),
        ("server:\n  listen: host:99999\n", "2:11", "`host:99999`"),
        (
            "server:\n  workers: 0\n",
            "2:12",
            "invalid worker count `0`",
        ),
        (
            "server:\n  workers: 5000\n",
            "2:12",
            "invalid worker count `5000`",
        ),
        (
            "server:\n  backend: tokyo\n",
            "2:12",
            "unknown backend `tokyo`",
        ),
        ("server:\n  shutdown_grace: 0s\n", "2:19", "`0s` is zero"),
        (
            "server:\n  reuse_port: maybe\n",
            "2:15",
            "`maybe` is not a boolean",
        ),
        (
            "server:\n  io_uring: { entries: 256, num_bufs: 512, buf_size: 4KiB, provided_buffers: off }\n",
            "",
            "",
        ),
        (
            "server:\n  io_uring: { entries: 100 }\n",
            "2:24",
            "`entries` must be a power of two",
        ),
        (
            "server:\n  io_uring: { entries: 4 }\n",
            "2:24",
            "invalid count `4`",
        ),
        (
            "server:\n  io_uring: { num_bufs: 3 }\n",
            "2:25",
            "`num_bufs` must be a power of two",
        ),
        (
            "server:\n  io_uring: { buf_size: 100 }\n",
            "2:25",
            "`100` is out of range",
        ),
        (
            "server:\n  limits: { max_headers: 500 }\n",
            "2:26",
            "invalid count `500`",
        ),
    ];

    #[test]
    fn rules() {
        check_table(CASES);
    }
}
