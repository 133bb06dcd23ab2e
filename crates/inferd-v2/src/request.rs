//! An infer request body to the model's input tensors, the outputs to
//! return, and the request's reserved parameters.
//!
//! The body is a JSON header, then (with the binary tensor extension) each
//! binary input's raw bytes in the order the header lists them, the
//! header's length given by `Inference-Header-Content-Length`. serde_json
//! reads the header alone, each `data` kept as text ([`RawValue`]); every
//! input is then checked, in the header's order, first for its own sense
//! (name, datatype, shape, sizes against the bytes) and then against the
//! model's signature (datatype, shape), and only then are its values read,
//! straight into the tensor. Nothing is read past the body, whatever a
//! size says.
//!
//! An input that takes encoded images (see `images`) may come as BYTES:
//! its elements are checked with the rest (shape, framing, base64) and
//! decoded last, by the server's decoder, once every input has passed.

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use inferd_tensor::{Dim, Tensor, TensorSpec};

use crate::binary::{RawError, decode_raw};
use crate::bytes::split_bytes_elements;
use crate::data::{DataTarget, decode_json_data};
use crate::images::{EncodedImages, ImageElements, check_base64, decode_elements, image_count_dim};
use crate::json::{NAME_CHARS, Text, clip, dims_text, list_text, names_text, shape_text};
use crate::params::{Params, Place};
use crate::{Datatype, V2Error, V2Model};

/// An optional field that, when given, is of its type: `null` is not an
/// object, a string or a list, so `"parameters": null` is refused as the
/// protocol's schema refuses it (absent is `None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// The request's JSON header, as the protocol and its binary extension
/// define it. Other fields (`model_name`, which some clients send) are
/// ignored.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<Text<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    parameters: Option<Params<'a>>,
    #[serde(borrow)]
    inputs: Vec<InputHeader<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    outputs: Option<Vec<OutputHeader<'a>>>,
}

#[derive(Deserialize)]
struct InputHeader<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    /// Numbers, so a negative or fractional dimension is reported as such
    /// rather than as a type error.
    shape: Vec<serde_json::Number>,
    #[serde(borrow)]
    datatype: Text<'a>,
    #[serde(default, borrow, deserialize_with = "present")]
    parameters: Option<Params<'a>>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct OutputHeader<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(default, borrow, deserialize_with = "present")]
    parameters: Option<Params<'a>>,
}

/// A decoded infer request: everything the server needs to run it and
/// answer it.
#[derive(Debug, Clone, PartialEq)]
pub struct InferRequest {
    /// The request's `id`, to echo in the response.
    pub id: Option<String>,
    /// One tensor per model input, in the signature's order.
    pub inputs: Vec<Tensor>,
    /// Which outputs to return, in what order, and how.
    pub outputs: OutputPlan,
    /// The reserved `timeout` parameter: microseconds, 0 (or absent)
    /// meaning none, as Triton reads it. The server bounds it by its own
    /// limits.
    pub timeout: Option<Duration>,
    /// The reserved `priority` parameter (0 or absent: the default).
    /// Accepted; inferd has one priority.
    pub priority: Option<u64>,
}

/// The outputs a response carries, in the order it carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputPlan {
    choices: Vec<OutputChoice>,
}

/// One output of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputChoice {
    /// The output's index in the model's signature.
    pub index: usize,
    /// Whether its values go as raw bytes after the JSON header.
    pub binary: bool,
}

impl OutputPlan {
    /// Every one of `count` outputs, in the model's order.
    pub fn all(count: usize, binary: bool) -> OutputPlan {
        OutputPlan {
            choices: (0..count)
                .map(|index| OutputChoice { index, binary })
                .collect(),
        }
    }

    /// The outputs in the order the response lists them: as requested, or
    /// the model's when none were named.
    pub fn choices(&self) -> &[OutputChoice] {
        &self.choices
    }

    /// Whether the output at `index` of the signature is returned; an
    /// engine that can compute only some outputs needs no others.
    pub fn wants(&self, index: usize) -> bool {
        self.choices.iter().any(|c| c.index == index)
    }

    /// The same outputs, every one as JSON `data` (for a record a person
    /// reads, such as data collection's).
    pub fn as_json(&self) -> OutputPlan {
        OutputPlan {
            choices: self
                .choices
                .iter()
                .map(|c| OutputChoice {
                    binary: false,
                    ..*c
                })
                .collect(),
        }
    }

