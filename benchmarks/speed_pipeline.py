"""Speed of the default top-down pipeline per image / video frame, and what each speed setting costs on validation.

    # validation accuracy of each variant (COCO person val OKS-AP, 17 keypoints, no boxes, box-area OKS;
    # LSP-val PCK@0.2 of the top-scoring person, whole images) -> speed_pipeline_val.json
    python benchmarks/speed_pipeline.py accuracy --coco /work/data/coco_person_prepared
    # ms per vtest.avi frame / LSP test image / COCO test photo, split detector / pose / rest -> speed_pipeline.json
    python benchmarks/speed_pipeline.py speed --coco /work/data/coco_person_prepared

Variants are predictor options (``load_model("default", **options)``). Validation only chooses: the COCO val split
the prepare command carves from the training photos (never trained on), and the LSP train images the default's
training config held out (its ``data.val_fraction`` / ``val_seed`` split, LSP-format samples only). Test images
are timed, never scored here. Timing: ONNX Runtime, 2 threads, medians; the machine is shared, so each image is
timed for every variant in turn (interleaved), which spreads any contention evenly over the variants.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from bench_utils import provenance

from posekit.api import load_model
from posekit.checkpoint import locate, safe_load, stored_config
from posekit.data import load
from posekit.evaluate import evaluate_oks, predict_dataset, score
from posekit.train_data import load_sources, split_train_val

HERE = Path(__file__).parent
VIDEO = "unlabeled/vtest.avi"
#: name -> predictor options; "before" is the pipeline as shipped before this study (2026-12-02)
VARIANTS = {
    "before": {"skip_hopeless": False, "refine_iou": 1.0},
    "exact": {},  # today's shipped settings: the pure speedups plus what validation kept
    "refine_iou0.6": {"refine_iou": 0.6},
    "refine_iou0.7": {"refine_iou": 0.7},
    "refine_iou0.8": {"refine_iou": 0.8},
    "refine_conf0.5": {"refine_confidence": 0.5},
    "refine_conf0.6": {"refine_confidence": 0.6},
    "no_refine": {"refine_steps": 0},
    "no_flip": {"flip_test": False},
    "no_flip_no_refine": {"flip_test": False, "refine_steps": 0},
}


def held_out(model: str) -> dict[str, list]:
    """The LSP train images and the LSPet images the model's training config held out (its validation split),
    by dataset."""
    _, cfg = stored_config(safe_load(locate(model)))
    _, val = split_train_val(load_sources(cfg), cfg.data.val_fraction, cfg.data.val_seed)
    parts = [str(s.image_path).split("/") for s in val]
    return {name: [s for s, part in zip(val, parts) if name in part] for name in ("lsp", "lspet")}


def accuracy(args, names: list[str]) -> None:
    coco_val = load("coco", args.coco, split="val")
    sets = held_out(args.model)
    out = HERE / "speed_pipeline_val.json"
    rows = {r["variant"]: r for r in json.loads(out.read_text())["rows"]} if out.exists() else {}
    for name in names:
        predictor = load_model(args.model, backend="onnxruntime", threads=args.threads, **VARIANTS[name])
        t0 = time.perf_counter()
        oks = evaluate_oks(predictor, coco_val, progress=False)
        t_coco = time.perf_counter() - t0
        row = {"variant": name, "options": VARIANTS[name], "coco_val_oks_ap": oks["AP"],
               "coco_val_oks_ap50": oks["AP50"]}
        for key, samples in sets.items():
            pred, gt, heads = predict_dataset(predictor, samples, progress=False)
            row[f"{key}_val_pck@0.2"] = round(score(pred, gt, predictor.skeleton, heads)["pck@0.2"], 2)
        row["coco_val_ms_per_photo_provisional"] = round(1000 * t_coco / len(coco_val), 1)
        rows[name] = row
        print(row, flush=True)
    report = {**provenance(), "model": args.model, "rows": list(rows.values()),
              "validation": f"COCO person val split ({len(coco_val)} photos; OKS area = box w x h, more lenient than "
                            f"COCO's official protocol), OKS-AP on 17 keypoints, no boxes; LSP-val and LSPet-val: the "
                            f"{len(sets['lsp'])} LSP train images and {len(sets['lspet'])} LSPet images held out by "
                            "the model's training config, PCK@0.2 of the top-scoring person, whole images",
              "command": "python benchmarks/speed_pipeline.py accuracy --coco COCO_PREPARED --variants NAMES "
                         "(each run adds or replaces its variants' rows)"}
    out.write_text(json.dumps(report, indent=1))


def timed(predictor, image: np.ndarray) -> dict:
    """Wall ms of one ``predict`` and its split (``last_timing``: detector / pose seconds)."""
    t0 = time.perf_counter()
    people = predictor.predict(image)
    total = time.perf_counter() - t0
    split = getattr(predictor, "last_timing", None) or {}
    det, pose = split.get("detector", 0.0), split.get("pose", 0.0)
    return {"total": 1000 * total, "detector": 1000 * det, "pose": 1000 * pose,
            "rest": 1000 * (total - det - pose), "people": len(people), "crops": getattr(predictor, "last_crops", 0)}


def images_of(args) -> dict[str, list[np.ndarray]]:
    data = Path(args.data)
    cap = cv2.VideoCapture(str(data / VIDEO))
    frames = []
    while len(frames) < args.frames:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    lsp = [cv2.imread(str(s.image_path)) for s in load("lsp", data / "lsp", split="test")[: args.images]]
    coco = [cv2.imread(str(s.image_path)) for s in load("coco", args.coco, split="test")[: args.images]]
    return {"vtest_frame": frames, "lsp_test_image": lsp, "coco_test_photo": coco}


def speed(args, names: list[str]) -> None:
    torch.set_num_threads(args.threads)
    predictors = {n: load_model(args.model, backend="onnxruntime", threads=args.threads, **VARIANTS[n]) for n in names}
    out = {}
    for kind, images in images_of(args).items():
        for p in predictors.values():  # warm-up
            for image in images[:3]:
                p.predict(image)
        times = {n: [] for n in names}
        for image in images:  # interleaved: contention spreads over the variants alike
            for n, p in predictors.items():
                times[n].append(timed(p, image))
        out[kind] = {n: {"images": len(t), **{k: round(statistics.median(r[k] for r in t), 2)
                                              for k in ("total", "detector", "pose", "rest")},
                         "mean_people": round(float(np.mean([r["people"] for r in t])), 2),
                         "mean_crops": round(float(np.mean([r["crops"] for r in t])), 2)}
                     for n, t in times.items()}
        print(kind, json.dumps(out[kind]), flush=True)
    report = {**provenance(), "model": args.model, "threads": args.threads, "backend": "onnxruntime",
              "ms": out, "variants": {n: VARIANTS[n] for n in names},
              "note": "medians in ms over the images (total = predict() after the image is decoded; detector / pose "
                      "from last_timing, pose = crops, network, decoding, OKS-NMS; rest = the image checks); "
                      "mean_crops: network inputs per image (mirror images included); the first vtest frames, the "
                      "first LSP test images and COCO test photos; the machine's 2 cores were shared with other jobs",
              "command": f"python benchmarks/speed_pipeline.py speed --coco {args.coco} --frames {args.frames} "
                         f"--images {args.images} --variants {' '.join(names)} --out {args.out}"}
    (HERE / args.out).write_text(json.dumps(report, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("accuracy", "speed"))
    ap.add_argument("--model", default="default")
    ap.add_argument("--coco", required=True, help="the folder `posekit data prepare coco-person` wrote")
    ap.add_argument("--data", default=os.environ.get("POSEKIT_DATA", "../shared/datasets"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--frames", type=int, default=200, help="vtest.avi frames timed (speed)")
    ap.add_argument("--images", type=int, default=100, help="LSP test images and COCO test photos timed (speed)")
    ap.add_argument("--out", default="speed_pipeline.json", help="file under benchmarks/ (speed)")
    args = ap.parse_args()
    (accuracy if args.mode == "accuracy" else speed)(args, args.variants)


if __name__ == "__main__":
    main()
