"""Triton python-backend model: runs the ONNX file named in the config's
`onnx` parameter through onnxruntime (one intra-op thread). Triton's dynamic
batcher hands several requests at once; they are run as one batch and cut
back, as inferd's batcher does."""
import json
import pathlib
import sys

# The stub's embedded Python ignores PYTHONPATH: the peers' venv is named in
# a file beside this one (written by run.sh).
sys.path[:0] = pathlib.Path(__file__).with_name("site-packages.txt").read_text().split()

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        path = config["parameters"]["onnx"]["string_value"]
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]

    def execute(self, requests):
        arrays = [pb_utils.get_input_tensor_by_name(r, self.input).as_numpy() for r in requests]
        values = self.session.run(None, {self.input: np.concatenate(arrays)})
        responses, start = [], 0
        for a in arrays:
            n = a.shape[0]
            tensors = [pb_utils.Tensor(name, v[start:start + n]) for name, v in zip(self.outputs, values)]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += n
        return responses
