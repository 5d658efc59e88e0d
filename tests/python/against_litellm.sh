#!/usr/bin/env bash
# Runs test_gateway.py against LiteLLM's proxy (the reference implementation of the same
# protocol) in front of two ai_upstream processes, configured like examples/chat (A then B,
# cooldown after failures for 5 s). By hand, not in CI: it checks the suite itself.
#   tests/python/against_litellm.sh [pytest args]
# Env: LITELLM_VENV (/work/venv-litellm, with `litellm[proxy]`), EMBER_PYTHON (/work/venv).
# Loopback only; stops only the processes it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
LITELLM_VENV=${LITELLM_VENV:-/work/venv-litellm}
PY=${EMBER_PYTHON:-/work/venv/bin/python}
cargo build -q -p ember-tests --bin ai_upstream
BIN=${CARGO_TARGET_DIR:-target}/debug/ai_upstream
DIR=$(mktemp -d /tmp/ember-litellm-check.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" $(awk -v p="$p" '"'"'$4 == p { print $1 }'"'"' /proc/[0-9]*/stat 2>/dev/null) 2>/dev/null || true; done' EXIT
for n in a b; do
  "$BIN" --listen 127.0.0.1:0 >"$DIR/$n.out" 2>&1 & PIDS+=($!)
done
sleep 0.5
A=$(sed -n 's/^listening on //p' "$DIR/a.out"); B=$(sed -n 's/^listening on //p' "$DIR/b.out")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$DIR/config.yaml" <<YAML
model_list:
  - model_name: ember-chat
    litellm_params: { model: openai/model-a, api_base: "http://$A/v1", api_key: none }
  - model_name: ember-chat-b
    litellm_params: { model: openai/model-b, api_base: "http://$B/v1", api_key: none }
router_settings:
  fallbacks: [{"ember-chat": ["ember-chat-b"]}]
  allowed_fails: 1
  cooldown_time: 5
  num_retries: 0
litellm_settings:
  num_retries: 0
YAML
KEY=sk-check-$RANDOM$RANDOM
LITELLM_MASTER_KEY=$KEY LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR \
  "$LITELLM_VENV/bin/litellm" --config "$DIR/config.yaml" --host 127.0.0.1 --port "$PORT" \
  >"$DIR/litellm.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 600); do curl -s -o /dev/null "http://127.0.0.1:$PORT/health/liveliness" && break; sleep 0.2; done
GATEWAY_URL=http://127.0.0.1:$PORT/v1 GATEWAY_KEY=$KEY GATEWAY_KIND=litellm \
  UPSTREAM_A=http://$A UPSTREAM_B=http://$B \
  timeout 600 "$PY" -m pytest -q -p no:cacheprovider tests/python/test_gateway.py "$@"
