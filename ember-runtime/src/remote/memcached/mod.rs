//! A Memcached connection per worker, driven on the worker's tokio runtime: requests are
//! pipelined on one socket and answered in order. The protocol itself is in [`codec`].
//!
//! The driver task connects at once and again after any failure (with a growing pause);
//! while it is disconnected every request fails immediately, so callers fall back to their
//! handler instead of waiting.

pub(crate) mod codec;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, oneshot};

pub(crate) use codec::Reply;

/// What the driver and the callers share (all on one worker thread).
#[derive(Debug, Default)]
struct Shared {
    connected: Cell<bool>,
    /// A connection attempt has ended (made or failed): until then, not being connected
    /// is not a failure.
    tried: Cell<bool>,
    closed: Cell<bool>,
    /// Encoded requests not yet written.
    out: RefCell<Vec<u8>>,
    /// One sender per written or queued request, in order.
    pending: RefCell<VecDeque<oneshot::Sender<Reply>>>,
    wake: Notify,
}

/// A worker's connection to one Memcached server.
#[derive(Debug)]
pub(crate) struct Client {
    shared: Rc<Shared>,
}

impl Client {
    /// Starts the driver for `addr` on the current worker (needs a `LocalSet`).
    pub(crate) fn start(addr: String, connect_timeout: Duration) -> Client {
        let shared = Rc::new(Shared::default());
        let s = shared.clone();
        tokio::task::spawn_local(drive(s, addr, connect_timeout));
        Client { shared }
    }

    /// Whether requests can be sent now.
    pub(crate) fn is_connected(&self) -> bool {
        self.shared.connected.get()
    }

    /// Whether the first connection attempt is still under way.
    pub(crate) fn is_connecting(&self) -> bool {
        !self.shared.tried.get()
    }

    /// Sends one request (encoded by `encode`) and waits for its reply.
    pub(crate) async fn call(
        &self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), codec::EncodeError>,
    ) -> Result<Reply, CallError> {
        if !self.shared.connected.get() {
            return Err(CallError::NotConnected);
        }
        let rx = {
            let mut out = self.shared.out.borrow_mut();
            encode(&mut out).map_err(|_| CallError::BadKey)?;
            let (tx, rx) = oneshot::channel();
            self.shared.pending.borrow_mut().push_back(tx);
            rx
        };
        self.shared.wake.notify_one();
        rx.await.map_err(|_| CallError::Lost)
    }
}

/// Why a call got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallError {
    /// The connection is down (the driver is reconnecting): nothing was sent.
    NotConnected,
    /// The key cannot be sent (empty, or too long): nothing was sent. Not an outage.
    BadKey,
    /// The connection failed before the reply came.
    Lost,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CallError::NotConnected => "not connected",
            CallError::BadKey => "key cannot be sent",
            CallError::Lost => "connection lost",
        })
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shared.closed.set(true);
        self.shared.wake.notify_one();
    }
}

async fn drive(shared: Rc<Shared>, addr: String, connect_timeout: Duration) {
    let mut pause = Duration::from_millis(50);
    while !shared.closed.get() {
        let stream =
            tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(&addr)).await;
        shared.tried.set(true);
        match stream {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                pause = Duration::from_millis(50);
                shared.connected.set(true);
                let why = run(&shared, s).await;
                shared.connected.set(false);
                fail_pending(&shared);
                if shared.closed.get() {
                    return;
                }
                // Requests that fail meanwhile are warned about by the registry (rate-limited).
                tracing::debug!("memcached {addr}: connection lost ({why}); reconnecting");
            }
            Ok(Err(e)) => tracing::debug!("memcached {addr}: {e}"),
            Err(_) => tracing::debug!("memcached {addr}: connect timed out"),
        }
        // Wait before the next attempt, unless the client is dropped meanwhile.
        let _ = tokio::time::timeout(pause, async {
            while !shared.closed.get() {
                shared.wake.notified().await;
            }
        })
        .await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// Fails every request still waiting (its caller falls back to the handler).
fn fail_pending(shared: &Shared) {
    shared.out.borrow_mut().clear();
    shared.pending.borrow_mut().clear();
}

/// Serves one connection until it fails or the client is closed.
async fn run(shared: &Shared, mut stream: tokio::net::TcpStream) -> String {
    let (mut rd, mut wr) = stream.split();
    let writer = async {
        let mut buf = Vec::new();
        loop {
            if shared.closed.get() {
                return "closed".to_owned();
            }
            std::mem::swap(&mut buf, &mut *shared.out.borrow_mut());
            if buf.is_empty() {
                shared.wake.notified().await;
                continue;
            }
            if let Err(e) = wr.write_all(&buf).await {
                return e.to_string();
            }
            buf.clear();
        }
    };
    let reader = async {
        let mut buf = Vec::with_capacity(16 * 1024);
        loop {
            match rd.read_buf(&mut buf).await {
                Ok(0) => return "closed by the server".to_owned(),
                Ok(_) => {}
                Err(e) => return e.to_string(),
            }
            let mut at = 0;
            while let Some((reply, used)) = codec::decode(&buf[at..]) {
                at += used;
                let Some(tx) = shared.pending.borrow_mut().pop_front() else {
                    return "a reply nobody asked for".to_owned();
                };
                if let Reply::Error(e) = &reply
                    && !e.starts_with("CLIENT_ERROR")
                    && !e.starts_with("SERVER_ERROR")
                {
                    let _ = tx.send(reply.clone());
                    return format!("protocol error: {e}");
                }
                // The caller may have timed out and gone: the reply is then dropped.
                let _ = tx.send(reply);
            }
            buf.drain(..at);
        }
    };
    tokio::select! {
        why = writer => why,
        why = reader => why,
    }
}