    /// Whether the response has binary data (and so needs
    /// `Inference-Header-Content-Length`).
    pub fn any_binary(&self) -> bool {
        self.choices.iter().any(|c| c.binary)
    }
}

/// Reads an `Inference-Header-Content-Length` header's value.
pub fn parse_header_length(value: &[u8]) -> Result<usize, V2Error> {
    let text = std::str::from_utf8(value).unwrap_or("").trim();
    match text.parse::<usize>() {
        Ok(n) if text.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(V2Error::HeaderLength {
            value: String::from_utf8_lossy(&value[..value.len().min(40)]).into_owned(),
        }),
    }
}

/// Decodes `body` for `model`. `header_length` is the
/// `Inference-Header-Content-Length` value: `None` (or 0, as Triton reads
/// it) when the whole body is JSON. `images` says which inputs take
/// encoded images, and decodes them once every rule has held.
pub(crate) fn decode_request<I: EncodedImages>(
    model: &V2Model,
    body: &[u8],
    header_length: Option<usize>,
    images: &mut I,
) -> Result<InferRequest, I::Error> {
    let checked = check_request(model, body, header_length, &|input| {
        images.takes_encoded_images(input)
    })?;
    let mut inputs = Vec::with_capacity(checked.slots.len());
    for (slot, spec) in checked.slots.into_iter().zip(&model.signature().inputs) {
        inputs.push(match slot {
            Slot::Tensor(tensor) => tensor,
            Slot::Images(elements) => decode_elements(&spec.name, elements, images)?,
        });
    }
    Ok(InferRequest {
        id: checked.id,
        inputs,
        outputs: checked.outputs,
        timeout: checked.timeout,
        priority: checked.priority,
    })
}

/// A request every rule has passed, its encoded images not yet decoded.
struct Checked<'a> {
    id: Option<String>,
    /// One per model input, in the signature's order.
    slots: Vec<Slot<'a>>,
    outputs: OutputPlan,
    timeout: Option<Duration>,
    priority: Option<u64>,
}

/// One input as read from the request.
enum Slot<'a> {
    Tensor(Tensor),
    Images(ImageElements<'a>),
}

/// Every rule of the request, checked; the values read into tensors but
/// for encoded images. `takes_images` says which inputs take them.
fn check_request<'a>(
    model: &V2Model,
    body: &'a [u8],
    header_length: Option<usize>,
    takes_images: &dyn Fn(&str) -> bool,
) -> Result<Checked<'a>, V2Error> {
    let (json, binary) = match header_length {
        None | Some(0) => (body, &[][..]),
        Some(n) if n > body.len() => {
            return Err(V2Error::HeaderPastBody {
                header: n,
                body: body.len(),
            });
        }
        Some(n) => body.split_at(n),
    };
    let has_binary_part = matches!(header_length, Some(n) if n > 0);
    let header: Header<'_> = serde_json::from_slice(json).map_err(|e| V2Error::InvalidJson {
        // serde's messages quote what came: clipped.
        reason: clip(&e.to_string(), 240),
    })?;

    let params = header.parameters.unwrap_or_default();
    let place = Place::Request;
    for name in ["sequence_id", "sequence_start", "sequence_end"] {
        params.refuse_if_set(&place, name, "sequence batching")?;
    }
    let binary_output = params.bool(&place, "binary_data_output")?.unwrap_or(false);
    let timeout = params
        .count(&place, "timeout")?
        .filter(|&us| us > 0)
        .map(Duration::from_micros);
    let priority = params.count(&place, "priority")?;
    // Before the inputs: a wrong output name costs no decoding.
    let outputs = output_plan(model, header.outputs.as_deref(), binary_output)?;

    let specs = &model.signature().inputs;
    let mut slots: Vec<Option<Slot<'a>>> = specs.iter().map(|_| None).collect();
    let mut reader = BinaryReader {
        binary,
        offset: 0,
        present: has_binary_part,
    };
    for input in &header.inputs {
        let Some(index) = specs.iter().position(|s| s.name == *input.name) else {
            return Err(V2Error::UnknownInput {
                input: clip(&input.name, NAME_CHARS),
                expected: names_text(specs.iter().map(|s| s.name.as_str())),
            });
        };
        if slots[index].is_some() {
            return Err(V2Error::DuplicateInput {
                input: input.name.to_string(),
            });
        }
        slots[index] = Some(decode_input(
            input,
            &specs[index],
            &mut reader,
            takes_images,
        )?);
    }
    if reader.offset != binary.len() {
        return Err(V2Error::BinaryLeftOver {
            used: reader.offset,
            available: binary.len(),
        });
    }
    let mut inputs = Vec::with_capacity(specs.len());
    for (slot, spec) in slots.into_iter().zip(specs) {
        let Some(slot) = slot else {
            return Err(V2Error::MissingInput {
                input: spec.name.clone(),
                datatype: Datatype::of(spec.dtype).to_string(),
                shape: dims_text(spec.shape.as_deref()),
                expected: names_text(specs.iter().map(|s| s.name.as_str())),
            });
        };
        inputs.push(slot);
    }

    Ok(Checked {
        id: header.id.map(|id| id.0.into_owned()),
        slots: inputs,
        outputs,
        timeout,
        priority,
    })
}

