//! What the binary-body targets share (`image`, `npy`, `raw`,
//! `multipart`): the declared inputs they fuzz, each built once through
//! `inferd_media::MediaInputs::build` as a model's would be at start-up,
//! and the checks a decoded body must pass whatever its bytes:
//!
//! - one tensor per input, of the input's element type, with as many
//!   elements as its shape says, its shape one the input's signature
//!   accepts (rank and fixed dimensions);
//! - every input has the same number of rows (`decode` refuses otherwise);
//! - the tensors take no more bytes than `Parsed::tensor_bytes` said they
//!   would (the server reserves that much of its memory budget first).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bytes::Bytes;
use inferd_config::InputDecoder;
use inferd_media::{BodyKind, Decoded, MediaError, MediaInputs};
use inferd_tensor::{DType, Dim, Signature, Tensor, TensorData, TensorSpec, for_each_data};
use serde_json::{Value, json};

fn spec(name: &str, dtype: DType, shape: Option<Vec<Dim>>) -> TensorSpec {
    TensorSpec {
        name: name.to_owned(),
        dtype,
        shape,
    }
}

fn n() -> Dim {
    Dim::Free(Some("N".to_owned()))
}

fn free() -> Dim {
    Dim::Free(None)
}

/// The model with `inputs`, each declared as `decls` says (by name), built
/// as the server builds it; a declaration it refuses is this harness's
/// mistake, so it panics before any input runs.
pub fn build(inputs: Vec<TensorSpec>, decls: &[(&str, Value)]) -> MediaInputs {
    let declared: BTreeMap<String, InputDecoder> = decls
        .iter()
        .map(|(name, decl)| {
            let decl: InputDecoder = serde_json::from_value(decl.clone())
                .unwrap_or_else(|e| panic!("declaration of '{name}' {decl}: {e}"));
            ((*name).to_owned(), decl)
        })
        .collect();
    let signature = Signature {
        inputs,
        outputs: Vec::new(),
    };
    MediaInputs::build(&declared, &signature)
        .unwrap_or_else(|e| panic!("declarations {decls:?} refused: {e}"))
        .expect("declared inputs")
}

/// `body`, announced as `kind`, parsed and decoded by `media`; when it
/// decodes, the checks of the module's head hold. Returns the decoded
/// tensors (or why the body was refused). With `INFERD_FUZZ_TRACE` set,
/// prints each outcome (run a target's binary on a few files to see what
/// its seeds reach).
pub fn run(
    media: &MediaInputs,
    inputs: &[TensorSpec],
    kind: &BodyKind,
    body: &[u8],
) -> Result<Decoded, MediaError> {
    let decoded = run_checked(media, inputs, kind, body);
    if trace() {
        let names: Vec<&str> = inputs.iter().map(|s| s.name.as_str()).collect();
        match &decoded {
            Ok(d) => {
                let shapes: Vec<String> = d
                    .tensors
                    .iter()
                    .map(|t| format!("{} {:?}", t.dtype(), t.shape()))
                    .collect();
                eprintln!("{names:?} decoded: {}", shapes.join(", "));
            }
            Err(e) => eprintln!("{names:?} refused ({:?}): {e}", e.refusal),
        }
    }
    decoded
}

fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("INFERD_FUZZ_TRACE").is_some())
}

fn run_checked(
    media: &MediaInputs,
    inputs: &[TensorSpec],
    kind: &BodyKind,
    body: &[u8],
) -> Result<Decoded, MediaError> {
    let parsed = media.parse(kind, Bytes::copy_from_slice(body))?;
    let reserved = parsed.tensor_bytes();
    let decoded = media.decode(parsed)?;
    assert_eq!(decoded.single_image, *kind == BodyKind::Image);
    assert_eq!(decoded.tensors.len(), inputs.len(), "one tensor per input");
    let mut bytes = 0u64;
    for (tensor, spec) in decoded.tensors.iter().zip(inputs) {
        check_tensor(tensor, spec);
        bytes += (tensor.data().len() * element_size(spec.dtype)) as u64;
    }
    assert!(
        bytes <= reserved,
        "the tensors take {bytes} bytes, and parse reserved {reserved}"
    );
    let rows = decoded.tensors[0].shape().first();
    for (tensor, spec) in decoded.tensors.iter().zip(inputs) {
        assert_eq!(
            tensor.shape().first(),
            rows,
            "input '{}' disagrees on the rows",
            spec.name
        );
    }
    Ok(decoded)
}

