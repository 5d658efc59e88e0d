#!/usr/bin/env bash
# HTTP benchmark harness: Ember (io_uring and tokio backends) against peer servers.
#
# Builds everything in release, then for each mode, scenario and server: starts the
# server (recording its PID), waits until it answers correctly, runs an unmeasured
# wrk warm-up, then the measured wrk run, reading the server's CPU time
# (utime+stime from /proc/PID/stat) before and after it and its peak RSS (VmHWM)
# after it, and stops the server by its PID. Writes results/latest.md.
#
# All load goes to 127.0.0.1; every wrk run is bounded by --duration (and by
# `timeout`); only the PIDs this script started are ever signalled.
#
# Usage: bench/http/run.sh [--duration SECS] [--warmup SECS] [--only NAME[,NAME]]
#                          [--scenarios LIST] [--modes LIST] [--port PORT]
#                          [--out FILE] [--no-build] [--list]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

ALL_SERVERS=(ember-io_uring ember-tokio actix hyper tokio-raw may-minihttp axum ntex monoio-raw)
ALL_SCENARIOS=(plaintext-c64 plaintext-c256 json-c64 json-c256 pipelined-c64 pipelined-c256)
ALL_MODES=(pinned shared)
PIPELINE_DEPTH=16

DURATION=10
WARMUP=2
ONLY=""
SCENARIOS=""
MODES=""
PORT=18080
OUT="$HERE/results/latest.md"
BUILD=1
INVOCATION="bench/http/run.sh $*"

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    echo "servers:   ${ALL_SERVERS[*]}"
    echo "scenarios: ${ALL_SCENARIOS[*]}"
    echo "modes:     ${ALL_MODES[*]}"
}

die() { echo "run.sh: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) DURATION=${2:?}; shift 2 ;;
        --warmup) WARMUP=${2:?}; shift 2 ;;
        --only) ONLY=${2:?}; shift 2 ;;
        --scenarios) SCENARIOS=${2:?}; shift 2 ;;
        --modes) MODES=${2:?}; shift 2 ;;
        --port) PORT=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --list) usage; exit 0 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done

[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "--duration must be a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "--warmup must be a non-negative integer"
[[ $PORT =~ ^[0-9]+$ ]] || die "--port must be a number"

# Picks the requested names out of an allowed list, keeping the list's order.
select_names() { # $1 = comma list (empty = all), rest = allowed names
    local want=$1; shift
    if [[ -z $want ]]; then echo "$*"; return; fi
    local w n found out=()
    IFS=',' read -r -a wanted <<<"$want"
    for w in "${wanted[@]}"; do
        found=0
        for n in "$@"; do [[ $n == "$w" ]] && found=1; done
        [[ $found == 1 ]] || die "unknown name '$w' (allowed: $*)"
    done
    for n in "$@"; do
        for w in "${wanted[@]}"; do [[ $n == "$w" ]] && out+=("$n"); done
    done
    echo "${out[*]}"
}
read -r -a SERVERS <<<"$(select_names "$ONLY" "${ALL_SERVERS[@]}")"
read -r -a RUN_SCENARIOS <<<"$(select_names "$SCENARIOS" "${ALL_SCENARIOS[@]}")"
read -r -a RUN_MODES <<<"$(select_names "$MODES" "${ALL_MODES[@]}")"

for tool in wrk taskset curl awk getconf; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done

ROOT_TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH_TARGET=${CARGO_TARGET_DIR:-$HERE/target}
CLK_TCK=$(getconf CLK_TCK)
ADDR="127.0.0.1:$PORT"
LOGDIR="$HERE/results/logs"
mkdir -p "$LOGDIR" "$(dirname "$OUT")"
RUNS_TSV="$LOGDIR/runs.tsv"
: >"$RUNS_TSV"

# ---------------------------------------------------------------- safety net
SERVER_PID=""
WRK_PID=""
cleanup() {
    if [[ -n $WRK_PID ]]; then
        kill -TERM "$WRK_PID" 2>/dev/null || true # `timeout`, which passes it on to wrk
        wait "$WRK_PID" 2>/dev/null || true
        WRK_PID=""
    fi
    if [[ -n $SERVER_PID ]]; then
        stop_server "$SERVER_PID" || true
        SERVER_PID=""
    fi
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

# ---------------------------------------------------------------- build
if [[ $BUILD == 1 ]]; then
    echo "== building peers (bench/http, release)"
    (cd "$HERE" && cargo build --release --workspace --locked)
    echo "== building Ember hello (root workspace, release)"
    (cd "$ROOT" && cargo build --release -p hello --locked)
fi

server_bin() {
    case "$1" in
        ember-*) echo "$ROOT_TARGET/release/hello" ;;
        *) echo "$BENCH_TARGET/release/bench-$1" ;;
    esac
}

