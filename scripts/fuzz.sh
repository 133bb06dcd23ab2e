#!/usr/bin/env bash
# Fuzz the request decoders (fuzz/) for a bounded time per target: /score's
# body and query string, the v2 infer request (JSON and binary framing), and
# inferd-media's binary bodies (image, .npy, raw, multipart form).
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 20)
# Installs cargo-fuzz from crates.io into .cache/cargo-tools (pinned), seeds
# each target with the committed input samples of models/*/*/files/ and
# examples/images/ and small hand-made bodies, and fails when a target finds
# a crash (the input is left in fuzz/artifacts/).
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

# Image seeds (see fuzz_targets/image.rs): the first byte picks the
# declaration (inferd_fuzz::media::image_cases, 144 of them: 24 per sizing),
# here for each sizing float32 rgb bilinear NCHW, uint8 gray nearest NHWC
# and float64 bgr bilinear NHWC; the rest is each committed image, and a PNG
# whose header claims 100000x100000 pixels (with no pixel data, the tests'
# fixture).
mkdir -p fuzz/corpus/image
for image in examples/images/*.png examples/images/*.jpg examples/images/*.webp \
    examples/images/*.bmp examples/images/*.gif tests/fixtures/media/claims-100000x100000.png; do
    [ -f "$image" ] || continue
    name="$(basename "$image")"
    for sizing in 0 1 2 3 4 5; do
        for case in 3 18 23; do
            pick=$((sizing * 24 + case))
            { printf "\\x$(printf %02x "$pick")"; cat "$image"; } > "fuzz/corpus/image/$pick-$name"
        done
    done
done

# .npy seeds: version 1.0 headers padded as NumPy pads them (to 64 bytes),
# for the npy target's inputs (float32 [N, 4], uint8 [N, ?], bool [N],
# float32 of any shape, int64 [2, 3]), and one version 2.0 header.
npy_header() { # descr shape [major]: the magic, the version, the header
    local header="{'descr': '$1', 'fortran_order': False, 'shape': $2, }" major="${3:-1}"
    local prefix=$((major == 1 ? 10 : 12))
    while (( (prefix + ${#header} + 1) % 64 != 0 )); do header+=' '; done
    header+=$'\n'
    local n=${#header}
    printf "\\x93NUMPY\\x0$major\\x00\\x$(printf %02x $((n & 255)))\\x$(printf %02x $((n >> 8)))"
    ((major == 1)) || printf '\x00\x00'
    printf '%s' "$header"
}
f32_rows='\x00\x00\x80\x3f\x00\x00\x00\x3f\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x80\xbf\x00\x00\xc0\x7f\x00\x00\x80\x7f\xcd\xcc\x4c\x3e'
mkdir -p fuzz/corpus/npy
{ npy_header '<f4' '(2, 4)'; printf "$f32_rows"; } > fuzz/corpus/npy/f32-2x4
{ npy_header '<f4' '(1, 4)' 2; printf "$f32_rows" | head -c 16; } > fuzz/corpus/npy/f32-1x4-v2
{ npy_header '<f4' '(1, 1, 2)'; printf "$f32_rows" | head -c 8; } > fuzz/corpus/npy/f32-1x1x2
{ npy_header '<f4' '(0, 4)'; } > fuzz/corpus/npy/f32-0x4
{ npy_header '|u1' '(2, 3)'; printf '\x00\x01\x7f\x80\xfe\xff'; } > fuzz/corpus/npy/u8-2x3
{ npy_header '|b1' '(3,)'; printf '\x01\x00\x01'; } > fuzz/corpus/npy/bool-3
{ npy_header '<i8' '(2, 3)'; printf '\x01\x00\x00\x00\x00\x00\x00\x00%.0s' 1 2 3 4 5; printf '\xff\xff\xff\xff\xff\xff\xff\xff'; } > fuzz/corpus/npy/i64-2x3

# Raw seeds: 48 bytes (3 float32 rows of 4, 16 uint8 rows of 3, 6 float64,
# 3 uint32 rows of 2x2), 12 (int16 [2, 3]), bool pairs, nothing at all.
mkdir -p fuzz/corpus/raw
{ printf "$f32_rows"; printf "$f32_rows" | head -c 16; } > fuzz/corpus/raw/rows-48
printf '\x01\x00\xff\xff\x00\x80\xff\x7f\x02\x00\x03\x00' > fuzz/corpus/raw/i16-2x3
printf '\x01\x00\x00\x01\x01\x01' > fuzz/corpus/raw/bool-3x2
: > fuzz/corpus/raw/empty

# Multipart seeds (see fuzz_targets/multipart.rs): the first byte picks the
# model (bit 0: meta npy or raw, bit 1: nearest or bilinear), the rest is a
# form of boundary "fuzzboundary" (inferd_fuzz::media::BOUNDARY): image
# parts, then a meta part of as many float32 [2] rows.
part() { # name filename content-type file
    printf -- '--fuzzboundary\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n' "$1" "$2"
    printf 'Content-Type: %s\r\n\r\n' "$3"
    cat "$4"
    printf '\r\n'
}
mkdir -p fuzz/corpus/multipart
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
{ npy_header '<f4' '(1, 2)'; printf "$f32_rows" | head -c 8; } > "$scratch/meta1.npy"
{ npy_header '<f4' '(2, 2)'; printf "$f32_rows" | head -c 16; } > "$scratch/meta2.npy"
printf "$f32_rows" | head -c 8 > "$scratch/meta1.raw"
printf "$f32_rows" | head -c 16 > "$scratch/meta2.raw"
seven=examples/images/seven.png three=examples/images/three.png
{
    printf '\x00'
    part image seven.png image/png "$seven"
    part meta meta.npy application/x-npy "$scratch/meta1.npy"
    printf -- '--fuzzboundary--\r\n'
} > fuzz/corpus/multipart/npy-1
{
    printf '\x01'
    part meta meta.bin application/octet-stream "$scratch/meta1.raw"
    part image seven.png image/png "$seven"
    printf -- '--fuzzboundary--\r\n'
} > fuzz/corpus/multipart/raw-1
{
    printf '\x02'
    part image seven.png image/png "$seven"
    part image three.png image/png "$three"
    part meta meta.npy application/x-npy "$scratch/meta2.npy"
    printf -- '--fuzzboundary--\r\n'
} > fuzz/corpus/multipart/npy-2
{
    printf '\x03'
    part image three.png image/png "$three"
    part image sample-20.gif image/gif examples/images/sample-20.gif
    part meta meta.bin application/octet-stream "$scratch/meta2.raw"
    printf -- '--fuzzboundary--\r\n'
} > fuzz/corpus/multipart/raw-2

cd fuzz
for target in body query v2_request image npy raw multipart; do
    echo "== cargo fuzz run $target for ${seconds}s"
    cargo fuzz run --sanitizer none "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1
done
