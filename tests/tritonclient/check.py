"""Drives inferd's Open Inference Protocol (KServe v2) routes with the real
Triton HTTP client (`tritonclient[http]` from PyPI), on every bundled model.

1. One `inferd serve` of every model in models/ on an ephemeral loopback
   port: health, server metadata, each model's readiness, metadata, config
   and the repository index, as the client reads them.
2. Infer through the client with binary tensors (its default), JSON tensors
   and both mixed, at the model's version and without one: the same numbers
   as POST /models/{m}/score on the same rows (and as the rows' expected.json
   outputs); requested outputs; the request id echoed.
3. Statistics: the success count grows by exactly the infers made.
4. Errors reach the client as InferenceServerException with the server's
   status and message: unknown model, wrong datatype, wrong shape, unknown
   requested output, missing input, unknown input.
5. Compression of the request (gzip, deflate) and of the answer.
6. A second server with a key: infer and metadata need it, health does not.
7. A third server whose inference config gives cnn-mnist's input an image
   decoder: its metadata says BYTES [-1]; a PNG sent as BYTES (binary, and
   base64 text in JSON) answers what its pixels / 255 give as FP32; a cut
   PNG is a 400, a bomb's header a 413.

Each check prints `ok` or `FAIL` with what was sent, what came back and what
the client expected; the run exits 1 if any failed. Both servers are killed
on exit, failure included. Run by scripts/tritonclient-check.sh, which builds
the binary and the environment.
"""

import atexit
import base64
import collections
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import gevent
import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
BIN = Path(os.environ.get("INFERD_BIN") or TARGET / "debug/inferd")
REGISTRY = ROOT / "models"
# What a developer's shell may hold that would change the server (keys on,
# another port, a prefix): none of it reaches the servers started here.
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if not k.startswith(("INFERD_", "SERVICE_", "AZUREML_"))}
KEY = "tritonclient-check-key-0123456789"

# The bundled models' signatures as models/README.md gives them; the
# protocol writes a free (batch) dimension as -1.
SIGNATURES = {
    "cnn-mnist": {
        "inputs": [("input", "FP32", [-1, 1, 28, 28])],
        "outputs": [("probabilities", "FP32", [-1, 10])],
    },
    "diabetes-ridge": {
        "inputs": [("input", "FP32", [-1, 10])],
        "outputs": [("predictions", "FP32", [-1])],
    },
    "digits-classifier": {
        "inputs": [("input", "FP32", [-1, 64])],
        "outputs": [("label", "INT64", [-1]), ("probabilities", "FP32", [-1, 10])],
    },
    "mlp-784": {
        "inputs": [("input", "FP32", [-1, 784])],
        "outputs": [("label", "INT64", [-1]), ("probabilities", "FP32", [-1, 10])],
    },
    "onehot-4": {
        "inputs": [("indices", "INT64", [-1])],
        "outputs": [("onehot", "FP32", [-1, 4])],
    },
    "rgb-cnn": {
        "inputs": [("input", "FP32", [-1, 3, 64, 64])],
        "outputs": [("logits", "FP32", [-1, 10])],
    },
}
NUMPY = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32}
# A datatype the model does not take, for each input datatype it does.
OTHER_DATATYPE = {"FP32": "FP64", "INT64": "INT32"}
CONFIG_TYPE = {"FP32": "TYPE_FP32", "INT64": "TYPE_INT64"}


def bundled_models():
    """Every model of the registry, at its latest version: (name, version)."""
    found = []
    for folder in sorted(p for p in REGISTRY.iterdir() if p.is_dir()):
        versions = sorted(int(v.name) for v in folder.iterdir()
                          if v.name.isdigit() and (v / "model.json").is_file())
        if versions:
            found.append((folder.name, str(versions[-1])))
    return found


MODELS = bundled_models()


def expected_case(name, version):
    """The batch of 7 rows from the model's expected.json: the rows, and the
    outputs ONNX Runtime gave for them when the model was made."""
    doc = json.loads((REGISTRY / name / version / "files/expected.json").read_text())
    case = max(doc["cases"], key=lambda c: c["batch"])
    return doc["input"], case["data"], case["outputs"]


