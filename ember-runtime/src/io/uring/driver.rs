//! One io_uring per worker thread, driven from inside the worker's tokio runtime.
//!
//! Operations ([`super::op`]) push submission entries and return futures; a reactor task
//! reaps completions when tokio reports the ring's fd readable and wakes the futures.
//! Submissions are batched: they are flushed when tokio is about to park the thread
//! (`on_thread_park`) and at the end of each reactor tick, so a burst of operations costs
//! one `io_uring_enter`.
//!
//! The ring is created with `COOP_TASKRUN | TASKRUN_FLAG` (the kernel does not interrupt the
//! thread for every completion; pending task work is run by the next `io_uring_enter`) and
//! `SINGLE_ISSUER` where the kernel supports them.
//!
//! Memory the kernel may write is never freed early:
//! - an operation owns its buffers (and a reference to its fd) until its final completion;
//!   if its future is dropped first, they are parked in the slot ([`State::Orphan`]) and a
//!   cancellation is submitted; the completion releases them;
//! - on shutdown every operation is cancelled and the driver waits (bounded) for every
//!   completion; whatever is still in the kernel's hands after that is leaked on purpose
//!   (see [`Inner`]'s `Drop`), as is the provided-buffer ring.
//!
//! Completions nobody will read are not lost: provided buffers go back to the ring and
//! descriptors from accepts nobody waits for are closed.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use io_uring::{IoUring, opcode, squeue};

use super::bufring::BufRing;
use super::table::{IGNORED, Inner, Slot, State, SubmissionEmpty, transient};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// How long shutdown waits for the kernel to finish every cancelled operation.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// A worker's ring and its operation table.
pub(crate) struct Driver {
    inner: RefCell<Inner>,
    /// With `DEFER_TASKRUN`: the eventfd the kernel signals when completions wait to be
    /// posted (the ring's own descriptor would not wake an epoll waiter for them).
    eventfd: Option<OwnedFd>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Driver>>> = const { RefCell::new(None) };
}

impl Driver {
    /// Creates a ring with `entries` submission slots (with `DEFER_TASKRUN` when `defer`
    /// and the kernel allows, else the cheapest other setup flags it takes) and, when `bufs` asks for one (`num_bufs`, `buf_size`) and the kernel supports
    /// it, a provided-buffer ring for multishot receives.
    pub(crate) fn new(
        entries: u32,
        bufs: Option<(u16, u32)>,
        defer: bool,
    ) -> io::Result<Rc<Driver>> {
        // `DEFER_TASKRUN` (Linux 6.1+) with an eventfd to wake the reactor, when allowed.
        let deferred = defer
            .then(|| {
                let ring = IoUring::builder()
                    .setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_taskrun_flag()
                    .setup_cqsize(entries * 4)
                    .build(entries)
                    .ok()?;
                let efd = eventfd().ok()?;
                ring.submitter().register_eventfd(efd.as_raw_fd()).ok()?;
                Some((ring, efd))
            })
            .flatten();
        let (ring, eventfd) = match deferred {
            Some((ring, efd)) => (ring, Some(efd)),
            None => (Self::build_plain(entries)?, None),
        };
        Self::with_ring(ring, eventfd, bufs)
    }

    /// A ring without `DEFER_TASKRUN`: completions are posted as they happen and the
    /// reactor watches the ring's own descriptor.
    fn build_plain(entries: u32) -> io::Result<IoUring> {
        IoUring::builder()
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .setup_single_issuer()
            .setup_cqsize(entries * 4)
            .build(entries)
            .or_else(|_| {
                IoUring::builder()
                    .setup_coop_taskrun()
                    .setup_taskrun_flag()
                    .setup_cqsize(entries * 4)
                    .build(entries)
            })
    }

