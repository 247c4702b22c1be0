"""Which multi-person approach wins as crowds grow: OKS-AP and latency against the number of people.

    python benchmarks/crowds.py --data ../shared/datasets --paf paf

Test scenes (PROTOCOLS.md "Multi-person"): LSP *test* people only (images 1001-2000), composed by
:class:`posekit.data.compose.SceneComposer` (640 x 480) on the 15 backgrounds no training run saw (every 5th
of ``backgrounds/``: the detector's and PAF's training configs keep those for validation scenes), N in
{1, 2, 4, 8, 16} people at low and high overlap, ``--scenes`` scenes per cell, more where N is small
(at least ``--min-people`` people per cell; scene seeds ``1000 * generation + j``), two generations
(``--generations``) to show the spread. OKS-AP on the 14 LSP-14
joints with the skeleton's sigmas; area = w x h of the person's ground-truth keypoint box with both sides
enlarged x 1.25 (the protocol's rule, so area = 1.5625 w h). Latency: median ms per image (2 threads; the
image composed beforehand), per N. Methods:

- ``topdown``: the shipped default (person detector + pose network; its stored settings);
- ``topdown_gt``: the same pose network in each person's ground-truth silhouette box (the upper bound);
- ``paf``: part affinity fields (``--paf``);
- ``deepcut``: the DeepCut ILP (``--deepcut``), up to the N it finishes within its time limit.

Also each method's OKS-AP on the real COCO-mini val photos (12 limb joints; ``topdown_gt``: annotated boxes).
Writes ``crowds.json`` (one row per method x N x overlap x generation), ``crowds_ap.png``, ``crowds_ms.png``
``crowds_examples.png`` (generation 0, first scene of N = 4 at low overlap and of N = 8 at high overlap: one row
each, one tile per method) and ``crowds_table.md`` (OKS-AP and ms per cell: the two generations' mean and
half their difference).
``--check`` re-measures instead and prints each row's OKS-AP next to the stored one (same arguments; with
``--generations 1`` only generation 0's rows, with ``--no-topdown`` only the bottom-up methods).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from bench_utils import provenance

import posekit.coco_eval as coco_eval
from posekit.api import load_model
from posekit.data import load
from posekit.data.compose import SceneComposer, read_backgrounds
from posekit.evaluate import evaluate_oks
from posekit.types import keypoint_area
from posekit.viz import draw_predictions, save_image

HERE = Path(__file__).parent
NS = (1, 2, 4, 8, 16)
OVERLAP_LEVELS = ("low", "high")
EXAMPLE_CELLS = ((0, 4, "low"), (0, 8, "high"))  # (generation, N, overlap) drawn in crowds_examples.png


def score_cell(scenes: list, outputs: list[list], sigmas: np.ndarray) -> dict:
    """OKS-AP of predictions (one list of Prediction per scene) against the scenes' people."""
    result = coco_eval.oks_ap_people([scene.people for scene in scenes],
                                   [[(q.keypoints, q.score) for q in people] for people in outputs], sigmas,
                                   area=lambda p: keypoint_area(p.keypoints))
    return {"oks_ap": round(100 * max(result["AP"], 0.0), 2), "oks_ap50": round(100 * max(result["AP50"], 0.0), 2),
            "people": result["num_people"]}


