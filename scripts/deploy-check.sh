#!/usr/bin/env bash
# Checks `inferd deploy`'s manifests without a cluster (tests/deploy/check.py):
# the Kubernetes API schemas (kubernetes-validate, offline), KServe's and
# KEDA's rules, and consistency across objects. Builds its own Python
# environment (.venv-deploy, git-ignored) from pinned requirements; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(scripts/venv.sh .venv-deploy tests/deploy/requirements.txt)
# The binary `cargo test --workspace` builds (scripts/test.sh runs it
# first; this is then a no-op), with the same features so nothing rebuilds.
if [ -z "${INFERD_BIN:-}" ]; then
  cargo build --quiet --workspace --tests --features inferd/ort
fi
"$python" tests/deploy/check.py "${INFERD_BIN:-target/debug/inferd}"