/// `tensor` is of `spec`'s type, its element count its shape's product,
/// its shape one `spec` accepts.
pub fn check_tensor(tensor: &Tensor, spec: &TensorSpec) {
    assert_eq!(tensor.dtype(), spec.dtype, "input '{}'", spec.name);
    let elements = tensor
        .shape()
        .iter()
        .try_fold(1usize, |all, d| all.checked_mul(*d))
        .expect("a decoded shape's product fits usize");
    assert_eq!(elements, tensor.data().len(), "input '{}'", spec.name);
    if let Some(dims) = &spec.shape {
        assert!(
            dims.len() == tensor.shape().len()
                && dims.iter().zip(tensor.shape()).all(|(d, &n)| d.accepts(n)),
            "input '{}' {} decoded as {:?}",
            spec.name,
            spec.shape_text(),
            tensor.shape()
        );
    }
}

pub fn element_size(dtype: DType) -> usize {
    match dtype {
        DType::Bool | DType::I8 | DType::U8 => 1,
        DType::I16 | DType::U16 => 2,
        DType::I32 | DType::U32 | DType::F32 => 4,
        DType::I64 | DType::U64 | DType::F64 => 8,
    }
}

/// The tensor's elements as little-endian bytes (a bool as 0 or 1): what a
/// raw body of it holds.
pub fn le_bytes(data: &TensorData) -> Vec<u8> {
    trait Le {
        fn push_le(&self, out: &mut Vec<u8>);
    }
    macro_rules! le {
        ($($t:ty),*) => {$(
            impl Le for $t {
                fn push_le(&self, out: &mut Vec<u8>) {
                    out.extend_from_slice(&self.to_le_bytes());
                }
            }
        )*};
    }
    le!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);
    impl Le for bool {
        fn push_le(&self, out: &mut Vec<u8>) {
            out.push(u8::from(*self));
        }
    }
    let mut out = Vec::new();
    for_each_data!(data, v => v.iter().for_each(|x| x.push_le(&mut out)));
    out
}

/// Whether two tensors hold the same shape and the same bits.
pub fn same_bits(a: &Tensor, b: &Tensor) -> bool {
    a.shape() == b.shape() && a.dtype() == b.dtype() && le_bytes(a.data()) == le_bytes(b.data())
}

// ---------------------------------------------------------------- image

/// One image declaration of the `image` target: the model built with it,
/// its input, and what every decoded row must satisfy.
pub struct ImageCase {
    pub media: MediaInputs,
    pub spec: TensorSpec,
    /// The JSON declaration (printed on a failure).
    pub decl: Value,
    /// Every value lies in this range (the normalisation of 0 and 255).
    pub range: (f64, f64),
    /// The row's (height, width) when the declaration fixes it.
    pub size: Option<(usize, usize)>,
}

/// The image declarations, one per first byte of an `image` input (modulo
/// their count): filter nearest or bilinear x color gray, rgb or bgr x
/// layout NCHW or NHWC x element type (float32 normalised; uint8 for
/// nearest, float64 scaled for bilinear) x six sizings (a stretch to
/// 32x24, shorterSide 24 then a 16x12 crop, shorterSide 20 uncropped, no
/// resize of any size, no resize with an undeclared shape and 64x48
/// limits, no resize fixed to 28x28). Limits are 512x512 but for the one
/// that says otherwise: a decode costs at most 2 MiB of pixels.
pub fn image_cases() -> &'static [ImageCase] {
    static CASES: OnceLock<Vec<ImageCase>> = OnceLock::new();
    CASES.get_or_init(|| {
        let mut cases = Vec::new();
        for sizing in 0..6 {
            for float in [true, false] {
                for layout in ["NCHW", "NHWC"] {
                    for color in ["gray", "rgb", "bgr"] {
                        for filter in ["nearest", "bilinear"] {
                            cases.push(image_case(filter, color, layout, float, sizing));
                        }
                    }
                }
            }
        }
        cases
    })
}

