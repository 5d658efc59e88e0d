//! Server-sent events: [`Sse`], a response built from a stream of [`Event`]s.
//!
//! A handler returns an [`Sse`] (it implements [`IntoResponse`]); the runtime sends it as
//! `200 OK`, `Content-Type: text/event-stream`, `Cache-Control: no-cache`, with the
//! chunked transfer coding (HTTP/1.1; HTTP/1.0 clients get a body delimited by the close).
//! Each event is encoded into one reused buffer and written as soon as it is produced —
//! one write per event, nothing buffered behind it.
//!
//! * Events come from any `Stream<Item = Event>` ([`Sse::new`]), from a channel fed by a
//!   task ([`Sse::channel`]), or from a stream of text tokens ([`Sse::tokens`]: one `data:`
//!   event per token, then `data: [DONE]`).
//! * While nothing is sent, a comment line (`:`) goes out every 15 s so proxies keep the
//!   connection open ([`Sse::keep_alive`] changes or disables it).
//! * A graceful server shutdown ends the stream with [`Sse::on_shutdown`]'s event, if set.
//! * A client that disconnects ends the stream at once, even an idle one: the runtime
//!   watches the connection while the response streams and drops the event stream (and
//!   with it whatever feeds it: a channel's [`EventSender::send`] fails, an upstream
//!   request held by the stream is cancelled).
//! * A reconnecting client's `Last-Event-ID` header is [`Request::last_event_id`].
//!
//! ```
//! use std::time::Duration;
//! use ember_runtime::{Event, Request, Sse};
//!
//! /// `GET /ticks`: a numbered tick a second, resuming after the client's last one.
//! async fn ticks(req: &Request<'_>) -> Sse {
//!     let mut n: u64 = req.last_event_id().and_then(|id| id.parse().ok()).unwrap_or(0);
//!     let (tx, sse) = Sse::channel(16);
//!     tokio::task::spawn_local(async move {
//!         loop {
//!             n += 1;
//!             let event = Event::data(format!("tick {n}")).event("tick").id(n.to_string());
//!             if tx.send(event).await.is_err() {
//!                 return; // the client is gone
//!             }
//!             tokio::time::sleep(Duration::from_secs(1)).await;
//!         }
//!     });
//!     sse.keep_alive(Duration::from_secs(10))
//!         .on_shutdown(Event::data("server restarting").event("bye"))
//! }
//! ```
//!
//! [`IntoResponse`]: crate::IntoResponse
//! [`Request::last_event_id`]: crate::Request::last_event_id

mod channel;
mod encoder;
mod event;

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use futures_core::Stream;

pub use channel::EventSender;
use encoder::{Encoder, Source};
pub use event::Event;

use crate::http::response::{IntoResponse, Response};

/// How long a stream may stay silent before a keep-alive comment, unless changed.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A server-sent-events response: a stream of [`Event`]s, sent one write per event.
///
/// Build it with [`Sse::new`], [`Sse::channel`] or [`Sse::tokens`], adjust it with
/// [`Sse::keep_alive`], [`Sse::on_shutdown`] and [`Sse::on_end`], and return it from a
/// handler (see the [module docs](crate::sse)).
///
/// ```
/// use ember_runtime::{IntoResponse, Sse};
///
/// let (_tx, sse) = Sse::channel(4);
/// let resp = sse.into_response();
/// assert_eq!(resp.content_type(), Some("text/event-stream"));
/// assert!(resp.is_stream());
/// ```
pub struct Sse {
    source: Source,
    keep_alive: Option<Duration>,
    shutdown: Option<Event>,
    end: Option<Event>,
}

impl fmt::Debug for Sse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sse")
            .field("keep_alive", &self.keep_alive)
            .field("on_shutdown", &self.shutdown)
            .field("on_end", &self.end)
            .finish_non_exhaustive()
    }
}

