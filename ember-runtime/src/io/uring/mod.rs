//! The io_uring backend: multishot accept, receive and send through the worker's ring, and
//! the shared connection loop on top.

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
}

impl Transport for UringConn {
    async fn read(&mut self, buf: &mut Vec<u8>, pool: &BufPool) -> io::Result<usize> {
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
                r = accept.next() => r,
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
        let conn = UringConn {
            fd,
            driver: driver.clone(),
        };
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
