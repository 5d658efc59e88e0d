//! The io_uring backend: multishot accept, receive and send through the worker's ring, and
//! the shared connection loop on top.

mod bufring;
mod driver;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use io_uring::{opcode, types};

pub(crate) use driver::{Driver, run_reactor};
use driver::{MultiOp, Op};

use super::pool::BufPool;
use super::{Transport, WorkerState, conn};
use crate::config::Limits;
use crate::service::Service;

/// A connection served through the ring.
struct UringConn {
    fd: OwnedFd,
    driver: Rc<Driver>,
    /// The armed multishot receive, when provided buffers are in use.
    recv: Option<MultiOp>,
    /// Multishot receives are off for this connection (no buffer ring, or an old kernel).
    single: bool,
    /// The peer's end of stream arrived together with data; report it on the next read.
    eof: bool,
}

impl UringConn {
    fn new(fd: OwnedFd, driver: Rc<Driver>) -> Self {
        let single = !driver.has_buf_ring();
        UringConn {
            fd,
            driver,
            recv: None,
            single,
            eof: false,
        }
    }

    /// Handles one multishot result: bytes appended to `buf`, `Ok(0)` at end of stream, or
    /// `Err(None)` when the receive must be re-armed.
    fn absorb(
        &mut self,
        res: i32,
        flags: u32,
        buf: &mut Vec<u8>,
        pool: &BufPool,
    ) -> Result<usize, Option<io::Error>> {
        let bid = io_uring::cqueue::buffer_select(flags);
        if res < 0 {
            if let Some(bid) = bid {
                self.driver.recycle_buffer(bid);
            }
            return match -res {
                // The ring ran dry for a moment: the receive ended; arm it again.
                libc::ENOBUFS => Err(None),
                // Multishot receive is not supported here: fall back to single-shot.
                libc::EINVAL | libc::EOPNOTSUPP => {
                    self.single = true;
                    Err(None)
                }
                e => Err(Some(io::Error::from_raw_os_error(e))),
            };
        }
        let Some(bid) = bid else {
            return Ok(0);
        };
        if res == 0 {
            self.driver.recycle_buffer(bid);
            return Ok(0);
        }
        if buf.capacity() == 0 {
            *buf = pool.take();
        }
        self.driver.take_buffer(bid, res as usize, buf);
        Ok(res as usize)
    }

    async fn read_multishot(&mut self, buf: &mut Vec<u8>, pool: &BufPool) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        loop {
            let fd = self.fd.as_raw_fd();
            let driver = self.driver.clone();
            let recv = self.recv.get_or_insert_with(|| {
                MultiOp::new(
                    &driver,
                    opcode::RecvMulti::new(types::Fd(fd), bufring::GROUP).build(),
                )
            });
            let Some((res, flags)) = recv.next().await else {
                self.recv = None;
                continue;
            };
            let mut total = match self.absorb(res, flags, buf, pool) {
                Ok(0) => return Ok(0),
                Ok(n) => n,
                Err(None) => {
                    self.recv = None;
                    if self.single {
                        return self.read_single(buf, pool).await;
                    }
                    continue;
                }
                Err(Some(e)) => return Err(e),
            };
            // Take whatever else already arrived, so a burst costs one pass of the parser.
            while let Some((res, flags)) = self.recv.as_mut().and_then(MultiOp::try_next) {
                match self.absorb(res, flags, buf, pool) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(n) => total += n,
                    Err(None) => {
                        self.recv = None;
                        break;
                    }
                    Err(Some(_)) => {
                        self.eof = true;
                        break;
                    }
                }
            }
            return Ok(total);
        }
    }

    async fn read_single(&mut self, buf: &mut Vec<u8>, pool: &BufPool) -> io::Result<usize> {
        if buf.capacity() == 0 {
            *buf = pool.take();
        }
        let owned = std::mem::take(buf);
        let len = owned.len();
        let spare = owned.capacity() - len;
        let mut owned = owned;
        // SAFETY (of the entry): the pointer and length describe `owned`'s spare capacity,
        // and `owned` moves into the operation, which keeps it alive until completion.
        let ptr = unsafe { owned.as_mut_ptr().add(len) };
        let entry = opcode::Recv::new(types::Fd(self.fd.as_raw_fd()), ptr, spare as u32).build();
        let (res, mut owned) = Op::new(&self.driver, entry, owned).await;
        if res < 0 {
            *buf = owned;
            return Err(io::Error::from_raw_os_error(-res));
        }
        let n = res as usize;
        // SAFETY: the kernel initialised `n` bytes of the spare capacity.
        unsafe { owned.set_len(len + n.min(spare)) };
        *buf = owned;
        Ok(n)
    }
}

