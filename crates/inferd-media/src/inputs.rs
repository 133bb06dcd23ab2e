//! [`MediaInputs`]: one model's declared binary inputs, the crate's door.
//! Built at start-up from the inference config's `inputs` and the model's
//! signature; per request, [`MediaInputs::parse`] splits a body into each
//! input's items (on the HTTP side: cheap, and it says how many bytes the
//! tensors will take, for the memory budget) and [`MediaInputs::decode`]
//! turns them into tensors (on the model's worker).

use std::collections::BTreeMap;

use bytes::Bytes;
use inferd_config::{DecoderKind, InputDecoder};
use inferd_tensor::{Signature, Tensor, TensorData, TensorSpec};

use crate::body_kind::BodyKind;
use crate::error::{DeclarationError, MediaError};
use crate::image::ImageInput;
use crate::multipart;
use crate::raw::{RawInput, npy_tensor};

/// A model's binary inputs, in its signature's order.
#[derive(Debug)]
pub struct MediaInputs {
    inputs: Vec<Declared>,
    /// Every input's name, in order (a form's parts are named so).
    names: Vec<String>,
}

#[derive(Debug)]
struct Declared {
    spec: TensorSpec,
    decoder: Decoder,
    /// The most bytes one item (one image) becomes; npy and raw items
    /// become as many bytes as they hold.
    item_bytes: Option<u64>,
}

#[derive(Debug)]
enum Decoder {
    /// Not declared: only JSON feeds it.
    None,
    Image(Box<ImageInput>),
    Npy,
    Raw(RawInput),
}

/// A body split into each input's items, not yet decoded.
#[derive(Debug)]
pub struct Parsed {
    /// Per input in signature order, its items (images are one each).
    items: Vec<Vec<Bytes>>,
    single_image: bool,
    tensor_bytes: u64,
}

impl Parsed {
    /// The most bytes the decoded tensors take (reserve them first).
    pub fn tensor_bytes(&self) -> u64 {
        self.tensor_bytes
    }
}

/// A body's tensors, in signature order.
#[derive(Debug)]
pub struct Decoded {
    pub tensors: Vec<Tensor>,
    /// The body was one image on its own (not a form): its answer is that
    /// image's, not a list of rows.
    pub single_image: bool,
}

impl MediaInputs {
    /// The declarations of `declared` (by input name) checked against
    /// `signature`; `None` when there are none. Errors name the key under
    /// `inputs` (`input.resize.width`).
    pub fn build(
        declared: &BTreeMap<String, InputDecoder>,
        signature: &Signature,
    ) -> Result<Option<MediaInputs>, DeclarationError> {
        if declared.is_empty() {
            return Ok(None);
        }
        if let Some(name) = declared
            .keys()
            .find(|name| !signature.inputs.iter().any(|spec| &spec.name == *name))
        {
            return Err(DeclarationError::new(
                name.clone(),
                format!(
                    "the model has no input '{name}'; its inputs are {}",
                    quoted(signature.inputs.iter().map(|s| s.name.as_str()))
                ),
            ));
        }
        let mut inputs = Vec::with_capacity(signature.inputs.len());
        for spec in &signature.inputs {
            let place = |e: DeclarationError| {
                DeclarationError::new(format!("{}.{}", spec.name, e.key), e.reason)
            };
            let (decoder, item_bytes) = match declared.get(&spec.name) {
                None => (Decoder::None, None),
                Some(decl) => match decl.decoder {
                    DecoderKind::Image => {
                        let image = ImageInput::new(decl, spec).map_err(place)?;
                        let bytes = image.most_row_bytes();
                        (Decoder::Image(Box::new(image)), Some(bytes))
                    }
                    DecoderKind::Npy => (Decoder::Npy, None),
                    DecoderKind::Raw => (Decoder::Raw(RawInput::new(spec).map_err(place)?), None),
                },
            };
            inputs.push(Declared {
                spec: spec.clone(),
                decoder,
                item_bytes,
            });
        }
        Ok(Some(MediaInputs {
            names: signature.inputs.iter().map(|s| s.name.clone()).collect(),
            inputs,
        }))
    }