impl Sse {
    fn with_source(source: Source, end: Option<Event>) -> Sse {
        Sse {
            source,
            keep_alive: Some(DEFAULT_KEEP_ALIVE),
            shutdown: None,
            end,
        }
    }

    /// Sends each event of `events` as it is produced; the response ends when the stream
    /// does.
    pub fn new<S>(events: S) -> Sse
    where
        S: Stream<Item = Event> + 'static,
    {
        Sse::with_source(Source::Events(Box::pin(events)), None)
    }

    /// An event stream fed through a channel of `capacity` events: send with the returned
    /// [`EventSender`] (from a task spawned with `tokio::task::spawn_local`, say); the
    /// response ends when every sender is dropped, and sends fail once the client is gone.
    pub fn channel(capacity: usize) -> (EventSender, Sse) {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
        (
            EventSender { tx },
            Sse::with_source(Source::Channel(rx), None),
        )
    }

    /// A stream of text tokens (an LLM's output, say): each token is one `data:` event
    /// (a token with line breaks spans several `data:` lines, which the client joins
    /// back). When the token stream ends, `data: [DONE]` is sent (OpenAI's end marker, so
    /// clients know the answer is complete rather than cut off) and the response ends;
    /// [`Sse::on_end`] changes or removes that last event. A client that disconnects drops
    /// the token stream, which cancels whatever produces it.
    ///
    /// ```
    /// use std::pin::Pin;
    /// use std::task::{Context, Poll};
    /// use ember_runtime::{IntoResponse, Sse};
    ///
    /// /// Tokens from a list (a model client's stream in a real handler).
    /// struct Canned(std::vec::IntoIter<String>);
    ///
    /// impl futures_core::Stream for Canned {
    ///     type Item = String;
    ///     fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<String>> {
    ///         Poll::Ready(self.0.next())
    ///     }
    /// }
    ///
    /// async fn answer() -> Sse {
    ///     Sse::tokens(Canned(vec!["Hello".into(), ", world".into()].into_iter()))
    /// }
    /// ```
    pub fn tokens<S, T>(tokens: S) -> Sse
    where
        S: Stream<Item = T> + 'static,
        T: Into<Cow<'static, str>>,
    {
        Sse::with_source(
            Source::Tokens(Box::pin(tokens)),
            Some(Event::data("[DONE]")),
        )
    }

    /// Sends a keep-alive comment (`:`) whenever `every` passed with nothing else sent
    /// (checked once per `every`: a comment follows the last event within one to two
    /// intervals). `None` or zero disables keep-alives. The default is
    /// [`DEFAULT_KEEP_ALIVE`] (15 s). A disconnected client is noticed without them.
    pub fn keep_alive(mut self, every: impl Into<Option<Duration>>) -> Sse {
        self.keep_alive = every.into().filter(|d| !d.is_zero());
        self
    }

    /// The event to send last if the server shuts down gracefully while the stream is still
    /// running (`event: shutdown`, say, so clients know why it ended and when to come back
    /// with [`Event::retry`]).
    pub fn on_shutdown(mut self, last: Event) -> Sse {
        self.shutdown = Some(last);
        self
    }

    /// The event to send after the stream's last event when it ends normally (not on
    /// shutdown or disconnect); `None` sends nothing more. Only [`Sse::tokens`] has one by
    /// default (`data: [DONE]`).
    pub fn on_end(mut self, last: impl Into<Option<Event>>) -> Sse {
        self.end = last.into();
        self
    }
}

impl IntoResponse for Sse {
    fn into_response(self) -> Response {
        let shutdown = self.shutdown.as_ref().map(Event::to_bytes);
        let response = Response::stream(Encoder::new(self.source, self.keep_alive, self.end))
            .with_content_type("text/event-stream")
            .header("Cache-Control", "no-cache");
        match shutdown {
            Some(last) => response.with_final_chunk(last),
            None => response,
        }
    }
}
