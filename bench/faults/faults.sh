#!/usr/bin/env bash
# Faults under load: the benchmark's own Redis (or Memcached) is killed with SIGKILL and
# started again while wrk drives the routes that use it, on each backend.
#
#   bench/faults/faults.sh redis                      # 30 s, kill at 10 s, down 5 s, both backends
#   bench/faults/faults.sh memcached --backends tokio --duration 10 --kill-at 4 --down 3
#   bench/faults/faults.sh redis --fault stop             # a black hole instead of a crash
#
# --fault kill (default): SIGKILL, then a new server on the same port after --down seconds
#   (connections are refused meanwhile: the fast failure).
# --fault stop: SIGSTOP, then SIGCONT after --down seconds: the server accepts connections
#   (the kernel's backlog) and answers nothing, existing connections hang: every operation
#   must end by its timeout.
#
# redis:     /c/redis/{k} (cached, `timeout: 100ms`) and /rl/redis (rate-limited in Redis,
#            100 clients keyed on x-client: 429s are expected), half and half
# memcached: /c/memcached/{k} (cached, `timeout: 100ms`)
#
# The main wrk (-c 200 by default) runs for the whole duration and gives the totals: socket
# errors (connect/read/write/timeout: "failed"), statuses (5xx counted apart, 429 is the
# limiter), p99. Probe wrks (-c 20, same routes) run alone in three windows of `--down`
# seconds: before the kill, during the outage (starting at the kill) and after the
# restart, and give the p99 in each window while the main load runs. Target: 0 failed,
# 0 5xx, p99 during the outage <= the stores' `timeout` (100 ms in app/ember.yaml).
# Only 127.0.0.1; the store runs on its own port (REDIS_PORT 16379, MEMCACHED_PORT 21211),
# never the shared 6379/11211; every process is stopped by its PID.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

STORE=${1:-}
[[ $STORE == redis || $STORE == memcached ]] || { echo "usage: $0 redis|memcached [options]" >&2; exit 2; }
shift
BACKENDS="io_uring tokio"
DURATION=30
KILL_AT=10
DOWN=5
CONNS=200
TARGET_MS=100
FAULT=kill
LOGDIR=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --backends) BACKENDS=${2//,/ }; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --kill-at) KILL_AT=$2; shift 2 ;;
        --down) DOWN=$2; shift 2 ;;
        --conns) CONNS=$2; shift 2 ;;
        --logs) LOGDIR=$2; shift 2 ;;
        --fault) FAULT=$2; shift 2 ;;
        --target-ms) TARGET_MS=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $FAULT == kill || $FAULT == stop ]] || { echo "--fault kill|stop" >&2; exit 2; }
(( KILL_AT + DOWN < DURATION )) || { echo "--kill-at + --down must be < --duration" >&2; exit 2; }
need wrk awk
if [[ $STORE == redis ]]; then need redis-server; else need memcached; fi
check_bin
LOGDIR=${LOGDIR:-$(mktemp -d /tmp/ember-faults-$STORE.XXXXXX)}
mkdir -p "$LOGDIR"
trap cleanup EXIT
refuse_if_busy "$APP_PORT" "$REDIS_PORT" "$MEMCACHED_PORT"
URL=http://127.0.0.1:$APP_PORT
LUA=$FAULTS_DIR/faults.lua

start_store() { if [[ $STORE == redis ]]; then start_redis; else start_memcached; fi; }
kill_store() { if [[ $STORE == redis ]]; then kill_redis; else kill_memcached; fi; }
store_pid() { if [[ $STORE == redis ]]; then echo "$REDIS_PID"; else echo "$MEMCACHED_PID"; fi; }

T0=0
at() { # sleeps until $1 seconds after T0
    local d
    d=$(awk -v t0="$T0" -v a="$1" -v now="$(date +%s.%N)" 'BEGIN { d = t0 + a - now; print (d > 0 ? d : 0) }')
    sleep "$d"
}

probe() { # name duration: a small wrk alone in a window, in the background
    timeout $(($2 + 15)) wrk -t1 -c20 -d"$2s" --timeout 2s -s "$LUA" "$URL" -- "$STORE" \
        >"$LOGDIR/probe-$1-$BACKEND.txt" 2>&1 &
    BG_PIDS+=($!)
}

ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }

ROWS=()
for BACKEND in $BACKENDS; do
    log "$STORE / $BACKEND: store on $(if [[ $STORE == redis ]]; then echo "$REDIS_PORT"; else echo "$MEMCACHED_PORT"; fi), app on $APP_PORT, logs in $LOGDIR"
    start_store
    start_app "$BACKEND"
    # Warm the connections and some entries.
    timeout 20 wrk -t1 -c10 -d2s -s "$LUA" "$URL" -- "$STORE" >/dev/null 2>&1 || true
    fd0=$(fd_snapshot "$LOGDIR/fd-before-$BACKEND.txt")
    T0=$(date +%s.%N)
    timeout $((DURATION + 30)) wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 2s -s "$LUA" "$URL" -- "$STORE" \
        >"$LOGDIR/main-$BACKEND.txt" 2>&1 &
    MAIN=$!
    BG_PIDS+=("$MAIN")
    before_at=$((KILL_AT - DOWN - 1))
    if (( before_at >= 1 )); then
        at "$before_at"
        probe before "$DOWN"
    fi
    at "$KILL_AT"
    if [[ $FAULT == kill ]]; then
        kill_store
        log "$STORE killed (SIGKILL) at ${KILL_AT}s"
    else
        kill -STOP "$(store_pid)"
        log "$STORE stopped (SIGSTOP) at ${KILL_AT}s"
    fi
    probe outage "$DOWN"
    at $((KILL_AT + DOWN))
    if [[ $FAULT == kill ]]; then
        start_store
        log "$STORE restarted at $((KILL_AT + DOWN))s"
    else
        kill -CONT "$(store_pid)"
        log "$STORE continued (SIGCONT) at $((KILL_AT + DOWN))s"
    fi
    after_at=$((KILL_AT + DOWN + 1))
    (( after_at + DOWN < DURATION )) && { at "$after_at"; probe after "$DOWN"; }
    wait "$MAIN" || true
    for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    BG_PIDS=()
    sleep 1
    fd1=$(fd_snapshot "$LOGDIR/fd-after-$BACKEND.txt")
    sport=$(if [[ $STORE == redis ]]; then echo "$REDIS_PORT"; else echo "$MEMCACHED_PORT"; fi)
    sconns=$(ss -tanp 2>/dev/null | grep "pid=$APP_PID," | grep -c ":$sport " || true)
    alive=yes
    kill -0 "$APP_PID" 2>/dev/null || alive=no
    stop_app
    rc="$APP_RC in ${APP_STOP_S}s"
    kill_store
    m=$LOGDIR/main-$BACKEND.txt
    failed=0
    for e in connect read write timeout; do failed=$((failed + $(wrk_field "$m" errors $e))); done
    fivexx=$(wrk_5xx "$m")
    other=$(( $(wrk_non2xx "$m") - fivexx ))
    limited=$(wrk_status "$m" 429)
    reqs=$(wrk_field "$m" requests)
    hit=$(wrk_field "$m" cache HIT)
    p99=$(ms "$(wrk_field "$m" latency p99)")
    pb=-; po=-; pa=-; mo=-; ofail=0; o5=0
    [[ -f $LOGDIR/probe-before-$BACKEND.txt ]] && pb=$(ms "$(wrk_field "$LOGDIR/probe-before-$BACKEND.txt" latency p99)")
    [[ -f $LOGDIR/probe-after-$BACKEND.txt ]] && pa=$(ms "$(wrk_field "$LOGDIR/probe-after-$BACKEND.txt" latency p99)")
    o=$LOGDIR/probe-outage-$BACKEND.txt
    po=$(ms "$(wrk_field "$o" latency p99)")
    mo=$(ms "$(wrk_field "$o" latency max)")
    for e in connect read write timeout; do ofail=$((ofail + $(wrk_field "$o" errors $e))); done
    o5=$(wrk_5xx "$o")
    warns=$(grep -c 'WARN' "$LOGDIR/app-$BACKEND.log" || true)
    panics=$(grep -ci 'panick' "$LOGDIR/app-$BACKEND.log" || true)
    verdict=PASS
    (( failed + ofail > 0 || fivexx + o5 > 0 )) && verdict=FAIL
    awk -v p="$po" -v t="$TARGET_MS" 'BEGIN { exit !(p > t) }' && verdict=FAIL
    [[ $alive == yes ]] || verdict=FAIL
    ROWS+=("| $STORE | $BACKEND | $reqs | $failed | $fivexx | $other | $limited | $hit | $p99 | $pb | $po ($ofail failed, $o5 5xx) | $mo | $pa | $warns | $panics | $fd0→$fd1 ($sconns to the store) | $rc | $verdict |")
done

echo
echo "$STORE $(if [[ $FAULT == kill ]]; then echo "killed (SIGKILL)"; else echo "stopped (SIGSTOP)"; fi) at ${KILL_AT}s for ${DOWN}s of a ${DURATION}s wrk at -c$CONNS; probes -c20 for ${DOWN}s; latencies in ms; logs: $LOGDIR"
echo "| store | backend | requests | failed | 5xx | other non-2xx | 429 | X-Cache HIT | p99 all | p99 before | p99 outage | max outage | p99 after restart | WARN lines | panics | fds before→after (idle) | exit | target |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"
printf '%s\n' "${ROWS[@]}"