    /// The content types the model takes, besides JSON.
    pub fn content_types(&self) -> Vec<&'static str> {
        let mut types: Vec<&'static str> = Vec::new();
        if let [only] = self.inputs.as_slice() {
            types.extend(only.content_types());
        }
        if self
            .inputs
            .iter()
            .all(|d| !matches!(d.decoder, Decoder::None))
        {
            types.push("multipart/form-data");
        }
        types
    }

    /// Each declared input: its name, decoder and content types.
    pub fn declared(&self) -> impl Iterator<Item = (&str, DecoderKind, Vec<&'static str>)> {
        self.inputs.iter().filter_map(|d| {
            let kind = match d.decoder {
                Decoder::None => return None,
                Decoder::Image(_) => DecoderKind::Image,
                Decoder::Npy => DecoderKind::Npy,
                Decoder::Raw(_) => DecoderKind::Raw,
            };
            Some((d.spec.name.as_str(), kind, d.content_types()))
        })
    }

    /// Whether input `name` is an image input, which takes encoded images
    /// as the Open Inference Protocol's BYTES elements.
    pub fn takes_encoded_images(&self, name: &str) -> bool {
        self.inputs
            .iter()
            .any(|d| d.spec.name == name && matches!(d.decoder, Decoder::Image(_)))
    }

    /// The most bytes `count` encoded images for input `name` become.
    pub fn image_bytes(&self, name: &str, count: usize) -> u64 {
        self.inputs
            .iter()
            .find(|d| d.spec.name == name)
            .and_then(|d| d.item_bytes)
            .unwrap_or(0)
            .saturating_mul(count as u64)
    }

    /// Input `name`'s tensor from encoded images (one row each), as the
    /// Open Inference Protocol's BYTES elements carry them; `None` when it
    /// is not an image input.
    pub fn decode_images(
        &self,
        name: &str,
        images: &[&[u8]],
    ) -> Option<Result<Tensor, MediaError>> {
        let input = self.inputs.iter().find(|d| d.spec.name == name)?;
        let Decoder::Image(image) = &input.decoder else {
            return None;
        };
        Some(decode_images(image, images, name, false))
    }

    /// `body`, announced as `kind`, split into each input's items.
    pub fn parse(&self, kind: &BodyKind, body: Bytes) -> Result<Parsed, MediaError> {
        let mut items: Vec<Vec<Bytes>> = vec![Vec::new(); self.inputs.len()];
        let single_image = *kind == BodyKind::Image;
        match kind {
            BodyKind::Multipart(boundary) => {
                if let Some(missing) = self
                    .inputs
                    .iter()
                    .find(|d| matches!(d.decoder, Decoder::None))
                {
                    return Err(MediaError::unsupported(format!(
                        "input '{}' has no declared decoder, so the model takes a form only when every input has one; send JSON",
                        missing.spec.name
                    )));
                }
                for part in multipart::parts(body, boundary, &self.names)? {
                    let at = self
                        .names
                        .iter()
                        .position(|n| *n == part.name)
                        .expect("multer keeps only the allowed names");
                    let input = &self.inputs[at];
                    if !matches!(input.decoder, Decoder::Image(_)) && !items[at].is_empty() {
                        return Err(MediaError::bad_request(format!(
                            "the form has two parts for input '{}'; only an image input takes several (one image each)",
                            part.name
                        )));
                    }
                    items[at].push(part.data);
                }
                if let Some(at) = items.iter().position(Vec::is_empty) {
                    return Err(MediaError::bad_request(format!(
                        "the form has no part for input '{}'; it needs one per input ({})",
                        self.names[at],
                        quoted(self.names.iter().map(String::as_str))
                    )));
                }
            }
            single => {
                let [only] = self.inputs.as_slice() else {
                    return Err(MediaError::bad_request(format!(
                        "the model has {} inputs ({}): send multipart/form-data with one part per input",
                        self.inputs.len(),
                        quoted(self.names.iter().map(String::as_str))
                    )));
                };
                if !only.takes(single) {
                    return Err(MediaError::unsupported(format!(
                        "input '{}' takes {}, not {}",
                        only.spec.name,
                        one_of(&only.content_types()),
                        single.name()
                    )));
                }
                items[0].push(body);
            }
        }
        let tensor_bytes = self
            .inputs
            .iter()
            .zip(&items)
            .map(|(input, items)| match input.item_bytes {
                Some(each) => each.saturating_mul(items.len() as u64),
                None => items.iter().map(|b| b.len() as u64).sum(),
            })
            .fold(0u64, u64::saturating_add);
        Ok(Parsed {
            items,
            single_image,
            tensor_bytes,
        })
    }

    /// The tensors of a parsed body; every input's rows must agree.
    pub fn decode(&self, parsed: Parsed) -> Result<Decoded, MediaError> {
        let mut tensors = Vec::with_capacity(self.inputs.len());
        for (input, items) in self.inputs.iter().zip(parsed.items) {
            let name = &input.spec.name;
            let tensor = match &input.decoder {
                // parse() gives no undeclared input items; refused, not a
                // panic, if a caller's Parsed came from elsewhere.
                Decoder::None => {
                    return Err(MediaError::unsupported(format!(
                        "input '{name}' has no declared decoder"
                    )));
                }
                Decoder::Image(image) => {
                    let images: Vec<&[u8]> = items.iter().map(|b| &b[..]).collect();
                    decode_images(image, &images, name, parsed.single_image)?
                }
                Decoder::Npy => npy_tensor(&items[0], &input.spec)
                    .map_err(|e| e.at(&format!("input '{name}'")))?,
                Decoder::Raw(raw) => raw
                    .decode(&items[0])
                    .map_err(|e| e.at(&format!("input '{name}'")))?,
            };
            tensors.push(tensor);
        }
        let rows = |t: &Tensor| t.shape().first().copied();
        if let Some((at, t)) = tensors
            .iter()
            .enumerate()
            .find(|(_, t)| rows(t) != rows(&tensors[0]))
        {
            return Err(MediaError::bad_request(format!(
                "input '{}' has {} rows, and input '{}' has {}: every input needs the same number",
                self.names[0],
                rows(&tensors[0]).unwrap_or(0),
                self.names[at],
                rows(t).unwrap_or(0)
            )));
        }
        Ok(Decoded {
            tensors,
            single_image: parsed.single_image,
        })
    }
}

