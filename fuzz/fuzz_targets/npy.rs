//! An `application/x-npy` body: header (a Python literal, parsed, never
//! evaluated) -> checked against the body's length and the input's type
//! and shape -> tensor, through inferd-media's one door, for each input of
//! `inferd_fuzz::media::npy_inputs` (float32 [N, 4], uint8 [N, ?], bool
//! [N], float32 of any shape, int64 [2, 3]).
//!
//! What decodes holds exactly the bytes after the header, and, where a raw
//! input of the same signature exists, those bytes sent raw decode to the
//! same tensor.
#![no_main]

use inferd_fuzz::media;
use inferd_media::BodyKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    for (npy, raw) in media::npy_inputs() {
        let spec = std::slice::from_ref(&npy.spec);
        let Ok(decoded) = media::run(&npy.media, spec, &BodyKind::Npy, body) else {
            continue;
        };
        let tensor = &decoded.tensors[0];
        let header = inferd_media::npy::read_header(&mut std::io::Cursor::new(body))
            .expect("a body that decoded has a header");
        let data = &body[usize::try_from(header.data_offset).expect("offset fits")..];
        assert_eq!(tensor.shape(), header.shape.as_slice());
        assert_eq!(
            media::le_bytes(tensor.data()),
            data,
            "the elements are the body's bytes"
        );
        let Some(raw) = raw else { continue };
        match media::run(&raw.media, spec, &BodyKind::Raw, data) {
            Ok(again) => assert!(
                media::same_bits(&again.tensors[0], tensor),
                "raw and npy decode the same bytes differently"
            ),
            // Raw bytes cannot say "no rows"; npy can.
            Err(e) => assert!(data.is_empty(), "npy decoded, raw refused: {e}"),
        }
    }
});
