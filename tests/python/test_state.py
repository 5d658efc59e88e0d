"""AI state (issue 14): conversation context and token limits, through the official
`openai` SDK.

Runs against a gateway serving `ember-chat` (upstream A `model-a`, then B) with
`ai.context` keyed by `X-Conversation-Id` and `ai.limits` per client IP, whose budget is
TPM tokens per minute and whose prompt cap is MAX_PROMPT tokens. Every test uses its own
conversation ids and its own client source address (127.0.0.N: each has its own token
budget), so the tests do not see each other's state.

Environment (set by tests/tests/ai_state.rs):
  GATEWAY_URL     base URL of the gateway, ending in /v1
  GATEWAY_URL_2   optional: a second instance sharing the same Redis (shared-state tests)
  UPSTREAM_A      base URL (no /v1) of upstream A (ai_upstream)
  TPM             the per-IP tokens-per-minute budget the gateway runs with
  MAX_PROMPT      the gateway's max_prompt_tokens
  RUN_ID          unique per run (conversation ids, source addresses)
  PHASE           optional: "before_restart" / "after_restart" (the restart test only)
  CONV_ID         the conversation id of the restart test
"""

import asyncio
import os
import threading
import time
import uuid

import httpx
import openai
import pytest
import requests

GATEWAY = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8084/v1")
GATEWAY_2 = os.environ.get("GATEWAY_URL_2", "")
UP_A = os.environ.get("UPSTREAM_A", "")
TPM = int(os.environ.get("TPM", "2000"))
MAX_PROMPT = int(os.environ.get("MAX_PROMPT", "300"))
RUN = os.environ.get("RUN_ID", uuid.uuid4().hex[:8])
PHASE = os.environ.get("PHASE", "")
MODEL = "ember-chat"

# Each test gets its own source address, so its own token budget.
_next_ip = [10 + (int(RUN, 16) % 100 if all(c in "0123456789abcdef" for c in RUN) else 0)]


def fresh_ip():
    _next_ip[0] += 1
    n = _next_ip[0]
    return f"127.{(n // 250) % 250 + 1}.{n % 250}.{7}"


def client(ip, base=GATEWAY):
    transport = httpx.HTTPTransport(local_address=ip)
    return openai.OpenAI(
        base_url=base,
        api_key="unused",
        max_retries=0,
        timeout=30,
        http_client=httpx.Client(transport=transport),
    )


def aclient(ip, base=GATEWAY):
    transport = httpx.AsyncHTTPTransport(local_address=ip)
    return openai.AsyncOpenAI(
        base_url=base,
        api_key="unused",
        max_retries=0,
        timeout=60,
        http_client=httpx.AsyncClient(
            transport=transport, limits=httpx.Limits(max_connections=200)
        ),
    )


def up_control(**body):
    r = requests.post(UP_A + "/control", json=body, timeout=5)
    assert r.status_code == 200, r.text


def up_stats():
    return requests.get(UP_A + "/control/stats", timeout=5).json()


def conv():
    return f"conv-{RUN}-{uuid.uuid4().hex[:12]}"


def say(c, cid, *messages, **kw):
    """One turn of conversation `cid`: the raw response and the answer's text."""
    raw = c.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=list(messages),
        extra_headers={"X-Conversation-Id": cid},
        max_tokens=kw.pop("max_tokens", 20),
        **kw,
    )
    return raw, raw.parse().choices[0].message.content


def user(text):
    return {"role": "user", "content": text}


def received():
    """The messages of the last request upstream A received, as (role, content)."""
    body = up_stats()["last_request"]
    return [(m["role"], m.get("content")) for m in body["messages"]]


def in_one_window(need_s=20):
    """Waits, if needed, so that the next `need_s` seconds lie in one fixed one-minute
    window (the token budget's): a window ending mid-test would admit a second budget."""
    left = 60 - (time.time() % 60)
    if left < need_s:
        time.sleep(left + 0.2)


@pytest.fixture(autouse=True)
def reset_upstream():
    if UP_A:
        up_control(reset=True)
    yield


not_restart = pytest.mark.skipif(PHASE != "", reason="restart phase run")