impl Declared {
    fn takes(&self, kind: &BodyKind) -> bool {
        matches!(
            (&self.decoder, kind),
            (Decoder::Image(_), BodyKind::Image)
                | (Decoder::Npy, BodyKind::Npy)
                | (Decoder::Raw(_), BodyKind::Raw)
        )
    }

    fn content_types(&self) -> Vec<&'static str> {
        match &self.decoder {
            Decoder::None => Vec::new(),
            Decoder::Image(image) => image.formats().iter().map(|f| f.media_type()).collect(),
            Decoder::Npy => vec!["application/x-npy"],
            Decoder::Raw(_) => vec!["application/octet-stream"],
        }
    }
}

/// The images of one input as its rows, all of one shape.
fn decode_images(
    image: &ImageInput,
    items: &[&[u8]],
    name: &str,
    single: bool,
) -> Result<Tensor, MediaError> {
    let mut data = TensorData::with_capacity(image.dtype(), 0);
    let mut row_shape: Option<[usize; 3]> = None;
    for (index, item) in items.iter().enumerate() {
        let place = || {
            if single {
                format!("input '{name}'")
            } else {
                format!("input '{name}', image {}", index + 1)
            }
        };
        let shape = image
            .decode_row(item, &mut data)
            .map_err(|e| e.at(&place()))?;
        match row_shape {
            None => row_shape = Some(shape),
            Some(first) if first != shape => {
                return Err(MediaError::bad_request(format!(
                    "{}: became {}, and image 1 {}; declare a resize so every image has one size",
                    place(),
                    inferd_tensor::signature::format_dims(&shape),
                    inferd_tensor::signature::format_dims(&first)
                )));
            }
            Some(_) => {}
        }
    }
    let row_shape = row_shape.unwrap_or_default();
    let mut shape = Vec::with_capacity(4);
    shape.push(items.len());
    shape.extend_from_slice(&row_shape);
    Tensor::new(shape, data).map_err(|e| MediaError::bad_request(format!("input '{name}': {e}")))
}

fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a`, `a or b`, `a, b or c`.
fn one_of(types: &[&str]) -> String {
    match types {
        [] => "nothing".into(),
        [only] => (*only).into(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}
