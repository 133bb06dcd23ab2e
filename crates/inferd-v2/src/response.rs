//! Output tensors to an infer response body, and a client's request body
//! made from tensors (for `inferd bench` and the tests).
//!
//! A response is `{"model_name", "model_version", "id"?, "outputs": [...]}`
//! with each output's values either as flat row-major JSON `data` or, when
//! asked for as binary, as `parameters.binary_data_size` in the JSON and
//! its raw bytes after it, in the order the JSON lists them. The body is
//! written in one buffer sized up front: the JSON by hand (serde_json only
//! for strings and value lists), the raw bytes straight from each tensor.

use inferd_tensor::{Tensor, for_each_data};

use crate::binary::{encode_raw, raw_size};
use crate::json::{write_shape, write_str};
use crate::{Datatype, EncodeError, OutputPlan, V2Model};

/// A body of the protocol and, when it carries binary data, the length of
/// its JSON header (the `Inference-Header-Content-Length` header's value;
/// such a body goes as `application/octet-stream`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBody {
    pub body: Vec<u8>,
    /// `None`: the body is all JSON (`application/json`).
    pub header_length: Option<usize>,
}

/// The response to a request with `plan` and `id`; `outputs` are all of
/// the model's outputs, in the signature's order, as the engine gives them.
pub(crate) fn encode_response(
    model: &V2Model,
    plan: &OutputPlan,
    id: Option<&str>,
    outputs: &[Tensor],
) -> Result<EncodedBody, EncodeError> {
    let specs = &model.signature().outputs;
    if outputs.len() != specs.len() {
        return Err(EncodeError::OutputCount {
            expected: specs.len(),
            received: outputs.len(),
        });
    }
    if let Some(choice) = plan.choices().iter().find(|c| c.index >= outputs.len()) {
        return Err(EncodeError::OutputCount {
            expected: choice.index + 1,
            received: outputs.len(),
        });
    }
    let size = 96
        + model.name().len()
        + model.version().len()
        + id.map_or(0, str::len)
        + plan
            .choices()
            .iter()
            .map(|c| {
                let data = outputs[c.index].data();
                // JSON values average under 12 bytes each.
                96 + specs[c.index].name.len()
                    + if c.binary {
                        raw_size(data)
                    } else {
                        data.len() * 12
                    }
            })
            .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"{\"model_name\":");
    write_str(&mut out, model.name());
    out.extend_from_slice(b",\"model_version\":");
    write_str(&mut out, model.version());
    if let Some(id) = id {
        out.extend_from_slice(b",\"id\":");
        write_str(&mut out, id);
    }
    out.extend_from_slice(b",\"outputs\":[");
    for (n, choice) in plan.choices().iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_tensor_head(&mut out, &specs[choice.index].name, &outputs[choice.index]);
        let data = outputs[choice.index].data();
        if choice.binary {
            out.extend_from_slice(b",\"parameters\":{\"binary_data_size\":");
            serde_json::to_writer(&mut out, &raw_size(data)).expect("writing to a Vec cannot fail");
            out.push(b'}');
        } else {
            out.extend_from_slice(b",\"data\":");
            // Non-finite floats, which JSON cannot carry, are written as
            // null (numpy reads null as NaN for a float array).
            for_each_data!(data, values => serde_json::to_writer(&mut out, values))
                .expect("writing to a Vec cannot fail");
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    let binary = plan.choices().iter().filter(|c| c.binary);
    Ok(append_binary(
        out,
        plan.any_binary(),
        binary.map(|c| &outputs[c.index]),
    ))
}

/// `{"name":...,"datatype":...,"shape":[...]`, left open for the values.
fn write_tensor_head(out: &mut Vec<u8>, name: &str, tensor: &Tensor) {
    out.extend_from_slice(b"{\"name\":");
    write_str(out, name);
    out.extend_from_slice(b",\"datatype\":\"");
    out.extend_from_slice(Datatype::of(tensor.dtype()).as_str().as_bytes());
    out.extend_from_slice(b"\",\"shape\":");
    write_shape(out, tensor.shape());
}

/// Appends the binary tensors after the JSON header `out`. `binary`: the
/// header announces binary data, so the body needs its header length,
/// even when every binary tensor is zero bytes.
fn append_binary<'t>(
    mut out: Vec<u8>,
    binary: bool,
    tensors: impl Iterator<Item = &'t Tensor>,
) -> EncodedBody {
    let header_length = out.len();
    for tensor in tensors {
        encode_raw(&mut out, tensor.data());
    }
    EncodedBody {
        header_length: binary.then_some(header_length),
        body: out,
    }
}

/// A request body for `inputs` (name and tensor, in any order): every
/// input's values as raw bytes after the JSON (`binary`), or as JSON
/// `data`. All outputs are asked for, as binary when `binary_output`. What
/// `tritonclient` sends by default is `binary` and `binary_output` both.
pub fn encode_request(
    inputs: &[(&str, &Tensor)],
    binary: bool,
    binary_output: bool,
) -> EncodedBody {
    let size = 64
        + inputs
            .iter()
            .map(|(name, t)| {
                96 + name.len()
                    + if binary {
                        raw_size(t.data())
                    } else {
                        t.data().len() * 12
                    }
            })
            .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.push(b'{');
    if binary_output {
        out.extend_from_slice(b"\"parameters\":{\"binary_data_output\":true},");
    }
    out.extend_from_slice(b"\"inputs\":[");
    for (n, (name, tensor)) in inputs.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_tensor_head(&mut out, name, tensor);
        if binary {
            out.extend_from_slice(b",\"parameters\":{\"binary_data_size\":");
            serde_json::to_writer(&mut out, &raw_size(tensor.data()))
                .expect("writing to a Vec cannot fail");
            out.push(b'}');
        } else {
            out.extend_from_slice(b",\"data\":");
            for_each_data!(tensor.data(), values => serde_json::to_writer(&mut out, values))
                .expect("writing to a Vec cannot fail");
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    let tensors = inputs.iter().filter(|_| binary).map(|(_, t)| *t);
    append_binary(out, binary, tensors)
}
