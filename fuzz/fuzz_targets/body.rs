//! A POST body: bytes -> envelope -> tensors for every kind of input; and
//! the fast path (straight into the tensor) agrees with the general path
//! whenever it answers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let data = inferd_schema::data_from_body(body);
    if let Ok(data) = &data {
        inferd_fuzz::decode_everywhere(data);
    }
    for inputs in inferd_fuzz::signatures() {
        let [only] = inputs.as_slice() else { continue };
        if let Some(fast) = inferd_schema::direct::tensor_from_body(body, "data", only) {
            let general = data
                .as_ref()
                .ok()
                .and_then(|d| inferd_schema::decode_inputs(d, &inputs).ok())
                .expect("the general path accepts what the fast path accepts");
            assert_eq!(general[0], fast, "the fast path decoded differently");
        }
    }
});