/// The binary part of a body, handed out in the header's order.
struct BinaryReader<'b> {
    binary: &'b [u8],
    offset: usize,
    /// Whether the request has a binary part at all (a header length).
    present: bool,
}

impl<'b> BinaryReader<'b> {
    /// The next `size` bytes, for input `input`.
    fn take(&mut self, input: &str, size: u64) -> Result<&'b [u8], V2Error> {
        if !self.present {
            return Err(V2Error::BinaryWithoutHeader {
                input: input.to_owned(),
            });
        }
        let past = || V2Error::BinaryPastBody {
            input: input.to_owned(),
            start: self.offset,
            size,
            available: self.binary.len(),
        };
        let end = usize::try_from(size)
            .ok()
            .and_then(|size| self.offset.checked_add(size))
            .filter(|&end| end <= self.binary.len())
            .ok_or_else(past)?;
        let bytes = &self.binary[self.offset..end];
        self.offset = end;
        Ok(bytes)
    }
}

/// Where an input's values are.
enum Values<'a> {
    Json(&'a RawValue),
    Raw(&'a [u8]),
    /// BYTES elements of binary data, their framing checked.
    Bytes(Vec<&'a [u8]>),
}

fn decode_input<'a>(
    input: &InputHeader<'a>,
    spec: &TensorSpec,
    reader: &mut BinaryReader<'a>,
    takes_images: &dyn Fn(&str) -> bool,
) -> Result<Slot<'a>, V2Error> {
    let name = &*input.name;
    let datatype = Datatype::parse(&input.datatype).ok_or_else(|| V2Error::UnknownDatatype {
        input: name.to_owned(),
        received: clip(&input.datatype, NAME_CHARS),
        known: Datatype::ALL.map(Datatype::as_str).join(", "),
    })?;
    let shape = read_shape(name, &input.shape)?;
    let overflow = || V2Error::ShapeOverflow {
        input: name.to_owned(),
        shape: shape_text(&shape),
        datatype: datatype.to_string(),
    };
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(overflow)?;

    // The request's own sense: its values agree with its shape and datatype.
    let no_params = Params::default();
    let params = input.parameters.as_ref().unwrap_or(&no_params);
    let place = Place::Input(name);
    params.refuse_if_set(&place, "shared_memory_region", "shared memory")?;
    let binary_size = params.count(&place, "binary_data_size")?;
    let values = match (input.data, binary_size) {
        (Some(_), Some(_)) => {
            return Err(V2Error::DataAndBinary {
                input: name.to_owned(),
            });
        }
        (None, None) => {
            return Err(V2Error::NoData {
                input: name.to_owned(),
            });
        }
        (Some(raw), None) => Values::Json(raw),
        (None, Some(size)) => {
            let bytes = reader.take(name, size)?;
            match datatype.element_size() {
                Some(element) => {
                    let expected = count.checked_mul(element).ok_or_else(overflow)?;
                    if expected != bytes.len() {
                        return Err(V2Error::BinarySize {
                            input: name.to_owned(),
                            shape: shape_text(&shape),
                            datatype: datatype.to_string(),
                            expected,
                            received: size,
                        });
                    }
                    Values::Raw(bytes)
                }
                None => Values::Bytes(split_bytes_elements(bytes, count).map_err(|reason| {
                    V2Error::BytesFraming {
                        input: name.to_owned(),
                        reason,
                    }
                })?),
            }
        }
    };

    // Encoded images for an input that takes them: one per element, its
    // own rules (the tensor is the decoder's).
    if datatype == Datatype::Bytes && takes_images(name) {
        return image_elements(name, spec, &shape, values).map(Slot::Images);
    }

    // Against the model: its datatype and shape.
    let expected = Datatype::of(spec.dtype);
    if datatype != expected {
        return Err(match datatype.unsupported_reason() {
            Some(reason) => V2Error::UnsupportedDatatype {
                input: name.to_owned(),
                received: datatype.to_string(),
                expected: expected.to_string(),
                reason: reason.to_owned(),
            },
            None => V2Error::WrongDatatype {
                input: name.to_owned(),
                expected: expected.to_string(),
                received: datatype.to_string(),
            },
        });
    }
    if let Some(dims) = &spec.shape
        && !fits(dims, &shape)
    {
        return Err(V2Error::WrongShape {
            input: name.to_owned(),
            expected: dims_text(Some(dims)),
            datatype: datatype.to_string(),
            received: shape_text(&shape),
        });
    }
    // As `/score` does: an empty tensor is refused, not handed to an engine.
    if count == 0 {
        return Err(V2Error::EmptyTensor {
            input: name.to_owned(),
            shape: shape_text(&shape),
        });
    }

    let data = match values {
        Values::Json(raw) => decode_json_data(
            raw,
            &DataTarget {
                input: name,
                datatype,
                dtype: spec.dtype,
                shape: &shape,
                count,
            },
        )?,
        Values::Raw(bytes) => decode_raw(bytes, spec.dtype).map_err(|e| match e {
            RawError::NotBool { index, byte } => V2Error::NotBool {
                input: name.to_owned(),
                index,
                byte,
            },
            // A guard: the size was checked against the shape above.
            RawError::Length => V2Error::BinarySize {
                input: name.to_owned(),
                shape: shape_text(&shape),
                datatype: datatype.to_string(),
                expected: count.saturating_mul(datatype.element_size().unwrap_or(1)),
                received: bytes.len() as u64,
            },
        })?,
        Values::Bytes(_) => unreachable!("BYTES matches no model datatype: refused above"),
    };
    if data.len() != count {
        return Err(V2Error::DataCount {
            input: name.to_owned(),
            shape: shape_text(&shape),
            expected: count,
            received: data.len().to_string(),
        });
    }
    Ok(Slot::Tensor(
        Tensor::new(shape, data).expect("the element count was checked against the shape"),
    ))
}

