//! An `application/octet-stream` body: raw little-endian elements ->
//! whole rows of the input's fixed row shape -> tensor, through
//! inferd-media's one door, for each input of
//! `inferd_fuzz::media::raw_inputs` (several element types, free and fixed
//! first dimensions, rows of nothing). What decodes holds the body's
//! bytes, to the bit.
#![no_main]

use inferd_fuzz::media;
use inferd_media::BodyKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    for raw in media::raw_inputs() {
        let spec = std::slice::from_ref(&raw.spec);
        if let Ok(decoded) = media::run(&raw.media, spec, &BodyKind::Raw, body) {
            assert_eq!(media::le_bytes(decoded.tensors[0].data()), body);
        }
    }
});
