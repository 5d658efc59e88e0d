//! `ai:` in generated code: the models as one `const`-built `AI_SPEC`, the process-wide
//! `AI` cell made from it when the first worker starts (upstream environment variables are
//! read then, at run time), the gateway endpoints, and what a user AI handler is passed.

use crate::code::{Code, Millis, OptStr, Str, close, open, w};
use crate::plan::ai::gateway_fn;
use crate::plan::{AiRoute, Gateway, Plan, Strategy};

/// How the generated code reaches the AI runtime.
const AI: &str = "::ember_runtime::__private::ai";

/// `AI_SPEC`, `AI` and the gateway functions some route uses; nothing without `ai:`.
pub(super) fn emit_statics(c: &mut Code, plan: &Plan) {
    let Some(ai) = &plan.ai else {
        return;
    };
    c.blank();
    w!(
        c,
        "/// `ai:`: the models clients name, how each is routed, and its upstreams."
    );
    open!(c, "static AI_SPEC: {AI}::AiSpec = {AI}::AiSpec {{");
    open!(c, "models: &[");
    for m in &ai.models {
        open!(c, "{AI}::ModelSpec {{");
        w!(c, "name: {},", Str(&m.name));
        let strategy = match m.strategy {
            Strategy::Fallback => "Fallback",
            Strategy::Cost => "Cost",
            Strategy::Latency => "Latency",
            Strategy::Weighted => "Weighted",
        };
        w!(c, "strategy: {AI}::Strategy::{strategy},");
        let r = m.retries;
        w!(
            c,
            "retries: {AI}::Retries {{ connect: {}, timeout: {}, rate_limited: {}, server_error: {} }},",
            r.connect,
            r.timeout,
            r.rate_limited,
            r.server_error
        );
        w!(
            c,
            "cooldown: {AI}::Cooldown {{ failures: {}, period: {} }},",
            m.cooldown.failures,
            Millis(m.cooldown.period)
        );
        w!(c, "latency_window: {},", Millis(m.latency_window));
        open!(c, "upstreams: &[");
        for u in &m.upstreams {
            open!(c, "{AI}::UpstreamSpec {{");
            w!(c, "name: {},", Str(&u.name));
            w!(c, "base_url: {},", OptStr(u.base_url.as_deref()));
            w!(c, "base_url_env: {},", OptStr(u.base_url_env.as_deref()));
            w!(c, "model: {},", Str(&u.model));
            w!(c, "api_key_env: {},", OptStr(u.api_key_env.as_deref()));
            w!(c, "timeout: {},", Millis(u.timeout));
            w!(c, "cost_input: {:?},", u.cost_input);
            w!(c, "cost_output: {:?},", u.cost_output);
            w!(c, "weight: {},", u.weight);
            close!(c, "}},");
        }
        close!(c, "],");
        close!(c, "}},");
    }
    close!(c, "],");
    // ai state (issue 14): conversation context and token limits.
    super::ai_state::emit_fields(c, ai);
    // semantic cache (semcache, issue 14)
    let semantic = ai.semantic_cache.as_ref();
    w!(
        c,
        "semantic_cache: {},",
        super::ai_semantic::field(semantic)
    );
    close!(c, "}};");
    super::ai_semantic::emit_static(c, semantic);
    c.blank();
    w!(
        c,
        "/// The models at run time: made when the first worker starts (upstream variables are read then)."
    );
    w!(
        c,
        "pub(crate) static AI: {AI}::AiCell = {AI}::AiCell::new(&AI_SPEC);"
    );
    for g in [Gateway::ChatCompletions, Gateway::Models] {
        if !plan
            .routes
            .iter()
            .any(|r| r.ai == Some(AiRoute::Gateway(g)))
        {
            continue;
        }
        c.blank();
        let name = gateway_fn(g);
        match g {
            Gateway::ChatCompletions => {
                w!(
                    c,
                    "/// The gateway's `chat_completions`: the OpenAI-compatible proxy."
                );
                open!(c, "async fn {name}(req: &Request<'_>) -> Response {{");
                w!(c, "{AI}::chat_completions(AI.get(), req).await");
            }
            Gateway::Models => {
                w!(
                    c,
                    "/// The gateway's `models`: the models clients may name."
                );
                open!(c, "async fn {name}() -> Response {{");
                w!(c, "{AI}::models(AI.get())");
            }
        }
        close!(c, "}}");
    }
}