/// An image input's BYTES elements checked: shape `[N]` (N the model's
/// first dimension when fixed), at least one, and in JSON each element
/// base64 text.
fn image_elements<'a>(
    name: &str,
    spec: &TensorSpec,
    shape: &[usize],
    values: Values<'a>,
) -> Result<ImageElements<'a>, V2Error> {
    let first = image_count_dim(spec.shape.as_deref());
    let count = match shape {
        [n] if first < 0 || u64::try_from(first) == Ok(*n as u64) => *n,
        _ => {
            return Err(V2Error::WrongShape {
                input: name.to_owned(),
                expected: list_text([first].iter()),
                datatype: "BYTES, one encoded image per element".to_owned(),
                received: shape_text(shape),
            });
        }
    };
    if count == 0 {
        return Err(V2Error::EmptyTensor {
            input: name.to_owned(),
            shape: shape_text(shape),
        });
    }
    match values {
        Values::Bytes(elements) => Ok(ImageElements::Binary(elements)),
        Values::Json(raw) => json_images(name, shape, count, raw),
        // BYTES has no element size, so its binary data is always split.
        Values::Raw(_) => unreachable!("BYTES binary data is read as elements"),
    }
}

/// An image input's JSON `data`: `count` strings, each base64 text.
fn json_images<'a>(
    name: &str,
    shape: &[usize],
    count: usize,
    raw: &'a RawValue,
) -> Result<ImageElements<'a>, V2Error> {
    let text: &'a str = raw.get();
    // The header was read as JSON, so this fails only for a value that is
    // not a list; its items stay text (no copy of the images).
    let items: Vec<&'a RawValue> =
        serde_json::from_str(text).map_err(|_| V2Error::DataNotList {
            input: name.to_owned(),
            received: json_kind(text).to_owned(),
        })?;
    if items.len() != count {
        return Err(V2Error::DataCount {
            input: name.to_owned(),
            shape: shape_text(shape),
            expected: count,
            received: items.len().to_string(),
        });
    }
    let mut texts = Vec::with_capacity(count);
    let mut bytes = 0u64;
    for (index, item) in items.into_iter().enumerate() {
        let item: &'a str = item.get();
        if item.starts_with('[') {
            return Err(V2Error::DataNesting {
                input: name.to_owned(),
                shape: shape_text(shape),
                rank: 1,
                depth: 2,
            });
        }
        let Ok(Text(element)) = serde_json::from_str::<Text<'a>>(item) else {
            return Err(V2Error::DataElement {
                input: name.to_owned(),
                index,
                datatype: "BYTES (an encoded image as base64 text)".to_owned(),
                received: json_kind(item).to_owned(),
            });
        };
        let held = check_base64(&element).map_err(|reason| V2Error::NotBase64 {
            input: name.to_owned(),
            index,
            reason: reason.to_string(),
        })?;
        bytes = bytes.saturating_add(held);
        texts.push(element);
    }
    Ok(ImageElements::Base64 { texts, bytes })
}

