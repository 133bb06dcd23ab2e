//! A query string: text -> percent-decoding -> JSON -> tensors, through
//! the schema's one door.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &[u8]| {
    // hyper hands the handler a URI that is valid UTF-8.
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    for (inputs, schema) in inferd_fuzz::schemas() {
        inferd_fuzz::check_decoded(&inputs, schema.decode_query(query));
    }
});
