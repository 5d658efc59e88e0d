#!/usr/bin/env bash
# Token-limit admission cost per request (issue 14, point 6): counting a prompt with the
# model's BPE encoding, then reserve + settle with the memory store and with Redis
# (REDIS_URL, default redis://127.0.0.1:6379; keys under ember:bench:tpm:PID:, expiring in
# 2 minutes). Release build; prints JSON lines and appends them to results/admission.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=bench/ai/results/admission.jsonl
mkdir -p "$(dirname "$out")"
cargo test -p ember-runtime --release --lib ai::limits::bench -- --ignored --nocapture --test-threads 1 2>/dev/null \
  | grep '^{' | while read -r l; do echo "$l"; echo "{\"at\":\"$(date -u +%FT%TZ)\",\"r\":$l}" >> "$out"; done
