"""The reference image pre-processing (issue 35), in Pillow and NumPy.

inferd turns an image body into a model input as an inference config's
`inputs.<name>` declares it (`decoder: image`, `resize`, `color`, `scale`,
`mean`, `std`, `layout`); this module computes the same tensor the way the
specification (README, "Binary bodies") states it, so that the Rust tests
can compare inferd's tensor and the model's outputs with these, within 1e-5:

1. decode with Pillow (GIF: its first frame), then `convert("RGB")`: 8-bit
   RGB, alpha dropped (not composited), a palette expanded;
2. colour planes on those 8-bit values: `gray` is one plane,
   `(19595 R + 38470 G + 7471 B + 0x8000) >> 16` (ITU-R 601-2, Pillow's
   `convert("L")`); `rgb` and `bgr` are three planes;
3. resize each plane: `nearest` picks input pixel
   `floor((2x + 1) * in / (2 * out))` (integer arithmetic; equals Pillow's
   NEAREST), `bilinear` is Pillow's BILINEAR on the 0..255 values in mode
   "F" (float); `{width, height}` stretches, `{shorterSide, crop}` keeps the
   aspect (the longer side truncated) and then crops the centre, the offset
   floor((size - crop) / 2);
4. channel order (`bgr` reverses the planes);
5. normalise in float32: `(p * scale - mean[c]) / std[c]`;
6. layout: NCHW -> [1, C, H, W], NHWC -> [1, H, W, C].

Used three ways:

    models/image_reference.py --make-images examples/images
        writes the committed sample images (seeded; `seven.png` and
        `three.png` are scikit-learn digits that cnn-mnist reads right)
    models/image_reference.py --out tests/fixtures/media/parity.json
        writes the parity fixture: for each case the image, the decoder
        config, the pre-processed tensor and, where a bundled model takes it,
        the model's outputs (ONNX Runtime, one thread)
    models/image_reference.py --check tests/fixtures/media/parity.json
        recomputes everything and exits 1 if the committed images or the
        fixture differ (more than 1e-6) from what this code computes

`models/make_models.py` imports `preprocess` for rgb-cnn's samples.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IMAGES = "examples/images"
SEED = 20261125
# 1/255 written as inferd's configs write it; read as float32 on both sides.
SCALE = 0.00392156862745098
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
TOLERANCE = 1e-6


# ---------------------------------------------------------------- the pipeline


def decode(data: bytes) -> np.ndarray:
    """The image's first frame as 8-bit RGB, (H, W, 3) uint8."""
    with Image.open(io.BytesIO(data)) as im:
        im.seek(0)
        im.load()
        rgb = im.convert("RGB")
    return np.asarray(rgb, dtype=np.uint8)


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma of 8-bit RGB, as Pillow's convert("L"), (H, W) uint8."""
    r, g, b = (rgb[..., c].astype(np.uint32) for c in range(3))
    return ((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16).astype(np.uint8)


def resized_size(width: int, height: int, resize: dict | None) -> tuple[int, int]:
    """(w', h') before any crop: the given size, or the shorter side scaled to
    `shorterSide` and the longer one truncated (torchvision's resize(int))."""
    if resize is None:
        return width, height
    if "width" in resize:
        return resize["width"], resize["height"]
    side = resize["shorterSide"]
    if width <= height:
        return side, max(side * height // width, 1)
    return max(side * width // height, 1), side


def nearest_indices(size_in: int, size_out: int) -> np.ndarray:
    return ((2 * np.arange(size_out, dtype=np.int64) + 1) * size_in) // (2 * size_out)


def resize_plane(plane: np.ndarray, size: tuple[int, int], filter_: str) -> np.ndarray:
    """One (H, W) uint8 plane resized to size = (w, h): uint8 for nearest,
    float32 (values 0..255) for bilinear."""
    w, h = size
    if filter_ == "nearest":
        return plane[nearest_indices(plane.shape[0], h)][:, nearest_indices(plane.shape[1], w)]
    if filter_ == "bilinear":
        f = Image.fromarray(plane.astype(np.float32), "F")
        return np.asarray(f.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    raise ValueError(f"filter {filter_!r}")


def preprocess(data: bytes, decoder: dict) -> np.ndarray:
    """The tensor inferd gives the model for this image body and config
    (`inputs.<name>` of an inference config), float32 with N = 1."""
    assert decoder.get("decoder") == "image", decoder
    rgb = decode(data)
    height, width = rgb.shape[:2]
    color = decoder.get("color", "rgb")
    planes = [luma(rgb)] if color == "gray" else [rgb[..., c] for c in range(3)]

    resize = decoder.get("resize")
    if resize is not None:
        size = resized_size(width, height, resize)
        filter_ = resize.get("filter", "nearest")
        planes = [resize_plane(p, size, filter_) for p in planes]
        if "crop" in resize:
            cw, ch = resize["crop"]
            left, top = (size[0] - cw) // 2, (size[1] - ch) // 2
            planes = [p[top : top + ch, left : left + cw] for p in planes]
    if color == "bgr":
        planes = planes[::-1]

    x = np.stack(planes, axis=-1)  # (H, W, C), uint8 or float32 0..255
    channels = x.shape[-1]
    scale = np.float32(decoder.get("scale", 1.0))
    mean = np.asarray(decoder.get("mean", [0.0] * channels), dtype=np.float32)
    std = np.asarray(decoder.get("std", [1.0] * channels), dtype=np.float32)
    x = (x.astype(np.float32) * scale - mean) / std
    assert x.dtype == np.float32
    if decoder.get("layout", "NCHW") == "NCHW":
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    return np.ascontiguousarray(x[None])


# How far (on 0..255 values) the specification's bilinear, computed here the
# way inferd does (horizontal pass first), may be from Pillow's mode "F" (which
# may take the vertical pass first): float rounding only.
BILINEAR_AGREEMENT = 1e-4


def bilinear_weights(size_in: int, size_out: int) -> list[tuple[int, np.ndarray]]:
    """Pillow's BILINEAR coefficients, as the specification states them: for
    each output index, the first input index and the normalised weights."""
    scale = size_in / size_out
    support = max(scale, 1.0)
    out = []
    for x in range(size_out):
        center = (x + 0.5) * scale
        xmin = max(int(np.floor(center - support + 0.5)), 0)
        xmax = min(int(np.floor(center + support + 0.5)), size_in)
        t = (np.arange(xmax - xmin) + xmin - center + 0.5) / support
        w = np.where(np.abs(t) < 1.0, 1.0 - np.abs(t), 0.0)
        out.append((xmin, w / w.sum()))
    return out


def bilinear_as_specified(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The specification's bilinear (inferd's way: float64 sums stored as
    float32, horizontal pass then vertical, a pass skipped where the size
    does not change), to check it against Pillow."""
    w, h = size
    x = plane.astype(np.float32)
    if w != x.shape[1]:
        x = np.stack([(x[:, lo : lo + len(k)].astype(np.float64) * k).sum(axis=1) for lo, k in
                      bilinear_weights(x.shape[1], w)], axis=1).astype(np.float32)
    if h != x.shape[0]:
        x = np.stack([(x[lo : lo + len(k)].astype(np.float64) * k[:, None]).sum(axis=0) for lo, k in
                      bilinear_weights(x.shape[0], h)], axis=0).astype(np.float32)
    return x


def preprocess_file(path: str | Path, decoder: dict) -> np.ndarray:
    return preprocess((ROOT / path).read_bytes(), decoder)


def nearest_ties(size_in: int, size_out: int) -> np.ndarray:
    """The output indices whose source position (2x + 1) * in / (2 * out) is
    an integer: there Pillow's NEAREST, which accumulates in / out in double,
    may land one pixel lower than the exact formula (100 -> 90: x = 13, 22)."""
    return np.flatnonzero(((2 * np.arange(size_out) + 1) * size_in) % (2 * size_out) == 0)


def pillow_nearest_indices(size_in: int, size_out: int) -> np.ndarray:
    ramp = Image.fromarray(np.arange(size_in, dtype=np.int32)[None, :], "I")
    return np.asarray(ramp.resize((size_out, 1), Image.Resampling.NEAREST))[0].astype(np.int64)


def check_against_pillow(data: bytes, decoder: dict) -> list[str]:
    """Where the specification claims Pillow's own result, assert it: luma
    == convert("L"); nearest indexing == Image.resize(NEAREST) except at
    exact ties (answered: where they are); the specified bilinear
    coefficients == Pillow's mode "F" BILINEAR (float rounding only)."""
    notes = []
    rgb = decode(data)
    im = Image.fromarray(rgb, "RGB")
    gray = np.asarray(im.convert("L"))
    assert np.array_equal(luma(rgb), gray), "luma differs from Pillow's convert('L')"
    resize = decoder.get("resize")
    if resize is None:
        return notes
    size = resized_size(im.width, im.height, resize)
    if resize.get("filter", "nearest") == "bilinear":
        for plane in [gray] + [rgb[..., c] for c in range(3)]:
            diff = np.abs(bilinear_as_specified(plane, size) - resize_plane(plane, size, "bilinear")).max()
            assert diff <= BILINEAR_AGREEMENT, f"bilinear to {size}: the specified coefficients differ by {diff}"
        return notes
    keep = []
    for axis, (size_in, size_out) in enumerate([(im.height, size[1]), (im.width, size[0])]):
        ours, pillow = nearest_indices(size_in, size_out), pillow_nearest_indices(size_in, size_out)
        ties = nearest_ties(size_in, size_out)
        differ = np.flatnonzero(ours != pillow)
        assert set(differ) <= set(ties), f"nearest {size_in} -> {size_out} differs from Pillow off a tie: {differ}"
        assert np.all(pillow[differ] == ours[differ] - 1)
        if len(differ):
            what = "rows" if axis == 0 else "columns"
            notes.append(f"nearest {size_in} -> {size_out}: at the exact ties {what} {differ.tolist()} "
                         f"take input {ours[differ].tolist()}, Pillow's NEAREST {pillow[differ].tolist()}")
        keep.append(np.setdiff1d(np.arange(size_out), differ))
    ours = np.stack([resize_plane(rgb[..., c], size, "nearest") for c in range(3)], axis=-1)
    pillow = np.asarray(im.resize(size, Image.Resampling.NEAREST))
    assert np.array_equal(ours[keep[0]][:, keep[1]], pillow[keep[0]][:, keep[1]]), f"nearest to {size}"
    pillow_gray = np.asarray(Image.fromarray(gray, "L").resize(size, Image.Resampling.NEAREST))
    assert np.array_equal(resize_plane(gray, size, "nearest")[keep[0]][:, keep[1]], pillow_gray[keep[0]][:, keep[1]])
    return notes


# ---------------------------------------------------------------- sample images


def synthetic(width: int, height: int, seed: int, noise: float = 10.0) -> np.ndarray:
    """Smooth gradients, a disc, a bar, stripes and seeded noise: detail at
    several scales, so that the resize filter matters. (H, W, 3) uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    r = 255 * u
    g = 255 * v
    b = 127.5 + 127.5 * np.sin(2 * np.pi * (u + 2 * v))
    img = np.stack([r, g, b], axis=-1)
    # A disc, a bar and a patch of diagonal stripes, placed by the seed.
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    radius = 0.22 * min(width, height)
    img[(x - cx) ** 2 + (y - cy) ** 2 <= radius**2] = rng.integers(0, 256, 3)
    x0, y0 = int(0.1 * width), int(0.65 * height)
    img[y0 : y0 + max(height // 8, 1), x0 : x0 + width // 2] = rng.integers(0, 256, 3)
    period = max(3, min(width, height) // 20)
    stripes = (((x + y) // period) % 2 == 0) & (x < width * 0.35) & (y < height * 0.4)
    img[stripes] = 255 - img[stripes]
    img += rng.normal(0.0, noise, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def web_palette() -> np.ndarray:
    """The 216 colours of a 6x6x6 cube, (216, 3) uint8."""
    levels = np.arange(6) * 51
    return np.array([(r, g, b) for r in levels for g in levels for b in levels], dtype=np.uint8)


def digit(number: int) -> np.ndarray:
    """A scikit-learn digit `number` (28x28, as make_models' digits_as_28x28
    makes them) that cnn-mnist reads as that number with probability >= 0.99,
    fed pixel / 255: (28, 28) uint8, pixel = round(v * 255). The first such."""
    sys.path.insert(0, str(ROOT / "models"))
    from make_models import digits_as_28x28

    images, target = digits_as_28x28()
    session = onnx_session(ROOT / "models/cnn-mnist/1/files/model.onnx")
    for i in np.flatnonzero(target == number):
        pixels = np.rint(images[i].astype(np.float64) * 255).astype(np.uint8)
        x = (pixels.astype(np.float32) * np.float32(SCALE))[None, None]
        probabilities = session.run(None, {"input": x})[0][0]
        if probabilities.argmax() == number and probabilities[number] >= 0.99:
            return pixels
    raise SystemExit(f"no {number} that cnn-mnist reads with probability 0.99")


def sample_images() -> dict[str, tuple[np.ndarray, str]]:
    """name -> (the pixels as Pillow must decode them, Pillow mode)."""
    rgba = np.concatenate(
        [synthetic(48, 48, SEED + 6), np.zeros((48, 48, 1), np.uint8)], axis=-1
    )
    # Alpha: a ramp from 0 (left) to 255 (right), and a fully transparent corner.
    rgba[..., 3] = np.rint(np.linspace(0, 255, 48))[None, :].astype(np.uint8)
    rgba[:12, :12, 3] = 0
    gif = synthetic(20, 20, SEED + 4, noise=0.0)
    palette = web_palette()
    indices = np.rint(gif.astype(np.float64) / 51).astype(np.int64)
    gif = palette[indices[..., 0] * 36 + indices[..., 1] * 6 + indices[..., 2]]
    return {
        "seven.png": (digit(7), "L"),
        "three.png": (digit(3), "L"),
        "sample-64.png": (synthetic(64, 64, SEED + 1), "RGB"),
        "sample-100x80.bmp": (synthetic(100, 80, SEED + 2), "RGB"),
        "sample-37x53.webp": (synthetic(37, 53, SEED + 3), "RGB"),
        "sample-20.gif": (gif, "P"),
        "sample-500x375.jpg": (synthetic(500, 375, SEED + 5, noise=0.0), "RGB"),
        "sample-rgba-48.png": (rgba, "RGBA"),
    }


def encode(name: str, pixels: np.ndarray, mode: str) -> bytes:
    out = io.BytesIO()
    if name.endswith(".gif"):
        palette = web_palette()
        flat = pixels.reshape(-1, 3)
        index = {tuple(c): i for i, c in enumerate(palette.tolist())}
        indices = np.array([index[tuple(c)] for c in flat.tolist()], np.uint8).reshape(pixels.shape[:2])
        im = Image.fromarray(indices, "P")
        im.putpalette(palette.tobytes())
        im.save(out, "GIF")
    elif name.endswith(".webp"):
        Image.fromarray(pixels, mode).save(out, "WEBP", lossless=True, quality=100, method=6, exact=True)
    elif name.endswith(".jpg"):
        Image.fromarray(pixels, mode).save(out, "JPEG", quality=90)
    elif name.endswith(".bmp"):
        Image.fromarray(pixels, mode).save(out, "BMP")
    else:
        Image.fromarray(pixels, mode).save(out, "PNG", optimize=True)
    return out.getvalue()


def check_image(name: str, data: bytes, pixels: np.ndarray, mode: str) -> list[str]:
    """What is wrong with `data` as the sample `name` (empty: nothing)."""
    problems = []
    with Image.open(io.BytesIO(data)) as im:
        want_format = {"png": "PNG", "bmp": "BMP", "webp": "WEBP", "gif": "GIF", "jpg": "JPEG"}[name.rsplit(".", 1)[1]]
        height, width = pixels.shape[:2]
        if im.format != want_format or im.size != (width, height):
            problems.append(f"{name}: {im.format} {im.size}, want {want_format} {(width, height)}")
        if name.endswith(".gif"):
            if getattr(im, "n_frames", 1) != 1 or "transparency" in im.info or im.mode != "P":
                problems.append(f"{name}: not a single opaque palette frame ({im.mode}, {im.info})")
        elif name.endswith(".bmp") and im.info.get("compression", 0) != 0:
            problems.append(f"{name}: compressed BMP")
        elif name.endswith(".webp") and im.mode != "RGB":
            problems.append(f"{name}: mode {im.mode}")
        elif not name.endswith(".jpg") and im.mode != mode:
            problems.append(f"{name}: mode {im.mode}, want {mode}")
        im.load()
        decoded = np.asarray(im.convert("RGBA" if mode == "RGBA" else "RGB"))
    want = np.repeat(pixels[..., None], 3, axis=-1) if mode == "L" else pixels
    if name.endswith(".jpg"):
        # Lossy: only that it decodes, close to what was encoded.
        if np.abs(decoded.astype(int) - want.astype(int)).mean() > 8:
            problems.append(f"{name}: decodes far from its pixels")
    elif not np.array_equal(decoded, want):
        problems.append(f"{name}: decodes to other pixels")
    if name.endswith(".bmp") and data[28] != 24:
        problems.append(f"{name}: {data[28]} bits per pixel, want 24")
    return problems


def make_images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (pixels, mode) in sample_images().items():
        data = encode(name, pixels, mode)
        problems = check_image(name, data, pixels, mode)
        if problems:
            raise SystemExit("\n".join(problems))
        (folder / name).write_bytes(data)
        print(f"{folder / name}: {len(data)} bytes")


def check_images(folder: Path) -> list[str]:
    problems = []
    for name, (pixels, mode) in sample_images().items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        problems += check_image(name, path.read_bytes(), pixels, mode)
    return problems


# ---------------------------------------------------------------- the fixture


def onnx_session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def imagenet(resize: dict | None, color: str = "rgb") -> dict:
    config = {"decoder": "image"}
    if resize is not None:
        config["resize"] = resize
    config.update(color=color, scale=SCALE, mean=IMAGENET_MEAN, std=IMAGENET_STD, layout="NCHW")
    return config


# name, what it exercises, image, decoder config, the bundled model that takes the tensor.
CASES = [
    ("A", "PNG, resize to its own size (identity), rgb, ImageNet normalisation",
     "sample-64.png", imagenet({"width": 64, "height": 64, "filter": "nearest"}), "rgb-cnn"),
    ("B", "BMP, nearest downscale 100x80 -> 64x64",
     "sample-100x80.bmp", imagenet({"width": 64, "height": 64, "filter": "nearest"}), "rgb-cnn"),
    ("C", "lossless WebP, bilinear 37x53 -> 64x64 (up in width, and in height)",
     "sample-37x53.webp", imagenet({"width": 64, "height": 64, "filter": "bilinear"}), "rgb-cnn"),
    ("D", "GIF (palette), bilinear upscale 20x20 -> 64x64, bgr",
     "sample-20.gif", imagenet({"width": 64, "height": 64, "filter": "bilinear"}, "bgr"), "rgb-cnn"),
    ("E", "BMP, shorterSide 72 (100x80 -> 90x72), centre crop 64x64, nearest",
     "sample-100x80.bmp", imagenet({"shorterSide": 72, "crop": [64, 64], "filter": "nearest"}), "rgb-cnn"),
    ("F", "RGBA PNG (alpha dropped, not composited), shorterSide 64 (48x48 -> 64x64), crop 64x64, bilinear",
     "sample-rgba-48.png", imagenet({"shorterSide": 64, "crop": [64, 64], "filter": "bilinear"}), "rgb-cnn"),
    ("G", "WebP, gray, nearest 37x53 -> 28x28, scale only",
     "sample-37x53.webp",
     {"decoder": "image", "resize": {"width": 28, "height": 28, "filter": "nearest"}, "color": "gray",
      "scale": SCALE, "layout": "NCHW"}, None),
    ("H", "BMP, bilinear 100x80 -> 32x24 (downscale, antialiased), NHWC, no scale/mean/std",
     "sample-100x80.bmp",
     {"decoder": "image", "resize": {"width": 32, "height": 24, "filter": "bilinear"}, "color": "rgb",
      "layout": "NHWC"}, None),
    ("I", "grayscale PNG digit, no resize, scale 1/255: cnn-mnist's input",
     "seven.png", {"decoder": "image", "color": "gray", "scale": SCALE, "layout": "NCHW"}, "cnn-mnist"),
    ("J", "WebP, portrait: shorterSide 40 (37x53 -> 40x57), crop [36, 30] = [width, height], offsets "
     "left 2, top floor(27 / 2) = 13 (torchvision's round would take 14), bilinear, bgr, NHWC",
     "sample-37x53.webp",
     {"decoder": "image", "resize": {"shorterSide": 40, "crop": [36, 30], "filter": "bilinear"}, "color": "bgr",
      "scale": SCALE, "mean": IMAGENET_MEAN[::-1], "std": IMAGENET_STD[::-1], "layout": "NHWC"}, None),
]


def f32_list(values: np.ndarray) -> list[float]:
    """float32 values as JSON numbers that read back as the same float32."""
    return [float(v) for v in np.asarray(values, dtype=np.float32).ravel()]


def fixture() -> dict:
    cases = []
    sessions = {}
    for name, about, image, decoder, model in CASES:
        path = f"{IMAGES}/{image}"
        data = (ROOT / path).read_bytes()
        notes = check_against_pillow(data, decoder)
        tensor = preprocess(data, decoder)
        case = {
            "name": name,
            "about": about + "".join(f"; {n}" for n in notes),
            "image": path,
            "decoder": decoder,
            "shape": list(tensor.shape),
            "tensor": f32_list(tensor),
        }
        if model is not None:
            if model not in sessions:
                sessions[model] = onnx_session(ROOT / f"models/{model}/1/files/model.onnx")
            session = sessions[model]
            outputs = dict(zip((o.name for o in session.get_outputs()),
                               session.run(None, {session.get_inputs()[0].name: tensor})))
            case["model"] = model
            if model == "rgb-cnn":
                logits = outputs["logits"].astype(np.float64)[0]
                e = np.exp(logits - logits.max())
                case["logits"] = f32_list(outputs["logits"])
                case["probabilities"] = f32_list(e / e.sum())
            else:
                case["outputs"] = {k: f32_list(v) for k, v in outputs.items()}
        cases.append(case)
    import onnxruntime as ort
    import PIL

    return {
        "about": "Issue 35 image pre-processing parity: each case's tensor is what inferd must give "
        "the model for the image under the decoder config (flattened, row-major, of `shape`), and "
        "logits / probabilities (softmax of the logits) / outputs what the named bundled model "
        "answers on it. Compare within 1e-5.",
        "generator": "models/image_reference.py --out tests/fixtures/media/parity.json",
        "versions": {"pillow": PIL.__version__, "numpy": np.__version__, "onnxruntime": ort.__version__},
        "cases": cases,
    }


def dumps(doc: dict) -> str:
    return json.dumps(doc, separators=(",", ":")) + "\n"


def compare(want, got, at: str, problems: list[str]) -> None:
    """Structure equal; numbers within TOLERANCE (relative above 1)."""
    if isinstance(want, dict) and isinstance(got, dict):
        if sorted(want) != sorted(got):
            problems.append(f"{at}: keys {sorted(got)}, committed {sorted(want)}")
            return
        for key in want:
            if key not in ("about", "versions"):
                compare(want[key], got[key], f"{at}.{key}", problems)
    elif isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            problems.append(f"{at}: {len(got)} items, committed {len(want)}")
            return
        if want and all(isinstance(v, (int, float)) for v in want + got):
            w, g = np.asarray(want, np.float64), np.asarray(got, np.float64)
            diff = np.abs(w - g) / np.maximum(1.0, np.abs(w))
            if diff.max(initial=0.0) > TOLERANCE:
                i = int(diff.argmax())
                problems.append(f"{at}[{i}]: {float(g[i])!r}, committed {float(w[i])!r}")
            return
        for i, (w, g) in enumerate(zip(want, got)):
            compare(w, g, f"{at}[{i}]", problems)
    elif want != got:
        problems.append(f"{at}: {got!r}, committed {want!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--make-images", type=Path, metavar="FOLDER", help="write the sample images")
    group.add_argument("--out", type=Path, metavar="JSON", help="write the parity fixture")
    group.add_argument("--check", type=Path, metavar="JSON",
                       help="recompute the images and the fixture; exit 1 if the committed ones differ")
    args = parser.parse_args()
    if args.make_images:
        make_images(args.make_images)
    elif args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        doc = fixture()
        args.out.write_text(dumps(doc))
        print(f"{args.out}: {len(doc['cases'])} cases")
    else:
        problems = check_images(ROOT / IMAGES)
        compare(json.loads(args.check.read_text()), fixture(), "parity", problems)
        if problems:
            print("\n".join(problems), file=sys.stderr)
            raise SystemExit(1)
        print(f"{args.check}: the images and every case agree (within {TOLERANCE})")


if __name__ == "__main__":
    main()
