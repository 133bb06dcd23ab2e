//! An `image/*` body: PNG, JPEG, WebP, BMP or GIF bytes -> decoded by
//! content under the declaration's limits -> resized, converted,
//! normalised, laid out -> one row, through inferd-media's one door
//! (`MediaInputs::parse` then `decode`), and through the Open Inference
//! Protocol's (`decode_images`), which must agree.
//!
//! The first byte picks the declaration (`inferd_fuzz::media::image_cases`:
//! filter, color, layout, element type, sizing); the rest is the body. A
//! row must have the declared size and channels and its values the range
//! the normalisation gives 0..255 (`ImageCase::check`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&pick, body)) = input.split_first() else {
        return;
    };
    let cases = inferd_fuzz::media::image_cases();
    cases[usize::from(pick) % cases.len()].check(body);
});
