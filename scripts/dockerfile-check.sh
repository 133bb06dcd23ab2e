#!/usr/bin/env bash
# Checks the Dockerfiles in docker/ for what can be checked without a Docker
# daemon: each builds with `cargo ... --locked` (or scripts/build-static.sh,
# which does), its final stage runs as a non-root USER and has a
# HEALTHCHECK, declares what inferd may write (/tmp, /var/lib/inferd) as
# volumes, every base image has an explicit tag other than `latest`, and
# every COPY from the build context names a file that exists and that
# .dockerignore does not leave out. Runs hadolint as well when it is
# installed (it is not a registry package here; skipped otherwise).
#
#   scripts/dockerfile-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

python3 - docker/Dockerfile* <<'PY'
import fnmatch, os, re, sys

ignored = []
if os.path.exists(".dockerignore"):
    for line in open(".dockerignore"):
        line = line.strip()
        if line and not line.startswith("#"):
            ignored.append(line.rstrip("/"))

def excluded(path):
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(p, pattern) for p in prefixes for pattern in ignored)

failures = []
for name in sys.argv[1:]:
    text = open(name).read()
    # Instructions, continuation lines joined, comments dropped.
    lines = [l for l in text.splitlines() if not l.lstrip().startswith("#")]
    instructions = re.sub(r"\\\n", " ", "\n".join(lines)).splitlines()
    instructions = [i.strip() for i in instructions if i.strip()]
    fail = lambda why: failures.append(f"{name}: {why}")

    stages, final = [], []
    for ins in instructions:
        keyword = ins.split()[0].upper()
        if keyword == "FROM":
            words = ins.split()
            image = next(w for w in words[1:] if not w.startswith("--"))
            if " AS " in ins.upper():
                stages.append(words[-1].lower())
            final = []
            if image != "scratch" and image.lower() not in stages:
                tag = image.rsplit("/", 1)[-1].partition(":")[2]
                if not tag and "@sha256:" not in image:
                    fail(f"base image {image} has no tag")
                if tag == "latest":
                    fail(f"base image {image} uses the latest tag")
        final.append(ins)
        if keyword == "COPY" and "--from=" not in ins:
            sources = [w for w in ins.split()[1:] if not w.startswith("--")][:-1]
            for source in sources:
                if not os.path.exists(source):
                    fail(f"COPY source {source} does not exist")
                elif excluded(source):
                    fail(f"COPY source {source} is left out by .dockerignore")
    if ":latest" in text:
        fail("mentions a :latest tag")
    builds = [i for i in instructions if i.startswith("RUN") and ("cargo build" in i or "build-static.sh" in i)]
    if not builds:
        fail("builds nothing with cargo")
    for build in builds:
        if "cargo build" in build and "--locked" not in build:
            fail(f"cargo build without --locked: {build}")
    if any("build-static.sh" in b for b in builds) and "--locked" not in open("scripts/build-static.sh").read():
        fail("scripts/build-static.sh builds without --locked")
    users = [i.split()[1] for i in final if i.upper().startswith("USER ")]
    if not users:
        fail("the final stage has no USER (it would run as root)")
    elif users[-1].split(":")[0] in ("0", "root"):
        fail(f"the final stage runs as {users[-1]}")
    if not any(i.upper().startswith("HEALTHCHECK ") and "NONE" not in i.upper() for i in final):
        fail("the final stage has no HEALTHCHECK")
    # A read-only root: whatever inferd may write must be a declared volume,
    # and the settings must point there.
    volumes = " ".join(i for i in final if i.upper().startswith("VOLUME "))
    env = " ".join(i for i in final if i.upper().startswith("ENV "))
    for path, setting in [("/tmp", "TMPDIR=/tmp"),
                          ("/var/lib/inferd", "INFERD_DATA_COLLECTION_DIR=/var/lib/inferd/")]:
        if f'"{path}"' not in volumes:
            fail(f"the final stage does not declare {path} a VOLUME (the root is read-only)")
        if setting not in env:
            fail(f"the final stage does not set {setting}...")
    print(f"dockerfile-check: {name}: {'FAILED' if any(f.startswith(name + ':') for f in failures) else 'ok'}")

for f in failures:
    print(f"dockerfile-check: {f}", file=sys.stderr)
sys.exit(1 if failures else 0)
PY

if command -v hadolint >/dev/null; then
  hadolint docker/Dockerfile*
else
  echo "dockerfile-check: hadolint is not installed; its lints are skipped"
fi
