#!/usr/bin/env python3
"""The model-update soak (issue 32): `inferd serve --model mlp-784` from a
fresh registry, loaded by `inferd bench` at 64 connections for the whole
run while UPDATES new versions are registered with `inferd model register`
(alternating two real versions: the bundled mlp-784, and the same network
with every weight scaled by 1.01). Measures, in one run:

- non-200 answers during the updates (target 0);
- p99 during the updates against a steady phase's p99 before them (target
  at most 2x);
- the server's RSS after the run against its RSS after the first update
  (target within 10 MB), each read once the replaced version is drained;
- update latency, registration to live (the `register` command started
  to `/v2/models/mlp-784/versions/{v}/ready` answering 200): median, max.

    benches/update_soak.py target/release/inferd [--updates 100]
        [--connections 64] [--steady-s 20] [--interval-s 1.0] [--json out.json]

Loopback only. Needs the project's Python environment for the second
version (onnx, numpy): scripts/python-env.sh makes it.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
import urllib.error, urllib.request

p = argparse.ArgumentParser()
p.add_argument("binary")
p.add_argument("--updates", type=int, default=100)
p.add_argument("--connections", type=int, default=64)
p.add_argument("--steady-s", type=float, default=20)
p.add_argument("--interval-s", type=float, default=1.0, help="time between registrations (at least)")
p.add_argument("--poll-ms", type=int, default=50, help="the server's --registry-poll-ms")
p.add_argument("--json")
a = p.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
work = tempfile.mkdtemp(prefix="inferd-soak-")
registry = os.path.join(work, "registry")
bundled = os.path.join(root, "models/mlp-784/1/files")
scaled = os.path.join(work, "scaled/model.onnx")

python = subprocess.run([os.path.join(root, "scripts/python-env.sh")], check=True,
                        capture_output=True, text=True).stdout.strip()
os.makedirs(os.path.dirname(scaled))
subprocess.run([python, "-c", """
import sys, numpy as np, onnx
from onnx import numpy_helper
model = onnx.load(sys.argv[1])
for init in model.graph.initializer:
    array = numpy_helper.to_array(init)
    if array.dtype == np.float32:
        init.CopyFrom(numpy_helper.from_array(array * np.float32(1.01), init.name))
onnx.save(model, sys.argv[2])
""", os.path.join(bundled, "model.onnx"), scaled], check=True, cwd=root)


def register(source):
    subprocess.run([a.binary, "--registry", registry, "model", "register", "-n", "mlp-784",
                    "-p", source], check=True, capture_output=True)


register(bundled)
sys.path.insert(0, os.path.join(root, "benches"))
import served  # noqa: E402

server, port = served.start(a.binary, [
    "--registry", registry, "--model", "mlp-784", "--registry-poll-ms", str(a.poll_ms),
    "--no-access-log", "--shutdown-grace-s", "0"])
base = f"http://127.0.0.1:{port}"
body = os.path.join(work, "body.json")
with open(body, "w") as f:
    json.dump({"data": json.load(open(os.path.join(bundled, "input_sample.json")))}, f)


def rss_mb():
    return served.rss_mb(server)


def status(path, method="GET"):
    request = urllib.request.Request(base + path, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def drained():
    """Waits until no replaced version is still finishing, then a second
    for the memory hand-back to run."""
    deadline = time.time() + 30
    while time.time() < deadline:
        code, text = status("/v2/repository/index", "POST")
        if code == 200 and not any(m["state"] in ("UNLOADING", "LOADING") for m in json.loads(text)):
            break
        time.sleep(0.05)
    time.sleep(1.0)


def bench(seconds, out):
    return subprocess.Popen(
        [a.binary, "bench", "--url", base + "/score", "--body", body, "-c", str(a.connections),
         "-d", str(seconds), "--warmup", "1", "--json", out],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def step(path):
    return json.load(open(path))["steps"][0]


steady_json = os.path.join(work, "steady.json")
bench(a.steady_s, steady_json).wait()
steady = step(steady_json)

during_s = a.updates * a.interval_s + 5
during_json = os.path.join(work, "during.json")
load = bench(during_s, during_json)
time.sleep(1.5)  # past the bench's warm-up
latencies, rss_first = [], None
started = time.time()
for i in range(a.updates):
    version = i + 2
    t0 = time.time()
    register(scaled if i % 2 == 0 else bundled)
    while status(f"/v2/models/mlp-784/versions/{version}/ready")[0] != 200:
        if time.time() - t0 > 60:
            sys.exit(f"version {version} not live after 60 s")
        time.sleep(0.005)
    latencies.append(time.time() - t0)
    if i == 0:
        drained()
        rss_first = rss_mb()
    spare = started + (i + 1) * a.interval_s - time.time()
    if spare > 0:
        time.sleep(spare)
overran = time.time() - started > during_s - 1
load.wait()
during = step(during_json)
drained()
rss_after = rss_mb()
server.terminate()
server.wait()

bad = {k: v for k, v in during["statuses"].items() if not k.startswith("2")}
bad_steady = {k: v for k, v in steady["statuses"].items() if not k.startswith("2")}
result = {
    "updates": a.updates,
    "connections": a.connections,
    "steady": {"req_s": steady["ok_throughput"], "p50_ms": steady["p50_ms"], "p99_ms": steady["p99_ms"],
               "non_2xx": bad_steady},
    "during": {"seconds": during["seconds"], "requests": during["requests"], "req_s": during["ok_throughput"],
               "p50_ms": during["p50_ms"], "p99_ms": during["p99_ms"], "max_ms": during["max_ms"],
               "non_2xx": bad},
    "p99_ratio": during["p99_ms"] / steady["p99_ms"],
    "rss_mb": {"after_first_update": rss_first, "after_run": rss_after, "growth": rss_after - rss_first},
    "update_latency_s": {"median": statistics.median(latencies), "max": max(latencies),
                         "min": min(latencies)},
    "updates_outran_the_load": overran,
}
print(json.dumps(result, indent=2))
if a.json:
    with open(a.json, "w") as f:
        json.dump(result, f, indent=2)
