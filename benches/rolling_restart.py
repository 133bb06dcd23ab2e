#!/usr/bin/env python3
"""Rolling restarts behind a real load balancer (issue 33, part 4).

Three `inferd serve` replicas (the release binary, diabetes-ridge), each on
its own loopback port, behind HAProxy on loopback, which health-checks
`GET /ready` as a Kubernetes readiness probe and a Service's endpoints do.
`inferd bench` keeps load on HAProxy; the replicas are rolled as a
Deployment with maxSurge=1, maxUnavailable=0 rolls them: for each old
replica a new one starts on the spare port (a server HAProxy already
knows, down until it answers /ready), HAProxy is waited for until it
reports the new one UP (its admin socket's `show stat`), then the old one
gets SIGTERM, as the kubelet sends it, and is waited for until it exits
(its exit status must be 0).

Measured per scenario (one per connection count, and per variant): the
requests and every failed one (any status but 200, connection errors and
timeouts: `inferd bench` counts these as status 0) in a steady phase and
during the roll, p50 / p99 of both, the time each replica took and the
whole roll, and HAProxy's own retry / redispatch / error counters (so
that a failure hidden by an LB retry is seen too).

The `keys` variant starts the replicas with `--auth-enabled true
--keys-file DIR/keys.json`, DIR laid out as the kubelet lays out a Secret
volume (`keys.json -> ..data/keys.json`, `..data -> ..TIMESTAMP`); the load
sends key A. Once the first replica is replaced the Secret is updated the
kubelet's way (a new `..TIMESTAMP` folder, a new `..data` symlink renamed
over the old one) to primary B, secondary A: A must go on working (zero
failures). After the roll, every replica is asked directly: B works; then
a further rotation (primary C, secondary B) removes A, and A must get 401
from every replica (the keys rotate without a restart, in processes that
started before and after the first update).

    benches/rolling_restart.py [--quick] [--connections 16,64]
        [--variants plain,keys] [--retries 3] [--lb-mode http|tcp]
        [--json OUT.json] [--markdown OUT.md] [--binary target/release/inferd]

`--quick` (the CI check, ~30-60 s): 16 connections, short phases, both
variants; exits non-zero on any failed request or a replica that did not
exit 0. Needs HAProxy: `scripts/haproxy.sh` installs it when missing (this
script calls it). Python 3, standard library only.
"""
import argparse, json, os, signal, socket, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BODY = os.path.join(ROOT, "examples/requests/ridge.json")
KEY_A = "rolling-key-A-0123456789abcdef"
KEY_B = "rolling-key-B-0123456789abcdef"
KEY_C = "rolling-key-C-0123456789abcdef"

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("--quick", action="store_true", help="the short CI run: asserts zero failures")
p.add_argument("--binary", default=os.path.join(ROOT, "target/release/inferd"))
p.add_argument("--no-build", action="store_true", help="never build the binary, even if stale")
p.add_argument("--connections", help="comma-separated; one scenario each (default 16,64; quick 16)")
p.add_argument("--variants", default="plain,keys", help="plain, keys or both")
p.add_argument("--replicas", type=int, default=3)
p.add_argument("--steady-s", type=float, help="steady phase, s (default 8; quick 3)")
p.add_argument("--grace-s", type=int, help="replicas' --shutdown-grace-s (default 3; quick 2)")
p.add_argument("--inter-ms", type=int, default=250, help="HAProxy check interval")
p.add_argument("--fall", type=int, default=2)
p.add_argument("--rise", type=int, default=2)
p.add_argument("--retries", type=int, default=3,
               help="HAProxy retries (with retry-on conn-failure empty-response and redispatch); 0: none")
p.add_argument("--lb-mode", choices=["http", "tcp"], default="http",
               help="http: an L7 proxy (connection pools, reuse); tcp: L4 like kube-proxy, the "
                    "client's connection pinned to one replica")
p.add_argument("--allow-lb-retries", action="store_true",
               help="do not fail a run in which HAProxy retried or redispatched a request (by "
                    "default one does: behind kube-proxy, which never retries, it would have failed)")
