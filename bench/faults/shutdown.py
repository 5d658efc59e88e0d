#!/usr/bin/env python3
"""SIGTERM under load: graceful shutdown, measured.

Starts the bench app (one backend), opens STREAMS SSE streams (`GET /sse/0`: an event
every 100 ms until shutdown, then a final `event: shutdown` chunk) and CONNS connections each
with one `GET /sleep/SLEEP_MS` in flight, then sends SIGTERM. It checks that:

* every in-flight request completes: `200`, full body;
* every stream ends with its final chunk and the terminating `0` chunk;
* connections opened after SIGTERM (one every 20 ms until the process is gone) are
  refused cleanly: `ECONNREFUSED`, or a complete response; never accepted then reset or
  closed without an answer;
* the process exits (status 0) within `shutdown_grace` (GRACE, 5 s in app/ember.yaml);
* its stderr has no panic.

Only 127.0.0.1; the app is the only process started and it is stopped by its PID.

    bench/faults/shutdown.py --backend io_uring
    bench/faults/shutdown.py --backend tokio --conns 200 --streams 50 --sleep-ms 200
"""

import argparse
import asyncio
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def default_bin():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(HERE, "target")
    return os.path.join(target, "release", "bench-faults")


async def read_response(reader):
    """Reads one response. Returns (status, headers, body, error); error is None when the
    response is complete, else what went wrong ("eof", "reset", "timeout", ...)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        return None, {}, b"", "eof" if not e.partial else "eof-in-head"
    except (ConnectionResetError, BrokenPipeError):
        return None, {}, b"", "reset"
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ")[1])
    except (IndexError, ValueError):
        return None, {}, b"", "bad-status-line"
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = bytearray()
    try:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # no trailers are sent
                    return status, headers, bytes(body), None
                body += await reader.readexactly(size)
                await reader.readexactly(2)
        n = int(headers.get("content-length", "0"))
        body += await reader.readexactly(n)
        return status, headers, bytes(body), None
    except asyncio.IncompleteReadError as e:
        body += e.partial
        return status, headers, bytes(body), "eof-in-body"
    except (ConnectionResetError, BrokenPipeError):
        return status, headers, bytes(body), "reset-in-body"


async def stream(port, ready, results):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /sse/0 HTTP/1.1\r\nHost: bench\r\n\r\n")
    await writer.drain()
    # The head and the first event arrive before SIGTERM.
    first = await reader.readuntil(b"data: tick 0\n\n")
    ready.release()
    rest = bytearray()
    err = None
    try:
        while True:
            b = await reader.read(65536)
            if not b:
                break
            rest += b
    except ConnectionResetError:
        err = "reset"
    writer.close()
    raw = first + bytes(rest)
    terminated = raw.endswith(b"0\r\n\r\n")
    final = b"event: shutdown" in raw[-200:]
    results.append({"terminated": terminated and err is None, "final": final,
                    "ticks": raw.count(b"data: tick"), "error": err})


async def in_flight(port, sleep_ms, sent, results):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /sleep/{sleep_ms} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    await writer.drain()
    t = time.monotonic()
    sent.release()
    status, headers, body, err = await read_response(reader)
    results.append({"status": status, "error": err,
                    "complete": err is None and body == f"slept {sleep_ms}".encode(),
                    "connection": headers.get("connection", ""),
                    "ms": (time.monotonic() - t) * 1000})
    writer.close()


async def newcomer(port, results):
    t = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), 3)
    except ConnectionRefusedError:
        results.append({"outcome": "refused"})
        return
    except (OSError, asyncio.TimeoutError) as e:
        results.append({"outcome": f"connect-error {e!r}"})
        return
    try:
        writer.write(b"GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n")
        await writer.drain()
        status, _, _, err = await asyncio.wait_for(read_response(reader), 10)
        outcome = f"answered {status}" if err is None else f"accepted then {err}"
    except (ConnectionResetError, BrokenPipeError):
        outcome = "accepted then reset"
    except asyncio.TimeoutError:
        outcome = "accepted then no answer in 10 s"
    writer.close()
    results.append({"outcome": outcome, "ms": (time.monotonic() - t) * 1000})


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="io_uring")
    ap.add_argument("--bin", default=default_bin())
    ap.add_argument("--port", type=int, default=int(os.environ.get("APP_PORT", "18300")))
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--streams", type=int, default=50)
    ap.add_argument("--sleep-ms", type=int, default=200)
    ap.add_argument("--grace", type=float, default=5.0, help="shutdown_grace of the spec")
    ap.add_argument("--log", default=None, help="the app's stderr (default: a temp file)")
    ap.add_argument("--json", action="store_true", help="print the raw results as JSON")
    ap.add_argument("--header", action="store_true", help="print the table's header first")
    a = ap.parse_args()

    if port_open(a.port):
        sys.exit(f"port {a.port} already in use; refusing")
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"no {a.bin}: cd bench/faults && cargo build --release --locked")
    log_path = a.log or f"/tmp/ember-shutdown-{a.backend}-{os.getpid()}.log"
    env = dict(os.environ, EMBER_LISTEN=f"127.0.0.1:{a.port}", EMBER_BACKEND=a.backend,
               EMBER_WORKERS="2")
    with open(log_path, "wb") as log:
        app = subprocess.Popen([a.bin], env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        for _ in range(100):
            if port_open(a.port):
                break
            time.sleep(0.1)
        else:
            sys.exit("the app never listened")

        streams, flights, news = [], [], []
        ready = asyncio.Semaphore(0)
        tasks = [asyncio.create_task(stream(a.port, ready, streams)) for _ in range(a.streams)]
        for _ in range(a.streams):
            await asyncio.wait_for(ready.acquire(), 20)
        sent = asyncio.Semaphore(0)
        tasks += [asyncio.create_task(in_flight(a.port, a.sleep_ms, sent, flights))
                  for _ in range(a.conns)]
        for _ in range(a.conns):
            await asyncio.wait_for(sent.acquire(), 20)
        # Every request is written; give the server a moment to read them (well under
        # the handler's sleep), then SIGTERM while all of them are in the handler.
        await asyncio.sleep(min(0.05, a.sleep_ms / 4000))
        early = len(flights)
        t_term = time.monotonic()
        app.send_signal(signal.SIGTERM)
        exited_at = None
        # Newcomers: one every 20 ms while the process lives (at most 10 s).
        nt = []
        while time.monotonic() - t_term < 10:
            await asyncio.sleep(0.02)
            if app.poll() is not None:
                exited_at = exited_at or time.monotonic()
                break
            nt.append(asyncio.create_task(newcomer(a.port, news)))
        tasks += nt
        while app.poll() is None and time.monotonic() - t_term < a.grace + 10:
            await asyncio.sleep(0.01)
        if app.poll() is not None and exited_at is None:
            exited_at = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    exit_s = (exited_at - t_term) if exited_at else None
    with open(log_path, "rb") as f:
        panics = f.read().decode("utf-8", "replace").lower().count("panicked")

    ok_flights = sum(1 for r in flights if r["status"] == 200 and r["complete"])
    ok_streams = sum(1 for r in streams if r["terminated"] and r["final"])
    outcomes = {}
    for r in news:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    dirty = sum(n for o, n in outcomes.items() if not (o == "refused" or o.startswith("answered")))
    bad_flights = {}
    for r in flights:
        if not (r["status"] == 200 and r["complete"]):
            k = f"{r['status']} {r['error']}"
            bad_flights[k] = bad_flights.get(k, 0) + 1
    bad_streams = {}
    for r in streams:
        if not (r["terminated"] and r["final"]):
            k = f"terminated={r['terminated']} final={r['final']} error={r['error']}"
            bad_streams[k] = bad_streams.get(k, 0) + 1
    passed = (ok_flights == a.conns and ok_streams == a.streams and dirty == 0
              and exit_s is not None and exit_s <= a.grace and app.returncode == 0
              and panics == 0)
    summary = {
        "backend": a.backend, "in_flight_ok": ok_flights, "in_flight": a.conns,
        "in_flight_failures": bad_flights, "answered_before_sigterm": early,
        "in_flight_max_ms": round(max((r["ms"] for r in flights), default=0), 1),
        "streams_ok": ok_streams, "streams": a.streams, "stream_failures": bad_streams,
        "newcomers": outcomes, "exit_s": None if exit_s is None else round(exit_s, 3),
        "exit_status": app.returncode, "grace_s": a.grace, "panics": panics,
        "pass": passed, "log": log_path,
    }
    if a.json:
        print(json.dumps(summary, indent=2))
    if a.header:
        print("| backend | in-flight answered 200 | streams ended with final chunk | "
              "connections after SIGTERM | exit after SIGTERM | panics | failures | target |")
        print("|---|---:|---:|---|---:|---:|---|---|")
    newc = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) or "none tried"
    fails = "; ".join(f"{n}× {k}" for k, n in {**bad_flights, **bad_streams}.items()) or "-"
    print(f"| {a.backend} | {ok_flights}/{a.conns} | {ok_streams}/{a.streams} | {newc} | "
          f"{summary['exit_s']} s (status {app.returncode}) | {panics} | {fails} | "
          f"{'PASS' if passed else 'FAIL'} |")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
