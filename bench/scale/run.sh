#!/usr/bin/env bash
# scale (issue 18): a Redis-cached route through HAProxy with 1, 2 and 3 Ember instances
# over a Redis Cluster; Redis commands per request (INFO commandstats deltas over every
# node) and the added latency of the cluster against a single Redis and an in-process
# cache. Everything on 127.0.0.1; every process is started here and stopped by its PID.
#
#   bench/scale/run.sh [SECONDS]     # default 8 s per scenario; writes results/latest.md
#
# Starts its own single Redis and its own three-master cluster (ports 372xx), so the
# command counts are this benchmark's alone. Needs wrk, haproxy, redis-server, redis-cli.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-8}"
root=$(cd ../.. && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
# PROFILE=debug measures an unoptimized build (commands per request do not depend on it).
profile="${PROFILE:-release}"
if [ "$profile" = release ]; then
  cargo build --release --quiet -p ember-tests --bin scale_instance --manifest-path "$root/Cargo.toml"
else
  cargo build --quiet -p ember-tests --bin scale_instance --manifest-path "$root/Cargo.toml"
fi
bin="$CARGO_TARGET_DIR/$profile/scale_instance"
haproxy="${EMBER_HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}"
work=$(mktemp -d)
mkdir -p results
out=results/latest.md
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$work"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  sleep 0.2
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

wait_http() { # port path
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$1$2" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "port $1 did not answer $2" >&2
  return 1
}

redis() { # port [cluster]
  local p=$1
  mkdir -p "$work/$p"
  (cd "$work/$p" && redis-server --bind 127.0.0.1 --port "$p" --save "" --appendonly no \
    --daemonize yes --pidfile "$work/$p.pid" --logfile "$work/$p.log" ${2:+--cluster-enabled yes --cluster-config-file nodes.conf})
}

single=37200
cluster=(37201 37202 37203)
redis $single
for p in "${cluster[@]}"; do redis "$p" cluster; done
sleep 0.5
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cluster[@]}") --cluster-yes >/dev/null
until redis-cli -p "${cluster[0]}" cluster info | grep -q cluster_state:ok; do sleep 0.2; done
cluster_target="cluster:$(printf 'redis://127.0.0.1:%s,' "${cluster[@]}" | sed 's/,$//')"

calls() { # ports...: total commands served so far (INFO commandstats)
  local n=0 p
  for p in "$@"; do
    n=$((n + $(redis-cli -p "$p" info commandstats | awk -F'[=,]' '/^cmdstat_/ && !/cmdstat_(info|cluster|ping)/ {s += $2} END {print s+0}')))
  done
  echo "$n"
}

start_instances() { # n redis-target
  inst_ports=()
  for i in $(seq 1 "$1"); do
    local port=$((38300 + i))
    EMBER_LISTEN=127.0.0.1:$port EMBER_WORKERS=1 EMBER_SCALE_REDIS="$2" "$bin" 2>/dev/null &
    pids+=($!)
    inst_pids+=($!)
    inst_ports+=("$port")
    wait_http "$port" /livez
  done
}

stop_instances() {
  for p in "${inst_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  inst_pids=()
}

start_haproxy() {
  local cfg="$work/haproxy.cfg" i=0
  {
    echo "global"; echo "  maxconn 4096"
    echo "defaults"; echo "  mode http"; echo "  timeout connect 1s"; echo "  timeout client 30s"; echo "  timeout server 30s"
    echo "frontend fe"; echo "  bind 127.0.0.1:38300"; echo "  default_backend be"
    echo "backend be"; echo "  balance roundrobin"; echo "  option httpchk GET /readyz"; echo "  default-server inter 500ms"
    for p in "${inst_ports[@]}"; do echo "  server s$i 127.0.0.1:$p check"; i=$((i + 1)); done
  } >"$cfg"
  "$haproxy" -db -f "$cfg" >/dev/null 2>&1 &
  hap=$!
  pids+=($hap)
  wait_http 38300 /livez
  sleep 1.2
}

