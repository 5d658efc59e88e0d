//! The streaming body: SSE events paced at the plan's token rate, with the client's
//! disconnect recorded when the body is dropped before its end.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::time::Sleep;

use crate::control::{self, now_ms};

/// Pacing of one stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    /// Pause before the first token.
    pub(crate) ttft_ms: u64,
    /// Pause before each later token.
    pub(crate) interval_ms: u64,
    /// Abort the connection after this many tokens.
    pub(crate) fail_after: Option<u64>,
}

/// Tracks one open answer in the stats: closing it, or dropping it unclosed (the client
/// went away), is recorded.
#[derive(Debug)]
pub(crate) struct Open {
    started_ms: u64,
    model: String,
    /// Tokens sent so far.
    pub(crate) tokens_sent: u64,
    done: bool,
}

impl Open {
    /// Counts a new open answer for `model`.
    pub(crate) fn new(model: &str) -> Open {
        control::with(|s| s.open());
        Open {
            started_ms: now_ms(),
            model: model.to_owned(),
            tokens_sent: 0,
            done: false,
        }
    }

    /// The answer reached its end (or its injected failure).
    pub(crate) fn finish(&mut self) {
        if !self.done {
            self.done = true;
            control::with(|s| s.close(self.started_ms, &self.model, self.tokens_sent, false));
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if !self.done {
            control::with(|s| s.close(self.started_ms, &self.model, self.tokens_sent, true));
        }
    }
}

/// An SSE body: the events of a plan, sent as they fall due (events due at the same time
/// go out in one frame).
#[derive(Debug)]
pub(crate) struct TokenBody {
    events: VecDeque<(bool, Vec<u8>)>,
    pace: Pace,
    waited: bool,
    sleep: Option<Pin<Box<Sleep>>>,
    fail_now: bool,
    fail_flushed: bool,
    sent_any: bool,
    open: Open,
}

impl TokenBody {
    /// A body sending `events` (flagged: content token or not) at `pace`.
    pub(crate) fn new(events: Vec<(bool, Vec<u8>)>, pace: Pace, open: Open) -> TokenBody {
        TokenBody {
            events: events.into(),
            pace,
            waited: false,
            sleep: None,
            fail_now: false,
            fail_flushed: false,
            sent_any: false,
            open,
        }
    }
}

impl Body for TokenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        if let Some(sleep) = &mut this.sleep {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
            this.waited = true;
        }
        if this.fail_now {
            if !this.fail_flushed {
                // hyper drops what it has not written when a body fails: let it flush the
                // tokens before the failure first (it does when the body is pending).
                this.fail_flushed = true;
                let mut s = Box::pin(tokio::time::sleep(Duration::from_millis(20)));
                if s.as_mut().poll(cx).is_pending() {
                    this.sleep = Some(s);
                    return Poll::Pending;
                }
            }
            this.open.finish();
            return Poll::Ready(Some(Err(std::io::Error::other("injected failure"))));
        }
        let mut buf = Vec::new();
        while let Some(&(is_token, _)) = this.events.front() {
            if is_token && this.pace.fail_after == Some(this.open.tokens_sent) {
                this.fail_now = true;
                break;
            }
            // The first event (the role chunk) comes after the time to first token; each
            // later token after the token interval.
            let delay = if !this.sent_any {
                this.pace.ttft_ms
            } else if is_token && this.open.tokens_sent > 0 {
                this.pace.interval_ms
            } else {
                0
            };
            if delay > 0 && !this.waited {
                if !buf.is_empty() {
                    break;
                }
                let mut s = Box::pin(tokio::time::sleep(Duration::from_millis(delay)));
                if s.as_mut().poll(cx).is_pending() {
                    this.sleep = Some(s);
                    return Poll::Pending;
                }
            }
            this.waited = false;
            this.sent_any = true;
            if is_token {
                this.open.tokens_sent += 1;
            }
            if let Some((_, bytes)) = this.events.pop_front() {
                buf.extend_from_slice(&bytes);
            }
        }
        if !buf.is_empty() {
            if this.events.is_empty() && !this.fail_now {
                this.open.finish();
            }
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))));
        }
        if this.fail_now {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.open.finish();
        Poll::Ready(None)
    }
}
