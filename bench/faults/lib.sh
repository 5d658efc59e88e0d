# Shared by the fault and soak scripts (sourced). Every process started here is recorded
# by PID and stopped by PID; nothing else is touched. Only 127.0.0.1 is used.

FAULTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$FAULTS_DIR/../.." && pwd)
APP_BIN=${APP_BIN:-${CARGO_TARGET_DIR:-$FAULTS_DIR/target}/release/bench-faults}
APP_PORT=${APP_PORT:-18300}
REDIS_PORT=${REDIS_PORT:-16379}
MEMCACHED_PORT=${MEMCACHED_PORT:-21211}
APP_PID=""
REDIS_PID=""
MEMCACHED_PID=""
BG_PIDS=()

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

port_busy() { # true when something listens on 127.0.0.1:$1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port() { # port [tries of 0.1 s]: waits until it accepts
    local i
    for ((i = 0; i < ${2:-100}; i++)); do
        port_busy "$1" && return 0
        sleep 0.1
    done
    log "port $1 never opened"
    return 1
}

refuse_if_busy() { # port...
    local p
    for p in "$@"; do
        if port_busy "$p"; then
            log "port $p is already in use by someone else; refusing (set APP_PORT/REDIS_PORT/MEMCACHED_PORT)"
            exit 1
        fi
    done
}

start_redis() { # our own redis-server, no persistence
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize no --logfile "$LOGDIR/redis.log" >/dev/null 2>&1 &
    REDIS_PID=$!
    wait_port "$REDIS_PORT"
}

kill_redis() { # kill -9, as a crash would
    [[ -n $REDIS_PID ]] || return 0
    kill -9 "$REDIS_PID" 2>/dev/null || true   # also ends a SIGSTOPped one
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
}

start_memcached() {
    local user=()
    [[ $(id -u) == 0 ]] && user=(-u nobody)
    memcached -l 127.0.0.1 -p "$MEMCACHED_PORT" -U 0 -m 64 "${user[@]}" \
        >"$LOGDIR/memcached.log" 2>&1 &
    MEMCACHED_PID=$!
    wait_port "$MEMCACHED_PORT"
}

kill_memcached() {
    [[ -n $MEMCACHED_PID ]] || return 0
    kill -9 "$MEMCACHED_PID" 2>/dev/null || true
    wait "$MEMCACHED_PID" 2>/dev/null || true
    MEMCACHED_PID=""
}

start_app() { # backend [VAR=VALUE...]: the bench app, stderr to $LOGDIR/app-<backend>.log
    local backend=$1
    shift
    env EMBER_LISTEN="127.0.0.1:$APP_PORT" EMBER_WORKERS=2 EMBER_BACKEND="$backend" \
        EMBER_LOG="${EMBER_LOG:-warn}" RUST_LOG="${RUST_LOG:-warn}" \
        FAULTS_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
        FAULTS_MEMCACHED_ADDR="127.0.0.1:$MEMCACHED_PORT" "$@" \
        "$APP_BIN" 2>"$LOGDIR/app-$backend.log" >/dev/null &
    APP_PID=$!
    wait_port "$APP_PORT"
}

stop_app() { # SIGTERM, then SIGKILL after 15 s; sets APP_RC (exit status) and APP_STOP_S
    [[ -n $APP_PID ]] || return 0
    local t0
    t0=$(date +%s.%N)
    kill -TERM "$APP_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 150; i++)); do
        kill -0 "$APP_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$APP_PID" 2>/dev/null; then
        log "app $APP_PID still running 15 s after SIGTERM: SIGKILL"
        kill -9 "$APP_PID" 2>/dev/null || true
    fi
    APP_RC=0
    wait "$APP_PID" 2>/dev/null || APP_RC=$?
    APP_STOP_S=$(awk -v t0="$t0" -v now="$(date +%s.%N)" 'BEGIN { printf "%.2f", now - t0 }')
    APP_PID=""
}

cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    [[ -n $APP_PID ]] && stop_app
    kill_redis
    kill_memcached
}

need() { # command...
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null || { log "needs $c"; exit 1; }
    done
}

check_bin() {
    if [[ ! -x $APP_BIN ]]; then
        log "no $APP_BIN: build it first (cd bench/faults && cargo build --release --locked)"
        exit 1
    fi
}

fd_snapshot() { # file: the app's open fds, one "fd -> target" a line, and the count on stdout
    ls -l "/proc/$APP_PID/fd" 2>/dev/null | awk 'NR > 1 { print $(NF - 2), $NF }' >"$1"
    wc -l <"$1"
}

wrk_field() { # file key...: the value of a `key... value` line printed by faults.lua
    local f=$1
    shift
    awk -v k="$*" '{ v = $NF; $NF = ""; sub(/ $/, ""); if ($0 == k) { print v; found = 1 } }
        END { if (!found) print 0 }' "$f"
}

wrk_5xx() { # file: sum of 5xx statuses
    awk '$1 == "status" && $2 >= 500 { s += $3 } END { print s + 0 }' "$1"
}

wrk_non2xx() { # file: sum of statuses outside 2xx, except 429
    awk '$1 == "status" && ($2 < 200 || $2 >= 300) && $2 != 429 { s += $3 } END { print s + 0 }' "$1"
}

wrk_status() { # file code
    awk -v c="$2" '$1 == "status" && $2 == c { s += $3 } END { print s + 0 }' "$1"
}
