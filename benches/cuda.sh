#!/usr/bin/env bash
# The GPU check in one command, for a machine with an NVIDIA GPU and its
# driver: installs the CUDA build of ONNX Runtime (onnxruntime-gpu with its
# CUDA and cuDNN wheels), then runs, with CUDA beside tract and the CPU:
#   1. the engine suite (bundled models at batch 1/7/64);
#   2. the ONNX operator cases (pass counts per engine);
#   3. the in-process latency per model, engine and batch size (criterion).
# Writes everything under ${OUT:-target/cuda-check}/.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-target/cuda-check}"
mkdir -p "$out"
nvidia-smi | tee "$out/nvidia-smi.txt" || echo "nvidia-smi not found" | tee "$out/nvidia-smi.txt"
ORT_DYLIB_PATH="$(scripts/onnxruntime.sh --gpu 2> "$out/onnxruntime-install.txt")"
export ORT_DYLIB_PATH
cuda_libs="$(sed -n 's/^CUDA libraries: //p' "$out/onnxruntime-install.txt")"
export LD_LIBRARY_PATH="${cuda_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cases="$(scripts/onnx-cases.sh)"

cargo build --release --workspace --features inferd/ort 2>&1 | tail -n 3
cargo run --release -p inferd-conformance --bin inferd-conformance -- \
  --cases "$cases" --cuda --report "$out/conformance.md" | tee "$out/conformance-table.md"
INFERD_BENCH_CUDA=1 cargo bench -p inferd-conformance --bench engines 2>&1 \
  | tee "$out/engines-bench.txt" | grep -E '^[a-z0-9-]+/|time:'
echo "results in $out"
