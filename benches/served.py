"""`inferd serve` for the Python benches: started on an ephemeral loopback
port, waited for until ready, its resident set read from /proc."""
import json, subprocess, threading


def start(binary, args):
    """`binary serve --port 0 --log-format json ARGS`, once ready: the
    process and its port. Its log is read on (into `process.log`), so it
    never blocks on a full pipe."""
    process = subprocess.Popen(
        [binary, "serve", "--port", "0", "--log-format", "json", *args],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    port = None
    for line in process.stderr:
        try:
            fields = json.loads(line)["fields"]
        except Exception:
            continue
        if fields.get("message") == "listening":
            port = int(fields["address"].rsplit(":", 1)[1])
        if fields.get("message") == "ready":
            break
    else:
        raise RuntimeError(f"{binary} serve exited with {process.wait()}")
    process.log = []
    threading.Thread(target=lambda: process.log.extend(process.stderr), daemon=True).start()
    return process, port


def rss_mb(process):
    """The process's resident set now, in MB (MiB)."""
    with open(f"/proc/{process.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
