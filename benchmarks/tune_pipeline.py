"""Choose the top-down pipeline's settings on validation data only, and fit the detector's score
calibration. Never reads COCO-mini val, LSP test or MPII validation.

    python benchmarks/tune_pipeline.py --pose runs/pose_p4/best.pt --detector runs/detector/best.pt \
        --config configs/simplebaseline_r18s_lsp+lspet+mpii_160x160.yaml --out benchmarks/pipeline_tuning.json

Several ``--pose`` / ``--detector`` checkpoints: step 0 scores every pair at the first grid point (and each
pose network in the annotated boxes of COCO-mini train) and tunes the best pair.

Validation data: the 80 real COCO-mini *train* photos (OKS-AP, no boxes; never trained on) and the pose
config's held-out 5 % of its training images (PCK@0.2, whole images, each annotated person matched to the
nearest returned one). Steps:

0. (several candidates) the pose network and detector pair, as above;
1. calibration: the detector's raw peak scores on COCO-mini train, labelled by whether each box matches an
   annotated person (IoU >= 0.5, greedy by score), fitted with Platt scaling and stored in the detector
   checkpoint (``calibration``), so its scores read as probabilities;
2. a grid over the whole-image candidate's prior and the detector threshold, then re-crop passes, flip
   test and detector input size, then the heatmap decoding (none / quarter / DARK / G-RMI offsets), each
   step at the best setting so far by the sum of the two validation scores; the JSON keeps every row
   with its time per image.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch
from bench_utils import provenance

from posekit.api import load_model
from posekit.checkpoint import safe_load
from posekit.codecs.boxes import fit_calibration, greedy_match
from posekit.config import load_config
from posekit.data import load
from posekit.data.dataset import read_image
from posekit.evaluate import evaluate_oks, predict_dataset, score
from posekit.predict.build import load_detector
from posekit.train_data import load_sources, split_train_val


def calibrate(detector_path: Path, coco_train: list) -> tuple[float, float, dict]:
    detector = load_detector(detector_path, device="cpu", threshold=0.01)
    detector.codec.calibration = (1.0, 0.0)
    scores, correct = [], []
    for sample in coco_train:
        boxes, raw = detector.detect(read_image(sample.image_path))
        gts = np.array([p.box for p in sample.people if not p.is_crowd]).reshape(-1, 4)
        scores += list(raw)
        correct += list(greedy_match(boxes, gts))
    a, b = fit_calibration(np.array(scores), np.array(correct))
    state = safe_load(detector_path)
    state["calibration"] = [a, b]
    torch.save(state, detector_path)
    s = np.array(scores)
    return a, b, {"detections": len(s), "matched": int(np.sum(correct)),
                  "precision_above_0.5_raw": float(np.mean(np.array(correct)[s >= 0.5])) if (s >= 0.5).any() else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pose", required=True, nargs="+", help="pose checkpoint(s); several: step 0 picks one")
    ap.add_argument("--detector", required=True, nargs="+", help="detector checkpoint(s); several: step 0 picks one")
    ap.add_argument("--config", required=True, help="the pose network's training config (its validation split)")
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--out", default="benchmarks/pipeline_tuning.json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val-images", type=int, default=200, help="held-out training images scored (first N)")
    ap.add_argument("--pair-only", action="store_true",
                    help="step 0 only: choose the pose/detector pair at the shipped settings, no grid")
    ap.add_argument("--overlap-only", action="store_true",
                    help="only the whole-image candidate's skip overlap (predict.whole_image_overlap), at the "
                         "shipped settings of the first --pose/--detector")
    ap.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"),
                    help="the networks' backend (scores are the same within noise; onnxruntime is faster)")
    ap.add_argument("--coco-images", type=int, default=0, help="first N COCO-mini train photos (0 = all 80)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    coco_train = load("coco", data / "coco_mini", split="train2017")
    if args.coco_images:
        coco_train = coco_train[: args.coco_images]
    # (--overlap-only studies a shipped pair: its detector keeps the calibration it ships with)
    fits = {d: (*safe_load(d)["calibration"], "as stored") if args.overlap_only else calibrate(Path(d), coco_train)
            for d in args.detector}
    for d, (a, b, cal) in fits.items():
        print(f"{d}: calibration a={a:.3f} b={b:.3f} {cal}")
    cfg = load_config(args.config)
    offsets = cfg.codec.offset_radius > 0
    _, held_out = split_train_val(load_sources(cfg), cfg.data.val_fraction, cfg.data.val_seed)
    held_out = held_out[: args.val_images]
    rows = []

    chosen = {"pose": args.pose[0], "detector": args.detector[0]}

    def run(refine: int, flip: bool, size: int, thr: float, whole: float, decode: str, nms: float = 0.9,
            overlap: float = 0.0) -> dict:
        overrides = [f"predict.detector={chosen['detector']}", f"predict.refine_steps={refine}",
                     f"predict.flip_test={str(flip).lower()}", f"predict.detector_size={size}",
                     f"predict.detector_threshold={thr}", f"predict.whole_image={whole}",
                     "predict.box_threshold=0.25", f"codec.refine={decode}", f"predict.oks_nms={nms}",
                     f"predict.whole_image_overlap={overlap}"]
        predictor = load_model(chosen["pose"], device="cpu", overrides=overrides, backend=args.backend)
        t0 = time.perf_counter()
        oks = evaluate_oks(predictor, coco_train, progress=False)
        t_coco = (time.perf_counter() - t0) / len(coco_train)
        pred, gt, heads = predict_dataset(predictor, held_out, match="nearest", progress=False)
        pck = score(pred, gt, predictor.skeleton, heads)["pck@0.2"]
        row = {**chosen, "refine_steps": refine, "flip_test": flip, "detector_size": size, "detector_threshold": thr,
               "whole_image": whole, "decoding": decode, "oks_nms": nms, "whole_image_overlap": overlap,
               "coco_train_oks_ap": oks["AP"],
               "heldout_pck@0.2": pck,
               "coco_ms_per_image": round(1000 * t_coco, 1)}
        rows.append(row)
        print(row, flush=True)
        return row

    def best() -> dict:  # by the sum of the two validation scores
        return max(rows, key=lambda r: r["coco_train_oks_ap"] + r["heldout_pck@0.2"])

    # 0. the pose network and detector pair at the shipped settings of 2026-11-29 (each pose network also
    # posed in COCO-mini train's annotated boxes: the detector-free part of the comparison)
    if len(args.pose) * len(args.detector) > 1:
        gt_box_ap = {}
        for pose in args.pose:
            predictor = load_model(pose, device="cpu", backend="torch",
                                   overrides=["predict.refine_steps=1", "codec.refine=dark"])
            gt_box_ap[pose] = evaluate_oks(predictor, coco_train, gt_boxes=True, progress=False)["AP"]
            print(pose, "COCO-mini train OKS-AP in the annotated boxes", gt_box_ap[pose], flush=True)
        for pose, detector in itertools.product(args.pose, args.detector):
            chosen.update(pose=pose, detector=detector)
            run(1, True, 352, 0.1, 0.3, "dark")["coco_train_oks_ap_gt_boxes"] = gt_box_ap[pose]
        chosen.update({k: best()[k] for k in ("pose", "detector")})
    if args.overlap_only:  # at the pair's shipped settings (2026-11-29): when to skip the whole-image crop
        for overlap in (0.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1):
            run(1, True, 352, 0.1, 0.3, "dark", 0.9, overlap)
    elif not args.pair_only:
        grid(run, best, offsets)
    a, b, cal = fits[chosen["detector"]]
    Path(args.out).write_text(json.dumps({**provenance(), "calibration": [a, b], "calibration_fit": cal,
                                          "pose": chosen["pose"], "detector": chosen["detector"],
                                          "candidates": {"pose": args.pose, "detector": args.detector},
                                          "pair_only": args.pair_only, "overlap_only": args.overlap_only,
                                          "backend": args.backend,
                                          "heldout_images": len(held_out), "rows": rows}, indent=2))


def grid(run, best, offsets: bool) -> None:
    """Steps 1-4 of the module docstring, each around the best row so far."""
    # 1. the whole-image candidate and the detector threshold (1 re-crop pass, flip test, 256 px detector)
    # (people are rescored box score x mean score of their keypoints over 0.2:
    # posekit.predict.people.keypoint_confidence)
    for whole, thr in itertools.product((0.0, 0.3, 0.6), (0.1, 0.3)):
        run(1, True, 256, thr, whole, "dark")
    # 2. re-crop passes, flip test and detector size around the best
    top = best()
    for refine, flip, size in ((0, True, 256), (2, True, 256), (1, False, 256), (1, True, 352), (1, True, 448)):
        run(refine, flip, size, top["detector_threshold"], top["whole_image"], "dark")
    # 3. heatmap-only, quarter-offset, DARK and (for a G-RMI network) offset-field decoding on one network
    top = best()
    keys = ("refine_steps", "flip_test", "detector_size", "detector_threshold", "whole_image")
    for decode in ("none", "quarter") + (("offsets",) if offsets else ()):
        run(*(top[k] for k in keys), decode)
    # 4. OKS-NMS: duplicates of one person (several boxes on one body) against distinct neighbours
    top = best()
    for nms in (0.6, 0.4):
        run(*(top[k] for k in keys), top["decoding"], nms)


if __name__ == "__main__":
    main()