/// What kind of JSON value `text` (valid JSON) is, for messages.
fn json_kind(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'[') => "a list",
        Some(b'{') => "an object",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// The dimensions of a request's shape: whole numbers, 0 or more.
fn read_shape(input: &str, dims: &[serde_json::Number]) -> Result<Vec<usize>, V2Error> {
    dims.iter()
        .map(|dim| {
            if let Some(n) = dim.as_u64() {
                usize::try_from(n).map_err(|_| V2Error::ShapeOverflow {
                    input: input.to_owned(),
                    shape: crate::json::list_text(dims.iter()),
                    datatype: "any datatype".to_owned(),
                })
            } else if dim.as_i64().is_some() {
                Err(V2Error::NegativeDim {
                    input: input.to_owned(),
                    shape: crate::json::list_text(dims.iter()),
                })
            } else {
                Err(V2Error::NotIntegerDim {
                    input: input.to_owned(),
                    received: clip(&dim.to_string(), NAME_CHARS),
                })
            }
        })
        .collect()
}

/// Whether a request's `shape` fits the declared `dims`: same rank, fixed
/// dimensions equal.
fn fits(dims: &[Dim], shape: &[usize]) -> bool {
    dims.len() == shape.len() && dims.iter().zip(shape).all(|(d, &n)| d.accepts(n))
}

/// The outputs to return: those requested (in the request's order), or
/// all of the model's. `binary_data` on an output overrides the request's
/// `binary_data_output`.
fn output_plan(
    model: &V2Model,
    requested: Option<&[OutputHeader<'_>]>,
    binary_output: bool,
) -> Result<OutputPlan, V2Error> {
    let specs = &model.signature().outputs;
    let requested = match requested {
        None | Some([]) => return Ok(OutputPlan::all(specs.len(), binary_output)),
        Some(list) => list,
    };
    let mut choices: Vec<OutputChoice> = Vec::with_capacity(requested.len());
    for output in requested {
        let name = &*output.name;
        let Some(index) = specs.iter().position(|s| s.name == name) else {
            return Err(V2Error::UnknownOutput {
                output: clip(name, NAME_CHARS),
                expected: names_text(specs.iter().map(|s| s.name.as_str())),
            });
        };
        if choices.iter().any(|c| c.index == index) {
            return Err(V2Error::DuplicateOutput {
                output: name.to_owned(),
            });
        }
        let no_params = Params::default();
        let params = output.parameters.as_ref().unwrap_or(&no_params);
        let place = Place::Output(name);
        params.refuse_if_set(&place, "shared_memory_region", "shared memory")?;
        params.refuse_if_set(&place, "classification", "classification")?;
        let binary = params.bool(&place, "binary_data")?.unwrap_or(binary_output);
        choices.push(OutputChoice { index, binary });
    }
    Ok(OutputPlan { choices })
}