def _die_with_parent():
    """The server goes when this process goes, even on SIGKILL (Linux)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort, other platforms
        pass


class Server:
    """`inferd serve` of every bundled model on an ephemeral loopback port;
    the address is the one its `listening` log line gives."""

    running = []

    def __init__(self, extra_env=None, ready_headers=None, inference_config=None):
        # An inference config names its own models (with --model too, the
        # server refuses to start).
        models = (["--inference-config", inference_config] if inference_config
                  else ["--model", ",".join(name for name, _ in MODELS)])
        self.process = subprocess.Popen(
            [BIN, "serve", "--registry", REGISTRY, "--host", "127.0.0.1", "--port", "0",
             *models, "--log-format", "json", "--no-access-log",
             "--shutdown-grace-s", "0"],
            env={**CLEAN_ENV, **(extra_env or {})}, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            preexec_fn=_die_with_parent)
        Server.running.append(self)
        self.log = collections.deque(maxlen=200)
        self.address = None
        for line in self.process.stderr:
            self.log.append(line)
            found = re.search(r'"address":"([^"]+)"', line)
            if found and "listening" in line:
                self.address = found.group(1)
                break
        else:
            raise RuntimeError(f"inferd serve exited with {self.process.wait()}:\n"
                               + "".join(self.log))
        # Keep reading its log so that a full pipe never blocks it.
        threading.Thread(target=self._drain, daemon=True).start()
        self.url = self.address  # what InferenceServerClient takes: no scheme
        self.base = f"http://{self.address}"
        deadline = time.monotonic() + 60
        last = None
        while time.monotonic() < deadline:
            try:
                request = urllib.request.Request(f"{self.base}/v2/health/ready",
                                                 headers=ready_headers or {})
                with urllib.request.urlopen(request, timeout=5) as answer:
                    if answer.status == 200:
                        return
            except urllib.error.HTTPError as e:
                last = f"{e.code} {e.read()[:200]!r}"
                if e.code != 503:  # 503 is "not yet"; anything else will not change
                    break
            except OSError as e:
                last = repr(e)
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"GET /v2/health/ready did not answer 200 (last: {last}); "
                           f"the server's log ends:\n" + "".join(list(self.log)[-12:]))

    def _drain(self):
        for line in self.process.stderr:
            self.log.append(line)

    def close(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self in Server.running:
            Server.running.remove(self)

    @classmethod
    def close_all(cls):
        for server in list(cls.running):
            server.close()


atexit.register(Server.close_all)


def _terminated(signum=signal.SIGTERM, _frame=None):
    # The client runs on gevent, whose hub may hold the main thread when the
    # signal comes: close the servers from the handler itself and leave.
    Server.close_all()
    os._exit(128 + signum)


gevent.signal_handler(signal.SIGTERM, _terminated)


# --- helpers ---------------------------------------------------------------

def score(server, name, rows, headers=None):
    """POST /models/{name}/score with {"data": rows}: {output: array}."""
    body = json.dumps({"data": rows}).encode()
    request = urllib.request.Request(
        f"{server.base}/models/{name}/score", data=body,
        headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as answer:
        result = json.loads(answer.read())
    outputs = [o[0] for o in SIGNATURES[name]["outputs"]]
    if isinstance(result, dict):
        return {k: np.asarray(v) for k, v in result.items()}
    assert len(outputs) == 1, f"/score answered a list for a model of outputs {outputs}: {result}"
    return {outputs[0]: np.asarray(result)}


def make_input(name, rows, binary, datatype=None, shape=None, input_name=None):
    spec_name, spec_type, _ = SIGNATURES[name]["inputs"][0]
    datatype = datatype or spec_type
    array = np.asarray(rows, dtype=NUMPY[datatype])
    if shape is not None:
        array = array.reshape(shape)
    tensor = httpclient.InferInput(input_name or spec_name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def same_numbers(got, want, what, rtol=1e-5, atol=1e-6):
    want = np.asarray(want)
    assert got is not None, f"{what}: the client found no such output in the answer"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    if np.issubdtype(want.dtype, np.integer) or np.issubdtype(got.dtype, np.integer):
        assert np.array_equal(got, want), f"{what}: {got.tolist()} != {want.tolist()}"
    else:
        # float32 tolerance: the same model on the same float32 rows.
        assert np.allclose(got, want, rtol=rtol, atol=atol), \
            f"{what}: max |diff| {np.max(np.abs(got - want))}\n got  {got.tolist()}\n want {want.tolist()}"


def expect_error(call, status, *fragments, what=""):
    """`call()` raises InferenceServerException with `status` and a message
    holding every fragment (the server's own words)."""
    try:
        result = call()
    except InferenceServerException as e:
        message = e.message() or ""
        assert e.status() == str(status) and all(f in message for f in fragments), (
            f"{what}: the client raised status {e.status()} {message!r}; expected status "
            f"{status} with a message containing {list(fragments)}")
        return message
    answer = result.get_response() if hasattr(result, "get_response") else result
    raise AssertionError(f"{what}: succeeded ({answer!r}); expected InferenceServerException "
                         f"{status} containing {list(fragments)}")


def output_parts(result):
    """{output name: (has binary_data_size, has data)} of an infer answer."""
    return {o["name"]: ("binary_data_size" in (o.get("parameters") or {}), "data" in o)
            for o in result.get_response()["outputs"]}


def stats_of(client, name, version=""):
    doc = client.get_inference_statistics(name, model_version=version)
    entries = [s for s in doc["model_stats"] if s["name"] == name]
    assert len(entries) == 1, f"stats of {name}: {doc}"
    return entries[0]


# --- checks ------------------------------------------------------------------

CHECKS = []


def check(label):
    def register(fn):
        CHECKS.append((label, fn))
        return fn
    return register


class Context:
    server = None
    client = None
    keyed = None
    images = None    # the server with an image decoder on cnn-mnist's input
    reference = {}   # model -> {output: /score's numbers for the 7 rows}
    infers = collections.Counter()  # model -> successful v2 infers since the stats' snapshot
    before = {}      # model -> statistics before the infers


C = Context


@check("the bundled models are the README's six")
def bundled():
    names = [name for name, _ in MODELS]
    assert names == sorted(SIGNATURES), f"models/ holds {names}; this suite knows {sorted(SIGNATURES)}"
    for name, version in MODELS:
        input_name, _, outputs = expected_case(name, version)
        assert input_name == SIGNATURES[name]["inputs"][0][0], (name, input_name)
        assert sorted(outputs) == sorted(o[0] for o in SIGNATURES[name]["outputs"]), (name, outputs)


@check("start inferd serve of every model on 127.0.0.1:0; /v2/health/ready answers 200")
def start():
    C.server = Server()
    C.client = httpclient.InferenceServerClient(url=C.server.url)
    print(f"    serving at {C.server.base}: {', '.join(n for n, _ in MODELS)}")


@check("is_server_live, is_server_ready")
def health():
    assert C.client.is_server_live() is True, "GET /v2/health/live was not 200"
    assert C.client.is_server_ready() is True, "GET /v2/health/ready was not 200"


@check("get_server_metadata: name, version, extensions include binary_tensor_data")
def server_metadata():
    meta = C.client.get_server_metadata()
    version = subprocess.run([BIN, "--version"], capture_output=True, text=True,
                             check=True).stdout.split()[-1]
    assert meta.get("name") == "inferd", meta
    assert meta.get("version") == version, f"{meta}; `inferd --version` says {version}"
    extensions = meta.get("extensions")
    assert isinstance(extensions, list) and "binary_tensor_data" in extensions, meta
    print(f"    {meta}")


@check("get_model_repository_index: every model, its version, READY")
def repository_index():
    index = C.client.get_model_repository_index()
    assert isinstance(index, list), index
    got = sorted((e.get("name"), str(e.get("version")), e.get("state")) for e in index)
    want = sorted((name, version, "READY") for name, version in MODELS)
    assert got == want, f"index {index}; expected {want}"


def per_model(label):
    """A check run once for each bundled model."""
    def register(fn):
        for name, version in MODELS:
            CHECKS.append((f"{label} [{name}]", lambda fn=fn, n=name, v=version: fn(n, v)))
        return fn
    return register


@per_model("is_model_ready, with and without the version")
def model_ready(name, version):
    assert C.client.is_model_ready(name) is True, f"GET /v2/models/{name}/ready was not 200"
    assert C.client.is_model_ready(name, model_version=version) is True, \
        f"GET /v2/models/{name}/versions/{version}/ready was not 200"


@per_model("get_model_metadata: name, versions, platform, inputs and outputs")
def model_metadata(name, version):
    for asked in ("", version):
        meta = C.client.get_model_metadata(name, model_version=asked)
        assert meta.get("name") == name, meta
        assert version in [str(v) for v in meta.get("versions", [])], meta
        assert isinstance(meta.get("platform"), str) and meta["platform"], meta
        for side in ("inputs", "outputs"):
            got = [(t["name"], t["datatype"], t["shape"]) for t in meta[side]]
            want = [tuple(t) for t in SIGNATURES[name][side]]
            assert got == want, f"{side} of {name}: {got}; expected {want}"


@per_model("get_model_config: name, max_batch_size, input and output dims")
def model_config(name, version):
    config = C.client.get_model_config(name)
    assert config == C.client.get_model_config(name, model_version=version), "differs by version"
    assert config.get("name") == name, config
    batch = config.get("max_batch_size")
    assert isinstance(batch, int) and batch >= 0, config
    for side, key in (("inputs", "input"), ("outputs", "output")):
        got = [(t["name"], t["data_type"], list(t["dims"])) for t in config.get(key, [])]
        want = [(n, CONFIG_TYPE[d], s[1:] if batch > 0 else s)
                for n, d, s in SIGNATURES[name][side]]
        assert got == want, f"config {key} of {name} (max_batch_size {batch}): {got}; expected {want}"


@per_model("POST /models/{m}/score on the 7 rows of expected.json (the reference)")
def reference(name, version):
    _, rows, outputs = expected_case(name, version)
    C.reference[name] = score(C.server, name, rows)
    for output, want in outputs.items():
        # ONNX Runtime's numbers at generation time: 1e-4, as the Rust tests.
        same_numbers(C.reference[name][output].astype(np.asarray(want).dtype), want,
                     f"/score {output} vs expected.json", rtol=1e-4, atol=1e-4)
    # The statistics' snapshot is taken after /score, so that only the v2
    # infers below fall between it and the next.
    C.before[name] = stats_of(C.client, name)


def infer(name, version, tensor, outputs=None, model_version="", **kwargs):
    result = C.client.infer(name, [tensor], outputs=outputs, model_version=model_version, **kwargs)
    C.infers[name] += 1
    return result


def all_outputs_match(name, result, what):
    assert name in C.reference, f"no /score reference for {name} (its reference check failed)"
    assert result.get_response().get("model_name") == name, result.get_response()
    for output, _, _ in SIGNATURES[name]["outputs"]:
        same_numbers(result.as_numpy(output), C.reference[name][output], f"{what}: {output}")


@per_model("infer, binary inputs and outputs (the client's default): same numbers as /score")
def infer_binary(name, version):
    _, rows, _ = expected_case(name, version)
    result = infer(name, version, make_input(name, rows, binary=True))
    all_outputs_match(name, result, "binary")
    parts = output_parts(result)
    assert all(binary and not data for binary, data in parts.values()), \
        f"binary_data_output: true asked for binary outputs; answer's outputs {result.get_response()['outputs']}"


@per_model("infer, JSON inputs and outputs: same numbers as /score")
def infer_json(name, version):
    _, rows, _ = expected_case(name, version)
    outputs = [httpclient.InferRequestedOutput(o, binary_data=False)
               for o, _, _ in SIGNATURES[name]["outputs"]]
    result = infer(name, version, make_input(name, rows, binary=False), outputs=outputs)
    all_outputs_match(name, result, "JSON")
    parts = output_parts(result)
    assert all(data and not binary for binary, data in parts.values()), \
        f"binary_data false asked for JSON outputs; answer's outputs {result.get_response()['outputs']}"


@per_model("infer, mixed: binary in / JSON out, JSON in / binary out, outputs half and half")
def infer_mixed(name, version):
    _, rows, _ = expected_case(name, version)
    names = [o for o, _, _ in SIGNATURES[name]["outputs"]]
    json_out = [httpclient.InferRequestedOutput(o, binary_data=False) for o in names]
    binary_out = [httpclient.InferRequestedOutput(o, binary_data=True) for o in names]
    result = infer(name, version, make_input(name, rows, binary=True), outputs=json_out)
    all_outputs_match(name, result, "binary in, JSON out")
    assert all(d and not b for b, d in output_parts(result).values()), result.get_response()
    result = infer(name, version, make_input(name, rows, binary=False), outputs=binary_out)
    all_outputs_match(name, result, "JSON in, binary out")
    assert all(b and not d for b, d in output_parts(result).values()), result.get_response()
    # JSON inputs and no outputs named: no Inference-Header-Content-Length
    # on the request, binary_data_output on it, binary outputs back.
    result = infer(name, version, make_input(name, rows, binary=False))
    all_outputs_match(name, result, "JSON in, outputs not named")
    assert all(b and not d for b, d in output_parts(result).values()), result.get_response()
    if len(names) > 1:
        half = [httpclient.InferRequestedOutput(o, binary_data=i % 2 == 0)
                for i, o in enumerate(names)]
        result = infer(name, version, make_input(name, rows, binary=True), outputs=half)
        all_outputs_match(name, result, "outputs half binary, half JSON")
        parts = output_parts(result)
        for i, o in enumerate(names):
            assert parts[o] == ((True, False) if i % 2 == 0 else (False, True)), \
                f"{o} asked binary_data={i % 2 == 0}: answer's outputs {result.get_response()['outputs']}"


@per_model("infer at /versions/{v}, one row, request id echoed (binary and JSON answers)")
def infer_version_and_id(name, version):
    _, rows, _ = expected_case(name, version)
    for binary in (True, False):
        request_id = f"tritonclient-{name}-{'bin' if binary else 'json'}"
        outputs = None if binary else [httpclient.InferRequestedOutput(o, binary_data=False)
                                       for o, _, _ in SIGNATURES[name]["outputs"]]
        result = infer(name, version, make_input(name, rows[:1], binary=binary),
                       outputs=outputs, model_version=version, request_id=request_id)
        answer = result.get_response()
        assert answer.get("id") == request_id, f"id {request_id!r} sent; answer {answer}"
        if "model_version" in answer:  # optional in the protocol
            assert str(answer["model_version"]) == version, answer
        for output, _, _ in SIGNATURES[name]["outputs"]:
            same_numbers(result.as_numpy(output), C.reference[name][output][:1],
                         f"one row, version {version}: {output}")


@per_model("infer, requested outputs: each output alone comes back alone")
def requested_outputs(name, version):
    _, rows, _ = expected_case(name, version)
    names = [o for o, _, _ in SIGNATURES[name]["outputs"]]
    for only in names:
        for binary in (True, False):
            result = infer(name, version, make_input(name, rows, binary=True),
                           outputs=[httpclient.InferRequestedOutput(only, binary_data=binary)])
            got = [o["name"] for o in result.get_response()["outputs"]]
            assert got == [only], f"asked for [{only}] only; answer's outputs {got}"
            same_numbers(result.as_numpy(only), C.reference[name][only], f"{only} alone")


@per_model("infer with the client's timeout and priority parameters")
def timeout_and_priority(name, version):
    _, rows, _ = expected_case(name, version)
    result = infer(name, version, make_input(name, rows, binary=True), timeout=10_000_000)
    all_outputs_match(name, result, "timeout 10 s")
    result = infer(name, version, make_input(name, rows, binary=True), priority=1)
    all_outputs_match(name, result, "priority 1")


@per_model("async_infer: 8 requests in flight on a client of concurrency 4")
def async_infers(name, version):
    _, rows, _ = expected_case(name, version)
    client = httpclient.InferenceServerClient(url=C.server.url, concurrency=4)
    try:
        pending = [client.async_infer(name, [make_input(name, rows, binary=i % 2 == 0)],
                                      request_id=f"async-{i}") for i in range(8)]
        for i, request in enumerate(pending):
            result = request.get_result(timeout=60)
            C.infers[name] += 1
            assert result.get_response().get("id") == f"async-{i}", result.get_response()
            all_outputs_match(name, result, f"async request {i}")
    finally:
        client.close()


@check("errors: the client's sequence_id is refused (400: sequence batching)")
def sequence_refused():
    name, version = MODELS[0]
    _, rows, _ = expected_case(name, version)
    message = expect_error(
        lambda: C.client.infer(name, [make_input(name, rows, binary=True)], sequence_id=7,
                               sequence_start=True), 400, "sequence", what="sequence_id 7")
    print(f"    {message!r}")


@per_model("infer, compression: request gzip and deflate, response gzip and deflate")
def compression(name, version):
    _, rows, _ = expected_case(name, version)
    for request_alg in ("gzip", "deflate"):
        for binary in (True, False):
            result = infer(name, version, make_input(name, rows, binary=binary),
                           request_compression_algorithm=request_alg)
            all_outputs_match(name, result, f"request {request_alg}, binary inputs {binary}")
    for response_alg in ("gzip", "deflate"):
        result = infer(name, version, make_input(name, rows, binary=True),
                       response_compression_algorithm=response_alg)
        all_outputs_match(name, result, f"response {response_alg}")
    result = infer(name, version, make_input(name, rows, binary=True),
                   request_compression_algorithm="gzip", response_compression_algorithm="gzip")
    all_outputs_match(name, result, "request and response gzip")


@check("the answer to Accept-Encoding: gzip (told, not required by the protocol)")
def response_encoding():
    # The client takes either answer; this reports which the server gives.
    name, version = MODELS[0]
    _, rows, _ = expected_case(name, version)
    spec_name, datatype, _ = SIGNATURES[name]["inputs"][0]
    array = np.asarray(rows, dtype=NUMPY[datatype])
    body = json.dumps({"inputs": [{"name": spec_name, "datatype": datatype,
                                   "shape": list(array.shape), "data": array.ravel().tolist()}]})
    connection = http.client.HTTPConnection(C.server.address, timeout=30)
    try:
        connection.request("POST", f"/v2/models/{name}/infer", body=body,
                           headers={"Content-Type": "application/json", "Accept-Encoding": "gzip"})
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200, answer.status
        C.infers[name] += 1
        print(f"    Content-Encoding: {answer.getheader('Content-Encoding')}")
    finally:
        connection.close()


@per_model("get_inference_statistics: success count grew by the infers made, ns > 0")
def statistics(name, version):
    after = stats_of(C.client, name)
    before = C.before[name]
    assert str(after.get("version")) == version, after
    for key in ("inference_count", "execution_count"):
        assert isinstance(after.get(key), int), f"{key} missing: {after}"
    stats = after["inference_stats"]
    for key in ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output"):
        assert isinstance(stats.get(key), dict) and {"count", "ns"} <= set(stats[key]), \
            f"inference_stats.{key} missing count/ns: {stats}"
    grew = stats["success"]["count"] - before["inference_stats"]["success"]["count"]
    assert grew == C.infers[name], \
        f"success count grew by {grew}; {C.infers[name]} infers succeeded between the two reads"
    assert stats["success"]["ns"] > before["inference_stats"]["success"]["ns"] > -1, stats
    assert stats["success"]["ns"] > 0 and stats["compute_infer"]["ns"] > 0, stats
    assert after["inference_count"] > before["inference_count"], (before, after)
    assert after["execution_count"] > before["execution_count"], (before, after)
    failed = stats["fail"]["count"] - before["inference_stats"]["fail"]["count"]
    assert failed >= 0, (before, after)
    every = C.client.get_inference_statistics()
    assert name in [s["name"] for s in every["model_stats"]], f"GET /v2/models/stats: {every}"
    print(f"    success {stats['success']}, inference_count {after['inference_count']}, "
          f"execution_count {after['execution_count']}")


@check("errors: unknown model is 404 for infer, metadata, config, ready and stats")
def unknown_model():
    name, version = MODELS[0]
    _, rows, _ = expected_case(name, version)
    missing = "no-such-model"
    tensor = make_input(name, rows, binary=True)
    message = expect_error(lambda: C.client.infer(missing, [tensor]), 404, missing, what="infer")
    print(f"    infer: {message!r}")
    expect_error(lambda: C.client.get_model_metadata(missing), 404, missing, what="metadata")
    expect_error(lambda: C.client.get_model_config(missing), 404, missing, what="config")
    expect_error(lambda: C.client.get_inference_statistics(missing), 404, missing, what="stats")
    assert C.client.is_model_ready(missing) is False, "ready of an unknown model was 200"
    expect_error(lambda: C.client.infer(name, [tensor], model_version="999"), 404, name,
                 what="infer at a version not served")


@per_model("errors: wrong datatype is 400 naming the input and both datatypes")
def wrong_datatype(name, version):
    _, rows, _ = expected_case(name, version)
    spec_name, datatype, _ = SIGNATURES[name]["inputs"][0]
    other = OTHER_DATATYPE[datatype]
    for binary in (True, False):
        message = expect_error(
            lambda: C.client.infer(name, [make_input(name, rows, binary, datatype=other)]), 400,
            f"input '{spec_name}'", datatype, other, what=f"{other} for {datatype}, binary {binary}")
    print(f"    {message!r}")


@per_model("errors: wrong shape is 400 naming the input and the shapes")
def wrong_shape(name, version):
    _, rows, _ = expected_case(name, version)
    spec_name, datatype, shape = SIGNATURES[name]["inputs"][0]
    array = np.asarray(rows, dtype=NUMPY[datatype])
    # One value short in every row, or a rank too many for a vector input.
    bad = array.reshape(len(rows), -1)[:, :-1] if len(shape) > 1 else array.reshape(-1, 1)
    for binary in (True, False):
        tensor = httpclient.InferInput(spec_name, list(bad.shape), datatype)
        tensor.set_data_from_numpy(np.ascontiguousarray(bad), binary_data=binary)
        message = expect_error(lambda: C.client.infer(name, [tensor]), 400,
                               f"input '{spec_name}'", "shape",
                               what=f"shape {list(bad.shape)}, binary {binary}")
    print(f"    {message!r}")


@per_model("errors: unknown requested output is 400 naming it")
def unknown_output(name, version):
    _, rows, _ = expected_case(name, version)
    outputs = [httpclient.InferRequestedOutput("no-such-output")]
    message = expect_error(
        lambda: C.client.infer(name, [make_input(name, rows, binary=True)], outputs=outputs),
        400, "no-such-output", what="requested output 'no-such-output'")
    print(f"    {message!r}")


@per_model("errors: missing input (none sent) and unknown input are 400 naming them")
def missing_input(name, version):
    _, rows, _ = expected_case(name, version)
    spec_name = SIGNATURES[name]["inputs"][0][0]
    message = expect_error(lambda: C.client.infer(name, []), 400, f"'{spec_name}'",
                           what="no inputs")
    print(f"    {message!r}")
    tensor = make_input(name, rows, binary=True, input_name="no-such-input")
    message = expect_error(lambda: C.client.infer(name, [tensor]), 400, "no-such-input",
                           what="input 'no-such-input'")
    print(f"    {message!r}")


@check("errors did not count as successes (the fail counts are told)")
def errors_not_successes():
    fails = {}
    for name, _ in MODELS:
        after = stats_of(C.client, name)["inference_stats"]
        before = C.before[name]["inference_stats"]
        grew = after["success"]["count"] - before["success"]["count"]
        assert grew == C.infers[name], f"{name}: success count {grew}, infers {C.infers[name]}"
        fails[name] = after["fail"]["count"] - before["fail"]["count"]
    print(f"    fail counts grew by {fails}")


@check("keys: a second server with a key (INFERD_AUTH_ENABLED, INFERD_PRIMARY_KEY)")
def keyed_server():
    C.keyed = Server({"INFERD_AUTH_ENABLED": "true", "INFERD_PRIMARY_KEY": KEY},
                     ready_headers={"Authorization": f"Bearer {KEY}"})


def keyed_client():
    assert C.keyed is not None, "the server with a key did not start"
    return httpclient.InferenceServerClient(url=C.keyed.url)


@check("keys: is_server_live and is_server_ready without a key")
def keys_health_open():
    client = keyed_client()
    assert client.is_server_live() is True, "GET /v2/health/live without a key was not 200"
    assert client.is_server_ready() is True, "GET /v2/health/ready without a key was not 200"


@per_model("keys: infer and metadata are 401 without the key or with a wrong one, 200 with it")
def keys(name, version):
    client = keyed_client()
    _, rows, _ = expected_case(name, version)
    tensor = make_input(name, rows, binary=True)
    message = expect_error(lambda: client.infer(name, [tensor]), 401, "key", what="infer, no key")
    expect_error(lambda: client.infer(name, [tensor], headers={"Authorization": "Bearer wrong-key-0123456789"}),
                 401, "key", what="infer, wrong key")
    expect_error(lambda: client.get_model_metadata(name), 401, "key", what="metadata, no key")
    headers = {"Authorization": f"Bearer {KEY}"}
    result = client.infer(name, [tensor], headers=headers)
    all_outputs_match(name, result, "with the key")
    assert client.get_model_metadata(name, headers=headers)["name"] == name
    assert client.is_model_ready(name, headers=headers) is True
    if name == MODELS[0][0]:
        print(f"    without a key: {message!r}")


@check("repository: load_model and unload_model without keys on the server: 403")
def repository_off():
    expect_error(lambda: C.client.load_model(MODELS[-1][0]), 403, "need a key", what="load, no keys")


@check("repository: unload_model and load_model with the key; the default model is not unloaded")
def repository_load_unload():
    client = keyed_client()
    headers = {"Authorization": f"Bearer {KEY}"}
    name, default = MODELS[-1][0], MODELS[0][0]
    expect_error(lambda: client.unload_model(name), 401, "key", what="unload, no key")
    client.unload_model(name, headers=headers)
    assert client.is_model_ready(name, headers=headers) is False, f"{name} still ready after unload"
    client.load_model(name, headers=headers)
    assert client.is_model_ready(name, headers=headers) is True, f"{name} not ready after load"
    expect_error(lambda: client.unload_model(default, headers=headers), 409, "default model",
                 what="unload of the default model")
    expect_error(lambda: client.load_model("no-such-model", headers=headers), 404, "no-such-model",
                 what="load of a model not in the registry")
    index = client.get_model_repository_index(headers=headers)
    assert sorted(e["name"] for e in index if e["state"] == "READY") == sorted(n for n, _ in MODELS), index


# --- encoded images as BYTES (issue 35) ----------------------------------------

IMAGE_CONFIG = {"models": [{"model": "cnn-mnist", "inputs": {"input": {
    "decoder": "image", "color": "gray", "scale": 0.00392156862745098}}}]}


def seven():
    """examples/images/seven.png, and its pixels / 255 as cnn-mnist's FP32
    input (the committed parity fixture's, made with Pillow)."""
    png = (ROOT / "examples/images/seven.png").read_bytes()
    fixture = json.loads((ROOT / "tests/fixtures/media/parity.json").read_text())
    case = next(c for c in fixture["cases"] if c["image"] == "examples/images/seven.png"
                and "resize" not in c["decoder"])
    return png, np.asarray(case["tensor"], dtype=np.float32).reshape(1, 1, 28, 28)


def png_claiming(width, height):
    """A gray PNG whose header claims width x height pixels: a bomb's start."""
    def chunk(kind, data):
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def image_input(images, binary=True):
    tensor = httpclient.InferInput("input", [len(images)], "BYTES")
    tensor.set_data_from_numpy(np.array(images, dtype=np.object_), binary_data=binary)
    return tensor


def images_client():
    assert C.images is not None, "the server with an image decoder did not start"
    return httpclient.InferenceServerClient(url=C.images.url)


@check("images: a third server, its inference config giving cnn-mnist's input an image decoder")
def images_server():
    C.images_dir = tempfile.TemporaryDirectory()
    config = Path(C.images_dir.name) / "inference.json"
    config.write_text(json.dumps(IMAGE_CONFIG))
    C.images = Server(inference_config=config)


@check("images: get_model_metadata says BYTES [-1] for the image input, the outputs unchanged")
def images_metadata():
    meta = images_client().get_model_metadata("cnn-mnist")
    got = [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]]
    assert got == [("input", "BYTES", [-1])], f"inputs {got}; expected one BYTES [-1]"
    outputs = [(t["name"], t["datatype"], t["shape"]) for t in meta["outputs"]]
    assert outputs == [tuple(t) for t in SIGNATURES["cnn-mnist"]["outputs"]], outputs


