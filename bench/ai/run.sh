#!/usr/bin/env bash
# The AI gateway benchmark (issue 13): CLIENTS concurrent streaming clients x TOKENS tokens
# through Ember's chat example and through LiteLLM's proxy, both in front of the same local
# ai_upstream (fixed token rate), plus the upstream measured directly. See README.md.
#
#   bench/ai/run.sh                      # everything (about 3 minutes)
#   ONLY="upstream litellm" bench/ai/run.sh
#
# Env: CLIENTS (1000), TOKENS (200), INTERVAL_MS (20), ROUNDS (1), RAMP_MS (1000),
#      EMBER_BACKENDS ("io_uring tokio"), LITELLM_VENV (/work/venv-litellm),
#      LITELLM_WORKERS (2: LiteLLM's documented default, one per logical CPU),
#      CHAT_BIN / UPSTREAM_BIN (prebuilt binaries; default: built here in release).
# Traffic goes to 127.0.0.1 only; every run is bounded (--deadline-s); only the processes
# this script started (and their children) are stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CLIENTS=${CLIENTS:-1000}
TOKENS=${TOKENS:-200}
INTERVAL_MS=${INTERVAL_MS:-20}
ROUNDS=${ROUNDS:-1}
RAMP_MS=${RAMP_MS:-1000}
EMBER_BACKENDS=${EMBER_BACKENDS:-"io_uring tokio"}
LITELLM_VENV=${LITELLM_VENV:-/work/venv-litellm}
LITELLM_WORKERS=${LITELLM_WORKERS:-2}
ONLY=${ONLY:-"upstream ember litellm"}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DEADLINE=$(( (TOKENS * INTERVAL_MS * ROUNDS) / 1000 + 90 ))
RUN_DIR=$(mktemp -d /tmp/ember-bench-ai.XXXXXX)
RESULTS=$ROOT/bench/ai/results
mkdir -p "$RESULTS"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$RESULTS/$STAMP.jsonl
STARTED=()

descendants() { # PID -> its descendants (from /proc)
  local p=$1 c
  for c in $(awk -v p="$p" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null); do
    echo "$c"; descendants "$c"
  done
}
stop() { # stop one started process and its children
  local p=$1 kids
  kids=$(descendants "$p" || true)
  kill "$p" $kids 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" $kids 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
cleanup() { for p in "${STARTED[@]}"; do stop "$p"; done; }
trap cleanup EXIT

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "== building (release)" >&2
# Ember's side: examples/chat (tests/src/bin/chat_server.rs); where it is absent, the e2e
# app's `ember-chat` (tests/ember.yaml, the same contract) via ai_app_server.
CHAT_NAME=chat_server
[[ -f tests/src/bin/chat_server.rs ]] || CHAT_NAME=ai_app_server
if [[ -z "${CHAT_BIN:-}" || -z "${UPSTREAM_BIN:-}" ]]; then
  cargo build --release -q -p ember-tests --bin ai_upstream --bin "$CHAT_NAME"
fi
CHAT_BIN=${CHAT_BIN:-$TARGET/release/$CHAT_NAME}
UPSTREAM_BIN=${UPSTREAM_BIN:-$TARGET/release/ai_upstream}
echo "ember: $CHAT_BIN" >&2
(cd bench/ai && CARGO_TARGET_DIR=$TARGET/bench-ai cargo build --release -q)
LOAD=$TARGET/bench-ai/release/ai-load

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL, seconds
  for _ in $(seq 1 $(( $2 * 10 ))); do
    curl -s -o /dev/null -m 1 "$1" && return 0; sleep 0.1
  done
  echo "not ready: $1" >&2; return 1
}
load() { # label addr model pids [key]
  local key=()
  [[ -n "${5:-}" ]] && key=(--key "$5")
  "$LOAD" --addr "$2" --model "$3" --clients 20 --rounds 1 --tokens 5 --ramp-ms 0 \
    --deadline-s 60 "${key[@]}" --label warmup >/dev/null
  "$LOAD" --addr "$2" --model "$3" --clients "$CLIENTS" --rounds "$ROUNDS" --tokens "$TOKENS" \
    --ramp-ms "$RAMP_MS" --deadline-s "$DEADLINE" --pids "$4" --label "$1" "${key[@]}" | tee -a "$OUT"
}

echo "== upstream: $TOKENS tokens every ${INTERVAL_MS} ms" >&2
"$UPSTREAM_BIN" --listen 127.0.0.1:0 --tokens "$TOKENS" --token-interval-ms "$INTERVAL_MS" \
  >"$RUN_DIR/upstream.out" 2>&1 &
UP_PID=$!; STARTED+=("$UP_PID")
for _ in $(seq 1 50); do grep -q "listening on" "$RUN_DIR/upstream.out" && break; sleep 0.1; done
UP=$(sed -n 's/^listening on //p' "$RUN_DIR/upstream.out")
echo "upstream on $UP (pid $UP_PID)" >&2

if [[ " $ONLY " == *" upstream "* ]]; then
  load upstream-direct "$UP" model-a "$UP_PID"
fi

if [[ " $ONLY " == *" ember "* ]]; then
  for backend in $EMBER_BACKENDS; do
    port=$(free_port)
    EMBER_LISTEN=127.0.0.1:$port EMBER_BACKEND=$backend EMBER_WORKERS=2 \
      CHAT_UPSTREAM_A=http://$UP/v1 CHAT_UPSTREAM_B=http://$UP/v1 \
      "$CHAT_BIN" >"$RUN_DIR/ember-$backend.log" 2>&1 &
    pid=$!; STARTED+=("$pid")
    wait_http "http://127.0.0.1:$port/v1/models" 30
    load "ember-$backend" "127.0.0.1:$port" ember-chat "$pid"
    stop "$pid"
  done
fi

if [[ " $ONLY " == *" litellm "* ]]; then
  port=$(free_port)
  cat >"$RUN_DIR/litellm.yaml" <<YAML
model_list:
  - model_name: ember-chat
    litellm_params: { model: openai/model-a, api_base: "http://$UP/v1", api_key: none }
litellm_settings:
  set_verbose: false
  request_timeout: 600
  num_retries: 0
YAML
  KEY=sk-bench-$RANDOM$RANDOM
  LITELLM_MASTER_KEY=$KEY LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR \
    "$LITELLM_VENV/bin/litellm" --config "$RUN_DIR/litellm.yaml" --host 127.0.0.1 \
    --port "$port" --num_workers "$LITELLM_WORKERS" >"$RUN_DIR/litellm.log" 2>&1 &
  pid=$!; STARTED+=("$pid")
  wait_http "http://127.0.0.1:$port/health/liveliness" 120
  load litellm "127.0.0.1:$port" ember-chat "$pid" "$KEY"
  stop "$pid"
fi

echo "== results: $OUT (logs in $RUN_DIR)" >&2
python3 "$ROOT/bench/ai/table.py" "$OUT"
