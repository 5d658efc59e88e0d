#!/usr/bin/env bash
# Ember's hello app on the io_uring and tokio backends, interleaved: server CPU per request
# (utime+stime of the server ÷ requests) and RPS, medians over repetitions, with the
# io_uring ÷ tokio ratio per scenario.
#
#   bench/http/backend-compare.sh                       # 5 reps × 8 s, all scenarios
#   bench/http/backend-compare.sh --reps 3 --duration 5 --scenarios shared-c64
#   bench/http/backend-compare.sh --servers "new=/tmp/hello-new:io_uring:VAR=1 tokio=target/release/hello:tokio"
#   (each server: label=binary:backend[:VAR=VALUE...], extra environment for that server)
#
# Scenarios: shared-c64, shared-c256 (server 2 workers, wrk -t2, both unpinned on the same
# 2 cores), pinned-c64 (server 1 worker on CPU 1, wrk -t1 on CPU 0). All GET /plaintext.
# Within a repetition every server runs every scenario back to back, so slow drifts of the
# machine hit both backends alike. The ratio is `first server ÷ last server` (by default
# io_uring ÷ tokio). Only 127.0.0.1 is loaded; every run is bounded by -d and `timeout`;
# the script stops only the servers it started, by PID. Before each run it waits (up to
# 120 s) for the machine to be idle, and it reports as "other" the CPU that processes other
# than the server and wrk used during the run (% of one core): runs with much of it are
# disturbed and should be repeated.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REPS=5
DURATION=8
WARMUP=1
PORT=18190
SCENARIOS="shared-c64 shared-c256 pinned-c64"
SERVERS="io_uring=$ROOT/target/release/hello:io_uring tokio=$ROOT/target/release/hello:tokio"
OUT=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --reps) REPS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --port) PORT=$2; shift 2 ;;
        --scenarios) SCENARIOS=${2//,/ }; shift 2 ;;
        --servers) SERVERS=$2; shift 2 ;;
        --tsv) OUT=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
CLK_TCK=$(getconf CLK_TCK)
OUT=${OUT:-$(mktemp /tmp/backend-compare.XXXXXX.tsv)}
: >"$OUT"
SERVER_PID=""
WRK_PID=""

