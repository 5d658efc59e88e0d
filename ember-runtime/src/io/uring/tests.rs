//! The driver and the provided-buffer ring over a real io_uring and real sockets.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::op::{AcceptMulti, MultiOp, Op, SharedFd};
use super::{Driver, UringConn, run_reactor};
use crate::io::Transport;
use crate::io::pool::BufPool;

/// Runs `body` on a thread of its own with a fresh driver (`entries` submission slots,
/// provided buffers `bufs`) whose reactor runs in a current-thread runtime; fails if it
/// takes over 60 s (a livelock hangs that thread, not the test binary). Skips with a message
/// when the kernel refuses io_uring.
fn with_driver<F, Fut>(entries: u32, bufs: Option<(u16, u32)>, body: F)
where
    F: FnOnce(Rc<Driver>) -> Fut + std::marker::Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    with_driver_then(entries, bufs, body, |_| {});
}

/// [`with_driver`] on a ring set up with or without `DEFER_TASKRUN`.
fn with_setup<F, Fut>(defer: bool, body: F)
where
    F: FnOnce(Rc<Driver>) -> Fut + std::marker::Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    DEFER.with(|d| d.set(defer));
    with_driver_then(64, Some((16, 1024)), body, |_| {});
    DEFER.with(|d| d.set(true));
}

thread_local! {
    /// The set-up [`with_driver_then`] asks for (set by [`with_setup`] on the test's thread).
    static DEFER: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// [`with_driver`], then `after` on the same thread once the runtime (and every task) is
/// gone, as a worker ends.
fn with_driver_then<F, Fut>(
    entries: u32,
    bufs: Option<(u16, u32)>,
    body: F,
    after: impl FnOnce(Rc<Driver>) + std::marker::Send + 'static,
) where
    F: FnOnce(Rc<Driver>) -> Fut + std::marker::Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let defer = DEFER.with(|d| d.get());
    let thread = std::thread::spawn(move || {
        let driver = match Driver::new(entries, bufs, defer) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("skip: io_uring unavailable here ({e})");
                let _ = tx.send(());
                return;
            }
        };
        Driver::set_current(&driver);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_park(Driver::flush_current)
            .build()
            .expect("runtime");
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let reactor = tokio::task::spawn_local(run_reactor(driver.clone()));
            body(driver.clone()).await;
            reactor.abort();
        });
        drop(local);
        drop(rt);
        Driver::clear_current();
        after(driver);
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => thread.join().expect("test thread"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: report its panic.
            if let Err(p) = thread.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("the driver hung (livelock)"),
    }
}

/// A connected pair: the server side as a shared descriptor, the client as a std stream.
fn tcp_pair() -> (SharedFd, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    server.set_nonblocking(true).expect("nonblocking");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    (Rc::new(OwnedFd::from(server)), client)
}

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    Pin::new(fut).poll(&mut cx)
}

