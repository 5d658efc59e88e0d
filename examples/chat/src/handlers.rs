//! The one user AI handler (the gateway routes need none).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use ember_runtime::Response;
use ember_runtime::ai::{AiError, ChatRequest, Message, Model, TextStream};
use futures_core::Stream;

/// What the model is asked before the client's messages.
const SUMMARIZE: &str = "Summarize the conversation so far in one short sentence.";

/// `POST /v1/summarize`: a chat request (its `model` may be omitted) summarized by
/// `ember-chat` in one sentence, streamed back as plain text token by token (one write per
/// token), with `x-ember-model` naming the upstream that serves it. Errors before the first
/// token are OpenAI error bodies (`AiError`).
pub async fn summarize(mut chat: ChatRequest, model: &'static Model) -> Result<Response, AiError> {
    chat.messages.insert(0, Message::system(SUMMARIZE));
    let tokens = model.stream(chat).await?;
    let upstream = tokens.upstream();
    Ok(Response::stream(Text(tokens.text()))
        .with_content_type("text/plain; charset=utf-8")
        .header("x-ember-model", upstream))
}

/// The text deltas of a token stream as body chunks.
struct Text(TextStream);

impl Stream for Text {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        Pin::new(&mut self.0)
            .poll_next(cx)
            .map(|t| t.map(Bytes::from))
    }
}