    fn with_ring(
        ring: IoUring,
        eventfd: Option<OwnedFd>,
        bufs: Option<(u16, u32)>,
    ) -> io::Result<Rc<Driver>> {
        let bufs = match bufs.map(|(n, size)| BufRing::new(&ring, n, size)) {
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => {
                tracing::debug!("no provided-buffer ring ({e}); single-shot receives");
                None
            }
            None => None,
        };
        let registered = match super::table::register_ring_fd(&ring) {
            Ok(index) => Some(index),
            Err(e) => {
                tracing::debug!("io_uring: ring fd not registered ({e}); plain submissions");
                None
            }
        };
        Ok(Rc::new(Driver {
            inner: RefCell::new(Inner {
                ring,
                bufs,
                slots: Vec::new(),
                free: Vec::new(),
                woke: false,
                registered,
                deferred: eventfd.is_some(),
            }),
            eventfd,
        }))
    }

    /// Checks that the kernel lets this process use io_uring with the operations we need.
    pub(crate) fn probe() -> io::Result<()> {
        let ring = IoUring::new(8)?;
        let mut probe = io_uring::Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for (code, name) in [
            (opcode::Accept::CODE, "accept"),
            (opcode::Recv::CODE, "recv"),
            (opcode::Send::CODE, "send"),
            (opcode::AsyncCancel::CODE, "cancel"),
        ] {
            if !probe.is_supported(code) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("io_uring lacks {name}"),
                ));
            }
        }
        Ok(())
    }

    /// Makes this driver the thread's current one, for the park hook.
    pub(crate) fn set_current(driver: &Rc<Driver>) {
        CURRENT.with(|c| *c.borrow_mut() = Some(driver.clone()));
    }

    /// Clears the thread's current driver.
    pub(crate) fn clear_current() {
        CURRENT.with(|c| c.borrow_mut().take());
    }

    /// Flushes the thread's pending submissions (called when tokio parks the thread).
    pub(crate) fn flush_current() {
        CURRENT.with(|c| {
            if let Ok(c) = c.try_borrow()
                && let Some(d) = c.as_ref()
            {
                d.submit();
                d.wake_if_ready();
            }
        });
    }

    /// With `DEFER_TASKRUN`, the submit that ran just before the thread parks may have posted
    /// completions itself (or left task work for later): the kernel does not signal the
    /// eventfd for those, so the reactor is woken here, or they would wait for an unrelated
    /// wake-up.
    fn wake_if_ready(&self) {
        let Some(efd) = &self.eventfd else {
            return;
        };
        let ready = match self.inner.try_borrow() {
            Ok(inner) => inner.completions_waiting() || inner.taskrun_pending(),
            Err(_) => false,
        };
        if ready {
            let one = 1u64;
            // SAFETY: writes 8 bytes from `one` to our eventfd (EAGAIN only if the counter
            // is saturated, when a wake-up is pending anyway).
            unsafe { libc::write(efd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }

    /// The descriptor the reactor waits on: the eventfd with `DEFER_TASKRUN`, else the ring.
    fn wake_fd(&self) -> RawFd {
        match &self.eventfd {
            Some(e) => e.as_raw_fd(),
            None => self.inner.borrow().ring.as_raw_fd(),
        }
    }

    /// Resets the eventfd's counter after a wake-up (before the events are asked for, so a
    /// signal that comes later wakes the reactor again).
    fn drain_eventfd(&self) {
        if let Some(e) = &self.eventfd {
            let mut n = 0u64;
            // SAFETY: reads 8 bytes into `n`; a non-blocking eventfd with nothing to read
            // returns EAGAIN, which is fine.
            unsafe { libc::read(e.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
        }
    }

    /// Whether the ring runs with `DEFER_TASKRUN`. For tests.
    #[cfg(test)]
    pub(crate) fn deferred(&self) -> bool {
        self.eventfd.is_some()
    }

    /// Queues an entry for a new slot and returns the slot's key. If the submission queue
    /// cannot be made to take it, the operation completes at once with `EBUSY` (the kernel
    /// never saw it, so nothing of it is in the kernel's hands).
    ///
    /// # Safety
    ///
    /// Every pointer in `entry` must stay valid for the kernel until the slot's final
    /// completion: it points into memory the caller hands to the slot's operation (which
    /// parks it in the slot if dropped early) and that does not move with it, such as a
    /// `Vec`'s heap buffer.
    pub(super) unsafe fn push(
        &self,
        entry: squeue::Entry,
        multishot: bool,
        yields_fd: bool,
    ) -> usize {
        let mut inner = self.inner.borrow_mut();
        let state = if multishot {
            State::Multi {
                waker: None,
                results: VecDeque::new(),
                more: true,
            }
        } else {
            State::Single {
                waker: None,
                result: None,
            }
        };
        let key = match inner.free.pop() {
            Some(k) => {
                let slot = &mut inner.slots[k];
                slot.state = state;
                slot.yields_fd = yields_fd;
                slot.generation = slot.generation.wrapping_add(1);
                k
            }
            None => {
                inner.slots.push(Slot {
                    state,
                    yields_fd,
                    generation: 0,
                });
                inner.slots.len() - 1
            }
        };
        let entry = entry.user_data(inner.slots[key].user_data(key));
        // SAFETY: the caller's contract covers every pointer in the entry.
        if !unsafe { inner.push_entry(&entry) } {
            tracing::warn!("io_uring submission queue stayed full; an operation failed");
            match &mut inner.slots[key].state {
                State::Single { result, .. } => *result = Some(-libc::EBUSY),
                State::Multi { results, more, .. } => {
                    results.push_back((-libc::EBUSY, 0));
                    *more = false;
                }
                _ => {}
            }
        }
        key
    }

    /// Submits queued entries without waiting.
    pub(crate) fn submit(&self) {
        if let Ok(inner) = self.inner.try_borrow() {
            let pending = !inner.ring.submission_shared_is_empty();
            if (pending || inner.deferred || inner.taskrun_pending())
                && let Err(e) = inner.submit()
                && !transient(&e)
            {
                tracing::warn!("io_uring submit failed: {e}");
            }
        }
    }

    /// Takes every completion off the ring and wakes the operations they belong to; `true`
    /// if a task was woken (here or while making room to push).
    fn reap(&self) -> bool {
        let mut inner = self.inner.borrow_mut();
        let woke = std::mem::take(&mut inner.woke);
        inner.reap() | woke
    }

    /// Polls a one-shot operation's slot; once it is ready, the slot is free.
    pub(super) fn poll_single(&self, key: usize, cx: &mut Context<'_>) -> Poll<i32> {
        let mut inner = self.inner.borrow_mut();
        match &mut inner.slots[key].state {
            State::Single {
                result: Some(r), ..
            } => {
                let r = *r;
                inner.release(key);
                Poll::Ready(r)
            }
            State::Single { waker, .. } => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            // Unreachable while the operation holds its key (a slot is released only by its
            // owner or, once orphaned, by its final completion).
            _ => Poll::Ready(-libc::ECANCELED),
        }
    }

    /// Polls a multishot operation's slot: the next result and its flags, or `None` once it
    /// has ended (the slot is then free).
    pub(super) fn poll_multi(&self, key: usize, cx: &mut Context<'_>) -> Poll<Option<(i32, u32)>> {
        let mut inner = self.inner.borrow_mut();
        match &mut inner.slots[key].state {
            State::Multi {
                results,
                more,
                waker,
            } => {
                if let Some(r) = results.pop_front() {
                    return Poll::Ready(Some(r));
                }
                if !*more {
                    inner.release(key);
                    return Poll::Ready(None);
                }
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            _ => Poll::Ready(None),
        }
    }

    /// A multishot result already queued, without waiting.
    pub(super) fn try_multi(&self, key: usize) -> Option<(i32, u32)> {
        match &mut self.inner.borrow_mut().slots[key].state {
            State::Multi { results, .. } => results.pop_front(),
            _ => None,
        }
    }

    /// Whether multishot receives into provided buffers are available.
    pub(crate) fn has_buf_ring(&self) -> bool {
        self.inner.borrow().bufs.is_some()
    }

    /// Appends the `len` bytes of provided buffer `bid` to `out` and recycles the buffer.
    pub(crate) fn take_buffer(&self, bid: u16, len: usize, out: &mut Vec<u8>) {
        let mut inner = self.inner.borrow_mut();
        if let Some(bufs) = inner.bufs.as_mut() {
            out.extend_from_slice(bufs.data(bid, len));
            bufs.recycle(bid);
        }
    }

    /// Recycles provided buffer `bid` without reading it.
    pub(crate) fn recycle_buffer(&self, bid: u16) {
        if let Some(bufs) = self.inner.borrow_mut().bufs.as_mut() {
            bufs.recycle(bid);
        }
    }

    /// Gives up on an operation whose future is dropped: results already in are discarded
    /// (buffers recycled, descriptors closed); if the kernel still holds the operation, its
    /// `data` is parked in the slot until the final completion and a cancellation is
    /// submitted.
    pub(super) fn abandon(&self, key: usize, data: Option<Box<dyn Any>>) {
        let mut inner = self.inner.borrow_mut();
        let inner = &mut *inner;
        let yields_fd = inner.slots[key].yields_fd;
        let mut unread = Vec::new();
        let done = match &mut inner.slots[key].state {
            State::Single { result, .. } => {
                unread.extend(result.map(|r| (r, 0)));
                result.is_some()
            }
            State::Multi { results, more, .. } => {
                unread.extend(results.drain(..));
                !*more
            }
            State::Free | State::Orphan(_) => true,
        };
        for (res, flags) in unread {
            inner.discard(res, flags, yields_fd);
        }
        if done {
            inner.release(key);
            return;
        }
        inner.slots[key].state = State::Orphan(data);
        let cancel = opcode::AsyncCancel::new(inner.slots[key].user_data(key))
            .build()
            .user_data(IGNORED);
        // SAFETY: a cancellation points at no memory.
        if !unsafe { inner.push_entry(&cancel) } {
            // The operation stays parked until it completes by itself (or shutdown).
            tracing::warn!("io_uring submission queue stayed full; a cancellation was dropped");
        }
    }

    /// Cancels everything in flight and waits (up to two seconds) for the kernel to finish
    /// with every operation; returns how many it still holds (their memory is then leaked
    /// when the driver is dropped, never freed).
    pub(crate) fn shutdown(&self) -> usize {
        let mut inner = self.inner.borrow_mut();
        let targets: Vec<u64> = (0..inner.slots.len())
            .filter(|&k| inner.slots[k].awaiting_kernel())
            .map(|k| inner.slots[k].user_data(k))
            .collect();
        for target in targets {
            let cancel = opcode::AsyncCancel::new(target).build().user_data(IGNORED);
            // SAFETY: a cancellation points at no memory.
            unsafe { inner.push_entry(&cancel) };
        }
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        loop {
            let left = inner.awaiting_kernel();
            if left == 0 || Instant::now() >= deadline {
                if left == 0 {
                    let inner = &mut *inner;
                    if let Some(bufs) = inner.bufs.as_mut() {
                        bufs.unregister(&inner.ring);
                    }
                } else {
                    tracing::warn!(
                        "io_uring: {left} operations still in the kernel after shutdown; \
                         their buffers are leaked, not freed"
                    );
                }
                return left;
            }
            inner.wait_for_completion(Duration::from_millis(10));
            inner.reap();
        }
    }

    /// Counts of slots: (awaiting the kernel, orphaned). For tests.
    #[cfg(test)]
    pub(crate) fn slot_counts(&self) -> (usize, usize) {
        let inner = self.inner.borrow();
        let orphans = inner
            .slots
            .iter()
            .filter(|s| matches!(s.state, State::Orphan(_)))
            .count();
        (inner.awaiting_kernel(), orphans)
    }
}

/// Runs the reactor: reaps completions whenever the ring's fd turns readable.
pub(crate) async fn run_reactor(driver: Rc<Driver>) -> io::Result<()> {
    // SAFETY: the ring's fd stays open for as long as `driver` lives, and this task holds
    // `driver` for as long as the registration exists (it is dropped first).
    let fd =
        unsafe { AsyncFd::register_with_interest(RingFd(driver.wake_fd()), Interest::READABLE)? };
    loop {
        driver.drain_eventfd();
        driver.submit();
        if driver.reap() {
            // Woken tasks will queue new operations; submit them at the end of this tick.
            tokio::task::yield_now().await;
            continue;
        }
        let mut guard = fd.readable().await?;
        guard.clear_ready();
    }
}

/// A non-blocking eventfd.
fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; a descriptor it returns is owned by nobody else.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor this function owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

struct RingFd(RawFd);

impl AsRawFd for RingFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}
