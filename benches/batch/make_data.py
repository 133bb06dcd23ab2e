#!/usr/bin/env python3
"""Writes a CSV file of at least SIZE bytes for a model with COLUMNS float
inputs: a header (x0, x1, ...) and rows of seeded random values, a block
of 4096 distinct rows repeated (scoring cost does not depend on the values,
and the file is made in seconds, not minutes). Not committed: made by
benches/batch.sh under its work folder.

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


if __name__ == "__main__":
    main()
