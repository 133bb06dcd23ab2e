//! A query string: text -> percent-decoding -> JSON -> tensors.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &[u8]| {
    // hyper hands the handler a URI that is valid UTF-8.
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    if let Ok(data) = inferd_schema::data_from_query(query) {
        inferd_fuzz::decode_everywhere(&data);
    }
});
