//! Access-log lines: formatted into the worker's buffer when a request is answered (no
//! I/O, no allocation once the buffer has grown), written in batches when the buffer fills,
//! on the worker's flush tick and when the worker stops.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::observe::{AccessLogFormat, AccessLogTarget};
use crate::http::request::Version;

/// Buffered bytes past which a worker writes its lines at once.
pub(crate) const FLUSH_AT: usize = 32 * 1024;

/// Where the lines of every worker go.
#[derive(Debug)]
pub(crate) enum Sink {
    Stdout,
    Stderr,
    /// Opened for appending: each batch is one `write` of whole lines.
    File(File),
}

impl Sink {
    /// Opens the target (a file is created if missing).
    pub(crate) fn open(target: &AccessLogTarget) -> io::Result<Sink> {
        Ok(match target {
            AccessLogTarget::Stdout => Sink::Stdout,
            AccessLogTarget::Stderr => Sink::Stderr,
            AccessLogTarget::File(p) => Sink::File(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("cannot open the access log `{}`: {e}", p.display()),
                        )
                    })?,
            ),
        })
    }

    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Stdout => io::stdout().lock().write_all(bytes),
            Sink::Stderr => io::stderr().lock().write_all(bytes),
            Sink::File(f) => (&*f).write_all(bytes),
        }
    }
}

/// What one line says about a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    pub(crate) method: &'a str,
    pub(crate) route: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) version: Version,
    pub(crate) status: u16,
    pub(crate) bytes: u64,
    pub(crate) micros: u64,
    pub(crate) request_id: Option<&'a str>,
    pub(crate) peer: Option<IpAddr>,
}

/// A worker's log: its buffer and the shared sink.
#[derive(Debug)]
pub(crate) struct WorkerLog {
    format: AccessLogFormat,
    sink: Arc<Sink>,
    buf: RefCell<Vec<u8>>,
    /// The second the cached timestamps are for, and them.
    clock: Cell<(u64, [u8; 26], [u8; 19])>,
    warned: Cell<bool>,
}

impl WorkerLog {
    /// A worker's log of `format` lines into `sink`.
    pub(crate) fn new(format: AccessLogFormat, sink: Arc<Sink>) -> WorkerLog {
        WorkerLog {
            format,
            sink,
            buf: RefCell::new(Vec::with_capacity(FLUSH_AT + 1024)),
            clock: Cell::new((u64::MAX, [0; 26], [0; 19])),
            warned: Cell::new(false),
        }
    }

    /// Formats one line into the buffer; writes the buffer once it is full.
    pub(crate) fn push(&self, line: &Line<'_>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (secs, millis) = (now.as_secs(), now.subsec_millis());
        let (cached, clf, iso) = self.clock.get();
        let (clf, iso) = if cached == secs {
            (clf, iso)
        } else {
            let t = stamps(secs);
            self.clock.set((secs, t.0, t.1));
            t
        };
        let full = {
            let mut buf = self.buf.borrow_mut();
            match self.format {
                AccessLogFormat::Off => return,
                AccessLogFormat::Common => common(&mut buf, line, &clf),
                AccessLogFormat::Json => json(&mut buf, line, &iso, millis),
            }
            buf.len() >= FLUSH_AT
        };
        if full {
            self.flush();
        }
    }

    /// Writes what is buffered.
    pub(crate) fn flush(&self) {
        let mut buf = self.buf.borrow_mut();
        if buf.is_empty() {
            return;
        }
        if let Err(e) = self.sink.write(&buf)
            && !self.warned.replace(true)
        {
            tracing::warn!("access log: {e} (lines are dropped while it fails)");
        }
        buf.clear();
    }
}

impl Drop for WorkerLog {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The CLF timestamp (`01/Dec/2026:17:20:00 +0000`) and the ISO one (`2026-12-01T17:20:00`)
/// of a Unix second.
fn stamps(secs: u64) -> ([u8; 26], [u8; 19]) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, mi, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mut clf = [0u8; 26];
    let mut iso = [0u8; 19];
    let month = MONTHS[(m - 1).clamp(0, 11) as usize];
    let _ = write!(
        &mut clf[..],
        "{d:02}/{month}/{y:04}:{h:02}:{mi:02}:{s:02} +0000"
    );
    let _ = write!(&mut iso[..], "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    (clf, iso)
}

fn version(v: Version) -> &'static str {
    match v {
        Version::Http10 => "HTTP/1.0",
        Version::Http11 => "HTTP/1.1",
    }
}

