#!/usr/bin/env bash
# scripts/venv.sh DIR REQUIREMENTS: makes the Python environment DIR (a
# git-ignored folder at the repository root) with the pinned packages of
# REQUIREMENTS, and prints its python path. Idempotent: an environment made
# from the same requirements is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
requirements=$2
stamp="$dir/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$dir/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi
echo "$PWD/$dir/bin/python"
