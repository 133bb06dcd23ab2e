#!/usr/bin/env bash
# Issue 35's speed table: cnn-mnist, one 28x28 digit per request, sent as a
# PNG body (decoded, gray, scaled by the declared image decoder) and as the
# JSON body of the same pixels (pixel / 255, as the Python pipeline makes
# them: tests/fixtures/media/parity.json case I), at 1 and 64 connections;
# then rgb-cnn (3x64x64) on a 64x64 PNG and a 500x375 JPEG (shorter side 72,
# centre crop 64, bilinear). All in one run against one release server per
# model, loaded by `inferd bench` on the same machine. Per step: req/s
# (2xx), p50, p99, and from /metrics the mean decode (the body to tensors,
# on the worker) and mean engine run per request, and decode's share of
# the server's time (decode / (decode + run)).
#
#   benches/binary_bodies.sh [duration_s] [connections...]
#   NO_BUILD=1 BIN=path/to/inferd benches/binary_bodies.sh
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}; shift || true
connections=${*:-1 64}
bin=${BIN:-target/release/inferd}
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet --bin inferd
work=$(mktemp -d)
port=${PORT:-5935}
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
cases = {c["name"]: c for c in json.load(open("tests/fixtures/media/parity.json"))["cases"]}
pixels = cases["I"]["tensor"]
rows = [pixels[i:i + 28] for i in range(0, 784, 28)]
(out / "seven.json").write_text(json.dumps({"data": [[rows]]}))
scale = 0.00392156862745098
mnist = {"model": "cnn-mnist", "inputs": {"input": {"decoder": "image", "color": "gray", "scale": scale}}}
(out / "mnist.json").write_text(json.dumps({"models": [mnist]}))
rgb = {"model": "rgb-cnn", "inputs": {"input": {
    "decoder": "image", "resize": {"shorterSide": 72, "crop": [64, 64], "filter": "bilinear"},
    "color": "rgb", "scale": scale, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}}
(out / "rgb.json").write_text(json.dumps({"models": [rgb]}))
PY

start() {
  "$bin" serve --inference-config "$1" --port "$port" --no-access-log --log-format json 2>"$work/server.log" &
  server=$!
  for _ in $(seq 200); do curl -sf "localhost:$port/ready" >/dev/null && break; sleep 0.05; done
}

stop() {
  kill "$server"; wait "$server" 2>/dev/null || true; server=
}

# The sums of a histogram family on /metrics: "seconds count".
sums() {
  curl -s "localhost:$port/metrics" | python3 -c '
import sys
total = {"inferd_decode_seconds": [0.0, 0.0], "inferd_scoring_seconds": [0.0, 0.0]}
for line in sys.stdin:
    if line.startswith("#"):
        continue
    series, value = line.rsplit(" ", 1)
    name = series.split("{")[0]
    for family in total:
        if name == family + "_sum":
            total[family][0] += float(value)
        elif name == family + "_count":
            total[family][1] += float(value)
print(*total["inferd_decode_seconds"], *total["inferd_scoring_seconds"])'
}

# One step: label, body file, content type, connections.
step() {
  local before after
  before=$(sums)
  "$bin" bench --url "http://127.0.0.1:$port/score" --body "$2" -H "Content-Type: $3" \
    -c "$4" -d "$duration" --warmup 1 --label "$1" --json "$work/report.json" >/dev/null 2>&1
  after=$(sums)
  python3 - "$work/report.json" "$1" "$before" "$after" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
b = [float(x) for x in sys.argv[3].split()]
a = [float(x) for x in sys.argv[4].split()]
decode = (a[0] - b[0]) / max(a[1] - b[1], 1) * 1e6
run = (a[2] - b[2]) / max(a[3] - b[3], 1) * 1e6
for s in report["steps"]:
    bad = {k: v for k, v in s.get("statuses", {}).items() if not k.startswith("2")}
    bad = f"  non-2xx {bad}" if bad else ""
    print(f"{sys.argv[2]:12} {s['concurrency']:>5} {s['ok_throughput']:>9.0f} {s['p50_ms']:>8.3f} {s['p99_ms']:>8.3f} "
          f"{decode:>10.1f} {run:>8.1f} {decode / (decode + run):>7.1%}{bad}")
PY
}

echo "body         conns     req/s   p50_ms   p99_ms  decode_us   run_us  decode%  (${duration}s steps)"
start "$work/mnist.json"
for c in $connections; do
  step png "examples/images/seven.png" image/png "$c"
  step json "$work/seven.json" application/json "$c"
done
stop
start "$work/rgb.json"
for c in $connections; do
  step rgb-png64 "examples/images/sample-64.png" image/png "$c"
  step rgb-jpg500 "examples/images/sample-500x375.jpg" image/jpeg "$c"
done
stop
