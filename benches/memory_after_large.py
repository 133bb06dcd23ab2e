#!/usr/bin/env python3
"""The resident set after large requests: starts `inferd serve` (the binary
given) on diabetes-ridge, reads its idle RSS, sends large scoring requests
(ROUNDS rounds of CONCURRENT at once, each a BODY_MB body of valid rows),
then samples VmRSS every 50 ms for SECONDS and prints the curve and the
first time it is back within MARGIN_MB of idle.

    benches/memory_after_large.py target/release/inferd [--rounds 3]
        [--concurrent 4] [--body-mb 60] [--seconds 10] [--margin-mb 10]
        [-- extra serve args]

Loopback only.
"""
import argparse, os, socket, sys, threading, time

p = argparse.ArgumentParser()
p.add_argument("binary")
p.add_argument("--rounds", type=int, default=3)
p.add_argument("--concurrent", type=int, default=4)
p.add_argument("--body-mb", type=float, default=60)
p.add_argument("--seconds", type=float, default=10)
p.add_argument("--margin-mb", type=float, default=10)
p.add_argument("extra", nargs="*")
a, rest = p.parse_known_args()
a.extra = [x for x in a.extra + rest if x != "--"]

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "benches"))
import served  # noqa: E402

server, port = served.start(a.binary, [
    "--registry", os.path.join(root, "models"), "--model", "diabetes-ridge",
    "--shutdown-grace-s", "0", "--no-access-log", *a.extra])


def rss_mb():
    return served.rss_mb(server)


row = b"[10,9,8,7,6,5,4,3,2,1],"
rows = int(a.body_mb * 1e6) // len(row)
body = b'{"data": [' + row * (rows - 1) + row[:-1] + b"]}"


def post(statuses):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
              b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    answer = b""
    while chunk := s.recv(1 << 20):
        answer += chunk
    statuses.append(int(answer[9:12]))


time.sleep(1)
idle = rss_mb()
peak = idle
statuses = []
for _ in range(a.rounds):
    threads = [threading.Thread(target=post, args=(statuses,)) for _ in range(a.concurrent)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_mb())
        time.sleep(0.01)
ended = time.monotonic()
curve, back = [], None
while (t := time.monotonic() - ended) < a.seconds:
    r = rss_mb()
    curve.append((round(t, 2), round(r, 1)))
    if back is None and r <= idle + a.margin_mb:
        back = t
    time.sleep(0.05)
server.terminate()
server.wait()
print(f"body {len(body)/1e6:.1f} MB x {a.concurrent} x {a.rounds} rounds; statuses {sorted(set(statuses))}")
print(f"idle {idle:.1f} MB, peak {peak:.1f} MB")
marks = [0.1, 0.25, 0.5, 1, 2, 5, a.seconds - 0.05]
print("after: " + ", ".join(f"{m}s {next((r for t, r in curve if t >= m), curve[-1][1])} MB" for m in marks))
print("curve:", curve[::4])
print(f"back within {a.margin_mb} MB of idle: " + (f"after {back:.2f} s" if back is not None else "not within the window"))
