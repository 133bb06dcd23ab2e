#!/usr/bin/env bash
# Builds the tract-only inferd (default features, no `ort`) as one static
# executable: glibc linked in with `crt-static`, so the binary runs in an
# empty root (`FROM scratch`, a distroless image, any Linux) with no loader
# and no shared libraries. Prints the binary's path and size on stdout's last
# line, and fails unless `ldd` calls it static and its ELF headers name no
# loader and no library.
#
#   scripts/build-static.sh        # -> target/x86_64-unknown-linux-gnu/release/inferd
#   INFERD_STATIC_PROFILE=static-check scripts/build-static.sh   # -> .../static-check/inferd
#
# The image is built with the release profile (fat LTO: ~10 minutes on two
# cores). CI's empty-root check builds the static-check profile (no
# optimisation: ~1.5 minutes), linked the same way with the same flags.
#
# The target is named explicitly on purpose: with `--target`, RUSTFLAGS apply
# to the target's crates only, not to build scripts and proc-macros, which
# must stay dynamic (a proc-macro is a shared library loaded by rustc).
# No musl target is needed: glibc links statically. glibc warns at link time
# (rustc hides linker warnings unless `-W linker-messages`) that getaddrinfo
# in a static binary would need glibc's NSS modules at run time: it is linked
# for the client commands' `--url http://NAME:PORT` (`inferd health`,
# `inferd model`), and only called for a name, never for an IP address.
# `inferd serve` binds an IP address (`--host` is one) and resolves nothing;
# `inferd health`'s default URL is 127.0.0.1. glibc 2.34+ has the `files` and
# `dns` NSS modules built into libc, so even a name resolves without loading
# a module, given /etc/hosts or /etc/resolv.conf (which Docker provides).
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
# getrandom 0.3/0.4 (rand's ThreadRng, the auth keys) find glibc's
# getrandom() with dlsym, which finds nothing in a static binary, and then
# fall back to opening /dev/urandom: an empty root has no /dev, and every
# request id would panic. The `linux_getrandom` backend calls getrandom()
# directly (Linux 3.17+). getrandom 0.2 (ring) makes the system call itself.
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static --cfg getrandom_backend=\"linux_getrandom\""
profile="${INFERD_STATIC_PROFILE:-release}"
if ! cargo build --profile "$profile" --locked --target "$target" -p inferd --bin inferd >&2; then
  echo "build-static: cargo build failed" >&2
  exit 1
fi
# Cargo puts the dev profile's output in debug/.
bin="target/$target/$([ "$profile" = dev ] && echo debug || echo "$profile")/inferd"
# Rust links glibc statically as a static PIE (ASLR kept), for which ldd
# says "statically linked"; a non-PIE static binary gets "not a dynamic
# executable". Either is fine; anything listing libraries is not. The ELF
# headers are checked too: no program interpreter, no needed libraries.
ldd_out="$(ldd "$bin" 2>&1 || true)"
if ! grep -qE "not a dynamic executable|statically linked" <<<"$ldd_out" \
  || readelf -l "$bin" | grep -q "INTERP" \
  || readelf -d "$bin" | grep -q "(NEEDED)"; then
  echo "build-static: $bin is not static; ldd says:" >&2
  echo "$ldd_out" >&2
  exit 1
fi
size="$(stat -c %s "$bin")"
echo "build-static: $bin is static (ldd: $(tr -d '\n' <<<"$ldd_out" | sed 's/^[[:space:]]*//')), $size bytes ($((size / 1024 / 1024)) MiB)" >&2
echo "$PWD/$bin $size"
