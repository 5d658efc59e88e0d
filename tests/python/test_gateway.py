"""The AI gateway (issue 13) through the official `openai` SDK.

Runs against a gateway that serves the `examples/chat` contract: one client-facing model
(`ember-chat`, strategy fallback, upstream A (`model-a`) then B (`model-b`), cooldown 2
failures -> 5 s), `POST /v1/chat/completions`, `GET /v1/models`. The upstreams are two
`ai_upstream` processes (tests/src/bin/ai_upstream): their answers are deterministic (the
first token is `[MODEL]`, the upstream model the request reached) and their control API
injects faults and reports what they received.

Environment (set by tests/tests/ai_gateway.rs):
  GATEWAY_URL      base URL of the gateway, ending in /v1
  GATEWAY_KEY      API key the client sends (default: "unused")
  GATEWAY_KIND     "ember" (default) or "litellm": the Ember contract's own details
                   (x-ember-model, 404 model_not_found, 503 when all cool down, the body
                   relayed verbatim) are checked for "ember" only
  UPSTREAM_A/B     base URLs (no /v1) of the two ai_upstream processes
  LATENCY_URL, LATENCY_MODEL, LATENCY_SLOW, LATENCY_FAST
                   optional: a gateway with a `latency` model whose first-declared
                   upstream (SLOW) is slower to its first token than FAST
  SSE_URL          optional: a user AI route answering with Ember's SSE helpers

Checked against LiteLLM's proxy too (tests/python/against_litellm.sh, GATEWAY_KIND=litellm):
all pass there but two, where LiteLLM itself departs from OpenAI / from this contract —
its include_usage chunk carries a `choices` entry (OpenAI's has `choices: []`), and it
falls back to B on A's 400 instead of relaying the client error.
"""

import json
import os
import time

import httpx
import openai
import pytest
import requests
from httpx_sse import connect_sse

GATEWAY = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080/v1")
KEY = os.environ.get("GATEWAY_KEY", "unused")
KIND = os.environ.get("GATEWAY_KIND", "ember")
MODEL = os.environ.get("GATEWAY_MODEL", "ember-chat")
UP_A = os.environ.get("UPSTREAM_A", "")
UP_B = os.environ.get("UPSTREAM_B", "")

ember_only = pytest.mark.skipif(KIND != "ember", reason="Ember's own contract")

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather at a place",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "n": {"type": "integer"}},
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Time at a place",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "n": {"type": "integer"}},
            },
        },
    },
]


class Upstream:
    """One ai_upstream process, through its control API."""

    def __init__(self, base, model):
        self.base = base
        self.model = model

    def control(self, **body):
        r = requests.post(self.base + "/control", json=body, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()

    def stats(self):
        return requests.get(self.base + "/control/stats", timeout=5).json()

    def requests(self):
        return self.stats()["requests"]


A = Upstream(UP_A, "model-a")
B = Upstream(UP_B, "model-b")


def client(base=GATEWAY, **kw):
    """An SDK client that never retries (a retry would hide a gateway error)."""
    return openai.OpenAI(base_url=base, api_key=KEY, max_retries=0, timeout=30, **kw)


def expected(model, words, n=8):
    """The content ai_upstream answers: `[MODEL]`, then the words cycling."""
    toks = [f"[{model}]"] + [" " + words[i % len(words)] for i in range(n - 1)]
    return "".join(toks)


def served_by(content):
    """Which upstream model an answer's content came from."""
    assert content.startswith("[model-"), content
    return content[1 : content.index("]")]


def msgs(text):
    return [{"role": "user", "content": text}]


def ask(c=None, text="ping", **kw):
    """A non-stream completion; returns (raw response, parsed completion)."""
    c = c or client()
    raw = c.chat.completions.with_raw_response.create(model=MODEL, messages=msgs(text), **kw)
    return raw, raw.parse()


def check_header(raw, name):
    if KIND == "ember":
        assert raw.headers.get("x-ember-model") == name, dict(raw.headers)


@pytest.fixture(autouse=True)
def clean_upstreams():
    """Each test starts with both upstreams healthy, A serving again (any cooldown a
    previous test started has ended) and fresh stats."""
    deadline = time.time() + 12
    while True:
        for u in (A, B):
            try:
                u.control(reset=True)
            except requests.RequestException:
                pass  # A is refusing connections for a while
        try:
            _, r = ask(text="warmup")
            if served_by(r.choices[0].message.content) == "model-a":
                break
        except openai.APIError:
            pass
        assert time.time() < deadline, "upstream A never served again"
        time.sleep(0.25)
    A.control(reset=True)
    B.control(reset=True)
    yield


def test_models_list():
    ids = [m.id for m in client().models.list().data]
    assert MODEL in ids


def test_non_stream_text():
    raw, r = ask(text="alpha beta gamma", temperature=0.5, extra_body={"ember_extra": {"k": [1, 2]}})
    check_header(raw, "a")
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-up")
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == expected("model-a", ["alpha", "beta", "gamma"])
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == 8 and r.usage.prompt_tokens == 3
    sent = A.stats()["last_request"]
    assert sent["model"] == "model-a"
    assert sent["messages"] == msgs("alpha beta gamma")
    assert sent["temperature"] == 0.5
    if KIND == "ember":
        assert r.model == "model-a"  # the upstream's body, relayed as it is
        assert sent["ember_extra"] == {"k": [1, 2]}  # unknown fields pass through
    assert B.requests() == 0


def test_stream_text():
    c = client()
    raw = c.chat.completions.with_raw_response.create(
        model=MODEL, messages=msgs("one two three #tokens=12"), stream=True
    )
    check_header(raw, "a")
    assert raw.headers["content-type"].startswith("text/event-stream")
    chunks = list(raw.parse())
    assert len({(ch.id, ch.created, ch.model) for ch in chunks}) == 1
    assert chunks[0].object == "chat.completion.chunk"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(ch.choices[0].delta.role is None for ch in chunks[1:])
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks)
    assert text == expected("model-a", ["one", "two", "three"], 12)
    assert [ch.choices[0].finish_reason for ch in chunks][-1] == "stop"
    assert all(ch.choices[0].finish_reason is None for ch in chunks[:-1])
    assert all(ch.usage is None for ch in chunks)
    assert A.stats()["last_request"]["stream"] is True
    assert B.requests() == 0


