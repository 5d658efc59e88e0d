//! The sending half of `Sse::channel`.

use tokio::sync::mpsc;

use super::event::Event;
use crate::http::response::BodyClosed;

/// Sends events into the response made by `Sse::channel`; the stream ends when every
/// sender is dropped.
///
/// ```
/// use ember_runtime::{Event, Sse};
///
/// async fn ticks() -> Sse {
///     let (tx, sse) = Sse::channel(8);
///     tokio::task::spawn_local(async move {
///         for i in 0..3 {
///             if tx.send(Event::data(format!("tick {i}")).id(i.to_string())).await.is_err() {
///                 return; // the client went away
///             }
///         }
///     });
///     sse
/// }
/// ```
#[derive(Debug, Clone)]
pub struct EventSender {
    pub(super) tx: mpsc::Sender<Event>,
}

impl EventSender {
    /// Sends one event, waiting while the channel is full (the client reads slowly).
    /// Fails once the client has gone (or the response was dropped).
    pub async fn send(&self, event: Event) -> Result<(), BodyClosed> {
        self.tx.send(event).await.map_err(|_| BodyClosed)
    }

    /// Resolves once the client has gone (or the response was dropped): race it against
    /// slow work so that work stops when nobody will read its result.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    /// Whether the client has gone (or the response was dropped).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}
