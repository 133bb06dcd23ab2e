# examples/v2/tritonclient_infer.py: NVIDIA's own client against inferd.
import sys

import numpy as np
import tritonclient.http as httpclient

client = httpclient.InferenceServerClient(url=sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:5001")
assert client.is_model_ready("diabetes-ridge")
x = np.array([[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]], dtype=np.float32)
data = httpclient.InferInput("input", list(x.shape), "FP32")
data.set_data_from_numpy(x)  # raw bytes after the JSON header (binary_data=True)
result = client.infer("diabetes-ridge", [data])
print(result.as_numpy("predictions"))
