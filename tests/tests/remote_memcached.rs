//! One bad entry never disables Memcached (issue 11, point 3): a key over memcached's 250
//! bytes (a long query string) is hashed to fit and cached like any other, and a value
//! over the server's item size is simply not stored; neither switches the cache off, so
//! normal requests right after still hit. Against the machine's Memcached, both backends.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ember_tests::{BACKENDS, Client, Reply, require_service, start};

fn get(addr: SocketAddr, path: &str) -> Reply {
    Client::connect(addr).get(path)
}

fn x_cache(r: &Reply) -> &str {
    r.header("x-cache").unwrap_or("-")
}

fn calls(addr: SocketAddr, tag: &str) -> u64 {
    get(addr, &format!("/c/count/{tag}"))
        .text()
        .parse()
        .expect("a count")
}

/// The server's `item_size_max` (`stats settings`).
fn item_size_max(addr: &str) -> usize {
    let mut s = TcpStream::connect(addr).expect("memcached");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    s.write_all(b"stats settings\r\n").expect("write");
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.ends_with("END\r\n") {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "memcached closed");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    text.lines()
        .find_map(|l| l.strip_prefix("STAT item_size_max "))
        .and_then(|v| v.trim().parse().ok())
        .expect("item_size_max")
}

/// Requests until one is a HIT (the write lands in the background, within a few ms):
/// its reply. Gives up well within the 1 s backoff a backend failure would cause.
fn hit(addr: SocketAddr, path: &str, what: &str) -> Reply {
    for _ in 0..20 {
        let r = get(addr, path);
        if x_cache(&r) == "HIT" {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what}: never a HIT from memcached");
}

#[test]
fn long_keys_and_oversized_values_never_disable_memcached() {
    let Some(mc) = require_service("Memcached", "MEMCACHED_ADDR", "127.0.0.1:11211") else {
        return;
    };
    let max = item_size_max(&mc);
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 2);
        let addr = server.local_addr();
        let run = format!("{}-{}-{}", b.as_str(), std::process::id(), max);

        // A 400-byte query string: cached under a hashed key.
        let long_tag = format!("{run}-long");
        let long = format!("/rm/mc/{long_tag}?q={}", "a".repeat(400));
        let first = get(addr, &long);
        assert_eq!((first.status, x_cache(&first)), (200, "MISS"), "{b}");
        let again = hit(addr, &long, &format!("{b} long key"));
        assert_eq!(again.body, first.body, "{b}: the stored answer");
        // Another long query differing only at its end is another entry.
        let other = format!("/rm/mc/{long_tag}?q={}b", "a".repeat(399));
        assert_eq!(x_cache(&get(addr, &other)), "MISS", "{b}: no collision");
        assert_eq!(calls(addr, &long_tag), 2, "{b}");

        // An answer over the item size: served, not stored, and not an outage.
        let big_tag = format!("{run}-big");
        let big = format!("/rm/mc-big/{big_tag}?kb={}", max / 1024 + 16);
        for _ in 0..3 {
            let r = get(addr, &big);
            assert_eq!(
                (r.status, x_cache(&r)),
                (200, "MISS"),
                "{b}: too large to keep"
            );
            assert!(r.body.len() > max, "{b}");
            // Until its (refused) write is done, the answer is shared with requests for
            // the same key; after, nothing is stored.
            std::thread::sleep(Duration::from_millis(300));
        }
        assert_eq!(calls(addr, &big_tag), 3, "{b}");

        // Right after: Memcached is still used, for short and long keys alike.
        let after_tag = format!("{run}-after");
        let after = format!("/rm/mc/{after_tag}");
        assert_eq!(x_cache(&get(addr, &after)), "MISS", "{b}");
        hit(addr, &after, &format!("{b} after the big value"));
        assert_eq!(
            calls(addr, &after_tag),
            1,
            "{b}: from memcached, not the handler"
        );
        let r = get(addr, &long);
        assert_eq!((x_cache(&r), &r.body), ("HIT", &first.body), "{b}");
    }
}
