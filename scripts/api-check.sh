#!/usr/bin/env bash
# Checks the generated API documents with independent tools (tests/api/check.py):
# openapi-spec-validator on every document, structure against the original's
# captured documents, and a schemathesis fuzz run against the live server.
# Builds its own Python environment (.venv-api, git-ignored) from pinned
# requirements; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=tests/api/requirements.txt
stamp=.venv-api/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x .venv-api/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv .venv-api
  .venv-api/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi
# The binary `cargo test --workspace` just built (scripts/test.sh runs it
# first); building with `-p inferd` alone would unify features differently
# and rebuild much of the tree.
if [ -z "${INFERD_BIN:-}" ]; then
  cargo build --quiet --workspace --tests --features inferd/ort
fi
.venv-api/bin/python tests/api/check.py
