#!/usr/bin/env bash
# Creates the Python environment with NVIDIA's Triton HTTP client
# (.venv-triton, git-ignored) from tests/tritonclient/requirements.txt, and
# prints its python path: the README's tritonclient example and
# scripts/tritonclient-check.sh run with it. Idempotent: a current
# environment is left as it is.
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
echo "$PWD/.venv-triton/bin/python"
