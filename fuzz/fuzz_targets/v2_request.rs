//! An infer request of the Open Inference Protocol (KServe v2): bytes ->
//! JSON header and binary part -> tensors, through inferd-v2's one door,
//! for every kind of input the fuzz library lists; what decodes must
//! round-trip to the bit (`inferd_fuzz::check_v2`).
//!
//! The first byte picks the framing, so both are fuzzed: even, the rest is
//! all JSON (no `Inference-Header-Content-Length`); odd, the next two bytes
//! (little-endian) are the header length and the rest is the body, its
//! binary part after the header.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&framing, rest)) = input.split_first() else {
        return;
    };
    let (body, header_length) = if framing & 1 == 0 {
        (rest, None)
    } else {
        let Some((length, body)) = rest.split_first_chunk::<2>() else {
            return;
        };
        (body, Some(usize::from(u16::from_le_bytes(*length))))
    };
    for (inputs, model) in inferd_fuzz::v2_models() {
        inferd_fuzz::check_v2(&inputs, &model, model.decode_request(body, header_length));
    }
});
