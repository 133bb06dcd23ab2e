"""Reads the side-by-side run's reports (benches/results/<scenario>-<server>.json)
and writes the tables, the ratios and the targets into RESULTS.md between
the peers markers (replacing the previous run's)."""
import datetime
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
results = pathlib.Path(sys.argv[2])
BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"
TITLES = {
    "ridge": "diabetes-ridge, 2 rows per request",
    "mlp": "mlp-784, one sample (784 floats) per request",
}
ORDER = ["bare", "inferd", "inferd-batched", "inferd-v2-batched", "triton", "mlserver", "azureml"]


def load(scenario):
    runs = {}
    for path in sorted(out.glob(f"{scenario}-*.json")):
        label = path.stem[len(scenario) + 1:]
        runs[label] = json.loads(path.read_text())
        rss = out / f"{scenario}-{label}.rss-kib"
        runs[label]["rss_mb"] = int(rss.read_text()) / 1024 if rss.exists() else None
    return runs


def step(run, c):
    return next((s for s in run["steps"] if s["concurrency"] == c), None)


def rps(run, c):
    s = step(run, c)
    return s["throughput"] if s else float("nan")


def ok_rps(run, c):
    s = step(run, c)
    return s["ok_throughput"] if s else float("nan")


lines = [BEGIN, "", f"Run of {datetime.date.today()}: `benches/peers/run.sh` "
         "(closed loop, `inferd bench`, one server at a time in one session; "
         "the machine was shared with other engineers' builds, so read the "
         "ratios, which come from one run, rather than the absolute numbers). "
         "`req/s` counts every answer; `non-2xx` is the share of other answers.", ""]
for scenario in ["ridge", "mlp"]:
    runs = load(scenario)
    if not runs:
        continue
    concs = sorted({s["concurrency"] for r in runs.values() for s in r["steps"]})
    top = max(concs)
    lines += [f"### {TITLES[scenario]}", "",
              "| server | " + " | ".join(f"req/s @{c}" for c in concs)
              + f" | p50 / p99 @1 (ms) | p50 / p99 @{top} (ms) | non-2xx | idle RSS |",
              "| --- " * (len(concs) + 5) + "|"]
    for label in [l for l in ORDER if l in runs] + sorted(set(runs) - set(ORDER)):
        run = runs[label]
        one, many = step(run, 1), step(run, max(concs))
        bad = max((1 - sum(v for k, v in s["statuses"].items() if k.startswith("2")) for s in run["steps"]), default=0)
        rss = f"{run['rss_mb']:.0f} MB" if run["rss_mb"] else ""
        lines.append(f"| {label} | " + " | ".join(f"{rps(run, c):,.0f}" for c in concs)
                     + (f" | {one['p50_ms']:.3f} / {one['p99_ms']:.3f}" if one else " | ")
                     + (f" | {many['p50_ms']:.3f} / {many['p99_ms']:.3f}" if many else " | ")
                     + f" | {bad:.1%} | {rss} |")
    lines.append("")
    ratios = []
    base = runs.get("inferd")
    best = max((runs[l] for l in ("inferd", "inferd-batched") if l in runs), key=lambda r: ok_rps(r, top), default=None)
    if best:
        for other in ["bare", "triton", "mlserver", "azureml"]:
            if other in runs:
                ratios.append(f"{best['label']} / {other} @{top}: **{ok_rps(best, top) / ok_rps(runs[other], top):.2f}x**")
    # The same v2 JSON body to inferd and to the v2 peers, batching on for both.
    if "inferd-v2-batched" in runs:
        for other in ["triton", "mlserver"]:
            if other in runs:
                ratios.append(f"inferd-v2-batched / {other} (same v2 body) @{top}: "
                              f"**{ok_rps(runs['inferd-v2-batched'], top) / ok_rps(runs[other], top):.2f}x**")
    if base and "inferd-batched" in runs:
        ratios.append(f"inferd-batched / inferd @{top}: **{ok_rps(runs['inferd-batched'], top) / ok_rps(base, top):.2f}x**")
    lines += ["Ratios (2xx answers per second): " + "; ".join(ratios) + ".", "",
              f"![{scenario}](results/{scenario}.svg)", ""]
lines.append(END)
text = results.read_text()
block = "\n".join(lines)
if BEGIN in text:
    text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
else:
    text = text.rstrip() + "\n\n## Side by side with the peers\n\n" + block + "\n"
results.write_text(text)
print(block)
