#!/usr/bin/env bash
# Overload benchmark: drive a real model at 2x and 4x the rate the server
# sustains and check that admission control holds: the share of
# 200 / 503 / 504, p50/p99 of the 200s (must stay within maxQueueWaitMs +
# scoring time) and the server's peak RSS at each load (must stay flat).
#
#   benches/overload.sh [seconds_per_step]
#   NO_BUILD=1 BIN=path/to/inferd benches/overload.sh 8    # a given build
#
# Needs wrk (Debian package `wrk`) to find the sustainable rate; the
# open-loop load comes from benches/loadgen. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
port=${PORT:-5903}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet --bin inferd -p inferd -p inferd-loadgen
bin=${BIN:-target/release/inferd}

work=$(mktemp -d)
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
# A batch of 28 digits for cnn-mnist (the committed 7, four times; about
# 5 ms of tract per call), so the engine, not HTTP and JSON, is what runs
# out: the point is to overload the model, not the 2 shared cores.
python3 - "$work/body.json" <<'PY'
import json, sys
cases = json.load(open("models/cnn-mnist/1/files/expected.json"))["cases"]
json.dump({"data": cases[-1]["data"] * 4}, open(sys.argv[1], "w"))
PY

# Contract defaults: maxConcurrentRequestsPerContainer 1, maxQueueWaitMs 500.
# --server-timing: loadgen's server-side figures come from that header.
"$bin" serve --model cnn-mnist --port "$port" --log-format json --server-timing 2>"$work/server.log" &
server=$!
for _ in $(seq 200); do curl -sf "localhost:$port/ready" >/dev/null && break; sleep 0.05; done

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }
sample_peak() {  # sample_peak FILE: max VmRSS while the file "$1.run" exists
  local peak=0 now
  while [ -e "$1.run" ]; do now=$(rss_kib); [ "$now" -gt "$peak" ] && peak=$now; sleep 0.05; done
  echo "$peak" > "$1"
}

cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$work/body.json"):read("*a")
wrk.headers["Content-Type"] = "application/json"
LUA
wrk -t1 -c4 -d5s -s "$work/post.lua" "http://127.0.0.1:$port/score" > "$work/wrk.out"
sustained=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
echo "sustainable rate (wrk, 4 connections, 5 s): $sustained req/s; RSS at rest after it: $(rss_kib) KiB"

for factor in 1 2 4; do
  rate=$(python3 -c "print(round($sustained * $factor))")
  touch "$work/peak$factor.run"
  sample_peak "$work/peak$factor" &
  sampler=$!
  report=$(target/release/inferd-loadgen --url "http://127.0.0.1:$port/score" --body "$work/body.json" \
    --rate "$rate" --duration "$seconds")
  rm "$work/peak$factor.run"; wait $sampler
  echo "${factor}x ($rate req/s offered): $report peak_rss_kib=$(cat "$work/peak$factor")"
done
