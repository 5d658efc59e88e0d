//! The io_uring backend: multishot accept, receive and send through the worker's ring, and
//! the shared connection loop on top.

mod bufring;
mod driver;
mod op;
mod table;

use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;

pub(crate) use driver::{Driver, run_reactor};
use op::{AcceptMulti, MultiOp, Op, PollIn, RecvMulti, SharedFd};

use super::pool::BufPool;
use super::{Transport, WorkerState, conn};
use crate::config::{Limits, ServerConfig};
use crate::io::backend::Engine;
use crate::service::Service;

/// The least free space offered to a receive while a response streams.
const WATCH_CHUNK: usize = 1024;

/// A connection served through the ring.
struct UringConn {
    fd: SharedFd,
    driver: Rc<Driver>,
    /// The armed multishot receive, when provided buffers are in use.
    recv: Option<MultiOp<RecvMulti>>,
    /// Multishot receives are off for this connection (no buffer ring, or an old kernel).
    single: bool,
    /// The peer's end of stream arrived together with data; report it on the next read.
    eof: bool,
    /// The readiness poll a watch (single-shot receives) armed, kept across watches so a
    /// streamed response costs one poll until the peer does something, not one per chunk.
    poll: Option<Op<PollIn>>,
    /// Reads served single-shot because the buffer ring ran dry (`ENOBUFS`). For tests.
    #[cfg(test)]
    dry_fallbacks: usize,
}

/// What one multishot completion meant.
enum Absorbed {
    /// Bytes appended to the buffer.
    Data(usize),
    /// End of stream.
    Eof,
    /// The receive ended (the kernel stopped it); arm it again.
    Rearm,
    /// The buffer ring ran dry (`ENOBUFS`): the receive ended; serve this read single-shot
    /// (it waits for data without needing a shared buffer), then re-arm.
    Dry,
    /// A receive error.
    Failed(io::Error),
}

impl UringConn {
    fn new(fd: OwnedFd, driver: Rc<Driver>) -> Self {
        let single = !driver.has_buf_ring();
        UringConn {
            fd: Rc::new(fd),
            driver,
            recv: None,
            single,
            eof: false,
            poll: None,
            #[cfg(test)]
            dry_fallbacks: 0,
        }
    }

    /// Handles one multishot result.
    fn absorb(&mut self, res: i32, flags: u32, buf: &mut Vec<u8>, pool: &BufPool) -> Absorbed {
        let bid = io_uring::cqueue::buffer_select(flags);
        if res < 0 {
            if let Some(bid) = bid {
                self.driver.recycle_buffer(bid);
            }
            return match -res {
                libc::ENOBUFS => Absorbed::Dry,
                // Multishot receive is not supported here: fall back to single-shot.
                libc::EINVAL | libc::EOPNOTSUPP => {
                    self.single = true;
                    Absorbed::Dry
                }
                // The operation was cancelled or failed to queue: arm it again.
                libc::ECANCELED | libc::EBUSY => Absorbed::Rearm,
                e => Absorbed::Failed(io::Error::from_raw_os_error(e)),
            };
        }
        let Some(bid) = bid else {
            return Absorbed::Eof;
        };
        if res == 0 {
            self.driver.recycle_buffer(bid);
            return Absorbed::Eof;
        }
        if buf.capacity() == 0 {
            *buf = pool.take();
        }
        self.driver.take_buffer(bid, res as usize, buf);
        Absorbed::Data(res as usize)
    }

