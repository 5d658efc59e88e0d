//! A no-op (tests: fills the queues without any I/O).

use std::rc::Rc;

use io_uring::opcode;

use super::{OneShot, Op};
use crate::io::uring::driver::Driver;

/// An operation that completes at once with 0.
#[derive(Debug)]
pub(crate) struct Nop;

impl Op<Nop> {
    /// Queues a no-op.
    pub(crate) fn nop(driver: &Rc<Driver>) -> Self {
        // SAFETY: a no-op points at no memory and names no descriptor.
        unsafe { Op::submit(driver, opcode::Nop::new().build(), Nop) }
    }
}

impl OneShot for Nop {
    type Output = i32;

    fn complete(self, res: i32) -> i32 {
        res
    }
}
