#!/usr/bin/env bash
# What metrics and the access log cost: two release servers with the
# default model, one with everything on (the default: metrics recorded, one
# JSON access line per request to a file), one with `--no-metrics
# --no-access-log`; wrk runs against each in turn, several pairs, the order
# alternating each pair so drift on a shared machine hits both sides alike.
# Prints req/s of every run and the on/off ratio of every pair.
#
#   benches/telemetry_overhead.sh [pairs] [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-6}; duration=${2:-5}; connections=${3:-16}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
# INFERD_BIN: a binary already built (default: build the release one).
bin=${INFERD_BIN:-target/release/inferd}
[[ -n "${INFERD_BIN:-}" ]] || cargo build --release --quiet --bin inferd
on_port=${PORT:-5911}; off_port=$((on_port + 1))
logs=$(mktemp -d)
"$bin" serve --port "$on_port" --log-format json 2>"$logs/on.log" &
on=$!
"$bin" serve --port "$off_port" --log-format json --no-metrics --no-access-log 2>"$logs/off.log" &
off=$!
trap 'kill $on $off 2>/dev/null; wait $on $off 2>/dev/null; rm -rf "$logs"' EXIT
for port in $on_port $off_port; do
  for _ in $(seq 200); do curl -sf "localhost:$port/ready" >/dev/null && break; sleep 0.05; done
done
script=benches/score_ridge.lua
run() {
  wrk -t2 -c"$connections" -d"${duration}s" -s "$script" "http://127.0.0.1:$1/score" |
    awk '/Requests\/sec/ {print $2} /Non-2xx|Socket errors/ {print "ERRORS: " $0 > "/dev/stderr"}'
}
echo "pair  on_req/s  off_req/s  on/off  (wrk -t2 -c$connections, ${duration}s each, POST /score diabetes-ridge)"
for i in $(seq "$pairs"); do
  if (( i % 2 )); then a=$(run $on_port); b=$(run $off_port); else b=$(run $off_port); a=$(run $on_port); fi
  echo "$i  $a  $b  $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.4f", a / b}')"
done
echo "access lines logged by the 'on' server: $(grep -c '"inferd::access"' "$logs/on.log"), by the 'off' server: $(grep -c '"inferd::access"' "$logs/off.log" || true)"
