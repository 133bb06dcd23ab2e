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

Usage: check.py INFERD_BINARY
"""

import glob
import json
import os
import subprocess
import sys
import tempfile

import kubernetes_validate
import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
VERSIONS = ["1.30.0", "1.37.0"]
BUILT_IN = {
    "ConfigMap", "Secret", "Deployment", "Service", "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
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


def main():
    binary = sys.argv[1]
    checked = 0
    goldens = sorted(glob.glob(os.path.join(ROOT, "crates/inferd-deploy/tests/golden/*.yaml")))
    if len(goldens) < 9:
        fail("golden files", f"only {len(goldens)} found")
    for path in goldens:
        with open(path) as f:
            checked += check_stream(os.path.basename(path), f.read())
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
