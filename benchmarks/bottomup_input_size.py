"""Choose a bottom-up model's whole-image input side (``predict.input_size``) on validation scenes.

    python benchmarks/bottomup_input_size.py --weights paf \
        --config "configs/paf_r18s_lsp+lspet+mpii+scenes_256x256.yaml" --sizes 256 320 384 448 512

Validation scenes (never test data): the people the training config holds out (``data.val_fraction`` of its
training sources, drawn with ``data.val_seed``, as its validation set) composed on the backgrounds its training
never saw (every 5th of ``backgrounds/``), 640 x 480, N in {1, 2, 4, 8, 16} at low and high overlap,
``--scenes`` per cell (seeds 50000 + j: other scenes than the crowd study's). For each side: OKS-AP per cell
(14 joints, the crowd study's scoring) and the median ms per image. The chosen side is the one with the
highest mean OKS-AP over the cells; a smaller side within ``--tolerance`` of it is preferred (it is faster).
Writes ``--out`` (JSON: every cell, the means, the choice).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch
from bench_utils import provenance
from crowds import NS, OVERLAP_LEVELS, run_method, score_cell

from posekit.api import load_model
from posekit.config import load_config
from posekit.data.compose import SceneComposer, read_backgrounds
from posekit.train_data import data_path, load_each_source, split_sources

HERE = Path(__file__).parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True, help="a bottom-up checkpoint (PAF)")
    ap.add_argument("--config", required=True, help="its training config (which people and backgrounds are held out)")
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 320, 384, 448, 512])
    ap.add_argument("--scenes", type=int, default=10, help="scenes per (N, overlap) cell")
    ap.add_argument("--tolerance", type=float, default=0.5, help="OKS-AP points a smaller side may lose")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "bottomup_input_size.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, [f"data.root={args.data}"])
    _, held_out = split_sources(cfg, load_each_source(cfg))
    backgrounds = [b for i, b in enumerate(read_backgrounds(data_path(cfg, cfg.data.backgrounds))) if i % 5 == 0]
    composer = SceneComposer(held_out, backgrounds)
    sigmas = np.asarray(composer.skeleton.oks_sigmas)
    cells = {(n, o): [composer.compose(n, o, seed=50000 + j) for j in range(args.scenes)]
             for n in NS for o in OVERLAP_LEVELS}
    print(f"{len(held_out)} held-out people, {sum(map(len, cells.values()))} validation scenes", flush=True)
    rows = []
    for side in args.sizes:
        predictor = load_model(args.weights, device="cpu", backend="torch", overrides=[f"predict.input_size={side}"])
        for (n, o), scenes in cells.items():
            outputs, times = run_method("bottomup", predictor, scenes)
            row = {"input_size": side, "N": n, "overlap": o, **score_cell(scenes, outputs, sigmas),
                   "median_ms": round(statistics.median(times), 1)}
            rows.append(row)
            print(row, flush=True)
    means = {side: round(float(np.mean([r["oks_ap"] for r in rows if r["input_size"] == side])), 2)
             for side in args.sizes}
    best = max(means.values())
    chosen = min(side for side, m in means.items() if m >= best - args.tolerance)
    report = {**provenance(),
              "command": "python benchmarks/bottomup_input_size.py " + " ".join(
                  [f"--weights {args.weights}", f'--config "{args.config}"', f"--data {args.data}",
                   "--sizes " + " ".join(map(str, args.sizes)), f"--scenes {args.scenes}",
                   f"--tolerance {args.tolerance}", f"--threads {args.threads}"]),
              "held_out_people": len(held_out), "backgrounds": [b.name for b in backgrounds],
              "mean_oks_ap": {str(k): v for k, v in means.items()},
              "median_ms": {str(s): round(statistics.median([r["median_ms"] for r in rows if r["input_size"] == s]), 1)
                            for s in args.sizes},
              "chosen": chosen, "rows": rows}
    Path(args.out).write_text(json.dumps(report, indent=1))
    print("mean OKS-AP by side:", means, "-> predict.input_size =", chosen)


if __name__ == "__main__":
    main()