@not_restart
def test_three_turns_one_message_each_reach_the_upstream_as_the_whole_history():
    c, cid = client(fresh_ip()), conv()
    system = {"role": "system", "content": "You answer briefly."}
    _, a1 = say(c, cid, system, user("my name is Ada"))
    assert received() == [("system", "You answer briefly."), ("user", "my name is Ada")]
    _, a2 = say(c, cid, user("what is my name"))
    _, a3 = say(c, cid, user("say it again"))
    assert a1 and a2 and a3
    assert received() == [
        ("system", "You answer briefly."),
        ("user", "my name is Ada"),
        ("assistant", a1),
        ("user", "what is my name"),
        ("assistant", a2),
        ("user", "say it again"),
    ]
    # Another conversation id shares nothing.
    say(c, conv(), user("who am I"))
    assert received() == [("user", "who am I")]


@not_restart
def test_a_client_sending_the_full_history_is_not_duplicated():
    c, cid = client(fresh_ip()), conv()
    history = [user("first question")]
    _, a1 = say(c, cid, *history)
    history += [{"role": "assistant", "content": a1}, user("second question")]
    say(c, cid, *history)
    assert received() == [(m["role"], m["content"]) for m in history]
    # The stored history grew by the new turn only: a one-message turn now gets 4 before.
    say(c, cid, user("third"))
    got = received()
    assert [r for r, _ in got] == ["user", "assistant", "user", "assistant", "user"], got
    assert got[0] == ("user", "first question") and got[2] == ("user", "second question")


@not_restart
def test_a_stream_cut_short_records_what_was_generated():
    c, cid = client(fresh_ip()), conv()
    stream = c.chat.completions.create(
        model=MODEL,
        messages=[user("tell me a long story #tokens=200 #interval_ms=30")],
        stream=True,
        max_tokens=300,
        extra_headers={"X-Conversation-Id": cid},
    )
    got = ""
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            got += chunk.choices[0].delta.content
        if len(got) > 20:
            break
    stream.response.close()
    # The gateway records the partial answer when it sees the client gone (its next
    # write fails, within a few 30 ms tokens).
    time.sleep(1.5)
    say(c, cid, user("go on"))
    msgs = received()
    assert [r for r, _ in msgs] == ["user", "assistant", "user"], msgs
    partial = msgs[1][1]
    assert partial.startswith(got) and len(partial.split()) < 150, (got, partial)


@not_restart
def test_a_prompt_over_max_prompt_tokens_is_refused_before_any_upstream_call():
    c = client(fresh_ip())
    before = up_stats()["requests"]
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(
            model=MODEL, messages=[user("word " * (MAX_PROMPT + 50))], max_tokens=5
        )
    err = e.value.body
    assert err["code"] == "context_length_exceeded", err
    assert err["type"] == "invalid_request_error" and err["param"] == "messages"
    assert up_stats()["requests"] == before
    # Just under the cap goes through.
    c.chat.completions.create(model=MODEL, messages=[user("word " * (MAX_PROMPT - 40))], max_tokens=5)
    assert up_stats()["requests"] == before + 1


def probe_cost(max_tokens, text):
    """What one request of `text` with `max_tokens` reserves (from a fresh address)."""
    raw = client(fresh_ip()).chat.completions.with_raw_response.create(
        model=MODEL, messages=[user(text)], max_tokens=max_tokens
    )
    limit = int(raw.headers["x-ratelimit-limit-tokens"])
    return limit - int(raw.headers["x-ratelimit-remaining-tokens"])


@not_restart
def test_a_burst_of_100_admits_no_more_than_the_budget():
    text = "burst please #ttft_ms=4000"
    in_one_window(30)
    cost = probe_cost(100, text)
    assert 100 < cost < TPM, cost
    up_control(reset=True)
    ip = fresh_ip()

    async def burst():
        c = aclient(ip)

        async def one():
            try:
                await c.chat.completions.create(
                    model=MODEL, messages=[user(text)], max_tokens=100
                )
                return 200
            except openai.RateLimitError:
                return 429

        return await asyncio.gather(*[one() for _ in range(100)])

    started = time.time()
    codes = asyncio.run(burst())
    ok = codes.count(200)
    assert codes.count(429) == 100 - ok, codes
    assert 1 <= ok <= TPM // cost, (ok, cost, TPM)
    # Every request was in before the first answer (4 s) gave anything back: exactly the
    # budget's worth was admitted.
    if time.time() - started < 4:
        assert ok == TPM // cost, (ok, cost, TPM)
    assert up_stats()["requests"] == ok


