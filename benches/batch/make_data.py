#!/usr/bin/env python3
"""Writes a file of at least SIZE bytes for a model with COLUMNS float
inputs (columns x0, x1, ...) of seeded random values. Not committed: made
by benches/batch.sh under its work folder.

- PATH.csv: a header and a block of 4096 distinct rows repeated (scoring
  cost does not depend on the values, and the file is made in seconds);
- PATH.parquet: float32 columns, every row distinct (a repeated block
  would shrink to a dictionary, which real data does not), written by
  pyarrow in row groups of 64 Ki rows with its defaults (snappy).

    make_data.py PATH COLUMNS SIZE_BYTES
"""

import os
import sys

import numpy as np


def main():
    path, columns, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if os.path.exists(path) and os.path.getsize(path) >= size:
        return
    rng = np.random.default_rng(7)
    if path.endswith(".parquet"):
        write_parquet(path, columns, size, rng)
        return
    block = rng.uniform(-1.0, 1.0, size=(4096, columns)).astype(np.float32)
    text = "\n".join(",".join(f"{x:.6g}" for x in row) for row in block) + "\n"
    data = text.encode()
    header = (",".join(f"x{i}" for i in range(columns)) + "\n").encode()
    written = 0
    with open(path + ".new", "wb") as out:
        out.write(header)
        written += len(header)
        while written < size:
            out.write(data)
            written += len(data)
    os.rename(path + ".new", path)


def write_parquet(path, columns, size, rng):
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"x{i}" for i in range(columns)]
    group = 64 * 1024
    schema = pa.schema([(name, pa.float32()) for name in names])
    rows = 0
    with pq.ParquetWriter(path + ".new", schema) as writer:
        # Random float32 does not compress: the file is its values' bytes.
        while rows * columns * 4 < size:
            block = rng.uniform(-1.0, 1.0, size=(group, columns)).astype(np.float32)
            writer.write_table(pa.Table.from_arrays([block[:, j] for j in range(columns)], names=names))
            rows += group
    os.rename(path + ".new", path)


if __name__ == "__main__":
    main()
