#!/usr/bin/env python3
"""CRUD benchmark: Ember's tasks API on PostgreSQL against axum 0.8 peers.

For every repetition, id distribution and contender: starts the server pinned to one
core (taskset), checks every route answers correctly, resets the data set (TRUNCATE +
10,000 rows from generate_series + VACUUM ANALYZE in a database of its own), runs an
unmeasured wrk warm-up, then the measured wrk run with mix.lua (65% list of a random page
1..50, 25% get by id, 10% create), reading before and after it:

  * the server's CPU time (utime+stime of its PID from /proc/PID/stat),
  * PostgreSQL's CPU time: the sum over the backend processes connected to the bench
    database (pg_stat_activity, /proc/PID/stat),
  * wrk's CPU time (its rusage, from wait4),
  * pg_stat_database counters of the bench database: xact_commit + xact_rollback (each
    statement the servers send is its own implicit transaction, so this is statements/s),
  * for axum+moka, its cache counters (GET /_stats: lookups, misses).

Then stops the server by its PID. Medians over the repetitions go to RESULTS.md, every run
to results.json. Contenders: ember (no cache), ember-cached (only with --ember-cached-bin),
axum (deadpool-postgres 16, no cache), axum-moka (moka get_with, 1 s TTL).

All traffic is to 127.0.0.1; every wrk run is bounded (--duration and a hard timeout);
only the PIDs this script starts are signalled.
"""

import argparse
import datetime
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CLK_TCK = os.sysconf("SC_CLK_TCK")
ALL_CONTENDERS = ["ember", "ember-cached", "axum", "axum-moka"]
DISTS = {"hot": 100, "uniform": 10000}
ROWS = 10000


def log(*a):
    print("[crud]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- PostgreSQL


class Pg:
    def __init__(self, host, port, user, db):
        self.host, self.port, self.user, self.db = host, port, user, db

    def url(self):
        return f"postgres://{self.user}@{self.host}:{self.port}/{self.db}"

    def psql(self, *commands, db=None):
        args = ["psql", "-h", self.host, "-p", str(self.port), "-U", self.user,
                "-d", db or self.db, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        for c in commands:
            args += ["-c", c]
        out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=300)
        return out.stdout.strip()

    def ensure_db(self):
        have = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.db}'", db="postgres")
        if have != "1":
            log(f"creating database {self.db}")
            self.psql(f'CREATE DATABASE "{self.db}"', db="postgres")

    def reset(self, rows):
        self.psql(
            "CREATE TABLE IF NOT EXISTS tasks (id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL, "
            "done BOOLEAN NOT NULL DEFAULT false, "
            "created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            "TRUNCATE tasks RESTART IDENTITY",
            "INSERT INTO tasks (title, done, created_at) "
            f"SELECT 'task ' || g, g % 3 = 0, now() - ({rows} - g) * interval '1 second' "
            f"FROM generate_series(1, {rows}) AS g",
            "VACUUM ANALYZE tasks",
        )
        n = int(self.psql("SELECT count(*) FROM tasks"))
        assert n == rows, f"reset left {n} rows"

    def counters(self):
        out = self.psql(
            "SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted "
            f"FROM pg_stat_database WHERE datname = '{self.db}'")
        c, r, ret, fet, ins = (int(x) for x in out.split("|"))
        return {"xacts": c + r, "tup_returned": ret, "tup_fetched": fet, "tup_inserted": ins}

    def backend_pids(self):
        out = self.psql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
        return [int(x) for x in out.split()] if out else []


def proc_cpu(pid):
    """utime+stime of a process (all its threads) in seconds, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy():
    """Busy CPU seconds of the whole machine (all cores) from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return (sum(v[:8]) - idle) / CLK_TCK


def cpu_of(pids):
    return {p: c for p in pids if (c := proc_cpu(p)) is not None}


# ---------------------------------------------------------------- HTTP checks


def http(method, url, body=None, timeout=5):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, dict(r.headers), raw
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def check_task(t, where):
    assert set(t) == {"id", "title", "done", "created_at"}, f"{where}: keys {sorted(t)}"
    assert isinstance(t["id"], int) and isinstance(t["title"], str), where
    assert isinstance(t["done"], bool), where
    assert RFC3339.match(t["created_at"]), f"{where}: created_at {t['created_at']!r}"


