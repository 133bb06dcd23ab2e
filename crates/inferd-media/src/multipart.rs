//! A `multipart/form-data` body as its parts, by name: the body is already
//! in memory (read under the server's limits), so `multer` parses it as a
//! one-chunk stream whose every step is ready, without a runtime.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::FutureExt;
use multer::{Constraints, Multipart};

use crate::error::MediaError;

/// One part of a form: its name and its bytes.
#[derive(Debug)]
pub(crate) struct Part {
    pub name: String,
    pub data: Bytes,
}

/// The parts of `body`, in order; a part whose name is not in `names`, or
/// that has none, is refused naming it.
pub(crate) fn parts(
    body: Bytes,
    boundary: &str,
    names: &[String],
) -> Result<Vec<Part>, MediaError> {
    let length = body.len() as u64;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, Infallible>(body) });
    let constraints = Constraints::new()
        .allowed_fields(names.to_vec())
        .size_limit(multer::SizeLimit::new().whole_stream(length));
    let mut form = Multipart::with_constraints(stream, boundary.to_owned(), constraints);
    let mut parts = Vec::new();
    loop {
        let index = parts.len() + 1;
        let field = ready(form.next_field())?.map_err(|e| refused(e, index, names))?;
        let Some(field) = field else { break };
        let Some(name) = field.name().map(str::to_owned) else {
            return Err(MediaError::bad_request(format!(
                "part {index} of the form has no name; name each part as the input it is for ({})",
                names.join(", ")
            )));
        };
        let data = ready(field.bytes())?.map_err(|e| refused(e, index, names))?;
        parts.push(Part { name, data });
    }
    if parts.is_empty() {
        return Err(MediaError::bad_request(format!(
            "the form has no part; send one per input ({})",
            names.join(", ")
        )));
    }
    Ok(parts)
}

/// The output of a step over an in-memory stream, which is always ready.
fn ready<T>(step: impl Future<Output = T>) -> Result<T, MediaError> {
    step.now_or_never()
        .ok_or_else(|| MediaError::bad_request("the form could not be read to its end"))
}

fn refused(e: multer::Error, index: usize, names: &[String]) -> MediaError {
    match e {
        multer::Error::UnknownField { field_name } => MediaError::bad_request(format!(
            "part {index} of the form is named {}, and the model's inputs are {}",
            field_name.map_or_else(|| "nothing".to_owned(), |n| format!("'{n}'")),
            names
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        multer::Error::StreamSizeExceeded { limit }
        | multer::Error::FieldSizeExceeded { limit, .. } => {
            MediaError::too_large(format!("the form is larger than {limit} bytes"))
        }
        other => MediaError::bad_request(format!(
            "the form is not valid multipart/form-data (part {index}): {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(parts: &[(&str, &[u8])]) -> Bytes {
        let mut body = Vec::new();
        for (name, data) in parts {
            body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"");
            body.extend_from_slice(name.as_bytes());
            body.extend_from_slice(b"\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n");
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XyZ--\r\n");
        Bytes::from(body)
    }

    fn names() -> Vec<String> {
        vec!["image".into(), "meta".into()]
    }

    #[test]
    fn parts_come_in_order_with_their_bytes() {
        let parts = parts(
            form(&[("image", b"\x89PNG"), ("meta", b"\r\n--Xy"), ("image", b"")]),
            "XyZ",
            &names(),
        )
        .unwrap();
        let got: Vec<(&str, &[u8])> = parts
            .iter()
            .map(|p| (p.name.as_str(), &p.data[..]))
            .collect();
        assert_eq!(
            got,
            [
                ("image", &b"\x89PNG"[..]),
                ("meta", b"\r\n--Xy"),
                ("image", b"")
            ]
        );
    }

    #[test]
    fn unknown_parts_and_broken_forms_are_refused() {
        let e = parts(form(&[("photo", b"x")]), "XyZ", &names()).unwrap_err();
        assert_eq!(
            e.message,
            "part 1 of the form is named 'photo', and the model's inputs are 'image', 'meta'"
        );
        let e = parts(form(&[("image", b"x")]), "other", &names()).unwrap_err();
        assert!(e.message.contains("not valid multipart"), "{e}");
        let whole = form(&[("image", b"abcdef")]);
        let e = parts(whole.slice(..whole.len() - 12), "XyZ", &names()).unwrap_err();
        assert!(e.message.contains("not valid multipart"), "{e}");
        let e = parts(Bytes::from_static(b"--XyZ--\r\n"), "XyZ", &names()).unwrap_err();
        assert!(e.message.contains("no part"), "{e}");
    }
}
