#!/usr/bin/env bash
# Creates the project's Python environment in .venv (git-ignored) with the
# pinned packages that make the model fixtures, and prints its python path.
# Idempotent: a current environment is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=models/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi
echo "$PWD/.venv/bin/python"
