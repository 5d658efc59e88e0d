//! Accepts: single-shot, and multishot (Linux 5.19+). Accepted descriptors are
//! `SOCK_CLOEXEC`; those nobody takes (the operation was dropped) are closed by the driver.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;

use io_uring::{opcode, types};

use super::{MultiOp, Multishot, OneShot, Op, SharedFd};
use crate::io::uring::driver::Driver;

/// A single-shot accept on a listener.
#[derive(Debug)]
pub(crate) struct Accept {
    _fd: SharedFd,
}

impl Op<Accept> {
    /// Accepts one connection on `listener`.
    pub(crate) fn accept(driver: &Rc<Driver>, listener: &SharedFd) -> Self {
        let entry = opcode::Accept::new(
            types::Fd(listener.as_raw_fd()),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
        .flags(libc::SOCK_CLOEXEC)
        .build();
        let data = Accept {
            _fd: listener.clone(),
        };
        // SAFETY: the entry points at no memory (no peer address is asked for); the data
        // keeps the listener open.
        unsafe { Op::submit(driver, entry, data) }
    }
}

impl OneShot for Accept {
    type Output = io::Result<OwnedFd>;
    const YIELDS_FD: bool = true;

    fn complete(self, res: i32) -> io::Result<OwnedFd> {
        accepted(res)
    }
}

/// A multishot accept on a listener.
#[derive(Debug)]
pub(crate) struct AcceptMulti {
    _fd: SharedFd,
}

impl MultiOp<AcceptMulti> {
    /// Accepts connections on `listener` until the kernel ends the operation.
    pub(crate) fn accept(driver: &Rc<Driver>, listener: &SharedFd) -> Self {
        let entry = opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd()))
            .flags(libc::SOCK_CLOEXEC)
            .build();
        let data = AcceptMulti {
            _fd: listener.clone(),
        };
        // SAFETY: the entry points at no memory; the data keeps the listener open.
        unsafe { MultiOp::submit(driver, entry, data) }
    }
}

impl Multishot for AcceptMulti {
    type Item = io::Result<OwnedFd>;
    const YIELDS_FD: bool = true;

    fn item(res: i32, _flags: u32) -> io::Result<OwnedFd> {
        accepted(res)
    }
}

/// The accepted descriptor, or the error.
fn accepted(res: i32) -> io::Result<OwnedFd> {
    if res < 0 {
        return Err(io::Error::from_raw_os_error(-res));
    }
    // SAFETY: the kernel just installed this descriptor for this operation's result, which
    // is delivered exactly once; this is its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(res) })
}