def test_stream_raw_sse_framing():
    """The wire itself: one `data:` event per chunk, `data: [DONE]` last."""
    with httpx.stream(
        "POST",
        GATEWAY + "/chat/completions",
        headers={"authorization": f"Bearer {KEY}"},
        json={"model": MODEL, "stream": True, "messages": msgs("x y #tokens=4")},
        timeout=30,
    ) as r:
        assert r.status_code == 200
        assert r.headers.get("cache-control", "").startswith("no-cache") or KIND != "ember"
        body = r.read().decode()
    events = [e for e in body.split("\n\n") if e.strip()]
    assert events[-1] == "data: [DONE]"
    for e in events[:-1]:
        assert e.startswith("data: "), e
        assert json.loads(e[len("data: ") :])["object"] == "chat.completion.chunk"


def test_include_usage():
    chunks = list(
        client().chat.completions.create(
            model=MODEL,
            messages=msgs("u v #tokens=5"),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.completion_tokens == 5
    assert last.usage.prompt_tokens == 3  # ai_upstream counts the prompt's words
    assert last.usage.total_tokens == 8
    assert all(ch.usage is None for ch in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert A.stats()["last_request"]["stream_options"] == {"include_usage": True}


def check_calls(calls, words):
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    for i, c in enumerate(calls):
        assert c.type == "function"
        assert c.id.startswith("call_")
        assert json.loads(c.function.arguments) == {"query": words, "n": i}


def test_tool_calls_non_stream():
    raw, r = ask(text="weather in paris", tools=TOOLS, tool_choice="auto")
    check_header(raw, "a")
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.choices[0].message.content is None
    check_calls(r.choices[0].message.tool_calls, "weather in paris")
    assert A.stats()["last_request"]["tools"] == TOOLS


def test_tool_calls_stream():
    c = client()
    stream = c.chat.completions.create(
        model=MODEL, messages=msgs("time in tokyo"), tools=TOOLS, stream=True
    )
    indexes = []
    pieces = 0
    chunks = []
    for ch in stream:
        chunks.append(ch)
        for tc in ch.choices[0].delta.tool_calls or []:
            indexes.append(tc.index)
            pieces += 1
    assert set(indexes) == {0, 1}
    assert pieces > 4  # arguments arrive in several pieces
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    # The SDK's helper reassembles the argument pieces per index.
    with c.chat.completions.stream(
        model=MODEL, messages=msgs("time in tokyo"), tools=TOOLS
    ) as s:
        for _ in s:
            pass
        final = s.get_final_completion()
    check_calls(final.choices[0].message.tool_calls, "time in tokyo")
    assert final.choices[0].finish_reason == "tool_calls"


def test_upstream_400_is_relayed_not_retried():
    A.control(status=400, count=2, message="bad thing here", param="messages", code="invalid_value")
    c = client()
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model=MODEL, messages=msgs("x"))
    assert e.value.status_code == 400
    assert e.value.code == "invalid_value"
    assert e.value.type == "invalid_request_error"
    assert e.value.param == "messages"
    assert "bad thing here" in e.value.message
    if KIND == "ember":
        assert e.value.body == {
            "message": "bad thing here",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "invalid_value",
        }
        assert e.value.response.headers.get("x-ember-model") == "a"
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model=MODEL, messages=msgs("x"), stream=True)
    assert A.requests() == 2
    assert B.requests() == 0  # a client error is not a reason to fall back


@ember_only
def test_unknown_model_is_404():
    with pytest.raises(openai.NotFoundError) as e:
        client().chat.completions.create(model="no-such-model", messages=msgs("x"))
    assert e.value.status_code == 404
    assert e.value.code == "model_not_found"
    assert A.requests() == 0 and B.requests() == 0


@ember_only
def test_bad_requests_are_openai_errors():
    url = GATEWAY + "/chat/completions"
    for body in (b"{not json", b'{"messages": []}', b'{"model": "ember-chat"}'):
        r = requests.post(url, data=body, headers={"content-type": "application/json"}, timeout=10)
        assert r.status_code == 400, (body, r.status_code, r.text)
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error" and err["message"], err
        assert set(err) >= {"message", "type", "param", "code"}
    assert A.requests() == 0 and B.requests() == 0


@pytest.mark.parametrize("status", [500, 429])
def test_fallback_to_b_when_a_fails(status):
    A.control(status=status)  # until reset
    c = client()
    raw, r = ask(c, text="fall back please")
    check_header(raw, "b")
    assert r.choices[0].message.content == expected("model-b", ["fall", "back", "please"])
    raw = c.chat.completions.with_raw_response.create(
        model=MODEL, messages=msgs("and stream"), stream=True
    )
    check_header(raw, "b")
    text = "".join(ch.choices[0].delta.content or "" for ch in raw.parse() if ch.choices)
    assert served_by(text) == "model-b"
    assert A.requests() >= 1
    assert B.stats()["requests_by_model"] == {"model-b": 2}


def test_fallback_to_b_when_a_refuses_connections():
    A.control(refuse_connections_ms=3000)
    time.sleep(0.3)
    with pytest.raises(requests.ConnectionError):
        requests.get(A.base + "/control/stats", timeout=2)
    c = client()
    for stream in (False, True):
        raw = c.chat.completions.with_raw_response.create(
            model=MODEL, messages=msgs("refused"), stream=stream
        )
        check_header(raw, "b")
        if stream:
            text = "".join(ch.choices[0].delta.content or "" for ch in raw.parse() if ch.choices)
        else:
            text = raw.parse().choices[0].message.content
        assert served_by(text) == "model-b"
    assert B.requests() == 2


def test_both_healthy_all_to_a():
    c = client()
    for i in range(6):
        raw = c.chat.completions.with_raw_response.create(
            model=MODEL, messages=msgs(f"n{i}"), stream=bool(i % 2)
        )
        check_header(raw, "a")
        p = raw.parse()
        text = "".join(ch.choices[0].delta.content or "" for ch in p if ch.choices) if i % 2 else p.choices[0].message.content
        assert served_by(text) == "model-a"
    assert A.stats()["requests_by_model"] == {"model-a": 6}
    assert B.requests() == 0


def test_mid_stream_failure_ends_with_error_not_splice():
    A.control(fail_after_tokens=3, count=1)
    got = ""
    with pytest.raises(openai.APIError):
        for ch in client().chat.completions.create(
            model=MODEL, messages=msgs("p q #tokens=10 #interval_ms=20"), stream=True
        ):
            if ch.choices:
                got += ch.choices[0].delta.content or ""
    assert got == expected("model-a", ["p", "q"], 3)  # A's tokens only, never B's
    assert B.requests() == 0


def test_cooldown_skips_a_then_tries_again():
    """Cooldown 2 failures -> 5 s: A failing gets at most 2 failing client requests, is
    then left alone for 5 s (B serves, A sees nothing), then is tried again."""
    A.control(status=500)
    c = client()
    seen = A.requests()
    last_hit = None  # (sent, done) of the last request that reached A
    for i in range(3):
        sent = time.time()
        _, r = ask(c, text=f"c{i}")
        done = time.time()
        assert served_by(r.choices[0].message.content) == "model-b"
        now = A.requests()
        if now > seen:
            last_hit = (sent, done)
            seen = now
            assert i < 2, "A was still tried after 2 failing requests"
        else:
            break
    assert last_hit is not None
    # Cooling down: A must not be tried for 5 s (checked until 4 s after the last hit).
    while time.time() < last_hit[1] + 4.0:
        _, r = ask(c, text="cool")
        assert served_by(r.choices[0].message.content) == "model-b"
        assert A.requests() == seen, "A was tried during its cooldown"
        time.sleep(0.2)
    A.control(reset=True)
    while True:
        t = time.time()
        _, r = ask(c, text="back")
        if served_by(r.choices[0].message.content) == "model-a":
            break
        assert t < last_hit[1] + 5.0 + 3.0, "A was not tried again after its cooldown"
        time.sleep(0.1)
    # Not before the 5 s were over (the cooldown began no earlier than the request).
    assert t + 0.5 >= last_hit[0] + 5.0, (t - last_hit[0])


@ember_only
def test_all_cooling_down_is_503_with_retry_after():
    A.control(status=500)
    B.control(status=500)
    c = client()
    for _ in range(4):
        try:
            ask(c, text="fail")
        except openai.APIStatusError as e:
            if e.status_code == 503:
                break
    before = (A.requests(), B.requests())
    with pytest.raises(openai.APIStatusError) as e:
        ask(c, text="fail")
    assert e.value.status_code == 503
    assert e.value.type == "service_unavailable"
    retry = int(e.value.response.headers["retry-after"])
    assert 1 <= retry <= 5
    assert (A.requests(), B.requests()) == before  # no upstream was called


def test_client_disconnect_cancels_upstream_within_1s():
    c = client()
    stream = c.chat.completions.create(
        model=MODEL, messages=msgs("long story #tokens=400 #interval_ms=50"), stream=True
    )
    n = 0
    for ch in stream:
        if ch.choices and ch.choices[0].delta.content:
            n += 1
        if n == 3:
            break
    assert A.stats()["in_flight"] == 1
    closed = time.time()
    stream.response.close()
    deadline = closed + 5
    while True:
        s = A.stats()
        if s["disconnects"]:
            break
        assert time.time() < deadline, f"upstream never saw the disconnect: {s['in_flight']} in flight"
        time.sleep(0.05)
    d = s["disconnects"][0]
    assert d["model"] == "model-a"
    assert d["tokens_sent"] < 100  # it did not run to its end
    lag = d["at_ms"] / 1000.0 - closed
    assert lag <= 1.0, f"upstream saw the disconnect {lag:.3f} s after the client left"
    assert s["in_flight"] == 0 and s["completed"] == 0


LAT_URL = os.environ.get("LATENCY_URL")


@pytest.mark.skipif(not LAT_URL, reason="no gateway with a latency model (LATENCY_URL)")
def test_latency_strategy_picks_the_faster_upstream():
    slow = Upstream(os.environ["LATENCY_SLOW"], "")
    fast = Upstream(os.environ["LATENCY_FAST"], "")
    model = os.environ.get("LATENCY_MODEL", "ember-fast")
    slow.control(reset=True, delay_first_token_ms=300)
    fast.control(reset=True)
    c = client(base=LAT_URL)
    served = []
    for i in range(12):
        text = "".join(
            ch.choices[0].delta.content or ""
            for ch in c.chat.completions.create(model=model, messages=msgs(f"l{i}"), stream=True)
            if ch.choices
        )
        served.append(served_by(text))
    fast_model = served_by_upstream(fast)
    # After both were measured, the faster one serves (the slow one is declared first).
    assert served[-6:] == [fast_model] * 6, served


def served_by_upstream(u):
    by = u.stats()["requests_by_model"]
    assert len(by) == 1, by
    return next(iter(by))


SSE_URL = os.environ.get("SSE_URL")


@pytest.mark.skipif(not SSE_URL, reason="no user AI route (SSE_URL)")
def test_sse_helpers_from_user_handler_eventsource():
    body = {"model": MODEL, "messages": msgs("sse helper words #tokens=6")}
    with httpx.Client(timeout=30) as h:
        with connect_sse(h, "POST", SSE_URL, json=body) as source:
            assert source.response.status_code == 200
            assert source.response.headers["content-type"].startswith("text/event-stream")
            assert source.response.headers.get("cache-control", "").startswith("no-cache")
            data = [e.data for e in source.iter_sse() if e.data]
    # One event per token (Sse::tokens), each token's text exactly, then `[DONE]`.
    assert data[-1] == "[DONE]", data
    assert data[:-1] == [
        "[model-a]", " sse", " helper", " words", " sse", " helper"
    ], data
    sent = A.stats()["last_request"]
    assert sent["model"] == "model-a" and sent["stream"] is True
