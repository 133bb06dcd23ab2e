#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run calls it).
# It installs what the tests need through the project's own scripts, then
# runs every test, so a fresh clone needs nothing done by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

# The ONNX Runtime library for the `ort` engine's tests (CPU build, from the
# onnxruntime wheel on PyPI, kept in .cache/onnxruntime/).
ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$(scripts/onnxruntime.sh)}"
export ORT_DYLIB_PATH

echo "== cargo test --workspace --features inferd/ort"
cargo test --workspace --features inferd/ort

echo "== API documents: validator, structure, fuzz (scripts/api-check.sh)"
scripts/api-check.sh

echo "== inferd deploy's manifests against the Kubernetes API schemas (scripts/deploy-check.sh)"
scripts/deploy-check.sh

echo "== ONNX operator conformance, every engine (scripts/conformance.sh)"
scripts/conformance.sh

echo "== Open Inference Protocol with the real tritonclient[http] (scripts/tritonclient-check.sh)"
scripts/tritonclient-check.sh

echo "== the image pre-processing's Python reference (Pillow, NumPy) against its committed fixture (models/image_reference.py)"
"$(scripts/python-env.sh)" models/image_reference.py --check tests/fixtures/media/parity.json
