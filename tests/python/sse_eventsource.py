"""A browser-style EventSource client (httpx-sse) for tests/tests/sse.rs.

Reads GET {base}/sse/resume until the server ends the stream, then reconnects the way a
browser's EventSource does: after the server's `retry` delay, sending the id of the last
event it saw as `Last-Event-ID`. Prints every event it received as JSON lines, one
connection after another, then "done".

Usage: python sse_eventsource.py http://127.0.0.1:PORT CONNECTIONS
"""

import json
import sys
import time

import httpx
from httpx_sse import connect_sse


def main() -> None:
    base, connections = sys.argv[1], int(sys.argv[2])
    last_id = None
    retry_ms = 3000
    with httpx.Client(timeout=10) as client:
        for n in range(connections):
            if n > 0:
                time.sleep(retry_ms / 1000)
            headers = {"Last-Event-ID": last_id} if last_id is not None else {}
            with connect_sse(client, "GET", base + "/sse/resume", headers=headers) as source:
                ctype = source.response.headers["content-type"]
                cache = source.response.headers.get("cache-control")
                for event in source.iter_sse():
                    if event.id:
                        last_id = event.id
                    if event.retry is not None:
                        retry_ms = event.retry
                    print(json.dumps({
                        "connection": n,
                        "content_type": ctype,
                        "cache_control": cache,
                        "event": event.event,
                        "id": event.id,
                        "data": event.data,
                        "retry": event.retry,
                    }), flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