fn image_case(filter: &str, color: &str, layout: &str, float: bool, sizing: u8) -> ImageCase {
    let channels = if color == "gray" { 1 } else { 3 };
    let mut decl = json!({
        "decoder": "image",
        "color": color,
        "layout": layout,
        "maxWidth": 512,
        "maxHeight": 512,
    });
    let (dtype, range) = if float {
        decl["scale"] = json!(1.0 / 255.0);
        decl["mean"] = json!(vec![0.5; channels]);
        decl["std"] = json!(vec![0.25; channels]);
        (DType::F32, (-2.0, 2.0))
    } else if filter == "nearest" {
        (DType::U8, (0.0, 255.0))
    } else {
        decl["scale"] = json!(1.0 / 255.0);
        (DType::F64, (0.0, 1.0))
    };
    let (resize, size, shaped) = match sizing {
        0 => (json!({"width": 32, "height": 24}), Some((24, 32)), true),
        1 => (
            json!({"shorterSide": 24, "crop": [16, 12]}),
            Some((12, 16)),
            true,
        ),
        2 => (json!({"shorterSide": 20}), None, true),
        3 => (Value::Null, None, true),
        4 => {
            decl["maxWidth"] = json!(64);
            decl["maxHeight"] = json!(48);
            (Value::Null, None, false)
        }
        _ => (Value::Null, Some((28, 28)), true),
    };
    // Without a resize the filter is moot (the bilinear float64 case
    // stays float64 all the same).
    if !resize.is_null() {
        let mut resize = resize;
        resize["filter"] = json!(filter);
        decl["resize"] = resize;
    }
    let (h, w) = match size {
        Some((h, w)) => (Dim::Fixed(h), Dim::Fixed(w)),
        None => (free(), free()),
    };
    let c = Dim::Fixed(channels);
    let shape = shaped.then(|| match layout {
        "NCHW" => vec![n(), c, h, w],
        _ => vec![n(), h, w, c],
    });
    let spec = spec("image", dtype, shape);
    let media = build(vec![spec.clone()], &[("image", decl.clone())]);
    ImageCase {
        media,
        spec,
        decl,
        range,
        size,
    }
}

impl ImageCase {
    /// `body` as an `image/*` body: when it decodes, one row of the
    /// declared size and channels whose values lie in the range; and the
    /// Open Inference Protocol's path (`decode_images`) gives the same
    /// tensor, or refuses it the same way.
    pub fn check(&self, body: &[u8]) {
        let decoded = run(
            &self.media,
            std::slice::from_ref(&self.spec),
            &BodyKind::Image,
            body,
        );
        let by_v2 = self
            .media
            .decode_images("image", &[body])
            .expect("an image input");
        match (&decoded, &by_v2) {
            (Ok(decoded), Ok(tensor)) => {
                let ours = &decoded.tensors[0];
                assert!(same_bits(ours, tensor), "the v2 path decodes differently");
                self.check_row(ours);
            }
            (Err(a), Err(b)) => assert_eq!(a.refusal, b.refusal, "{a} / {b}"),
            (a, b) => panic!(
                "the body and the v2 path disagree: {:?} / {:?}",
                a.as_ref().map(|d| d.tensors[0].shape().to_vec()),
                b.as_ref().map(|t| t.shape().to_vec())
            ),
        }
    }

    fn check_row(&self, tensor: &Tensor) {
        let decl = &self.decl;
        let shape = tensor.shape();
        assert_eq!(shape.len(), 4, "{decl}");
        assert_eq!(shape[0], 1, "one image, one row: {decl}");
        let channels = if decl["color"] == "gray" { 1 } else { 3 };
        let (c, h, w) = if decl["layout"] == "NCHW" {
            (shape[1], shape[2], shape[3])
        } else {
            (shape[3], shape[1], shape[2])
        };
        assert_eq!(c, channels, "{decl}");
        assert!(h > 0 && w > 0, "{decl}: {shape:?}");
        if let Some(size) = self.size {
            assert_eq!((h, w), size, "{decl}");
        }
        let max = |key: &str| decl[key].as_u64().unwrap_or(4096) as usize;
        if decl.get("resize").is_none() {
            assert!(
                w <= max("maxWidth") && h <= max("maxHeight"),
                "{decl}: {shape:?}"
            );
        } else if decl["resize"].get("shorterSide").is_some() {
            let most = max("maxWidth").max(max("maxHeight"));
            assert!(w <= most && h <= most, "{decl}: {shape:?}");
        }
        let (low, high) = self.range;
        let slack = 1e-4;
        let within = |v: f64| v.is_finite() && v >= low - slack && v <= high + slack;
        let bad = match tensor.data() {
            TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).find(|&x| !within(x)),
            TensorData::F64(v) => v.iter().copied().find(|&x| !within(x)),
            TensorData::U8(_) => None,
            other => panic!("an image row of {}", other.dtype()),
        };
        assert!(
            bad.is_none(),
            "{decl}: value {bad:?} outside {:?}",
            self.range
        );
    }
}

