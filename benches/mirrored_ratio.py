#!/usr/bin/env python3
"""The on / off ratio of benches/server_cpu.sh rounds whose servers ran in
mirrored positions (say off, on, on, off): per round, the geometric mean of
the ON positions' req/s over that of the OFF positions', which cancels a
drift across a round's positions. Prints the median over rounds with a
bootstrap 95% interval; given several outputs, each and all pooled.

    benches/server_cpu.sh 24 OFF ON ON OFF | tee rounds.txt
    benches/mirrored_ratio.py rounds.txt:2,3:1,4 [more.txt:2,3:1,4 ...]
"""
import math
import random
import statistics
import sys


def rounds(path):
    """{round: {position: req/s}} from server_cpu.sh's per-run lines."""
    by_round = {}
    for line in open(path):
        fields = line.split()
        if len(fields) == 8 and fields[0].isdigit() and fields[1].isdigit():
            by_round.setdefault(int(fields[0]), {})[int(fields[1])] = int(fields[2])
    return by_round


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def summary(ratios):
    draw = random.Random(1)
    medians = sorted(statistics.median(draw.choices(ratios, k=len(ratios))) for _ in range(2000))
    return f"{statistics.median(ratios):.3f} ({medians[50]:.3f}-{medians[1949]:.3f}) over {len(ratios)} rounds"


def positions(text):
    return [int(p) for p in text.split(",")]


pooled = []
for spec in sys.argv[1:]:
    path, on, off = spec.rsplit(":", 2)
    on, off = positions(on), positions(off)
    ratios = [
        geomean([row[p] for p in on]) / geomean([row[p] for p in off])
        for _, row in sorted(rounds(path).items())
        if all(row.get(p, 0) > 0 for p in on + off)
    ]
    if not ratios:
        sys.exit(f"{path}: no complete round with positions {on} and {off}")
    print(spec, summary(ratios))
    pooled += ratios
if len(sys.argv) > 2:
    print("pooled", summary(pooled))
