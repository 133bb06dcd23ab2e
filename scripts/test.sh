#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run calls it).
# It installs what the tests need through the project's own scripts, then
# runs every test, so a fresh clone needs nothing done by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --workspace"
cargo test --workspace

echo "== API documents: validator, structure, fuzz (scripts/api-check.sh)"
scripts/api-check.sh
