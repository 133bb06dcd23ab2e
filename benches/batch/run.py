#!/usr/bin/env python3
"""benches/batch.sh's measurements, side by side in one run: for each model,
input format (CSV to a CSV output, Parquet to a Parquet output) and
engine, on a generated file of at least 1 GB,

- the engine alone (`inferd batch --measure-engine`): the input's first
  chunk scored over and over on the job's workers, no I/O;
- `inferd batch` on the whole file (rows/s, peak RSS);
- the Python baseline (baseline.py: pandas chunks + onnxruntime + to_csv,
  or pyarrow batches + onnxruntime + a ParquetWriter);

then the peak RSS of `inferd batch` on a 1 GB and a 4 GB file of the same
rows. Prints a Markdown table and the ratios the issue asks for.

    run.py INFERD WORK_DIR MODELS_DIR
"""

import json
import os
import subprocess
import sys

GB = 1_000_000_000
BATCH = 256
MODELS = {"diabetes-ridge": 10, "mlp-784": 784}
FORMATS = ("csv", "parquet")


def run_measured(command, env=None):
    """Runs `command`: its stdout's last line as JSON, and its peak RSS in MiB (wait4)."""
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    chunks = []
    while True:
        data = child.stdout.read(65536)
        if not data:
            break
        chunks.append(data)
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        sys.exit(f"{' '.join(command)} failed (status {status})")
    result = json.loads(b"".join(chunks).decode().strip().splitlines()[-1])
    return result, usage.ru_maxrss / 1024


def main():
    inferd, work, models = sys.argv[1], sys.argv[2], sys.argv[3]
    here = os.path.dirname(os.path.abspath(__file__))
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ)
    ort_config = os.path.join(work, "onnxruntime.json")
    with open(ort_config, "w") as f:
        json.dump({"runtime": "onnxruntime", "models": [{"model": m} for m in MODELS]}, f)
    rows = []
    ratios = []
    for model, columns in MODELS.items():
        for fmt in FORMATS:
            data = os.path.join(work, f"{model}-1GB.{fmt}")
            subprocess.run([sys.executable, os.path.join(here, "make_data.py"), data, str(columns), str(GB)], check=True)
            size = os.path.getsize(data)
            base = [inferd, "--registry", models, "batch", "--model", model, "--input", data,
                    "--batch-size", str(BATCH), "--progress", "quiet"]
            ours = []
            for engine, extra in (("tract", []), ("onnxruntime", ["--inference-config", ort_config])):
                ceiling, _ = run_measured(base + extra + ["--output", os.path.join(work, "x.csv"), "--measure-engine", "10"], env)
                out = os.path.join(work, f"{model}-{engine}.{fmt}")
                job, rss = run_measured(base + extra + ["--output", out], env)
                os.remove(out)
                rows.append((model, fmt, f"inferd batch ({engine})", size, job["rows_read"], job["seconds"], job["rows_per_s"], rss, ceiling["rows_per_s"]))
                ours.append((engine, job["rows_per_s"] / ceiling["rows_per_s"], job["rows_per_s"]))
            onnx = os.path.join(models, model, "1", "files", "model.onnx")
            out = os.path.join(work, f"{model}-python.{fmt}")
            python, rss = run_measured([sys.executable, os.path.join(here, "baseline.py"), onnx, data, out, str(BATCH)], env)
            os.remove(out)
            rows.append((model, fmt, "Python baseline", size, python["rows"], python["seconds"], python["rows_per_s"], rss, None))
            for engine, of_ceiling, rate in ours:
                line = f"{model} {fmt} {engine}: {of_ceiling:.2f} of the engine alone; {rate / python['rows_per_s']:.2f}x the Python baseline"
                ratios.append(line)
                print(line, flush=True)
    # Peak RSS against the file's size: 1 GB and 4 GB of ridge rows.
    big = os.path.join(work, "diabetes-ridge-4GB.csv")
    subprocess.run([sys.executable, os.path.join(here, "make_data.py"), big, "10", str(4 * GB)], check=True)
    memory = []
    for data in (os.path.join(work, "diabetes-ridge-1GB.csv"), big):
        out = os.path.join(work, "rss.csv")
        job, rss = run_measured([inferd, "--registry", models, "batch", "--model", "diabetes-ridge", "--input", data,
                                 "--output", out, "--batch-size", str(BATCH), "--progress", "quiet"], env)
        os.remove(out)
        memory.append((os.path.getsize(data), job["rows_read"], job["rows_per_s"], rss))
    print()
    print("| model | input | scorer | file | rows | s | rows/s | peak RSS MiB | engine alone rows/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for model, fmt, scorer, size, n, seconds, rate, rss, ceiling in rows:
        print(f"| {model} | {fmt} | {scorer} | {size / GB:.2f} GB | {n} | {seconds} | {rate:.0f} | {rss:.1f} | {ceiling if ceiling else ''} |")
    print()
    for line in ratios:
        print(line)
    print()
    print("| ridge file | rows | rows/s | peak RSS MiB |")
    print("| --- | --- | --- | --- |")
    for size, n, rate, rss in memory:
        print(f"| {size / GB:.2f} GB | {n} | {rate:.0f} | {rss:.1f} |")
    print(f"\npeak RSS, 4 GB over 1 GB: {memory[1][3] / memory[0][3]:.3f}")


if __name__ == "__main__":
    main()
