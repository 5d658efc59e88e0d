//! Receives: single-shot into a connection's own buffer, and multishot into the worker's
//! provided-buffer ring.

use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use io_uring::{opcode, types};

use super::{MultiOp, Multishot, OneShot, Op, SharedFd, check};
use crate::io::uring::bufring;
use crate::io::uring::driver::Driver;

/// A single-shot receive into the spare capacity of a buffer the operation owns.
#[derive(Debug)]
pub(crate) struct Recv {
    _fd: SharedFd,
    buf: Vec<u8>,
}

impl Op<Recv> {
    /// Receives into `buf`'s spare capacity (after its current length); resolves to the
    /// byte count (0 at end of stream) and the buffer, with the bytes appended.
    pub(crate) fn recv(driver: &Rc<Driver>, fd: &SharedFd, mut buf: Vec<u8>) -> Self {
        let len = buf.len();
        let spare = u32::try_from(buf.capacity() - len).unwrap_or(u32::MAX);
        let ptr = buf.spare_capacity_mut().as_mut_ptr().cast::<u8>();
        let entry = opcode::Recv::new(types::Fd(fd.as_raw_fd()), ptr, spare).build();
        let data = Recv {
            _fd: fd.clone(),
            buf,
        };
        // SAFETY: `ptr`/`spare` describe the spare capacity of `data.buf`'s heap buffer,
        // which does not move with `data`; `data` also keeps the descriptor open.
        unsafe { Op::submit(driver, entry, data) }
    }
}

impl OneShot for Recv {
    type Output = (io::Result<usize>, Vec<u8>);

    fn complete(self, res: i32) -> Self::Output {
        let mut buf = self.buf;
        let r = check(res);
        if let Ok(n) = r {
            let len = buf.len();
            let n = n.min(buf.capacity() - len);
            // SAFETY: the kernel initialised `n` bytes of the spare capacity (clamped to it).
            unsafe { buf.set_len(len + n) };
        }
        (r, buf)
    }
}

/// A multishot receive into the provided-buffer ring (group [`bufring::GROUP`]).
#[derive(Debug)]
pub(crate) struct RecvMulti {
    _fd: SharedFd,
}

impl MultiOp<RecvMulti> {
    /// Arms a multishot receive on `fd`: each item is a completion's result and flags (the
    /// flags name the provided buffer that holds the bytes).
    pub(crate) fn recv(driver: &Rc<Driver>, fd: &SharedFd) -> Self {
        let entry = opcode::RecvMulti::new(types::Fd(fd.as_raw_fd()), bufring::GROUP).build();
        // SAFETY: the entry points at no memory of ours (the kernel picks registered
        // provided buffers, which outlive the ring); the data keeps the descriptor open.
        unsafe { MultiOp::submit(driver, entry, RecvMulti { _fd: fd.clone() }) }
    }
}

impl Multishot for RecvMulti {
    type Item = (i32, u32);

    fn item(res: i32, flags: u32) -> (i32, u32) {
        (res, flags)
    }
}
