#!/usr/bin/env bash
# Re-make the bundled models: generate them with Python (deterministic), then
# register each in this registry as a fresh version 1.
#
#   models/make_models.sh            all models
#   models/make_models.sh cnn-mnist  one model
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/python-env.sh >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
.venv/bin/python models/make_models.py --out "$out" "$@"
cargo build --quiet --bin inferd
for folder in "$out"/*/; do
  name=$(basename "$folder")
  target/debug/inferd --registry models model delete "$name" >/dev/null 2>&1 || true
  target/debug/inferd --registry models model register -n "$name" -p "$folder" \
    --description "$(.venv/bin/python -c 'import onnx,sys; print(onnx.load(sys.argv[1]).doc_string)' "$folder/model.onnx")" \
    --tag source=models/make_models.py
done
