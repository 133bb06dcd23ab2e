#!/usr/bin/env bash
# Issue 36: `inferd profile --model mlp-784 --p99-ms 5` (the full grid),
# run RUNS times back to back on this machine, to see how long a profile
# takes and how much its recommendation moves between runs on a noisy
# machine. Per run: wall time, exit status, the chosen candidate, its
# sustained rate, and the verification line. Each run's report, plot and
# configs stay in target/capacity-profile/run-N/.
#
#   benches/capacity_profile.sh [runs] [model] [p99_ms]
#   NO_BUILD=1 BIN=path/to/inferd benches/capacity_profile.sh
# (Not benches/profile.sh: that one is a callgrind profile of the server.)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-2}
model=${2:-mlp-784}
p99=${3:-5}
bin=${BIN:-target/release/inferd}
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet --bin inferd
out=target/capacity-profile
rm -rf "$out"
mkdir -p "$out"
for run in $(seq 1 "$runs"); do
    dir=$out/run-$run
    start=$(date +%s.%N)
    status=0
    "$bin" --registry models profile --model "$model" --p99-ms "$p99" --out "$dir" --json \
        > "$dir.json" 2> "$dir.log" || status=$?
    end=$(date +%s.%N)
    python3 - "$dir.json" "$run" "$status" "$start" "$end" <<'PY'
import json, sys
path, run, status, start, end = sys.argv[1:]
p = json.load(open(path))
r = p.get("recommendation")
v = p["verifications"][-1] if p["verifications"] else None
cands = p["candidates"]
held = sum(1 for c in cands if c["load"]["sustained"])
print(f"run {run}: {float(end) - float(start):.0f} s, exit {status}, {held} of {len(cands)} candidates held")
if r:
    s = cands[r["candidate"]]["load"]["sustained"]
    print(f"  chosen: {r['name']} (sustained {s['rate']:.0f} req/s, p99 {s['p99_ms']:.2f} ms), memoryInGB {r['memory_in_gb']}, tries {len(p['verifications'])}")
if v:
    print(f"  verification: {'held' if v['held'] else 'did not hold'} at {v['rate']:.0f} req/s: p50 {v['step']['p50_ms']:.2f} ms, p99 {v['step']['p99_ms']:.2f} ms")
PY
done
