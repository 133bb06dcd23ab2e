#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that the `ort` engine loads at run
# time, into a project-local folder, and prints the library's path:
#
#   export ORT_DYLIB_PATH="$(scripts/onnxruntime.sh)"          # CPU build
#   export ORT_DYLIB_PATH="$(scripts/onnxruntime.sh --gpu)"    # CUDA build
#
# The CPU build comes from the `onnxruntime` wheel on PyPI, which ships
# `onnxruntime/capi/libonnxruntime.so.<version>`: only that file is kept, no
# Python environment is needed to use it. The CUDA build (`onnxruntime-gpu`)
# needs the CUDA and cuDNN libraries beside it, so it is installed with its
# dependencies into a virtual environment, and those folders are printed on
# stderr for LD_LIBRARY_PATH. Idempotent: an installed version is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
# The version the `ort` crate's `api-31` feature accepts (1.31 or newer), and
# the one models/requirements.txt makes the fixtures with.
flavour=cpu
if [ "${1:-}" = "--gpu" ]; then flavour=gpu; fi
# onnxruntime-gpu lags the CPU wheel on PyPI: 1.31.1 is its newest.
if [ "$flavour" = gpu ]; then default=1.31.1; else default=1.32.0; fi
VERSION="${ONNXRUNTIME_VERSION:-$default}"
root="$PWD/.cache/onnxruntime/$flavour-$VERSION"

if [ "$flavour" = cpu ]; then
  lib="$root/libonnxruntime.so.$VERSION"
  if [ ! -f "$lib" ]; then
    mkdir -p "$root/wheel"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
      --only-binary=:all: --dest "$root/wheel" "onnxruntime==$VERSION" >&2
    python3 - "$root" "$VERSION" <<'PY'
import glob, sys, zipfile
root, version = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(f"{root}/wheel/onnxruntime-{version}-*.whl")
name = f"onnxruntime/capi/libonnxruntime.so.{version}"
with zipfile.ZipFile(wheel) as z, open(f"{root}/libonnxruntime.so.{version}.part", "wb") as out:
    out.write(z.read(name))
PY
    mv "$lib.part" "$lib"
    rm -rf "$root/wheel"
  fi
else
  if [ ! -x "$root/venv/bin/python" ]; then
    python3 -m venv "$root/venv"
    "$root/venv/bin/pip" install --quiet --disable-pip-version-check \
      "onnxruntime-gpu[cuda,cudnn]==$VERSION" >&2
  fi
  site="$("$root/venv/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
  lib="$(ls "$site"/onnxruntime/capi/libonnxruntime.so.* | head -n1)"
  # The CUDA/cuDNN wheels' libraries, for LD_LIBRARY_PATH.
  echo "CUDA libraries: $(ls -d "$site"/nvidia/*/lib 2>/dev/null | paste -sd:)" >&2
fi
echo "$lib"
