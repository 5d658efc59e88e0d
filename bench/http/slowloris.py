#!/usr/bin/env python3
"""Slowloris load for Ember's header timeout (loopback only, bounded).

Opens N connections to 127.0.0.1:PORT, each sending a request head one byte at a time
(one byte per second per connection, never finishing), and records when the server closes
each one. Prints how many were closed and the spread of their lifetimes.

    python3 slowloris.py PORT [N=1000] [SECONDS=20]
"""
import socket
import sys
import time

port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
duration = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
head = b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 10_000

conns, opened = [], []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setblocking(False)
    conns.append(s)
    opened.append(time.monotonic())
pos = [0] * n
closed_at = [None] * n
start = time.monotonic()
while time.monotonic() - start < duration and any(c is None for c in closed_at):
    for i, s in enumerate(conns):
        if closed_at[i] is not None:
            continue
        try:
            s.send(head[pos[i]:pos[i] + 1])
            pos[i] += 1
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            closed_at[i] = time.monotonic()
            continue
        try:
            data = s.recv(4096)
            if data == b"" or data.startswith(b"HTTP/1.1 408"):
                closed_at[i] = time.monotonic()
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            closed_at[i] = time.monotonic()
    time.sleep(max(0.0, 1.0 - (time.monotonic() - start) % 1.0))
lifetimes = sorted(c - o for c, o in zip(closed_at, opened) if c is not None)
for s in conns:
    s.close()
if lifetimes:
    print(f"slowloris: {len(lifetimes)}/{n} closed by the server; lifetime min {lifetimes[0]:.1f}s "
          f"median {lifetimes[len(lifetimes)//2]:.1f}s max {lifetimes[-1]:.1f}s")
else:
    print(f"slowloris: 0/{n} closed by the server within {duration:.0f}s")
