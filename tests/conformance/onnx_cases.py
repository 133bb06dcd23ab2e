"""Writes the ONNX operator conformance cases into a folder, one folder per case.

The `onnx` wheel does not ship the node tests' data files, but it ships their
generators: `collect_testcases()` builds each case's model and its input and
expected-output arrays. Each case becomes:

    <out>/<case>/model.onnx
    <out>/<case>/case.json   {"rtol", "atol", "inputs": [...], "outputs": [...]}
                             each tensor: {"name", "dtype", "shape", "file"}
    <out>/<case>/*.bin       the elements, little-endian, row-major

or, when a value cannot travel as a plain tensor of a type inferd serves
(strings, float16, sequences, optionals...), a case.json with "skip": why.

Usage: python onnx_cases.py OUT_DIR
"""

import json
import os
import shutil
import sys

import numpy as np
import onnx
from onnx.backend.test.case.node import collect_testcases

DTYPES = {
    np.dtype("float32"): "float32",
    np.dtype("float64"): "float64",
    np.dtype("int8"): "int8",
    np.dtype("int16"): "int16",
    np.dtype("int32"): "int32",
    np.dtype("int64"): "int64",
    np.dtype("uint8"): "uint8",
    np.dtype("uint16"): "uint16",
    np.dtype("uint32"): "uint32",
    np.dtype("uint64"): "uint64",
    np.dtype("bool"): "bool",
}


def graph_inputs(graph):
    weights = {t.name for t in graph.initializer}
    return [v.name for v in graph.input if v.name not in weights]


def tensors(folder, kind, names, values):
    """The case.json entries for `values`, or a reason they cannot be used."""
    if len(names) != len(values):
        return None, f"{len(values)} {kind} values for {len(names)} graph {kind}"
    entries = []
    for index, (name, value) in enumerate(zip(names, values)):
        if not isinstance(value, np.ndarray):
            return None, f"{kind} '{name}' is a {type(value).__name__}, not a tensor"
        dtype = DTYPES.get(value.dtype)
        if dtype is None:
            return None, f"{kind} '{name}' has element type {value.dtype}"
        file = f"{kind}_{index}.bin"
        data = np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<"), copy=False)
        data.tofile(os.path.join(folder, file))
        entries.append({"name": name, "dtype": dtype, "shape": list(value.shape), "file": file})
    return entries, None


def write_case(out, case):
    folder = os.path.join(out, case.name)
    os.makedirs(folder)
    onnx.save(case.model, os.path.join(folder, "model.onnx"))
    meta = {"rtol": float(case.rtol), "atol": float(case.atol)}
    if not case.data_sets:
        meta["skip"] = "the case has no data set"
    else:
        inputs, outputs = case.data_sets[0]
        graph = case.model.graph
        meta["inputs"], why_in = tensors(folder, "input", graph_inputs(graph), list(inputs))
        meta["outputs"], why_out = tensors(folder, "output", [v.name for v in graph.output], list(outputs))
        why = why_in or why_out
        if why:
            meta = {"rtol": meta["rtol"], "atol": meta["atol"], "skip": why}
    with open(os.path.join(folder, "case.json"), "w") as f:
        json.dump(meta, f)


def main():
    out = sys.argv[1]
    partial = out + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    count = 0
    for case in collect_testcases():
        if case.kind != "node":
            continue
        write_case(partial, case)
        count += 1
    with open(os.path.join(partial, "onnx-version.txt"), "w") as f:
        f.write(onnx.__version__ + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.rename(partial, out)
    print(f"{count} cases in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
