//! io_uring operations, one per file, each with a typed constructor.
//!
//! An operation owns everything the kernel may touch while it runs: its buffers and a
//! reference to its descriptor ([`SharedFd`]), so neither can be freed or closed (and the
//! descriptor number reused) before the kernel's final completion. The constructors are
//! safe: each builds its entry only from memory its data owns, which is the one place the
//! kernel contract is checked (a `SAFETY` comment per constructor); the generic
//! [`Op::submit`] and [`MultiOp::submit`] that take a raw entry are `unsafe`.
//!
//! Futures are fused: polling an [`Op`] again after it returned `Ready` returns `Pending`
//! without touching the (possibly reused) slot.

mod accept;
#[cfg(test)]
mod nop;
mod poll;
mod recv;
mod send;

use std::any::Any;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use io_uring::squeue;

pub(crate) use accept::AcceptMulti;
pub(crate) use poll::PollIn;
pub(crate) use recv::RecvMulti;

use super::driver::Driver;

/// A descriptor shared by a connection and the operations running on it: the last holder
/// closes it, never while an operation the kernel still holds refers to it.
pub(crate) type SharedFd = Rc<OwnedFd>;

/// What a one-shot operation owns while the kernel runs it, and what it yields.
pub(crate) trait OneShot: Unpin + 'static {
    /// What the operation's future resolves to.
    type Output;
    /// A non-negative result is a new descriptor (closed by the driver if nobody takes it).
    const YIELDS_FD: bool = false;
    /// Builds the output from the kernel's result (`-errno` on failure).
    fn complete(self, res: i32) -> Self::Output;
}

/// What a multishot operation owns while the kernel runs it, and what each completion
/// yields.
pub(crate) trait Multishot: 'static {
    /// What each completion becomes.
    type Item;
    /// A non-negative result is a new descriptor (closed by the driver if nobody takes it).
    const YIELDS_FD: bool = false;
    /// Builds an item from one completion's result and flags.
    fn item(res: i32, flags: u32) -> Self::Item;
}

/// A one-shot operation: a future resolving to `T::Output` once the kernel completes it.
pub(crate) struct Op<T: OneShot> {
    driver: Rc<Driver>,
    /// The slot, until the result has been taken (then `None`: the future is fused).
    key: Option<usize>,
    data: Option<T>,
}

impl<T: OneShot> Op<T> {
    /// Queues `entry`, which `data` keeps valid.
    ///
    /// # Safety
    ///
    /// Every pointer in `entry` must point into memory owned by `data` that does not move
    /// when `data` moves (a `Vec`'s heap buffer, not an inline array), and every descriptor
    /// it names must be kept open by `data`.
    unsafe fn submit(driver: &Rc<Driver>, entry: squeue::Entry, data: T) -> Self {
        // SAFETY: the caller's contract: `data` owns the memory, and the operation keeps
        // `data` (or parks it in the slot) until the final completion.
        let key = unsafe { driver.push(entry, false, T::YIELDS_FD) };
        Op {
            driver: driver.clone(),
            key: Some(key),
            data: Some(data),
        }
    }
}

impl<T: OneShot> Future for Op<T> {
    type Output = T::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let Some(key) = self.key else {
            return Poll::Pending;
        };
        match self.driver.poll_single(key, cx) {
            Poll::Ready(r) => {
                self.key = None;
                match self.data.take() {
                    Some(d) => Poll::Ready(d.complete(r)),
                    None => Poll::Pending,
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: OneShot> futures_core::FusedFuture for Op<T> {
    fn is_terminated(&self) -> bool {
        self.key.is_none()
    }
}

impl<T: OneShot> Drop for Op<T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let data = self.data.take().map(|d| Box::new(d) as Box<dyn Any>);
            self.driver.abandon(key, data);
        }
    }
}

impl<T: OneShot> std::fmt::Debug for Op<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op").field("key", &self.key).finish()
    }
}

/// A multishot operation: a stream of items until the kernel ends it.
pub(crate) struct MultiOp<T: Multishot> {
    driver: Rc<Driver>,
    key: Option<usize>,
    /// Kept (and parked with the driver if dropped early) until the final completion.
    data: Option<T>,
}

impl<T: Multishot> MultiOp<T> {
    /// Queues a multishot `entry`, which `data` keeps valid.
    ///
    /// # Safety
    ///
    /// As for [`Op::submit`].
    unsafe fn submit(driver: &Rc<Driver>, entry: squeue::Entry, data: T) -> Self {
        // SAFETY: the caller's contract, as in `Op::submit`.
        let key = unsafe { driver.push(entry, true, T::YIELDS_FD) };
        MultiOp {
            driver: driver.clone(),
            key: Some(key),
            data: Some(data),
        }
    }

    /// An item already queued, without waiting.
    pub(crate) fn try_next(&mut self) -> Option<T::Item> {
        let key = self.key?;
        let (res, flags) = self.driver.try_multi(key)?;
        Some(T::item(res, flags))
    }

    /// The next item, or `None` once the operation has ended (re-arm it).
    pub(crate) async fn next(&mut self) -> Option<T::Item> {
        let key = self.key?;
        let r = std::future::poll_fn(|cx| self.driver.poll_multi(key, cx)).await;
        match r {
            Some((res, flags)) => Some(T::item(res, flags)),
            None => {
                // The slot was released: never touch it again.
                self.key = None;
                self.data = None;
                None
            }
        }
    }
}

impl<T: Multishot> Drop for MultiOp<T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let data = self.data.take().map(|d| Box::new(d) as Box<dyn Any>);
            // Discards queued items, then releases the slot or cancels the operation.
            self.driver.abandon(key, data);
        }
    }
}

impl<T: Multishot> std::fmt::Debug for MultiOp<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiOp").field("key", &self.key).finish()
    }
}

/// `Ok(res)` for a non-negative result, the OS error otherwise.
fn check(res: i32) -> std::io::Result<usize> {
    if res < 0 {
        Err(std::io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as usize)
    }
}
