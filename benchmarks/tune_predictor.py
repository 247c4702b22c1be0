"""Choose the Predictor's whole-image settings on the VALIDATION split (5 % of LSP train + LSPet
images held out by the training config), never on LSP test. Writes predictor_tuning.json.

    python benchmarks/tune_predictor.py --model runs/default/best.pt \
        --config configs/simplebaseline_r18s_lsp+lspet_128x128.yaml
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import torch

from posekit.config import load_config
from posekit.evaluate import predict_dataset, score
from posekit.infer import load_model
from posekit.train import load_sources, split_train_val

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--data-root", default="")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, [f"data.root={args.data_root}"] if args.data_root else [])
    _, val = split_train_val(load_sources(cfg), cfg.data.val_fraction, cfg.data.val_seed)
    rows = []
    for refine_steps in (0, 1, 2):
        for use_detector in (False, True):
            predictor = load_model(args.model, device="cpu", refine_steps=refine_steps, use_detector=use_detector)
            pred, gt, heads = predict_dataset(predictor, val, progress=False)
            m = score(pred, gt, predictor.skeleton, heads)
            rows.append({"refine_steps": refine_steps, "use_detector": use_detector, "pck@0.2": m["pck@0.2"],
                         "auc": m["auc"]})
            print(rows[-1], flush=True)
    report = {"date": datetime.date.today().isoformat(), "model": args.model, "split": "validation "
              f"({len(val)} images held out of LSP train + LSPet, seed {cfg.data.val_seed})",
              "protocol": "whole images, no ground-truth boxes, flip test", "rows": rows,
              "command": f"python benchmarks/tune_predictor.py --model {args.model} --config {args.config}"}
    (HERE / "predictor_tuning.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
