#!/usr/bin/env bash
# The side-by-side run: inferd, a bare hyper server (the HTTP ceiling) and
# the peers (Azure ML inference server, Seldon MLServer, Triton), one after
# the other in one session, on the same models and the same rows, loaded by
# `inferd bench` (closed loop). Writes JSON reports and SVG plots into
# benches/results/ and the tables with the ratios into benches/RESULTS.md.
#
#   benches/peers/run.sh                 # everything (about 15 minutes)
#   DURATION=5 PEERS="triton" SCENARIOS=ridge benches/peers/run.sh
#   SERVERS="bare inferd" ...   # a subset (default: bare inferd inferd-batched inferd-v2-batched and $PEERS)
#
# inferd-v2-batched gets the same KServe v2 JSON body as Triton and MLServer,
# on /v2/models/{m}/infer, batching on as inferd-batched.
#   NO_BUILD=1 ...              # use the binaries already in $CARGO_TARGET_DIR/release
#
# Loopback only. The Azure ML server binds 0.0.0.0 (it has no host option);
# the load goes to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
duration=${DURATION:-10}
concurrency=${CONCURRENCY:-1,4,16,64}
peers=${PEERS:-triton mlserver azureml}
scenarios=${SCENARIOS:-ridge mlp}
servers=${SERVERS:-bare inferd inferd-batched inferd-v2-batched $peers}
out=benches/results
bin=${CARGO_TARGET_DIR:-target}/release
mkdir -p "$out"
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet -p inferd -p inferd-bare -p inferd-bench
PEERS="$peers" benches/peers/install.sh
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
site() { echo "$root"/benches/peers/.env/"$1"/lib/python3.11/site-packages; }

wait_ready() { # url
  for _ in $(seq 1200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "not ready: $1 (log: $work)" >&2; tail -20 "$work"/*.log >&2; return 1
}
# run LABEL READY_URL URL BODY_FILE COMMAND...: start, wait, record idle RSS, load, stop.
run() {
  local label=$1 ready=$2 url=$3 body=$4; shift 4
  case " $servers " in *" $label "*) ;; *) return 0 ;; esac
  "$@" > "$work/$label.log" 2>&1 &
  pid=$!
  wait_ready "$ready"
  local rss; rss=$(ps -o rss= --ppid "$pid" -p "$pid" | awk '{s+=$1} END {print s}')
  echo "$rss" > "$out/$scenario-$label.rss-kib"
  "$bin/inferd-bench" --url "$url" --body "$body" --label "$label" \
    -c "$concurrency" -d "$duration" --json "$out/$scenario-$label.json"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

# The rows: Ridge 2 rows per request; the MLP one sample of 784 floats.
"$root/scripts/python-env.sh" >/dev/null
.venv/bin/python benches/peers/bodies.py "$work"

triton_repo() { # model rows-name
  local repo=$work/triton-$1; mkdir -p "$repo/$1/1"
  cp benches/peers/triton/model.py "$repo/$1/1/model.py"
  site triton > "$repo/$1/1/site-packages.txt"
  .venv/bin/python benches/peers/triton/config.py "$root/models/$2/1/files/model.onnx" > "$repo/$1/config.pbtxt"
  echo "$repo"
}
triton_backends() {
  local t; t=$(site triton)/pytriton/tritonserver
  mkdir -p "$work/backends"; cp -r "$t/backends/python" "$work/backends/"
  cp "$t/python_backend_stubs/3.11/triton_python_backend_stub" "$work/backends/python/"
  echo "$work/backends"
}

for scenario in $scenarios; do
  case $scenario in
    ridge) model=diabetes-ridge; answer='[4042.2642,4042.2642]' ;;
    mlp) model=mlp-784; answer=$(cat "$work/mlp-answer.json") ;;
  esac
  body=$work/$scenario-aml.json; v2=$work/$scenario-v2.json
  run bare http://127.0.0.1:5912/ http://127.0.0.1:5912/score "$body" \
    "$bin/inferd-bare" 5912 "$answer"
  run inferd http://127.0.0.1:5911/ready http://127.0.0.1:5911/score "$body" \
    "$bin/inferd" serve --port 5911 --model "$model" --log-format json
  run inferd-batched http://127.0.0.1:5911/ready http://127.0.0.1:5911/score "$body" \
    "$bin/inferd" serve --port 5911 --model "$model" --log-format json \
      --max-batch-size 64 --max-batch-delay-ms 0
  run inferd-v2-batched http://127.0.0.1:5911/ready "http://127.0.0.1:5911/v2/models/$model/infer" "$v2" \
    "$bin/inferd" serve --port 5911 --model "$model" --log-format json \
      --max-batch-size 64 --max-batch-delay-ms 0
  for peer in $peers; do
    case $peer in
      triton)
        run triton http://127.0.0.1:5917/v2/health/ready "http://127.0.0.1:5917/v2/models/$scenario/infer" "$v2" \
          env LD_LIBRARY_PATH="$(site triton)/nvidia_pytriton.libs" PYTHONPATH="$(site triton)" \
          "$(site triton)/pytriton/tritonserver/bin/tritonserver" \
            --model-repository "$(triton_repo "$scenario" "$model")" --backend-directory "$(triton_backends)" \
            --http-port 5917 --grpc-port 5918 --metrics-port 5919 \
            --http-address=127.0.0.1 --grpc-address=127.0.0.1 --metrics-address=127.0.0.1 ;;
      mlserver)
        local_dir=$work/mlserver-$scenario; mkdir -p "$local_dir/$scenario"
        cp benches/peers/mlserver/onnx_runtime.py "$local_dir/"
        printf '{"host": "127.0.0.1", "http_port": 5914, "grpc_port": 5915, "metrics_port": 5916, "parallel_workers": 0}\n' > "$local_dir/settings.json"
        printf '{"name": "%s", "implementation": "onnx_runtime.OnnxRuntime", "parameters": {"uri": "%s"}}\n' \
          "$scenario" "$root/models/$model/1/files/model.onnx" > "$local_dir/$scenario/model-settings.json"
        run mlserver http://127.0.0.1:5914/v2/health/ready "http://127.0.0.1:5914/v2/models/$scenario/infer" "$v2" \
          bash -c "cd '$local_dir' && exec '$root/benches/peers/.env/mlserver/bin/mlserver' start ." ;;
      azureml)
        run azureml http://127.0.0.1:5913/ http://127.0.0.1:5913/score "$body" \
          env PEER_ONNX="$root/models/$model/1/files/model.onnx" \
          "$root/benches/peers/.env/azureml/bin/azmlinfsrv" --entry_script "$root/benches/peers/azureml/score.py" \
            --model_dir "$work" --port 5913 ;;
    esac
  done
  reports=$(ls "$out/$scenario"-*.json | paste -sd, -)
  "$bin/inferd-bench" --plot-only --with "$reports" --svg "$out/$scenario.svg" \
    --url http://127.0.0.1:5911/score
done
.venv/bin/python benches/peers/summarize.py "$out" benches/RESULTS.md
