"""Entry script for azmlinfsrv: runs the same ONNX file as inferd through
onnxruntime (one intra-op thread, like inferd's one engine thread per worker)."""
import json
import os

import numpy as np
import onnxruntime as ort

session = None


def init():
    global session
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(os.environ["PEER_ONNX"], options, providers=["CPUExecutionProvider"])


def run(raw_data):
    data = np.asarray(json.loads(raw_data)["data"], dtype=np.float32)
    outputs = session.run(None, {session.get_inputs()[0].name: data})
    if len(outputs) == 1:
        return outputs[0].tolist()
    return {o.name: v.tolist() for o, v in zip(session.get_outputs(), outputs)}
