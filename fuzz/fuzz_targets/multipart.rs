//! A `multipart/form-data` body (boundary `inferd_fuzz::media::BOUNDARY`)
//! for a two-input model: parts by name (`image`: one image each, several
//! for a batch; `meta`: one `.npy` or raw part) -> each input's tensor,
//! through inferd-media's one door. What decodes has a tensor per input
//! that fits it, and the inputs agree on the rows.
//!
//! The first byte picks the model (`inferd_fuzz::media::form_models`:
//! meta's decoder, the image's filter); the rest is the body.
#![no_main]

use inferd_fuzz::media;
use inferd_media::BodyKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&pick, body)) = input.split_first() else {
        return;
    };
    let models = media::form_models();
    let model = &models[usize::from(pick) % models.len()];
    let kind = BodyKind::Multipart(media::BOUNDARY.to_owned());
    let _ = media::run(&model.media, &model.inputs, &kind, body);
});
