//! Helpers for tests that need real services (feature `test-util`, and this crate's own
//! tests). Not for production code.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of a test's own on 127.0.0.1 (no persistence), stopped by PID when
/// dropped. The shared Redis other tests use is never touched.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts `redis-server` on `port` and waits (up to 5 s) until it accepts connections;
    /// `None` if it is not installed or does not come up.
    pub fn start(port: u16) -> Option<RedisServer> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = RedisServer { child, port };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Starts one on a free port (see [`RedisServer::start`]).
    pub fn start_on_free_port() -> Option<RedisServer> {
        let port = free_port()?;
        RedisServer::start(port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL, `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it now (SIGKILL, by PID) and reaps it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a missing service (Redis, Memcached, PostgreSQL, a tool the test runs) fails
/// the test instead of skipping it: `EMBER_REQUIRE_SERVICES` or `CI` set to anything but
/// empty, `0` or `false` (any case). The one place this is decided; see
/// [`require_or_skip`].
pub fn services_required() -> bool {
    services_required_by(
        std::env::var("EMBER_REQUIRE_SERVICES").ok().as_deref(),
        std::env::var("CI").ok().as_deref(),
    )
}

/// [`services_required`] for given values of `EMBER_REQUIRE_SERVICES` and `CI`.
fn services_required_by(require: Option<&str>, ci: Option<&str>) -> bool {
    fn truthy(v: Option<&str>) -> bool {
        v.map(str::trim)
            .is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
    }
    truthy(require) || truthy(ci)
}

/// Called when `what` (a service or tool a test needs) is unavailable because of `why`:
/// panics when [`services_required`] says so, else prints a `skipping:` line to stderr.
/// Returns `false`, so a test can `if !available { return require_or_skip(..) }` or use it
/// in a `let … else`.
///
/// # Panics
///
/// Under CI (or `EMBER_REQUIRE_SERVICES=1`), always: the service is required there.
pub fn require_or_skip(what: &str, why: &str) -> bool {
    if services_required() {
        panic!("{what} is required (CI or EMBER_REQUIRE_SERVICES is set) but unavailable: {why}");
    }
    eprintln!("skipping: {what} is unavailable ({why}); set it up to run this test");
    false
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Option<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .ok()
}

/// A "black hole" on `addr` (e.g. `127.0.0.1:0`): a listener that accepts every connection
/// and holds it open without ever answering, as a hung store does. Returns the bound
/// address; the listener lives as long as the test process.
pub fn black_hole(addr: &str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::services_required_by;

    #[test]
    fn ci_and_require_services_parse_the_same_way() {
        for (value, required) in [
            (None, false),
            (Some(""), false),
            (Some("  "), false),
            (Some("0"), false),
            (Some("false"), false),
            (Some("FALSE"), false),
            (Some("False"), false),
            (Some("true"), true),
            (Some("1"), true),
            (Some("yes"), true),
            (Some("github-actions"), true),
            (Some("TRUE"), true),
        ] {
            assert_eq!(
                services_required_by(value, None),
                required,
                "EMBER_REQUIRE_SERVICES={value:?}"
            );
            assert_eq!(services_required_by(None, value), required, "CI={value:?}");
        }
        // Either one is enough.
        assert!(services_required_by(Some("1"), Some("false")));
        assert!(services_required_by(Some("0"), Some("true")));
        assert!(!services_required_by(Some("0"), Some("0")));
    }
}
