"""Turn the per-variant rows of benchmarks/algorithms/*.json into algorithms.json, algorithms.md and
three plots (PCK vs threshold, accuracy vs latency, per-part bars). The hand-written discussion (the
answer to the open question, departures from the papers) lives in algorithms_notes.md and is appended.

    python benchmarks/algorithms.py report
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
from bench_utils import git_revision

from posekit.viz import new_figure, plot_pck_curves, save_figure

HERE = Path(__file__).parent
SEED_PAIRS = {"hourglass-2x64-seed1": "hourglass-2x64", "hourglass-2x64-final-seed1": "hourglass-2x64-final"}


def _scatter(rows: list[dict], path: Path) -> None:
    import matplotlib

    fig = new_figure((7.0, 4.8))
    ax = fig.add_subplot()
    methods = sorted({r["method"] for r in rows})
    colors = {m: matplotlib.colormaps["tab10"](i) for i, m in enumerate(methods)}
    for r in rows:
        ax.scatter(r["infer_ms"], r["pck@0.2"], color=colors[r["method"]], s=30)
        ax.annotate(r["name"], (r["infer_ms"], r["pck@0.2"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    for m in methods:
        ax.scatter([], [], color=colors[m], label=m)
    ax.set_xlabel("predict() ms per whole image (batch 1, CPU)")
    ax.set_ylabel("LSP test PCK@0.2 (%)")
    ax.set_title("Accuracy vs latency, equal training budget")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=120)


def _per_part_bars(rows: list[dict], path: Path) -> None:
    parts = list(rows[0]["per_part"])
    width = 0.8 / len(rows)
    fig = new_figure((10.0, 4.8))
    ax = fig.add_subplot()
    x = np.arange(len(parts))
    for i, r in enumerate(rows):
        ax.bar(x + i * width - 0.4 + width / 2, [r["per_part"][p] for p in parts], width, label=r["name"])
    ax.set_xticks(x)
    ax.set_xticklabels(parts)
    ax.set_ylabel("PCK@0.2 (%)")
    ax.set_ylim(0, 100)
    ax.set_title("LSP test PCK@0.2 per part")
    ax.legend(fontsize=7, ncol=3)
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path, dpi=120)


def _table(rows: list[dict]) -> list[str]:
    parts = list(rows[0]["per_part"])
    lines = ["| variant | method | what | PCK@0.2 | " + " | ".join(parts) + " | PCP | AUC | params | GFLOPs |"
             " train min | train img/s | steps | best val | predict() ms |",
             "|---|---|---|---|" + "---|" * len(parts) + "---|---|---|---|---|---|---|---|---|"]
    def cell(value, fmt: str = "{}") -> str:  # classic rows have no network: params, GFLOPs, steps are "-"
        return "-" if value is None else fmt.format(value)

    for r in rows:
        lines.append(
            f"| {r['name']} | {r['method']} | {r['variant']} | **{r['pck@0.2']}** | "
            + " | ".join(str(r["per_part"][p]) for p in parts)
            + f" | {r['pcp']} | {r['auc']} | {cell(r['params'] and r['params'] / 1e6, '{:.2f} M')} |"
            f" {cell(r['gflops'])} | {r['train_minutes']} | {cell(r['train_images_per_s'])} |"
            f" {cell(r['train_steps'])} | {r['best_val_pck@0.2']:.1f} | {r['infer_ms']} |")
    return lines


def write_report(rows: list[dict]) -> None:
    if not rows:
        raise SystemExit("no rows in benchmarks/algorithms/ yet: run `python benchmarks/algorithms.py all` first")
    by_name = {r["name"]: r for r in rows}
    summary = {
        "date": datetime.date.today().isoformat(),
        "git_revision": git_revision(),  # the rows carry their own
        "data": "train LSP train (1-1000) + LSPet (10,000), 5 % of the images held out for validation "
                "(data.val_seed 0, the same for every row); scored on LSP test (1001-2000), 1000 people",
        "protocol": "whole images, no ground-truth boxes (Predictor.predict: HOG candidates, 2 re-crop passes, "
                    "flip test); PCK@0.2 torso-normalised, PROTOCOLS.md",
        "budget": "each trained variant gets the same wall-clock budget on one core of this machine; max_steps "
                  "is set from a 40-step speed probe (see each row's train_command)",
        "rows": rows,
    }
    (HERE / "algorithms.json").write_text(json.dumps(summary, indent=1))
    curve_rows = [r for r in rows if "seed1" not in r["name"]]
    thresholds = np.array(rows[0]["pck_curve"]["thresholds"])
    plot_pck_curves(thresholds, {r["name"]: np.array(r["pck_curve"]["values"]) / 100 for r in curve_rows},
                    HERE / "algorithms_pck.png", title="LSP test: PCK vs threshold, equal training budget",
                    xlabel="threshold (fraction of torso size)")
    _scatter(rows, HERE / "algorithms_speed.png")
    _per_part_bars(curve_rows, HERE / "algorithms_per_joint.png")

    machines = sorted({r["machine"] for r in rows})
    dates = sorted({r["date"] for r in rows})
    lines = ["# Single-person algorithms side by side", "",
             f"Dates {', '.join(dates)}; machine: {'; '.join(machines)}.", "",
             f"Data: {summary['data']}. Protocol: {summary['protocol']}. Budget: {summary['budget']}.", "",
             "Reproduce every row: `python benchmarks/algorithms.py all` (trains what is missing, then scores), "
             "then `python benchmarks/algorithms.py report`. Each row's own `train_command` and `eval_command` "
             "are in `algorithms.json`; re-running the `eval_command` reproduces the row's PCK.", ""]
    lines += _table(rows)
    spreads = [(a, b) for a, b in SEED_PAIRS.items() if a in by_name and b in by_name]
    if spreads:
        lines += ["", "Seed spread (same config, training seed 0 vs 1):", "",
                  "| config | seed 0 | seed 1 | difference |", "|---|---|---|---|"]
        for a, b in spreads:
            d = by_name[a]["pck@0.2"] - by_name[b]["pck@0.2"]
            lines.append(f"| {b} | {by_name[b]['pck@0.2']} | {by_name[a]['pck@0.2']} | {d:+.2f} |")
    lines += ["", "![PCK vs threshold](algorithms_pck.png)", "", "![accuracy vs latency](algorithms_speed.png)",
              "", "![per part](algorithms_per_joint.png)", ""]
    notes = HERE / "algorithms_notes.md"
    if notes.exists():
        lines += [notes.read_text()]
    (HERE / "algorithms.md").write_text("\n".join(lines))
    print(f"{len(rows)} rows -> {HERE / 'algorithms.json'}, {HERE / 'algorithms.md'}")
