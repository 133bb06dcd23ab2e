#!/usr/bin/env bash
# Generates the ONNX operator conformance cases (tests/conformance/onnx_cases.py)
# into .cache/onnx-node-cases with the `onnx` wheel pinned in
# models/requirements.txt, and prints the folder. Idempotent: cases made by
# the same onnx version are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
python="$(scripts/python-env.sh)"
out="$PWD/.cache/onnx-node-cases"
want="$("$python" -c 'import onnx; print(onnx.__version__)')"
if [ "$(cat "$out/onnx-version.txt" 2>/dev/null)" != "$want" ]; then
  "$python" tests/conformance/onnx_cases.py "$out"
fi
echo "$out"
