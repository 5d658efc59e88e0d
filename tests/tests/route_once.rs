//! A request is routed once (issue 11, point 6): the runtime asks `Service::route` when the
//! head is parsed and hands what it returned to `Service::call`, even when the body
//! arrives in pieces and the head is parsed again. A counting service over real sockets,
//! on both backends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ember_runtime::{Method, Request, Response, RouteLimits, Service};
use ember_tests::{BACKENDS, Client, start};

/// `route` calls, process-wide (the one test below is the only user).
static ROUTED: AtomicUsize = AtomicUsize::new(0);

/// Routes to "the path's length", answers with what it was given.
#[derive(Clone, Copy)]
struct Counting;

impl Service for Counting {
    type Route = usize;

    fn route(&self, _: Method<'_>, path: &str) -> (usize, RouteLimits) {
        ROUTED.fetch_add(1, Ordering::SeqCst);
        (path.len(), RouteLimits::default())
    }

    async fn call<'a>(&'a self, route: usize, req: &'a Request<'a>) -> Response {
        Response::text(format!(
            "route={route} path={} body={}",
            req.path().len(),
            req.body().len()
        ))
    }
}

fn pause() {
    std::thread::sleep(Duration::from_millis(30));
}

#[test]
fn each_request_is_routed_once_even_when_its_body_arrives_in_pieces() {
    for b in BACKENDS {
        let server = start(Counting, b, 1);
        let before = ROUTED.load(Ordering::SeqCst);
        let mut c = Client::connect(server.local_addr());

        // Content-Length, the body in three writes.
        c.send(b"POST /abc HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n123");
        pause();
        c.send(b"456");
        pause();
        c.send(b"7890");
        let r = c.read_reply(false).expect("a reply");
        assert_eq!(r.text(), "route=4 path=4 body=10", "{b}");

        // Chunked, in pieces.
        c.send(b"POST /abcdef HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
        pause();
        c.send(b"lo\r\n");
        pause();
        c.send(b"6\r\n world\r\n0\r\n\r\n");
        let r = c.read_reply(false).expect("a reply");
        assert_eq!(r.text(), "route=7 path=7 body=11", "{b}");

        // Pipelined, the second body split.
        c.send(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\nPOST /yy HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
        pause();
        c.send(b"cd");
        let r = c.read_reply(false).expect("a reply");
        assert_eq!(r.text(), "route=2 path=2 body=0", "{b}");
        let r = c.read_reply(false).expect("a reply");
        assert_eq!(r.text(), "route=3 path=3 body=4", "{b}");

        assert_eq!(
            ROUTED.load(Ordering::SeqCst) - before,
            4,
            "{b}: four requests"
        );
        server.shutdown().expect("clean shutdown");
    }
}

/// The generated router's route keeps its parameters as offsets: a body that arrives in
/// pieces, large enough that the read buffer grows (and moves) meanwhile, still reaches the
/// handler with the right parameters.
#[test]
fn parameters_survive_the_buffer_moving_while_the_body_arrives() {
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        let body = vec![b'x'; 48 * 1024];
        c.send(
            format!(
                "PUT /things/bolt%20nut/parts/42 HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        for piece in body.chunks(8 * 1024) {
            pause();
            c.send(piece);
        }
        let r = c.read_reply(false).expect("a reply");
        assert_eq!(
            (r.status, r.text()),
            (200, "PUT bolt nut 42".to_owned()),
            "{b}"
        );
        server.shutdown().expect("clean shutdown");
    }
}
