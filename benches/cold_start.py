"""Cold start: milliseconds from exec of `inferd serve` to the first 200 from
POST /score, over loopback. Median of N runs, per model (default: the default
model with the contract's example; a named model is sent its input sample).

    python3 benches/cold_start.py [runs] [model ...]    # INFERD_BIN picks the binary
"""

import socket
import statistics
import subprocess
import sys
import os
import pathlib
import time

BIN = os.environ.get("INFERD_BIN", "target/release/inferd")
MODELS = pathlib.Path(__file__).resolve().parents[1] / "models"


def request_for(model):
    if model is None:
        body = b'{"data": [[10,9,8,7,6,5,4,3,2,1]]}'
    else:
        sample = (MODELS / model / "1/files/input_sample.json").read_bytes()
        body = b'{"data": ' + sample + b"}"
    return (
        b"POST /score HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


REQUEST = request_for(None)


def first_score(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(REQUEST)
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def once(port: int) -> float:
    start = time.perf_counter()
    server = subprocess.Popen(
        [BIN, "serve", "--port", str(port), "--log-format", "json", "--shutdown-grace-s", "0"] + (["--model", MODEL] if MODEL else []),
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = start + 30
        while not first_score(port):
            if time.perf_counter() > deadline:
                raise SystemExit("no 200 within 30 s")
            time.sleep(0.0005)
        return (time.perf_counter() - start) * 1000
    finally:
        server.terminate()
        server.wait()


runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
for MODEL in sys.argv[2:] or [None]:
    REQUEST = request_for(MODEL)
    times = [once(5902) for _ in range(runs)]
    print(
        f"{MODEL or 'default model'}: cold start to first 200: median {statistics.median(times):.1f} ms, "
        f"min {min(times):.1f}, max {max(times):.1f} ({runs} runs)"
    )
