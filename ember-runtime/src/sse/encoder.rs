//! The body of an `Sse` response: events in, one encoded chunk out per event, keep-alive
//! comments while nothing else is sent, and an optional last event when the events end.

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::event::Event;

/// What a keep-alive sends: a bare comment line and the blank line after it.
pub(crate) const KEEP_ALIVE: &[u8] = b":\n\n";
/// Room the encoding buffer starts with, enough for most events.
const FIRST_BUF: usize = 512;

/// Where an `Sse` response's events come from.
pub(crate) enum Source {
    /// A stream of events.
    Events(Pin<Box<dyn Stream<Item = Event>>>),
    /// A stream of text tokens, each sent as one `data:` event.
    Tokens(Pin<Box<dyn TokenSource>>),
    /// The receiving half of `Sse::channel`.
    Channel(tokio::sync::mpsc::Receiver<Event>),
}

/// A stream of tokens of any type that turns into text (erased behind one box, without a
/// second one for the mapping).
pub(crate) trait TokenSource {
    /// The next token, as text.
    fn poll_token(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Cow<'static, str>>>;
}

impl<S, T> TokenSource for S
where
    S: Stream<Item = T>,
    T: Into<Cow<'static, str>>,
{
    fn poll_token(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Cow<'static, str>>> {
        self.poll_next(cx).map(|t| t.map(Into::into))
    }
}

impl Source {
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        match self {
            Source::Events(s) => s.as_mut().poll_next(cx),
            Source::Tokens(s) => s.as_mut().poll_token(cx).map(|t| t.map(Event::data)),
            Source::Channel(rx) => rx.poll_recv(cx),
        }
    }
}

/// Keep-alive state: a comment goes out on a tick only if nothing was sent since the last
/// one, so a busy stream pays one flag write per event and no timer reset.
struct KeepAlive {
    every: Duration,
    /// Made on the first poll (inside the runtime, which timers need).
    timer: Option<Interval>,
    sent: bool,
}

/// The encoded body stream of an `Sse` response.
pub(crate) struct Encoder {
    source: Source,
    /// One buffer reused for every event: each is encoded into it and split off; once the
    /// connection has written (and dropped) it, the space is reclaimed, so a steady stream
    /// allocates nothing per event.
    buf: BytesMut,
    keep_alive: Option<KeepAlive>,
    end: Option<Event>,
    done: bool,
}

impl Encoder {
    /// Encodes `source`'s events, with a keep-alive comment after each `keep_alive` of
    /// silence (none if `None`) and `end` after the last event.
    pub(crate) fn new(source: Source, keep_alive: Option<Duration>, end: Option<Event>) -> Self {
        Encoder {
            source,
            buf: BytesMut::new(),
            keep_alive: keep_alive.map(|every| KeepAlive {
                every,
                timer: None,
                sent: false,
            }),
            end,
            done: false,
        }
    }

    fn encode(&mut self, event: &Event) -> Bytes {
        if self.buf.capacity() == 0 {
            self.buf.reserve(FIRST_BUF.max(event.size_hint()));
        }
        event.encode(&mut self.buf);
        self.buf.split().freeze()
    }
}

impl Stream for Encoder {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match this.source.poll_event(cx) {
            Poll::Ready(Some(event)) => {
                if let Some(k) = &mut this.keep_alive {
                    k.sent = true;
                }
                return Poll::Ready(Some(this.encode(&event)));
            }
            Poll::Ready(None) => {
                this.done = true;
                let end = this.end.take();
                return Poll::Ready(end.map(|e| this.encode(&e)));
            }
            Poll::Pending => {}
        }
        if let Some(k) = &mut this.keep_alive {
            let every = k.every;
            let timer = k.timer.get_or_insert_with(|| {
                let mut t = tokio::time::interval_at(Instant::now() + every, every);
                t.set_missed_tick_behavior(MissedTickBehavior::Delay);
                t
            });
            while timer.poll_tick(cx).is_ready() {
                if !std::mem::take(&mut k.sent) {
                    return Poll::Ready(Some(Bytes::from_static(KEEP_ALIVE)));
                }
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream over a vector, ready at once.
    struct Items<T>(std::vec::IntoIter<T>);

    impl<T: Unpin> Stream for Items<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<T>> {
            Poll::Ready(self.0.next())
        }
    }

    async fn next(e: &mut Encoder) -> Option<Bytes> {
        std::future::poll_fn(|cx| Pin::new(&mut *e).poll_next(cx)).await
    }

    fn poll(e: &mut Encoder) -> Poll<Option<Bytes>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Pin::new(e).poll_next(&mut cx)
    }

    #[test]
    fn tokens_become_data_events_then_the_end_event() {
        let tokens = Items(vec!["Hel", "lo\nthere"].into_iter());
        let mut e = Encoder::new(
            Source::Tokens(Box::pin(tokens)),
            None,
            Some(Event::data("[DONE]")),
        );
        let mut wire = Vec::new();
        while let Poll::Ready(Some(b)) = poll(&mut e) {
            wire.push(String::from_utf8(b.to_vec()).expect("utf8"));
        }
        assert_eq!(
            wire,
            [
                "data: Hel\n\n",
                "data: lo\ndata: there\n\n",
                "data: [DONE]\n\n"
            ]
        );
        assert_eq!(poll(&mut e), Poll::Ready(None), "fused after the end");
    }

    #[test]
    fn events_reuse_one_buffer() {
        let events: Vec<Event> = (0..100)
            .map(|i| Event::data(format!("event {i}")))
            .collect();
        let mut e = Encoder::new(
            Source::Events(Box::pin(Items(events.into_iter()))),
            None,
            None,
        );
        let Poll::Ready(Some(first)) = poll(&mut e) else {
            panic!("no first event")
        };
        let at = first.as_ptr();
        drop(first);
        for _ in 1..100 {
            let Poll::Ready(Some(b)) = poll(&mut e) else {
                panic!("ended early")
            };
            let off = (b.as_ptr() as usize).wrapping_sub(at as usize);
            assert!(off < FIRST_BUF, "event {b:?} left the first allocation");
        }
    }

    #[test]
    fn keep_alive_comments_fill_silence_only() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            let every = Duration::from_millis(40);
            let mut e = Encoder::new(Source::Channel(rx), Some(every), None);
            let t0 = Instant::now();
            assert_eq!(next(&mut e).await.as_deref(), Some(KEEP_ALIVE));
            assert!(t0.elapsed() >= every);
            tx.send(Event::data("x")).await.expect("send");
            assert_eq!(next(&mut e).await.as_deref(), Some(&b"data: x\n\n"[..]));
            // Sent within the tick: that tick is skipped, the next one keeps alive.
            let t1 = Instant::now();
            assert_eq!(next(&mut e).await.as_deref(), Some(KEEP_ALIVE));
            assert!(t1.elapsed() >= every, "{:?}", t1.elapsed());
            drop(tx);
            assert_eq!(next(&mut e).await, None);
        });
    }
}
