#!/usr/bin/env bash
# Drives the real server's Open Inference Protocol (KServe v2) routes with the
# real Triton HTTP client from PyPI (tests/tritonclient/check.py): health,
# metadata, config, repository index, statistics, infer with binary and JSON
# tensors checked against /score, errors, keys and compression, on every
# bundled model. Builds its own Python environment (.venv-triton,
# git-ignored) from pinned requirements; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=tests/tritonclient/requirements.txt
stamp=.venv-triton/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x .venv-triton/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv .venv-triton
  .venv-triton/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi
# The binary `cargo test --workspace` just built (scripts/test.sh runs it
# first); building with `-p inferd` alone would unify features differently
# and rebuild much of the tree. check.py finds it under CARGO_TARGET_DIR
# (else target/) unless INFERD_BIN names one.
if [ -z "${INFERD_BIN:-}" ]; then
  cargo build --quiet --workspace --tests --features inferd/ort
fi
.venv-triton/bin/python tests/tritonclient/check.py