# The environment a server is started with, as NAME=VALUE words.
server_env() { # $1 = server, $2 = workers
    case "$1" in
        ember-io_uring) echo "EMBER_LISTEN=$ADDR EMBER_WORKERS=$2 EMBER_BACKEND=io_uring" ;;
        ember-tokio) echo "EMBER_LISTEN=$ADDR EMBER_WORKERS=$2 EMBER_BACKEND=tokio" ;;
        *) echo "BENCH_LISTEN=$ADDR BENCH_WORKERS=$2" ;;
    esac
}

for s in "${SERVERS[@]}"; do
    [[ -x $(server_bin "$s") ]] || die "missing binary for $s: $(server_bin "$s") (build first)"
done

mode_workers() { [[ $1 == pinned ]] && echo 1 || echo 2; }
mode_server_prefix() { [[ $1 == pinned ]] && echo "taskset -c 1" || echo ""; }
mode_wrk_prefix() { [[ $1 == pinned ]] && echo "taskset -c 0" || echo ""; }
mode_wrk_threads() { [[ $1 == pinned ]] && echo 1 || echo 2; }

scenario_path() { case "$1" in json-*) echo /json ;; *) echo /plaintext ;; esac; }
scenario_conns() { case "$1" in *-c256) echo 256 ;; *) echo 64 ;; esac; }
scenario_script() {
    case "$1" in pipelined-*) echo "-s $HERE/pipeline.lua" ;; *) echo "" ;; esac
}
scenario_script_args() {
    case "$1" in pipelined-*) echo "-- $PIPELINE_DEPTH" ;; *) echo "" ;; esac
}

# The wrk command line (without -d) for a mode and scenario.
wrk_cmd() { # $1 = mode, $2 = scenario
    local cmd
    cmd="$(mode_wrk_prefix "$1") wrk -t$(mode_wrk_threads "$1") -c$(scenario_conns "$2") --latency"
    cmd+=" $(scenario_script "$2") http://$ADDR$(scenario_path "$2") $(scenario_script_args "$2")"
    echo "$cmd" | tr -s ' ' | sed 's/^ //; s/ $//'
}

# ---------------------------------------------------------------- process helpers
proc_state() { # prints the state letter of PID, or nothing if it is gone
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    echo "${stat%% *}"
}

alive() { local st; st=$(proc_state "$1"); [[ -n $st && $st != Z && $st != X ]]; }

