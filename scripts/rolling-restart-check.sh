#!/usr/bin/env bash
# The CI check of rolling restarts (issue 33): three release-build replicas
# behind HAProxy (installed by scripts/haproxy.sh when missing), under load,
# rolled one at a time with SIGTERM, then again with the keys Secret
# rotated mid-roll. Fails on any failed request, any request HAProxy had to
# retry, a replica that does not exit 0, or a key check. About 30-60 s.
# Expects target/release/inferd built (builds it when missing or stale).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/haproxy.sh >/dev/null
exec python3 benches/rolling_restart.py --quick "$@" >/dev/null
