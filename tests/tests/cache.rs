//! Response caches over real sockets, on both backends, with two workers (so single-flight
//! and shared entries are checked across threads). Each test uses its own tags, so the
//! process-wide caches never mix tests.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ember_runtime::Backend;
use ember_tests::{BACKENDS, Client, Reply, concurrent_gets, require_service, start};

fn each_backend(f: impl Fn(Backend, SocketAddr, &str)) {
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 2);
        f(b, server.local_addr(), b.as_str());
    }
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    Client::connect(addr).get(path)
}

fn get_with(addr: SocketAddr, path: &str, headers: &str) -> Reply {
    let mut c = Client::connect(addr);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n").as_bytes());
    c.read_reply(false).expect("a response")
}

fn calls(addr: SocketAddr, tag: &str) -> u64 {
    get(addr, &format!("/c/count/{tag}"))
        .text()
        .parse()
        .expect("a count")
}

fn x_cache(r: &Reply) -> &str {
    r.header("x-cache").unwrap_or("-")
}

#[test]
fn hit_miss_expiry_and_head_from_the_get_entry() {
    each_backend(|b, addr, tag| {
        let tag = format!("hme-{tag}");
        let path = format!("/c/hot/{tag}");
        let first = get(addr, &path);
        assert_eq!((first.status, x_cache(&first)), (200, "MISS"), "{b}");
        let second = get(addr, &path);
        assert_eq!(x_cache(&second), "HIT", "{b}");
        assert_eq!(second.body, first.body, "{b}: the hit is the stored body");
        assert_eq!(
            second.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(calls(addr, &tag), 1, "{b}");

        let mut c = Client::connect(addr);
        c.send(format!("HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let head = c.read_reply(true).expect("a response");
        assert_eq!(
            x_cache(&head),
            "HIT",
            "{b}: HEAD is served from the GET entry"
        );
        assert_eq!(
            head.header("content-length"),
            Some(first.body.len().to_string().as_str())
        );
        // The HEAD answer had no body: the next response on the connection parses cleanly.
        assert_eq!(x_cache(&c.get(&path)), "HIT");
        assert_eq!(calls(addr, &tag), 1, "{b}");

        std::thread::sleep(Duration::from_millis(1100));
        let third = get(addr, &path);
        assert_eq!(x_cache(&third), "MISS", "{b}: expired after the 1 s TTL");
        assert!(third.text().contains("n=2"), "{b}: {}", third.text());
        assert_eq!(calls(addr, &tag), 2, "{b}");
    });
}

#[test]
fn single_flight_200_concurrent_misses_run_the_handler_once_across_workers() {
    each_backend(|b, addr, tag| {
        let tag = format!("sf-{tag}");
        let replies = concurrent_gets(addr, &format!("/c/hot/{tag}?ms=300"), 200);
        assert_eq!(replies.len(), 200);
        let body = &replies[0].body;
        for r in &replies {
            assert_eq!(r.status, 200, "{b}");
            assert_eq!(&r.body, body, "{b}: every request gets the leader's body");
        }
        assert_eq!(calls(addr, &tag), 1, "{b}: the handler ran exactly once");
        let misses = replies.iter().filter(|r| x_cache(r) == "MISS").count();
        assert_eq!(misses, 1, "{b}: one leader, 199 served from its flight");
    });
}

#[test]
fn stale_while_revalidate_serves_stale_and_refreshes_once() {
    each_backend(|b, addr, tag| {
        let tag = format!("swr-{tag}");
        let path = format!("/c/swr/{tag}?ms=100");
        assert_eq!(x_cache(&get(addr, &path)), "MISS");
        std::thread::sleep(Duration::from_millis(400)); // past the 300 ms TTL
        let t = Instant::now();
        let stale: Vec<Reply> = (0..5).map(|_| get(addr, &path)).collect();
        assert!(
            t.elapsed() < Duration::from_millis(300),
            "{b}: stale answers do not wait for the 100 ms handler"
        );
        for r in &stale {
            assert!(r.text().contains("n=1"), "{b}: {}", r.text());
        }
        assert_eq!(x_cache(&stale[0]), "STALE", "{b}");
        // The refresh lands when its handler has counted its call; the entry is then fresh
        // for the 300 ms TTL (waiting a fixed time instead could outlast it on a loaded
        // machine).
        let deadline = Instant::now() + Duration::from_secs(3);
        while calls(addr, &tag) < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(20)); // the store follows the count
        let fresh = get(addr, &path);
        assert_eq!(x_cache(&fresh), "HIT", "{b}");
        assert!(fresh.text().contains("n=2"), "{b}: {}", fresh.text());
        assert_eq!(calls(addr, &tag), 2, "{b}: one background refresh");
    });
}

#[test]
fn purge_by_key_and_by_prefix() {
    each_backend(|b, addr, tag| {
        let tag = format!("purge-{tag}");
        let p1 = format!("/c/hot/{tag}?page=1");
        let p2 = format!("/c/hot/{tag}?page=2");
        get(addr, &p1);
        get(addr, &p2);
        assert_eq!(x_cache(&get(addr, &p1)), "HIT");
        let mut c = Client::connect(addr);
        c.send(
            format!("POST /c/purge/hot?key=GET+/c/hot/{tag}?page=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(
            c.read_reply(false).expect("reply").text(),
            "purged 1",
            "{b}"
        );
        assert_eq!(x_cache(&get(addr, &p1)), "MISS", "{b}: purged by key");
        assert_eq!(x_cache(&get(addr, &p2)), "HIT", "{b}: the other page stays");
        c.send(
            format!("POST /c/purge/hot?prefix=GET+/c/hot/{tag} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(
            c.read_reply(false).expect("reply").text(),
            "purged 2",
            "{b}"
        );
        assert_eq!(x_cache(&get(addr, &p1)), "MISS", "{b}");
        assert_eq!(x_cache(&get(addr, &p2)), "MISS", "{b}: purged by prefix");
    });
}

#[test]
fn keys_are_isolated_by_vary_query_rules_and_credentials() {
    each_backend(|b, addr, tag| {
        let tag = format!("vary-{tag}");
        let path = format!("/c/varied/{tag}?page=1&junk=1");
        let fr = get_with(addr, &path, "Accept-Language: fr\r\n");
        let en = get_with(addr, &path, "Accept-Language: en\r\n");
        assert_eq!((x_cache(&fr), x_cache(&en)), ("MISS", "MISS"), "{b}");
        assert!(fr.text().contains("lang=fr") && en.text().contains("lang=en"));
        // Parameters outside the allow-list do not split the cache.
        let fr2 = get_with(
            addr,
            &format!("/c/varied/{tag}?junk=2&page=1"),
            "Accept-Language: fr\r\n",
        );
        assert_eq!(
            (x_cache(&fr2), fr2.body.clone()),
            ("HIT", fr.body.clone()),
            "{b}"
        );
        let other_page = get_with(
            addr,
            &format!("/c/varied/{tag}?page=2"),
            "Accept-Language: fr\r\n",
        );
        assert_eq!(x_cache(&other_page), "MISS", "{b}");
        // The key varies on Authorization: one entry per credential.
        let alice = get_with(addr, &path, "Authorization: Bearer alice\r\n");
        let bob = get_with(addr, &path, "Authorization: Bearer bob\r\n");
        let alice2 = get_with(addr, &path, "Authorization: Bearer alice\r\n");
        assert_eq!(
            (x_cache(&alice), x_cache(&bob), x_cache(&alice2)),
            ("MISS", "MISS", "HIT"),
            "{b}"
        );
        assert_ne!(alice.body, bob.body);
        assert_eq!(alice.body, alice2.body);
        assert_eq!(calls(addr, &tag), 5, "{b}");

        // `hot` does not vary on credentials: such requests bypass it.
        let hot = format!("/c/hot/{tag}");
        for h in ["Authorization: Bearer alice\r\n", "Cookie: session=1\r\n"] {
            let a = get_with(addr, &hot, h);
            let a2 = get_with(addr, &hot, h);
            assert_eq!(
                (x_cache(&a), x_cache(&a2)),
                ("BYPASS", "BYPASS"),
                "{b}: {h}"
            );
        }
        assert_eq!(x_cache(&get(addr, &hot)), "MISS", "{b}: nothing was stored");
        assert_eq!(calls(addr, &tag), 10, "{b}");
    });
}

#[test]
fn cached_statuses_no_store_and_header_name() {
    each_backend(|b, addr, tag| {
        let tag = format!("st-{tag}");
        let nf = format!("/c/status/{tag}/404");
        let r = get(addr, &nf);
        assert_eq!(
            (r.status, r.header("x-ember-cache")),
            (404, Some("MISS")),
            "{b}"
        );
        assert_eq!(r.header("x-cache"), None);
        let r = get(addr, &nf);
        assert_eq!(
            (r.status, r.header("x-ember-cache")),
            (404, Some("HIT")),
            "{b}: 404 is listed"
        );
        // `hot` caches 200 only.
        let hot404 = format!("/c/hot-status/{tag}/404");
        get(addr, &hot404);
        assert_eq!(x_cache(&get(addr, &hot404)), "MISS", "{b}");
        // Cache-Control: no-store from the handler.
        let ns = format!("/c/nostore/{tag}");
        get(addr, &ns);
        let r = get(addr, &ns);
        assert_eq!(
            (x_cache(&r), r.header("cache-control")),
            ("MISS", Some("no-store")),
            "{b}"
        );
        assert_eq!(calls(addr, &tag), 5, "{b}");
    });
}

#[test]
fn a_panicking_leader_wakes_its_waiters_with_a_5xx() {
    each_backend(|b, addr, tag| {
        let tag = format!("panic-{tag}");
        let t = Instant::now();
        let replies = concurrent_gets(addr, &format!("/c/panic/{tag}?ms=200"), 20);
        for r in &replies {
            assert_eq!(r.status, 500, "{b}");
        }
        assert!(t.elapsed() < Duration::from_secs(3), "{b}: nobody hangs");
        assert_eq!(
            calls(addr, &tag),
            1,
            "{b}: the waiters did not run it again"
        );
        // Nothing was cached: the next request runs the handler again.
        assert_eq!(get(addr, &format!("/c/panic/{tag}")).status, 500);
        assert_eq!(calls(addr, &tag), 2, "{b}");
    });
}

#[test]
fn static_cache_group_cache_and_opt_out() {
    each_backend(|b, addr, tag| {
        let tag = format!("grp-{tag}");
        let s = format!("/c/static/{tag}");
        get(addr, &s);
        assert_eq!(x_cache(&get(addr, &s)), "HIT", "{b}");
        let g = format!("/c/group/{tag}");
        get(addr, &g);
        assert_eq!(x_cache(&get(addr, &g)), "HIT", "{b}: the group's cache");
        let live = format!("/c/group/{tag}/live");
        let r = get(addr, &live);
        assert_eq!(r.header("x-cache"), None, "{b}: `cache: off` opts out");
        get(addr, &live);
        assert_eq!(calls(addr, &tag), 4, "{b}");
    });
}

#[test]
fn typed_data_in_a_cache() {
    each_backend(|b, addr, tag| {
        let key = format!("data-{tag}");
        let mut c = Client::connect(addr);
        assert_eq!(c.get(&format!("/c/data/hot/{key}")).status, 404, "{b}");
        c.send(
            format!("PUT /c/data/hot/{key}?values=1,2,3 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(c.read_reply(false).expect("reply").status, 204);
        let r = c.get(&format!("/c/data/hot/{key}"));
        assert_eq!(
            (r.status, r.text()),
            (200, r#"{"values":[1,2,3]}"#.to_owned()),
            "{b}"
        );
    });
}

/// Hit, miss, expiry, SWR, purge and cross-worker single-flight against a remote backend.
fn remote_suite(kind: &str) {
    each_backend(|b, addr, tag| {
        // Unique per run: the backend outlives the test process.
        let run = format!(
            "{kind}-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let path = format!("/c/{kind}/{run}");
        let first = get(addr, &path);
        assert_eq!(x_cache(&first), "MISS", "{b}");
        std::thread::sleep(Duration::from_millis(50)); // the write lands in the background
        let second = get(addr, &path);
        assert_eq!(
            (x_cache(&second), &second.body),
            ("HIT", &first.body),
            "{b}"
        );
        assert_eq!(calls(addr, &run), 1, "{b}");

        // Single-flight on a remote cache, across both workers.
        let sf = format!("{run}-sf");
        let replies = concurrent_gets(addr, &format!("/c/{kind}/{sf}?ms=300"), 100);
        assert!(
            replies
                .iter()
                .all(|r| r.status == 200 && r.body == replies[0].body),
            "{b}"
        );
        assert_eq!(calls(addr, &sf), 1, "{b}");

        // Purge by key.
        let mut c = Client::connect(addr);
        c.send(
            format!("POST /c/purge/{kind}?key=GET+{path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(
            c.read_reply(false).expect("reply").text(),
            "purged 1",
            "{b}"
        );
        assert_eq!(x_cache(&get(addr, &path)), "MISS", "{b}");
        assert_eq!(calls(addr, &run), 2, "{b}");

        // Typed data.
        c.send(
            format!("PUT /c/data/{kind}/{run}-d?values=7 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(c.read_reply(false).expect("reply").status, 204, "{b}");
        assert_eq!(
            c.get(&format!("/c/data/{kind}/{run}-d")).text(),
            r#"{"values":[7]}"#
        );

        if kind == "redis" {
            // Purge by prefix.
            c.send(
                format!("POST /c/purge/redis?prefix=GET+/c/redis/{run} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
                    .as_bytes(),
            );
            let purged = c.read_reply(false).expect("reply").text();
            assert!(purged.starts_with("purged "), "{b}: {purged}");
            assert_ne!(purged, "purged 0", "{b}");
            // Stale-while-revalidate (ttl 1 s, window 5 s).
            get(addr, &path);
            std::thread::sleep(Duration::from_millis(1200));
            let stale = get(addr, &path);
            assert_eq!(x_cache(&stale), "STALE", "{b}");
            std::thread::sleep(Duration::from_millis(200));
            let fresh = get(addr, &path);
            assert_eq!(x_cache(&fresh), "HIT", "{b}");
            assert_ne!(fresh.body, stale.body, "{b}: refreshed in the background");
        } else {
            std::thread::sleep(Duration::from_millis(2100)); // memcached TTLs are whole seconds
            assert_eq!(x_cache(&get(addr, &path)), "MISS", "{b}: expired");
        }
    });
}

#[test]
fn redis_cache_hit_miss_single_flight_swr_and_purge() {
    if require_service("Redis", "REDIS_URL", "redis://127.0.0.1:6379").is_none() {
        return;
    }
    remote_suite("redis");
}

#[test]
fn memcached_cache_hit_miss_single_flight_and_purge() {
    if require_service("Memcached", "MEMCACHED_ADDR", "127.0.0.1:11211").is_none() {
        return;
    }
    remote_suite("memcached");
}