# utime+stime of PID (all its threads, live and exited) in microseconds.
cpu_us() {
    local stat
    stat=$(cat "/proc/$1/stat") || return 1
    stat=${stat##*) }
    # After "comm) ": field 3 (state) is index 1; utime (14) and stime (15) are $12, $13.
    awk -v tck="$CLK_TCK" '{ printf "%d\n", ($12 + $13) * 1000000 / tck }' <<<"$stat"
}

peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# Something already answers on our port: never measure somebody else's server.
port_busy() { curl -s -o /dev/null --max-time 1 "http://$ADDR/" ; }

stop_server() { # $1 = PID (a child of this script)
    local pid=$1 i
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            echo "   (server $pid ignored SIGTERM for 5 s, sending SIGKILL)" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

# Checks both routes: status, body and the Server/Date headers. Prints a problem or nothing.
check_routes() {
    local hdr body problem=""
    hdr=$(mktemp) || return 1
    body=$(curl -s --max-time 3 -D "$hdr" "http://$ADDR/plaintext" || true)
    [[ $body == "Hello, World!" ]] || problem+="plaintext body '$body'; "
    grep -qi '^HTTP/1.1 200' "$hdr" || problem+="plaintext status; "
    grep -qi '^content-type: text/plain' "$hdr" || problem+="plaintext content-type; "
    grep -qi '^server: ' "$hdr" || problem+="plaintext no Server; "
    grep -qi '^date: ' "$hdr" || problem+="plaintext no Date; "
    body=$(curl -s --max-time 3 -D "$hdr" "http://$ADDR/json" || true)
    [[ $body == '{"message":"Hello, World!"}' ]] || problem+="json body '$body'; "
    grep -qi '^HTTP/1.1 200' "$hdr" || problem+="json status; "
    grep -qi '^content-type: application/json' "$hdr" || problem+="json content-type; "
    grep -qi '^server: ' "$hdr" || problem+="json no Server; "
    grep -qi '^date: ' "$hdr" || problem+="json no Date; "
    rm -f "$hdr"
    echo "$problem"
}

# Pulls the numbers out of one wrk --latency output. Prints tab-separated:
# requests rps p50_us p99_us connect read write timeout non2xx
parse_wrk() {
    awk '
        function us(v,   n, u) {
            n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
            if (u == "us") return n
            if (u == "ms") return n * 1000
            if (u == "s") return n * 1000000
            if (u == "m") return n * 60000000
            return -1
        }
        BEGIN { req = -1; rps = -1; p50 = -1; p99 = -1; c = r = w = t = n = 0 }
        / requests in / { req = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = us($2) }
        /^ +99%/ { p99 = us($2) }
        /Socket errors:/ {
            for (i = 1; i <= NF; i++) {
                v = $(i + 1); sub(/,$/, "", v)
                if ($i == "connect") c = v; else if ($i == "read") r = v
                else if ($i == "write") w = v; else if ($i == "timeout") t = v
            }
        }
        /Non-2xx or 3xx responses:/ { n = $NF }
        END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", req, rps, p50, p99, c, r, w, t, n }
    ' "$1"
}

# Runs a wrk command bounded by `timeout`, in the background so that an interrupt
# is handled at once (bash runs traps only between foreground commands).
run_wrk() { # $1 = output file, $2 = time limit (s), rest = command
    local out=$1 limit=$2 rc=0; shift 2
    timeout "$limit" "$@" >"$out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || rc=$?
    WRK_PID=""
    return "$rc"
}

# Sets WITH_DURATION to a wrk command with -dSECS inserted right after "wrk" (wrk's
# options must come before the URL and before the script's "--" arguments).
WITH_DURATION=()
with_duration() { # $1 = seconds, rest = command
    local secs=$1 a; shift
    WITH_DURATION=()
    for a in "$@"; do
        WITH_DURATION+=("$a")
        if [[ $a == wrk ]]; then WITH_DURATION+=("-d${secs}s"); fi
    done
    return 0
}

# ---------------------------------------------------------------- one measurement
# Appends one line to $RUNS_TSV:
# mode scenario server status requests rps p50 p99 c r w t n2xx cpu_us rss_kib
run_one() { # $1 = mode, $2 = scenario, $3 = server
    local mode=$1 scen=$2 srv=$3
    local tag="$mode.$scen.$srv" workers bin env_words prefix wrk wrkargs i
    local log="$LOGDIR/$tag.server.log" wlog="$LOGDIR/$tag.wrk.txt"
    workers=$(mode_workers "$mode")
    bin=$(server_bin "$srv")
    env_words=$(server_env "$srv" "$workers")
    prefix=$(mode_server_prefix "$mode")
    wrk=$(wrk_cmd "$mode" "$scen")
    printf '%-7s %-15s %-15s ' "$mode" "$scen" "$srv"

    if port_busy; then
        echo "port $PORT already answers; refusing to measure" >&2
        exit 1
    fi

    # shellcheck disable=SC2086  # word splitting of env/prefix is intended
    env $env_words $prefix "$bin" >"$log" 2>&1 &
    SERVER_PID=$!
    local ok=0
    for ((i = 0; i < 100; i++)); do
        alive "$SERVER_PID" || break
        if curl -s -o /dev/null --max-time 1 "http://$ADDR/plaintext"; then ok=1; break; fi
        sleep 0.1
    done
    if [[ $ok != 1 ]]; then
        echo "did not start (see $log)"
        stop_server "$SERVER_PID"; SERVER_PID=""
        printf '%s\t%s\t%s\tno-start\t-1\t-1\t-1\t-1\t0\t0\t0\t0\t0\t-1\t0\n' "$mode" "$scen" "$srv" >>"$RUNS_TSV"
        return
    fi
    # The PID we signal must be the server itself (env and taskset exec it).
    if [[ $(readlink "/proc/$SERVER_PID/exe" 2>/dev/null) != "$(readlink -f "$bin")" ]]; then
        echo "PID $SERVER_PID is not $bin; refusing to go on" >&2
        exit 1
    fi
    local problem
    problem=$(check_routes)
    if [[ -n $problem ]]; then
        echo "WRONG ANSWERS: $problem"
        stop_server "$SERVER_PID"; SERVER_PID=""
        printf '%s\t%s\t%s\twrong-answers\t-1\t-1\t-1\t-1\t0\t0\t0\t0\t0\t-1\t0\n' "$mode" "$scen" "$srv" >>"$RUNS_TSV"
        return
    fi

    read -r -a wrkargs <<<"$wrk"
    if [[ $WARMUP -gt 0 ]]; then
        with_duration "$WARMUP" "${wrkargs[@]}"
        run_wrk "$wlog.warmup" $((WARMUP + 30)) "${WITH_DURATION[@]}" || true
    fi
    local cpu0 cpu1 rss status=ok
    with_duration "$DURATION" "${wrkargs[@]}"
    cpu0=$(cpu_us "$SERVER_PID")
    run_wrk "$wlog" $((DURATION + 30)) "${WITH_DURATION[@]}" || status=wrk-failed
    if alive "$SERVER_PID"; then
        cpu1=$(cpu_us "$SERVER_PID")
        rss=$(peak_rss_kib "$SERVER_PID")
    else
        status=server-died; cpu1=$cpu0; rss=0
    fi
    stop_server "$SERVER_PID"; SERVER_PID=""

    local parsed
    parsed=$(parse_wrk "$wlog")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$scen" "$srv" "$status" "$parsed" \
        "$((cpu1 - cpu0))" "$rss" >>"$RUNS_TSV"
    awk -F'\t' -v cpu=$((cpu1 - cpu0)) -v st="$status" '{
        printf "%s rps=%s p99=%sus err=%s/%s/%s/%s/%s cpu/req=%.2fus\n", st, $2, $4, $5, $6, $7, $8, $9,
            ($1 > 0 ? cpu / $1 : -1) }' <<<"$parsed"
}

# ---------------------------------------------------------------- main loop
STARTED=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
echo "== servers: ${SERVERS[*]}"
echo "== scenarios: ${RUN_SCENARIOS[*]}; modes: ${RUN_MODES[*]}; duration ${DURATION}s, warm-up ${WARMUP}s"
for mode in "${RUN_MODES[@]}"; do
    for scen in "${RUN_SCENARIOS[@]}"; do
        for srv in "${SERVERS[@]}"; do
            run_one "$mode" "$scen" "$srv"
        done
    done
done

# ---------------------------------------------------------------- report
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo " (with uncommitted changes)" || true)
{
    echo "# Ember HTTP benchmark: latest run"
    echo
    echo "Started $STARTED; worktree commit \`$commit\`$dirty."
    echo
    echo "## Machine"
    echo
    echo "- nproc: $(nproc)"
    echo "- kernel: $(uname -sr)"
    echo "- CPU: $cpu_model"
    echo "- load average at report time: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- $(rustc --version 2>/dev/null || echo 'rustc: unknown'); $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
    echo
    echo "## Commands"
    echo
    echo '```'
    echo "$INVOCATION"
    echo '```'
    echo
    echo "Each server is started, checked with curl (both routes, bodies, Server and Date"
    echo "headers), warmed up with the same wrk command for ${WARMUP}s (unmeasured), then measured"
    echo "with \`-d${DURATION}s\`. Server CPU = utime+stime from /proc/PID/stat (clock ticks of"
    echo "1/${CLK_TCK} s) across the measured run; peak RSS = VmHWM after it."
    echo
    for mode in "${RUN_MODES[@]}"; do
        workers=$(mode_workers "$mode")
        echo "### Mode \`$mode\`"
        echo
        echo '```'
        for srv in "${SERVERS[@]}"; do
            echo "$(server_env "$srv" "$workers") $(mode_server_prefix "$mode") $(server_bin "$srv" | sed "s|^$ROOT/||")" | tr -s ' '
        done
        for scen in "${RUN_SCENARIOS[@]}"; do
            cmd=$(wrk_cmd "$mode" "$scen" | sed "s| wrk | wrk -d${DURATION}s |; s|$ROOT/||")
            echo "$cmd    # $scen"
        done
        echo '```'
        echo
    done
    echo "## Results"
    echo
    echo "Errors are wrk's connect/read/write/timeout socket errors and non-2xx responses."
    echo "CPU/req = server CPU time over the measured run / requests wrk reported."
    echo "The last column is Ember (io_uring backend) relative to the row's server:"
    echo "RPS ratio (>1: Ember serves more) and CPU/request ratio (<1: Ember spends less)."
    echo
    awk -F'\t' -v modes="${RUN_MODES[*]}" -v scens="${RUN_SCENARIOS[*]}" -v depth="$PIPELINE_DEPTH" '
        {
            key = $1 SUBSEP $2
            n[key]++; srv[key, n[key]] = $3
            st[key, $3] = $4; req[key, $3] = $5; rps[key, $3] = $6; p50[key, $3] = $7; p99[key, $3] = $8
            err[key, $3] = $9 "/" $10 "/" $11 "/" $12 "/" $13
            cpu[key, $3] = $14; rss[key, $3] = $15
        }
        function lat(v) {
            if (v <= 0) return "n/a"
            if (v >= 1000000) return sprintf("%.2f s", v / 1000000)
            if (v >= 1000) return sprintf("%.2f ms", v / 1000)
            return sprintf("%.0f µs", v)
        }
        function cpr(k, s) { return (req[k, s] > 0 && cpu[k, s] >= 0) ? cpu[k, s] / req[k, s] : -1 }
        END {
            nm = split(modes, M, " "); ns = split(scens, S, " ")
            for (i = 1; i <= nm; i++) for (j = 1; j <= ns; j++) {
                k = M[i] SUBSEP S[j]
                if (!(k in n)) continue
                title = S[j]; sub(/-c/, " c", title)
                if (S[j] ~ /^pipelined/) { title = "plaintext pipelined depth " depth " " S[j]; sub(/pipelined-/, "", title) }
                printf "### %s: %s\n\n", M[i], title
                if (S[j] ~ /^pipelined/)
                    print "wrk records one latency per batch of " depth " pipelined requests, so p50/p99 are batch round trips; wrk often prints 0 for the pipelined p99 (shown as n/a).\n"
                print "| server | RPS | p50 | p99 | errors c/r/w/t/non-2xx | CPU µs/req | peak RSS MiB | Ember-io_uring vs this (RPS ×, CPU/req ×) |"
                print "|---|---:|---:|---:|---|---:|---:|---|"
                e = "ember-io_uring"
                for (x = 1; x <= n[k]; x++) {
                    s = srv[k, x]
                    if (st[k, s] != "ok") {
                        printf "| %s | %s | - | - | - | - | - | - |\n", s, st[k, s]
                        continue
                    }
                    ratio = "n/a"
                    if (s == e) ratio = "(baseline)"
                    else if ((k, e) in st && st[k, e] == "ok" && rps[k, s] > 0 && cpr(k, s) > 0)
                        ratio = sprintf("%.2f×, %.2f×", rps[k, e] / rps[k, s], cpr(k, e) / cpr(k, s))
                    printf "| %s | %.0f | %s | %s | %s | %.2f | %.1f | %s |\n", s, rps[k, s], lat(p50[k, s]), \
                        lat(p99[k, s]), err[k, s], cpr(k, s), rss[k, s] / 1024, ratio
                }
                print ""
            }
        }
    ' "$RUNS_TSV"
} >"$OUT"
echo "== wrote $OUT (raw wrk output and server logs in $LOGDIR)"
