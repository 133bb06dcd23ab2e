#!/usr/bin/env python3
"""The usual way to score a file in Python, as people leaving Azure ML's
ParallelRunStep write it: pandas reads the CSV in chunks of BATCH rows,
onnxruntime's InferenceSession.run scores each chunk, and DataFrame.to_csv
appends the answers (with the row number) to the output. Prints one JSON
line: rows, seconds, rows/s.

    baseline.py MODEL.onnx INPUT.csv OUTPUT.csv BATCH
"""

import json
import sys
import time

import numpy as np
import onnxruntime as ort
import pandas as pd


def main():
    model, source, target, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    started = time.perf_counter()
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    output = session.get_outputs()[0].name
    rows = 0
    first = True
    for chunk in pd.read_csv(source, chunksize=batch, dtype=np.float32):
        scores = session.run([output], {name: chunk.to_numpy()})[0]
        frame = pd.DataFrame(scores.reshape(len(chunk), -1))
        frame.insert(0, "row", chunk.index)
        frame.to_csv(target, mode="w" if first else "a", header=first, index=False)
        first = False
        rows += len(chunk)
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds)}))


if __name__ == "__main__":
    main()
