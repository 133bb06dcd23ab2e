#!/usr/bin/env python3
"""The usual way to score a file in Python, as people leaving Azure ML's
ParallelRunStep write it: pandas reads the CSV in chunks of BATCH rows,
onnxruntime's InferenceSession.run scores each chunk, and DataFrame.to_csv
appends the answers (with the row number) to the output. For Parquet,
pyarrow's ParquetFile.iter_batches reads the chunks, to_pandas makes the
frame, and a ParquetWriter appends each chunk's answers. Prints one JSON
line: rows, seconds, rows/s.

    baseline.py MODEL.onnx INPUT.csv|.parquet OUTPUT.csv|.parquet BATCH
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
    if source.endswith(".parquet"):
        rows = parquet(session, name, output, source, target, batch)
    else:
        rows = csv(session, name, output, source, target, batch)
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds)}))


def csv(session, name, output, source, target, batch):
    rows = 0
    first = True
    for chunk in pd.read_csv(source, chunksize=batch, dtype=np.float32):
        scores = session.run([output], {name: chunk.to_numpy()})[0]
        frame = pd.DataFrame(scores.reshape(len(chunk), -1))
        frame.insert(0, "row", chunk.index)
        frame.to_csv(target, mode="w" if first else "a", header=first, index=False)
        first = False
        rows += len(chunk)
    return rows


def parquet(session, name, output, source, target, batch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 0
    writer = None
    for record_batch in pq.ParquetFile(source).iter_batches(batch_size=batch):
        chunk = record_batch.to_pandas()
        scores = session.run([output], {name: chunk.to_numpy(dtype=np.float32)})[0]
        frame = pd.DataFrame(scores.reshape(len(chunk), -1))
        frame.columns = [str(c) for c in frame.columns]
        frame.insert(0, "row", np.arange(rows, rows + len(chunk)))
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(target, table.schema)
        writer.write_table(table)
        rows += len(chunk)
    if writer is not None:
        writer.close()
    return rows


if __name__ == "__main__":
    main()