def held(c, max_tokens, hold_ms=3000):
    """Starts a request that holds its reservation for `hold_ms` (the upstream answers
    late); returns the thread and where its raw response lands."""
    out = {}

    def run():
        out["raw"] = c.chat.completions.with_raw_response.create(
            model=MODEL, messages=[user(f"slow one #ttft_ms={hold_ms}")], max_tokens=max_tokens
        )

    t = threading.Thread(target=run)
    t.start()
    time.sleep(hold_ms / 3000)
    return t, out


@not_restart
def test_429_carries_openai_rate_limit_headers():
    in_one_window(15)
    c = client(fresh_ip())
    t, out = held(c, TPM - 200)
    before = up_stats()["requests"]
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model=MODEL, messages=[user("hi")], max_tokens=300)
    assert up_stats()["requests"] == before, "refused before any upstream call"
    h = e.value.response.headers
    assert e.value.status_code == 429
    assert e.value.body["code"] == "rate_limit_exceeded", e.value.body
    assert 1 <= int(h["retry-after"]) <= 60
    assert h["x-ratelimit-limit-tokens"] == str(TPM)
    remaining = int(h["x-ratelimit-remaining-tokens"])
    assert 0 <= remaining < 200, remaining
    reset = h["x-ratelimit-reset-tokens"]
    assert reset.endswith("s") and 0 < float(reset.rstrip("ms")) <= 60000, reset
    t.join()
    # The admitted answer carries the budget too.
    raw = out["raw"]
    assert raw.headers["x-ratelimit-limit-tokens"] == str(TPM)
    assert TPM - int(raw.headers["x-ratelimit-remaining-tokens"]) >= TPM - 200


@not_restart
def test_the_reservation_is_returned_after_a_short_answer():
    in_one_window(15)
    c = client(fresh_ip())
    big = TPM * 3 // 5  # two of these do not fit together
    _, text = say(c, conv(), user("short answer please"), max_tokens=big)
    assert text
    time.sleep(0.3)  # settling is done when the answer ends; give a Redis round trip
    # Admitted: the first reservation was settled to what the answer used.
    raw, _ = say(c, conv(), user("again"), max_tokens=big)
    remaining = int(raw.headers["x-ratelimit-remaining-tokens"])
    assert remaining < TPM - big


@pytest.mark.skipif(not GATEWAY_2 or PHASE != "", reason="needs a second instance")
def test_two_instances_share_conversations_and_budgets():
    ip = fresh_ip()
    c1, c2, cid = client(ip), client(ip, GATEWAY_2), conv()
    _, a1 = say(c1, cid, user("remember blue"))
    say(c2, cid, user("what colour"))
    assert received() == [
        ("user", "remember blue"),
        ("assistant", a1),
        ("user", "what colour"),
    ]
    # A reservation held on instance 1 counts on instance 2.
    in_one_window(15)
    ip = fresh_ip()
    c1, c2 = client(ip), client(ip, GATEWAY_2)
    big = TPM * 3 // 5
    t, out = held(c1, big)
    with pytest.raises(openai.RateLimitError):
        c2.chat.completions.create(model=MODEL, messages=[user("too")], max_tokens=big)
    t.join()
    assert out["raw"].parse().choices[0].message.content


@pytest.mark.skipif(PHASE != "before_restart", reason="restart phase 1")
def test_before_restart():
    c, cid = client(fresh_ip()), os.environ["CONV_ID"]
    _, a1 = say(c, cid, user("kept across restarts"))
    with open(os.environ["STATE_FILE"], "w") as f:
        f.write(a1)


@pytest.mark.skipif(PHASE != "after_restart", reason="restart phase 2")
def test_after_restart():
    c, cid = client(fresh_ip()), os.environ["CONV_ID"]
    with open(os.environ["STATE_FILE"]) as f:
        a1 = f.read()
    say(c, cid, user("still there?"))
    assert received() == [
        ("user", "kept across restarts"),
        ("assistant", a1),
        ("user", "still there?"),
    ]


REMEMBER = os.environ.get("REMEMBER_URL", "")


@pytest.mark.skipif(not REMEMBER or PHASE != "", reason="needs the e2e app's /ai/remember")
def test_a_user_ai_handler_keeps_its_conversation():
    cid = conv()

    def turn(text):
        r = requests.post(
            REMEMBER,
            json={"messages": [user(text)], "max_tokens": 20},
            headers={"X-Conversation-Id": cid},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        return r.text

    a1 = turn("I like tea")
    turn("what do I like")
    assert received() == [("user", "I like tea"), ("assistant", a1), ("user", "what do I like")]
    assert turn("/clear") == "cleared"
    turn("fresh start")
    assert received() == [("user", "fresh start")]
