#!/usr/bin/env bash
# In-process latency per model, per engine, per batch size (criterion:
# crates/inferd-conformance/benches/engines.rs), then the table of medians
# with rows per second, for benches/RESULTS.md.
#
#   benches/engines.sh            tract and ONNX Runtime on the CPU
#   INFERD_BENCH_CUDA=1 benches/engines.sh    plus ONNX Runtime on CUDA
set -euo pipefail
cd "$(dirname "$0")/.."
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$(scripts/onnxruntime.sh)}"
cargo bench -p inferd-conformance --bench engines -- --noplot "$@" >&2
python3 - <<'PY'
import json, pathlib
root = pathlib.Path("target/criterion")
rows = {}
for est in root.glob("*/*/*/new/estimates.json"):
    model, engine, batch = est.parts[-5], est.parts[-4], int(est.parts[-3])
    ns = json.loads(est.read_text())["median"]["point_estimate"]
    rows.setdefault(model, {}).setdefault(batch, {})[engine] = ns
engines = sorted({e for m in rows.values() for b in m.values() for e in b})
print("| model | batch | " + " | ".join(f"{e} (median)" for e in engines) + " | " +
      " | ".join(f"{e} rows/s" for e in engines) + " |")
print("| --- | ---: |" + " ---: |" * (2 * len(engines)))
def fmt(ns):
    return f"{ns/1e6:.2f} ms" if ns >= 1e6 else f"{ns/1e3:.1f} us"
for model in sorted(rows):
    for batch in sorted(rows[model]):
        cells = rows[model][batch]
        times = [fmt(cells[e]) if e in cells else "-" for e in engines]
        rates = [f"{batch / cells[e] * 1e9:,.0f}" if e in cells else "-" for e in engines]
        print(f"| {model} | {batch} | " + " | ".join(times) + " | " + " | ".join(rates) + " |")
PY
