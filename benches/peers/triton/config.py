"""Prints the Triton config.pbtxt for an ONNX file: python backend, the
dynamic batcher as configured in ../../shared/reference/peers.md (best seen
here: max_batch_size 64, 100 us queue delay), one CPU instance."""
import sys

import onnx

TYPES = {1: "TYPE_FP32", 7: "TYPE_INT64"}
path = sys.argv[1]
graph = onnx.load(path).graph


def tensor(value):
    dims = [d.dim_value or -1 for d in value.type.tensor_type.shape.dim][1:]
    # A tensor that is only the batch dimension ([N]) is declared as [1] reshaped to [].
    shape = f"dims: {dims}" if dims else "dims: [1] reshape: { shape: [] }"
    return f'{{ name: "{value.name}" data_type: {TYPES[value.type.tensor_type.elem_type]} {shape} }}'


print(f"""backend: "python"
max_batch_size: 64
input [ {", ".join(tensor(v) for v in graph.input)} ]
output [ {", ".join(tensor(v) for v in graph.output)} ]
dynamic_batching {{ max_queue_delay_microseconds: 100 }}
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
parameters: {{ key: "onnx" value: {{ string_value: "{path}" }} }}""")
