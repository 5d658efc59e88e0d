#!/usr/bin/env python3
"""The soak's misbehaving and streaming clients (wrk does the bulk load), for SECONDS:

* STREAMS concurrent `GET /sse/10` streams (ten events 100 ms apart, then the final
  chunk), one after another: each must end with `event: end` and the `0` chunk;
* ABORT_RATE a second, clients that send `POST /echo` with `Content-Length: 65536` and
  half the body, then go away (alternately a FIN and a RST via SO_LINGER 0).

Prints one `key value` line per count. Only 127.0.0.1.
"""

import argparse
import asyncio
import socket
import struct
import time

COUNTS = {"streams_ok": 0, "streams_bad": 0, "aborts": 0, "abort_errors": 0}


async def streams_loop(port, until):
    while time.monotonic() < until:
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"GET /sse/10 HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            await w.drain()
            raw = await asyncio.wait_for(r.read(-1), 30)
            w.close()
            good = raw.endswith(b"0\r\n\r\n") and b"event: end" in raw and raw.count(b"data: tick") == 10
            COUNTS["streams_ok" if good else "streams_bad"] += 1
        except (OSError, asyncio.TimeoutError):
            COUNTS["streams_bad"] += 1
            await asyncio.sleep(0.1)


def abort_one(port, n):
    s = socket.socket()
    try:
        s.settimeout(2)
        s.connect(("127.0.0.1", port))
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: bench\r\nContent-Length: 65536\r\n\r\n" + b"x" * 32768)
        if n % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        COUNTS["aborts"] += 1
    except OSError:
        COUNTS["abort_errors"] += 1
    finally:
        s.close()


async def aborts_loop(port, until, rate):
    n = 0
    start = time.monotonic()
    loop = asyncio.get_running_loop()
    while time.monotonic() < until:
        n += 1
        await loop.run_in_executor(None, abort_one, port, n)
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18300)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--streams", type=int, default=10)
    ap.add_argument("--abort-rate", type=float, default=200.0)
    a = ap.parse_args()
    until = time.monotonic() + a.seconds
    jobs = [streams_loop(a.port, until) for _ in range(a.streams)]
    jobs.append(aborts_loop(a.port, until, a.abort_rate))
    await asyncio.gather(*jobs)
    for k, v in COUNTS.items():
        print(k, v)


if __name__ == "__main__":
    asyncio.run(main())
