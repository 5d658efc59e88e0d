#!/usr/bin/env python3
"""Times `ember-codegen expand` (the whole CLI: start, read, validate, generate, write to a
pipe) on a generated spec of N routes, best and median of R runs.

    python3 bench/codegen/run.py            # 300 routes, 30 runs
    python3 bench/codegen/run.py 1000 50

Builds the release CLI first (`cargo build --release -p ember-codegen`). The phases inside
the process are printed by the `timing` example.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "..", ".."))
n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 30

subprocess.run(["cargo", "build", "--release", "-q", "-p", "ember-codegen", "--bin", "ember-codegen",
                "--example", "timing"], cwd=root, check=True)
exe = os.path.join(root, "target", "release", "ember-codegen")
timing = os.path.join(root, "target", "release", "examples", "timing")

with tempfile.TemporaryDirectory() as tmp:
    spec = os.path.join(tmp, "ember.yaml")
    with open(spec, "w") as f:
        subprocess.run([sys.executable, os.path.join(here, "gen_spec.py"), str(n)], stdout=f, check=True)
    subprocess.run([exe, "check", spec], check=True, stdout=subprocess.DEVNULL)
    times = []
    size = 0
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run([exe, "expand", spec], check=True, stdout=subprocess.PIPE).stdout
        times.append((time.perf_counter() - t) * 1000)
        size = len(out)
    print(f"ember-codegen expand, {n} routes ({size} bytes of Rust), {runs} runs: "
          f"best {min(times):.1f} ms, median {statistics.median(times):.1f} ms, "
          f"worst {max(times):.1f} ms")
    subprocess.run([timing, spec, str(runs)], check=True)
