#!/usr/bin/env python3
"""Resident memory of an Ember server: idle, and with N idle keep-alive connections.

Starts BIN (one worker, the given backend) on 127.0.0.1, reads VmRSS / RssAnon / RssFile
from /proc/PID/status when it is idle, then opens N connections, sends one request on
each, reads its answer and keeps the connection open, and reads VmRSS again; prints the
figures and the RSS per 1,000 idle connections. Stops only the server it started.

    bench/memory/idle.py [--bin target/release/hello] [--backend io_uring] [--conns 1000]
"""
import argparse, os, resource, socket, subprocess, sys, time

def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[k] = int(v.split()[0])
    return out

def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--bin", default=os.path.join(here, "../../target/release/hello"))
    ap.add_argument("--backend", default="io_uring")
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--port", type=int, default=18095)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, a.conns + 100)), hard))
    env = dict(os.environ, EMBER_LISTEN=f"127.0.0.1:{a.port}", EMBER_WORKERS="1",
               EMBER_BACKEND=a.backend)
    p = subprocess.Popen([a.bin], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", a.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.5)
        idle = status(p.pid)
        socks = []
        req = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        for _ in range(a.conns):
            s = socket.create_connection(("127.0.0.1", a.port))
            s.sendall(req)
            socks.append(s)
        for s in socks:
            got = b""
            while b"Hello, World!" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    sys.exit("server closed a connection")
                got += chunk
        time.sleep(0.5)
        held = status(p.pid)
        per_k = (held["VmRSS"] - idle["VmRSS"]) * 1000 / a.conns
        print(f"backend={a.backend} idle: VmRSS {idle['VmRSS']} KiB (anon {idle['RssAnon']}, "
              f"file {idle['RssFile']}); with {a.conns} idle keep-alive connections: VmRSS "
              f"{held['VmRSS']} KiB (anon {held['RssAnon']}); per 1,000 connections: "
              f"{per_k:.0f} KiB")
        for s in socks:
            s.close()
    finally:
        p.terminate()
        p.wait(timeout=10)

if __name__ == "__main__":
    main()
