#!/usr/bin/env bash
# Instructions per request, counted by callgrind (repeatable whatever else
# the machine does, unlike req/s on a shared VM): the release server under
# callgrind serving MODEL for SECONDS at one connection, minus a run that
# serves nothing, divided by the requests answered. Extra arguments go to
# `inferd serve` (e.g. --no-access-log --no-metrics), so configurations can
# be compared:
#
#   benches/instructions_per_request.sh diabetes-ridge 10 --no-access-log --no-metrics
#   benches/instructions_per_request.sh diabetes-ridge 10
#
# CONNS (default 1) sets the connections; at 64 the HTTP thread is saturated
# under callgrind as in a real 64-connection run. BODY (default: the model's
# first expected case) is the request body file, e.g. the two-row ridge body
# that `python3 benches/peers/bodies.py DIR` writes as DIR/ridge-aml.json.
#
# PER_THREAD=1 also prints the measured run's instructions a request on each
# busy thread (callgrind --separate-threads): `http` is the thread whose
# profile holds hyper, `engine` the one that runs tract.
#
# The worker's idle poll is off (--worker-poll-us 0): at one connection it
# would spin between requests, and callgrind would count the spinning as
# the request's work.
#
# Needs valgrind and the release binaries (cargo build --release -p inferd -p inferd-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/profile
model=$1; secs=$2; shift 2
port=5981
body=${BODY:-target/profile/$model-body.json}
if [ -z "${BODY:-}" ]; then
python3 - "$model" "$body" <<'PY'
import json, pathlib, sys
case = json.loads(pathlib.Path(f"models/{sys.argv[1]}/1/files/expected.json").read_text())["cases"][0]
pathlib.Path(sys.argv[2]).write_text(json.dumps({"data": case["data"]}))
PY
fi
run() { # seconds -> prints "total requests"
  local out=target/profile/ci.$$; rm -f $out
  local split=(); [ "${PER_THREAD:-0}" = 1 ] && split=(--separate-threads=yes)
  valgrind --tool=callgrind "${split[@]}" --callgrind-out-file=$out target/release/inferd serve --model $model --port $port --log-format json --worker-poll-us 0 "$@" 2>target/profile/srv.log >/dev/null &
  local pid=$!
  for _ in $(seq 600); do grep -q '"ready"' target/profile/srv.log 2>/dev/null && break; sleep 0.5; done
  local n=0
  if [ "$S" != 0 ]; then
    target/release/inferd-bench --url http://127.0.0.1:$port/score --body $body -c "${CONNS:-1}" -d $S --warmup 0 --json target/profile/b.json >/dev/null
    n=$(python3 -c "import json;print(json.load(open('target/profile/b.json'))['steps'][0]['requests'])")
  fi
  kill -TERM $pid; wait $pid || true
  local tot=0
  for f in $out $out-*; do
    [ -f "$f" ] || continue
    local t=$(grep -m1 '^summary:' "$f" | awk '{print $2}')
    tot=$((tot + t))
    if [ "$n" != 0 ] && [ $((t / n)) -gt 1000 ]; then
      local role=other
      grep -q 'hyper::proto' "$f" && role=http
      grep -q 'tract_core' "$f" && role=engine
      echo "thread $role: $((t / n)) a request" >&2
    fi
  done
  rm -f $out $out-*
  echo "$tot $n"
}
S=0; read t0 n0 < <(run "$@")
S=$secs; read t1 n1 < <(run "$@")
echo "args: $* | idle: $t0 | run: $t1 over $n1 requests | per request: $(( (t1 - t0) / n1 ))"
