"""One table and one plot across the algorithm families' robustness runs (benchmarks/robustness*.json on
LSP test): each perturbation's mean drop in PCK@0.2 points and as a share of the model's clean score.

    python benchmarks/robustness_report.py

Writes robustness_families.md (the table) and robustness_families.png (relative drop per perturbation,
one bar per model). The narrative is in robustness.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posekit.viz import new_figure, save_figure

HERE = Path(__file__).parent
#: family -> the run's JSON (the best trained model of each family by validation PCK, algorithms.json)
RUNS = {
    "default (detector + G-RMI, SimpleBaseline-R18s)": "robustness.json",
    "HRNet-W16": "robustness_hrnet-w16.json",
    "Stacked hourglass 2x64": "robustness_hourglass-2x64.json",
    "Tompson (multi-scale conv net)": "robustness_tompson.json",
    "DeepPose cascade (regression)": "robustness_deeppose-cascade.json",
}


def main() -> None:
    runs = {name: json.loads((HERE / f).read_text()) for name, f in RUNS.items() if (HERE / f).is_file()}
    kinds = list(next(iter(runs.values()))["results"])
    clean = {n: r.get("clean", r.get("clean_pck@0.2")) for n, r in runs.items()}
    lines = ["Mean drop in PCK@0.2 over the five severities (points; in brackets: share of the model's clean "
             "score), first 200 LSP test images, whole images, each model with its own person search.", "",
             "| perturbation | " + " | ".join(runs) + " |", "|---" * (len(runs) + 1) + "|",
             "| clean PCK@0.2 | " + " | ".join(f"{clean[n]:.1f}" for n in runs) + " |"]
    rel = {}
    for kind in kinds:
        cells = []
        for n, r in runs.items():
            drop = r["results"][kind]["mean_drop"]
            rel.setdefault(n, []).append(100 * drop / clean[n])
            cells.append(f"{drop:.1f} ({100 * drop / clean[n]:.0f} %)")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines.append("| **mean over perturbations** | " + " | ".join(
        f"{np.mean([r['results'][k]['mean_drop'] for k in kinds]):.1f} ({np.mean(rel[n]):.0f} %)"
        for n, r in runs.items()) + " |")
    lines += ["", "Commands (each run's JSON): " + "; ".join(f"`{r['command']}`" for r in runs.values()),
              "", f"Machines and dates: {sorted({r['machine'] + ', ' + r['date'] for r in runs.values()})}."]
    (HERE / "robustness_families.md").write_text("\n".join(lines) + "\n")
    fig = new_figure((11.0, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(runs)
    for i, n in enumerate(runs):
        ax.bar(np.arange(len(kinds)) + (i - (len(runs) - 1) / 2) * width, rel[n], width, label=f"{n} ({clean[n]:.0f})")
    ax.set_xticks(np.arange(len(kinds)))
    ax.set_xticklabels(kinds, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("mean drop, % of clean PCK@0.2")
    ax.set_title("Robustness by family (LSP test, 200 images; clean PCK@0.2 in brackets)")
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    save_figure(fig, HERE / "robustness_families.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
