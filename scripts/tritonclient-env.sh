#!/usr/bin/env bash
# Creates the Python environment with NVIDIA's Triton HTTP client
# (.venv-triton, git-ignored) from tests/tritonclient/requirements.txt, and
# prints its python path: the README's tritonclient example and
# scripts/tritonclient-check.sh run with it. Idempotent: a current
# environment is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(scripts/venv.sh .venv-triton tests/tritonclient/requirements.txt)
echo "$python"
