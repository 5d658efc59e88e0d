//! The one user AI handler (the gateway routes need none).

use ember_runtime::ai::{AiError, ChatRequest, Message, Model};
use ember_runtime::{IntoResponse, Response, Sse};

/// What the model is asked before the client's messages.
const SUMMARIZE: &str = "Summarize the conversation so far in one short sentence.";

/// `POST /v1/summarize`: a chat request (its `model` may be omitted) summarized by
/// `ember-chat` in one sentence, streamed back as server-sent events, one `data:` event per
/// token (one write each) and `data: [DONE]` at the end, with `x-ember-model` naming the
/// upstream that serves it. Errors before the first token are OpenAI error bodies
/// (`AiError`).
pub async fn summarize(mut chat: ChatRequest, model: &'static Model) -> Result<Response, AiError> {
    chat.messages.insert(0, Message::system(SUMMARIZE));
    let tokens = model.stream(chat).await?;
    let upstream = tokens.upstream();
    Ok(Sse::tokens(tokens.text())
        .into_response()
        .header("x-ember-model", upstream))
}