    async fn read_multishot(&mut self, buf: &mut Vec<u8>, pool: &BufPool) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        loop {
            let recv = match &mut self.recv {
                Some(r) => r,
                None => self
                    .recv
                    .insert(MultiOp::<RecvMulti>::recv(&self.driver, &self.fd)),
            };
            let Some((res, flags)) = recv.next().await else {
                self.recv = None;
                continue;
            };
            let mut total = match self.absorb(res, flags, buf, pool) {
                Absorbed::Eof => return Ok(0),
                Absorbed::Data(n) => n,
                Absorbed::Rearm => {
                    self.recv = None;
                    continue;
                }
                Absorbed::Dry => {
                    self.recv = None;
                    #[cfg(test)]
                    {
                        self.dry_fallbacks += 1;
                    }
                    return self.read_single(buf, pool).await;
                }
                Absorbed::Failed(e) => return Err(e),
            };
            // Take whatever else already arrived, so a burst costs one pass of the parser.
            while let Some((res, flags)) = self.recv.as_mut().and_then(MultiOp::try_next) {
                match self.absorb(res, flags, buf, pool) {
                    Absorbed::Data(n) => total += n,
                    Absorbed::Eof | Absorbed::Failed(_) => {
                        self.eof = true;
                        break;
                    }
                    Absorbed::Rearm | Absorbed::Dry => {
                        // The receive ended after the data we have; the next read re-arms.
                        self.recv = None;
                        break;
                    }
                }
            }
            return Ok(total);
        }
    }

    /// Waits for the peer while a response streams (see [`Transport::watch`]): the armed
    /// multishot receive's next completion, or, with single-shot receives (or a dry buffer
    /// ring), a readiness poll and then a receive that cannot block. Nothing is consumed
    /// across an await, so dropping the future loses no bytes.
    async fn watch_peer(&mut self, buf: &mut Vec<u8>, pool: &BufPool) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        if !self.single {
            loop {
                let recv = match &mut self.recv {
                    Some(r) => r,
                    None => self
                        .recv
                        .insert(MultiOp::<RecvMulti>::recv(&self.driver, &self.fd)),
                };
                let Some((res, flags)) = recv.next().await else {
                    self.recv = None;
                    continue;
                };
                match self.absorb(res, flags, buf, pool) {
                    Absorbed::Data(n) => return Ok(n),
                    Absorbed::Eof => return Ok(0),
                    Absorbed::Failed(e) => return Err(e),
                    Absorbed::Rearm => self.recv = None,
                    Absorbed::Dry => {
                        self.recv = None;
                        #[cfg(test)]
                        {
                            self.dry_fallbacks += 1;
                        }
                        break;
                    }
                }
            }
        }
        loop {
            let poll = match &mut self.poll {
                Some(p) => p,
                None => self
                    .poll
                    .insert(Op::<PollIn>::readable(&self.driver, &self.fd)),
            };
            let ready = poll.await;
            self.poll = None;
            ready?;
            match self.recv_now(buf, pool) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        }
    }

    /// A receive that returns at once (`MSG_DONTWAIT`), straight into `buf`'s spare room.
    fn recv_now(&self, buf: &mut Vec<u8>, pool: &BufPool) -> io::Result<usize> {
        if buf.capacity() == 0 {
            *buf = pool.take();
        }
        if buf.capacity() - buf.len() < WATCH_CHUNK {
            buf.reserve(WATCH_CHUNK);
        }
        let len = buf.len();
        let n = socket2::SockRef::from(&*self.fd)
            .recv_with_flags(buf.spare_capacity_mut(), libc::MSG_DONTWAIT)?;
        // SAFETY: the kernel initialised the first `n` bytes of the spare capacity (`recv`
        // never reports more than the length it was given).
        unsafe { buf.set_len(len + n) };
        Ok(n)
    }

    async fn read_single(&mut self, buf: &mut Vec<u8>, pool: &BufPool) -> io::Result<usize> {
        if buf.capacity() == 0 {
            *buf = pool.take();
        }
        if buf.capacity() == buf.len() {
            buf.reserve(4096);
        }
        let owned = std::mem::take(buf);
        let (res, owned) = Op::recv(&self.driver, &self.fd, owned).await;
        *buf = owned;
        res
    }
}

