"""The gateway's semantic cache (issue 14, point 3) through the official `openai` SDK.

SEMANTIC_MODE=example: `examples/chat` (`chat_server`): `ember-chat` (upstream A, then B)
and `ember-chat-b` (B only) cached with the embedded embedder, `temperature: 0` only,
threshold 0.92, memory store. GATEWAY_URL, UPSTREAM_A, UPSTREAM_B.

SEMANTIC_MODE=shared: two instances of the e2e app (`tests/ember.yaml`, `store: redis`, one
prefix for this run) at GATEWAY_URL and GATEWAY_URL_2, and a third at GATEWAY_URL_DOWN whose
Redis is unreachable; all in front of UPSTREAM_A / UPSTREAM_B.

The upstream (`ai_upstream`) answers `[MODEL]` then the words of the last user message, so
a replayed answer shows which prompt it was stored for; its `/control/stats` counts calls.
"""

import json
import os
import time

import openai
import pytest
import requests

MODE = os.environ.get("SEMANTIC_MODE", "example")
GATEWAY = os.environ.get("GATEWAY_URL", "")
GATEWAY_2 = os.environ.get("GATEWAY_URL_2", "")
GATEWAY_DOWN = os.environ.get("GATEWAY_URL_DOWN", "")
UPSTREAMS = [os.environ.get("UPSTREAM_A", ""), os.environ.get("UPSTREAM_B", "")]

example = pytest.mark.skipif(MODE != "example", reason="examples/chat only")
shared = pytest.mark.skipif(MODE != "shared", reason="the shared (Redis) setup only")


def calls():
    """Chat requests the upstreams received so far."""
    return sum(requests.get(u + "/control/stats", timeout=5).json()["requests"] for u in UPSTREAMS)


def client(base=None):
    return openai.OpenAI(base_url=base or GATEWAY, api_key="unused", max_retries=0, timeout=30)


def ask(text, base=None, model="ember-chat", system=None, **kw):
    """A non-stream completion at temperature 0 (unless given): (headers, content)."""
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}
    ]
    kw.setdefault("temperature", 0)
    raw = client(base).chat.completions.with_raw_response.create(
        model=model, messages=messages, **kw
    )
    return raw.headers, raw.parse().choices[0].message.content


def hit(headers):
    return headers.get("x-ember-cache") == "semantic-hit"


def check_miss_then_hits(store, variants, base=None, **kw):
    """`store` misses and is answered upstream; each variant then hits, replaying that
    answer without an upstream call."""
    before = calls()
    h, original = ask(store, base=base, **kw)
    assert h.get("x-ember-cache") == "miss", dict(h)
    assert calls() == before + 1
    for v in variants:
        h, content = ask(v, base=base, **kw)
        assert hit(h), (v, dict(h))
        sim = float(h["x-ember-similarity"])
        assert 0.92 <= sim <= 1.0, (v, sim)
        assert content == original, v
    assert calls() == before + 1, "no upstream call on a hit"
    return original


@example
def test_the_same_prompt_hits_with_similarity_one():
    before = calls()
    check_miss_then_hits("Name three rivers of Europe.", ["Name three rivers of Europe."])
    h, _ = ask("Name three rivers of Europe.")
    assert h["x-ember-similarity"] == "1.0000"
    assert calls() == before + 1


@example
def test_lexical_paraphrases_hit():
    """What the embedded (lexical) embedder can see: case, punctuation, contractions,
    filler words, word order, a shorter form with the same content words."""
    original = check_miss_then_hits(
        "What is the capital of France?",
        [
            "what is the capital of france",
            "What's the capital of France??",
            "Please tell me what the capital of France is.",
            "France: what is its capital?",
            "capital of France",
        ],
    )
    assert "capital" in original and "France" in original  # the stored prompt's words
    check_miss_then_hits(
        "Explain how a hash map handles collisions in Rust",
        [
            "explain how hash maps handle collisions in rust",  # plurals, verb endings
            "In Rust, explain how a hash map handles collisions.",
            "Explain how a hash map handles colisions in Rust",  # a typo
        ],
    )


@example
def test_unrelated_prompts_and_other_words_miss():
    ask("What is the tallest mountain in Japan?")
    before = calls()
    for other in [
        "What is the tallest mountain in Italy?",  # another content word
        "Which peak in Japan is the highest?",  # a true paraphrase: the lexical method misses
        "How do I bake sourdough bread?",
    ]:
        h, content = ask(other)
        assert h.get("x-ember-cache") == "miss", (other, dict(h))
        assert "x-ember-similarity" not in h
    assert calls() == before + 3


