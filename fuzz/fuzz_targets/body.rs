//! A POST body: bytes -> envelope -> tensors for every kind of input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(data) = inferd_schema::data_from_body(body) {
        inferd_fuzz::decode_everywhere(&data);
    }
});
