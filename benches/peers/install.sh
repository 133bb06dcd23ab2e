#!/usr/bin/env bash
# Installs the peer servers from PyPI into benches/peers/.env/<peer> (git-ignored),
# one virtual environment each (their pins conflict). Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p .env
install() { # name python
  local name=$1 python=$2 req=requirements-$1.txt
  local want; want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ ! -x ".env/$name/bin/python" ] || [ "$(cat ".env/$name/.stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf ".env/$name"
    "$python" -m venv ".env/$name"
    ".env/$name/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" > ".env/$name/.stamp"
  fi
}
for peer in ${PEERS:-azureml mlserver triton}; do
  case $peer in
    triton) install triton /usr/bin/python3.11 ;;  # the 3.11 stub links Debian's libpython
    *) install "$peer" python3 ;;
  esac
done