wrk_row() { # label url conns redis-ports...
  local label=$1 url=$2 conns=$3
  shift 3
  local before after r rps p50 p99 reqs
  local threads=2 script=()
  [ "$conns" -lt 2 ] && threads=1
  if [[ "$url" == *KEYS ]]; then
    # 200 distinct keys, warmed first: hits that do not share one in-process lookup.
    url=${url%KEYS}
    for k in $(seq 1 200); do curl -sf "$url$k" >/dev/null; done
    printf 'request = function() return wrk.format("GET", "%s" .. math.random(1, 200)) end\n' \
      "${url#http://127.0.0.1:*/}" | sed 's|"scale|"/scale|; s|"c/|"/c/|' >"$work/keys.lua"
    script=(-s "$work/keys.lua")
    url=${url%%/scale*}
    url=${url%%/c/*}
  else
    curl -sf "$url" >/dev/null   # the entry exists: the run measures hits
  fi
  before=$(calls "$@")
  r=$(wrk -t"$threads" -c"$conns" -d"${secs}s" --latency "${script[@]}" "$url")
  after=$(calls "$@")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$r")
  reqs=$(awk '/requests in/ {print $1}' <<<"$r")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$r")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$r")
  local per
  per=$(awk -v c=$((after - before)) -v n="$reqs" 'BEGIN {printf "%.2f", (n > 0 ? c / n : 0)}')
  echo "| $label | $conns | $rps | $p50 | $p99 | $per |" | tee -a "$out.rows"
}

inst_pids=()
rm -f "$out.rows"
tag="bench-$$"
# Through HAProxy, cluster, 1-3 instances: the throughput shape.
for n in 1 2 3; do
  start_instances "$n" "$cluster_target"
  start_haproxy
  wrk_row "HAProxy → $n instance(s) → cluster, hits on 200 keys" "http://127.0.0.1:38300/scale/once/$tag-KEYS" 64 "${cluster[@]}"
  kill "$hap"; wait "$hap" 2>/dev/null || true
  stop_instances
done
# One instance, direct, one connection: the latency Redis adds per request.
start_instances 1 "redis://127.0.0.1:$single"
wrk_row "1 instance direct, in-process cache, hits on 200 keys" "http://127.0.0.1:38301/c/hot/$tag-KEYS" 1 $single
wrk_row "1 instance direct → single Redis, hits on 200 keys" "http://127.0.0.1:38301/scale/once/$tag-s-KEYS" 1 $single
wrk_row "1 instance direct → single Redis, one hot key, 64 conns" "http://127.0.0.1:38301/scale/once/$tag-hot" 64 $single
stop_instances
start_instances 1 "$cluster_target"
wrk_row "1 instance direct → cluster, hits on 200 keys" "http://127.0.0.1:38301/scale/once/$tag-c-KEYS" 1 "${cluster[@]}"
# Misses: a fresh key per request (wrk's Lua), to count the commands a miss costs.
cat >"$work/miss.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/scale/once/miss-" .. tostring(math.random(1, 1e9)) .. "-" .. n)
end
LUA
before=$(calls "${cluster[@]}")
r=$(wrk -t1 -c4 -d"${secs}s" -s "$work/miss.lua" --latency http://127.0.0.1:38301)
after=$(calls "${cluster[@]}")
reqs=$(awk '/requests in/ {print $1}' <<<"$r")
echo "| 1 instance direct → cluster, miss (new key each) | 4 | $(awk '/Requests\/sec/ {print $2}' <<<"$r") | $(awk '$1 == "50%" {print $2}' <<<"$r") | $(awk '$1 == "99%" {print $2}' <<<"$r") | $(awk -v c=$((after - before)) -v n="$reqs" 'BEGIN {printf "%.2f", c / n}') |" | tee -a "$out.rows"
stop_instances

{
  echo "# bench/scale — $(date -u +%Y-%m-%d) — $(nproc) cores, $profile build, ${secs}s per row, wrk -t2"
  echo
  echo "| scenario | connections | requests/s | p50 | p99 | Redis commands / request |"
  echo "| --- | --- | --- | --- | --- | --- |"
  cat "$out.rows"
} >"$out"
rm -f "$out.rows"
cat "$out"
