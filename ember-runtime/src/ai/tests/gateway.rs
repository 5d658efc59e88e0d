//! The built-in gateway on the wire: relayed bodies and events, headers, OpenAI errors.

use super::*;

#[test]
fn non_streamed_answers_are_relayed_with_the_upstreams_model() {
    for backend in BACKENDS {
        let a = Upstream::start("a");
        let ai = ai(
            Strategy::Fallback,
            NO_RETRIES,
            NO_COOLDOWN,
            vec![up("a", a.base_url())],
        );
        let server = serve(ai, backend, 1);
        let tools = json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]);
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "seed": 7, "tools": tools, "temperature": 0.5});
        let r = request(
            server.local_addr(),
            "POST",
            "/v1/chat/completions",
            &body.to_string(),
        );
        assert_eq!(r.status, 200, "{backend:?}: {r:?}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("x-ember-model"), Some("a"));
        let v = r.json();
        assert_eq!(v["id"], "chatcmpl-a");
        assert_eq!(v["model"], "model-a");
        assert_eq!(v["choices"][0]["message"]["content"], "a0 a1 a2 ");
        // The upstream got the request verbatim but for the model name.
        let sent = a.state.bodies.lock().expect("lock")[0].clone();
        assert_eq!(sent["model"], "model-a");
        assert_eq!(sent["seed"], 7);
        assert_eq!(sent["temperature"], 0.5);
        assert_eq!(sent["tools"], tools);
        assert_eq!(sent["messages"], body["messages"]);
        assert!(sent.get("stream").is_none_or(|s| s == false));
        server.shutdown().expect("shutdown");
    }
}

#[test]
fn streams_are_relayed_event_by_event() {
    for backend in BACKENDS {
        let a = Upstream::start("a");
        a.set(|s| s.gap_ms.store(5, SeqCst));
        let ai = ai(
            Strategy::Fallback,
            NO_RETRIES,
            NO_COOLDOWN,
            vec![up("a", a.base_url())],
        );
        let server = serve(ai, backend, 1);
        let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "hi"}]});
        let r = request(
            server.local_addr(),
            "POST",
            "/v1/chat/completions",
            &body.to_string(),
        );
        assert_eq!(r.status, 200, "{backend:?}");
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        assert_eq!(r.header("x-ember-model"), Some("a"));
        // One event per write: role, 3 tokens, finish, usage, [DONE].
        let events = r.events();
        assert_eq!(events.len(), 7, "{events:?}");
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        let chunks: Vec<Value> = events[..6]
            .iter()
            .map(|e| serde_json::from_str(e).expect("chunk"))
            .collect();
        assert!(chunks.iter().all(|c| c["id"] == "chatcmpl-a"
            && c["created"] == 1_700_000_000
            && c["model"] == "model-a"
            && c["object"] == "chat.completion.chunk"));
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunks[5]["usage"]["completion_tokens"], 3);
        assert_eq!(streamed_text(&events), "a0 a1 a2 ");
        let sent = a.state.bodies.lock().expect("lock")[0].clone();
        assert_eq!(sent["stream_options"]["include_usage"], true);
        server.shutdown().expect("shutdown");
    }
}

#[test]
fn bad_requests_get_openai_errors() {
    let a = Upstream::start("a");
    let ai = ai(
        Strategy::Fallback,
        NO_RETRIES,
        NO_COOLDOWN,
        vec![up("a", a.base_url())],
    );
    let server = serve(ai, Backend::Tokio, 1);
    let addr = server.local_addr();
    let cases = [
        ("{not json", 400, "invalid_request_error", None),
        (
            r#"{"model":"m"}"#,
            400,
            "invalid_request_error",
            Some("messages"),
        ),
        (
            r#"{"messages":[]}"#,
            400,
            "invalid_request_error",
            Some("model"),
        ),
        ("", 400, "invalid_request_error", None),
    ];
    for (body, status, kind, param) in cases {
        let r = request(addr, "POST", "/v1/chat/completions", body);
        assert_eq!(r.status, status, "{body}: {r:?}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let e = &r.json()["error"];
        assert_eq!(e["type"], kind, "{body}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(e["param"].as_str(), param, "{body}");
        assert!(e.get("code").is_some());
    }
    let r = request(
        addr,
        "POST",
        "/v1/chat/completions",
        &chat(false).replace("\"m\"", "\"nope\""),
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "model_not_found");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .expect("message")
            .contains("nope")
    );
    assert_eq!(a.requests(), 0, "no bad request reached the upstream");
    server.shutdown().expect("shutdown");
}

#[test]
fn models_lists_the_declared_models() {
    let ai = ai(
        Strategy::Fallback,
        NO_RETRIES,
        NO_COOLDOWN,
        vec![up("a", refused_url())],
    );
    let server = serve(ai, Backend::Tokio, 1);
    let r = request(server.local_addr(), "GET", "/v1/models", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "m");
    assert_eq!(v["data"][0]["object"], "model");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1));
    server.shutdown().expect("shutdown");
}