p.add_argument("--timeout-s", type=float, default=5, help="a request unanswered by then fails")
p.add_argument("--json", help="write the results here")
p.add_argument("--markdown", help="write the results' table here")
p.add_argument("--keep", action="store_true", help="keep the work folder (logs, HAProxy config)")
a = p.parse_args()
connections = [int(c) for c in (a.connections or ("16" if a.quick else "16,64")).split(",")]
variants = [v for v in a.variants.split(",") if v]
steady_s = a.steady_s if a.steady_s is not None else (3 if a.quick else 8)
grace_s = a.grace_s if a.grace_s is not None else (2 if a.quick else 3)
WARMUP_S = 1.0


def log(*parts):
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- set-up

def ensure_binary():
    binary = a.binary
    if a.no_build and os.path.exists(binary):
        return binary
    newest = 0.0
    for base in ("crates", "Cargo.toml", "Cargo.lock"):
        path = os.path.join(ROOT, base)
        if os.path.isfile(path):
            newest = max(newest, os.path.getmtime(path))
        for folder, _, files in os.walk(path):
            for name in files:
                if name.endswith((".rs", ".toml")):
                    newest = max(newest, os.path.getmtime(os.path.join(folder, name)))
    if not os.path.exists(binary) or os.path.getmtime(binary) < newest:
        if os.path.abspath(binary) != os.path.join(ROOT, "target/release/inferd"):
            sys.exit(f"{binary} is missing or older than the sources")
        log("building the release binary (cargo build --release -p inferd)")
        subprocess.run(["cargo", "build", "--release", "-p", "inferd"], cwd=ROOT, check=True)
    return binary


