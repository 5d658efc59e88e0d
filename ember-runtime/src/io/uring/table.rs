//! The ring and its operation table: one slot per operation in flight (its waker and
//! results, or the buffers an abandoned operation left behind), and the reaping of
//! completions into them. [`super::driver::Driver`] is the API operations use.

use std::any::Any;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::task::Waker;
use std::time::Duration;

use io_uring::{IoUring, cqueue, squeue};

use super::bufring::BufRing;

/// `user_data` of entries whose completions nobody waits for (cancellations).
pub(super) const IGNORED: u64 = u64::MAX;

/// How often `push_entry` tries to make room in a full submission queue (submitting,
/// reaping, then waiting up to [`PUSH_WAIT`] for a completion) before failing the operation.
const PUSH_ATTEMPTS: u32 = 200;
/// How long one attempt waits for a completion to free room.
const PUSH_WAIT: Duration = Duration::from_millis(5);
/// What a slot holds.
pub(super) enum State {
    Free,
    /// A one-shot operation in flight or completed.
    Single {
        waker: Option<Waker>,
        result: Option<i32>,
    },
    /// A multishot operation: queued results (with their CQE flags), and whether the kernel
    /// will post more.
    Multi {
        waker: Option<Waker>,
        results: VecDeque<(i32, u32)>,
        more: bool,
    },
    /// The future was dropped while the kernel still held the operation: its buffers and fd
    /// stay here until the final completion.
    Orphan(#[allow(dead_code)] Option<Box<dyn Any>>),
}

/// One operation's place in the table.
pub(super) struct Slot {
    pub(super) state: State,
    /// A non-negative result is a descriptor the kernel installed (accept): if nobody takes
    /// it, the driver closes it.
    pub(super) yields_fd: bool,
    /// Bumped each time the slot is reused; part of `user_data`, so a cancellation (or a
    /// stray completion) for an earlier operation never touches a later one.
    pub(super) generation: u32,
}

impl Slot {
    /// The `user_data` of this slot's current operation.
    pub(super) fn user_data(&self, key: usize) -> u64 {
        (u64::from(self.generation) << 32) | key as u64
    }
}

impl Slot {
    /// Whether the kernel may still post a completion for this slot.
    pub(super) fn awaiting_kernel(&self) -> bool {
        match &self.state {
            State::Free => false,
            State::Single { result, .. } => result.is_none(),
            State::Multi { more, .. } => *more,
            State::Orphan(_) => true,
        }
    }
}

/// The ring and its operation table.
pub(super) struct Inner {
    pub(super) ring: IoUring,
    /// The provided-buffer ring for multishot receives, when the kernel has them.
    pub(super) bufs: Option<BufRing>,
    pub(super) slots: Vec<Slot>,
    pub(super) free: Vec<usize>,
    /// A completion reaped outside the reactor (while making room to push) woke a task.
    pub(super) woke: bool,
}

/// Errors of `io_uring_enter` that only mean "not now".
pub(super) fn transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBUSY | libc::EAGAIN | libc::EINTR)
    )
}

