#!/usr/bin/env bash
# Checks `inferd deploy`'s manifests without a cluster (tests/deploy/check.py):
# the Kubernetes API schemas (kubernetes-validate, offline), KServe's and
# KEDA's rules, and consistency across objects. Builds its own Python
# environment (.venv-deploy, git-ignored) from pinned requirements; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=tests/deploy/requirements.txt
stamp=.venv-deploy/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x .venv-deploy/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv .venv-deploy
  .venv-deploy/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi
binary="${INFERD_BIN:-target/debug/inferd}"
if [ ! -x "$binary" ]; then
  cargo build --quiet -p inferd
fi
.venv-deploy/bin/python tests/deploy/check.py "$binary"
