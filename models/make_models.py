"""Make the bundled ONNX models, their samples and their expected outputs.

Deterministic: fixed seeds, single-threaded training, data sets that ship with
scikit-learn (no download). Each model is written as a folder under --out:

    model.onnx            the model
    input_sample.json     the value of the request's "data" field for one row
    output_sample.json    the response the server gives for that sample
    expected.json         cases (inputs and outputs computed by ONNX Runtime)
                          that the Rust tests compare against, tolerance 1e-4

`models/make_models.sh` runs this and registers each folder in `models/`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from skl2onnx import convert_sklearn  # noqa: E402
from skl2onnx.common.data_types import FloatTensorType  # noqa: E402
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

SEED = 20261125
OPSET = 17
ML_OPSET = 3
BATCH = "N"


def fix_batch_dim(model: onnx.ModelProto) -> None:
    """Name the free batch dimension 'N' on every graph input and output.

    skl2onnx leaves it unnamed; a named symbol says it is the same dimension
    everywhere, which engines (tract) and documents can use.
    """
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = BATCH


def finish(model: onnx.ModelProto, doc: str) -> onnx.ModelProto:
    fix_batch_dim(model)
    model.doc_string = doc
    model.producer_name = "inferd/models/make_models.py"
    # A fixed IR version that every engine we ship reads.
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def flatten_output(model: onnx.ModelProto, old: str, new: str) -> None:
    """Append Reshape(-1) so a [N, 1] regressor output becomes [N], as predict() gives."""
    for out in model.graph.output:
        if out.name == old:
            model.graph.output.remove(out)
            break
    shape = numpy_helper.from_array(np.array([-1], dtype=np.int64), name=f"{new}_shape")
    model.graph.initializer.append(shape)
    model.graph.node.append(helper.make_node("Reshape", [old, shape.name], [new], name=f"{new}_flatten"))
    model.graph.output.append(helper.make_tensor_value_info(new, TensorProto.FLOAT, [BATCH]))


def to_onnx(estimator, n_features: int, options=None) -> onnx.ModelProto:
    return convert_sklearn(
        estimator,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
        options=options,
    )


def digits_as_28x28() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits scaled 3x (24x24), padded to 28x28 and scaled to [0, 1]."""
    digits = load_digits()
    images = np.kron(digits.images, np.ones((3, 3))) / 16.0
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    return images.astype(np.float32), digits.target


def diabetes_ridge() -> tuple[onnx.ModelProto, np.ndarray, list[np.ndarray]]:
    data = load_diabetes()
    model = Ridge(alpha=0.1).fit(data.data, data.target)
    proto = to_onnx(model, 10)
    flatten_output(proto, proto.graph.output[0].name, "predictions")
    sample = np.array([[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]], dtype=np.float32)
    rows = np.concatenate([sample, data.data[:6].astype(np.float32)])
    return finish(proto, "Ridge regression on scikit-learn's diabetes data (10 features)."), sample, [
        rows[:1],
        rows,
    ]


def digits_classifier() -> tuple[onnx.ModelProto, np.ndarray, list[np.ndarray]]:
    digits = load_digits()
    model = LogisticRegression(max_iter=2000, random_state=SEED).fit(digits.data, digits.target)
    proto = to_onnx(model, 64, options={id(model): {"zipmap": False}})
    rows = digits.data[:7].astype(np.float32)
    return finish(proto, "Logistic regression on scikit-learn's 8x8 digits (64 features)."), rows[:1], [
        rows[:1],
        rows,
    ]


def mlp_784() -> tuple[onnx.ModelProto, np.ndarray, list[np.ndarray]]:
    images, target = digits_as_28x28()
    flat = images.reshape(len(images), 784)
    model = MLPClassifier(hidden_layer_sizes=(512, 512), max_iter=8, random_state=SEED)
    model.fit(flat, target)
    proto = to_onnx(model, 784, options={id(model): {"zipmap": False}})
    return finish(proto, "MLP 784-512-512-10 on the digits scaled to 28x28."), flat[:1], [flat[:1], flat[:7]]


