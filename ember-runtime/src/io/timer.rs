//! Coarse per-worker deadlines: no timer-wheel entry and no syscall per request.
//!
//! Each connection owns one [`ConnTimer`]. Arming it is a `Cell` write against the worker's
//! coarse clock; a sweeper that runs every [`TICK`] marks expired timers and wakes their
//! connections. Deadlines are therefore accurate to about one tick, which is what request
//! timeouts measured in seconds need, and the hot path pays nothing for them.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How often the sweeper runs (and so the resolution of every deadline).
pub(crate) const TICK: Duration = Duration::from_millis(250);

/// One connection's deadline.
#[derive(Debug, Default)]
pub(crate) struct ConnTimer {
    /// Coarse milliseconds at which the timer fires; `u64::MAX` when disarmed.
    at: Cell<u64>,
    expired: Cell<bool>,
    /// The connection waits for a new request (between requests, nothing buffered): a
    /// shutdown ends the wait at once.
    idle: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl ConnTimer {
    /// Whether the deadline has passed (and it has not been re-armed since).
    pub(crate) fn expired(&self) -> bool {
        self.expired.get()
    }

    /// Marks the connection as waiting for a new request (or not any more).
    pub(crate) fn set_idle(&self, idle: bool) {
        self.idle.set(idle);
    }

    fn register(&self, cx: &Context<'_>) {
        let mut w = self.waker.borrow_mut();
        match &*w {
            Some(old) if old.will_wake(cx.waker()) => {}
            _ => *w = Some(cx.waker().clone()),
        }
    }
}

/// The worker's coarse clock and its connections' timers.
#[derive(Debug)]
pub(crate) struct Timers {
    start: Instant,
    now_ms: Cell<u64>,
    timers: RefCell<Vec<Rc<ConnTimer>>>,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            start: Instant::now(),
            now_ms: Cell::new(0),
            timers: RefCell::new(Vec::new()),
        }
    }
}

impl Timers {
    /// Registers a connection's timer (disarmed).
    pub(crate) fn register(&self) -> Rc<ConnTimer> {
        let t = Rc::new(ConnTimer {
            at: Cell::new(u64::MAX),
            ..ConnTimer::default()
        });
        self.timers.borrow_mut().push(t.clone());
        t
    }

    /// Arms `timer` to fire `after` from now (replacing any earlier deadline).
    pub(crate) fn arm(&self, timer: &ConnTimer, after: Duration) {
        let ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        timer.at.set(self.now_ms.get().saturating_add(ms));
        timer.expired.set(false);
    }

    /// Disarms `timer`.
    pub(crate) fn disarm(&self, timer: &ConnTimer) {
        timer.at.set(u64::MAX);
        timer.expired.set(false);
    }

    /// Advances the clock, fires due timers, and forgets those of finished connections.
    /// Expires the timers of idle connections now (a shutdown began): their waits end with
    /// [`TimedOut`], and they close. Connections in the middle of a request are left alone.
    pub(crate) fn expire_idle(&self) {
        let mut due = Vec::new();
        for t in self.timers.borrow().iter() {
            if t.idle.get() && !t.expired.get() {
                t.expired.set(true);
                if let Some(w) = t.waker.borrow_mut().take() {
                    due.push(w);
                }
            }
        }
        for w in due {
            w.wake();
        }
    }

    pub(crate) fn sweep(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.now_ms.set(now);
        let mut due = Vec::new();
        self.timers.borrow_mut().retain(|t| {
            if Rc::strong_count(t) == 1 {
                return false;
            }
            if t.at.get() <= now && !t.expired.get() {
                t.expired.set(true);
                if let Some(w) = t.waker.borrow_mut().take() {
                    due.push(w);
                }
            }
            true
        });
        // Wake outside the borrow: a woken task may register a new timer.
        for w in due {
            w.wake();
        }
    }
}

/// The deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimedOut;

/// Runs `fut` until it finishes or `timer` expires.
pub(crate) fn timed<'t, F: Future>(timer: &'t ConnTimer, fut: F) -> Timed<'t, F> {
    Timed { timer, fut }
}

/// See [`timed`].
pub(crate) struct Timed<'t, F> {
    timer: &'t ConnTimer,
    fut: F,
}

impl<F: Future> Future for Timed<'_, F> {
    type Output = Result<F::Output, TimedOut>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of `fut`, which is never moved out; `timer` is a
        // shared reference.
        let this = unsafe { self.get_unchecked_mut() };
        if this.timer.expired() {
            return Poll::Ready(Err(TimedOut));
        }
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        match fut.poll(cx) {
            Poll::Ready(v) => Poll::Ready(Ok(v)),
            Poll::Pending => {
                this.timer.register(cx);
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_fires_due_timers_and_forgets_dropped_ones() {
        let timers = Timers::default();
        let a = timers.register();
        let b = timers.register();
        timers.arm(&a, Duration::ZERO);
        timers.arm(&b, Duration::from_secs(3600));
        timers.sweep();
        assert!(a.expired());
        assert!(!b.expired());
        timers.arm(&a, Duration::from_secs(3600));
        assert!(!a.expired(), "re-arming clears expiry");
        drop(b);
        timers.sweep();
        assert_eq!(timers.timers.borrow().len(), 1);
    }

    #[test]
    fn a_shutdown_expires_idle_connections_only() {
        let timers = Timers::default();
        let idle = timers.register();
        let busy = timers.register();
        timers.arm(&idle, Duration::from_secs(3600));
        timers.arm(&busy, Duration::from_secs(3600));
        idle.set_idle(true);
        timers.expire_idle();
        assert!(idle.expired(), "an idle connection's wait ends");
        assert!(
            !busy.expired(),
            "a connection mid-request keeps its deadline"
        );
    }

    #[test]
    fn timed_future_yields_to_expiry() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("rt");
        let timers = Timers::default();
        let t = timers.register();
        timers.arm(&t, Duration::ZERO);
        let r = rt.block_on(async {
            let pending = std::future::pending::<()>();
            let fut = timed(&t, pending);
            let mut fut = std::pin::pin!(fut);
            // First poll registers; the sweep then expires and wakes it.
            assert!(futures_poll_once(fut.as_mut()).await.is_none());
            timers.sweep();
            fut.await
        });
        assert_eq!(r, Err(TimedOut));
    }

    async fn futures_poll_once<F: Future + Unpin>(mut f: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| match Pin::new(&mut f).poll(cx) {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending => Poll::Ready(None),
        })
        .await
    }
}