cleanup() {
    [[ -n $WRK_PID ]] && kill "$WRK_PID" 2>/dev/null || true
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

busy_us() { # CPU time spent by the whole machine (all CPUs, not idle/iowait), microseconds
    awk -v tck="$CLK_TCK" '/^cpu / { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1000000 / tck }' /proc/stat
}

wait_quiet() { # waits (up to 120 s) until the machine is idle: someone else may be using it
    local b0 b1
    for _ in $(seq 60); do
        b0=$(busy_us); sleep 1; b1=$(busy_us)
        (( b1 - b0 < 100000 )) && return 0
        sleep 1
    done
    echo "machine still busy; measuring anyway" >&2
}

cpu_us() { # utime+stime of PID (all threads) in microseconds
    local stat
    stat=$(cat "/proc/$1/stat")
    stat=${stat##*) }
    awk -v tck="$CLK_TCK" '{ printf "%d\n", ($12 + $13) * 1000000 / tck }' <<<"$stat"
}

run_one() { # rep scenario label bin backend [VAR=VALUE...]
    local rep=$1 scen=$2 label=$3 bin=$4 backend=$5
    local extra=("${@:6}")
    local mode=${scen%%-*} conns=${scen#*-c}
    local workers=2 spre=() wpre=() threads=2
    if [[ $mode == pinned ]]; then
        workers=1 spre=(taskset -c 1) wpre=(taskset -c 0) threads=1
    fi
    wait_quiet
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/plaintext"; then
        echo "port $PORT already answers; refusing" >&2
        exit 1
    fi
    env EMBER_LISTEN=127.0.0.1:$PORT EMBER_WORKERS=$workers EMBER_BACKEND=$backend "${extra[@]}" \
        "${spre[@]}" "$bin" 2>/dev/null &
    SERVER_PID=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/plaintext" && break
        sleep 0.1
    done
    local url=http://127.0.0.1:$PORT/plaintext
    if [[ $WARMUP != 0 ]]; then
        timeout $((WARMUP + 10)) "${wpre[@]}" wrk -t$threads -c"$conns" -d"${WARMUP}s" "$url" >/dev/null
    fi
    local load c0 c1 b0 b1 log tlog
    load=$(cut -d' ' -f1 /proc/loadavg)
    log=$(mktemp)
    tlog=$(mktemp)
    b0=$(busy_us)
    c0=$(cpu_us "$SERVER_PID")
    /usr/bin/time -f "%U %S" -o "$tlog" \
        timeout $((DURATION + 20)) "${wpre[@]}" wrk -t$threads -c"$conns" -d"${DURATION}s" "$url" >"$log" &
    WRK_PID=$!
    wait "$WRK_PID"
    WRK_PID=""
    c1=$(cpu_us "$SERVER_PID")
    b1=$(busy_us)
    # CPU used by anything but this server and its wrk during the run, % of one core.
    local foreign wrk_us
    foreign=$(awk -v b=$((b1 - b0)) -v c=$((c1 - c0)) -v d="$DURATION" '
        NR == 1 { printf "%.0f", (b - c - ($1 + $2) * 1000000) / (d * 10000) }' "$tlog")
    wrk_us=$(awk 'NR == 1 { printf "%.0f", ($1 + $2) * 1000000 }' "$tlog")
    rm -f "$tlog"
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    local reqs rps
    reqs=$(awk '/requests in/ { print $1 }' "$log")
    rps=$(awk '/^Requests\/sec/ { print $2 }' "$log")
    rm -f "$log"
    local per wper mper
    per=$(awk -v c=$((c1 - c0)) -v r="$reqs" 'BEGIN { printf "%.3f", c / r }')
    wper=$(awk -v c="$wrk_us" -v r="$reqs" 'BEGIN { printf "%.3f", c / r }')
    mper=$(awk -v c=$((b1 - b0)) -v r="$reqs" 'BEGIN { printf "%.3f", c / r }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$scen" "$label" "$per" "$rps" "$reqs" "$load" "$foreign" "$wper" "$mper" >>"$OUT"
    printf 'rep %s %-12s %-10s cpu/req %6s us  rps %10s  wrk/req %6s  machine/req %6s  other %3s%%\n' \
        "$rep" "$scen" "$label" "$per" "$rps" "$wper" "$mper" "$foreign"
}

read -r -a SERVER_LIST <<<"$SERVERS"
for rep in $(seq "$REPS"); do
    for scen in $SCENARIOS; do
        # Alternate which server goes first, so neither always follows the other.
        list=("${SERVER_LIST[@]}")
        if (( rep % 2 == 0 )); then
            rev=()
            for ((i = ${#list[@]} - 1; i >= 0; i--)); do rev+=("${list[i]}"); done
            list=("${rev[@]}")
        fi
        for s in "${list[@]}"; do
            label=${s%%=*} rest=${s#*=}
            IFS=: read -r -a parts <<<"$rest"
            run_one "$rep" "$scen" "$label" "${parts[@]}"
        done
    done
done

first=${SERVER_LIST[0]%%=*}
last=${SERVER_LIST[-1]%%=*}
echo
echo "medians over $REPS reps of ${DURATION}s (raw: $OUT)"
printf '| scenario | server | CPU µs/req | RPS | CPU ratio %s÷%s | RPS ratio |\n' "$first" "$last"
echo '|---|---|---:|---:|---:|---:|'
for scen in $SCENARIOS; do
    for s in "${SERVER_LIST[@]}"; do
        label=${s%%=*}
        awk -F'\t' -v sc="$scen" -v lb="$label" -v f="$first" -v l="$last" '
            function median(a, n,   i, j, t) {
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            $2 == sc && $3 == lb { nc++; c[nc] = $4; r[nc] = $5 }
            $2 == sc && $3 == f { nf++; fc[nf] = $4; fr[nf] = $5 }
            $2 == sc && $3 == l { nl++; lc[nl] = $4; lr[nl] = $5 }
            END {
                mc = median(c, nc); mr = median(r, nc)
                ratio = ""; rratio = ""
                if (lb == f && f != l) {
                    ratio = sprintf("%.3f", median(fc, nf) / median(lc, nl))
                    rratio = sprintf("%.3f", median(fr, nf) / median(lr, nl))
                }
                printf "| %s | %s | %.2f | %.0f | %s | %s |\n", sc, lb, mc, mr, ratio, rratio
            }' "$OUT"
    done
done