BINARY = ensure_binary()
HAPROXY = subprocess.run([os.path.join(ROOT, "scripts/haproxy.sh")], check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
HAPROXY_VERSION = subprocess.run([HAPROXY, "-v"], capture_output=True, text=True).stdout.split("\n")[0]


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def http(port, path, method="GET", key=None, body=None, timeout=5):
    """One request on a fresh connection: the status (0 when unanswered)."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                     method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


class Secret:
    """A folder laid out as the kubelet lays out a Secret volume, updated
    the kubelet's way: the new content in a new `..TIMESTAMP` folder, a new
    `..data` symlink to it renamed over the old one (one atomic rename),
    the old folder removed. `keys.json` is a symlink to `..data/keys.json`."""

    def __init__(self, folder, primary, secondary=None):
        self.folder = folder
        self.serial = 0
        os.makedirs(folder)
        self.update(primary, secondary)
        os.symlink("..data/keys.json", os.path.join(folder, "keys.json"))
        self.path = os.path.join(folder, "keys.json")

    def update(self, primary, secondary=None):
        self.serial += 1
        stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.") + f"{self.serial:09d}"
        new = os.path.join(self.folder, stamp)
        os.makedirs(new)
        keys = {"primaryKey": primary}
        if secondary:
            keys["secondaryKey"] = secondary
        with open(os.path.join(new, "keys.json"), "w") as f:
            json.dump(keys, f)
        data = os.path.join(self.folder, "..data")
        old = os.path.realpath(data) if os.path.islink(data) else None
        tmp = os.path.join(self.folder, "..data_tmp")
        os.symlink(stamp, tmp)
        os.rename(tmp, data)
        if old:
            for name in os.listdir(old):
                os.unlink(os.path.join(old, name))
            os.rmdir(old)


class Replica:
    """One `inferd serve` on a fixed loopback port; its log kept."""

    def __init__(self, port, extra, work):
        self.port = port
        self.log_path = os.path.join(work, f"replica-{port}-{time.time_ns()}.log")
        self.log = open(self.log_path, "w")
        self.started = time.time()
        self.process = subprocess.Popen(
            [BINARY, "serve", "--port", str(port), "--model", "diabetes-ridge",
             "--log-format", "json", "--no-access-log", "--http-threads", "1",
             "--shutdown-grace-s", str(grace_s), "--drain-timeout-s", "10", *extra],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log)

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"replica on {self.port} exited with {self.process.returncode}; "
                                   f"log {self.log_path}")
            if http(self.port, "/ready", timeout=1) == 200:
                return time.time() - self.started
            time.sleep(0.01)
        raise RuntimeError(f"replica on {self.port} not ready in {timeout} s")

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class HAProxy:
    """HAProxy on loopback in front of `ports` (every one a server: those
    without a replica are down until one answers /ready)."""

    def __init__(self, work, ports):
        self.work = work
        self.port = free_ports(1)[0]
        self.socket = os.path.join(work, "admin.sock")
        self.names = {port: f"r{i}" for i, port in enumerate(ports)}
        retries = ""
        if a.retries > 0:
            retries = (f"    retries {a.retries}\n"
                       "    option redispatch 1\n")
            if a.lb_mode == "http":
                retries += "    retry-on conn-failure empty-response response-timeout\n"
        else:
            retries = "    retries 0\n"
        mode = a.lb_mode
        http_only = ""
        if mode == "http":
            http_only = ("    option http-keep-alive\n"
                         "    http-reuse safe\n"
                         "    timeout http-keep-alive 10s\n"
                         "    timeout http-request 10s\n")
        servers = "".join(f"    server {name} 127.0.0.1:{port} check\n"
                          for port, name in self.names.items())
        self.config = f"""global
    nbthread 1
    maxconn 4096
    stats socket {self.socket} mode 600 level admin
    log stderr format short local0 notice

defaults
    mode {mode}
    log global
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
{retries}{http_only}
frontend front
    bind 127.0.0.1:{self.port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    default-server inter {a.inter_ms}ms fastinter {a.inter_ms}ms downinter {a.inter_ms}ms fall {a.fall} rise {a.rise}
{servers}"""
        path = os.path.join(work, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(self.config)
        subprocess.run([HAPROXY, "-c", "-q", "-f", path], check=True)
        self.log = open(os.path.join(work, "haproxy.log"), "w")
        self.process = subprocess.Popen([HAPROXY, "-db", "-f", path],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while not os.path.exists(self.socket):
            if time.time() > deadline or self.process.poll() is not None:
                raise RuntimeError("HAProxy did not start; see haproxy.log")
            time.sleep(0.02)

    def command(self, text):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(self.socket)
            s.sendall(text.encode() + b"\n")
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self):
        """`show stat` of the backend: {server or BACKEND: row dict}."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = {}
        for line in lines[1:]:
            if not line:
                continue
            row = dict(zip(header, line.split(",")))
            if row["pxname"] == "replicas":
                rows[row["svname"]] = row
        return rows

    def status(self, port):
        return self.stats()[self.names[port]]["status"]

    def wait_status(self, port, want, timeout=30):
        """Waits until the server of `port` is `want` (UP / DOWN); seconds taken."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.status(port).split(" ")[0] == want:
                return time.time() - t0
            time.sleep(0.02)
        raise RuntimeError(f"server {self.names[port]} not {want} after {timeout} s")

    def counters(self):
        b = self.stats()["BACKEND"]
        keep = ("stot", "econ", "eresp", "wretr", "wredis", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx",
                "hrsp_4xx", "hrsp_5xx", "hrsp_other", "cli_abrt", "srv_abrt")
        return {k: int(b.get(k) or 0) for k in keep}

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# ---------------------------------------------------------------- the load

def bench(port, c, seconds, out, key):
    command = [BINARY, "bench", "--url", f"http://127.0.0.1:{port}/score", "--body", BODY,
               "-c", str(c), "-d", f"{seconds:.1f}", "--warmup", str(WARMUP_S),
               "--timeout", str(a.timeout_s), "--json", out, "--label", os.path.basename(out)]
    if key:
        command += ["-H", f"Authorization: Bearer {key}"]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def step(path):
    s = json.load(open(path))["steps"][0]
    counts = {k: round(v * s["requests"]) for k, v in s["statuses"].items()}
    failed = s["requests"] - counts.get("200", 0)
    return {"seconds": s["seconds"], "requests": s["requests"], "failed": failed,
            "statuses": counts, "req_s": round(s["throughput"]), "p50_ms": s["p50_ms"],
            "p99_ms": s["p99_ms"], "max_ms": s["max_ms"]}


# ---------------------------------------------------------------- one scenario

def scenario(variant, c, work):
    keyed = variant == "keys"
    n = a.replicas
    ports = free_ports(n + 1)
    extra, secret = [], None
    if keyed:
        secret = Secret(os.path.join(work, "secret"), KEY_A)
        extra = ["--auth-enabled", "true", "--keys-file", secret.path]
    lb = HAProxy(work, ports)
    live = {}
    try:
        for port in ports[:n]:
            live[port] = Replica(port, extra, work)
        for r in live.values():
            r.wait_ready()
        for port in ports[:n]:
            lb.wait_status(port, "UP")
        lb.wait_status(ports[n], "DOWN")
        key = KEY_A if keyed else None
        assert http(lb.port, "/score", "POST", key, open(BODY, "rb").read()) == 200

        log(f"{variant} @{c}: steady {steady_s} s")
        steady_json = os.path.join(work, "steady.json")
        bench(lb.port, c, steady_s, steady_json, key).wait()
        steady = step(steady_json)
        before = lb.counters()

        # The roll's load: long enough for the roll (checked afterwards).
        # A replica takes: the new one's start (~20 ms), HAProxy's `rise`
        # checks (at most rise + 1 intervals), then the old one's grace
        # period and drain (~0.25 s). A margin for a noisy machine (larger
        # for the CI check, where a roll outlasting the load fails it).
        per_replica = (a.rise + 1) * a.inter_ms / 1000 + grace_s + 0.4
        during_s = n * per_replica + (3.0 if a.quick else 1.5) + (1.6 if keyed else 0.0)
        during_json = os.path.join(work, "during.json")
        load = bench(lb.port, c, during_s, during_json, key)
        load_started = time.time()
        time.sleep(WARMUP_S + 0.3)
        spare = ports[n]
        replaced, rotations = [], []
        roll_started = time.time()
        for i, old_port in enumerate(ports[:n]):
            t0 = time.time()
            new = Replica(spare, extra, work)
            ready_s = new.wait_ready()
            lb.wait_status(spare, "UP")
            up_at = time.time() - t0
            old = live.pop(old_port)
            live[spare] = new
            t_term = time.time()
            old.process.send_signal(signal.SIGTERM)
            down_s = lb.wait_status(old_port, "DOWN", timeout=grace_s + 30)
            try:
                code = old.process.wait(timeout=grace_s + 30)
            except subprocess.TimeoutExpired:
                old.stop()
                code = "killed"
            exit_s = time.time() - t_term
            replaced.append({"old": lb.names[old_port], "new": lb.names[spare],
                             "start_to_ready_s": round(ready_s, 3),
                             "start_to_lb_up_s": round(up_at, 3),
                             "sigterm_to_lb_down_s": round(down_s, 3),
                             "sigterm_to_exit_s": round(exit_s, 3),
                             "replica_s": round(time.time() - t0, 3), "exit_code": code})
            log(f"{variant} @{c}: {lb.names[old_port]} -> {lb.names[spare]}: {replaced[-1]}")
            spare = old_port
            if keyed and i == 0:
                # The Secret changes mid-roll: B primary, A still accepted.
                secret.update(KEY_B, KEY_A)
                t_rot = time.time()
                time.sleep(1.5)  # the replicas' poll (1 s) and a margin
                b_ok = {lb.names[q]: http(q, "/score", "POST", KEY_B, open(BODY, "rb").read())
                        for q in live}
                rotations.append({"to": "primary B, secondary A", "during_roll": True,
                                  "b_status_by_replica": b_ok,
                                  "checked_after_s": round(time.time() - t_rot, 2)})
        roll_s = time.time() - roll_started
        load_left = during_s + WARMUP_S - (time.time() - load_started)
        load.wait()
        during = step(during_json)
        after = lb.counters()
        lb_counters = {k: after[k] - before[k] for k in after}

        key_checks = None
        if keyed:
            body = open(BODY, "rb").read()
            final_b = {lb.names[q]: http(q, "/score", "POST", KEY_B, body) for q in live}
            secret.update(KEY_C, KEY_B)
            time.sleep(1.5)
            a_after = {lb.names[q]: http(q, "/score", "POST", KEY_A, body) for q in live}
            b_after = {lb.names[q]: http(q, "/score", "POST", KEY_B, body) for q in live}
            c_after = {lb.names[q]: http(q, "/score", "POST", KEY_C, body) for q in live}
            rotations.append({"to": "primary C, secondary B (A removed)", "during_roll": False,
                              "a_status_by_replica": a_after, "b_status_by_replica": b_after,
                              "c_status_by_replica": c_after})
            key_checks = {
                "b_accepted_mid_roll": all(v == 200 for v in rotations[0]["b_status_by_replica"].values()),
                "b_accepted_after_roll": all(v == 200 for v in final_b.values()),
                "a_refused_after_removal": all(v == 401 for v in a_after.values()),
                "b_and_c_accepted_after_removal": all(v == 200 for v in {**b_after, **c_after}.values()),
            }
        return {
            "variant": variant, "connections": c, "replicas": n, "steady": steady, "during": during,
            "p99_ratio": round(during["p99_ms"] / steady["p99_ms"], 2) if steady["p99_ms"] else None,
            "roll_s": round(roll_s, 2), "load_outlasted_roll_by_s": round(load_left, 2),
            "roll_inside_load": load_left > 0.2,
            "replicas_rolled": replaced, "lb_counters_during": lb_counters,
            "rotations": rotations, "key_checks": key_checks,
        }
    finally:
        for r in live.values():
            r.stop()
        lb.stop()


# ---------------------------------------------------------------- main

def main():
    work = tempfile.mkdtemp(prefix="inferd-roll-")
    settings = {
        "binary": os.path.relpath(BINARY, ROOT), "haproxy": HAPROXY_VERSION,
        "lb_mode": a.lb_mode, "retries": a.retries, "inter_ms": a.inter_ms, "fall": a.fall,
        "rise": a.rise, "shutdown_grace_s": grace_s, "drain_timeout_s": 10,
        "lb_detection_s": {"down_max": (a.fall + 1) * a.inter_ms / 1000,
                           "up_max": (a.rise + 1) * a.inter_ms / 1000},
        "steady_s": steady_s, "timeout_s": a.timeout_s, "quick": a.quick,
        "command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
    }
    log(f"work folder {work}; {HAPROXY_VERSION}")
    results = []
    for variant in variants:
        for c in connections:
            folder = os.path.join(work, f"{variant}-{c}")
            os.makedirs(folder)
            results.append(scenario(variant, c, folder))
    report = {"settings": settings, "scenarios": results}
    text = json.dumps(report, indent=2)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    table = markdown(report)
    print(table, file=sys.stderr)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table)
    problems = []
    for s in results:
        name = f"{s['variant']} @{s['connections']}"
        if s["steady"]["failed"] or s["during"]["failed"]:
            problems.append(f"{name}: {s['steady']['failed']} failed steady, "
                            f"{s['during']['failed']} during the roll ({s['during']['statuses']})")
        if any(r["exit_code"] != 0 for r in s["replicas_rolled"]):
            problems.append(f"{name}: a replica exited {[r['exit_code'] for r in s['replicas_rolled']]}")
        if not s["roll_inside_load"]:
            problems.append(f"{name}: the roll outlasted the load (by {-s['load_outlasted_roll_by_s']} s)")
        lc = s["lb_counters_during"]
        if (lc["wretr"] or lc["wredis"]) and not a.allow_lb_retries:
            problems.append(f"{name}: HAProxy retried {lc['wretr']} and redispatched {lc['wredis']} "
                            "requests (a client behind a proxy without retries would have seen them fail)")
        if s["key_checks"] and not all(s["key_checks"].values()):
            problems.append(f"{name}: key checks {s['key_checks']}")
    if not a.keep:
        subprocess.run(["rm", "-rf", work])
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print("ok: 0 failed requests, every replica exited 0", file=sys.stderr)
    return 0


def markdown(report):
    s = report["settings"]
    lines = [
        f"{s['haproxy']}; mode {s['lb_mode']}, retries {s['retries']}; check inter "
        f"{s['inter_ms']} ms, fall {s['fall']}, rise {s['rise']}; --shutdown-grace-s "
        f"{s['shutdown_grace_s']}",
        "",
        "| variant | conns | requests steady / during roll | failed | p50 steady / roll (ms) "
        "| p99 steady / roll (ms) | roll / load window (s) | per replica (s) | LB retries / redispatches | exit codes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["scenarios"]:
        st, du = r["steady"], r["during"]
        per = ", ".join(f"{x['replica_s']:.1f}" for x in r["replicas_rolled"])
        codes = ",".join(str(x["exit_code"]) for x in r["replicas_rolled"])
        lc = r["lb_counters_during"]
        lines.append(
            f"| {r['variant']} | {r['connections']} | {st['requests']:,} / {du['requests']:,} "
            f"| **{st['failed'] + du['failed']}** | {st['p50_ms']:.2f} / {du['p50_ms']:.2f} "
            f"| {st['p99_ms']:.2f} / {du['p99_ms']:.2f} | {r['roll_s']:.1f} / {du['seconds']:.1f} | {per} "
            f"| {lc['wretr']} / {lc['wredis']} | {codes} |")
    return "\n".join(lines) + "\n"


sys.exit(main())
