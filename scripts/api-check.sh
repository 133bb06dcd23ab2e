#!/usr/bin/env bash
# Checks the generated API documents with independent tools (tests/api/check.py):
# openapi-spec-validator on every document, structure against the original's
# captured documents, and a schemathesis fuzz run against the live server.
# Builds its own Python environment (.venv-api, git-ignored) from pinned
# requirements; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(scripts/venv.sh .venv-api tests/api/requirements.txt)
# The binary `cargo test --workspace` just built (scripts/test.sh runs it
# first); building with `-p inferd` alone would unify features differently
# and rebuild much of the tree.
if [ -z "${INFERD_BIN:-}" ]; then
  cargo build --quiet --workspace --tests --features inferd/ort
fi
"$python" tests/api/check.py
