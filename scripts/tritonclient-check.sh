#!/usr/bin/env bash
# Drives the real server's Open Inference Protocol (KServe v2) routes with the
# real Triton HTTP client from PyPI (tests/tritonclient/check.py): health,
# metadata, config, repository index, statistics, infer with binary and JSON
# tensors checked against /score, errors, keys and compression, on every
# bundled model. The Python environment (.venv-triton, git-ignored, from
# pinned requirements) is scripts/tritonclient-env.sh's; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(scripts/tritonclient-env.sh)
# The binary `cargo test --workspace` just built (scripts/test.sh runs it
# first); building with `-p inferd` alone would unify features differently
# and rebuild much of the tree. check.py finds it under CARGO_TARGET_DIR
# (else target/) unless INFERD_BIN names one.
if [ -z "${INFERD_BIN:-}" ]; then
  cargo build --quiet --workspace --tests --features inferd/ort
fi
"$python" tests/tritonclient/check.py