@check("images: a PNG as BYTES (binary_data=True), one and two: what its pixels / 255 give as FP32")
def images_bytes():
    client = images_client()
    png, pixels = seven()
    floats = httpclient.InferInput("input", list(pixels.shape), "FP32")
    floats.set_data_from_numpy(pixels)
    want = client.infer("cnn-mnist", [floats]).as_numpy("probabilities")
    assert int(np.argmax(want[0])) == 7, want
    got = client.infer("cnn-mnist", [image_input([png])]).as_numpy("probabilities")
    same_numbers(got, want, "PNG as BYTES vs its pixels / 255 as FP32", rtol=0, atol=1e-6)
    two = client.infer("cnn-mnist", [image_input([png, png])]).as_numpy("probabilities")
    same_numbers(two, np.concatenate([want, want]), "two PNGs, two rows", rtol=0, atol=1e-6)


@check("images: base64 text as JSON BYTES (binary_data=False): the same answer")
def images_base64():
    client = images_client()
    png, _ = seven()
    binary = client.infer("cnn-mnist", [image_input([png])]).as_numpy("probabilities")
    text = client.infer("cnn-mnist", [image_input([base64.b64encode(png)], binary=False)])
    same_numbers(text.as_numpy("probabilities"), binary, "base64 in JSON vs binary", rtol=0, atol=0)


