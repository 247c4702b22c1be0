"""Choose the Predictor's whole-image settings on the VALIDATION split (5 % of LSP train + LSPet
images held out by the training config), never on LSP test: every combination of the values given is
scored; the JSON (default predictor_tuning.json) lists them and the best by PCK@0.2.

    python benchmarks/tune_predictor.py --model runs/default/best.pt \
        --config configs/simplebaseline_r18s_lsp+lspet_128x128.yaml --refine-steps 0 1 2 --detector 0 1
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import torch
from bench_utils import provenance

from posekit.api import load_model
from posekit.config import load_config
from posekit.evaluate import predict_dataset, score
from posekit.train_data import load_sources, split_train_val

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--data-root", default="")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--refine-steps", type=int, nargs="+", default=[2])
    parser.add_argument("--detector", type=int, nargs="+", default=[1], help="HOG candidates off (0) / on (1)")
    parser.add_argument("--box-threshold", type=float, nargs="+", default=[0.5])
    parser.add_argument("--out", default="predictor_tuning.json", help="file name under benchmarks/")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, [f"data.root={args.data_root}"] if args.data_root else [])
    _, val = split_train_val(load_sources(cfg), cfg.data.val_fraction, cfg.data.val_seed)
    rows = []
    for refine_steps, detector, box_threshold in itertools.product(args.refine_steps, args.detector,
                                                                   args.box_threshold):
        predictor = load_model(args.model, device="cpu", backend="torch", refine_steps=refine_steps,
                               use_detector=bool(detector), box_threshold=box_threshold)
        pred, gt, heads = predict_dataset(predictor, val, progress=False)
        m = score(pred, gt, predictor.skeleton, heads)
        rows.append({"refine_steps": refine_steps, "use_detector": bool(detector), "box_threshold": box_threshold,
                     "pck@0.2": m["pck@0.2"], "auc": m["auc"], "per_part": m["per_part"]})
        print(rows[-1], flush=True)
    argv = " ".join(sys.argv[1:])
    report = {**provenance(), "model": args.model,
              "split": f"validation ({len(val)} images held out of LSP train + LSPet, seed {cfg.data.val_seed})",
              "protocol": "whole images, no ground-truth boxes, flip test", "rows": rows,
              "chosen": max(rows, key=lambda r: r["pck@0.2"]),
              "command": f"python benchmarks/tune_predictor.py {argv}"}
    (HERE / args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
