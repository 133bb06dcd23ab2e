"""Validates inferd's rendered manifests without a cluster.

Every golden file of `crates/inferd-deploy/tests/golden/` (which the Rust
golden test keeps equal to what the renderer prints) and the README's
`inferd deploy` commands, run for real, are checked:

- each built-in object against the Kubernetes API's OpenAPI schemas,
  strictly (unknown fields are errors), for the oldest version the
  manifests need (1.30: the preStop sleep action) and the newest known;
- KServe's ServingRuntime: its containers and volumes as a Pod's, and
  KServe's own rules (container name, supported format, protocol);
  the InferenceService and KEDA's ScaledObject: the fields their
  controllers read (their CRD schemas are not available offline);
- across objects: the Service and the autoscaler reach the Deployment,
  every volume's ConfigMap or Secret is in the stream, the files inferd is
  told to read are under a mounted volume, and Kubernetes never kills a
  pod that may still be draining (terminationGracePeriodSeconds against
  the preStop sleep, inferd's grace and drain timeout, recomputed here).

And each rendered pod is started for real, as the kubelet would start it:
its ConfigMap and Secrets written where they are mounted (a temporary
folder standing for each mount path), the container's arguments and
environment (the port moved to a free loopback one, the model KServe would
download pointed at the bundled registry's file), the bundled registry as
the image's. It must turn ready, ask for a key exactly when auth is on,
accept the rendered key, score, and exit 0 on SIGTERM well before
`terminationGracePeriodSeconds`.

Usage: check.py INFERD_BINARY
"""

import glob
import json
import os
import re
import shutil
import signal
import socket
import ssl
import time
import urllib.error
import urllib.request
import subprocess
import sys
import tempfile

import kubernetes_validate
import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
VERSIONS = ["1.30.0", "1.37.0"]
BUILT_IN = {
    "ConfigMap", "Secret", "Deployment", "Service", "HorizontalPodAutoscaler",
    "PodDisruptionBudget", "Job",
}
# The binary's bounded flush after the drain: collected data (10 s) and
# the log (2 s).
FLUSH_S = 12

failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")


def validate_schema(where, obj):
    for version in VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            fail(where, f"Kubernetes {version}: {e.message} at {list(e.path)}")
        except Exception as e:  # schema missing, etc.
            fail(where, f"Kubernetes {version}: {e}")


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def check_container(where, container, volumes, stream, kill_after):
    mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
    declared = {v["name"]: v for v in volumes}
    for name, mount in mounts.items():
        if name not in declared:
            fail(where, f"mount {name} has no volume")
    for name, volume in declared.items():
        if "configMap" in volume and ("ConfigMap", volume["configMap"]["name"]) not in stream:
            fail(where, f"volume {name}: ConfigMap {volume['configMap']['name']} not rendered")
        if "secret" in volume and ("Secret", volume["secret"]["secretName"]) not in stream:
            fail(where, f"volume {name}: Secret {volume['secret']['secretName']} not rendered")
        if "secret" in volume and mounts.get(name, {}).get("subPath"):
            fail(where, f"{name}: a Secret mounted by subPath is never updated in place")
    env = env_of(container)
    for var in ["INFERD_DEPLOYMENT_CONFIG", "INFERD_INFERENCE_CONFIG", "INFERD_KEYS_FILE"]:
        path = env.get(var)
        if path and not any(path.startswith(m["mountPath"] + "/") for m in mounts.values()):
            fail(where, f"{var}={path} is not under a mounted volume")
    security = container.get("securityContext", {})
    if security.get("readOnlyRootFilesystem") is not True:
        fail(where, "the root file system is writable")
    if security.get("allowPrivilegeEscalation") is not False:
        fail(where, "privilege escalation is allowed")
    if security.get("capabilities", {}).get("drop") != ["ALL"]:
        fail(where, "capabilities are not all dropped")
    if not any(m["mountPath"] == "/tmp" for m in mounts.values()):
        fail(where, "no writable /tmp")
    # The kill must come after the longest a pod may still work.
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    grace = int(env.get("INFERD_SHUTDOWN_GRACE_S", "30"))
    drain = int(env["INFERD_DRAIN_TIMEOUT_S"])
    if kill_after is not None and not pre_stop + grace + drain + FLUSH_S < kill_after:
        fail(where, f"killed at {kill_after} s but may work until {pre_stop + grace + drain + FLUSH_S} s")
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"]:
        if probe not in container:
            fail(where, f"no {probe}")
    startup = container.get("startupProbe", {})
    liveness = container.get("livenessProbe", {})
    budget = startup.get("periodSeconds", 0) * startup.get("failureThreshold", 0)
    if budget < liveness.get("periodSeconds", 0) * liveness.get("failureThreshold", 0):
        fail(where, "the startup probe gives a load less time than the liveness probe would")


