//! A one-shot readiness poll: resolves when a descriptor has bytes to read, an end of
//! stream or an error pending, without consuming anything (so dropping it loses nothing).

use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use io_uring::{opcode, types};

use super::{OneShot, Op, SharedFd, check};
use crate::io::uring::driver::Driver;

/// A poll for `POLLIN` (end of stream and errors wake it too).
#[derive(Debug)]
pub(crate) struct PollIn {
    _fd: SharedFd,
}

impl Op<PollIn> {
    /// Waits until `fd` is readable; resolves to the ready events.
    pub(crate) fn readable(driver: &Rc<Driver>, fd: &SharedFd) -> Self {
        let entry = opcode::PollAdd::new(types::Fd(fd.as_raw_fd()), libc::POLLIN as u32).build();
        // SAFETY: the entry points at no memory; the data keeps the descriptor open.
        unsafe { Op::submit(driver, entry, PollIn { _fd: fd.clone() }) }
    }
}

impl OneShot for PollIn {
    type Output = io::Result<usize>;

    fn complete(self, res: i32) -> io::Result<usize> {
        check(res)
    }
}