/// `peer - - [time] "METHOD path?query HTTP/1.1" status bytes "route" request-id ms`.
fn common(buf: &mut Vec<u8>, l: &Line<'_>, clf: &[u8; 26]) {
    match l.peer {
        Some(ip) => peer(buf, ip),
        None => buf.push(b'-'),
    }
    buf.extend_from_slice(b" - - [");
    buf.extend_from_slice(clf);
    buf.extend_from_slice(b"] \"");
    buf.extend_from_slice(l.method.as_bytes());
    buf.push(b' ');
    clf_escaped(buf, l.path);
    if !l.query.is_empty() {
        buf.push(b'?');
        clf_escaped(buf, l.query);
    }
    buf.push(b' ');
    buf.extend_from_slice(version(l.version).as_bytes());
    buf.extend_from_slice(b"\" ");
    buf.extend_from_slice(itoa::Buffer::new().format(l.status).as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(itoa::Buffer::new().format(l.bytes).as_bytes());
    buf.extend_from_slice(b" \"");
    clf_escaped(buf, l.route);
    buf.extend_from_slice(b"\" ");
    buf.extend_from_slice(l.request_id.unwrap_or("-").as_bytes());
    buf.push(b' ');
    millis(buf, l.micros);
    buf.push(b'\n');
}

/// One JSON object per line.
fn json(buf: &mut Vec<u8>, l: &Line<'_>, iso: &[u8; 19], ms: u32) {
    buf.extend_from_slice(b"{\"time\":\"");
    buf.extend_from_slice(iso);
    let ms = ms.min(999);
    buf.extend_from_slice(&[
        b'.',
        b'0' + (ms / 100) as u8,
        b'0' + (ms / 10 % 10) as u8,
        b'0' + (ms % 10) as u8,
    ]);
    buf.extend_from_slice(b"Z\",\"peer\":");
    match l.peer {
        Some(ip) => {
            buf.push(b'"');
            peer(buf, ip);
            buf.push(b'"');
        }
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b",\"method\":");
    json_str(buf, l.method);
    buf.extend_from_slice(b",\"route\":");
    json_str(buf, l.route);
    buf.extend_from_slice(b",\"path\":");
    json_str(buf, l.path);
    buf.extend_from_slice(b",\"query\":");
    json_str(buf, l.query);
    buf.extend_from_slice(b",\"version\":\"");
    buf.extend_from_slice(version(l.version).as_bytes());
    buf.extend_from_slice(b"\",\"status\":");
    buf.extend_from_slice(itoa::Buffer::new().format(l.status).as_bytes());
    buf.extend_from_slice(b",\"bytes\":");
    buf.extend_from_slice(itoa::Buffer::new().format(l.bytes).as_bytes());
    buf.extend_from_slice(b",\"duration_ms\":");
    millis(buf, l.micros);
    buf.extend_from_slice(b",\"request_id\":");
    match l.request_id {
        Some(id) => json_str(buf, id),
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b"}\n");
}

/// The peer's address (IPv4 without the formatting machinery: most lines have one).
fn peer(buf: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                buf.extend_from_slice(itoa::Buffer::new().format(*o).as_bytes());
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(buf, "{v6}");
        }
    }
}

/// Microseconds as milliseconds with three decimals.
fn millis(buf: &mut Vec<u8>, us: u64) {
    buf.extend_from_slice(itoa::Buffer::new().format(us / 1000).as_bytes());
    let frac = us % 1000;
    buf.push(b'.');
    buf.push(b'0' + (frac / 100) as u8);
    buf.push(b'0' + (frac / 10 % 10) as u8);
    buf.push(b'0' + (frac % 10) as u8);
}

/// Text inside a CLF quoted field: `"`, `\`, controls and non-ASCII bytes as `\xHH`.
fn clf_escaped(buf: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            let _ = write!(buf, "\\x{b:02X}");
        } else {
            buf.push(b);
        }
    }
}

/// A JSON string.
fn json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            0..0x20 | 0x7f => {
                let _ = write!(buf, "\\u{b:04x}");
            }
            _ => buf.push(b),
        }
    }
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> Line<'static> {
        Line {
            method: "GET",
            route: "/users/{id}",
            path: "/users/\"42\"",
            query: "a=1",
            version: Version::Http11,
            status: 200,
            bytes: 123,
            micros: 1_234,
            request_id: Some("abc"),
            peer: Some(IpAddr::from([127, 0, 0, 1])),
        }
    }

    #[test]
    fn common_log_format() {
        let mut b = Vec::new();
        let (clf, _) = stamps(1_764_609_600); // 2025-12-01T17:20:00Z
        common(&mut b, &line(), &clf);
        assert_eq!(
            String::from_utf8(b).expect("ascii"),
            "127.0.0.1 - - [01/Dec/2025:17:20:00 +0000] \"GET /users/\\x2242\\x22?a=1 HTTP/1.1\" \
             200 123 \"/users/{id}\" abc 1.234\n"
        );
    }

    #[test]
    fn json_lines_parse() {
        let mut b = Vec::new();
        let (_, iso) = stamps(0);
        json(&mut b, &line(), &iso, 5);
        let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
        assert_eq!(v["time"], "1970-01-01T00:00:00.005Z");
        assert_eq!(v["path"], "/users/\"42\"");
        assert_eq!(v["status"], 200);
        assert_eq!(v["duration_ms"], 1.234);
        assert_eq!(v["request_id"], "abc");
        assert_eq!(v["peer"], "127.0.0.1");
    }

    #[test]
    fn leap_years_and_month_ends() {
        let iso = |s| String::from_utf8(stamps(s).1.to_vec()).expect("ascii");
        assert_eq!(iso(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(iso(1_709_251_199), "2024-02-29T23:59:59");
        assert_eq!(iso(1_735_689_599), "2024-12-31T23:59:59");
    }
}