@example
def test_a_streamed_hit_is_a_valid_openai_stream():
    _, original = ask("Describe the water cycle in two sentences.")
    before = calls()
    raw = client().chat.completions.with_raw_response.create(
        model="ember-chat",
        messages=[{"role": "user", "content": "describe the water cycle in two sentences"}],
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers["x-ember-cache"] == "semantic-hit"
    assert raw.headers["content-type"].startswith("text/event-stream")
    chunks = list(raw.parse())
    assert calls() == before
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1 and chunks[0].object == "chat.completion.chunk"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == original
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    # Without include_usage: no usage chunk.
    stream = client().chat.completions.create(
        model="ember-chat",
        messages=[{"role": "user", "content": "Describe the water cycle in two sentences"}],
        temperature=0,
        stream=True,
    )
    chunks = list(stream)
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == original


@example
def test_a_streamed_answer_fills_the_cache():
    before = calls()
    stream = client().chat.completions.create(
        model="ember-chat",
        messages=[{"role": "user", "content": "List the planets of the solar system."}],
        temperature=0,
        stream=True,
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert calls() == before + 1
    h, content = ask("list the planets of the solar system")
    assert hit(h) and content == streamed
    assert calls() == before + 1


@example
def test_another_system_prompt_or_model_misses():
    q = "Summarize the plot of Hamlet."
    _, brief = ask(q, system="Be brief.")
    before = calls()
    h, _ = ask(q, system="Be brief.")
    assert hit(h)
    h, _ = ask(q, system="Be verbose.")
    assert h["x-ember-cache"] == "miss"
    h, _ = ask(q)  # no system prompt at all
    assert h["x-ember-cache"] == "miss"
    h, other = ask(q, model="ember-chat-b", system="Be brief.")
    assert h["x-ember-cache"] == "miss" and other.startswith("[model-b]")
    h, again = ask(q, model="ember-chat-b", system="Be brief.")
    assert hit(h) and again == other
    h, _ = ask(q, system="Be brief.", max_tokens=5)  # another sampling parameter
    assert h["x-ember-cache"] == "miss"
    assert calls() == before + 4


@example
def test_only_temperature_zero_is_cached():
    before = calls()
    for _ in range(2):
        h, _ = ask("Give me a haiku about autumn.", temperature=0.7)
        assert "x-ember-cache" not in h
    raw = client().chat.completions.with_raw_response.create(
        model="ember-chat", messages=[{"role": "user", "content": "Give me a haiku about autumn."}]
    )  # no temperature: the model's default, not 0
    assert "x-ember-cache" not in raw.headers
    assert calls() == before + 3


@example
def test_an_answer_cut_short_is_not_cached():
    for u in UPSTREAMS:
        requests.post(u + "/control", json={"fail_after_tokens": 2}, timeout=5)
    try:
        with pytest.raises(openai.APIError):
            stream = client().chat.completions.create(
                model="ember-chat",
                messages=[{"role": "user", "content": "Tell me about the Roman empire."}],
                temperature=0,
                stream=True,
            )
            for _ in stream:
                pass
    finally:
        for u in UPSTREAMS:
            requests.post(u + "/control", json={"reset": True}, timeout=5)
    before = calls()
    h, _ = ask("Tell me about the Roman empire.")
    assert h["x-ember-cache"] == "miss"
    assert calls() == before + 1


@shared
def test_an_entry_stored_by_one_instance_hits_on_the_other():
    before = calls()
    h, original = ask("Which gases make up the air we breathe?")
    assert h["x-ember-cache"] == "miss"
    assert calls() == before + 1
    time.sleep(0.5)  # the entry goes to Redis right after the answer (in the background)
    for q in [
        "Which gases make up the air we breathe?",
        "which gases make up the air we breathe",
        "Please tell me which gases make up the air we breathe.",
    ]:
        h, content = ask(q, base=GATEWAY_2)
        assert hit(h), (q, dict(h))
        assert content == original
    assert calls() == before + 1, "the second instance made no upstream call"
    # The other way round, streamed.
    _, second = ask("How many bones are in the human body?", base=GATEWAY_2)
    time.sleep(0.5)
    stream = client().chat.completions.create(
        model="ember-chat",
        messages=[{"role": "user", "content": "how many bones are in the human body"}],
        temperature=0,
        stream=True,
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == second
    assert calls() == before + 2


@shared
def test_redis_down_the_cache_works_locally():
    before = calls()
    h, original = ask("Why is the sky blue?", base=GATEWAY_DOWN)
    assert h["x-ember-cache"] == "miss"
    h, content = ask("why is the sky blue", base=GATEWAY_DOWN)
    assert hit(h) and content == original
    assert calls() == before + 1
    # What it stored never reached the shared Redis.
    h, _ = ask("Why is the sky blue?", base=GATEWAY_2)
    assert h["x-ember-cache"] == "miss"
    assert calls() == before + 2