#[test]
fn client_errors_from_the_upstream_pass_through_without_fallback() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    a.set(|s| s.status.store(422, SeqCst));
    let retries = Retries {
        server_error: 3,
        ..NO_RETRIES
    };
    let ups = vec![up("a", a.base_url()), up("b", b.base_url())];
    let server = serve(
        ai(Strategy::Fallback, retries, NO_COOLDOWN, ups),
        Backend::Tokio,
        1,
    );
    for stream in [false, true] {
        let r = request(
            server.local_addr(),
            "POST",
            "/v1/chat/completions",
            &chat(stream),
        );
        assert_eq!(r.status, 422, "{r:?}");
        assert_eq!(r.header("x-ember-model"), Some("a"));
        assert_eq!(r.json()["error"]["message"], "a says 422");
    }
    assert_eq!(a.requests(), 2, "no retry of a client error");
    assert_eq!(b.requests(), 0, "no fallback on a client error");
    server.shutdown().expect("shutdown");
}

#[test]
fn user_handlers_stream_tokens_through_the_router() {
    for backend in BACKENDS {
        let (a, b) = (Upstream::start("a"), Upstream::start("b"));
        a.set(|s| s.status.store(503, SeqCst));
        let ups = vec![up("a", a.base_url()), up("b", b.base_url())];
        let server = serve(
            ai(Strategy::Fallback, NO_RETRIES, NO_COOLDOWN, ups),
            backend,
            1,
        );
        // A user route's body may leave the model out: the route names it.
        let body = r#"{"messages":[{"role":"user","content":"long text"}]}"#;
        let r = request(server.local_addr(), "POST", "/summarize", body);
        assert_eq!(r.status, 200, "{backend:?}: {r:?}");
        assert_eq!(String::from_utf8(r.body()).expect("utf8"), "b0 b1 b2 ");
        assert_eq!(r.header("x-upstream"), Some("b"));
        let sent = b.state.bodies.lock().expect("lock")[0].clone();
        assert_eq!(sent["model"], "model-b");
        assert_eq!(sent["stream"], true);
        assert_eq!(sent["messages"][0]["content"], "summarize");
        // A body that is not a chat request: a 400 OpenAI error from parse_chat.
        let r = request(server.local_addr(), "POST", "/summarize", "[1,2]");
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["error"]["type"], "invalid_request_error");
        server.shutdown().expect("shutdown");
    }
}

#[test]
fn model_complete_parses_the_completion() {
    let a = Upstream::start("a");
    let ai = ai(
        Strategy::Fallback,
        NO_RETRIES,
        NO_COOLDOWN,
        vec![up("a", a.base_url())],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let done = rt.block_on(
        ai.model(0)
            .complete(ChatRequest::new("ignored", vec![Message::user("x")])),
    );
    let done = done.expect("completion");
    assert_eq!(done.text(), Some("a0 a1 a2 "));
    assert_eq!(done.model, "model-a");
    assert_eq!(done.usage.as_ref().map(|u| u.completion_tokens), Some(3));
    a.set(|s| s.status.store(500, SeqCst));
    let err = rt
        .block_on(
            ai.model(0)
                .complete(ChatRequest::new("m", vec![Message::user("x")])),
        )
        .expect_err("500");
    assert!(
        matches!(
            err,
            AiError::ServerError {
                status: 500,
                upstream: "a",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn the_upstream_gets_the_key_from_env_and_a_pooled_connection() {
    let a = Upstream::start("a");
    // The end of each streamed body comes 30 ms after `[DONE]`: the gateway has answered
    // its client by then, and reads that end in the background to keep the connection.
    a.set(|s| s.end_delay_ms.store(30, SeqCst));
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    // PATH is always set (and a valid header value); the URL variable is not.
    let ups = Box::leak(Box::new([UpstreamSpec {
        name: "a",
        base_url: Some(leak(a.base_url())),
        base_url_env: Some("EMBER_AI_TEST_UNSET_URL_VARIABLE"),
        model: "model-a",
        api_key_env: Some("PATH"),
        timeout: Duration::from_secs(5),
        cost_input: 0.0,
        cost_output: 0.0,
        weight: 1,
    }]));
    let models = Box::leak(Box::new([ModelSpec {
        name: "m",
        strategy: Strategy::Fallback,
        retries: Retries::DEFAULT,
        cooldown: Cooldown::DEFAULT,
        latency_window: Duration::from_secs(60),
        upstreams: ups,
    }]));
    let spec = Box::leak(Box::new(AiSpec {
        models,
        context: None,
        limits: None,
        semantic_cache: None, // semantic cache (semcache)
    }));
    let ai = Box::leak(Box::new(AiCell::new(spec))).get();
    let server = serve(ai, Backend::Tokio, 1);
    let asks = [false, true, true, true, true, false, true];
    for stream in asks {
        let r = request(
            server.local_addr(),
            "POST",
            "/v1/chat/completions",
            &chat(stream),
        );
        assert_eq!(r.status, 200, "{r:?}");
        if stream {
            // Time for the end of the body (a loaded machine gets 10 times what it needs).
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    let path = std::env::var("PATH").expect("PATH");
    let heads = a.state.heads.lock().expect("lock").clone();
    assert_eq!(heads.len(), asks.len());
    for head in &heads {
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.starts_with("post /v1/chat/completions http/1.1"),
            "{head}"
        );
        assert!(head.contains(&format!("Bearer {path}")), "{head}");
        assert!(lower.contains("content-type: application/json"), "{head}");
        assert!(lower.contains(&format!("host: {}", a.addr)), "{head}");
    }
    // Keep-alive: one worker, sequential requests; streams too go back to the pool.
    let conns = a.state.connections.load(SeqCst);
    assert_eq!(conns, 1);
    server.shutdown().expect("shutdown");
}