@check("images: a cut PNG is a 400 naming the input and the image; a bomb's header a 413")
def images_refused():
    client = images_client()
    png, _ = seven()
    message = expect_error(lambda: client.infer("cnn-mnist", [image_input([png, png[:len(png) // 2]])]),
                           400, "input 'input'", "image 2", what="second of two PNGs cut short")
    print(f"    {message!r}")
    message = expect_error(lambda: client.infer("cnn-mnist", [image_input([png_claiming(100000, 100000)])]),
                           413, "100000x100000", what="a PNG claiming 100000x100000 pixels")
    print(f"    {message!r}")
    # The client itself refuses raw image bytes as JSON, and says why.
    try:
        image_input([png], binary=False)
    except InferenceServerException as e:
        assert "binary_data=True" in (e.message() or ""), e.message()
    else:
        raise AssertionError("tritonclient put raw PNG bytes in JSON")


# --- runner --------------------------------------------------------------------

def main():
    if not BIN.is_file():
        print(f"no inferd binary at {BIN} (set INFERD_BIN or build it)", file=sys.stderr)
        return 2
    print(f"tritonclient against {BIN}")
    failed, passed = [], 0
    started = time.monotonic()
    try:
        for label, fn in CHECKS:
            try:
                fn()
                passed += 1
                print(f"ok    {label}")
            except Exception as e:  # noqa: BLE001 - every failure is reported, then the next check
                failed.append(label)
                detail = str(e) if isinstance(e, (AssertionError, InferenceServerException)) \
                    else traceback.format_exc()
                print(f"FAIL  {label}\n      {detail.strip()}".replace("\n", "\n      "))
                if fn is start:
                    break  # without the server nothing else can run
    finally:
        Server.close_all()
    skipped = len(CHECKS) - passed - len(failed)
    print(f"\n{passed} of {len(CHECKS)} checks passed, {len(failed)} failed"
          + (f", {skipped} not run" if skipped else "")
          + f", in {time.monotonic() - started:.1f} s")
    for label in failed:
        print(f"  failed: {label}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
