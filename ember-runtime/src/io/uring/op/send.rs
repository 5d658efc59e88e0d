//! Sends from a buffer the operation owns.

use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use io_uring::{opcode, types};

use super::{OneShot, Op, SharedFd, check};
use crate::io::uring::driver::Driver;

/// A send of part of a buffer the operation owns.
#[derive(Debug)]
pub(crate) struct Send {
    _fd: SharedFd,
    buf: Vec<u8>,
}

impl Op<Send> {
    /// Sends `buf[offset..]` (`MSG_NOSIGNAL`: a closed peer is an error, not a signal);
    /// resolves to the bytes sent and the buffer.
    pub(crate) fn send(driver: &Rc<Driver>, fd: &SharedFd, buf: Vec<u8>, offset: usize) -> Self {
        let rest = buf.get(offset..).unwrap_or_default();
        let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
        let entry = opcode::Send::new(types::Fd(fd.as_raw_fd()), rest.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        let data = Send {
            _fd: fd.clone(),
            buf,
        };
        // SAFETY: the pointer and length describe initialised bytes of `data.buf`'s heap
        // buffer, which does not move with `data`; `data` also keeps the descriptor open.
        unsafe { Op::submit(driver, entry, data) }
    }
}

impl OneShot for Send {
    type Output = (io::Result<usize>, Vec<u8>);

    fn complete(self, res: i32) -> Self::Output {
        (check(res), self.buf)
    }
}