// ---------------------------------------------------------------- npy, raw

/// One input declared `decoder` (npy or raw), as a one-input model.
pub struct Single {
    pub media: MediaInputs,
    pub spec: TensorSpec,
}

fn single(decoder: &str, spec: TensorSpec) -> Single {
    let media = build(
        vec![spec.clone()],
        &[(spec.name.as_str(), json!({"decoder": decoder}))],
    );
    Single { media, spec }
}

/// The `npy` target's inputs: float32 [N, 4], uint8 [N, ?], bool [N],
/// float32 of any shape, int64 [2, 3]; each with the raw input of the same
/// signature where raw can take it (no free dimension after the first).
pub fn npy_inputs() -> &'static [(Single, Option<Single>)] {
    static INPUTS: OnceLock<Vec<(Single, Option<Single>)>> = OnceLock::new();
    INPUTS.get_or_init(|| {
        let specs = [
            (spec("x", DType::F32, Some(vec![n(), Dim::Fixed(4)])), true),
            (spec("x", DType::U8, Some(vec![n(), free()])), false),
            (spec("x", DType::Bool, Some(vec![n()])), true),
            (spec("x", DType::F32, None), false),
            (
                spec("x", DType::I64, Some(vec![Dim::Fixed(2), Dim::Fixed(3)])),
                true,
            ),
        ];
        specs
            .into_iter()
            .map(|(spec, raw)| {
                (
                    single("npy", spec.clone()),
                    raw.then(|| single("raw", spec)),
                )
            })
            .collect()
    })
}

/// The `raw` target's inputs: float32 [N, 4], uint8 [N, 3], bool [N, 2],
/// float64 [N], int16 [2, 3] (a fixed first dimension), uint32 [N, 2, 2],
/// uint8 [3, 0] (rows of nothing).
pub fn raw_inputs() -> &'static [Single] {
    static INPUTS: OnceLock<Vec<Single>> = OnceLock::new();
    INPUTS.get_or_init(|| {
        [
            spec("x", DType::F32, Some(vec![n(), Dim::Fixed(4)])),
            spec("x", DType::U8, Some(vec![n(), Dim::Fixed(3)])),
            spec("x", DType::Bool, Some(vec![n(), Dim::Fixed(2)])),
            spec("x", DType::F64, Some(vec![n()])),
            spec("x", DType::I16, Some(vec![Dim::Fixed(2), Dim::Fixed(3)])),
            spec(
                "x",
                DType::U32,
                Some(vec![n(), Dim::Fixed(2), Dim::Fixed(2)]),
            ),
            spec("x", DType::U8, Some(vec![Dim::Fixed(3), Dim::Fixed(0)])),
        ]
        .into_iter()
        .map(|spec| single("raw", spec))
        .collect()
    })
}

// ---------------------------------------------------------------- multipart

/// The boundary of the `multipart` target's forms.
pub const BOUNDARY: &str = "fuzzboundary";

/// A two-input model: `image`, a gray image stretched to 8x8 (float32
/// [N, 1, 8, 8]), and `meta`, float32 [N, 2] from a `.npy` or raw part.
pub struct FormModel {
    pub media: MediaInputs,
    pub inputs: Vec<TensorSpec>,
}

/// The `multipart` target's models, by the first byte (modulo 4): bit 0
/// meta's decoder (npy, raw), bit 1 the image's filter (nearest,
/// bilinear).
pub fn form_models() -> &'static [FormModel] {
    static MODELS: OnceLock<Vec<FormModel>> = OnceLock::new();
    MODELS.get_or_init(|| {
        let mut models = Vec::new();
        for filter in ["nearest", "bilinear"] {
            for meta in ["npy", "raw"] {
                let inputs = vec![
                    spec(
                        "image",
                        DType::F32,
                        Some(vec![n(), Dim::Fixed(1), Dim::Fixed(8), Dim::Fixed(8)]),
                    ),
                    spec("meta", DType::F32, Some(vec![n(), Dim::Fixed(2)])),
                ];
                let image = json!({
                    "decoder": "image",
                    "color": "gray",
                    "resize": {"width": 8, "height": 8, "filter": filter},
                    "scale": 1.0 / 255.0,
                    "maxWidth": 512,
                    "maxHeight": 512,
                });
                let media = build(
                    inputs.clone(),
                    &[("image", image), ("meta", json!({"decoder": meta}))],
                );
                models.push(FormModel { media, inputs });
            }
        }
        models
    })
}