/// For a user AI handler: parses the chat request (a `400` in OpenAI's error format when
/// it is not one), and appends it and the route's model to the handler's arguments.
pub(super) fn chat_args(
    c: &mut Code,
    route: &crate::plan::RoutePlan,
    args: &mut Vec<String>,
    arg_types: &mut Vec<String>,
) {
    let Some(AiRoute::Handler {
        model,
        conversation,
    }) = route.ai
    else {
        return;
    };
    open!(c, "let ai_chat = match {AI}::parse_chat(req) {{");
    w!(c, "Ok(chat) => chat,");
    w!(c, "Err(answer) => return answer,");
    close!(c, "}};");
    args.push("ai_chat".to_owned());
    args.push(format!("AI.get().model({model})"));
    arg_types.push("::ember_runtime::ai::ChatRequest".to_owned());
    arg_types.push("&'static ::ember_runtime::ai::Model".to_owned());
    if conversation {
        // ai state (issue 14): the conversation, saved after the handler (`routes.rs`).
        w!(
            c,
            "let mut ai_conv = {AI}::conversation(AI.get(), req, AI.get().model({model})).await;"
        );
        args.push("&mut ai_conv".to_owned());
        arg_types.push("&mut ::ember_runtime::ai::Conversation".to_owned());
    }
}

/// Whether a route's handler gets a conversation (saved after it returns).
pub(super) fn has_conversation(route: &crate::plan::RoutePlan) -> bool {
    matches!(
        route.ai,
        Some(AiRoute::Handler {
            conversation: true,
            ..
        })
    )
}

#[cfg(test)]
mod tests {
    fn code(yaml: &str) -> String {
        let plan = crate::compile(yaml, "t.yaml", &mut |_| unreachable!(), &|_| None)
            .unwrap_or_else(|d| panic!("{d}"));
        crate::emit(&plan, &crate::EmitOptions::default())
    }

    const MODEL: &str =
        "ai:\n  models:\n    m: { upstreams: [ { base_url: http://h/v1, model: x } ] }\n";

    #[test]
    fn only_the_gateway_endpoints_some_route_uses_are_generated() {
        let c = code(&format!(
            "{MODEL}  routes:\n    GET /v1/models: {{ gateway: models }}\n"
        ));
        assert!(c.contains("static AI_SPEC"), "{c}");
        assert!(c.contains("async fn ai_models() -> Response {"), "{c}");
        assert!(!c.contains("fn ai_chat_completions"), "{c}");
        assert!(!c.contains("parse_chat"), "{c}");
        // Models without routes still get their statics (and nothing else).
        let c = code(MODEL);
        assert!(
            c.contains("static AI: ::ember_runtime::__private::ai::AiCell"),
            "{c}"
        );
        assert!(!c.contains("fn ai_models"), "{c}");
    }

    #[test]
    fn a_user_ai_handler_gets_the_chat_request_and_its_model_after_the_path_parameters() {
        let c = code(&format!(
            "{MODEL}  routes:\n    POST /x/{{n:u8}}: {{ handler: h, model: m }}\n"
        ));
        let parse = c.find("parse_chat(req)").expect("parses the chat request");
        let param = c.find("let param_n").expect("decodes the parameter");
        assert!(param < parse, "{c}");
        assert!(
            c.contains(
                "(u8, ::ember_runtime::ai::ChatRequest, &'static ::ember_runtime::ai::Model)"
            ),
            "{c}"
        );
        assert!(c.contains("(param_n, ai_chat, AI.get().model(0)),"), "{c}");
    }

    #[test]
    fn a_handler_with_a_conversation_gets_it_last_and_saves_it_after() {
        let c = code(&format!(
            "ai:\n  context: {{ id: {{ header: X-C }} }}\n{}  routes:\n    POST /x: {{ handler: h, model: m, conversation: true }}\n",
            &MODEL[4..]
        ));
        assert!(
            c.contains("(ai_chat, AI.get().model(0), &mut ai_conv),"),
            "{c}"
        );
        let call = c.find("handlers::h,").expect("calls the handler");
        let save = c.find("save_conversation(ai_conv).await;").expect("saves");
        assert!(call < save, "{c}");
        assert!(c.contains("IdSource::Header(\"X-C\")"), "{c}");
    }

    #[test]
    fn apps_without_ai_generate_no_ai_items() {
        let c = code("routes:\n  POST /x: h\n");
        assert!(!c.contains("__private::ai"), "{c}");
        assert!(!c.contains("AI_SPEC"), "{c}");
    }
}