def run_method(name: str, predictor, scenes: list) -> tuple[list[list], list[float]]:
    """Each scene's predictions and wall time (ms); ``topdown_gt`` is handed the people's silhouette boxes."""
    outputs, times = [], []
    for scene in scenes:
        boxes = [p.box for p in scene.people if (p.keypoints[:, 2] > 0).any()] if name == "topdown_gt" else None
        t0 = time.perf_counter()
        found = predictor.predict(scene.image, boxes=boxes)
        times.append(1000 * (time.perf_counter() - t0))
        outputs.append(found)
    return outputs, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--paf", default=None, help="a PAF checkpoint (omit to leave the method out)")
    ap.add_argument("--deepcut", default=None, help="a DeepCut weights file (omit to leave the method out)")
    ap.add_argument("--no-topdown", action="store_true", help="leave the two top-down methods out (with --check)")
    ap.add_argument("--deepcut-max-n", type=int, default=16, help="largest N DeepCut is run on")
    ap.add_argument("--scenes", type=int, default=20, help="scenes per (N, overlap, generation) cell")
    ap.add_argument("--min-people", type=int, default=80,
                    help="more scenes where N is small: at least this many people per cell")
    ap.add_argument("--generations", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"))
    ap.add_argument("--out", default=str(HERE / "crowds"))
    ap.add_argument("--check", action="store_true",
                    help="reproduce: compare each row with the same row of <out>.json and write nothing")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    people = load("lsp", data / "lsp", split="test")
    backgrounds = [b for i, b in enumerate(read_backgrounds(data / "backgrounds")) if i % 5 == 0]
    composer = SceneComposer(people, backgrounds)
    sigmas = np.asarray(composer.skeleton.oks_sigmas)
    per_cell = {n: max(args.scenes, -(-args.min_people // n)) for n in NS}
    cells = {(g, n, o): [composer.compose(n, o, seed=1000 * g + j) for j in range(per_cell[n])]
             for g in range(args.generations) for n in NS for o in OVERLAP_LEVELS}
    print(f"{sum(len(v) for v in cells.values())} scenes composed", flush=True)

    topdown = "grmi-p5-2026-11-29"  # the default the stored rows were measured with
    methods = {} if args.no_topdown else {"topdown": (topdown, []), "topdown_gt": (topdown, [])}
    if args.paf:
        methods["paf"] = (args.paf, [])
    if args.deepcut:
        methods["deepcut"] = (args.deepcut, [])
    coco = load("coco", data / "coco_mini", split="val2017")
    report = {**provenance(), "backend": args.backend,
              "command": "python benchmarks/crowds.py " + " ".join(
                  [f"--data {args.data}"] + ([f"--paf {args.paf}"] if args.paf else [])
                  + ([f"--deepcut {args.deepcut} --deepcut-max-n {args.deepcut_max_n}"] if args.deepcut else [])
                  + [f"--scenes {args.scenes}", f"--min-people {args.min_people}",
                     f"--generations {args.generations}", f"--threads {args.threads}"]
                  + ([f"--backend {args.backend}"] if args.backend != "torch" else [])),
              "scenes_per_cell": {str(n): k for n, k in per_cell.items()},
              "area_rule": "keypoint box, both sides x 1.25",
              "backgrounds": [b.name for b in backgrounds], "rows": [], "coco_val": {}}
    examples = {}
    for name, (weights, _) in methods.items():
        predictor = load_model(weights, device="cpu", backend=args.backend)
        for (g, n, o), scenes in cells.items():
            if name == "deepcut" and n > args.deepcut_max_n:
                continue
            outputs, times = run_method(name, predictor, scenes)
            row = {"method": name, "weights": str(weights), "N": n, "overlap": o, "generation": g,
                   **score_cell(scenes, outputs, sigmas), "median_ms": round(statistics.median(times), 1)}
            if name == "deepcut":
                row["solver"] = getattr(predictor, "last_stats", None)
            report["rows"].append(row)
            print(row, flush=True)
            if (g, n, o) in EXAMPLE_CELLS:
                examples.setdefault(name, {})[(n, o)] = draw_predictions(scenes[0].image, outputs[0])
        report["coco_val"][name] = evaluate_oks(predictor, coco, gt_boxes=name == "topdown_gt", progress=False)["AP"]
        print(name, "COCO-mini val OKS-AP", report["coco_val"][name], flush=True)
    out = Path(args.out)
    if args.check:
        check(report, json.loads(out.with_suffix(".json").read_text()))
        return
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    plot(report, out)
    rows = []
    for n, o in [(n, o) for g, n, o in EXAMPLE_CELLS]:
        tiles = []
        for name, drawn in examples.items():
            image = drawn.get((n, o), np.zeros_like(next(iter(drawn.values())))).copy()
            cv2.putText(image, f"{name}, N={n}, {o} overlap", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                        (255, 255, 255), 2)
            tiles.append(image)
        rows.append(np.hstack(tiles))
    save_image(out.with_name(out.name + "_examples.png"), np.vstack(rows))
    out.with_name(out.name + "_table.md").write_text(table(report))
    print("->", out.with_suffix(".json"))


def table(report: dict) -> str:
    """Markdown: per method and overlap, OKS-AP and median ms for each N as "mean ±h" over the generations
    (h = half their range), plus the method's COCO-mini val OKS-AP."""
    rows = report["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows))

    def cell(m: str, o: str, n: int, key: str) -> str:
        vals = [r[key] for r in rows if (r["method"], r["overlap"], r["N"]) == (m, o, n)]
        if not vals:
            return "–"
        return f"{np.mean(vals):.1f} ±{(max(vals) - min(vals)) / 2:.1f}" if len(vals) > 1 else f"{vals[0]:.1f}"

    lines = [f"`{report['command']}` ({report['date']}, {report['machine']}, {report['backend']} backend)", ""]
    for key, title in (("oks_ap", "OKS-AP"), ("median_ms", "median ms per image")):
        lines += [f"**{title}** (mean of {len({r['generation'] for r in rows})} generations ± half their range)", "",
                  "| method | overlap | " + " | ".join(f"N={n}" for n in NS)
                  + (" | COCO-mini val OKS-AP |" if key == "oks_ap" else " |"),
                  "|---|---|" + "---|" * len(NS) + ("---|" if key == "oks_ap" else "")]
        for m in methods:
            for o in OVERLAP_LEVELS:
                coco = report["coco_val"].get(m) if o == OVERLAP_LEVELS[0] else ""
                lines.append(f"| {m} | {o} | " + " | ".join(cell(m, o, n, key) for n in NS)
                             + (f" | {coco} |" if key == "oks_ap" else " |"))
        lines.append("")
    return "\n".join(lines)


def check(report: dict, stored: dict) -> None:
    """Print each re-measured row's OKS-AP next to the stored row of the same (method, N, overlap, generation)
    and the largest difference per method (the rows are stated to reproduce within 1.0)."""
    key = ("method", "N", "overlap", "generation")
    before = {tuple(r[k] for k in key): r for r in stored["rows"]}
    worst: dict[str, float] = {}
    for row in report["rows"]:
        old = before.get(tuple(row[k] for k in key))
        if old is None:
            print("not in the stored file:", {k: row[k] for k in key})
            continue
        diff = abs(row["oks_ap"] - old["oks_ap"])
        worst[row["method"]] = max(worst.get(row["method"], 0.0), diff)
        print({k: row[k] for k in key}, "OKS-AP", old["oks_ap"], "->", row["oks_ap"], f"(|diff| {diff:.2f})")
    for name, ap_now in report["coco_val"].items():
        print(name, "COCO-mini val OKS-AP", stored["coco_val"].get(name), "->", ap_now)
    print("largest |OKS-AP difference| per method:", {m: round(d, 2) for m, d in worst.items()})


def plot(report: dict, out: Path) -> None:
    """AP vs N and ms vs N, one colour per method, solid = low overlap, dashed = high; each generation is a
    marker, the line joins their means."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for key, label, suffix in (("oks_ap", "OKS-AP (composed LSP-test scenes)", "_ap.png"),
                               ("median_ms", "median ms per image (2 threads)", "_ms.png")):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for i, m in enumerate(methods):
            for o, style in zip(OVERLAP_LEVELS, ("-", "--")):
                ns = sorted({r["N"] for r in rows if r["method"] == m and r["overlap"] == o})
                means = []
                for n in ns:
                    vals = [r[key] for r in rows if r["method"] == m and r["overlap"] == o and r["N"] == n]
                    ax.scatter([n] * len(vals), vals, color=f"C{i}", s=12)
                    means.append(float(np.mean(vals)))
                ax.plot(ns, means, style, color=f"C{i}", label=f"{m}, {o} overlap")
        ax.set_xscale("log", base=2)
        ax.set_xticks(NS, [str(n) for n in NS])
        if key == "median_ms":
            ax.set_yscale("log")
        ax.set_xlabel("people per image (N)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title(f"{report['date']}, {report['machine'].split(',')[0]}", fontsize=8)
        fig.tight_layout()
        fig.savefig(out.with_name(out.name + suffix), dpi=120)
        plt.close(fig)


if __name__ == "__main__":
    main()
