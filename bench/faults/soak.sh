#!/usr/bin/env bash
# Soak: mixed load for --minutes (default 10) on each backend, then RSS, fds and panics.
#
#   bench/faults/soak.sh                                  # 10 min on io_uring, then tokio
#   bench/faults/soak.sh --minutes 2 --backends tokio
#   bench/faults/soak.sh --seconds 20                     # a quick check of the script
#
# Load (all at once, for the whole duration):
#   wrk -t1 -c50 -s soak.lua: 40% /plaintext, 30% /json, 27% /c/hot/{k} (in-process cache),
#       2% POST /echo (1 KiB), 1% malformed (400 and close)
#   wrk -t1 -c4 -s pipeline.lua /plaintext -- 16: pipelined
#   soak_clients.py: 10 SSE streams back to back (/sse/10, checked to end with the final
#       chunk), and --abort-rate (default 200/s, about 1% of the mix) clients that send half a POST body and
#       leave (FIN or RST)
# Measured: RSS (VmRSS) every 10 s; the figure compared is minute 1 (or a third of a run
# shorter than 3 min) against the end of the load: target within 10%. Open fds of the app
# after a warm-up (then 3 s idle) and after the load (then 3 s idle, every client gone):
# target equal. "panicked" in the app's stderr: target 0. The app must still run at the
# end and exit 0 on SIGTERM. Only 127.0.0.1; processes are stopped by PID.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BACKENDS="io_uring tokio"
SECONDS_TOTAL=600
ABORT_RATE=200
LOGDIR=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --backends) BACKENDS=${2//,/ }; shift 2 ;;
        --minutes) SECONDS_TOTAL=$(awk -v m="$2" 'BEGIN { printf "%d", m * 60 }'); shift 2 ;;
        --seconds) SECONDS_TOTAL=$2; shift 2 ;;
        --abort-rate) ABORT_RATE=$2; shift 2 ;;
        --logs) LOGDIR=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
need wrk awk python3
check_bin
LOGDIR=${LOGDIR:-$(mktemp -d /tmp/ember-soak.XXXXXX)}
mkdir -p "$LOGDIR"
trap cleanup EXIT
refuse_if_busy "$APP_PORT"
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true
URL=http://127.0.0.1:$APP_PORT
BASE_AT=60
(( SECONDS_TOTAL < 180 )) && BASE_AT=$((SECONDS_TOTAL / 3))

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$APP_PID/status" 2>/dev/null || echo 0; }

