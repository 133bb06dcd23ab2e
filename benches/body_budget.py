#!/usr/bin/env python3
"""Peak resident memory of a server under a burst of large bodies (issue 37).

Starts COMMAND (run by the shell, with {port} replaced by a free port),
waits for /ready, scores one large body (a warm-up, so the base includes
what a first large request leaves behind) and waits until the server is
idle again, resets the process's VmHWM
(/proc/<pid>/clear_refs), then has CLIENTS clients send one BYTES body each,
all at once, and reports the answers by status (and 503s by cause) and the
peak resident memory (VmHWM) against the resident memory before the burst.

    benches/body_budget.py [--clients 16] [--bytes 60000000] [--no-expect] 'COMMAND'
    benches/body_budget.py 'target/release/inferd serve --port {port} --max-body-memory-mb 100000'

The body is rows of ten numbers for diabetes-ridge (the default model).
Clients send `Expect: 100-continue` (as curl does for large bodies) unless
--no-expect: a refused client then sends no body and reads its 503 whole;
without it, a refused client's body stays in the socket buffers (kernel
memory, not the server's) and its 503 may be lost to a reset.
"""

import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROW = b"[0.0380759,0.0506801,0.0616962,0.0218724,-0.0442235,-0.0348208,-0.0434008,-0.0025923,0.0199084,-0.0176461]"


def body_of(size):
    rows = max(1, size // (len(ROW) + 1))
    return b'{"data": [' + b",".join([ROW] * rows) + b"]}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def settle(pid, quiet=0.5, most=60):
    """Waits until the process has used no CPU for `quiet` seconds (at
    most `most`): work a large request leaves behind (tract fixing a plan
    to its batch size in the background) is done before the base is read."""
    deadline = time.monotonic() + most
    last = cpu_ticks(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_ticks(pid)
        if now == last:
            return
        last = now


def read_head(sock, buffer):
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a head")
        buffer += chunk
    head, rest = buffer.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def post(port, body, expect):
    """The final status and the answer's body; ('reset', text) when the
    connection broke before an answer."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(300)
    head = (
        "POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        + ("Expect: 100-continue\r\n" if expect else "")
        + "Connection: close\r\n\r\n"
    ).encode()
    try:
        sock.sendall(head)
        buffer = b""
        if expect:
            answer, buffer = read_head(sock, buffer)
            if answer.startswith("HTTP/1.1 100"):
                sock.sendall(body)
                answer, buffer = read_head(sock, buffer)
        else:
            try:
                sock.sendall(body)
            except OSError:
                pass  # answered and closed while we wrote
            answer, buffer = read_head(sock, buffer)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
        return answer[9:12], buffer.decode("utf-8", "replace")
    except OSError as e:
        return "reset", str(e)
    finally:
        sock.close()


def cause(status, text):
    if status != "503":
        return status
    if "body memory budget" in text:
        return "503 budget"
    if "maxQueueWaitMs" in text:
        return "503 queue wait"
    return "503 other"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--bytes", type=int, default=60_000_000)
    parser.add_argument("--no-expect", action="store_true")
    args = parser.parse_args()

    port = free_port()
    command = args.command.replace("{port}", str(port))
    server = subprocess.Popen(
        ["bash", "-c", "exec " + command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit("the server never became ready")
        pid = server.pid
        body = body_of(args.bytes)
        expect = not args.no_expect
        warm = post(port, body, expect)
        settle(pid)
        before = status_kib(pid, "VmRSS:")
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # VmHWM := VmRSS
        answers = [None] * args.clients
        barrier = threading.Barrier(args.clients)

        def client(i):
            barrier.wait()
            answers[i] = post(port, body, expect)

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - started
        peak = status_kib(pid, "VmHWM:")
        counts = {}
        for status, text in answers:
            key = cause(status, text)
            counts[key] = counts.get(key, 0) + 1
        print(
            json.dumps(
                {
                    "command": args.command,
                    "clients": args.clients,
                    "body_bytes": len(body),
                    "expect_100_continue": expect,
                    "warm_up": warm[0],
                    "answers": counts,
                    "seconds": round(took, 2),
                    "rss_before_mib": round(before / 1024, 1),
                    "peak_rss_mib": round(peak / 1024, 1),
                    "peak_over_before_mib": round((peak - before) / 1024, 1),
                }
            )
        )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