impl Transport for UringConn {
    fn peer_ip(&self) -> Option<std::net::IpAddr> {
        let addr = socket2::SockRef::from(&self.fd).peer_addr().ok()?;
        addr.as_socket().map(|a| a.ip())
    }

    async fn read(&mut self, buf: &mut Vec<u8>, pool: &BufPool) -> io::Result<usize> {
        if self.single {
            self.read_single(buf, pool).await
        } else {
            self.read_multishot(buf, pool).await
        }
    }

    async fn write_all(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        let mut owned = std::mem::take(buf);
        let mut off = 0;
        while off < owned.len() {
            // SAFETY (of the entry): as in `read`; `owned` is kept alive by the operation.
            let ptr = unsafe { owned.as_ptr().add(off) };
            let entry = opcode::Send::new(
                types::Fd(self.fd.as_raw_fd()),
                ptr,
                (owned.len() - off) as u32,
            )
            .flags(libc::MSG_NOSIGNAL)
            .build();
            let (res, back) = Op::new(&self.driver, entry, owned).await;
            owned = back;
            if res < 0 {
                owned.clear();
                *buf = owned;
                return Err(io::Error::from_raw_os_error(-res));
            }
            if res == 0 {
                owned.clear();
                *buf = owned;
                return Err(io::ErrorKind::WriteZero.into());
            }
            off += res as usize;
        }
        owned.clear();
        *buf = owned;
        Ok(())
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
    let lfd: RawFd = listener.as_raw_fd();
    let service = Rc::new(service);
    let limits = Rc::new(limits);
    let arm = |driver: &Rc<Driver>| {
        MultiOp::new(
            driver,
            opcode::AcceptMulti::new(types::Fd(lfd))
                .flags(libc::SOCK_CLOEXEC)
                .build(),
        )
    };
    let mut accept = arm(&driver);
    let mut multishot = true;
    loop {
        let next = if multishot {
            tokio::select! {
                biased;
                () = worker.shutdown_started() => break,
                r = accept.next() => r.map(|(res, _)| res),
            }
        } else {
            // Kernels before 5.19 have no multishot accept: one operation per connection.
            let entry =
                opcode::Accept::new(types::Fd(lfd), std::ptr::null_mut(), std::ptr::null_mut())
                    .flags(libc::SOCK_CLOEXEC)
                    .build();
            tokio::select! {
                biased;
                () = worker.shutdown_started() => break,
                (r, ()) = Op::new(&driver, entry, ()) => Some(r),
            }
        };
        let res = match next {
            Some(r) => r,
            None => {
                accept = arm(&driver);
                continue;
            }
        };
        if res < 0 {
            if res == -libc::EINVAL && multishot {
                multishot = false;
                continue;
            }
            tracing::warn!("accept failed: {}", io::Error::from_raw_os_error(-res));
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        }
        // SAFETY: the kernel just handed us this descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(res) };
        if worker.at_capacity() {
            // Over max_connections: close at once rather than queue unbounded work.
            drop(fd);
            continue;
        }
        let conn = UringConn::new(fd, driver.clone());
        let service = service.clone();
        let limits = limits.clone();
        let worker = worker.clone();
        tokio::task::spawn_local(async move {
            let _active = worker.enter();
            conn::serve(conn, &*service, &limits, &worker).await;
        });
    }
    drop(accept);
    drop(listener);
    Ok(())
}
