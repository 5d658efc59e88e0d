//! The tokio (epoll) backend: the shared connection loop over `tokio::net` sockets.

use std::io;
use std::rc::Rc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tokio::net::{TcpListener, TcpStream};

use super::pool::BufPool;
use super::{Transport, WorkerState, conn};
use crate::config::Limits;
use crate::service::Service;

/// The least free space offered to a read while a response streams.
const WATCH_CHUNK: usize = 1024;

impl Transport for TcpStream {
    fn socket_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(std::os::fd::AsRawFd::as_raw_fd(self))
    }

    async fn read(&mut self, buf: &mut Vec<u8>, pool: &BufPool) -> io::Result<usize> {
        if buf.capacity() != 0 {
            return self.read_buf(buf).await;
        }
        // Idle: wait for readiness without holding a buffer.
        loop {
            self.readable().await?;
            let mut fresh = pool.take();
            match self.try_read_buf(&mut fresh) {
                Ok(n) => {
                    *buf = fresh;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => pool.give(fresh),
                Err(e) => {
                    pool.give(fresh);
                    return Err(e);
                }
            }
        }
    }

    async fn write_all(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        let r = AsyncWriteExt::write_all(self, buf).await;
        buf.clear();
        r
    }

    async fn watch(&mut self, buf: &mut Vec<u8>, pool: &BufPool) -> io::Result<usize> {
        // Readiness first (cancel-safe), then a read that cannot block: nothing is ever
        // half-read when the future is dropped.
        loop {
            self.readable().await?;
            if buf.capacity() == 0 {
                *buf = pool.take();
            }
            if buf.capacity() - buf.len() < WATCH_CHUNK {
                buf.reserve(WATCH_CHUNK);
            }
            match self.try_read_buf(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Accepts on `listener` until shutdown, serving each connection on this thread.
pub(crate) async fn serve<S: Service>(
    listener: std::net::TcpListener,
    service: S,
    limits: Limits,
    worker: Rc<WorkerState>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let service = Rc::new(service);
    let limits = Rc::new(limits);
    loop {
        let accepted = tokio::select! {
            biased;
            () = worker.shutdown_started() => return Ok(()),
            r = listener.accept() => r,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(permit) = worker.connections.admit() else {
            // Over max_connections: close at once rather than queue unbounded work.
            drop(stream);
            continue;
        };
        let service = service.clone();
        let limits = limits.clone();
        let worker = worker.clone();
        tokio::task::spawn_local(async move {
            let _permit = permit;
            let _active = worker.enter();
            conn::serve(stream, &*service, &limits, &worker).await;
        });
    }
}
