"""PyTorch against ONNX Runtime (float32 and static int8) for the default pipeline, in one sitting.

    python benchmarks/onnx_backends.py --data ../shared/datasets

Per backend: the pose network alone (batch 1 and 8, random 160 x 160 crops), the person detector alone
(``detect()`` on the LSP test images and the COCO-mini val photos: letterbox, network, decoding) and the
whole predictor (median ms per image, image decoded beforehand), each at 1 and 2 threads; where the
predictor's time goes (detector network, pose network, the rest); accuracy on the test sets (LSP test
PCK@0.2 of the top-scoring person, COCO-mini val OKS-AP, no boxes); agreement with PyTorch (keypoints
within 0.5 px, over all LSP test people). Whether int8 is kept is decided on validation only: COCO-mini
*train* OKS-AP and the default's held-out training images (PCK@0.2), as benchmarks/tune_pipeline.py.
The int8 calibration images come from the training part of the default's training sources (never the
held-out part, never a test set). Writes ``onnx.json`` and ``onnx_table.md`` beside this file (the
reading of them is ``onnx.md``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_utils import median_ms, provenance

from posekit.api import load_model
from posekit.config import load_config
from posekit.data import load
from posekit.data.dataset import read_image
from posekit.evaluate import evaluate_oks, predict_dataset, score
from posekit.export import export_pipeline
from posekit.train_data import load_sources, split_train_val

HERE = Path(__file__).parent
CONFIG = "configs/grmi_r18s_lsp+lspet+mpii_160x160.yaml"  # the default pose network's training config


class Clock:
    """Wraps a network (PyTorch module or OnnxNetwork) and adds up the wall time spent inside it."""

    def __init__(self, network) -> None:
        self.network, self.seconds = network, 0.0

    def __call__(self, x):
        t0 = time.perf_counter()
        out = self.network(x)
        self.seconds += time.perf_counter() - t0
        return out

    def to(self, *args, **kwargs):
        return self

    def eval(self):
        return self


def predictor_times(predictor, images: list[np.ndarray]) -> dict:
    """Median ms per image of ``predict`` and the mean share of detector network / pose network / rest."""
    for im in images[:3]:
        predictor.predict(im)
    pose, det = Clock(predictor.model), Clock(predictor.detector.model)
    predictor.model, predictor.detector.model = pose, det
    total = []
    try:
        for im in images:
            t0 = time.perf_counter()
            predictor.predict(im)
            total.append(time.perf_counter() - t0)
    finally:
        predictor.model, predictor.detector.model = pose.network, det.network
    n = len(images)
    mean = 1000 * sum(total) / n
    return {"median_ms": round(1000 * statistics.median(total), 2), "mean_ms": round(mean, 2),
            "mean_split_ms": {"detector_network": round(1000 * det.seconds / n, 2),
                              "pose_network": round(1000 * pose.seconds / n, 2),
                              "rest": round(mean - 1000 * (det.seconds + pose.seconds) / n, 2)},
            "images": n}


def detector_ms(predictor, images: list[np.ndarray]) -> float:
    for im in images[:3]:
        predictor.detector.detect(im)
    times = []
    for im in images:
        t0 = time.perf_counter()
        predictor.detector.detect(im)
        times.append(time.perf_counter() - t0)
    return round(1000 * statistics.median(times), 2)


def agreement(reference: np.ndarray, other: np.ndarray) -> dict:
    """Keypoint differences (px) between two backends' top-scoring people (N, K, 3) on the same images;
    an image where only one backend found somebody counts as disagreeing on all its keypoints."""
    found_a, found_b = reference[:, :, 2].sum(1) > 0, other[:, :, 2].sum(1) > 0
    both = found_a & found_b
    d = np.abs(reference[both, :, :2] - other[both, :, :2]).max(axis=2).ravel()
    total = d.size + int((found_a != found_b).sum()) * reference.shape[1]
    return {"keypoints": int(total), "within_0.5px": round(float((d <= 0.5).sum() / total * 100), 2),
            "median_px": round(float(np.median(d)), 4), "max_px": round(float(d.max()), 2),
            "images_found_by_one_only": int((found_a != found_b).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--model", default="grmi-p5-2026-11-29")
    ap.add_argument("--calibration-images", type=int, default=100)
    ap.add_argument("--val-images", type=int, default=200)
    ap.add_argument("--out", default=str(HERE / "onnx"))
    ap.add_argument("--limit", type=int, default=0, help="first N images of each set (smoke runs only)")
    args = ap.parse_args()
    data = Path(args.data)
    report = {"date": datetime.date.today().isoformat(), "model": args.model,
              "command": f"python benchmarks/onnx_backends.py --data {args.data}", "backends": {}}
    lim = (lambda x: x[: args.limit]) if args.limit else (lambda x: x)
    cfg = load_config(CONFIG)
    train_part, held_out = split_train_val(load_sources(cfg), cfg.data.val_fraction, cfg.data.val_seed)
    pick = np.random.default_rng(0).choice(len(train_part), args.limit or args.calibration_images, replace=False)
    calibration = [read_image(train_part[i].image_path) for i in sorted(pick)]
    held_out = held_out[: args.val_images]

    work = Path(tempfile.mkdtemp(prefix="posekit_onnx_"))
    torch.set_num_threads(2)
    exports = {}
    for name, quantize in (("onnxruntime_fp32", None), ("onnxruntime_int8", "int8")):
        t0 = time.perf_counter()
        manifest = export_pipeline(args.model, work / name, quantize=quantize,
                                   calibration=calibration if quantize else None)
        exports[name] = work / name
        report.setdefault("exports", {})[name] = {
            "seconds": round(time.perf_counter() - t0, 1), "check": manifest["check"],
            "calibration": manifest.get("calibration"),
            "mb": {f: round((work / name / f).stat().st_size / 1e6, 1) for f in ("pose.onnx", "detector.onnx")}}
        print(name, report["exports"][name], flush=True)

    def build(name: str, threads: int):
        torch.set_num_threads(threads)
        if name == "torch":
            return load_model(args.model, device="cpu", backend="torch")
        return load_model(exports[name], threads=threads)

    lsp = lim(load("lsp", data / "lsp", split="test"))
    coco = lim(load("coco", data / "coco_mini", split="val2017"))
    coco_train = lim(load("coco", data / "coco_mini", split="train2017"))
    held_out = lim(held_out)
    lsp_images = [read_image(s.image_path) for s in lsp]
    coco_images = [read_image(s.image_path) for s in coco]
    top_people = {}
    for name in ("torch", "onnxruntime_fp32", "onnxruntime_int8"):
        row: dict = {"speed": {}}
        for threads in (1, 2):
            predictor = build(name, threads)
            crops = {b: torch.randn(b, 3, 160, 160) for b in (1, 8)}
            with torch.no_grad():
                pose_ms = {f"batch{b}": round(median_ms(lambda x=x, net=predictor.model: net(x), 5, 30), 2)
                           for b, x in crops.items()}
            row["speed"][f"{threads}_threads"] = {
                "pose_network_ms": pose_ms,
                "detector_ms": {"lsp_test": detector_ms(predictor, lsp_images[:200]),
                                "coco_val": detector_ms(predictor, coco_images)},
                "predictor": {"lsp_test": predictor_times(predictor, lsp_images),
                              "coco_val": predictor_times(predictor, coco_images)}}
            print(name, threads, row["speed"][f"{threads}_threads"], flush=True)
        predictor = build(name, 2)
        pred, gt, heads = predict_dataset(predictor, lsp, match="top", progress=False)
        top_people[name] = pred
        row["lsp_test_pck@0.2"] = score(pred, gt, predictor.skeleton, heads)["pck@0.2"]
        row["coco_val_oks_ap"] = evaluate_oks(predictor, coco, progress=False)["AP"]
        pred, gt, heads = predict_dataset(predictor, held_out, match="nearest", progress=False)
        row["validation"] = {"coco_train_oks_ap": evaluate_oks(predictor, coco_train, progress=False)["AP"],
                             "heldout_pck@0.2": score(pred, gt, predictor.skeleton, heads)["pck@0.2"],
                             "heldout_images": len(held_out)}
        if name != "torch":
            row["agreement_with_torch_lsp_test"] = agreement(top_people["torch"], top_people[name])
        report["backends"][name] = row
        print(name, {k: v for k, v in row.items() if k != "speed"}, flush=True)
    torch.set_num_threads(2)
    report.update(provenance())
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    out.with_name(out.name + "_table.md").write_text(markdown(report))
    print(markdown(report))


def markdown(r: dict) -> str:
    b = r["backends"]
    lines = [f"Measured {r['date']} on {r['machine']} with `{r['command']}` (one sitting; medians).", "",
             "| backend | threads | pose net b1 (ms) | pose net b8 (ms) | detector LSP / COCO (ms) | predictor LSP "
             "(ms) | predictor COCO (ms) | LSP split det / pose / rest (ms) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, row in b.items():
        for threads in (1, 2):
            s = row["speed"][f"{threads}_threads"]
            split = s["predictor"]["lsp_test"]["mean_split_ms"]
            lines.append(f"| {name} | {threads} | {s['pose_network_ms']['batch1']} | {s['pose_network_ms']['batch8']} "
                         f"| {s['detector_ms']['lsp_test']} / {s['detector_ms']['coco_val']} "
                         f"| {s['predictor']['lsp_test']['median_ms']} | {s['predictor']['coco_val']['median_ms']} "
                         f"| {split['detector_network']} / {split['pose_network']} / {split['rest']} |")
    lines += ["", "| backend | LSP test PCK@0.2 | COCO-mini val OKS-AP | validation: COCO-mini train OKS-AP | "
              "validation: held-out PCK@0.2 | LSP keypoints within 0.5 px of torch |", "|---|---|---|---|---|---|"]
    for name, row in b.items():
        agree = row.get("agreement_with_torch_lsp_test")
        lines.append(f"| {name} | {row['lsp_test_pck@0.2']:.2f} | {row['coco_val_oks_ap']:.2f} | "
                     f"{row['validation']['coco_train_oks_ap']:.2f} | {row['validation']['heldout_pck@0.2']:.2f} | "
                     + (f"{agree['within_0.5px']} % (median {agree['median_px']} px, max {agree['max_px']} px)"
                        if agree else "reference") + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
