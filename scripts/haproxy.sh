#!/usr/bin/env bash
# Makes sure HAProxy is installed (Debian's `haproxy` package, 2.6 on
# bookworm) and prints the binary's path. The rolling-restart bench and its
# CI check put it in front of inferd replicas as a load balancer that
# health-checks `/ready`, as a Kubernetes readiness probe and a Service do.
# Idempotent: an installed HAProxy is left as it is.
set -euo pipefail
if ! command -v haproxy >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
  else
    sudo=
  fi
  echo "haproxy.sh: installing haproxy (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends haproxy >/dev/null
fi
command -v haproxy
