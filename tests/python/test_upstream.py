"""ai_upstream (tests/src/bin/ai_upstream) through the official `openai` SDK, directly:
what it answers must parse as OpenAI's own responses do, or the gateway tests prove
nothing. Environment: UPSTREAM (base URL, no /v1) of a fresh ai_upstream.
"""

import json
import os
import time

import openai
import pytest
import requests

BASE = os.environ.get("UPSTREAM", "http://127.0.0.1:9001")


def control(**body):
    r = requests.post(BASE + "/control", json=body, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def stats():
    return requests.get(BASE + "/control/stats", timeout=5).json()


def client():
    return openai.OpenAI(base_url=BASE + "/v1", api_key="sk-test", max_retries=0, timeout=30)


def msgs(text):
    return [{"role": "user", "content": text}]


@pytest.fixture(autouse=True)
def reset():
    control(reset=True)
    yield


def test_non_stream_is_a_chat_completion():
    r = client().chat.completions.create(model="model-x", messages=msgs("a b #tokens=4"))
    assert r.object == "chat.completion"
    assert r.model == "model-x"
    assert r.choices[0].message.content == "[model-x] a b a"
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (3, 4, 7)
    s = stats()
    assert s["requests_by_model"] == {"model-x": 1}
    assert s["last_headers"]["authorization"] == "Bearer sk-test"


def test_max_tokens_caps_with_finish_reason_length():
    r = client().chat.completions.create(model="m", messages=msgs("a"), max_tokens=2)
    assert r.choices[0].message.content == "[m] a"
    assert r.choices[0].finish_reason == "length"


def test_stream_chunks_and_usage():
    chunks = list(
        client().chat.completions.create(
            model="m", messages=msgs("x #tokens=3"), stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert len({(c.id, c.created, c.model) for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "[m] x x"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3


def test_tool_calls_stream_and_not():
    tools = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
        for n in ("f", "g")
    ]
    r = client().chat.completions.create(model="m", messages=msgs("q w"), tools=tools)
    calls = r.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["f", "g"]
    assert json.loads(calls[1].function.arguments) == {"query": "q w", "n": 1}
    with client().chat.completions.stream(model="m", messages=msgs("q w"), tools=tools) as s:
        for _ in s:
            pass
        final = s.get_final_completion()
    assert [json.loads(c.function.arguments)["n"] for c in final.choices[0].message.tool_calls] == [0, 1]
    assert final.choices[0].finish_reason == "tool_calls"
    # After a tool result, a text answer.
    follow = msgs("q w") + [
        {"role": "assistant", "content": None, "tool_calls": [c.model_dump() for c in calls]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
    ]
    r = client().chat.completions.create(model="m", messages=follow, tools=tools)
    assert r.choices[0].finish_reason == "stop" and r.choices[0].message.content.startswith("[m]")


def test_models_list():
    ids = [m.id for m in client().models.list().data]
    assert ids == ["model-a", "model-b"]


@pytest.mark.parametrize(
    "status,exc",
    [(400, openai.BadRequestError), (429, openai.RateLimitError), (500, openai.InternalServerError)],
)
def test_injected_errors_map_to_sdk_exceptions(status, exc):
    control(status=status, count=1, message="boom")
    with pytest.raises(exc) as e:
        client().chat.completions.create(model="m", messages=msgs("x"))
    assert e.value.status_code == status
    assert e.value.body["message"] == "boom"
    # count=1: the next request is fine again.
    assert client().chat.completions.create(model="m", messages=msgs("x")).choices


def test_fail_after_tokens_cuts_the_stream():
    control(fail_after_tokens=2, count=1)
    got = []
    with pytest.raises((openai.APIError, Exception)):
        for c in client().chat.completions.create(model="m", messages=msgs("x #tokens=9"), stream=True):
            got.append(c.choices[0].delta.content or "")
    assert "".join(got) == "[m] x"


def test_client_disconnect_is_recorded():
    s = client().chat.completions.create(
        model="m", messages=msgs("x #tokens=100 #interval_ms=50"), stream=True
    )
    next(iter(s))
    closed = time.time()
    s.response.close()
    for _ in range(100):
        st = stats()
        if st["disconnects"]:
            break
        time.sleep(0.02)
    d = st["disconnects"][0]
    assert d["at_ms"] / 1000 - closed < 1.0
    assert st["in_flight"] == 0 and st["completed"] == 0


def test_delay_first_token():
    control(delay_first_token_ms=300, count=1)
    t = time.time()
    s = client().chat.completions.create(model="m", messages=msgs("x"), stream=True)
    next(iter(s))
    assert time.time() - t >= 0.3