ROWS=()
for BACKEND in $BACKENDS; do
    log "soak / $BACKEND: ${SECONDS_TOTAL}s, app on $APP_PORT, logs in $LOGDIR"
    start_app "$BACKEND"
    # Warm-up: every kind of client for 5 s, then idle.
    timeout 30 wrk -t1 -c50 -d5s -s "$FAULTS_DIR/soak.lua" "$URL" >/dev/null 2>&1 || true
    timeout 30 python3 "$FAULTS_DIR/soak_clients.py" --port "$APP_PORT" --seconds 3 \
        --streams 2 --abort-rate 20 >/dev/null 2>&1 || true
    sleep 3
    fd0=$(fd_snapshot "$LOGDIR/fd-before-$BACKEND.txt")
    S=$LOGDIR/samples-$BACKEND.tsv
    printf 't_s\trss_kb\tfds\tthreads\n' >"$S"
    T0=$(date +%s)
    pids=()
    timeout $((SECONDS_TOTAL + 60)) wrk -t1 -c50 -d"${SECONDS_TOTAL}s" --timeout 5s -s "$FAULTS_DIR/soak.lua" "$URL" \
        >"$LOGDIR/wrk-mix-$BACKEND.txt" 2>&1 &
    pids+=($!)
    timeout $((SECONDS_TOTAL + 60)) wrk -t1 -c4 -d"${SECONDS_TOTAL}s" --timeout 5s -s "$FAULTS_DIR/pipeline.lua" \
        "$URL/plaintext" -- 16 >"$LOGDIR/wrk-pipeline-$BACKEND.txt" 2>&1 &
    pids+=($!)
    timeout $((SECONDS_TOTAL + 60)) python3 "$FAULTS_DIR/soak_clients.py" --port "$APP_PORT" \
        --seconds "$SECONDS_TOTAL" --abort-rate "$ABORT_RATE" >"$LOGDIR/clients-$BACKEND.txt" 2>&1 &
    pids+=($!)
    BG_PIDS=("${pids[@]}")
    base=""
    while :; do
        t=$(($(date +%s) - T0))
        (( t >= SECONDS_TOTAL )) && break
        r=$(rss_kb)
        printf '%s\t%s\t%s\t%s\n' "$t" "$r" "$(ls "/proc/$APP_PID/fd" 2>/dev/null | wc -l)" \
            "$(ls "/proc/$APP_PID/task" 2>/dev/null | wc -l)" >>"$S"
        [[ -z $base ]] && (( t >= BASE_AT )) && base=$r
        sleep 10
    done
    end_rss=$(rss_kb)
    printf '%s\t%s\t%s\t%s\n' "$(($(date +%s) - T0))" "$end_rss" "$(ls "/proc/$APP_PID/fd" 2>/dev/null | wc -l)" \
        "$(ls "/proc/$APP_PID/task" 2>/dev/null | wc -l)" >>"$S"
    base=${base:-$end_rss}
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    BG_PIDS=()
    sleep 3
    fd1=$(fd_snapshot "$LOGDIR/fd-after-$BACKEND.txt")
    alive=yes
    kill -0 "$APP_PID" 2>/dev/null || alive=no
    stop_app
    mix=$LOGDIR/wrk-mix-$BACKEND.txt
    pipe=$LOGDIR/wrk-pipeline-$BACKEND.txt
    cl=$LOGDIR/clients-$BACKEND.txt
    mreqs=$(wrk_field "$mix" requests)
    preqs=$(awk '/requests in/ { print $1 }' "$pipe")
    mrps=$(awk -v r="$mreqs" -v s="$SECONDS_TOTAL" 'BEGIN { printf "%.0f", r / s }')
    prps=$(awk -v r="${preqs:-0}" -v s="$SECONDS_TOTAL" 'BEGIN { printf "%.0f", r / s }')
    errs=0
    for e in connect read write timeout; do errs=$((errs + $(wrk_field "$mix" errors $e))); done
    perrs=$(awk '/Socket errors/ { n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i; print n }' "$pipe")
    perrs=${perrs:-0}
    five=$(wrk_5xx "$mix")
    pnon2=$(awk '/Non-2xx/ { print $NF }' "$pipe")
    bad=$(wrk_field "$mix" malformed)
    s400=$(wrk_status "$mix" 400)
    aborts=$(awk '$1 == "aborts" { print $2 }' "$cl")
    sok=$(awk '$1 == "streams_ok" { print $2 }' "$cl")
    sbad=$(awk '$1 == "streams_bad" { print $2 }' "$cl")
    delta=$(awk -v a="$base" -v b="$end_rss" 'BEGIN { printf "%+.1f", (b - a) * 100 / a }')
    panics=$(grep -ci 'panicked' "$LOGDIR/app-$BACKEND.log" || true)
    verdict=PASS
    awk -v d="$delta" 'BEGIN { exit !(d > 10 || d < -10) }' && verdict=FAIL
    (( fd1 != fd0 || panics > 0 || five > 0 || ${sbad:-1} > 0 )) && verdict=FAIL
    [[ $alive == yes && $APP_RC == 0 ]] || verdict=FAIL
    ROWS+=("| $BACKEND | ${SECONDS_TOTAL}s | $mreqs ($mrps/s) | ${preqs:-0} ($prps/s) | $bad sent, $s400 × 400 | ${aborts:-?} | ${sok:-?} ok, ${sbad:-?} bad | $errs + $perrs | $five | ${pnon2:-0} | $((base / 1024)) → $((end_rss / 1024)) MiB ($delta%) | $fd0 → $fd1 | $panics | $APP_RC in ${APP_STOP_S}s | $verdict |")
done

echo
echo "soak: ${SECONDS_TOTAL}s per backend; RSS compared at ${BASE_AT}s and at the end; logs: $LOGDIR"
echo "| backend | duration | mix requests | pipelined requests | malformed | mid-body aborts | streams | wrk socket errors (mix + pipelined) | 5xx | pipelined non-2xx | RSS | fds before → after (idle) | panics | exit on SIGTERM | target |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"