def check_stream(label, text):
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    stream = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    for doc in docs:
        where = f"{label} {doc['kind']}/{doc['metadata']['name']}"
        kind = doc["kind"]
        if kind in BUILT_IN:
            validate_schema(where, doc)
        if kind == "Deployment":
            pod = doc["spec"]["template"]
            labels = pod["metadata"]["labels"]
            for k, v in doc["spec"]["selector"]["matchLabels"].items():
                if labels.get(k) != v:
                    fail(where, f"selector {k}={v} does not match the pod's labels")
            spec = pod["spec"]
            if spec["securityContext"].get("runAsNonRoot") is not True:
                fail(where, "may run as root")
            for container in spec["containers"]:
                check_container(where, container, spec.get("volumes", []), stream,
                                spec.get("terminationGracePeriodSeconds", 30))
        elif kind == "Job":
            spec = doc["spec"]["template"]["spec"]
            if spec["securityContext"].get("runAsNonRoot") is not True:
                fail(where, "may run as root")
            if spec.get("restartPolicy") != "Never":
                fail(where, "an index's retry must be a new pod (restartPolicy Never)")
            declared = {v["name"]: v for v in spec.get("volumes", [])}
            for container in spec["containers"]:
                security = container.get("securityContext", {})
                if security.get("readOnlyRootFilesystem") is not True or security.get("allowPrivilegeEscalation") is not False:
                    fail(where, "the container is not locked down")
                for mount in container.get("volumeMounts", []):
                    volume = declared.get(mount["name"])
                    if volume is None:
                        fail(where, f"mount {mount['name']} has no volume")
                    elif "configMap" in volume and ("ConfigMap", volume["configMap"]["name"]) not in stream:
                        fail(where, f"ConfigMap {volume['configMap']['name']} not rendered")
            if doc["spec"].get("completionMode") == "Indexed":
                args = spec["containers"][0]["args"]
                shards = args[args.index("--shards") + 1]
                if str(doc["spec"]["completions"]) != shards:
                    fail(where, f"{doc['spec']['completions']} completions for {shards} shards")
        elif kind in ("Service", "PodDisruptionBudget"):
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            if not any(all(d["spec"]["template"]["metadata"]["labels"].get(k) == v
                           for k, v in selector.items()) for d in deployments):
                fail(where, "selects no rendered pods")
        elif kind in ("HorizontalPodAutoscaler", "ScaledObject"):
            target = doc["spec"]["scaleTargetRef"]["name"]
            if ("Deployment", target) not in stream:
                fail(where, f"scales {target}, which is not rendered")
            if kind == "ScaledObject":
                spec = doc["spec"]
                if not spec["minReplicaCount"] <= spec["maxReplicaCount"]:
                    fail(where, "minReplicaCount above maxReplicaCount")
                for trigger in spec["triggers"]:
                    if trigger["type"] == "prometheus":
                        float(trigger["metadata"]["threshold"])
                        if "inferd_" not in trigger["metadata"]["query"]:
                            fail(where, "the query reads no inferd metric")
        elif kind == "ServingRuntime":
            spec = doc["spec"]
            containers = spec["containers"]
            if [c["name"] for c in containers] != ["kserve-container"]:
                fail(where, "KServe expects one container named kserve-container")
            if not any(f["name"] == "onnx" for f in spec["supportedModelFormats"]):
                fail(where, "does not declare onnx")
            if "v2" not in spec.get("protocolVersions", []):
                fail(where, "does not declare the v2 protocol")
            ports = [p["containerPort"] for c in containers for p in c.get("ports", [])]
            if ports != [8080]:
                fail(where, f"KServe sends to 8080; the container declares {ports}")
            if "/mnt/models" not in containers[0]["args"]:
                fail(where, "does not read the model from /mnt/models")
            # The containers and volumes, as a Pod's, against the schema.
            validate_schema(where + " (as a Pod)", {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": doc["metadata"]["name"]},
                "spec": {"containers": containers, "volumes": spec.get("volumes", [])},
            })
            isvc = [d for d in docs if d["kind"] == "InferenceService"]
            kill_after = isvc[0]["spec"]["predictor"].get("terminationGracePeriodSeconds") if isvc else None
            check_container(where, containers[0], spec.get("volumes", []), stream, kill_after)
        elif kind == "InferenceService":
            model = doc["spec"]["predictor"]["model"]
            if model["modelFormat"]["name"] != "onnx" or not model.get("storageUri"):
                fail(where, "needs modelFormat onnx and a storageUri")
            if ("ServingRuntime", model["runtime"]) not in stream:
                fail(where, f"runtime {model['runtime']} is not rendered")
        elif kind not in BUILT_IN:
            fail(where, f"unexpected kind {kind}")
    return len(docs)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The pods' certificates are made on the spot and trusted as they are.
