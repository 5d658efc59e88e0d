//! One io_uring per worker thread, driven from inside the worker's tokio runtime.
//!
//! Operations push submission entries and return futures; a reactor task reaps completions
//! when tokio reports the ring's fd readable and wakes the futures. Submissions are batched:
//! they are flushed when tokio is about to park the thread (`on_thread_park`) and at the end
//! of each reactor tick, so a burst of operations costs one `io_uring_enter`.
//!
//! The ring is created with `COOP_TASKRUN | TASKRUN_FLAG` (the kernel does not interrupt the
//! thread for every completion; pending task work is run by the next `io_uring_enter`) and
//! `SINGLE_ISSUER` where the kernel supports them.
//!
//! An operation's buffers belong to the driver while the kernel may touch them: if its
//! future is dropped early, the buffers are parked in the slot until the completion arrives,
//! and a cancellation is submitted.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::{IoUring, cqueue, opcode, squeue};

use super::bufring::BufRing;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// `user_data` of entries whose completions nobody waits for (cancellations).
const IGNORED: u64 = u64::MAX;

/// What a slot holds.
enum Slot {
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
    /// The future was dropped; keep its buffers until the kernel is done with them.
    Orphan(#[allow(dead_code)] Option<Box<dyn Any>>),
}

struct Inner {
    ring: IoUring,
    /// The provided-buffer ring for multishot receives, when the kernel has them.
    bufs: Option<BufRing>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    in_flight: usize,
    woke: bool,
}

/// A worker's ring and its operation table.
pub(crate) struct Driver {
    inner: RefCell<Inner>,
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
    /// Creates a ring with `entries` submission slots (trying the cheapest setup flags
    /// first) and, where the kernel supports it, a provided-buffer ring of `num_bufs` ×
    /// `buf_size` bytes for multishot receives.
    pub(crate) fn new(entries: u32, num_bufs: u16, buf_size: u32) -> io::Result<Rc<Driver>> {
        let ring = IoUring::builder()
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
            })?;
        let bufs = match BufRing::new(&ring, num_bufs, buf_size) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::debug!("no provided-buffer ring ({e}); single-shot receives");
                None
            }
        };
        Ok(Rc::new(Driver {
            inner: RefCell::new(Inner {
                ring,
                bufs,
                slots: Vec::new(),
                free: Vec::new(),
                in_flight: 0,
                woke: false,
            }),
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
            }
        });
    }

    fn ring_fd(&self) -> RawFd {
        self.inner.borrow().ring.as_raw_fd()
    }

    /// Queues an entry for a new slot and returns the slot's key.
    fn push(&self, entry: squeue::Entry, multishot: bool) -> usize {
        let mut inner = self.inner.borrow_mut();
        let slot = if multishot {
            Slot::Multi {
                waker: None,
                results: VecDeque::new(),
                more: true,
            }
        } else {
            Slot::Single {
                waker: None,
                result: None,
            }
        };
        let key = match inner.free.pop() {
            Some(k) => {
                inner.slots[k] = slot;
                k
            }
            None => {
                inner.slots.push(slot);
                inner.slots.len() - 1
            }
        };
        inner.in_flight += 1;
        let entry = entry.user_data(key as u64);
        inner.push_entry(&entry);
        key
    }

    /// Submits queued entries without waiting.
    pub(crate) fn submit(&self) {
        if let Ok(inner) = self.inner.try_borrow() {
            let pending = !inner.ring.submission_shared_is_empty();
            if (pending || inner.taskrun_pending())
                && let Err(e) = inner.ring.submit()
                && e.raw_os_error() != Some(libc::EBUSY)
                && e.raw_os_error() != Some(libc::EINTR)
            {
                tracing::warn!("io_uring submit failed: {e}");
            }
        }
    }

    /// Takes every completion off the ring and wakes the operations they belong to.
    fn reap(&self) -> bool {
        let mut inner = self.inner.borrow_mut();
        let inner = &mut *inner;
        let mut woke = std::mem::take(&mut inner.woke);
        // Safety of the shared view: this thread is the ring's only user.
        let mut cq = inner.ring.completion();
        cq.sync();
        let mut orphans_done: Vec<usize> = Vec::new();
        for cqe in &mut cq {
            let key = cqe.user_data();
            if key == IGNORED {
                continue;
            }
            let key = key as usize;
            let more = cqueue::more(cqe.flags());
            match inner.slots.get_mut(key) {
                Some(Slot::Single { waker, result }) => {
                    *result = Some(cqe.result());
                    if let Some(w) = waker.take() {
                        w.wake();
                        woke = true;
                    }
                }
                Some(Slot::Multi {
                    waker,
                    results,
                    more: m,
                }) => {
                    results.push_back((cqe.result(), cqe.flags()));
                    *m = more;
                    if let Some(w) = waker.take() {
                        w.wake();
                        woke = true;
                    }
                }
                Some(Slot::Orphan(_)) => {
                    if let (Some(bid), Some(bufs)) =
                        (cqueue::buffer_select(cqe.flags()), inner.bufs.as_mut())
                    {
                        bufs.recycle(bid);
                    }
                    if !more {
                        orphans_done.push(key);
                    }
                }
                Some(Slot::Free) | None => {}
            }
        }
        drop(cq);
        for key in orphans_done {
            inner.release(key);
        }
        woke
    }

    /// Polls a one-shot operation's slot.
    fn poll_single(&self, key: usize, cx: &mut Context<'_>) -> Poll<i32> {
        let mut inner = self.inner.borrow_mut();
        match &mut inner.slots[key] {
            Slot::Single {
                result: Some(r), ..
            } => {
                let r = *r;
                inner.release(key);
                Poll::Ready(r)
            }
            Slot::Single { waker, .. } => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            _ => Poll::Ready(-libc::ECANCELED),
        }
    }

    /// Polls a multishot operation's slot: the next result and its flags, or `None` once it
    /// has ended.
    fn poll_multi(&self, key: usize, cx: &mut Context<'_>) -> Poll<Option<(i32, u32)>> {
        let mut inner = self.inner.borrow_mut();
        match &mut inner.slots[key] {
            Slot::Multi {
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
    fn try_multi(&self, key: usize) -> Option<(i32, u32)> {
        match &mut self.inner.borrow_mut().slots[key] {
            Slot::Multi { results, .. } => results.pop_front(),
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

    /// Gives up on an operation: park its data until completion and ask the kernel to cancel.
    fn abandon(&self, key: usize, data: Option<Box<dyn Any>>) {
        let mut inner = self.inner.borrow_mut();
        // Buffers of results nobody will read go back to the ring.
        if let Slot::Multi { results, .. } = &mut inner.slots[key] {
            let bids: Vec<u16> = results
                .drain(..)
                .filter_map(|(_, f)| cqueue::buffer_select(f))
                .collect();
            if let Some(bufs) = inner.bufs.as_mut() {
                for bid in bids {
                    bufs.recycle(bid);
                }
            }
        }
        let done = match &inner.slots[key] {
            Slot::Single { result, .. } => result.is_some(),
            Slot::Multi { more, .. } => !*more,
            _ => true,
        };
        if done {
            inner.release(key);
            return;
        }
        inner.slots[key] = Slot::Orphan(data);
        let cancel = opcode::AsyncCancel::new(key as u64)
            .build()
            .user_data(IGNORED);
        inner.push_entry(&cancel);
    }

    /// Cancels everything in flight and waits (bounded) for the kernel to let go of buffers.
    pub(crate) fn shutdown(&self) {
        let keys: Vec<usize> = {
            let inner = self.inner.borrow();
            inner
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| !matches!(s, Slot::Free))
                .map(|(k, _)| k)
                .collect()
        };
        {
            let mut inner = self.inner.borrow_mut();
            for k in keys {
                let cancel = opcode::AsyncCancel::new(k as u64)
                    .build()
                    .user_data(IGNORED);
                inner.push_entry(&cancel);
            }
        }
        for _ in 0..100 {
            {
                let mut inner = self.inner.borrow_mut();
                if inner.in_flight == 0 {
                    let inner = &mut *inner;
                    if let Some(bufs) = inner.bufs.as_mut() {
                        bufs.unregister(&inner.ring);
                    }
                    return;
                }
                let _ = inner.ring.submitter().submit_with_args(
                    1,
                    &io_uring::types::SubmitArgs::new()
                        .timespec(&io_uring::types::Timespec::new().nsec(10_000_000)),
                );
            }
            self.reap_all_as_orphans();
        }
    }

    /// During shutdown: every completion releases its slot.
    fn reap_all_as_orphans(&self) {
        let mut inner = self.inner.borrow_mut();
        let inner = &mut *inner;
        let mut done = Vec::new();
        let mut cq = inner.ring.completion();
        cq.sync();
        for cqe in &mut cq {
            if cqe.user_data() != IGNORED && !cqueue::more(cqe.flags()) {
                done.push(cqe.user_data() as usize);
            }
        }
        drop(cq);
        for k in done {
            if !matches!(inner.slots.get(k), Some(Slot::Free) | None) {
                inner.release(k);
            }
        }
    }
}

impl Inner {
    fn push_entry(&mut self, entry: &squeue::Entry) {
        loop {
            // SAFETY: every buffer an entry points to is owned by its slot (or the future
            // that owns the slot) until the entry's final completion is reaped.
            let pushed = unsafe { self.ring.submission().push(entry) };
            if pushed.is_ok() {
                return;
            }
            // Queue full: hand what we have to the kernel and retry.
            if let Err(e) = self.ring.submit() {
                tracing::warn!("io_uring submit (queue full) failed: {e}");
            }
        }
    }

    fn release(&mut self, key: usize) {
        self.slots[key] = Slot::Free;
        self.free.push(key);
        self.in_flight -= 1;
    }

    fn taskrun_pending(&self) -> bool {
        // SAFETY: reading the shared flags word is how liburing checks it too.
        unsafe { self.ring.submission_shared().taskrun() }
    }
}

trait SubmissionEmpty {
    fn submission_shared_is_empty(&self) -> bool;
}

impl SubmissionEmpty for IoUring {
    fn submission_shared_is_empty(&self) -> bool {
        // SAFETY: only this thread touches the submission queue.
        unsafe { self.submission_shared().is_empty() }
    }
}

/// Runs the reactor: reaps completions whenever the ring's fd turns readable.
pub(crate) async fn run_reactor(driver: Rc<Driver>) -> io::Result<()> {
    // SAFETY: the ring's fd stays open for as long as `driver` lives, and `driver` outlives
    // this registration (both are owned by this task).
    let fd =
        unsafe { AsyncFd::register_with_interest(RingFd(driver.ring_fd()), Interest::READABLE)? };
    loop {
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

struct RingFd(RawFd);

impl AsRawFd for RingFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// A one-shot operation whose buffers (`T`) the driver holds while the kernel works.
pub(crate) struct Op<T: 'static> {
    driver: Rc<Driver>,
    key: usize,
    data: Option<T>,
}

impl<T: 'static> Op<T> {
    /// Queues `entry`; `data` must own every buffer the entry points into.
    pub(crate) fn new(driver: &Rc<Driver>, entry: squeue::Entry, data: T) -> Self {
        let key = driver.push(entry, false);
        Op {
            driver: driver.clone(),
            key,
            data: Some(data),
        }
    }
}

impl<T: 'static + Unpin> Future for Op<T> {
    type Output = (i32, T);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(i32, T)> {
        match self.driver.poll_single(self.key, cx) {
            Poll::Ready(r) => match self.data.take() {
                Some(d) => Poll::Ready((r, d)),
                None => Poll::Pending,
            },
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: 'static> Drop for Op<T> {
    fn drop(&mut self) {
        if let Some(data) = self.data.take() {
            self.driver.abandon(self.key, Some(Box::new(data)));
        }
    }
}

/// A multishot operation (accept): a stream of results until the kernel ends it.
pub(crate) struct MultiOp {
    driver: Rc<Driver>,
    key: Option<usize>,
}

impl MultiOp {
    /// Queues a multishot `entry`.
    pub(crate) fn new(driver: &Rc<Driver>, entry: squeue::Entry) -> Self {
        let key = driver.push(entry, true);
        MultiOp {
            driver: driver.clone(),
            key: Some(key),
        }
    }

    /// A result already queued, without waiting.
    pub(crate) fn try_next(&mut self) -> Option<(i32, u32)> {
        let key = self.key?;
        self.driver.try_multi(key)
    }

    /// The next result and its CQE flags, or `None` once the operation has ended (re-arm it).
    pub(crate) async fn next(&mut self) -> Option<(i32, u32)> {
        let key = self.key?;
        let r = std::future::poll_fn(|cx| self.driver.poll_multi(key, cx)).await;
        if r.is_none() {
            self.key = None;
        }
        r
    }
}

impl Drop for MultiOp {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // Recycles any queued buffers, then releases the slot or cancels the operation.
            self.driver.abandon(key, None);
        }
    }
}