def check_routes(base, cached):
    """Every route, once; raises AssertionError on a wrong answer."""
    nonce = int(time.time() * 1000)
    st, _, b = http("GET", f"{base}/tasks?page=1&limit=5&n={nonce}")
    assert st == 200, f"list: {st} {b[:200]!r}"
    page = json.loads(b)
    assert set(page) == {"tasks", "total"} and isinstance(page["total"], int), page
    for t in page["tasks"]:
        check_task(t, "list")
    ids = [t["id"] for t in page["tasks"]]
    assert ids == sorted(ids, reverse=True), f"list not newest first: {ids}"
    st, h, b = http("POST", f"{base}/tasks", {"title": "  check  "})
    assert st == 201, f"create: {st} {b[:200]!r}"
    t = json.loads(b)
    check_task(t, "create")
    assert t["title"] == "check" and t["done"] is False, t
    loc = {k.lower(): v for k, v in h.items()}.get("location")
    assert loc == f"/tasks/{t['id']}", f"create: Location {loc!r}"
    st, _, b = http("GET", f"{base}/tasks/{t['id']}")
    assert st == 200 and json.loads(b) == t, f"show: {st} {b[:200]!r}"
    st, _, b = http("PATCH", f"{base}/tasks/{t['id']}", {"done": True})
    u = json.loads(b)
    assert st == 200 and u["done"] is True and u["id"] == t["id"], f"update: {st} {b!r}"
    st, _, b = http("DELETE", f"{base}/tasks/{t['id']}")
    assert st == 204, f"delete: {st} {b!r}"
    if not cached:  # a cache may still serve the deleted task for up to its TTL
        st, _, b = http("GET", f"{base}/tasks/{t['id']}")
        assert st == 404 and "error" in json.loads(b), f"show deleted: {st} {b!r}"
    st, _, b = http("GET", f"{base}/tasks?page=0&n={nonce}")
    assert st == 400 and "error" in json.loads(b), f"bad page: {st} {b!r}"
    st, _, b = http("GET", f"{base}/tasks/abc")
    assert st == 400 and "error" in json.loads(b), f"bad id: {st} {b!r}"


def check_data(base, rows):
    nonce = int(time.time() * 1000)
    st, _, b = http("GET", f"{base}/tasks?page=1&limit=20&n={nonce}")
    page = json.loads(b)
    assert st == 200 and page["total"] == rows, f"after reset: {st} total {page.get('total')}"
    assert [t["id"] for t in page["tasks"]] == list(range(rows, rows - 20, -1)), "page 1 ids"
    st, _, b = http("GET", f"{base}/tasks?page=50&limit=20&n={nonce}")
    assert st == 200 and len(json.loads(b)["tasks"]) == 20, "page 50"
    for i in (1, 100, rows):
        st, _, b = http("GET", f"{base}/tasks/{i}?n={nonce}")
        assert st == 200 and json.loads(b)["id"] == i, f"show {i}: {st}"


# ---------------------------------------------------------------- servers


def port_free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def start_server(name, args, pg):
    base = f"http://127.0.0.1:{args.port}"
    assert port_free(args.port), f"port {args.port} is already in use"
    env = dict(os.environ)
    if name in ("ember", "ember-cached"):
        binary = args.ember_bin if name == "ember" else args.ember_cached_bin
        cmd = [binary]
        env.update(EMBER_LISTEN=f"127.0.0.1:{args.port}", EMBER_WORKERS="1",
                   DATABASE_URL=pg.url(), TASKS_POOL_SIZE=str(args.pool_size))
    else:
        cmd = [args.axum_bin] + (["--moka"] if name == "axum-moka" else [])
        env.update(LISTEN=f"127.0.0.1:{args.port}", DATABASE_URL=pg.url(),
                   POOL_SIZE=str(args.pool_size))
    cmd = ["taskset", "-c", str(args.server_cpu)] + cmd
    logf = open(os.path.join(args.logdir, f"{name}.log"), "ab")
    p = subprocess.Popen(cmd, env=env, stdout=logf, stderr=logf)
    deadline = time.time() + 20
    while time.time() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"{name} exited with {p.returncode} (see {logf.name})")
        try:
            st, _, _ = http("GET", f"{base}/tasks?limit=1&n=ready", timeout=1)
            if st == 200:
                return p, base
        except OSError:
            pass
        time.sleep(0.1)
    stop_server(p)
    raise RuntimeError(f"{name} did not answer on {base}")


