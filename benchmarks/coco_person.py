"""A model on the real COCO person photos (`posekit data prepare coco-person`): pycocotools-equivalent OKS-AP on every
keypoint the model and COCO-17 share and on the 12 limb joints, with no boxes and in the annotated boxes.

    python benchmarks/coco_person.py --model default --coco /work/data/coco_person_prepared --split test
    python benchmarks/coco_person.py --model runs/pose_coco19/best.pt --split val --set predict.whole_image=0

The OKS area is each person's box area (w x h): these labels carry no segmentation (PROTOCOLS.md), so figures here
are not the official COCO val2017 ones. ``--split val`` is the validation split carved from the training photos
(choose on it); ``--split test`` is the 400 test photos (report only, never choose).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_utils import provenance

from posekit.api import load_model
from posekit.data import load
from posekit.evaluate import LIMB_JOINTS, evaluate_oks

HERE = Path(__file__).parent


def evaluate(predictor, samples) -> dict:
    """OKS-AP (percent) with no boxes and in the annotated boxes, on all shared joints and the 12 limb joints."""
    out = {}
    for boxes in (False, True):
        for name, joints in (("all_shared", None), ("limbs12", LIMB_JOINTS)):
            r = evaluate_oks(predictor, samples, gt_boxes=boxes, joints=joints)
            out[f"{'boxes' if boxes else 'no_boxes'}_{name}"] = {
                "AP": round(r["AP"], 2), "AP50": round(r["AP50"], 2), "AR": round(r["AR"], 2),
                "joints": len(r["joints"]), "people": r["num_people"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--coco", default=str(Path("~/.cache/posekit/data/coco_person").expanduser()))
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--set", action="append", default=[], help="predictor setting overrides (as posekit eval)")
    ap.add_argument("--backend", default="onnxruntime", choices=("torch", "onnxruntime"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="JSON report (default: benchmarks/coco_person_<split>_<model>.json)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    predictor = load_model(args.model, backend=args.backend, threads=args.threads, overrides=args.set)
    samples = load("coco", args.coco, split=args.split)
    command = (f"python benchmarks/coco_person.py --model {args.model} --split {args.split} --backend {args.backend} "
               f"--threads {args.threads}" + "".join(f" --set {s}" for s in args.set))
    report = {"command": command, **provenance(), "model": args.model, "overrides": args.set, "split": args.split,
              "photos": len(samples), "area": "box w x h (no segmentation in these labels)",
              "oks_ap": evaluate(predictor, samples)}
    out = Path(args.out) if args.out else HERE / f"coco_person_{args.split}_{Path(args.model).stem}.json"
    out.write_text(json.dumps(report, indent=1))
    for key, r in report["oks_ap"].items():
        print(f"{key:<22} OKS-AP {r['AP']:6.2f}  AP50 {r['AP50']:6.2f}  AR {r['AR']:6.2f}  ({r['joints']} joints, "
              f"{r['people']} people)")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
