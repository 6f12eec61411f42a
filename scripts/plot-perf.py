#!/usr/bin/env python3
"""Draws docs/PERFORMANCE.md's plot and table from one run's JSON files.

  python3 scripts/plot-perf.py --out docs/perf-h200-bf16.svg [--table] \
      BENCH.json [BENCH.json ...] PEERS.json [PEERS.json ...]

BENCH files come from `attnjit-bench --json` ({"device", "dtype", "rows": [{"shape",
"backend", "recipe", "tflops", ...}]}); PEERS files from `scripts/peer-fa2.py --json`
({"results": [{"shape", "torch-fa2", "cudnn"}]}) or `../shared/peers/peers.py`
($OUT/peers.json: {"results": [{"B", "H", "S", "D", "causal", peer...: TFLOP/s}]}).
The files should come from one device call, so that every bar of a row was measured
on the same GPU at the same time. The plot is an SVG (no plotting library needed):
one group of horizontal bars per shape (TFLOP/s), attnjit's rows labelled with the
recipe that served them. --table also prints a Markdown table with each attnjit
row's ratio to cuDNN.
"""
import argparse
import json
import sys
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf"]


def load(paths):
    """Returns (device, {shape: {series: tflops}}, [series in first-seen order])."""
    table, series, device = {}, [], None
    def put(shape, name, value):
        if value is None:
            return
        table.setdefault(shape, {})[name] = float(value)
        if name not in series:
            series.append(name)
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        device = device or data.get("device") or data.get("info", {}).get("device")
        if "rows" in data:  # attnjit-bench
            for r in data["rows"]:
                put(r["shape"], f"attnjit {r['backend']} ({r.get('recipe', '?')})", r["tflops"])
        for r in data.get("results", []):  # peer-fa2.py or peers.py
            shape = r.get("shape") or "{B},{H},{S},{D},{c}".format(c=int(r["causal"]), **r)
            for k, v in r.items():
                if k not in ("shape", "B", "H", "S", "D", "causal") and isinstance(v, (int, float)):
                    put(shape, k, v)
    return device, table, series


def svg(device, title, table, series):
    bar, gap, label_w, plot_w = 12, 10, 150, 560
    shapes = list(table)
    top = 50
    height = top + sum(len(table[s]) * bar + gap for s in shapes) + 40 + 18 * len(series)
    vmax = max(v for row in table.values() for v in row.values()) * 1.05
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 80}" '
           f'height="{height}" font-family="sans-serif" font-size="11">',
           f'<text x="10" y="20" font-size="14">{escape(title)}</text>',
           f'<text x="10" y="36" fill="#555">{escape(device or "")} - TFLOP/s (4BHS²D, causal '
           f'halved), one run</text>']
    y = top
    for s in shapes:
        row = table[s]
        out.append(f'<text x="{label_w - 6}" y="{y + bar * len(row) / 2 + 4}" '
                   f'text-anchor="end">{escape(s)}</text>')
        for name in series:
            if name not in row:
                continue
            w = row[name] / vmax * plot_w
            color = COLORS[series.index(name) % len(COLORS)]
            out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar - 2}" '
                       f'fill="{color}"/>')
            out.append(f'<text x="{label_w + w + 3:.1f}" y="{y + bar - 3}" '
                       f'font-size="9">{row[name]:.0f}</text>')
            y += bar
        y += gap
    for i, name in enumerate(series):
        ly = y + 14 + 18 * i
        out.append(f'<rect x="{label_w}" y="{ly - 9}" width="12" height="10" '
                   f'fill="{COLORS[i % len(COLORS)]}"/>')
        out.append(f'<text x="{label_w + 18}" y="{ly}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def markdown(table, series):
    ours = [s for s in series if s.startswith("attnjit")]
    peers = [s for s in series if not s.startswith("attnjit")]
    head = ["B,H,S,D,causal"] + ours + peers + [f"{o.split(' (')[0]} / cudnn" for o in ours]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for shape, row in table.items():
        cells = [shape] + [f"{row[n]:.0f}" if n in row else "-" for n in ours + peers]
        for o in ours:
            ok = o in row and row.get("cudnn")
            cells.append(f"{row[o] / row['cudnn']:.2f}" if ok else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--out", help="SVG to write")
    ap.add_argument("--title", default="attnjit and peers")
    ap.add_argument("--table", action="store_true", help="print a Markdown table")
    a = ap.parse_args()
    device, table, series = load(a.files)
    if not table:
        sys.exit("plot-perf.py: no rows in " + ", ".join(a.files))
    if a.out:
        with open(a.out, "w") as f:
            f.write(svg(device, a.title, table, series))
    if a.table or not a.out:
        sys.stdout.write(markdown(table, series))


if __name__ == "__main__":
    main()
