"""Which int8 quantisation of the default pipeline to ship, chosen on validation only.

    python benchmarks/onnx_int8_variants.py --data ../shared/datasets

Each variant (output convolutions int8 or float32; MinMax activation ranges) is exported with the same
100 calibration images as benchmarks/onnx_backends.py (drawn from the training part of the default's
training sources) and scored on COCO-mini *train* (OKS-AP, no boxes) and the default's held-out training
images (PCK@0.2), beside the float32 export; with the median ms per image on those held-out images
(2 threads; indicative only, not a benchmark sitting). Writes ``onnx_int8_variants.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_utils import provenance
from onnx_backends import CONFIG

from posekit.api import load_model
from posekit.config import load_config
from posekit.data import load
from posekit.data.dataset import read_image
from posekit.evaluate import evaluate_oks, predict_dataset, score
from posekit.export import export_pipeline
from posekit.train_data import load_sources, split_train_val

VARIANTS = {"fp32": None, "int8": {"float_heads": False}, "int8, float heads": {"float_heads": True}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--val-images", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(2)
    cfg = load_config(CONFIG)
    train_part, held_out = split_train_val(load_sources(cfg), cfg.data.val_fraction, cfg.data.val_seed)
    pick = np.random.default_rng(0).choice(len(train_part), 100, replace=False)  # as onnx_backends.py
    calibration = [read_image(train_part[i].image_path) for i in sorted(pick)]
    held_out = held_out[: args.val_images]
    coco_train = load("coco", Path(args.data) / "coco_mini", split="train2017")
    images = [read_image(s.image_path) for s in held_out]
    work = Path(tempfile.mkdtemp(prefix="posekit_int8_"))
    rows = []
    for name, options in VARIANTS.items():
        folder = work / name.replace(" ", "_").replace(",", "")
        export_pipeline("grmi-p5-2026-11-29", folder, quantize="int8" if options else None,
                        calibration=calibration if options else None, int8_options=options)
        predictor = load_model(folder, threads=2)
        pred, gt, heads = predict_dataset(predictor, held_out, match="nearest", progress=False)
        times = []
        for im in images:
            t0 = time.perf_counter()
            predictor.predict(im)
            times.append(1000 * (time.perf_counter() - t0))
        row = {"variant": name, "options": options,
               "coco_train_oks_ap": evaluate_oks(predictor, coco_train, progress=False)["AP"],
               "heldout_pck@0.2": score(pred, gt, predictor.skeleton, heads)["pck@0.2"],
               "heldout_median_ms": round(statistics.median(times), 2)}
        rows.append(row)
        print(row, flush=True)
    out = Path(__file__).parent / "onnx_int8_variants.json"
    out.write_text(json.dumps({**provenance(),
                               "command": f"python benchmarks/onnx_int8_variants.py --data {args.data}",
                               "heldout_images": len(held_out), "rows": rows}, indent=2))
    print("->", out)


if __name__ == "__main__":
    main()
