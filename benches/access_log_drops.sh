#!/usr/bin/env bash
# Whether the access log keeps up: starts a server command with stderr on
# a file, HOGS busy loops beside it (0: none), DUR seconds of closed-loop
# load at CONC connections, then a clean stop; prints the requests the
# load generator counted, the file's access lines and the writer's
# dropped-lines count. A line is written for every request (the requests
# are the load generator's req/s times DUR, so they may differ by a few).
#
#   benches/access_log_drops.sh HOGS 'COMMAND'
#   benches/access_log_drops.sh 2 \
#     'target/release/inferd serve --port $PORT --model diabetes-ridge --log-format json'
#
# COMMAND is run with `eval`, $PORT set. BODY (default: the two-row
# diabetes-ridge body of benches/peers/bodies.py), CONC (64), DUR (5).
# Needs the release binaries (cargo build --release -p inferd -p inferd-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
hogs=$1 command=$2
CONC=${CONC:-64}; DUR=${DUR:-5}; PORT=${PORT:-5941}
work=$(mktemp -d)
busy=()
cleanup() { kill "${busy[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
if [[ -z "${BODY:-}" ]]; then
  python3 benches/peers/bodies.py "$work"
  BODY=$work/ridge-aml.json
fi
eval "exec $command" >/dev/null 2>"$work/server.log" &
pid=$!
for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/ready" && break; sleep 0.05; done
for _ in $(seq "$hogs"); do (while :; do :; done) & busy+=($!); done
target/release/inferd-bench --url "http://127.0.0.1:$PORT/score" --body "$BODY" \
  -c "$CONC" -d "$DUR" --warmup 0 >"$work/bench.out" 2>/dev/null
kill "${busy[@]}" 2>/dev/null || true
busy=()
# A clean stop: the writer flushes its shelves before the process exits.
kill -INT $pid; wait $pid || true
requests=$(awk -v c="$CONC" -v d="$DUR" '$1 == c {print $3 * d}' "$work/bench.out")
lines=$(grep -c '"message":"access"' "$work/server.log" || true)
dropped=$(grep -o '"dropped_total":[0-9]*' "$work/server.log" | tail -1 | cut -d: -f2 || true)
echo "hogs=$hogs requests=$requests access_lines=$lines dropped=${dropped:-0}"