/// Gives the reactor time to submit and reap (a loaded machine gets a generous bound).
async fn settle(driver: &Driver, until: impl Fn(&Driver) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !until(driver) {
        assert!(Instant::now() < deadline, "the driver never settled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn a_full_submission_queue_is_drained_not_livelocked() {
    // Two submission entries (and eight completion entries) for hundreds of operations
    // queued without yielding: pushing must submit and reap inside its loop.
    with_driver(2, None, |d| async move {
        let nops: Vec<_> = (0..500).map(|_| Op::nop(&d)).collect();
        for op in nops {
            assert_eq!(op.await, 0);
        }
        let (fd, mut client) = tcp_pair();
        let sends: Vec<_> = (0..100u8)
            .map(|i| Op::send(&d, &fd, vec![i; 10], 0))
            .collect();
        for op in sends {
            let (res, buf) = op.await;
            assert_eq!(res.expect("send"), 10);
            assert_eq!(buf.len(), 10);
        }
        let mut got = vec![0u8; 1000];
        client.read_exact(&mut got).expect("all bytes arrive");
        let mut counts = [0usize; 100];
        for b in got {
            counts[usize::from(b)] += 1;
        }
        assert!(counts.iter().all(|&c| c == 10), "{counts:?}");
        assert_eq!(d.slot_counts(), (0, 0));
    });
}

#[test]
fn polling_a_finished_op_again_is_safe() {
    with_driver(8, None, |d| async move {
        let mut first = Op::nop(&d);
        settle(&d, |d| d.slot_counts().0 == 0).await;
        assert_eq!(poll_once(&mut first), Poll::Ready(0));
        assert!(futures_core::FusedFuture::is_terminated(&first));
        // The freed slot is reused by a new operation; the finished one must not see or
        // steal its result.
        let second = Op::nop(&d);
        assert_eq!(poll_once(&mut first), Poll::Pending);
        settle(&d, |d| d.slot_counts().0 == 0).await;
        assert_eq!(poll_once(&mut first), Poll::Pending);
        assert_eq!(second.await, 0);
        drop(first);
        assert_eq!(d.slot_counts(), (0, 0));
    });
}

#[test]
fn dropping_a_pending_recv_parks_its_buffer_until_the_completion() {
    with_driver(8, None, |d| async move {
        let (fd, mut client) = tcp_pair();
        let mut op = Op::recv(&d, &fd, Vec::with_capacity(4096));
        assert!(poll_once(&mut op).is_pending());
        // Let the kernel take the receive, then give up on it.
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(op);
        // The buffer now belongs to the slot, not freed: the kernel may still write it.
        assert_eq!(d.slot_counts(), (1, 1), "the receive was not parked");
        // Race the cancellation with data: whichever wins, the completion releases the slot.
        client.write_all(b"late bytes").expect("write");
        settle(&d, |d| d.slot_counts() == (0, 0)).await;
        // The connection still works for a new receive (the cancelled one may have taken
        // the late bytes, so only later ones are checked).
        client.write_all(b"fresh").expect("write");
        let mut seen = Vec::new();
        while !seen.ends_with(b"fresh") {
            let (res, buf) = Op::recv(&d, &fd, Vec::with_capacity(64)).await;
            assert!(res.expect("recv") > 0);
            seen.extend_from_slice(&buf);
        }
    });
}

#[test]
fn an_abandoned_accept_closes_the_descriptors_nobody_took() {
    with_driver(8, None, |d| async move {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let lfd: SharedFd = Rc::new(OwnedFd::from(listener));
        let mut accept = MultiOp::<AcceptMulti>::accept(&d, &lfd);
        assert!(poll_once(&mut Box::pin(accept.next())).is_pending());
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Two connections arrive and are accepted by the kernel, queued in the slot...
        let mut queued: Vec<TcpStream> = (0..2)
            .map(|_| TcpStream::connect(addr).expect("connect"))
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // ...and nobody takes them: the driver must close both.
        drop(accept);
        drop(lfd);
        for (i, c) in queued.iter_mut().enumerate() {
            c.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut b = [0u8; 1];
            match c.read(&mut b) {
                Ok(0) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                other => panic!("connection {i} was left open: {other:?}"),
            }
        }
        settle(&d, |d| d.slot_counts() == (0, 0)).await;
    });
}

/// A served connection over the ring, and its peer.
fn uring_conn(d: &Rc<Driver>) -> (UringConn, TcpStream) {
    let (fd, client) = tcp_pair();
    let fd = Rc::try_unwrap(fd).expect("sole owner");
    (UringConn::new(fd, d.clone()), client)
}

#[test]
fn a_dry_buffer_ring_falls_back_to_single_shot_without_losing_bytes() {
    // Four 64-byte provided buffers. Connection A receives 4 KiB while it is not reading:
    // its queued completions hold every buffer. Connection B's receive then finds the ring
    // dry (ENOBUFS) and must still get its bytes, and A must get all of its own.
    with_driver(8, Some((4, 64)), |d| async move {
        assert!(d.has_buf_ring());
        let pool = BufPool::default();
        let (mut a, mut client_a) = uring_conn(&d);
        let (mut b, mut client_b) = uring_conn(&d);
        for (conn, client) in [(&mut a, &mut client_a), (&mut b, &mut client_b)] {
            let mut buf = Vec::new();
            client.write_all(b"hello").expect("write");
            assert_eq!(conn.read(&mut buf, &pool).await.expect("read"), 5);
            assert_eq!(buf, b"hello");
        }
        let sent: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
        client_a.write_all(&sent).expect("write");
        tokio::time::sleep(Duration::from_millis(100)).await;
        client_b.write_all(b"for b").expect("write");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut got_b = Vec::new();
        while got_b.len() < 5 {
            let n = tokio::time::timeout(Duration::from_secs(5), b.read(&mut got_b, &pool))
                .await
                .expect("B starved while A held every buffer")
                .expect("read");
            assert!(n > 0, "early end of stream");
        }
        assert_eq!(got_b, b"for b");
        assert!(
            b.dry_fallbacks >= 1,
            "the ring never ran dry, so the fallback was not exercised"
        );
        let mut got_a = Vec::new();
        while got_a.len() < sent.len() {
            let n = a.read(&mut got_a, &pool).await.expect("read");
            assert!(n > 0, "early end of stream after {} bytes", got_a.len());
        }
        assert!(got_a == sent, "bytes lost or reordered");
        // The ring recovers: later reads are multishot again and still exact.
        for (conn, client) in [(&mut a, &mut client_a), (&mut b, &mut client_b)] {
            let mut buf = Vec::new();
            client.write_all(b"after").expect("write");
            while buf.len() < 5 {
                conn.read(&mut buf, &pool).await.expect("read");
            }
            assert_eq!(buf, b"after");
        }
        drop((a, b));
        settle(&d, |d| d.slot_counts() == (0, 0)).await;
    });
}

#[test]
fn without_a_buffer_ring_reads_are_single_shot() {
    with_driver(8, None, |d| async move {
        assert!(!d.has_buf_ring());
        let (mut conn, mut client) = uring_conn(&d);
        assert!(conn.single);
        let pool = BufPool::default();
        let mut buf = Vec::new();
        let sent = vec![b'z'; 10_000];
        client.write_all(&sent).expect("write");
        while buf.len() < sent.len() {
            assert!(conn.read(&mut buf, &pool).await.expect("read") > 0);
        }
        assert_eq!(buf, sent);
        let mut out = b"reply".to_vec();
        conn.write_all(&mut out).await.expect("write");
        assert!(out.is_empty());
        let mut got = [0u8; 5];
        client.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"reply");
        drop(client);
        buf.clear();
        assert_eq!(conn.read(&mut buf, &pool).await.expect("eof"), 0);
    });
}

#[test]
fn shutdown_with_operations_in_flight_waits_for_every_completion() {
    let body = |d: Rc<Driver>| async move {
        let (a, _ca) = tcp_pair();
        let (b, _cb) = tcp_pair();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let lfd: SharedFd = Rc::new(OwnedFd::from(listener));
        // Operations that would wait forever: receives with no data, an accept with no
        // client, a multishot receive; one dropped now (an orphan), the others still owned.
        let mut pending_recv = Op::recv(&d, &a, Vec::with_capacity(1024));
        let dropped_recv = Op::recv(&d, &b, Vec::with_capacity(1024));
        let mut accept = MultiOp::<AcceptMulti>::accept(&d, &lfd);
        let mut multi = MultiOp::<super::op::RecvMulti>::recv(&d, &b);
        assert!(poll_once(&mut pending_recv).is_pending());
        assert!(poll_once(&mut Box::pin(accept.next())).is_pending());
        assert!(poll_once(&mut Box::pin(multi.next())).is_pending());
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(dropped_recv);
        assert_eq!(d.slot_counts(), (4, 1));
        // A worker's tasks are dropped with its runtime, before `shutdown`: so are these.
        drop((pending_recv, accept, multi));
        assert_eq!(d.slot_counts(), (4, 4));
        // Keep the peers open until the driver has shut down.
        std::mem::forget((_ca, _cb));
    };
    with_driver_then(8, Some((4, 64)), body, |d| {
        let started = Instant::now();
        let left = d.shutdown();
        assert_eq!(left, 0, "operations left in the kernel");
        assert_eq!(d.slot_counts(), (0, 0));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    });
}

#[test]
fn an_unusable_buffer_ring_setting_means_single_shot_receives() {
    // Not a power of two: no provided-buffer ring, and connections still read.
    with_driver(8, Some((3, 64)), |d| async move {
        assert!(!d.has_buf_ring());
        let (mut conn, mut client) = uring_conn(&d);
        assert!(conn.single);
        client.write_all(b"still served").expect("write");
        let pool = BufPool::default();
        let mut buf = Vec::new();
        while buf.len() < 12 {
            assert!(conn.read(&mut buf, &pool).await.expect("read") > 0);
        }
        assert_eq!(buf, b"still served");
    });
}

#[test]
fn provided_buffers_are_recycled_across_many_reads() {
    // Two 16-byte buffers carry 64 KiB: every buffer goes back to the ring after its bytes
    // are copied out, or the transfer would stall.
    with_driver(8, Some((2, 16)), |d| async move {
        let (mut conn, mut client) = uring_conn(&d);
        assert!(!conn.single);
        let sent: Vec<u8> = (0..65_536u32).map(|i| (i % 253) as u8).collect();
        let writer = {
            let sent = sent.clone();
            std::thread::spawn(move || client.write_all(&sent).map(|()| client))
        };
        let pool = BufPool::default();
        let mut got = Vec::new();
        while got.len() < sent.len() {
            let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut got, &pool))
                .await
                .expect("the transfer stalled")
                .expect("read");
            assert!(n > 0, "early end of stream");
        }
        assert!(got == sent, "bytes lost or reordered");
        drop(writer.join().expect("writer").expect("write"));
    });
}