def cnn_mnist() -> tuple[onnx.ModelProto, np.ndarray, list[np.ndarray]]:
    """Two seeded conv layers as a fixed feature extractor, a trained linear read-out."""
    rng = np.random.default_rng(SEED)
    images, target = digits_as_28x28()
    x = images[:, None, :, :]

    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    inits = [
        numpy_helper.from_array(he((8, 1, 3, 3), 9), "conv1_w"),
        numpy_helper.from_array(np.zeros(8, np.float32), "conv1_b"),
        numpy_helper.from_array(he((16, 8, 3, 3), 72), "conv2_w"),
        numpy_helper.from_array(np.zeros(16, np.float32), "conv2_b"),
    ]
    features = [
        helper.make_node("Conv", ["input", "conv1_w", "conv1_b"], ["c1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "conv2_w", "conv2_b"], ["c2"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["flat"], axis=1),
    ]
    input_info = helper.make_tensor_value_info("input", TensorProto.FLOAT, [BATCH, 1, 28, 28])

    extractor = helper.make_model(
        helper.make_graph(
            features,
            "features",
            [input_info],
            [helper.make_tensor_value_info("flat", TensorProto.FLOAT, [BATCH, 784])],
            inits,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    extractor.ir_version = 8
    feats = run(extractor, {"input": x})[0]
    readout = LogisticRegression(max_iter=2000, random_state=SEED).fit(feats, target)

    head = [
        numpy_helper.from_array(readout.coef_.astype(np.float32), "fc_w"),
        numpy_helper.from_array(readout.intercept_.astype(np.float32), "fc_b"),
    ]
    nodes = features + [
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn_mnist",
        [input_info],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [BATCH, 10])],
        inits + head,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    return finish(proto, "Small conv net on 1x28x28 digits: seeded conv features, trained read-out."), x[:1], [
        x[:1],
        x[:7],
    ]


# rgb-cnn's sample rows: the committed sample images (not the JPEG, whose
# decoders differ), each pre-processed as the parity fixture's case A does.
RGB_SAMPLES = [
    "sample-64.png",
    "sample-100x80.bmp",
    "sample-37x53.webp",
    "sample-20.gif",
    "sample-rgba-48.png",
    "seven.png",
    "three.png",
]
RGB_DECODER = {
    "decoder": "image",
    "resize": {"width": 64, "height": 64, "filter": "nearest"},
    "color": "rgb",
    "scale": 0.00392156862745098,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "layout": "NCHW",
}


def rgb_cnn() -> tuple[onnx.ModelProto, np.ndarray, list[np.ndarray]]:
    """A small untrained conv net on 3x64x64 RGB images, answering 10 logits.

    The fixture for image bodies (issue 35): its input is what an image
    decoder makes (NCHW float32, ImageNet-normalised), its output logits
    that a postprocess turns into probabilities and labels
    (`examples/images/rgb-cnn-labels.txt`: CIFAR-10's class names). The
    weights are seeded, not trained: three conv layers (He), a global
    average pool, and a read-out whose weights are scaled by the spread of
    the pooled features over the sample images, so that different images
    get clearly different logits (the labels mean nothing).
    """
    import image_reference

    rng = np.random.default_rng(SEED)

    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    inits = [
        numpy_helper.from_array(he((16, 3, 3, 3), 27), "conv1_w"),
        numpy_helper.from_array(np.zeros(16, np.float32), "conv1_b"),
        numpy_helper.from_array(he((32, 16, 3, 3), 144), "conv2_w"),
        numpy_helper.from_array(np.zeros(32, np.float32), "conv2_b"),
        numpy_helper.from_array(he((32, 32, 3, 3), 288), "conv3_w"),
        numpy_helper.from_array(np.zeros(32, np.float32), "conv3_b"),
    ]
    conv = dict(pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    pool = dict(kernel_shape=[2, 2], strides=[2, 2])
    features = [
        helper.make_node("Conv", ["input", "conv1_w", "conv1_b"], ["c1"], **conv),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], **pool),
        helper.make_node("Conv", ["p1", "conv2_w", "conv2_b"], ["c2"], **conv),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], **pool),
        helper.make_node("Conv", ["p2", "conv3_w", "conv3_b"], ["c3"], **conv),
        helper.make_node("Relu", ["c3"], ["r3"]),
        helper.make_node("GlobalAveragePool", ["r3"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
    ]
    input_info = helper.make_tensor_value_info("input", TensorProto.FLOAT, [BATCH, 3, 64, 64])
    extractor = helper.make_model(
        helper.make_graph(
            features,
            "features",
            [input_info],
            [helper.make_tensor_value_info("flat", TensorProto.FLOAT, [BATCH, 32])],
            inits,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    extractor.ir_version = 8

    images = Path(__file__).resolve().parents[1] / "examples/images"
    rows = np.concatenate(
        [image_reference.preprocess((images / name).read_bytes(), RGB_DECODER) for name in RGB_SAMPLES]
    )
    feats = run(extractor, {"input": rows})[0].astype(np.float64)
    # Each logit a random direction in the standardised feature space, of
    # spread about 3 over the samples; a feature that barely varies over
    # them is scaled as the median one, not blown up (other images would
    # get huge logits).
    spread = feats.std(axis=0)
    spread = np.maximum(spread, np.median(spread))
    weights = rng.standard_normal((10, 32)) * 3.0 / np.sqrt(32) / spread
    bias = -weights @ feats.mean(axis=0)
    head = [
        numpy_helper.from_array(weights.astype(np.float32), "fc_w"),
        numpy_helper.from_array(bias.astype(np.float32), "fc_b"),
    ]
    nodes = features + [helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1)]
    graph = helper.make_graph(
        nodes,
        "rgb_cnn",
        [input_info],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [BATCH, 10])],
        inits + head,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    doc = "Small untrained conv net on 3x64x64 RGB images (seeded weights), 10 logits: the image-body fixture."
    return finish(proto, doc), rows[:1], [rows[:1], rows]


def onehot_4() -> tuple[onnx.ModelProto, np.ndarray, list[np.ndarray]]:
    """One-hot encoding of int64 class indices into 4 columns.

    Small, but it takes integer input, and an index out of range is where
    engines differ (ONNX Runtime answers an all-off row as ONNX says; tract
    would panic, so inferd refuses the index first): the tests use it to
    prove such an index is the client's 400, naming the input.
    """
    inits = [
        numpy_helper.from_array(np.array(4, dtype=np.int64), "depth"),
        numpy_helper.from_array(np.array([0, 1], dtype=np.float32), "values"),
    ]
    node = helper.make_node("OneHot", ["indices", "depth", "values"], ["onehot"], axis=-1)
    graph = helper.make_graph(
        [node],
        "onehot_4",
        [helper.make_tensor_value_info("indices", TensorProto.INT64, [BATCH])],
        [helper.make_tensor_value_info("onehot", TensorProto.FLOAT, [BATCH, 4])],
        inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    rows = np.array([2, 0, 3, 1, 1, 0, 2], dtype=np.int64)
    return finish(proto, "One-hot encoding of int64 indices into 4 columns."), rows[:1], [rows[:1], rows]


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def response(outputs: dict[str, np.ndarray]):
    """What the server answers: one output -> its values; several -> an object by name."""
    if len(outputs) == 1:
        return next(iter(outputs.values())).tolist()
    return {name: value.tolist() for name, value in outputs.items()}


def write(out: Path, name: str, proto: onnx.ModelProto, sample: np.ndarray, cases: list[np.ndarray]) -> None:
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    # skl2onnx names graphs with a random UUID; a fixed name keeps the bytes reproducible.
    proto.graph.name = name.replace("-", "_")
    (folder / "model.onnx").write_bytes(proto.SerializeToString())
    input_name = proto.graph.input[0].name
    output_names = [o.name for o in proto.graph.output]

    def outputs_for(x: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(output_names, run(proto, {input_name: x})))

    dump = lambda path, value: path.write_text(json.dumps(value, separators=(",", ":")) + "\n")  # noqa: E731
    dump(folder / "input_sample.json", sample.tolist())
    dump(folder / "output_sample.json", response(outputs_for(sample)))
    expected = {
        "input": input_name,
        "cases": [
            {
                "batch": int(x.shape[0]),
                "data": x.tolist(),
                "outputs": {k: v.tolist() for k, v in outputs_for(x).items()},
            }
            for x in cases
        ],
    }
    dump(folder / "expected.json", expected)
    print(f"{name}: {len(proto.SerializeToString())} bytes, outputs {output_names}")


MODELS = {
    "diabetes-ridge": diabetes_ridge,
    "digits-classifier": digits_classifier,
    "mlp-784": mlp_784,
    "cnn-mnist": cnn_mnist,
    "onehot-4": onehot_4,
    "rgb-cnn": rgb_cnn,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write one sub-folder per model into")
    parser.add_argument("models", nargs="*", default=list(MODELS), help="which models (default: all)")
    args = parser.parse_args()
    for name in args.models:
        np.random.seed(SEED)
        proto, sample, cases = MODELS[name]()
        write(args.out, name, proto, sample, cases)


if __name__ == "__main__":
    main()
