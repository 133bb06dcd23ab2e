#!/usr/bin/env bash
# Quick HTTP load on loopback: the release server with the default model,
# wrk (Debian package `wrk`) POSTing the contract's example at several
# connection counts. Prints one line per step for benches/RESULTS.md.
#
#   benches/http_load.sh [duration_s] [connections...]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}; shift || true
connections=${*:-1 16 64}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --bin inferd
port=${PORT:-5901}
target/release/inferd serve --port "$port" --log-format json ${INFERD_ARGS:-} 2>/tmp/inferd-bench.log &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "localhost:$port/ready" >/dev/null && break; sleep 0.05; done
script=benches/score_ridge.lua
echo "connections  req/s  p50  p90  p99  (wrk, 2 threads, ${duration}s, POST /score diabetes-ridge)"
for c in $connections; do
  threads=$(( c < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"$c" -d"${duration}s" --latency -s "$script" "http://127.0.0.1:$port/score" > /tmp/wrk.out
  rps=$(awk '/Requests\/sec/ {print $2}' /tmp/wrk.out)
  p50=$(awk '$1=="50%" {print $2}' /tmp/wrk.out)
  p90=$(awk '$1=="90%" {print $2}' /tmp/wrk.out)
  p99=$(awk '$1=="99%" {print $2}' /tmp/wrk.out)
  errors=$(grep -E "Non-2xx|Socket errors" /tmp/wrk.out || true)
  echo "$c  $rps  $p50  $p90  $p99  $errors"
done
echo "RSS after load: $(ps -o rss= -p $server) KiB"
