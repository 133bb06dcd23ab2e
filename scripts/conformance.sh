#!/usr/bin/env bash
# The ONNX operator conformance run: generates the cases (scripts/onnx-cases.sh),
# runs every case through each engine (inferd-conformance), and fails when an
# engine's pass count drops below benches/conformance/baseline.json.
#
#   scripts/conformance.sh            check against the baseline
#   scripts/conformance.sh --write    also rewrite benches/conformance/REPORT.md and .tsv
#
# Uses the binary of the workspace test build (scripts/test.sh builds it
# first), or builds it with the same features.
set -euo pipefail
cd "$(dirname "$0")/.."
cases="$(scripts/onnx-cases.sh)"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$(scripts/onnxruntime.sh)}"
bin=target/debug/inferd-conformance
if [ ! -x "$bin" ]; then
  cargo build --quiet --workspace --tests --features inferd/ort
fi
args=(--cases "$cases" --baseline benches/conformance/baseline.json)
if [ "${1:-}" = "--write" ]; then
  args+=(--report benches/conformance/REPORT.md)
fi
"$bin" "${args[@]}"
