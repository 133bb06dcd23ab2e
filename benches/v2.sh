#!/usr/bin/env bash
# Issue 31's speed table: mlp-784 over /score JSON, v2 JSON and v2 binary
# (raw little-endian floats after the JSON header), one row per request and
# 32 rows per request (tract's best batch, benches/RESULTS.md engines
# table), at 1 and 64 connections, all in one run against one release
# server, loaded by `inferd bench` on the same machine. The three bodies of
# a size carry the same values (the model's input sample, repeated). Prints
# one line per step: format, rows, connections, req/s (2xx), p50, p99.
#
#   benches/v2.sh [duration_s] [connections...]
#   NO_BUILD=1 BIN=path/to/inferd benches/v2.sh   (reuse a built binary)
#   INFERD_ARGS='--max-batch-size 64 --max-batch-delay-ms 0' benches/v2.sh   (extra serve flags)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}; shift || true
connections=${*:-1 64}
bin=${BIN:-target/release/inferd}
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet --bin inferd
work=$(mktemp -d)
port=${PORT:-5931}
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import json, struct, sys
from pathlib import Path
out = Path(sys.argv[1])
row = [float(x) for x in json.load(open("models/mlp-784/1/files/input_sample.json"))[0]]
for rows in (1, 32):
    data = [row] * rows
    (out / f"score-{rows}.json").write_text(json.dumps({"data": data}))
    flat = [x for r in data for x in r]
    tensor = {"name": "input", "shape": [rows, 784], "datatype": "FP32"}
    (out / f"v2json-{rows}.json").write_text(json.dumps({"inputs": [dict(tensor, data=flat)]}))
    raw = struct.pack(f"<{len(flat)}f", *flat)
    header = json.dumps({
        "inputs": [dict(tensor, parameters={"binary_data_size": len(raw)})],
        "parameters": {"binary_data_output": True},
    }).encode()
    (out / f"v2binary-{rows}.bin").write_bytes(header + raw)
    (out / f"v2binary-{rows}.len").write_text(str(len(header)))
PY

"$bin" serve --model mlp-784 --port "$port" --no-access-log --log-format json ${INFERD_ARGS:-} 2>"$work/server.log" &
server=$!
for _ in $(seq 200); do curl -sf "localhost:$port/ready" >/dev/null && break; sleep 0.05; done

echo "format  rows  connections  req/s  p50_ms  p99_ms  (inferd bench, ${duration}s steps, mlp-784)"
for rows in 1 32; do
  for c in $connections; do
    for format in score v2json v2binary; do
      case $format in
        score) args=(--url "http://127.0.0.1:$port/score" --body "$work/score-$rows.json") ;;
        v2json) args=(--url "http://127.0.0.1:$port/v2/models/mlp-784/infer" --body "$work/v2json-$rows.json") ;;
        v2binary) args=(--url "http://127.0.0.1:$port/v2/models/mlp-784/infer" --body "$work/v2binary-$rows.bin"
                        --body-format binary --header-length "$(cat "$work/v2binary-$rows.len")") ;;
      esac
      "$bin" bench "${args[@]}" -c "$c" -d "$duration" --warmup 1 --label "$format" \
        --json "$work/report.json" >/dev/null 2>&1
      python3 - "$work/report.json" "$format" "$rows" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for step in report["steps"]:
    statuses = {k: v for k, v in step.get("statuses", {}).items() if not k.startswith("2")}
    bad = f"  non-2xx {statuses}" if statuses else ""
    print(f"{sys.argv[2]:9} {sys.argv[3]:>4} {step['concurrency']:>5} {step['ok_throughput']:>10.0f} "
          f"{step['p50_ms']:>8.3f} {step['p99_ms']:>8.3f}{bad}")
PY
    done
  done
done
echo "RSS after load: $(ps -o rss= -p $server) KiB"