impl Inner {
    /// Pushes `entry`, making room when the submission queue is full: submit what is queued,
    /// reap completions (the kernel refuses new work with `EBUSY` while completions are
    /// backed up), and wait briefly for one. `false` if no room could be made.
    ///
    /// # Safety
    ///
    /// As for [`Driver::push`](super::driver::Driver::push): every pointer in `entry` stays valid until its final
    /// completion.
    pub(super) unsafe fn push_entry(&mut self, entry: &squeue::Entry) -> bool {
        for attempt in 0..PUSH_ATTEMPTS {
            // SAFETY: the caller guarantees the entry's pointers stay valid until its final
            // completion.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return true;
            }
            if let Err(e) = self.ring.submit()
                && !transient(&e)
            {
                tracing::warn!("io_uring submit (queue full) failed: {e}");
            }
            self.woke |= self.reap();
            if attempt > 0 {
                self.wait_for_completion(PUSH_WAIT);
                self.woke |= self.reap();
            }
        }
        false
    }

    /// Submits what is queued and waits up to `timeout` for a completion.
    pub(super) fn wait_for_completion(&self, timeout: Duration) {
        let ts = io_uring::types::Timespec::from(timeout);
        let args = io_uring::types::SubmitArgs::new().timespec(&ts);
        if let Err(e) = self.ring.submitter().submit_with_args(1, &args)
            && !transient(&e)
            && e.raw_os_error() != Some(libc::ETIME)
        {
            tracing::debug!("io_uring wait failed: {e}");
        }
    }

    /// Takes every completion off the ring and files it with its slot; `true` if a task was
    /// woken.
    pub(super) fn reap(&mut self) -> bool {
        let Inner {
            ring,
            bufs,
            slots,
            free,
            ..
        } = self;
        let mut woke = false;
        let mut cq = ring.completion();
        cq.sync();
        for cqe in &mut cq {
            let user_data = cqe.user_data();
            if user_data == IGNORED {
                continue;
            }
            let key = (user_data & u64::from(u32::MAX)) as usize;
            let (res, flags) = (cqe.result(), cqe.flags());
            let more = cqueue::more(flags);
            let Some(slot) = slots.get_mut(key).filter(|s| s.user_data(key) == user_data) else {
                // Not the slot's current operation (cannot happen: a slot is reused only
                // after its final completion); still give back what it carries.
                discard(bufs.as_mut(), res, flags, false);
                continue;
            };
            let yields_fd = slot.yields_fd;
            match &mut slot.state {
                State::Single { waker, result } => {
                    *result = Some(res);
                    if let Some(w) = waker.take() {
                        w.wake();
                        woke = true;
                    }
                }
                State::Multi {
                    waker,
                    results,
                    more: m,
                } => {
                    results.push_back((res, flags));
                    *m = more;
                    if let Some(w) = waker.take() {
                        w.wake();
                        woke = true;
                    }
                }
                State::Orphan(_) => {
                    discard(bufs.as_mut(), res, flags, yields_fd);
                    if !more {
                        // The kernel is done with the parked buffers: free them now.
                        release(slots, free, key);
                    }
                }
                State::Free => {}
            }
        }
        woke
    }

    /// Drops a result nobody will read (see [`discard`]).
    pub(super) fn discard(&mut self, res: i32, flags: u32, yields_fd: bool) {
        discard(self.bufs.as_mut(), res, flags, yields_fd);
    }

    pub(super) fn release(&mut self, key: usize) {
        release(&mut self.slots, &mut self.free, key);
    }

    pub(super) fn awaiting_kernel(&self) -> usize {
        self.slots.iter().filter(|s| s.awaiting_kernel()).count()
    }

    pub(super) fn taskrun_pending(&self) -> bool {
        // SAFETY: reading the shared flags word is how liburing checks it too.
        unsafe { self.ring.submission_shared().taskrun() }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Only orphans can still be in the kernel's hands here (a live operation keeps the
        // driver alive). Their memory must never be freed while the kernel may write it:
        // leak it on purpose. Closing the ring (next) cancels the operations themselves.
        for slot in &mut self.slots {
            if let State::Orphan(data) = &mut slot.state {
                std::mem::forget(data.take());
            }
        }
        if self.awaiting_kernel() == 0
            && let Some(bufs) = self.bufs.as_mut()
        {
            // Nothing can write the provided buffers any more: let them be freed.
            bufs.unregister(&self.ring);
        }
        // Otherwise the buffer ring stays registered and `BufRing`'s drop leaks it.
    }
}

/// Drops a result nobody will read: its provided buffer goes back to the ring, its
/// descriptor (from an accept) is closed.
fn discard(bufs: Option<&mut BufRing>, res: i32, flags: u32, yields_fd: bool) {
    if let (Some(bid), Some(bufs)) = (cqueue::buffer_select(flags), bufs) {
        bufs.recycle(bid);
    }
    if yields_fd && res >= 0 {
        // SAFETY: the kernel installed this descriptor for an accept nobody waits for any
        // more; nothing else knows it, so this is its only owner.
        drop(unsafe { OwnedFd::from_raw_fd(res) });
    }
}

/// Frees slot `key` for reuse.
fn release(slots: &mut [Slot], free: &mut Vec<usize>, key: usize) {
    slots[key].state = State::Free;
    free.push(key);
}

pub(super) trait SubmissionEmpty {
    fn submission_shared_is_empty(&self) -> bool;
}

impl SubmissionEmpty for IoUring {
    fn submission_shared_is_empty(&self) -> bool {
        // SAFETY: only this thread touches the submission queue.
        unsafe { self.submission_shared().is_empty() }
    }
}
