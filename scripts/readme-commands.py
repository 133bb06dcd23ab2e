#!/usr/bin/env python3
"""Runs every command README.md shows a user, exactly as it prints it, so
that none of them can rot: each line of each ```sh block, in order.

- A line that starts a server (`... -- serve ...`) runs in the background
  until the server answers `/ready`; the lines after it in the same block
  run against it; at the end of the block it is stopped with SIGTERM and
  must exit 0.
- A `curl` line must succeed and must not answer an error
  (`{"message": ...}`); the first block's `curl` must print what the
  README says it answers.
- `export NAME=...` lines set NAME for the lines after them.
- `scripts/test.sh` (the README's test command) is left to `.ci/run`,
  which runs it itself.
- Any other line must exit 0.
- A ```python block is a file of the repository, shown whole: its first
  line (`# examples/...py: ...`) names the file, and the block must be that
  file's text exactly (a command shown runs the file).

The first block (the README's first screen) runs as it is, against the
repository's own registry. The tour's blocks run with `INFERD_REGISTRY`
set to a copy of `models/`, so registering and deleting there leaves the
repository untouched. Servers get `INFERD_SHUTDOWN_GRACE_S=1` (the
default grace period is 30 s). Files the commands leave in the working
tree (a bench's report) are removed afterwards.

    scripts/readme-commands.py
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
# The first `cargo run --release` builds the server: minutes on a fresh clone.
READY_WITHIN_S = 40 * 60
STOP_WITHIN_S = 60


def blocks(text):
    """The commands of each ```sh block: continuation lines joined, comments dropped."""
    found = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M):
        commands, pending = [], ""
        for line in block.splitlines():
            line = pending + line
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            # A comment: a whole line, or after two spaces (never inside the
            # README's quoted arguments).
            line = re.sub(r"\s{2,}#.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
        found.append(commands)
    return found


def expected_first_answer(text):
    """What the README says the first `curl` answers: "... `[4042.2642]`"."""
    match = re.search(r"The `curl` answers[^`]*`([^`]+)`", text)
    if not match:
        sys.exit("README.md no longer says what the first curl answers")
    return match.group(1)


def port_of(command):
    match = re.search(r"--port[ =](\d+)", command)
    return int(match.group(1)) if match else 5001


def port_free(port, command):
    """Nothing answers on `port` yet: a server left from elsewhere would
    answer for the one about to start."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            sys.exit(f"FAILED: port {port} is taken before `{command}` starts")
    except OSError:
        pass


def wait_ready(server, port, command):
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"FAILED: `{command}` exited with {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    sys.exit(f"FAILED: `{command}` was not ready within {READY_WITHIN_S} s")


def stop(server, command):
    os.killpg(server.pid, signal.SIGTERM)
    try:
        code = server.wait(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        sys.exit(f"FAILED: `{command}` did not stop within {STOP_WITHIN_S} s of SIGTERM")
    if code != 0:
        sys.exit(f"FAILED: `{command}` exited with {code} on SIGTERM")


def run(command, env):
    print(f"$ {command}", flush=True)
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    sys.stdout.write(done.stdout[-2000:])
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        sys.exit(f"FAILED: `{command}` exited with {done.returncode}")
    return done.stdout


def export(command, env):
    """Runs an `export` line and takes the variables it set."""
    print(f"$ {command}", flush=True)
    done = subprocess.run(["bash", "-c", f"{command} && env -0"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        sys.exit(f"FAILED: `{command}` exited with {done.returncode}")
    for pair in done.stdout.split("\0"):
        if "=" in pair:
            name, value = pair.split("=", 1)
            env[name] = value


def untracked():
    listed = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "-z"],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    return {path for path in listed.stdout.split("\0") if path}


def check_python_blocks(text):
    """Each ```python block is the whole text of the file its first line names."""
    for block in re.findall(r"^```python\n(.*?)^```", text, re.S | re.M):
        named = re.match(r"# (\S+\.py):", block)
        if not named:
            sys.exit(f"FAILED: a python block does not name its file:\n{block}")
        path = os.path.join(ROOT, named.group(1))
        if not os.path.exists(path) or open(path, encoding="utf-8").read() != block:
            sys.exit(f"FAILED: the README's python block is not {named.group(1)} as it is")
        print(f"README's python block is {named.group(1)}")


def main():
    text = open(README, encoding="utf-8").read()
    check_python_blocks(text)
    first_answer = expected_first_answer(text)
    before = untracked()
    registry = tempfile.mkdtemp(prefix="inferd-readme-")
    shutil.copytree(os.path.join(ROOT, "models"), registry, dirs_exist_ok=True)
    env = dict(os.environ, INFERD_SHUTDOWN_GRACE_S="1")
    ran = 0
    server = None
    try:
        for index, commands in enumerate(blocks(text)):
            if index > 0:
                env["INFERD_REGISTRY"] = registry
            server = None
            for command in commands:
                if command == "scripts/test.sh":
                    print(f"$ {command}   (the README's test command: .ci/run runs it)")
                    continue
                ran += 1
                if command.startswith("export "):
                    export(command, env)
                elif " -- serve" in command:
                    if server:
                        stop(*server)
                        server = None
                    port_free(port_of(command), command)
                    print(f"$ {command} &", flush=True)
                    process = subprocess.Popen(["bash", "-c", command], cwd=ROOT, env=env,
                                               start_new_session=True)
                    server = (process, command)
                    wait_ready(process, port_of(command), command)
                elif command.startswith("curl "):
                    answer = run(command, env).strip()
                    if answer.startswith(('{"message"', '{"error"')):
                        sys.exit(f"FAILED: `{command}` answered an error: {answer}")
                    if index == 0 and answer != first_answer:
                        sys.exit(f"FAILED: `{command}` answered {answer}, "
                                 f"the README says {first_answer}")
                    print()
                else:
                    run(command, env)
            if server:
                stop(*server)
                server = None
    finally:
        if server and server[0].poll() is None:
            # A failure left it running: it must not outlive this script.
            try:
                os.killpg(server[0].pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            server[0].wait()
        shutil.rmtree(registry, ignore_errors=True)
        for path in untracked() - before:
            os.remove(os.path.join(ROOT, path))
    print(f"README: {ran} commands ran as printed")


if __name__ == "__main__":
    main()
