//! The ring and its operation table: one slot per operation in flight (its waker and
//! results, or the buffers an abandoned operation left behind), and the reaping of
//! completions into them. [`super::driver::Driver`] is the API operations use.

use std::any::Any;
use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
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
    /// The ring's index among this thread's registered ring descriptors, when registered
    /// (Linux 5.18+): submissions then skip the kernel's descriptor lookup.
    pub(super) registered: Option<u32>,
    /// The ring was set up with `DEFER_TASKRUN`: completions are posted only when this
    /// thread enters the kernel asking for events, so every submit asks (without waiting),
    /// and the reactor sleeps on an eventfd the kernel signals when work is pending.
    pub(super) deferred: bool,
}

/// Errors of `io_uring_enter` that only mean "not now".
pub(super) fn transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBUSY | libc::EAGAIN | libc::EINTR)
    )
}

/// `IORING_REGISTER_RING_FDS`, `IORING_ENTER_REGISTERED_RING`, `IORING_ENTER_GETEVENTS`
/// (linux/io_uring.h; the io-uring crate keeps a registration in a `Submitter` it does not
/// let us hold beside the ring).
const REGISTER_RING_FDS: libc::c_uint = 20;
const ENTER_REGISTERED_RING: libc::c_uint = 1 << 4;
const ENTER_GETEVENTS: libc::c_uint = 1;

/// `struct io_uring_rsrc_update`.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// Registers `ring`'s descriptor for the calling thread; its index, or why not.
pub(super) fn register_ring_fd(ring: &IoUring) -> io::Result<u32> {
    let mut up = RsrcUpdate {
        offset: u32::MAX, // any free index
        resv: 0,
        data: ring.as_raw_fd() as u64,
    };
    // SAFETY: `up` is a valid `io_uring_rsrc_update` for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring.as_raw_fd(),
            REGISTER_RING_FDS,
            &mut up as *mut RsrcUpdate,
            1u32,
        )
    };
    match r {
        1 => Ok(up.offset),
        r if r < 0 => Err(io::Error::last_os_error()),
        _ => Err(io::Error::other("ring fd not registered")),
    }
}

impl Inner {
    /// Submits what is queued without waiting, through the registered ring descriptor when
    /// there is one (the same flags as `IoUring::submit`).
    pub(super) fn submit(&self) -> io::Result<usize> {
        if self.registered.is_none() && !self.deferred {
            return self.ring.submit();
        }
        // SAFETY: only this thread touches the submission queue.
        let sq = unsafe { self.ring.submission_shared() };
        let pending = sq.len() as libc::c_uint;
        let (fd, mut flags) = match self.registered {
            Some(index) => (index as libc::c_int, ENTER_REGISTERED_RING),
            None => (self.ring.as_raw_fd(), 0),
        };
        if sq.cq_overflow() || self.deferred {
            // Deferred task work (completions) runs only when events are asked for.
            flags |= ENTER_GETEVENTS;
        }
        drop(sq);
        // SAFETY: no signal mask is passed; the registered index names this thread's ring.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                fd,
                pending,
                0u32,
                flags,
                std::ptr::null::<libc::sigset_t>(),
                std::mem::size_of::<libc::sigset_t>(),
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

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
            if let Err(e) = self.submit()
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

    /// Whether completions are posted that nobody has reaped yet.
    pub(super) fn completions_waiting(&self) -> bool {
        // SAFETY: only this thread reads the completion queue.
        !unsafe { self.ring.completion_shared() }.is_empty()
    }

    /// Whether the kernel has task work for this ring that only an enter will run.
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