def stop_server(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# ---------------------------------------------------------------- wrk


def run_wrk(args, base, id_max, duration):
    env = dict(os.environ, CRUD_ID_MAX=str(id_max), CRUD_PAGES="50", CRUD_LIMIT="20")
    cmd = ["timeout", "-s", "KILL", str(duration + 30)]
    if args.wrk_cpus != "none":
        cmd += ["taskset", "-c", args.wrk_cpus]
    cmd += ["wrk", "-t", str(args.wrk_threads), "-c", str(args.connections),
            "-d", f"{duration}s", "--timeout", "10s", "--latency",
            "-s", os.path.join(HERE, "mix.lua"), base]
    outpath = os.path.join(args.logdir, "wrk.out")
    with open(outpath, "w") as out:
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    text = open(outpath).read()
    if p.returncode != 0:
        raise RuntimeError(f"wrk exited with {p.returncode}: {text[-500:]}")
    m = re.search(r"^CRUDJSON (.*)$", text, re.M)
    if not m:
        raise RuntimeError(f"no CRUDJSON line in wrk output: {text[-500:]}")
    res = json.loads(m.group(1))
    res["wrk_cpu_s"] = ru.ru_utime + ru.ru_stime
    res["wrk_text"] = text
    return res


def moka_stats(base):
    try:
        st, _, b = http("GET", f"{base}/_stats")
        return json.loads(b) if st == 200 else None
    except OSError:
        return None


# ---------------------------------------------------------------- one run


def one_run(name, dist, rep, args, pg):
    id_max = DISTS[dist]
    cached = name in ("ember-cached", "axum-moka")
    p, base = start_server(name, args, pg)
    try:
        check_routes(base, cached)
        pg.reset(ROWS)
        time.sleep(1.1 if cached else 0)  # let anything the checks cached expire
        check_data(base, ROWS)
        if args.warmup > 0:
            run_wrk(args, base, id_max, args.warmup)
        # PostgreSQL 15 backends flush their statistics at most once a second and, when
        # they go idle with some pending, up to 10 s later: let the warm-up's settle so
        # the counters below hold exactly the measured window.
        time.sleep(args.stats_settle)
        before_pids = pg.backend_pids()
        c0 = pg.counters()
        s0 = proc_cpu(p.pid)
        b0 = machine_busy()
        pg0 = cpu_of(before_pids)
        m0 = moka_stats(base) if name == "axum-moka" else None
        t0 = time.time()
        w = run_wrk(args, base, id_max, args.duration)
        wall = time.time() - t0
        s1 = proc_cpu(p.pid)
        b1 = machine_busy()
        pids = set(before_pids) | set(pg.backend_pids())
        pg1 = cpu_of(pids)
        m1 = moka_stats(base) if name == "axum-moka" else None
        time.sleep(args.stats_settle)
        c1 = pg.counters()
        rows_end = int(pg.psql("SELECT count(*) FROM tasks"))
        if p.poll() is not None:
            raise RuntimeError(f"{name} died during the run")
    finally:
        stop_server(p)
    secs = w["duration_us"] / 1e6
    n = w["requests"]
    issued = max(1, w["lists"] + w["gets"] + w["posts"])
    # What the mix asks of the database without any cache: list = page + count, get = 1,
    # create = 1 statement (scaled from the issued mix to the completed requests).
    lists, gets, posts = (n * w[k] / issued for k in ("lists", "gets", "posts"))
    uncached = 2 * lists + gets + posts
    xacts = c1["xacts"] - c0["xacts"]
    est_hit = 1 - (xacts - posts) / (2 * lists + gets) if (2 * lists + gets) else None
    ok = sum(v for k, v in w["statuses"].items() if 200 <= int(k) < 300)
    r = {
        "contender": name, "dist": dist, "rep": rep,
        "rps": n / secs, "requests": n, "secs": secs, "wall": wall,
        "p50_ms": w["p50_us"] / 1000, "p99_ms": w["p99_us"] / 1000,
        "p90_ms": w["p90_us"] / 1000, "max_ms": w["max_us"] / 1000,
        "non2xx": n - ok if w["statuses"] else w["non2xx3xx"],
        "statuses": w["statuses"],
        "sock_errors": w["connect_err"] + w["read_err"] + w["write_err"] + w["timeout_err"],
        "db_qps": xacts / secs, "db_per_req": xacts / n if n else 0,
        "db_uncached_per_req": uncached / n if n else 0,
        "tup_returned_ps": (c1["tup_returned"] - c0["tup_returned"]) / secs,
        "server_cpu": (s1 - s0) / secs * 100,
        "pg_cpu": sum(pg1.get(q, 0) - pg0.get(q, 0) for q in pids) / secs * 100,
        "pg_backends": len(pids),
        "wrk_cpu": w["wrk_cpu_s"] / secs * 100,
        "busy_cpu": (b1 - b0) / secs * 100,
        "est_hit": est_hit,
        "hit": None,
        "rows_end": rows_end,
    }
    # Everything else on the (shared) machine during the window.
    r["other_cpu"] = r["busy_cpu"] - r["server_cpu"] - r["pg_cpu"] - r["wrk_cpu"]
    if m0 and m1 and m1["lookups"] > m0["lookups"]:
        r["hit"] = 1 - (m1["misses"] - m0["misses"]) / (m1["lookups"] - m0["lookups"])
    return r


# ---------------------------------------------------------------- report


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def report(args, runs, contenders, skipped, started, finished):
    by = {}
    for r in runs:
        by.setdefault((r["contender"], r["dist"]), []).append(r)
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    pgver = subprocess.run(["psql", "-h", args.pg_host, "-U", args.pg_user, "-d", "postgres",
                            "-XAtc", "SHOW server_version"], capture_output=True,
                           text=True).stdout.strip()
    L = []
    L.append("# CRUD benchmark: Ember's tasks API against axum 0.8 (PostgreSQL)\n")
    L.append(f"Generated by `bench/crud/run.py` on {started} – {finished} (UTC).\n")
    L.append(f"Command: `{args.invocation}`\n")
    L.append(f"- Machine: {os.cpu_count()} cores ({cpu}), shared with other work: "
             "numbers are noisy; compare contenders within one repetition "
             "(ratios below are medians of same-repetition ratios).")
    L.append(f"- PostgreSQL {pgver} on 127.0.0.1, unpinned; database `{args.db}` reset before "
             f"every run: TRUNCATE … RESTART IDENTITY, {ROWS:,} rows from generate_series, "
             "VACUUM ANALYZE.")
    L.append(f"- Server: single worker / current-thread runtime, pinned with `taskset -c "
             f"{args.server_cpu}`; pool {args.pool_size} connections (deadpool-postgres).")
    L.append(f"- Load: wrk {args.wrk_threads} thread(s) (cpus: {args.wrk_cpus}), "
             f"{args.connections} connections, {args.warmup} s warm-up then {args.duration} s "
             f"measured, {args.reps} repetition(s), medians; mix.lua: 65% "
             "`GET /tasks?page=rand(1..50)&limit=20`, 25% `GET /tasks/{id}`, "
             "10% `POST /tasks`.")
    L.append("- id distributions for `GET /tasks/{id}`: hot = uniform in 1..100, "
             "uniform = uniform in 1..10,000.")
    if args.duration < 40 or args.warmup < 10 or args.reps < 3:
        L.append(f"- **Reduced run**: {args.warmup} s warm-up / {args.duration} s measured / "
                 f"{args.reps} repetition(s) instead of the issue's 10 s / 40 s / 3.")
    for s in skipped:
        L.append(f"- Skipped: {s}")
    L.append("")
    L.append("Columns: RPS = completed requests/s; p50/p99 latency from wrk; non-2xx = "
             "responses outside 200–299 plus socket errors; DB q/s = statements/s from "
             "`pg_stat_database` (xact_commit + xact_rollback of the bench database; every "
             "statement is its own implicit transaction; pg_stat_statements is not loaded on "
             f"this server; read after {args.stats_settle:g} s idle at both ends of the "
             "window so backends have flushed them); q/req = statements per request (2.0·0.65+0.25+0.10 = 1.65 "
             "without a cache); CPU in % of one core over the measured window from "
             "/proc/PID/stat utime+stime: server = its PID, PG = sum over the backends "
             "connected to the bench database, wrk = its rusage, other = the machine's busy time "
             "(/proc/stat, all cores) minus those three: other work on the shared machine and "
             "PostgreSQL's background processes; hit = cache hit ratio "
             "(moka: its own counters; est. hit = 1 − (statements − creates)/(2·lists + "
             "gets), from the DB counters, for every contender, so statement-weighted: a list "
             "counts twice; it reads ≈ 0 without a cache).\n")
    for dist in DISTS:
        if not any(d == dist for (_, d) in by):
            continue
        L.append(f"## {dist} ids (1..{DISTS[dist]:,})\n")
        L.append("| contender | RPS | p50 ms | p99 ms | non-2xx | DB q/s | q/req | "
                 "server CPU % | PG CPU % | wrk CPU % | other CPU % | hit | est. hit |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in contenders:
            rs = by.get((c, dist))
            if not rs:
                continue
            non2 = med([dict(x, n=x["non2xx"] + x["sock_errors"]) for x in rs], "n")
            L.append(
                f"| {c} | {fmt(med(rs, 'rps'), ',.0f')} | {fmt(med(rs, 'p50_ms'), '.1f')} | "
                f"{fmt(med(rs, 'p99_ms'), '.1f')} | {fmt(non2, '.0f')} | "
                f"{fmt(med(rs, 'db_qps'), ',.0f')} | {fmt(med(rs, 'db_per_req'), '.2f')} | "
                f"{fmt(med(rs, 'server_cpu'), '.0f')} | {fmt(med(rs, 'pg_cpu'), '.0f')} | "
                f"{fmt(med(rs, 'wrk_cpu'), '.0f')} | {fmt(med(rs, 'other_cpu'), '.0f')} | "
                f"{fmt(med(rs, 'hit'), '.3f')} | "
                f"{fmt(med(rs, 'est_hit'), '.3f')} |")
        L.append("")
        pairs = [("ember", "axum"), ("ember", "axum-moka"), ("ember-cached", "axum-moka"),
                 ("ember-cached", "axum")]
        lines = []
        for a, b in pairs:
            ra = {r["rep"]: r for r in by.get((a, dist), [])}
            rb = {r["rep"]: r for r in by.get((b, dist), [])}
            reps = sorted(set(ra) & set(rb))
            if not reps:
                continue
            rps = statistics.median(ra[i]["rps"] / rb[i]["rps"] for i in reps)
            p99 = statistics.median(ra[i]["p99_ms"] / rb[i]["p99_ms"] for i in reps)
            each = ", ".join(f"{ra[i]['rps'] / rb[i]['rps']:.2f}" for i in reps)
            lines.append(f"| {a} / {b} | {rps:.2f} ({each}) | {p99:.2f} |")
        if lines:
            L.append("Same-repetition ratios (median; each repetition in parentheses):\n")
            L.append("| ratio | RPS | p99 |")
            L.append("|---|---|---:|")
            L += lines
            L.append("")
    L.append("## Every run\n")
    L.append("| rep | dist | contender | RPS | p50 ms | p99 ms | statuses | sock err | "
             "DB q/s | server % | PG % | wrk % | other % | PG backends | rows at end | hit | "
             "est. hit |")
    L.append("|---:|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        sts = " ".join(f"{k}:{v}" for k, v in sorted(r["statuses"].items()))
        L.append(
            f"| {r['rep']} | {r['dist']} | {r['contender']} | {r['rps']:,.0f} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {sts} | {r['sock_errors']} | "
            f"{r['db_qps']:,.0f} | {r['server_cpu']:.0f} | {r['pg_cpu']:.0f} | "
            f"{r['wrk_cpu']:.0f} | {fmt(r.get('other_cpu'), '.0f')} | {r['pg_backends']} | "
            f"{r['rows_end']:,} | "
            f"{fmt(r['hit'], '.3f')} | "
            f"{fmt(r['est_hit'], '.3f')} |")
    L.append("")
    if args.notes:
        L.append("## Notes\n")
        L.append(open(args.notes).read().rstrip() + "\n")
    with open(args.out, "w") as f:
        f.write("\n".join(L) + "\n")
    log(f"wrote {args.out}")


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=40, help="measured seconds (40)")
    ap.add_argument("--warmup", type=int, default=10, help="warm-up seconds (10)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (3)")
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--wrk-cpus", default="1",
                    help="taskset cpu list for wrk, or 'none' (default 1)")
    ap.add_argument("--server-cpu", default="0", help="core the server is pinned to (0)")
    ap.add_argument("--contenders", default=",".join(ALL_CONTENDERS),
                    help="comma list of " + ",".join(ALL_CONTENDERS))
    ap.add_argument("--dists", default="hot,uniform", help="comma list of hot,uniform")
    ap.add_argument("--ember-bin", default=os.path.join(ROOT, "target/release/tasks"))
    ap.add_argument("--ember-cached-bin", default=None,
                    help="the tasks binary built with the read-route cache; without it the "
                         "ember-cached contender is skipped")
    ap.add_argument("--axum-bin", default=os.path.join(HERE, "target/release/crud-axum"))
    ap.add_argument("--stats-settle", type=float, default=11,
                    help="idle seconds before reading pg_stat_database, after the warm-up "
                         "and after the run, so backends have flushed their counters (11)")
    ap.add_argument("--pool-size", type=int, default=16)
    ap.add_argument("--port", type=int, default=18090)
    ap.add_argument("--pg-host", default="127.0.0.1")
    ap.add_argument("--pg-port", type=int, default=5432)
    ap.add_argument("--pg-user", default="postgres")
    ap.add_argument("--db", default="ember_bench")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--json", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--notes", default=None, help="a file appended to the report as Notes")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--check-only", action="store_true",
                    help="start each contender, check the routes and the reset, no load")
    args = ap.parse_args()
    args.invocation = "bench/crud/run.py " + " ".join(sys.argv[1:])
    args.logdir = os.path.join(HERE, "target", "logs")
    os.makedirs(args.logdir, exist_ok=True)

    contenders = [c for c in args.contenders.split(",") if c]
    for c in contenders:
        if c not in ALL_CONTENDERS:
            ap.error(f"unknown contender {c}")
    dists = [d for d in args.dists.split(",") if d]
    for d in dists:
        if d not in DISTS:
            ap.error(f"unknown dist {d}")
    skipped = []
    if "ember-cached" in contenders and not args.ember_cached_bin:
        contenders.remove("ember-cached")
        skipped.append("ember-cached (Ember with its read-route cache): no "
                       "`--ember-cached-bin` given.")
        log("skipping ember-cached: no --ember-cached-bin given")

    if not args.no_build:
        if any(c.startswith("ember") for c in contenders) and \
                args.ember_bin == os.path.join(ROOT, "target/release/tasks"):
            log("building Ember's tasks example (release)")
            subprocess.run(["cargo", "build", "--release", "-p", "tasks"], cwd=ROOT, check=True)
        if any(c.startswith("axum") for c in contenders):
            log("building the axum peer (release)")
            subprocess.run(["cargo", "build", "--release", "--locked"], cwd=HERE, check=True)

    pg = Pg(args.pg_host, args.pg_port, args.pg_user, args.db)
    pg.ensure_db()

    if args.check_only:
        for c in contenders:
            p, base = start_server(c, args, pg)
            try:
                check_routes(base, c in ("ember-cached", "axum-moka"))
                pg.reset(ROWS)
                time.sleep(1.1)
                check_data(base, ROWS)
                log(f"{c}: routes and data OK")
            finally:
                stop_server(p)
        return

    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    runs = []
    for rep in range(1, args.reps + 1):
        for dist in dists:
            for c in contenders:
                log(f"rep {rep} {dist} {c}: warm-up {args.warmup}s, measure {args.duration}s")
                r = one_run(c, dist, rep, args, pg)
                log(f"  {r['rps']:,.0f} rps p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms "
                    f"statuses {r['statuses']} sockerr {r['sock_errors']} "
                    f"db {r['db_qps']:,.0f} q/s ({r['db_per_req']:.2f}/req) "
                    f"cpu server {r['server_cpu']:.0f}% pg {r['pg_cpu']:.0f}% "
                    f"wrk {r['wrk_cpu']:.0f}% other {r['other_cpu']:.0f}% hit {fmt(r['hit'], '.3f')} "
                    f"est {fmt(r['est_hit'], '.3f')}")
                runs.append(r)
                with open(args.json, "w") as f:
                    json.dump([{k: v for k, v in x.items()} for x in runs], f, indent=1)
    finished = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    report(args, runs, contenders, skipped, started, finished)


if __name__ == "__main__":
    main()
