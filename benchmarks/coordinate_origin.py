"""Are a dataset's coordinates 1-based? A measurement instead of a guess (the .mat files come from
MATLAB; reference loaders subtract 1 for some sets and not for others).

The idea: a network trained with horizontal-flip augmentation cannot learn a constant offset along x.
If the labels were 1-based (one pixel right of and below the 0-based pixel-centre positions posekit
uses), an unflipped training crop asks for content + 1 px and a flipped one for content - 1 px along x,
so the network learns to predict the content itself along x -- while along y, never flipped, it learns
the +1 px. On held-out images the mean signed error (prediction - label) is then about -1 px along x
and 0 along y. With 0-based labels both are 0. So ``bias_x - bias_y`` (in original image pixels) reads
-1 for 1-based labels and 0 for 0-based ones, whatever biases the network has that are the same along x
and y. Standard errors come from the spread over joints.

    python benchmarks/coordinate_origin.py --model default \
        --config configs/simplebaseline_r18s_lsp+lspet_160x160.yaml --out benchmarks/coordinate_origin.json

MPII's ``valid.h5`` holds no training photos to measure on, but its people are MPII training-set people, as
are those of the public ``mpii_human_pose.csv`` the training photos come with: ``--compare-h5`` matches the
two files person by person and shows that they carry the same numbers, so one measurement settles both:

    python benchmarks/coordinate_origin.py --compare-h5 mpii_human_pose.csv ../shared/datasets/mpii/valid.h5

Uses the config's held-out validation images (never LSP test), each person posed in its tight keypoint
box x 1.25 (the training crop), without flip test (the raw network). Joints more than 0.2 x torso off
are left out (a wrong joint says nothing about a pixel offset).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from bench_utils import provenance

from posekit import metrics
from posekit.api import load_model
from posekit.config import load_config
from posekit.data.dataset import person_box
from posekit.train_data import load_each_source, split_train_val


def compare_h5(csv_path: Path, h5_path: Path) -> dict:
    """Per-joint differences (csv - h5, px) of the people both MPII files hold: each h5 person is matched
    to the first csv person of the same image whose commonly labelled joints all lie within 20 px (farther
    apart anywhere: a different person)."""
    from posekit.data import load

    by_image: dict[str, list[np.ndarray]] = {}
    for s in load("mpii", csv_path, check_images=False):
        by_image.setdefault(s.image_path.name, []).extend(p.keypoints for p in s.people)
    diffs = []
    for s in load("mpii", h5_path, check_images=False):
        for p in s.people:
            for c in by_image.get(s.image_path.name, []):
                ok = (c[:, 2] > 0) & (p.keypoints[:, 2] > 0)
                d = c[ok, :2] - p.keypoints[ok, :2]
                if len(d) and np.abs(d).max() < 20:
                    diffs.append(d)
                    break
    d = np.concatenate(diffs)
    return {"people": len(diffs), "joints": len(d), "mean_csv_minus_h5": np.round(d.mean(0), 3).tolist(),
            "median_csv_minus_h5": np.median(d, 0).tolist(),
            "share_identical": round(float((np.abs(d) < 1e-3).all(1).mean()), 3),
            "share_off_by_one": round(float((np.abs(np.abs(d) - 1) < 1e-3).any(1).mean()), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="grmi-p5-2026-11-29")
    ap.add_argument("--compare-h5", nargs=2, type=Path, metavar=("CSV", "H5"),
                    help="only compare an MPII csv with an MPII h5 file (see the module docstring) and exit")
    ap.add_argument("--config", help="the model's training config (its validation split)")
    ap.add_argument("--out", default="benchmarks/coordinate_origin.json")
    ap.add_argument("--limit", type=int, default=400, help="images per source")
    ap.add_argument("--images", choices=("held-out", "all"), default="held-out",
                    help="held-out: the run's validation images; all: every image of each source (training ones "
                         "too -- the flip argument holds on them as long as the network has not memorised "
                         "each picture; more joints, smaller error bars)")
    ap.add_argument("--source", default=None, help="only this source (format, e.g. mpii)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.compare_h5:
        print(json.dumps(compare_h5(*args.compare_h5)))
        return
    if not args.config:
        ap.error("--config is required")
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    predictor = load_model(args.model, device="cpu", backend="torch", flip_test=False)
    rows = []
    each = load_each_source(cfg)
    # the training run's own validation split (over all sources together), then grouped by source
    _, held_out_all = split_train_val([s for _, ss in each for s in ss], cfg.data.val_fraction, cfg.data.val_seed)
    held = {id(s) for s in held_out_all}
    for src, samples in each:
        if args.source and src.format != args.source:
            continue
        held_out = [s for s in samples if id(s) in held or args.images == "all"]
        errs = []
        for sample in held_out[: args.limit]:
            people = [p for p in sample.people if p.num_labelled >= 8 and person_box(p) is not None]
            if not people:
                continue
            preds = predictor.predict(sample.image_path, boxes=[person_box(p) for p in people])
            for p, pred in zip(people, preds):
                gt = p.keypoints
                torso = metrics.torso_size(gt[None], sample.skeleton)[0]
                ok = (gt[:, 2] > 0) & np.isfinite(torso)
                d = pred.keypoints[:, :2] - gt[:, :2]
                ok &= np.linalg.norm(d, axis=1) <= 0.2 * torso
                errs.append(d[ok])
        e = np.concatenate(errs)
        bias, se = e.mean(axis=0), e.std(axis=0) / np.sqrt(len(e))
        diff = bias[0] - bias[1]
        row = {"source": f"{src.format}:{src.path}", "joints": len(e), "bias_x": round(float(bias[0]), 3),
               "bias_y": round(float(bias[1]), 3), "se_x": round(float(se[0]), 3), "se_y": round(float(se[1]), 3),
               "bias_x_minus_y": round(float(diff), 3), "se_diff": round(float(np.hypot(*se)), 3),
               "reading": "1-based" if abs(diff + 1) < abs(diff) else "0-based"}
        rows.append(row)
        print(row, flush=True)
    Path(args.out).write_text(json.dumps({"model": args.model, "config": args.config, **provenance(),
                                          "images": args.images,
                                          "command": "python benchmarks/coordinate_origin.py "
                                                     f"--model {args.model} --config {args.config} "
                                                     f"--images {args.images} --limit {args.limit}"
                                                     + (f" --source {args.source}" if args.source else ""),
                                          "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
