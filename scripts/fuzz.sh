#!/usr/bin/env bash
# Fuzz the request decoders (fuzz/) for a bounded time per target: /score's
# body and query string, and the v2 infer request (JSON and binary framing).
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 20)
# Installs cargo-fuzz from crates.io into .cache/cargo-tools (pinned), seeds
# each target with the committed input samples of models/*/*/files/, and
# fails when a target finds a crash (the input is left in fuzz/artifacts/).
#
# Only the stable toolchain is available here: RUSTC_BOOTSTRAP=1 lets
# cargo-fuzz pass its -Z flags to stable rustc, and --sanitizer none skips
# AddressSanitizer (the decoders are safe Rust: forbid(unsafe_code)), so
# libFuzzer still gets coverage feedback, and panics and aborts are crashes.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
CARGO_FUZZ_VERSION=0.13.1
tools="$PWD/.cache/cargo-tools"
if ! "$tools/bin/cargo-fuzz" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools"
    cargo install --locked --root "$tools" --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi
export PATH="$tools/bin:$PATH" RUSTC_BOOTSTRAP=1

# Seeds: each committed sample as a body, and as a query string.
for target in body query; do
    mkdir -p "fuzz/corpus/$target"
done
for sample in models/*/*/files/input_sample.json; do
    name="$(echo "$sample" | tr '/' '_')"
    { printf '{"data": '; cat "$sample"; printf '}'; } > "fuzz/corpus/body/$name"
    { printf 'data='; tr -d ' \n' < "$sample"; } > "fuzz/corpus/query/$name"
done

# v2 seeds (the target's framing byte first; see fuzz_targets/v2_request.rs):
# a JSON request, nested data, and a binary one (header length, header, bytes).
mkdir -p fuzz/corpus/v2_request
v2_json='{"id":"1","inputs":[{"name":"input","shape":[1,10],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10]}],"outputs":[{"name":"input","parameters":{"binary_data":true}}]}'
{ printf '\x00'; printf '%s' "$v2_json"; } > fuzz/corpus/v2_request/json
v2_nested='{"inputs":[{"name":"a","shape":[1,2],"datatype":"FP32","data":[[1.5,-2]]},{"name":"b","shape":[1],"datatype":"INT32","data":[3]}]}'
{ printf '\x00'; printf '%s' "$v2_nested"; } > fuzz/corpus/v2_request/nested
v2_header='{"parameters":{"binary_data_output":true},"inputs":[{"name":"x","shape":[2],"datatype":"INT64","parameters":{"binary_data_size":16}}]}'
v2_length=${#v2_header}
{
    printf '\x01'
    printf "\\x$(printf %02x $((v2_length & 255)))\\x$(printf %02x $((v2_length >> 8)))"
    printf '%s' "$v2_header"
    printf '\x07\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff'
} > fuzz/corpus/v2_request/binary

cd fuzz
for target in body query v2_request; do
    echo "== cargo fuzz run $target for ${seconds}s"
    cargo fuzz run --sanitizer none "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1
done
