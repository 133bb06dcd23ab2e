#!/usr/bin/env bash
# Where a request's time goes: the release server under callgrind (which
# counts instructions, so the figures do not depend on the machine's load),
# fed one request at a time for a fixed time, then the functions ranked by
# their own (exclusive) and inclusive instruction counts.
#
#   benches/profile.sh [MODEL] [SECONDS]        default: mlp-784 20
#
# Writes benches/results/profile-MODEL.txt (the summary) and keeps the raw
# callgrind file under target/profile/. Needs the release binaries
# (cargo build --release -p inferd -p inferd-bench) and valgrind.
# The worker's idle poll is off: callgrind would count its spinning between
# requests as the request's work.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-mlp-784}"
seconds="${2:-20}"
bin="${CARGO_TARGET_DIR:-target}/release"
out=target/profile
mkdir -p "$out" benches/results
port="${PORT:-5977}"
body="$out/$model-body.json"
python3 - "$model" "$body" <<'PY'
import json, pathlib, sys
model, body = sys.argv[1], sys.argv[2]
case = json.loads(pathlib.Path(f"models/{model}/1/files/expected.json").read_text())["cases"][0]
pathlib.Path(body).write_text(json.dumps({"data": case["data"]}))
PY
raw="$out/callgrind-$model.out"
rm -f "$raw"
valgrind --tool=callgrind --callgrind-out-file="$raw" \
  "$bin/inferd" serve --model "$model" --port "$port" --log-format json --no-access-log --worker-poll-us 0 \
  2> "$out/server-$model.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  grep -q '"ready"' "$out/server-$model.log" 2>/dev/null && break
  sleep 0.5
done
"$bin/inferd-bench" --url "http://127.0.0.1:$port/score" --body "$body" -c 1 \
  --duration "$seconds" --warmup 2 --json "$out/bench-$model.json" > "$out/bench-$model.txt"
kill -TERM "$server"
wait "$server" || true
trap - EXIT
requests=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); s=r['steps'][0] if 'steps' in r else r[0]; print(s.get('requests') or s.get('count') or s.get('total'))" "$out/bench-$model.json" 2>/dev/null || echo "?")
{
  echo "# callgrind: inferd serve --model $model, one connection, ${seconds}s (+2s warm-up) of POST /score"
  echo "# requests answered in the measured part: $requests (warm-up and start-up are in the counts too)"
  echo "# command: benches/profile.sh $model $seconds"
  echo
  echo "## exclusive (the function's own instructions)"
  callgrind_annotate --inclusive=no "$raw" 2>/dev/null | sed -n '1,60p'
  echo
  echo "## inclusive (with callees)"
  callgrind_annotate --inclusive=yes "$raw" 2>/dev/null | sed -n '1,80p'
} > "benches/results/profile-$model.txt"
echo "benches/results/profile-$model.txt"