impl Transport for UringConn {
    fn socket_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(std::os::fd::AsRawFd::as_raw_fd(&*self.fd))
    }

    async fn read(&mut self, buf: &mut Vec<u8>, pool: &BufPool) -> io::Result<usize> {
        // A watch's poll is not needed any more (dropping it cancels it).
        self.poll = None;
        if self.single {
            self.read_single(buf, pool).await
        } else {
            self.read_multishot(buf, pool).await
        }
    }

    async fn watch(&mut self, buf: &mut Vec<u8>, pool: &BufPool) -> io::Result<usize> {
        self.watch_peer(buf, pool).await
    }

    async fn write_all(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        let mut owned = std::mem::take(buf);
        let mut off = 0;
        let mut result = Ok(());
        while off < owned.len() {
            let (res, back) = Op::send(&self.driver, &self.fd, owned, off).await;
            owned = back;
            match res {
                Ok(0) => {
                    result = Err(io::ErrorKind::WriteZero.into());
                    break;
                }
                Ok(n) => off += n,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        owned.clear();
        *buf = owned;
        result
    }
}

/// Accepts on `listener` through the ring until shutdown, serving each connection here.
pub(crate) async fn serve<S: Service>(
    listener: std::net::TcpListener,
    service: S,
    limits: Limits,
    worker: Rc<WorkerState>,
    driver: Rc<Driver>,
) -> io::Result<()> {
    let lfd: SharedFd = Rc::new(OwnedFd::from(listener));
    let service = Rc::new(service);
    let limits = Rc::new(limits);
    let mut accept = MultiOp::<AcceptMulti>::accept(&driver, &lfd);
    let mut multishot = true;
    loop {
        let next = if multishot {
            tokio::select! {
                biased;
                () = worker.shutdown_started() => break,
                r = accept.next() => r,
            }
        } else {
            // Kernels before 5.19 have no multishot accept: one operation per connection.
            tokio::select! {
                biased;
                () = worker.shutdown_started() => break,
                r = Op::accept(&driver, &lfd) => Some(r),
            }
        };
        let fd = match next {
            Some(Ok(fd)) => fd,
            None => {
                accept = MultiOp::<AcceptMulti>::accept(&driver, &lfd);
                continue;
            }
            Some(Err(e)) if e.raw_os_error() == Some(libc::EINVAL) && multishot => {
                multishot = false;
                continue;
            }
            Some(Err(e)) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(permit) = worker.connections.admit() else {
            // Over max_connections: close at once rather than queue unbounded work.
            drop(fd);
            continue;
        };
        let conn = UringConn::new(fd, driver.clone());
        let service = service.clone();
        let limits = limits.clone();
        let worker = worker.clone();
        tokio::task::spawn_local(async move {
            let _permit = permit;
            let _active = worker.enter();
            conn::serve(conn, &*service, &limits, &worker).await;
        });
    }
    // Connections the kernel accepted that nobody took are closed by the driver.
    drop(accept);
    drop(lfd);
    Ok(())
}

/// The io_uring backend's worker lifecycle: a ring made before the worker's runtime (and
/// flushed whenever the runtime parks), a reactor task that completes its operations, and
/// the ring's teardown once the runtime is gone.
pub(crate) struct Uring(Rc<Driver>);

impl Engine for Uring {
    fn prepare(config: &ServerConfig, builder: &mut tokio::runtime::Builder) -> io::Result<Self> {
        let u = config.io_uring;
        let bufs = u.provided_buffers.then_some((u.num_bufs, u.buf_size));
        let driver = Driver::new(u.entries, bufs, u.defer_taskrun)?;
        Driver::set_current(&driver);
        builder.on_thread_park(Driver::flush_current);
        Ok(Uring(driver))
    }

    async fn serve<S: Service>(
        &self,
        listener: std::net::TcpListener,
        service: S,
        limits: Limits,
        worker: Rc<WorkerState>,
    ) -> io::Result<()> {
        let driver = self.0.clone();
        tokio::task::spawn_local(async move {
            if let Err(e) = run_reactor(driver).await {
                tracing::error!("io_uring reactor stopped: {e}");
            }
        });
        serve(listener, service, limits, worker, self.0.clone()).await
    }

    fn finish(self) {
        self.0.shutdown();
        Driver::clear_current();
    }
}

#[cfg(test)]
mod tests;
