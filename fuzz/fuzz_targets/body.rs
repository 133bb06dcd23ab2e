//! A POST body: bytes -> envelope -> tensors for every kind of input,
//! through the schema's one door. Built with `--cfg fuzzing`, the door
//! also checks that the fast path agrees with the general path whenever
//! it answers (`ModelSchema::decode_body`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    for (inputs, schema) in inferd_fuzz::schemas() {
        inferd_fuzz::check_decoded(&inputs, schema.decode_body(body));
    }
});
