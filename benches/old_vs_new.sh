#!/usr/bin/env bash
# One build against another, in one run, on the figures a change must not
# lose: throughput at 64 connections (diabetes-ridge and mlp-784, rounds in
# mirrored positions old, new, new, old; `server_cpu.sh` and
# `mirrored_ratio.py`), p50 at one connection (ridge, alternating runs),
# idle resident memory after ready, and cold start (exec to the first 200).
#
#   benches/old_vs_new.sh OLD_INFERD NEW_INFERD [ROUNDS]
#
# OLD_INFERD and NEW_INFERD are `inferd` binaries; the load generator is
# target/release/inferd-bench (cargo build --release -p inferd-bench).
# ROUNDS (default 8) is the mirrored rounds per model; DUR (5) seconds each.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "$1"); new=$(realpath "$2"); rounds=${3:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 benches/peers/bodies.py "$work"
export DUR=${DUR:-5}

for model in diabetes-ridge mlp-784; do
  body=$work/ridge-aml.json
  [[ $model == mlp-784 ]] && body=$work/mlp-aml.json
  echo "== $model at 64 connections: old, new, new, old"
  serve="serve --port \$PORT --model $model --log-format json"
  BODY=$body benches/server_cpu.sh "$rounds" "$old $serve" "$new $serve" "$new $serve" "$old $serve" \
    | tee "$work/$model.rounds"
  echo "new / old, $model:"
  benches/mirrored_ratio.py "$work/$model.rounds:2,3:1,4"
done

port=5941
start() { # BIN MODEL: starts a server on $port, waits until ready
  "$1" serve --port $port --model "$2" --log-format json 2>/dev/null &
  pid=$!
  for _ in $(seq 400); do curl -sf -o /dev/null "http://127.0.0.1:$port/ready" && return; sleep 0.025; done
  echo "not ready" >&2; exit 1
}
stop() { kill -9 "$pid"; wait "$pid" 2>/dev/null || true; }

echo "== diabetes-ridge p50 at 1 connection (ms), alternating: old new"
for round in 1 2 3 4 5 6; do
  line=""
  for bin in "$old" "$new"; do
    start "$bin" diabetes-ridge
    p50=$(target/release/inferd-bench --url "http://127.0.0.1:$port/score" --body "$work/ridge-aml.json" \
            -c 1 -d 3 --warmup 1 2>/dev/null | awk '$1 == 1 {print $4}')
    stop
    line="$line $p50"
  done
  echo "round $round:$line"
done | tee "$work/p50"
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
o=$(awk '{print $3}' "$work/p50" | median); n=$(awk '{print $4}' "$work/p50" | median)
echo "median p50: old $o new $n new/old $(awk -v o="$o" -v n="$n" 'BEGIN {printf "%.3f", n / o}')"

echo "== idle RSS (KiB) 0.5 s after ready, alternating: old new"
for model in diabetes-ridge mlp-784; do
  for round in 1 2 3; do
    line=""
    for bin in "$old" "$new"; do
      start "$bin" "$model"
      sleep 0.5
      line="$line $(awk '/^VmRSS/ {print $2}' /proc/$pid/status)"
      stop
    done
    echo "$model round $round:$line"
  done
done

echo "== cold start (ms, median of 10), alternating: old new"
for round in 1 2; do
  for bin in "$old" "$new"; do
    echo "$(basename "$(dirname "$bin")")/$(basename "$bin") round $round:"
    INFERD_BIN=$bin python3 benches/cold_start.py 10 2>/dev/null | sed 's/^/  /'
  done
done