UNVERIFIED = ssl.create_default_context()
UNVERIFIED.check_hostname = False
UNVERIFIED.verify_mode = ssl.CERT_NONE


def get(url, body=None, key=None):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5, context=UNVERIFIED) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def boot_check(label, text, binary):
    """Starts the stream's pod as the kubelet would, and talks to it."""
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    if "Job" in by_kind:
        return  # job_check runs a Job's pods
    if "Deployment" in by_kind:
        pod = by_kind["Deployment"][0]["spec"]["template"]["spec"]
        container, volumes = pod["containers"][0], pod.get("volumes", [])
        kill_after = pod["terminationGracePeriodSeconds"]
    else:
        runtime = by_kind["ServingRuntime"][0]["spec"]
        isvc = by_kind["InferenceService"][0]
        container, volumes = runtime["containers"][0], runtime.get("volumes", [])
        kill_after = isvc["spec"]["predictor"]["terminationGracePeriodSeconds"]
    env = env_of(container)
    config_maps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    secrets = {d["metadata"]["name"]: d for d in by_kind.get("Secret", [])}
    inference = config_maps and next(iter(config_maps.values()))["data"].get("inferenceconfig.json")
    if inference and "onnxruntime" in inference:
        print(f"{label}: not started (its models run on ONNX Runtime with a GPU)")
        return
    tls = "kubernetes.io/tls" in text
    with tempfile.TemporaryDirectory() as root:
        declared = {v["name"]: v for v in volumes}
        mounts = container.get("volumeMounts", [])
        mounted = {m["mountPath"]: os.path.join(root, m["name"]) for m in mounts}

        def local_text(text):
            # Paths inside the configs (the TLS files) point at the mounts
            # too; one pass, so a replaced path is never replaced again.
            paths = sorted(mounted, key=len, reverse=True)
            pattern = "|".join(re.escape(p + "/") for p in paths)
            return re.sub(pattern, lambda m: mounted[m.group(0)[:-1]] + "/", text)

        for mount in mounts:
            folder = mounted[mount["mountPath"]]
            os.makedirs(folder)
            volume = declared[mount["name"]]
            if "configMap" in volume:
                files = config_maps[volume["configMap"]["name"]]["data"]
            elif "secret" in volume:
                files = secrets[volume["secret"]["secretName"]].get("stringData", {})
            else:
                files = {}
            for name, content in files.items():
                with open(os.path.join(folder, name), "w") as f:
                    f.write(local_text(content))
            if "secret" in volume and "tls.crt" in files:
                # The golden files hold placeholder PEM: a real pair here.
                subprocess.run(
                    ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                     "/CN=localhost", "-keyout", os.path.join(folder, "tls.key"),
                     "-out", os.path.join(folder, "tls.crt")],
                    check=True, capture_output=True)

        def local(value):
            for path, folder in sorted(mounted.items(), key=lambda p: -len(p[0])):
                if value.startswith(path + "/"):
                    return folder + value[len(path):]
            return value

        port = free_port()
        run_env = {k: local(v) for k, v in env.items()}
        run_env.update(INFERD_HOST="127.0.0.1", INFERD_PORT=str(port),
                       INFERD_REGISTRY=os.path.join(ROOT, "models"), TMPDIR=mounted["/tmp"])
        model_file = os.path.join(ROOT, "models/diabetes-ridge/1/files")
        args = [a.replace("/mnt/models", model_file).replace("{{.Name}}", "ridge")
                for a in container["args"]]
        process = subprocess.Popen([binary] + args, env=run_env, cwd=root,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if get(base + "/ready")[0] == 200:
                        break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    fail(label, f"the pod never turned ready: {process.communicate()[1][-2000:]}")
                    return
                time.sleep(0.05)
            key = None
            if env.get("INFERD_KEYS_FILE"):
                with open(local(env["INFERD_KEYS_FILE"])) as f:
                    key = json.load(f)["primaryKey"]
            body = json.dumps({"data": [[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]}).encode()
            models = env.get("INFERD_MODELS", "")
            if "--model-path" in args:
                path = "/models/ridge/score"
            elif inference:
                path = None  # the inference config's models have their own bodies
            elif models:
                path = "/models/diabetes-ridge/score" if "diabetes-ridge" in models else None
            else:
                path = "/score"
            if path:
                status, answer = get(base + path, body)
                if key and status != 401:
                    fail(label, f"auth is on but a request without a key got {status}")
                if key:
                    status, answer = get(base + path, body, key)
                if status != 200:
                    fail(label, f"scoring answered {status}: {answer[:200]!r}")
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                fail(label, f"still running {kill_after} s after SIGTERM: Kubernetes would kill it")
                return
            if code != 0:
                fail(label, f"exited {code} after SIGTERM")
            print(f"{label}: started from its manifests, ready, {'over TLS, ' if tls else ''}"
                  f"{'keys enforced, ' if key else ''}{'scored, ' if path else ''}"
                  f"stopped in {time.monotonic() - started:.1f} s (killed at {kill_after} s)")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def job_check(job_text, merge_text, binary):
    """Runs the batch Job's pods as Kubernetes would, one per index, each
    with its JOB_COMPLETION_INDEX, on a folder standing for the claim (the
    example rows as the input), then the merge Job's pod; the merged
    output must be byte for byte an unsharded run's."""
    docs = [d for d in yaml.safe_load_all(job_text) if d is not None]
    job = next(d for d in docs if d["kind"] == "Job")
    config_maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    merge = next(d for d in yaml.safe_load_all(merge_text) if d and d["kind"] == "Job")
    with tempfile.TemporaryDirectory() as root:
        def pod_of(doc):
            spec = doc["spec"]["template"]["spec"]
            container = spec["containers"][0]
            declared = {v["name"]: v for v in spec.get("volumes", [])}
            mounted = {}
            for mount in container.get("volumeMounts", []):
                folder = os.path.join(root, mount["name"])
                os.makedirs(folder, exist_ok=True)
                mounted[mount["mountPath"]] = folder
                volume = declared[mount["name"]]
                if "configMap" in volume:
                    for name, content in config_maps[volume["configMap"]["name"]]["data"].items():
                        with open(os.path.join(folder, name), "w") as f:
                            f.write(content)

            def local(value):
                for path, folder in sorted(mounted.items(), key=lambda p: -len(p[0])):
                    if value == path or value.startswith(path + "/"):
                        return folder + value[len(path):]
                return value
            env = {k: local(v) for k, v in env_of(container).items()}
            env.update(INFERD_REGISTRY=os.path.join(ROOT, "models"))
            return [local(a) for a in container["args"]], env

        args, env = pod_of(job)
        data = os.path.join(root, "data")
        os.makedirs(os.path.join(data, "in"))
        os.makedirs(os.path.join(data, "out"))
        shutil.copy(os.path.join(ROOT, "examples/batch/rows.csv"), os.path.join(data, "in", "rows.csv"))
        for index in range(job["spec"]["completions"]):
            pod = subprocess.run([binary] + args, env=dict(env, JOB_COMPLETION_INDEX=str(index)),
                                 capture_output=True, text=True)
            if pod.returncode != 0:
                fail("batch Job", f"index {index} exited {pod.returncode}: {pod.stderr[-2000:]}")
                return
        merge_args, merge_env = pod_of(merge)
        pod = subprocess.run([binary] + merge_args, env=merge_env, capture_output=True, text=True)
        if pod.returncode != 0:
            fail("batch merge Job", f"exited {pod.returncode}: {pod.stderr[-2000:]}")
            return
        output = args[args.index("--output") + 1]
        whole = os.path.join(root, "whole.csv")
        unsharded = list(args)
        at = unsharded.index("--shards")
        del unsharded[at:at + 2]
        unsharded[unsharded.index("--output") + 1] = whole
        subprocess.run([binary] + unsharded, env=env, check=True, capture_output=True)
        with open(output, "rb") as merged, open(whole, "rb") as expected:
            if merged.read() != expected.read():
                fail("batch Job", "the merged shards differ from an unsharded run")
                return
        print(f"batch Job: {job['spec']['completions']} indexed pods and the merge Job ran from "
              f"their manifests; the merged output equals an unsharded run's")


def main():
    binary = os.path.abspath(sys.argv[1])
    checked = 0
    goldens = sorted(glob.glob(os.path.join(ROOT, "crates/inferd-deploy/tests/golden/*.yaml")))
    if len(goldens) < 11:
        fail("golden files", f"only {len(goldens)} found")
    for path in goldens:
        with open(path) as f:
            text = f.read()
        checked += check_stream(os.path.basename(path), text)
        boot_check(os.path.basename(path), text, binary)
    with open(os.path.join(ROOT, "crates/inferd-deploy/tests/golden/batch-job.yaml")) as f:
        job_text = f.read()
    with open(os.path.join(ROOT, "crates/inferd-deploy/tests/golden/batch-merge.yaml")) as f:
        merge_text = f.read()
    job_check(job_text, merge_text, binary)
    # The README's commands, run for real.
    readme = subprocess.run(
        [binary, "deploy", "kubernetes", "--deployment-config", "examples/deployment/aks.json",
         "--name", "myservice", "--image", "inferd:0.2"],
        cwd=ROOT, check=True, capture_output=True, text=True)
    checked += check_stream("README kubernetes", readme.stdout)
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [binary, "deploy", "kubernetes", "--deployment-config", "examples/deployment/aks.json",
             "--name", "myservice", "--image", "inferd:0.2", "--output", out],
            cwd=ROOT, check=True, capture_output=True, text=True)
        with open(os.path.join(out, "kustomization.yaml")) as f:
            kustomization = yaml.safe_load(f)
        texts = []
        for resource in kustomization["resources"]:
            with open(os.path.join(out, resource)) as f:
                texts.append(f.read())
        if len(texts) != len(os.listdir(out)) - 1:
            fail("kustomize base", "files not listed in kustomization.yaml")
        checked += check_stream("kustomize base", "\n---\n".join(texts))
    kserve = subprocess.run(
        [binary, "deploy", "kserve", "--deployment-config", "examples/deployment/aks.json",
         "--name", "ridge", "--image", "inferd:0.2",
         "--storage-uri", "pvc://models/diabetes-ridge/1/files/model.onnx"],
        cwd=ROOT, check=True, capture_output=True, text=True)
    checked += check_stream("README kserve", kserve.stdout)
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"{checked} manifests valid for Kubernetes {' and '.join(VERSIONS)} "
          f"({len(goldens)} golden files, the README's commands, a kustomize base)")


if __name__ == "__main__":
    main()
