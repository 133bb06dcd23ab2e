#!/usr/bin/env bash
# inferd batch against the engine alone and against the usual Python job,
# on generated CSV files of 1 GB (and 4 GB, for memory against file size):
#   benches/batch.sh [WORK_DIR]     (default /tmp/inferd-batch-bench; ~15 GB of disk)
# Builds the release binary with the ort feature, the Python baseline's
# environment (benches/batch/requirements.txt) and the ONNX Runtime
# library, then runs benches/batch/run.py. Results: benches/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-/tmp/inferd-batch-bench}"
cargo build --release --locked --features inferd/ort -p inferd >&2
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$(scripts/onnxruntime.sh)}"
python=$(scripts/venv.sh .venv-batch-bench benches/batch/requirements.txt)
"$python" benches/batch/run.py "$PWD/target/release/inferd" "$work" "$PWD/models"