/// Races `conn.watch` against a 1 ms timer (dropping it over and over, as the connection
/// loop does between chunks of a streamed body) until the peer closes; returns every byte.
async fn watch_until_closed(conn: &mut UringConn, pool: &BufPool) -> Vec<u8> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the close was never seen");
        tokio::select! {
            r = conn.watch(&mut got, pool) => {
                if r.expect("watch") == 0 {
                    return got;
                }
            }
            () = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
    }
}

#[test]
fn a_raced_watch_loses_no_bytes_and_sees_the_close() {
    // Multishot receives, single-shot ones (the readiness poll), and a dry buffer ring
    // (a multishot watch that falls back to the poll).
    for (bufs, dry) in [
        (Some((64, 256)), false),
        (None, false),
        (Some((4, 64)), true),
    ] {
        with_driver(8, bufs, move |d| async move {
            let pool = BufPool::default();
            let (mut hog, mut hog_client) = uring_conn(&d);
            if dry {
                // Connection `hog` takes every provided buffer and keeps them.
                let mut buf = Vec::new();
                hog_client.write_all(b"x").expect("write");
                hog.read(&mut buf, &pool).await.expect("read");
                hog_client.write_all(&[b'h'; 4096]).expect("write");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let (mut conn, mut client) = uring_conn(&d);
            let sent: Vec<u8> = (0..20_000u32).map(|i| (i * 13 % 251) as u8).collect();
            let writer = {
                let sent = sent.clone();
                std::thread::spawn(move || {
                    for piece in sent.chunks(997) {
                        client.write_all(piece).expect("write");
                        std::thread::sleep(Duration::from_millis(2));
                    }
                })
            };
            let got = watch_until_closed(&mut conn, &pool).await;
            writer.join().expect("writer");
            assert!(got == sent, "bytes lost or reordered ({bufs:?}, dry {dry})");
            assert_eq!(conn.single, bufs.is_none());
            if dry {
                assert!(conn.dry_fallbacks > 0, "the ring never ran dry");
            }
            drop((conn, hog, hog_client));
            settle(&d, |d| d.slot_counts() == (0, 0)).await;
        });
    }
}

#[test]
fn both_ring_setups_carry_bytes_both_ways() {
    for defer in [true, false] {
        with_setup(defer, move |d| async move {
            if defer {
                // Linux 6.1+ takes DEFER_TASKRUN; this test's kernels all do.
                assert!(d.deferred(), "DEFER_TASKRUN was asked for and is available");
            } else {
                assert!(!d.deferred());
            }
            let (mut conn, mut client) = uring_conn(&d);
            let pool = BufPool::default();
            for round in 0..50u8 {
                client.write_all(&[round; 300]).expect("client write");
                let mut got = Vec::new();
                while got.len() < 300 {
                    let n = conn.read(&mut got, &pool).await.expect("read");
                    assert!(n > 0, "no end of stream yet");
                }
                assert!(got.iter().all(|&b| b == round));
                let mut answer = vec![round; 2000];
                conn.write_all(&mut answer).await.expect("write");
                let mut back = [0u8; 2000];
                client.read_exact(&mut back).expect("client read");
                assert!(back.iter().all(|&b| b == round));
            }
        });
    }
}
