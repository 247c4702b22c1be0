"""Person detector stages side by side: posekit's CenterNet (`detector`) against YOLOX-nano (`yolox-nano`, COCO-trained,
off the shelf), on the real COCO person photos (issue "Real photos, second attempt", item 4).

    python benchmarks/detectors.py --coco /work/data/coco_person_prepared --threads 2   # -> detectors.{json,md}

Measured per detector:
- box AP@[.5:.95], AP@.5 and AR@100 on the 400 COCO person **test** photos against the people with keypoints (the
  only people these labels carry; OKS/box area = the box's w x h, PROTOCOLS.md) -- reported, never chosen on;
- the pipeline's OKS-AP (default pose network behind each detector, 12 limb joints, no boxes) on the **validation**
  split carved from the training photos (`posekit data prepare coco-person`), the figure to choose on;
- person-free false positives: of the 75 `backgrounds/` photos and of the COCO-mini val photos with nobody annotated,
  how many get a box at the pipeline's detector threshold;
- median ms per photo over the test photos (the detector alone, ONNX Runtime for both, ``--threads``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from bench_utils import provenance
from tqdm import tqdm

from posekit.api import load_model
from posekit.coco_eval import box_ap
from posekit.data import load
from posekit.data.dataset import read_image
from posekit.evaluate import evaluate_oks
from posekit.predict.build import load_detector

HERE = Path(__file__).parent
#: the detector thresholds the pipelines run at: CenterNet's stored one (calibrated scores), YOLOX's 0.1
STAGES = {"detector": {"threshold": 0.1}, "yolox-nano": {"threshold": 0.1}}


def detections(detector, samples) -> tuple[list[dict], list[float]]:
    """COCO box detections of every sample (image ids = their index) and the seconds each photo took."""
    found, seconds = [], []
    for image_id, sample in enumerate(tqdm(samples, desc="detecting", unit="img")):
        image = read_image(sample.image_path)
        t0 = time.perf_counter()
        boxes, scores = detector.detect(image)
        seconds.append(time.perf_counter() - t0)
        found += [{"image_id": image_id, "category_id": 1, "bbox": [float(v) for v in b], "score": float(s)}
                  for b, s in zip(boxes, scores)]
    return found, seconds


def ground_truth(samples) -> dict:
    """The samples' people as a COCO box ground truth (box area as the area: these labels carry no segmentation)."""
    annotations = []
    for image_id, sample in enumerate(samples):
        for person in sample.people:
            box = np.asarray(person.box, dtype=np.float64)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                                "bbox": box.tolist(), "area": float(box[2] * box[3]),
                                "iscrowd": int(person.is_crowd)})
    return {"images": [{"id": i} for i in range(len(samples))], "annotations": annotations,
            "categories": [{"id": 1, "name": "person"}]}


def person_free(detector, images: list[Path], threshold: float) -> int:
    """How many of ``images`` (nobody in them) get a box scoring ``threshold`` or more."""
    return sum(bool((detector.detect(read_image(p))[1] >= threshold).any()) for p in images)


def measure(name: str, args, test, val, backgrounds, empty_coco) -> dict:
    stage = STAGES[name]
    # both run by ONNX Runtime: CenterNet through the default pipeline's export, YOLOX as shipped
    if name == "detector":
        detector = load_model("default", backend="onnxruntime", threads=args.threads).detector
    else:
        detector = load_detector(name, threshold=0.01, threads=args.threads)
    detector.threshold = 0.01  # the whole precision-recall curve for AP
    found, seconds = detections(detector, test)
    ap = box_ap(ground_truth(test), found)
    detector.threshold = stage["threshold"]
    pipeline = load_model("default", backend="onnxruntime", threads=args.threads,
                          overrides=[f"predict.detector={name}", f"predict.detector_threshold={stage['threshold']}"])
    oks = evaluate_oks(pipeline, val)
    return {"detector": name, "threshold": stage["threshold"],
            "test_box": {k: round(100 * v, 2) for k, v in ap.items()},
            "val_pipeline_oks_ap_12_limbs": round(oks["AP"], 2), "val_people": oks["num_people"],
            "person_free_backgrounds_with_a_box": person_free(detector, backgrounds, stage["threshold"]),
            "backgrounds": len(backgrounds),
            "person_free_coco_mini_val_with_a_box": person_free(detector, empty_coco, stage["threshold"]),
            "coco_mini_val_person_free": len(empty_coco),
            "median_ms": round(1000 * statistics.median(seconds), 2),
            "images_per_s": round(1 / statistics.median(seconds), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coco", required=True, help="the folder `posekit data prepare coco-person` wrote")
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="first N photos of each set (smoke runs)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    test = load("coco", args.coco, split="test")
    val = load("coco", args.coco, split="val")
    mini = load("coco", data / "coco_mini", split="val2017")
    empty_coco = [s.image_path for s in mini if not s.people]
    backgrounds = sorted(p for p in (data / "backgrounds").iterdir() if p.suffix.lower() in (".jpg", ".png"))
    if args.limit:
        test, val, backgrounds, empty_coco = (x[: args.limit] for x in (test, val, backgrounds, empty_coco))
    rows = [measure(name, args, test, val, backgrounds, empty_coco) for name in STAGES]
    command = f"python benchmarks/detectors.py --coco {args.coco} --threads {args.threads}"
    report = {"command": command, **provenance(), "test_photos": len(test), "val_photos": len(val), "rows": rows,
              "note": "box AP against the people with keypoints; area = box w x h (no segmentation in these labels)"}
    (HERE / "detectors.json").write_text(json.dumps(report, indent=1))
    where = f"{report['machine']}; {report['date']}; revision {report['git_revision'][:12]}"
    lines = [f"Command: `{command}`; {where}.",
             "", "| detector | test box AP | AP@.5 | AR@100 | val pipeline OKS-AP (12 limbs) | backgrounds with a box "
             "| COCO-mini person-free with a box | median ms | images/s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = r["test_box"]
        lines.append(f"| {r['detector']} | {b['AP']} | {b['AP50']} | {b['AR']} | {r['val_pipeline_oks_ap_12_limbs']} | "
                     f"{r['person_free_backgrounds_with_a_box']} / {r['backgrounds']} | "
                     f"{r['person_free_coco_mini_val_with_a_box']} / {r['coco_mini_val_person_free']} | "
                     f"{r['median_ms']} | {r['images_per_s']} |")
    (HERE / "detectors_table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
