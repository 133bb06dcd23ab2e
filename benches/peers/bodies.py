"""Writes the request bodies of the side-by-side run into DIR: the same rows
for every server, in the Azure ML contract ({"data": ...}) and in KServe v2
tensors (MLServer, Triton), and the MLP's answer for the bare server."""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
models = pathlib.Path(__file__).resolve().parents[2] / "models"


def rows(model, n):
    case = json.loads((models / model / "1/files/expected.json").read_text())["cases"][-1]
    return case["data"][:n], case


for scenario, model, n in [("ridge", "diabetes-ridge", 2), ("mlp", "mlp-784", 1)]:
    data, case = rows(model, n)
    (out / f"{scenario}-aml.json").write_text(json.dumps({"data": data}))
    flat = [float(x) for row in data for x in row]
    v2 = {"inputs": [{"name": "input", "shape": [len(data), len(data[0])], "datatype": "FP32", "data": flat}]}
    (out / f"{scenario}-v2.json").write_text(json.dumps(v2))
    if scenario == "mlp":
        answer = {k: v[:n] for k, v in case["outputs"].items()}
        (out / "mlp-answer.json").write_text(json.dumps(answer))
