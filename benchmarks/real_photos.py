"""The pipeline users get (person detector + pose network) on real photos: every target of the issue
"Real photos with any number of people", measured with one command, written to real_photos.{json,md}
and drawings under real_photos/.

    python benchmarks/real_photos.py --model default --threads 2

Test sets only, nothing chosen here: COCO-mini val (OKS-AP on the 12 limb joints an LSP-14 model shares
with COCO-17; with no boxes and with the annotated boxes), LSP test (PCK@0.2 of the top-scoring person,
whole images), MPII validation photos (PCKh@0.5 on the 14 shared joints, annotated centre/scale boxes and
no boxes with nearest-person matching), the detector's box AP on COCO-mini val, latency (median ms per
image, batch 1, split into detector and pose passes) and whole-body left/right swaps on LSP test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from bench_utils import provenance

import posekit.coco_eval as coco_eval
import posekit.metrics as metrics
from posekit.api import load_model
from posekit.codecs.boxes import greedy_match
from posekit.data import load, with_images
from posekit.data.dataset import read_image
from posekit.evaluate import GT_BOX_SOURCES, LIMB_JOINTS, evaluate_oks, gt_box, oks_joints, predict_dataset, score
from posekit.viz import draw_predictions, save_image

HERE = Path(__file__).parent


def swap_rate(pred: np.ndarray, gt: np.ndarray, skeleton) -> dict:
    """Whole-body left/right swaps: people for whom the prediction with left and right exchanged gets
    >= 4 more of the 12 limb joints within 0.2 x torso than the prediction itself. Also split by facing
    (the ground truth's left shoulder right of its right shoulder in the image = facing the camera)."""
    limbs = [skeleton.joints.index(n) for n in LIMB_JOINTS]
    torso = metrics.torso_size(gt, skeleton)
    swapped = pred[:, skeleton.flip_index]

    def correct(p: np.ndarray) -> np.ndarray:
        err = np.linalg.norm(p[:, limbs, :2] - gt[:, limbs, :2], axis=2)
        return ((err <= 0.2 * torso[:, None]) & (gt[:, limbs, 2] > 0)).sum(1)

    is_swap = correct(swapped) - correct(pred) >= 4
    ls, rs = skeleton.joints.index("left_shoulder"), skeleton.joints.index("right_shoulder")
    facing = gt[:, ls, 0] > gt[:, rs, 0]
    return {"all": round(100 * float(is_swap.mean()), 2),
            "facing_camera": round(100 * float(is_swap[facing].mean()), 2) if facing.any() else None,
            "facing_away": round(100 * float(is_swap[~facing].mean()), 2) if (~facing).any() else None,
            "num_facing_camera": int(facing.sum()), "num_facing_away": int((~facing).sum())}


def oks_by_labelled_joints(predictor, samples: list) -> list[dict]:
    """Where COCO-mini val OKS is lost: each annotated person posed in its annotated box, OKS on the
    shared joints, grouped by how many of the 12 are labelled (few = truncated or occluded people)."""
    mi, di, sigmas = oks_joints(predictor.skeleton, samples[0].skeleton, LIMB_JOINTS)
    rows = []
    for s in samples:
        people = [q for q in s.people if not q.is_crowd and (q.keypoints[di, 2] > 0).any()]
        if not people:
            continue
        preds = predictor.predict(s.image_path, boxes=[gt_box(q, "coco") for q in people])
        for q, pr in zip(people, preds):
            gt = q.keypoints[di]
            rows.append(((gt[:, 2] > 0).sum(), coco_eval.oks(pr.keypoints[mi, :2], gt, q.area, sigmas)))
    r = np.array(rows, dtype=np.float64)
    out = []
    for lo, hi in ((1, 6), (6, 10), (10, 13)):
        m = (r[:, 0] >= lo) & (r[:, 0] < hi)
        out.append({"labelled_joints": f"{lo}-{hi - 1}", "people": int(m.sum()),
                    "mean_oks": round(float(r[m, 1].mean()), 3) if m.any() else None,
                    "share_oks_over_0.5": round(float((r[m, 1] > 0.5).mean()), 3) if m.any() else None})
    return out


def timed(predictor, paths: list[Path]) -> dict:
    """Median ms per image of predict() (image decoded beforehand), and of the detector alone."""
    images = [read_image(p) for p in paths]
    for im in images[:3]:
        predictor.predict(im)
    total, det = [], []
    for im in images:
        t0 = time.perf_counter()
        predictor.predict(im)
        total.append(1000 * (time.perf_counter() - t0))
        if predictor.detector is not None:
            t0 = time.perf_counter()
            predictor.detector.detect(im)
            det.append(1000 * (time.perf_counter() - t0))
    out = {"predict_ms": round(statistics.median(total), 1), "images": len(images)}
    if det:
        out["detector_ms"] = round(statistics.median(det), 1)
        out["pose_ms"] = round(out["predict_ms"] - out["detector_ms"], 1)
    return out


def detector_ap(predictor, coco_json: Path, image_dir: Path) -> dict:
    """Box AP of the predictor's detector on every person box of a COCO JSON (PROTOCOLS.md)."""
    gt = json.loads(coco_json.read_text())
    dets, times, scores, matched = [], [], [], []
    for im in gt["images"]:
        image = read_image(image_dir / im["file_name"])
        t0 = time.perf_counter()
        boxes, s = predictor.detector.detect(image)
        times.append(time.perf_counter() - t0)
        dets += [{"image_id": im["id"], "category_id": 1, "bbox": [float(v) for v in b], "score": float(x)}
                 for b, x in zip(boxes, s)]
        people = [a["bbox"] for a in gt["annotations"] if a["image_id"] == im["id"] and not a["iscrowd"]]
        scores += list(s)
        matched += list(greedy_match(boxes, np.array(people)))
    gt["categories"] = [c for c in gt["categories"] if c["id"] == 1]
    res = coco_eval.box_ap(gt, dets)
    # calibration: within each score bin, the share of boxes that are a person (IoU >= 0.5)
    scores, matched = np.array(scores), np.array(matched)
    bins = [(lo, lo + 0.2) for lo in (0.2, 0.4, 0.6, 0.8)]
    reliability = [{"scores": f"{lo:.1f}-{hi:.1f}", "boxes": int(((scores >= lo) & (scores < hi + 1e-9)).sum()),
                    "share_people": round(float(matched[(scores >= lo) & (scores < hi + 1e-9)].mean()), 3)
                    if ((scores >= lo) & (scores < hi + 1e-9)).any() else None} for lo, hi in bins]
    return {"box_AP": round(100 * res["AP"], 2), "box_AP50": round(100 * res["AP50"], 2),
            "box_AR": round(100 * res["AR"], 2), "images_per_s": round(len(times) / sum(times), 1),
            "threshold": predictor.detector.threshold, "reliability": reliability}


def _rel(path: Path) -> str:
    """A path as the report names it: relative to benchmarks/ when inside it."""
    try:
        return str(path.resolve().relative_to(HERE.resolve()))
    except ValueError:
        return str(path)


def draw(predictor, paths: list[Path], out_dir: Path) -> list[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for p in paths:
        image = read_image(p)
        out = out_dir / f"{p.stem}_pose.jpg"
        save_image(out, draw_predictions(image, predictor.predict(image)))
        written.append(_rel(out))
    return written


def video_montage(predictor, video: Path, out: Path, frames: tuple[int, ...] = (0, 150, 300, 450, 600, 750)) -> dict:
    """Six frames of a video drawn with the predictor's output, in a 3 x 2 montage; people per frame."""
    cap = cv2.VideoCapture(str(video))
    tiles, counts = [], []
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if index in frames:
            preds = predictor.predict(frame)
            counts.append(len(preds))
            tiles.append(cv2.resize(draw_predictions(frame, preds), None, fx=0.5, fy=0.5))
        index += 1
    cap.release()
    rows = [np.hstack(tiles[i:i + 3]) for i in range(0, len(tiles) - len(tiles) % 3, 3)]
    save_image(out, np.vstack(rows))
    return {"frames": list(frames[: len(counts)]), "people_per_frame": counts}


TARGETS = {  # the targets, for the table
    "coco_no_boxes": 30.0, "coco_gt_boxes": 35.0, "lsp": 80.6, "mpii_gt": 70.0, "mpii_none": 70.0,
    "lsp_ms": 20.0, "coco_ms": 80.0, "swaps": 2.0,
}


def markdown(r: dict) -> str:
    """The report as a readable table (figures from the JSON, nothing typed by hand)."""
    c, lsp, m, sp = r["coco_val"], r["lsp_test"], r["mpii_valid_photos"], r["speed"]
    det = r.get("detector_coco_val", {})

    def split(t: dict) -> str:
        return f"{t['predict_ms']} ({t.get('detector_ms', '-')} + {t.get('pose_ms', '-')})"

    def row(what: str, value, target: str, ok: bool | None) -> str:
        mark = "" if ok is None else (" ✓" if ok else " ✗")
        return f"| {what} | {value} | {target}{mark} |"

    lines = [
        "| measure | value | target |", "|---|---|---|",
        row("COCO-mini val OKS-AP, 12 limb joints, no boxes", c["no_boxes"]["AP"], "≥ 30",
            c["no_boxes"]["AP"] >= TARGETS["coco_no_boxes"]),
        row("COCO-mini val OKS-AP, annotated boxes", c["gt_boxes"]["AP"], "≥ 35",
            c["gt_boxes"]["AP"] >= TARGETS["coco_gt_boxes"]),
        row("LSP test PCK@0.2, top-scoring person, whole images", lsp["pck@0.2"], "≥ 80.6",
            lsp["pck@0.2"] >= TARGETS["lsp"]),
        row("MPII validation photos PCKh@0.5, annotated centre/scale", m["gt_boxes"]["pckh@0.5"], "≥ 70",
            m["gt_boxes"]["pckh@0.5"] >= TARGETS["mpii_gt"]),
        row("MPII validation photos PCKh@0.5, no boxes (nearest person)", m["no_boxes"]["pckh@0.5"], "≥ 70",
            m["no_boxes"]["pckh@0.5"] >= TARGETS["mpii_none"]),
        row("median ms per LSP test image (detector + pose)", split(sp["lsp_test"]), "≤ 20",
            sp["lsp_test"]["predict_ms"] <= TARGETS["lsp_ms"]),
        row("median ms per COCO-mini val photo (detector + pose)", split(sp["coco_val"]), "≤ 80",
            sp["coco_val"]["predict_ms"] <= TARGETS["coco_ms"]),
        row("whole-body left/right swaps on LSP test, % (facing camera / away)",
            f"{lsp['swaps']['all']} ({lsp['swaps']['facing_camera']} / {lsp['swaps']['facing_away']})", "≤ 2",
            lsp["swaps"]["all"] <= TARGETS["swaps"]),
        row("people found in noise / grey images", f"{r['empty_images']['noise']} / {r['empty_images']['grey']}",
            "0 / 0", r["empty_images"]["noise"] == 0 and r["empty_images"]["grey"] == 0),
    ]
    if det:
        lines.append(row("detector box AP@[.5:.95] / AP@.5 on COCO-mini val (every person box)",
                         f"{det['box_AP']} / {det['box_AP50']}", "report", None))
        lines.append(row("detector alone, images/s", det["images_per_s"], "report", None))
    head = [f"Command: `{r['command']}`", "", f"Machine: {r['machine']}; date {r['date']}.", ""]
    return "\n".join(head + lines) + "\n"


def speed(predictor, lsp: list, coco: list) -> dict:
    """The speed rows: :func:`timed` on the first 200 LSP test images and on every COCO-mini val photo."""
    return {"lsp_test": timed(predictor, [s.image_path for s in lsp[:200]]),
            "coco_val": timed(predictor, [s.image_path for s in coco])}


def remeasure_speed(args: argparse.Namespace, data: Path) -> None:
    """The speed rows of ``<out>.json`` measured again with the report's own model, settings and backend."""
    stem = Path(args.out)
    report = json.loads(stem.with_suffix(".json").read_text())
    predictor = load_model(report["model"], device="cpu", overrides=report["overrides"],
                           backend=report.get("backend", "torch"))
    lsp = load("lsp", data / "lsp", split="test")
    coco = load("coco", data / "coco_mini", split="val2017")
    report["speed"] = {**speed(predictor, lsp, coco),
                       "remeasured": datetime.date.today().isoformat() + " with --speed-only"}
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2))
    stem.with_name(stem.name + "_table.md").write_text(markdown(report))
    print("speed", report["speed"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--model", default="default")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="first N images of each set (smoke runs)")
    ap.add_argument("--out", default=str(HERE / "real_photos"))
    ap.add_argument("--set", action="append", default=[], help="predictor setting overrides (as posekit eval)")
    ap.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"),
                    help="what runs the networks (torch: what the README's first command installs)")
    ap.add_argument("--speed-only", action="store_true",
                    help="re-measure only the speed rows of the existing report (e.g. after a run that shared "
                         "the cores with another job) and rewrite it")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    if args.speed_only:
        return remeasure_speed(args, data)
    predictor = load_model(args.model, device="cpu", overrides=args.set, backend=args.backend)
    lim = (lambda x: x[: args.limit]) if args.limit else (lambda x: x)
    report: dict = {"model": args.model, "overrides": args.set, "backend": args.backend, **provenance(),
                    "command": "python benchmarks/real_photos.py " + " ".join(
                        [f"--model {args.model}", f"--threads {args.threads}"] + [f"--set {s}" for s in args.set]
                        + ([f"--backend {args.backend}"] if args.backend != "torch" else [])
                        + ([f"--limit {args.limit}"] if args.limit else []))}

    coco = lim(load("coco", data / "coco_mini", split="val2017"))
    # the 12 limb joints every model here shares with COCO-17 (an LSP-14 model has no others; coco19 has 17)
    report["coco_val"] = {"no_boxes": evaluate_oks(predictor, coco, joints=LIMB_JOINTS),
                          "gt_boxes": evaluate_oks(predictor, coco, gt_boxes=True, joints=LIMB_JOINTS),
                          "gt_box_source": GT_BOX_SOURCES["coco"],
                          "oks_by_labelled_joints": oks_by_labelled_joints(predictor, coco)}
    print("COCO-mini val OKS-AP", report["coco_val"]["no_boxes"]["AP"], "/ GT boxes",
          report["coco_val"]["gt_boxes"]["AP"])
    if predictor.detector is not None:
        coco_dir = data / "coco_mini"
        report["detector_coco_val"] = detector_ap(
            predictor, coco_dir / "annotations" / "person_keypoints_val2017.json", coco_dir / "val2017")
        print("detector", report["detector_coco_val"])

    lsp = lim(load("lsp", data / "lsp", split="test"))
    pred, gt, heads = predict_dataset(predictor, lsp, match="top")
    res = score(pred, gt, predictor.skeleton, heads)
    report["lsp_test"] = {"pck@0.2": res["pck@0.2"], "per_part": res["per_part"], "pcp": res.get("pcp"),
                          "auc": res["auc"], "swaps": swap_rate(pred, gt, predictor.skeleton),
                          "missed_people": int((pred[:, :, 2].sum(1) == 0).sum())}
    print("LSP test", report["lsp_test"]["pck@0.2"], "swaps", report["lsp_test"]["swaps"])

    mpii = with_images(load("mpii", data / "mpii", split="valid"))
    mpii = lim(mpii)
    report["mpii_valid_photos"] = {"note": "cross-dataset: the model never trained on MPII validation images; "
                                           "PCKh@0.5 on the 14 joints LSP-14 and MPII-16 share (neck = upper neck)"}
    for key, kwargs in (("gt_boxes", {"gt_boxes": True}), ("no_boxes", {"match": "nearest"})):
        pred, gt, heads = predict_dataset(predictor, mpii, fmt="mpii", **kwargs)
        r = score(pred, gt, predictor.skeleton, heads)
        report["mpii_valid_photos"][key] = {"pckh@0.5": r["pckh@0.5"], "pckh@0.1": r["pckh@0.1"],
                                            "per_joint": r["pckh_per_joint"], "num_people": len(pred)}
    report["mpii_valid_photos"]["gt_box_source"] = GT_BOX_SOURCES["mpii"]
    print("MPII", {k: v["pckh@0.5"] for k, v in report["mpii_valid_photos"].items() if isinstance(v, dict)})

    report["speed"] = speed(predictor, lsp, coco)
    print("speed", report["speed"])

    out = Path(args.out)
    coco_by_people = sorted(coco, key=lambda s: -sum(1 for p in s.people if p.num_labelled > 0))
    photos = [data / "unlabeled" / "basketball1.png", data / "unlabeled" / "messi5.jpg"]
    photos += [s.image_path for s in coco_by_people[:5]]
    report["drawings"] = draw(predictor, photos, out)
    report["video"] = video_montage(predictor, data / "unlabeled" / "vtest.avi", out / "vtest_montage.jpg")
    report["drawings"].append(_rel(out / "vtest_montage.jpg"))
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    report["empty_images"] = {"noise": len(predictor.predict(noise)),
                              "grey": len(predictor.predict(np.full((480, 640, 3), 128, np.uint8)))}

    stem = Path(args.out)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2))
    stem.with_name(stem.name + "_table.md").write_text(markdown(report))
    print(markdown(report))
    print(f"-> {stem.with_suffix('.json')}, {stem.with_name(stem.name + '_table.md')}")


if __name__ == "__main__":
    main()
